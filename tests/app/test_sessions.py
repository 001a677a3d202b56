"""Signed-cookie sessions and flash messages (rush.sessions) through the test client."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from rush import Rush, redirect
from rush.sessions import SALT, Session, signer_settings


def session_app(**options) -> Rush:
    app = Rush(**{"secret_key": "test-key", **options})

    @app.get("/set")
    def set_value(request):
        request.session["user"] = request.args.get("user", "bob")
        return "set"

    @app.get("/get")
    def get_value(request):
        return {"user": request.session.get("user"), "keys": sorted(request.session)}

    @app.get("/read-only")
    def read_only(request):
        return request.session.get("user") or "nobody"

    @app.get("/clear")
    def clear(request):
        request.session.clear()
        return "cleared"

    @app.get("/untouched")
    def untouched(request):
        return "no session here"

    @app.get("/permanent")
    def permanent(request):
        request.session.permanent = True
        request.session["user"] = "kept"
        return "ok"

    @app.get("/flash")
    def flash(request):
        request.flash("saved!")
        request.flash("careful", "warning")
        return redirect("/show")

    @app.get("/show")
    def show(request):
        first = request.get_flashed_messages(with_categories=True)
        again = request.get_flashed_messages()
        warnings = request.get_flashed_messages(category_filter=["warning"])
        return {"first": first, "again": again, "warnings": warnings}

    return app


def cookie_of(response, name: str = "session") -> str | None:
    for line in response.headers.getlist("set-cookie"):
        if line.startswith(name + "="):
            return line.partition(";")[0].partition("=")[2]
    return None


def with_cookie(value: str, name: str = "session") -> dict[str, str]:
    return {"Cookie": f"{name}={value}"}


def test_a_session_round_trips_through_its_cookie():
    client = session_app().test_client()
    first = client.get("/set", query={"user": "alice"})
    value = cookie_of(first)
    assert value
    line = first.headers.getlist("set-cookie")[0]
    assert "; Path=/" in line and "; HttpOnly" in line and "; SameSite=Lax" in line
    assert "Secure" not in line and "Max-Age" not in line  # a browser-session cookie
    assert first.headers.get("vary") == "Cookie"
    again = client.get("/get", headers=with_cookie(value))
    assert again.json == {"user": "alice", "keys": ["user"]}
    assert cookie_of(again) is None  # read, not changed: no Set-Cookie
    assert again.headers.get("vary") == "Cookie"


def test_a_request_that_never_touches_the_session_sends_nothing():
    client = session_app().test_client()
    value = cookie_of(client.get("/set"))
    response = client.get("/untouched", headers=with_cookie(value))
    assert response.headers.getlist("set-cookie") == [] and "vary" not in response.headers


def test_a_new_empty_session_sets_no_cookie():
    response = session_app().test_client().get("/read-only")
    assert response.text == "nobody" and response.headers.getlist("set-cookie") == []


def test_clearing_the_session_deletes_the_cookie():
    client = session_app().test_client()
    value = cookie_of(client.get("/set"))
    response = client.get("/clear", headers=with_cookie(value))
    (line,) = response.headers.getlist("set-cookie")
    assert line.startswith("session=;") and "Max-Age=0" in line
    assert client.get("/clear").headers.getlist("set-cookie") == []  # nothing to delete


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        "",
        "a.b.c",
        "eyJ1c2VyIjoiZXZlIn0.ZZZZZZ.forged-signature",
        "%ff%fe",
        "x" * 5000,
        "é",
    ],
)
def test_a_tampered_or_garbled_cookie_is_an_empty_session(cookie):
    response = session_app().test_client().get("/get", headers=with_cookie(cookie))
    assert response.status == 200
    assert response.json == {"user": None, "keys": []}


def test_a_changed_payload_with_the_old_signature_is_refused():
    client = session_app().test_client()
    value = cookie_of(client.get("/set", query={"user": "bob"}))
    payload, timestamp, signature = value.split(".")
    forged = URLSafeTimedSerializer("test-key", salt=SALT, signer_kwargs=signer_settings()).dumps(
        {"user": "admin"}
    )
    tampered = ".".join([forged.split(".")[0], timestamp, signature])
    assert client.get("/get", headers=with_cookie(tampered)).json["user"] is None
    other_key = URLSafeTimedSerializer(
        "another-key", salt=SALT, signer_kwargs=signer_settings()
    ).dumps({"user": "admin"})
    assert client.get("/get", headers=with_cookie(other_key)).json["user"] is None


def test_an_expired_session_is_empty():
    app = session_app()
    client = app.test_client()
    value = cookie_of(client.get("/set"))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=-1)
    assert client.get("/get", headers=with_cookie(value)).json["user"] is None
    app.config["PERMANENT_SESSION_LIFETIME"] = 3600  # seconds work too
    assert client.get("/get", headers=with_cookie(value)).json["user"] == "bob"


def test_a_signed_value_that_is_not_a_dict_is_an_empty_session():
    value = URLSafeTimedSerializer("test-key", salt=SALT, signer_kwargs=signer_settings()).dumps(
        [1, 2, 3]
    )
    response = session_app().test_client().get("/get", headers=with_cookie(value))
    assert response.json == {"user": None, "keys": []}


def test_old_keys_are_accepted_and_the_new_one_signs():
    old = session_app(secret_key="old-key")
    value = cookie_of(old.test_client().get("/set", query={"user": "carol"}))
    rotated = session_app(secret_key="new-key")
    rotated.config["SECRET_KEY_FALLBACKS"] = ["older-key", "old-key"]
    client = rotated.test_client()
    assert client.get("/get", headers=with_cookie(value)).json["user"] == "carol"
    fresh = cookie_of(client.get("/set", query={"user": "dan"}))
    assert URLSafeTimedSerializer("new-key", salt=SALT, signer_kwargs=signer_settings()).loads(
        fresh
    ) == {"user": "dan"}
    rotated.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/get", headers=with_cookie(value)).json["user"] is None


def test_cookie_attributes_follow_the_config():
    app = session_app()
    app.config.update(
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/app",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=2),
    )
    client = app.test_client()
    (line,) = client.get("/permanent").headers.getlist("set-cookie")
    assert line.startswith("sid=")
    assert "; Max-Age=7200" in line and "; Path=/app" in line
    assert "; Domain=example.com" in line and "; Secure" in line
    assert "; SameSite=Strict" in line and "HttpOnly" not in line
    value = cookie_of(client.get("/set"), "sid")
    assert client.get("/get", headers=with_cookie(value, "sid")).json["user"] == "bob"


def test_a_bad_samesite_value_is_a_logged_500(caplog):
    app = session_app()
    app.config["SESSION_COOKIE_SAMESITE"] = "sometimes"
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        response = app.test_client().get("/set")
    assert response.status == 500 and "SESSION_COOKIE_SAMESITE" in caplog.text
    assert response.headers.getlist("set-cookie") == []


def test_a_value_json_cannot_hold_is_a_logged_500(caplog):
    app = Rush(secret_key="k")
    app.get("/")(lambda request: request.session.update(when=object()) or "ok")
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        response = app.test_client().get("/")
    assert response.status == 500 and "saving the session failed" in caplog.text


def test_flash_messages_survive_one_redirect_and_are_read_once():
    client = session_app().test_client()
    flashed = client.get("/flash")
    assert flashed.status == 302
    value = cookie_of(flashed)
    shown = client.get("/show", headers=with_cookie(value))
    assert shown.json == {
        "first": [["message", "saved!"], ["warning", "careful"]],
        "again": ["saved!", "careful"],
        "warnings": ["careful"],
    }
    emptied = cookie_of(shown)  # the flashes were taken out: the session is empty now
    assert emptied == ""
    assert client.get("/show").json["first"] == []


def test_without_a_secret_key_a_session_reads_empty_and_a_write_names_the_setting(
    caplog, monkeypatch
):
    monkeypatch.delenv("RUSH_SECRET_KEY", raising=False)
    app = session_app(secret_key=None)
    client = app.test_client()
    assert client.get("/read-only").text == "nobody"
    assert client.get("/show").json["first"] == []
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        response = client.get("/set")
    assert response.status == 500
    assert "SECRET_KEY" in caplog.text and b"SECRET_KEY" not in response.body
    app.config["SECRET_KEY"] = "set later"
    assert cookie_of(client.get("/set"))


def test_sessions_work_in_hooks_and_error_pages():
    app = Rush(secret_key="k")

    @app.before_request
    def count(request):
        request.session["visits"] = request.session.get("visits", 0) + 1

    @app.get("/fail")
    def fail(request):
        raise KeyError("x")

    client = app.test_client()
    value = cookie_of(client.get("/missing"))
    assert value  # the 404 page carries the session the hook changed
    assert cookie_of(client.get("/fail", headers=with_cookie(value)))


def test_session_tracks_changes():
    session = Session({"a": 1})
    assert not session.modified
    assert session.get("a") == 1 and "a" in session and not session.modified
    for change in (
        lambda s: s.__setitem__("b", 2),
        lambda s: s.__delitem__("a"),
        lambda s: s.pop("a"),
        lambda s: s.popitem(),
        lambda s: s.setdefault("c", 3),
        lambda s: s.update(d=4),
        lambda s: s.clear(),
    ):
        fresh = Session({"a": 1})
        change(fresh)
        assert fresh.modified
    fresh = Session()
    fresh |= {"x": 1}
    assert fresh.modified and fresh == {"x": 1}


def test_the_timestamp_is_checked_at_load_not_save():
    app = session_app()
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=2)
    client = app.test_client()
    value = cookie_of(client.get("/set"))
    assert client.get("/get", headers=with_cookie(value)).json["user"] == "bob"
    stamp = URLSafeTimedSerializer("test-key", salt=SALT, signer_kwargs=signer_settings()).loads(
        value, return_timestamp=True
    )[1]
    assert abs(stamp.timestamp() - time.time()) < 60


def test_without_itsdangerous_the_error_says_what_to_install(monkeypatch):
    import sys

    from rush.exceptions import ConfigError

    monkeypatch.setitem(sys.modules, "itsdangerous", None)
    app = Rush(secret_key="k")
    with pytest.raises(ConfigError, match=r"rush\[sessions\]"):
        app.session_store.open({})


def test_a_flask_session_cookie_is_read_and_rush_cookies_are_read_by_flask():
    """The same signer as Flask's: apps moved to Rush one at a time keep their users' sessions."""
    flask = pytest.importorskip("flask")
    old = flask.Flask(__name__)
    old.secret_key = "shared"

    @old.get("/set")
    def set_user():
        flask.session["user"] = "ann"
        return "ok"

    @old.get("/who")
    def who_flask():
        return {"user": flask.session.get("user")}

    new = Rush(secret_key="shared")

    @new.get("/who")
    def who(request):
        return {"user": request.session.get("user")}

    @new.get("/set")
    def set_rush(request):
        request.session["user"] = "bob"
        return "ok"

    from_flask = old.test_client().get("/set").headers["Set-Cookie"].split(";")[0]
    assert new.test_client().get("/who", headers={"Cookie": from_flask}).json == {"user": "ann"}
    from_rush = new.test_client().get("/set").headers["Set-Cookie"].split(";")[0]
    flask_client = old.test_client()
    flask_client.set_cookie("session", from_rush.partition("=")[2])
    assert flask_client.get("/who").json == {"user": "bob"}


# -- client.session_transaction(), as Flask's test client has it --------------------------------


def test_a_session_transaction_sets_what_the_next_request_reads():
    client = session_app().test_client()
    with client.session_transaction() as session:
        assert isinstance(session, Session) and dict(session) == {}
        session["user"] = "alice"
    assert client.get("/get").json == {"user": "alice", "keys": ["user"]}


def test_a_session_transaction_reads_and_changes_what_a_request_set():
    client = session_app().test_client()
    client.get("/set?user=carol")
    with client.session_transaction() as session:
        assert session["user"] == "carol"
        session["extra"] = 1
    assert client.get("/get").json == {"user": "carol", "keys": ["extra", "user"]}
    with client.session_transaction() as session:
        session.clear()
    assert client.get_cookie("session") is None
    assert client.get("/read-only").text == "nobody"


def test_a_session_transaction_that_changes_nothing_or_raises_leaves_the_jar_alone():
    client = session_app().test_client()
    client.get("/set?user=dan")
    cookie = client.get_cookie("session").value
    with client.session_transaction() as session:
        assert session["user"] == "dan"
    with pytest.raises(KeyError):
        with client.session_transaction() as session:
            session["user"] = "eve"
            raise KeyError("stop")
    assert client.get_cookie("session").value == cookie
    assert client.get("/read-only").text == "dan"


def test_a_session_transaction_follows_the_cookie_settings():
    app = session_app()
    app.config["SESSION_COOKIE_NAME"] = "sid"
    client = app.test_client()
    with client.session_transaction() as session:
        session.permanent = True
        session["user"] = "fay"
    cookie = client.get_cookie("sid")
    assert (
        cookie is not None and cookie.expires is not None and client.get_cookie("session") is None
    )
    assert client.get("/read-only").text == "fay"


def test_a_session_transaction_needs_a_secret_key_and_a_cookie_jar():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        with Rush().test_client().session_transaction():
            pass
    with pytest.raises(TypeError, match="use_cookies"):
        with session_app().test_client(use_cookies=False).session_transaction():
            pass
