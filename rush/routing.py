"""The route table: static paths in a dict, parameter routes in one regex per method.

Facts and strategy (the shape of bottle's Router):
- A path without parameters costs one dict lookup (`static[path][method]`).
- Parameter routes of one method are joined into a single alternation; `match.lastindex`
  says which route matched (its outer group closes last), so a request costs one regex call.
- Static routes win over parameter routes; parameter routes match in registration order.
- 404 vs 405 (and the `Allow` list) is worked out only on a miss.
- Every mistake in a pattern is raised when the route is added, naming the route.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rush.exceptions import RouteError

_PARAM = re.compile(r"<(?:(?P<conv>[a-zA-Z_][a-zA-Z0-9_]*):)?(?P<name>[^<>:]*)>")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: converter name -> (regex, function from the matched text to the handler's argument)
CONVERTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "string": (r"[^/]+", str),
    "int": (r"[0-9]+", int),
    "float": (r"[0-9]+\.[0-9]+", float),
    "path": (r"[^/].*?", str),
    "uuid": (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        uuid.UUID,
    ),
}

HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


@dataclass(eq=False)
class Route:
    """One pattern bound to one endpoint for a set of methods."""

    pattern: str
    methods: frozenset[str]
    endpoint: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)
    params: list[tuple[str, Callable[[str], Any]]] = field(default_factory=list)
    regex: str = ""
    signature: str = ""

    @property
    def is_static(self) -> bool:
        return not self.params

    def __repr__(self) -> str:
        return f"<Route {'|'.join(sorted(self.methods))} {self.pattern}>"


def compile_pattern(pattern: str) -> tuple[str, list[tuple[str, Callable[[str], Any]]], str]:
    """Pattern -> (regex body, [(name, converter)], signature for duplicate detection)."""
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise RouteError(f"route {pattern!r}: a pattern must be a string starting with '/'")
    regex: list[str] = []
    signature: list[str] = []
    params: list[tuple[str, Callable[[str], Any]]] = []
    position = 0
    for match in _PARAM.finditer(pattern):
        literal = pattern[position : match.start()]
        if "<" in literal or ">" in literal:
            raise RouteError(f"route {pattern!r}: unbalanced '<' or '>'")
        regex.append(re.escape(literal))
        signature.append(literal)
        conv = match.group("conv") or "string"
        name = match.group("name")
        if not _IDENTIFIER.match(name):
            raise RouteError(f"route {pattern!r}: {name!r} is not a valid parameter name")
        if conv not in CONVERTERS:
            raise RouteError(
                f"route {pattern!r}: unknown converter {conv!r} "
                f"(known: {', '.join(sorted(CONVERTERS))})"
            )
        if any(name == existing for existing, _ in params):
            raise RouteError(f"route {pattern!r}: parameter {name!r} appears twice")
        conv_regex, convert = CONVERTERS[conv]
        regex.append(f"({conv_regex})")
        signature.append(f"<{conv}>")
        params.append((name, convert))
        position = match.end()
    tail = pattern[position:]
    if "<" in tail or ">" in tail:
        raise RouteError(f"route {pattern!r}: unbalanced '<' or '>'")
    regex.append(re.escape(tail))
    signature.append(tail)
    return "".join(regex), params, "".join(signature)


class Router:
    """Maps (method, path) to a Route and its converted parameters."""

    def __init__(self) -> None:
        self.static: dict[str, dict[str, Route]] = {}
        self.dynamic: list[Route] = []
        self._signatures: dict[tuple[str, str], Route] = {}
        self._matchers: dict[str, tuple[Callable[[str], Any], list[Route]]] | None = None

    def add(
        self,
        pattern: str,
        methods: list[str] | tuple[str, ...] | frozenset[str],
        endpoint: Callable[..., Any],
        **options: Any,
    ) -> Route:
        if not callable(endpoint):
            raise RouteError(f"route {pattern!r}: the endpoint {endpoint!r} is not callable")
        if isinstance(methods, str):
            raise RouteError(f"route {pattern!r}: methods must be a list, not a string")
        upper = frozenset(m.upper() for m in methods)
        if not upper:
            raise RouteError(f"route {pattern!r}: no methods")
        unknown = upper - HTTP_METHODS
        if unknown:
            raise RouteError(f"route {pattern!r}: unknown method(s) {', '.join(sorted(unknown))}")
        regex, params, signature = compile_pattern(pattern)
        for method in upper:
            other = self._signatures.get((method, signature))
            if other is not None:
                raise RouteError(
                    f"duplicate route: {method} {pattern!r} is already bound to "
                    f"{_name(other.endpoint)} (by {other.pattern!r})"
                )
        route = Route(pattern, upper, endpoint, options, params, regex, signature)
        for method in upper:
            self._signatures[(method, signature)] = route
        if route.is_static:
            methods_map = self.static.setdefault(pattern, {})
            for method in upper:
                methods_map[method] = route
        else:
            self.dynamic.append(route)
            self._matchers = None
        return route

    def _build_matchers(self) -> dict[str, tuple[Callable[[str], Any], list[Route]]]:
        by_method: dict[str, list[Route]] = {}
        for route in self.dynamic:
            for method in route.methods:
                by_method.setdefault(method, []).append(route)
        matchers: dict[str, tuple[Callable[[str], Any], list[Route]]] = {}
        for method, routes in by_method.items():
            # Each route is one outer group; inner groups are its parameters. Python's `re`
            # allows at most 100 groups per pattern in old versions; modern ones have no limit.
            alternatives = [f"({route.regex})" for route in routes]
            combined = re.compile("^(?:" + "|".join(alternatives) + ")$")
            index_to_route: list[Route] = [None] * (combined.groups + 1)  # type: ignore[list-item]
            group = 1
            for route in routes:
                index_to_route[group] = route
                group += 1 + len(route.params)
            matchers[method] = (combined.match, index_to_route)
        return matchers

    def compile(self) -> None:
        """Build the per-method regexes now instead of at the first request."""
        self._matchers = self._build_matchers()

    def match_dynamic(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        matchers = self._matchers
        if matchers is None:
            matchers = self._matchers = self._build_matchers()
        entry = matchers.get(method)
        if entry is None:
            return None
        match_fn, index_to_route = entry
        match = match_fn(path)
        if match is None:
            return None
        outer = match.lastindex
        assert outer is not None
        route = index_to_route[outer]
        params = route.params
        try:
            if len(params) == 1:
                # PERF: one parameter is the usual case: no groups() tuple, no comprehension.
                name, convert = params[0]
                return route, {name: convert(match.group(outer + 1))}
            values = match.groups()[outer : outer + len(params)]  # groups()[k] is group k+1
            pairs = zip(params, values, strict=True)
            return route, {name: convert(value) for (name, convert), value in pairs}
        except ValueError:
            return None  # e.g. a float too odd for float(); treat as no match

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        methods = self.static.get(path)
        if methods is not None:
            route = methods.get(method)
            if route is not None:
                return route, {}
        return self.match_dynamic(method, path)

    def allowed_methods(self, path: str) -> set[str]:
        """Methods some route accepts for `path` (computed on the miss path only)."""
        allowed: set[str] = set(self.static.get(path, ()))
        if self._matchers is None:
            self._matchers = self._build_matchers()
        for method in self._matchers.keys() - allowed:
            if self.match_dynamic(method, path) is not None:
                allowed.add(method)
        return allowed


def _name(endpoint: Callable[..., Any]) -> str:
    return getattr(endpoint, "__qualname__", None) or repr(endpoint)
