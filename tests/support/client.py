"""Deliberately small raw-socket HTTP/1.1 clients for the end-to-end tests, and free ports.

`connect`, `request` and `Reader` write exactly the bytes a test gives them and parse responses
strictly enough to notice a server that frames them wrongly (a body after HEAD, a 204 with
content, a missing length). Every read is bounded by a deadline, so a server that goes quiet
fails a test instead of hanging it.

`http_get` and `read_response` are the lenient one-shot pair of the operations tests (any
address, a Unix socket too; `NoResponse` tells a connection closed before any byte apart).
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 5.0


def connect(port: int, timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "1.1",
    host: bool = True,
) -> bytes:
    """Raw request bytes; Content-Length is added for a body unless the caller framed it."""
    lines = [f"{method} {target} HTTP/{version}"]
    given = [name.lower() for name, _ in headers or ()]
    if host and "host" not in given:
        lines.append(f"Host: {HOST}")
    lines.extend(f"{name}: {value}" for name, value in headers or ())
    if body and "content-length" not in given and "transfer-encoding" not in given:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*parts: bytes) -> bytes:
    """A chunked body: each part as one chunk, then the last chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, f"{name} appears {len(values)} times: {self.raw!r}"
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    @property
    def closes(self) -> bool:
        return (self.header("connection") or "").lower() == "close"


class ServerClosed(Exception):
    """The server closed (or reset) the connection while a response was expected."""


class Reader:
    """Buffered, deadline-bounded response reader over one socket."""

    def __init__(self, sock: socket.socket, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.sock = sock
        self.timeout = timeout
        self.buffer = bytearray()

    def _fill(self, deadline: float) -> None:
        # Past the deadline, still look once: a busy machine may have kept us from running.
        remaining = max(0.0, deadline - time.monotonic())
        if not select.select([self.sock], [], [], remaining)[0]:
            raise TimeoutError(f"no complete response in time; have {bytes(self.buffer)[:200]!r}")
        try:
            data = self.sock.recv(256 * 1024)
        except ConnectionResetError:
            raise ServerClosed(f"reset; have {bytes(self.buffer)[:200]!r}") from None
        if not data:
            raise ServerClosed(f"EOF; have {bytes(self.buffer)[:200]!r}")
        self.buffer += data

    def read_until(self, marker: bytes, deadline: float) -> bytes:
        while True:
            end = self.buffer.find(marker)
            if end != -1:
                end += len(marker)
                data = bytes(self.buffer[:end])
                del self.buffer[:end]
                return data
            self._fill(deadline)

    def read_exact(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            self._fill(deadline)
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def read_response(self, head_only: bool = False, timeout: float | None = None) -> Response:
        """One response; `head_only` for the answer to HEAD (framed as GET, sent without body)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        head = self.read_until(b"\r\n\r\n", deadline)
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        assert version in ("HTTP/1.1", "HTTP/1.0"), f"bad status line {lines[0]!r}"
        response = Response(version, int(status), reason, raw=head)
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip(), f"bad header line {line!r} in {head!r}"
            response.headers.append((name, value.strip()))
        code = response.status
        assert response.header("transfer-encoding") is None, "Rush never sends chunked bodies"
        length = response.header("content-length")
        if code < 200 or code in (204, 304):
            assert length is None or code == 304, f"{code} with Content-Length: {head!r}"
            return response
        assert length is not None, f"a response without Content-Length: {head!r}"
        if not head_only:
            response.body = self.read_exact(int(length), deadline)
        response.raw += response.body
        return response

    def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Assert that the server closes the connection (EOF or RST) with nothing more to say."""
        assert not self.buffer, f"unexpected bytes before close: {bytes(self.buffer)!r}"
        assert wait_closed(self.sock, timeout), "the server did not close the connection"

    def expect_open(self, timeout: float = 0.3) -> None:
        """Assert that nothing (no data, no close) arrives within `timeout`."""
        assert not self.buffer, f"unexpected bytes: {bytes(self.buffer)!r}"
        ready, _, _ = select.select([self.sock], [], [], timeout)
        assert not ready, f"the connection is not quiet: {self.sock.recv(1024, socket.MSG_PEEK)!r}"


def wait_closed(sock: socket.socket, timeout: float) -> bool:
    """True once the peer closed (EOF or RST); False if still open after `timeout`.

    Bytes that arrive meanwhile fail the assertion: a closing server must say nothing more.
    """
    deadline = time.monotonic() + timeout
    while True:
        # Past the deadline, still look once: a busy machine may have kept us from running.
        remaining = max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([sock], [], [], remaining)
        if not ready:
            if time.monotonic() >= deadline:
                return False
            continue
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return True
        if not data:
            return True
        raise AssertionError(f"unexpected bytes before close: {data[:200]!r}")


def exchange(port: int, raw: bytes, head_only: bool = False) -> Response:
    """Send one request on a new connection and read one response."""
    with connect(port) as sock:
        sock.sendall(raw)
        return Reader(sock).read_response(head_only=head_only)


def get(port: int, target: str = "/", **kwargs) -> Response:
    return exchange(port, request("GET", target, **kwargs))


def free_port() -> int:
    """A loopback port nothing listens on now (bound and released; for servers that need a
    number up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NoResponse(Exception):
    """The connection ended before the first byte of a response."""


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response on a blocking socket: (status, lower-cased headers, body by its length)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            if not buffer:
                raise NoResponse("closed before the response")
            raise ConnectionError(f"closed inside the head: {buffer[:80]!r}")
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    return status, headers, body[:length]


def http_get(
    address: tuple[str, int] | str, path: str = "/", headers: Sequence[tuple[str, str]] = ()
) -> tuple[int, bytes]:
    """One request on a new connection (TCP, or a Unix socket path): (status, body)."""
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(address)
    else:
        sock = socket.create_connection(address, timeout=10)
    with sock:
        lines = [f"GET {path} HTTP/1.1", "Host: test", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status, _, body = read_response(sock)
    return status, body
