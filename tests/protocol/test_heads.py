"""parse_heads() itself (rush.protocol.heads): what it takes, every reason it declines, and
the same tuples (or messages) from the C accelerator and the pure-Python twin.

RequestParser-level equivalence with llhttp is test_differential.py's; this file pins the
fast path's own contract, so a change to "plain" is a deliberate one.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rush.protocol import Limits, RequestMessage
from rush.protocol.heads import (
    COMPILED_FIELDS,
    MAX_FIELDS,
    ParseHeads,
    decode_fields,
    python_decode_fields,
    python_parse_heads,
)
from rush.protocol.parser import PythonMessageFields

try:
    from rush.protocol._heads import parse_heads as C_PARSE_HEADS
except ImportError:
    C_PARSE_HEADS = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
IMPLEMENTATIONS: dict[str, ParseHeads] = {"python": python_parse_heads}
if C_PARSE_HEADS is not None:
    IMPLEMENTATIONS["C"] = C_PARSE_HEADS
DEFAULTS = Limits()
WRK = b"GET /hello?name=bill HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
TINY = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"  # plain under SMALL limits too
HOST = b"Host: a\r\n"


def parse(name: str, data: bytes | memoryview, limits: Limits = DEFAULTS) -> tuple[list, int]:
    return IMPLEMENTATIONS[name](
        data,
        limits.max_request_line,
        limits.max_header_bytes,
        limits.max_header_count,
        limits.max_body,
    )


def both(data: bytes, limits: Limits = DEFAULTS) -> tuple[list, int]:
    """The result, the same from every implementation."""
    results = {name: parse(name, data, limits) for name in IMPLEMENTATIONS}
    first = results["python"]
    for name, result in results.items():
        assert result == first, f"{name} differs from python on {data!r}"
    return first


def head(fields: bytes = HOST, line: bytes = b"GET / HTTP/1.1", body: bytes = b"") -> bytes:
    return line + b"\r\n" + fields + b"\r\n" + body


@pytest.mark.skipif(
    C_PARSE_HEADS is None,
    reason="rush.protocol._heads is not built (pip install -e . with a C compiler builds it):"
    " only the pure-Python fast path is tested",
)
def test_the_c_accelerator_is_tested() -> None:
    assert set(IMPLEMENTATIONS) == {"python", "C"}


# -- what it takes ---------------------------------------------------------------------------


def test_a_wrk_request() -> None:
    assert both(WRK) == (
        [("GET", b"/hello?name=bill", "1.1", [(b"Host", b"127.0.0.1:8000")], True, None, b"")],
        len(WRK),
    )


def test_pipelined_requests_all_come_in_one_call() -> None:
    heads, consumed = both(WRK * 16)
    assert len(heads) == 16 and consumed == 16 * len(WRK)


def test_a_body_comes_out_whole() -> None:
    data = head(HOST + b"Content-Length: 5\r\n", b"POST /p HTTP/1.1", b"hello") + WRK
    heads, consumed = both(data)
    assert heads[0] == (
        "POST",
        b"/p",
        "1.1",
        [(b"Host", b"a"), (b"Content-Length", b"5")],
        True,
        5,
        b"hello",
    )
    assert len(heads) == 2 and consumed == len(data)


def test_content_length_zero_and_leading_zeros() -> None:
    assert both(head(HOST + b"Content-Length: 0\r\n"))[0][0][5:] == (0, b"")
    assert both(head(HOST + b"Content-Length: 0003\r\n", body=b"abc"))[0][0][5:] == (3, b"abc")


def test_values_lose_surrounding_whitespace_only() -> None:
    (got,), _ = both(head(HOST + b"X-A:  \t a \t b\t \r\nX-B:\r\nX-C: \t\r\n"))
    assert got[3] == [(b"Host", b"a"), (b"X-A", b"a \t b"), (b"X-B", b""), (b"X-C", b"")]


def test_methods_are_the_interned_names() -> None:
    (got,), _ = both(head(line=b"DELETE /x HTTP/1.1"))
    assert got[0] == "DELETE" and got[0] is sys.intern("DELETE")


@pytest.mark.parametrize(
    ("fields", "version", "keep_alive"),
    [
        (HOST, b"1.1", True),
        (HOST + b"Connection: keep-alive\r\n", b"1.1", True),
        (HOST + b"Connection: Close\r\n", b"1.1", False),
        (b"", b"1.0", False),
        (b"Connection: Keep-Alive\r\n", b"1.0", True),
        (HOST + b"Connection: close\r\n", b"1.0", False),
    ],
)
def test_keep_alive_as_llhttp_has_it(fields: bytes, version: bytes, keep_alive: bool) -> None:
    (got,), _ = both(head(fields, b"GET / HTTP/" + version))
    assert got[2] == version.decode() and got[4] is keep_alive


def test_it_stops_after_a_request_that_closes() -> None:
    closing = head(HOST + b"Connection: close\r\n")
    heads, consumed = both(WRK + closing + WRK)
    assert [h[4] for h in heads] == [True, False] and consumed == len(WRK + closing)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_contiguous_buffer(kind: type) -> None:
    for name in IMPLEMENTATIONS:
        heads, _ = parse(name, kind(WRK + head(b"Content-Length: 2\r\n" + HOST, body=b"ok")))
        assert heads[1][6] == b"ok" and type(heads[1][6]) is bytes


def test_limits_are_reached_not_passed() -> None:
    limits = Limits(max_request_line=10, max_header_bytes=40, max_header_count=3, max_body=4)
    fields = HOST + b"X-B: 12345\r\nContent-Length: 4\r\n"  # 4 + 1 + 3 + 5 + 14 + 1 + 3 * 4
    assert len(both(head(fields, b"GET /123456789 HTTP/1.1", b"body"), limits)[0]) == 1


# -- every reason it declines --------------------------------------------------------------


SMALL = Limits(max_request_line=10, max_header_bytes=30, max_header_count=3, max_body=4)
DECLINED = {
    "empty": (b"", DEFAULTS),
    "incomplete request line": (b"GET / HTTP/1.1\r", DEFAULTS),
    "incomplete head": (WRK[:-1], DEFAULTS),
    "incomplete body": (head(HOST + b"Content-Length: 5\r\n", body=b"abcd"), DEFAULTS),
    "leading blank line": (b"\r\n" + WRK, DEFAULTS),
    "unknown method": (head(line=b"PROPFIND / HTTP/1.1"), DEFAULTS),
    "lowercase method": (head(line=b"get / HTTP/1.1"), DEFAULTS),
    "CONNECT": (head(line=b"CONNECT a:443 HTTP/1.1"), DEFAULTS),
    "two spaces": (head(line=b"GET  / HTTP/1.1"), DEFAULTS),
    "asterisk-form": (head(line=b"OPTIONS * HTTP/1.1"), DEFAULTS),
    "absolute-form": (head(line=b"GET http://a/ HTTP/1.1"), DEFAULTS),
    "fragment": (head(line=b"GET /#x HTTP/1.1"), DEFAULTS),
    "target byte outside the set": (head(line=b"GET /{x} HTTP/1.1"), DEFAULTS),
    "non-ASCII target": (head(line=b"GET /\xe9 HTTP/1.1"), DEFAULTS),
    "target too long": (head(line=b"GET /1234567890 HTTP/1.1"), SMALL),
    "HTTP/1.2": (head(line=b"GET / HTTP/1.2"), DEFAULTS),
    "HTTP/2.0": (head(line=b"GET / HTTP/2.0"), DEFAULTS),
    "lowercase version": (head(line=b"GET / http/1.1"), DEFAULTS),
    "bare LF": (b"GET / HTTP/1.1\nHost: a\r\n\r\n", DEFAULTS),
    "bare LF in fields": (b"GET / HTTP/1.1\r\nHost: a\n\r\n", DEFAULTS),
    "obs-fold": (head(HOST + b"X-A: a\r\n b\r\n"), DEFAULTS),
    "space before colon": (head(b"Host : a\r\n"), DEFAULTS),
    "no colon": (head(HOST + b"X-A\r\n"), DEFAULTS),
    "empty name": (head(HOST + b": a\r\n"), DEFAULTS),
    "name byte outside token": (head(HOST + b"X@A: a\r\n"), DEFAULTS),
    "obs-text value": (head(HOST + b"X-A: caf\xe9\r\n"), DEFAULTS),
    "DEL in value": (head(HOST + b"X-A: a\x7f\r\n"), DEFAULTS),
    "NUL in value": (head(HOST + b"X-A: a\x00\r\n"), DEFAULTS),
    "too many fields": (head(HOST + b"A: 1\r\nB: 2\r\nC: 3\r\n"), SMALL),
    "more fields than MAX_FIELDS": (head(HOST + b"A: 1\r\n" * MAX_FIELDS), DEFAULTS),
    "field section too large": (head(HOST + b"X-A: 1234567890123456789\r\n"), SMALL),
    "no Host in 1.1": (head(b"X-A: 1\r\n"), DEFAULTS),
    "two Hosts": (head(HOST + b"host: b\r\n"), DEFAULTS),
    "two Hosts in 1.0": (head(HOST + HOST, b"GET / HTTP/1.0"), DEFAULTS),
    "Transfer-Encoding": (head(HOST + b"Transfer-Encoding: chunked\r\n"), DEFAULTS),
    "Upgrade": (head(HOST + b"Upgrade: websocket\r\n"), DEFAULTS),
    "Expect": (head(HOST + b"Expect: 100-continue\r\n"), DEFAULTS),
    "Proxy-Connection": (head(HOST + b"Proxy-Connection: close\r\n"), DEFAULTS),
    "Connection list": (head(HOST + b"Connection: keep-alive, close\r\n"), DEFAULTS),
    "Connection upgrade": (head(HOST + b"Connection: upgrade\r\n"), DEFAULTS),
    "two Connections": (head(HOST + b"Connection: close\r\nConnection: close\r\n"), DEFAULTS),
    "two Content-Lengths": (head(HOST + b"Content-Length: 0\r\nContent-Length: 0\r\n"), DEFAULTS),
    "empty Content-Length": (head(HOST + b"Content-Length:\r\n"), DEFAULTS),
    "signed Content-Length": (head(HOST + b"Content-Length: +1\r\n", body=b"x"), DEFAULTS),
    "Content-Length list": (head(HOST + b"Content-Length: 1,1\r\n", body=b"x"), DEFAULTS),
    "Content-Length over max_body": (head(HOST + b"Content-Length: 5\r\n", body=b"x" * 5), SMALL),
    "huge Content-Length": (head(HOST + b"Content-Length: 9" + b"9" * 40 + b"\r\n"), DEFAULTS),
}


@pytest.mark.parametrize("reason", sorted(DECLINED))
def test_declines(reason: str) -> None:
    """A request it declines is left whole to llhttp, also after plain ones."""
    data, limits = DECLINED[reason]
    assert both(data, limits) == ([], 0)
    heads, consumed = both(TINY + data, limits)
    assert len(heads) == 1 and consumed == len(TINY)


def test_every_prefix_of_a_pipeline_yields_whole_requests_only() -> None:
    body = head(HOST + b"Content-Length: 3\r\n", b"PUT /u HTTP/1.1", b"abc")
    stream = WRK + body + WRK
    for end in range(len(stream) + 1):
        heads, consumed = both(stream[:end])
        assert consumed in (0, len(WRK), len(WRK + body), len(stream))
        assert consumed <= end


def test_nonsense_limits_decline_alike() -> None:
    for limits in (Limits(-1, -1, -1, -1), Limits(0, 0, 0, 0), Limits(1, 1, 1, 1)):
        both(WRK, limits)
        both(head(b"Content-Length: 0\r\n" + HOST), limits)


@pytest.mark.skipif(C_PARSE_HEADS is None, reason="the C accelerator is not built")
def test_the_c_function_checks_its_arguments() -> None:
    assert C_PARSE_HEADS is not None
    with pytest.raises(TypeError):
        C_PARSE_HEADS(WRK, 1, 2, 3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        C_PARSE_HEADS("text", 1, 2, 3, 4)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        C_PARSE_HEADS(WRK, "1", 2, 3, 4)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        C_PARSE_HEADS(WRK, 1 << 70, 2, 3, 4)


# -- messages: parse_heads(..., message_type) -------------------------------------------------

try:
    from rush.protocol._heads import MessageFields as C_FIELDS
except ImportError:
    C_FIELDS = None  # type: ignore[assignment,misc]

FIELD_TYPES: dict[str, type] = {"python": PythonMessageFields}
if C_FIELDS is not None:
    FIELD_TYPES["C"] = C_FIELDS
NAMES = PythonMessageFields.__slots__


class Renamed(PythonMessageFields):
    """A type the C code does not know: it is called, then its attributes are set."""

    __slots__ = ("made",)

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.made = True


def values(message: object) -> tuple[object, ...]:
    return tuple(getattr(message, name) for name in NAMES)


MESSAGE_INPUTS = [
    WRK,
    WRK * 3,
    head(HOST + b"Content-Length: 5\r\n", b"POST /p HTTP/1.1", b"hello") + WRK,
    head(HOST + b"Content-Length: 0\r\n", b"PUT /p HTTP/1.1"),
    head(b"Connection: close\r\n", b"GET /c HTTP/1.0") + WRK,
    head(HOST + b"Connection: close\r\n") + WRK,
    WRK + head(b"Transfer-Encoding: chunked\r\n"),
    b"",
]


@pytest.mark.parametrize("data", MESSAGE_INPUTS)
def test_messages_are_the_heads_made_whole(data: bytes) -> None:
    """Every implementation, given any message type (its own C fields, a subclass of them, a
    pure-Python one), makes the messages RequestParser's fast path would."""
    limits = (DEFAULTS.max_request_line, DEFAULTS.max_header_bytes, DEFAULTS.max_header_count)
    heads, consumed = both(data)
    expected = []
    for method, target, version, fields, keep_alive, length, body in heads:
        message = PythonMessageFields(method, target, version, fields, keep_alive)
        message.complete = True
        if length is not None:
            message.content_length = length
            if length:
                message.body_parts, message.body_size = [body], length
                message.body_limit = DEFAULTS.max_body
        expected.append(values(message))
    for name, implementation in IMPLEMENTATIONS.items():
        for message_type in (*FIELD_TYPES.values(), RequestMessage, Renamed):
            got, used = implementation(data, *limits, DEFAULTS.max_body, message_type)
            assert used == consumed, (name, message_type)
            assert [type(message) for message in got] == [message_type] * len(expected)
            assert [values(message) for message in got] == expected, (name, message_type)
            for message in got:
                assert message.headers is not got[0].headers or message is got[0]
                assert message.body_parts is not got[0].body_parts or message is got[0]
    assert all(message.made for message in python_parse_heads(data, *limits, 9, Renamed)[0])


@pytest.mark.parametrize("name", list(FIELD_TYPES))
def test_message_fields_are_alike(name: str) -> None:
    fields = FIELD_TYPES[name]
    default = fields()
    assert values(default) == values(PythonMessageFields())
    assert default.headers is not fields().headers and default.body_parts is not fields().body_parts
    given = fields("PUT", b"/x", "1.0", [(b"A", b"b")], False)
    assert values(given) == values(PythonMessageFields("PUT", b"/x", "1.0", [(b"A", b"b")], False))
    by_name = fields(keep_alive=False, headers=None, method="GET")
    assert values(by_name) == values(PythonMessageFields("GET", keep_alive=False))
    for name_ in NAMES:
        setattr(given, name_, name_)
    assert values(given) == NAMES
    with pytest.raises(AttributeError):
        given.other = 1  # type: ignore[attr-defined]
    unset = fields.__new__(fields)
    with pytest.raises(AttributeError):
        unset.method  # noqa: B018
    del given.method
    with pytest.raises(AttributeError):
        given.method  # noqa: B018
    with pytest.raises(TypeError):
        fields("GET", b"/", "1.1", [], True, "extra")  # type: ignore[call-arg]


def test_request_message_has_the_selected_fields() -> None:
    assert RequestMessage.__bases__ == (COMPILED_FIELDS or PythonMessageFields,)
    message = RequestMessage.built("POST", b"/b", "1.1", [(b"Host", b"a")], b"xy")
    assert message.has_body and message.take_body() == b"xy" and message.take_body() == b""


@pytest.mark.skipif(C_PARSE_HEADS is None, reason="the C accelerator is not built")
def test_the_c_function_checks_its_message_type() -> None:
    assert C_PARSE_HEADS is not None
    with pytest.raises(TypeError):
        C_PARSE_HEADS(WRK, 100, 100, 100, 100, "not a type")  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        C_PARSE_HEADS(WRK, 100, 100, 100, 100, int)  # called with five arguments: refuses


def test_the_pure_twin_is_the_documented_function() -> None:
    assert IMPLEMENTATIONS["python"] is python_parse_heads


# -- selection ------------------------------------------------------------------------------


def selected(env: dict[str, str]) -> str:
    """heads.IMPLEMENTATION and whether RequestParser uses a fast path, in a fresh process."""
    code = (
        "from rush.protocol import heads, parser; "
        "print(heads.IMPLEMENTATION, parser.PLAIN_HEADS is not None,"
        " parser.RequestMessage.__bases__[0].__name__)"
    )
    clean = {k: v for k, v in os.environ.items() if k != "RUSH_NO_EXTENSIONS"}
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return run.stdout.strip()


def test_rush_no_extensions_selects_the_pure_path() -> None:
    assert selected({"RUSH_NO_EXTENSIONS": "1"}) == "pure Python False PythonMessageFields"


@pytest.mark.skipif(C_PARSE_HEADS is None, reason="the C accelerator is not built")
def test_the_c_accelerator_is_selected_by_default() -> None:
    assert selected({}) == "C accelerator True MessageFields"
    assert selected({"RUSH_NO_EXTENSIONS": "0"}) == "C accelerator True MessageFields"


# -- decode_fields: Headers' items and index ------------------------------------------------

try:
    from rush.protocol._heads import decode_fields as C_DECODE_FIELDS
except ImportError:
    C_DECODE_FIELDS = None  # type: ignore[assignment]


def random_fields(rng: random.Random) -> list[tuple[bytes, bytes]]:
    names = [b"Host", b"HOST", b"host", b"X-Long-Name-" * 5, b"", b"A\xc0b", b"\xde\xdf", b"x"]
    return [
        (rng.choice(names), bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 9, 300)))))
        for _ in range(rng.choice((0, 1, 2, 12, 70)))
    ]


@pytest.mark.skipif(C_DECODE_FIELDS is None, reason="the C accelerator is not built")
def test_decode_fields_is_the_twin_in_c() -> None:
    rng = random.Random(12)
    for _ in range(2000):
        raw = random_fields(rng)
        assert C_DECODE_FIELDS(raw) == python_decode_fields(raw), raw


def test_decode_fields_keeps_order_repeats_and_latin_1() -> None:
    raw = [(b"Host", b"a"), (b"X-\xc0", b"\xe9 \x00"), (b"HOST", b"b"), (b"host", b"")]
    items, index = decode_fields(raw)
    assert items == [("Host", "a"), ("X-\xc0", "\xe9 \x00"), ("HOST", "b"), ("host", "")]
    assert index == {"host": ["a", "b", ""], "x-\xe0": ["\xe9 \x00"]}
    assert decode_fields([]) == ([], {})


@pytest.mark.skipif(C_DECODE_FIELDS is None, reason="the C accelerator is not built")
def test_decode_fields_takes_any_iterable_of_pairs_as_the_twin_does() -> None:
    for make in (tuple, list, iter):
        for pairs in ([], [(b"A", b"1")], [[b"A", b"1"], (b"a", b"2")]):
            twin = python_decode_fields(make(pairs))  # type: ignore[arg-type]
            assert C_DECODE_FIELDS(make(pairs)) == twin  # type: ignore[arg-type]


@pytest.mark.skipif(C_DECODE_FIELDS is None, reason="the C accelerator is not built")
@pytest.mark.parametrize(
    "raw", [[("Host", b"a")], [(b"Host", "a")], [(b"Host",)], [(b"a", b"b", b"c")], [None], 1]
)
def test_decode_fields_refuses_what_is_not_byte_pairs(raw: object) -> None:
    with pytest.raises(TypeError):
        C_DECODE_FIELDS(raw)  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError, AttributeError)):
        python_decode_fields(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(IMPLEMENTATIONS))
def test_end_reads_a_prefix_as_if_it_were_all_the_data(name: str) -> None:
    stream = WRK + head(HOST + b"Content-Length: 4\r\n", b"POST / HTTP/1.1", b"body") + TINY
    for end in range(len(stream) + 1):
        args = (DEFAULTS.max_request_line, DEFAULTS.max_header_bytes, DEFAULTS.max_header_count)
        prefix = IMPLEMENTATIONS[name](stream[:end], *args, DEFAULTS.max_body)
        assert IMPLEMENTATIONS[name](stream, *args, DEFAULTS.max_body, None, end) == prefix
        assert IMPLEMENTATIONS[name](stream, *args, DEFAULTS.max_body, None, end + 1000) == (
            IMPLEMENTATIONS[name](stream, *args, DEFAULTS.max_body)
        )
    with pytest.raises(ValueError):
        IMPLEMENTATIONS[name](stream, *args, DEFAULTS.max_body, None, -1)
