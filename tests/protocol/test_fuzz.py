"""Property tests: whatever bytes arrive, the parser only ever raises ProtocolError, hands out
well-typed messages, and gives one outcome however the bytes are split.

Bounded on purpose (a few hundred examples each, no deadline) so the file runs in seconds.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rush.protocol import Limits, ProtocolError, RequestParser
from tests.support.protocol import (
    Outcome,
    Snapshot,
    feed_pieces,
    load_cases,
    mutated_streams,
    split_at,
)

pytestmark = pytest.mark.usefixtures("each_fast_path")  # llhttp alone, and each fast path

# derandomize: the same examples on every run, so a red test is a parser change, not luck.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
FEWER = settings(FUZZ, max_examples=150)  # for tests that feed each example many times
STATUSES = {400, 413, 414, 417, 431, 505}
SEEDS = [case.data for case in load_cases("valid") + load_cases("invalid")]
SMALL = Limits(max_request_line=64, max_header_bytes=256, max_header_count=8, max_body=128)


def assert_sane(outcome: Outcome) -> None:
    """Types and cross-field facts every handed-out message must satisfy."""
    assert outcome.status is None or outcome.status in STATUSES
    for message in outcome.answered + outcome.pending:
        assert_sane_message(message)
    assert all(message.complete for message in outcome.answered)
    assert not any(message.complete for message in outcome.pending)


def assert_sane_message(message: Snapshot) -> None:
    assert isinstance(message.method, str) and message.method.isupper()
    assert isinstance(message.target, bytes)
    assert message.target[:1] == b"/" or message.target == b"*"
    assert message.version in ("1.0", "1.1")
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in message.headers)
    assert all(b"\r" not in v and b"\n" not in v and b"\x00" not in v for _, v in message.headers)
    assert isinstance(message.keep_alive, bool)
    assert isinstance(message.body, bytes)
    assert not (message.chunked and message.content_length is not None)
    if message.content_length is not None:
        assert message.content_length >= 0
        assert len(message.body) <= message.content_length
        if message.complete:
            assert len(message.body) == message.content_length
    if not (message.chunked or message.content_length):
        assert message.body == b""


# -- arbitrary and mutated bytes ------------------------------------------------------------


# A corpus stream with a few byte-level edits: flips, inserts, deletions, duplications.
MUTATED = mutated_streams(SEEDS, b"\r\n\t :;,\x00\x7f\xff0123456789aAfF-/?*")


def outcome_or_only_protocol_errors(pieces: list[bytes], limits: Limits | None = None) -> Outcome:
    """feed_pieces() itself catches only ProtocolError, so anything else fails the test."""
    return feed_pieces(pieces, limits)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    assert_sane(outcome_or_only_protocol_errors([data]))


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_after_a_valid_head_raise_only_protocol_errors(data: bytes) -> None:
    """Random bytes rarely pass the method; start them inside a head or a chunked body."""
    for prefix in (
        b"GET / HTTP/1.1\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    ):
        assert_sane(outcome_or_only_protocol_errors([prefix + data]))


@FUZZ
@given(MUTATED)
def test_mutated_requests_raise_only_protocol_errors(data: bytes) -> None:
    assert_sane(outcome_or_only_protocol_errors([data]))
    assert_sane(outcome_or_only_protocol_errors([data], SMALL))


@FUZZ
@given(st.data())
def test_mutated_requests_give_one_outcome_under_any_split(data: st.DataObject) -> None:
    stream = data.draw(MUTATED, label="stream")
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=16), label="cuts")
    reference = feed_pieces([stream])
    assert feed_pieces(split_at(stream, cuts)) == reference


@FUZZ
@given(st.binary(max_size=200), st.data())
def test_random_bytes_give_one_outcome_under_any_split(data: bytes, draw: st.DataObject) -> None:
    stream = b"GET / HTTP/1.1\r\n" + data
    cuts = draw.draw(st.lists(st.integers(0, len(stream)), max_size=16), label="cuts")
    assert feed_pieces(split_at(stream, cuts)) == feed_pieces([stream])


def test_mutation_seeds_are_loaded() -> None:
    assert len(SEEDS) >= 100


# -- generated well-formed requests -------------------------------------------------------

RESERVED_NAMES = {"host", "content-length", "transfer-encoding", "expect", "connection", "upgrade"}
TCHAR = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
PATH_CHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%"


@dataclass
class Generated:
    """A request built by the strategy, with what the parser should report for it."""

    method: str
    target: bytes
    version: str
    fields: list[tuple[bytes, bytes]]
    body: bytes
    chunks: list[bytes] | None  # None: Content-Length framing (or no body)

    def to_bytes(self) -> bytes:
        lines = [b"%s %s HTTP/%s\r\n" % (self.method.encode(), self.target, self.version.encode())]
        lines += [name + b": " + value + b"\r\n" for name, value in self.fields]
        if self.chunks is None:
            if self.body:
                lines.append(b"Content-Length: %d\r\n" % len(self.body))
            lines.append(b"\r\n" + self.body)
        else:
            lines.append(b"Transfer-Encoding: chunked\r\n\r\n")
            lines += [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in self.chunks if chunk]
            lines.append(b"0\r\n\r\n")
        return b"".join(lines)


field_names = st.text(TCHAR, min_size=1, max_size=16).filter(
    lambda n: n.lower() not in RESERVED_NAMES
)
field_values = st.binary(max_size=24).map(
    lambda raw: bytes(b for b in raw if 0x21 <= b <= 0x7E or b >= 0x80 or b in b" \t").strip(b" \t")
)


@st.composite
def generated_requests(draw: st.DrawFn) -> Generated:
    version = draw(st.sampled_from(["1.1", "1.0"]))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]))
    target = b"/" + draw(st.text(PATH_CHAR, max_size=40)).encode()
    fields = [(b"Host", b"example.com")] if version == "1.1" else []
    if version == "1.0":
        fields.append((b"Connection", b"keep-alive"))
    fields += draw(st.lists(st.tuples(field_names.map(str.encode), field_values), max_size=8))
    chunks = None
    if version == "1.1" and draw(st.booleans()):
        chunks = draw(st.lists(st.binary(max_size=40), max_size=4))
    body = b"".join(chunks) if chunks is not None else draw(st.binary(max_size=80))
    return Generated(method, target, version, fields, body, chunks)


@FEWER
@given(st.lists(generated_requests(), min_size=1, max_size=4), st.data())
def test_generated_pipelines_parse_back_under_any_split(
    requests: list[Generated], data: st.DataObject
) -> None:
    """Well-formed pipelines come back field for field and body for body, however cut."""
    stream = b"".join(request.to_bytes() for request in requests)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=24), label="cuts")
    outcome = feed_pieces(split_at(stream, cuts))
    assert outcome.status is None and outcome.pending == ()
    assert_sane(outcome)
    assert len(outcome.answered) == len(requests)
    for got, sent in zip(outcome.answered, requests, strict=True):
        assert (got.method, got.target, got.version) == (sent.method, sent.target, sent.version)
        assert list(got.headers[: len(sent.fields)]) == sent.fields
        assert got.body == sent.body
        assert got.keep_alive is True
        assert got.chunked is (sent.chunks is not None)


@FEWER
@given(generated_requests())
def test_parser_survives_any_truncation(request: Generated) -> None:
    """Every prefix of a valid request is either incomplete (no error) or the whole thing."""
    stream = request.to_bytes()
    for end in range(len(stream)):
        parser = RequestParser()
        try:
            messages = parser.feed(stream[:end])
        except ProtocolError as error:  # pragma: no cover - a prefix is never malformed
            raise AssertionError(f"prefix of {end} bytes refused: {error}") from None
        assert all(not message.complete for message in messages)
