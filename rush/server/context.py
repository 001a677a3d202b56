"""What the connections of one worker share, and the contract between the server and an app.

`Handler` is everything the server asks of an application: the server calls nothing else
(no duck typing), so any object with these methods can be served. `ServerContext` holds the
worker's settings and state every connection reads: the loop, the app, limits, the timeout of
each connection phase, the `Date` line of this second, the pre-rendered answers (the app's,
which it updates as its cached files change, and the health endpoint's, which the worker swaps
as its state changes).
"""

from __future__ import annotations

import enum
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from rush.protocol import Limits, RequestMessage
from rush.protocol.answers import ANSWERS_IMPLEMENTATION, AnswerPlain, answer_plain
from rush.protocol.heads import COMPILED
from rush.protocol.parser import BodyPlan
from rush.protocol.writer import Answer, Prerendered, date_line, prerender
from rush.proxy import ProxyTrust
from rush.server.loop import EventLoop

if TYPE_CHECKING:
    from rush.server.connection import Connection

#: How long a connection lingers after its last answer, draining the client before closing.
LINGER_SECONDS = 2.0
#: Bytes one recv may bring: one reused buffer per worker (see ServerContext.recv_buffer).
RECV_SIZE = 64 * 1024


class Handler(Protocol):
    """All the server asks of an application (rush.app.Rush provides it)."""

    def prepare(self) -> None:
        """In the master, before forking: build what the workers share (route tables)."""

    def startup(self) -> None:
        """In each worker, after the fork, before it accepts."""

    def shutdown(self) -> None:
        """In each worker, as it exits."""

    def watchers(self) -> list[Any]:
        """Objects with fileno()/on_readable() for the worker's loop (inotify watchers)."""

    def prerendered(self) -> dict[bytes, Answer]:
        """GET target -> an answer the server may send unasked, the app's handle not called."""

    def follow_prerendered(self, update: Callable[[bytes, Answer | None], None]) -> None:
        """Report later changes to `prerendered()`: `update(target, answer)`, None: gone
        (a cached file that changed, or left the cache)."""

    def body_plan(self, message: RequestMessage, default_limit: int) -> BodyPlan:
        """(limit, sink or None, wanted) for a head that announces a body."""

    def handle(self, message: RequestMessage, remote_addr: str | None, scheme: str) -> Answer:
        """The answer to a complete request; never raises for the app's own errors."""


class Phase(enum.Enum):
    IDLE = "idle"  # between requests: the keep-alive timeout
    HEAD = "head"  # a request head partly received: the header timeout
    BODY = "body"  # a request body arriving: the body timeout, restarted by body bytes
    WRITING = "writing"  # answers queued: the body timeout, restarted by written bytes
    LINGERING = "lingering"  # answered and half-closed: draining the client for a moment
    CLOSED = "closed"


# PERF: module globals, not `Phase.X` attribute lookups, on the per-request path.
IDLE, HEAD, BODY, WRITING = Phase.IDLE, Phase.HEAD, Phase.BODY, Phase.WRITING
LINGERING, CLOSED = Phase.LINGERING, Phase.CLOSED


class ServerContext:
    """What all connections of one worker share: loop, app, settings, the open connections."""

    __slots__ = (
        "loop",
        "handler",
        "handle",
        "prerendered",
        "prerendered_head",
        "answer_plain",
        "limits",
        "parser_limits",
        "timeouts",
        "keepalive_timeout",
        "write_high_water",
        "connections",
        "draining",
        "access_log",
        "trust",
        "on_close",
        "requests_served",
        "recv_buffer",
        "recv_view",
        "date",
        "__weakref__",  # the app follows its pre-rendered answers weakly (rush.fixedanswers)
    )

    def __init__(
        self,
        loop: EventLoop,
        handler: Handler,
        limits: Limits,
        header_timeout: float,
        keepalive_timeout: float,
        body_timeout: float,
        write_high_water: int,
        access_log: Callable[..., None] | None = None,
        on_close: Callable[[Connection], None] | None = None,
        trust: ProxyTrust | None = None,
    ) -> None:
        self.loop = loop
        self.handler = handler
        #: The app's handle, or a wrapper of it the worker installs (the watchdog's).
        self.handle: Callable[[RequestMessage, str | None, str], Answer] = handler.handle
        self.limits = limits
        # The parser holds a body until the app's plan sets its limit; that is at most one
        # read, so it needs no lower bound of its own.
        self.parser_limits = replace(limits, max_body=sys.maxsize)
        self.keepalive_timeout = keepalive_timeout
        self.timeouts = {
            IDLE: keepalive_timeout,
            HEAD: header_timeout,
            BODY: body_timeout,
            WRITING: body_timeout,
            LINGERING: LINGER_SECONDS,
            CLOSED: 0.0,
        }
        self.write_high_water = write_high_water
        self.connections: dict[int, Connection] = {}
        self.draining = False
        #: f(remote, message, status, size, body_size, started) per request, when logging.
        self.access_log = access_log
        self.trust = trust if trust else None
        self.on_close = on_close
        self.requests_served = 0
        # PERF: recv() of 256 KiB cost 36 us against 5 us for 64 KiB (glibc serves big blocks
        # with mmap/munmap); one buffer reused by the whole worker costs 4.5 us and no
        # allocation. Connections are served one at a time and nothing keeps a view into it
        # (httptools hands out copies).
        self.recv_buffer = bytearray(RECV_SIZE)
        self.recv_view = memoryview(self.recv_buffer)
        self.date = date_line(time.time())
        self.prerendered: dict[bytes, Prerendered] = {}
        # Pre-rendered answers would log the proxy, not the client it forwards for.
        if not (self.trust and access_log):
            for target, answer in handler.prerendered().items():
                self._follow(target, answer)
            handler.follow_prerendered(self._follow)
        #: HEAD target -> the same, without the body; only the health endpoint's (rush.server.
        #: health): the app answers HEAD of its own targets, with its hooks.
        self.prerendered_head: dict[bytes, Prerendered] = {}
        #: The batch fast path of Connection.answer (rush.protocol.answers), where it is
        #: compiled; None where each request must pass the loop's own steps (the access log,
        #: a trusted proxy's client address).
        self.answer_plain: AnswerPlain | None = (
            answer_plain
            if ANSWERS_IMPLEMENTATION == COMPILED and access_log is None and not self.trust
            else None
        )

    def _follow(self, target: bytes, answer: Answer | None) -> None:
        """The app's pre-rendered answer for GET `target` is now `answer` (None: none)."""
        body = None if answer is None else answer[2]
        if answer is None or not isinstance(body, bytes):
            self.prerendered.pop(target, None)
        else:
            self.prerendered[target] = prerender(answer[0], answer[1], body)

    def tick(self, now: float) -> None:
        """The worker's once-a-second timer: the `Date` line of this second."""
        self.date = date_line(now)
