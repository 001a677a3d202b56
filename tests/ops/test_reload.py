"""SIGHUP: a rolling reload under continuous load, new code, and a reload that cannot import."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.ops.load import Load
from tests.support.client import http_get
from tests.support.polling import wait_until
from tests.support.procfs import alive

pytestmark = pytest.mark.slow


def set_version(project: Path, version: str) -> None:
    path = project / "hotapp.py"
    text = path.read_text()
    start = text.index('VERSION = "') + len('VERSION = "')
    end = text.index('"', start)
    path.write_text(text[:start] + version + text[end:])


def test_sighup_under_load_fails_nothing_and_the_new_code_answers(rush, project):
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", app="hotapp:app", cwd=project, ready=2)
    with Load(server.address, threads=4) as load:
        assert wait_until(lambda: load.total().ok >= 200, 10), load.total()
        for version in ("v2", "v3"):
            set_version(project, version)
            mark = server.mark()
            server.signal(signal.SIGHUP)
            server.wait_for(r"reload complete: \d+ worker\(s\) run generation", 20, mark)
            body = version.encode()
            assert wait_until(lambda body=body: body in load.total().bodies, 5), load.total()
            goal = load.total().ok + 200
            assert wait_until(lambda goal=goal: load.total().ok >= goal, 10), load.total()
        tally = load.stop()
    print(f"SIGHUP x2 under load: {tally}")
    assert tally.failures == [], tally
    assert tally.retried == 0, tally
    assert tally.ok > 600
    # Only the new code answers once the reload is complete, and the old workers are gone.
    assert {http_get(server.address, "/")[1] for _ in range(20)} == {b"v3"}
    assert wait_until(lambda: len(server.workers()) == 2, 10), server.log
    assert server.count(r"retires: pid \d+ serves in its place") == 4


def test_a_reload_whose_code_does_not_import_keeps_the_old_workers(rush, project):
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", app="hotapp:app", cwd=project, ready=2)
    old_workers = server.workers()
    (project / "hotapp.py").write_text("VERSION = 'v2'\nthis is not python(\n")
    with Load(server.address, threads=2) as load:
        mark = server.mark()
        server.signal(signal.SIGHUP)
        server.wait_for(r"cannot load the new code: .*never closed", 10, mark)
        server.wait_for(r"reload failed: .*generation 0 keep serving", 10, mark)
        before = load.total().ok
        assert wait_until(lambda: load.total().ok >= before + 100, 10), load.total()
        tally = load.stop()
    assert tally.failures == [], tally
    assert set(tally.bodies) == {b"v1"}
    assert server.workers() == old_workers
    assert server.proc.poll() is None
    # Fixed code reloads fine afterwards.
    set_version_text = project / "hotapp.py"
    set_version_text.write_text((Path(__file__).parent / "apps" / "opsapp.py").read_text())
    set_version(project, "v4")
    mark = server.mark()
    server.signal(signal.SIGHUP)
    server.wait_for(r"reload complete", 20, mark)
    assert http_get(server.address, "/")[1] == b"v4"


def test_dev_reload_restarts_workers_when_a_source_file_changes(rush, project):
    server = rush(
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--reload",
        app="hotapp:app",
        cwd=project,
        ready=1,
    )
    server.wait_for(r"reload: watching 1 directory")
    mark = server.mark()
    time.sleep(0.05)
    set_version(project, "v2")
    server.wait_for(r"reload: hotapp\.py changed", 5, mark)
    server.wait_for(r"reload complete", 15, mark)
    assert http_get(server.address, "/")[1] == b"v2"


def test_a_new_worker_whose_master_dies_while_it_loads_stops_too(rush, project):
    """The master is SIGKILLed while a reload's worker still imports the new code: that
    worker must not take the pid it is then reparented to for its master and serve on."""
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", app="hotapp:app", cwd=project, ready=2)
    source = (project / "hotapp.py").read_text()
    (project / "hotapp.py").write_text(source + "\ntime.sleep(1.5)  # the import is slow\n")
    mark = server.mark()
    server.signal(signal.SIGHUP)
    found = server.wait_for(r"worker \d \(pid (\d+)\) runs generation 1", 10, mark)
    loading = int(found.group(1))
    os.kill(server.pid, signal.SIGKILL)
    server.proc.wait(5)
    assert wait_until(lambda: not alive(loading), 10), server.log
    assert "the master (pid" in server.log
