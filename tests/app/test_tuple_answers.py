"""A handler's `(body, status, headers)` tuple is answered without building a Response (a
fast path in Rush._finish): it must answer exactly what the Response would, bad values
included."""

from __future__ import annotations

import logging

import pytest

from rush import Response, Rush

CASES = [
    ("hello", 200, {}),
    (b"raw", 201, {"Content-Type": "application/octet-stream"}),
    (b"raw", 200, {"content-type": "text/csv", "X-A": "1"}),
    (b"twice", 200, {"Content-Type": "text/plain", "CONTENT-TYPE": "text/csv"}),
    (b"", 200, {"Content-Type": ""}),
    ({"a": 1}, 200, {"X-Id": 7}),
    ([1, 2], 202, {"Content-Type": "application/vnd.x+json"}),
    ("framed", 200, {"Content-Length": "99", "Connection": "close", "Transfer-Encoding": "x"}),
    ("gone", 204, {"X-A": "b"}),
    ("cookie", 200, {"Set-Cookie": "a=b; Path=/", "Cache-Control": "no-store"}),
    # Any value is made a str, as Headers.add makes it.
    ("none", 200, {"X-A": None}),
    ("none", 200, {"Content-Type": None}),
    # Refused alike (500, logged): a non-str name, CR/LF, a non-latin-1 value, a bad status.
    ("bad", 200, {1: "x"}),
    ("bad", 200, {"X-A": "a\r\nSet-Cookie: evil=1"}),
    ("bad", 200, {"X-A": "snow ☃"}),
    ("bad", 600, {"X-A": "b"}),
]


def app_answering(value):
    app = Rush()
    app.get("/tuple")(lambda request: value)
    app.get("/response")(lambda request: Response(value[0], value[1], value[2]))
    return app


def without_date(answer):
    return [(name, value) for name, value in answer.headers.items() if name != "Date"]


@pytest.mark.parametrize("value", CASES, ids=[repr(case)[:40] for case in CASES])
def test_a_tuple_with_headers_answers_what_its_response_answers(value, caplog):
    client = app_answering(value).test_client()
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        by_tuple = client.get("/tuple")
        by_response = client.get("/response")
    assert by_tuple.status == by_response.status
    # The Date field is left out: the two answers may straddle a second.
    assert without_date(by_tuple) == without_date(by_response)
    assert by_tuple.data == by_response.data
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == (2 if by_tuple.status == 500 else 0)
