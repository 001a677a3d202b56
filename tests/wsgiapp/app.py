"""A Rush app for the WSGI tests: a streamed answer, a stream upload, a spooled upload, an
echo of what the request looked like, and hooks that note where they ran.

With WSGI_TEST_MARKS set, each hook appends `<event> <pid>` to that file (the gunicorn test
reads it after the server stopped); EVENTS keeps them for in-process tests.
"""

from __future__ import annotations

import hashlib
import os

from rush import Rush

app = Rush(__name__)
EVENTS: list[str] = []


def note(event: str) -> None:
    EVENTS.append(event)
    marks = os.environ.get("WSGI_TEST_MARKS")
    if marks:
        with open(marks, "a") as f:
            f.write(f"{event} {os.getpid()}\n")


@app.on_startup
def started() -> None:
    note("startup")


@app.on_shutdown
def stopped() -> None:
    note("shutdown")


@app.get("/count")
def count(request):
    """A generator: a streamed answer of unknown length."""
    for i in range(int(request.args.get("n", "3"))):
        yield b"%d\n" % i


@app.post("/digest", stream=True)
def digest(request):
    """The body as it is read from wsgi.input; reports the chunks the generator saw."""
    sha, size, chunks, largest = hashlib.sha256(), 0, 0, 0
    while chunk := (yield):
        sha.update(chunk)
        size += len(chunk)
        chunks += 1
        largest = max(largest, len(chunk))
    return {"size": size, "sha256": sha.hexdigest(), "chunks": chunks, "largest": largest}


@app.post("/spooled")
def spooled(request):
    """A plain route reading a large body through `request.stream` (spooled to disk)."""
    sha, size = hashlib.sha256(), 0
    while block := request.stream.read(1 << 16):
        sha.update(block)
        size += len(block)
    store = type(request.body_store).__name__ if request.body_store is not None else None
    return {"size": size, "sha256": sha.hexdigest(), "store": store}


@app.route("/where", methods=["GET", "POST"])
def where(request):
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode("latin-1"),
        "args": dict(request.args.items()),
        "remote": request.remote_addr,
        "scheme": request.scheme,
        "host": request.host,
        "version": request.http_version,
        "agent": request.headers.get("user-agent"),
        "forwarded": request.headers.get("x-forwarded-for"),
        "type": request.content_type,
        "body": request.body.decode("latin-1"),
    }
