"""Content negotiation (rush.accept) against Werkzeug's, which Flask code was written for:
the same items, qualities and best matches for any field and offers, and the request's
`accept_*` properties."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import datastructures as wz
from werkzeug.http import parse_accept_header

from rush import Rush
from rush.accept import Accept, LanguageAccept, MIMEAccept

TYPES = ["text/html", "text/*", "*/*", "application/json", "application/xml", "image/png", "x"]
LANGUAGES = ["en", "en-US", "en_gb", "EN-us", "de", "de-CH", "fr", "*", "zh-Hant-TW"]
QUALITIES = [
    "",
    ";q=1",
    ";q=0.9",
    ";q=0.5",
    ";q=0",
    ";q=.5",
    ";q=1.5",
    ";q=x",
    ";level=1",
    ";Q=0.2",
]
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
# The properties hold Rush to Werkzeug 3's choices (how it ranks and falls back), which Flask
# 3 code meets; Werkzeug 2 ranked differently.
WERKZEUG_3 = pytest.mark.skipif(
    int(version("werkzeug").split(".")[0]) < 3, reason="Werkzeug 3's negotiation"
)


def field(values: list[str]) -> st.SearchStrategy[str]:
    item = st.tuples(st.sampled_from(values), st.sampled_from(QUALITIES)).map("".join)
    return st.lists(item, max_size=5).map(", ".join)


@WERKZEUG_3
@PROPERTY
@given(field(TYPES), st.lists(st.sampled_from(["text/html", *TYPES[3:6], "*/*"]), max_size=4))
def test_media_types_rank_and_match_as_werkzeug_does(value, offers):
    ours, theirs = MIMEAccept.parse(value), parse_accept_header(value, wz.MIMEAccept)
    assert list(ours) == list(theirs)
    assert ours.best_match(offers) == theirs.best_match(offers)
    assert ours.best == theirs.best
    for offer in offers:
        assert ours.quality(offer) == theirs.quality(offer)
    if all(quality > 0 for _, quality in theirs):  # Werkzeug's `in` ignores a quality of 0
        assert [offer in ours for offer in offers] == [offer in theirs for offer in offers]
        assert (ours.accept_html, ours.accept_json) == (theirs.accept_html, theirs.accept_json)
    else:
        assert all(offer not in ours for offer in offers if ours.quality(offer) == 0)


@WERKZEUG_3
@PROPERTY
@given(field(LANGUAGES), st.lists(st.sampled_from(LANGUAGES[:-2] + ["pt"]), max_size=4))
def test_languages_match_as_werkzeug_does_down_to_primary_tags(value, offers):
    ours, theirs = LanguageAccept.parse(value), parse_accept_header(value, wz.LanguageAccept)
    assert list(ours) == list(theirs)
    assert ours.best_match(offers, "none") == theirs.best_match(offers, "none")


@WERKZEUG_3
@PROPERTY
@given(field(["utf-8", "UTF-8", "iso-8859-1", "*"]), st.lists(st.just("utf-8"), max_size=1))
def test_plain_fields_match_without_case(value, offers):
    ours, theirs = Accept.parse(value), parse_accept_header(value)
    assert list(ours) == list(theirs)
    assert ours.best_match(offers) == theirs.best_match(offers)


@pytest.mark.parametrize(
    ("value", "offers", "expected"),
    [
        ("text/html;q=0.9, application/json, */*;q=0.1", ["text/html", "application/json"], 1),
        ("text/*, text/html;q=0", ["text/html", "text/plain"], 1),  # q=0 refuses text/html
        ("", ["text/html"], None),
        ("application/json;q=0.5, application/json;version=2", ["application/json"], 0),
    ],
)
def test_best_match_examples(value, offers, expected):
    best = MIMEAccept.parse(value).best_match(offers)
    assert best == (offers[expected] if expected is not None else None)


def test_the_request_parses_each_accept_field():
    app = Rush()

    @app.get("/")
    def negotiate(request):
        return {
            "type": request.accept_mimetypes.best_match(["application/json", "text/html"]),
            "json": request.accept_mimetypes.accept_json,
            "lang": request.accept_languages.best_match(["de", "en"], "en"),
            "charset": request.accept_charsets.best,
            "gzip": "gzip" in request.accept_encodings,
        }

    client = app.test_client()
    browser = client.get(
        "/",
        headers={
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "Accept-Language": "de-CH,de;q=0.9,en;q=0.8",
            "Accept-Charset": "utf-8",
            "Accept-Encoding": "gzip, br",
        },
    )
    assert browser.json == {
        "type": "text/html",
        "json": True,
        "lang": "de",
        "charset": "utf-8",
        "gzip": True,
    }
    bare = client.get("/").json
    assert bare == {"type": None, "json": False, "lang": "en", "charset": None, "gzip": False}
