"""Jinja2 templates (rush.templating): rendering, globals, autoescape, errors, and freshness
through the inotify watcher a worker runs (driven by hand here, no server)."""

from __future__ import annotations

import logging
import os
import select
import time
from pathlib import Path

import pytest

from rush import Blueprint, Rush
from rush.exceptions import ConfigError


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    write(root / "page.html", "<p>{{ value }}</p>")
    write(root / "note.txt", "{{ value }}")
    write(root / "feed.xml", "<v>{{ value }}</v>")
    write(root / "base.html", "<main>{% block body %}{% endblock %}</main>")
    write(
        root / "child.html", '{% extends "base.html" %}{% block body %}[{{ value }}]{% endblock %}'
    )
    write(root / "sub" / "deep.html", "deep {{ value }}")
    write(
        root / "globals.html",
        "{{ request.path }}|{{ session.get('user') }}|{{ config.NAME }}|"
        "{% for c, m in get_flashed_messages(with_categories=True) %}{{ c }}:{{ m }};{% endfor %}",
    )
    return root


def build(folder: Path, **options) -> Rush:
    app = Rush(template_folder=folder, **options)

    @app.get("/<name>")
    def page(request, name):
        return app.render_template(name, request=request, value=request.args.get("v", "x"))

    return app


def test_render_template_answers_html_with_the_context(folder):
    response = build(folder).test_client().get("/page.html", query={"v": "hi"})
    assert response.status == 200 and response.text == "<p>hi</p>"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_autoescape_for_html_and_xml_but_not_text(folder):
    client = build(folder).test_client()
    evil = "<script>&"
    assert client.get("/page.html", query={"v": evil}).text == "<p>&lt;script&gt;&amp;</p>"
    xml = client.get("/feed.xml", query={"v": evil})
    assert xml.text == "<v>&lt;script&gt;&amp;</v>"
    assert xml.headers["Content-Type"].startswith("application/xml")
    text = client.get("/note.txt", query={"v": evil})
    assert text.text == evil and text.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_inheritance_and_subfolders(folder):
    client = build(folder).test_client()
    assert client.get("/child.html", query={"v": "c"}).text == "<main>[c]</main>"
    app = build(folder)
    app.get("/deep")(lambda request: app.render_template("sub/deep.html", value="d"))
    assert app.test_client().get("/deep").text == "deep d"


def test_request_session_flashes_and_config_are_there(folder):
    app = build(folder, secret_key="k")
    app.config["NAME"] = "demo"

    @app.get("/login")
    def login(request):
        request.session["user"] = "ann"
        request.flash("hello", "info")
        return "ok"

    client = app.test_client()
    cookie = client.get("/login").headers["Set-Cookie"].partition(";")[0]
    response = client.get("/globals.html", headers={"Cookie": cookie})
    assert response.text == "/globals.html|ann|demo|info:hello;"


def test_a_template_that_does_not_use_the_session_needs_no_secret_key(folder, monkeypatch):
    monkeypatch.delenv("RUSH_SECRET_KEY", raising=False)
    response = build(folder).test_client().get("/page.html")
    assert response.status == 200 and response.headers.getlist("vary") == []


def test_url_for_calls_the_apps_url_for(folder):
    write(folder / "link.html", "{{ url_for('page', name='x') }}")
    app = build(folder)
    app.url_for = lambda endpoint, **values: f"/built/{endpoint}/{values['name']}"  # type: ignore[attr-defined]
    assert app.test_client().get("/link.html").text == "/built/page/x"


def test_render_template_string_autoescapes():
    app = Rush()
    app.get("/")(lambda request: app.render_template_string("{{ v }}!", request=request, v="<b>"))
    assert app.test_client().get("/").text == "&lt;b&gt;!"


def test_a_list_of_names_renders_the_first_that_exists(folder):
    app = Rush(template_folder=folder)
    app.get("/")(lambda request: app.render_template(["nope.html", "page.html"], value=1))
    assert app.test_client().get("/").text == "<p>1</p>"


def test_a_missing_template_is_a_logged_500_naming_it(folder, caplog):
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        response = build(folder).test_client().get("/absent.html")
    assert response.status == 500
    assert "TemplateNotFound" in caplog.text and "absent.html" in caplog.text
    assert str(folder) in caplog.text


def test_the_default_folder_is_templates_beside_the_app_module(tmp_path, monkeypatch):
    write(tmp_path / "templates" / "hi.html", "hi from {{ where }}")
    write(tmp_path / "myapp.py", "from rush import Rush\napp = Rush(__name__)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import myapp  # type: ignore[import-not-found]

    try:
        app = myapp.app
        app.get("/")(lambda request: app.render_template("hi.html", where="home"))
        assert app.test_client().get("/").text == "hi from home"
    finally:
        del myapp
        import sys

        sys.modules.pop("myapp", None)


def test_without_a_watcher_an_edit_is_seen_through_mtime(folder):
    client = build(folder).test_client()
    assert client.get("/page.html").text == "<p>x</p>"
    write(folder / "page.html", "<p>v2 {{ value }}</p>")
    future = time.time() + 5  # a different mtime even on a coarse clock
    os.utime(folder / "page.html", (future, future))
    assert client.get("/page.html").text == "<p>v2 x</p>"


# -- the watcher, as a worker runs it -------------------------------------------------------


def pump(watchers, until, timeout: float = 5.0) -> bool:
    """Feed inotify events to the watchers until `until()` holds (or the deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until():
            return True
        ready, _, _ = select.select(watchers, [], [], 0.05)
        for watcher in ready:
            watcher.on_readable()
    return until()


@pytest.fixture
def watched(folder):
    app = build(folder)
    watchers = app.watchers()
    client = app.test_client()
    yield app, watchers, client
    app.templates.stop_watching()
    app.static_files.stop_watching()


def cached_names(app: Rush) -> set[str]:
    return {key[1] for key in app.templates.environment.cache}


def test_watched_templates_render_without_stat(watched, folder, monkeypatch):
    app, watchers, client = watched
    assert app.templates.watcher in watchers
    assert client.get("/page.html").text == "<p>x</p>"
    assert app.templates.environment.auto_reload is False
    calls = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda *a, **k: calls.append(a) or real_stat(*a, **k))
    for _ in range(5):
        assert client.get("/page.html").text == "<p>x</p>"
    assert calls == []


def test_an_edit_drops_only_that_template(watched, folder):
    app, watchers, client = watched
    client.get("/page.html")
    client.get("/child.html")
    assert {"page.html", "child.html", "base.html"} <= cached_names(app)
    write(folder / "page.html", "<p>new {{ value }}</p>")
    assert pump(watchers, lambda: "page.html" not in cached_names(app))
    assert {"child.html", "base.html"} <= cached_names(app)
    assert client.get("/page.html").text == "<p>new x</p>"


def test_an_edited_base_template_changes_its_children(watched, folder):
    app, watchers, client = watched
    assert client.get("/child.html").text == "<main>[x]</main>"
    tmp = folder / "base.tmp"
    tmp.write_text("<section>{% block body %}{% endblock %}</section>")
    os.replace(tmp, folder / "base.html")  # an atomic save, as editors do
    assert pump(watchers, lambda: "base.html" not in cached_names(app))
    assert client.get("/child.html").text == "<section>[x]</section>"


def test_a_new_subfolder_is_watched(watched, folder):
    app, watchers, client = watched
    write(folder / "fresh" / "one.html", "one")
    app.get("/fresh")(lambda request: app.render_template("fresh/one.html"))
    assert pump(watchers, lambda: app.templates.watcher.is_watching(str(folder / "fresh")))
    assert client.get("/fresh").text == "one"
    write(folder / "fresh" / "one.html", "two")
    assert pump(watchers, lambda: "fresh/one.html" not in cached_names(app))
    assert client.get("/fresh").text == "two"


def test_a_replaced_folder_is_seen(watched, folder):
    app, watchers, client = watched
    assert client.get("/page.html").text == "<p>x</p>"
    new = folder.parent / "templates.new"
    write(new / "page.html", "<p>release 2</p>")
    old = folder.parent / "templates.old"
    os.rename(folder, old)
    os.rename(new, folder)
    assert pump(watchers, lambda: not cached_names(app))
    assert client.get("/page.html").text == "<p>release 2</p>"
    write(folder / "page.html", "<p>release 3</p>")
    assert pump(watchers, lambda: not cached_names(app))
    assert client.get("/page.html").text == "<p>release 3</p>"


def test_no_folder_no_watcher(tmp_path):
    app = Rush(template_folder=tmp_path / "none")
    assert app.templates.start_watching() == [] and app.templates.watcher is None
    assert Rush(template_folder=None).templates.start_watching() == []


def test_without_jinja2_the_error_says_what_to_install(folder, monkeypatch):
    import sys

    from rush.exceptions import ConfigError

    monkeypatch.setitem(sys.modules, "jinja2", None)  # import jinja2 -> ImportError
    app = build(folder)
    with pytest.raises(ConfigError, match=r"rush\[templates\]"):
        app.render_template("page.html")


def test_a_blueprints_template_folder_is_searched_after_the_apps(tmp_path):
    from rush import Blueprint

    (tmp_path / "app_templates").mkdir()
    (tmp_path / "bp_templates").mkdir()
    (tmp_path / "app_templates" / "shared.html").write_text("app's")
    (tmp_path / "bp_templates" / "shared.html").write_text("blueprint's")
    (tmp_path / "bp_templates" / "only_bp.html").write_text("from the blueprint: {{ x }}")
    app = Rush(template_folder=str(tmp_path / "app_templates"))
    bp = Blueprint("bp", __name__, template_folder=str(tmp_path / "bp_templates"))
    bp.get("/page")(lambda request: app.render_template("only_bp.html", x="<i>"))
    bp.get("/shared")(lambda request: app.render_template("shared.html"))
    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/page").text == "from the blueprint: &lt;i&gt;"
    assert client.get("/shared").text == "app's"


# -- filters, tests, globals and context processors, as Flask registers them ------------------


def test_filters_tests_and_globals_in_each_of_flasks_spellings(folder: Path):
    app = build(folder)

    @app.template_filter()
    def shout(text):
        return text.upper() + "!"

    @app.template_filter("twice")
    def double(text):
        return text * 2

    @app.template_filter
    def bare(text):
        return f"[{text}]"

    @app.template_test()
    def even(number):
        return number % 2 == 0

    @app.template_global("site")
    def site_name():
        return "Rush<site>"

    app.add_template_filter(lambda text: text[::-1], "backwards")
    app.add_template_test(lambda number: number > 9, "big")
    app.add_template_global(len)
    page = app.render_template_string(
        "{{ 'hi'|shout }} {{ 'ab'|twice }} {{ 'x'|bare }} {{ 'abc'|backwards }} "
        "{{ 4 is even }} {{ 3 is even }} {{ 12 is big }} {{ site() }} {{ len('four') }}"
    )
    assert page.get_data(as_text=True) == ("HI! abab [x] cba True False True Rush&lt;site&gt; 4")


def test_a_filter_registered_after_the_first_render_is_seen_at_the_next(folder: Path):
    app = build(folder)
    assert app.render_template_string("{{ 1 }}").data == b"1"
    assert app.jinja_env is app.templates.environment
    app.add_template_filter(lambda value: value + 1, "next")
    assert app.render_template_string("{{ 1|next }}").data == b"2"


def test_a_lambda_needs_a_name(folder: Path):
    with pytest.raises(ConfigError, match="give it a name"):
        build(folder).add_template_filter(lambda value: value)


def test_context_processors_add_to_every_render_under_what_it_passes(folder: Path):
    app = build(folder)
    calls = []

    @app.context_processor
    def site():
        calls.append("site")
        return {"site": "Rush", "value": "from the processor"}

    @app.context_processor
    def user(request):
        return {"user": request.args.get("user", "anonymous") if request else "nobody"}

    app.get("/p")(lambda request: app.render_template("page.html", request=request, value="own"))
    app.get("/s")(
        lambda request: app.render_template_string(
            "{{ site }}/{{ user }}/{{ value }}", request=request
        )
    )
    client = app.test_client()
    assert client.get("/p").text == "<p>own</p>"  # what the render passes wins
    assert client.get("/s?user=ann").text == "Rush/ann/from the processor"
    assert app.render_template_string("{{ user }}").data == b"nobody"  # no request: None
    assert calls == ["site"] * 3


def test_a_blueprints_context_processors_add_to_its_own_routes_renders(folder: Path):
    app = build(folder)
    app.context_processor(lambda: {"who": "app", "site": "Rush"})
    shop = Blueprint("shop", __name__, url_prefix="/shop")
    cart = Blueprint("cart", __name__, url_prefix="/cart")
    shop.context_processor(lambda: {"who": "shop", "section": "shop"})
    cart.context_processor(lambda request: {"who": "cart", "path": request.path})
    shop.app_context_processor(lambda: {"everywhere": "yes"})
    text = "{{ site }}/{{ who }}/{{ section }}/{{ path }}/{{ everywhere }}"

    def rendered(request):
        return app.render_template_string(text, request=request)

    app.get("/home")(rendered)
    shop.get("/")(rendered)
    cart.get("/")(rendered)
    shop.register_blueprint(cart)
    app.register_blueprint(shop)
    client = app.test_client()
    assert client.get("/home").text == "Rush/app///yes"  # the app's only
    assert client.get("/shop/").text == "Rush/shop/shop//yes"
    # A nested blueprint's after its parent's, which come after the app's: the innermost wins.
    assert client.get("/shop/cart/").text == "Rush/cart/shop//shop/cart//yes"
    assert app.render_template_string(text).data == b"Rush/app///yes"  # no request


def test_a_blueprint_adds_app_template_filters_without_the_decorator(folder: Path):
    app = build(folder)
    parts = Blueprint("parts", __name__)
    parts.add_app_template_filter(str.upper, "shout")
    parts.add_app_template_test(lambda n: n % 2 == 0, "even")
    parts.add_app_template_global(lambda: "g", "greeting")
    app.register_blueprint(parts)
    rendered = app.render_template_string("{{ 'a'|shout }} {{ 4 is even }} {{ greeting() }}")
    assert rendered.data == b"A True g"


def test_context_processor_mistakes(folder: Path, caplog):
    app = build(folder)
    with pytest.raises(ConfigError, match=r"f\(\) or f\(request\)"):
        app.context_processor(lambda request, extra: {})
    app.context_processor(lambda: ["not", "a", "dict"])
    app.get("/s")(lambda request: app.render_template_string("x", request=request))
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        assert app.test_client().get("/s").status == 500
    assert "returned list, not a dict" in caplog.text
