"""Flask's names on Request and Response: what a Flask user reaches for works the same way."""

from __future__ import annotations

import base64
import weakref

import pytest

from rush import HTTPError, Request, Response, Rush, jsonify, make_response
from rush.request import Authorization


def make(target: bytes = b"/", headers=(), body: bytes = b"", method: str = "GET") -> Request:
    return Request(method, target, [(n.encode(), v.encode()) for n, v in headers], body)


# -- Request: URLs -------------------------------------------------------------------------


def test_urls_are_absolute_as_in_flask():
    request = make(b"/a/b?x=1&y=2", [("Host", "example.com:8000")])
    assert request.host == "example.com:8000"
    assert request.url == "http://example.com:8000/a/b?x=1&y=2"
    assert request.base_url == "http://example.com:8000/a/b"
    assert request.host_url == request.url_root == "http://example.com:8000/"
    assert request.full_path == "/a/b?x=1&y=2"


def test_full_path_always_has_a_question_mark_as_flask():
    request = make(b"/a", [("Host", "h")])
    assert request.full_path == "/a?"
    assert request.url == "http://h/a"


def test_url_quotes_the_decoded_path_again():
    request = make(b"/caf%C3%A9/a%20b", [("Host", "h")])
    assert request.path == "/café/a b"
    assert request.base_url == "http://h/caf%C3%A9/a%20b"


def test_scheme_from_a_trusted_proxy_shows_in_the_url():
    request = make(b"/x", [("Host", "h")])
    request.scheme = "https"
    assert request.url == "https://h/x"
    assert request.is_secure


def test_request_urls_through_the_app():
    app = Rush()

    @app.get("/where")
    def where(request):
        return {"url": request.url, "base": request.base_url, "full": request.full_path}

    with app.test_client() as client:
        assert client.get("/where?q=1").json == {
            "url": "http://localhost/where?q=1",
            "base": "http://localhost/where",
            "full": "/where?q=1",
        }
        assert client.get("https://example.org/where").json["url"] == "https://example.org/where"


# -- Request: body -------------------------------------------------------------------------


def test_get_json_follows_flask():
    as_json = [("Content-Type", "application/json")]
    assert make(headers=as_json, body=b'{"a": 1}').get_json() == {"a": 1}
    assert make(headers=[("Content-Type", "application/vnd.x+json")], body=b"[1]").is_json
    with pytest.raises(HTTPError) as info:
        make(headers=[("Content-Type", "text/plain")], body=b'{"a": 1}').get_json()
    assert info.value.status == 415
    assert make(headers=[("Content-Type", "text/plain")], body=b"{}").get_json(silent=True) is None
    assert make(body=b'{"a": 1}').get_json(force=True) == {"a": 1}
    for bad in (b"{nope", b""):
        with pytest.raises(HTTPError) as info:
            make(headers=as_json, body=bad).get_json()
        assert info.value.status == 400
        assert make(headers=as_json, body=bad).get_json(silent=True) is None


def test_get_json_caches_unless_asked_not_to():
    request = make(headers=[("Content-Type", "application/json")], body=b'{"a": 1}')
    first = request.get_json()
    assert request.get_json() is first
    assert request.get_json(cache=False) == first


def test_a_415_and_a_400_reach_the_client():
    app = Rush()
    app.post("/j")(lambda request: {"got": request.get_json()})
    with app.test_client() as client:
        assert client.post("/j", json={"a": 1}).json == {"got": {"a": 1}}
        assert client.post("/j", data="{}", content_type="text/plain").status_code == 415
        assert client.post("/j", data="{x", content_type="application/json").status_code == 400


def test_get_data_and_data():
    request = make(body="é".encode())
    assert request.get_data() == request.data == request.body == "é".encode()
    assert request.get_data(as_text=True) == "é"
    assert make(body=b"\xff").get_data(as_text=True) == "\ufffd"


def test_values_combines_args_and_form():
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    request = make(b"/?a=1&b=2", form, b"a=3&c=4", method="POST")
    values = request.values
    assert values.getlist("a") == ["1", "3"]
    assert (values["a"], values["b"], values["c"]) == ("1", "2", "4")
    assert request.values is values
    # GET: only the query string, as Flask 2+ (a GET body is no form).
    assert dict(make(b"/?a=1", form, b"c=4").values) == {"a": "1"}


def test_content_length():
    assert make(headers=[("Content-Length", "12")]).content_length == 12
    assert make().content_length is None
    assert make(headers=[("Content-Length", "x1")]).content_length is None
    assert make(headers=[("Content-Length", "١")]).content_length is None  # not ASCII digits


# -- Request: headers ----------------------------------------------------------------------


def test_referrer_and_user_agent():
    request = make(headers=[("Referer", "http://a/"), ("User-Agent", "curl/8.0")])
    assert request.referrer == "http://a/"
    agent = request.user_agent
    assert agent.string == str(agent) == "curl/8.0"
    assert agent == "curl/8.0" and agent
    assert make().referrer is None
    assert make().user_agent.string == "" and not make().user_agent


def basic(text: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(text.encode()).decode())


def test_basic_authorization():
    auth = make(headers=[basic("aladdin:open sesame")]).authorization
    assert auth is not None
    assert (auth.type, auth.username, auth.password, auth.token) == (
        "basic",
        "aladdin",
        "open sesame",
        None,
    )
    assert auth.get("username") == "aladdin" and auth.get("token", "-") == "-"
    # The password may contain colons; the user name may not (RFC 7617 §2).
    assert make(headers=[basic("u:a:b")]).authorization == Authorization("basic", "u", "a:b")
    assert make(headers=[basic("ü:ß")]).authorization == Authorization("basic", "ü", "ß")
    assert make(headers=[("Authorization", "basic dTpw")]).authorization.username == "u"


def test_bearer_and_other_schemes():
    auth = make(headers=[("Authorization", "Bearer abc.def-ghi")]).authorization
    assert (auth.type, auth.token, auth.username) == ("bearer", "abc.def-ghi", None)
    assert make(headers=[("Authorization", "Token xyz")]).authorization.type == "token"


@pytest.mark.parametrize(
    "value",
    ["", "Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode(), " "],
)
def test_absent_or_garbled_authorization_is_none(value):
    assert make(headers=[("Authorization", value)]).authorization is None
    assert make().authorization is None


def test_garbled_authorization_is_never_a_500():
    app = Rush()
    app.get("/")(lambda request: repr(request.authorization))
    with app.test_client() as client:
        response = client.get("/", headers={"Authorization": "Basic \x80\xff=="})
        assert (response.status_code, response.text) == (200, "None")
        assert client.get("/", auth=("u", "p")).text == "<Authorization basic 'u'>"


def test_nothing_new_is_stored_per_request():
    """The parity attributes are computed on first use: a new Request holds its slots (what
    every request has, set in C by rush._request.RequestMaker or by __init__) and nothing
    in its __dict__."""
    request = make(b"/x?a=1", [("Host", "h")])
    assert vars(request) == {} and weakref.ref(request)() is request
    assert set(Request.__slots__) == {"method", "path", "query_string", "raw_headers"} | {
        "_body",
        "http_version",
        "keep_alive",
        "remote_addr",
        "app",
        "route",
        "view_args",
        "_session",
        "_args",
        "__dict__",
        "__weakref__",
    }


# -- Response ------------------------------------------------------------------------------


def test_response_aliases():
    response = Response("hi", 201)
    assert response.status_code == 201
    response.status_code = 202
    assert response.status == 202
    assert response.data == b"hi"
    response.data = "é"
    assert response.body == "é".encode()
    assert response.mimetype == "text/html"
    response.mimetype = "text/plain"
    assert response.content_type == "text/plain; charset=utf-8"
    response.mimetype = "application/xml"
    assert response.content_type == "application/xml"
    assert Response("x", mimetype="text/csv").content_type == "text/csv; charset=utf-8"
    assert Response("", content_type="").mimetype is None


def test_response_data_of_a_stream_consumes_it():
    response = Response(iter(["a", b"b"]))
    assert response.data == b"ab"
    assert response.body == b"ab"  # kept: the answer sends the same bytes


def test_response_json():
    assert Response({"a": 1}).get_json() == {"a": 1}
    assert Response({"a": 1}).json == {"a": 1}
    assert Response("x").get_json() is None
    assert Response("[1]").get_json(force=True) == [1]
    assert Response("{", content_type="application/json").get_json(silent=True) is None


def test_a_dict_with_other_keys_than_str_is_json_as_flask_makes_it():
    """Flask's JSON provider writes int keys as strings; a value JSON cannot hold is still a
    TypeError (the app answers it 500), with no other error chained to it."""
    app = Rush()
    app.get("/ids")(lambda request: {1: "one", "nested": [{2: "two"}]})
    app.get("/bad")(lambda request: {"when": object()})
    with app.test_client() as client:
        assert client.get("/ids").get_json() == {"1": "one", "nested": [{"2": "two"}]}
        assert client.get("/bad").status_code == 500
    with pytest.raises(TypeError) as info:
        Response({"when": object()})
    assert info.value.__context__ is None


def test_jsonify():
    assert jsonify({"a": 1}).get_json() == {"a": 1}
    assert jsonify(1, 2).get_json() == [1, 2]
    assert jsonify(a=1).get_json() == {"a": 1}
    assert jsonify().get_json() == {}
    assert jsonify([1]).mimetype == "application/json"
    with pytest.raises(TypeError):
        jsonify(1, a=2)


def test_make_response_follows_the_handler_rules():
    response = make_response("made", 201, {"X-A": "1"})
    assert (response.status_code, response.data, response.headers["X-A"]) == (201, b"made", "1")
    assert make_response({"a": 1}).mimetype == "application/json"
    assert make_response().status_code == 200 and make_response().data == b""
    assert make_response(None).status_code == 204
    assert make_response("x", {"X-B": "2"}).headers["X-B"] == "2"
    same = Response("r")
    assert make_response(same) is same
    assert Rush().make_response(("x", 418)).status_code == 418


def test_make_response_then_a_cookie_as_in_flask():
    app = Rush()

    @app.get("/")
    def index(request):
        response = make_response(jsonify(ok=True))
        response.set_cookie("seen", "1")
        return response

    with app.test_client() as client:
        response = client.get("/")
        assert response.json == {"ok": True}
        assert client.get_cookie("seen").value == "1"


def test_request_app_is_the_serving_app_in_every_handler():
    """A blueprint's handler in another module reaches the app through request.app, with or
    without hooks (it was None in a routed handler of an app without before_request hooks)."""
    from rush import Blueprint

    app = Rush()
    bp = Blueprint("bp", __name__)
    app.get("/plain")(lambda request: str(request.app is app))
    bp.get("/in-bp")(lambda request: str(request.app is app))
    app.register_blueprint(bp, url_prefix="/b")
    client = app.test_client()
    assert client.get("/plain").text == "True"
    assert client.get("/b/in-bp").text == "True"
