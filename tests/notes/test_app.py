"""The notes example (examples/notes/) in-process, through the test client: logging in and
out, flash messages, forms with validation errors, escaping, uploads, and the JSON API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from examples.notes import app as notes_app
from rush.sessions import SALT, signer_settings
from rush.testing import TestClient

app = notes_app.app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A client of the example app on a fresh notes file and uploads folder."""
    saved = {key: app.config[key] for key in ("NOTES_DB", "NOTES_UPLOADS")}
    app.config["NOTES_DB"] = str(tmp_path / "notes.db")
    app.config["NOTES_UPLOADS"] = str(tmp_path / "uploads")
    try:
        with app.test_client() as client:  # runs the on_startup hook: opens the notes file
            yield client
    finally:
        app.config.update(saved)


def log_in(
    client: TestClient,
    user: str = "alice",
    password: str = "wonderland",
    next: str | None = None,
    follow_redirects: bool = False,
):
    form = {"username": user, "password": password}
    if next is not None:
        form["next"] = next
    return client.post("/auth/login", form=form, follow_redirects=follow_redirects)


@pytest.fixture
def alice(client: TestClient) -> TestClient:
    assert log_in(client).status_code == 302
    client.get("/notes/")  # shows (and so takes) the welcome message
    return client


def create(client: TestClient, title: str, body: str = "") -> int:
    response = client.post("/notes/new", form={"title": title, "body": body})
    assert response.status_code == 302, response.text
    client.get(response.location)  # shows (and so takes) the "saved" message
    return int(response.location.rsplit("/", 1)[1])


def flashes(text: str) -> list[str]:
    return [part.split("</p>")[0] for part in text.split('<p class="flash')[1:]]


# -- logging in and out ----------------------------------------------------------------------


def test_pages_need_a_login_and_the_login_goes_back_to_them(client):
    response = client.get("/notes/new")
    assert response.status_code == 302
    assert response.location == "/auth/login?next=%2Fnotes%2Fnew"
    page = client.get(response.location)
    assert flashes(page.text) == [' error">Please log in first.']
    assert '<input type="hidden" name="next" value="/notes/new">' in page.text
    back = log_in(client, next="/notes/new")
    assert back.status_code == 302 and back.location == "/notes/new"
    assert "<h1>New note</h1>" in client.get("/notes/new").text


def test_home_leads_to_the_login_when_logged_out(client):
    response = client.get("/", follow_redirects=True)
    assert [r.status_code for r in response.history] == [302, 302]
    assert response.status_code == 200 and "<h1>Log in</h1>" in response.text


@pytest.mark.parametrize(
    "user, password", [("alice", "wrong"), ("mallory", "wonderland"), ("", "")]
)
def test_a_bad_login_flashes_an_error_once(client, user, password):
    response = log_in(client, user, password, next="/notes/")
    assert response.status_code == 302
    assert response.location == "/auth/login?next=%2Fnotes%2F"
    page = client.get(response.location)
    assert flashes(page.text) == [' error">Wrong user name or password.']
    assert flashes(client.get("/auth/login").text) == []  # shown once
    assert client.get("/notes/").status_code == 302  # still logged out


def test_login_welcomes_once_and_logout_forgets_the_user(client):
    page = log_in(client, follow_redirects=True)
    assert page.request.path == "/notes/"
    assert flashes(page.text) == [' message">Welcome, alice!']
    assert '<span class="user">alice</span>' in page.text
    again = client.get("/notes/")
    assert flashes(again.text) == [] and "<h1>Your notes</h1>" in again.text
    out = client.post("/auth/logout", follow_redirects=True)
    assert out.request.path == "/auth/login"
    assert flashes(out.text) == [' message">You are logged out.']
    assert client.get("/notes/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_login_never_sends_the_user_to_another_site(client, target):
    response = log_in(client, next=target)
    assert response.status_code == 302 and response.location == "/notes/"


def test_logout_is_a_post(alice):
    assert alice.get("/auth/logout").status_code == 405
    assert alice.get("/notes/").status_code == 200


def test_the_session_cookie_is_signed_http_only_and_lax(client):
    response = log_in(client)
    (line,) = [v for k, v in response.headers.items() if k.lower() == "set-cookie"]
    assert line.startswith("session=") and "HttpOnly" in line and "SameSite=Lax" in line
    other = app.test_client()
    for key, status in [("a-guessed-key", 302), (app.config["SECRET_KEY"], 200)]:
        other.set_cookie(
            "session",
            URLSafeTimedSerializer(key, salt=SALT, signer_kwargs=signer_settings()).dumps(
                {"user": "bob"}
            ),
        )
        assert other.get("/notes/").status_code == status  # only the app's key signs a login


# -- notes -----------------------------------------------------------------------------------


def test_validation_errors_show_the_form_again_with_what_was_typed(alice):
    response = alice.post("/notes/new", form={"title": "  ", "body": "kept text"})
    assert response.status_code == 400
    assert '<p class="error" id="title-error">A note needs a title.</p>' in response.text
    assert ">kept text</textarea>" in response.text
    long = alice.post("/notes/new", form={"title": "x" * 101, "body": "b" * 10_001})
    assert long.status_code == 400
    assert "A title has at most 100 characters." in long.text
    assert "A note has at most 10000 characters." in long.text
    assert "No notes yet." in alice.get("/notes/").text  # nothing was saved


def test_create_view_and_delete(alice):
    response = alice.post(
        "/notes/new", form={"title": "Groceries", "body": "eggs\nmilk"}, follow_redirects=True
    )
    note_url = response.request.path
    assert response.status_code == 200 and note_url.startswith("/notes/")
    assert flashes(response.text) == [' message">Note “Groceries” saved.']
    assert "<h1>Groceries</h1>" in response.text and "eggs\nmilk" in response.text
    assert f'<a href="{note_url}">Groceries</a>' in alice.get("/notes/").text
    assert alice.get(note_url + "/delete").status_code == 405  # deleting takes a POST
    deleted = alice.post(note_url + "/delete", follow_redirects=True)
    assert deleted.request.path == "/notes/"
    assert flashes(deleted.text) == [' message">Note “Groceries” deleted.']
    assert alice.get(note_url).status_code == 404
    assert alice.post(note_url + "/delete").status_code == 404


def test_what_users_type_is_escaped_everywhere(alice):
    evil = "<script>alert('x')</script>"
    page = alice.post(
        "/notes/new",
        form={"title": evil, "body": '<img src=x onerror="alert(1)">'},
        follow_redirects=True,
    )
    listing = alice.get("/notes/").text
    for text in (page.text, listing):
        assert "<script>" not in text and "<img" not in text
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    assert f"<h1>{escaped}</h1>" in page.text
    assert f"<title>{escaped} · Rush notes</title>" in page.text
    assert f"Note “{escaped}” saved." in page.text  # the flash message too
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text
    assert escaped in listing


def test_notes_are_private_to_their_owner(client):
    log_in(client)
    note_id = create(client, "alice's secret")
    client.post("/auth/logout")
    log_in(client, "bob", "builder")
    assert client.get(f"/notes/{note_id}").status_code == 404
    assert client.post(f"/notes/{note_id}/delete").status_code == 404
    assert "alice&#39;s secret" not in client.get("/notes/").text
    assert client.get(f"/api/notes/{note_id}").status_code == 404


# -- attachments -----------------------------------------------------------------------------


def test_an_uploaded_file_comes_back_byte_for_byte(alice, tmp_path):
    note_id = create(alice, "with a file")
    content = bytes(range(256)) * 300 + b"\r\n--not-a-boundary\r\n"
    page = alice.post(
        f"/notes/{note_id}/attachment",
        files={"file": ("../../etc/report 2024.bin", content, "application/octet-stream")},
        follow_redirects=True,
    )
    (message,) = flashes(page.text)
    assert message.startswith(' message">Attached ') and f"({len(content)} bytes)" in message
    name = message.split("Attached ")[1].split(" (")[0]
    assert "/" not in name and ".." not in name
    assert f">{name}</a>" in page.text
    saved = tmp_path / "uploads" / str(note_id) / name
    assert saved.read_bytes() == content  # under the uploads folder, nowhere else
    download = alice.get(f"/notes/{note_id}/attachment")
    assert download.status_code == 200 and download.data == content
    assert download.headers["Content-Disposition"].startswith("attachment")
    # A new file replaces the old one; deleting the note deletes its files.
    alice.post(f"/notes/{note_id}/attachment", files={"file": ("b.txt", b"second", "text/plain")})
    assert alice.get(f"/notes/{note_id}/attachment").data == b"second"
    assert os.listdir(saved.parent) == ["b.txt"]
    alice.post(f"/notes/{note_id}/delete")
    assert not saved.parent.exists()


def test_an_upload_without_a_file_asks_for_one(alice):
    note_id = create(alice, "no file")
    page = alice.post(f"/notes/{note_id}/attachment", form={"other": "x"}, follow_redirects=True)
    assert flashes(page.text) == [' error">Choose a file to attach.']
    assert alice.get(f"/notes/{note_id}/attachment").status_code == 404


def test_the_stylesheet_is_served_with_a_versioned_url(client):
    page = client.get("/auth/login").text
    href = page.split('<link rel="stylesheet" href="')[1].split('"')[0]
    assert href.startswith("/static/style.css?v=") and len(href) > len("/static/style.css?v=")
    css = client.get(href)
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert css.data == (Path(notes_app.__file__).parent / "static" / "style.css").read_bytes()


# -- the JSON API ----------------------------------------------------------------------------


def bearer(client: TestClient, user: str = "alice", password: str = "wonderland") -> dict:
    response = client.post("/auth/token", json={"username": user, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json['token']}"}


def test_the_api_needs_a_session_or_a_token(client):
    for method, path in [("GET", "/api/notes"), ("POST", "/api/notes"), ("GET", "/api/notes/1")]:
        response = client.request(method, path, json={"title": "t"})
        assert response.status_code == 401, (method, path)
        assert response.json["error"] and response.headers["WWW-Authenticate"].startswith("Bearer")
    for token in ["garbage", URLSafeTimedSerializer("another-key").dumps({"user": "alice"})]:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/notes", headers=headers).status_code == 401
    assert client.get("/api/notes", auth=("alice", "wonderland")).status_code == 401  # Basic


def test_a_token_needs_the_right_password(client):
    wrong = client.post("/auth/token", json={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json == {"error": "wrong user name or password"}
    assert client.post("/auth/token", data="alice").status_code == 400


def test_the_api_with_a_bearer_token(client):
    headers = bearer(client)
    assert client.get("/api/notes", headers=headers).json == {"notes": []}
    created = client.post(
        "/api/notes", json={"title": "from the API", "body": "<b>raw</b>"}, headers=headers
    )
    assert created.status_code == 201
    note = created.json
    assert created.headers["Location"] == note["url"] == f"/api/notes/{note['id']}"
    assert (note["title"], note["body"], note["attachment"]) == ("from the API", "<b>raw</b>", None)
    assert client.get(note["url"], headers=headers).json == note
    assert client.get("/api/notes", headers=headers).json == {"notes": [note]}
    missing = client.get("/api/notes/999999", headers=headers)
    assert missing.status_code == 404 and missing.json == {"error": "404 Not Found: no such note"}
    # JSON bodies only: a form post (what another site could make a browser send) is a 415.
    form = client.post("/api/notes", form={"title": "x"}, headers=headers)
    assert form.status_code == 415 and "error" in form.json
    bad = client.post("/api/notes", json={"title": ""}, headers=headers)
    assert bad.status_code == 400 and bad.json == {"errors": {"title": "A note needs a title."}}
    assert client.post("/api/notes", json=["x"], headers=headers).status_code == 400
    # Bob's token sees none of it.
    assert client.get(note["url"], headers=bearer(client, "bob", "builder")).status_code == 404


def test_the_api_with_the_session_and_the_pages_agree(alice):
    created = alice.post("/api/notes", json={"title": "both ways"})
    assert created.status_code == 201
    page = alice.get(f"/notes/{created.json['id']}")
    assert page.status_code == 200 and "<h1>both ways</h1>" in page.text
    web_id = create(alice, "from the form")
    assert alice.get(f"/api/notes/{web_id}").json["title"] == "from the form"
