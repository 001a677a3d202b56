"""Any WSGI application (PEP 3333) served by Rush's engine: `WSGIHost` is its `Handler`.

What it owns: building the environ from a parsed request, `start_response` and `write`, and
turning what the app returns into an answer the server frames (bytes, a file sent with
sendfile, or a stream pulled as the socket drains). It must not touch sockets: it knows the
request only as a `RequestMessage` and answers like `Rush.handle` does.

Facts and strategy:
- A synchronous app must never block the loop waiting for bytes: the body is received whole
  first (in memory up to the spool threshold, else in a temporary file), so `wsgi.input`
  never waits and `wsgi.input_terminated` is True. A chunked body arrives de-chunked with its
  real CONTENT_LENGTH, so apps that only read CONTENT_LENGTH bytes (Django) see all of it.
- Headers are fixed once the app returned and its iterable yielded its first non-empty bytes
  (or ended): until then `start_response(..., exc_info)` may replace them (PEP 3333), and an
  app that fails is answered 500. After that a failure just ends the connection.
- A list or tuple body is joined into one bytes answer, as is an iterable that ends with its
  first chunk; anything else is streamed at the client's pace, and the iterable's `close()`
  is called exactly once however the response ends (done, failed, client gone).
- The app's Content-Length is kept (a HEAD answer may announce one without a body); without
  one a streamed body is chunked. The server owns framing and hop-by-hop fields: an app that
  sends Connection, Transfer-Encoding and the like is refused (logged, 500), and its Date and
  Server fields are dropped for the server's own.
- Header names with `_` are dropped from the environ (as nginx and gunicorn do): `X_User`
  would otherwise arrive as HTTP_X_USER, indistinguishable from a proxy's `X-User`.
"""

from __future__ import annotations

import io
import logging
import operator
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from rush.bodies import DEFAULT_OPTIONS, BodyOptions, SpoolSink
from rush.exceptions import ConfigError, HTTPError, error_page
from rush.fixedanswers import FixedAnswers
from rush.protocol import RequestMessage
from rush.protocol.parser import BodyPlan
from rush.protocol.writer import (
    HOP_BY_HOP,
    Answer,
    FileBody,
    InvalidAnswer,
    StreamBody,
    check_status,
    encode_fields,
)
from rush.request import decode_path
from rush.response import HTML_LINE
from rush.static import DEFAULT_CACHE_BYTES, DEFAULT_THRESHOLD, StaticFiles, StaticMount

error_log = logging.getLogger("rush.error")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Fields the server writes itself; the app's would be a second copy.
_SERVER_FIELDS = frozenset(("date", "server"))
_HEADER_KEY_CACHE = 1024  # distinct header names remembered; names come from clients
_HEAD_CACHE = 512  # distinct (status, headers) remembered, with Content-Length values among them
#: (status, *headers) -> (status code, encoded lines, Content-Length or None), checked once.
_HEADS: dict[tuple[Any, ...], tuple[int, bytes, int | None]] = {}


class FileWrapper:
    """`wsgi.file_wrapper`: a file the server sends with sendfile when it is a regular file,
    else reads in blocks like any iterable."""

    __slots__ = ("filelike", "block_size")

    def __init__(self, filelike: Any, block_size: int = 64 * 1024) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        read, size = self.filelike.read, self.block_size
        return iter(lambda: read(size), b"")

    def fileno(self) -> int:
        return self.filelike.fileno()  # type: ignore[no-any-return]

    def close(self) -> None:
        close_if_closable(self.filelike)


class ErrorStream:
    """`wsgi.errors`: text the app writes, logged to `rush.error` one record per write that
    ends a line (a traceback stays one record)."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def write(self, text: str) -> int:
        text = self._pending + text
        head, newline, rest = text.rpartition("\n")
        self._pending = rest
        if newline and head:
            error_log.error("%s", head)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            text, self._pending = self._pending, ""
            error_log.error("%s", text)


class Responder:
    """One request's `start_response` and `write`, and the head they settled."""

    __slots__ = ("status", "lines", "length", "sent", "written")

    def __init__(self) -> None:
        self.status = 0  # 0 until start_response is called
        self.lines = b""
        self.length: int | None = None
        self.sent = False  # the head is fixed: exc_info now re-raises
        self.written: list[bytes] = []

    def start_response(
        self, status: str, headers: Sequence[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # PEP 3333: no reference cycle through the traceback
        elif self.status:
            raise RuntimeError("start_response called a second time without exc_info")
        # PERF: an app answers with the same few heads over and over; each is checked and
        # encoded once (handle() of a one-field answer to GET: 6.2 -> 2.0 us, timeit).
        try:
            key = (status, *headers)
            head = _HEADS.get(key)
        except TypeError:  # an unhashable header: checked below, and refused
            key, head = None, None
        if head is None:
            head = (parse_status(status), *head_lines(headers))
            if key is not None:
                if len(_HEADS) >= _HEAD_CACHE:
                    _HEADS.clear()
                _HEADS[key] = head
        self.status, self.lines, self.length = head
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy write(): bytes kept in order before (or between) the iterable's."""
        if not self.status:
            raise RuntimeError("write() called before start_response")
        if type(data) is not bytes:
            data = as_bytes(data)
        if data:
            self.written.append(data)
            self.sent = True

    def take_written(self) -> bytes:
        written = self.written
        if not written:
            return b""
        data = written[0] if len(written) == 1 else b"".join(written)
        written.clear()
        return data


def parse_status(status: Any) -> int:
    """The code of a PEP 3333 status string, `"200 OK"`; InvalidAnswer for anything else.
    (The reason phrase on the wire is the server's own for the code.)"""
    if type(status) is not str or not status[:3].isdigit() or status[3:4] not in ("", " "):
        raise InvalidAnswer(f"invalid WSGI status {status!r}: need a str like '200 OK'")
    code = check_status(int(status[:3]))
    if code < 200:
        raise InvalidAnswer(f"WSGI status {status!r}: an app's final answer cannot be 1xx")
    return code


def head_lines(headers: Sequence[tuple[str, str]]) -> tuple[bytes, int | None]:
    """(encoded header lines, the app's Content-Length or None); refuses hop-by-hop fields."""
    if type(headers) is not list and type(headers) is not tuple:
        raise InvalidAnswer(f"WSGI headers must be a list, not {type(headers).__name__}")
    kept = []
    length = None
    for field in headers:
        if type(field) is not tuple or len(field) != 2:
            raise InvalidAnswer(f"a WSGI header must be a (name, value) tuple, not {field!r}")
        name = field[0]
        lowered = name.lower() if type(name) is str else ""
        if lowered in HOP_BY_HOP:
            raise InvalidAnswer(f"hop-by-hop header {name!r} from a WSGI app (PEP 3333)")
        if lowered == "content-length":
            value = field[1]
            if type(value) is not str or not (value.isascii() and value.strip().isdigit()):
                raise InvalidAnswer(f"invalid Content-Length {value!r}")
            length = int(value)
        elif lowered not in _SERVER_FIELDS:
            kept.append(field)
    return encode_fields(kept), length


def as_bytes(data: Any) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"a WSGI body must be bytes, not {type(data).__name__}")


def app_name(app: Any) -> str:
    target = app if hasattr(app, "__qualname__") else type(app)
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", repr(app))
    return f"{module}.{name}" if module else name


class StaticRequest:
    """What a file answer reads from the request: its method and raw header fields."""

    __slots__ = ("method", "raw_headers")

    def __init__(self, method: str, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.method = method
        self.raw_headers = raw_headers


class Release:
    """Closes, once, what a streamed answer holds: the app's iterable (and an iterator it
    made that is not itself), then the request body's spool. Each runs even if one raises."""

    __slots__ = ("result", "iterator", "sink")

    def __init__(self, result: Any, iterator: Any, sink: Any) -> None:
        self.result = result
        self.iterator = iterator if iterator is not result else None
        self.sink = sink

    def close(self) -> None:
        result, iterator, sink = self.result, self.iterator, self.sink
        self.result = self.iterator = self.sink = None
        try:
            close_if_closable(iterator)
        finally:
            try:
                close_if_closable(result)
            finally:
                close_if_closable(sink)


def close_if_closable(item: Any) -> None:
    close = getattr(item, "close", None)
    if close is not None:
        close()


def stream(first: bytes, iterator: Iterator[Any], responder: Responder) -> Iterator[bytes]:
    """The rest of a streamed body as bytes, with what write() added in its place."""
    yield first
    for chunk in iterator:
        if type(chunk) is not bytes:
            chunk = as_bytes(chunk)
        if responder.written:
            chunk = responder.take_written() + chunk
        if chunk:
            yield chunk
    if responder.written:
        yield responder.take_written()


class WSGIHost:
    """Serves one WSGI callable through the `Handler` protocol (rush.server.context)."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        root_path: str = "",
        static: Iterable[tuple[str, str]] = (),
        body_options: BodyOptions = DEFAULT_OPTIONS,
        server_name: str = "localhost",
        server_port: int = 80,
    ) -> None:
        """`root_path`: SCRIPT_NAME (the prefix the app is mounted at, behind a proxy);
        `static`: (url, directory) folders served from Rush's file cache in front of the app;
        `server_name`/`server_port`: SERVER_NAME/PORT for requests without a Host field."""
        if not callable(app):
            raise ConfigError(f"a WSGI app must be callable, not {type(app).__name__}")
        root_path = root_path.rstrip("/")
        if root_path and not root_path.startswith("/"):
            raise ConfigError(f"root_path {root_path!r} must start with '/'")
        self.app = app
        self.name = app_name(app)
        self.root_path = root_path
        self.body_options = body_options
        self.server_name = server_name
        self.server_port = str(server_port)
        self.static_files = StaticFiles.for_app(None, DEFAULT_THRESHOLD, DEFAULT_CACHE_BYTES)
        self.mounts: list[tuple[bytes, StaticMount]] = []
        for url, directory in static:
            mount = self.static_files.mount(url, directory)
            self.mounts.append(((mount.url + "/").encode("utf-8"), mount))
        #: The cached files of the mounts, which the server may send itself (rush.fixedanswers).
        self.fixed_answers = FixedAnswers(self.static_files, self._mount_serving)
        # PERF: the environ keys that never change are built once and copied per request.
        self.base_environ: dict[str, Any] = {
            "SCRIPT_NAME": root_path,
            "SERVER_SOFTWARE": "rush",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
            # One stream per worker: it serves one request at a time.
            "wsgi.errors": ErrorStream(),
        }
        self._header_keys: dict[bytes, str] = {}

    # -- the Handler protocol ------------------------------------------------------------

    def prepare(self) -> None:
        """Nothing to build in the master: the app module was imported already."""

    def startup(self) -> None:
        """WSGI has no worker start hook."""

    def shutdown(self) -> None:
        """WSGI has no worker exit hook."""

    def watchers(self) -> list[Any]:
        """The inotify watcher keeping the --static file cache fresh, when there are mounts."""
        return list(self.static_files.start_watching()) if self.mounts else []

    def prerendered(self) -> dict[bytes, Answer]:
        """The --static mounts' cached files (the WSGI app has no hooks to see them)."""
        return dict(self.fixed_answers.answers)

    def follow_prerendered(self, update: Callable[[bytes, Answer | None], None]) -> None:
        self.fixed_answers.follow(update)

    def body_plan(self, message: RequestMessage, default_limit: int) -> BodyPlan:
        """Every body is wanted and received whole before the app runs: in memory when it is
        announced small, else through a spool (memory up to the threshold, then a file)."""
        length = message.content_length
        if length is not None and (
            length <= self.body_options.spool_threshold or length > default_limit
        ):
            return default_limit, None, True
        return default_limit, SpoolSink(self.body_options, length), True

    def handle(self, message: RequestMessage, remote_addr: str | None, scheme: str) -> Answer:
        """Call the app for one complete request; never raises for the app's errors."""
        if self.mounts and (message.method == "GET" or message.method == "HEAD"):
            answer = self.serve_static(message)
            if answer is not None:
                return answer
        try:
            environ = self.environ(message, remote_addr, scheme)
        except HTTPError as error:  # the spooled body failed (a full disk: 507)
            return error.status, HTML_LINE, error_page(error.status, error.message)
        responder = Responder()
        try:
            result = self.app(environ, responder.start_response)
        except Exception as error:
            return self.failed(message, error)
        try:
            return self.answer(message, responder, result)
        except Exception as error:
            self.close_result(message, result)
            return self.failed(message, error)

    # -- the environ ---------------------------------------------------------------------

    def environ(
        self, message: RequestMessage, remote_addr: str | None, scheme: str
    ) -> dict[str, Any]:
        environ = self.base_environ.copy()
        environ["REQUEST_METHOD"] = message.method
        raw_path, _, query = message.target.partition(b"?")
        environ["PATH_INFO"] = self.path_info(raw_path)
        environ["QUERY_STRING"] = query.decode("latin-1")
        environ["SERVER_PROTOCOL"] = "HTTP/" + message.version
        environ["REMOTE_ADDR"] = remote_addr or ""
        environ["wsgi.url_scheme"] = scheme
        keys = self._header_keys
        for name, value in message.headers:
            key = keys.get(name)
            if key is None:
                key = self.header_key(name)
            if not key:
                continue  # dropped: see header_key
            text = value.decode("latin-1")
            if key in environ:
                text = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + text
            environ[key] = text
        host = environ.get("HTTP_HOST")
        if host:
            environ["SERVER_NAME"], environ["SERVER_PORT"] = split_host(host, scheme)
        else:
            environ["SERVER_NAME"], environ["SERVER_PORT"] = self.server_name, self.server_port
        environ["wsgi.input"] = self.body(message, environ)
        return environ

    def path_info(self, raw: bytes) -> str:
        """PEP 3333: %-escapes decoded to bytes, read as latin-1; the root path moved to
        SCRIPT_NAME when the request still carries it (a proxy may have stripped it)."""
        if raw.find(b"%") >= 0:
            raw = unquote_to_bytes(raw)
        path = raw.decode("latin-1")
        root = self.root_path
        if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
            path = path[len(root) :]
        return path

    def header_key(self, name: bytes) -> str:
        """The environ key of a header field name (remembered for the names seen)."""
        text = name.decode("latin-1")
        lowered = text.lower()
        if "_" in text or lowered == "transfer-encoding":
            key = ""  # the body is de-chunked: its length is CONTENT_LENGTH
        elif lowered == "content-type":
            key = "CONTENT_TYPE"
        elif lowered == "content-length":
            key = "CONTENT_LENGTH"
        else:
            key = "HTTP_" + text.upper().replace("-", "_")
        if len(self._header_keys) < _HEADER_KEY_CACHE:
            self._header_keys[name] = key
        return key

    def body(self, message: RequestMessage, environ: dict[str, Any]) -> BinaryIO:
        sink = message.body_sink
        if sink is not None:
            environ["CONTENT_LENGTH"] = str(message.body_size)
            return sink.open_stream()  # type: ignore[attr-defined, no-any-return]
        parts = message.body_parts
        if not parts:
            return io.BytesIO()
        return io.BytesIO(parts[0] if len(parts) == 1 else b"".join(parts))

    # -- the answer ----------------------------------------------------------------------

    def answer(self, message: RequestMessage, responder: Responder, result: Any) -> Answer:
        """What the app returned, as an answer; raises (before the head is fixed) if bad."""
        kind = type(result)
        if kind is list or kind is tuple:
            # PERF: the common body (Flask, Bottle), joined without iterating it twice.
            if not responder.status:
                raise RuntimeError("the app returned without calling start_response")
            written = responder.take_written()
            body = b"".join((written, *result)) if written else b"".join(result)
            responder.sent = True
            return self.whole(responder, body)
        if kind is FileWrapper and not responder.written:
            file_answer = self.send_file(responder, result)
            if file_answer is not None:
                return file_answer
        iterator = iter(result)
        first = b""
        for chunk in iterator:
            first = chunk if type(chunk) is bytes else as_bytes(chunk)
            if first or responder.written:
                break
        else:
            iterator = None  # type: ignore[assignment]
        if not responder.status:
            raise RuntimeError("the app's iterable started without calling start_response")
        responder.sent = True
        if responder.written:
            first = responder.take_written() + first
        length = responder.length
        if (
            iterator is None
            or (length is not None and len(first) >= length)
            or operator.length_hint(iterator, 1) == 0
        ):
            self.close_result(message, result)  # the body is whole: its iterable is done
            return self.whole(responder, first)
        sink, message.body_sink = message.body_sink, None  # the stream may still read it
        release = Release(result, iterator, sink)
        return (
            responder.status,
            responder.lines,
            StreamBody(stream(first, iterator, responder), length, source=release),
        )

    def whole(self, responder: Responder, body: bytes) -> Answer:
        """A body known whole; with an app length that differs (a HEAD answer announcing a
        GET's length, or a wrong one) that length goes on the wire, and a short body ends
        the connection."""
        length = responder.length
        if length is None or length == len(body):
            return responder.status, responder.lines, body
        return responder.status, responder.lines, StreamBody((body,) if body else (), length)

    def send_file(self, responder: Responder, wrapper: FileWrapper) -> Answer | None:
        """A regular file from wsgi.file_wrapper, from its current position, with sendfile."""
        if not responder.status:
            return None
        try:
            fd = wrapper.fileno()
            info = os.fstat(fd)
            tell = getattr(wrapper.filelike, "tell", None)
            offset = tell() if tell is not None else os.lseek(fd, 0, os.SEEK_CUR)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        count = max(0, info.st_size - offset)
        if responder.length is not None:
            count = min(count, responder.length)
        responder.sent = True
        return responder.status, responder.lines, FileBody(wrapper, offset, count)

    def _mount_under(self, target: bytes) -> tuple[StaticMount, bytes] | None:
        """The first --static mount whose URL prefix starts `target`, and the rest of it."""
        for prefix, mount in self.mounts:
            if target.startswith(prefix):
                return mount, target[len(prefix) :]
        return None

    def _mount_serving(self, url: str) -> tuple[Any, dict[str, Any]] | None:
        """What serve_static calls for GET `url` (a plain path): the mount's `serve` and the
        file name."""
        found = self._mount_under(url.encode("ascii"))
        if found is None:
            return None
        mount, name = found
        return mount.serve, {"filename": name.decode("ascii")}

    def serve_static(self, message: RequestMessage) -> Answer | None:
        """A GET or HEAD under a --static URL, from the file cache (404 if missing)."""
        found = self._mount_under(message.target)
        if found is None:
            return None
        mount, rest = found
        try:
            response = mount.serve(None, decode_path(rest.partition(b"?")[0]))
        except HTTPError as error:
            return error.status, HTML_LINE, error_page(error.status, error.message)
        return response.answer_for(StaticRequest(message.method, message.headers))

    def close_result(self, message: RequestMessage, result: Any) -> None:
        """PEP 3333: the iterable's close() is called whatever happened; its failure is logged."""
        try:
            close_if_closable(result)
        except Exception as error:
            self.failed(message, error, "its close() failed")

    def failed(self, message: RequestMessage, error: BaseException, what: str = "") -> Answer:
        """A bug in the app, or an answer that must not be sent: logged once, then 500."""
        error_log.error(
            "WSGI app %s failed%s for %s %s: %s",
            self.name,
            f" ({what})" if what else "",
            message.method,
            message.target.decode("latin-1"),
            error,
            exc_info=error,
        )
        return 500, HTML_LINE, error_page(500)


def split_host(host: str, scheme: str) -> tuple[str, str]:
    """SERVER_NAME and SERVER_PORT from a Host field: `name`, `name:port`, `[v6]:port`."""
    name, colon, port = host.rpartition(":")
    if not colon or "]" in port or not port.isdigit():
        name, port = host, "443" if scheme == "https" else "80"
    return name, port


def serve_wsgi(
    app: WSGIApp,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int | None = None,
    **options: Any,
) -> None:
    """Serve a WSGI app on Rush's engine: `workers=None` forks one worker per CPU.

    Other keyword arguments are `rush.config.Config` fields (root_path, static, timeouts,
    limits, logging), plus `spool_threshold` and `spool_dir` for request bodies.
    """
    # Imported here so that the framework modules never depend on the server at import.
    from rush.cli import run_app
    from rush.config import Config

    body = {k: options.pop(k) for k in ("spool_threshold", "spool_dir") if k in options}
    config = Config.from_sources(
        {"bind": [f"{host}:{port}"], "workers": workers, "interface": "wsgi", **options}
    )
    hosted = WSGIHost(
        app,
        root_path=config.root_path,
        static=config.static_mounts,
        body_options=BodyOptions(**body),
        server_name=host,
        server_port=port,
    )
    raise SystemExit(run_app(hosted, config))
