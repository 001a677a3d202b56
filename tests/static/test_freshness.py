"""The cache never serves stale files: in place edits, atomic renames, deletes, creations,
sibling encodings, symlink retargets and directory moves all show in the next answers.

Three settings: the test client (no loop: every hit is checked with stat), a watcher driven
by hand in this process (inotify events, no stat), and real servers with 1 and 2 workers.
"""

from __future__ import annotations

import gzip
import logging
import os
import select
import time
from pathlib import Path

import pytest

from rush import Rush
from tests.support.polling import wait_until


def replace_atomically(path: Path, data: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(data)
    os.replace(temporary, path)


def build_app(root: Path) -> Rush:
    app = Rush(static_folder=root / "public")

    @app.get("/")
    def index(request):
        return app.send_file(root / "public" / "index.html")

    return app


def body(client, path: str, **headers: str) -> tuple[int, bytes]:
    response = client.get(path, headers=headers)
    return response.status, response.body


# -- the test client: stat() on every hit ---------------------------------------------------


def test_test_client_sees_every_kind_of_change(tree):
    client = build_app(tree).test_client()
    a = tree / "public" / "a.txt"
    assert body(client, "/static/a.txt") == (200, b"version 1\n")
    a.write_text("version 2\n")  # same size, same second: only the racy rule catches it
    assert body(client, "/static/a.txt") == (200, b"version 2\n")
    replace_atomically(a, "version 3 (renamed)\n")
    assert body(client, "/static/a.txt") == (200, b"version 3 (renamed)\n")
    a.unlink()
    assert body(client, "/static/a.txt")[0] == 404
    a.write_text("back\n")
    assert body(client, "/static/a.txt") == (200, b"back\n")
    (tree / "public" / "a.txt.gz").write_bytes(gzip.compress(b"back\n"))
    zipped = client.get("/static/a.txt", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    (tree / "public" / "index.html").write_text("<h1>new index</h1>\n")
    assert body(client, "/") == (200, b"<h1>new index</h1>\n")


def test_test_client_does_not_keep_files_modified_while_read(tree):
    """Racy entries: a same-size write in the same timestamp tick leaves stat() unchanged,
    so without a watcher a file modified less than RACY_SECONDS before it was read is read
    again on the next hit instead of being trusted."""
    app = build_app(tree)
    client = app.test_client()
    fresh, settled = tree / "public" / "a.txt", tree / "public" / "style.css"
    old = time.time() - 10
    os.utime(settled, (old, old))
    client.get("/static/a.txt")
    client.get("/static/style.css")
    assert app.static_files.cached_keys() == [str(settled)]
    assert fresh.read_bytes() == client.get("/static/a.txt").body


def test_test_client_sees_directory_moves(tree):
    client = build_app(tree).test_client()
    assert body(client, "/static/sub/")[0] == 200
    (tree / "public" / "sub").rename(tree / "public" / "moved")
    assert body(client, "/static/sub/")[0] == 404
    assert body(client, "/static/moved/") == (200, b"<h1>sub</h1>\n")


# -- a watcher driven by hand: inotify instead of stat() ------------------------------------


def pump(watcher, until, timeout: float = 2.0):
    """Deliver inotify events to the cache until `until()` holds (the worker loop's job)."""

    def step():
        if until():
            return True
        readable, _, _ = select.select([watcher.fileno()], [], [], 0.02)
        if readable:
            watcher.on_readable()
        return until()

    return wait_until(step, timeout, interval=0)


def drain(watcher) -> None:
    """Handle every queued event. inotify queues them inside the syscall that made the change,
    so after that syscall returned, a non-blocking read sees them all."""
    while select.select([watcher.fileno()], [], [], 0)[0]:
        watcher.on_readable()


@pytest.fixture
def watched(tree):
    app = build_app(tree)
    client = app.test_client()
    (watcher,) = app.watchers()
    yield app, client, watcher
    app.static_files.stop_watching()


def test_watched_hits_trust_the_cache_until_an_event_arrives(watched, tree):
    app, client, watcher = watched
    a = tree / "public" / "a.txt"
    assert body(client, "/static/a.txt") == (200, b"version 1\n")
    a.write_text("version 2\n")
    # No stat() on a watched hit: until the loop reads the event, the cached bytes are sent.
    assert body(client, "/static/a.txt") == (200, b"version 1\n")
    assert pump(watcher, lambda: body(client, "/static/a.txt") == (200, b"version 2\n"))


@pytest.mark.parametrize(
    "change, expect",
    [
        (lambda p: (p / "a.txt").write_text("in place, longer\n"), (200, b"in place, longer\n")),
        (lambda p: replace_atomically(p / "a.txt", "renamed\n"), (200, b"renamed\n")),
        (lambda p: (p / "a.txt").unlink(), (404, None)),
        (lambda p: (p / "a.txt").chmod(0o644) or os.utime(p / "a.txt", (1, 1)), (200, None)),
        (lambda p: (p / "a.txt.br").write_bytes(b"br!"), (200, b"br!")),
    ],
    ids=["in-place", "rename", "delete", "touch", "sibling"],
)
def test_watched_changes(watched, tree, change, expect):
    app, client, watcher = watched
    headers = {"Accept-Encoding": "br"}
    first = client.get("/static/a.txt", headers=headers)
    key = str(tree / "public" / "a.txt")
    assert key in app.static_files.cached_keys()
    change(tree / "public")
    assert pump(watcher, lambda: key not in app.static_files.cached_keys())
    response = client.get("/static/a.txt", headers=headers)
    status, data = expect
    assert response.status == status
    if data is not None:
        assert response.body == data
    if status == 200 and data is None:  # touched: same bytes, new Last-Modified
        assert response.headers["last-modified"] != first.headers["last-modified"]


def test_watched_directory_moved_away_and_recreated(watched, tree):
    app, client, watcher = watched
    sub = tree / "public" / "sub"
    (sub / "deep").mkdir()
    (sub / "deep" / "x.txt").write_text("x1")
    assert body(client, "/static/sub/deep/x.txt") == (200, b"x1")
    sub.rename(tree / "public" / "old")
    drain(watcher)
    assert not app.static_files.cached_keys()
    assert body(client, "/static/sub/deep/x.txt")[0] == 404
    # A new directory at the old path must get a new watch, not the moved one's.
    (sub / "deep").mkdir(parents=True)
    (sub / "deep" / "x.txt").write_text("x2")
    drain(watcher)  # the creations are handled before the file is cached
    assert body(client, "/static/sub/deep/x.txt") == (200, b"x2")
    (sub / "deep" / "x.txt").write_text("x3")
    drain(watcher)
    assert body(client, "/static/sub/deep/x.txt") == (200, b"x3")
    (tree / "public" / "old" / "deep" / "x.txt").write_text("moved copy changed")
    assert body(client, "/static/sub/deep/x.txt") == (200, b"x3")


def test_watched_folder_replaced_and_symlink_retargeted(watched, tree):
    app, client, watcher = watched
    (tree / "public" / "v1.txt").write_text("one")
    (tree / "public" / "v2.txt").write_text("two")
    (tree / "public" / "current.txt").symlink_to("v1.txt")
    assert body(client, "/static/current.txt") == (200, b"one")
    link = tree / "public" / "next"
    link.symlink_to("v2.txt")
    os.replace(link, tree / "public" / "current.txt")  # `ln -sfn`, atomically
    assert pump(watcher, lambda: body(client, "/static/current.txt") == (200, b"two"))
    # Deploy style: the whole folder swapped by renames.
    assert body(client, "/static/a.txt") == (200, b"version 1\n")
    fresh = tree / "public.new"
    fresh.mkdir()
    (fresh / "a.txt").write_text("new release\n")
    (tree / "public").rename(tree / "public.old")
    fresh.rename(tree / "public")
    assert pump(watcher, lambda: body(client, "/static/a.txt") == (200, b"new release\n"))


def test_preloaded_entries_are_revalidated_after_the_fork(tree):
    app = build_app(tree)
    old = time.time() - 10  # old enough not to count as racy
    for name in ("a.txt", "style.css"):
        os.utime(tree / "public" / name, (old, old))
    assert app.preload(tree / "public") >= 2
    keys = set(app.static_files.cached_keys())
    assert {str(tree / "public" / "a.txt"), str(tree / "public" / "style.css")} <= keys
    (tree / "public" / "a.txt").write_text("changed before the worker started\n")
    (watcher,) = app.watchers()
    try:
        keys = app.static_files.cached_keys()
        assert str(tree / "public" / "a.txt") not in keys
        assert str(tree / "public" / "style.css") in keys
        assert body(app.test_client(), "/static/a.txt")[1] == b"changed before the worker started\n"
    finally:
        app.static_files.stop_watching()


def test_over_the_watch_limit_falls_back_to_stat(watched, tree, caplog):
    app, client, watcher = watched
    (tree / "public" / "limited").mkdir()
    (tree / "public" / "limited" / "f.txt").write_text("f1")
    limited = str(tree / "public" / "limited")

    class Full:
        """The kernel's answer once fs.inotify.max_user_watches is used up."""

        def __init__(self, real):
            self.real = real

        def add_watch(self, path, mask):
            if os.fspath(path) == limited:
                raise OSError(28, "No space left on device")
            return self.real.add_watch(path, mask)

        def __getattr__(self, name):
            return getattr(self.real, name)

    watcher._inotify = Full(watcher._inotify)
    with caplog.at_level(logging.WARNING, logger="rush.error"):
        assert body(client, "/static/limited/f.txt") == (200, b"f1")
        assert body(client, "/static/limited/f.txt") == (200, b"f1")
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "watch limit" in caplog.records[0].message
    # No event will come for that directory, yet the change shows at once (stat per hit).
    (tree / "public" / "limited" / "f.txt").write_text("f2")
    assert body(client, "/static/limited/f.txt") == (200, b"f2")


def test_queue_overflow_drops_everything(watched, tree):
    app, client, watcher = watched
    client.get("/static/a.txt")
    assert app.static_files.cached_keys()
    watcher._dispatch(-1, 0x4000, "")  # IN_Q_OVERFLOW
    assert not app.static_files.cached_keys()


# -- real servers ---------------------------------------------------------------------------


def inotify_fds(pid: int) -> int:
    fds = f"/proc/{pid}/fd"
    return sum(os.readlink(f"{fds}/{fd}") == "anon_inode:inotify" for fd in os.listdir(fds))


def test_server_sees_changes(serve, tree):
    server = serve(tree)
    a = tree / "public" / "a.txt"

    def answers(expected_status, expected_body=None, path="/static/a.txt"):
        def check():
            status, _, data = server.get(path)
            return status == expected_status and (expected_body is None or data == expected_body)

        return wait_until(check, 2.0)

    assert answers(200, b"version 1\n")
    a.write_text("version 2\n")
    assert answers(200, b"version 2\n")
    replace_atomically(a, "version 3\n")
    assert answers(200, b"version 3\n")
    a.unlink()
    assert answers(404)
    a.write_text("recreated\n")
    assert answers(200, b"recreated\n")
    (tree / "public" / "sub").rename(tree / "public" / "gone")
    assert answers(404, path="/static/sub/")
    assert answers(200, b"<h1>sub</h1>\n", path="/static/gone/")
    (tree / "public" / "index.html").write_text("<h1>index 2</h1>\n")
    assert answers(200, b"<h1>index 2</h1>\n", path="/")


@pytest.mark.slow
def test_change_reaches_both_workers(serve, tree):
    server = serve(tree, workers=2)

    def sample() -> tuple[bytes, bytes]:
        """(worker pid, a.txt) from one new connection: SO_REUSEPORT picks the worker."""
        conn = server.connect()
        try:
            conn.request("GET", "/static/a.txt")
            data = conn.getresponse().read()
            conn.request("GET", "/pid")
            return conn.getresponse().read(), data
        finally:
            conn.close()

    warmed: set[bytes] = set()
    assert wait_until(lambda: warmed.add(sample()[0]) or len(warmed) == 2, 10)
    # Each worker opened its own inotify fd after the fork; the master holds none.
    assert inotify_fds(server.proc.pid) == 0
    assert [inotify_fds(int(pid)) for pid in warmed] == [1, 1]
    replace_atomically(tree / "public" / "a.txt", "version 2\n")
    changed = time.monotonic()
    fresh: set[bytes] = set()
    last_stale = 0.0
    while len(fresh) < 2 and time.monotonic() - changed < 10:
        pid, data = sample()
        if data == b"version 2\n":
            fresh.add(pid)
        else:
            assert pid not in fresh, "a worker went back to the old file"
            last_stale = time.monotonic() - changed
    assert fresh == warmed
    assert last_stale < 0.1, f"a worker answered the old file {last_stale:.3f}s after the change"
