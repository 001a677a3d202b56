"""The process model: in-process single worker, respawn, graceful stop, boot failures."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.support.client import Reader, connect, get, request
from tests.support.polling import wait_until
from tests.support.process import run_rush
from tests.support.procfs import listening_sockets


def test_one_worker_serves_in_process(rush_server):
    server = rush_server(workers=1)
    assert "(1 worker, in-process)" in server.log
    assert server.workers() == set()
    assert int(get(server.port, "/pid").body) == server.pid


def test_workers_are_children_of_the_master(rush_server):
    server = rush_server(workers=2)
    workers = wait_until(lambda: len(server.workers()) == 2 and server.workers(), 5)
    assert workers, server.log
    assert {pid for _, pid in server.started_workers()} == workers
    seen = {int(get(server.port, "/pid").body) for _ in range(20)}
    assert seen <= workers
    assert server.pid not in seen


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_service_goes_on(rush_server):
    server = rush_server(workers=2)
    workers = wait_until(lambda: len(server.workers()) == 2 and server.workers(), 5)
    assert workers, server.log
    victim, survivor = sorted(workers)
    mark = server.mark()
    os.kill(victim, signal.SIGKILL)
    server.wait_for(rf"worker \d \(pid {victim}\) died \(signal 9\); restarting", start=mark)
    started = server.wait_for(r"started worker \d \(pid (\d+)\)", start=mark)
    replacement = int(started.group(1))
    assert replacement not in (victim, survivor)
    assert wait_until(lambda: server.workers() == {survivor, replacement}, 5), server.workers()
    assert wait_until(lambda: listening_sockets(server.port) == 2, 5)
    seen = set()
    for _ in range(40):
        response = get(server.port, "/pid")
        assert response.status == 200
        seen.add(int(response.body))
    assert seen <= {survivor, replacement}
    assert server.proc.poll() is None


@pytest.mark.slow
def test_sigterm_lets_an_in_flight_request_finish(rush_server):
    server = rush_server(workers=2)
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/slow?t=1"))
        server.wait_for(r"slow request started")
        sent_term = time.monotonic()
        server.signal(signal.SIGTERM)
        response = Reader(sock).read_response()
        assert response.status == 200
        assert response.body == b"slept"
        assert server.wait_exit(10) == 0, server.log
    assert time.monotonic() - sent_term < 5
    assert "did not stop in time" not in server.log


@pytest.mark.slow
def test_sigterm_answers_requests_already_queued(rush_server):
    # The one worker is busy in a slow handler when SIGTERM arrives; then a client connects
    # and sends a request, which waits in the listen queue. Stopping takes what is queued on
    # the listener: that connection already holds a request, so it is answered, not dropped.
    server = rush_server(workers=1)
    with connect(server.port) as busy:
        busy.sendall(request("GET", "/slow?t=1"))
        server.wait_for(r"slow request started")
        server.signal(signal.SIGTERM)
        with connect(server.port) as queued:
            queued.sendall(request("GET", "/id/queued"))
            assert Reader(busy).read_response().body == b"slept"
            reader = Reader(queued)
            response = reader.read_response()
            assert response.body == b"id=queued"
            assert response.closes  # the server is stopping: no keep-alive
            reader.expect_closed()
    assert server.wait_exit(10) == 0, server.log


@pytest.mark.slow
def test_a_request_outliving_the_graceful_timeout_is_killed(rush_server):
    server = rush_server("--graceful-timeout", "0.5", workers=2)
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/slow?t=30"))
        server.wait_for(r"slow request started")
        workers = server.workers()
        assert len(workers) == 2
        sent_term = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait_exit(10) is not None, server.log
        elapsed = time.monotonic() - sent_term
        Reader(sock).expect_closed(1)
    assert 0.4 <= elapsed < 5, elapsed
    assert "did not stop in time; killing" in server.log
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers), 2)


def test_sigterm_with_idle_connections_stops_at_once(rush_server):
    server = rush_server(workers=2)
    with connect(server.port) as idle:
        idle.sendall(request("GET", "/"))
        reader = Reader(idle)
        reader.read_response()
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait_exit(5) == 0, server.log
        reader.expect_closed(1)
    assert time.monotonic() - started < 5  # far below the 30 s graceful timeout


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_that_fails_to_boot_stops_the_master(workers):
    result = run_rush("tests.apps.bootfail:app", "--bind", "127.0.0.1:0", "--workers", str(workers))
    assert result.returncode not in (0, 2), result.stderr
    assert "database unreachable" in result.stderr
    if workers > 1:
        assert "failed to boot; stopping" in result.stderr
        # Each worker started once: no respawn loop.
        assert len(re.findall(r"started worker \d", result.stderr)) == workers, result.stderr


def test_an_object_that_is_not_an_app_is_refused_before_any_worker_starts():
    result = run_rush("tests.apps.basic:BIG", "--bind", "127.0.0.1:0", "--workers", "2")
    assert result.returncode == 2, result.stderr
    assert "'tests.apps.basic:BIG' (type bytes) is neither a Rush app nor callable" in (
        result.stderr
    )
    assert "started worker" not in result.stderr


@pytest.mark.slow
def test_workers_stop_when_the_master_is_killed(rush_server):
    """A SIGKILLed master leaves no orphan workers serving on the port."""
    server = rush_server(workers=2)
    workers = wait_until(lambda: len(server.workers()) == 2 and server.workers(), 5)
    assert workers, server.log
    os.kill(server.pid, signal.SIGKILL)
    server.proc.wait(5)

    def gone(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/status") as status:
                return any(line.split()[1] == "Z" for line in status if line.startswith("State:"))
        except FileNotFoundError:
            return True

    assert wait_until(lambda: all(gone(pid) for pid in workers), 5), server.log
    assert "the master (pid" in server.log
