"""The HTTP side of serving a file: representations, validators, conditional and range requests.

`FileResponse` is what `send_file`, `send_from_directory` and static folders return. It is a
`Response` (so `after_request` hooks and `(response, status, headers)` tuples work) whose
answer is made only in `answer_for(request)`, once the request's headers are known. It must
not resolve paths or touch the cache (`rush.static` does), nor sockets, nor spell framing: a
small body is bytes kept in the cache, a large one a `FileBody` the connection sends with
sendfile, and the server's writer adds the status line and `Content-Length`.

RFC 9110 rules followed: §13.2.2 order of preconditions (If-None-Match, else
If-Modified-Since, for GET and HEAD only; a match is 304 without content), §14.2 Range on GET
only, one range (several are answered 200 in full, which §14.2 allows), unsatisfiable ->
416 with `Content-Range: bytes */size` (§15.5.17), §13.1.5 If-Range compared strongly,
§12.5.5 `Vary: Accept-Encoding` on every answer of a resource that has encoded siblings.
"""

from __future__ import annotations

import io
import mimetypes
import os
from email.utils import formatdate, mktime_tz, parsedate_tz
from typing import Any
from urllib.parse import quote

from rush.datastructures import Headers
from rush.protocol.writer import Answer, FileBody, StreamBody, encode_fields
from rush.response import Response

# The types browsers care about, fixed here so answers do not depend on /etc/mime.types.
_TYPES = {
    ".html": "text/html", ".htm": "text/html", ".css": "text/css", ".js": "text/javascript",
    ".mjs": "text/javascript", ".json": "application/json", ".map": "application/json",
    ".txt": "text/plain", ".csv": "text/csv", ".md": "text/markdown", ".xml": "application/xml",
    ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon", ".wasm": "application/wasm", ".woff": "font/woff",
    ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf", ".pdf": "application/pdf",
    ".zip": "application/zip", ".gz": "application/gzip", ".mp4": "video/mp4",
    ".webm": "video/webm", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
    ".webmanifest": "application/manifest+json",
}  # fmt: skip
_TEXTUAL = frozenset(
    ("application/json", "application/xml", "application/javascript", "image/svg+xml",
     "application/manifest+json")
)  # fmt: skip
_type_lines: dict[str, bytes] = {}


def content_type_line(name: str, mimetype: str | None = None) -> bytes:
    """`Content-Type: ...` for a file name (or an explicit type); text gets charset=utf-8."""
    if mimetype is None:
        ext = os.path.splitext(name)[1].lower()
        line = _type_lines.get(ext)
        if line is None:
            line = _type_lines[ext] = _header_line("Content-Type", content_type_of(name))
        return line
    return _header_line("Content-Type", content_type_of(name, mimetype))


def content_type_of(name: str | None, mimetype: str | None = None) -> str:
    """The type of a file called `name` (from its extension) unless `mimetype` says it."""
    if mimetype is None:
        ext = os.path.splitext(name or "")[1].lower()
        guessed = _TYPES.get(ext) or mimetypes.guess_type("x" + ext, strict=False)[0]
        mimetype = guessed or "application/octet-stream"
    if (mimetype.startswith("text/") or mimetype in _TEXTUAL) and "charset" not in mimetype:
        mimetype += "; charset=utf-8"
    return mimetype


_cache_control_lines: dict[str, bytes] = {}


def cache_control_line(value: str) -> bytes:
    """PERF: memoised; send_file renders this line per call, and a handful of values exist."""
    line = _cache_control_lines.get(value)
    if line is None:
        line = _header_line("Cache-Control", value)
        if len(_cache_control_lines) < 64:
            _cache_control_lines[value] = line
    return line


def disposition_line(filename: str, attachment: bool = True) -> bytes:
    """Content-Disposition with an ASCII fallback and RFC 8187 `filename*` when needed."""
    return _header_line("Content-Disposition", disposition_value(filename, attachment))


def disposition_value(filename: str, attachment: bool = True) -> str:
    """The value of `disposition_line`."""
    kind = "attachment" if attachment else "inline"
    # Names on disk may hold any byte but "/" and NUL: never let one end the header line.
    cleaned = "".join(ch if ch >= " " and ch != "\x7f" else "_" for ch in filename)
    fallback = cleaned.encode("ascii", "replace").decode("ascii")
    fallback = fallback.replace("\\", "\\\\").replace('"', '\\"')
    value = f'{kind}; filename="{fallback}"'
    if fallback != cleaned:
        value += f"; filename*=UTF-8''{quote(cleaned, safe='')}"
    return value


def file_object_response(
    file: Any,
    mimetype: str | None,
    as_attachment: bool,
    download_name: str | None,
    cache_control: str | None,
) -> Response:
    """`send_file` of an open file object (io.BytesIO, a file opened "rb"), as Flask allows:
    read whole, closed, and answered with its length; its type is `mimetype` or guessed from
    `download_name`. A path is the better argument for a big file (cached, or sendfile)."""
    if mimetype is None and download_name is None:
        raise ValueError(
            "send_file of a file object needs mimetype= or download_name= to know its type"
        )
    try:
        data = file.read()
    finally:
        file.close()
    headers = {"Cache-Control": cache_control} if cache_control else {}
    if as_attachment or download_name:
        attachment = as_attachment or not download_name
        headers["Content-Disposition"] = disposition_value(download_name or "download", attachment)
    return Response(data, headers=headers, content_type=content_type_of(download_name, mimetype))


def _header_line(name: str, value: str) -> bytes:
    # A file name may hold any character: what latin-1 cannot spell becomes "?".
    return encode_fields(((name, value.encode("latin-1", "replace").decode("latin-1")),))


# -- one representation of a file ----------------------------------------------------------


class Representation:
    """One encoding of a file: its validators and header lines and, when small, its bytes."""

    __slots__ = (
        "encoding", "size", "mtime", "etag", "common", "validators", "body", "fd", "memo",
    )  # fmt: skip

    def __init__(self, encoding: str | None, size: int, mtime: int, etag: bytes, vary: bool):
        self.encoding = encoding
        self.size = size
        self.mtime = mtime
        self.etag = etag
        modified = formatdate(mtime, usegmt=True).encode()
        self.validators = b"ETag: %s\r\nLast-Modified: %s\r\n" % (etag, modified)
        if vary:
            self.validators += b"Vary: Accept-Encoding\r\n"
        self.common = b"Accept-Ranges: bytes\r\n" + self.validators
        if encoding:
            self.common += b"Content-Encoding: %s\r\n" % encoding.encode()
        self.body: bytes | None = None  # the whole content, for small files
        # PERF: (type line, lines, all header lines) of the last answer: the same two line
        # objects come with every send_file of a file, so the joined lines are kept.
        self.memo: tuple[bytes, bytes, bytes] = (b"", b"", b"")
        self.fd: int | None = None  # an open descriptor (large files, until answered)

    @classmethod
    def from_bytes(
        cls, encoding: str | None, body: bytes, st: os.stat_result, etag: str, vary: bool
    ) -> Representation:
        rep = cls(encoding, len(body), int(st.st_mtime), etag.encode(), vary)
        rep.body = body
        return rep

    @classmethod
    def from_open(
        cls, encoding: str | None, fd: int, st: os.stat_result, vary: bool
    ) -> Representation:
        # Too big to hash per request: identity, size and nanosecond mtime stand for content.
        etag = b'"%x-%x-%x"' % (st.st_ino, st.st_size, st.st_mtime_ns)
        rep = cls(encoding, st.st_size, int(st.st_mtime), etag, vary)
        rep.fd = fd
        return rep


class Resource:
    """A file as the cache knows it: its representations (identity first) and dependencies."""

    __slots__ = (
        "key", "ctype_line", "reps", "table", "racy", "signatures", "deps", "dirs", "checked",
        "cost",
    )  # fmt: skip

    def __init__(self, key: str, ctype_line: bytes) -> None:
        self.key = key
        self.ctype_line = ctype_line
        self.reps: list[Representation] = []
        self.table: dict[str, Resource] | None = None  # the cache table holding it, if any
        self.racy = False
        self.signatures: list[tuple[str, Any]] = []
        self.deps: tuple[str, ...] = ()
        self.dirs: tuple[str, ...] = ()
        self.checked = True  # validate with stat() on every hit
        self.cost = 0

    def select(self, accept: bytes) -> Representation:
        codings = accepted_codings(accept)
        if codings:
            for rep in self.reps[1:]:
                if rep.encoding in codings:
                    return rep
        return self.reps[0]

    def __del__(self) -> None:
        self.close_files()  # a large file whose response was dropped without an answer

    def close_files(self, keep: Representation | None = None) -> None:
        for rep in self.reps:
            if rep.fd is not None and rep is not keep:
                os.close(rep.fd)
                rep.fd = None


# -- request header helpers ----------------------------------------------------------------

_accept_memo: dict[bytes, frozenset[str]] = {}
_date_memo: dict[bytes, int | None] = {}


def accepted_codings(value: bytes) -> frozenset[str]:
    """Which of br/gzip an Accept-Encoding value allows (q > 0). PERF: memoised per value,
    since a browser sends the same string on every request."""
    found = _accept_memo.get(value)
    if found is not None:
        return found
    weights: dict[str, float] = {}
    for item in value.decode("latin-1").split(","):
        coding, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(number)
                except ValueError:
                    weight = 0.0
        weights[coding.strip().lower()] = weight
    star = weights.get("*", 0.0)
    allowed = []
    for coding in ("br", "gzip"):
        given = weights.get(coding, weights.get("x-gzip") if coding == "gzip" else None)
        if (star if given is None else given) > 0:
            allowed.append(coding)
    found = frozenset(allowed)
    if len(_accept_memo) < 256:
        _accept_memo[value] = found
    return found


def parse_http_date(value: bytes) -> int | None:
    if value in _date_memo:
        return _date_memo[value]
    try:
        parsed = parsedate_tz(value.decode("latin-1"))
        seconds = None if parsed is None else int(mktime_tz(parsed))
    except (ValueError, TypeError, IndexError, OverflowError):
        seconds = None
    if len(_date_memo) < 256:
        _date_memo[value] = seconds
    return seconds


def etag_matches(header: bytes, etag: bytes) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §8.8.3.2): W/ is ignored."""
    header = header.strip()
    if header == b"*":
        return True
    for tag in header.split(b","):
        tag = tag.strip()
        if tag[:2] == b"W/":
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def if_range_matches(value: bytes, rep: Representation) -> bool:
    value = value.strip()
    if value[:1] == b'"':
        return value == rep.etag  # strong comparison: a weak tag never matches
    if value[:2] == b"W/":
        return False
    return parse_http_date(value) == rep.mtime


def parse_range(value: bytes, size: int) -> tuple[int, int] | bool | None:
    """A single `bytes=` range as (first, last); False if unsatisfiable; None to ignore it."""
    unit, sep, spec = value.partition(b"=")
    if not sep or unit.strip().lower() != b"bytes" or b"," in spec:
        return None
    first, dash, last = spec.strip().partition(b"-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or not first) or not (last.isdigit() or not last):
        return None
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid syntax (§14.1.1): ignore the header
    if start >= size:
        return False
    return start, min(int(last), size - 1) if last else size - 1


# -- the response --------------------------------------------------------------------------


# Lengths of if-none-match, if-modified-since, range, if-range, accept-encoding.
_WANTED_LENGTHS = frozenset((13, 17, 5, 8, 15))


def plain_get_answer(resource: Resource, lines: bytes) -> Answer | None:
    """What `FileResponse(resource, lines).answer_for(request)` answers to any GET without
    preconditions or a Range, when that does not depend on the request (the file is in
    memory, in one representation); else None."""
    rep = resource.reps[0]
    body = rep.body
    if len(resource.reps) != 1 or body is None:
        return None
    return 200, resource.ctype_line + lines + rep.common, body


class FileResponse(Response):
    """A file answer; `answer_for(request)` chooses the representation, status and body."""

    __slots__ = ("resource", "ctype", "lines", "_extra")

    def __init__(self, resource: Resource, lines: bytes, ctype: bytes | None = None) -> None:
        # PERF: no Response.__init__ (and no Headers) unless a hook asks for `headers`.
        self.resource = resource
        self.ctype = resource.ctype_line if ctype is None else ctype
        self.lines = lines
        self._extra: Headers | None = None
        self.status = 200
        self.body = b""
        self.content_type = None

    def _get_headers(self) -> Headers:
        if self._extra is None:
            self._extra = Headers()
        return self._extra

    def _set_headers(self, value: Headers) -> None:
        self._extra = value if isinstance(value, Headers) else Headers(value)

    headers = property(_get_headers, _set_headers)  # type: ignore[assignment]

    def answer(self) -> Answer:
        raise TypeError("a FileResponse is answered with answer_for(request)")

    def answer_for(self, request: Any) -> Answer:
        ctype = self.ctype
        lines = self.lines
        if self.content_type is not None:
            ctype = content_type_line("", self.content_type)
        if self._extra is not None:
            lines += encode_fields(self._extra.items())
        resource = self.resource
        reps = resource.reps
        rep = reps[0]
        status = self.status
        method = request.method
        if status != 200 or not (method == "GET" or method == "HEAD"):
            return self._send(rep, status, ctype + lines, method == "HEAD")
        inm = ims = ranges = if_range = accept = None
        for name, value in request.raw_headers:
            if len(name) not in _WANTED_LENGTHS:
                continue  # PERF: most fields (Host, User-Agent, Accept...) end here, unlowered
            lowered = name.lower()
            if lowered == b"if-none-match":
                inm = value
            elif lowered == b"if-modified-since":
                ims = value
            elif lowered == b"range":
                ranges = value
            elif lowered == b"if-range":
                if_range = value
            elif lowered == b"accept-encoding":
                accept = value
        if accept is not None and len(reps) > 1:
            rep = resource.select(accept)
        if inm is not None or ims is not None:
            if inm is not None:
                fresh = etag_matches(inm, rep.etag)
            else:
                since = parse_http_date(ims)  # type: ignore[arg-type]
                fresh = since is not None and rep.mtime <= since
            if fresh:
                resource.close_files()
                return 304, lines + rep.validators, b""
        if ranges is not None and method == "GET":
            if if_range is None or if_range_matches(if_range, rep):
                span = parse_range(ranges, rep.size)
                if span is False:
                    resource.close_files()
                    return 416, rep.common + b"Content-Range: bytes */%d\r\n" % rep.size, b""
                if span is not None:
                    return self._send_range(rep, span, ctype + lines)  # type: ignore[arg-type]
        body = rep.body
        if body is not None:  # PERF: the cached file, without a call
            memo = rep.memo
            if memo[0] is not ctype or memo[1] is not lines:
                memo = rep.memo = (ctype, lines, ctype + lines + rep.common)
            return 200, memo[2], body
        return self._send(rep, 200, ctype + lines, method == "HEAD")

    def _send(self, rep: Representation, status: int, lines: bytes, head_only: bool) -> Answer:
        lines += rep.common
        body = rep.body
        if body is not None:
            return status, lines, body
        return status, lines, self._file_body(rep, 0, rep.size, head_only)

    def _send_range(self, rep: Representation, span: tuple[int, int], lines: bytes) -> Answer:
        first, last = span
        count = last - first + 1
        lines += rep.common + b"Content-Range: bytes %d-%d/%d\r\n" % (first, last, rep.size)
        body = rep.body
        if body is not None:
            return 206, lines, body[first : first + count]
        return 206, lines, self._file_body(rep, first, count, False)

    def _file_body(
        self, rep: Representation, offset: int, count: int, head_only: bool
    ) -> FileBody | StreamBody | bytes:
        resource = self.resource
        if head_only or count == 0 or rep.fd is None:
            resource.close_files()
            # A HEAD answer states the length a GET would send, and sends nothing.
            return StreamBody((), count) if count else b""
        resource.close_files(keep=rep)
        fd, rep.fd = rep.fd, None
        return FileBody(io.FileIO(fd, "rb", closefd=True), offset, count)

    def __repr__(self) -> str:
        return f"<FileResponse {self.status} {self.resource.key}>"
