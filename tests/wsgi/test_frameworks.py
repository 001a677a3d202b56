"""Real WSGI frameworks on Rush's engine over real sockets: Flask, a minimal Django project,
Bottle. Each module-scoped server runs the framework's app as `rush module:app` picks it."""

from __future__ import annotations

import hashlib
import http.client
import random
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from rush.multipart import encode_multipart
from tests.support.process import RushServer, assert_no_errors, start_server

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def call(
    server: RushServer,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> tuple[str, bytes]:
    content = random.Random(11).randbytes(3 * 1024 * 1024)
    path = tmp_path_factory.mktemp("files") / "big.bin"
    path.write_bytes(content)
    return str(path), content


@pytest.fixture(scope="module")
def flask_server(big_file) -> Iterator[RushServer]:
    server = start_server(
        app="tests.wsgi.flaskapp:app", workers=2, env={"WSGI_TEST_FILE": big_file[0]}
    )
    yield server
    server.stop()


def test_flask_form_post_and_upload(flask_server):
    body = urlencode({"name": "ann", "lang": "fr"}).encode()
    assert call(flask_server, "POST", "/form", body, FORM)[2] == b"hello ann (fr)"
    content = random.Random(1).randbytes(2 * 1024 * 1024)  # over the spool threshold
    data, ctype = encode_multipart([("note", "x")], [("file", "a.bin", content, "app/x")])
    status, _, answer = call(flask_server, "POST", "/upload", data, {"Content-Type": ctype})
    assert status == 200
    assert answer.decode() == f"a.bin:{len(content)}:{hashlib.sha256(content).hexdigest()}"


def test_flask_session_cookies_and_redirects(flask_server):
    status, headers, _ = call(flask_server, "GET", "/login?user=bo")
    assert status == 302 and headers["Location"] == "/me"
    session = headers["Set-Cookie"].split(";")[0]
    assert call(flask_server, "GET", "/me", headers={"Cookie": session})[2] == b"user=bo"
    assert call(flask_server, "GET", "/me")[2] == b"user=nobody"
    _, headers, _ = call(flask_server, "GET", "/cookie")
    assert headers["Set-Cookie"].startswith("flavour=oat")
    cookies = {"Cookie": "flavour=oat; other=1"}
    assert call(flask_server, "GET", "/echo-cookie", headers=cookies)[2] == b"flavour=oat"


def test_flask_streams_a_generator_and_sends_files(flask_server, big_file):
    status, headers, body = call(flask_server, "GET", "/stream?n=4")
    assert status == 200 and headers["Transfer-Encoding"] == "chunked"
    assert body == b"line 0\nline 1\nline 2\nline 3\n"
    status, headers, body = call(flask_server, "GET", "/download")
    assert status == 200 and headers["Content-Length"] == str(len(big_file[1]))
    assert body == big_file[1]
    status, headers, body = call(flask_server, "HEAD", "/download")
    assert headers["Content-Length"] == str(len(big_file[1])) and body == b""


def test_flask_error_handlers(flask_server):
    assert call(flask_server, "GET", "/nowhere")[:3:2] == (404, b"custom 404")
    start = flask_server.mark()
    assert call(flask_server, "GET", "/boom")[:3:2] == (500, b"custom 500")
    # Flask logs the exception to wsgi.errors: it lands in Rush's error log.
    flask_server.wait_for("RuntimeError: flask view failed", start=start)


@pytest.fixture(scope="module")
def django_server() -> Iterator[RushServer]:
    server = start_server("--root-path", "/site", app="tests.wsgi.djangoapp:application")
    yield server
    server.stop()


def test_django_view_form_and_streaming(django_server):
    start = django_server.mark()
    status, headers, body = call(django_server, "GET", "/site/")
    assert (status, body) == (200, b"django ok /site/ /site")
    assert headers["Content-Length"] == str(len(body))
    body = urlencode({"name": "zoe"}).encode()
    status, _, answer = call(django_server, "POST", "/site/form/", body, FORM)
    assert (status, answer) == (200, b"hello zoe (8 bytes)")
    status, headers, body = call(django_server, "GET", "/site/stream/")
    assert headers["Transfer-Encoding"] == "chunked" and body == b"part 0\npart 1\npart 2\n"
    status, headers, _ = call(django_server, "GET", "/site/form")
    assert status == 301 and headers["Location"] == "/site/form/"  # APPEND_SLASH
    assert call(django_server, "GET", "/site/missing/")[0] == 404
    assert_no_errors(django_server, start)


def test_django_reads_a_chunked_body(django_server):
    connection = http.client.HTTPConnection("127.0.0.1", django_server.port, timeout=10)
    chunks = iter([b"name=", b"chunk", b"ed"])
    connection.request("POST", "/site/form/", body=chunks, headers=FORM, encode_chunked=True)
    assert connection.getresponse().read() == b"hello chunked (12 bytes)"
    connection.close()


@pytest.fixture(scope="module")
def bottle_server() -> Iterator[RushServer]:
    server = start_server(app="tests.wsgi.bottleapp:app")
    yield server
    server.stop()


def test_bottle(bottle_server):
    start = bottle_server.mark()
    assert call(bottle_server, "GET", "/hello/rush")[2] == b"hello rush"
    body = urlencode({"name": "bea"}).encode()
    assert call(bottle_server, "POST", "/form", body, FORM)[2] == b"got bea"
    status, headers, _ = call(bottle_server, "GET", "/go")
    assert status in (302, 303) and headers["Location"].endswith("/hello/redirected")
    status, headers, body = call(bottle_server, "GET", "/json")
    assert headers["Content-Type"] == "application/json" and body == b'{"framework": "bottle"}'
    assert call(bottle_server, "GET", "/nowhere")[0] == 404
    assert_no_errors(bottle_server, start)
