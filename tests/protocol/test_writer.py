"""The protocol writer, sans-IO: an answer in, the exact response bytes out.

Every expectation is spelled out byte for byte, so a change to the wire format shows here
first. `Date` is whatever line the caller passes (the writer reads no clock).
"""

from __future__ import annotations

import pytest

from rush.protocol import writer
from rush.protocol.writer import (
    CLOSE_LINE,
    CONTINUE,
    KEEP_ALIVE_LINE,
    LAST_CHUNK,
    LENGTH_LINES,
    STATUS_LINES,
    InvalidAnswer,
    StreamBody,
    check_status,
    chunk,
    connection_line,
    date_line,
    encode_fields,
    error_response,
    has_no_body,
    has_preconditions,
    length_line,
    prerender,
    render,
    render_head,
    status_line,
)

DATE = b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
HTML = b"Content-Type: text/html; charset=utf-8\r\n"
KEEP_11 = connection_line(True, "1.1")
CLOSE_11 = connection_line(False, "1.1")
KEEP_10 = connection_line(True, "1.0")
CLOSE_10 = connection_line(False, "1.0")


# -- status lines and the Connection line -----------------------------------------------


def test_date_line_is_rfc_9110_imf_fixdate():
    assert date_line(784111777) == DATE
    assert date_line(784111777.999) == DATE  # the second `now` falls in


def test_connection_line_says_only_what_differs_from_the_default():
    assert KEEP_11 == b""  # HTTP/1.1 persists by default (RFC 9112 §9.3)
    assert CLOSE_11 == CLOSE_LINE == b"Connection: close\r\n"
    assert KEEP_10 == KEEP_ALIVE_LINE == b"Connection: keep-alive\r\n"
    assert CLOSE_10 == b"Connection: close\r\n"


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (100, b"HTTP/1.1 100 Continue\r\nServer: rush\r\n"),
        (200, b"HTTP/1.1 200 OK\r\nServer: rush\r\n"),
        (201, b"HTTP/1.1 201 Created\r\nServer: rush\r\n"),
        (404, b"HTTP/1.1 404 Not Found\r\nServer: rush\r\n"),
        (418, b"HTTP/1.1 418 I'm a Teapot\r\nServer: rush\r\n"),
        (599, b"HTTP/1.1 599 Unknown\r\nServer: rush\r\n"),
    ],
)
def test_status_line(status, line):
    assert status_line(status) == line
    assert STATUS_LINES[status] == line  # kept for the next answer


@pytest.mark.parametrize("status", [99, 600, 0, -200, 1000, "200", b"200", True, False, None, 2e2])
def test_status_line_and_check_status_refuse_what_is_not_an_int_in_100_599(status):
    with pytest.raises(InvalidAnswer, match="invalid status"):
        check_status(status)
    if status != 200:  # (2e2 == 200 would hit the memo: callers check_status first)
        with pytest.raises(InvalidAnswer):
            status_line(status)
    assert status not in STATUS_LINES or status == 200


def test_check_status_returns_a_valid_status():
    assert [check_status(s) for s in (100, 200, 599)] == [100, 200, 599]


def test_invalid_status_is_refused_by_render_too():
    for status in (99, 600, True):
        with pytest.raises(InvalidAnswer):
            render(status, b"", b"x", b"", DATE, False)
        with pytest.raises(InvalidAnswer):
            render_head(status, b"", 1, b"", DATE)


def test_has_no_body():
    assert [s for s in (100, 101, 199, 200, 204, 206, 304, 404) if has_no_body(s)] == [
        100,
        101,
        199,
        204,
        304,
    ]


# -- render: whole answers with bytes bodies ----------------------------------------------


def test_render_200_keep_alive_http_11():
    assert render(200, HTML, b"hello", KEEP_11, DATE, False) == (
        b"HTTP/1.1 200 OK\r\n"
        b"Server: rush\r\n"
        b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: 5\r\n"
        b"\r\n"
        b"hello"
    )


def test_render_201_closing_http_11():
    lines = b"Location: /items/7\r\n"
    assert render(201, lines, b'{"id":7}', CLOSE_11, DATE, False) == (
        b"HTTP/1.1 201 Created\r\n"
        b"Server: rush\r\n"
        b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        b"Connection: close\r\n"
        b"Location: /items/7\r\n"
        b"Content-Length: 8\r\n"
        b"\r\n"
        b'{"id":7}'
    )


def test_render_404_keep_alive_http_10():
    assert render(404, HTML, b"nope", KEEP_10, DATE, False) == (
        b"HTTP/1.1 404 Not Found\r\n"
        b"Server: rush\r\n"
        b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        b"Connection: keep-alive\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: 4\r\n"
        b"\r\n"
        b"nope"
    )


def test_render_empty_body_has_content_length_zero():
    assert render(200, b"", b"", KEEP_11, DATE, False) == (
        b"HTTP/1.1 200 OK\r\nServer: rush\r\n" + DATE + b"Content-Length: 0\r\n\r\n"
    )


def test_render_head_only_keeps_the_length_of_the_body_and_sends_none():
    # RFC 9110 §9.3.2: the Content-Length a GET would have had.
    assert render(200, HTML, b"hello world", KEEP_11, DATE, True) == (
        b"HTTP/1.1 200 OK\r\nServer: rush\r\n" + DATE + HTML + b"Content-Length: 11\r\n\r\n"
    )


@pytest.mark.parametrize("status", [100, 101, 204, 304])
@pytest.mark.parametrize("head_only", [False, True])
def test_render_1xx_204_304_have_no_content_length_and_no_body(status, head_only):
    data = render(status, b'ETag: "x"\r\n', b"ignored body", CLOSE_11, DATE, head_only)
    assert data == status_line(status) + DATE + CLOSE_LINE + b'ETag: "x"\r\n\r\n'
    assert b"Content-Length" not in data and b"ignored" not in data


def test_render_uses_no_stale_memo():
    """A memoised status or length line is the same bytes a fresh render would build."""
    for size in (0, 1, 9, 10, 4095, 65536, 10**9):
        fresh = b"Content-Length: %d\r\n\r\n" % size
        assert length_line(size) == fresh
        assert LENGTH_LINES.get(size, fresh) == fresh
        assert length_line(size) == fresh  # the second call, from the memo
    for status in (200, 201, 206, 302, 404, 500, 503, 418):
        built = f"HTTP/1.1 {status} {writer.reason_phrase(status)}\r\nServer: rush\r\n".encode()
        assert status_line(status) == built
        assert STATUS_LINES[status] == built
    body = b"z" * 1234
    assert render(200, b"", body, b"", DATE, False) == render(200, b"", body, b"", DATE, False)
    assert render(200, b"", body, b"", DATE, False).endswith(b"Content-Length: 1234\r\n\r\n" + body)


def test_length_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(writer, "LENGTH_LINES", {i: b"" for i in range(4096)})
    assert writer.length_line(123456789) == b"Content-Length: 123456789\r\n\r\n"
    assert 123456789 not in writer.LENGTH_LINES


# -- render_head, prerender, chunks, error responses --------------------------------------


def test_render_head_with_a_length():
    assert render_head(200, HTML, 1048576, KEEP_11, DATE) == (
        b"HTTP/1.1 200 OK\r\nServer: rush\r\n" + DATE + HTML + b"Content-Length: 1048576\r\n\r\n"
    )


def test_render_head_without_a_length_is_chunked():
    assert render_head(200, b"X-A: 1\r\n", None, KEEP_11, DATE) == (
        b"HTTP/1.1 200 OK\r\nServer: rush\r\n"
        + DATE
        + b"X-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    )


def test_render_head_for_http_10_close():
    # A body of unknown length for HTTP/1.0 is delimited by the close; the caller says so.
    assert render_head(206, b"", 0, CLOSE_10, DATE) == (
        b"HTTP/1.1 206 Partial Content\r\nServer: rush\r\n"
        + DATE
        + b"Connection: close\r\nContent-Length: 0\r\n\r\n"
    )


@pytest.mark.parametrize("status", [100, 204, 304])
@pytest.mark.parametrize("length", [None, 0, 10])
def test_render_head_with_no_body_status_has_no_framing(status, length):
    assert render_head(status, b"", length, b"", DATE) == status_line(status) + DATE + b"\r\n"


def test_prerender_parts_join_into_a_render():
    status, line, head, body, conditional = prerender(301, b"Location: /new\r\n", b"")
    assert line == b"HTTP/1.1 301 Moved Permanently\r\nServer: rush\r\n"
    assert head == b"Location: /new\r\nContent-Length: 0\r\n\r\n"
    assert (status, body, conditional) == (301, b"", False)
    page = b"<p>hi</p>"
    status, line, head, body, conditional = prerender(200, HTML, page)
    assert head == HTML + b"Content-Length: 9\r\n\r\n"
    assert body is page and conditional is True  # the body is kept, not copied
    # The server puts Date and Connection between the parts: the same bytes as render().
    for conn in (KEEP_11, CLOSE_11, KEEP_10):
        assert line + DATE + conn + head + body == render(200, HTML, page, conn, DATE, False)


@pytest.mark.parametrize("status", [200, 204, 206, 299])
def test_a_2xx_prerendered_answer_obeys_preconditions(status):
    assert prerender(status, b"", b"")[4] is True


@pytest.mark.parametrize("status", [301, 308, 404, 500])
def test_another_prerendered_answer_ignores_them(status):
    assert prerender(status, b"", b"")[4] is False


@pytest.mark.parametrize(
    "fields, expected",
    [
        ([], False),
        ([(b"Host", b"a"), (b"Accept", b"*/*"), (b"Cookie", b"a=b")], False),
        ([(b"Host", b"a"), (b"if-none-match", b"*")], True),
        ([(b"IF-MODIFIED-SINCE", b"x")], True),
        ([(b"Range", b"bytes=0-1")], True),
        ([(b"If-Range", b"x")], True),
        ([(b"If-Match", b"x")], True),
        ([(b"If-Unmodified-Since", b"x")], True),
        ([(b"If-Ranges", b"x"), (b"Rangex", b"x"), (b"If-None-Matc", b"x")], False),
    ],
)
def test_has_preconditions(fields, expected):
    assert has_preconditions(fields) is expected


def test_prerender_refuses_an_invalid_status():
    with pytest.raises(InvalidAnswer):
        prerender(600, b"", b"")


def test_chunk_framing():
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert chunk(b"y" * 65536) == b"10000\r\n" + b"y" * 65536 + b"\r\n"
    assert chunk(b"\r\n0\r\n\r\n") == b"7\r\n\r\n0\r\n\r\n\r\n"  # data is never parsed
    assert LAST_CHUNK == b"0\r\n\r\n"


def test_continue_is_a_complete_interim_response():
    assert CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, "bad request"), (413, "request body too large"), (431, "headers too large")],
)
def test_error_response_closes(status, reason):
    body = f"{reason}\n".encode()
    assert error_response(status, reason, DATE) == (
        status_line(status)
        + DATE
        + b"Connection: close\r\n"
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def test_error_response_replaces_what_utf8_cannot_encode():
    data = error_response(400, "bad \udcff byte", DATE)
    assert data.endswith(b"\r\n\r\nbad ? byte\n")


# -- encode_fields: what an application may put in a header ------------------------------


def test_encode_fields():
    assert encode_fields([("X-A", "1"), ("Set-Cookie", "a=b; Path=/"), ("X-Empty", "")]) == (
        b"X-A: 1\r\nSet-Cookie: a=b; Path=/\r\nX-Empty: \r\n"
    )
    assert encode_fields([]) == b""
    assert encode_fields(iter([("x-odd_name!#$%&'*+.^`|~", "v")])) == (
        b"x-odd_name!#$%&'*+.^`|~: v\r\n"
    )


def test_encode_fields_writes_an_int_in_decimal():
    assert (
        encode_fields([("Content-Length", 42), ("Age", 0)]) == b"Content-Length: 42\r\nAge: 0\r\n"
    )


def test_encode_fields_allows_latin1_text():
    assert encode_fields([("X-Name", "café")]) == b"X-Name: caf\xe9\r\n"


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", "ok\r\nSet-Cookie: evil=1", "\n"])
def test_encode_fields_refuses_cr_lf_nul_in_values(value):
    with pytest.raises(InvalidAnswer, match="CR, LF or NUL"):
        encode_fields([("X-Value", value)])


@pytest.mark.parametrize(
    "name",
    [
        "",
        "X Value",
        "X:Value",
        "X-Value:",
        " X",
        "X\r\n",
        "X\x00",
        "Ä",
        "(x)",
        "a/b",
        b"X",
        7,
        None,
    ],
)
def test_encode_fields_refuses_names_that_are_not_tokens(name):
    with pytest.raises(InvalidAnswer, match="invalid header name"):
        encode_fields([(name, "v")])


def test_encode_fields_refuses_a_token_name_with_a_trailing_newline():
    # `$` in a regex also matches before a final newline; a name must not smuggle one.
    with pytest.raises(InvalidAnswer):
        encode_fields([("X-Name\n", "v")])


def test_encode_fields_refuses_text_beyond_latin1():
    with pytest.raises(InvalidAnswer, match="not latin-1"):
        encode_fields([("X-Ok", "fine"), ("X-Name", "snowman \u2603")])


@pytest.mark.parametrize("value", [b"bytes", 1.5, None, True, ["a"], object()])
def test_encode_fields_refuses_values_that_are_not_str_or_int(value):
    with pytest.raises(InvalidAnswer, match="must be a str"):
        encode_fields([("X-Value", value)])


def test_invalid_answer_is_a_value_error():
    assert issubclass(InvalidAnswer, ValueError)


# -- StreamBody ------------------------------------------------------------------------------


class Source:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __iter__(self):
        return iter([b"a", b"b"])

    def close(self) -> None:
        self.log.append("source closed")


def test_stream_body_close_closes_the_iterator_then_the_source_once():
    log: list[str] = []

    def produce():
        try:
            yield b"first"
            yield b"second"
        finally:
            log.append("generator finally")

    body = StreamBody(produce(), None, source=Source(log))
    assert next(body.iterator) == b"first"
    body.close()
    body.close()
    assert log == ["generator finally", "source closed"]
    assert body.length is None and body.sent == 0


def test_stream_body_of_a_plain_iterable():
    body = StreamBody([b"a", b"b"], 2)
    assert list(body.iterator) == [b"a", b"b"]
    assert body.length == 2
    body.close()  # a list iterator has no close(): nothing to do, no error
    body.close()


def test_stream_body_close_before_iteration_still_closes_the_source():
    log: list[str] = []
    source = Source(log)
    body = StreamBody(iter(source), 2, source=source)
    body.close()
    body.close()
    assert log == ["source closed"]


def test_stream_body_close_propagates_what_close_raises_once():
    calls = []

    class Failing:
        def __iter__(self):
            return self

        def __next__(self):
            raise StopIteration

        def close(self):
            calls.append(1)
            raise RuntimeError("close failed")

    body = StreamBody(Failing())
    with pytest.raises(RuntimeError):
        body.close()
    body.close()  # already handed over: not called again
    assert calls == [1]
