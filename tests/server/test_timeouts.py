"""Deadlines: a slow request head is cut off (slowloris), an idle keep-alive connection ends."""

from __future__ import annotations

import select
import socket
import time

import pytest

from tests.support.client import Reader, connect, request, wait_closed

HEADER_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 1.0


@pytest.fixture
def timed_server(rush_server):
    return rush_server(
        "--header-timeout",
        str(HEADER_TIMEOUT),
        "--keepalive-timeout",
        str(KEEPALIVE_TIMEOUT),
        workers=1,
    )


def _cut_off(sock: socket.socket) -> bytes | None:
    """What the server said before closing, once it has closed; None while it is open."""
    if not select.select([sock], [], [], 0)[0]:
        return None
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except BlockingIOError:
        return None
    return data


@pytest.mark.slow
def test_a_trickled_request_head_is_cut_off_while_others_are_served(timed_server):
    port = timed_server.port
    with connect(port) as slow, connect(port) as fast:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        started = time.monotonic()
        slow.setblocking(False)
        reader = Reader(fast)
        latencies = []
        said = None
        # One byte every 0.2 s, for at most 4 header timeouts; a fast request in between.
        while time.monotonic() - started < 4 * HEADER_TIMEOUT:
            try:
                slow.send(b"a")
            except (BrokenPipeError, ConnectionResetError):
                said = b""
                break
            sent_at = time.monotonic()
            fast.sendall(request("GET", "/id/fast"))
            assert reader.read_response().body == b"id=fast"
            latencies.append(time.monotonic() - sent_at)
            select.select([slow], [], [], 0.2)
            said = _cut_off(slow)
            if said is not None:
                break
        elapsed = time.monotonic() - started
    assert said is not None, "a head trickled byte by byte was never cut off"
    assert HEADER_TIMEOUT * 0.8 <= elapsed <= HEADER_TIMEOUT + 3, elapsed
    if said:
        assert said.startswith(b"HTTP/1.1 408 "), said
        assert b"\r\nConnection: close\r\n" in said
    assert len(latencies) >= 3
    assert max(latencies) < 0.5, latencies


@pytest.mark.slow
def test_an_idle_keep_alive_connection_is_closed(timed_server):
    with connect(timed_server.port) as sock:
        sock.sendall(request("GET", "/"))
        Reader(sock).read_response()
        answered = time.monotonic()
        assert wait_closed(sock, KEEPALIVE_TIMEOUT + 2.0), "idle connection never closed"
        elapsed = time.monotonic() - answered
    assert KEEPALIVE_TIMEOUT * 0.8 <= elapsed <= KEEPALIVE_TIMEOUT + 3, elapsed


@pytest.mark.slow
def test_a_connection_that_never_sends_is_closed(timed_server):
    with connect(timed_server.port) as sock:
        opened = time.monotonic()
        assert wait_closed(sock, HEADER_TIMEOUT + KEEPALIVE_TIMEOUT + 2.0)
        elapsed = time.monotonic() - opened
    assert elapsed <= max(HEADER_TIMEOUT, KEEPALIVE_TIMEOUT) + 3, elapsed


@pytest.mark.slow
def test_keep_alive_deadline_restarts_with_each_request(timed_server):
    # Requests every 0.4 s keep one connection alive well past the keep-alive timeout.
    with connect(timed_server.port) as sock:
        reader = Reader(sock)
        started = time.monotonic()
        while time.monotonic() - started < KEEPALIVE_TIMEOUT * 2.2:
            sock.sendall(request("GET", "/id/again"))
            assert reader.read_response().body == b"id=again"
            reader.expect_open(0.4)
