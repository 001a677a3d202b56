"""The app of tests/server/test_seam.py: the answer seam between app and server.

Routes for `Expect: 100-continue`, ignored `Upgrade`, streamed (generator) bodies, a file
that cannot be opened for lack of descriptors, and the access log's `{remote}`. Generators
print marker lines to stderr, which the tests wait for in the server's log.
"""

from __future__ import annotations

import os
import resource
import sys

from rush import Response, Rush

app = Rush()

#: One 64 KiB piece of the export, yielded again and again (the app allocates nothing).
PIECE = b"e" * (64 * 1024)
EXPORT_PIECES = 1024  # 64 MiB in all

#: Pieces produced so far by the export in progress (read by /export/progress).
produced = [0]

#: What /file sends; /file/starved tries another file, so that it is never in the cache.
FILE = os.path.abspath(__file__)
STARVED_FILE = os.path.join(os.path.dirname(FILE), "__init__.py")


def mark(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@app.post("/echo")
def echo(request):
    return Response(request.body, content_type="application/octet-stream")


@app.post("/small", max_body=16)
def small(request):
    return Response(request.body, content_type="application/octet-stream")


@app.get("/only-get")
def only_get(request):
    return "got"


@app.get("/")
def index(request):
    return "hello"


@app.get("/mark")
def mark_route(request):
    """A line in the log after everything this worker did before: a point to count up to."""
    mark(f"mark {request.args.get('text', '-')}")
    return "marked"


def numbered(count: int):
    for i in range(count):
        yield b"part-%d;" % i


@app.get("/gen")
def gen(request):
    return numbered(int(request.args.get("n", "5")))


@app.get("/gen/text")
def gen_text(request):
    # str items are sent as UTF-8; an empty item sends nothing (never a last chunk).
    return (item for item in ("é", "", "ok"))


@app.get("/gen/length")
def gen_length(request):
    size = sum(len(b"part-%d;" % i) for i in range(5))
    return Response(numbered(5), headers={"Content-Length": str(size)})


@app.get("/gen/short")
def gen_short(request):
    # Announces more than it yields: the client must see the body cut short.
    return Response(numbered(5), headers={"Content-Length": "100"})


@app.get("/gen/long")
def gen_long(request):
    # Yields more than it announces: never more than the announced length goes out.
    return Response(numbered(5), headers={"Content-Length": "10"})


@app.get("/gen/fail")
def gen_fail(request):
    def produce():
        yield b"before;"
        yield b"failure;"
        raise RuntimeError("stream broken on purpose by a test")

    return produce()


@app.get("/gen/endless")
def gen_endless(request):
    tag = request.args.get("tag", "-")

    def produce():
        try:
            while True:
                yield PIECE
        finally:
            mark(f"stream finally {tag}")

    return produce()


@app.get("/export")
def export(request):
    produced[0] = 0

    def produce():
        try:
            for _ in range(EXPORT_PIECES):
                produced[0] += 1
                yield PIECE
        finally:
            mark("export finally")

    return Response(
        produce(),
        headers={"Content-Length": str(EXPORT_PIECES * len(PIECE))},
        content_type="application/octet-stream",
    )


@app.get("/export/progress")
def export_progress(request):
    return str(produced[0] * len(PIECE))


@app.get("/whoami")
def whoami(request):
    return Response(str(request.remote_addr), content_type="text/plain")


app.redirect("/old", "/new")


@app.get("/file")
def file(request):
    return app.send_file(FILE)


@app.get("/file/starved")
def file_starved(request):
    """send_file while this worker has no descriptor left (EMFILE), restored before returning."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    filler: list[int] = []
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, max(fds) + 1), hard))
        while True:
            try:
                filler.append(os.dup(0))
            except OSError:
                break
        return app.send_file(STARVED_FILE)
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
