"""One client connection: bytes from the socket -> protocol -> app -> bytes to the socket.

Facts and strategy:
- One `recv` per readable event; every request completed by those bytes is answered, in
  order, and all their answers leave in one `send` (pipelining costs one syscall per batch).
- Writes: if nothing is buffered, `send` at once; only the remainder is buffered and only then
  do we ask for EPOLLOUT. Above `write_high_water` buffered bytes we stop reading, so a client
  that pipelines and never reads cannot grow our memory (CPython's selector transport does
  the same).
- Deadlines, checked by the worker's sweep timer: a request head must arrive whole within
  `header_timeout` of its first byte (slowloris); a body or a pending write must make progress
  every `body_timeout`; an idle keep-alive connection lives `keepalive_timeout`.
- A ProtocolError gets a canned answer with `Connection: close`, then a lingering close: we
  stop writing, drain what the client still sends for a moment, then close, so the kernel does
  not answer unread bytes with a RST that would destroy our error response in flight.
- Socket errors are a quiet close: a client that vanishes is normal, not an error to log.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from rush.protocol import Limits, ProtocolError, RequestMessage, RequestParser
from rush.protocol.parser import BodySink
from rush.request import Request
from rush.response import FileBody, connection_line, date_line, render
from rush.server.loop import EPOLLIN, EPOLLOUT, EventLoop

# PERF: recv() of 256 KiB cost 36 us against 5 us for 64 KiB (glibc serves big blocks with
# mmap/munmap); one reused buffer per worker with recv_into costs 4.5 us and no allocation.
RECV_SIZE = 64 * 1024
LINGER_SECONDS = 2.0
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: Most bytes one connection's file body may send per loop wake-up (fairness, not speed).
SENDFILE_TURN = 1 << 20

access_log = logging.getLogger("rush.access")


class Handler(Protocol):
    """What a connection needs from the application (rush.app.Rush provides it)."""

    def handle(self, request: Request) -> bytes | FileBody: ...
    def prerendered(self) -> dict[bytes, tuple[bytes, bytes]]: ...
    def body_limit_for(self, message: RequestMessage, default: int) -> int: ...
    def open_body(self, message: RequestMessage) -> BodySink | None: ...


class ServerContext:
    """What all connections of one worker share: loop, app, settings, the open connections."""

    __slots__ = (
        "loop",
        "handler",
        "handle",
        "prerendered",
        "limits",
        "header_timeout",
        "keepalive_timeout",
        "body_timeout",
        "write_high_water",
        "connections",
        "draining",
        "access_log",
        "on_close",
        "requests_served",
        "recv_buffer",
        "recv_view",
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
        access_log_enabled: bool = False,  # the worker sets `access_log` to a recorder
        on_close: Callable[[Connection], None] | None = None,
    ) -> None:
        self.loop = loop
        self.handler = handler
        self.handle = handler.handle
        self.prerendered = handler.prerendered()
        self.limits = limits
        self.header_timeout = header_timeout
        self.keepalive_timeout = keepalive_timeout
        self.body_timeout = body_timeout
        self.write_high_water = write_high_water
        self.connections: dict[int, Connection] = {}
        self.draining = False
        # None/False, or the worker's recorder: f(remote_addr, message, answer, started).
        self.access_log: Any = access_log_enabled
        self.on_close = on_close
        self.requests_served = 0
        # One buffer for the whole worker: connections are served one at a time and nothing
        # keeps a view into it (httptools hands out copies).
        self.recv_buffer = bytearray(RECV_SIZE)
        self.recv_view = memoryview(self.recv_buffer)

    def body_limit_for(self, message: RequestMessage) -> int:
        return self.handler.body_limit_for(message, self.limits.max_body)


class Connection:
    """Serves the requests of one accepted socket until either side closes it."""

    __slots__ = (
        "sock",
        "fd",
        "remote_addr",
        "ctx",
        "parser",
        "current",
        "pending",
        "out",
        "out_size",
        "reading",
        "events",
        "close_after_write",
        "lingering",
        "closed",
        "deadline",
    )

    def __init__(self, sock: socket.socket, remote_addr: str | None, ctx: ServerContext) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.remote_addr = remote_addr
        self.ctx = ctx
        self.parser = RequestParser(ctx.limits, ctx.body_limit_for)
        self.current: RequestMessage | None = None  # head done, body still arriving
        # Parsed requests held back by backpressure (and a framing error to send after them):
        # answered once the client has read what is queued.
        self.pending: list[RequestMessage | ProtocolError] = []
        self.out: list[bytes | FileBody] = []
        self.out_size = 0
        self.reading = True
        self.events = EPOLLIN  # the interest set registered with the loop
        self.close_after_write = False
        self.lingering = False
        self.closed = False
        self.deadline = ctx.loop.now + ctx.header_timeout
        ctx.connections[self.fd] = self
        ctx.loop.register(self.fd, self, EPOLLIN)

    # -- reading -------------------------------------------------------------------------

    def on_readable(self) -> None:
        ctx = self.ctx
        try:
            size = self.sock.recv_into(ctx.recv_buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not size or self.lingering:
            self._on_end_of_input(size)
            return
        parser = self.parser
        begun = parser.begun
        open_body = self.current
        body_before = open_body.body_size if open_body is not None else 0
        try:
            messages = parser.feed(ctx.recv_view[:size])
        except ProtocolError as error:
            self._on_protocol_error(error)
            return
        if parser.with_body:
            self.open_bodies(parser.with_body)
        if open_body is not None:
            messages.insert(0, open_body)
            self.current = None
        if messages:
            if self.pending:
                self.pending += messages  # behind requests held back by backpressure
                messages = []  # (so not answered yet: the keep-alive clock does not restart)
            else:
                self.answer(messages)
                if self.closed or self.close_after_write:
                    return
        if parser.in_head:
            if parser.begun != begun:
                self.deadline = ctx.loop.now + ctx.header_timeout  # a new head: its clock starts
        elif self.current is not None:
            # Only body bytes are progress: chunk extensions and size lines are parsed and
            # dropped, so a client streaming an endless one (CVE-2024-22019) meets the timeout.
            if self.current is not open_body or self.current.body_size != body_before:
                self.deadline = ctx.loop.now + ctx.body_timeout
        elif messages and not self.out:
            # Only a request restarts the keep-alive clock: blank lines before one (RFC 9112
            # §2.2) are skipped by the parser and must not hold the connection open forever.
            self.deadline = ctx.loop.now + ctx.keepalive_timeout

    def _on_end_of_input(self, size: int) -> None:
        """A read returned EOF, or something arrived while lingering."""
        if self.lingering:
            if not size:
                self.close()
            return
        # The client finished sending (maybe a half-close): answers already queued still go.
        if self.out:
            self.close_after_write = True
            self.reading = False
            self._update_events()
        else:
            self.close()

    def _on_protocol_error(self, error: ProtocolError) -> None:
        # Requests completed before the bad bytes still get their answers, in order.
        if error.completed:
            self.current = None
            self.answer(error.completed)
        if self.pending:
            self.pending.append(error)  # its turn comes after the held-back answers
        elif not (self.closed or self.close_after_write):
            self.fail(error)  # (nothing goes out after an answer with Connection: close)

    def answer(self, messages: list[RequestMessage]) -> None:
        """Answer every complete message in order; park an incomplete last one.

        Once the answers pass `write_high_water`, the rest wait in `pending` until the client
        reads: a few bytes of pipelined requests must not make megabytes of answers at once.
        """
        ctx = self.ctx
        prerendered = ctx.prerendered
        access_log = ctx.access_log
        answers: list[bytes | FileBody] = []
        has_file = False
        last = messages[-1]
        budget = ctx.write_high_water - self.out_size
        for message in messages:
            if budget < 0:
                self.pending.extend(messages[messages.index(message) :])
                self.reading = False
                break
            if not message.complete:
                if message.expect_continue and not message.body_size:
                    answers.append(CONTINUE)  # RFC 9110 §10.1.1: the client waits for this
                    message.expect_continue = False
                self.current = message
                break
            # After an Upgrade request the bytes that follow are another protocol: answer, close.
            keep_alive = message.keep_alive and not (
                ctx.draining or message is last and self.parser.upgraded
            )
            started = time.perf_counter() if access_log else 0.0
            hit = prerendered.get(message.target) if message.method == "GET" else None
            if hit is not None:
                # PERF: pre-rendered answers skip the Request object and the app entirely.
                prefix, rest = hit
                if keep_alive and message.version == "1.1":
                    answer: bytes | FileBody = prefix + date_line.value + rest
                else:
                    conn = connection_line(keep_alive, message.version)
                    answer = prefix + date_line.value + conn + rest
            else:
                answer = call_app(ctx.handle, message, keep_alive, self.remote_addr)
            answers.append(answer)
            if type(answer) is bytes:
                budget -= len(answer)
            else:
                has_file = True
                budget -= answer.remaining  # type: ignore[union-attr]
            ctx.requests_served += 1
            if access_log:
                access_log(self.remote_addr, message, answer, started)
            if not keep_alive:
                self.close_after_write = True
                break
        if has_file:
            self.write_all(answers)
        elif answers:  # all bytes: no file among them
            self.write(answers[0] if len(answers) == 1 else b"".join(answers))  # type: ignore[arg-type]
        if self.pending and not self.closed:
            self._update_events()  # EPOLLOUT: on_writable answers the rest once the client reads

    def _answer_pending(self) -> None:
        """The client has read what was queued: answer the requests held back for it."""
        pending = self.pending
        self.pending = []
        error = pending.pop() if type(pending[-1]) is ProtocolError else None
        if pending:
            self.answer(pending)  # type: ignore[arg-type]
        if error is not None:
            if self.pending:
                self.pending.append(error)
            elif not (self.closed or self.close_after_write):
                self.fail(error)  # type: ignore[arg-type]
            return
        if self.closed or self.close_after_write or self.out or self.pending:
            return
        ctx = self.ctx
        self.reading = True
        self._update_events()
        if self.current is not None:
            self.deadline = ctx.loop.now + ctx.body_timeout
        else:
            self.deadline = ctx.loop.now + (
                ctx.keepalive_timeout if self.parser.idle else ctx.header_timeout
            )

    def open_bodies(self, messages: list[RequestMessage]) -> None:
        """Let the app take each new body as it arrives (spool, stream) instead of RAM."""
        open_body = self.ctx.handler.open_body
        for message in messages:
            sink = open_body(message)
            if sink is not None:
                message.set_body_sink(sink)

    def fail(self, error: ProtocolError) -> None:
        """Answer a framing error or limit, then close: nothing after it can be trusted."""
        current = self.current
        if current is not None and current.body_sink is not None:
            current.body_sink.close()  # a 413 or 408 mid-body: its temporary file goes now
        self.current = None
        body = f"{error.reason}\n".encode()
        answer = render(
            error.status, body, b"text/plain; charset=utf-8", b"", b"Connection: close\r\n"
        )
        self.close_after_write = True
        self.write(answer)

    # -- writing -------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send now if nothing is queued; queue only what the socket did not take."""
        if self.closed:
            return
        if not self.out:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close()
                return
            if sent == len(data):
                if self.close_after_write:
                    self.finish()
                return
            data = data[sent:]
        self._queue(data)
        self.flush()

    def write_all(self, answers: list[bytes | FileBody]) -> None:
        """Queue answers some of which are files; consecutive bytes are joined into one send."""
        pending: list[bytes] = []
        for answer in answers:
            if type(answer) is bytes:
                pending.append(answer)
            else:
                pending.append(answer.head)  # type: ignore[union-attr]
                self._queue(b"".join(pending))
                pending = []
                self._queue(answer)
        if pending:
            self._queue(b"".join(pending))
        self.flush()

    def _queue(self, item: bytes | FileBody) -> None:
        self.out.append(item)
        self.out_size += len(item) if type(item) is bytes else 0  # type: ignore[arg-type]

    def flush(self) -> None:
        """Send queued items in order until the socket is full or the queue is empty."""
        out = self.out
        while out:
            item = out[0]
            try:
                if type(item) is bytes:
                    if len(out) > 1 and type(out[1]) is bytes:
                        item = out[0] = item + out.pop(1)  # type: ignore[operator]
                        continue
                    sent = self.sock.send(item)
                    self.out_size -= sent
                    if sent < len(item):
                        out[0] = item[sent:]
                        break
                else:
                    self._send_file(item)  # type: ignore[arg-type]
                out.pop(0)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close()
                return
        ctx = self.ctx
        if out:
            self.deadline = ctx.loop.now + ctx.body_timeout
            if self.out_size > ctx.write_high_water:
                self.reading = False  # backpressure: no new requests until the client reads
            self._update_events()
            return
        if self.close_after_write:
            self.finish()
            return
        if self.pending:
            self._update_events()  # still paused: on_writable answers the held-back requests
            return
        self.reading = True
        self._update_events()
        self.deadline = ctx.loop.now + (
            ctx.keepalive_timeout if self.parser.idle else ctx.header_timeout
        )

    def _send_file(self, body: FileBody) -> None:
        """sendfile() until the range is sent; BlockingIOError when the socket is full, or when
        this connection has had its turn: a client reading as fast as loopback allows would
        otherwise keep the loop here for the whole file while every other client waits.
        Measured on 2 cores beside one loopback download at ~350 MB/s: small requests on
        another connection had p99 65-185 ms / max 250 ms without turns, 19-24 / 39 ms with
        them, and the download did not slow down.
        """
        turn = SENDFILE_TURN
        while body.remaining > 0:
            if turn <= 0:
                raise BlockingIOError  # level-triggered EPOLLOUT resumes us next time round
            sent = os.sendfile(self.fd, body.fileno(), body.offset, min(body.remaining, turn))
            turn -= sent
            if sent == 0:  # the file shrank under us: the client sees a short body and we close
                self.close_after_write = True
                body.remaining = 0
                break
            body.offset += sent
            body.remaining -= sent
        body.close()

    def on_writable(self) -> None:
        if self.out:
            self.flush()
        if self.pending and not (self.out or self.closed or self.close_after_write):
            self._answer_pending()

    def _update_events(self) -> None:
        """Register interest in reading unless paused, in writing while output is queued."""
        events = (EPOLLIN if self.reading else 0) | (EPOLLOUT if self.out or self.pending else 0)
        if events != self.events:
            self.events = events
            self.ctx.loop.modify(self.fd, events)

    # -- ending --------------------------------------------------------------------------

    def finish(self) -> None:
        """Everything is sent and the connection must end: half-close, then linger briefly."""
        if self.closed:
            return
        self.pending = []  # the client said it is done (EOF) or an error ends the connection
        if self.parser.idle and self.current is None and not self.lingering and self._drained():
            self.close()
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.lingering = True
        self.reading = True
        self._update_events()
        self.deadline = self.ctx.loop.now + LINGER_SECONDS

    def _drained(self) -> bool:
        """True when the client has sent nothing we have not read (a plain close is safe)."""
        try:
            return not self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return True

    def on_timeout(self) -> None:
        """The sweep found the deadline passed: answer 408 to a half-sent request, or close."""
        if self.lingering or self.out or self.pending or self.parser.idle and self.current is None:
            self.close()
            return
        self.fail(ProtocolError(408, "request timeout"))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        ctx = self.ctx
        ctx.loop.unregister(self.fd)
        ctx.connections.pop(self.fd, None)
        try:
            self.sock.close()
        except OSError:
            pass
        for item in self.out:
            if type(item) is not bytes:
                item.close()  # type: ignore[union-attr]
        self.out = []
        current = self.current
        if current is not None and current.body_sink is not None:
            current.body_sink.close()  # the client left mid-body: temporary files go now
        for message in self.pending:
            if type(message) is RequestMessage and message.body_sink is not None:
                message.body_sink.close()
        self.pending = []
        if ctx.on_close is not None:
            ctx.on_close(self)

    @property
    def idle(self) -> bool:
        """No request partly read or waiting unread, nothing to send: safe to close for shutdown.

        A connection just taken from the listen queue usually holds a request not yet read:
        closing it would drop that request (and the kernel would answer it with a RST).
        """
        return (
            not self.out
            and not self.pending
            and self.current is None
            and self.parser.idle
            and self._drained()
        )

    def __repr__(self) -> str:
        return f"<Connection fd={self.fd} {self.remote_addr}>"


def call_app(
    handle: Callable[[Request], bytes | FileBody],
    message: RequestMessage,
    keep_alive: bool,
    remote_addr: str | None,
) -> bytes | FileBody:
    """The app's answer to a complete message; a body sink it read from is closed after."""
    request = Request(
        message.method,
        message.target,
        message.headers,
        message.take_body(),
        message.version,
        keep_alive,
        remote_addr,
    )
    store = message.body_sink
    if store is None:
        return handle(request)
    request.body_store = store
    try:
        return handle(request)
    finally:
        message.body_sink = None
        store.close()


def sweep(ctx: ServerContext, now: float) -> None:
    """Enforce every connection's deadline; called from a loop timer, not per request."""
    for connection in [c for c in ctx.connections.values() if c.deadline <= now]:
        connection.on_timeout()
