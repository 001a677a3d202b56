"""The app API through the test client: return values, errors, hooks, redirects."""

from __future__ import annotations

import logging

import pytest

from rush import HTTPError, Response, Rush, abort, redirect
from rush.exceptions import ConfigError


def test_return_types():
    app = Rush()
    app.get("/str")(lambda request: "héllo")
    app.get("/bytes")(lambda request: b"\x00\x01")
    app.get("/dict")(lambda request: {"a": 1, "b": [1, 2]})
    app.get("/list")(lambda request: [1, "two"])
    app.get("/none")(lambda request: None)
    app.get("/tuple2")(lambda request: ("created", 201))
    app.get("/tuple3")(lambda request: ("teapot", 418, {"X-Tea": "earl grey"}))
    app.get("/headers")(lambda request: ("ok", {"X-Only": "headers"}))
    app.get("/response")(
        lambda request: Response(
            "<b>x</b>", status=202, headers={"X-A": "1"}, content_type="text/x"
        )
    )
    client = app.test_client()

    r = client.get("/str")
    assert (r.status, r.body, r.headers["Content-Type"]) == (
        200,
        "héllo".encode(),
        "text/html; charset=utf-8",
    )
    assert client.get("/bytes").body == b"\x00\x01"
    r = client.get("/dict")
    assert r.headers["Content-Type"] == "application/json"
    assert r.json == {"a": 1, "b": [1, 2]}
    assert client.get("/list").json == [1, "two"]
    r = client.get("/none")
    assert r.status == 204 and r.body == b"" and "Content-Length" not in r.headers
    assert (client.get("/tuple2").status, client.get("/tuple2").text) == (201, "created")
    r = client.get("/tuple3")
    assert (r.status, r.headers["X-Tea"], r.reason) == (418, "earl grey", "I'm a Teapot")
    r = client.get("/headers")
    assert (r.status, r.headers["X-Only"]) == (200, "headers")
    r = client.get("/response")
    assert (r.status, r.headers["X-A"], r.headers["Content-Type"], r.text) == (
        202,
        "1",
        "text/x",
        "<b>x</b>",
    )


@pytest.mark.parametrize(
    "rv",
    [
        "héllo",
        b"\x00raw",
        {"a": [1, 2]},
        [1, "two"],
        ("gone", 404),
        (b"bytes", 201),
        ({"error": "nope"}, 400),
        (["x"], 202),
        ("", 204),
        ("not modified", 304),
    ],
    ids=repr,
)
@pytest.mark.parametrize("keep_alive, version", [(True, "1.1"), (False, "1.1"), (True, "1.0")])
@pytest.mark.parametrize("head_only", [False, True])
def test_fast_return_paths_render_as_a_response_would(rv, keep_alive, version, head_only):
    """The shortcuts in Rush._finish give the very answer make_response().answer() gives, and
    so the same bytes on the wire."""
    from rush.protocol.writer import connection_line, render
    from rush.request import Request

    app = Rush()
    request = Request("HEAD" if head_only else "GET", b"/", [], b"", version, keep_alive)
    fast = app._finish(request, rv, 200)
    slow = app.make_response(rv).answer()
    assert fast == slow
    conn = connection_line(keep_alive, version)
    assert render(*fast, conn, b"", head_only) == render(*slow, conn, b"", head_only)


def test_every_response_has_server_date_and_exact_length():
    app = Rush()
    app.get("/")(lambda request: "abc")
    r = app.test_client().get("/")
    assert r.headers["Server"] == "rush"
    assert r.headers["Date"].endswith(" GMT")
    assert r.headers["Content-Length"] == "3"


def test_redirect_is_prerendered_and_routed():
    app = Rush()
    app.redirect("/easter", "/egg")
    app.redirect("/temp", "/there", status=307)
    prerendered = app.prerendered()
    assert prerendered[b"/easter"] == (301, b"Location: /egg\r\n", b"")
    client = app.test_client()
    r = client.get("/easter")
    assert (r.status, r.headers["Location"], r.body) == (301, "/egg", b"")
    assert client.get("/temp").status == 307
    assert client.post("/easter").status == 405


def test_redirect_rejects_bad_status_and_header_injection():
    app = Rush()
    with pytest.raises(ConfigError):
        app.redirect("/a", "/b", status=200)
    with pytest.raises(ConfigError):
        app.redirect("/a", "/b\r\nSet-Cookie: x=1")


def test_prerendered_answers_are_disabled_when_hooks_exist():
    app = Rush()
    app.redirect("/easter", "/egg")
    app.before_request(lambda request: None)
    assert app.prerendered() == {}


def test_redirect_helper_in_handlers():
    app = Rush()
    app.get("/go")(lambda request: redirect("/there"))
    r = app.test_client().get("/go")
    assert (r.status, r.headers["Location"]) == (302, "/there")


def test_abort_and_default_error_page():
    app = Rush()
    app.get("/forbidden")(lambda request: abort(403, "<no>"))
    r = app.test_client().get("/forbidden")
    assert r.status == 403
    assert b"Forbidden" in r.body
    assert b"&lt;no&gt;" in r.body  # the message is escaped


def test_error_handler_by_status():
    app = Rush()

    @app.errorhandler(404)
    def not_found(request, error):
        return f"nothing at {request.path}", 404

    @app.errorhandler(403)
    def forbidden(request, error):
        return "no entry"  # the error's status is kept when the handler gives none

    app.get("/secret")(lambda request: abort(403))
    client = app.test_client()
    r = client.get("/missing")
    assert (r.status, r.text) == (404, "nothing at /missing")
    assert (client.get("/secret").status, client.get("/secret").text) == (403, "no entry")


def test_error_handler_by_exception_class(caplog):
    class Oops(Exception):
        pass

    class BigOops(Oops):
        pass

    app = Rush()

    @app.errorhandler(Oops)
    def oops(request, error):
        return {"error": type(error).__name__}, 409

    def boom(request):
        raise BigOops()

    app.get("/boom")(boom)
    r = app.test_client().get("/boom")
    assert (r.status, r.json) == (409, {"error": "BigOops"})


def test_unhandled_exception_is_logged_and_answered_500(caplog):
    app = Rush()

    def boom(request):
        raise RuntimeError("kaput")

    app.get("/boom")(boom)
    app.get("/ok")(lambda request: "fine")
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        r = client.get("/boom")
    assert r.status == 500
    assert b"kaput" not in r.body  # no traceback or message leaks to the client
    assert "kaput" in caplog.text and "Traceback" in caplog.text
    assert client.get("/ok").text == "fine"


def test_error_handler_that_fails_falls_back_to_500(caplog):
    app = Rush()

    @app.errorhandler(404)
    def broken(request, error):
        raise ValueError("handler bug")

    with caplog.at_level(logging.ERROR, logger="rush.error"):
        r = app.test_client().get("/missing")
    assert r.status == 500
    assert "handler bug" in caplog.text


def test_errorhandler_registration_is_checked():
    app = Rush()
    with pytest.raises(ConfigError):
        app.errorhandler(200)
    with pytest.raises(ConfigError):
        app.errorhandler("404")  # type: ignore[arg-type]


def test_system_exit_is_not_swallowed():
    app = Rush()

    def leave(request):
        raise SystemExit(3)

    app.get("/exit")(leave)
    with pytest.raises(SystemExit):
        app.test_client().get("/exit")


def test_before_request_can_short_circuit_and_after_request_can_change():
    app = Rush()
    seen = []

    @app.before_request
    def auth(request):
        seen.append(request.path)
        if request.headers.get("authorization") != "Bearer ok":
            return "denied", 401
        return None

    @app.after_request
    def stamp(request, response):
        response.headers["X-Stamp"] = "1"
        return response

    app.get("/data")(lambda request: {"x": 1})
    client = app.test_client()
    r = client.get("/data")
    assert (r.status, r.text, r.headers["X-Stamp"]) == (401, "denied", "1")
    r = client.get("/data", headers={"Authorization": "Bearer ok"})
    assert (r.status, r.json, r.headers["X-Stamp"]) == (200, {"x": 1}, "1")
    assert seen == ["/data", "/data"]


def test_after_request_runs_on_errors_too():
    app = Rush()
    app.after_request(lambda request, response: response.headers.add("X-After", "yes"))
    r = app.test_client().get("/missing")
    assert (r.status, r.headers["X-After"]) == (404, "yes")


def test_head_of_error_has_no_body():
    app = Rush()
    r = app.test_client().head("/missing")
    assert r.status == 404 and r.body == b"" and int(r.headers["Content-Length"]) > 0


def test_cookies_set_and_delete():
    app = Rush()

    @app.get("/login")
    def login(request):
        response = Response("ok")
        response.set_cookie("session", "abc123", max_age=60, httponly=True, samesite="Lax")
        response.delete_cookie("old")
        return response

    r = app.test_client().get("/login")
    cookies = r.headers.getlist("Set-Cookie")
    assert cookies[0] == "session=abc123; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"
    assert cookies[1].startswith("old=; Max-Age=0; Expires=Thu, 01 Jan 1970")


def test_cookie_and_header_injection_are_refused():
    with pytest.raises(ValueError):
        Response("x").set_cookie("a", "b;c")
    with pytest.raises(ValueError):
        Response("x", headers={"X": "a\r\nInjected: 1"})


def test_http_error_carries_headers():
    app = Rush()

    def limited(request):
        raise HTTPError(429, "slow down", headers={"Retry-After": "3"})

    app.get("/limited")(limited)
    r = app.test_client().get("/limited")
    assert (r.status, r.headers["Retry-After"]) == (429, "3")


def test_http_error_attributes_are_what_exception_and_flask_users_read():
    bare, full = HTTPError(404), HTTPError(400, "bad", {"X": "y"}, Response("r"))
    assert (bare.args, bare.status, bare.message, bare.response) == ((404, None), 404, None, None)
    assert (full.args, full.message, full.headers) == ((400, "bad"), "bad", {"X": "y"})
    assert full.response is not None and full.response.data == b"r"
    bare.headers["X"] = "mine"  # each error has a dict of its own
    assert HTTPError(404).headers == {}
    assert (str(bare), str(full)) == ("404 Not Found", "400 Bad Request: bad")
    assert repr(bare) == "HTTPError(404, None)"


def test_hooks_registered_for_workers():
    app = Rush()
    started = app.on_startup(lambda: None)
    stopped = app.on_shutdown(lambda: None)
    assert app.startup_funcs == [started] and app.shutdown_funcs == [stopped]


def test_http10_keep_alive_is_announced():
    app = Rush()
    app.get("/")(lambda request: "x")
    client = app.test_client()
    r = client.get("/", http_version="1.0")
    assert r.headers["Connection"] == "keep-alive"
