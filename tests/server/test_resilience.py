"""Clients that misbehave at the socket level: never read, vanish mid-request or mid-response."""

from __future__ import annotations

import select
import time

import pytest

from tests.support.client import Reader, connect, get, request, reset
from tests.support.procfs import rss_kb

RSS_GROWTH_LIMIT_KB = 50 * 1024


@pytest.mark.slow
def test_a_client_that_pipelines_and_never_reads_is_bounded(rush_server):
    server = rush_server(workers=1)  # in-process: the master is the worker
    for _ in range(3):
        assert get(server.port, "/big").status == 200  # warm up: imports, buffers
    baseline = rss_kb(server.pid)
    # Each request is ~30 bytes and its answer 64 KiB: without backpressure on the answers,
    # what one read parses alone would be hundreds of megabytes of responses.
    batch = request("GET", "/big") * 1000
    with connect(server.port) as greedy:
        greedy.setblocking(False)
        sent = 0
        peak = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            peak = max(peak, rss_kb(server.pid) - baseline)
            assert peak < RSS_GROWTH_LIMIT_KB, f"worker RSS grew by {peak} KiB"
            if not select.select([], [greedy], [], 0.5)[1]:
                break  # the server stopped reading: nothing drains our send buffer
            sent += greedy.send(batch)
            assert sent < 64 * 1024 * 1024, "the server never stopped reading"
        else:
            pytest.fail("the greedy client could always send more")
        assert sent // len(request("GET", "/big")) > 2000  # thousands of requests are queued
        peak = max(peak, rss_kb(server.pid) - baseline)
        assert peak < RSS_GROWTH_LIMIT_KB, f"worker RSS grew by {peak} KiB"
        # Another client is still served promptly meanwhile.
        started = time.monotonic()
        assert get(server.port, "/id/other").body == b"id=other"
        assert time.monotonic() - started < 2.0
        reset(greedy)
    assert get(server.port, "/id/after").body == b"id=after"


def test_a_slow_reader_gets_every_pipelined_answer_in_order(rush_server):
    # Backpressure must pause, not drop: a client that reads late still gets every answer.
    server = rush_server(workers=1)
    count = 300  # ~19 MiB of answers, far above the write high-water mark
    with connect(server.port) as sock:
        sock.sendall(
            b"".join(request("GET", "/big") + request("GET", f"/id/{i}") for i in range(count))
        )
        reader = Reader(sock, timeout=10)
        for i in range(count):
            big = reader.read_response()
            assert big.status == 200 and len(big.body) == 64 * 1024
            assert reader.read_response().body == f"id={i}".encode()
        reader.expect_open(0.1)


def _assert_worker_fine(server, pid: int) -> None:
    assert int(get(server.port, "/pid").body) == pid
    assert server.proc.poll() is None
    log = server.log
    assert "Traceback" not in log and "ERROR" not in log, log


def test_a_client_that_resets_mid_request_is_a_quiet_close(rush_server):
    server = rush_server(workers=1)
    pid = int(get(server.port, "/pid").body)
    with connect(server.port) as sock:
        sock.sendall(b"GET /id/half HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: ye")
        reset(sock)
    with connect(server.port) as sock:
        sock.sendall(request("POST", "/echo", [("Content-Length", "100000")], b"x" * 1000))
        reset(sock)
    with connect(server.port) as sock:
        sock.sendall(request("POST", "/echo", [("Transfer-Encoding", "chunked")], b"10\r\nabc"))
        reset(sock)
    _assert_worker_fine(server, pid)


def test_a_client_that_resets_mid_response_is_a_quiet_close(rush_server):
    server = rush_server(workers=1)
    pid = int(get(server.port, "/pid").body)
    for _ in range(3):
        with connect(server.port) as sock:
            sock.sendall(request("GET", "/big") * 200)  # ~13 MiB of answers, mostly unsent
            Reader(sock).read_until(b"\r\n\r\n", time.monotonic() + 5)  # answering has begun
            reset(sock)
    _assert_worker_fine(server, pid)


def test_a_client_that_half_closes_still_gets_its_answers(rush_server):
    server = rush_server(workers=1)
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/id/1") + request("GET", "/big") + request("GET", "/id/3"))
        sock.shutdown(1)  # SHUT_WR: "no more requests", but it still reads
        reader = Reader(sock)
        assert reader.read_response().body == b"id=1"
        assert len(reader.read_response().body) == 64 * 1024
        assert reader.read_response().body == b"id=3"
        reader.expect_closed()


def test_a_framing_error_is_answered_after_held_back_answers(rush_server):
    # 40 answers of 64 KiB pass the write high-water mark: most wait for the client to read,
    # and the 400 for the bad request behind them must still come last.
    server = rush_server(workers=1)
    bad = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/big") * 40 + request("GET", "/id/last") + bad)
        reader = Reader(sock, timeout=10)
        for _ in range(40):
            assert len(reader.read_response().body) == 64 * 1024
        assert reader.read_response().body == b"id=last"
        error = reader.read_response()
        assert error.status == 400 and error.closes
        reader.expect_closed()


def test_connection_close_after_held_back_answers_ends_the_connection(rush_server):
    server = rush_server(workers=1)
    with connect(server.port) as sock:
        sock.sendall(
            request("GET", "/big") * 40
            + request("GET", "/id/last", [("Connection", "close")])
            + request("GET", "/id/ignored")
            + b"garbage that is never parsed\r\n\r\n"
        )
        reader = Reader(sock, timeout=10)
        for _ in range(40):
            assert len(reader.read_response().body) == 64 * 1024
        last = reader.read_response()
        assert last.body == b"id=last" and last.closes
        reader.expect_closed()
