"""Every route of examples/app.py through `Rush.__call__`, under wsgiref's validator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from examples.app import app
from rush.wsgiapp import BLOCK
from tests.wsgiapp.harness import Source, request

PUBLIC = Path(__file__).resolve().parents[2] / "examples" / "public"


def test_index_is_the_cached_file() -> None:
    response = request(app, "GET", "/")
    assert response.status == "200 OK"
    assert response.body == (PUBLIC / "index.html").read_bytes()
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.header("content-length") == str(len(response.body))


def test_hello_reads_the_query_and_escapes_it() -> None:
    assert request(app, "GET", "/hello", query="name=bill").body == b"hello, bill!"
    assert request(app, "GET", "/hello", query="name=%3Cb%3E").body == b"hello, &lt;b&gt;!"


def test_user_is_json_and_delete_is_204() -> None:
    response = request(app, "GET", "/users/42")
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body) == {"id": 42, "name": "user42"}
    deleted = request(app, "DELETE", "/users/42")
    assert (deleted.code, deleted.body, deleted.header("content-length")) == (204, b"", None)


def test_echo_returns_the_body_and_its_type() -> None:
    response = request(
        app, "POST", "/echo", body=b"ping", headers=[("Content-Type", "text/x-ping")]
    )
    assert (response.body, response.header("content-type")) == (b"ping", "text/x-ping")


def test_easter_redirects() -> None:
    # Not validated: wsgiref's validator wants a Content-Type on every answer but 204 and 304,
    # and a redirect has no content to type (RFC 9110 §8.3 does not ask for one).
    response = request(app, "GET", "/easter", validate=False)
    assert response.status == "301 Moved Permanently"
    assert response.header("location") == "/egg"
    assert request(app, "GET", "/egg").body == b"You found the egg.\n"


def test_static_file() -> None:
    response = request(app, "GET", "/static/style.css")
    assert response.code == 200
    assert response.body == (PUBLIC / "style.css").read_bytes()
    assert response.header("content-type").startswith("text/css")


def test_missing_route_uses_the_apps_404_handler() -> None:
    response = request(app, "GET", "/nowhere")
    assert (response.status, response.body) == ("404 Not Found", b"nothing here\n")


def test_wrong_method_is_405_with_allow() -> None:
    response = request(app, "POST", "/hello", body=b"x")
    assert response.code == 405
    assert response.header("allow") == "GET, HEAD, OPTIONS"


def test_head_has_the_get_length_and_no_body() -> None:
    for path in ("/", "/hello", "/static/style.css"):
        get, head = request(app, "GET", path), request(app, "HEAD", path)
        assert head.code == 200
        assert head.body == b""
        assert head.header("content-length") == str(len(get.body))


def test_ingest_streams_five_mebibytes_from_wsgi_input() -> None:
    source = Source(5 * 1024 * 1024)
    expected = hashlib.sha256()
    for block in source.content():
        expected.update(block)
    response = request(
        app, "POST", "/ingest", body=source, CONTENT_LENGTH=str(source.size), validate=True
    )
    assert json.loads(response.body) == {"size": source.size, "sha256": expected.hexdigest()}
    assert max(source.reads) <= BLOCK  # read in blocks, never the whole body at once
