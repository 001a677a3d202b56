"""Correctness checks with a raw socket, before any load.

A raw socket (not http.client) so the pipelined check can put 16 requests in
one write, and so we see exactly what the server sends: status, headers, body
framed by Content-Length, chunked encoding or connection close.
"""

import socket
from dataclasses import dataclass

from .workloads import Expect, Workload

TIMEOUT_S = 3.0


class ProtocolError(Exception):
    """The server's bytes are not a valid HTTP/1.1 response."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes


def read_response(reader, method: str = "GET") -> Response | None:
    """Read one response from a buffered socket file; None if the server closed first."""
    status_line = reader.readline(65537)
    if not status_line:
        return None
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {status_line[:80]!r}")
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(65537)
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise ProtocolError("connection closed inside the headers")
        name, _, value = line.decode("latin-1").partition(":")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    status = int(parts[1])
    return Response(status, headers, read_body(reader, status, headers, method))


def read_body(reader, status: int, headers: dict[str, str], method: str) -> bytes:
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return read_chunked(reader)
    if "content-length" in headers:
        length = int(headers["content-length"])
        body = reader.read(length)
        if len(body) != length:
            raise ProtocolError(f"body cut short: {len(body)} of {length} bytes")
        return body
    return reader.read()  # framed by connection close


def read_chunked(reader) -> bytes:
    chunks = []
    while True:
        size = int(reader.readline(1024).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunks.append(reader.read(size))
        reader.readline(3)


def mismatch(expect: Expect, resp: Response) -> str | None:
    """Why `resp` is not the expected answer, or None if it is."""
    if resp.status != expect.status:
        return f"status {resp.status}, expected {expect.status}"
    for name, value in expect.headers.items():
        if resp.headers.get(name) != value:
            return f"{name}: {resp.headers.get(name)!r}, expected {value!r}"
    ctype = resp.headers.get("content-type", "")
    if expect.content_types and not ctype.startswith(expect.content_types):
        return f"content-type {ctype!r}, expected {' or '.join(expect.content_types)}"
    if expect.body is not None and resp.body != expect.body:
        return f"body {shorten(resp.body)}, expected {shorten(expect.body)}"
    if expect.contains is not None and expect.contains not in resp.body:
        return f"body {shorten(resp.body)}, expected it to contain {expect.contains!r}"
    return None


def shorten(data: bytes, limit: int = 60) -> str:
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"


def check_workload(port: int, workload: Workload) -> str | None:
    """Send the workload's request(s) once on a fresh connection; None means correct.

    The pipelined workload writes all its requests at once and needs every
    answer on the same connection, which is what wrk will demand of it.
    """
    answered = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
            sock.sendall(workload.request_bytes() * workload.pipeline)
            reader = sock.makefile("rb")
            for answered in range(workload.pipeline):
                resp = read_response(reader, workload.method)
                if resp is None:
                    return lost(workload, answered, "then closed the connection")
                problem = mismatch(workload.expect, resp)
                if problem:
                    prefix = f"pipelined response {answered + 1}: " if workload.pipeline > 1 else ""
                    return prefix + problem
    except TimeoutError:
        return lost(workload, answered, f"then sent nothing for {TIMEOUT_S:.0f}s")
    except (OSError, ProtocolError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def lost(workload: Workload, answered: int, what: str) -> str:
    if workload.pipeline == 1:
        return f"no response: the server {what.removeprefix('then ')}"
    return f"answered {answered} of {workload.pipeline} pipelined requests, {what}"
