"""`teardown_request`: hooks that run once each request's answer is made, whatever happened."""

from __future__ import annotations

import logging

import pytest

from rush import Blueprint, Rush, abort
from rush.exceptions import ConfigError


def traced_app(calls: list[tuple[str, object]]) -> Rush:
    app = Rush(secret_key="k")

    @app.get("/ok")
    def ok(request):
        request.session["seen"] = True
        calls.append(("handler", request.path))
        return "ok"

    @app.get("/boom")
    def boom(request):
        raise ValueError("boom")

    @app.get("/gone")
    def gone(request):
        abort(410)

    @app.after_request
    def after(request, response):
        calls.append(("after", request.path))
        return response

    @app.teardown_request
    def first(request, error):
        calls.append(("first", error))

    @app.teardown_request
    def second(request, error):
        calls.append(("second", request.path))

    return app


def test_it_runs_after_the_answer_is_made_in_the_order_registered():
    calls: list[tuple[str, object]] = []
    client = traced_app(calls).test_client()
    response = client.get("/ok")
    assert response.text == "ok" and client.get_cookie("session") is not None
    assert calls == [("handler", "/ok"), ("after", "/ok"), ("first", None), ("second", "/ok")]


def test_it_gets_the_exception_that_made_the_answer_a_500_and_none_for_an_abort(caplog):
    calls: list[tuple[str, object]] = []
    client = traced_app(calls).test_client()
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        assert client.get("/boom").status == 500
    error = calls[1][1]
    assert isinstance(error, ValueError) and str(error) == "boom"
    calls.clear()
    assert client.get("/gone").status == 410
    assert client.get("/nowhere").status == 404
    assert [c for c in calls if c[0] == "first"] == [("first", None), ("first", None)]


def test_a_failing_teardown_hook_is_logged_and_changes_nothing(caplog):
    app = Rush()
    app.get("/")(lambda request: "fine")
    ran: list[str] = []

    @app.teardown_request
    def broken(request, error):
        raise RuntimeError("cleanup failed")

    app.teardown_request(lambda request, error: ran.append(request.path))
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        responses = [client.get("/"), client.get("/")]
    assert [(r.status, r.text) for r in responses] == [(200, "fine")] * 2
    assert ran == ["/", "/"]
    failures = [r for r in caplog.records if "teardown_request hook failed" in r.getMessage()]
    assert len(failures) == 2 and "cleanup failed" in failures[0].getMessage()


def test_it_turns_off_prerendered_answers_and_is_refused_on_a_registered_blueprint():
    app = Rush()
    app.redirect("/easter", "/egg")
    ran: list[str] = []
    app.teardown_request(lambda request, error: ran.append(request.path))
    assert app.prerendered() == {}
    assert app.test_client().get("/easter").status == 301 and ran == ["/easter"]
    shop = Blueprint("shop", __name__)
    app.register_blueprint(shop)
    with pytest.raises(ConfigError):
        shop.teardown_request(lambda request, error: None)


def test_a_blueprints_hooks_run_for_its_routes_innermost_first_then_the_apps():
    calls: list[str] = []
    app = Rush()
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")
    child.get("/leaf")(lambda request: "leaf")
    parent.get("/here")(lambda request: "here")
    app.get("/top")(lambda request: "top")

    @child.teardown_request
    def child_hook(request, error):
        calls.append("child")
        raise KeyError("the others still run")

    parent.teardown_request(lambda request, error: calls.append("parent"))
    app.teardown_request(lambda request, error: calls.append("app"))
    parent.register_blueprint(child)
    app.register_blueprint(parent)
    client = app.test_client()
    assert client.get("/p/c/leaf").text == "leaf"
    assert calls == ["child", "parent", "app"]
    calls.clear()
    assert client.get("/p/here").text == "here" and calls == ["parent", "app"]
    calls.clear()
    assert client.get("/top").text == "top" and calls == ["app"]


def test_teardown_appcontext_is_flasks_spelling_without_the_request(caplog):
    app = Rush()
    seen = []

    @app.teardown_appcontext
    def close_db(error=None):
        seen.append(error)

    app.get("/ok")(lambda request: "ok")

    @app.get("/boom")
    def boom(request):
        raise LookupError("no row")

    client = app.test_client()
    assert client.get("/ok").status == 200
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        assert client.get("/boom").status == 500
    assert seen[0] is None and isinstance(seen[1], LookupError)
    assert app.prerendered() == {}  # it must see every request
