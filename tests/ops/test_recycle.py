"""max_requests recycling under load, and the watchdog for stuck handlers and workers."""

from __future__ import annotations

import os
import signal
import socket
import threading

import pytest

from tests.ops.load import Load
from tests.support.client import http_get
from tests.support.polling import wait_until


@pytest.mark.slow
def test_max_requests_recycles_workers_under_load_without_a_failure(rush):
    server = rush(
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--max-requests",
        "150",
        "--max-requests-jitter",
        "30",
        ready=2,
    )
    first = server.workers()

    def recycled() -> bool:
        retired = server.count(r"retires: pid \d+ serves in its place")
        return retired >= 4 and not (server.workers() & first)

    with Load(server.address, threads=4) as load:
        assert wait_until(recycled, 30), f"{load.total()}\n{server.log}"
        tally = load.stop()
    print(
        f"max_requests recycling under load: {tally}; "
        f"{server.count('served max_requests')} replacements"
    )
    assert tally.failures == [], tally
    assert tally.retried == 0, tally
    assert wait_until(lambda: len(server.workers()) == 2, 10)
    assert "died" not in server.log


@pytest.mark.slow
def test_the_watchdog_logs_a_stuck_handler_and_replaces_its_worker(rush):
    server = rush(
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--handler-timeout",
        "0.5",
        "--worker-timeout",
        "2",
        ready=2,
    )
    stuck = socket.create_connection(server.address, timeout=30)
    stuck.sendall(b"GET /slow?t=60&who=stuck HTTP/1.1\r\nHost: test\r\n\r\n")
    try:
        found = server.wait_for(
            r"worker (\d) \(pid (\d+)\) has been handling 'GET /slow\?t=60&who=stuck HTTP/1.1' "
            r"for \d\.\d s \(handler_timeout 0.5 s\); its stack follows",
            5,
        )
        pid = int(found.group(2))
        # faulthandler's dump, from the worker itself: the handler's frame is in it.
        server.wait_for(r'File ".*opsapp\.py", line \d+ in slow', 5)
        server.wait_for(
            rf"\(pid {pid}\) has been stuck for \d\.\d s \(worker_timeout 2 s\) handling "
            r"'GET /slow\?t=60&who=stuck HTTP/1.1'; replacing it",
            5,
        )
        server.wait_for(rf"\(pid {pid}\) replaced after the watchdog killed it", 5)
        assert wait_until(lambda: pid not in server.workers() and len(server.workers()) == 2, 5)
        assert server.count("has been handling") == 1  # logged once, not at every check
        assert {http_get(server.address, "/")[0] for _ in range(10)} == {200}
    finally:
        stuck.close()


@pytest.mark.slow
def test_handler_timeout_alone_only_logs(rush):
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", "--handler-timeout", "0.3", ready=2)
    results = []
    thread = threading.Thread(
        target=lambda: results.append(http_get(server.address, "/slow?t=1.2"))
    )
    thread.start()
    server.wait_for(r"has been handling 'GET /slow\?t=1.2 HTTP/1.1'", 5)
    thread.join(10)
    assert results == [(200, b"slept")]
    assert server.count("has been handling") == 1
    assert "replacing it" not in server.log


def test_sigusr2_prints_a_workers_stack(rush):
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", ready=2)
    # The worker that answers is in its loop (another may still be starting: its stack is
    # not in loop.py yet, as CI once caught).
    worker = int(http_get(server.address, "/pid")[1])
    assert worker in server.workers()
    os.kill(worker, signal.SIGUSR2)
    server.wait_for(r'File ".*loop\.py", line \d+ in run', 5)
    assert worker in server.workers()
