"""A minimal WSGI server in process: build a PEP 3333 environ, call the app, collect the answer.

By default the app is wrapped in `wsgiref.validate.validator`, which checks both sides of the
call (environ, start_response, the iterable and its close()). `Source` is a wsgi.input that
makes its bytes as they are read, so a large body never exists whole in the test either.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults
from wsgiref.validate import validator


@dataclass
class WSGIResponse:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    closed: bool = False

    @property
    def code(self) -> int:
        return int(self.status.split(" ", 1)[0])

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class Source(io.RawIOBase):
    """`size` bytes of a repeating pattern, made as they are read; records the reads."""

    def __init__(self, size: int, pattern: bytes = b"0123456789abcdef") -> None:
        self.size = size
        self.pattern = pattern
        self.position = 0
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        left = self.size - self.position
        count = left if size is None or size < 0 else min(size, left)
        self.reads.append(count)
        start = self.position % len(self.pattern)
        repeats = (start + count) // len(self.pattern) + 1
        data = (self.pattern * repeats)[start : start + count]
        self.position += count
        return data

    def content(self) -> Iterable[bytes]:
        """The same bytes again, in blocks (to compute what the app should have seen)."""
        copy = Source(self.size, self.pattern)
        while block := copy.read(1 << 16):
            yield block


@dataclass
class Wrapped:
    """wsgi.file_wrapper that records what it was given."""

    #: (file descriptor, its position) of each file wrapped, when it was wrapped: where a
    #: server's sendfile would start.
    calls: list[tuple[int, int]] = field(default_factory=list)

    def __call__(self, filelike: Any, block_size: int = 8192) -> FileWrapper:
        fd = filelike.fileno()
        self.calls.append((fd, os.lseek(fd, 0, os.SEEK_CUR)))
        return FileWrapper(filelike, block_size)


def environ_for(
    method: str = "GET",
    path: str = "/",
    query: str = "",
    body: bytes | io.IOBase = b"",
    headers: Iterable[tuple[str, str]] = (),
    **extra: Any,
) -> dict[str, Any]:
    """An environ as a WSGI server builds it; `headers` become HTTP_* (or CONTENT_*) keys."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body) if isinstance(body, bytes) else body,
        "wsgi.errors": sys.stderr,
    }
    if isinstance(body, bytes) and body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers:
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    environ.update(extra)
    setup_testing_defaults(environ)
    return environ


def call(app: Callable[..., Any], environ: dict[str, Any], validate: bool = True) -> WSGIResponse:
    """Call `app` as a server would: start_response, iterate, close."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    result = (validator(app) if validate else app)(environ, start_response)
    try:
        chunks = list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    assert len(started) == 1, started
    status, headers = started[0]
    return WSGIResponse(status, headers, b"".join(chunks), close is not None)


def request(
    app: Callable[..., Any], method: str = "GET", path: str = "/", validate: bool = True, **kw: Any
) -> WSGIResponse:
    return call(app, environ_for(method, path, **kw), validate)
