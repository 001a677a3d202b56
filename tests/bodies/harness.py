"""Drive an app through a real Connection whose socket is a fake: no kernel, no loop turns.

`Session.feed(piece)` hands the connection `piece` as one `recv`; every answer it sends is
parsed back (TestResponse) into `responses`, and a canned protocol error that closes the
connection into `error`. `disconnect()` is the client leaving: the connection closes, with its
sinks. `current` is the request whose body is still arriving.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from rush.protocol import Limits, RequestMessage
from rush.server.connection import Connection, ServerContext
from rush.server.loop import EventLoop
from rush.testing import TestResponse
from tests.support.fakesocket import FakeSocket


class Session:
    def __init__(self, app, limits: Limits | None = None) -> None:
        app.prepare()
        self.loop = EventLoop()
        self.ctx = ServerContext(self.loop, app, limits or Limits(), 10.0, 10.0, 10.0, 1 << 20)
        self.sock = FakeSocket()
        self.connection = Connection(self.sock, "127.0.0.1", self.ctx)  # type: ignore[arg-type]
        self.responses: list[TestResponse] = []
        self.error: TestResponse | None = None

    @property
    def current(self) -> RequestMessage | None:
        return self.connection.current

    def feed(self, data: bytes) -> None:
        while data and not self.connection.closed and self.error is None:
            self.sock.incoming, data = data[: 1 << 16], data[1 << 16 :]
            while self.sock.incoming and not self.connection.closed and self.error is None:
                self.connection.on_readable()
                self._collect()

    def _collect(self) -> None:
        for raw in split_responses(self.sock):
            response = TestResponse(raw)
            if response.headers.get("Connection") == "close" and response.status >= 400:
                self.error = response
            else:
                self.responses.append(response)

    def disconnect(self) -> None:
        self.connection.close()


def split_responses(sock: FakeSocket) -> Iterator[bytes]:
    """Whole responses (Content-Length framed) off the front of what the socket was sent."""
    sent = sock.sent
    while True:
        end = sent.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(sent[: end + 4])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if head.startswith(b"HTTP/1.1 100 "):
            length = 0
        if len(sent) < end + 4 + length:
            return
        raw = bytes(sent[: end + 4 + length])
        del sent[: end + 4 + length]
        if not raw.startswith(b"HTTP/1.1 100 "):
            yield raw


def splits(data: bytes, rng: random.Random, max_piece: int = 64) -> Iterator[bytes]:
    """`data` cut at random places into pieces of 1..max_piece bytes."""
    position = 0
    while position < len(data):
        size = rng.randint(1, max_piece)
        yield data[position : position + size]
        position += size


def serve(app, raw: bytes, pieces: Iterator[bytes] | None = None, **kwargs) -> list[TestResponse]:
    """All answers to `raw` fed whole (or in `pieces`); asserts nothing was left half-read."""
    session = Session(app, **kwargs)
    for piece in pieces if pieces is not None else [raw]:
        session.feed(piece)
    assert session.current is None, "a request was left incomplete"
    return session.responses


def post(
    target: str, body: bytes, content_type: str, chunked: bool = False, extra: str = ""
) -> bytes:
    """Raw bytes of one POST with `body`, framed by Content-Length or as one chunk per 1000 bytes."""
    head = f"POST {target} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n{extra}"
    if not chunked:
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    framed = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 1000]), body[i : i + 1000])
        for i in range(0, len(body), 1000)
    )
    return f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + framed + b"0\r\n\r\n"
