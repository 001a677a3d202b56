"""Fuzzing the protocol layer and a whole connection with Hypothesis.

Two layers, one oracle:
- The parser (rush.protocol) gets generated request streams whose framing is known, the same
  streams broken by a known smuggling trick, mutated corpus cases and random bytes, cut at
  random points. Known streams must parse to exactly the requests generated; a broken request
  and everything after it must never be handed out.
- A real rush.server.connection.Connection serves the hardening app over a socketpair inside an
  EventLoop driven one iteration at a time. Whatever the bytes and however they are cut, the
  client must read exactly one answer per request the parser completes (each answer matching
  its own request's id), then the error the parser reports with `Connection: close`, and the
  connection must end without leaking anything.

Bounded for CI (`RUSH_FUZZ_EXAMPLES`, default 200 per test, derandomized); for a long local run:

    RUSH_FUZZ_EXAMPLES=100000 python -m pytest tests/hardening/test_fuzz.py -p no:cacheprovider

A long run draws fresh random examples; every failure it finds becomes a corpus case under
tests/protocol/corpus/.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rush.protocol import Limits, ProtocolError, RequestParser
from rush.server.connection import Connection, ServerContext
from rush.server.loop import EventLoop
from tests.hardening.app import app
from tests.hardening.grammar import Req, hostile_streams, streams
from tests.support.protocol import Outcome, feed_pieces, load_cases, mutated_streams, split_at

EXAMPLES = int(os.environ.get("RUSH_FUZZ_EXAMPLES", "200"))
LONG = "RUSH_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIMITS = Limits(max_request_line=512, max_header_bytes=2048, max_header_count=16, max_body=4096)
ERRORS = {400, 413, 414, 417, 431, 505}
SEEDS = [case.data for case in load_cases("valid") + load_cases("invalid")]
#: Examples run per test, reported at the end of the module (see `test_zz_report`).
RUNS: Counter[str] = Counter()
STARTED = time.monotonic()

app.prepare()


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut at up to 12 random points (or byte by byte, now and then)."""
    if len(data) > 1 and draw(st.integers(0, 15)) == 0:
        return [data[i : i + 1] for i in range(len(data))]
    points = draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12))
    return split_at(data, points)


# A corpus stream with byte-level edits biased toward framing characters.
MUTATED = mutated_streams(SEEDS, b'\r\n\t :;,\x00\x0b\x7f\xff0123456789aAfFxX-/?*"')


ANY_STREAM = st.one_of(
    streams().map(lambda reqs: b"".join(r.wire() for r in reqs)),
    hostile_streams().map(lambda h: h[2]),
    MUTATED,
    st.binary(max_size=400),
    st.lists(st.sampled_from(SEEDS), min_size=1, max_size=3).map(b"".join),
)


def same_request(message, req: Req) -> bool:
    return (
        message.method == req.method
        and message.target == req.target
        and message.body == req.body
        and message.keep_alive == req.keep_alive
    )


# -- the parser --------------------------------------------------------------------------------


@FUZZ
@given(st.data())
def test_generated_streams_parse_to_exactly_the_generated_requests(data) -> None:
    RUNS["parser/generated"] += 1
    reqs = data.draw(streams())
    stream = b"".join(r.wire() for r in reqs)
    outcome = feed_pieces(data.draw(cuts(stream)), LIMITS)
    assert outcome.status is None and not outcome.pending, (stream, outcome)
    assert len(outcome.answered) == len(reqs), (stream, outcome)
    for message, req in zip(outcome.answered, reqs, strict=True):
        assert same_request(message, req), (stream, message, req)


@FUZZ
@given(st.data())
def test_a_smuggling_trick_is_refused_and_nothing_after_it_is_answered(data) -> None:
    RUNS["parser/hostile"] += 1
    reqs, index, stream = data.draw(hostile_streams())
    outcome = feed_pieces(data.draw(cuts(stream)), LIMITS)
    assert outcome.status in ERRORS, (stream, outcome)
    assert not outcome.pending
    assert len(outcome.answered) == index, (stream, index, outcome)
    for message, req in zip(outcome.answered, reqs, strict=False):
        assert same_request(message, req), (stream, message, req)


@FUZZ
@given(st.data())
def test_parser_survives_anything_and_dies_cleanly(data) -> None:
    """Only ProtocolError escapes; after one, the parser stays dead and hands out nothing."""
    RUNS["parser/anything"] += 1
    stream = data.draw(ANY_STREAM)
    parser = RequestParser(LIMITS)
    failed = False
    for piece in data.draw(cuts(stream)) + [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]:
        try:
            messages = parser.feed(piece)
        except ProtocolError as error:
            assert not failed and error.status in ERRORS
            failed = True
            continue
        assert not (failed and messages), "a dead parser handed out a message"


# -- a whole connection ------------------------------------------------------------------------


class Harness:
    """One Connection on a socketpair, its EventLoop run one iteration at a time.

    `high_water` and `sndbuf` small, and a client that reads only now and then (`lazy`), push
    the connection through partial writes, backpressure and held-back pipelined requests.
    """

    def __init__(self, high_water: int = 256 * 1024, sndbuf: int = 0, lazy: bool = False):
        self.loop = EventLoop()
        self.ctx = ServerContext(self.loop, app, LIMITS, 10.0, 10.0, 10.0, high_water)
        server_side, self.client = socket.socketpair()
        if sndbuf:
            server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, sndbuf)
        server_side.setblocking(False)
        self.client.setblocking(False)
        self.connection = Connection(server_side, "127.0.0.1", self.ctx)
        self.received = bytearray()
        self.eof = False
        self.lazy = lazy

    def step(self) -> None:
        self.loop.call_later(0, self.loop.stop)
        self.loop.run()

    def pump(self) -> None:
        while not self.eof:
            try:
                data = self.client.recv(65536)
            except BlockingIOError:
                return
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
            self.received += data

    def send(self, piece: bytes) -> None:
        view = memoryview(piece)
        for _ in range(10_000):
            if not view:
                break
            try:
                view = view[self.client.send(view) :]
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                break  # the server closed: the rest is not read, which is allowed
            self.step()
            self.pump()
        self.step()
        if not self.lazy:
            self.pump()

    def finish(self) -> None:
        """Half-close like a client that has sent everything, then run until the end."""
        try:
            self.client.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        for _ in range(1000):
            self.step()
            self.pump()
            if self.eof and self.connection.closed:
                break
        self.client.close()
        self.loop.close()


_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def split_responses(
    data: bytes, heads: set[int], truncated_ok: bool = False
) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Cut the client's bytes into final responses (1xx skipped); asserts exact framing.

    `truncated_ok`: the last response may end early (the server gave up on a stalled write),
    in which case it is left out.
    """
    answers = []
    rest = memoryview(data)
    while rest:
        end = bytes(rest[:65536]).find(b"\r\n\r\n")
        if end == -1 and truncated_ok:
            break
        assert end != -1, f"a truncated response head: {bytes(rest[:200])!r}"
        head = bytes(rest[:end])
        status_match = _STATUS.match(head)
        assert status_match, f"not a status line: {head[:80]!r}"
        status = int(status_match.group(1))
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        rest = rest[end + 4 :]
        if status < 200:
            continue
        length = 0 if len(answers) in heads else int(fields.get(b"content-length", b"0"))
        if len(rest) < length and truncated_ok:
            break
        assert len(rest) >= length, f"a truncated body: {head!r}"
        answers.append((status, fields, bytes(rest[:length])))
        rest = rest[length:]
    return answers


def expected_answers(outcome: Outcome) -> int:
    """How many final answers a client must read: up to a close, plus the error if any."""
    for index, message in enumerate(outcome.answered):
        if not message.keep_alive:
            return index + 1
    return len(outcome.answered) + (outcome.status is not None)


SHAPES = st.sampled_from(
    [
        {},
        {"high_water": 1},
        {"high_water": 200, "sndbuf": 4096, "lazy": True},
        {"sndbuf": 4096, "lazy": True},
    ]
)


def serve(pieces: list[bytes], shape: dict | None = None) -> tuple[Harness, list, Outcome]:
    outcome = feed_pieces(pieces, LIMITS)
    harness = Harness(**(shape or {}))
    try:
        for piece in pieces:
            harness.send(piece)
    finally:
        harness.finish()
    heads = {i for i, m in enumerate(outcome.answered) if m.method == "HEAD"}
    answers = split_responses(bytes(harness.received), heads)
    assert harness.connection.closed, "the connection did not end after the client's EOF"
    assert not harness.ctx.connections
    return harness, answers, outcome


def check_answers(answers: list, outcome: Outcome, where: object) -> None:
    wanted = expected_answers(outcome)
    assert len(answers) == wanted, (where, outcome, [a[:2] for a in answers])
    for (status, fields, _), message in zip(answers, outcome.answered, strict=False):
        assert status < 500, (where, status)
        if not message.keep_alive:
            assert fields.get(b"connection") == b"close", where
    if outcome.status is not None and wanted > len(outcome.answered):
        status, fields, _ = answers[-1]
        assert status == outcome.status, (where, status, outcome.status)
        assert fields.get(b"connection") == b"close", where


def check_ids(answers: list, reqs: list[Req], where: object) -> None:
    """Each answer belongs to its own request: the id it echoes is that request's id."""
    for (status, fields, body), req in zip(answers, reqs, strict=False):
        rid = b"%d" % req.rid
        if req.method == "GET":
            assert status == 200 and body.startswith(b"id=" + rid + b";"), (where, body)
        elif req.method == "HEAD":
            assert status == 200 and fields.get(b"x-id") == rid, (where, fields)
        elif req.method == "POST":
            assert body.startswith(b"id=%s;len=%d;" % (rid, len(req.body))), (where, body)
        else:
            assert status == 405, (where, status)


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_connection_answers_generated_streams_in_order(data) -> None:
    RUNS["connection/generated"] += 1
    reqs = data.draw(streams())
    pieces = data.draw(cuts(b"".join(r.wire() for r in reqs)))
    _, answers, outcome = serve(pieces, data.draw(SHAPES))
    check_answers(answers, outcome, pieces)
    assert len(answers) == len(reqs)
    check_ids(answers, reqs, pieces)


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_connection_refuses_a_smuggling_trick_and_closes(data) -> None:
    RUNS["connection/hostile"] += 1
    reqs, index, stream = data.draw(hostile_streams())
    pieces = data.draw(cuts(stream))
    _, answers, outcome = serve(pieces, data.draw(SHAPES))
    check_answers(answers, outcome, pieces)
    assert len(answers) == index + 1, (pieces, answers)
    check_ids(answers[:index], reqs, pieces)
    assert answers[-1][0] in ERRORS


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_connection_survives_anything(data) -> None:
    RUNS["connection/anything"] += 1
    pieces = data.draw(cuts(data.draw(ANY_STREAM)))
    _, answers, outcome = serve(pieces, data.draw(SHAPES))
    check_answers(answers, outcome, pieces)


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_a_timeout_at_any_moment_never_corrupts_the_stream(data) -> None:
    """The sweep may find a deadline passed between any two reads: whatever state the
    connection is in, the client reads whole answers to its own requests, at most a 408 with
    `Connection: close` after them, and then the end of the connection."""
    RUNS["connection/timeout"] += 1
    reqs = data.draw(streams())
    pieces = data.draw(cuts(b"".join(r.wire() for r in reqs)))
    when = data.draw(st.integers(0, len(pieces)))
    harness = Harness(**data.draw(SHAPES))
    try:
        for index, piece in enumerate(pieces):
            if index == when and not harness.connection.closed:
                harness.connection.on_timeout()
                harness.step()
            harness.send(piece)
        if when == len(pieces) and not harness.connection.closed:
            harness.connection.on_timeout()
    finally:
        harness.finish()
    assert harness.connection.closed and not harness.ctx.connections
    heads = {i for i, r in enumerate(reqs) if r.method == "HEAD"}
    answers = split_responses(bytes(harness.received), heads, truncated_ok=True)
    timeouts = [i for i, a in enumerate(answers) if a[0] == 408]
    if timeouts:
        assert timeouts == [len(answers) - 1], [a[0] for a in answers]
        assert answers[-1][1].get(b"connection") == b"close"
        answers = answers[:-1]
    assert len(answers) <= len(reqs)
    check_ids(answers, reqs, pieces)


def test_zz_report() -> None:
    """Not a check: prints how many examples ran (visible with -s) for the long-run figures."""
    print(f"\nfuzz examples: {dict(RUNS)} in {time.monotonic() - STARTED:.1f}s")
    if RUNS:
        assert all(count > 0 for count in RUNS.values())
