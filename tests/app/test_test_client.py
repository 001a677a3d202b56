"""The test client: hooks around a `with` block, cookies, redirects, bodies, Flask's names."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rush import Response, Rush, redirect
from rush.testing import TestClient, encode_multipart, parse_set_cookie

ROOT = Path(__file__).resolve().parents[2]


def test_with_block_runs_startup_and_shutdown_hooks():
    app = Rush()
    events = []
    app.on_startup(lambda: events.append("startup"))
    app.on_shutdown(lambda: events.append("shutdown"))
    app.get("/")(lambda request: ",".join(events))
    with app.test_client() as client:
        assert isinstance(client, TestClient)
        assert client.get("/").text == "startup"
    assert events == ["startup", "shutdown"]
    assert app.test_client().get("/").text == "startup,shutdown"  # no block: no hooks


def test_response_has_flasks_names():
    app = Rush()
    app.get("/")(lambda request: ({"a": 1}, 201, {"X-A": "1"}))
    with app.test_client() as client:
        response = client.get("/")
    assert response.status_code == response.status == 201
    assert response.get_json() == response.json == {"a": 1}
    assert response.data == response.body == response.get_data() == b'{"a":1}'
    assert response.text == response.get_data(as_text=True) == '{"a":1}'
    assert response.headers["X-A"] == "1"
    assert response.mimetype == "application/json" and response.is_json
    assert response.request.method == "GET" and response.request.path == "/"


def test_json_of_a_response_that_is_not_json_is_none():
    app = Rush()
    app.get("/")(lambda request: "<p>hi</p>")
    response = app.test_client().get("/")
    assert response.json is None
    assert response.get_json(force=True, silent=True) is None


# -- cookies -------------------------------------------------------------------------------


def cookie_app() -> Rush:
    app = Rush()

    @app.get("/login")
    def login(request):
        response = Response("in")
        response.set_cookie("session", "abc", httponly=True)
        response.set_cookie("admin", "yes", path="/admin")
        return response

    @app.get("/logout")
    def logout(request):
        response = Response("out")
        response.delete_cookie("session")
        return response

    @app.get("/whoami")
    def whoami(request):
        return dict(request.cookies)

    @app.get("/admin/panel")
    def panel(request):
        return dict(request.cookies)

    return app


def test_cookie_jar_sends_back_what_the_app_set():
    with cookie_app().test_client() as client:
        assert client.get("/whoami").json == {}
        client.get("/login")
        assert client.get("/whoami").json == {"session": "abc"}
        assert client.get("/admin/panel").json == {"session": "abc", "admin": "yes"}
        assert client.get_cookie("session").value == "abc"
        client.get("/logout")
        assert client.get("/whoami").json == {}
        assert client.get_cookie("session") is None


def test_cookies_set_by_hand_and_with_a_cookie_header():
    client = cookie_app().test_client()
    client.set_cookie("theme", "dark")
    assert client.get("/whoami").json == {"theme": "dark"}
    both = client.get("/whoami", headers={"Cookie": "lang=fr"}).json
    assert both == {"theme": "dark", "lang": "fr"}
    client.delete_cookie("theme")
    assert client.get("/whoami").json == {}


def test_use_cookies_false_keeps_no_jar():
    client = cookie_app().test_client(use_cookies=False)
    client.get("/login")
    assert client.get("/whoami").json == {}


def test_cookie_rules_for_domains_paths_and_expiry():
    now = 1000.0
    cookie = parse_set_cookie("a=1; Path=/docs; Max-Age=10", "localhost", "/", now)
    assert (cookie.key, cookie.value, cookie.path, cookie.expires) == ("a", "1", "/docs", 1010.0)
    assert cookie.matches("localhost", "/docs", now)
    assert cookie.matches("localhost", "/docs/x", now)
    assert not cookie.matches("localhost", "/docsx", now)
    assert not cookie.matches("localhost", "/docs", 1011.0)
    assert not cookie.matches("other", "/docs", now)
    shared = parse_set_cookie("b=2; Domain=.example.com", "www.example.com", "/a/b", now)
    assert shared.matches("api.example.com", "/a/c", now)  # default path: /a
    assert not shared.matches("api.example.com", "/b", now)
    old = parse_set_cookie("c=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "h", "/", now)
    assert old.expires == 0.0
    assert parse_set_cookie("junk", "h", "/", now) is None
    assert parse_set_cookie("d=4; Max-Age=x; Expires=never", "h", "/", now).expires is None


# -- redirects -----------------------------------------------------------------------------


def redirect_app() -> Rush:
    app = Rush()
    app.redirect("/old", "/new")

    @app.route("/new", methods=["GET", "POST"])
    def new(request):
        return {"method": request.method, "body": request.body.decode(), "q": request.full_path}

    @app.route("/go/<int:code>", methods=["GET", "POST", "HEAD"])
    def go(request, code):
        return redirect("/new?from=go", code)

    @app.get("/loop")
    def loop(request):
        return redirect("/loop")

    @app.get("/away")
    def away(request):
        return redirect("https://elsewhere.example/")

    @app.get("/setcookie")
    def setcookie(request):
        response = redirect("/whoami")
        response.set_cookie("after", "redirect")
        return response

    app.get("/whoami")(lambda request: dict(request.cookies))
    return app


def test_follow_redirects_keeps_the_history():
    client = redirect_app().test_client()
    assert client.get("/old").status_code == 301
    response = client.get("/old", follow_redirects=True)
    assert response.status_code == 200
    assert response.json["method"] == "GET"
    assert [r.status_code for r in response.history] == [301]
    assert response.request.path == "/new"


@pytest.mark.parametrize(
    "code, method, body", [(301, "GET", ""), (302, "GET", ""), (303, "GET", "")]
)
def test_a_post_redirected_by_301_302_303_becomes_a_get(code, method, body):
    client = redirect_app().test_client()
    response = client.post(f"/go/{code}", data="payload", follow_redirects=True)
    assert response.json == {"method": method, "body": body, "q": "/new?from=go"}


@pytest.mark.parametrize("code", [307, 308])
def test_307_and_308_repeat_the_method_and_body(code):
    client = redirect_app().test_client()
    response = client.post(f"/go/{code}", data="payload", follow_redirects=True)
    assert response.json == {"method": "POST", "body": "payload", "q": "/new?from=go"}


def test_a_head_stays_a_head():
    response = redirect_app().test_client().head("/go/302", follow_redirects=True)
    assert (response.status_code, response.request.method, response.data) == (200, "HEAD", b"")


def test_redirect_loops_and_other_hosts_are_refused():
    client = redirect_app().test_client()
    with pytest.raises(RuntimeError, match="redirects"):
        client.get("/loop", follow_redirects=True)
    with pytest.raises(RuntimeError, match="elsewhere"):
        client.get("/away", follow_redirects=True)


def test_a_cookie_set_by_a_redirect_is_sent_to_its_target():
    with redirect_app().test_client() as client:
        response = client.get("/setcookie", follow_redirects=True)
    assert response.json == {"after": "redirect"}


# -- request bodies ------------------------------------------------------------------------


def body_app() -> Rush:
    app = Rush()

    @app.post("/echo")
    def echo(request):
        files = {
            name: [f.filename, f.content_type, f.read().decode()]
            for name, f in request.files.items()
        }
        return {
            "type": request.mimetype,
            "body": request.body.decode() if request.mimetype != "multipart/form-data" else "",
            "form": request.form.to_dict(flat=False),
            "files": files,
            "json": request.get_json(silent=True),
            "length": request.content_length,
        }

    return app


def test_data_bytes_or_str_is_the_raw_body():
    client = body_app().test_client()
    answer = client.post("/echo", data=b"raw").json
    assert (answer["type"], answer["body"], answer["length"]) == ("", "raw", 3)
    answer = client.post("/echo", data="é", content_type="text/plain").json
    assert (answer["type"], answer["body"]) == ("text/plain", "é")
    assert client.post("/echo", body=b"old").json["body"] == "old"  # Rush's older name


def test_data_dict_and_form_are_urlencoded():
    client = body_app().test_client()
    for kwargs in (
        {"data": {"a": "1 2", "b": ["x", "y"]}},
        {"form": {"a": "1 2", "b": ["x", "y"]}},
    ):
        answer = client.post("/echo", **kwargs).json
        assert answer["type"] == "application/x-www-form-urlencoded"
        assert answer["form"] == {"a": ["1 2"], "b": ["x", "y"]}


def test_json_argument():
    answer = body_app().test_client().post("/echo", json={"k": [1, "v"]}).json
    assert (answer["type"], answer["json"]) == ("application/json", {"k": [1, "v"]})


def test_files_are_sent_as_multipart():
    client = body_app().test_client()
    answer = client.post(
        "/echo",
        form={"title": "Holiday"},
        files={"photo": ("a.jpg", b"JPEGDATA", "image/jpeg"), "notes": ("n.txt", "hello")},
    ).json
    assert answer["type"] == "multipart/form-data"
    assert answer["form"] == {"title": ["Holiday"]}
    assert answer["files"] == {
        "photo": ["a.jpg", "image/jpeg", "JPEGDATA"],
        "notes": ["n.txt", "application/octet-stream", "hello"],
    }


def test_files_in_data_the_werkzeug_way():
    client = body_app().test_client()
    answer = client.post(
        "/echo", data={"title": "x", "doc": (io.BytesIO(b"PDF"), "r.pdf", "application/pdf")}
    ).json
    assert answer["form"] == {"title": ["x"]}
    assert answer["files"] == {"doc": ["r.pdf", "application/pdf", "PDF"]}


def test_encode_multipart_quotes_names():
    body, content_type = encode_multipart([('a"b', "v")], [("f", 'x"\r\n.txt', b"1", "text/plain")])
    assert content_type.startswith("multipart/form-data; boundary=")
    assert b'name="a%22b"' in body and b'filename="x%22%0D%0A.txt"' in body


def test_query_string_and_headers():
    app = Rush()
    app.get("/q")(lambda request: {"a": request.args.getlist("a"), "h": request.headers.get("X-H")})
    client = app.test_client()
    assert client.get("/q", query_string={"a": ["1", "2"]}).json["a"] == ["1", "2"]
    assert client.get("/q?a=0", query_string="a=1").json["a"] == ["0", "1"]
    assert client.get("/q", query={"a": "3"}, headers=[("X-H", "v")]).json == {"a": ["3"], "h": "v"}


def test_open_and_trace_as_flasks_test_client_spells_them():
    app = Rush()
    app.route("/m", methods=["GET", "PUT", "TRACE"])(lambda request: request.method)
    client = app.test_client()
    assert client.open("/m").text == "GET"
    assert client.open("/m", method="put", query_string="a=1").text == "PUT"
    assert client.open(path="/m", method="TRACE").text == client.trace("/m").text == "TRACE"


# -- the pytest plugin ---------------------------------------------------------------------


def test_pyproject_registers_the_pytest_plugin():
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nrush = "rush.pytest_plugin"\n' in text


def test_the_plugins_client_fixture_uses_the_projects_app_fixture(tmp_path):
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from rush import Rush

            EVENTS = []

            @pytest.fixture
            def app():
                app = Rush()
                app.on_startup(lambda: EVENTS.append("up"))
                app.on_shutdown(lambda: EVENTS.append("down"))
                app.get("/")(lambda request: {"events": EVENTS})
                return app
            """
        )
    )
    (tmp_path / "test_it.py").write_text(
        textwrap.dedent(
            """
            from conftest import EVENTS

            def test_client(client):
                assert client.get("/").json == {"events": ["up"]}

            def test_hooks_ran_around_the_first_test():
                assert EVENTS == ["up", "down"]
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "rush.pytest_plugin",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        # Entry points off: the plugin is named explicitly, installed or not.
        env={
            "PYTHONPATH": str(ROOT),
            "PATH": "/usr/bin:/bin",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_test_client_answers_413_over_a_routes_max_body_as_the_server_does():
    app = Rush()
    app.post("/up", max_body=10)(lambda request: str(len(request.body)))
    client = app.test_client()
    assert client.post("/up", data=b"x" * 10).text == "10"
    refused = client.post("/up", data=b"x" * 11)
    assert refused.status_code == 413 and refused.headers["Connection"] == "close"


def test_a_stream_route_gets_its_body_through_its_generator_in_the_test_client():
    app = Rush()

    @app.post("/count", stream=True)
    def count(request):
        size = 0
        while chunk := (yield):
            size += len(chunk)
        return str(size)

    assert app.test_client().post("/count", data=b"y" * 5000).text == "5000"
