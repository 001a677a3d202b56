"""Request bodies the app does not keep whole in memory: spooling, multipart forms, streaming.

Owns the body sinks `Rush.open_body` gives the connection (they receive the body on the event
loop as it arrives), multipart forms, stream handlers, and the body options. A sink must
never block waiting for bytes and never raise into the connection: an error (a malformed form,
a full disk, a handler's exception) is remembered, the rest of the body is dropped, and the
error is raised when the handler reads the form or body (for a stream handler, when the
request is handled). A form limit (413) is also reported by `write`'s return value, so the
connection refuses the excess at once (see MultipartSink). Sinks are opened and fed by the
connection after the parser returned, never from inside its callbacks.

Facts and strategy:
- A request has at most one temporary file (rush.uploads.Spool), created when the first byte
  does not fit in memory, and closed by the sink's `close()`, which the connection calls when
  the request has been answered, the client left, or a 408/413 ended it. Spilled uploads are
  regions of that file.
- Memory per request is bounded: a raw body up to `spool_threshold`, the uploaded files of a
  chunked form up to `spool_threshold` together (of a form announced larger: none), its
  non-file fields up to `max_form_memory`, plus the spool's write batch.
- Writes go to the page cache in batches (nginx's client_body_temp does the same); reading
  happens only in the handler.
"""

from __future__ import annotations

import errno
import inspect
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import wraps
from typing import Any, BinaryIO

from rush.datastructures import Headers, MultiDict
from rush.exceptions import ConfigError, HTTPError, RouteError
from rush.multipart import (
    MAX_PART_HEADER_SIZE,
    MAX_PARTS,
    MultipartError,
    MultipartParser,
    boundary_of,
    parse_options,
)
from rush.uploads import Spool, UploadedFile, open_reader

error_log = logging.getLogger("rush.error")


@dataclass(frozen=True, slots=True)
class BodyOptions:
    """How request bodies are kept and which form limits apply (app-wide, or per route).

    spool_threshold: bytes of a body kept in memory; a larger body goes to a temporary file
        as it arrives. Also the memory budget of the uploaded files of one multipart form.
    max_form_parts: parts (fields and files) in a multipart form; 413 beyond.
    max_form_field_size: bytes of one non-file field; 413 beyond.
    max_form_memory: bytes of all non-file fields of one form (or of a spooled urlencoded
        body) together; 413 beyond.
    max_part_header_size: bytes of the header block of one part; 413 beyond.
    spool_dir: where temporary files go; None means tempfile's default ($TMPDIR, /tmp).
    """

    spool_threshold: int = 1024 * 1024
    max_form_parts: int = MAX_PARTS
    max_form_field_size: int = 1024 * 1024
    max_form_memory: int = 8 * 1024 * 1024
    max_part_header_size: int = MAX_PART_HEADER_SIZE
    spool_dir: str | None = None

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name != "spool_dir" and (type(value) is not int or value < 0):
                raise ConfigError(f"{spec.name}: must be a non-negative integer (got {value!r})")


BODY_OPTION_NAMES = frozenset(spec.name for spec in fields(BodyOptions))
DEFAULT_OPTIONS = BodyOptions()


# -- multipart forms ---------------------------------------------------------------------


class FormCollector:
    """The multipart parser's target: fields into memory, files into memory or the spool."""

    __slots__ = (
        "fields",
        "files",
        "_options",
        "_spool",
        "_file_budget",
        "_file_memory",
        "_field_memory",
        "_name",
        "_chunks",
        "_size",
        "_charset",
        "_file",
    )

    def __init__(
        self, options: BodyOptions, spool: Spool | None, file_budget: int | None = None
    ) -> None:
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, UploadedFile]] = []
        self._options = options
        self._spool = spool  # None: the whole body is in memory already, so are its files
        # Bytes of uploaded files kept in memory before they spill to the spool.
        self._file_budget = options.spool_threshold if file_budget is None else file_budget
        self._file_memory = 0
        self._field_memory = 0
        self._name = ""
        # bytearrays, not lists of chunks: a client sending one byte per packet must not
        # cost an object per byte.
        self._chunks = bytearray()
        self._size = 0
        self._charset = "utf-8"
        self._file: UploadedFile | None = None

    def part_begin(self, headers: list[tuple[str, str]]) -> None:
        disposition = content_type = None
        for name, value in headers:
            if name == "content-disposition":
                disposition = value
            elif name == "content-type":
                content_type = value
        kind, params = parse_options(disposition or "")
        field = params.get("name")
        if kind != "form-data" or field is None:
            raise MultipartError(400, "a form part without Content-Disposition: form-data; name")
        filename = params.get("filename")
        if filename is None:
            self._file = None
            self._name = field
            self._chunks = bytearray()
            self._size = 0
            charset = parse_options(content_type)[1].get("charset") if content_type else None
            self._charset = charset or "utf-8"
        else:
            self._file = UploadedFile(
                field, filename, content_type or "application/octet-stream", Headers(headers)
            )

    def part_data(self, data: bytes) -> None:
        upload = self._file
        if upload is None:
            options = self._options
            self._size += len(data)
            if self._size > options.max_form_field_size:
                raise MultipartError(413, "form field too large")
            if self._field_memory + self._size > options.max_form_memory:
                raise MultipartError(413, "form fields too large")
            self._chunks += data
            return
        upload.size += len(data)
        if upload._spool is not None:
            upload._spool.append(data)
            return
        upload._data += data
        self._file_memory += len(data)
        if self._spool is not None and self._file_memory > self._file_budget:
            self._spill(upload)

    def _spill(self, upload: UploadedFile) -> None:
        """Move the file part being received from memory to the end of the spool."""
        spool = self._spool
        assert spool is not None
        upload._spool = spool
        upload._offset = spool.size
        spool.append(upload._data)
        upload._data = bytearray()
        self._file_memory -= upload.size

    def part_end(self) -> None:
        upload = self._file
        if upload is None:
            raw = self._chunks
            self._chunks = bytearray()
            try:
                value = raw.decode(self._charset)
            except (LookupError, UnicodeDecodeError):
                message = f"form field {self._name!r} is not valid {self._charset}"
                raise MultipartError(400, message) from None
            self._field_memory += len(raw)
            self.fields.append((self._name, value))
            return
        if upload._spool is None:
            upload._data = bytes(upload._data)
        self.files.append((upload.name, upload))
        self._file = None

    def result(self) -> tuple[MultiDict, MultiDict]:
        return MultiDict(self.fields), MultiDict(self.files)  # type: ignore[arg-type]


def parse_form(body: bytes, content_type: str, options: BodyOptions) -> tuple[MultiDict, MultiDict]:
    """Parse a multipart body that is already in memory (its files stay there too)."""
    if not body:
        return MultiDict(), MultiDict()
    collector = FormCollector(options, None)
    try:
        parser = MultipartParser(
            boundary_of(content_type),
            collector,
            max_parts=options.max_form_parts,
            max_header_size=options.max_part_header_size,
        )
        parser.feed(body)
        parser.finish()
    except MultipartError as error:
        raise HTTPError(error.status, error.message) from None
    return collector.result()


def _as_http_error(error: Exception) -> Exception:
    if isinstance(error, MultipartError):
        return HTTPError(error.status, error.message)
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return HTTPError(507, "no space left to store the request body")
    return error  # a bug: raised as it is, so the app logs it and answers 500


# -- sinks: what the connection feeds ----------------------------------------------------


class SpoolSink:
    """A raw body kept in memory up to the threshold, then in a temporary file."""

    __slots__ = ("spool", "options", "_error")

    def __init__(self, options: BodyOptions, length: int | None) -> None:
        # A body announced above the threshold goes to disk from its first byte.
        threshold = options.spool_threshold
        if length is not None and length > threshold:
            threshold = 0
        self.spool = Spool(threshold, options.spool_dir)
        self.options = options
        self._error: Exception | None = None

    def write(self, chunk: bytes) -> bool:
        if self._error is None:
            try:
                self.spool.append(chunk)
            except Exception as error:
                self._fail(error)
        return False

    def finish(self) -> None:
        if self._error is None:
            try:
                self.spool.flush()
            except Exception as error:
                self._fail(error)

    def _fail(self, error: Exception) -> None:
        self._error = _as_http_error(error)
        self.spool.close()

    def close(self) -> None:
        self.spool.close()

    def read(self) -> bytes:
        if self._error is not None:
            raise self._error
        return self.spool.pread(self.spool.size, 0)

    def open_stream(self) -> BinaryIO:
        if self._error is not None:
            raise self._error
        return open_reader(self.spool, 0, self.spool.size)

    def form_data(self, mimetype: str) -> tuple[MultiDict, MultiDict] | None:
        """None: the request parses the (urlencoded) body itself, once it passed the limit."""
        if self.spool.size > self.options.max_form_memory and mimetype == (
            "application/x-www-form-urlencoded"
        ):
            raise HTTPError(413, "form too large")
        return None


class MultipartSink:
    """A multipart/form-data body parsed as it arrives; its raw bytes are not kept.

    A form limit (413) crossed while the body arrives makes `write` return True, so the
    connection answers 413 at once and closes: the excess is never read. (Crossed in the last
    bytes, the 413 comes from the handler's access to the form.) A malformed body (400) is
    read to its end and dropped, so the connection can go on after the answer.
    """

    __slots__ = ("_parser", "_collector", "_spool", "_error", "_refused")

    def __init__(self, content_type: str, options: BodyOptions, message: Any = None) -> None:
        self._refused = False
        self._spool = Spool(0, options.spool_dir)
        # A body announced above the threshold sends its files to the temporary file from
        # their first byte; a chunked one keeps them in memory until the threshold.
        length = message.content_length if message is not None else None
        budget = options.spool_threshold if length is None else 0
        self._collector = FormCollector(options, self._spool, budget)
        self._error: Exception | None = None
        self._parser: MultipartParser | None = None
        try:
            self._parser = MultipartParser(
                boundary_of(content_type),
                self._collector,
                max_parts=options.max_form_parts,
                max_header_size=options.max_part_header_size,
            )
        except MultipartError as error:
            self._error = _as_http_error(error)

    def write(self, chunk: bytes) -> bool:
        if self._error is None:
            try:
                self._parser.feed(chunk)  # type: ignore[union-attr]
            except Exception as error:
                self._fail(error)
        return self._refused

    def finish(self) -> None:
        if self._error is None:
            try:
                self._parser.finish()  # type: ignore[union-attr]
                self._spool.flush()
            except Exception as error:
                self._fail(error)

    def _fail(self, error: Exception) -> None:
        # Nothing kept so far is needed any more; the rest of the body is dropped.
        self._error = _as_http_error(error)
        self._parser = None
        self._collector = FormCollector(DEFAULT_OPTIONS, None)
        self._spool.close()
        self._refused = getattr(self._error, "status", None) == 413

    def close(self) -> None:
        self._spool.close()

    def form_data(self, mimetype: str) -> tuple[MultiDict, MultiDict]:
        if self._error is not None:
            raise self._error
        return self._collector.result()

    def read(self) -> bytes:
        """Parsed while it arrived: the raw body is not kept (werkzeug does the same)."""
        if self._error is not None:
            raise self._error
        return b""

    def open_stream(self) -> BinaryIO:
        return io.BytesIO(self.read())


class StreamSink:
    """Drives a `stream=True` generator handler: primed at head time, sent each chunk.

    The generator runs on the loop as chunks arrive; when it returns early, or raises, the
    rest of the body is dropped and the outcome waits for `respond`, which sends the final
    b"" when the request is handled. `close()` closes a generator that did not finish, and
    for a request the app never handled (the client left mid-body) runs the teardown_request
    hooks its before_request hooks call for.
    """

    __slots__ = ("request", "handled", "_app", "_generator", "_result", "_error", "_early")

    def __init__(
        self, app: Any, request: Any, func: Callable[..., Any], args: dict[str, Any]
    ) -> None:
        self.request = request
        self.handled = False  # set by App.handle when the whole request reaches it
        self._app = app
        self._generator: Any = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._early: Any = None
        try:
            if app.before_request_funcs:
                early = app._run_before_hooks(request)
                if early is not None:
                    self._early = early
                    return
            request.body_store = self
            generator = func(request, **args)
            next(generator)  # run the handler to its first `yield`
            self._generator = generator
        except StopIteration as stop:
            self._result = stop.value
        except Exception as error:
            self._error = error

    def write(self, chunk: bytes) -> bool:
        generator = self._generator
        if generator is not None:
            try:
                generator.send(chunk)
            except StopIteration as stop:
                self._generator = None
                self._result = stop.value
            except Exception as error:
                self._generator = None
                self._error = error
        return False

    def finish(self) -> None:
        pass  # the final b"" is sent by `respond`, in the app's error handling

    def adopt(self, request: Any) -> Any:
        """Stand in for the before_request hooks, which ran when the head arrived."""
        request.context = self.request.context
        return self._early

    def respond(self, request: Any) -> Any:
        """The handler's return value (or its exception), once the body has ended."""
        request.context = self.request.context
        if self._early is not None:
            return self._early
        if self._error is not None:
            raise self._error
        generator = self._generator
        if generator is None:
            return self._result
        self._generator = None
        self.request.remote_addr = request.remote_addr
        return _finish_generator(generator)

    def close(self) -> None:
        generator = self._generator
        if generator is not None:
            self._generator = None
            try:
                generator.close()
            except Exception:
                error_log.exception("closing the stream handler failed")
        if not self.handled and self._app.teardown_request_funcs:
            self.handled = True
            self._app._run_teardown(self.request, ClientDisconnected())

    def read(self) -> bytes:
        raise RuntimeError("a stream=True handler receives the body through `yield`")

    open_stream = read  # type: ignore[assignment]

    def form_data(self, mimetype: str) -> Any:
        return self.read()


class ClientDisconnected(ConnectionError):
    """What a teardown_request hook gets for a stream request whose client left mid-body (as
    Werkzeug's ClientDisconnected): the handler never returned."""

    def __init__(self) -> None:
        super().__init__("the client left before the request body ended")


def _finish_generator(generator: Any) -> Any:
    try:
        generator.send(b"")
    except StopIteration as stop:
        return stop.value
    generator.close()
    raise RuntimeError("a stream handler went on reading after the body ended (b'')")


# -- the app's side ----------------------------------------------------------------------


def route_options(route: Any) -> BodyOptions:
    options = route.options.get("body_options") if route is not None else None
    return options or DEFAULT_OPTIONS


def prepare_route(
    app_options: BodyOptions, endpoint: Callable[..., Any], options: dict[str, Any]
) -> Callable[..., Any]:
    """Put the route's body options into `options`; wrap a stream handler. Returns the endpoint.

    Route keyword arguments named like BodyOptions fields override the app's for that route.
    """
    overrides = {name: options.pop(name) for name in BODY_OPTION_NAMES & options.keys()}
    options["body_options"] = replace(app_options, **overrides) if overrides else app_options
    if not options.get("stream"):
        return endpoint
    if not inspect.isgeneratorfunction(endpoint):
        raise RouteError(
            f"stream route {getattr(endpoint, '__qualname__', endpoint)!r}: the handler must be "
            "a generator function (it receives the body with `chunk = yield`)"
        )
    options["stream_handler"] = endpoint

    @wraps(endpoint)
    def stream_endpoint(request: Any, **args: Any) -> Any:
        store = request.body_store
        if type(store) is StreamSink:
            return store.respond(request)
        # No sink (a request without a body, or the test client): the body is in memory.
        generator = endpoint(request, **args)
        try:
            next(generator)
            body = request.body
            if body:
                generator.send(body)
        except StopIteration as stop:
            return stop.value
        return _finish_generator(generator)

    return stream_endpoint


def open_sink(app: Any, message: Any, found: Any, request_class: type) -> Any:
    """The slow half of `Rush.open_body` (a large or chunked body, or a stream route's).

    `found` is the router's (route, args) for the request, or None.
    """
    route = found[0] if found is not None else None
    options = route_options(route) if route is not None else app.body_options
    if route is not None and route.options.get("stream"):
        # The connection builds its own Request when the body has ended; the generator keeps
        # this one. The peer address is not known here: remote_addr is set before the final b"".
        request = request_class(
            message.method,
            message.target,
            message.headers,
            b"",
            message.version,
            message.keep_alive,
            None,
        )
        request.route, request.view_args = found
        return StreamSink(app, request, route.options["stream_handler"], found[1])
    length = message.content_length
    if length is not None and length <= options.spool_threshold:
        return None
    content_type = ""
    for name, value in message.headers:
        if len(name) == 12 and name.lower() == b"content-type":
            content_type = value.decode("latin-1")
            break
    if content_type.partition(";")[0].strip().lower() == "multipart/form-data":
        return MultipartSink(content_type, options, message)
    return SpoolSink(options, length)


def read_form(request: Any, mimetype: str) -> tuple[MultiDict, MultiDict] | None:
    """request.form/files of a multipart body; None leaves an urlencoded body to the request."""
    store = request.body_store
    if store is not None:
        return store.form_data(mimetype)
    if mimetype != "multipart/form-data":
        return None
    return parse_form(request.body, request.content_type, route_options(request.route))
