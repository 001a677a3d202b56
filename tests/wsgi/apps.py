"""Small WSGI apps the host tests serve: each route shows one part of PEP 3333 from the inside.

`app` dispatches on the first PATH_INFO segment; what a test cannot see over the socket (a
`close()` call, an iterable's end) is written to stderr as `wsgi-test: ...`, which the test
reads from the server's log. `validated` is a route app wrapped in wsgiref's validator, with
its warnings turned into errors: any complaint about the host becomes a logged 500.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

TEXT = [("Content-Type", "text/plain")]


def note(text: str) -> None:
    print(f"wsgi-test: {text}", file=sys.stderr, flush=True)


def query(environ) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}


def environ_view(environ, start_response):
    """The environ as JSON: every str value, and the types of the wsgi.* ones."""
    seen = {k: v for k, v in environ.items() if type(v) is str}
    seen["wsgi.version"] = list(environ["wsgi.version"])
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once", "wsgi.input_terminated"):
        seen[key] = environ[key]
    seen["body"] = environ["wsgi.input"].read().decode("latin-1")
    seen["file_wrapper"] = environ["wsgi.file_wrapper"].__name__
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def checked(environ, start_response):
    """What a careful app does, under the validator: read the body in pieces, answer in
    several ways (list, generator, write())."""
    how = query(environ).get("how", "list")
    stream = environ["wsgi.input"]
    size = 0
    for line in stream:
        size += len(line)
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {size}".encode()
    if how == "write":
        write = start_response("200 OK", TEXT)
        write(body)
        return []
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
    if how == "generator":
        return (part for part in (body[:3], body[3:]))
    return [body]


validated = validator(checked)


def stream(environ, start_response):
    """n chunks of `size` bytes, no Content-Length; `close()` noted with the tag."""
    args = query(environ)
    count, size, tag = int(args.get("n", "3")), int(args.get("size", "5")), args.get("tag", "")
    start_response("200 OK", TEXT)

    def produce():
        try:
            for index in range(count):
                yield str(index % 10).encode() * size
        finally:
            note(f"closed {tag}")

    return produce()


class Closing:
    """An iterable that is not a generator, with its own close()."""

    def __init__(self, tag: str, parts: list[bytes]) -> None:
        self.tag = tag
        self.parts = parts

    def __iter__(self):
        return iter(self.parts)

    def close(self) -> None:
        note(f"closed {self.tag}")


def closing(environ, start_response):
    args = query(environ)
    start_response("200 OK", TEXT)
    return Closing(args.get("tag", ""), [b"one ", b"two"])


def fail_midway(environ, start_response):
    tag = query(environ).get("tag", "")
    start_response("200 OK", TEXT)

    def produce():
        try:
            yield b"first part"
            raise RuntimeError("the stream broke")
        finally:
            note(f"closed {tag}")

    return produce()


def write_callable(environ, start_response):
    write = start_response("200 OK", TEXT)
    write(b"written ")
    write(bytearray(b"then "))
    return [b"returned"]


def exc_info(environ, start_response):
    start_response("200 OK", [*TEXT, ("X-First", "yes")])
    try:
        raise ValueError("caught by the app")
    except ValueError:
        start_response("503 Service Unavailable", TEXT, sys.exc_info())
    return [b"replaced"]


def exc_info_late(environ, start_response):
    start_response("200 OK", TEXT)

    def produce():
        yield b"head is out"
        try:
            raise ValueError("too late to replace")
        except ValueError:
            start_response("500 Internal Server Error", TEXT, sys.exc_info())
        yield b"never"

    return produce()


def exc_info_twice(environ, start_response):
    start_response("200 OK", TEXT)
    start_response("200 OK", TEXT)
    return [b"unreachable"]


def lazy(environ, start_response):
    """start_response called inside the iterable, before its first bytes (allowed)."""

    def produce():
        start_response("201 Created", TEXT)
        yield b""
        yield b"lazy"

    return produce()


def length(environ, start_response):
    args = query(environ)
    body = b"x" * int(args.get("actual", "10"))
    headers = [*TEXT, ("Content-Length", args.get("declared", str(len(body))))]
    start_response("200 OK", headers)
    if args.get("as") == "generator":
        return (part for part in (body[:2], body[2:]))
    if environ["REQUEST_METHOD"] == "HEAD":
        return []  # as werkzeug does: the GET's length, no body
    return [body]


def hop_by_hop(environ, start_response):
    name = query(environ).get("name", "Connection")
    start_response("200 OK", [*TEXT, (name, "close")])
    return [b"must not be sent"]


def bad_status(environ, start_response):
    start_response("2000 OK", TEXT)
    return [b"must not be sent"]


def raises(environ, start_response):
    raise RuntimeError("the app fell over")


def file_wrapper(environ, start_response):
    args = query(environ)
    path = args["path"]
    size = os.path.getsize(path)
    handle = open(path, "rb")  # noqa: SIM115 - the server closes it through the wrapper
    handle.seek(int(args.get("skip", "0")))
    start_response(
        "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
    )
    return environ["wsgi.file_wrapper"](handle, 65536)


def upload(environ, start_response):
    stream_in = environ["wsgi.input"]
    digest = hashlib.sha256()
    size = 0
    while True:
        block = stream_in.read(65536)
        if not block:
            break
        digest.update(block)
        size += len(block)
    body = json.dumps(
        {
            "size": size,
            "sha256": digest.hexdigest(),
            "content_length": environ.get("CONTENT_LENGTH"),
            "input": type(stream_in).__name__,
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def errors(environ, start_response):
    environ["wsgi.errors"].write("a note for the error log\n")
    environ["wsgi.errors"].flush()
    start_response("200 OK", TEXT)
    return [b"noted"]


def slow(environ, start_response):
    time.sleep(float(query(environ).get("t", "1")))
    start_response("200 OK", TEXT)
    return [b"slept"]


def ok(environ, start_response):
    start_response("200 OK", TEXT)
    return [b"ok"]


ROUTES = {
    "environ": environ_view,
    "validated": validated,
    "stream": stream,
    "closing": closing,
    "fail-midway": fail_midway,
    "write": write_callable,
    "exc-info": exc_info,
    "exc-info-late": exc_info_late,
    "exc-info-twice": exc_info_twice,
    "lazy": lazy,
    "length": length,
    "hop": hop_by_hop,
    "bad-status": bad_status,
    "raise": raises,
    "file": file_wrapper,
    "upload": upload,
    "errors": errors,
    "slow": slow,
}


def app(environ, start_response):
    """The route named by the first path segment that names one (else `ok`)."""
    for segment in environ["PATH_INFO"].split("/"):
        if segment in ROUTES:
            return ROUTES[segment](environ, start_response)
    return ok(environ, start_response)


def hardening(environ, start_response):
    """The WSGI twin of tests.hardening.app for the corpus: `ok` for GET /, a body echo's
    length for the rest, every body read to its end."""
    body = environ["wsgi.input"].read()
    text = b"ok" if environ["PATH_INFO"] == "/" else b"len=%d" % len(body)
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(text)))])
    return [text]
