"""Incremental multipart/form-data parsing (RFC 7578 over RFC 2046), sans-IO.

Owns finding the boundary in bytes fed in any split, the part headers, the Content-Disposition
parameters (quoted strings, RFC 8187 `name*`/`filename*`), the part-count and part-header
limits, and `encode_multipart` for clients and tests. It must not touch files, sockets or the
app: part data goes to a `PartTarget` as soon as it is known not to be a delimiter.

Facts and strategy:
- The delimiter is CRLF "--" boundary (RFC 2046 §5.1.1). The first one may open the body
  without the CRLF, so the parser starts as if a CRLF preceded the body. A boundary has no CR
  (bchars exclude it), so only a CR in the last len(delimiter)-1 bytes of a chunk can start a
  split delimiter: everything before it is passed on at once and the parser holds back at most
  that tail. A large part therefore streams through with one `find` per chunk and no copy.
- After a delimiter: transport padding (SP/HT), then CRLF (next part) or "--" (the end);
  anything else is malformed. The preamble and the epilogue are ignored.
- Errors are MultipartError(status, message): 400 for malformed input, 413 for a limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import quote, unquote_to_bytes

#: Defaults for the limits below (also the app's defaults).
MAX_PARTS = 1000
MAX_PART_HEADER_SIZE = 8 * 1024

_PREAMBLE, _BODY, _AFTER_DELIMITER, _HEADERS, _EPILOGUE, _FAILED = range(6)
_BAD_HEADER_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# One `; name=value` parameter; a quoted value may hold backslash escapes (RFC 9110 §5.6.4).
_PARAM = re.compile(r';\s*([^\s=;]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;]*))?')
_BOUNDARY_CHARS = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{1,200}$")


class MultipartError(ValueError):
    """A body that is not valid multipart/form-data, or that breaks a limit."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PartTarget(Protocol):
    """Receives the parts as the parser finds them."""

    def part_begin(self, headers: list[tuple[str, str]]) -> None: ...
    def part_data(self, data: bytes) -> None: ...
    def part_end(self) -> None: ...


class MultipartParser:
    """Feed body bytes in any split; the target sees part_begin, part_data*, part_end."""

    __slots__ = (
        "_target",
        "_delimiter",
        "_state",
        "_buffer",
        "_parts",
        "_max_parts",
        "_max_header_size",
    )

    def __init__(
        self,
        boundary: bytes,
        target: PartTarget,
        *,
        max_parts: int = MAX_PARTS,
        max_header_size: int = MAX_PART_HEADER_SIZE,
    ) -> None:
        if not boundary or b"\r" in boundary or b"\n" in boundary:
            raise MultipartError(400, "invalid multipart boundary")
        self._target = target
        self._delimiter = b"\r\n--" + boundary
        self._state = _PREAMBLE
        self._buffer = b"\r\n"  # the first delimiter may open the body without its CRLF
        self._parts = 0
        self._max_parts = max_parts
        self._max_header_size = max_header_size

    @property
    def done(self) -> bool:
        """True once the closing delimiter was seen."""
        return self._state == _EPILOGUE

    def feed(self, data: bytes) -> None:
        """Parse the next bytes of the body; raises MultipartError and stays failed after it."""
        state = self._state
        if state == _EPILOGUE or not data:
            return
        if state == _FAILED:
            raise MultipartError(400, "malformed multipart body")
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        try:
            position = self._parse(data)
        except MultipartError:
            self._state = _FAILED
            self._buffer = b""
            raise
        if position < len(data):
            self._buffer = data[position:]

    def finish(self) -> None:
        """The body ended: anything but a closing delimiter seen means it was cut short."""
        if self._state != _EPILOGUE:
            self._state = _FAILED
            self._buffer = b""
            raise MultipartError(400, "truncated multipart body")

    def _parse(self, data: bytes) -> int:
        """Consume what can be decided in `data`; return where the undecided tail starts."""
        target = self._target
        delimiter = self._delimiter
        size = len(data)
        position = 0
        while position < size:
            state = self._state
            if state == _BODY or state == _PREAMBLE:
                found = data.find(delimiter, position)
                if found == -1:
                    end = _safe_end(data, position, delimiter)
                    if state == _BODY and end > position:
                        target.part_data(
                            data if position == 0 and end == size else data[position:end]
                        )
                    return end
                if state == _BODY:
                    if found > position:
                        target.part_data(data[position:found])
                    target.part_end()
                position = found + len(delimiter)
                self._state = _AFTER_DELIMITER
            elif state == _AFTER_DELIMITER:
                while position < size and data[position] in b" \t":  # transport padding
                    position += 1
                if size - position < 2:
                    if position < size and data[position] not in b"\r-":
                        raise MultipartError(400, "malformed multipart delimiter")
                    return position
                pair = data[position : position + 2]
                if pair == b"\r\n":
                    self._state = _HEADERS
                elif pair == b"--":
                    self._state = _EPILOGUE
                    return size
                else:
                    raise MultipartError(400, "malformed multipart delimiter")
                position += 2
            elif state == _HEADERS:
                if data.startswith(b"\r\n", position):
                    headers: list[tuple[str, str]] = []  # a part without header fields
                    position += 2
                else:
                    end = data.find(b"\r\n\r\n", position)
                    if end == -1:
                        if size - position > self._max_header_size + 3:
                            raise MultipartError(413, "part headers too large")
                        return position
                    if end - position > self._max_header_size:
                        raise MultipartError(413, "part headers too large")
                    headers = parse_part_headers(data[position:end])
                    position = end + 4
                self._parts += 1
                if self._parts > self._max_parts:
                    raise MultipartError(413, "too many parts in the form")
                target.part_begin(headers)
                self._state = _BODY
            else:  # _EPILOGUE
                return size
        return position


def _safe_end(data: bytes, position: int, delimiter: bytes) -> int:
    """Where the bytes that cannot begin a delimiter end (the rest may be a split one)."""
    size = len(data)
    cr = data.rfind(b"\r", max(position, size - len(delimiter) + 1))
    if cr != -1 and delimiter.startswith(data[cr:]):
        return cr
    return size


def parse_part_headers(block: bytes) -> list[tuple[str, str]]:
    """`Name: value` lines -> [(lowercased name, value)]; values are UTF-8, else latin-1."""
    headers = []
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or _BAD_HEADER_BYTES.search(line):
            raise MultipartError(400, "malformed part header")
        try:
            text_name = name.decode("ascii")
        except UnicodeDecodeError:
            raise MultipartError(400, "malformed part header") from None
        if not _TOKEN.match(text_name):  # also rejects obsolete line folding (leading space)
            raise MultipartError(400, "malformed part header")
        value = value.strip(b" \t")
        try:
            text_value = value.decode("utf-8")
        except UnicodeDecodeError:
            text_value = value.decode("latin-1")
        headers.append((text_name.lower(), text_value))
    return headers


def parse_options(value: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="a"; filename*=UTF-8''%E2%82%AC` -> ("form-data", {"name": "a", ...}).

    Parameter names are lowercased. A quoted value loses its quotes and its `\\"`/`\\\\`
    escapes; other backslashes stay (old browsers send Windows paths unescaped). An RFC 8187
    `name*` value is decoded and wins over the plain `name`.
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        key = match.group(1).lower()
        raw = (match.group(2) or "").strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r'\\(["\\])', r"\1", raw[1:-1])
        if key.endswith("*"):
            decoded = _decode_extended(raw)
            if decoded is not None:
                extended[key[:-1]] = decoded
        else:
            params.setdefault(key, raw)
    params.update(extended)
    return main.strip().lower(), params


def _decode_extended(value: str) -> str | None:
    """RFC 8187 ext-value `charset\'lang\'pct-encoded`; None when it cannot be decoded."""
    charset, quote1, rest = value.partition("'")
    _, quote2, encoded = rest.partition("'")
    if not quote1 or not quote2:
        return None
    try:
        return unquote_to_bytes(encoded).decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return None


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a multipart Content-Type; MultipartError(400) if unusable."""
    _, params = parse_options(content_type)
    boundary = params.get("boundary", "")
    if not boundary:
        raise MultipartError(400, "multipart body without a boundary")
    if not _BOUNDARY_CHARS.match(boundary):
        raise MultipartError(400, "invalid multipart boundary")
    return boundary.encode("ascii")


def encode_multipart(
    fields: Iterable[tuple[str, str]] = (),
    files: Iterable[tuple[str, str, bytes, str]] = (),
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type, for clients and tests.

    `fields` are (name, value); `files` are (name, filename, content, content_type). Names are
    sent as UTF-8 with `"`, CR and LF percent-encoded, as browsers do (WHATWG HTML).
    """
    if not boundary:
        import secrets  # here: it loads OpenSSL's libcrypto (hmac), 3.5 MB in every worker

        boundary = "rush-" + secrets.token_hex(12)
    chunks: list[bytes] = []
    delimiter = b"--" + boundary.encode("ascii")
    for name, value in fields:
        chunks += [
            delimiter,
            b'\r\nContent-Disposition: form-data; name="%s"\r\n\r\n' % _quote_name(name),
            value.encode("utf-8"),
            b"\r\n",
        ]
    for name, filename, content, content_type in files:
        chunks += [
            delimiter,
            b'\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
            % (_quote_name(name), _quote_name(filename)),
            b"Content-Type: %s\r\n\r\n" % content_type.encode("latin-1"),
            content,
            b"\r\n",
        ]
    chunks += [delimiter, b"--\r\n"]
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _quote_name(name: str) -> bytes:
    return name.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22").encode("utf-8")


def quote_filename_star(filename: str) -> str:
    """The RFC 8187 `filename*` value for `filename` (UTF-8, percent-encoded)."""
    return "UTF-8''" + quote(filename, safe="")
