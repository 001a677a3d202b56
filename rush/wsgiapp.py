"""A Rush app as a WSGI application (PEP 3333): gunicorn, uWSGI, mod_wsgi or granian run it.

Owns the translation both ways: an environ becomes the `RequestMessage` Rush's own parser would
have produced, and the app's answer becomes start_response's status and headers plus an
iterable. Bodies follow the app's own `body_plan`, as under the Rush server: a small one is
read into memory, a large one spooled as it is read, and a stream=True handler receives it
chunk by chunk from wsgi.input. It must not touch sockets or spell the wire format: framing,
Date, persistence and 100 Continue belong to the WSGI server.

Facts and strategy:
- The target: Rush routes on PATH_INFO, the path below SCRIPT_NAME (where the server mounted
  the app). PATH_INFO is already percent-decoded, one latin-1 character per byte; those bytes
  are percent-encoded again where they are not safe in a path, so the app decodes the path the
  client sent. RAW_URI / REQUEST_URI are not used: they include SCRIPT_NAME, and Rush decodes
  %2F like "/" anyway, so the raw form would tell the router nothing more.
- The body: exactly CONTENT_LENGTH bytes of wsgi.input, never more (PEP 3333). A body without
  a length (Transfer-Encoding: chunked) is read to its end only where the server sets
  wsgi.input_terminated; elsewhere it is refused with 411. Over the limit: 413, as the Rush
  server answers it, without reading the rest.
- Startup: a WSGI server forks its workers itself and does not tell the app, so `prepare()`
  and the on_startup hooks run at the first request each process serves (under a lock, for
  threaded workers), and the on_shutdown hooks at interpreter exit (atexit) in that process.
  A startup that raises is logged, answered 500, and run again at the next request.
- Answers: Content-Length from the body (none for a stream of unknown length); HEAD gets the
  length a GET would and no body. A file that runs to its end goes through wsgi.file_wrapper
  (sendfile under gunicorn); a range that stops short of the end is read in blocks, since some
  servers send a wrapped file to its end. Hop-by-hop fields are the server's and are dropped.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO
from urllib.parse import quote_from_bytes

from rush.protocol import Limits, ProtocolError, RequestMessage
from rush.protocol.parser import BodySink
from rush.protocol.writer import (
    HOP_BY_HOP,
    Answer,
    FileBody,
    StreamBody,
    has_no_body,
    reason_phrase,
)

error_log = logging.getLogger("rush.error")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

#: Bytes per read of wsgi.input and per block of a file read without the file wrapper.
BLOCK = 64 * 1024
DEFAULT_MAX_BODY = Limits().max_body
# RFC 3986 §3.3: a path segment's pchar, plus the "/" between segments.
_PATH_SAFE = b"/:@!$&'()*+,;=-._~"
_TEXT_LINE = b"Content-Type: text/plain; charset=utf-8\r\n"
_STATUS_TEXT: dict[int, str] = {}


# -- once per process ----------------------------------------------------------------------


class _Process:
    """One app's state in this process: whether it is prepared and started."""

    __slots__ = ("prepared", "started")

    def __init__(self) -> None:
        self.prepared = False
        self.started = False


_processes: weakref.WeakKeyDictionary[Any, _Process] = weakref.WeakKeyDictionary()
_starting = threading.Lock()
# A forked child starts from scratch: its parent's hooks ran for the parent's process only.
os.register_at_fork(after_in_child=_processes.clear)


def _start(app: Any) -> Answer | None:
    """prepare() and the on_startup hooks, once in this process; a 500 answer if they fail."""
    with _starting:
        state = _processes.get(app)
        if state is None:
            state = _processes[app] = _Process()
        if state.started:
            return None
        try:
            if not state.prepared:
                app.prepare()
                state.prepared = True
            app.startup()
        except Exception:
            error_log.exception(
                "the app failed to start in process %d; trying again at the next request",
                os.getpid(),
            )
            return 500, _TEXT_LINE, b"the application failed to start\n"
        atexit.register(_shutdown, app, os.getpid())
        state.started = True
    return None


def _shutdown(app: Any, pid: int) -> None:
    if os.getpid() == pid:  # not in a child forked after this process started the app
        app.shutdown()


# -- environ -> request --------------------------------------------------------------------


def serve(app: Any, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Answer one WSGI request with `app` (what `Rush.__call__` does)."""
    state = _processes.get(app)
    if state is None or not state.started:
        failed = _start(app)
        if failed is not None:
            return respond(environ, start_response, failed)
    message: RequestMessage | None = None
    try:
        message = build_message(environ)
        if message.has_body:
            read_body(app, message, environ["wsgi.input"])
        remote = environ.get("REMOTE_ADDR") or None
        answer = app.handle(message, remote, environ.get("wsgi.url_scheme", "http"))
    except ProtocolError as error:
        answer = error.status, _TEXT_LINE, f"{error.reason}\n".encode()
    finally:
        if message is not None and message.body_sink is not None:
            _close_quietly(message.body_sink)  # the request is over: its spool goes
    return respond(environ, start_response, answer)


def build_message(environ: Environ) -> RequestMessage:
    """The request as Rush's parser would have framed it (the body is read separately)."""
    path = _wire(environ.get("PATH_INFO") or "/")
    target = quote_from_bytes(path, _PATH_SAFE).encode("ascii")
    query = environ.get("QUERY_STRING")
    if query:
        target += b"?" + _wire(query)
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    version = protocol[5:] if protocol.startswith("HTTP/") else "1.1"
    connection = environ.get("HTTP_CONNECTION", "").lower()
    keep_alive = "close" not in connection if version == "1.1" else "keep-alive" in connection
    message = RequestMessage(
        environ.get("REQUEST_METHOD", "GET"), target, version, _fields(environ), keep_alive
    )
    message.content_length = _content_length(environ)
    if message.content_length is None and "HTTP_TRANSFER_ENCODING" in environ:
        if not environ.get("wsgi.input_terminated"):
            raise ProtocolError(411, "a body without Content-Length needs wsgi.input_terminated")
        message.chunked = True
    message.complete = True
    return message


def _fields(environ: Environ) -> list[tuple[bytes, bytes]]:
    """Header fields from HTTP_* keys, CONTENT_TYPE and CONTENT_LENGTH; a Host made from
    SERVER_NAME and SERVER_PORT when the client sent none (RFC 9112 §3.2)."""
    fields = []
    for key, value in environ.items():
        if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            fields.append((key[5:].replace("_", "-").title().encode("latin-1"), _wire(value)))
    for key, name in (("CONTENT_TYPE", b"Content-Type"), ("CONTENT_LENGTH", b"Content-Length")):
        value = environ.get(key)
        if value:
            fields.append((name, _wire(value)))
    if "HTTP_HOST" not in environ:
        host = environ.get("SERVER_NAME", "localhost")
        port = str(environ.get("SERVER_PORT", ""))
        default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
        if port and port != default:
            host = f"{host}:{port}"
        fields.append((b"Host", _wire(host)))
    return fields


def _wire(text: str) -> bytes:
    """PEP 3333 native strings carry bytes as latin-1 characters; anything else as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _content_length(environ: Environ) -> int | None:
    text = environ.get("CONTENT_LENGTH")
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        raise ProtocolError(400, "invalid Content-Length")
    return int(text)


def read_body(app: Any, message: RequestMessage, stream: BinaryIO) -> None:
    """Read the body from wsgi.input as the app's body plan says: into memory, into the sink
    it opened (a spool, a multipart parser, a stream handler), or not at all (no route wants
    it). ProtocolError(413) past the limit, (400) when the body ends early."""
    limit, sink, wanted = app.body_plan(message, DEFAULT_MAX_BODY)
    message.body_sink = sink
    length = message.content_length
    if length is not None and length > limit:
        raise ProtocolError(413, "request body too large")
    if not wanted:
        return
    for chunk, more in _chunks(stream, length):
        message.body_size += len(chunk)
        if message.body_size > limit:
            raise ProtocolError(413, "request body too large")
        if sink is None:
            message.body_parts.append(chunk)
        elif sink.write(chunk) and more:
            raise ProtocolError(413, "request body too large")  # refused mid-body: stop now
    if sink is not None:
        sink.finish()


def _chunks(stream: BinaryIO, length: int | None) -> Iterator[tuple[bytes, bool]]:
    """(chunk, whether more may follow): `length` bytes, or to the end when it is None."""
    remaining = length
    while remaining is None or remaining > 0:
        chunk = stream.read(BLOCK if remaining is None else min(BLOCK, remaining))
        if not chunk:
            if remaining is None:
                return
            raise ProtocolError(400, "the request body ended before its Content-Length")
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk, remaining is None or remaining > 0


# -- answer -> start_response + iterable -----------------------------------------------------


def respond(environ: Environ, start_response: StartResponse, answer: Answer) -> Iterable[bytes]:
    """Call start_response for `answer` and return its body as a WSGI iterable."""
    status, lines, body = answer
    headers = header_list(lines)
    sending = environ.get("REQUEST_METHOD") != "HEAD" and not has_no_body(status)
    if type(body) is bytes:
        if not has_no_body(status):
            headers.append(("Content-Length", str(len(body))))
        start_response(status_text(status), headers)
        return [body] if sending and body else []
    assert isinstance(body, (FileBody, StreamBody))
    try:
        length = body.remaining if isinstance(body, FileBody) else body.length
        if length is not None and not has_no_body(status):
            headers.append(("Content-Length", str(length)))
        start_response(status_text(status), headers)
    except BaseException:
        _close_quietly(body)
        raise
    if not sending:
        _close_quietly(body)
        return []
    if isinstance(body, FileBody):
        return _file_iterable(environ, body)
    return StreamIterable(body)


def status_text(status: int) -> str:
    """`200 OK`: the status line text start_response takes, made once per code."""
    text = _STATUS_TEXT.get(status)
    if text is None:
        text = _STATUS_TEXT[status] = f"{status} {reason_phrase(status)}"
    return text


def header_list(lines: bytes) -> list[tuple[str, str]]:
    """The answer's header lines as (name, value) pairs, less the hop-by-hop ones."""
    headers = []
    for line in lines.decode("latin-1").split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            if name.lower() not in HOP_BY_HOP:
                headers.append((name, value.strip(" \t")))
    return headers


def _file_iterable(environ: Environ, body: FileBody) -> Iterable[bytes]:
    span = FileRange(body)
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None or not span.runs_to_end():
        return span
    try:
        os.lseek(body.fileno(), body.offset, os.SEEK_SET)  # gunicorn sends from the position
        return wrapper(span, BLOCK)  # type: ignore[no-any-return]
    except BaseException:
        _close_quietly(span)
        raise


class FileRange:
    """The byte range of a FileBody as a file-like object and an iterable of blocks."""

    __slots__ = ("body", "position", "end")

    def __init__(self, body: FileBody) -> None:
        self.body = body
        self.position = body.offset
        self.end = body.offset + body.remaining

    def runs_to_end(self) -> bool:
        return self.end >= os.fstat(self.body.fileno()).st_size

    def fileno(self) -> int:
        return self.body.fileno()

    def read(self, size: int = -1) -> bytes:
        left = self.end - self.position
        if size < 0 or size > left:
            size = left
        data = os.pread(self.body.fileno(), size, self.position) if size > 0 else b""
        self.position += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while block := self.read(BLOCK):
            yield block

    def close(self) -> None:
        self.body.close()


class StreamIterable:
    """A StreamBody as a WSGI iterable: its iterator, and close() that closes the stream.

    A failure of the iterator is logged, then raised to the server, which aborts the response:
    ending the iteration quietly would let a cut answer pass for a whole one.
    """

    __slots__ = ("body",)

    def __init__(self, body: StreamBody) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self.body.iterator)
        except StopIteration:
            raise
        except Exception:
            error_log.exception("a streamed response body failed")
            raise

    def close(self) -> None:
        _close_quietly(self.body)


def _close_quietly(closable: BodySink | FileBody | StreamBody | FileRange) -> None:
    """Close something the app made (a sink, a file, a stream); what it raises is logged."""
    try:
        closable.close()
    except Exception:
        error_log.exception("closing %r failed", closable)
