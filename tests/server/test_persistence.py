"""Keep-alive and pipelining on a real server (RFC 9112 §9.3, §9.3.2)."""

from __future__ import annotations

import select

import pytest

from tests.support.client import Reader, connect, request


def test_http11_keeps_the_connection_open_by_default(server):
    with connect(server.port) as sock:
        reader = Reader(sock)
        for _ in range(3):
            sock.sendall(request("GET", "/"))
            response = reader.read_response()
            assert response.status == 200
            assert response.body == b"hello"
            assert response.header("connection") is None
        reader.expect_open()


def test_http10_is_closed_by_default(server):
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/", version="1.0"))
        reader = Reader(sock)
        response = reader.read_response()
        assert response.status == 200
        assert response.closes
        reader.expect_closed()


def test_http10_keep_alive_is_honoured_and_announced(server):
    with connect(server.port) as sock:
        reader = Reader(sock)
        for _ in range(2):
            sock.sendall(request("GET", "/", [("Connection", "keep-alive")], version="1.0"))
            response = reader.read_response()
            assert response.status == 200
            assert response.header("connection") == "keep-alive"
        reader.expect_open()


@pytest.mark.parametrize("target", ["/", "/id/close", "/nocontent", "/boom", "/missing"])
def test_connection_close_is_honoured(server, target):
    with connect(server.port) as sock:
        sock.sendall(request("GET", target, [("Connection", "close")]))
        reader = Reader(sock)
        response = reader.read_response()
        assert response.closes
        reader.expect_closed()


def test_requests_pipelined_after_connection_close_are_ignored(server):
    # RFC 9112 §9.6: the server closes after answering the request that carried `close`; it
    # must not answer (or reject) what the client pipelined behind it.
    first = request("GET", "/id/first", [("Connection", "close")])
    with connect(server.port) as sock:
        sock.sendall(first + request("GET", "/id/second") + request("GET", "/id/third"))
        reader = Reader(sock)
        response = reader.read_response()
        assert response.status == 200
        assert response.body == b"id=first"
        assert response.closes
        reader.expect_closed()


def test_fifty_pipelined_requests_are_answered_in_order(server):
    ids = [f"r{i:02d}-{i * 7919 % 1000}" for i in range(50)]
    with connect(server.port) as sock:
        sock.sendall(b"".join(request("GET", f"/id/{rid}") for rid in ids))
        reader = Reader(sock)
        bodies = [reader.read_response().body for _ in ids]
        assert bodies == [f"id={rid}".encode() for rid in ids]
        reader.expect_open()


def test_pipelined_post_bodies_do_not_bleed_into_each_other(server):
    bodies = [
        b"",
        b"a",
        b"GET /id/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        bytes(range(256)) * 40,
        b"\r\n\r\n",
        b"z" * 5000,
    ]
    raw = b"".join(request("POST", "/echo", [("Content-Length", str(len(b)))], b) for b in bodies)
    with connect(server.port) as sock:
        # Split the stream at awkward places so that bodies straddle reads on the server.
        for start in range(0, len(raw), 977):
            sock.sendall(raw[start : start + 977])
        reader = Reader(sock)
        echoed = [reader.read_response().body for _ in bodies]
        assert echoed == bodies
        reader.expect_open()


def test_pipelined_chunked_and_sized_posts_mixed(server):
    chunked_raw = request(
        "POST", "/echo", [("Transfer-Encoding", "chunked")], b"3\r\nabc\r\n0\r\n\r\n"
    )
    raw = (
        request("POST", "/echo", body=b"one")
        + chunked_raw
        + request("GET", "/id/between")
        + request("POST", "/echo", body=b"three")
    )
    with connect(server.port) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        assert [reader.read_response().body for _ in range(4)] == [
            b"one",
            b"abc",
            b"id=between",
            b"three",
        ]


def test_answers_to_one_read_leave_together(server):
    # Small pipelined requests that arrive in one segment are answered with one send, so the
    # answers arrive together: a single recv, once the socket is readable, holds all of them.
    ids = [f"seg{i}" for i in range(10)]
    with connect(server.port) as sock:
        sock.sendall(b"".join(request("GET", f"/id/{rid}") for rid in ids))
        ready, _, _ = select.select([sock], [], [], 5.0)
        assert ready
        data = sock.recv(1 << 20)
        assert data.count(b"HTTP/1.1 200 OK\r\n") == len(ids), data
        reader = Reader(sock)
        reader.buffer += data
        assert [reader.read_response().body for _ in ids] == [f"id={r}".encode() for r in ids]
