"""Differential tests: llhttp alone, the pure-Python fast path and the C fast path
(rush.protocol.heads) give the same outcome for the same bytes under the same splits:
the same messages, the same errors and statuses.

Bounded: about ten seconds in all by default. `RUSH_FUZZ_LONG=1` runs many more Hypothesis
examples and the seeded loop for `RUSH_FUZZ_SECONDS` (default 300).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol.differential import (
    LIMITS,
    assert_identical,
    mutate,
    near_plain_stream,
    run_seeded,
    seed_streams,
)
from tests.support.protocol import FAST_PATHS, split_at

LONG = os.environ.get("RUSH_FUZZ_LONG", "") not in ("", "0")
SEEDED_SECONDS = float(os.environ.get("RUSH_FUZZ_SECONDS", "300")) if LONG else 4.0
DIFFERENTIAL = settings(
    max_examples=5000 if LONG else 250,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEDS = seed_streams()


def test_every_fast_path_takes_part() -> None:
    assert "llhttp" in FAST_PATHS and "python" in FAST_PATHS


@st.composite
def near_plain_streams(draw: st.DrawFn) -> bytes:
    return near_plain_stream(lambda options: draw(st.sampled_from(options)))


@DIFFERENTIAL
@given(near_plain_streams(), st.data())
def test_near_plain_pipelines_are_identical(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts")
    limits = data.draw(st.sampled_from(LIMITS), label="limits")
    assert_identical(stream, split_at(stream, cuts), limits)


@DIFFERENTIAL
@given(st.sampled_from(SEEDS), st.integers(0, 2**32 - 1), st.data())
def test_mutated_corpus_streams_are_identical(
    seed: bytes, mutation: int, data: st.DataObject
) -> None:
    import random

    stream = mutate(random.Random(mutation), seed)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts")
    limits = data.draw(st.sampled_from(LIMITS), label="limits")
    assert_identical(stream, split_at(stream, cuts), limits)


def test_seeded_random_streams_are_identical() -> None:
    """A time-bounded loop of seeded random streams: a failure names its stream and cuts."""
    assert run_seeded(SEEDED_SECONDS) > 100
