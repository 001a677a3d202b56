"""Replay the request corpus (corpus/valid, corpus/invalid) under every way of splitting it.

A TCP stream can be cut anywhere, so a correct parser gives one outcome per byte stream:
fed whole, byte by byte, line by line, or in random pieces. Each case is first checked
against its sidecar expectation when fed whole; every other split must then match that.
"""

from __future__ import annotations

import pytest

from tests.support.protocol import (
    Case,
    Outcome,
    Snapshot,
    bytewise,
    describe,
    feed_case,
    linewise,
    load_cases,
    random_split,
    whole,
    wire,
)

pytestmark = pytest.mark.usefixtures("each_fast_path")  # llhttp alone, and each fast path

VALID = load_cases("valid")
INVALID = load_cases("invalid")
ALL = VALID + INVALID
RANDOM_SEEDS = range(12)

SPLITS = {"bytewise": bytewise, "linewise": linewise}


def ids(cases: list[Case]) -> list[str]:
    return [case.name for case in cases]


def check_message(got: Snapshot, want: dict, where: str) -> None:
    """Compare one message with its JSON expectation; keys left out are not checked."""
    assert got.complete, f"{where}: not complete"
    assert got.method == want["method"], where
    assert got.target == wire(want["target"]), where
    assert got.version == want["version"], where
    assert got.keep_alive is want["keep_alive"], where
    assert got.body == wire(want.get("body", "")), where
    if "headers" in want:
        assert list(got.headers) == [(wire(n), wire(v)) for n, v in want["headers"]], where
    for name, value in want.get("headers_include", []):
        assert (wire(name), wire(value)) in got.headers, where
    for field in ("content_length", "chunked", "expect_continue"):
        if field in want:
            assert getattr(got, field) == want[field], f"{where}: {field}"


def test_corpus_is_big_enough() -> None:
    """Guards against a glob or path mistake quietly emptying the parametrized tests."""
    assert len(VALID) >= 40
    assert len(INVALID) >= 60


@pytest.mark.parametrize("case", VALID, ids=ids(VALID))
def test_valid_case_fed_whole(case: Case) -> None:
    outcome = feed_case(case, whole(case.data))
    assert outcome.status is None, describe(outcome)
    assert outcome.pending == (), describe(outcome)
    wanted = case.expect["messages"]
    assert len(outcome.answered) == len(wanted), describe(outcome)
    for index, (got, want) in enumerate(zip(outcome.answered, wanted, strict=True)):
        check_message(got, want, f"{case.name} message {index}")


@pytest.mark.parametrize("case", INVALID, ids=ids(INVALID))
def test_invalid_case_fed_whole(case: Case) -> None:
    outcome = feed_case(case, whole(case.data))
    assert outcome.status == case.expect["status"], describe(outcome)
    assert len(outcome.answered) == case.expect.get("completed", 0), describe(outcome)
    assert all(message.complete for message in outcome.answered)


def assert_same(case: Case, how: str, outcome: Outcome, reference: Outcome) -> None:
    assert outcome == reference, (
        f"{case.name} fed {how} differs from fed whole:\n"
        f"  {how}: {describe(outcome)}\n  whole: {describe(reference)}"
    )


@pytest.mark.parametrize("how", sorted(SPLITS))
@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_split_matches_whole(case: Case, how: str) -> None:
    reference = feed_case(case, whole(case.data))
    assert_same(case, how, feed_case(case, SPLITS[how](case.data)), reference)


@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_random_splits_match_whole(case: Case) -> None:
    """Seeded, so a failure names a seed that reproduces it."""
    reference = feed_case(case, whole(case.data))
    for seed in RANDOM_SEEDS:
        assert_same(
            case,
            f"randomly (seed {seed})",
            feed_case(case, random_split(case.data, seed)),
            reference,
        )


def reusable(case: Case) -> bool:
    """Whether the connection stays open after the stream (no upgrade, last one keeps alive)."""
    return case.expect["messages"][-1]["keep_alive"]


REUSABLE = [case for case in VALID if reusable(case)]


@pytest.mark.parametrize("case", REUSABLE, ids=ids(REUSABLE))
def test_valid_case_repeated_on_one_connection(case: Case) -> None:
    """Parser state resets between messages: the same stream twice gives twice the messages."""
    once = feed_case(case, whole(case.data))
    twice = feed_case(case, whole(case.data * 2))
    assert twice.status is None, describe(twice)
    assert twice.answered == once.answered * 2
