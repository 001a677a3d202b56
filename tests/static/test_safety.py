"""Nothing outside the folder, ever: every trick is a 404 (not 403), never a 500.

Also: dotfiles, unreadable files (403), special files, and the startup errors a user can make.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from rush import ConfigError, Rush
from tests.static.site import make_tree

SECRET = b"TOP SECRET"

TRICKS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/sub/..%2F..%2Fsecret.txt",
    "/static/sub/../../secret.txt",
    "/static/..\\secret.txt",
    "/static/%5c..%5csecret.txt",
    "/static/sub%5c..%5c..%5csecret.txt",
    "/static/%252e%252e/secret.txt",
    "/static/%c0%ae%c0%ae/secret.txt",
    "/static/a.txt%00.png",
    "/static/%00",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2F..%2Fsecret.txt",
    "/static/out",
    "/static/outdir/secret.txt",
    "/static/sub/up",
    "/static/.hidden",
    "/static/.git/config",
    "/static/sub/.env",
    "/download/../secret.txt",
    "/download/%2e%2e/secret.txt",
    "/download/..%5csecret.txt",
    "/download/%2fetc%2fpasswd",
    "/download/out",
    "/download/.hidden",
]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = make_tree(tmp_path / "site")
    public = root / "public"
    (public / ".hidden").write_text("dotfile")
    (public / ".git").mkdir()
    (public / ".git" / "config").write_text("[core]")
    (public / "sub" / ".env").write_text("KEY=1")
    (public / "out").symlink_to(root / "secret.txt")  # a file outside
    (public / "outdir").symlink_to(root)  # a directory outside
    (public / "sub" / "up").symlink_to("../../secret.txt")  # relative, outside
    (public / "in").symlink_to("a.txt")  # inside: allowed
    (public / "indir").symlink_to("sub")  # inside: allowed
    (root / "files" / "out").symlink_to(root / "secret.txt")
    (root / "files" / ".hidden").write_text("dotfile")
    return root


@pytest.fixture
def app(site: Path) -> Rush:
    app = Rush(static_folder=site / "public")

    @app.get("/download/<path:name>")
    def download(request, name):
        return app.send_from_directory(site / "files", name)

    return app


@pytest.mark.parametrize("path", TRICKS)
def test_traversal_tricks_are_404(app, path):
    response = app.test_client().get(path)
    assert response.status == 404, path
    assert SECRET not in response.body


def test_symlinks_inside_the_folder_are_followed(app):
    client = app.test_client()
    assert client.get("/static/in").body == b"version 1\n"
    assert client.get("/static/indir/index.html").body == b"<h1>sub</h1>\n"


def test_dotfiles_when_enabled(site):
    app = Rush()
    app.static("/dots", site / "public", dotfiles=True)
    client = app.test_client()
    assert client.get("/dots/.hidden").body == b"dotfile"
    assert client.get("/dots/.git/config").body == b"[core]"
    assert client.get("/dots/../secret.txt").status == 404
    assert client.get("/dots/out").status == 404


def test_a_symlink_escape_cannot_hide_behind_a_cached_send_file(app, site):
    # send_file trusts its path; the same name through a folder must still be refused.
    @app.get("/trusted")
    def trusted(request):
        return app.send_file(site / "public" / "out")

    client = app.test_client()
    assert client.get("/trusted").body.startswith(SECRET)
    assert client.get("/static/out").status == 404
    assert client.get("/download/out").status == 404


def test_traversal_over_a_real_socket(serve, site):
    server = serve(site)
    for path in TRICKS:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            sock.sendall(request.encode("latin-1"))
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.split(b" ", 2)[1] in (b"400", b"404"), (path, data[:80])
        assert SECRET not in data


def test_symlink_loops_and_nul_bytes_are_404_not_500(app, site):
    (site / "public" / "loop1").symlink_to("loop2")
    (site / "public" / "loop2").symlink_to("loop1")
    (site / "public" / "self").symlink_to("self")

    @app.get("/raw/<path:name>")
    def raw(request, name):
        return app.send_file(site / "public" / name)  # a handler that trusts too much

    client = app.test_client()
    for path in ("/static/loop1", "/static/self", "/static/self/x", "/raw/loop1", "/raw/a%00b"):
        assert client.get(path).status == 404, path


def test_special_files_are_404(app, site):
    os.mkfifo(site / "public" / "fifo")  # opening it for reading must not block the worker
    with socket.socket(socket.AF_UNIX) as unix:
        unix.bind(str(site / "public" / "sock"))
        client = app.test_client()
        assert client.get("/static/fifo").status == 404
        assert client.get("/static/sock").status == 404


def test_unreadable_file_is_403(tmp_path):
    """Root reads everything, so the check runs in a child that gave up root."""
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "ok.txt").write_text("fine")
        (base / "locked.txt").write_text("locked")
        (base / "locked.txt").chmod(0)
        app = Rush(static_folder=base)

        @app.get("/direct")
        def direct(request):
            return app.send_file(base / "locked.txt")

        def statuses() -> list[int]:
            client = app.test_client()
            return [
                client.get(p).status for p in ("/static/ok.txt", "/static/locked.txt", "/direct")
            ]

        if os.geteuid() != 0:
            assert statuses() == [200, 403, 403]
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.close(read)
                os.setgid(65534)
                os.setuid(65534)
                os.write(write, repr(statuses()).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            result = pipe.read()
        os.waitpid(pid, 0)
        assert result == "[200, 403, 403]"
    finally:
        for name in ("ok.txt", "locked.txt"):
            (base / name).unlink()
        base.rmdir()


def test_missing_static_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="static folder"):
        Rush(static_folder=tmp_path / "nope")
    app = Rush()
    with pytest.raises(ConfigError, match="not a directory"):
        app.static("/assets", tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError):
        app.static("/assets", tmp_path / "file")
    with pytest.raises(ConfigError, match="must start with '/'"):
        app.static("assets", tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        app.preload(tmp_path / "nope")


def test_relative_folders_start_at_the_apps_module(tmp_path, monkeypatch):
    import sys
    import types

    module = types.ModuleType("fake_site_app")
    module.__file__ = str(make_tree(tmp_path / "site") / "app.py")
    monkeypatch.setitem(sys.modules, "fake_site_app", module)
    monkeypatch.chdir("/")
    app = Rush("fake_site_app", static_folder="public")
    assert app.test_client().get("/static/a.txt").body == b"version 1\n"
