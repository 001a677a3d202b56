"""The body plan's shortcut must plan exactly as routing does: a small body is kept in memory
without routing its request, unless the request may reach a route with a body plan of its
own (stream=True or its own max_body): those are routed, also when the path spells one with
percent-escapes or a trailing slash the route accepts.
"""

from __future__ import annotations

from rush import Rush
from rush.bodies import StreamSink
from rush.protocol import RequestMessage

LIMIT = 1 << 30


def post(target: bytes, body: bytes = b"abc") -> RequestMessage:
    return RequestMessage.built("POST", target, "1.1", [(b"Host", b"a")], body)


def stream_app() -> Rush:
    app = Rush(__name__)

    @app.post("/s", stream=True, strict_slashes=False)
    def stream(request):
        size = 0
        while chunk := (yield):
            size += len(chunk)
        return str(size)

    @app.post("/small", max_body=2)
    def small(request):
        return request.body

    @app.post("/n")
    def plain(request):
        return request.body

    app.prepare()
    return app


def test_a_small_body_for_a_plain_route_stays_in_memory_unrouted() -> None:
    app = stream_app()
    assert app.body_plan(post(b"/n"), LIMIT) == (LIMIT, None, True)
    assert app.body_plan(post(b"/missing?s"), LIMIT) == (LIMIT, None, True)


def test_a_stream_route_gets_its_sink_however_its_path_is_spelled() -> None:
    app = stream_app()
    for target in (b"/s", b"/s?x=1", b"/%73", b"/s/"):
        limit, sink, wanted = app.body_plan(post(target), LIMIT)
        assert type(sink) is StreamSink and wanted, target
        sink.close()


def test_a_route_limit_applies_to_a_small_body_however_its_path_is_spelled() -> None:
    app = stream_app()
    for target in (b"/small", b"/%73mall"):
        assert app.body_plan(post(target), LIMIT)[0] == 2


def test_with_a_dynamic_stream_route_every_body_is_routed() -> None:
    app = Rush(__name__)

    @app.post("/up/<name>", stream=True)
    def upload(request, name):
        while (yield):
            pass
        return name

    @app.post("/n")
    def plain(request):
        return request.body

    app.prepare()
    limit, sink, wanted = app.body_plan(post(b"/up/x"), LIMIT)
    assert type(sink) is StreamSink
    sink.close()
    assert app.body_plan(post(b"/n"), LIMIT) == (LIMIT, None, True)
    assert app.body_plan(post(b"/nowhere"), LIMIT) == (LIMIT, None, False)
    with app.test_client() as client:
        assert client.post("/up/x", body=b"data").text == "x"
