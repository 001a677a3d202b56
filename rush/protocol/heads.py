"""The plain-request fast path: whole request heads parsed in one call, in front of llhttp.

Facts and strategy:
- `parse_heads(data, max_target, max_header_bytes, max_header_count, max_body)` reads, from a
  message boundary, as many complete *plain* requests as `data` holds and returns them as
  tuples, with the number of bytes they took. It stops *before* the first request that is not
  plain or not complete; RequestParser hands everything from there to llhttp, so every error
  and every unusual case is still llhttp's and the parser's own. The fast path never refuses
  anything: it can only decline.
- Given `end`, only `data[:end]` is read: RequestParser passes the worker's receive buffer and
  the size of the read, so a read costs no slice of it.
- Given a `message_type` (RequestParser passes RequestMessage), it returns complete messages
  of that type instead of tuples, set as RequestParser sets them (`complete`,
  `content_length`, a body in `body_parts` bounded by `max_body`). The C function fills a
  subclass of its own `_heads.MessageFields` (parser.PythonMessageFields' twin) directly,
  without running Python: the messages cost a third of the fast path in Python
  (bench/micro.py --instructions); any other type it calls, then sets.
- Plain (a strict subset of what RequestParser accepts, with the same results):
  a request line `METHOD SP TARGET SP HTTP/1.1|HTTP/1.0 CRLF` with METHOD one of `METHODS` and
  TARGET "/" then RFC 3986 pchar, "/" and "?" bytes, at most `max_target` of them; field lines
  `NAME ":" VALUE CRLF` with NAME a token and VALUE only HTAB and SP to "~", stripped of SP and
  HTAB at both ends (RFC 9110 §5.5); then CRLF. At most `max_header_count` and `MAX_FIELDS`
  fields, their size (name + value + 4 each) at most `max_header_bytes`; exactly one Host in
  HTTP/1.1, at most one in 1.0 (RFC 9112 §3.2), its value a plain name or address (ASCII
  letters, digits, `-._~`) with an optional `:port` of digits (`plain_host`); no
  Transfer-Encoding, Upgrade, Expect or Proxy-Connection; at most one Connection, exactly
  `close` or `keep-alive` in any case; at most one Content-Length, ASCII digits only, at most
  `max_body`, with the whole body present.
- keep_alive as llhttp computes it (RFC 9112 §9.3): HTTP/1.1 unless `close`, HTTP/1.0 only
  with `keep-alive`. It stops after a request that is not kept alive.
- Two implementations, one behaviour: the C accelerator `rush.protocol._heads` and
  `python_parse_heads` below; a differential fuzzer holds them (and llhttp) to it. The C one is
  used unless it is not built or `RUSH_NO_EXTENSIONS` is set to anything but "" or "0"
  (DESIGN.md, hot-path rule 8).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, overload

#: One plain request: method, target, version, fields, keep_alive, content_length, body.
Head = tuple[str, bytes, str, list[tuple[bytes, bytes]], bool, "int | None", bytes]
Message = TypeVar("Message")


class ParseHeads(Protocol):
    """`parse_heads`: Head tuples, or complete messages of `message_type` when it is given."""

    @overload
    def __call__(
        self,
        data: bytes | memoryview,
        max_target: int,
        max_header_bytes: int,
        max_header_count: int,
        max_body: int,
        message_type: None = None,
        end: int | None = None,
        /,
    ) -> tuple[list[Head], int]: ...

    @overload
    def __call__(
        self,
        data: bytes | memoryview,
        max_target: int,
        max_header_bytes: int,
        max_header_count: int,
        max_body: int,
        message_type: type[Message],
        end: int | None = None,
        /,
    ) -> tuple[list[Message], int]: ...


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
#: A head with more fields than this is left to llhttp (the C code keeps them on its stack).
MAX_FIELDS = 64

_METHOD_NAMES = {name.encode(): name for name in METHODS}
_VERSIONS = {b"1": "1.1", b"0": "1.0"}
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_PLAIN_HEAD = re.compile(
    rb"(" + b"|".join(_METHOD_NAMES) + rb") "
    rb"(/[-A-Za-z0-9._~!$&'()*+,;=:@/?%]*) "
    rb"HTTP/1\.([01])\r\n"
    rb"((?:" + _TOKEN + rb"+:[\t\x20-\x7e]*\r\n)*)"
    rb"\r\n"
)
# The bytes of a plain Host name: ASCII letters, digits and -._~ (see plain_host).
_HOST_NAME_BYTES = b"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def plain_host(value: bytes) -> bool:
    """Whether a Host value is a plain name or IPv4 address with an optional `:port` of
    digits, the common valid one (any other valid one, an IPv6 literal, sub-delims or
    %-escapes, is for RequestParser to judge). PERF: no regex (a match costs ~2.8k
    instructions, this ~2k; bytes.translate with a delete argument builds a table each call)."""
    name, _, port = value.partition(b":")
    return not name.strip(_HOST_NAME_BYTES) and (not port or port.isdigit())


# Fields with a meaning for framing, keep-alive or the parser's checks, by lowercase name.
_HOST, _LENGTH, _CONNECTION, _OTHER = 1, 2, 3, 4
_SPECIAL = {
    b"host": _HOST,
    b"content-length": _LENGTH,
    b"connection": _CONNECTION,
    b"proxy-connection": _OTHER,  # llhttp reads it as Connection
    b"transfer-encoding": _OTHER,
    b"upgrade": _OTHER,
    b"expect": _OTHER,
}


def python_parse_heads(
    data: bytes | memoryview,
    max_target: int,
    max_header_bytes: int,
    max_header_count: int,
    max_body: int,
    message_type: type[Any] | None = None,
    end: int | None = None,
    /,
) -> tuple[list[Any], int]:
    """The pure-Python implementation of `parse_heads` (see the module notes)."""
    heads: list[Any] = []
    pos = 0
    stop = len(data) if end is None else min(end, len(data))
    if stop < 0:
        raise ValueError("parse_heads() end must not be negative")
    max_count = min(max_header_count, MAX_FIELDS)
    while True:
        match = _PLAIN_HEAD.match(data, pos, stop)
        if match is None:
            break
        method, target, minor, block = match.groups()
        if len(target) > max_target:
            break
        version = _VERSIONS[minor]
        head = _plain_fields(block, version, max_header_bytes, max_count, max_body)
        if head is None:
            break
        fields, keep_alive, length = head
        after = match.end()
        body = b""
        if length:
            if after + length > stop:
                break  # the body is still arriving
            body = bytes(data[after : after + length])
            after += length
        if message_type is None:
            heads.append((_METHOD_NAMES[method], target, version, fields, keep_alive, length, body))
        else:
            heads.append(_message(message_type, method, target, version, head, body, max_body))
        pos = after
        if not keep_alive:
            break  # llhttp refuses data after it; let it see that data
    return heads, pos


def _message(
    message_type: type[Any],
    method: bytes,
    target: bytes,
    version: str,
    head: tuple[list[tuple[bytes, bytes]], bool, int | None],
    body: bytes,
    max_body: int,
) -> Any:
    """A complete request message, as RequestParser would make it from the same bytes."""
    fields, keep_alive, length = head
    message = message_type(_METHOD_NAMES[method], target, version, fields, keep_alive)
    message.complete = True
    if length is not None:
        message.content_length = length
        if length:
            message.body_parts = [body]
            message.body_size = length
            message.body_limit = max_body
    return message


def _plain_fields(
    block: bytes, version: str, max_bytes: int, max_count: int, max_body: int
) -> tuple[list[tuple[bytes, bytes]], bool, int | None] | None:
    """The fields of a head's field block, keep_alive and Content-Length; None: not plain."""
    lines = block.split(b"\r\n")
    lines.pop()  # the block ends with CRLF (or is empty)
    if len(lines) > max_count:
        return None
    fields = []
    size = 4 * len(lines)
    hosts = 0
    length: int | None = None
    connection: bytes | None = None
    for line in lines:
        name, _, value = line.partition(b":")
        value = value.strip(b" \t")
        fields.append((name, value))
        size += len(name) + len(value)
        kind = _SPECIAL.get(name.lower()) if 4 <= len(name) <= 17 else None
        if kind is None:
            continue
        if kind == _HOST:
            hosts += 1
            if not plain_host(value):
                return None
        elif kind == _LENGTH:
            digits = value.lstrip(b"0")
            if length is not None or not value.isdigit() or len(digits) > len(str(max_body)):
                return None
            length = int(digits or b"0")
            if length > max_body:
                return None
        elif kind == _CONNECTION:
            if connection is not None:
                return None
            connection = value.lower()
            if connection != b"close" and connection != b"keep-alive":
                return None
        else:
            return None
    if size > max_bytes or hosts > 1 or (hosts == 0 and version == "1.1"):
        return None
    keep_alive = connection != b"close" if version == "1.1" else connection == b"keep-alive"
    return fields, keep_alive, length


def python_decode_fields(
    raw: list[tuple[bytes, bytes]],
) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """The pure-Python implementation of `decode_fields`: rush.datastructures.Headers' items,
    (name, value) decoded as latin-1 (RFC 9110 §5.5: field values are octets; latin-1 maps
    each one to a code point), and its index, each lower-case name to its values in order.
    The C accelerator refuses (TypeError) anything but a list of (bytes, bytes) tuples."""
    items = []
    index: dict[str, list[str]] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        items.append((name, value))
        index.setdefault(name.lower(), []).append(value)
    return items, index


#: What IMPLEMENTATION says of each of Rush's accelerators (this one, rush.routetrie's).
COMPILED, PURE = "C accelerator", "pure Python"


def extensions_wanted() -> bool:
    """Whether Rush's C accelerators may be used: not when RUSH_NO_EXTENSIONS is set to
    anything but "" or "0" (DESIGN.md, hot-path rule 8). The one reading of the variable."""
    return os.environ.get("RUSH_NO_EXTENSIONS", "") in ("", "0")


DecodeFields = Callable[
    [list[tuple[bytes, bytes]]], tuple[list[tuple[str, str]], dict[str, list[str]]]
]


def _select() -> tuple[ParseHeads, type | None, DecodeFields, str]:
    """The C accelerator unless RUSH_NO_EXTENSIONS=1 or it is not built."""
    if not extensions_wanted():
        return python_parse_heads, None, python_decode_fields, PURE
    try:
        from rush.protocol._heads import MessageFields
        from rush.protocol._heads import decode_fields as compiled_decode
        from rush.protocol._heads import parse_heads as compiled
    except ImportError:
        return python_parse_heads, None, python_decode_fields, PURE
    return compiled, MessageFields, compiled_decode, COMPILED


#: COMPILED_FIELDS: the C twin of parser.PythonMessageFields, where the accelerator is used.
parse_heads, COMPILED_FIELDS, decode_fields, IMPLEMENTATION = _select()
