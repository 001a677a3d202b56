"""Rush apps under a real gunicorn on loopback: `gunicorn examples.app:app`, as the README says.

Each server is started once per module on a free port, checked with http.client, and stopped
by its PID with SIGTERM (SIGKILL only if it outlives the deadline). Every wait polls.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import free_port
from tests.support.polling import wait_until
from tests.support.process import ROOT, StderrLog, rush_env
from tests.support.procfs import child_pids

gunicorn = pytest.importorskip("gunicorn.config", reason="gunicorn is in the `test` extra")

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
PUBLIC = ROOT / "examples" / "public"


class Gunicorn:
    """One gunicorn master with `workers` sync workers, serving `app` on 127.0.0.1:port."""

    def __init__(self, app: str, workers: int, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(workers), "--graceful-timeout", "5"]
        if any("--no-control-socket" in (s.cli or ()) for s in gunicorn.KNOWN_SETTINGS):
            command.append("--no-control-socket")  # not a shared file under $HOME
        full_env = {**rush_env(), "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc = subprocess.Popen(
            [*command, app],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        self.output = StderrLog(self.proc.stderr)
        self.workers: set[int] = set()
        try:
            for _ in range(workers):
                self.output.wait_for(r"Booting worker with pid", START_TIMEOUT)
            assert wait_until(lambda: len(self._children()) >= workers, START_TIMEOUT)
            assert wait_until(self._answers, START_TIMEOUT, 0.05), self.output.text
        except BaseException:
            self.stop()
            raise

    def _children(self) -> set[int]:
        pids = child_pids(self.proc.pid)
        self.workers |= pids
        return pids

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"gunicorn exited with {self.proc.returncode}:\n{self.output.text}"
            )
        try:
            return self.request("GET", "/")[0] < 500
        except OSError:
            return False

    def request(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self._children()
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        self.output.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def example() -> Iterator[Gunicorn]:
    server = Gunicorn("examples.app:app", workers=2)
    yield server
    server.stop()


def test_example_pages(example: Gunicorn) -> None:
    status, headers, body = example.request("GET", "/")
    assert (status, body) == (200, (PUBLIC / "index.html").read_bytes())
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert example.request("GET", "/hello?name=bill")[2] == b"hello, bill!"
    assert json.loads(example.request("GET", "/users/42")[2]) == {"id": 42, "name": "user42"}
    assert example.request("DELETE", "/users/42")[0] == 204
    status, _, body = example.request("GET", "/static/style.css")
    assert (status, body) == (200, (PUBLIC / "style.css").read_bytes())
    assert example.request("GET", "/nowhere")[:3:2] == (404, b"nothing here\n")


def test_example_redirect_and_head(example: Gunicorn) -> None:
    status, headers, _ = example.request("GET", "/easter")
    assert (status, headers["Location"]) == (301, "/egg")
    status, headers, body = example.request("HEAD", "/")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str((PUBLIC / "index.html").stat().st_size)


def test_example_echo_and_chunked_ingest(example: Gunicorn) -> None:
    status, headers, body = example.request(
        "POST", "/echo", b"ping", {"Content-Type": "text/x-ping"}
    )
    assert (status, body, headers["Content-Type"]) == (200, b"ping", "text/x-ping")
    blocks = [os.urandom(100_000) for _ in range(30)]
    conn = http.client.HTTPConnection("127.0.0.1", example.port, timeout=10)
    try:
        conn.request("POST", "/ingest", body=iter(blocks), encode_chunked=True)
        answer = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    expected = hashlib.sha256(b"".join(blocks)).hexdigest()
    assert answer == {"size": 3_000_000, "sha256": expected}


def test_hooks_run_in_each_worker_and_stream_both_ways(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    server = Gunicorn("tests.wsgiapp.app:app", workers=2, env={"WSGI_TEST_MARKS": str(marks)})
    try:
        status, headers, body = server.request("GET", "/count?n=5")
        assert (status, body) == (200, b"0\n1\n2\n3\n4\n")
        assert headers["Content-Length"] is None  # a stream of unknown length: chunked
        payload = os.urandom(5 * 1024 * 1024)
        status, _, body = server.request("POST", "/digest", payload)
        answer = json.loads(body)
        assert answer["size"] == len(payload)
        assert answer["sha256"] == hashlib.sha256(payload).hexdigest()
        assert answer["largest"] <= 64 * 1024
        for _ in range(6):
            assert server.request("GET", "/count")[0] == 200
    finally:
        assert server.stop() == 0
    events: dict[str, list[int]] = {"startup": [], "shutdown": []}
    for line in marks.read_text().splitlines():
        event, pid = line.split()
        events[event].append(int(pid))
    assert events["startup"], "no worker started the app"
    assert len(set(events["startup"])) == len(events["startup"])  # once per process
    assert set(events["startup"]) <= server.workers  # in workers, never in the master
    assert sorted(events["shutdown"]) == sorted(events["startup"])
