"""An in-process test client: requests go through the app's `handle` and back, no sockets.

The answer is framed by the same protocol writer the server uses, then parsed back into
status, headers and body, so tests see the bytes a client would.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlencode

from rush.datastructures import Headers
from rush.protocol import RequestMessage
from rush.protocol.writer import (
    FileBody,
    StreamBody,
    connection_line,
    date_line,
    render,
    render_head,
)
from rush.response import dump_json


def _field(line: str) -> tuple[str, str]:
    name, _, value = line.partition(": ")
    return name, value


class TestResponse:
    """What a test sees: `status`, `headers`, `body` (bytes), `text`, `json()`."""

    __test__ = False  # not a pytest test class

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _, status, self.reason = (lines[0].split(" ", 2) + [""])[:3]
        self.status = int(status)
        self.headers = Headers(_field(line) for line in lines[1:])

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<TestResponse {self.status} {len(self.body)} bytes>"


class TestClient:
    """`client.get("/path", query={...}, headers={...})`, `client.post(..., json=...)`."""

    __test__ = False

    def __init__(self, app: Any) -> None:
        self.app = app
        app.prepare()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        body: bytes | str = b"",
        json: Any = None,
        form: dict[str, str] | None = None,
        http_version: str = "1.1",
        remote_addr: str = "127.0.0.1",
    ) -> TestResponse:
        pairs = list(headers.items() if isinstance(headers, dict) else headers or [])
        if json is not None:
            body = dump_json(json)
            pairs.append(("Content-Type", "application/json"))
        elif form is not None:
            body = urlencode(form)
            pairs.append(("Content-Type", "application/x-www-form-urlencoded"))
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not any(name.lower() == "host" for name, _ in pairs):
            pairs.insert(0, ("Host", "testserver"))
        target = path + ("?" + urlencode(query, doseq=True) if query else "")
        raw_headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs]
        message = RequestMessage.built(
            method.upper(), target.encode("utf-8"), http_version, raw_headers, body
        )
        return TestResponse(frame(self.app.handle(message, remote_addr, "http"), message))

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("HEAD", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("OPTIONS", path, **kwargs)


def frame(answer: Any, message: RequestMessage) -> bytes:
    """The bytes the server sends for `answer` on a keep-alive HTTP/1.1 connection; a file is
    read as sendfile would send it, a stream collected whole (and both closed)."""
    status, lines, body = answer
    date = date_line(time.time())
    conn = connection_line(message.keep_alive, message.version)
    head_only = message.method == "HEAD"
    if type(body) is bytes:
        return render(status, lines, body, conn, date, head_only)
    try:
        if type(body) is FileBody:
            head = render_head(status, lines, body.remaining, conn, date)
            return head if head_only else head + _read_file(body)
        assert type(body) is StreamBody
        data = b"" if head_only else b"".join(body.iterator)
        length = body.length if body.length is not None or head_only else len(data)
        return render_head(status, lines, length, conn, date) + data
    finally:
        body.close()


def _read_file(body: FileBody) -> bytes:
    chunks = []
    offset, remaining = body.offset, body.remaining
    while remaining > 0:
        chunk = os.pread(body.fileno(), min(remaining, 1 << 20), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
