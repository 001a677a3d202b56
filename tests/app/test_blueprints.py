"""Blueprints: prefixes, dotted endpoint names, nesting, scoped hooks and error handlers,
static and template folders, and the mistakes refused at registration."""

from __future__ import annotations

import os

import pytest

from rush import Blueprint, Response, Rush, abort
from rush.exceptions import ConfigError, RouteError

HERE = os.path.dirname(os.path.abspath(__file__))


def make_admin() -> Blueprint:
    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @admin.get("/")
    def index(request):
        return "admin home"

    @admin.get("/users/<int:user_id>")
    def user(request, user_id):
        return {"user": user_id}

    return admin


# -- routes, prefixes, names ------------------------------------------------------------------


def test_routes_get_the_prefix_and_a_dotted_endpoint():
    app = Rush()
    app.register_blueprint(make_admin())
    client = app.test_client()
    assert client.get("/admin/").text == "admin home"
    assert client.get("/admin/users/7").json == {"user": 7}
    assert set(app.router.endpoints) == {"admin.index", "admin.user"}
    route = app.router.match("GET", "/admin/users/7")[0]
    assert (route.name, route.blueprint) == ("admin.user", "admin")


def test_the_registration_prefix_wins_over_the_blueprints_own():
    app = Rush()
    app.register_blueprint(make_admin(), url_prefix="/backoffice")
    client = app.test_client()
    assert client.get("/backoffice/users/1").status == 200
    assert client.get("/admin/users/1").status == 404


def test_a_blueprint_without_prefix_adds_its_paths_as_they_are():
    app = Rush()
    bp = Blueprint("pages", __name__)
    bp.get("/about")(lambda request: "about")
    app.register_blueprint(bp)
    assert app.test_client().get("/about").text == "about"


def test_every_decorator_and_endpoint_override():
    app = Rush()
    bp = Blueprint("api", __name__, url_prefix="/api")

    @bp.route("/things", methods=["GET", "POST"], endpoint="things")
    def list_or_create(request):
        return request.method

    for verb in ("put", "patch", "delete"):
        getattr(bp, verb)("/things/<int:n>", endpoint=f"thing_{verb}")(
            lambda request, n: request.method
        )
    app.register_blueprint(bp)
    client = app.test_client()
    assert client.post("/api/things").text == "POST"
    assert client.put("/api/things/1").text == "PUT"
    assert client.delete("/api/things/1").text == "DELETE"
    assert app.url_for("api.things") == "/api/things"
    assert app.url_for("api.thing_patch", n=3) == "/api/things/3"


def test_the_same_blueprint_twice_needs_a_distinct_name():
    app = Rush()
    admin = make_admin()
    app.register_blueprint(admin)
    with pytest.raises(ConfigError, match="already registered.*name="):
        app.register_blueprint(admin, url_prefix="/other")
    app.register_blueprint(admin, url_prefix="/other", name="other")
    client = app.test_client()
    assert client.get("/other/users/2").json == {"user": 2}
    assert app.url_for("other.user", user_id=2) == "/other/users/2"
    assert app.url_for("admin.user", user_id=2) == "/admin/users/2"


def test_two_blueprints_with_one_name_clash():
    app = Rush()
    app.register_blueprint(make_admin())
    other = Blueprint("admin", __name__, url_prefix="/x")
    with pytest.raises(ConfigError, match="already taken by another blueprint"):
        app.register_blueprint(other)


def test_a_duplicate_endpoint_in_a_blueprint_is_refused():
    bp = Blueprint("bp", __name__)

    @bp.get("/a")
    def page(request):
        return "a"

    def other(request):
        return "b"

    bp.get("/b", endpoint="page")(other)
    with pytest.raises(RouteError, match="endpoint name 'bp.page' is already used"):
        Rush().register_blueprint(bp)


def test_a_dot_in_an_endpoint_or_name_is_refused():
    bp = Blueprint("bp", __name__)
    with pytest.raises(RouteError, match="may not contain a dot"):
        bp.get("/a", endpoint="x.y")(lambda request: "")
    with pytest.raises(ConfigError, match="without dots"):
        Blueprint("a.b", __name__)
    with pytest.raises(ConfigError, match="without dots"):
        Rush().register_blueprint(bp, name="x.y")
    with pytest.raises(ConfigError, match="must start with '/'"):
        Blueprint("c", __name__, url_prefix="admin")


def test_nothing_may_be_added_after_registration():
    app = Rush()
    bp = make_admin()
    app.register_blueprint(bp)
    with pytest.raises(ConfigError, match="after it was registered"):
        bp.get("/late")(lambda request: "")
    with pytest.raises(ConfigError, match="after it was registered"):
        bp.before_request(lambda request: None)
    with pytest.raises(ConfigError, match="after it was registered"):
        bp.errorhandler(404)


def test_a_bad_route_in_a_blueprint_is_refused_when_registered():
    bp = Blueprint("bp", __name__)
    bp.get("/<int:n>")(lambda request: "no n")
    with pytest.raises(RouteError, match="cannot take parameter 'n'"):
        Rush().register_blueprint(bp)


# -- nesting ----------------------------------------------------------------------------------


def make_nested() -> tuple[Blueprint, Blueprint]:
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")

    @child.get("/leaf/<name>")
    def leaf(request, name):
        return name

    @parent.get("/")
    def home(request):
        return "parent"

    parent.register_blueprint(child)
    return parent, child


def test_nested_blueprints_compose_names_and_prefixes():
    app = Rush()
    parent, _ = make_nested()
    app.register_blueprint(parent, url_prefix="/root")
    client = app.test_client()
    assert client.get("/root/c/leaf/x").text == "x"
    assert client.get("/root/").text == "parent"
    assert app.url_for("parent.child.leaf", name="y") == "/root/c/leaf/y"
    assert set(app.blueprints) == {"parent", "parent.child"}


def test_a_nested_blueprint_may_be_renamed_and_reprefixed():
    app = Rush()
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")
    child.get("/x")(lambda request: "x")
    child.get("/y", endpoint="y")(lambda request: "y")
    parent.register_blueprint(child, url_prefix="/kid", name="kid")
    app.register_blueprint(parent)
    assert app.test_client().get("/p/kid/x").text == "x"
    assert app.url_for("parent.kid.y") == "/p/kid/y"


def test_a_blueprint_cannot_nest_itself():
    bp = Blueprint("bp", __name__)
    with pytest.raises(ConfigError, match="on itself"):
        bp.register_blueprint(bp)


# -- hooks ------------------------------------------------------------------------------------


def hooked_app(calls: list[str]) -> Rush:
    app = Rush()
    parent, child = Blueprint("parent", __name__, url_prefix="/p"), Blueprint("child", __name__)

    @app.before_request
    def app_before(request):
        calls.append("app-before")

    @app.after_request
    def app_after(request, response):
        calls.append("app-after")

    @parent.before_request
    def parent_before(request):
        calls.append("parent-before")

    @parent.after_request
    def parent_after(request, response):
        calls.append("parent-after")

    @child.before_request
    def child_before(request):
        calls.append("child-before")
        if request.args.get("stop"):
            return "stopped by child"

    @child.after_request
    def child_after(request, response):
        calls.append("child-after")
        response.headers["X-Child"] = "1"

    child.get("/leaf")(lambda request: calls.append("handler") or "leaf")
    parent.get("/own")(lambda request: calls.append("handler") or "own")
    app.get("/plain")(lambda request: calls.append("handler") or "plain")
    parent.register_blueprint(child, url_prefix="/c")
    app.register_blueprint(parent)

    @app.before_request  # registered after the blueprint: still runs before its hooks
    def app_late(request):
        calls.append("app-late")

    return app


def test_hooks_run_app_first_then_outer_to_inner_and_back_out():
    calls: list[str] = []
    client = hooked_app(calls).test_client()
    response = client.get("/p/c/leaf")
    assert response.text == "leaf" and response.headers["X-Child"] == "1"
    assert calls == [
        "app-before",
        "app-late",
        "parent-before",
        "child-before",
        "handler",
        "child-after",
        "parent-after",
        "app-after",
    ]


def test_blueprint_hooks_run_only_for_their_routes():
    calls: list[str] = []
    client = hooked_app(calls).test_client()
    assert client.get("/p/own").text == "own"
    assert calls == [
        "app-before",
        "app-late",
        "parent-before",
        "handler",
        "parent-after",
        "app-after",
    ]
    calls.clear()
    assert client.get("/plain").text == "plain"
    assert calls == ["app-before", "app-late", "handler", "app-after"]
    calls.clear()
    assert client.get("/nothing").status == 404
    assert calls == ["app-before", "app-late", "app-after"]


def test_a_blueprint_before_hook_may_answer_and_head_finds_its_route():
    calls: list[str] = []
    client = hooked_app(calls).test_client()
    response = client.get("/p/c/leaf", query={"stop": "1"})
    assert response.text == "stopped by child"
    assert "handler" not in calls and calls[-3:] == ["child-after", "parent-after", "app-after"]
    calls.clear()
    assert client.head("/p/c/leaf").status == 200
    assert "child-before" in calls


def test_blueprint_hooks_see_stream_routes():
    app = Rush()
    bp = Blueprint("up", __name__)
    seen: list[str] = []
    bp.before_request(lambda request: seen.append(request.path))

    @bp.post("/ingest", stream=True)
    def ingest(request):
        total = 0
        while chunk := (yield):
            total += len(chunk)
        return str(total)

    app.register_blueprint(bp)
    assert app.test_client().post("/ingest", body=b"abc").text == "3"
    assert seen == ["/ingest"]


def test_an_app_without_blueprint_hooks_keeps_its_hook_lists_empty():
    app = Rush()
    app.register_blueprint(make_admin())
    assert app.before_request_funcs == [] and app.after_request_funcs == []
    app.redirect("/old", "/new")
    assert b"/old" in app.prerendered()


def test_worker_hooks_of_a_blueprint_run_once_however_often_it_is_registered():
    app = Rush()
    bp = make_admin()
    bp.on_startup(lambda: None)
    bp.on_shutdown(lambda: None)
    app.register_blueprint(bp)
    app.register_blueprint(bp, name="again", url_prefix="/again")
    assert len(app.startup_funcs) == 1 and len(app.shutdown_funcs) == 1


# -- error handlers ---------------------------------------------------------------------------


def error_app() -> Rush:
    app = Rush()
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.errorhandler(404)
    def bp_404(request, error):
        return "bp 404", 404

    @bp.errorhandler(KeyError)
    def bp_key(request, error):
        return "bp key", 400

    @app.errorhandler(404)
    def app_404(request, error):
        return "app 404", 404

    @app.errorhandler(KeyError)
    def app_key(request, error):
        return "app key", 400

    @app.errorhandler(405)
    def app_405(request, error):
        return "app 405", 405

    @bp.get("/missing")
    def missing(request):
        abort(404)

    @bp.get("/key")
    def key(request):
        raise KeyError("x")

    @app.get("/key")
    def app_key_route(request):
        raise KeyError("x")

    app.register_blueprint(bp)
    return app


def test_blueprint_error_handlers_win_for_errors_of_its_handlers():
    client = error_app().test_client()
    assert client.get("/bp/missing").text == "bp 404"
    assert client.get("/bp/key").text == "bp key"
    assert client.get("/key").text == "app key"


def test_routing_errors_go_to_the_apps_handlers():
    client = error_app().test_client()
    assert client.get("/bp/nowhere").text == "app 404"
    assert client.post("/bp/missing").text == "app 405"


def test_nested_blueprints_ask_the_inner_handler_first():
    app = Rush()
    parent, child = Blueprint("parent", __name__), Blueprint("child", __name__)
    parent.errorhandler(ValueError)(lambda request, error: ("parent", 400))
    parent.errorhandler(LookupError)(lambda request, error: ("parent lookup", 400))
    child.errorhandler(ValueError)(lambda request, error: ("child", 400))

    @child.get("/value")
    def value(request):
        raise ValueError

    @child.get("/index")
    def index(request):
        raise IndexError

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    client = app.test_client()
    assert client.get("/value").text == "child"
    assert client.get("/index").text == "parent lookup"


def test_an_error_in_a_blueprint_hook_goes_to_its_handler():
    app = Rush()
    bp = Blueprint("bp", __name__)

    @bp.before_request
    def deny(request):
        abort(403)

    bp.errorhandler(403)(lambda request, error: ("bp says no", 403))
    bp.get("/x")(lambda request: "x")
    app.register_blueprint(bp)
    response = app.test_client().get("/x")
    assert (response.status, response.text) == (403, "bp says no")


def test_a_blueprint_after_hook_returning_junk_is_a_500():
    app = Rush()
    bp = Blueprint("bp", __name__)
    bp.after_request(lambda request, response: "not a response")
    bp.get("/x")(lambda request: "x")
    app.register_blueprint(bp)
    assert app.test_client().get("/x").status == 500


def test_a_blueprint_after_hook_may_replace_the_response():
    app = Rush()
    bp = Blueprint("bp", __name__)
    bp.after_request(lambda request, response: Response("replaced", 201))
    bp.get("/x")(lambda request: "x")
    app.register_blueprint(bp)
    response = app.test_client().get("/x")
    assert (response.status, response.text) == (201, "replaced")


# -- folders ----------------------------------------------------------------------------------


def test_a_blueprint_static_folder_is_served_under_its_prefix(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.css").write_text("body{}")
    bp = Blueprint("shop", __name__, url_prefix="/shop", static_folder=str(tmp_path / "assets"))
    app = Rush()
    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/shop/static/app.css").text == "body{}"
    assert app.url_for("shop.static", filename="app.css") == "/shop/static/app.css"


def test_a_static_url_path_and_relative_folders(tmp_path):
    bp = Blueprint(
        "docs", __name__, static_folder="..", static_url_path="/files", template_folder="tpl"
    )
    assert bp.static_folder == os.path.dirname(HERE)
    assert bp.template_folder == os.path.join(HERE, "tpl")
    app = Rush()
    app.register_blueprint(bp, url_prefix="/docs")
    assert app.test_client().get("/docs/files/__init__.py").status == 200
    assert app.blueprint_template_folders == [os.path.join(HERE, "tpl")]


def test_a_missing_static_folder_is_refused_at_registration():
    bp = Blueprint("bp", __name__, static_folder="no-such-folder")
    with pytest.raises(ConfigError, match="is not a directory"):
        Rush().register_blueprint(bp)


# -- what a blueprint registers on the whole app (Flask's app_* decorators) ----------------------


def test_app_wide_hooks_handlers_and_template_names_from_a_blueprint():
    calls: list[str] = []
    app = Rush()
    app.get("/outside")(lambda request: app.render_template_string("{{ 'x'|loud }} {{ who }}"))
    shop = Blueprint("shop", __name__, url_prefix="/shop")
    shop.get("/item")(lambda request: "item")

    @shop.before_app_request
    def before(request):
        calls.append(f"before {request.path}")

    @shop.after_app_request
    def after(request, response):
        calls.append(f"after {request.path}")
        return response

    @shop.teardown_app_request
    def teardown(request, error):
        calls.append(f"teardown {request.path}")

    @shop.app_errorhandler(404)
    def missing(request, error):
        return "no such page", 404

    @shop.app_template_filter("loud")
    def loud(text):
        return text.upper()

    shop.app_context_processor(lambda: {"who": "shop"})
    app.register_blueprint(shop)
    app.register_blueprint(shop, name="again", url_prefix="/again")  # registered once on the app
    client = app.test_client()
    assert client.get("/outside").text == "X shop"
    assert calls == ["before /outside", "after /outside", "teardown /outside"]
    assert client.get("/nowhere").text == "no such page"
    assert client.get("/again/item").text == "item"
    assert app.before_request_funcs.count(before) == 1
    assert app.teardown_request_funcs.count(teardown) == 1


def test_record_once_runs_at_the_first_registration_only():
    seen: list[tuple[str, bool]] = []
    part = Blueprint("part", __name__)
    part.record_once(lambda state: seen.append((state.name, state.first_registration)))
    part.record(lambda state: seen.append((state.name, state.first_registration)))
    app = Rush()
    app.register_blueprint(part)
    app.register_blueprint(part, name="second")
    assert seen == [("part", True), ("part", True), ("second", False)]
