"""answer_plain() itself (rush.protocol.answers): which requests it answers, the bytes it
frames (the writer's, exactly), where it stops and what it hands back, and the same outcome
from the C accelerator and the pure-Python twin on random batches.

That a Connection sends the same bytes with the fast path as without is
tests/server/test_answer_batches.py's.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from rush.protocol import RequestMessage
from rush.protocol.answers import (
    ANSWERS_IMPLEMENTATION,
    AnswerPlain,
    answer_plain,
    python_answer_plain,
)
from rush.protocol.heads import COMPILED, IMPLEMENTATION
from rush.protocol.writer import STATUS_LINES, FileBody, render
from tests.protocol.answer_cases import DATE, TABLE, AppRaised, Case, case, outcome

try:
    from rush.protocol._answers import answer_plain as C_ANSWER_PLAIN
except ImportError:
    C_ANSWER_PLAIN = None  # type: ignore[assignment]

IMPLEMENTATIONS: dict[str, AnswerPlain] = {"python": python_answer_plain}
if C_ANSWER_PLAIN is not None:
    IMPLEMENTATIONS["C"] = C_ANSWER_PLAIN


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def implementation(request: pytest.FixtureRequest) -> AnswerPlain:
    return IMPLEMENTATIONS[request.param]


def request(method: str = "GET", target: bytes = b"/", version: str = "1.1") -> RequestMessage:
    message = RequestMessage(method, target, version, [(b"Host", b"a")], True)
    message.complete = True
    return message


def run(
    implementation: AnswerPlain,
    messages: list[RequestMessage],
    *answers: Any,
    budget: int = 1 << 20,
) -> tuple[int, Any, list[bytes], list[int]]:
    batch = Case(messages, list(answers), budget)
    pieces: list[bytes] = []
    left, held = implementation(messages, pieces, TABLE, DATE, batch.handle, None, "http", budget)
    return left, held, pieces, [index for index, _, _ in batch.calls]


def test_the_selection_follows_the_request_heads() -> None:
    expected = (
        COMPILED if IMPLEMENTATION == COMPILED and C_ANSWER_PLAIN is not None else "pure Python"
    )
    assert ANSWERS_IMPLEMENTATION == expected
    assert answer_plain is (C_ANSWER_PLAIN if expected == COMPILED else python_answer_plain)


def test_a_prerendered_get_is_framed_without_the_app(implementation: AnswerPlain) -> None:
    left, held, pieces, calls = run(implementation, [request(target=b"/easter")])
    status, line, head, body, _ = TABLE[b"/easter"]
    assert pieces == [line + DATE + head + body] and held is None and calls == []
    assert left == (1 << 20) - len(pieces[0])


def test_a_conditional_get_of_a_2xx_entry_is_left_to_the_app(implementation: AnswerPlain) -> None:
    asked = request(target=b"/page")
    asked.headers.append((b"iF-nOnE-mAtCh", b'"abc"'))
    left, held, pieces, calls = run(implementation, [asked], (304, b"", b""))
    assert pieces == [] and held == (304, b"", b"") and calls == [0]
    plain = request(target=b"/page")
    plain.headers.append((b"If-None-Matcx", b'"abc"'))  # not a precondition
    _, line, head, body, _ = TABLE[b"/page"]
    assert run(implementation, [plain])[2] == [line + DATE + head + body]


@pytest.mark.parametrize(
    "name",
    [
        b"If-Match",
        b"If-None-Match",
        b"If-Modified-Since",
        b"If-Unmodified-Since",
        b"If-Range",
        b"Range",
    ],
)
def test_each_precondition_leaves_a_2xx_entry_to_the_app_but_not_a_redirect(
    implementation: AnswerPlain, name: bytes
) -> None:
    messages = [request(target=b"/page"), request(target=b"/easter")]
    for message in messages:
        message.headers.append((name, b"x"))
    left, held, pieces, calls = run(implementation, messages, (200, b"", b"app"))
    assert pieces == [
        render(200, b"", b"app", b"", DATE, False),
        TABLE[b"/easter"][1] + DATE + TABLE[b"/easter"][2],
    ]
    assert calls == [0]


@pytest.mark.parametrize(
    "answer",
    [
        (200, b"Content-Type: text/plain\r\n", b"hello"),
        (201, b"", b""),
        (404, b"X: y\r\n", b"x" * 70_000),
        (500, b"", b"\x00\r\n\r\n"),
        # every digit count of the Content-Length the C code writes by hand
        *((200, b"", b"y" * size) for size in (1, 9, 10, 99, 100, 999, 1000, 10**6 + 7)),
    ],
)
def test_an_answer_with_content_is_framed_as_the_writer_renders_it(
    implementation: AnswerPlain, answer: tuple[int, bytes, bytes]
) -> None:
    left, held, pieces, calls = run(implementation, [request("POST")], answer)
    assert pieces == [render(*answer, b"", DATE, False)] and held is None and calls == [0]


def test_a_batch_is_answered_in_order_and_the_app_called_once_each(
    implementation: AnswerPlain,
) -> None:
    messages = [request(target=b"/easter"), request(target=b"/a"), request("DELETE", b"/b")]
    answers = [(200, b"", b"a"), (200, b"", b"b")]
    left, held, pieces, calls = run(implementation, messages, *answers)
    assert calls == [1, 2] and held is None
    assert pieces[1:] == [render(*answer, b"", DATE, False) for answer in answers]


@pytest.mark.parametrize(
    "answer",
    [
        (204, b"", b""),
        (304, b"", b""),
        (101, b"", b""),
        (599, b"", b""),  # no status line rendered yet: writer.status_line makes it
        (700, b"", b""),
        (True, b"", b""),
        (200, b"", FileBody(None, 0, 1)),
        (200, b"", "text"),
        (200, "text", b""),
        [200, b"", b""],
        (200, b""),
        None,
    ],
)
def test_an_answer_it_does_not_frame_is_handed_back_for_its_message(
    implementation: AnswerPlain, answer: Any
) -> None:
    assert 599 not in STATUS_LINES
    messages = [request(target=b"/a"), request(target=b"/b"), request(target=b"/c")]
    left, held, pieces, calls = run(implementation, messages, (200, b"", b"first"), answer)
    assert held is answer and calls == [0, 1] and len(pieces) == 1
    assert left == (1 << 20) - len(pieces[0])


@pytest.mark.parametrize(
    "unplain",
    [
        {"method": "HEAD"},
        {"version": "1.0"},
        {"keep_alive": False},
        {"complete": False},
        {"body_sink": object()},
    ],
)
def test_it_stops_before_a_request_the_loop_must_answer(
    implementation: AnswerPlain, unplain: dict[str, Any]
) -> None:
    messages = [request(target=b"/easter"), request(target=b"/a"), request(target=b"/easter")]
    for name, value in unplain.items():
        setattr(messages[1], name, value)
    left, held, pieces, calls = run(implementation, messages, (200, b"", b"never"))
    assert len(pieces) == 1 and held is None and calls == []


@pytest.mark.parametrize("target", [b"/odd", b"/old", b"/flag"])
def test_it_stops_before_a_table_entry_it_does_not_know(
    implementation: AnswerPlain, target: bytes
) -> None:
    left, held, pieces, calls = run(implementation, [request(target=target)], (200, b"", b"x"))
    assert (pieces, held, calls) == ([], None, [])


def test_it_stops_when_the_budget_is_spent(implementation: AnswerPlain) -> None:
    messages = [request(target=b"/easter") for _ in range(3)]
    size = len(TABLE[b"/easter"][1] + DATE + TABLE[b"/easter"][2])
    assert (
        run(implementation, messages, budget=size)[2]
        == [TABLE[b"/easter"][1] + DATE + TABLE[b"/easter"][2]] * 2
    )
    assert run(implementation, messages, budget=-1)[2] == []
    assert run(implementation, messages, budget=0)[2] == run(implementation, messages[:1])[2]


def test_what_the_app_raises_propagates_after_the_answers_before_it(
    implementation: AnswerPlain,
) -> None:
    messages = [request(target=b"/a"), request(target=b"/b")]
    batch = Case(messages, [(200, b"", b"a"), AppRaised("boom")], 1 << 20)
    pieces: list[bytes] = []
    with pytest.raises(AppRaised, match="boom"):
        implementation(messages, pieces, TABLE, DATE, batch.handle, None, "http", 1 << 20)
    assert len(pieces) == 1 and len(batch.calls) == 2


def test_the_app_gets_the_remote_address_and_scheme(implementation: AnswerPlain) -> None:
    batch = Case([request(target=b"/a")], [(200, b"", b"")], 100)
    implementation(batch.messages, [], TABLE, DATE, batch.handle, "10.1.2.3", "https", 100)
    assert batch.calls == [(0, "10.1.2.3", "https")]


@pytest.mark.skipif(C_ANSWER_PLAIN is None, reason="the C accelerator is not built")
def test_bad_arguments_are_refused_by_the_c_accelerator() -> None:
    with pytest.raises(TypeError):
        C_ANSWER_PLAIN([], [], {}, DATE, None, None, "http")  # type: ignore[call-arg, arg-type]
    with pytest.raises(TypeError):
        C_ANSWER_PLAIN((), [], {}, DATE, None, None, "http", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        C_ANSWER_PLAIN([], [], {}, "date", None, None, "http", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        C_ANSWER_PLAIN([], [], {}, DATE, None, None, "http", "0")  # type: ignore[arg-type]


@pytest.mark.skipif(C_ANSWER_PLAIN is None, reason="the C accelerator is not built")
def test_the_c_accelerator_and_the_twin_agree_on_random_batches() -> None:
    rng = random.Random(20261205)
    for _ in range(3000):
        batch = case(rng)
        assert outcome(C_ANSWER_PLAIN, batch) == outcome(python_answer_plain, batch)
