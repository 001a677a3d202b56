"""The segment trie of parameter routes (rush.routetrie): which route wins, converters, slashes,
404/405 with many routes, and a property test against the rule it must keep: the first
registered route whose whole regex matches (what one regex alternation of all routes gave).

Every test runs once with each walk: the pure-Python RouteTrie.match, and the C accelerator
(rush/_routewalk.c) where it is built; test_routewalk.py tests the C walk alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rush import Rush, routetrie
from rush.exceptions import RouteError
from rush.routetrie import Matcher, RouteTrie
from rush.routing import CONVERTERS, HTTP_METHODS, Route, Router, first_segment

try:
    from rush import _routewalk
except ImportError:
    _routewalk = None  # type: ignore[assignment]

WALKS: dict[str, Callable[[RouteTrie], Matcher]] = {"python": routetrie.python_matcher}
if _routewalk is not None:
    WALKS["C"] = routetrie.c_matcher


@pytest.fixture(scope="module", params=sorted(WALKS), autouse=True)
def walk(request: pytest.FixtureRequest) -> Iterator[Callable[[RouteTrie], Matcher]]:
    """The walk every router built in the test uses."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(routetrie, "matcher_of", WALKS[request.param])
        yield WALKS[request.param]


U = "12345678-1234-5678-1234-567812345678"


def endpoint(request, **params):
    return params


def router_of(*patterns: str) -> tuple[Router, list[Route]]:
    """A router with `patterns` (GET, in order)."""
    router = Router()
    return router, [router.add(pattern, ["GET"], endpoint) for pattern in patterns]


def test_registration_order_decides_between_int_and_string_at_the_same_depth():
    router, (name, number) = router_of("/u/<name>", "/u/<int:n>")
    assert router.match("GET", "/u/5") == (name, {"name": "5"})
    router, (number, name) = router_of("/u/<int:n>", "/u/<name>")
    assert router.match("GET", "/u/5") == (number, {"n": 5})
    assert router.match("GET", "/u/five") == (name, {"name": "five"})


def test_an_earlier_parameter_route_beats_a_later_literal_segment():
    # The walk tries the literal child "b" first, yet the route registered first wins.
    router, (first, second) = router_of("/a/<x>/c", "/a/b/<y>")
    assert router.match("GET", "/a/b/c") == (first, {"x": "b"})
    assert router.match("GET", "/a/b/d") == (second, {"y": "d"})
    router, (first, second) = router_of("/a/b/<y>", "/a/<x>/c")
    assert router.match("GET", "/a/b/c") == (first, {"y": "c"})
    assert router.match("GET", "/a/z/c") == (second, {"x": "z"})


def test_a_whole_static_route_wins_over_any_parameter_route():
    router, (dynamic,) = router_of("/users/<name>")
    static = router.add("/users/me", ["GET"], endpoint)
    assert router.match("GET", "/users/me") == (static, {})
    assert router.match("GET", "/users/you") == (dynamic, {"name": "you"})
    assert router.match("POST", "/users/me") is None


def test_path_spans_segments_and_may_be_followed_by_more():
    router, (edit, two, counted) = router_of(
        "/<path:p>/edit", "/two/<path:a>/<path:b>", "/files/<path:p>/<int:n>"
    )
    assert router.match("GET", "/a/b/edit") == (edit, {"p": "a/b"})
    assert router.match("GET", "/a/edit/edit") == (edit, {"p": "a/edit"})
    assert router.match("GET", "/edit") is None
    assert router.match("GET", "//edit") is None  # a path starts with a character not "/"
    assert router.match("GET", "/two/x/y/z") == (two, {"a": "x", "b": "y/z"})  # lazy, as its regex
    assert router.match("GET", "/files/a//b/7") == (counted, {"p": "a//b", "n": 7})
    assert router.match("GET", "/files/7") is None


def test_uuid_float_and_segments_mixing_text_and_parameters():
    router, (key, price, file, version) = router_of(
        "/k/<uuid:key>", "/p/<float:x>", "/f/<name>.<ext>", "/v<int:n>/x"
    )
    assert router.match("GET", f"/k/{U}") == (key, {"key": uuid.UUID(U)})
    assert router.match("GET", f"/k/{U}x") is None
    assert router.match("GET", "/p/2.50") == (price, {"x": 2.5})
    assert router.match("GET", "/p/2") is None
    assert router.match("GET", "/f/a.b.c") == (file, {"name": "a.b", "ext": "c"})  # greedy first
    assert router.match("GET", "/f/abc") is None
    assert router.match("GET", "/v12/x") == (version, {"n": 12})
    assert router.match("GET", "/vv/x") is None


def test_trailing_slashes_and_empty_segments_are_literal():
    router, (slash, bare, double) = router_of("/a/<x>/", "/a/<x>", "/b//<x>")
    assert router.match("GET", "/a/1/") == (slash, {"x": "1"})
    assert router.match("GET", "/a/1") == (bare, {"x": "1"})
    assert router.match("GET", "/a/") is None  # a string parameter is never empty
    assert router.match("GET", "/a//") is None
    assert router.match("GET", "/b//1") == (double, {"x": "1"})
    assert router.match("GET", "/b/1") is None
    assert router.match("GET", "b//1") is None  # not a path at all


def test_a_trailing_newline_is_part_of_the_path():
    # The old alternation ended in `$`, which also matches before a final "\n": /u/5%0A was
    # user 5. A path is matched whole now.
    router, (number, rest) = router_of("/u/<int:n>", "/r/<path:p>")
    assert router.match("GET", "/u/5\n") is None
    assert router.match("GET", "/r/a\n") is None


def test_a_converter_refusing_its_text_lets_a_later_route_answer():
    router, (number, name) = router_of("/n/<int:n>", "/n/<name>")
    huge = "9" * 5000  # int() refuses more than 4,300 digits (ValueError)
    assert router.match("GET", f"/n/{huge}") == (name, {"name": huge})
    assert router.match("GET", "/n/12") == (number, {"n": 12})


def test_custom_converters_match_and_may_refuse(monkeypatch):
    def even(text: str) -> int:
        if int(text) % 2:
            raise ValueError(text)
        return int(text)

    monkeypatch.setitem(CONVERTERS, "hex", (r"[0-9a-f]+", lambda text: int(text, 16)))
    monkeypatch.setitem(CONVERTERS, "even", (r"[0-9]+", even))
    router, (hexed, evens, odds) = router_of("/c/<hex:h>/x", "/e/<even:n>", "/e/<odd>")
    assert router.match("GET", "/c/ff/x") == (hexed, {"h": 255})
    assert router.match("GET", "/c/fg/x") is None
    assert router.match("GET", "/e/4") == (evens, {"n": 4})
    assert router.match("GET", "/e/3") == (odds, {"odd": "3"})


def test_a_thousand_routes_are_matched_without_a_search(monkeypatch):
    # Routes that do not overlap leave one way on at every node: the walk never branches.
    router = Router()
    for i in range(1000):
        router.add(f"/api/v1/res{i}/<int:id>/items/<name>", ["GET"], endpoint)

    def no_search(*args: Any) -> None:
        raise AssertionError("the walk branched")

    monkeypatch.setattr(routetrie, "_find", no_search)
    last = router.dynamic[-1]
    assert router.match("GET", "/api/v1/res999/7/items/x") == (last, {"id": 7, "name": "x"})
    assert router.match("GET", "/api/v1/res1000/7/items/x") is None
    assert router.allowed_methods("/api/v1/res999/7/items/x") == {"GET"}


SOME = 24  # routes of each shape in many_routes_app


def many_routes_app() -> Rush:
    app = Rush()
    for i in range(SOME):
        app.add_route(f"/r{i}/<int:n>", endpoint, ["GET"], endpoint=f"get{i}")
        app.add_route(f"/d{i}/<x>/", endpoint, ["GET"], endpoint=f"dir{i}")
    for i in range(0, SOME, 3):
        app.add_route(f"/r{i}/<int:n>", endpoint, ["DELETE"], endpoint=f"delete{i}")
    app.add_route("/loose/<x>", endpoint, ["GET"], strict_slashes=False)
    return app


def test_404_405_allow_head_and_slashes_with_many_routes():
    client = many_routes_app().test_client()
    last = SOME - 1
    assert client.get(f"/r{last}/4").json == {"n": 4}
    assert client.get(f"/r{last}/four").status_code == 404
    assert client.get("/nowhere").status_code == 404
    refused = client.post(f"/r{last}/4")
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, HEAD, OPTIONS")
    refused = client.post("/r3/4")
    assert (refused.status_code, refused.headers["Allow"]) == (405, "DELETE, GET, HEAD, OPTIONS")
    assert client.delete("/r3/4").json == {"n": 4}
    head = client.head(f"/r{last}/4")
    assert (head.status_code, head.data) == (200, b"")
    moved = client.get(f"/d{last}/a")
    assert (moved.status_code, moved.location) == (308, f"/d{last}/a/")
    assert client.get("/loose/a/").json == {"x": "a"}


def test_percent_encoded_slashes_separate_segments_as_before():
    app = Rush()
    app.get("/users/<name>")(lambda request, name: name)
    app.get("/files/<path:rest>")(lambda request, rest: rest)
    app.get("/n/<int:n>")(lambda request, n: str(n))
    client = app.test_client()
    assert client.get("/users/a%2Fb").status_code == 404  # decoded first: /users/a/b
    assert client.get("/files/a%2Fb").text == "a/b"
    assert client.get("/users/%C3%A9").text == "é"
    assert client.get("/n/5%0A").status_code == 404


# -- the property: any table, any path, the same answer as the first registered route ----------

#: pattern segment -> path segments that fit it (a path drawn this way hits some route often)
FITS = {
    "a": ["a"],
    "b": ["b"],
    "ab": ["ab"],
    "": [""],
    "<{n}>": ["a", "ab", "12", "2.5", "x.y", "v3", "a-1", "é"],
    "<int:{n}>": ["1", "12"],
    "<float:{n}>": ["2.5"],
    "<path:{n}>": ["a", "a/b", "12/2.5", "a//b", "x.y/", "b/ab/a"],
    "<uuid:{n}>": [U],
    "<{n}>.<{n}x>": ["x.y", "a.b.c"],
    "v<int:{n}>": ["v3"],
    "<{n}>-1": ["a-1"],
    "<path:{n}>.txt": ["q.txt", "a/q.txt"],
}
TEMPLATES = st.lists(st.sampled_from(sorted(FITS)), min_size=1, max_size=4)
METHODS = st.sampled_from([("GET",), ("POST",), ("GET", "POST"), ("PUT",), ("DELETE", "PUT")])
TABLES = st.lists(st.tuples(TEMPLATES, METHODS), min_size=1, max_size=16)
ANY_PATH = st.lists(
    st.sampled_from(sorted({v for fits in FITS.values() for v in fits})), max_size=5
)


def pattern_of(templates: list[str]) -> str:
    return "/" + "/".join(t.format(n=f"p{i}") for i, t in enumerate(templates))


def draw_paths(data: st.DataObject, table: list[tuple[list[str], tuple[str, ...]]]) -> list[str]:
    """Paths shaped like routes of the table (so overlapping routes meet), and others."""
    paths = ["/" + "/".join(data.draw(ANY_PATH)) for _ in range(5)]
    for templates, _ in table:
        values = [data.draw(st.sampled_from(FITS[t])) for t in templates]
        paths.append("/" + "/".join(values))
    return paths


PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples on every run: a red test is a change, not luck
    suppress_health_check=[HealthCheck.too_slow],
)


def build(table: list[tuple[list[str], tuple[str, ...]]]) -> Router:
    router = Router()
    for templates, methods in table:
        try:
            router.add(pattern_of(templates), list(methods), endpoint)
        except RouteError:
            pass  # a duplicate of an earlier route for a method: refused, as it should be
    return router


def first_registered(routes: list[Route], path: str) -> tuple[Route, dict[str, Any]] | None:
    """The reference: the first route whose whole regex matches, converted."""
    for route in routes:
        match = re.fullmatch(route.regex, path)
        if match is not None:
            pairs = zip(route.params, match.groups(), strict=True)
            return route, {name: convert(value) for (name, convert), value in pairs}
    return None


def reference_match(router: Router, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
    static = router.static.get(path, {}).get(method)
    if static is not None:
        return static, {}
    return first_registered([r for r in router.dynamic if method in r.methods], path)


def converter_regexes() -> dict[str, str]:
    """Each converter's regex, read now (tests patch CONVERTERS), as Router passes them."""
    return {conv: regex for conv, (regex, _) in CONVERTERS.items()}


def trie_for(routes: list[Route]) -> RouteTrie:
    """The trie of `routes`, registered in that order, as Router builds one per method."""
    trie = RouteTrie()
    regexes = converter_regexes()
    for index, route in enumerate(routes):
        trie.insert(route, index, regexes)
    return trie


@PROPERTY
@given(TABLES, st.data())
def test_the_trie_answers_as_the_first_registered_route(walk, table, data):
    router = build(table)
    paths = draw_paths(data, table)
    for method in ("GET", "POST"):
        routes = [route for route in router.dynamic if method in route.methods]
        match = walk(trie_for(routes))
        for path in paths:
            assert match(path) == first_registered(routes, path), (method, path)


@PROPERTY
@given(TABLES, st.lists(st.sampled_from(["a", "b", "ab", ""]), max_size=3), st.data())
def test_router_answers_as_static_first_then_first_registered(table, static, data):
    router = build([(static, ("GET",)), *table])
    for path in draw_paths(data, table) + [pattern_of(static)]:
        for method in ("GET", "POST", "PUT"):
            assert router.match(method, path) == reference_match(router, method, path)
        allowed = {m for m in HTTP_METHODS if reference_match(router, m, path) is not None}
        assert router.allowed_methods(path) == allowed
        for missed in HTTP_METHODS - allowed:  # as the app asks after its own method missed
            assert router.allowed_methods(path, missed) == allowed


OUTSIDE = ["/zz", "/zz/a", "/zz/", "/12", "/x.y/ab", "", "/", "//", "//a", "*"]


@PROPERTY
@given(TABLES, st.lists(st.sampled_from(["a", "b", "ab", "", "zz"]), max_size=3), st.data())
def test_a_path_outside_every_first_segment_is_no_route_s_whatever_the_method_or_slash(
    table, static, data
):
    """What lets App.handle answer such a miss 404 without the miss path (Router.heads)."""
    router = build([(static, ("GET",)), *table])
    heads = router.heads
    assert (heads is None) == any(templates[0].count("<") for templates, _ in table)
    for path in draw_paths(data, table) + OUTSIDE:
        if heads is None or first_segment(path) in heads:
            continue
        for method in HTTP_METHODS:
            assert router.match(method, path) is None, (method, path)
            assert router.match_other_slash(method, path) is None, (method, path)
        assert router.allowed_methods(path) == set(), path


# -- what a segment is: unicode, digits, empty segments, long paths ----------------------------


def answers(router: Router, path: str) -> tuple[Route, dict[str, Any]] | None:
    """The router's answer, checked against the reference (first registered, static first)."""
    found = router.match("GET", path)
    assert found == reference_match(router, "GET", path), path
    return found


def test_unicode_segments_in_patterns_and_paths():
    router, (accent, number, name) = router_of("/é/<int:n>", "/日本/<int:n>/x", "/n/<name>/😀")
    assert answers(router, "/é/5") == (accent, {"n": 5})
    assert answers(router, "/日本/12/x") == (number, {"n": 12})
    assert answers(router, "/日本/12/y") is None
    for text in ("é", "日本語", "😀", "a😀b", "\x00", " ", "%2F"):
        assert answers(router, f"/n/{text}/😀") == (name, {"name": text})
    assert answers(router, "/n/x/😁") is None
    assert answers(router, "/e/5") is None


@pytest.mark.parametrize(
    "text", ["４２", "٣", "²", "1٣", "٣1", "0x1", "+1", "-1", " 1", "1 ", "1_000", "1.0", ""]
)
def test_an_int_segment_is_ascii_digits_as_its_regex_says_not_what_int_takes(text):
    # int() takes "４２", "٣", " 1" and "1_000"; the regex [0-9]+ does not, and decides.
    router, (number, name) = router_of("/n/<int:n>", "/n/<name>")
    expected = (name, {"name": text}) if text else None
    assert answers(router, f"/n/{text}") == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("007", 7), ("999999999999999999", 10**18 - 1), ("1" + "0" * 18, 10**18)]
    + [("9" * 40, int("9" * 40))],
)
def test_int_values_of_every_size_convert_as_int_does(text, value):
    router, (number,) = router_of("/n/<int:n>/x")
    found = answers(router, f"/n/{text}/x")
    assert found == (number, {"n": value}) and type(found[1]["n"]) is int


def test_empty_segments_and_trailing_slashes():
    router, routes = router_of("/a/<x>", "/a/<x>/", "/a//<int:n>", "/b/<x>//c")
    for path in ["/a/1", "/a/1/", "/a//2", "/a//", "/a///", "/a", "/a/", "//a/1", "/b/1//c"]:
        answers(router, path)
    for path in ["/b/1/c", "/b//c", "/b/1//c/", "", "/", "//", "a/1", "/a/1//"]:
        answers(router, path)
    assert answers(router, "/a//2") == (routes[2], {"n": 2})


def test_long_paths_and_many_parameters():
    many = "/m" + "".join(f"/<p{i}>" for i in range(40))  # more than the C walk keeps
    router, (deep, wide, long_int) = router_of("/d" + "/a" * 300 + "/<int:n>", many, "/l/<int:n>")
    assert answers(router, "/d" + "/a" * 300 + "/7") == (deep, {"n": 7})
    assert answers(router, "/d" + "/a" * 300) is None
    assert answers(router, "/d" + "/a" * 3000 + "/7") is None
    values = {f"p{i}": f"v{i}" for i in range(40)}
    assert answers(router, "/m/" + "/".join(values.values())) == (wide, values)
    assert answers(router, "/m/" + "/".join(list(values.values())[:39])) is None
    huge = "9" * 5000  # int() refuses it (ValueError): the only candidate fails
    assert router.match("GET", f"/l/{huge}") is None
    assert answers(router, "/x" * 20000) is None
    assert answers(router, "/l/" + "é" * 100000) is None


def test_a_regex_of_a_builtin_converter_replaced_is_the_one_used(monkeypatch):
    # The C walk tests <int> and <string> itself only while their regexes are the built-in ones.
    monkeypatch.setitem(CONVERTERS, "int", (r"-?[0-9]+", int))
    monkeypatch.setitem(CONVERTERS, "string", (r"[a-z]+", str))
    router, (number, name) = router_of("/n/<int:n>", "/s/<name>")
    assert answers(router, "/n/-5") == (number, {"n": -5})
    assert answers(router, "/s/abc") == (name, {"name": "abc"})
    assert answers(router, "/s/ABC") is None


def test_errors_of_a_converter_other_than_valueerror_propagate(monkeypatch):
    def broken(text: str) -> str:
        raise KeyError(text)

    monkeypatch.setitem(CONVERTERS, "string", (r"[^/]+", broken))
    router, _ = router_of("/s/<name>")
    with pytest.raises(KeyError):
        router.match("GET", "/s/x")


def test_a_path_that_is_not_a_plain_str_answers_as_a_str(walk):
    class Text(str):
        pass

    router, (name,) = router_of("/s/<name>")
    assert router.match("GET", Text("/s/x")) == (name, {"name": "x"})
    with pytest.raises(TypeError):
        router.matchers["GET"](b"/s/x")  # type: ignore[arg-type]
