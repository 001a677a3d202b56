"""Flask's other spellings of what Rush has: add_url_rule, register_error_handler,
request.endpoint and request.blueprint, so that a Flask app's registration code moves as it is."""

from __future__ import annotations

import pytest

from rush import Blueprint, Rush, abort
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
