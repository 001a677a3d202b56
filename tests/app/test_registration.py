"""Mistakes made when registering raise a clear error at once, naming the route or object.

A typo in a route option, a handler whose signature cannot take the route's parameters, or an
object given to the CLI that is not a Rush app would otherwise surface only at the first
request (a silent GET route, a 500 on every request, every worker crashing).
"""

from __future__ import annotations

import functools
import operator
import sys
import types

import pytest

from rush import Rush
from rush.cli import load_app
from rush.exceptions import ConfigError, RouteError
from rush.routing import Router


def index(request):
    return "ok"


def show(request, id):
    return str(id)


# -- options --------------------------------------------------------------------------------


def test_a_typo_in_methods_is_refused_with_a_suggestion():
    app = Rush()
    with pytest.raises(RouteError) as caught:
        app.route("/x", method=["POST"])(index)
    message = str(caught.value)
    assert message.startswith("route '/x': unknown option 'method' (did you mean 'methods'?)")
    assert "known: methods, " in message
    for name in (
        "max_body",
        "stream",
        "endpoint",
        "strict_slashes",
        "spool_threshold",
        "max_form_parts",
    ):
        assert name in message
    assert app.router.match("GET", "/x") is None


def test_a_typo_in_a_body_option_suggests_the_body_option():
    app = Rush()
    with pytest.raises(RouteError, match=r"'spool_treshold' \(did you mean 'spool_threshold'\?\)"):
        app.post("/upload", spool_treshold=10)(index)


def test_every_unknown_option_is_named():
    app = Rush()
    with pytest.raises(RouteError) as caught:
        app.get("/x", max_bdy=10, colour="red")(index)
    message = str(caught.value)
    assert "unknown options 'colour', 'max_bdy' (did you mean 'max_body'?)" in message


def test_a_bare_router_refuses_unknown_options_too():
    with pytest.raises(RouteError, match=r"route '/x': unknown option 'strem' \(did you mean"):
        Router().add("/x", ["GET"], index, strem=True)


def test_known_options_still_register():
    app = Rush()
    app.post("/a", max_body=10)(index)
    app.post("/b", spool_threshold=10, max_form_parts=3)(index)

    @app.post("/c", stream=True)
    def stream(request):
        yield
        return "done"

    client = app.test_client()
    assert client.post("/a", body=b"x").status == 200
    assert client.post("/b", body=b"x").status == 200
    assert client.post("/c", body=b"x").status == 200


def test_endpoint_is_reserved_and_stored():
    router = Router()
    route = router.add("/x", ["GET"], index, endpoint="home")
    assert route.options["endpoint"] == "home"
    assert route.name == "home" and router.endpoints == {"home": [route]}
    assert router.add("/z", ["GET"], index).name == "index"
    with pytest.raises(RouteError, match=r"route '/y': endpoint must be a name"):
        Router().add("/y", ["GET"], index, endpoint=3)


# -- methods --------------------------------------------------------------------------------


def test_methods_as_a_string_says_how_to_write_it():
    app = Rush()
    with pytest.raises(RouteError, match=r"route '/x': .*use methods=\['POST'\]"):
        app.route("/x", methods="POST")(index)


@pytest.mark.parametrize("bad", [[1], [None], ["GE T"], ["GET\r\n"], [b"GET"]])
def test_a_method_that_is_not_a_name_is_refused(bad):
    app = Rush()
    with pytest.raises(RouteError, match=r"route '/x': .* is not a method name"):
        app.route("/x", methods=bad)(index)


def test_methods_that_are_not_a_list_are_refused():
    with pytest.raises(RouteError, match=r"route '/x': methods must be a list of method names"):
        Router().add("/x", 5, index)  # type: ignore[arg-type]


def test_an_unknown_method_gets_a_suggestion():
    app = Rush()
    with pytest.raises(RouteError, match=r"unknown method\(s\) POTS \(did you mean 'POST'\?\)"):
        app.route("/x", methods=["pots"])(index)


# -- handler signatures ---------------------------------------------------------------------


def test_a_handler_that_cannot_take_a_parameter_is_refused():
    app = Rush()

    def show_user(request, user_id):
        return str(user_id)

    with pytest.raises(RouteError) as caught:
        app.get("/users/<int:id>")(show_user)
    assert str(caught.value) == (
        "route '/users/<int:id>': handler "
        "test_a_handler_that_cannot_take_a_parameter_is_refused.<locals>.show_user"
        "(request, user_id) cannot take parameter 'id'"
    )


def test_a_handler_without_a_request_argument_is_refused():
    app = Rush()

    def home():
        return "hi"

    with pytest.raises(RouteError, match=r"home\(\) takes no positional argument for the request"):
        app.get("/")(home)


def test_a_handler_needing_more_than_the_route_supplies_is_refused():
    app = Rush()

    def show_user(request, id, tab: str = "x", *, extra: int):
        return "x"

    with pytest.raises(RouteError) as caught:
        app.get("/users/<int:id>")(show_user)
    message = str(caught.value)
    assert "show_user(request, id, tab=..., *, extra)" in message
    assert "requires 'extra', which the route does not supply (it supplies 'id')" in message


def test_a_positional_only_parameter_cannot_be_passed_by_keyword():
    app = Rush()

    def show(request, id, /):
        return "x"

    with pytest.raises(RouteError, match=r"show\(request, id, /\) cannot take parameter 'id' by"):
        app.get("/users/<id>")(show)

    def show_all(request, id, /, **params):
        return "x"

    with pytest.raises(RouteError, match=r"'id' by keyword: it is positional-only"):
        app.get("/users/<id>")(show_all)

    def count(request, page, /, *, id):
        return "x"

    with pytest.raises(RouteError, match=r"requires 'page', which the route does not supply"):
        app.get("/users/<id>")(count)


def test_a_parameter_named_like_the_request_argument_is_refused():
    app = Rush()

    def show(id, request):
        return "x"

    with pytest.raises(RouteError, match=r"cannot take parameter 'id': that name is its first"):
        app.get("/users/<id>")(show)


def test_a_stream_handler_is_checked_through_its_wrapper():
    app = Rush()

    def upload(request):
        yield
        return "x"

    with pytest.raises(RouteError, match=r"handler .*upload\(request\) cannot take parameter"):
        app.post("/upload/<name>", stream=True)(upload)


def test_a_decorated_handler_is_checked_through_functools_wraps():
    def logged(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs)

        return wrapper

    app = Rush()
    with pytest.raises(RouteError, match=r"route '/n/<int:n>': handler show\(request, id\)"):
        app.get("/n/<int:n>")(logged(show))


class Greeter:
    def __call__(self, request, name):
        return f"hi {name}"

    def greet(self, request, *, name, loud=False):
        return f"hi {name}"


@pytest.mark.parametrize(
    "handler",
    [
        show,
        lambda request, **params: str(params["id"]),
        lambda request, *, id: str(id),
        lambda *args, **kwargs: str(kwargs["id"]),
        lambda request, id=0, /, **kwargs: str(kwargs["id"]),
        lambda request, id=0, page=1: str(id),
    ],
)
def test_handlers_that_can_take_the_parameters_are_accepted(handler):
    app = Rush()
    app.get("/users/<id>")(handler)
    assert app.test_client().get("/users/7").status == 200


def test_methods_instances_partials_and_unreadable_signatures_are_accepted():
    app = Rush()
    greeter = Greeter()
    app.get("/call/<name>")(greeter)
    app.get("/method/<name>")(greeter.greet)
    app.get("/partial/<name>")(functools.partial(Greeter.greet, greeter))
    app.get("/builtin/<name>")(operator.itemgetter(0))  # no signature: trusted, not refused
    client = app.test_client()
    assert client.get("/call/bo").body == b"hi bo"
    assert client.get("/method/bo").body == b"hi bo"
    assert client.get("/partial/bo").body == b"hi bo"


def test_the_endpoints_rush_registers_itself_pass(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    app = Rush()
    app.redirect("/old", "/new")
    app.static("/files", str(tmp_path))
    client = app.test_client()
    assert client.get("/old").status == 301
    assert client.get("/files/a.txt").body == b"a"
    assert client.options("/files/a.txt").status == 200


# -- the object given to the CLI ------------------------------------------------------------


@pytest.fixture
def module():
    fake = types.ModuleType("registration_fixture")
    sys.modules[fake.__name__] = fake
    yield fake
    del sys.modules[fake.__name__]


def wsgi_app(environ, start_response):
    start_response("200 OK", [])
    return [b""]


class WSGIApp:
    def __call__(self, environ, start_response):
        return wsgi_app(environ, start_response)


def create_app():
    return Rush()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "'registration_fixture:app' (type int) is neither a Rush app nor callable"),
        (None, "(type NoneType) is neither a Rush app nor callable"),
        (create_app, "if it is an app factory, call it in the module: app = app()"),
        (Rush, "'registration_fixture:app' is the class Rush, not an app: create one with"),
    ],
)
def test_the_cli_refuses_what_is_not_a_rush_app(module, value, message):
    module.app = value
    with pytest.raises(ConfigError) as caught:
        load_app("registration_fixture:app")
    assert message in str(caught.value)


@pytest.mark.parametrize("value", [wsgi_app, WSGIApp()], ids=["function", "instance"])
def test_the_cli_loads_any_other_callable_as_a_wsgi_app(module, value):
    module.app = value
    assert load_app("registration_fixture:app") is value
    assert load_app("registration_fixture:app", "wsgi") is value
    with pytest.raises(ConfigError) as caught:
        load_app("registration_fixture:app", "rush")
    message = "is not a Rush app: it looks like a WSGI application; serve it with --interface"
    assert message in str(caught.value)


def test_the_cli_loads_a_rush_app(module):
    module.application = Rush()
    assert load_app("registration_fixture:application") is module.application
    module.app = Rush()
    assert load_app("registration_fixture") is module.app
