"""The Request object: lazy views of the query string, headers, cookies and body."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rush import HTTPError, MultiDict, Request, Rush
from rush.request import decode_path, parse_pairs


def make(target: bytes = b"/", headers=(), body: bytes = b"", method: str = "GET") -> Request:
    return Request(method, target, [(n.encode(), v.encode()) for n, v in headers], body)


def test_path_and_query_string_split():
    request = make(b"/a/b?x=1&y=2", [("Host", "example.com")])
    assert request.path == "/a/b"
    assert request.query_string == b"x=1&y=2"
    assert request.full_path == "/a/b?x=1&y=2"
    assert request.url == "http://example.com/a/b?x=1&y=2"


def test_args_is_a_multidict():
    request = make(b"/?a=1&b=two&a=3&empty=&flag&sp=a+b&pct=%C3%A9%26")
    args = request.args
    assert args.get("a") == "1"
    assert args.getlist("a") == ["1", "3"]
    assert args["b"] == "two"
    assert args.get("empty") == ""
    assert args.get("flag") == ""
    assert args.get("sp") == "a b"
    assert args.get("pct") == "é&"
    assert args.get("missing", "default") == "default"
    assert args.getlist("missing") == []
    assert request.args is args  # parsed once


def test_missing_arg_by_subscript_is_a_400():
    request = make(b"/?a=1")
    with pytest.raises(HTTPError) as info:
        request.args["nope"]
    assert info.value.status == 400
    with pytest.raises(KeyError):  # and still a KeyError, as in Flask
        request.args["nope"]


def test_too_many_query_fields_is_a_400():
    with pytest.raises(HTTPError):
        parse_pairs("&".join(f"k{i}=v" for i in range(1001)))


def test_headers_are_case_insensitive_and_keep_repeats():
    request = make(headers=[("Host", "x"), ("X-Thing", "1"), ("x-thing", "2")])
    headers = request.headers
    assert headers["host"] == "x"
    assert headers.get("X-THING") == "1"
    assert headers.getlist("x-thing") == ["1", "2"]
    assert "HOST" in headers
    assert headers.get("nope") is None
    assert len(headers) == 3


def test_cookies():
    request = make(headers=[("Cookie", 'a=1; b="quoted"; c=x%20y'), ("Cookie", "d=4; a=ignored")])
    assert request.cookies == {"a": "1", "b": "quoted", "c": "x y", "d": "4"}


def test_json_body():
    assert make(body=b'{"a": [1, 2]}').json == {"a": [1, 2]}
    assert make(body=b"").json is None
    with pytest.raises(HTTPError) as info:
        _ = make(body=b"{nope").json
    assert info.value.status == 400


def test_malformed_json_is_answered_400_through_the_app():
    app = Rush()
    app.post("/j")(lambda request: request.json)
    client = app.test_client()
    assert client.post("/j", json={"k": "v"}).json == {"k": "v"}
    assert (
        client.post("/j", body=b"{bad", headers={"Content-Type": "application/json"}).status == 400
    )


def test_urlencoded_form():
    request = make(
        body=b"name=J%C3%BCrgen&tag=a&tag=b+c",
        headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
        method="POST",
    )
    assert request.form.get("name") == "Jürgen"
    assert request.form.getlist("tag") == ["a", "b c"]


def test_form_is_empty_for_other_bodies():
    assert make(body=b"a=1", headers=[("Content-Type", "text/plain")]).form == {}


def test_remote_addr_and_version():
    request = Request("GET", b"/", [], b"", "1.0", False, "10.0.0.1")
    assert (request.remote_addr, request.http_version, request.keep_alive) == (
        "10.0.0.1",
        "1.0",
        False,
    )


def test_get_and_getlist_convert_with_type_as_werkzeug_does():
    args = make(b"/?page=3&page=x&page=7&bad=x&empty=&n=-2").args
    assert args.get("page", type=int) == 3
    assert args.get("page", 1, type=int) == 3
    assert args.get("bad", 1, type=int) == 1  # a ValueError: the default
    assert args.get("absent", 1, type=int) == 1
    assert args.get("empty", type=int) is None
    assert args.get("n", type=abs) is None  # abs("-2") is a TypeError: the default
    assert args.get("n", type=int) == -2 and args.get("n", type=float) == -2.0
    assert args.getlist("page", type=int) == [3, 7]  # refused values are left out
    assert args.getlist("absent", type=int) == []
    assert args.get("page", default=0) == "3" and args.get(key="bad") == "x"
    with pytest.raises(ZeroDivisionError):  # other errors of the converter propagate
        args.get("page", type=lambda value: 1 / 0)


def test_headers_get_and_getlist_convert_with_type_too():
    headers = make(headers=[("X-N", "4"), ("x-n", "four"), ("X-N", "6"), ("X-Bad", "b")]).headers
    assert headers.get("x-n", type=int) == 4 and headers.get("X-N") == "4"
    assert headers.get("X-Bad", -1, type=int) == -1
    assert headers.get("X-Absent", -1, type=int) == -1 and headers.get("X-Absent") is None
    assert headers.getlist("X-N", type=int) == [4, 6]
    assert headers.getlist("X-N") == ["4", "four", "6"]


def test_multidict_items_and_repr():
    data = MultiDict([("a", "1"), ("a", "2"), ("b", "3")])
    assert dict(data.items()) == {"a": "1", "b": "3"}
    assert data.items(multi=True) == [("a", "1"), ("a", "2"), ("b", "3")]
    assert data.to_dict(flat=False) == {"a": ["1", "2"], "b": ["3"]}
    assert "MultiDict" in repr(data)


def test_test_client_query_and_handlers_with_params():
    app = Rush()

    @app.get("/hello")
    def hello(request):
        return f"hello, {request.args.get('name', 'world')}!"

    @app.route("/users/<int:user_id>", methods=["GET", "DELETE"])
    def user(request, user_id):
        return {"id": user_id, "method": request.method}

    client = app.test_client()
    assert client.get("/hello", query={"name": "bill"}).text == "hello, bill!"
    assert client.get("/hello").text == "hello, world!"
    assert client.delete("/users/7").json == {"id": 7, "method": "DELETE"}


@given(st.binary(max_size=40).map(lambda raw: b"/" + raw))
def test_path_and_query_string_split_any_target_as_decode_path_does(target):
    """Request splits and decodes the target inline (a fast path): it must agree with
    decode_path on every target, escapes, a '?' in the query, invalid UTF-8 and all."""
    path, _, query = target.partition(b"?")
    request = Request("GET", target)
    assert request.path == decode_path(path)
    assert request.query_string == query
