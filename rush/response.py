"""Responses a handler builds, and turning them into answers for the server.

A `Response` becomes an answer (`rush.protocol.writer.Answer`: status, header lines, body) in
`answer()`; the server's writer adds the status line, `Date`, `Connection` and the framing.
This module spells only the header lines that are not framing: `Content-Type` lines for the
common types are built once, other fields go through `encode_fields`, which refuses CR, LF,
NUL and non-latin-1 text.

`response_from` holds the rules that turn what a handler returns into a `Response` (Flask's);
the app and the module-level `make_response` both use it.
"""

from __future__ import annotations

import html
import json as _stdlib_json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from email.utils import formatdate
from typing import Any

from rush.datastructures import Headers
from rush.protocol.writer import Answer, StreamBody, check_status, encode_fields

try:
    import orjson

    _dumps = orjson.dumps
    _NON_STR_KEYS = orjson.OPT_NON_STR_KEYS

    def dump_json(value: Any) -> bytes:
        # PERF: without OPT_NON_STR_KEYS first, which slows every dict (the json workload's
        # dump 2.1k -> 1.5k instructions); a dict with other keys (an int) pays a second try.
        try:
            return _dumps(value)
        except TypeError:
            pass  # raised again below if it is not the keys: no chained traceback
        return _dumps(value, None, _NON_STR_KEYS)

except ImportError:  # pragma: no cover - orjson is optional

    def dump_json(value: Any) -> bytes:
        return _stdlib_json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


CONTENT_HTML = b"text/html; charset=utf-8"
CONTENT_TEXT = b"text/plain; charset=utf-8"
CONTENT_JSON = b"application/json"
HTML_LINE = b"Content-Type: text/html; charset=utf-8\r\n"
TEXT_LINE = b"Content-Type: text/plain; charset=utf-8\r\n"
JSON_LINE = b"Content-Type: application/json\r\n"
_content_type_lines = {CONTENT_HTML: HTML_LINE, CONTENT_TEXT: TEXT_LINE, CONTENT_JSON: JSON_LINE}
#: Fields the writer owns (framing, hop-by-hop): a value an app sets for them is not sent.
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection", "keep-alive"))


_content_type_memo: dict[str, bytes] = {
    value.decode(): line for value, line in _content_type_lines.items()
}


def parse_json(data: bytes, is_json: bool, silent: bool) -> Any:
    """A response body as JSON: None when it is not JSON; malformed: ValueError, or None
    when `silent` (what `Response.get_json` and the test client's both do)."""
    if not is_json:
        return None
    try:
        return _stdlib_json.loads(data)
    except ValueError:
        if silent:
            return None
        raise


def escape(value: object) -> str:
    """`value` as text safe inside HTML (`&`, `<`, `>`, `"` and `'` escaped), as Flask's
    `escape`: a str answer is HTML, so anything a client sent must go through this."""
    text = str(value)
    if text.isalnum():
        return text  # PERF: a plain word (the common value) has nothing to escape: ~2k fewer
    return html.escape(text, quote=True)


def content_type_line(value: str | None) -> bytes:
    """The `Content-Type` line for `value` (checked like any field), kept for values seen."""
    if not value:
        return b""
    line = _content_type_memo.get(value)
    if line is None:
        line = encode_fields((("Content-Type", value),))
        if len(_content_type_memo) < 256:  # a bound: an app uses a handful of types
            _content_type_memo[value] = line
    return line


def field_lines(headers: dict[Any, Any], default_type: bytes) -> bytes:
    """The header lines `Response(body, status, headers).answer()` sends for a handler's
    header dict, without building the Response: its Content-Type (the first, in any case) in
    place of `default_type`, the framing fields dropped, the rest checked by encode_fields.
    Values are made str as Headers.add makes them."""
    content_type = None
    fields = []
    for name, value in headers.items():
        if type(value) is not str:
            value = str(value)
        lower = name.lower() if type(name) is str else name
        if lower == "content-type":
            if content_type is None:
                content_type = value
        elif lower not in _FRAMING:
            fields.append((name, value))
    lines = default_type if content_type is None else content_type_line(content_type)
    return lines + encode_fields(fields) if fields else lines


Body = str | bytes | dict | list | Iterable[bytes] | Iterable[str] | None


class Response:
    """A response a handler builds itself: body, status, headers, cookies.

    Flask's names work too: `status_code` (the same as `status`), `data` (the body as
    bytes), `mimetype` (the content type without its parameters), `get_json()`. Reading
    `data` of a streamed body consumes the iterator and keeps the bytes, as Flask does.
    """

    __slots__ = ("body", "status", "headers", "content_type")

    body: Any  # bytes, or an iterable streamed as it is pulled

    def __init__(
        self,
        body: Body = b"",
        status: int = 200,
        headers: Headers | dict[str, str] | Iterable[tuple[str, str]] | None = None,
        content_type: str | None = None,
        mimetype: str | None = None,
    ) -> None:
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        if isinstance(body, str):
            self.body = body.encode("utf-8")
            default_type = CONTENT_HTML
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self.body = bytes(body)
            default_type = CONTENT_HTML
        elif isinstance(body, (dict, list)):
            self.body = dump_json(body)
            default_type = CONTENT_JSON
        elif body is None:
            self.body = b""
            default_type = CONTENT_HTML
        elif isinstance(body, (Iterator, Iterable)):
            self.body = body  # streamed: pulled as the client reads (see `answer`)
            default_type = CONTENT_HTML
        else:
            raise TypeError(f"cannot make a response body from {type(body).__name__}")
        self.content_type: str | None = content_type
        if content_type is None:
            found = self.headers.get("content-type") if headers else None
            if mimetype is not None:
                self.content_type = _with_charset(mimetype)
            elif found is not None:
                self.content_type = found
                self.headers.remove("content-type")
            else:
                self.content_type = default_type.decode()

    @property
    def status_code(self) -> int:
        """The status (Flask's name for `status`); settable."""
        return self.status  # type: ignore[no-any-return]

    @status_code.setter
    def status_code(self, value: int) -> None:
        self.status = value

    @property
    def data(self) -> bytes:
        """The body as bytes; reading it consumes a streamed body (and keeps the bytes). Settable."""
        body = self.body
        if type(body) is not bytes:
            body = self.body = b"".join(_as_bytes(body))  # a stream: consumed, kept
        return body  # type: ignore[no-any-return]

    @data.setter
    def data(self, value: str | bytes) -> None:
        self.body = value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def set_data(self, value: str | bytes) -> None:
        """Replace the body (`data = value`), as Flask's."""
        self.data = value

    @property
    def location(self) -> str | None:
        """The `Location` field (None when absent); settable, as Flask's."""
        return self.headers.get("Location")  # type: ignore[no-any-return]

    @location.setter
    def location(self, value: str) -> None:
        self.headers["Location"] = value

    def get_data(self, as_text: bool = False) -> Any:
        """`data`, or decoded as UTF-8 text with `as_text=True`."""
        data = self.data
        return data.decode("utf-8", "replace") if as_text else data

    @property
    def mimetype(self) -> str | None:
        """The content type without parameters (`text/html`); setting it adds a charset
        to text types, as Flask does."""
        content_type = self.content_type
        if not content_type:
            return None
        return content_type.partition(";")[0].strip().lower()  # type: ignore[no-any-return]

    @mimetype.setter
    def mimetype(self, value: str) -> None:
        self.content_type = _with_charset(value)

    @property
    def is_json(self) -> bool:
        """Whether the content type is JSON (`application/json` or `application/*+json`)."""
        mimetype = self.mimetype or ""
        return mimetype == "application/json" or (
            mimetype.startswith("application/") and mimetype.endswith("+json")
        )

    def get_json(self, force: bool = False, silent: bool = False) -> Any:
        """The body parsed as JSON; None when it is not JSON (unless `force`); a malformed
        body raises ValueError unless `silent`."""
        return parse_json(self.data, self.is_json or force, silent)

    @property
    def json(self) -> Any:
        """`get_json()`: the body as JSON, None when it is not JSON."""
        return self.get_json()

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | float | timedelta | None = None,
        expires: str | int | float | datetime | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
    ) -> None:
        """Add a `Set-Cookie` field: `max_age` in seconds (or a timedelta), `expires` a
        datetime (naive is UTC), a Unix time or an HTTP date, `samesite` "Strict", "Lax" or
        "None". A key, value, path or domain holding `;`, `,`, CR, LF or NUL is a ValueError."""
        for part in (key, value, path or "", domain or ""):
            if any(ch in part for ch in ";,\r\n\x00"):
                raise ValueError(f"invalid character in cookie {key!r}")
        pieces = [f"{key}={value}"]
        if max_age is not None:
            if isinstance(max_age, timedelta):
                max_age = max_age.total_seconds()
            pieces.append(f"Max-Age={int(max_age)}")
        if expires is not None:
            pieces.append(f"Expires={_cookie_date(expires)}")
        if path:
            pieces.append(f"Path={path}")
        if domain:
            pieces.append(f"Domain={domain}")
        if secure:
            pieces.append("Secure")
        if httponly:
            pieces.append("HttpOnly")
        if samesite:
            pieces.append(f"SameSite={samesite}")
        self.headers.add("Set-Cookie", "; ".join(pieces))

    def delete_cookie(self, key: str, path: str | None = "/", domain: str | None = None) -> None:
        """Tell the client to drop cookie `key` (of that path and domain): an empty value that
        has expired."""
        self.set_cookie(
            key, "", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT", path=path, domain=domain
        )

    def answer(self) -> Answer:
        """The server's answer for this response; InvalidAnswer for a status or a header
        that must not be sent (checked here, so nothing invalid reaches the wire)."""
        status = check_status(self.status)
        lines = content_type_line(self.content_type)
        items = self.headers.items()
        if items:
            lines += encode_fields([(n, v) for n, v in items if n.lower() not in _FRAMING])
        body = self.body
        if type(body) is bytes:
            return status, lines, body
        length = self.headers.get("content-length")
        return status, lines, StreamBody(_as_bytes(body), _parse_length(length), source=body)

    def __repr__(self) -> str:
        size = f"{len(self.body)} bytes" if type(self.body) is bytes else "streamed"
        return f"<Response {self.status} {size}>"


def _as_bytes(iterable: Any) -> Iterator[bytes]:
    """The items of a streamed body as bytes: str is sent as UTF-8, anything else refused."""
    for item in iterable:
        if type(item) is bytes:
            yield item
        elif isinstance(item, str):
            yield item.encode("utf-8")
        elif isinstance(item, (bytes, bytearray, memoryview)):
            yield bytes(item)
        else:
            raise TypeError(f"a streamed body yielded {type(item).__name__}, not bytes or str")


def _parse_length(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not value.isascii():
        raise ValueError(f"invalid Content-Length {value!r}")
    return int(value)


def _with_charset(mimetype: str) -> str:
    if mimetype.startswith("text/") and "charset" not in mimetype:
        return mimetype + "; charset=utf-8"
    return mimetype


def redirect(location: str, status: int = 302) -> Response:
    """A redirect response, as Flask's `redirect` (302 unless asked otherwise)."""
    return Response(b"", status, {"Location": location})


def jsonify(*args: Any, **kwargs: Any) -> Response:
    """A JSON response, as Flask's: `jsonify(x)` for one value, `jsonify(a, b)` for a list,
    `jsonify(key=value)` for an object (positional and keyword arguments together are a
    TypeError)."""
    if args and kwargs:
        raise TypeError("jsonify() takes positional or keyword arguments, not both")
    value = args[0] if len(args) == 1 else list(args) if args else kwargs
    return Response(dump_json(value), content_type="application/json")


def make_response(*args: Any) -> Response:
    """A `Response` from what a handler may return, as Flask's `make_response`:
    `make_response("hi", 201, {"X-A": "1"})`, `make_response({"a": 1})`, or an empty 200
    without arguments. Handy to set a cookie or a header on a body before returning it."""
    if not args:
        return Response()
    return response_from(args[0] if len(args) == 1 else args)


def response_from(rv: Any, status: int = 200) -> Response:
    """Any allowed handler return value as a Response (Flask's rules); `status` is the one
    a value that names none gets."""
    if isinstance(rv, tuple):  # PERF: first, the common return that reaches this function
        size = len(rv)
        if not 2 <= size <= 3:
            raise TypeError("a handler tuple is (body, status) or (body, status, headers)")
        body, second = rv[0], rv[1]
        headers = rv[2] if size == 3 else None
        if headers is None and isinstance(second, (dict, list)):
            second, headers = status, second  # (body, headers)
        if isinstance(body, Response):
            body.status = second
            for name, value in headers.items() if isinstance(headers, dict) else headers or ():
                body.headers[name] = value
            return body
        return Response(body, second, headers)
    if isinstance(rv, Response):
        return rv
    if rv is None:
        return Response(b"", 204, content_type="")
    if isinstance(rv, (str, bytes, bytearray, memoryview, dict, list)):
        return Response(rv, status)  # type: ignore[arg-type]
    if hasattr(rv, "__next__"):
        return Response(rv, status)  # a generator or iterator: a streamed body
    raise TypeError(f"a handler returned {type(rv).__name__}, which is not a response")


def _cookie_date(expires: str | int | float | datetime) -> str:
    """An HTTP date for `Expires` (RFC 6265 §4.1.1); a str is taken as one already, checked
    for nothing but the characters set_cookie refuses."""
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            return formatdate((expires - datetime(1970, 1, 1)).total_seconds(), usegmt=True)
        return formatdate(expires.timestamp(), usegmt=True)
    if isinstance(expires, (int, float)):
        return formatdate(expires, usegmt=True)
    if any(ch in expires for ch in ";\r\n\x00"):
        raise ValueError(f"invalid character in cookie expires {expires!r}")
    return expires
