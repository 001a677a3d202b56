"""What the server does for any app, done for a WSGI app: --static in front of it, the access
log and trusted proxies, the watchdog, unix sockets, rolling reloads with new code, recycling,
and the CLI's choice of interface."""

from __future__ import annotations

import json
import signal
import sys
import threading

import pytest

from tests.support.client import connect, exchange, http_get, request
from tests.support.polling import wait_until
from tests.support.process import RushServer, run_rush, start_server

APP = "tests.wsgi.apps:app"

HOT_APP = """
VERSION = "v1"


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
"""


def test_static_folders_are_served_fresh_in_front_of_the_app(tmp_path):
    (tmp_path / "site.css").write_text("body { color: red }")
    server = start_server("--static", f"/assets={tmp_path}", app=APP)
    try:
        answer = exchange(server.port, request("GET", "/assets/site.css"))
        assert answer.body == b"body { color: red }"
        assert answer.header("content-type").startswith("text/css")
        (tmp_path / "site.css").write_text("body { color: green; margin: 0 }")

        def fresh() -> bool:
            body = exchange(server.port, request("GET", "/assets/site.css")).body
            return body == b"body { color: green; margin: 0 }"

        assert wait_until(fresh, 5)
        head = exchange(server.port, request("HEAD", "/assets/site.css"), head_only=True)
        assert head.header("content-length") == str(len("body { color: green; margin: 0 }"))
        assert exchange(server.port, request("GET", "/assets/none.css")).status == 404
        # Everything else, and other methods, still reach the app.
        assert exchange(server.port, request("POST", "/assets/site.css", body=b"x")).body == b"ok"
        assert exchange(server.port, request("GET", "/assets")).body == b"ok"
    finally:
        server.stop()


def test_access_log_and_trusted_proxy_fields(tmp_path):
    log = tmp_path / "access.log"
    server = start_server("--access-log", str(log), "--forwarded-allow-ips", "127.0.0.1", app=APP)
    try:
        forwarded = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]
        seen = json.loads(exchange(server.port, request("GET", "/environ", forwarded)).body)
        assert seen["REMOTE_ADDR"] == "203.0.113.7"
        assert seen["wsgi.url_scheme"] == "https" and seen["SERVER_PORT"] == "443"

        def logged() -> str:
            return log.read_text() if log.exists() else ""

        assert wait_until(lambda: '"GET /environ HTTP/1.1" 200' in logged(), 5), logged()
        assert logged().startswith("203.0.113.7 ")
    finally:
        server.stop()


def test_the_watchdog_names_a_stuck_wsgi_request_and_replaces_its_worker():
    server = start_server("--handler-timeout", "0.3", "--worker-timeout", "2", app=APP)
    try:
        results: list[int] = []
        slow = request("GET", "/slow?t=0.8")
        thread = threading.Thread(target=lambda: results.append(exchange(server.port, slow).status))
        thread.start()
        server.wait_for(
            r"has been handling 'GET /slow\?t=0.8 HTTP/1.1' for \d\.\d s "
            r"\(handler_timeout 0.3 s\); its stack follows"
        )
        server.wait_for(r'File ".*apps\.py", line \d+ in slow')
        thread.join(10)
        assert results == [200]
        stuck = connect(server.port, timeout=30)
        stuck.sendall(request("GET", "/slow?t=60"))
        try:
            server.wait_for(
                r"has been stuck for \d\.\d s \(worker_timeout 2 s\) handling "
                r"'GET /slow\?t=60 HTTP/1.1'; replacing it",
                10,
            )
        finally:
            stuck.close()
        assert wait_until(lambda: exchange(server.port, request("GET", "/")).body == b"ok", 10)
    finally:
        server.stop()


def test_unix_socket_rolling_reload_and_recycling(tmp_path):
    (tmp_path / "hotwsgi.py").write_text(HOT_APP)
    path = str(tmp_path / "rush.sock")
    server = RushServer(
        "hotwsgi:app", "--bind", f"unix:{path}", "--workers", "2", "--max-requests", "10",
        cwd=tmp_path,
    )  # fmt: skip
    try:
        server.wait_ready(2, answers=True)
        assert http_get(path, "/") == (200, b"v1")
        (tmp_path / "hotwsgi.py").write_text(HOT_APP.replace('"v1"', '"v2"'))
        mark = server.mark()
        server.signal(signal.SIGHUP)
        server.wait_for(r"reload complete: \d+ worker\(s\) run generation", 20, mark)
        assert {http_get(path, "/")[1] for _ in range(30)} == {b"v2"}
        server.wait_for(r"served max_requests", 10, mark)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("tests.apps.notrush:wsgi_app", "--interface", "rush"),
            "is not a Rush app: it looks like a WSGI application; serve it with --interface wsgi",
        ),
        (("tests.apps.basic:app", "--root-path", "/x"), "root_path: only WSGI apps"),
        ((APP, "--static", "nodir"), "static: 'nodir' is not URL=DIR"),
        ((APP, "--static", "/s=/no/such/dir"), "is not a directory"),
        ((APP, "--root-path", "x"), "root_path: 'x' must start with '/'"),
    ],
)
def test_interface_and_wsgi_option_mistakes_exit_2(args, message):
    result = run_rush(*args, "--bind", "127.0.0.1:0", "--workers", "1")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_interface_wsgi_serves_a_callable_instance():
    server = start_server("--interface", "wsgi", app="tests.apps.notrush:flaskish")
    try:
        assert exchange(server.port, request("GET", "/")).body.startswith(b"a WSGI app")
    finally:
        server.stop()


def test_serve_wsgi_from_python():
    code = (
        "import rush; from tests.wsgi.apps import app; "
        "rush.serve_wsgi(app, port=0, workers=1, root_path='/r')"
    )
    server = start_server(command=[sys.executable, "-c", code])
    try:
        seen = json.loads(exchange(server.port, request("GET", "/r/environ")).body)
        assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/r", "/environ")
    finally:
        server.stop()
