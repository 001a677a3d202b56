"""Limits and framing defences: the right status, `Connection: close`, then the socket closes.

The shared server runs with the small limits in conftest.LIMITS.
"""

from __future__ import annotations

import select

import pytest

from tests.server.limits import LIMITS
from tests.support.client import Reader, connect, request

HOST = b"Host: 127.0.0.1\r\n"


def refused(port: int, raw: bytes, status: int) -> None:
    """Send `raw`, expect `status` with Connection: close, then EOF; the server lives on."""
    with connect(port) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        response = reader.read_response()
        assert response.status == status, response.raw
        assert response.closes, response.raw
        assert response.header("server") == "rush"
        reader.expect_closed()
    with connect(port) as sock:
        sock.sendall(request("GET", "/id/alive"))
        assert Reader(sock).read_response().body == b"id=alive"


def test_414_request_line_too_long(server):
    target = "/id/" + "a" * (LIMITS["max_request_line"] + 10)
    refused(server.port, request("GET", target), 414)


def test_request_line_at_the_limit_is_served(server):
    target = "/id/" + "b" * (LIMITS["max_request_line"] - 4)
    with connect(server.port) as sock:
        sock.sendall(request("GET", target))
        assert Reader(sock).read_response().status == 200


def test_431_header_bytes(server):
    big = [(f"X-Big-{i}", "v" * 500) for i in range(LIMITS["max_header_bytes"] // 500 + 2)]
    assert len(big) < LIMITS["max_header_count"]
    refused(server.port, request("GET", "/", big), 431)


def test_431_one_endless_header_line(server):
    # A header line that never ends must be cut off by size, not buffered until a timeout.
    with connect(server.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n" + HOST + b"X-Endless: ")
        reader = Reader(sock)
        sent = 0
        while not select.select([sock], [], [], 0.05)[0]:
            assert sent < 100 * LIMITS["max_header_bytes"], "no answer to an endless header"
            sock.sendall(b"a" * 1000)
            sent += 1000
        response = reader.read_response()
        assert response.status == 431
        assert response.closes
        reader.expect_closed()


def test_431_header_count(server):
    many = [(f"X-H{i}", "1") for i in range(LIMITS["max_header_count"] + 1)]
    refused(server.port, request("GET", "/", many), 431)


def test_413_body_too_large_is_answered_before_the_body_is_sent(server):
    head = request("POST", "/echo", [("Content-Length", str(LIMITS["max_body"] + 1))])
    refused(server.port, head, 413)


def test_413_chunked_body_over_the_limit(server):
    raw = request("POST", "/echo", [("Transfer-Encoding", "chunked")])
    chunk = b"%x\r\n%s\r\n" % (LIMITS["max_body"] // 2, b"c" * (LIMITS["max_body"] // 2))
    with connect(server.port) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        for _ in range(3):
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        response = reader.read_response()
        assert response.status == 413
        assert response.closes
        reader.expect_closed()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            id="content-length-and-transfer-encoding",
        ),
        pytest.param(
            b"POST /echo HTTP/1.1\r\n"
            + HOST
            + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            id="conflicting-content-length",
        ),
        pytest.param(
            b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: 3, 4\r\n\r\nabcd",
            id="content-length-list",
        ),
        pytest.param(
            b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: -3\r\n\r\nabc",
            id="negative-content-length",
        ),
        pytest.param(
            b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\nabc",
            id="unknown-transfer-encoding",
        ),
        pytest.param(
            b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n",
            id="unsupported-coding-before-chunked",
        ),
        pytest.param(
            b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nabc\r\n0\r\n\r\n",
            id="bad-chunk-size",
        ),
        pytest.param(
            b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabcdef\r\n0\r\n\r\n",
            id="chunk-longer-than-its-size",
        ),
        pytest.param(b"GET / HTTP/1.1\nHost: 127.0.0.1\n\n", id="bare-lf"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\nX-A: b\r\n\r\n", id="bare-lf-in-head"),
        pytest.param(b"GET / HTTP/1.1\r\n" + HOST + b"X-Nul: a\x00b\r\n\r\n", id="nul-in-value"),
        pytest.param(b"GET /\x00 HTTP/1.1\r\n" + HOST + b"\r\n", id="nul-in-target"),
        pytest.param(b"GET / HTTP/1.1\r\n" + HOST + b"X-Cr: a\rb\r\n\r\n", id="bare-cr"),
        pytest.param(b"GET / HTTP/1.1\r\n" + HOST + b"X-A : b\r\n\r\n", id="space-before-colon"),
        pytest.param(b"GET / HTTP/1.1\r\n" + HOST + b"X-A: b\r\n folded\r\n\r\n", id="obs-fold"),
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="no-host"),
        pytest.param(b"GET / HTTP/1.1\r\n" + HOST + HOST + b"\r\n", id="two-hosts"),
        pytest.param(b"GET nothing HTTP/1.1\r\n" + HOST + b"\r\n", id="bad-target"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", id="tls-hello"),
    ],
)
def test_malformed_requests_get_400(server, raw):
    refused(server.port, raw, 400)


def test_requests_before_a_framing_error_are_still_answered(server):
    bad = b"POST /echo HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\n"
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/id/1") + request("GET", "/id/2") + bad)
        reader = Reader(sock)
        assert reader.read_response().body == b"id=1"
        assert reader.read_response().body == b"id=2"
        response = reader.read_response()
        assert response.status == 400
        assert response.closes
        reader.expect_closed()
