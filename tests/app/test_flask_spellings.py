"""Flask's and Werkzeug's other spellings of what Rush has: add_url_rule,
register_error_handler, request.endpoint and request.blueprint, the methods of Werkzeug's
headers, Response.set_data and .location, cookie dates as datetimes: so that a Flask app's code
moves as it is."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rush import Blueprint, Headers, NotFound, Response, Rush, abort
from rush.exceptions import ConfigError, RouteError
from rush.views import MethodView


def list_users(request):
    return {"endpoint": request.endpoint, "blueprint": request.blueprint}


class Items(MethodView):
    def get(self, request):
        return "items"

    def post(self, request):
        return "added", 201


def test_add_url_rule_registers_as_flask_does():
    app = Rush()
    app.add_url_rule("/users", "people", list_users, methods=["GET", "POST"])
    app.add_url_rule("/items", view_func=Items.as_view("items"))
    app.add_url_rule("/plain", view_func=list_users, strict_slashes=False)
    client = app.test_client()
    assert client.post("/users").json == {"endpoint": "people", "blueprint": None}
    assert client.post("/items").status == 201 and client.get("/items").text == "items"
    assert client.get("/plain/").json["endpoint"] == "list_users"
    assert (app.url_for("people"), app.url_for("items")) == ("/users", "/items")


def test_add_url_rule_mistakes_are_refused_at_once():
    app = Rush()
    with pytest.raises(ConfigError, match="view_func"):
        app.add_url_rule("/users", "users")
    with pytest.raises(RouteError, match="did you mean .methods"):
        app.add_url_rule("/users", view_func=list_users, method=["GET"])


def test_add_url_rule_and_request_names_in_a_blueprint():
    app = Rush()
    admin = Blueprint("admin", __name__, url_prefix="/admin")
    admin.add_url_rule("/users", "users", list_users)
    app.register_blueprint(admin)
    client = app.test_client()
    assert client.get("/admin/users").json == {"endpoint": "admin.users", "blueprint": "admin"}
    assert app.url_for("admin.users") == "/admin/users"


def test_register_error_handler_by_status_and_by_class():
    app = Rush()
    app.get("/gone")(lambda request: abort(410))
    app.get("/bad")(lambda request: int("x"))
    app.register_error_handler(410, lambda request, error: ("long gone", 410))
    app.register_error_handler(ValueError, lambda request, error: ("not a number", 400))
    app.register_error_handler(404, lambda request, error: (repr(request.endpoint), 404))
    client = app.test_client()
    assert client.get("/gone").text == "long gone"
    assert (client.get("/bad").status, client.get("/bad").text) == (400, "not a number")
    assert client.get("/nowhere").text == "None"  # no route matched: no endpoint
    with pytest.raises(ConfigError):
        app.register_error_handler(200, lambda request, error: "")


# -- Werkzeug's names on headers and responses ------------------------------------------------


def test_headers_have_werkzeugs_methods():
    headers = Headers([("X-A", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    headers.set("x-a", "2")
    headers.extend({"Vary": ["Cookie", "Accept"]}, X_Extra="e")
    headers.extend([("Set-Cookie", "c=3")])
    assert headers.get_all("set-cookie") == ["a=1", "b=2", "c=3"]
    assert headers.getlist("Vary") == ["Cookie", "Accept"] and headers["X_Extra"] == "e"
    headers.update({"Vary": "Origin", "Link": ["<a>", "<b>"]}, X_A="3")
    assert headers.getlist("vary") == ["Origin"] and headers.getlist("link") == ["<a>", "<b>"]
    assert headers.getlist("x-a") == ["2"] and headers["X_A"] == "3"
    headers.update(Headers([("Set-Cookie", "d=4"), ("Set-Cookie", "e=5")]))
    assert headers.getlist("Set-Cookie") == ["d=4", "e=5"]
    assert headers.pop("SET-COOKIE") == "d=4" and "Set-Cookie" not in headers
    assert headers.pop("Absent", None) is None
    with pytest.raises(KeyError):
        headers.pop("Absent")
    copy = headers.copy()
    copy.set("X-A", "changed")
    assert headers["X-A"] == "2" and copy["x-a"] == "changed"
    assert headers.to_wsgi_list() == headers.items()
    assert headers.values() == [value for _, value in headers.items()]
    with pytest.raises(ValueError):
        headers.update({"X-Bad": "a\r\nInjected: yes"})


def test_response_set_data_location_and_cookie_dates():
    response = Response("old")
    response.set_data("new")
    assert response.data == b"new"
    assert response.location is None
    response.location = "/there"
    assert response.headers["Location"] == "/there" and response.location == "/there"
    response.set_cookie("a", "1", max_age=timedelta(hours=1), expires=datetime(2030, 1, 2, 3, 4, 5))
    response.set_cookie("b", "2", expires=0)
    aware = datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    response.set_cookie("c", "3", expires=aware)
    response.set_cookie("d", "4", expires="Thu, 01 Jan 1970 00:00:00 GMT")
    assert response.headers.getlist("Set-Cookie") == [
        "a=1; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/",
        "b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        "c=3; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/",
        "d=4; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
    ]
    with pytest.raises(ValueError):
        response.set_cookie("e", "5", expires="Thu; Secure")


def test_abort_with_a_description_and_werkzeugs_names_on_the_error():
    app = Rush()
    app.get("/gone")(lambda request: abort(410, description="moved away"))
    app.get("/plain")(lambda request: abort(418))
    seen = []

    @app.errorhandler(418)
    def teapot(request, error):
        seen.append((error.code, error.name, error.description))
        return "short and stout", 418

    client = app.test_client()
    gone = client.get("/gone")
    assert gone.status == 410 and "moved away" in gone.text
    assert client.get("/plain").text == "short and stout"
    assert seen == [(418, "I'm a Teapot", "I'm a Teapot")]


def test_send_file_of_a_file_object_as_flask_allows(tmp_path):
    app = Rush()
    opened = []

    @app.get("/mem")
    def mem(request):
        buffer = io.BytesIO(b"a,b\n1,2\n")
        opened.append(buffer)
        return app.send_file(buffer, download_name="table.csv", as_attachment=True)

    @app.get("/typed")
    def typed(request):
        return app.send_file(io.BytesIO(b"\x89PNG"), mimetype="image/png")

    @app.get("/disk")
    def disk(request):
        return app.send_file(open(tmp_path / "notes.txt", "rb"), download_name="notes.txt")

    @app.get("/untyped")
    def untyped(request):
        return app.send_file(io.BytesIO(b"?"))

    (tmp_path / "notes.txt").write_bytes(b"remember")
    client = app.test_client()
    csv = client.get("/mem")
    assert (csv.status, csv.data) == (200, b"a,b\n1,2\n") and opened[0].closed
    assert csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv.headers["Content-Disposition"] == 'attachment; filename="table.csv"'
    png = client.get("/typed")
    assert (png.headers["Content-Type"], png.data) == ("image/png", b"\x89PNG")
    assert "Content-Disposition" not in png.headers
    notes = client.get("/disk")
    assert notes.data == b"remember"
    assert notes.headers["Content-Disposition"] == 'inline; filename="notes.txt"'
    assert client.head("/disk").headers["Content-Length"] == "8"
    assert client.get("/untyped").status == 500  # no type to give it: a ValueError, logged


def test_a_miss_is_a_not_found_as_werkzeugs_is():
    app = Rush()
    seen = []

    @app.errorhandler(NotFound)  # Flask's spelling of errorhandler(404)
    def missing(request, error):
        seen.append(error)
        error.headers["X-Seen"] = str(len(seen))  # each error has headers of its own
        return f"{error.code} {error.name}: {error.description}", 404

    @app.get("/gone")
    def gone(request):
        abort(404, "no such user")

    @app.get("/file")
    def file(request):
        return app.send_file("no/such/file.txt")  # the file cache's 404 reaches it too

    client = app.test_client()
    assert client.get("/nowhere").text == "404 Not Found: Not Found"
    assert client.get("/gone").text == "404 Not Found: no such user"
    assert client.get("/file").status == 404 and len(seen) == 3
    miss, aborted, _ = seen
    assert isinstance(miss, NotFound) and isinstance(aborted, NotFound)
    assert (miss.status, miss.args, miss.message, str(miss)) == (
        404,
        (404, None),
        None,
        "404 Not Found",
    )
    assert aborted.args == (404, "no such user") and aborted.headers == {"X-Seen": "2"}
    assert miss.headers == {"X-Seen": "1"}
    assert app.error_handlers == {404: missing}
    assert NotFound("why", {"X": "y"}).headers == {"X": "y"}


def test_only_an_http_errors_own_status_stands_for_it():
    class Payment(Exception):
        status = 402  # not an HTTPError: handled as a class

    app = Rush()
    app.errorhandler(Payment)(lambda request, error: ("pay", 402))
    assert list(app.error_handlers) == [Payment]


def test_flasks_names_for_what_the_app_was_given(tmp_path):
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "site.css").write_text("body {}")
    module = tmp_path / "myapp.py"
    module.write_text("")
    app = Rush("tests.app.test_flask_spellings", static_folder=tmp_path / "public")
    assert app.name == "tests.app.test_flask_spellings"
    assert app.root_path == str(Path(__file__).resolve().parent)
    assert (app.static_folder, app.static_url_path) == (str(tmp_path / "public"), "/static")

    @app.get("/style")
    def style(request):
        return app.send_static_file("site.css")

    @app.get("/nothing")
    def nothing(request):
        return app.send_static_file("../myapp.py")  # never outside the folder

    client = app.test_client()
    assert client.get("/style").text == "body {}" and client.get("/nothing").status == 404
    assert app.view_functions["style"] is style
    assert app.view_functions["static"] == app.static_mount.serve
    assert app.extensions == {}
    bare = Rush()
    assert (bare.name, bare.static_folder, bare.static_url_path) == ("app", None, None)
    with pytest.raises(RuntimeError, match="static_folder"):
        bare.send_static_file("x.css")
