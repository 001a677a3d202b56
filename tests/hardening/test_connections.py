"""Many connections on one worker: the descriptor limit, `max_connections`, 10,000 idle clients.

What happens at each limit:
- `max_connections` reached: the worker stops accepting; new connections complete the TCP
  handshake in the kernel and wait in the listen backlog, unanswered, until a connection
  closes; then they are accepted and served. Existing connections are unaffected.
- RLIMIT_NOFILE reached (accept fails with EMFILE): the worker leaves the connection in the
  backlog, pauses accepting for 100 ms and tries again (or sooner, when a connection closes);
  existing connections are unaffected. The worker raises its soft limit toward the hard limit
  at boot, so this only happens when the hard limit is lower than `max_connections` needs.
- The backlog itself full: the kernel drops new SYNs and clients retry (connect just waits).
"""

from __future__ import annotations

import resource
import select
import socket
import time

import pytest

from tests.hardening.servers import Probe, raise_own_nofile
from tests.support.client import connect, request
from tests.support.polling import wait_until
from tests.support.procfs import nofile_limit, open_fds, rss_kb

GET = request("GET", "/")


def readable(sock: socket.socket, timeout: float) -> bool:
    """poll(), not select(): the 10,000-connection test has descriptors above 1024."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def answered(sock: socket.socket, timeout: float = 5.0) -> bool:
    """One `200 ok` answer to GET / (the hardening app's index) arrives within `timeout`."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        if not readable(sock, max(0.0, deadline - time.monotonic())):
            return False
        chunk = sock.recv(4096)
        if not chunk:
            return False
        data += chunk
    return data.startswith(b"HTTP/1.1 200 ")


def quiet(sock: socket.socket, timeout: float) -> bool:
    """True when nothing arrives on `sock` for `timeout` seconds."""
    return not readable(sock, timeout)


def test_worker_raises_its_descriptor_limit_at_boot(serve) -> None:
    server = serve("--max-connections", "1000", nofile=(256, 4096))
    (worker,) = server.worker_pids()
    soft, hard = nofile_limit(worker)
    assert hard == 4096
    assert soft >= 1000, f"soft limit {soft}: 1000 connections cannot fit"


def test_max_connections_waits_in_the_backlog_then_serves(serve) -> None:
    server = serve("--max-connections", "5", "--keepalive-timeout", "30")
    held = [connect(server.port) for _ in range(5)]
    try:
        for sock in held:
            sock.sendall(GET)
            assert answered(sock)
        waiting = connect(server.port)  # the handshake completes in the kernel backlog
        waiting.sendall(GET)
        assert quiet(waiting, 0.4), "a sixth connection was served over max_connections=5"
        for sock in held:  # existing connections are unaffected
            sock.sendall(GET)
            assert answered(sock)
        held.pop().close()
        started = time.monotonic()
        assert answered(waiting), "the waiting connection was not served after one closed"
        assert time.monotonic() - started < 1.0
        waiting.close()
    finally:
        for sock in held:
            sock.close()


def test_descriptor_limit_reached_waits_then_serves(serve) -> None:
    """A hard RLIMIT_NOFILE lower than max_connections: EMFILE never hurts a connection."""
    server = serve("--max-connections", "1000", "--keepalive-timeout", "30", nofile=(40, 40))
    (worker,) = server.worker_pids()
    clients = []
    try:
        for _ in range(50):
            sock = connect(server.port)
            sock.sendall(GET)
            clients.append(sock)
        ready = [s for s in clients if not quiet(s, 0.05)]
        waiting = [s for s in clients if s not in ready]
        assert ready and waiting, "expected some connections served and some waiting"
        assert all(answered(s) for s in ready)
        assert open_fds(worker) <= 40
        server.wait_for("accept failed", timeout=5)
        for sock in ready:  # existing connections are unaffected by the EMFILE pauses
            sock.sendall(GET)
            assert answered(sock)
        for sock in ready:
            sock.close()
        assert all(answered(s) for s in waiting), "waiting connections not served after closes"
        assert server.proc.poll() is None
    finally:
        for sock in clients:
            sock.close()


IDLE = 10_000


def open_idle(port: int, count: int, batch: int = 500) -> list[socket.socket]:
    """`count` keep-alive connections, each answered once, opened `batch` at a time."""
    held: list[socket.socket] = []
    poller = select.epoll()
    try:
        while len(held) < count:
            group = []
            for _ in range(min(batch, count - len(held))):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(GET)
                group.append(sock)
            pending = {sock.fileno(): sock for sock in group}
            got = {fd: b"" for fd in pending}
            for fd in pending:
                poller.register(fd, select.EPOLLIN)
            deadline = time.monotonic() + 20
            while pending and time.monotonic() < deadline:
                for fd, _ in poller.poll(1.0):
                    got[fd] += pending[fd].recv(4096)
                    if got[fd].endswith(b"\r\n\r\nok"):
                        poller.unregister(fd)
                        del pending[fd]
            assert not pending, f"{len(pending)} connections not answered ({len(held)} held)"
            held += group
    except BaseException:
        for sock in held:
            sock.close()
        raise
    finally:
        poller.close()
    return held


@pytest.mark.slow
def test_ten_thousand_idle_keepalive_connections_on_one_worker(serve, record_property) -> None:
    if raise_own_nofile(IDLE + 500) < IDLE + 500:
        pytest.skip("the test client cannot open 10,000 sockets here")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    server = serve(
        "--max-connections",
        str(IDLE + 100),
        "--keepalive-timeout",
        "120",
        "--backlog",
        "4096",
    )
    (worker,) = server.worker_pids()
    if nofile_limit(worker)[1] < IDLE + 100:
        pytest.skip(f"hard descriptor limit {hard} is below 10,000 connections")
    started = time.monotonic()
    held = open_idle(server.port, IDLE)
    try:
        opened_in = time.monotonic() - started
        assert wait_until(lambda: open_fds(worker) >= IDLE, 10)
        probe = Probe(server.port, seconds=2.0, interval=0.005)
        fresh = Probe(server.port, seconds=2.0, interval=0.02, fresh=True)
        keepalive, new = probe.result(), fresh.result()
        figures = {
            "held": len(held),
            "opened_s": round(opened_in, 2),
            "worker_fds": open_fds(worker),
            "worker_rss_kb": rss_kb(worker),
            "probe": keepalive,
            "fresh_probe": new,
        }
        record_property("figures", figures)
        print(figures)
        for result in (keepalive, new):
            assert not result["errors"], figures
            assert result["count"] > 20, figures
            assert result["p99"] < 50, figures
        # A sample of the idle connections still answers at once.
        for sock in held[:: IDLE // 50]:
            sock.sendall(GET)
            assert answered(sock)
    finally:
        for sock in held:
            sock.close()
    assert wait_until(lambda: open_fds(worker) < 100, 20)
