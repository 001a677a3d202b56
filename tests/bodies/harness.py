"""Drive an app the way the connection does, without sockets: parser -> open_body -> handle.

`Session.feed(piece)` parses bytes like one `recv`, hands each new body to `app.open_body`,
answers every complete request (setting `request.body_store`, closing the sink after), and
keeps an incomplete one; `disconnect()` closes its sink as the connection does when the
client leaves. Answers are parsed with the test client's TestResponse.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from rush.protocol import Limits, ProtocolError, RequestMessage, RequestParser
from rush.server.connection import call_app
from rush.testing import TestResponse


class Session:
    def __init__(self, app, limits: Limits | None = None) -> None:
        app.prepare()
        self.app = app
        self.limits = limits or Limits()
        self.parser = RequestParser(
            self.limits, lambda message: app.body_limit_for(message, self.limits.max_body)
        )
        self.current: RequestMessage | None = None
        self.responses: list[TestResponse] = []
        self.error: ProtocolError | None = None
        self.sinks: list[object] = []

    def feed(self, data: bytes) -> None:
        try:
            messages = self.parser.feed(data)
        except ProtocolError as error:
            self.error = error
            self.disconnect()
            return
        for message in messages:
            if message.has_body:
                sink = self.app.open_body(message)
                if sink is not None:
                    self.sinks.append(sink)
                    message.set_body_sink(sink)
        if self.current is not None:
            messages.insert(0, self.current)
            self.current = None
        for message in messages:
            if not message.complete:
                self.current = message
                break
            self.responses.append(TestResponse(self.answer(message)))

    def answer(self, message: RequestMessage) -> bytes:
        return call_app(self.app.handle, message, message.keep_alive, "127.0.0.1")

    def disconnect(self) -> None:
        current = self.current
        self.current = None
        if current is not None and current.body_sink is not None:
            current.body_sink.close()


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
