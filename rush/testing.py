"""An in-process test client: requests go through the app's `handle` and back, no sockets.

The answer is framed by the same protocol writer the server uses, then parsed back into
status, headers and body, so tests see the bytes a client would. Around that, what a browser
(and Werkzeug's client) does: a cookie jar, following redirects, encoding forms, JSON and
file uploads. `with app.test_client() as client:` runs the app's startup and shutdown hooks.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from rush.datastructures import Headers
from rush.protocol import Limits, RequestMessage
from rush.protocol.writer import (
    FileBody,
    StreamBody,
    connection_line,
    date_line,
    error_response,
    render,
    render_head,
)
from rush.response import dump_json, parse_json

#: The host a request goes to unless its URL or a Host header names another (Flask's).
DEFAULT_HOST = "localhost"
REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 30


def _field(line: str) -> tuple[str, str]:
    name, _, value = line.partition(": ")
    return name, value


class SentRequest:
    """What the client sent, kept on its response (`response.request`)."""

    __slots__ = ("method", "url", "path", "query_string", "headers", "body")

    def __init__(self, method: str, url: str, headers: Headers, body: bytes) -> None:
        self.method = method
        self.url = url
        parts = urlsplit(url)
        self.path = parts.path or "/"
        self.query_string = parts.query.encode("latin-1")
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<SentRequest {self.method} {self.url}>"


class TestResponse:
    """What a test sees, with Flask's names: `status_code` (also `status`, an int here),
    `headers`, `data` (also `body`, bytes), `text`, `json` and `get_json()`, `mimetype`,
    `location`, and after `follow_redirects=True` the responses on the way in `history`."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        raw: bytes,
        request: SentRequest | None = None,
        history: tuple[TestResponse, ...] = (),
    ) -> None:
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _, status, self.reason = (lines[0].split(" ", 2) + [""])[:3]
        self.status = int(status)
        self.headers = Headers(_field(line) for line in lines[1:])
        self.request = request
        self.history = history

    @property
    def status_code(self) -> int:
        """The status code (also `status`)."""
        return self.status

    @property
    def data(self) -> bytes:
        """The body as bytes (also `body`)."""
        return self.body

    def get_data(self, as_text: bool = False) -> Any:
        """`data`, or `text` with `as_text=True`."""
        return self.text if as_text else self.body

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    @property
    def content_type(self) -> str | None:
        """The `Content-Type` header; None when absent."""
        return self.headers.get("content-type")

    @property
    def mimetype(self) -> str | None:
        """The content type without parameters, in lower case; None when absent."""
        value = self.content_type
        return value.partition(";")[0].strip().lower() if value else None

    @property
    def is_json(self) -> bool:
        """Whether the content type is JSON (`application/json` or `application/*+json`)."""
        mimetype = self.mimetype or ""
        return mimetype == "application/json" or (
            mimetype.startswith("application/") and mimetype.endswith("+json")
        )

    @property
    def location(self) -> str | None:
        """The `Location` header of a redirect; None when absent."""
        return self.headers.get("location")

    def get_json(self, force: bool = False, silent: bool = False) -> Any:
        """The body as JSON; None when the response is not JSON (unless `force`); a
        malformed body raises ValueError unless `silent`."""
        return parse_json(self.body, self.is_json or force, silent)

    @property
    def json(self) -> Any:
        """The body as JSON (as Flask's `response.json`); None when it is not JSON."""
        return self.get_json()

    def __repr__(self) -> str:
        return f"<TestResponse {self.status} {len(self.body)} bytes>"


class Cookie:
    """One cookie of the client's jar."""

    __slots__ = ("key", "value", "domain", "path", "expires", "host_only")

    def __init__(
        self,
        key: str,
        value: str,
        domain: str = DEFAULT_HOST,
        path: str = "/",
        expires: float | None = None,
        host_only: bool = True,
    ) -> None:
        self.key = key
        self.value = value
        self.domain = domain
        self.path = path
        self.expires = expires
        self.host_only = host_only

    def matches(self, host: str, path: str, now: float) -> bool:
        """RFC 6265 §5.4: domain-match, path-match and not expired (Secure is not checked:
        the test client speaks http, as Werkzeug's does)."""
        if self.expires is not None and self.expires <= now:
            return False
        if host != self.domain and (self.host_only or not host.endswith("." + self.domain)):
            return False
        cookie_path = self.path
        return path == cookie_path or (
            path.startswith(cookie_path)
            and (cookie_path.endswith("/") or path[len(cookie_path)] == "/")
        )

    def __repr__(self) -> str:
        return f"<Cookie {self.key}={self.value!r} {self.domain}{self.path}>"


def parse_set_cookie(value: str, host: str, path: str, now: float) -> Cookie | None:
    """A `Set-Cookie` field as the jar keeps it (RFC 6265 §5.2); None when unreadable."""
    pair, *attributes = value.split(";")
    key, sep, cookie_value = pair.partition("=")
    key = key.strip()
    if not sep or not key:
        return None
    cookie = Cookie(key, cookie_value.strip(), host, _default_path(path))
    max_age: float | None = None
    for attribute in attributes:
        name, _, arg = attribute.partition("=")
        name, arg = name.strip().lower(), arg.strip()
        if name == "max-age":
            try:
                max_age = now + int(arg)
            except ValueError:
                continue
        elif name == "expires":
            try:
                cookie.expires = parsedate_to_datetime(arg).timestamp()
            except (TypeError, ValueError, IndexError):
                continue
        elif name == "domain" and arg:
            cookie.domain = arg.lstrip(".").lower()
            cookie.host_only = False
        elif name == "path" and arg.startswith("/"):
            cookie.path = arg
    if max_age is not None:
        cookie.expires = max_age  # Max-Age wins over Expires (§5.3 step 3)
    return cookie


def _default_path(path: str) -> str:
    """RFC 6265 §5.1.4: the request path's directory."""
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


def encode_multipart(
    fields: Iterable[tuple[str, str]], files: Iterable[tuple[str, str, bytes, str]]
) -> tuple[bytes, str]:
    """A multipart/form-data body (RFC 7578) and its Content-Type for fields and files
    given as (name, filename, content, content type)."""
    boundary = f"----rush{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    for name, filename, content, content_type in files:
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
                f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'
            ).encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _file_part(name: str, value: Any, requests_style: bool) -> tuple[str, str, bytes, str]:
    """One upload: `files=` takes (filename, content[, content type]) as requests does,
    a dict given as `data=` takes (file or content, filename[, content type]) as Werkzeug
    does; a bare file object is named after its file."""
    content_type = "application/octet-stream"
    if isinstance(value, tuple):
        if requests_style:
            filename, content = value[0], value[1]
        else:
            content, filename = value[0], value[1]
        if len(value) > 2 and value[2]:
            content_type = value[2]
    else:
        content = value
        filename = os.path.basename(getattr(value, "name", None) or name)
    if hasattr(content, "read"):
        content = content.read()
    if isinstance(content, str):
        content = content.encode("utf-8")
    return name, str(filename), bytes(content), content_type


class TestClient:
    """`client.get("/path", query_string={...}, headers={...})`, `client.post(..., json=...)`.

    The body of a request is one of `json=` (encoded, `application/json`), `form=` (a dict,
    urlencoded), `files=` (uploads, multipart with the `form=` or `data=` fields), `data=`
    (bytes or str as they are; a dict is a form, multipart when a value is a file), or
    `body=` (bytes). Cookies the app sets are kept and sent back (`use_cookies=False` turns
    that off); `follow_redirects=True` follows redirects as a browser would.
    """

    __test__ = False

    def __init__(self, app: Any, use_cookies: bool = True) -> None:
        self.app = app
        self.use_cookies = use_cookies
        self.cookies: dict[tuple[str, str, str], Cookie] = {}
        app.prepare()

    # -- the app's lifetime ----------------------------------------------------------------

    def __enter__(self) -> TestClient:
        self.app.startup()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.app.shutdown()

    # -- the cookie jar --------------------------------------------------------------------

    def set_cookie(
        self, key: str, value: str = "", *, domain: str = DEFAULT_HOST, path: str = "/"
    ) -> None:
        """Put a cookie in the jar, as if the app at `domain` had set it."""
        cookie = Cookie(key, value, domain, path)
        self.cookies[(cookie.domain, cookie.path, key)] = cookie

    def get_cookie(self, key: str, domain: str = DEFAULT_HOST, path: str = "/") -> Cookie | None:
        """The cookie `key` of the jar (`.value`, `.expires`, ...); None when absent or expired."""
        cookie = self.cookies.get((domain, path, key))
        if cookie is not None and cookie.expires is not None and cookie.expires <= time.time():
            return None
        return cookie

    def delete_cookie(self, key: str, *, domain: str = DEFAULT_HOST, path: str = "/") -> None:
        """Remove the cookie `key` from the jar."""
        self.cookies.pop((domain, path, key), None)

    @contextlib.contextmanager
    def session_transaction(self, path: str = "/") -> Iterator[dict[str, Any]]:
        """Read or change the session the jar's cookies carry, outside a request, as with
        Flask's client: `with client.session_transaction() as session: session["user"] =
        "bob"`. When the block ends, a changed session is signed into the jar as the app
        would set it (a block that raises changes nothing). It is the app's session object
        (rush.sessions.Session: a dict with `permanent`)."""
        if not self.use_cookies:
            raise TypeError("session_transaction needs a client with use_cookies=True")
        cookies: dict[str, str] = {}
        for cookie in self._sent_cookies(DEFAULT_HOST, path):
            cookies.setdefault(cookie.key, cookie.value)  # as Request.cookies: the first wins
        if not self.app.config.get("SECRET_KEY"):
            raise RuntimeError("the app has no sessions: set app.config['SECRET_KEY'] first")
        store = self.app.session_store
        session = store.open(cookies)
        yield session
        self._keep_cookies([value for _, value in store.cookie_fields(session)], DEFAULT_HOST, path)

    def _sent_cookies(self, host: str, path: str) -> list[Cookie]:
        """The jar's cookies for a request to `host` and `path`, in the order sent."""
        now = time.time()
        found = [c for c in self.cookies.values() if c.matches(host, path, now)]
        found.sort(key=lambda c: -len(c.path))  # RFC 6265 §5.4: longer paths first
        return found

    def _cookie_header(self, host: str, path: str) -> str:
        return "; ".join(f"{c.key}={c.value}" for c in self._sent_cookies(host, path))

    def _keep_cookies(self, set_cookies: list[str], host: str, path: str) -> None:
        now = time.time()
        for value in set_cookies:
            cookie = parse_set_cookie(value, host, path, now)
            if cookie is None:
                continue
            key = (cookie.domain, cookie.path, cookie.key)
            if cookie.expires is not None and cookie.expires <= now:
                self.cookies.pop(key, None)  # Max-Age=0 or a past date: deleted
            else:
                self.cookies[key] = cookie

    # -- requests --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | str | bytes | None = None,
        query_string: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes | str = b"",
        data: bytes | str | Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        auth: tuple[str, str] | None = None,
        follow_redirects: bool = False,
        http_version: str = "1.1",
        remote_addr: str = "127.0.0.1",
    ) -> TestResponse:
        """Send one request to the app and return its response (see the class for the body
        arguments). `query_string` (or `query`) is added to the path's own; `auth` sends
        Basic credentials; `follow_redirects=True` follows redirects, keeping the ones on the
        way in `response.history`. `remote_addr` and `http_version` are what the app sees."""
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers or [])
        body, body_type = _encode_body(body, data, json, form, files)
        if content_type is None:
            content_type = body_type
        if content_type is not None and not _has(pairs, "content-type"):
            pairs.append(("Content-Type", content_type))
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            pairs.append(("Authorization", f"Basic {token}"))
        extra = query if query is not None else query_string
        if extra:
            if isinstance(extra, Mapping):
                extra = urlencode(extra, doseq=True)
            elif isinstance(extra, bytes):
                extra = extra.decode("latin-1")
            path += ("&" if "?" in path else "?") + extra
        response = self._send(method.upper(), path, pairs, body, http_version, remote_addr)
        if follow_redirects:
            response = self._follow(response, pairs, http_version, remote_addr)
        return response

    def _send(
        self,
        method: str,
        url: str,
        pairs: list[tuple[str, str]],
        body: bytes,
        http_version: str,
        remote_addr: str,
    ) -> TestResponse:
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        host = next((v for n, v in pairs if n.lower() == "host"), None)
        if host is None:
            host = parts.netloc or DEFAULT_HOST
            pairs = [("Host", host), *pairs]
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        hostname = host.rpartition(":")[0] if host.rfind(":") > host.rfind("]") else host
        hostname = hostname.lower()
        if self.use_cookies:
            jar = self._cookie_header(hostname, parts.path or "/")
            if jar:
                given = [v for n, v in pairs if n.lower() == "cookie"]
                pairs = [p for p in pairs if p[0].lower() != "cookie"]
                pairs.append(("Cookie", "; ".join([*given, jar])))
        raw_headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs]
        message = RequestMessage.built(
            method, target.encode("utf-8"), http_version, raw_headers, body
        )
        raw = self._answer(message, remote_addr, scheme)
        sent = SentRequest(
            method, f"{scheme}://{host}{target}", Headers.from_raw(raw_headers), body
        )
        response = TestResponse(raw, sent)
        if self.use_cookies:
            self._keep_cookies(response.headers.getlist("set-cookie"), hostname, parts.path or "/")
        return response

    def _answer(self, message: RequestMessage, remote_addr: str, scheme: str) -> bytes:
        """What the server sends for `message`: its body planned as the connection plans it
        (the route's `max_body`: 413; a sink for a large or streamed body), then the app's
        answer, framed."""
        plan = getattr(self.app, "body_plan", None)
        if plan is None or not message.body_size:
            return frame(self.app.handle(message, remote_addr, scheme), message)
        limit, sink, _ = plan(message, Limits().max_body)
        if message.body_size > limit:
            if sink is not None:
                sink.close()
            return error_response(413, "request body too large", date_line(time.time()))
        if sink is not None:
            for part in message.body_parts:
                sink.write(part)
            message.body_parts = []
            sink.finish()
            message.body_sink = sink
        try:
            return frame(self.app.handle(message, remote_addr, scheme), message)
        finally:
            if sink is not None:
                sink.close()

    def _follow(
        self,
        response: TestResponse,
        pairs: list[tuple[str, str]],
        http_version: str,
        remote_addr: str,
    ) -> TestResponse:
        """Follow redirects as a browser: 307 and 308 repeat the method and the body,
        the others become a GET without a body (a HEAD stays a HEAD)."""
        history: list[TestResponse] = []
        while response.status in REDIRECT_STATUSES and response.location is not None:
            if len(history) >= MAX_REDIRECTS:
                raise RuntimeError(f"more than {MAX_REDIRECTS} redirects")
            sent = response.request
            assert sent is not None
            url = urljoin(sent.url, response.location)
            if urlsplit(url).netloc != urlsplit(sent.url).netloc:
                raise RuntimeError(f"the test client cannot follow a redirect to {url}")
            method, body = sent.method, sent.body
            headers = [p for p in pairs if p[0].lower() not in ("host", "cookie")]
            if response.status not in (307, 308):
                method = "HEAD" if method == "HEAD" else "GET"
                body = b""
                headers = [p for p in headers if p[0].lower() != "content-type"]
            history.append(response)
            response = self._send(method, url, headers, body, http_version, remote_addr)
        response.history = tuple(history)
        return response

    def open(self, path: str = "/", method: str = "GET", **kwargs: Any) -> TestResponse:
        """`request(method, path, **kwargs)`, spelled as Flask's test client spells it."""
        return self.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """`request("GET", path, **kwargs)`."""
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> TestResponse:
        """`request("HEAD", path, **kwargs)`."""
        return self.request("HEAD", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        """`request("POST", path, **kwargs)`."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        """`request("PUT", path, **kwargs)`."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        """`request("PATCH", path, **kwargs)`."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        """`request("DELETE", path, **kwargs)`."""
        return self.request("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> TestResponse:
        """`request("OPTIONS", path, **kwargs)`."""
        return self.request("OPTIONS", path, **kwargs)

    def trace(self, path: str, **kwargs: Any) -> TestResponse:
        """`request("TRACE", path, **kwargs)`."""
        return self.request("TRACE", path, **kwargs)


def _has(pairs: list[tuple[str, str]], name: str) -> bool:
    return any(n.lower() == name for n, _ in pairs)


def _encode_body(
    body: bytes | str,
    data: bytes | str | Mapping[str, Any] | None,
    json: Any,
    form: Mapping[str, Any] | None,
    files: Mapping[str, Any] | None,
) -> tuple[bytes, str | None]:
    """The request body and its Content-Type from the client's keyword arguments."""
    if json is not None:
        return dump_json(json), "application/json"
    fields: list[tuple[str, str]] = []
    uploads = [_file_part(n, v, True) for n, v in (files or {}).items()]
    for mapping in (form, data if isinstance(data, Mapping) else None):
        for name, value in (mapping or {}).items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, (str, int, float)):
                    fields.append((name, str(item)))
                else:
                    uploads.append(_file_part(name, item, False))
    if uploads:
        return encode_multipart(fields, uploads)
    if form is not None or isinstance(data, Mapping):
        return urlencode(fields).encode("ascii"), "application/x-www-form-urlencoded"
    raw = data if data is not None else body
    return (raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)), None


def frame(answer: Any, message: RequestMessage) -> bytes:
    """The bytes the server sends for `answer` on a keep-alive HTTP/1.1 connection; a file is
    read as sendfile would send it, a stream collected whole (and both closed)."""
    status, lines, body = answer
    date = date_line(time.time())
    conn = connection_line(message.keep_alive, message.version)
    head_only = message.method == "HEAD"
    if type(body) is bytes:
        return render(status, lines, body, conn, date, head_only)
    try:
        if type(body) is FileBody:
            head = render_head(status, lines, body.remaining, conn, date)
            return head if head_only else head + _read_file(body)
        assert type(body) is StreamBody
        data = b"" if head_only else b"".join(body.iterator)
        length = body.length if body.length is not None or head_only else len(data)
        return render_head(status, lines, length, conn, date) + data
    finally:
        body.close()


def _read_file(body: FileBody) -> bytes:
    chunks = []
    offset, remaining = body.offset, body.remaining
    while remaining > 0:
        chunk = os.pread(body.fileno(), min(remaining, 1 << 20), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
