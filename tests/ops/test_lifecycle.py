"""Signals and the process lifecycle: graceful stop, crash respawn, TTIN/TTOU, failing fast."""

from __future__ import annotations

import signal
import socket
import threading
import time

import pytest

from tests.ops.load import Load
from tests.support.client import http_get, read_response
from tests.support.polling import wait_until
from tests.support.process import ROOT, START_TIMEOUT, RushServer


def send_slow(address, seconds: float) -> socket.socket:
    sock = socket.create_connection(address, timeout=15)
    sock.sendall(f"GET /slow?t={seconds} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock


@pytest.mark.slow
def test_sigterm_lets_every_in_flight_request_finish_and_exits_0(rush):
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", ready=2)
    socks = [send_slow(server.address, 0.5) for _ in range(6)]
    assert wait_until(lambda: server.count("slow request started") >= 2, 5), server.log
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    answers = []
    for sock in socks:
        with sock:
            status, _, body = read_response(sock)
            answers.append((status, body))
    assert answers == [(200, b"slept")] * 6, answers
    assert server.wait_exit(10) == 0, server.log
    assert time.monotonic() - started < 8
    assert server.count("shutdown hook ran") == 2
    assert "did not stop in time" not in server.log


def test_a_second_sigint_stops_at_once(rush):
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", ready=2)
    sock = send_slow(server.address, 30)
    with sock:
        server.wait_for("slow request started")
        started = time.monotonic()
        server.signal(signal.SIGINT)
        server.wait_for("stopping 2 worker")
        server.signal(signal.SIGINT)
        assert server.wait_exit(5) is not None, server.log
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_a_worker_killed_under_load_is_respawned_and_only_its_requests_fail(rush):
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", ready=2)
    with Load(server.address, threads=4) as load:
        assert wait_until(lambda: load.total().ok >= 200, 10), load.total()
        victim = min(server.workers())
        mark = server.mark()
        server.workers()
        import os

        os.kill(victim, signal.SIGKILL)
        server.wait_for(rf"\(pid {victim}\) died \(signal 9\); restarting", 5, mark)
        server.wait_for(r"started worker \d \(pid \d+\)", 5, mark)
        before = load.total().ok
        assert wait_until(lambda: load.total().ok >= before + 300, 10), load.total()
        tally = load.stop()
    print(f"SIGKILL of one worker under load: {tally}")
    # At most the killed worker's in-flight requests: one per client thread.
    assert len(tally.failures) <= 4, tally
    assert len(server.workers()) == 2 and victim not in server.workers()


def test_ttin_adds_a_worker_and_ttou_removes_one(rush):
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", ready=2)
    for expected in (3, 4):
        server.signal(signal.SIGTTIN)
        assert wait_until(lambda n=expected: len(server.workers()) == n, 5), server.log
    for expected in (3, 2, 1):
        server.signal(signal.SIGTTOU)
        assert wait_until(lambda n=expected: len(server.workers()) == n, 5), server.log
    mark = server.mark()
    server.signal(signal.SIGTTOU)
    server.wait_for("SIGTTOU ignored: one worker is the fewest", 5, mark)
    assert len(server.workers()) == 1
    pids = {int(http_get(server.address, "/pid")[1]) for _ in range(10)}
    assert pids == server.workers()


def test_an_app_that_cannot_import_fails_fast_without_starting_workers():
    import subprocess
    import sys

    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rush",
            "tests.ops.apps.broken:app",
            "--workers",
            "2",
            "--bind",
            "127.0.0.1:0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "broken on purpose" in result.stderr
    assert "started worker" not in result.stderr
    assert time.monotonic() - started < 10


def test_a_worker_that_fails_to_boot_under_a_master_stops_it_once(rush):
    # One worker, but --max-requests needs a master: the boot failure must still stop it.
    server = RushServer(
        "tests.apps.bootfail:app",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--max-requests",
        "10",
    )
    try:
        assert server.wait_exit(15) == 3, server.log
        assert "failed to boot; stopping" in server.log
        assert server.count(r"started worker") == 1
    finally:
        server.stop()


def test_signals_reach_an_in_process_worker_harmlessly(rush):
    # workers=1 without master options serves in-process: TTIN/TTOU must not stop it,
    # USR1 reopens logs, and SIGTERM still stops it gracefully.
    server = rush("--bind", "127.0.0.1:0", "--workers", "1")
    for signum in (signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1):
        server.signal(signum)
    assert http_get(server.address, "/")[0] == 200
    server.signal(signal.SIGTERM)
    assert server.wait_exit(5) == 0, server.log


@pytest.mark.parametrize(("workers", "how"), [(1, "(1 worker, in-process)"), (2, "(2 workers)")])
def test_listening_is_logged_once_the_workers_accept(rush, tmp_path, workers, how):
    gate = tmp_path / "gate"
    server = rush(
        "--bind",
        "127.0.0.1:0",
        "--workers",
        str(workers),
        app="tests.ops.apps.gated:app",
        env={"GATE_FILE": str(gate)},
        ready=None,
    )
    assert wait_until(lambda: server.count("startup hook waiting") == workers, START_TIMEOUT), (
        server.log
    )
    assert "listening on" not in server.log  # bound, even forked, but not accepting yet
    gate.touch()
    server.wait_ready(workers, answers=True)
    lines = server.output.snapshot()
    listening = [i for i, line in enumerate(lines) if "listening on" in line]
    done = [i for i, line in enumerate(lines) if "startup hook done" in line]
    assert len(listening) == 1 and lines[listening[0]].endswith(how), server.log
    assert len(done) == workers and max(done) < listening[0], server.log


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_server_that_fails_to_boot_never_says_it_listens(rush, workers):
    server = rush(
        "--bind", "127.0.0.1:0", "--workers", workers, app="tests.apps.bootfail:app", ready=None
    )
    assert server.wait_exit(15) == 3, server.log
    assert "database unreachable" in server.log
    assert "listening on" not in server.log


def _unused(*_: object) -> None:  # keep threading imported for ad-hoc debugging
    threading.current_thread()
