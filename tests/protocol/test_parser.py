"""Focused RequestParser tests: limits at their edges, partial input, body sinks, pipelining,
errors and upgrades. The corpus covers "which bytes are valid HTTP"; these cover the API.
"""

from __future__ import annotations

import pytest

from rush.protocol import Limits, ProtocolError, RequestMessage, RequestParser
from tests.support.protocol import bytewise, feed_pieces, linewise, whole

pytestmark = pytest.mark.usefixtures("each_fast_path")  # llhttp alone, and each fast path

HOST = b"Host: example.com\r\n"
SPLITS = {"whole": whole, "bytewise": bytewise, "linewise": linewise}


def request(
    method: bytes = b"GET",
    target: bytes = b"/",
    fields: bytes = HOST,
    body: bytes = b"",
    version: bytes = b"1.1",
) -> bytes:
    """Raw request bytes; `fields` are the complete field lines (each ending in CRLF)."""
    return method + b" " + target + b" HTTP/" + version + b"\r\n" + fields + b"\r\n" + body


def post(body: bytes, target: bytes = b"/") -> bytes:
    """A Content-Length POST."""
    return request(b"POST", target, HOST + b"Content-Length: %d\r\n" % len(body), body)


def chunked(*chunks: bytes, target: bytes = b"/") -> bytes:
    """A chunked POST carrying `chunks`, then the last-chunk."""
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    return request(b"POST", target, HOST + b"Transfer-Encoding: chunked\r\n", body)


def field_lines(total: int, count: int) -> bytes:
    """`count` (>= 2) field lines, Host first, whose sizes as the parser counts them add to `total`.

    The parser charges each field len(name) + len(value) + 4 (for ": " and CRLF), which is
    exactly the raw length of the lines built here.
    """
    lines = [HOST] + [b"X-%d: v\r\n" % index for index in range(count - 2)]
    fill = total - sum(len(line) for line in lines) - len(b"X-Fill: \r\n")
    assert fill >= 0, "total too small for that many fields"
    lines.append(b"X-Fill: " + b"f" * fill + b"\r\n")
    return b"".join(lines)


def feed_all(pieces: list[bytes], parser: RequestParser) -> list[RequestMessage]:
    """Every message handed out while feeding `pieces` one by one."""
    messages: list[RequestMessage] = []
    for piece in pieces:
        messages.extend(parser.feed(piece))
    return messages


def status_of(pieces: list[bytes], limits: Limits | None = None) -> int | None:
    return feed_pieces(pieces, limits).status


class RecordingSink:
    """A BodySink that remembers what it was told, in order."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def write(self, chunk: bytes) -> None:
        self.events.append(bytes(chunk))

    def finish(self) -> None:
        self.events.append("finish")

    def close(self) -> None:
        self.events.append("close")

    @property
    def data(self) -> bytes:
        return b"".join(event for event in self.events if isinstance(event, bytes))


# -- limits, exactly at and one over ----------------------------------------------------------

SMALL = Limits(max_request_line=64, max_header_bytes=256, max_header_count=6, max_body=100)


@pytest.mark.parametrize("how", sorted(SPLITS))
class TestLimitEdges:
    """Every bound admits exactly its value and refuses one more, however the bytes arrive."""

    def test_target_at_max_request_line(self, how: str) -> None:
        data = request(target=b"/" + b"t" * 63)
        assert status_of(SPLITS[how](data), SMALL) is None

    def test_target_one_over_is_414(self, how: str) -> None:
        data = request(target=b"/" + b"t" * 64)
        assert status_of(SPLITS[how](data), SMALL) == 414

    def test_header_bytes_at_max(self, how: str) -> None:
        data = request(fields=field_lines(256, count=3))
        assert status_of(SPLITS[how](data), SMALL) is None

    def test_header_bytes_one_over_is_431(self, how: str) -> None:
        data = request(fields=field_lines(257, count=3))
        assert status_of(SPLITS[how](data), SMALL) == 431

    def test_header_count_at_max(self, how: str) -> None:
        data = request(fields=field_lines(100, count=6))
        assert status_of(SPLITS[how](data), SMALL) is None

    def test_header_count_one_over_is_431(self, how: str) -> None:
        data = request(fields=field_lines(100, count=7))
        assert status_of(SPLITS[how](data), SMALL) == 431

    def test_content_length_at_max_body(self, how: str) -> None:
        assert status_of(SPLITS[how](post(b"b" * 100)), SMALL) is None

    def test_content_length_one_over_is_413(self, how: str) -> None:
        assert status_of(SPLITS[how](post(b"b" * 101)), SMALL) == 413

    def test_chunked_at_max_body(self, how: str) -> None:
        assert status_of(SPLITS[how](chunked(b"a" * 60, b"b" * 40)), SMALL) is None

    def test_chunked_one_over_is_413(self, how: str) -> None:
        assert status_of(SPLITS[how](chunked(b"a" * 60, b"b" * 41)), SMALL) == 413

    def test_target_and_header_section_both_at_max(self, how: str) -> None:
        """Each bound is met, neither exceeded, so the request is fine under any split.

        The raw-byte guard must leave room for the method, spaces, version and CRLFs
        around the target and the fields, not just the two limits themselves.
        """
        data = request(target=b"/" + b"t" * 63, fields=field_lines(256, count=3))
        assert status_of(SPLITS[how](data), SMALL) is None


def test_whitespace_padding_counts_the_same_under_any_split() -> None:
    """Optional whitespace before a field value is bytes the client sent.

    Whether 300 bytes of padding push the header section over its limit must not depend on
    how the bytes were cut into reads: per-field accounting and the raw-byte guard agree.
    """
    data = request(fields=HOST + b"X-Pad:" + b" " * 300 + b"v\r\n")
    reference = feed_pieces(whole(data), SMALL)
    for how in ("bytewise", "linewise"):
        assert feed_pieces(SPLITS[how](data), SMALL) == reference, how


def test_content_length_over_limit_fails_at_the_head() -> None:
    """413 comes before any body byte is read, so the server never buffers it."""
    parser = RequestParser(SMALL)
    with pytest.raises(ProtocolError) as caught:
        parser.feed(request(b"POST", fields=HOST + b"Content-Length: 1000000\r\n"))
    assert caught.value.status == 413


def test_chunked_over_limit_fails_as_data_arrives() -> None:
    """A chunked body is refused once the data passes the limit, not at its end."""
    parser = RequestParser(SMALL)
    head = request(b"POST", fields=HOST + b"Transfer-Encoding: chunked\r\n")
    assert parser.feed(head + b"1000\r\n")[0].complete is False
    parser.feed(b"x" * 100)
    with pytest.raises(ProtocolError) as caught:
        parser.feed(b"x")
    assert caught.value.status == 413


# -- the raw-byte guard ---------------------------------------------------------------------

PIECE = 32
# How many bytes an endless head or trailer line may cost before it is cut off: the limits,
# plus room for the framing around them (method, version, CRLFs) and one more piece.
BUDGET = 2 * (SMALL.max_request_line + SMALL.max_header_bytes) + PIECE


def feed_forever(parser: RequestParser, start: bytes, filler: bytes, budget: int) -> int:
    """Feed `start`, then `filler` until ProtocolError or `budget` bytes; return its status."""
    parser.feed(start)
    fed = len(start)
    with pytest.raises(ProtocolError) as caught:
        while fed < budget:
            parser.feed(filler)
            fed += len(filler)
    return caught.value.status


@pytest.mark.parametrize(
    "start, status",
    [
        (b"GET / HTTP/1.1\r\nX-Endless: ", 431),  # a value that never ends
        (b"GET / HTTP/1.1\r\nX-Endless", 431),  # a name that never ends
        (b"GET /", 414),  # a target that never ends
    ],
    ids=["value", "name", "target"],
)
def test_never_ending_head_line_is_cut_off(start: bytes, status: int) -> None:
    """httptools buffers an unfinished line itself; Rush must stop it near the limits."""
    filler = b"a" * PIECE
    parser = RequestParser(SMALL)
    assert feed_forever(parser, start, filler, budget=BUDGET) == status


@pytest.mark.parametrize("shape", ["one endless line", "endless fields"])
def test_never_ending_trailer_section_is_cut_off(shape: str) -> None:
    """Trailers are a field section like the head: an endless one must hit a limit.

    httptools accumulates an unfinished trailer line in memory just as it does a header
    line, and trailer bytes count toward neither the header nor the body limit.
    """
    parser = RequestParser(SMALL)
    start = chunked()[: -len(b"\r\n")]  # the last-chunk line, then the trailer section opens
    filler = b"a" * PIECE if shape == "one endless line" else b"X-T: 1\r\n" * 4
    start += b"X-Trailer: " if shape == "one endless line" else b""
    status = feed_forever(parser, start, filler, budget=BUDGET)
    assert status in (400, 413, 431)


@pytest.mark.parametrize("after", ["body", "pipelined requests"])
def test_head_guard_counts_only_head_bytes(after: str) -> None:
    """A head cut by a read boundary, then its end and a lot more in one read, is fine.

    Only the bytes of the open head may count against the head limits; a body or further
    requests arriving in the same read as the head's last bytes are not part of it.
    """
    if after == "body":
        data = post(b"b" * 90) + post(b"c" * 90) + post(b"d" * 90) + post(b"e" * 90)
    else:
        data = b"".join(request(target=b"/%d" % i) for i in range(20))
    limits = SMALL
    cut = 10  # inside the first request line
    outcome = feed_pieces([data[:cut], data[cut:]], limits)
    assert outcome.status is None
    assert outcome == feed_pieces([data], limits)


# -- the planned body limit ----------------------------------------------------------------


class TestPlannedBodyLimit:
    """The server sets `body_limit` on a message from the app's plan once feed() returned its
    head; from then on the parser refuses body bytes beyond it. Until then Limits.max_body
    bounds it (100 here)."""

    @pytest.mark.parametrize(
        "data, limit, status",
        [
            (post(b"12345"), 5, None),
            (post(b"123456"), 5, 413),
            (chunked(b"123", b"45"), 5, None),
            (chunked(b"123", b"456"), 5, 413),
            (post(b"u" * 1000), 1000, None),
            (post(b"u" * 1001), 1000, 413),
        ],
        ids=["cl-at", "cl-over", "chunked-at", "chunked-over", "raised-at", "raised-over"],
    )
    def test_limit_set_after_the_head_bounds_the_body(
        self, data: bytes, limit: int, status: int | None
    ) -> None:
        head, _, body = data.partition(b"\r\n\r\n")
        for how in SPLITS.values():
            parser = RequestParser(Limits(max_body=1 << 20))
            (message,) = parser.feed(head + b"\r\n\r\n")
            assert parser.with_body == [message]
            message.body_limit = limit
            try:
                for piece in how(body):
                    parser.feed(piece)
            except ProtocolError as error:
                assert error.status == status
            else:
                assert status is None and message.complete

    def test_unplanned_messages_are_bounded_by_limits_max_body(self) -> None:
        (message,) = RequestParser(SMALL).feed(post(b"abc"))
        assert message.body_limit == SMALL.max_body
        assert feed_pieces([post(b"x" * 101)], SMALL).status == 413

    def test_each_head_with_a_body_is_listed_once(self) -> None:
        listed: list[bytes] = []
        parser = RequestParser(SMALL)
        data = request(target=b"/none") + post(b"x", b"/cl") + chunked(b"y", target=b"/te")
        for piece in bytewise(data):
            parser.feed(piece)
            listed += [message.target for message in parser.with_body]
        assert listed == [b"/cl", b"/te"]


# -- message fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, content_length, is_chunked, has_body",
    [
        (request(), None, False, False),
        (post(b""), 0, False, False),
        (post(b"abc"), 3, False, True),
        (chunked(), None, True, True),
    ],
    ids=["no-framing", "cl-zero", "cl", "chunked"],
)
def test_framing_fields(
    data: bytes, content_length: int | None, is_chunked: bool, has_body: bool
) -> None:
    """has_body tells the server whether a body will follow the head at all."""
    (message,) = RequestParser().feed(data)
    assert message.content_length == content_length
    assert message.chunked is is_chunked
    assert message.has_body is has_body


@pytest.mark.parametrize(
    "version, fields, want_version, want_keep_alive",
    [
        (b"1.1", HOST, "1.1", True),
        (b"1.1", HOST + b"Connection: close\r\n", "1.1", False),
        (b"1.1", HOST + b"Connection: keep-alive\r\n", "1.1", True),
        (b"1.1", HOST + b"connection: Keep-Alive\r\n", "1.1", True),
        (b"1.0", b"", "1.0", False),
        (b"1.0", b"Connection: keep-alive\r\n", "1.0", True),
        (b"1.0", b"CONNECTION: keep-alive\r\n", "1.0", True),
        (b"1.0", b"Proxy-Connection: keep-alive\r\n", "1.0", True),
        (b"1.0", b"Connection: close\r\n", "1.0", False),
    ],
)
def test_version_and_keep_alive(
    version: bytes, fields: bytes, want_version: str, want_keep_alive: bool
) -> None:
    """The version is inferred from llhttp's keep-alive verdict when no Connection field
    could have changed it (a fast path): every way a field can change it is covered here."""
    for split in SPLITS.values():
        outcome = feed_pieces(split(request(fields=fields, version=version)))
        (message,) = outcome.answered
        assert (message.version, message.keep_alive) == (want_version, want_keep_alive)


@pytest.mark.parametrize(
    "version, fields, status",
    [
        (b"2.0", HOST, 505),
        (b"2.0", HOST + b"Connection: keep-alive\r\n", 505),
        (b"2.0", HOST + b"Proxy-Connection: keep-alive\r\n", 505),
    ],
)
def test_other_versions_are_refused_whatever_the_connection_field(
    version: bytes, fields: bytes, status: int
) -> None:
    with pytest.raises(ProtocolError) as caught:
        RequestParser().feed(request(fields=fields, version=version))
    assert caught.value.status == status


@pytest.mark.parametrize(
    "fields, status",
    [
        (b"Expect: x-magic\r\nExpect: 100-continue\r\n", 417),
        (b"Expect: 100-continue\r\nExpect: x-magic\r\n", 417),
        (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 400),
    ],
)
def test_every_repeated_expect_or_coding_is_checked(fields: bytes, status: int) -> None:
    """One acceptable value among repeated fields does not hide an unacceptable one."""
    with pytest.raises(ProtocolError) as caught:
        RequestParser().feed(request(b"POST", fields=HOST + fields, body=b"0\r\n\r\n"))
    assert caught.value.status == status


@pytest.mark.parametrize("feeds", ["one feed", "a feed each"])
def test_each_request_s_host_is_checked_on_a_kept_alive_connection(feeds: str) -> None:
    """The parser remembers the last valid Host value: a changed one is checked again."""
    heads = [
        b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a;b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    ]
    parser = RequestParser()
    taken: list[RequestMessage] = []
    with pytest.raises(ProtocolError) as caught:
        if feeds == "one feed":
            taken += parser.feed(b"".join(heads))
        for head in heads:
            taken += parser.feed(head)
    assert caught.value.status == 400 and "Host" in caught.value.reason
    if feeds == "a feed each":
        assert [dict(m.headers)[b"Host"] for m in taken] == [b"[::1]:8000"] * 2 + [b"a;b"]


def test_with_body_lists_the_messages_of_the_last_feed_that_carry_a_body() -> None:
    """The server opens a body sink for each of these: a stale entry would open another."""
    parser = RequestParser()
    first, second = parser.feed(post(b"abc") + request())
    assert parser.with_body == [first] and not second.has_body
    assert parser.feed(request()) and parser.with_body == []
    with pytest.raises(ProtocolError):
        parser.feed(post(b"xyz") + b"NOT HTTP\r\n\r\n")
    assert parser.feed(post(b"more")) == [] and parser.with_body == []


# -- partial messages ----------------------------------------------------------------------


def test_head_split_across_feeds() -> None:
    parser = RequestParser()
    data = request(target=b"/split")
    assert parser.idle
    assert parser.feed(data[:7]) == []
    assert parser.in_head and not parser.idle
    (message,) = parser.feed(data[7:])
    assert message.complete and message.target == b"/split"
    assert parser.idle


def test_content_length_body_completes_in_later_feeds() -> None:
    """The message is handed out once, at its head; later feeds fill the same object."""
    parser = RequestParser()
    data = post(b"hello world")
    head_end = data.index(b"\r\n\r\n") + 4
    (message,) = parser.feed(data[: head_end + 3])
    assert (message.complete, message.body_size) == (False, 3)
    assert not parser.idle and not parser.in_head
    assert parser.feed(data[head_end + 3 : head_end + 6]) == []
    assert (message.complete, message.body_size) == (False, 6)
    assert parser.feed(data[head_end + 6 :]) == []
    assert message.complete and message.body_size == 11
    assert message.take_body() == b"hello world"
    assert message.take_body() == b"", "take_body hands the body over once"
    assert parser.idle


def test_chunked_body_completes_in_later_feeds() -> None:
    parser = RequestParser()
    data = chunked(b"abc", b"defg")
    pieces = linewise(data)
    head = b"".join(pieces[:4])
    (message,) = parser.feed(head)
    assert message.chunked and not message.complete
    for piece in pieces[4:-1]:
        assert parser.feed(piece) == []
        assert not message.complete
    parser.feed(pieces[-1])
    assert message.complete and message.take_body() == b"abcdefg"


def test_next_request_after_a_split_body_is_returned_by_the_feed_that_completes_it() -> None:
    parser = RequestParser()
    first, second = post(b"12345"), request(target=b"/second")
    (message,) = parser.feed(first[:-2])
    (follower,) = parser.feed(first[-2:] + second)
    assert message.complete and message.take_body() == b"12345"
    assert follower.target == b"/second" and follower.complete


# -- bodies are handed out, never pushed --------------------------------------------------


def test_the_parser_never_calls_a_body_sink() -> None:
    """Sinks run app code: the server hands them the parts after feed() returns, never the
    parser from inside llhttp's callbacks. The parts wait in `body_parts`."""
    parser = RequestParser()
    data = chunked(b"chunk-one", b"chunk-two")
    cut = data.index(b"\r\n\r\n") + 4 + 5  # the head and "9\r\nch"
    (message,) = parser.feed(data[:cut])
    sink = RecordingSink()
    message.body_sink = sink  # type: ignore[assignment]
    for piece in bytewise(data[cut:]):
        parser.feed(piece)
    assert sink.events == []
    assert message.complete and message.take_body() == b"chunk-onechunk-two"


# -- pipelining and errors ----------------------------------------------------------------


def test_fifty_pipelined_requests_in_one_feed() -> None:
    data = b"".join(
        post(b"body-%d" % i, b"/p%d" % i) if i % 3 == 0 else request(target=b"/g%d" % i)
        for i in range(50)
    )
    messages = RequestParser().feed(data)
    assert len(messages) == 50
    for i, message in enumerate(messages):
        assert message.complete
        if i % 3 == 0:
            assert (message.method, message.target, message.take_body()) == (
                "POST",
                b"/p%d" % i,
                b"body-%d" % i,
            )
        else:
            assert (message.method, message.target, message.take_body()) == (
                "GET",
                b"/g%d" % i,
                b"",
            )


def test_error_completed_holds_the_good_requests_before_a_bad_one() -> None:
    good = [request(target=b"/1"), post(b"two", b"/2"), chunked(b"three", target=b"/3")]
    parser = RequestParser()
    with pytest.raises(ProtocolError) as caught:
        parser.feed(b"".join(good) + b"G@T / HTTP/1.1\r\n" + HOST + b"\r\n")
    error = caught.value
    assert error.status == 400
    assert [m.target for m in error.completed] == [b"/1", b"/2", b"/3"]
    assert all(m.complete for m in error.completed)
    assert [m.take_body() for m in error.completed] == [b"", b"two", b"three"]


def test_error_completed_includes_a_body_finished_in_the_failing_feed() -> None:
    """The POST's head came in an earlier feed; its body ends in the feed that fails.

    It is complete before the bad bytes, so it deserves its answer just as if the whole
    stream had come in one read ("requests completed in the same feed before the error").
    """
    parser = RequestParser()
    data = post(b"hello")
    (message,) = parser.feed(data[:-2])
    with pytest.raises(ProtocolError) as caught:
        parser.feed(data[-2:] + b"BAD\r\n\r\n")
    assert message.complete
    assert caught.value.completed == [message]


def test_error_completed_is_empty_when_the_first_request_is_bad() -> None:
    with pytest.raises(ProtocolError) as caught:
        RequestParser().feed(request(fields=b""))
    assert caught.value.status == 400 and caught.value.completed == []


@pytest.mark.parametrize(
    "bad, status",
    [
        (request(version=b"2.0"), 505),
        (request(target=b"/" + b"x" * 100), 414),
        (request(fields=HOST + b"Expect: nope\r\n"), 417),
        (post(b"z" * 101), 413),
        (request(b"get"), 400),
    ],
    ids=["505", "414", "417", "413", "400"],
)
def test_parser_is_dead_after_an_error(bad: bytes, status: int) -> None:
    """After a framing error nothing on the connection can be trusted (RFC 9112 §11.2)."""
    parser = RequestParser(SMALL)
    with pytest.raises(ProtocolError) as caught:
        parser.feed(bad)
    assert caught.value.status == status
    assert parser.feed(request()) == []
    assert parser.feed(b"") == []


def test_protocol_error_carries_status_and_reason() -> None:
    with pytest.raises(ProtocolError) as caught:
        RequestParser().feed(request(fields=HOST + HOST))
    error = caught.value
    assert error.status == 400 and isinstance(error.reason, str) and error.reason
    assert str(error).startswith("400")


# -- upgrades ------------------------------------------------------------------------------

UPGRADE = HOST + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"


def test_upgrade_is_ignored_and_the_next_request_parsed() -> None:
    """RFC 9110 §7.8: a server may ignore Upgrade; Rush answers it as an ordinary request and
    the connection stays HTTP/1.1 (as nginx does)."""
    for how in SPLITS.values():
        parser = RequestParser()
        data = request(target=b"/ws", fields=UPGRADE) + request(target=b"/next")
        messages = feed_all(how(data), parser)
        assert [(m.target, m.complete, m.keep_alive) for m in messages] == [
            (b"/ws", True, True),
            (b"/next", True, True),
        ]


def test_requests_around_an_upgrade_in_the_same_feed_are_returned() -> None:
    parser = RequestParser()
    messages = parser.feed(
        request(target=b"/1")
        + post(b"x", b"/2")
        + request(target=b"/ws", fields=UPGRADE)
        + post(b"yz", b"/3")
    )
    assert [m.target for m in messages] == [b"/1", b"/2", b"/ws", b"/3"]
    assert all(m.complete for m in messages)
    assert [m.take_body() for m in messages] == [b"", b"x", b"", b"yz"]


def test_bytes_of_another_protocol_after_an_upgrade_are_a_bad_request() -> None:
    parser = RequestParser()
    with pytest.raises(ProtocolError) as caught:
        feed_all(bytewise(request(target=b"/ws", fields=UPGRADE) + b"\x81\x05hello"), parser)
    assert caught.value.status == 400
    assert [m.target for m in caught.value.completed] in ([b"/ws"], [])


def test_upgrade_request_keeps_its_body() -> None:
    """An upgrade request may carry a body; it must not be silently dropped.

    The request is answered normally (Rush switches to no other protocol), so either its
    body is delivered in full or the request is refused, never a complete message whose
    body_size contradicts its Content-Length.
    """
    for how in SPLITS.values():
        parser = RequestParser()
        data = request(b"POST", b"/ws", UPGRADE + b"Content-Length: 3\r\n", b"abc")
        (message, after) = feed_all(how(data + request(target=b"/after")), parser)
        assert message.complete and after.complete
        assert message.body_size == message.content_length == 3
        assert message.take_body() == b"abc"
        chunked_upgrade = request(b"POST", b"/ws", UPGRADE + b"Transfer-Encoding: chunked\r\n")
        body = b"3\r\nabc\r\n0\r\n\r\n"
        (message,) = feed_all(how(chunked_upgrade + body), RequestParser())
        assert message.complete and message.take_body() == b"abc"


def test_feed_reads_only_up_to_end_of_a_reused_buffer() -> None:
    """The server hands over its receive buffer and the size of the read (no slice)."""
    stream = (
        b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
    )
    for cut in range(len(stream) + 1):
        whole_parser, buffered = RequestParser(), RequestParser()
        expected = whole_parser.feed(stream[:cut]) + whole_parser.feed(stream[cut:])
        buffer = bytearray(b"\xff" * 200)  # junk after `end` that must never be read
        buffer[:cut] = stream[:cut]
        got = buffered.feed(memoryview(buffer), cut)
        buffer[: len(stream) - cut] = stream[cut:]
        got += buffered.feed(memoryview(buffer), len(stream) - cut)
        assert [(m.method, m.target, m.take_body()) for m in got] == [
            (m.method, m.target, m.take_body()) for m in expected
        ], cut
