"""Connection.answer with its batch fast path (rush.protocol.answers) sends what its own loop
sends alone, byte for byte: random pipelined batches of every kind of request and answer,
fed in random pieces to three connections (no fast path, the pure-Python twin, the C
accelerator where it is built), and to one whose parser has no plain-head fast path (so no
read is answered at rest, in on_readable), must leave the same bytes on the wire, the same
count of requests served and the same closed state. Also when the fast path is switched off: an
access log, a trusted proxy, a drain.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from rush import Rush
from rush.protocol import Limits
from rush.protocol.answers import AnswerPlain, python_answer_plain
from rush.proxy import ProxyTrust
from rush.server.connection import Connection, ServerContext
from rush.server.loop import EventLoop
from tests.support.fakesocket import FakeSocket
from tests.support.protocol import fast_path as heads_path

try:
    from rush.protocol._answers import answer_plain as C_ANSWER_PLAIN
except ImportError:
    C_ANSWER_PLAIN = None  # type: ignore[assignment]

FAST_PATHS: dict[str, AnswerPlain | None] = {"loop": None, "python": python_answer_plain}
if C_ANSWER_PLAIN is not None:
    FAST_PATHS["C"] = C_ANSWER_PLAIN
DATE = b"Date: Sat, 05 Dec 2026 02:00:00 GMT\r\n"


def make_app(tmp: Path) -> Rush:
    (tmp / "page.html").write_bytes(b"<p>page</p>" * 100)
    app = Rush(__name__, static_folder=None)
    app.redirect("/easter", "/egg")
    app.static_file("/index.html", tmp / "page.html")  # published once cached and watched

    @app.get("/text")
    def text(request):
        return f"hello {request.args.get('name', 'world')}"

    @app.route("/data", methods=["GET", "POST", "PUT", "DELETE"])
    def data(request):
        return {"method": request.method, "size": len(request.body)}

    @app.post("/small", max_body=4)  # a body plan of its own: a 413 only take_bodies gives
    def small(request):
        return request.body

    @app.post("/echo")
    def echo(request):
        return request.body, 201, {"Content-Type": "application/octet-stream"}

    @app.get("/empty")
    def empty(request):
        return "", 204

    @app.get("/file")
    def file(request):
        return app.send_file(tmp / "page.html")

    @app.get("/stream")
    def stream(request):
        return iter([b"a", b"bc"])

    @app.get("/teapot")
    def teapot(request):
        return "short and stout", 418

    @app.get("/boom")
    def boom(request):
        raise RuntimeError("a handler bug")

    return app


REQUESTS = [
    b"GET /easter HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /text?name=bill HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /data HTTP/1.1\r\nHost: a\r\nCookie: x=1\r\n\r\n",
    b"POST /data HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    b"PUT /data HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"DELETE /data HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /file HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: a\r\nrange: bytes=3-9\r\n\r\n",
    b"GET /easter HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n",
    b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /teapot HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /boom HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n",
    b"PATCH /text HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /easter HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /text HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /easter HTTP/1.0\r\n\r\n",
    b"GET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"GET /easter HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /bad path HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nfour",
]


def session(
    app: Rush, fast_path: str, seed: int, heads: str | None = None, **context: object
) -> tuple[ServerContext, Connection, FakeSocket]:
    """`heads`: the request-head fast path of the connection's parser (a key of
    tests.support.protocol's FAST_PATHS; "llhttp": none, so no read is answered at rest)."""
    ctx = ServerContext(EventLoop(), app, Limits(), 10.0, 10.0, 10.0, 4096, **context)  # type: ignore[arg-type]
    ctx.date = DATE
    if ctx.answer_plain is not None or fast_path == "loop":
        ctx.answer_plain = FAST_PATHS[fast_path]
    sock = FakeSocket(random.Random(seed))
    with heads_path(heads) if heads else nullcontext():
        connection = Connection(sock, "127.0.0.1", ctx)  # type: ignore[arg-type]
    return ctx, connection, sock


def pieces(data: bytes, rng: random.Random) -> Iterator[bytes]:
    position = 0
    while position < len(data):
        size = rng.choice((1, 7, 40, 300, 5000, len(data)))
        yield data[position : position + size]
        position += size


def wire(
    app: Rush, fast_path: str, stream: bytes, seed: int, heads: str | None = None, **context: object
) -> tuple:
    """Feed `stream` in random pieces (the same for every fast path); drain the output."""
    ctx, connection, sock = session(app, fast_path, seed, heads, **context)
    for piece in pieces(stream, random.Random(seed)):
        if connection.closed:
            break
        sock.incoming = piece
        if connection.reading:
            connection.on_readable()
        for _ in range(100):
            if connection.closed or not (connection.output.items or connection.pending):
                break
            connection.on_writable()
    return bytes(sock.sent), ctx.requests_served, connection.closed, connection.close_after_write


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rush]:
    tmp = tmp_path_factory.mktemp("answers")
    app = make_app(tmp)
    app.prepare()
    os.utime(tmp / "page.html", (time.time() - 10,) * 2)  # not racy: trusted once watched
    app.preload(tmp / "page.html")
    app.watchers()
    assert app.prerendered().keys() == {b"/easter", b"/index.html"}
    yield app
    app.static_files.stop_watching()


def test_random_batches_leave_the_same_bytes_on_the_wire(
    app: Rush, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL)  # /boom is logged by each connection alike
    rng = random.Random(5122026)
    fast = 0
    for round_ in range(400):
        stream = b"".join(rng.choice(REQUESTS) for _ in range(rng.choice((1, 2, 5, 16, 40))))
        results = {name: wire(app, name, stream, round_) for name in FAST_PATHS}
        # No read answered at rest, no batch fast path: llhttp and the loop alone.
        results["llhttp"] = wire(app, "loop", stream, round_, heads="llhttp")
        assert len(set(results.values())) == 1, (stream, results)
        fast += b"301 Moved" in results["loop"][0]
    assert fast > 100  # the batches did reach the fast path's cases


@pytest.mark.parametrize(
    "context",
    [{"access_log": lambda *args: None}, {"trust": ProxyTrust(["127.0.0.1"])}],
    ids=["access-log", "trusted-proxy"],
)
def test_each_request_passes_the_loop_where_the_fast_path_cannot_serve(
    app: Rush, context: dict[str, object]
) -> None:
    ctx, _, _ = session(app, "C" if "C" in FAST_PATHS else "python", 1, **context)
    assert ctx.answer_plain is None


def test_a_drain_closes_after_the_answer_on_every_path(app: Rush) -> None:
    stream = REQUESTS[0] + REQUESTS[1]
    for name in FAST_PATHS:
        ctx, connection, sock = session(app, name, 1)
        ctx.draining = True
        sock.incoming = stream
        connection.on_readable()
        assert sock.sent.count(b"HTTP/1.1 ") == 1 and b"Connection: close\r\n" in sock.sent


def test_an_app_that_raises_fails_that_request_alone_on_every_path(
    app: Rush, caplog: pytest.LogCaptureFixture
) -> None:
    """The app promises never to raise; a wrapper that does (a bug) costs one 500."""
    stream = REQUESTS[1] + REQUESTS[2] + REQUESTS[0] + REQUESTS[6]
    wires = {}
    for name in FAST_PATHS:
        ctx, connection, sock = session(app, name, 1)
        handle = ctx.handle

        def broken(message, remote, scheme, handle=handle):
            if message.target == b"/data":
                raise RuntimeError("a bug in the app's dispatch")
            return handle(message, remote, scheme)

        ctx.handle = broken
        sock.rng = None  # every send takes everything
        sock.incoming = stream
        with caplog.at_level(logging.ERROR, logger="rush.error"):
            caplog.clear()
            connection.on_readable()
        assert [r.getMessage() for r in caplog.records] == [
            "the app raised for GET b'/data'",
            "the app raised for DELETE b'/data'",
        ]
        wires[name] = bytes(sock.sent)
        assert ctx.requests_served == 4 and not connection.closed
    assert len(set(wires.values())) == 1
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", wires["loop"])
    assert statuses == [b"200", b"500", b"301", b"500"]
