"""The parameter routes of one method as a trie of path segments: matching costs the depth of
the path, not the number of routes. It owns matching only; patterns are parsed and checked by
rush.routing, which keeps static routes in its own dict.

Facts and strategy (the shape of httprouter and Werkzeug's StateMachineMatcher):
- The path arrives percent-decoded (a decoded %2F separates segments, as it always did). It is
  split on "/" once; "//" and a trailing "/" give empty segments, matched as literal text.
- A node's edges, one per kind of pattern segment: literal text (one dict for all of them);
  one parameter of a one-segment converter (string, int, float, uuid: the converter's regex
  must match the whole segment); a segment mixing text and parameters (`<name>.<ext>`: the
  segment's own regex; no converter of it can cross a "/", so it splits the segment exactly
  as the route's whole regex did); `<path:p>` as a whole segment (spans one segment or more,
  the fewest first, as its lazy regex does); and a tail for anything else (a custom
  converter, a path inside a segment): the rest of the pattern as one regex, one route each.
- The winner is the first registered route that matches, as with one regex alternation in
  registration order. Each node knows the lowest registration index below it; the walk
  tries the literal child, then the parameter edges in order of that index, and skips a
  subtree that cannot beat the match in hand. Where routes do not overlap, one child matches
  and each segment costs one dict lookup or one regex.
- Conversion runs at the leaf. A converter's ValueError (say int() of 5,000 digits) makes that
  candidate fail and the walk goes on, so a later route may answer.
- Two implementations, one behaviour: `RouteTrie.match`, and the C accelerator
  rush/_routewalk.c, which walks as far as each node leaves one way on and hands any other
  path to RouteTrie.match. `matcher_of(trie)` is the C one unless it is not built or
  `RUSH_NO_EXTENSIONS` is set to anything but "" or "0" (DESIGN.md, hot-path rule 8).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rush.protocol.heads import COMPILED, PURE, extensions_wanted

if TYPE_CHECKING:
    from rush.routing import Route

#: Converters whose regex never matches "/": a parameter of one of them is one segment (or a
#: part of one). Any other converter (`path`, a custom one) may span segments.
SEGMENT_CONVERTERS = frozenset(("string", "int", "float", "uuid"))

_NEVER = 1 << 62  # a registration index above any real one
Found = tuple[int, "Route", dict[str, Any]]  # (registration index, route, parameters)
SEGMENT, PATH, TAIL = 0, 1, 2  # Edge.kind
#: Edge.shape: call `test`; any non-empty segment; ASCII digits only (the regex [0-9]+, which
#: refuses "٣" and "４２" that int() would take). rush/_routewalk.c has the same numbers.
CALL, NONEMPTY, DIGITS = 0, 1, 2
_SHAPES = {"([^/]+)": NONEMPTY, "([0-9]+)": DIGITS}


class Leaf:
    """A route ending at a node: its registration index, route, and converters in order."""

    __slots__ = ("index", "route", "params", "single")

    def __init__(self, index: int, route: Route) -> None:
        self.index = index
        self.route = route
        self.params: list[tuple[str, Callable[[str], Any]]] = list(route.params)
        self.single = self.params[0] if len(self.params) == 1 else None

    def convert(self, values: Sequence[str]) -> dict[str, Any] | None:
        """The handler's keyword arguments, or None when a converter refuses its text."""
        try:
            single = self.single
            if single is not None:
                # PERF: one parameter is the usual case: no zip, no comprehension.
                return {single[0]: single[1](values[0])}
            # PERF: a loop, not a comprehension (which builds and calls a function in 3.11).
            params = {}
            for (name, convert), value in zip(self.params, values, strict=True):
                params[name] = convert(value)
            return params
        except ValueError:
            return None


class Node:
    """The routes below one prefix of segments."""

    __slots__ = ("literal", "edges", "lone", "leaf", "least")

    def __init__(self, least: int) -> None:
        self.literal: dict[str, Node] = {}
        self.edges: list[Edge] = []  # in order of `least` (creation order: indexes only grow)
        self.lone: Edge | None = None  # the only edge, when it is a SEGMENT one
        self.leaf: Leaf | None = None
        self.least = least


class Edge:
    """A parameter segment: `kind` is SEGMENT, PATH or TAIL (module docstring)."""

    __slots__ = ("kind", "key", "fullmatch", "whole", "shape", "test", "node", "tail", "least")

    def __init__(self, kind: int, key: str, regex: str, whole: bool, least: int) -> None:
        self.kind = kind
        self.key = key
        self.fullmatch: Callable[[str], re.Match[str] | None] = re.compile(regex).fullmatch
        self.whole = whole  # the segment is the only value (no groups() needed)
        #: For a whole segment, what its regex tests, where the C walk tests it itself.
        self.shape = _SHAPES.get(regex, CALL) if whole else CALL
        #: For a whole segment: true when it fits. PERF: `len` for a string parameter, whose
        #: `[^/]+` fits any non-empty segment (a segment has no "/"): ~100 ns less a regex.
        self.test: Callable[[str], object] = len if self.shape == NONEMPTY else self.fullmatch
        self.node = Node(least)
        self.tail: Leaf | None = None
        self.least = least


class RouteTrie:
    """The parameter routes of one method; `match(path)` -> (route, parameters) or None."""

    def __init__(self) -> None:
        self.root = Node(_NEVER)

    def insert(self, route: Route, index: int, regexes: Mapping[str, str]) -> None:
        """Add `route` (registration `index`, larger than any before); `regexes` maps a
        converter name to its regex."""
        node = self.root
        segments = split_parts(route.parts)
        for position, segment in enumerate(segments):
            node.least = min(node.least, index)
            if all(isinstance(part, str) for part in segment):
                node = node.literal.setdefault("".join(segment), Node(index))  # type: ignore[arg-type]
                continue
            kind, key, regex, whole = _classify(segment, regexes)
            if kind == TAIL:
                rest = [part for later in segments[position:] for part in ["/", *later]][1:]
                key = _signature(rest)
                regex = "".join(_regex(part, regexes) for part in rest)
            edge = next((e for e in node.edges if e.kind == kind and e.key == key), None)
            if edge is None:
                edge = Edge(kind, key, regex, whole, index)
                node.edges.append(edge)
                node.lone = edge if len(node.edges) == 1 and kind == SEGMENT else None
            if kind == TAIL:
                edge.tail = Leaf(index, route)
                return
            node = edge.node
        node.least = min(node.least, index)
        node.leaf = Leaf(index, route)

    def match(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        segments = path.split("/")  # the first is "" for every path that can match
        node = self.root
        values: list[str] = []
        # PERF: walk down without recursion while each node leaves one way on (a literal child
        # and no edges, or no literal child and one segment edge); only a real choice calls
        # _find. Among 1,000 routes, min of 15: /u999/users/42 760 ns against 1,260 with _find
        # at every node; /api/v1/res999/7/items/bolt 1,450 against 2,250.
        i = 0
        for segment in segments:
            child = node.literal.get(segment)
            if not node.edges:
                if child is None:
                    return None
                node = child
                i += 1
                continue
            edge = node.lone
            if child is not None or edge is None:
                found = _find(node, segments, i, values, _NEVER)
                return None if found is None else (found[1], found[2])
            if edge.whole:
                if not edge.test(segment):
                    return None
                values.append(segment)
            else:
                match = edge.fullmatch(segment)
                if match is None:
                    return None
                values.extend(match.groups())
            node = edge.node
            i += 1
        leaf = node.leaf
        if leaf is None:
            return None
        # The only candidate: a converter's refusal is a miss.
        single = leaf.single
        if single is not None:
            # PERF: Leaf.convert inlined for one parameter, the usual case (~60 ns).
            try:
                return leaf.route, {single[0]: single[1](values[0])}
            except ValueError:
                return None
        params = leaf.convert(values)
        return None if params is None else (leaf.route, params)


def python_matcher(trie: RouteTrie) -> Matcher:
    """The pure-Python walk of `trie` (RUSH_NO_EXTENSIONS=1, or no compiler at install)."""
    return trie.match


def c_matcher(trie: RouteTrie) -> Matcher:
    """The C walk of `trie` (rush/_routewalk.c), which hands `trie.match` every path it
    declines; ImportError where it is not built."""
    from rush._routewalk import Walker

    return Walker(trie.root, trie.match, Node, Edge, Leaf)


def _select() -> tuple[Callable[[RouteTrie], Matcher], str]:
    """The C walk unless RUSH_NO_EXTENSIONS is set (to anything but "" or "0") or it is not
    built (DESIGN.md, hot-path rule 8)."""
    if not extensions_wanted():
        return python_matcher, PURE
    try:
        import rush._routewalk  # noqa: F401
    except ImportError:
        return python_matcher, PURE
    return c_matcher, COMPILED


Matcher = Callable[[str], "tuple[Route, dict[str, Any]] | None"]
#: RouteTrie -> the function matching it (both answer alike), and which one that is
matcher_of, IMPLEMENTATION = _select()


def _find(node: Node, segments: list[str], i: int, values: list[str], bound: int) -> Found | None:
    """The lowest-index route below `node` matching `segments[i:]`, if its index < bound.

    `values` holds the parameter texts taken above `node`; it is restored before return.
    """
    if i == len(segments):
        leaf = node.leaf
        if leaf is not None and leaf.index < bound:
            params = leaf.convert(values)
            if params is not None:
                return leaf.index, leaf.route, params
        return None
    segment = segments[i]
    found: Found | None = None
    child = node.literal.get(segment)
    if child is not None and child.least < bound:
        found = _find(child, segments, i + 1, values, bound)
        if found is not None:
            bound = found[0]
    for edge in node.edges:
        if edge.least >= bound:
            break  # the edges are in order of `least`: none after this one can win
        kind = edge.kind
        if kind == SEGMENT:
            size = len(values)
            if edge.whole:
                if not edge.test(segment):
                    continue
                values.append(segment)
            else:
                match = edge.fullmatch(segment)
                if match is None:
                    continue
                values.extend(match.groups())
            result = _find(edge.node, segments, i + 1, values, bound)
            del values[size:]
        elif kind == PATH:
            result = _find_path(edge, segments, i, values, bound)
        else:
            result = _find_tail(edge, segments, i, values)
        if result is not None:
            found = result
            bound = result[0]
    return found


def _find_path(
    edge: Edge, segments: list[str], i: int, values: list[str], bound: int
) -> Found | None:
    """`<path:p>` over segments[i:k], the fewest segments first (its regex is lazy)."""
    found: Found | None = None
    for k in range(i + 1, len(segments) + 1):
        if edge.least >= bound:
            break
        text = "/".join(segments[i:k])
        if edge.fullmatch(text) is None:
            continue
        values.append(text)
        result = _find(edge.node, segments, k, values, bound)
        values.pop()
        if result is not None:
            found = result
            bound = result[0]
    return found


def _find_tail(edge: Edge, segments: list[str], i: int, values: list[str]) -> Found | None:
    """One route whose rest of pattern is a regex over the rest of the path."""
    match = edge.fullmatch("/".join(segments[i:]))
    leaf = edge.tail
    if match is None or leaf is None:
        return None
    params = leaf.convert([*values, *match.groups()])
    return None if params is None else (leaf.index, leaf.route, params)


Part = str | tuple[str, str]


def split_parts(parts: Sequence[Part]) -> list[list[Part]]:
    """A pattern's parts as segments (split on "/"; the first is the empty text before the
    leading "/"): literal text and (name, conv)."""
    segments: list[list[Part]] = [[]]
    for part in parts:
        if isinstance(part, tuple):
            segments[-1].append(part)
            continue
        pieces = part.split("/")
        if pieces[0]:
            segments[-1].append(pieces[0])
        for piece in pieces[1:]:
            segments.append([piece] if piece else [])
    return [segment or [""] for segment in segments]


def _classify(segment: list[Part], regexes: Mapping[str, str]) -> tuple[int, str, str, bool]:
    """(kind, key, regex, whole) of a segment holding at least one parameter."""
    convs = [part[1] for part in segment if isinstance(part, tuple)]
    if len(segment) == 1 and convs == ["path"]:
        return PATH, "<path>", regexes["path"], True
    if all(conv in SEGMENT_CONVERTERS for conv in convs):
        whole = len(segment) == 1
        regex = "".join(_regex(part, regexes) for part in segment)
        return SEGMENT, _signature(segment), regex, whole
    return TAIL, "", "", False


def _regex(part: Part, regexes: Mapping[str, str]) -> str:
    return f"({regexes[part[1]]})" if isinstance(part, tuple) else re.escape(part)


def _signature(parts: Sequence[Part]) -> str:
    return "".join(f"<{part[1]}>" if isinstance(part, tuple) else part for part in parts)
