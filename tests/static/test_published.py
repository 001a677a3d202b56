"""Cached files the server answers without calling the app (rush.fixedanswers): which files
are published and where, that a published answer is the app's own byte for byte (with
preconditions, ranges and HEAD still reaching the app), and that a change on disk, an
eviction or a stopped watcher withdraws it from the server at once.
"""

from __future__ import annotations

import gc
import gzip
import os
import select
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rush import ConfigError, Rush
from rush.protocol import Limits
from rush.server.connection import Connection, ServerContext
from rush.server.loop import EventLoop
from rush.wsgihost import WSGIHost
from tests.support.fakesocket import FakeSocket
from tests.support.polling import wait_until

DATE = b"Date: Sat, 05 Dec 2026 02:00:00 GMT\r\n"


def build_app(root: Path, **options: object) -> Rush:
    app = Rush(static_folder=root / "public", **options)  # type: ignore[arg-type]
    app.static("/assets", root / "assets", cache_control="max-age=3600")
    app.static_file("/", root / "public" / "index.html")
    app.static_file("/robots.txt", root / "public" / "a.txt", cache_control=None)

    @app.get("/static/shadowed.txt")  # a route of the user's wins over the folder's file
    def shadowed(request):
        return "the handler's"

    @app.get("/page")
    def page(request):
        return app.send_file(root / "public" / "index.html")  # a handler: never published

    return app


@pytest.fixture
def site(tree: Path) -> Path:
    public = tree / "public"
    (public / "shadowed.txt").write_text("the file's\n")
    (public / "with space.txt").write_text("spaced\n")
    (public / "zipped.txt").write_text("zip me\n")
    (public / "zipped.txt.gz").write_bytes(gzip.compress(b"zip me\n"))
    old = time.time() - 10  # old enough not to count as racy when preloaded
    for path in tree.rglob("*"):
        os.utime(path, (old, old))
    return tree


@pytest.fixture
def watched(site: Path) -> Iterator[tuple[Rush, object]]:
    app = build_app(site)
    (watcher,) = app.watchers()
    yield app, watcher
    app.static_files.stop_watching()


def context(app: Rush) -> ServerContext:
    ctx = ServerContext(EventLoop(), app, Limits(), 10.0, 10.0, 10.0, 1 << 20)
    ctx.date = DATE
    return ctx


def exchange(ctx: ServerContext, *requests: bytes) -> tuple[bytes, int]:
    """What a connection of `ctx` sends for the pipelined `requests`, and the app's calls."""
    calls = []
    handle = ctx.handle

    def counted(message, remote, scheme):
        calls.append(message.target)
        return handle(message, remote, scheme)

    ctx.handle = counted
    sock = FakeSocket()
    connection = Connection(sock, "127.0.0.1", ctx)  # type: ignore[arg-type]
    sock.incoming = b"".join(requests)
    connection.on_readable()
    if not connection.closed:
        connection.close()
    ctx.handle = handle
    return bytes(sock.sent), len(calls)


def get(target: str, *fields: str) -> bytes:
    head = "".join(f"{field}\r\n" for field in fields)
    return f"GET {target} HTTP/1.1\r\nHost: a\r\n{head}\r\n".encode()


def paths(table: dict[bytes, object]) -> set[bytes]:
    """The published targets without a query (each folder file's versioned URL is one too)."""
    return {target for target in table if b"?" not in target}


def deliver(watcher, until) -> bool:
    """Hand inotify events to the cache (the worker loop's job) until `until()` holds."""

    def step() -> bool:
        if select.select([watcher.fileno()], [], [], 0.02)[0]:
            watcher.on_readable()
        return until()

    return wait_until(step, 2.0, interval=0)


def warm(ctx: ServerContext, *targets: str) -> None:
    """Ask once: the app reads the file into the cache, which publishes it."""
    exchange(ctx, *(get(target) for target in targets))


# -- where -----------------------------------------------------------------------------------


def test_cached_files_are_published_where_the_routing_serves_them(watched):
    app, _ = watched
    ctx = context(app)
    targets = [
        "/static/a.txt", "/static/sub/index.html", "/assets/app.js", "/", "/robots.txt",
        "/static/shadowed.txt", "/static/with%20space.txt", "/static/zipped.txt", "/page",
    ]  # fmt: skip
    warm(ctx, *targets)
    published = {
        b"/static/a.txt",
        b"/static/sub/index.html",
        b"/assets/app.js",
        b"/",
        b"/robots.txt",
    }
    assert paths(ctx.prerendered) == published
    assert paths(app.prerendered()) == published
    for target in published:
        sent, calls = exchange(ctx, get(target.decode()))
        assert calls == 0 and sent.startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_folder_files_versioned_url_is_published_with_it(watched):
    app, _ = watched
    ctx = context(app)
    warm(ctx, "/static/a.txt")
    versioned = app.url_for("static", filename="a.txt", _version=True)
    assert "?v=" in versioned
    assert paths(ctx.prerendered) | {versioned.encode()} == set(ctx.prerendered)
    sent, calls = exchange(ctx, get(versioned))
    assert calls == 0 and exchange(ctx, get("/static/a.txt")) == (sent, 0)
    sent, calls = exchange(ctx, get("/static/a.txt?v=stale"))  # the app answers any query
    assert calls == 1 and exchange(ctx, get("/static/a.txt")) == (sent, 0)


def test_preloaded_files_are_published_once_watched(site):
    app = build_app(site)
    app.preload(site / "public", site / "public" / "index.html")  # a folder, and a file
    ctx = context(app)
    assert ctx.prerendered == {}  # before the fork: checked with stat(), not trusted
    app.watchers()
    try:
        assert b"/static/a.txt" in ctx.prerendered and b"/" in ctx.prerendered
        assert b"/static/zipped.txt" not in ctx.prerendered  # chosen by Accept-Encoding
    finally:
        app.static_files.stop_watching()
    assert ctx.prerendered == {}  # no watcher: nothing is trusted without a stat()


def test_nothing_is_published_without_a_watcher(site):
    app = build_app(site)
    ctx = context(app)
    warm(ctx, "/static/a.txt", "/")
    assert ctx.prerendered == {} and app.prerendered() == {}


@pytest.mark.parametrize("hook", ["before_request", "after_request", "teardown_request"])
def test_nothing_is_published_when_hooks_must_see_every_request(site, hook):
    app = build_app(site)
    getattr(app, hook)(lambda *args: args[1] if hook == "after_request" else None)
    app.watchers()
    try:
        ctx = context(app)
        warm(ctx, "/static/a.txt", "/")
        assert ctx.prerendered == {} and app.prerendered() == {}
    finally:
        app.static_files.stop_watching()


def test_large_files_are_not_published(site):
    (site / "public" / "big.bin").write_bytes(b"x" * 5000)
    app = build_app(site, file_cache_threshold=1000)
    app.watchers()
    try:
        ctx = context(app)
        warm(ctx, "/static/big.bin", "/static/a.txt")
        assert paths(ctx.prerendered) == {b"/static/a.txt"}
    finally:
        app.static_files.stop_watching()


# -- what ------------------------------------------------------------------------------------

PROBES = [
    get("/static/a.txt"),
    get("/static/a.txt", "Accept-Encoding: gzip"),
    get("/static/a.txt", "Range: bytes=0-2"),
    get("/static/a.txt", "range: bytes=5-"),
    get("/static/a.txt", 'If-Range: "nope"', "Range: bytes=0-2"),
    get("/static/a.txt", "If-Modified-Since: Sat, 05 Dec 2099 02:00:00 GMT"),
    get("/static/a.txt", "If-None-Match: *"),
    get("/static/a.txt", 'If-None-Match: "other"'),
    get("/static/a.txt", "Connection: close"),
    b"GET /static/a.txt HTTP/1.0\r\n\r\n",
    b"HEAD /static/a.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    get("/"),
    get("/", "If-None-Match: *"),
    b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
    get("/robots.txt"),
    get("/assets/app.js"),
    get("/static/sub/index.html"),
]


@pytest.mark.parametrize(
    "probe", PROBES, ids=[p.split(b"\r\n\r\n")[0][:60].decode() for p in PROBES]
)
def test_a_published_answer_is_the_apps_byte_for_byte(watched, probe):
    app, _ = watched
    ctx = context(app)
    warm(ctx, "/static/a.txt", "/", "/robots.txt", "/assets/app.js", "/static/sub/index.html")
    assert len(paths(ctx.prerendered)) == 5
    published, _ = exchange(ctx, probe)
    unpublished = context(app)
    unpublished.prerendered = {}
    assert exchange(unpublished, probe) == (published, 1)


def test_preconditions_ranges_and_head_reach_the_app(watched):
    app, _ = watched
    ctx = context(app)
    warm(ctx, "/static/a.txt")
    etag = ctx.prerendered[b"/static/a.txt"][2].split(b"ETag: ")[1].split(b"\r\n")[0].decode()
    sent, calls = exchange(ctx, get("/static/a.txt", f"if-none-match: {etag}"))
    assert calls == 1 and sent.startswith(b"HTTP/1.1 304 Not Modified\r\n")
    sent, calls = exchange(ctx, get("/static/a.txt", "Range: bytes=0-6"))
    assert calls == 1 and sent.startswith(b"HTTP/1.1 206 Partial Content\r\n")
    assert sent.endswith(b"\r\n\r\nversion")
    sent, calls = exchange(ctx, b"HEAD /static/a.txt HTTP/1.1\r\nHost: a\r\n\r\n")
    assert calls == 1 and sent.endswith(b"\r\n\r\n")
    sent, calls = exchange(ctx, get("/static/a.txt"), get("/static/a.txt", "Cookie: a=b"))
    assert calls == 0 and sent.count(b"version 1\n") == 2


# -- when ------------------------------------------------------------------------------------


def test_a_change_on_disk_withdraws_it_until_the_app_reads_it_again(watched, site):
    app, watcher = watched
    ctx = context(app)
    warm(ctx, "/static/a.txt", "/robots.txt")
    (site / "public" / "a.txt").write_text("version 2\n")
    assert deliver(watcher, lambda: b"/static/a.txt" not in ctx.prerendered)
    assert b"/robots.txt" not in ctx.prerendered  # the same file, under a static_file route
    sent, calls = exchange(ctx, get("/static/a.txt"))
    assert calls == 1 and sent.endswith(b"version 2\n")
    sent, calls = exchange(ctx, get("/static/a.txt"))
    assert calls == 0 and sent.endswith(b"version 2\n")


def test_a_deleted_file_is_a_404_from_the_app(watched, site):
    app, watcher = watched
    ctx = context(app)
    warm(ctx, "/static/a.txt")
    (site / "public" / "a.txt").unlink()
    assert deliver(watcher, lambda: b"/static/a.txt" not in ctx.prerendered)
    sent, calls = exchange(ctx, get("/static/a.txt"))
    assert calls == 1 and sent.startswith(b"HTTP/1.1 404 ")


def test_an_evicted_file_is_withdrawn(site):
    (site / "public" / "b.txt").write_text("b" * 600)
    (site / "public" / "c.txt").write_text("c" * 600)
    app = build_app(site, file_cache_bytes=2000)
    app.watchers()
    try:
        ctx = context(app)
        warm(ctx, "/static/b.txt")
        assert b"/static/b.txt" in ctx.prerendered
        warm(ctx, "/static/c.txt")  # b.txt, least recently used, makes room
        assert paths(ctx.prerendered) == {b"/static/c.txt"}
        assert app.static_files.cached_keys() == [str(site / "public" / "c.txt")]
    finally:
        app.static_files.stop_watching()


def test_a_stopped_server_is_not_kept_alive_by_the_app(watched):
    app, _ = watched
    ctx = context(app)
    warm(ctx, "/static/a.txt")
    followers = len(app.fixed_answers.followers)
    del ctx
    gc.collect()
    app.static_files.clear()  # a change to announce: the dead follower is let go
    assert len(app.fixed_answers.followers) == followers - 1


# -- static_file -----------------------------------------------------------------------------


def test_static_file_serves_the_file_as_send_file_does(site):
    client = build_app(site).test_client()
    page = client.get("/")
    assert page.status == 200 and page.body == b"<h1>index</h1>\n"
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    robots = client.get("/robots.txt")
    assert robots.body == b"version 1\n" and "Cache-Control" not in robots.headers
    assert client.get("/", headers={"If-None-Match": page.headers["ETag"]}).status == 304
    assert client.head("/").headers["Content-Length"] == "15"
    assert client.post("/").status == 405


@pytest.mark.parametrize(
    "url, path, message",
    [
        ("/x", "public/missing.html", "is not a file"),
        ("/x", "public", "is not a file"),
        ("/x/<name>", "public/a.txt", "no parameters"),
        ("x", "public/a.txt", "must start with '/'"),
    ],
)
def test_static_file_refuses_at_startup(tree, url, path, message):
    app = Rush()
    with pytest.raises(ConfigError, match=message):
        app.static_file(url, tree / path)


# -- a WSGI app's --static folders -----------------------------------------------------------


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the app: " + environ["PATH_INFO"].encode()]


def test_a_wsgi_hosts_static_files_are_published_too(site):
    host = WSGIHost(
        wsgi_app, static=[("/assets", str(site / "assets")), ("/s", str(site / "public"))]
    )
    (watcher,) = host.watchers()
    try:
        ctx = context(host)  # type: ignore[arg-type]
        warm(ctx, "/assets/app.js", "/s/a.txt", "/s/zipped.txt", "/s/sub/")
        assert paths(ctx.prerendered) == {b"/assets/app.js", b"/s/a.txt", b"/s/sub/"}
        for probe in (get("/assets/app.js"), get("/s/sub/"), get("/s/a.txt", "Range: bytes=1-2")):
            published, calls = exchange(ctx, probe)
            assert calls == (1 if b"Range" in probe else 0)  # a range goes to the host
            unpublished = context(host)  # type: ignore[arg-type]
            unpublished.prerendered = {}
            assert exchange(unpublished, probe) == (published, 1)
        (site / "public" / "a.txt").write_text("version 2\n")
        assert deliver(watcher, lambda: b"/s/a.txt" not in ctx.prerendered)
        assert exchange(ctx, get("/s/a.txt"))[0].endswith(b"version 2\n")
        assert exchange(ctx, get("/other"))[0].endswith(b"the app: /other")
    finally:
        host.static_files.stop_watching()
