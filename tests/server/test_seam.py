"""The answer seam on a real server: the app answers (status, lines, body), the server frames it.

`Expect: 100-continue` decided by the route, `Upgrade` ignored, streamed (generator) bodies
framed chunked / by length / by the close, a file that cannot be opened for lack of
descriptors, and the access log's `{remote}`, `{status}` and `{size}` (tests/apps/seam.py).
"""

from __future__ import annotations

import os
import re
import resource
import select
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from rush import Rush
from tests.apps import seam
from tests.support.client import HOST, Reader, Response, connect, exchange, get, request, reset
from tests.support.polling import wait_until
from tests.support.process import start_server
from tests.support.procfs import rss_kb

SEAM = "tests.apps.seam:app"
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def server():
    """One in-process worker (its pid is the server's) serving the seam app."""
    shared = start_server(app=SEAM)
    yield shared
    shared.stop()


# -- reading what the strict client of tests/server/client.py refuses ----------------------


def read_head(reader: Reader, timeout: float = TIMEOUT) -> Response:
    """Only the head of a response (its body may be chunked or end with the connection)."""
    head = reader.read_until(b"\r\n\r\n", time.monotonic() + timeout)
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
    response = Response(version, int(status), reason, raw=head)
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        assert sep and name == name.strip(), f"bad header line {line!r} in {head!r}"
        response.headers.append((name, value.strip()))
    return response


def read_chunked(reader: Reader, timeout: float = TIMEOUT) -> bytes:
    """A chunked body up to and including its last chunk (RFC 9112 §7.1), strictly."""
    deadline = time.monotonic() + timeout
    body = bytearray()
    while True:
        size_line = reader.read_until(b"\r\n", deadline)
        assert re.fullmatch(rb"[0-9a-f]+\r\n", size_line), size_line
        size = int(size_line, 16)
        if size == 0:
            assert reader.read_until(b"\r\n", deadline) == b"\r\n"  # no trailers
            return bytes(body)
        body += reader.read_exact(size, deadline)
        assert reader.read_exact(2, deadline) == b"\r\n"


def read_to_close(reader: Reader, timeout: float = TIMEOUT) -> bytes:
    """Everything until the server closes the connection."""
    deadline = time.monotonic() + timeout
    data = bytearray(reader.buffer)
    reader.buffer.clear()
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        assert select.select([reader.sock], [], [], remaining)[0], "the server did not close"
        try:
            piece = reader.sock.recv(256 * 1024)
        except ConnectionResetError:
            piece = b""
        if not piece:
            return bytes(data)
        data += piece


def sync(server, text: str) -> None:
    """Wait until the worker has logged everything it did before this request."""
    start = server.mark()
    assert get(server.port, f"/mark?text={text}").status == 200
    server.wait_for(f"mark {text}", TIMEOUT, start)


NUMBERED = b"".join(b"part-%d;" % i for i in range(5))


# -- Expect: 100-continue -----------------------------------------------------------------


def expect_head(target: str, length: int) -> bytes:
    return request("POST", target, [("Expect", "100-continue"), ("Content-Length", str(length))])


@pytest.mark.parametrize(
    ("target", "status"), [("/missing", 404), ("/only-get", 405), ("/gen/missing", 404)]
)
def test_expect_continue_where_no_route_takes_the_body_gets_the_final_answer(
    server, target, status
):
    with connect(server.port) as sock:
        sock.sendall(expect_head(target, 5))
        reader = Reader(sock)
        response = reader.read_response()
        assert response.status == status, response.raw  # a 100 first would be read here
        assert response.closes, response.raw  # the body was never asked for: no keep-alive
        if status == 405:
            assert response.header("allow") == "GET, HEAD, OPTIONS"
        reader.expect_closed()


def test_expect_continue_to_a_route_gets_100_then_the_answer(server):
    with connect(server.port) as sock:
        sock.sendall(expect_head("/echo", 5))
        reader = Reader(sock)
        interim = reader.read_until(b"\r\n\r\n", time.monotonic() + TIMEOUT)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        reader.expect_open(0.2)  # nothing more until the body comes
        sock.sendall(b"hello")
        response = reader.read_response()
        assert (response.status, response.body) == (200, b"hello")
        assert not response.closes
        sock.sendall(request("GET", "/"))
        assert reader.read_response().body == b"hello"


def test_expect_continue_with_the_body_already_sent_gets_no_100(server):
    # RFC 9110 §10.1.1: a server that already has the body need not send the 100.
    with connect(server.port) as sock:
        sock.sendall(expect_head("/echo", 5) + b"hello")
        response = Reader(sock).read_response()
        assert (response.status, response.body) == (200, b"hello")
        assert b"100 Continue" not in response.raw


def test_expect_continue_over_the_route_limit_gets_413_without_100(server):
    with connect(server.port) as sock:
        sock.sendall(expect_head("/small", 17))
        reader = Reader(sock)
        response = reader.read_response()
        assert response.status == 413, response.raw
        assert response.closes
        reader.expect_closed()


def test_expect_continue_within_the_route_limit_gets_100(server):
    with connect(server.port) as sock:
        sock.sendall(expect_head("/small", 16))
        reader = Reader(sock)
        interim = reader.read_until(b"\r\n\r\n", time.monotonic() + TIMEOUT)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"x" * 16)
        assert reader.read_response().body == b"x" * 16


# -- Upgrade is ignored (RFC 9110 §7.8) ---------------------------------------------------

CURL_H2C = (
    b"POST /echo HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"User-Agent: curl/7.88.1\r\n"
    b"Accept: */*\r\n"
    b"Connection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
    b"Content-Length: 5\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
    b"\r\n"
    b"hello"
)


def test_h2c_upgrade_is_answered_as_http11_and_a_pipelined_request_follows(server):
    with connect(server.port) as sock:
        sock.sendall(CURL_H2C + request("GET", "/"))
        reader = Reader(sock)
        response = reader.read_response()
        assert response.status == 200, response.raw
        assert response.body == b"hello"
        assert response.header("upgrade") is None and not response.closes
        assert reader.read_response().body == b"hello"  # the pipelined GET /
        reader.expect_open(0.2)  # kept alive
        sock.sendall(CURL_H2C)
        assert reader.read_response().body == b"hello"


def test_websocket_upgrade_is_an_ordinary_get(server):
    raw = request(
        "GET",
        "/",
        [
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    with connect(server.port) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        response = reader.read_response()
        assert (response.status, response.body) == (200, b"hello")
        assert response.header("upgrade") is None and not response.closes
        sock.sendall(request("GET", "/"))  # the connection is still HTTP/1.1
        assert reader.read_response().status == 200


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_real_curl_http2_upgrade_gets_the_echo(server):
    url = f"http://{HOST}:{server.port}/echo"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(
        ["curl", "-sS", "-i", "--max-time", "10", "--http2", "-d", "hello", url],
        capture_output=True,
        timeout=20,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), done.stdout
    assert b"101" not in done.stdout.split(b"\r\n", 1)[0]
    assert done.stdout.endswith(b"\r\n\r\nhello")


# -- streamed bodies ----------------------------------------------------------------------


def test_a_generator_is_sent_chunked_and_the_connection_kept(server):
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/gen") + request("GET", "/gen?n=3000"))
        reader = Reader(sock)
        head = read_head(reader)
        assert head.status == 200
        assert head.raw.startswith(b"HTTP/1.1 200 OK\r\nServer: rush\r\nDate: ")
        assert head.header("transfer-encoding") == "chunked"
        assert head.header("content-length") is None and not head.closes
        assert head.header("content-type") == "text/html; charset=utf-8"
        assert read_chunked(reader) == NUMBERED
        # The pipelined request's answer follows the last chunk.
        assert read_head(reader).header("transfer-encoding") == "chunked"
        assert read_chunked(reader) == b"".join(b"part-%d;" % i for i in range(3000))
        sock.sendall(request("GET", "/"))
        assert reader.read_response().body == b"hello"


def test_empty_and_str_items_of_a_stream(server):
    # An empty item must not become a chunk (`0\r\n\r\n` would end the body early).
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/gen/text") + request("GET", "/"))
        reader = Reader(sock)
        assert read_head(reader).status == 200
        assert read_chunked(reader) == "éok".encode()
        assert reader.read_response().body == b"hello"


def test_a_stream_with_content_length_is_framed_by_length(server):
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/gen/length") * 2)
        reader = Reader(sock)
        for _ in range(2):
            response = reader.read_response()  # strict: Content-Length, no chunks
            assert response.status == 200
            assert response.header("content-length") == str(len(NUMBERED))
            assert response.body == NUMBERED and not response.closes
        reader.expect_open(0.2)


def test_a_stream_shorter_than_its_length_ends_the_connection(server):
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/gen/short") + request("GET", "/"))
        reader = Reader(sock)
        head = read_head(reader)
        assert head.header("content-length") == "100"
        assert read_to_close(reader) == NUMBERED  # what came, then the close: no next answer


def test_a_stream_longer_than_its_length_is_cut_at_it(server):
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/gen/long") + request("GET", "/"))
        reader = Reader(sock)
        head = read_head(reader)
        assert head.header("content-length") == "10"
        assert read_to_close(reader) == NUMBERED[:10]


@pytest.mark.parametrize("connection", [[], [("Connection", "keep-alive")]])
def test_http10_gets_a_stream_delimited_by_the_close(server, connection):
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/gen", connection, version="1.0"))
        reader = Reader(sock)
        head = read_head(reader)
        body = read_to_close(reader)
    assert head.status == 200
    assert head.closes
    assert head.header("content-length") is None
    assert body == NUMBERED  # not chunked: the close ends it
    # RFC 9112 §6.1: never Transfer-Encoding in an answer to HTTP/1.0.
    assert head.header("transfer-encoding") is None, head.raw


def test_http10_head_to_a_stream_has_no_transfer_encoding(server):
    with connect(server.port) as sock:
        keep = [("Connection", "keep-alive")]
        sock.sendall(request("HEAD", "/gen", keep, version="1.0"))
        reader = Reader(sock)
        head = read_head(reader)
        assert head.status == 200 and head.header("connection") == "keep-alive"
        sock.sendall(request("GET", "/", keep, version="1.0"))
        assert reader.read_response().body == b"hello"
    assert head.header("transfer-encoding") is None, head.raw


def test_http10_keep_alive_with_a_known_length_stays_open(server):
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/gen/length", [("Connection", "keep-alive")], version="1.0"))
        reader = Reader(sock)
        response = reader.read_response()
        assert response.body == NUMBERED
        assert response.header("connection") == "keep-alive"
        sock.sendall(request("GET", "/", [("Connection", "keep-alive")], version="1.0"))
        assert reader.read_response().body == b"hello"


@pytest.mark.parametrize("target", ["/gen", "/gen/length", "/gen/endless"])
def test_head_to_a_stream_sends_no_body(server, target):
    with connect(server.port) as sock:
        sock.sendall(request("HEAD", target) + request("GET", "/"))
        reader = Reader(sock)
        head = read_head(reader)
        assert head.status == 200 and not head.closes
        if target == "/gen/length":
            assert head.header("content-length") == str(len(NUMBERED))
        else:
            assert head.header("transfer-encoding") == "chunked"
        # What follows the head is the next answer, not a body.
        assert reader.read_response().body == b"hello"


def test_a_stream_that_fails_ends_the_connection_without_the_last_chunk(server):
    start = server.mark()
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/gen/fail"))
        reader = Reader(sock)
        head = read_head(reader)
        assert head.status == 200 and head.header("transfer-encoding") == "chunked"
        assert read_to_close(reader) == b"7\r\nbefore;\r\n8\r\nfailure;\r\n"
    server.wait_for("a streamed response body failed after 15 bytes", TIMEOUT, start)
    sync(server, "after-fail")
    assert server.output.count("Traceback", start) == 1, server.log
    assert server.output.count("RuntimeError: stream broken on purpose", start) == 1
    assert get(server.port, "/").status == 200  # the worker lives on


@pytest.mark.parametrize("leave", [reset, socket.socket.close], ids=["reset", "close"])
def test_a_client_that_leaves_mid_stream_closes_the_generator(server, leave):
    tag = uuid.uuid4().hex
    start = server.mark()
    sock = connect(server.port)
    try:
        sock.sendall(request("GET", f"/gen/endless?tag={tag}"))
        reader = Reader(sock)
        assert read_head(reader).status == 200
        reader.read_exact(256 * 1024, time.monotonic() + TIMEOUT)  # mid-stream
    finally:
        leave(sock)
    server.wait_for(f"stream finally {tag}", TIMEOUT, start)
    sync(server, f"left-{tag}")
    assert server.output.count("Traceback", start) == 0, server.log  # a quiet close


def test_a_large_export_runs_at_the_pace_of_its_client(server):
    total = seam.EXPORT_PIECES * len(seam.PIECE)
    other = connect(server.port)
    exporter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        other_reader = Reader(other)
        for _ in range(3):  # warm up: imports, buffers
            other.sendall(request("GET", "/"))
            assert other_reader.read_response().body == b"hello"
        baseline = rss_kb(server.pid)
        # A small receive buffer: the stream must wait for this client, not fill our kernel.
        exporter.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        exporter.settimeout(TIMEOUT)
        exporter.connect((HOST, server.port))
        exporter.sendall(request("GET", "/export"))
        reader = Reader(exporter)
        head = read_head(reader)
        assert head.header("content-length") == str(total)
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            in_flight = int(f.read().split()[2]) + 4 * 1024 * 1024  # the kernel's buffers
        received = 0
        peak = 0
        slowest = 0.0
        step = 1024 * 1024
        while received < total:
            data = reader.read_exact(min(step, total - received), time.monotonic() + TIMEOUT)
            assert data.count(b"e") == len(data)
            received += len(data)
            # Meanwhile another client is served promptly by the same worker.
            began = time.monotonic()
            other.sendall(request("GET", "/export/progress"))
            produced = int(other_reader.read_response().body)
            slowest = max(slowest, time.monotonic() - began)
            assert produced - received <= in_flight, (produced, received)
            if received % (8 * step) == 0:
                peak = max(peak, rss_kb(server.pid) - baseline)
        assert slowest < 0.5, f"a small request took {slowest:.3f}s beside the export"
        assert peak < 20 * 1024, f"worker RSS grew by {peak} KiB during the export"
        reader.expect_open(0.1)  # the whole length, nothing more, still kept alive
    finally:
        exporter.close()
        other.close()
    server.wait_for("export finally", TIMEOUT)


# -- a file that cannot be opened for lack of descriptors --------------------------------


def test_a_file_not_opened_for_lack_of_descriptors_is_503_not_404(server):
    start = server.mark()
    response = get(server.port, "/file/starved")
    assert response.status == 503, response.raw
    assert response.header("retry-after") == "1"
    server.wait_for(r"cannot open .*__init__\.py", TIMEOUT, start)
    # The worker has its descriptors back: the same handler's file is found now.
    response = get(server.port, "/file")
    assert response.status == 200
    assert response.body == Path(seam.FILE).read_bytes()


def test_in_process_static_and_send_file_under_emfile(tmp_path):
    (tmp_path / "warm.txt").write_bytes(b"warm")
    (tmp_path / "a.txt").write_bytes(b"aaa")
    app = Rush(static_folder=tmp_path)

    @app.get("/send")
    def send(request):
        return app.send_file(tmp_path / "a.txt")

    client = app.test_client()
    assert client.get("/static/warm.txt").body == b"warm"  # imports done, before starving
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    filler: list[int] = []
    try:
        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, highest + 1), hard))
        while len(filler) < highest + 1:  # fill every hole below the limit
            try:
                filler.append(os.dup(0))
            except OSError:
                break
        starved = [client.get("/static/a.txt"), client.get("/send")]
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    for response in starved:
        assert response.status == 503, response.raw
        assert response.headers["Retry-After"] == "1"
    assert client.get("/static/a.txt").body == b"aaa"
    assert client.get("/send").body == b"aaa"


# -- the access log ----------------------------------------------------------------------

FORMAT = "{remote} {status} {size} {body_size} {method} {target}"
FORWARDED = [("X-Forwarded-For", "203.0.113.9")]


def logged_lines(path: Path, count: int) -> list[list[str]]:
    def read() -> list[list[str]] | None:
        text = path.read_text() if path.exists() else ""
        lines = [line.split(" ") for line in text.splitlines() if line]
        return lines if len(lines) >= count else None

    found = wait_until(read, TIMEOUT)  # the log is flushed once a second
    assert found is not None, f"fewer than {count} access log lines: {path.read_text()!r}"
    return found  # type: ignore[return-value]


def access_logged_server(rush_server, tmp_path: Path, *trust: str):
    log = tmp_path / "access.log"
    args = ["--access-log", str(log), "--access-log-format", FORMAT]
    if trust:
        args += ["--forwarded-allow-ips", ",".join(trust)]
    return rush_server(*args, app=SEAM), log


def answers(port: int) -> list[Response]:
    return [
        get(port, "/whoami", headers=FORWARDED),
        get(port, "/old", headers=FORWARDED),  # app.redirect: pre-rendered when allowed
        exchange(port, request("POST", "/echo", FORWARDED, b"body!")),
        get(port, "/missing", headers=FORWARDED),
    ]


def check_lines(lines: list[list[str]], responses: list[Response], remote: str) -> None:
    expected = [
        (remote, "200", "GET", "/whoami"),
        (remote, "301", "GET", "/old"),
        (remote, "200", "POST", "/echo"),
        (remote, "404", "GET", "/missing"),
    ]
    assert [(f[0], f[1], f[4], f[5]) for f in lines] == expected
    for fields, response in zip(lines, responses, strict=True):
        assert int(fields[1]) == response.status
        assert int(fields[2]) == len(response.raw), (fields, response.raw)
        assert int(fields[3]) == len(response.body)


def test_access_log_remote_is_the_forwarded_client_behind_a_trusted_proxy(rush_server, tmp_path):
    server, log = access_logged_server(rush_server, tmp_path, "127.0.0.1")
    responses = answers(server.port)
    assert responses[0].body == b"203.0.113.9"
    assert responses[1].header("location") == "/new"
    check_lines(logged_lines(log, 4), responses, "203.0.113.9")


def test_access_log_remote_is_the_peer_without_trust(rush_server, tmp_path):
    server, log = access_logged_server(rush_server, tmp_path)
    responses = answers(server.port)
    assert responses[0].body == b"127.0.0.1"
    check_lines(logged_lines(log, 4), responses, "127.0.0.1")


def test_access_log_of_a_streamed_answer_with_a_length(rush_server, tmp_path):
    server, log = access_logged_server(rush_server, tmp_path)
    response = get(server.port, "/gen/length")
    assert response.body == NUMBERED
    [fields] = logged_lines(log, 1)
    assert fields == [
        "127.0.0.1",
        "200",
        str(len(response.raw)),
        str(len(NUMBERED)),
        "GET",
        "/gen/length",
    ]


def test_access_log_remote_of_a_streamed_answer_behind_a_trusted_proxy(rush_server, tmp_path):
    server, log = access_logged_server(rush_server, tmp_path, "127.0.0.1")
    response = get(server.port, "/gen/length", headers=FORWARDED)
    assert response.body == NUMBERED
    [fields] = logged_lines(log, 1)
    assert fields[1:] == ["200", str(len(response.raw)), str(len(NUMBERED)), "GET", "/gen/length"]
    assert fields[0] == "203.0.113.9"
