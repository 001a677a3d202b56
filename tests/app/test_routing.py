"""Routing: static and typed routes, 404/405/HEAD/OPTIONS, startup errors that name the route."""

from __future__ import annotations

import functools
import uuid

import pytest

from rush import Rush
from rush.exceptions import RouteError
from rush.routing import Router


def endpoint(request, **params):
    return params


def test_static_route_is_one_dict_entry():
    router = Router()
    route = router.add("/about", ["GET"], endpoint)
    assert router.static == {"/about": {"GET": route}}
    assert router.match("GET", "/about") == (route, {})


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/users/<name>", "/users/bob", {"name": "bob"}),
        ("/users/<string:name>", "/users/b%20b", {"name": "b%20b"}),
        ("/n/<int:n>", "/n/42", {"n": 42}),
        ("/f/<float:x>", "/f/1.5", {"x": 1.5}),
        ("/files/<path:rest>", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        (
            "/u/<uuid:key>",
            "/u/12345678-1234-5678-1234-567812345678",
            {"key": uuid.UUID("12345678-1234-5678-1234-567812345678")},
        ),
        ("/a/<x>/b/<int:y>", "/a/1/b/2", {"x": "1", "y": 2}),
    ],
)
def test_typed_parameters_convert(pattern, path, expected):
    router = Router()
    route = router.add(pattern, ["GET"], endpoint)
    assert router.match("GET", path) == (route, expected)


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("/n/<int:n>", "/n/abc"),
        ("/n/<int:n>", "/n/-1"),
        ("/n/<int:n>", "/n/1/extra"),
        ("/users/<name>", "/users/a/b"),
        ("/users/<name>", "/users/"),
        ("/f/<float:x>", "/f/1"),
        ("/u/<uuid:key>", "/u/not-a-uuid"),
    ],
)
def test_parameters_that_do_not_fit_do_not_match(pattern, path):
    router = Router()
    router.add(pattern, ["GET"], endpoint)
    assert router.match("GET", path) is None


def test_many_dynamic_routes_pick_the_right_one():
    router = Router()
    routes = [router.add(f"/r{i}/<int:n>/<name>", ["GET"], endpoint) for i in range(60)]
    for i in (0, 17, 59):
        assert router.match("GET", f"/r{i}/{i}/x") == (routes[i], {"n": i, "name": "x"})


def test_static_route_wins_over_parameter_route():
    router = Router()
    dynamic = router.add("/users/<name>", ["GET"], endpoint)
    static = router.add("/users/me", ["GET"], endpoint)
    assert router.match("GET", "/users/me")[0] is static
    assert router.match("GET", "/users/you")[0] is dynamic


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("users", "must be a string starting with '/'"),
        ("/users/<int:id", "unbalanced"),
        ("/users/int:id>", "unbalanced"),
        ("/users/<nope:id>", "unknown converter 'nope'"),
        ("/users/<1abc>", "not a valid parameter name"),
        ("/users/<>", "not a valid parameter name"),
        ("/users/<id>/<int:id>", "appears twice"),
    ],
)
def test_malformed_patterns_are_rejected_at_startup_naming_the_route(pattern, message):
    app = Rush()
    with pytest.raises(RouteError) as info:
        app.route(pattern)(endpoint)
    assert message in str(info.value)
    assert repr(pattern) in str(info.value) or "must be a string" in message


def test_duplicate_route_is_rejected_naming_both():
    app = Rush()

    @app.get("/users/<int:user_id>")
    def first(request, user_id):
        return "1"

    with pytest.raises(RouteError) as info:

        @app.route("/users/<int:other>", methods=["GET", "POST"])
        def second(request, other):
            return "2"

    assert "duplicate route" in str(info.value)
    assert "first" in str(info.value)


def test_same_path_different_methods_is_fine():
    app = Rush()
    app.get("/x")(lambda request: "get")
    app.post("/x")(lambda request: "post")
    client = app.test_client()
    assert client.get("/x").text == "get"
    assert client.post("/x").text == "post"


def test_unknown_method_and_string_methods_are_rejected():
    app = Rush()
    with pytest.raises(RouteError, match="unknown method"):
        app.route("/x", methods=["FETCH"])(endpoint)
    with pytest.raises(RouteError, match="list, not a string"):
        app.route("/y", methods="GET")(endpoint)  # type: ignore[arg-type]


def make_app() -> Rush:
    app = Rush()

    @app.route("/items/<int:item_id>", methods=["GET", "DELETE"])
    def item(request, item_id):
        return {"id": item_id}

    @app.post("/static-post")
    def static_post(request):
        return "posted"

    return app


def test_404_for_unknown_path():
    response = make_app().test_client().get("/nope")
    assert response.status == 404
    assert b"Not Found" in response.body


def test_405_lists_allowed_methods():
    client = make_app().test_client()
    response = client.post("/items/3")
    assert response.status == 405
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"
    response = client.get("/static-post")
    assert response.status == 405
    assert response.headers["Allow"] == "OPTIONS, POST"


def test_head_is_automatic_for_get_routes():
    client = make_app().test_client()
    get = client.get("/items/3")
    head = client.head("/items/3")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.body))


def test_options_is_automatic():
    response = make_app().test_client().options("/items/3")
    assert response.status == 200
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"
    assert response.body == b""


def test_options_asterisk_asks_for_the_servers_methods():
    """RFC 9110 §9.3.7: `OPTIONS *` is about the server, not a resource: 200 and every method
    a route has, whatever its path (it was a 404)."""
    app = make_app()
    app.route("/upload/<name>", methods=["PUT"])(lambda request, name: "")
    client = app.test_client()
    response = client.open("*", method="OPTIONS")
    assert (response.status, response.body) == (200, b"")
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, POST, PUT"
    assert Rush().test_client().open("*", method="OPTIONS").headers["Allow"] == "OPTIONS"
    only_root = Rush()  # with and without a "/" route (whose first path segment is "")
    only_root.post("/")(lambda request: "")
    assert only_root.test_client().open("*", method="OPTIONS").headers["Allow"] == "OPTIONS, POST"


def test_explicit_head_route_wins_over_automatic_head():
    app = Rush()
    app.get("/x")(lambda request: "body")
    app.route("/x", methods=["HEAD"])(lambda request: ("", 200, {"X-Head": "yes"}))
    assert app.test_client().head("/x").headers["X-Head"] == "yes"


def test_a_miss_outside_every_route_s_first_segment_is_a_404_and_inside_it_is_not():
    app = Rush()
    app.post("/items/<int:item_id>")(lambda request, item_id: "posted")
    app.get("/dir/")(lambda request: "dir")
    app.get("/")(lambda request: "root")
    app.errorhandler(404)(lambda request, error: (f"no {request.path}", 404))
    client = app.test_client()
    assert app.router.heads == {"items", "dir", ""}
    for path in ("/nope", "/nope/", "/item/1", "/dirs"):
        for method in ("GET", "HEAD", "POST", "OPTIONS"):
            response = client.open(path, method=method)
            assert response.status == 404, (method, path)
            assert "Allow" not in response.headers
    assert client.get("/nope").text == "no /nope"  # the app's 404 handler still answers
    refused = client.get("/items/1")  # its first segment is a route's: the miss path runs
    assert (refused.status, refused.headers["Allow"]) == (405, "OPTIONS, POST")
    assert client.options("/items/1").headers["Allow"] == "OPTIONS, POST"
    assert (client.get("/dir").status, client.get("/dir").location) == (308, "/dir/")


def test_a_route_starting_with_a_parameter_leaves_every_miss_to_the_miss_path():
    app = Rush()
    app.get("/static")(lambda request: "static")
    app.post("/<name>/edit")(lambda request, name: name)
    assert app.router.heads is None
    refused = app.test_client().get("/anything/edit")
    assert (refused.status, refused.headers["Allow"]) == (405, "OPTIONS, POST")


def test_percent_encoded_path_is_decoded_before_routing():
    app = Rush()
    app.get("/hello world")(lambda request: "spaced")
    app.get("/users/<name>")(lambda request, name: name)
    client = app.test_client()
    assert client.get("/hello%20world").text == "spaced"
    assert client.get("/users/%C3%A9t%C3%A9").text == "été"


class Views:
    def show(self, request, user_id):
        return f"method {user_id}"


def by_keyword_only(handler):
    """A decorator that reads the parameter by name: it must keep getting it by name."""

    @functools.wraps(handler)
    def wrapper(request, *args, **kwargs):
        assert not args, args
        return handler(request, **kwargs)

    return wrapper


def takes_it(request, user_id):
    return f"plain {user_id}"


def takes_it_positional_only(request, user_id=None, /, **kwargs):
    return f"positional-only {user_id} {kwargs}"


def takes_another_first(request, other=None, user_id=None):
    return f"other {other} {user_id}"


@pytest.mark.parametrize(
    ("handler", "positional", "answer"),
    [
        (takes_it, "user_id", "plain 7"),
        (by_keyword_only(takes_it), None, "plain 7"),
        (takes_it_positional_only, None, "positional-only None {'user_id': 7}"),
        (takes_another_first, None, "other None 7"),
        (Views().show, None, "method 7"),
        (lambda request, **params: f"lambda {params}", None, "lambda {'user_id': 7}"),
    ],
)
def test_a_lone_parameter_goes_by_position_only_where_that_is_the_same_call(
    handler, positional, answer
):
    """App.handle passes a route's one parameter by position where the handler's code says
    that binds it as the keyword would (Route.positional); anything else gets a keyword."""
    app = Rush()
    route = app.get("/users/<int:user_id>")(handler) and app.router.dynamic[0]
    assert route.positional == positional
    with app.test_client() as client:
        assert client.get("/users/7").text == answer


def test_two_parameters_go_by_keyword():
    app = Rush()
    app.get("/<int:b>/<int:a>")(lambda request, a, b: f"{a} {b}")
    assert app.router.dynamic[0].positional is None
    with app.test_client() as client:
        assert client.get("/2/1").text == "1 2"
