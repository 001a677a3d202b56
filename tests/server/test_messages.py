"""Request bodies, 100-continue, HEAD, bodiless statuses, common headers, 405 and 500."""

from __future__ import annotations

import re
import time

from tests.support.client import Reader, chunked, connect, exchange, get, request

DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")


def assert_common_headers(response):
    assert response.header("server") == "rush", response.raw
    date = response.header("date")
    assert date is not None and DATE.match(date), response.raw


def test_content_length_body(server):
    body = b"hello body " * 100
    response = exchange(server.port, request("POST", "/echo", body=body))
    assert response.status == 200
    assert response.body == body


def test_chunked_body_sent_in_pieces(server):
    raw = request("POST", "/echo", [("Transfer-Encoding", "chunked")])
    parts = [b"first,", b"second," * 300, b"x"]
    body = chunked(*parts)
    with connect(server.port) as sock:
        sock.sendall(raw)
        # The first bytes one at a time, so chunk-size lines and data straddle reads.
        for i in range(20):
            sock.sendall(body[i : i + 1])
        sock.sendall(body[20:])
        response = Reader(sock).read_response()
    assert response.status == 200
    assert response.body == b"".join(parts)


def test_chunked_body_with_extension_and_trailer(server):
    body = b"5;name=value\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"
    raw = request("POST", "/echo", [("Transfer-Encoding", "chunked")], body)
    with connect(server.port) as sock:
        sock.sendall(raw + request("GET", "/id/after"))
        reader = Reader(sock)
        assert reader.read_response().body == b"hello"
        assert reader.read_response().body == b"id=after"


def test_expect_100_continue_comes_before_the_body(server):
    body = b"continued body"
    head = request(
        "POST", "/echo", [("Expect", "100-continue"), ("Content-Length", str(len(body)))]
    )
    with connect(server.port) as sock:
        sock.sendall(head)
        reader = Reader(sock)
        interim = reader.read_until(b"\r\n\r\n", deadline=time.monotonic() + 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        reader.expect_open(0.2)  # nothing more until the body is sent
        sock.sendall(body)
        response = reader.read_response()
        assert response.status == 200
        assert response.body == body
        # The connection stays usable.
        sock.sendall(request("GET", "/id/next"))
        assert reader.read_response().body == b"id=next"


def test_expect_100_continue_with_too_large_body_gets_413_without_100(server):
    head = request("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", str(10**7))])
    with connect(server.port) as sock:
        sock.sendall(head)
        reader = Reader(sock)
        response = reader.read_response()
        assert response.status == 413
        assert b"100 Continue" not in response.raw
        assert response.closes
        reader.expect_closed()


def test_head_has_the_get_headers_and_no_body(server):
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/big") + request("HEAD", "/big") + request("GET", "/id/x"))
        reader = Reader(sock)
        got = reader.read_response()
        head = reader.read_response(head_only=True)
        after = reader.read_response()
    assert got.status == head.status == 200
    assert head.header("content-length") == str(len(got.body)) == str(64 * 1024)
    without_date = [h for h in got.headers if h[0].lower() != "date"]
    assert [h for h in head.headers if h[0].lower() != "date"] == without_date
    # Had HEAD carried a body, the next answer would not start where it does.
    assert after.body == b"id=x"


def test_head_of_a_missing_page_has_no_body(server):
    with connect(server.port) as sock:
        sock.sendall(request("HEAD", "/missing") + request("GET", "/id/y"))
        reader = Reader(sock)
        head = reader.read_response(head_only=True)
        assert head.status == 404
        assert int(head.header("content-length")) > 0
        assert reader.read_response().body == b"id=y"


def test_204_and_304_have_no_body(server):
    with connect(server.port) as sock:
        sock.sendall(
            request("GET", "/nocontent") + request("GET", "/notmodified") + request("GET", "/")
        )
        reader = Reader(sock)
        no_content = reader.read_response()
        not_modified = reader.read_response()
        follow = reader.read_response()
    assert no_content.status == 204 and no_content.body == b""
    assert no_content.header("content-length") is None
    assert not_modified.status == 304 and not_modified.body == b""
    assert follow.body == b"hello"


def test_every_response_has_date_and_server(server):
    with connect(server.port) as sock:
        raw = b"".join(
            [
                request("GET", "/"),
                request("GET", "/missing"),
                request("GET", "/only-post"),
                request("GET", "/nocontent"),
                request("GET", "/notmodified"),
                request("HEAD", "/"),
                request("GET", "/boom"),
                request("POST", "/echo", body=b"x"),
                request("OPTIONS", "/only-post"),
            ]
        )
        sock.sendall(raw)
        reader = Reader(sock)
        for index in range(9):
            assert_common_headers(reader.read_response(head_only=index == 5))
    # Canned protocol errors too.
    response = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n")
    assert response.status == 400
    assert_common_headers(response)


def test_405_carries_allow(server):
    response = get(server.port, "/only-post")
    assert response.status == 405
    allowed = {m.strip() for m in response.header("allow").split(",")}
    assert allowed == {"POST", "OPTIONS"}


def test_options_asterisk_lists_the_servers_methods(server):
    response = exchange(server.port, request("OPTIONS", "*"))
    assert response.status == 200 and response.body == b""
    assert {"GET", "HEAD", "POST", "OPTIONS"} <= set(response.header("allow").split(", "))


def test_unhandled_exception_is_500_and_the_connection_goes_on(server):
    worker = int(get(server.port, "/pid").body)
    with connect(server.port) as sock:
        reader = Reader(sock)
        sock.sendall(request("GET", "/boom"))
        response = reader.read_response()
        assert response.status == 500
        assert response.header("connection") is None
        assert b"boom" not in response.body  # no traceback or message leaks to the client
        sock.sendall(request("GET", "/id/after-boom"))
        assert reader.read_response().body == b"id=after-boom"
    assert int(get(server.port, "/pid").body) == worker
    assert server.proc.poll() is None
    server.wait_for(r"unhandled exception in GET /boom")
