"""Reverse routing (`app.url_for`, `Router.build`), endpoint names, trailing slashes (308 and
`strict_slashes=False`), and a large route table that still matches every route."""

from __future__ import annotations

import os
import uuid

import pytest

from rush import Blueprint, BuildError, Rush
from rush.exceptions import RouteError
from rush.routing import Router


def handler(request, **params):
    return params


# -- endpoint names ---------------------------------------------------------------------------


def test_the_endpoint_is_the_function_name_or_the_option():
    app = Rush()

    @app.get("/")
    def index(request):
        return ""

    app.get("/about", endpoint="about_page")(handler)
    assert app.router.match("GET", "/")[0].name == "index"
    assert app.url_for("index") == "/"
    assert app.url_for("about_page") == "/about"


def test_one_handler_may_have_several_routes_and_the_best_fit_is_built():
    app = Rush()

    @app.get("/pages/", endpoint="page")
    @app.get("/pages/<int:n>", endpoint="page")
    def page(request, n=1):
        return str(n)

    assert app.url_for("page") == "/pages/"
    assert app.url_for("page", n=3) == "/pages/3"


def test_one_name_for_two_handlers_is_refused():
    app = Rush()
    app.get("/a", endpoint="x")(lambda request: "a")
    with pytest.raises(RouteError, match=r"endpoint name 'x' is already used .*endpoint="):
        app.get("/b", endpoint="x")(handler)
    assert app.router.match("GET", "/b") is None

    def show(request):
        return ""

    app.get("/c")(show)

    def make():
        def show(request):  # same __name__, another function
            return ""

        return show

    with pytest.raises(RouteError, match="'show' is already used"):
        app.get("/d")(make())


def test_lambdas_and_redirects_have_no_name_and_never_clash():
    app = Rush()
    app.get("/a")(lambda request: "a")
    app.post("/a")(lambda request: "b")
    app.redirect("/old", "/new")
    app.redirect("/older", "/new")
    assert app.router.endpoints == {}


def test_stream_routes_keep_the_generators_name():
    app = Rush()

    @app.post("/up", stream=True)
    @app.put("/up", stream=True)
    def upload(request):
        yield
        return ""

    assert app.url_for("upload") == "/up"
    assert app.url_for("upload", _method="PUT") == "/up"


# -- building ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "params", "url"),
    [
        ("/users/<name>", {"name": "bob"}, "/users/bob"),
        ("/users/<string:name>", {"name": "a bü?#%"}, "/users/a%20b%C3%BC%3F%23%25"),
        ("/users/<name>", {"name": "it's@x:y"}, "/users/it's@x:y"),
        ("/n/<int:n>", {"n": 42}, "/n/42"),
        ("/n/<int:n>", {"n": "7"}, "/n/7"),
        ("/f/<float:x>", {"x": 1.5}, "/f/1.5"),
        ("/f/<float:x>", {"x": 2}, "/f/2.0"),
        ("/files/<path:rest>", {"rest": "a/b c/d.txt"}, "/files/a/b%20c/d.txt"),
        (
            "/u/<uuid:key>",
            {"key": uuid.UUID("12345678-1234-5678-1234-567812345678")},
            "/u/12345678-1234-5678-1234-567812345678",
        ),
        ("/a/<x>/b/<int:y>/c", {"x": "1", "y": 2}, "/a/1/b/2/c"),
    ],
)
def test_every_converter_builds_and_round_trips(pattern, params, url):
    app = Rush()
    app.get(pattern, endpoint="target")(handler)
    assert app.url_for("target", **params) == url
    response = app.test_client().get(url)
    assert response.status == 200
    expected = {
        name: str(value) if pattern.count("uuid") else value for name, value in params.items()
    }
    if "int:" in pattern:
        expected = {k: int(v) if k in ("n", "y") else v for k, v in expected.items()}
    if "float:" in pattern:
        expected = {"x": float(params["x"])}
    assert response.json == expected


@pytest.mark.parametrize(
    ("pattern", "params"),
    [
        ("/n/<int:n>", {"n": -1}),
        ("/n/<int:n>", {"n": "abc"}),
        ("/n/<int:n>", {"n": True}),
        ("/f/<float:x>", {"x": -1.5}),
        ("/f/<float:x>", {"x": 1e30}),
        ("/f/<float:x>", {"x": "nan"}),
        ("/users/<name>", {"name": ""}),
        ("/files/<path:rest>", {"rest": "/etc/passwd"}),
        ("/u/<uuid:key>", {"key": "not-a-uuid"}),
    ],
)
def test_a_value_that_would_not_match_is_a_build_error(pattern, params):
    app = Rush()
    app.get(pattern, endpoint="target")(handler)
    with pytest.raises(BuildError, match=r"does not fit <\w+:\w+>"):
        app.url_for("target", **params)


def test_a_slash_in_a_string_parameter_is_escaped():
    app = Rush()
    app.get("/users/<name>", endpoint="user")(handler)
    assert app.url_for("user", name="a/b") == "/users/a%2Fb"  # as Flask; it cannot match back


def test_unknown_params_go_to_the_query_string():
    app = Rush()
    app.get("/users/<int:user_id>", endpoint="user")(handler)
    assert app.url_for("user", user_id=1, tab="posts", q="a b&c") == "/users/1?tab=posts&q=a+b%26c"
    assert app.url_for("user", user_id=1, tag=["x", "y"], skip=None) == "/users/1?tag=x&tag=y"
    assert app.router.build("user", {"user_id": 2, "page": 3}) == "/users/2?page=3"


def test_anchor_method_and_errors():
    app = Rush()
    app.get("/a/<int:n>", endpoint="a")(handler)
    app.post("/b", endpoint="b")(handler)
    assert app.url_for("a", n=1, _anchor="sec 2") == "/a/1#sec%202"
    assert app.url_for("b", _method="post") == "/b"
    with pytest.raises(BuildError, match="no route of it accepts GET"):
        app.url_for("b", _method="GET")
    with pytest.raises(BuildError, match=r"missing parameter 'n' for '/a/<int:n>'"):
        app.url_for("a")
    with pytest.raises(BuildError, match=r"no such endpoint \(did you mean 'a'\?\)"):
        app.url_for("aa")
    assert issubclass(BuildError, RouteError)


def test_external_urls_from_the_request_or_the_server_name():
    app = Rush(server_name="example.com:8080")

    @app.get("/here/<int:n>")
    def here(request, n):
        return app.url_for("here", n=n + 1, request=request, _external=True)

    client = app.test_client()
    assert client.get("/here/1", headers={"Host": "h.test"}).text == "http://h.test/here/2"
    assert app.url_for("here", n=1, _external=True) == "http://example.com:8080/here/1"
    assert app.url_for("here", n=1, _scheme="https") == "https://example.com:8080/here/1"
    bare = Rush()
    bare.get("/", endpoint="i")(handler)
    with pytest.raises(BuildError, match="server_name"):
        bare.url_for("i", _external=True)


def test_relative_endpoints_within_a_blueprint_request():
    app = Rush()
    bp = Blueprint("shop", __name__, url_prefix="/shop")

    @bp.get("/cart")
    def cart(request):
        return app.url_for(".item", request=request, n=5)

    @bp.get("/item/<int:n>")
    def item(request, n):
        return ""

    app.register_blueprint(bp)
    assert app.test_client().get("/shop/cart").text == "/shop/item/5"
    with pytest.raises(BuildError, match="relative endpoint"):
        app.url_for(".item", n=1)


def test_nested_blueprint_names_build():
    app = Rush()
    outer, inner = Blueprint("outer", __name__), Blueprint("inner", __name__, url_prefix="/in")
    inner.get("/x/<path:p>")(handler)
    outer.register_blueprint(inner)
    app.register_blueprint(outer, url_prefix="/out")
    assert app.url_for("outer.inner.handler", p="a/b") == "/out/in/x/a/b"


# -- static files -----------------------------------------------------------------------------


def static_app(tmp_path, **options) -> Rush:
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "site.css").write_text("body{}")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "big.js").write_bytes(b"x" * 100)
    app = Rush(static_folder=str(tmp_path / "public"), file_cache_threshold=10, **options)
    app.static("/assets", str(tmp_path / "assets"))
    return app


def test_url_for_static(tmp_path):
    app = static_app(tmp_path)
    assert app.url_for("static", filename="site.css") == "/static/site.css"
    assert app.url_for("static", filename="a b.css") == "/static/a%20b.css"
    assert app.url_for("static") == "/static/"
    assert app.url_for("static/assets", filename="big.js") == "/assets/big.js"


def test_static_version_follows_the_content(tmp_path):
    app = static_app(tmp_path)
    url = app.url_for("static", filename="site.css", _version=True)
    path, _, version = url.partition("?v=")
    assert path == "/static/site.css" and len(version) == 12
    assert app.url_for("static", filename="site.css", _version=True) == url
    big = app.url_for("static/assets", filename="big.js", _version=True)  # not cached: stat
    assert big.startswith("/assets/big.js?v=")
    assert app.test_client().get(url).text == "body{}"  # the query string is ignored
    css = tmp_path / "public" / "site.css"
    css.write_text("body{color:red}")
    os.utime(css, ns=(1, 1))
    assert app.url_for("static", filename="site.css", _version=True) != url
    assert "&v=" in app.url_for("static", filename="site.css", _version=True, x=1)


def test_static_versioning_by_default_and_a_missing_file(tmp_path):
    app = static_app(tmp_path, static_versioning=True)
    assert "?v=" in app.url_for("static", filename="site.css")
    assert "?v=" not in app.url_for("static", filename="site.css", _version=False)
    assert app.url_for("static", filename="missing.css") == "/static/missing.css"


def test_a_second_static_folder_may_be_named(tmp_path):
    app = Rush()
    app.static("/media", str(tmp_path), endpoint="media")
    assert app.url_for("media", filename="x.png") == "/media/x.png"


# -- trailing slashes -------------------------------------------------------------------------


def slash_app() -> Rush:
    app = Rush()
    app.get("/dir/")(lambda request: "dir")
    app.get("/items/<int:n>/")(lambda request, n: f"item {n}")
    app.get("/loose/", strict_slashes=False)(lambda request: "loose")
    app.get("/bare", strict_slashes=False)(lambda request: "bare")
    app.get("/exact")(lambda request: "exact")
    app.post("/form/", strict_slashes=False)(lambda request: request.body)
    return app


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/dir", "/dir/"),
        ("/dir?a=1&b=%20", "/dir/?a=1&b=%20"),
        ("/items/3", "/items/3/"),
    ],
)
def test_a_missing_trailing_slash_is_a_308(target, location):
    client = slash_app().test_client()
    response = client.get(target)
    assert response.status == 308
    assert response.headers["Location"] == location
    head = client.head(target)
    assert (head.status, head.headers["Location"], head.body) == (308, location, b"")


def test_a_308_keeps_the_method_and_encodes_the_location():
    app = Rush()
    app.post("/submit/")(lambda request: "ok")
    app.get("/café/")(lambda request: "ok")
    client = app.test_client()
    response = client.post("/submit", body=b"x")
    assert (response.status, response.headers["Location"]) == (308, "/submit/")
    assert client.get("/caf%C3%A9").headers["Location"] == "/caf%C3%A9/"


def test_strict_slashes_false_answers_both_and_others_do_not():
    client = slash_app().test_client()
    assert client.get("/loose").text == "loose"
    assert client.get("/loose/").text == "loose"
    assert client.get("/bare/").text == "bare"
    assert client.head("/bare/").status == 200
    assert client.get("/exact/").status == 404  # a route without the slash: no redirect
    assert client.get("/dir/").text == "dir"
    assert client.post("/dir").status == 404  # the slash route does not take POST
    assert client.post("/form", body=b"kept").text == "kept"  # the body still arrives


def test_the_router_toggles_the_slash_only_on_request():
    router = Router()
    items = router.add("/items/<int:n>", ["GET"], handler, strict_slashes=False)
    home = router.add("/home/", ["GET"], handler)
    assert router.match("GET", "/items/1/") is None  # matching itself is unchanged
    assert router.match_other_slash("GET", "/items/1/") == (items, {"n": 1})
    assert router.match_other_slash("HEAD", "/home") == (home, {})
    assert router.match_other_slash("GET", "/") is None
    plain = Router()
    plain.add("/users/<int:n>", ["GET"], handler)
    assert plain.match_other_slash("GET", "/users/1/") is None


def test_no_redirect_to_another_site():
    app = Rush()
    app.get("//evil.example/")(lambda request: "odd but allowed")
    assert app.test_client().get("//evil.example").status == 404


def test_blueprint_hooks_run_for_a_loose_slash_route():
    app = Rush()
    bp = Blueprint("bp", __name__)
    seen: list[str] = []
    bp.before_request(lambda request: seen.append(request.path))
    bp.get("/loose/", strict_slashes=False)(lambda request: "loose")
    app.register_blueprint(bp)
    assert app.test_client().get("/loose").text == "loose"
    assert seen == ["/loose"]


def test_a_blueprint_root_route_redirects_its_prefix():
    app = Rush()
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    bp.get("/")(lambda request: "home")
    app.register_blueprint(bp)
    response = app.test_client().get("/admin")
    assert (response.status, response.headers["Location"]) == (308, "/admin/")


# -- cost does not depend on the number of routes --------------------------------------------


def test_a_thousand_routes_each_match_and_build():
    router = Router()
    routes = []
    for i in range(500):
        routes.append(router.add(f"/s{i}/page", ["GET"], handler, endpoint=f"s{i}"))
        routes.append(
            router.add(f"/d{i}/<int:n>/<name>", ["GET", "POST"], handler, endpoint=f"d{i}")
        )
    router.compile()
    for i in (0, 1, 250, 498, 499):
        assert router.match("GET", f"/s{i}/page") == (routes[2 * i], {})
        assert router.match("POST", f"/d{i}/{i}/x") == (routes[2 * i + 1], {"n": i, "name": "x"})
        assert router.build(f"d{i}", {"n": i, "name": "x"}) == f"/d{i}/{i}/x"
    assert router.match("GET", "/d500/1/x") is None
    assert router.match("GET", "/s500/page") is None
    assert len(router.static) == 500 and len(router.endpoints) == 1000
