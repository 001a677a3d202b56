"""The C walk of the route trie (rush/_routewalk.c) alone: where it answers by itself, where it
hands the path to RouteTrie.match, its arguments, and its references. test_routetrie.py runs
every routing test with both walks; test_routewalk_asan.py runs this code under ASan.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rush import routetrie
from rush.routetrie import Matcher, RouteTrie
from rush.routing import Route, Router
from tests.app.test_routetrie import (
    PROPERTY,
    TABLES,
    U,
    build,
    converter_regexes,
    draw_paths,
    endpoint,
    first_registered,
    router_of,
    trie_for,
)

try:
    from rush import _routewalk
except ImportError:
    pytest.skip(
        "rush._routewalk is not built (pip install -e . with a C compiler builds it)",
        allow_module_level=True,
    )


class Declined(Exception):
    """Raised by a fallback that must not be called."""


def c_walk(trie: RouteTrie, fallback: Matcher | None = None) -> Matcher:
    """The C walk of `trie` with its own fallback (by default: none may be needed)."""

    def refuse(path: str) -> None:
        raise Declined(path)

    nodes = (routetrie.Node, routetrie.Edge, routetrie.Leaf)
    return _routewalk.Walker(trie.root, fallback or refuse, *nodes)


def trie_of(*patterns: str) -> tuple[RouteTrie, list[Route]]:
    router, routes = router_of(*patterns)
    return trie_for(routes), routes


DECLINED = (None, {"declined": True})  # what the fallback of the property test answers


@PROPERTY
@given(TABLES, st.data())
def test_where_the_c_walk_answers_by_itself_it_answers_as_the_reference(table, data):
    # Without RouteTrie.match behind it: an answer of its own is never a wrong one.
    router = build(table)
    paths = draw_paths(data, table)
    for method in ("GET", "POST"):
        routes = [route for route in router.dynamic if method in route.methods]
        match = c_walk(trie_for(routes), lambda path: DECLINED)
        for path in paths:
            found = match(path)
            assert found is DECLINED or found == first_registered(routes, path), (method, path)


def test_the_c_walk_answers_alone_wherever_each_node_leaves_one_way_on():
    trie, routes = trie_of(
        "/a/<x>",
        "/b/<int:n>/c/<y>/",
        "/f/<float:x>",
        "/k/<uuid:key>",
        "/m/<name>.<ext>",
        "/v/v<int:n>",
        "//<x>",
        "/u/<x>/é",
    )
    match = c_walk(trie)
    paths = ["/a/1", "/a/", "/a", "/b/7/c/z/", "/b/x/c/z/", "/b/7/c/z", "/f/2.5", "/f/2"]
    paths += [f"/k/{U}", "/k/x", "/m/a.b.c", "/m/abc", "/v/v3", "/v/w3", "//x", "/u/1/é"]
    paths += ["/nowhere", "", "/", "/a/1/2", "/b/٣/c/z/"]
    for path in paths:
        assert match(path) == trie.match(path) == first_registered(routes, path), path
    assert match("/b/7/c/z/") == (routes[1], {"n": 7, "y": "z"})


def test_the_c_walk_declines_a_real_choice_path_and_tail_edges_and_odd_paths():
    cases = [
        (("/a/<x>", "/a/b"), "/a/b"),  # a literal child and an edge: RouteTrie's search
        (("/a/<x>", "/a/<int:n>"), "/a/1"),  # two edges
        (("/p/<path:p>",), "/p/a/b"),
        (("/p/<path:p>.txt",), "/p/a.txt"),  # a tail: the rest of the path as one regex
        (("/m" + "".join(f"/<p{i}>" for i in range(40)),), "/m" + "/v" * 40),  # MAX_VALUES
    ]
    for patterns, path in cases:
        trie, routes = trie_of(*patterns)
        seen: list[str] = []

        def fallback(path: str, trie: RouteTrie = trie, seen: list[str] = seen) -> object:
            seen.append(path)
            return trie.match(path)

        assert c_walk(trie, fallback)(path) == first_registered(routes, path), path
        assert seen == [path], patterns
    trie, _ = trie_of("/a/<x>")
    with pytest.raises(Declined):
        c_walk(trie)(type("Text", (str,), {})("/a/1"))


def test_the_walker_checks_its_arguments():
    trie, _ = trie_of("/a/<x>")
    nodes = (routetrie.Node, routetrie.Edge, routetrie.Leaf)
    with pytest.raises(TypeError):
        _routewalk.Walker(trie.root, trie.match, *nodes, extra=1)
    with pytest.raises(TypeError):
        _routewalk.Walker(trie.root, 42, *nodes)
    with pytest.raises(AttributeError):
        _routewalk.Walker(trie.root, trie.match, routetrie.Node, routetrie.Leaf, routetrie.Leaf)

    class Plain:
        literal = edges = lone = leaf = None

    with pytest.raises(TypeError, match="not a __slots__ member"):
        _routewalk.Walker(trie.root, trie.match, Plain, routetrie.Edge, routetrie.Leaf)
    match = c_walk(trie)
    with pytest.raises(TypeError):
        match()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        match("/a/1", "/a/2")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        match(path="/a/1")  # type: ignore[call-arg]
    assert (_routewalk.NONEMPTY, _routewalk.DIGITS) == (routetrie.NONEMPTY, routetrie.DIGITS)


def test_the_c_walk_follows_the_trie_as_routes_are_added():
    trie, routes = trie_of("/a/<x>")
    match = c_walk(trie, trie.match)
    assert match("/b/1") is None
    later = Router().add("/b/<int:n>", ["GET"], endpoint)
    trie.insert(later, 1, converter_regexes())
    assert match("/b/1") == (later, {"n": 1})


def test_the_c_walk_keeps_no_reference_and_leaks_nothing():
    trie, routes = trie_of("/a/<x>/<int:n>", "/m/<name>.<ext>", "/c/<x>", "/c/d")
    match = c_walk(trie, trie.match)
    paths = ["/a/x/1", "/a/x/y", "/m/a.b", "/m/ab", "/c/d", "/c/e", "/z", "/a/x/" + "9" * 5000]
    for path in paths:
        match(path)
    before = [sys.getrefcount(o) for o in (trie.root, routes[0], routes[0].params)]
    blocks = sys.getallocatedblocks()
    for _ in range(20000):
        for path in paths:
            match(path)
    assert sys.getallocatedblocks() - blocks < 100
    assert [sys.getrefcount(o) for o in (trie.root, routes[0], routes[0].params)] == before
