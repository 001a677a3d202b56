"""Slow and broken clients: each is ended by a timeout or a limit, and none slows the others.

Every scenario runs while a probe process (tests.hardening.probe) sends `GET /` on its own
keep-alive connection every 5 ms; its latency is the measure of "delaying other clients".
The server runs with 1-second header/body timeouts so the bounds are quick to observe.
"""

from __future__ import annotations

import select
import socket
import struct
import time

import pytest

from tests.hardening.servers import Probe
from tests.support.client import connect, request
from tests.support.polling import wait_until
from tests.support.procfs import open_fds, rss_kb

pytestmark = pytest.mark.slow

TIMEOUTS = ("--header-timeout", "1", "--body-timeout", "1", "--keepalive-timeout", "2")
#: Probe latency bounds in ms: the median must stay interactive, the tail under 50 ms even on
#: a small shared CI machine (the figures measured are printed and usually far lower).
P50_MS = 5.0
P99_MS = 50.0


@pytest.fixture(scope="module")
def server():
    from tests.hardening.servers import start

    shared = start("tests.hardening.app:app", *TIMEOUTS)
    yield shared
    shared.stop()


@pytest.fixture
def worker(server) -> int:
    (pid,) = server.worker_pids()
    # Every test starts from a quiet worker: nothing left over from the test before.
    assert wait_until(lambda: open_fds(pid) < 20, 10), f"{open_fds(pid)} fds open"
    return pid


def check_probe(result: dict, what: str) -> None:
    print(f"{what}: probe {result}")
    assert not result["errors"], (what, result)
    assert result["count"] >= 50, (what, result)
    assert result["p50"] < P50_MS, (what, result)
    assert result["p99"] < P99_MS, (what, result)


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_all(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes; (bytes, closed) after `timeout` at most."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def drip(socks: list[socket.socket], data: bytes, interval: float, limit: float) -> dict:
    """Send `data` one byte per `interval` on every socket until the server ends each one.

    Returns {socket: (seconds until the server answered or closed, bytes it sent)}.
    """
    started = time.monotonic()
    ended: dict[socket.socket, tuple[float, bytes]] = {}
    position = 0
    while len(ended) < len(socks) and time.monotonic() - started < limit:
        for sock in socks:
            if sock in ended:
                continue
            if select.select([sock], [], [], 0)[0]:
                got, _ = read_all(sock, 0.5)
                ended[sock] = (time.monotonic() - started, got)
                continue
            if position < len(data):
                try:
                    sock.send(data[position : position + 1])
                except OSError:
                    ended[sock] = (time.monotonic() - started, b"")
        position += 1
        time.sleep(interval)
    return ended


def test_slowloris_headers_get_408_within_the_header_timeout(server, worker) -> None:
    socks = [connect(server.port) for _ in range(100)]
    probe = Probe(server.port, seconds=2.5, interval=0.005)
    try:
        head = request("GET", "/", headers=[("X-Pad", "a" * 200)])
        ended = drip(socks, head, interval=0.05, limit=4.0)
        result = probe.result()
    finally:
        probe.stop()
        for sock in socks:
            sock.close()
    assert len(ended) == len(socks), f"{len(socks) - len(ended)} slowloris heads still open"
    for after, got in ended.values():
        assert got.startswith(b"HTTP/1.1 408 "), got[:80]
        assert b"Connection: close" in got
        assert after < 1.0 + 0.5 + 0.5, after  # the timeout, the sweep interval, slack
    check_probe(result, "slowloris headers")


def test_stalled_bodies_get_408_and_trickling_bodies_cost_nobody(server, worker) -> None:
    head = request("POST", "/echo", headers=[("Content-Length", "1000")])
    stalled = [connect(server.port) for _ in range(50)]
    trickling = [connect(server.port) for _ in range(50)]
    probe = Probe(server.port, seconds=2.5, interval=0.005)
    try:
        for sock in stalled + trickling:
            sock.sendall(head + b"x" * 10)
        # The trickle makes progress every 0.3 s (under the 1 s body timeout): it is read as
        # slowly as it is sent (bounded only by its Content-Length, as in nginx), and nobody
        # else notices.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            for sock in trickling:
                sock.send(b"y")
            time.sleep(0.3)
        result = probe.result()
        stalled_answers = [read_all(sock, 1.0) for sock in stalled]
        still_open = [not select.select([sock], [], [], 0)[0] for sock in trickling]
        assert wait_until(lambda: open_fds(worker) < 20 + len(trickling), 2)
    finally:
        probe.stop()
        for sock in stalled + trickling:
            sock.close()
    assert all(still_open), "a trickling body that kept making progress was cut off"
    for got, closed in stalled_answers:
        assert got.startswith(b"HTTP/1.1 408 ") and closed, got[:80]
    check_probe(result, "stalled and trickling bodies")


def test_clients_that_never_read_are_cut_off_with_bounded_memory(server, worker) -> None:
    before = rss_kb(worker)
    socks = []
    for _ in range(20):
        sock = connect(server.port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # 100 pipelined answers of 256 KiB each: 25 MiB per client, never read.
        sock.sendall(request("GET", "/bytes/262144") * 100)
        socks.append(sock)
    probe = Probe(server.port, seconds=2.5, interval=0.005)
    try:
        peak = before
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            peak = max(peak, rss_kb(worker))
            time.sleep(0.05)
        result = probe.result()
        # No progress for the body timeout: the server gives up on each of them.
        assert wait_until(lambda: open_fds(worker) < 20, 5), "non-reading clients kept open"
    finally:
        probe.stop()
        for sock in socks:
            reset(sock)
    print(f"never-read clients: worker RSS {before} -> peak {peak} kB")
    # Backpressure: about write_high_water (1 MiB) plus one answer buffered per client.
    assert peak - before < 20 * 4 * 1024, f"RSS grew {peak - before} kB"
    check_probe(result, "clients that never read")


def test_resets_mid_request_and_mid_response_leave_nothing_behind(server, worker) -> None:
    probe = Probe(server.port, seconds=2.5, interval=0.005)
    try:
        for round_ in range(100):
            sock = connect(server.port)
            if round_ % 3 == 0:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")  # mid-head
            elif round_ % 3 == 1:
                sock.sendall(request("POST", "/echo", headers=[("Content-Length", "100000")]))
                sock.sendall(b"z" * 5000)  # mid-body
            else:
                sock.sendall(request("GET", "/bytes/4000000"))  # mid-response
                sock.recv(1000)
            time.sleep(0.005)
            reset(sock)
        result = probe.result()
    finally:
        probe.stop()
    assert wait_until(lambda: open_fds(worker) < 20, 5), f"{open_fds(worker)} fds left open"
    assert not server.errors_logged(), server.log
    check_probe(result, "resets")


def test_half_closed_clients_get_their_answers_then_a_close(server, worker) -> None:
    probe = Probe(server.port, seconds=2.0, interval=0.005)
    try:
        for round_ in range(60):
            sock = connect(server.port)
            if round_ % 3 == 0:  # a complete request, then FIN: answered, then closed
                sock.sendall(request("GET", "/id/7") + request("POST", "/echo", body=b"abc"))
                sock.shutdown(socket.SHUT_WR)
                got, closed = read_all(sock, 2.0)
                assert got.count(b"HTTP/1.1 200 ") == 2 and got.endswith(b"abc"), got
            elif round_ % 3 == 1:  # FIN mid-head: nothing to answer, closed at once
                sock.sendall(b"GET / HTTP/1.1\r\nHo")
                sock.shutdown(socket.SHUT_WR)
                got, closed = read_all(sock, 2.0)
                assert got == b"", got
            else:  # FIN before anything
                sock.shutdown(socket.SHUT_WR)
                got, closed = read_all(sock, 2.0)
                assert got == b""
            assert closed, f"round {round_}: the half-closed connection stayed open"
            sock.close()
        result = probe.result()
    finally:
        probe.stop()
    assert wait_until(lambda: open_fds(worker) < 20, 5)
    check_probe(result, "half-closed clients")


def test_blank_lines_do_not_keep_an_idle_connection_alive(server, worker) -> None:
    """RFC 9112 §2.2 lets a server skip CRLFs before a request, but they are not a request:
    a client that sends only blank lines must still meet the keep-alive (2 s) timeout, and a
    new connection the header timeout (1 s), or one byte every second holds a slot forever."""
    fresh = connect(server.port)
    used = connect(server.port)
    try:
        used.sendall(request("GET", "/"))
        got, _ = read_all(used, 0.3)
        assert got.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        closed_at: dict[str, float] = {}
        while len(closed_at) < 2 and time.monotonic() - started < 6.0:
            for name, sock in (("fresh", fresh), ("used", used)):
                if name in closed_at:
                    continue
                if select.select([sock], [], [], 0)[0]:
                    data, closed = read_all(sock, 0.2)
                    assert data == b"" and closed, data
                    closed_at[name] = time.monotonic() - started
                    continue
                try:
                    sock.sendall(b"\r\n")
                except OSError:
                    closed_at[name] = time.monotonic() - started
            time.sleep(0.25)
    finally:
        fresh.close()
        used.close()
    assert closed_at.get("fresh", 99) < 1.0 + 0.6, closed_at
    assert closed_at.get("used", 99) < 2.0 + 0.6, closed_at


def test_an_endless_chunk_extension_is_cut_off(server, worker) -> None:
    """Chunk extensions are parsed and dropped (no memory), but their bytes are not body: a
    client streaming one forever (the CVE-2024-22019 pattern) must still meet the body
    timeout, since only body bytes count as progress."""
    sock = connect(server.port)
    try:
        sock.sendall(request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]))
        sock.sendall(b"5;name=")
        started = time.monotonic()
        got, closed = b"", False
        while time.monotonic() - started < 5.0:
            if select.select([sock], [], [], 0)[0]:
                got, closed = read_all(sock, 1.0)
                break
            try:
                sock.sendall(b"v" * 1000)
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        ended_after = time.monotonic() - started
    finally:
        sock.close()
    assert closed or got, "an endless chunk extension kept the connection open"
    assert ended_after < 1.0 + 0.6, ended_after
    assert got.startswith(b"HTTP/1.1 408 "), got[:80]
