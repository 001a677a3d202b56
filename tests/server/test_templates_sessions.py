"""Templates, sessions, app.logger and --debug on a real `python -m rush` with two workers.

The app is tests/apps/flaskish.py. Each request opens a new connection, so SO_REUSEPORT
spreads them over both workers: what one worker signed, the other reads; what changed on disk,
both render.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from rush.sessions import SALT, signer_settings
from tests.support.polling import wait_until
from tests.support.process import RushServer

APP = "tests.apps.flaskish:app"
SECRET = "server-test-key"


def write_templates(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "welcome.html").write_text(
        "<h1>{{ session.get('user') }}</h1>"
        "{% for message in get_flashed_messages() %}<p class=flash>{{ message }}</p>{% endfor %}"
    )
    (root / "edit.html").write_text("version 1")
    (root / "escape.html").write_text("[{{ value }}]")
    (root / "escape.txt").write_text("[{{ value }}]")
    return root


def start(tmp_path: Path, *args: str, workers: int = 2, **env: str) -> RushServer:
    folder = write_templates(tmp_path / "templates")
    server = RushServer(
        APP,
        "--bind",
        "127.0.0.1:0",
        "--workers",
        str(workers),
        *args,
        env={"FLASKISH_TEMPLATES": str(folder), **env},
    )
    server.template_folder = folder  # type: ignore[attr-defined]
    try:
        server.wait_ready(workers)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RushServer]:
    shared = start(
        tmp_path_factory.mktemp("flaskish"),
        FLASKISH_SECRET=SECRET,
        FLASKISH_FALLBACKS="retired-key",
    )
    yield shared
    shared.stop()


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    @property
    def cookie(self) -> str | None:
        """The session cookie this answer sets ("" when it deletes it), else None."""
        for line in self.headers.get_all("Set-Cookie") or ():
            if line.startswith("session="):
                return line.partition(";")[0].partition("=")[2]
        return None


def get(server: RushServer, path: str, cookie: str | None = None) -> Answer:
    """One request on a new connection (so either worker may take it)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": f"session={cookie}"} if cookie else {})
        return Answer(conn.getresponse())
    finally:
        conn.close()


def test_a_session_signed_by_one_worker_is_read_by_the_other(server):
    cookie = get(server, "/login?user=alice").cookie
    assert cookie
    pids: set[int] = set()

    def both_read_it() -> bool:
        data = json.loads(get(server, "/whoami", cookie).body)
        assert data["user"] == "alice"
        pids.add(data["pid"])
        return len(pids) == 2

    assert wait_until(both_read_it, 10), f"only worker(s) {pids} answered"


def test_flash_messages_survive_the_redirect_once(server):
    login = get(server, "/login?user=bob")
    assert login.status == 302 and login.headers["Location"] == "/welcome"
    welcome = get(server, "/welcome", login.cookie)
    assert welcome.status == 200
    assert b"<h1>bob</h1>" in welcome.body
    assert b"<p class=flash>welcome, bob</p>" in welcome.body
    after = welcome.cookie  # the flashes were taken out of the session
    assert after and after != login.cookie
    again = get(server, "/welcome", after)
    assert b"<h1>bob</h1>" in again.body and b"flash" not in again.body


def test_the_cookie_carries_its_attributes(server):
    (line,) = get(server, "/login").headers.get_all("Set-Cookie")
    assert "; Path=/" in line and "; HttpOnly" in line and "; SameSite=Lax" in line
    assert "Secure" not in line


def signed(data: object, key: str, age: float = 0.0) -> str:
    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    serializer = URLSafeTimedSerializer(
        key, salt=SALT, signer=Signer, signer_kwargs=signer_settings()
    )
    return serializer.dumps(data)


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        "a.b.c",
        signed({"user": "mallory"}, "a-key-we-never-had"),
        signed({"user": "old"}, SECRET, age=32 * 24 * 3600),  # past the 31-day lifetime
        signed({"user": "eve"}, SECRET)[:-3] + "AAA",  # a broken signature
        signed(["not", "a", "dict"], SECRET),
    ],
    ids=["garbage", "dots", "unknown-key", "expired", "tampered", "not-a-dict"],
)
def test_a_bad_cookie_is_an_empty_session_not_an_error(server, cookie):
    mark = server.mark()
    answer = get(server, "/whoami", cookie)
    assert answer.status == 200
    assert json.loads(answer.body)["user"] is None
    assert server.output.count("Traceback", mark) == 0


def test_a_cookie_signed_with_a_retired_key_is_still_accepted(server):
    assert (
        json.loads(get(server, "/whoami", signed({"user": "r"}, "retired-key")).body)["user"] == "r"
    )


def test_an_edited_template_reaches_both_workers_within_100ms(server):
    folder = server.template_folder
    warmed: set[str] = set()

    def warm() -> bool:
        answer = get(server, "/page/edit.html")
        assert answer.body == b"version 1"
        warmed.add(answer.headers["X-Pid"])
        return len(warmed) == 2

    assert wait_until(warm, 10), "both workers compiled the template"
    temporary = folder / "edit.tmp"
    temporary.write_text("version 2")
    os.replace(temporary, folder / "edit.html")
    changed = time.monotonic()
    fresh: set[str] = set()
    last_stale = 0.0
    while len(fresh) < 2 and time.monotonic() - changed < 10:
        answer = get(server, "/page/edit.html")
        pid = answer.headers["X-Pid"]
        if answer.body == b"version 2":
            fresh.add(pid)
        else:
            assert pid not in fresh, "a worker went back to the old template"
            last_stale = time.monotonic() - changed
    assert fresh == warmed
    assert last_stale < 0.1, f"a worker rendered the old template {last_stale:.3f}s after the edit"


def test_autoescape_for_html_not_for_text(server):
    assert get(server, "/page/escape.html?v=%3Cb%3E").body == b"[&lt;b&gt;]"
    text = get(server, "/page/escape.txt?v=%3Cb%3E")
    assert text.body == b"[<b>]" and text.headers["Content-Type"].startswith("text/plain")


def test_a_missing_template_is_a_500_whose_log_names_it(server):
    mark = server.mark()
    assert get(server, "/page/absent.html").status == 500
    server.wait_for(r"absent\.html", 5, mark)
    assert "Traceback" not in get(server, "/page/absent.html").body.decode()


def test_app_logger_lines_show_at_the_default_level(server):
    mark = server.mark()
    assert get(server, "/log?word=ahoy").body == b"logged"
    server.wait_for(r"\[INFO\] the app says ahoy", 5, mark)


def test_without_a_secret_key_a_session_write_is_a_500_naming_it(tmp_path):
    server = start(tmp_path, workers=1)
    try:
        assert json.loads(get(server, "/whoami").body)["user"] is None  # reading is fine
        mark = server.mark()
        assert get(server, "/login").status == 500
        server.wait_for(r"SECRET_KEY", 5, mark)
        assert server.proc.poll() is None
    finally:
        server.stop()


def test_debug_shows_tracebacks_and_warns_at_startup(tmp_path):
    server = start(tmp_path, "--debug", workers=1, FLASKISH_SECRET=SECRET)
    try:
        server.wait_for(r"\[WARNING\] debug mode is on", 5)
        answer = get(server, "/boom")
        assert answer.status == 500
        assert b"Traceback" in answer.body and b"RuntimeError: &lt;boom&gt;" in answer.body
    finally:
        server.stop()


def test_without_debug_no_traceback_and_no_warning(server):
    answer = get(server, "/boom")
    assert answer.status == 500 and b"Traceback" not in answer.body
    assert "debug mode" not in server.log
