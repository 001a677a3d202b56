"""PEP 3333 over real sockets: the environ a WSGI app sees, and how its answers are framed.

One in-process worker (tests.wsgi.conftest) serves tests.wsgi.apps under --root-path /mount.
Streamed answers are read with http.client, which decodes chunked bodies.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import socket

import pytest

from tests.support.client import Reader, connect, exchange, request
from tests.support.process import RushServer, assert_no_errors
from tests.support.procfs import rss_kb, status_kb

MIB = 1024 * 1024


def environ_of(server: RushServer, raw: bytes) -> dict:
    answer = exchange(server.port, raw)
    assert answer.status == 200, answer.raw
    return json.loads(answer.body)


def fetch(server: RushServer, target: str, method: str = "GET") -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request(method, target)
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


# -- the environ ---------------------------------------------------------------------------


def test_the_environ_has_every_required_key_with_its_type(wsgi_server):
    seen = environ_of(
        wsgi_server,
        request("POST", "/mount/environ/x?a=1&b=%20", [("Content-Type", "text/plain")], b"hi"),
    )
    assert seen["REQUEST_METHOD"] == "POST"
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/mount", "/environ/x")
    assert seen["QUERY_STRING"] == "a=1&b=%20"
    assert (seen["CONTENT_TYPE"], seen["CONTENT_LENGTH"]) == ("text/plain", "2")
    assert "HTTP_CONTENT_TYPE" not in seen and "HTTP_CONTENT_LENGTH" not in seen
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("127.0.0.1", "80")
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    assert seen["HTTP_HOST"] == "127.0.0.1"
    assert seen["wsgi.version"] == [1, 0]
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["wsgi.multithread"] is False and seen["wsgi.multiprocess"] is True
    assert seen["wsgi.run_once"] is False and seen["wsgi.input_terminated"] is True
    assert seen["file_wrapper"] == "FileWrapper"
    assert seen["body"] == "hi"


def test_server_name_and_port_come_from_the_host_field(wsgi_server):
    seen = environ_of(wsgi_server, request("GET", "/environ", [("Host", "example.org:8080")]))
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("example.org", "8080")
    seen = environ_of(wsgi_server, request("GET", "/environ", [("Host", "[::1]:81")]))
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("[::1]", "81")
    seen = environ_of(wsgi_server, request("GET", "/environ", version="1.0", host=False))
    # Without a Host field: the first --bind address (here port 0, as given).
    assert seen["SERVER_NAME"] == "127.0.0.1" and seen["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert seen["SERVER_PORT"].isdigit()


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/mount/environ/caf%C3%A9", "/environ/caf\u00c3\u00a9"),  # UTF-8 bytes, as latin-1
        ("/mount/environ/a%2Fb%20c", "/environ/a/b c"),
        ("/mount/environ/100%", "/environ/100%"),  # not an escape: kept
        ("/environ/unprefixed", "/environ/unprefixed"),  # a proxy stripped the root path
        ("/mountain/environ", "/mountain/environ"),  # not under /mount
    ],
)
def test_path_info_is_decoded_as_latin_1(wsgi_server, target, path):
    seen = environ_of(wsgi_server, request("GET", target))
    assert seen["PATH_INFO"] == path
    assert seen["SCRIPT_NAME"] == "/mount"


def test_raw_non_ascii_bytes_in_the_target_are_refused_before_the_app(wsgi_server):
    answer = exchange(wsgi_server.port, b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.status == 400  # llhttp is strict: a client must %-escape them


def test_repeated_fields_are_joined_and_underscored_names_dropped(wsgi_server):
    fields = [
        ("X-Tag", "a"),
        ("x-tag", "b"),
        ("Cookie", "one=1"),
        ("Cookie", "two=2"),
        ("X_Forged", "evil"),
        ("X-Forged", "real"),
    ]
    seen = environ_of(wsgi_server, request("GET", "/environ", fields))
    assert seen["HTTP_X_TAG"] == "a, b"
    assert seen["HTTP_COOKIE"] == "one=1; two=2"
    assert seen["HTTP_X_FORGED"] == "real"


def test_a_chunked_body_arrives_whole_with_its_length(wsgi_server):
    raw = request(
        "POST",
        "/environ",
        [("Transfer-Encoding", "chunked")],
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    )
    seen = environ_of(wsgi_server, raw)
    assert seen["body"] == "abcdefg"
    assert seen["CONTENT_LENGTH"] == "7"
    assert "HTTP_TRANSFER_ENCODING" not in seen


def test_a_five_mib_upload_is_spooled_not_held_in_memory(wsgi_server):
    content = random.Random(3).randbytes(5 * MIB)
    exchange(wsgi_server.port, request("POST", "/upload", body=b"warm up"))
    with open(f"/proc/{wsgi_server.pid}/clear_refs", "w") as f:
        f.write("5")  # the peak RSS starts again from here
    before = rss_kb(wsgi_server.pid)
    for framing in ("length", "chunked"):
        if framing == "length":
            raw = request("POST", "/upload", body=content)
        else:
            body = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part)
                for part in (content[i : i + MIB] for i in range(0, len(content), MIB))
            )
            raw = request(
                "POST", "/upload", [("Transfer-Encoding", "chunked")], body + b"0\r\n\r\n"
            )
        answer = exchange(wsgi_server.port, raw)
        data = json.loads(answer.body)
        assert data["size"] == len(content), framing
        assert data["sha256"] == hashlib.sha256(content).hexdigest(), framing
        assert data["content_length"] == str(len(content)), framing
        assert data["input"] == "BufferedReader", framing  # the spool, not a BytesIO
    growth_mb = (status_kb(wsgi_server.pid, "VmHWM") - before) / 1024
    assert growth_mb < 4, growth_mb


def test_wsgiref_validator_finds_nothing_to_complain_about(wsgi_server):
    start = wsgi_server.mark()
    for how in ("list", "generator", "write"):
        for method, body in (("GET", b""), ("POST", b"line one\nline two\n"), ("HEAD", b"")):
            raw = request(method, f"/mount/validated/x?how={how}", body=body)
            answer = exchange(wsgi_server.port, raw, head_only=method == "HEAD")
            assert answer.status == 200, (how, method, answer.raw)
            if method != "HEAD":
                assert answer.body == f"{method} /validated/x {len(body)}".encode(), how
    assert_no_errors(wsgi_server, start)
    assert "Exception ignored" not in wsgi_server.log


def test_wsgi_errors_goes_to_the_error_log(wsgi_server):
    start = wsgi_server.mark()
    assert exchange(wsgi_server.port, request("GET", "/errors")).body == b"noted"
    wsgi_server.wait_for(r"\[ERROR\] a note for the error log$", start=start)


# -- answers -------------------------------------------------------------------------------


def test_write_callable_bytes_come_before_the_iterable(wsgi_server):
    answer = exchange(wsgi_server.port, request("GET", "/write"))
    assert answer.body == b"written then returned"


def test_exc_info_replaces_the_head_before_it_is_sent(wsgi_server):
    answer = exchange(wsgi_server.port, request("GET", "/exc-info"))
    assert answer.status == 503 and answer.body == b"replaced"
    assert answer.header("x-first") is None


def test_exc_info_after_the_head_is_sent_re_raises_and_ends_the_body(wsgi_server):
    start = wsgi_server.mark()
    with connect(wsgi_server.port) as sock:
        sock.sendall(request("GET", "/exc-info-late"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK") and b"head is out" in data
    assert not data.endswith(b"0\r\n\r\n") and b"never" not in data  # no last chunk
    wsgi_server.wait_for("ValueError: too late to replace", start=start)


def test_start_response_twice_without_exc_info_is_a_500(wsgi_server):
    start = wsgi_server.mark()
    answer = exchange(wsgi_server.port, request("GET", "/exc-info-twice"))
    assert answer.status == 500
    wsgi_server.wait_for("start_response called a second time without exc_info", start=start)


def test_start_response_inside_the_iterable_is_allowed(wsgi_server):
    response = fetch(wsgi_server, "/lazy")
    assert (response.status, response.body) == (201, b"lazy")


@pytest.mark.parametrize("how", ["list", "generator"])
def test_the_apps_content_length_is_kept(wsgi_server, how):
    answer = exchange(wsgi_server.port, request("GET", f"/length?actual=10&as={how}"))
    assert answer.header("content-length") == "10" and answer.body == b"x" * 10


def test_a_stream_without_length_is_chunked(wsgi_server):
    response = fetch(wsgi_server, "/stream?n=4&size=3")
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    assert response.body == b"000111222333"


def test_a_stream_to_an_http_1_0_client_ends_with_the_connection(wsgi_server):
    with connect(wsgi_server.port) as sock:
        sock.sendall(request("GET", "/stream?n=2&size=4", version="1.0"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
    assert body == b"00001111"


def test_head_keeps_the_length_and_drops_the_body(wsgi_server):
    with connect(wsgi_server.port) as sock:
        sock.sendall(request("HEAD", "/length?actual=10") + request("HEAD", "/stream"))
        reader = Reader(sock)
        first = reader.read_response(head_only=True)
        assert first.header("content-length") == "10"
        sock.sendall(request("GET", "/"))
        # The stream's head says chunked (as its GET would); no body follows it.
        head = reader.read_until(b"\r\n\r\n", deadline=float("inf"))
        assert b"Transfer-Encoding: chunked" in head
        assert reader.read_response().body == b"ok"


def test_a_body_shorter_than_its_length_ends_the_connection(wsgi_server):
    with connect(wsgi_server.port) as sock:
        sock.sendall(request("GET", "/length?actual=4&declared=10"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert b"Content-Length: 10" in data and data.endswith(b"\r\n\r\nxxxx")


@pytest.mark.parametrize(
    "name", ["Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "TE", "Trailer"]
)
def test_hop_by_hop_fields_from_the_app_are_a_logged_500(wsgi_server, name):
    start = wsgi_server.mark()
    answer = exchange(wsgi_server.port, request("GET", f"/hop?name={name}"))
    assert answer.status == 500 and b"must not be sent" not in answer.body
    assert answer.header(name) is None or name == "Connection"
    wsgi_server.wait_for(rf"hop-by-hop header '{name}'", start=start)


def test_app_errors_are_logged_once_naming_the_app_and_answered_500(wsgi_server):
    start = wsgi_server.mark()
    for target, message in (("/raise", "the app fell over"), ("/bad-status", "invalid WSGI")):
        answer = exchange(wsgi_server.port, request("GET", target))
        assert answer.status == 500
        wsgi_server.wait_for(
            rf"WSGI app tests\.wsgi\.apps\.app failed for GET {target}", start=start
        )
        wsgi_server.wait_for(message, start=start)
    assert wsgi_server.output.count("Traceback", start) == 2


# -- close() -------------------------------------------------------------------------------


def test_close_is_called_when_the_body_ends(wsgi_server):
    start = wsgi_server.mark()
    assert fetch(wsgi_server, "/stream?n=2&tag=normal").body == b"0000011111"
    wsgi_server.wait_for("wsgi-test: closed normal", start=start)
    assert fetch(wsgi_server, "/closing?tag=plain").body == b"one two"
    wsgi_server.wait_for("wsgi-test: closed plain", start=start)
    assert wsgi_server.output.count("closed normal", start) == 1


def test_close_is_called_when_the_client_leaves_mid_stream(wsgi_server):
    start = wsgi_server.mark()
    with connect(wsgi_server.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(request("GET", "/stream?n=100000&size=65536&tag=gone"))
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
    wsgi_server.wait_for("wsgi-test: closed gone", start=start)
    assert exchange(wsgi_server.port, request("GET", "/")).body == b"ok"


def test_close_is_called_when_the_iterable_raises(wsgi_server):
    start = wsgi_server.mark()
    with connect(wsgi_server.port) as sock:
        sock.sendall(request("GET", "/fail-midway?tag=broken"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert b"first part" in data and not data.endswith(b"0\r\n\r\n")
    wsgi_server.wait_for("wsgi-test: closed broken", start=start)
    wsgi_server.wait_for("RuntimeError: the stream broke", start=start)


# -- files, connections --------------------------------------------------------------------


def test_file_wrapper_sends_a_large_file_without_growing(wsgi_server, tmp_path):
    path = tmp_path / "big.bin"
    block = random.Random(7).randbytes(MIB)
    with open(path, "wb") as f:
        for _ in range(50):
            f.write(block)
    expected = hashlib.sha256(block * 50).hexdigest()
    exchange(wsgi_server.port, request("GET", f"/file?path={tmp_path / 'none'}"))  # warm up
    before = rss_kb(wsgi_server.pid)
    with connect(wsgi_server.port) as sock:
        sock.sendall(request("GET", f"/file?path={path}"))
        reader = Reader(sock, timeout=30)
        answer = reader.read_response()
    assert answer.header("content-length") == str(50 * MIB)
    assert hashlib.sha256(answer.body).hexdigest() == expected
    assert (rss_kb(wsgi_server.pid) - before) / 1024 < 8
    partial = exchange(wsgi_server.port, request("GET", f"/file?path={path}&skip={49 * MIB}"))
    assert partial.body == block  # from the file's position, up to its end
    assert os.path.exists(path)


def test_keep_alive_and_pipelining(wsgi_server):
    with connect(wsgi_server.port) as sock:
        reader = Reader(sock)
        for index in range(3):
            sock.sendall(request("GET", f"/environ?n={index}"))
            assert json.loads(reader.read_response().body)["QUERY_STRING"] == f"n={index}"
        batch = b"".join(
            request("POST", f"/environ?n={index}", body=b"b%d" % index) for index in range(5)
        )
        sock.sendall(batch + request("GET", "/write"))
        for index in range(5):
            seen = json.loads(reader.read_response().body)
            assert (seen["QUERY_STRING"], seen["body"]) == (f"n={index}", f"b{index}")
        assert reader.read_response().body == b"written then returned"
        reader.expect_open()
