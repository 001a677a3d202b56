"""The WSGI adapter in process: environ to request, bodies, answers, files, and startup."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from rush import Response, Rush
from rush.wsgiapp import BLOCK
from tests.wsgiapp import app as appmodule
from tests.wsgiapp.harness import Source, Wrapped, call, environ_for, request

app = appmodule.app
FIVE_MIB = 5 * 1024 * 1024


def sha256_of(source: Source) -> str:
    digest = hashlib.sha256()
    for block in source.content():
        digest.update(block)
    return digest.hexdigest()


# -- environ -> request ------------------------------------------------------------------


def test_the_request_is_built_from_the_environ() -> None:
    environ = environ_for(
        "POST",
        "/where",
        query="name=bill&x=%41",
        body=b"a=1",
        headers=[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("User-Agent", "probe/1"),
            ("X-Forwarded-For", "10.0.0.1"),
        ],
        REMOTE_ADDR="192.0.2.7",
        SERVER_PROTOCOL="HTTP/1.0",
    )
    environ["wsgi.url_scheme"] = "https"
    seen = json.loads(call(app, environ).body)
    assert seen == {
        "method": "POST",
        "path": "/where",
        "query": "name=bill&x=%41",
        "args": {"name": "bill", "x": "A"},
        "remote": "192.0.2.7",
        "scheme": "https",
        "host": "127.0.0.1",
        "version": "1.0",
        "agent": "probe/1",
        "forwarded": "10.0.0.1",
        "type": "application/x-www-form-urlencoded",
        "body": "a=1",
    }


@pytest.mark.parametrize(
    ("port", "scheme", "host"),
    [
        ("8080", "http", "example.org:8080"),
        ("80", "http", "example.org"),
        ("443", "https", "example.org"),
    ],
)
def test_host_comes_from_server_name_when_the_client_sent_none(
    port: str, scheme: str, host: str
) -> None:
    environ = environ_for("GET", "/where", SERVER_NAME="example.org", SERVER_PORT=port)
    environ["wsgi.url_scheme"] = scheme
    del environ["HTTP_HOST"]
    assert json.loads(call(app, environ).body)["host"] == host


@pytest.mark.parametrize(
    "name", ["café", "a%b", "a?b", "a b", "a%2Fb", "semi;colon", "plus+sign", "~tilde"]
)
def test_path_info_reaches_the_router_as_the_client_sent_it(name: str) -> None:
    paths = Rush()

    @paths.get("/p/<name>")
    def echo(request, name):
        return {"name": request.args.get("q"), "path": name}

    # PATH_INFO is percent-decoded and carries bytes as latin-1 characters (PEP 3333).
    path_info = ("/p/" + name).encode("utf-8").decode("latin-1")
    answer = json.loads(request(paths, "GET", path_info, query="q=%C3%A9").body)
    assert answer == {"name": "é", "path": name}


def test_routes_on_path_info_below_script_name() -> None:
    response = request(app, "GET", "/where", SCRIPT_NAME="/mounted")
    assert json.loads(response.body)["path"] == "/where"


# -- bodies --------------------------------------------------------------------------------


def test_stream_route_gets_the_body_in_chunks_from_wsgi_input() -> None:
    source = Source(FIVE_MIB)
    tracemalloc.start()
    try:
        response = request(app, "POST", "/digest", body=source, CONTENT_LENGTH=str(FIVE_MIB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    answer = json.loads(response.body)
    assert answer["size"] == FIVE_MIB and answer["sha256"] == sha256_of(source)
    assert answer["chunks"] >= FIVE_MIB // BLOCK and answer["largest"] <= BLOCK
    assert peak < 1024 * 1024, f"{peak} bytes traced for a 5 MiB body"


def test_large_body_is_spooled_not_held_in_memory() -> None:
    source = Source(FIVE_MIB)
    tracemalloc.start()
    try:
        response = request(app, "POST", "/spooled", body=source, CONTENT_LENGTH=str(FIVE_MIB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    answer = json.loads(response.body)
    assert answer == {"size": FIVE_MIB, "sha256": sha256_of(source), "store": "SpoolSink"}
    assert peak < 1024 * 1024, f"{peak} bytes traced for a 5 MiB body"


def test_small_body_stays_in_memory() -> None:
    response = request(app, "POST", "/spooled", body=b"tiny")
    assert json.loads(response.body)["store"] is None


def chunked_environ(path: str, source: io.IOBase, terminated: bool) -> dict:
    environ = environ_for("POST", path, body=source, headers=[("Transfer-Encoding", "chunked")])
    environ["wsgi.input_terminated"] = terminated
    return environ


def test_body_without_length_is_read_to_its_end_when_input_is_terminated() -> None:
    source = Source(300_000)
    answer = json.loads(call(app, chunked_environ("/digest", source, True)).body)
    assert (answer["size"], answer["sha256"]) == (300_000, sha256_of(source))
    small = io.BytesIO(b"hello")
    assert json.loads(call(app, chunked_environ("/where", small, True)).body)["body"] == "hello"


def test_body_without_length_is_411_when_input_is_not_terminated() -> None:
    source = Source(10)
    response = call(app, chunked_environ("/digest", source, False))
    assert response.code == 411
    assert source.reads == []


def test_body_over_the_limit_is_413_and_not_read() -> None:
    limited = Rush(max_body=1000)

    @limited.post("/")
    def take(request):
        return request.body

    source = Source(5000)
    response = request(limited, "POST", "/", body=source, CONTENT_LENGTH="5000")
    assert (response.code, response.body) == (413, b"request body too large\n")
    assert source.reads == []
    source = Source(5000)
    response = call(limited, chunked_environ("/", source, True))
    assert response.code == 413
    assert source.position <= 1000 + BLOCK


def test_body_shorter_than_content_length_is_400() -> None:
    response = request(app, "POST", "/where", body=Source(10), CONTENT_LENGTH="100")
    assert response.code == 400
    assert response.body == b"the request body ended before its Content-Length\n"


def test_invalid_content_length_is_400() -> None:
    # Not validated: the validator itself chokes on the bad value.
    response = request(app, "POST", "/where", validate=False, body=b"", CONTENT_LENGTH="12x")
    assert response.code == 400


def test_multipart_upload_is_parsed_while_read() -> None:
    forms = Rush(spool_threshold=1024)

    @forms.post("/")
    def upload(request):
        f = request.files["photo"]
        return {"title": request.form.get("title"), "size": f.size, "head": f.read(4).decode()}

    photo = b"JPEG" + b"x" * 100_000
    body = (
        b"--B\r\nContent-Disposition: form-data; name=title\r\n\r\nHoliday\r\n"
        b'--B\r\nContent-Disposition: form-data; name=photo; filename="b.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + photo + b"\r\n--B--\r\n"
    )
    response = request(
        forms, "POST", "/", body=body, headers=[("Content-Type", "multipart/form-data; boundary=B")]
    )
    assert json.loads(response.body) == {"title": "Holiday", "size": len(photo), "head": "JPEG"}


# -- answers -------------------------------------------------------------------------------


def test_generator_answer_streams_without_a_length() -> None:
    response = request(app, "GET", "/count", query="n=4")
    assert response.body == b"0\n1\n2\n3\n"
    assert response.header("content-length") is None
    assert response.closed


def test_closing_a_stream_early_runs_the_generators_finally() -> None:
    ends: list[str] = []
    streams = Rush()

    @streams.get("/")
    def forever(request):
        try:
            while True:
                yield b"tick\n"
        finally:
            ends.append("closed")

    result = streams(environ_for("GET", "/"), lambda status, headers, exc_info=None: None)
    assert next(iter(result)) == b"tick\n"
    result.close()
    assert ends == ["closed"]


def test_a_failing_stream_is_logged_and_raised_to_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    streams = Rush()

    @streams.get("/")
    def broken(request):
        yield b"first\n"
        raise RuntimeError("boom")

    result = streams(environ_for("GET", "/"), lambda status, headers, exc_info=None: None)
    chunks = iter(result)
    assert next(chunks) == b"first\n"
    with caplog.at_level(logging.ERROR, logger="rush.error"), pytest.raises(RuntimeError):
        next(chunks)
    result.close()
    assert "a streamed response body failed" in caplog.text


def test_hop_by_hop_fields_are_left_to_the_server() -> None:
    fields = Rush()

    @fields.get("/")
    def index(request):
        return Response("x", 200, {"Connection": "close", "Keep-Alive": "5", "X-Kept": "1"})

    response = request(fields, "GET", "/")
    names = {name.lower() for name, _ in response.headers}
    assert "x-kept" in names and not names & {"connection", "keep-alive"}


# -- files ---------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> tuple[Rush, bytes]:
    """An app whose static files are never cached: every one is a FileBody."""
    data = bytes(range(256)) * 1200  # 300 KiB
    (tmp_path / "big.bin").write_bytes(data)
    return Rush(static_folder=tmp_path, file_cache_threshold=0), data


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_file_goes_through_wsgi_file_wrapper(files: tuple[Rush, bytes]) -> None:
    served, data = files
    wrapper = Wrapped()
    before = open_fd_count()
    response = request(served, "GET", "/static/big.bin", **{"wsgi.file_wrapper": wrapper})
    assert (response.code, response.body) == (200, data)
    assert response.header("content-length") == str(len(data))
    assert [position for _, position in wrapper.calls] == [0]
    assert open_fd_count() == before


def test_file_is_read_in_blocks_without_a_wrapper(files: tuple[Rush, bytes]) -> None:
    served, data = files
    before = open_fd_count()
    response = request(served, "GET", "/static/big.bin")
    assert (response.code, response.body) == (200, data)
    assert open_fd_count() == before


def test_file_range_to_the_end_uses_the_wrapper_from_its_offset(
    files: tuple[Rush, bytes],
) -> None:
    served, data = files
    wrapper = Wrapped()
    environ = environ_for("GET", "/static/big.bin", headers=[("Range", "bytes=1000-")])
    environ["wsgi.file_wrapper"] = wrapper
    response = call(served, environ)
    assert (response.code, response.body) == (206, data[1000:])
    assert [position for _, position in wrapper.calls] == [1000]  # sendfile starts there


def test_file_range_short_of_the_end_is_read_not_wrapped(files: tuple[Rush, bytes]) -> None:
    served, data = files
    wrapper = Wrapped()
    environ = environ_for("GET", "/static/big.bin", headers=[("Range", "bytes=10-19")])
    environ["wsgi.file_wrapper"] = wrapper
    response = call(served, environ)
    assert (response.code, response.body) == (206, data[10:20])
    assert response.header("content-length") == "10"
    assert wrapper.calls == []


def test_head_of_a_file_sends_its_length_and_closes_it(files: tuple[Rush, bytes]) -> None:
    served, data = files
    wrapper = Wrapped()
    before = open_fd_count()
    response = request(served, "HEAD", "/static/big.bin", **{"wsgi.file_wrapper": wrapper})
    assert (response.code, response.body) == (200, b"")
    assert response.header("content-length") == str(len(data))
    assert wrapper.calls == []
    assert open_fd_count() == before


def test_not_modified_has_no_body_and_no_length(files: tuple[Rush, bytes]) -> None:
    served, _ = files
    etag = request(served, "GET", "/static/big.bin").header("etag")
    assert etag
    response = request(served, "GET", "/static/big.bin", headers=[("If-None-Match", etag)])
    assert (response.code, response.body, response.header("content-length")) == (304, b"", None)


# -- startup and shutdown ------------------------------------------------------------------


def hooked() -> tuple[Rush, list[str]]:
    events: list[str] = []
    hooked_app = Rush()
    hooked_app.on_startup(lambda: events.append("startup"))
    hooked_app.on_shutdown(lambda: events.append("shutdown"))

    @hooked_app.get("/")
    def index(request):
        return "ok"

    return hooked_app, events


def test_startup_runs_once_at_the_first_request() -> None:
    served, events = hooked()
    assert events == []
    for _ in range(3):
        assert request(served, "GET", "/").body == b"ok"
    assert events == ["startup"]


def test_startup_runs_once_when_first_requests_race() -> None:
    served, events = hooked()
    barrier = threading.Barrier(8)
    bodies: list[bytes] = []

    def first_request() -> None:
        barrier.wait()
        bodies.append(request(served, "GET", "/").body)

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert bodies == [b"ok"] * 8
    assert events == ["startup"]


def test_failed_startup_is_500_then_retried(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Rush()
    attempts: list[int] = []

    @flaky.on_startup
    def connect() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("database not up yet")

    @flaky.get("/")
    def index(request):
        return "ok"

    with caplog.at_level(logging.ERROR, logger="rush.error"):
        first = request(flaky, "GET", "/")
    assert first.code == 500
    assert "failed to start" in caplog.text and "database not up yet" in caplog.text
    assert request(flaky, "GET", "/").body == b"ok"
    assert request(flaky, "GET", "/").body == b"ok"
    assert len(attempts) == 2


def test_a_forked_child_starts_the_app_again() -> None:
    served, events = hooked()
    request(served, "GET", "/")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one request, then report what its hooks did
        try:
            os.close(read_end)
            body = request(served, "GET", "/").body
            os.write(write_end, json.dumps([body.decode(), events]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert report == ["ok", ["startup", "startup"]]
    assert events == ["startup"]


def test_shutdown_hooks_run_at_exit(tmp_path: Path) -> None:
    """A process that served a request runs on_shutdown when it exits (atexit)."""
    import subprocess
    import sys

    marks = tmp_path / "marks"
    script = (
        "from tests.wsgiapp.app import app\n"
        "from tests.wsgiapp.harness import request\n"
        "assert request(app, 'GET', '/count').code == 200\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "WSGI_TEST_MARKS": str(marks), "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", script], cwd=root, env=env, check=True, timeout=30)
    events = [line.split()[0] for line in marks.read_text().splitlines()]
    assert events == ["startup", "shutdown"]
