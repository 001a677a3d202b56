"""The demo app (examples/app.py) is safe to copy: what a client sends is never run as markup."""

from __future__ import annotations

import pytest

from examples.app import app
from rush import escape


@pytest.fixture(scope="module")
def client():
    return app.test_client()


@pytest.mark.parametrize(
    "name",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "<svg/onload=alert('x')>",
        "&lt;already&gt;",
    ],
)
def test_hello_escapes_markup_in_the_name(client, name: str) -> None:
    response = client.get("/hello", query={"name": name})
    assert response.status == 200
    assert response.text == f"hello, {escape(name)}!"
    assert "<" not in response.text and '"' not in response.text


def test_hello_still_greets(client) -> None:
    assert client.get("/hello", query={"name": "bill"}).text == "hello, bill!"
    assert client.get("/hello").text == "hello, world!"


def test_escape_is_flasks() -> None:
    assert escape("<a href='x'>&</a>") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;"
    assert escape(42) == "42"


def test_the_table_page_names_the_session_user(client) -> None:
    """The demo's /table (the benchmark's template workload): a Jinja2 page of 20 rows."""
    assert "Signed in as nobody." in client.get("/table").text
    client.set_cookie("session", _signed({"user": "<b>ann</b>"}))
    page = client.get("/table").text
    assert "Signed in as &lt;b&gt;ann&lt;/b&gt;." in page  # autoescaped
    assert page.count("<tr><td>") == 20


def _signed(data: dict) -> str:
    from itsdangerous import URLSafeTimedSerializer

    from rush.sessions import SALT, signer_settings

    return URLSafeTimedSerializer(app.secret_key, salt=SALT, signer_kwargs=signer_settings()).dumps(
        data
    )
