"""The request object handlers receive.

Only `method`, `path` and the raw parts are set per request; everything else (`args`,
`headers`, `cookies`, `json`, `form`, `url`, `authorization`, ...) is computed on first use
(and kept where it is parsed), because most handlers read one or two of them and computing
all of them for every request would dominate the hot path. Flask's names are kept where a
Flask user would look for them.
"""

from __future__ import annotations

import base64
import binascii
import io
import json as _stdlib_json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, unquote_plus

from rush.accept import Accept, LanguageAccept, MIMEAccept
from rush.bodies import read_form
from rush.datastructures import Headers, MultiDict
from rush.exceptions import HTTPError
from rush.protocol.heads import COMPILED, PURE, extensions_wanted
from rush.sessions import Session, flash, pop_flashes, select_flashes

try:
    import orjson

    _json_loads: Any = orjson.loads
    _JSONDecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)
except ImportError:  # pragma: no cover - orjson is optional
    _json_loads = _stdlib_json.loads
    _JSONDecodeError = (ValueError,)

_UNSET: Any = object()
#: `request.view_args` until the request is routed, and of a request no route takes.
NO_VIEW_ARGS: Mapping[str, Any] = MappingProxyType({})

#: Most pairs accepted from a query string or an urlencoded form (more is a 400).
MAX_FORM_FIELDS = 1000


def parse_pairs(text: str, max_fields: int = MAX_FORM_FIELDS) -> list[tuple[str, str]]:
    """Split `a=1&b=2` into pairs, decoding `%XX` and `+` only where present.

    PERF: about 3x faster than urllib.parse.parse_qsl for short query strings, which skips
    no work we need: blank values are kept, as Flask keeps them.
    """
    if "&" not in text and "%" not in text and "+" not in text:
        name, _, value = text.partition("=")  # PERF: one plain pair is the common query
        return [(name, value)] if text else []
    pairs = []
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "%" in piece or "+" in piece:
            name = unquote_plus(name)
            value = unquote_plus(value)
        pairs.append((name, value))
    if len(pairs) > max_fields:
        raise HTTPError(400, "too many fields")
    return pairs


def decode_path(raw: bytes) -> str:
    # PERF: find(), not `in`: `bytes in bytes` first tries the operand as an int and
    # formats a TypeError it then drops (CPython 3.11), three times the cost of a find.
    if raw.find(b"%") >= 0:
        return unquote(raw.decode("latin-1"), errors="replace")
    return raw.decode("utf-8", "replace")


class Request:
    """One HTTP request: method, path, headers, body, and lazily parsed views of them.

    A handler receives it as its first argument. Everything but `method` and `path` is
    computed on first use.

    Attributes:
        method: The request method, upper case (`"GET"`).
        path: The path, %-decoded (`/users/42`), without the query string.
        query_string: The query string as sent, bytes, without the `?` (b"" when none).
        http_version: `"1.1"` or `"1.0"`.
        remote_addr: The peer's address, or the client a trusted proxy forwards for.
        scheme: `"http"`, or `"https"` when a trusted proxy says the client used TLS.
        view_args: The route's converted parameters (as passed to the handler).
        route: The matched route (None before routing and for a 404 or 405).
        raw_headers: The header fields as the parser gave them: (name, value) byte pairs.
        keep_alive: Whether the connection stays open after this request.
    """

    # PERF: what every request has is a slot (set in C by rush._request.RequestMaker, read
    # and written by the interpreter at a fixed offset); what most requests never touch is a
    # class-level default, not a per-request store.
    __slots__ = (
        "method",
        "path",
        "query_string",
        "raw_headers",
        "_body",
        "http_version",
        "keep_alive",
        "remote_addr",
        "app",
        "route",
        "view_args",
        "_session",
        "_args",
        "__dict__",
        "__weakref__",  # as before the slots: a weak reference to a request still works
    )
    method: str
    path: str
    query_string: bytes
    raw_headers: list[tuple[bytes, bytes]]
    http_version: str
    keep_alive: bool
    remote_addr: str | None
    #: The app serving this request (Flask's `current_app`, explicit): what a blueprint's
    #: handler in another module reaches the app's templates, url_for and config through.
    #: None only for a Request built by hand.
    app: Any
    route: Any
    #: The route's converted parameters (set when the request is routed; read-only before).
    view_args: Mapping[str, Any]
    _session: Session | None  # loaded by the first `request.session`
    _args: MultiDict | None
    #: Where the body went when the app chose not to keep it in memory (a BodySink).
    body_store: Any = None
    _headers: Headers | None = None
    _cookies: dict[str, str] | None = None
    _json: Any = _UNSET
    _form: MultiDict | None = None
    _files: MultiDict | None = None
    _stream: BinaryIO | None = None
    _context: dict[str, Any] | None = None
    _values: MultiDict | None = None
    _flashes: list[tuple[str, Any]] | None = None
    #: "http", or what a trusted proxy says the client used (rush.proxy sets it).
    scheme = "http"

    def __init__(
        self,
        method: str,
        target: bytes,
        raw_headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
        http_version: str = "1.1",
        keep_alive: bool = True,
        remote_addr: str | None = None,
        app: Any = None,
    ) -> None:
        self.method = method
        # PERF: one partition and a str test instead of two bytes.find() and two slices (a
        # bytes method given bytes costs ~900 instructions in CPython 3.11): Request() 7.3k ->
        # 5.1k instructions for /hello?name=bill, 6.7k -> 4.5k for /hello (valgrind).
        target, _, self.query_string = target.partition(b"?")
        path = target.decode("utf-8", "replace")  # decode_path() inlined for the common case
        self.path = path if "%" not in path else decode_path(target)
        self.raw_headers = raw_headers if raw_headers is not None else []
        self._body = body
        self.http_version = http_version
        self.keep_alive = keep_alive
        self.remote_addr = remote_addr
        self.app = app
        # Every slot is set: an unset one would raise AttributeError where a class default
        # answered before. RequestMaker sets the same values (tests/app/test_request_maker.py).
        self.route = None
        self.view_args = NO_VIEW_ARGS
        self._session = None
        self._args = None

    @property
    def context(self) -> dict[str, Any]:
        """A place for hooks and handlers to keep per-request values (like flask.g)."""
        context = self._context
        if context is None:
            context = self._context = {}
        return context

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._context = value

    @property
    def body(self) -> bytes:
        """The raw body. A spooled body (above the app's `spool_threshold`) is read from its
        temporary file into memory here: prefer `stream` for those. A multipart body parsed
        while it arrived keeps no raw bytes (b""): use `form` and `files`."""
        body = self._body
        if not body and self.body_store is not None:
            body = self._body = self.body_store.read()
        return body

    @property
    def stream(self) -> BinaryIO:
        """The body as a binary file (`read(n)`, `readline()`, iteration); a spooled body is
        read from its temporary file, never loaded whole."""
        stream = self._stream
        if stream is None:
            store = self.body_store
            stream = store.open_stream() if store is not None else io.BytesIO(self._body)
            self._stream = stream
        return stream

    @property
    def args(self) -> MultiDict:
        """Query string parameters (`?a=1&a=2` -> `args.get("a") == "1"`, `getlist` both)."""
        args = self._args
        if args is None:
            query = self.query_string
            # PERF: read in C (rush/_request.c) unless it declines (None): `?name=bill`
            # 9.2k -> 3.5k instructions (the MultiDict's Python __init__ was 4.5k of it).
            args = query_args(query, MultiDict, MAX_FORM_FIELDS) if query_args else None
            if args is None:
                args = python_query_args(query)
            self._args = args
        return args

    @property
    def headers(self) -> Headers:
        """The header fields, case-insensitive, repeated fields kept (`getlist`)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers.from_raw(self.raw_headers)
        return headers

    @property
    def content_type(self) -> str:
        """The `Content-Type` header with its parameters; "" when absent."""
        return self.headers.get("content-type") or ""

    @property
    def mimetype(self) -> str:
        """The content type without parameters, in lower case (`application/json`); "" when absent."""
        return self.content_type.partition(";")[0].strip().lower()

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies of the `Cookie` header(s) as a dict (the first of a repeated name wins)."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = {}
            for header in self.headers.getlist("cookie"):
                for piece in header.split(";"):
                    name, sep, value = piece.partition("=")
                    name = name.strip()
                    if not sep or not name:
                        continue
                    value = value.strip()
                    if len(value) >= 2 and value[0] == value[-1] == '"':
                        value = value[1:-1]
                    cookies.setdefault(name, unquote(value))
        return cookies

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when empty), whatever its Content-Type; malformed
        JSON is a 400. `get_json()` is Flask's stricter reading."""
        value = self._json
        if value is _UNSET:
            body = self.body
            if not body:
                value = None
            else:
                try:
                    value = _json_loads(body)
                except _JSONDecodeError:
                    raise HTTPError(400, "malformed JSON body") from None
            self._json = value
        return value

    @property
    def is_json(self) -> bool:
        """Whether the Content-Type is JSON (`application/json` or `application/*+json`)."""
        return _is_json(self.mimetype)

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body as JSON, as Flask reads it: a body that is not declared JSON is a 415
        (unless `force`), an empty or malformed one a 400; `silent=True` returns None instead
        of either. The parsed value is kept unless `cache=False`."""
        if not (force or _is_json(self.mimetype)):
            if silent:
                return None
            raise HTTPError(415, "the request body is not JSON (Content-Type)")
        value = self._json
        if value is not _UNSET and value is not None:
            return value
        try:
            value = _json_loads(self.body)
        except _JSONDecodeError:
            if silent:
                return None
            raise HTTPError(400, "malformed JSON body") from None
        if cache:
            self._json = value
        return value

    def get_data(self, cache: bool = True, as_text: bool = False) -> Any:
        """The raw body (`body`), or as text (UTF-8, undecodable bytes replaced)."""
        body = self.body
        return body.decode("utf-8", "replace") if as_text else body

    @property
    def data(self) -> bytes:
        """The raw body, as Flask's `request.data` (the same bytes as `body`)."""
        return self.body

    @property
    def form(self) -> MultiDict:
        """Fields of an urlencoded or multipart form body; empty for other bodies.

        A malformed multipart body is a 400, one over a form limit a 413 (rush.bodies)."""
        form = self._form
        if form is None:
            mimetype = self.mimetype
            if self.body_store is not None or mimetype == "multipart/form-data":
                parsed = read_form(self, mimetype)  # None: an urlencoded body, read below
                if parsed is not None:
                    form, self._files = parsed
                    self._form = form
                    return form
            if mimetype == "application/x-www-form-urlencoded":
                try:
                    text = self.body.decode("utf-8")
                except UnicodeDecodeError:
                    raise HTTPError(400, "form body is not UTF-8") from None
                form = MultiDict(parse_pairs(text))
            else:
                form = MultiDict()
            self._form = form
        return form

    @property
    def files(self) -> MultiDict:
        """Uploaded files of a multipart form by field name (rush.bodies.UploadedFile)."""
        files = self._files
        if files is None:
            _ = self.form  # a multipart body fills both
            files = self._files
            if files is None:
                files = self._files = MultiDict()
        return files

    @property
    def values(self) -> MultiDict:
        """`args` and `form` together (args first); for GET and HEAD only `args`, as Flask."""
        values = self._values
        if values is None:
            pairs = self.args.items(multi=True)
            if self.method not in ("GET", "HEAD"):
                pairs += self.form.items(multi=True)
            values = self._values = MultiDict(pairs)
        return values

    @property
    def session(self) -> Session:
        """The signed-cookie session (a dict), read from the cookie on first use; the answer
        sets the cookie again only if it was changed (see rush.sessions)."""
        session = self._session
        if session is None:
            app = self.app
            if app is None:
                raise RuntimeError("request.session: this request is not being served by an app")
            session = self._session = app.session_store.open(self.cookies)
        return session

    def flash(self, message: Any, category: str = "message") -> None:
        """Keep `message` in the session for a later request's `get_flashed_messages`."""
        flash(self.session, message, category)

    def get_flashed_messages(
        self, with_categories: bool = False, category_filter: Any = ()
    ) -> list[Any]:
        """The messages flashed by earlier requests, taken out of the session (the same
        ones for every call during this request); `(category, message)` pairs with
        `with_categories`, only the categories in `category_filter` when given."""
        flashes = self._flashes
        if flashes is None:
            flashes = self._flashes = pop_flashes(self.session)
        return select_flashes(flashes, with_categories, category_filter)

    @property
    def host(self) -> str:
        """The `Host` header as sent (with its port, if any); "" when absent."""
        return self.headers.get("host") or ""

    @property
    def is_secure(self) -> bool:
        """Whether the client used HTTPS (`scheme == "https"`, from a trusted proxy)."""
        return self.scheme == "https"

    @property
    def accept_mimetypes(self) -> MIMEAccept:
        """The Accept field parsed (`best_match(["application/json", "text/html"])`,
        `accept_json`), as Werkzeug's; every type is missing when the field is."""
        return MIMEAccept.parse(self.headers.get("accept"))

    @property
    def accept_languages(self) -> LanguageAccept:
        """The Accept-Language field parsed: `best_match(["en", "de"])`."""
        return LanguageAccept.parse(self.headers.get("accept-language"))

    @property
    def accept_charsets(self) -> Accept:
        """The Accept-Charset field parsed."""
        return Accept.parse(self.headers.get("accept-charset"))

    @property
    def accept_encodings(self) -> Accept:
        """The Accept-Encoding field parsed."""
        return Accept.parse(self.headers.get("accept-encoding"))

    @property
    def endpoint(self) -> str | None:
        """The endpoint name of the route that matched (`func`, `bp.func`), as Flask's; None
        before routing, on a 404 or 405, and for a route url_for cannot name."""
        return self.route.name if self.route is not None else None

    @property
    def blueprint(self) -> str | None:
        """The dotted name of the blueprint whose route matched, as Flask's; else None."""
        return self.route.blueprint if self.route is not None else None

    @property
    def full_path(self) -> str:
        """The path and the query string, always with a `?` (as Flask's)."""
        return self.path + "?" + self.query_string.decode("latin-1")

    @property
    def host_url(self) -> str:
        """`scheme://host/`."""
        return f"{self.scheme}://{self.host}/"

    url_root = root_url = host_url

    @property
    def base_url(self) -> str:
        """The absolute URL without the query string: `scheme://host/path`."""
        return f"{self.scheme}://{self.host}{quote(self.path, safe=_PATH_SAFE)}"

    @property
    def url(self) -> str:
        """The absolute URL as Flask spells it: `scheme://host/path?query`."""
        qs = self.query_string
        return self.base_url + ("?" + qs.decode("latin-1") if qs else "")

    @property
    def content_length(self) -> int | None:
        """The `Content-Length` header as an int; None when absent or not a number."""
        value = self.headers.get("content-length")
        if value is None or not value.isdigit() or not value.isascii():
            return None
        return int(value)

    @property
    def referrer(self) -> str | None:
        """The `Referer` header; None when absent."""
        return self.headers.get("referer")

    @property
    def user_agent(self) -> UserAgent:
        """The `User-Agent` header: `.string` (as Werkzeug's), `str()`, "" when absent."""
        return UserAgent(self.headers.get("user-agent") or "")

    @property
    def authorization(self) -> Authorization | None:
        """The `Authorization` header parsed: `.type` ("basic", "bearer", ...), `.username`
        and `.password` for Basic, `.token` for the others; None when absent or garbled."""
        value = self.headers.get("authorization")
        return Authorization.parse(value) if value else None

    def __repr__(self) -> str:
        qs = self.query_string
        return f"<Request {self.method} {self.path}{'?' + qs.decode('latin-1') if qs else ''}>"


def python_query_args(query: bytes) -> MultiDict:
    """`request.args` of a query string: the pure-Python twin of rush._request.query_args,
    which hands this one the queries it does not read (%-escapes, `+`, too many pairs)."""
    return MultiDict(parse_pairs(query.decode("latin-1")) if query else ())


NewRequest = Callable[
    [str, bytes, list[tuple[bytes, bytes]], bytes, str, bool, "str | None", Any], Request
]
QueryArgs = Callable[[bytes, type[MultiDict], int], "MultiDict | None"]


def _select() -> tuple[NewRequest, QueryArgs | None, str]:
    """The C accelerator unless RUSH_NO_EXTENSIONS is set or it is not built (DESIGN.md,
    hot-path rule 8). Without it `request.args` needs no reader but the twin: None."""
    if not extensions_wanted():
        return Request, None, PURE
    try:
        from rush._request import RequestMaker
        from rush._request import query_args as compiled_query_args
    except ImportError:
        return Request, None, PURE
    return RequestMaker(Request, Request, NO_VIEW_ARGS), compiled_query_args, COMPILED


#: new_request(method, target, ..., remote_addr, app) builds the Request App.handle answers:
#: Request itself, or its C twin rush._request.RequestMaker.
new_request, query_args, IMPLEMENTATION = _select()


#: Characters left as they are when a path is spelled back into a URL (RFC 3986 §3.3).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


class UserAgent:
    """The `User-Agent` header; compares equal to its string."""

    __slots__ = ("string",)

    def __init__(self, string: str) -> None:
        self.string = string

    def __str__(self) -> str:
        return self.string

    def __bool__(self) -> bool:
        return bool(self.string)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, UserAgent):
            return self.string == other.string
        return isinstance(other, str) and self.string == other

    def __hash__(self) -> int:
        return hash(self.string)

    def __repr__(self) -> str:
        return f"<UserAgent {self.string!r}>"


class Authorization:
    """Credentials from an `Authorization` header (RFC 9110 §11.6.2).

    `type` is the scheme in lower case; Basic (RFC 7617) gives `username` and `password`,
    any other scheme (Bearer, RFC 6750) its credentials as `token`.
    """

    __slots__ = ("type", "username", "password", "token")

    def __init__(
        self,
        type: str,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        self.type = type
        self.username = username
        self.password = password
        self.token = token

    @classmethod
    def parse(cls, value: str) -> Authorization | None:
        """The header's value parsed, or None when it is not a credential Rush can read."""
        scheme, _, rest = value.strip().partition(" ")
        scheme = scheme.lower()
        rest = rest.strip()
        if not scheme:
            return None
        if scheme == "basic":
            try:
                decoded = base64.b64decode(rest, validate=True)
            except (binascii.Error, ValueError):
                return None
            try:
                text = decoded.decode("utf-8")
            except UnicodeDecodeError:
                text = decoded.decode("latin-1")  # RFC 7617 §2.1: the charset is a guess
            username, sep, password = text.partition(":")
            if not sep:
                return None
            return cls("basic", username, password)
        return cls(scheme, token=rest or None)

    def get(self, key: str, default: Any = None) -> Any:
        """As Werkzeug's mapping: `get("username")`, `get("password")`, `get("token")`."""
        if key in self.__slots__:
            value = getattr(self, key)
            return default if value is None else value
        return default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Authorization):
            return NotImplemented
        return (self.type, self.username, self.password, self.token) == (
            other.type,
            other.username,
            other.password,
            other.token,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self.type == "basic":
            return f"<Authorization basic {self.username!r}>"
        return f"<Authorization {self.type}>"
