"""Fixtures for the static file tests: a folder tree in a tmp dir and a real `python -m rush`.

`StaticServer` starts the CLI on 127.0.0.1:0 with the app in tests/static/serverapp.py, reads
the port from the master's `listening on` line, and stops it by PID (SIGTERM, then SIGKILL).
Every wait polls with a deadline.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server.conftest import StderrLog

REPO = Path(__file__).resolve().parents[2]
APP = "tests.static.serverapp:app"
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.01):
    """Poll `predicate` until it returns something truthy; that value, or None at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def make_tree(root: Path) -> Path:
    """public/ (index, css + gz, a sub dir), assets/, files/, and a secret next to them."""
    (root / "public" / "sub").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "files").mkdir()
    (root / "secret.txt").write_text("TOP SECRET\n")
    (root / "public" / "index.html").write_text("<h1>index</h1>\n")
    (root / "public" / "a.txt").write_text("version 1\n")
    (root / "public" / "style.css").write_text("body { color: red; }\n")
    (root / "public" / "sub" / "index.html").write_text("<h1>sub</h1>\n")
    (root / "assets" / "app.js").write_text("console.log(1);\n")
    (root / "files" / "report.txt").write_text("the report\n")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "site")


class StaticServer:
    """One `python -m rush tests.static.serverapp:app` subprocess."""

    def __init__(self, root: Path, workers: int = 1, env: dict[str, str] | None = None):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RUSH_")}
        environment.update(PYTHONUNBUFFERED="1", STATIC_TEST_ROOT=str(root), **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rush", APP, "--bind", "127.0.0.1:0", "--workers", str(workers)],
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        self.output = StderrLog(self.proc.stderr)
        self.port = 0
        try:
            match = self.output.wait_for(_LISTENING, 10)
        except AssertionError:
            self.stop()
            raise
        self.port = int(match.group(1))
        pids = set()

        def ready() -> bool:
            try:
                pids.add(int(self.get("/pid")[2]))
            except OSError:
                pass
            return len(pids) >= workers

        if not wait_until(ready, 10):
            self.stop()
            raise AssertionError(f"{workers} worker(s) not answering:\n{self.output.text}")

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = self.connect()
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.output.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., StaticServer]]:
    """Factory: `serve(tree, workers=2)`; every server started is stopped at teardown."""
    started: list[StaticServer] = []

    def start(root: Path, workers: int = 1, **env: str) -> StaticServer:
        server = StaticServer(root, workers, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
