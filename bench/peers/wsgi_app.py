"""The benchmark routes as one plain WSGI callable, with no framework.

Used under granian (`--interface wsgi`) and bjoern. It still does the work a
framework handler would: real query-string parsing, int conversion of the
path parameter, JSON serialisation per request, reading the request body.
"""

import re
from urllib.parse import parse_qs

from common import load_index, user_record

try:
    import orjson

    def dumps(obj) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - orjson is in bench/requirements.txt
    import json

    def dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


INDEX = load_index()
USER_PATH = re.compile(r"/users/(\d+)\Z")

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"


def respond(start_response, status: str, body: bytes, content_type: str, extra=()):
    """Start the response with an explicit Content-Length (keeps keep-alive cheap)."""
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
    start_response(status, headers)
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    method = environ["REQUEST_METHOD"]
    if method == "GET":
        if path == "/":
            return respond(start_response, "200 OK", INDEX, HTML)
        if path == "/easter":
            return respond(
                start_response, "301 Moved Permanently", b"", TEXT, [("Location", "/egg")]
            )
        if path == "/hello":
            name = parse_qs(environ.get("QUERY_STRING", "")).get("name", ["world"])[0]
            return respond(start_response, "200 OK", f"hello, {name}!".encode(), TEXT)
        match = USER_PATH.match(path)
        if match:
            body = dumps(user_record(int(match.group(1))))
            return respond(start_response, "200 OK", body, "application/json")
    elif method == "POST" and path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        return respond(start_response, "200 OK", body, "application/octet-stream")
    return respond(start_response, "404 Not Found", b"Not Found", TEXT)
