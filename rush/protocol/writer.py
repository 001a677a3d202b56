"""The one place that spells a response on the wire: status lines, `Server`, `Date`,
`Connection`, `Content-Length` or chunked framing, and the `100 Continue` interim answer.

An answer is what an application hands the server: `(status, lines, body)`, where `lines` are
the header lines that are not framing (`b"Content-Type: ...\\r\\n"`, pre-rendered once where
they never change), and `body` is bytes, a `FileBody` (a range of an open file, sent with
sendfile) or a `StreamBody` (an iterator pulled as the socket drains). A plain tuple, because
one is built per request and a tuple costs a tenth of an object.

Facts and strategy:
- RFC 9110 §6.4.1: 1xx, 204 and 304 answers carry no content and no `Content-Length` (a 304
  stands for a representation whose length we need not know); a HEAD answer carries the
  `Content-Length` a GET would have, and no body (§9.3.2).
- RFC 9112 §9.3: HTTP/1.1 persists unless told `Connection: close`; HTTP/1.0 persists only with
  `Connection: keep-alive`. A body of unknown length is chunked for HTTP/1.1 (§7.1) and, for
  HTTP/1.0, delimited by closing the connection (§6.3).
- Nothing here reads a clock or a socket: the caller passes the `Date` line it refreshes.
- Field text from an application is checked when it is encoded (`encode_fields`): a CR, LF or
  NUL would let a value forge header lines (response splitting), and HTTP field text is
  latin-1 at most. A field name must be a token (RFC 9110 §5.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

SERVER = b"rush"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CLOSE_LINE = b"Connection: close\r\n"
KEEP_ALIVE_LINE = b"Connection: keep-alive\r\n"

#: RFC 9110 §7.6.1 (and PEP 3333): fields about one connection, which only the server sends;
#: an application that sets one is refused (hosting WSGI) or has it dropped (as WSGI app).
HOP_BY_HOP = frozenset(
    "connection keep-alive proxy-authenticate proxy-authorization te trailer trailers "
    "transfer-encoding upgrade".split()
)
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
STATUS_LINES: dict[int, bytes] = {}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_FORBIDDEN_VALUE = re.compile(r"[\r\n\x00]")


class InvalidAnswer(ValueError):
    """An application's answer that must not reach the wire (bad status, forged fields)."""


def reason_phrase(status: int) -> str:
    return _PHRASES.get(status, "Unknown")


def status_line(status: int) -> bytes:
    """`HTTP/1.1 200 OK\\r\\nServer: rush\\r\\n`, built once per status code."""
    line = STATUS_LINES.get(status)
    if line is None:
        check_status(status)
        text = f"HTTP/1.1 {status} {reason_phrase(status)}\r\nServer: rush\r\n"
        line = STATUS_LINES[status] = text.encode("latin-1")
    return line


def check_status(status: Any) -> int:
    """`status` if it is an int in 100..599 (RFC 9110 §15), else InvalidAnswer."""
    if type(status) is not int or not 100 <= status <= 599:
        raise InvalidAnswer(f"invalid status {status!r}: need an int in 100..599")
    return status


for _code in (200, 201, 204, 206, 301, 302, 304, 400, 404, 405, 413, 416, 500):
    status_line(_code)


def date_line(now: float) -> bytes:
    """The `Date` line for the second `now` falls in (RFC 9110 §6.6.1)."""
    return b"Date: " + formatdate(int(now), usegmt=True).encode("ascii") + b"\r\n"


def connection_line(keep_alive: bool, version: str) -> bytes:
    """RFC 9112 §9.3: say what differs from the version's default, nothing otherwise."""
    if keep_alive:
        return b"" if version == "1.1" else KEEP_ALIVE_LINE
    return CLOSE_LINE


def has_no_body(status: int) -> bool:
    """RFC 9110 §6.4.1: 1xx, 204 and 304 answers never carry content."""
    return status < 200 or status == 204 or status == 304


def encode_fields(fields: Iterable[tuple[Any, Any]]) -> bytes:
    """Header lines from (name, value) pairs, refusing what could forge or break the head.
    An int value is written in decimal; any other value must be a str."""
    lines = []
    for name, value in fields:
        if type(name) is not str or not _TOKEN.match(name):
            raise InvalidAnswer(f"invalid header name {name!r}")
        if type(value) is not str:
            value = str(value) if type(value) is int else _refuse_value(name, value)
        if _FORBIDDEN_VALUE.search(value):
            raise InvalidAnswer(f"header {name!r}: the value contains CR, LF or NUL")
        lines.append(f"{name}: {value}\r\n")
    text = "".join(lines)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidAnswer(f"header text is not latin-1: {text!r}") from None


def _refuse_value(name: str, value: object) -> str:
    raise InvalidAnswer(f"header {name!r}: the value must be a str, not {type(value).__name__}")


class FileBody:
    """A body that is a range of an open file, sent with `os.sendfile`.

    The server owns it once answered and calls `close()` when the last byte is sent, when the
    answer is to a HEAD request, or when the client is gone.
    """

    __slots__ = ("file", "offset", "remaining")

    def __init__(self, file: Any, offset: int, count: int) -> None:
        self.file = file
        self.offset = offset
        self.remaining = count

    def fileno(self) -> int:
        return self.file.fileno()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.file.close()


class StreamBody:
    """A body produced by an iterator of bytes, pulled only as fast as the socket drains.

    `length` is the `Content-Length` when the application knows it; otherwise the body is
    chunked (HTTP/1.1) or ends with the connection (HTTP/1.0). `close()` closes the iterator
    (a generator's `finally` runs), once it is exhausted, failed, or the client left.
    """

    __slots__ = ("iterator", "length", "sent", "_closers")

    def __init__(
        self, iterable: Iterable[bytes], length: int | None = None, source: object = None
    ) -> None:
        """`source`: what `iterable` wraps, if anything; it is closed too (after it)."""
        self.iterator: Iterator[bytes] = iter(iterable)
        self.length = length
        self.sent = 0
        self._closers = [getattr(item, "close", None) for item in (self.iterator, source)]

    def close(self) -> None:
        """Close the iterator and its source, once; what they raise is the caller's to log."""
        closers, self._closers = self._closers, []
        for close in closers:
            if close is not None:
                close()


Body = bytes | FileBody | StreamBody
#: (status, header lines that are not framing, body): what an application answers.
Answer = tuple[int, bytes, Body]


def render(
    status: int, lines: bytes, body: bytes, connection: bytes, date: bytes, head_only: bool
) -> bytes:
    """The whole response for an answer whose body is bytes."""
    if status < 200 or status == 204 or status == 304:  # has_no_body(), inlined (hot path)
        return b"".join((status_line(status), date, connection, lines, b"\r\n"))
    # PERF: one join of ready parts; a %-format of the same costs twice the instructions
    # (bench/micro.py --instructions: 5.2k against 2.4k for a 1.5 KB body), most of them in
    # formatting the length, which is therefore memoised.
    size = len(body)
    return b"".join(
        (
            STATUS_LINES.get(status) or status_line(status),
            date,
            connection,
            lines,
            LENGTH_LINES.get(size) or length_line(size),
            b"" if head_only else body,
        )
    )


LENGTH_LINES: dict[int, bytes] = {}


def length_line(size: int) -> bytes:
    """`Content-Length: N` and the blank line that ends the head, kept for the sizes seen."""
    line = b"Content-Length: %d\r\n\r\n" % size
    if len(LENGTH_LINES) < 4096:  # a bound, not a policy: most answers repeat a few sizes
        LENGTH_LINES[size] = line
    return line


def render_head(
    status: int,
    lines: bytes,
    length: int | None,
    connection: bytes,
    date: bytes,
    chunked: bool = True,
) -> bytes:
    """The head of an answer whose body follows separately: `length` bytes, or of unknown
    length: chunked, or (`chunked=False`, for HTTP/1.0, RFC 9112 §6.1) ended by the close."""
    if has_no_body(status):
        framing = b""
    elif length is None:
        framing = b"Transfer-Encoding: chunked\r\n" if chunked else b""
    else:
        framing = b"Content-Length: %d\r\n" % length
    return b"".join((status_line(status), date, connection, lines, framing, b"\r\n"))


#: A pre-rendered answer as the server keeps it: status, status line, what follows the `Date`
#: and `Connection` lines up to the body, the body, and whether a request with preconditions
#: or a Range must be left to the app (a 2xx answer: RFC 9110 §13.2.1 applies them to those
#: only, and a file's validators must be compared; a redirect ignores them).
Prerendered = tuple[int, bytes, bytes, bytes, bool]

#: Header fields (lowercase) that make a GET conditional or partial (RFC 9110 §13.1, §14.2).
PRECONDITION_FIELDS = frozenset(
    (b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since", b"if-range",
     b"range")
)  # fmt: skip
_PRECONDITION_SIZES = frozenset(len(name) for name in PRECONDITION_FIELDS)


def prerender(status: int, lines: bytes, body: bytes) -> Prerendered:
    """An answer rendered once, to be sent with this second's `Date` and a request's
    `Connection` line put after its status line. `body` is kept as it is, not copied."""
    head = b"%sContent-Length: %d\r\n\r\n" % (lines, len(body))
    return status, status_line(status), head, body, 200 <= status <= 299


def has_preconditions(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's fields include one of PRECONDITION_FIELDS."""
    for name, _ in headers:
        # PERF: most fields differ in length from all six, and are never lowered.
        if len(name) in _PRECONDITION_SIZES and name.lower() in PRECONDITION_FIELDS:
            return True
    return False


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1); never the empty last chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_response(status: int, reason: str, date: bytes) -> bytes:
    """The canned answer to a request the protocol refused; the connection closes after it."""
    body = f"{reason}\n".encode("utf-8", "replace")
    lines = b"Content-Type: text/plain; charset=utf-8\r\n"
    return render(status, lines, body, CLOSE_LINE, date, False)
