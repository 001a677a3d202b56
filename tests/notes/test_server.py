"""The notes example on a real `python -m rush` with two workers.

The app is copied to a temporary folder and run from there (its notes file, uploads and
templates all under it), so the template edit below leaves the repository alone. Every request
opens a new connection, so SO_REUSEPORT spreads them over both workers: whatever one worker
signed, saved or saw change on disk, the other must agree with.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from tests.support.polling import wait_until
from tests.support.process import ROOT, RushServer

EXAMPLE = ROOT / "examples" / "notes"
PACKAGE = "notes_copy"
REQUESTS = 20  # fresh connections per check: both workers answer some of them


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RushServer]:
    home = tmp_path_factory.mktemp("notes")
    shutil.copytree(EXAMPLE, home / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        "PYTHONPATH": os.pathsep.join([str(home), str(ROOT)]),
        "RUSH_SECRET_KEY": "notes-server-test-key",
        "RUSH_NOTES_DB": str(home / "notes.db"),
        "RUSH_NOTES_UPLOADS": str(home / "uploads"),
    }
    started = RushServer(f"{PACKAGE}.app:app", "--bind", "127.0.0.1:0", "--workers", "2", env=env)
    started.home = home  # type: ignore[attr-defined]
    try:
        started.wait_ready(2)
    except BaseException:
        started.stop()
        raise
    yield started
    started.stop()


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()
        self.text = self.body.decode("utf-8", "replace")


class Browser:
    """Keeps the session cookie, and opens a new connection for every request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie: str | None = None

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = f"session={self.cookie}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = Answer(connection.getresponse())
        finally:
            connection.close()
        for line in answer.headers.get_all("Set-Cookie") or ():
            if line.startswith("session="):
                self.cookie = line.partition(";")[0].partition("=")[2] or None
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, fields: dict[str, str]) -> Answer:
        body = urlencode(fields).encode()
        return self.request(
            "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}
        )

    def upload(self, path: str, filename: str, content: bytes) -> Answer:
        boundary = uuid.uuid4().hex
        body = (
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request(
            "POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )


def flashes(text: str) -> list[str]:
    return [part.split("</p>")[0] for part in text.split('<p class="flash')[1:]]


def logged_in(server: RushServer, user: str = "alice", password: str = "wonderland") -> Browser:
    browser = Browser(server.port)
    login = browser.post("/auth/login", {"username": user, "password": password})
    assert login.status == 302 and login.headers["Location"] == "/notes/", login.text
    return browser


def test_the_session_flash_and_notes_are_seen_by_every_worker(server):
    browser = logged_in(server)
    # The flash was set before the redirect; whichever worker answers next shows it, once.
    welcome = browser.get("/notes/")
    assert welcome.status == 200
    assert flashes(welcome.text) == [' message">Welcome, alice!']
    created = browser.post("/notes/new", {"title": "seen by all", "body": "x"})
    assert created.status == 302
    note_url = created.headers["Location"]
    shown = browser.get(note_url)
    assert flashes(shown.text) == [' message">Note “seen by all” saved.']
    for _ in range(REQUESTS):
        listing = browser.get("/notes/")
        assert listing.status == 200, listing.text
        assert flashes(listing.text) == []  # shown once, by one worker, and gone for both
        assert '<span class="user">alice</span>' in listing.text
        assert f'<a href="{note_url}">seen by all</a>' in listing.text
        api = browser.get("/api" + note_url)
        assert api.status == 200 and json.loads(api.body)["title"] == "seen by all"


def test_each_flash_before_a_redirect_is_shown_once_after_it(server):
    browser = logged_in(server, "bob", "builder")
    assert flashes(browser.get("/notes/").text) == [' message">Welcome, bob!']
    for round in range(5):
        created = browser.post("/notes/new", {"title": f"note {round}"})
        assert created.status == 302
        after = browser.get(created.headers["Location"])
        assert flashes(after.text) == [f' message">Note “note {round}” saved.']
        assert flashes(browser.get(created.headers["Location"]).text) == []
    out = browser.post("/auth/logout", {})
    assert out.status == 302 and flashes(browser.get(out.headers["Location"]).text) == [
        ' message">You are logged out.'
    ]
    for _ in range(REQUESTS // 2):
        assert browser.get("/notes/").status == 302  # logged out for both workers


def test_an_attachment_saved_by_one_worker_is_served_by_both(server):
    browser = logged_in(server)
    note_url = browser.post("/notes/new", {"title": "with a file"}).headers["Location"]
    content = os.urandom(100_000)
    uploaded = browser.upload(note_url + "/attachment", "data.bin", content)
    assert uploaded.status == 302, uploaded.text
    for _ in range(REQUESTS // 2):
        download = browser.get(note_url + "/attachment")
        assert download.status == 200 and download.body == content
    assert (server.home / "uploads" / note_url.rsplit("/", 1)[1] / "data.bin").exists()


def test_an_attachment_over_the_limit_is_refused_before_it_is_read(server):
    browser = logged_in(server)
    note_url = browser.post("/notes/new", {"title": "too big"}).headers["Location"]
    head = (
        f"POST {note_url}/attachment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Cookie: session={browser.cookie}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {5 * 1024 * 1024 + 1}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())  # and not one byte of the body
        assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")


def test_the_api_answers_401_without_credentials_on_every_worker(server):
    anonymous = Browser(server.port)
    for _ in range(REQUESTS // 2):
        answer = anonymous.get("/api/notes")
        assert answer.status == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_edited_layout_reaches_every_worker(server):
    layout = server.home / PACKAGE / "templates" / "layout.html"
    browser = Browser(server.port)
    for _ in range(REQUESTS // 2):  # both workers compile the page (and the layout it extends)
        assert "<footer>Served by Rush</footer>" in browser.get("/auth/login").text
    edited = layout.with_suffix(".tmp")
    edited.write_text(layout.read_text().replace("Served by Rush", "Edited on disk"))
    os.replace(edited, layout)  # an atomic replace, as editors save

    def all_fresh() -> bool:
        texts = [browser.get("/auth/login").text for _ in range(REQUESTS)]
        assert all(text.count("<footer>") == 1 for text in texts)
        return all("<footer>Edited on disk</footer>" in text for text in texts)

    assert wait_until(all_fresh, 5), "a worker still renders the old layout after 5 s"
