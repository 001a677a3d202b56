"""Random batches for answer_plain (rush.protocol.answers): messages, a pre-rendered table,
an app that answers from a script, and what one implementation did with them.

Shared by test_answers.py and the AddressSanitizer run (asan_answers_check.py), so both hold
the C accelerator and the pure-Python twin to the same outcomes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from rush.protocol import RequestMessage
from rush.protocol.answers import AnswerPlain
from rush.protocol.writer import FileBody, StreamBody, prerender

DATE = b"Date: Sat, 05 Dec 2026 02:00:00 GMT\r\n"
TARGETS = (b"/", b"/easter", b"/page", b"/odd", b"/old", b"/flag", b"/hello?name=bill", b"/x" * 40)
TABLE: dict[bytes, Any] = {
    b"/easter": prerender(301, b"Location: /egg\r\n", b""),  # preconditions ignored
    b"/page": prerender(200, b"Content-Type: text/html\r\n", b"<p>page</p>" * 30),  # obeyed
    # not entries the server makes: the loop's to answer
    b"/odd": (200, "not bytes", b"", b"", False),
    b"/old": (301, b"HTTP/1.1 301 Moved Permanently\r\n", b"\r\n", 0),
    b"/flag": (200, b"HTTP/1.1 200 OK\r\n", b"\r\n", b"", 1),
}
#: Fields a request may carry: plain ones, and each precondition in some spelling.
FIELDS = (
    (b"Host", b"a"),
    (b"Accept", b"*/*"),
    (b"If-None-Match", b'"x"'),
    (b"if-modified-since", b"Sat, 05 Dec 2026 02:00:00 GMT"),
    (b"RANGE", b"bytes=0-1"),
    (b"If-Range", b'"x"'),
    (b"If-Match", b"*"),
    (b"If-Unmodified-Since", b"Sat, 05 Dec 2026 02:00:00 GMT"),
    (b"If-None-Matc", b"*"),  # near misses
    (b"Ranges", b"bytes=0-1"),
    (b"If-Matcx", b"*"),
)
LINES = b"Content-Type: text/plain\r\n"


class AppRaised(Exception):
    """What the scripted app raises when its script says so."""


def answers(rng: random.Random) -> Any:
    """One answer an app might return: mostly plain ones, often not."""
    body = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 7, 600))))
    return rng.choice(
        (
            (200, LINES, body),
            (201, b"", body),
            (404, LINES, b"not found\n"),
            (500, b"", body),
            (599, LINES, body),  # no status line rendered yet: left to the loop
            (204, b"", b""),
            (304, LINES, b""),
            (101, b"", b""),
            (700, b"", b""),
            (True, b"", b""),
            ("200", b"", b""),
            (200, "text", b""),
            (200, LINES, "text"),
            (200, LINES, bytearray(b"x")),
            (200, LINES, FileBody(None, 0, 0)),
            (200, LINES, StreamBody([b"a"])),
            (200, LINES),
            (200, LINES, body, b""),
            [200, LINES, body],
            None,
            AppRaised("scripted"),
        )
    )


def message(rng: random.Random) -> RequestMessage:
    """A complete keep-alive HTTP/1.1 request most of the time."""
    target = rng.choice(TARGETS)
    result = RequestMessage(
        rng.choice(("GET", "GET", "GET", "HEAD", "POST", "DELETE", "OPTIONS")),
        target,
        "1.1" if rng.random() < 0.9 else "1.0",
        [FIELDS[0], *rng.sample(FIELDS[1:], rng.choice((0, 0, 1, 2)))],
        rng.random() < 0.9,
    )
    result.complete = rng.random() < 0.95
    if rng.random() < 0.05:
        result.body_sink = object()  # type: ignore[assignment]
    return result


@dataclass
class Case:
    messages: list[RequestMessage]
    script: list[Any]
    budget: int
    calls: list[tuple[int, Any, str]] = field(default_factory=list)

    def handle(self, message: RequestMessage, remote: Any, scheme: str) -> Any:
        self.calls.append((self.messages.index(message), remote, scheme))
        answer = self.script[len(self.calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def case(rng: random.Random) -> Case:
    messages = [message(rng) for _ in range(rng.choice((0, 1, 1, 2, 5, 16)))]
    script = [answers(rng) for _ in messages]
    return Case(messages, script, rng.choice((-1, 0, 100, 1000, 1 << 20)))


def outcome(implementation: AnswerPlain, original: Case) -> tuple[Any, ...]:
    """Everything answer_plain did with a fresh copy of `original`: its result or what it
    raised, the pieces, and the calls of the app."""
    batch = Case(original.messages, original.script, original.budget)
    pieces: list[bytes] = []
    try:
        result: Any = implementation(
            batch.messages, pieces, TABLE, DATE, batch.handle, "10.0.0.1", "http", batch.budget
        )
    except AppRaised as error:
        result = ("raised", error)
    return result, pieces, batch.calls
