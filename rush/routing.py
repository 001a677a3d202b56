"""The route table: static paths in a dict, parameter routes in a segment trie per method.

Facts and strategy:
- A path without parameters costs one dict lookup (`static[path][method]`).
- Parameter routes of one method are a trie of path segments (rush.routetrie), so a match
  costs the depth of the path whatever the number of routes (walked in C where built).
- Static routes win over parameter routes; among parameter routes the first registered one
  that matches wins (the order one regex alternation of all routes would give).
- 404 vs 405 (and the `Allow` list) is worked out only on a miss: one walk per method.
- Every mistake in a route is raised when it is added, naming the route: a bad pattern, an
  unknown option (a typo like `method=` would otherwise silently make a GET route), a bad
  method list, a handler whose signature cannot take `(request, **params)` (which would
  otherwise register fine and answer 500 on every request), and an endpoint name already
  given to another handler.
- Reverse routing (`build`) runs the converters backwards and checks the result against the
  converter's own regex, so a URL that is built is a URL that matches. It never touches the
  matching tables. A trailing slash toggled (`match_other_slash`) is tried on a miss only.
"""

from __future__ import annotations

import difflib
import inspect
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from types import FunctionType
from typing import Any
from urllib.parse import quote, urlencode

import rush.routetrie as routetrie
from rush.exceptions import RouteError
from rush.routetrie import Matcher, RouteTrie

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
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 §5.6.2

#: Route options a user may pass (`endpoint` is Flask's endpoint name, for url_for;
#: `strict_slashes=False` lets `/x/` also answer `/x` and the reverse, instead of a 308).
#: The app's body options (rush.bodies) are known too: their names are read from the
#: `body_options` value that `rush.bodies.prepare_route` adds, so routing need not import bodies.
USER_OPTIONS = frozenset(("max_body", "stream", "endpoint", "strict_slashes"))
#: Options the app adds itself (`rush.bodies.prepare_route`), never typed by a user.
INTERNAL_OPTIONS = frozenset(("body_options", "stream_handler"))


class BuildError(RouteError):
    """`url_for` cannot build a URL: an unknown endpoint, a missing or unfit parameter."""


#: converter name -> function from a value to the text of its path segment(s)
_TO_URL: dict[str, Callable[[Any], str]] = {
    "string": lambda value: quote(str(value), safe=_SEGMENT_SAFE),
    "int": lambda value: str(int(value)) if type(value) is not bool else "",
    "float": lambda value: repr(float(value)),
    "path": lambda value: quote(str(value), safe=_SEGMENT_SAFE + "/"),
    "uuid": lambda value: str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))),
}
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"  # RFC 3986 §3.3 pchar, less "%" (always escaped)
_FULL = {name: re.compile(regex + r"\Z") for name, (regex, _) in CONVERTERS.items()}


@dataclass(eq=False)
class Route:
    """One pattern bound to one endpoint for a set of methods.

    `endpoint` is the handler; `name` is its endpoint name for url_for (Flask's endpoint:
    `func`, or `bp.func` in a blueprint; None for a route url_for cannot name, such as a
    lambda); `blueprint` is the dotted name of the blueprint that registered it, if any.
    """

    pattern: str
    methods: frozenset[str]
    endpoint: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)
    params: list[tuple[str, Callable[[str], Any]]] = field(default_factory=list)
    regex: str = ""
    signature: str = ""
    name: str | None = None
    blueprint: str | None = None
    #: The pattern for building: literal text and (parameter name, converter name) in turn.
    parts: tuple[str | tuple[str, str], ...] = ()
    #: The name of the route's one parameter where `endpoint(request, value)` is the same call
    #: as `endpoint(request, name=value)` (PERF: App.handle then passes it by position, ~1.7k
    #: instructions less than a keyword call); else None.
    positional: str | None = None

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


def build_parts(pattern: str) -> tuple[str | tuple[str, str], ...]:
    """A checked pattern as literal text and (name, converter) pairs, for `Router.build`."""
    parts: list[str | tuple[str, str]] = []
    position = 0
    for match in _PARAM.finditer(pattern):
        if match.start() > position:
            parts.append(pattern[position : match.start()])
        parts.append((match.group("name"), match.group("conv") or "string"))
        position = match.end()
    if position < len(pattern):
        parts.append(pattern[position:])
    return tuple(parts)


class Router:
    """Maps (method, path) to a Route and its converted parameters."""

    def __init__(self) -> None:
        self.static: dict[str, dict[str, Route]] = {}
        self.dynamic: list[Route] = []
        self._signatures: dict[tuple[str, str], Route] = {}
        #: method -> its parameter routes (rush.routetrie), and the function matching them
        self.tries: dict[str, RouteTrie] = {}
        self.matchers: dict[str, Matcher] = {}
        # Every parameter route, whatever its methods: whether any could take a path (405).
        self._any_trie = RouteTrie()
        self._any_match = routetrie.matcher_of(self._any_trie)
        #: endpoint name -> its routes (one handler may have several), for `build`
        self.endpoints: dict[str, list[Route]] = {}
        #: What a miss may answer by toggling the trailing slash (a static route's path with
        #: the slash toggled; whether a parameter route ends in "/" or has strict_slashes=False):
        #: a miss that is neither costs a set lookup, not a second routing (notfound workload).
        self.slash_paths: set[str] = set()
        self.slash_dynamic = False
        #: The first path segment of every route, of any method (None once a route's first
        #: segment has a parameter): a miss whose first segment is none of these is a 404
        #: whatever its method or trailing slash, known without the miss path's walks. ""
        #: (that of "/", and of "*") is always there: the miss path answers `OPTIONS *`.
        self.heads: set[str] | None = {""}

    def add(
        self,
        pattern: str,
        methods: list[str] | tuple[str, ...] | frozenset[str],
        endpoint: Callable[..., Any],
        /,
        **options: Any,
    ) -> Route:
        if not callable(endpoint):
            raise RouteError(f"route {pattern!r}: the endpoint {endpoint!r} is not callable")
        _check_options(pattern, options)
        upper = _check_methods(pattern, methods)
        regex, params, signature = compile_pattern(pattern)
        _check_signature(pattern, endpoint, [name for name, _ in params])
        for method in upper:
            other = self._signatures.get((method, signature))
            if other is not None:
                raise RouteError(
                    f"duplicate route: {method} {pattern!r} is already bound to "
                    f"{_name(other.endpoint)} (by {other.pattern!r})"
                )
        name = self._check_endpoint_name(pattern, endpoint, options)
        route = Route(pattern, upper, endpoint, options, params, regex, signature, name)
        route.parts = build_parts(pattern)
        route.positional = _positional_name(endpoint, params)
        for method in upper:
            self._signatures[(method, signature)] = route
        if name is not None:
            self.endpoints.setdefault(name, []).append(route)
        head = first_segment(pattern)
        if self.heads is not None:
            if "<" in head:
                self.heads = None
            else:
                self.heads.add(head)
        if route.is_static:
            if pattern.endswith("/") and pattern != "/":
                self.slash_paths.add(pattern[:-1])
            elif options.get("strict_slashes") is False and pattern != "/":
                self.slash_paths.add(pattern + "/")
            methods_map = self.static.setdefault(pattern, {})
            for method in upper:
                methods_map[method] = route
        else:
            self._add_dynamic(route)
            if pattern.endswith("/") or options.get("strict_slashes") is False:
                self.slash_dynamic = True
        return route

    def _add_dynamic(self, route: Route) -> None:
        regexes = {conv: regex for conv, (regex, _) in CONVERTERS.items()}
        for method in route.methods:
            trie = self.tries.get(method)
            if trie is None:
                trie = self.tries[method] = RouteTrie()
                self.matchers[method] = routetrie.matcher_of(trie)  # follows later inserts
            trie.insert(route, len(self.dynamic), regexes)
        self._any_trie.insert(route, len(self.dynamic), regexes)
        self.dynamic.append(route)

    def compile(self) -> None:
        """Kept for callers that prepare the table at startup: the matchers are built as
        routes are added, so there is nothing left to do."""

    def match_dynamic(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        matcher = self.matchers.get(method)
        return None if matcher is None else matcher(path)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        methods = self.static.get(path)
        if methods is not None:
            route = methods.get(method)
            if route is not None:
                return route, {}
        # PERF: match_dynamic inlined (one Python call less on every parameter route and miss).
        matcher = self.matchers.get(method)
        return None if matcher is None else matcher(path)

    def match_other_slash(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        """The route for `path` with its trailing slash added or removed (HEAD may use a GET
        route): the miss path's check for a 308 to `/x/` or a `strict_slashes=False` route."""
        if not self.slash_dynamic and path not in self.slash_paths:
            return None
        if path.endswith("/"):
            if path == "/":
                return None
            other = path[:-1]
        else:
            other = path + "/"
        methods = self.static.get(other)
        if methods is not None:
            route = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
            if route is not None:
                return route, {}
        if not self.slash_dynamic:
            return None
        found = self.match_dynamic(method, other)
        if found is None and method == "HEAD":
            found = self.match_dynamic("GET", other)
        return found

    def all_methods(self) -> set[str]:
        """Every method some route accepts (`OPTIONS *` asks for them: RFC 9110 §9.3.7)."""
        methods = set(self.matchers)
        for routes in self.static.values():
            methods.update(routes)
        return methods

    def allowed_methods(self, path: str, missed: str | None = None) -> set[str]:
        """Methods some route accepts for `path` (computed on the miss path only). `missed`:
        a method whose parameter routes are known not to match `path` (PERF: a 404 does not
        walk its own method's trie twice, bench/routes.py 404)."""
        methods = self.static.get(path)
        # PERF: set() when no static route has the path (every 404): set(()) costs ~1k more.
        allowed: set[str] = set(methods) if methods is not None else set()
        matchers = self.matchers
        if len(matchers) > 1 or missed not in matchers:
            # PERF: where a miss would walk another method's trie, one walk of every parameter
            # route tells a 404 that no method has one for `path` (no loop over the methods:
            # notfound ~1k instructions less), and a 405 the methods of the first that matches.
            found = self._any_match(path)
            if found is None:
                return allowed
            allowed.update(found[0].methods)
        for method, match in matchers.items():
            if method not in allowed and method != missed and match(path) is not None:
                allowed.add(method)
        return allowed

    # -- reverse routing -------------------------------------------------------------------

    def _check_endpoint_name(
        self, pattern: str, endpoint: Callable[..., Any], options: dict[str, Any]
    ) -> str | None:
        """The route's endpoint name; one name may not stand for two different handlers."""
        name = options.get("endpoint")
        if name is None:
            name = getattr(endpoint, "__name__", None)
            if not isinstance(name, str):
                return None
        if name.rpartition(".")[2].startswith("<"):
            return None  # `<lambda>`: nothing url_for could be asked for
        routes = self.endpoints.get(name)
        if routes is not None:
            mine = inspect.unwrap(options.get("stream_handler", endpoint))
            theirs = inspect.unwrap(routes[0].options.get("stream_handler", routes[0].endpoint))
            if mine != theirs:
                raise RouteError(
                    f"route {pattern!r}: endpoint name {name!r} is already used by "
                    f"{_name(theirs)} (for {routes[0].pattern!r}); give this route "
                    "another name with endpoint="
                )
        return name

    def build(
        self, endpoint: str, params: Mapping[str, Any] | None = None, method: str | None = None
    ) -> str:
        """The URL (path and query string) of `endpoint` with `params`: the route's parameters
        fill its pattern, the others go to the query string (None values are left out)."""
        _route, path, query = self.build_route(endpoint, params or {}, method)
        return f"{path}?{query}" if query else path

    def build_route(
        self, endpoint: str, params: Mapping[str, Any], method: str | None = None
    ) -> tuple[Route, str, str]:
        """(route, path, query string) for `endpoint`; raises BuildError naming the problem.

        Of the endpoint's routes (for `method`, if given), the first of those taking the
        most parameters whose own parameters are all given is used (Werkzeug's order).
        """
        routes = self.endpoints.get(endpoint)
        if routes is None:
            raise BuildError(
                f"url_for({endpoint!r}): no such endpoint{_suggest(endpoint, self.endpoints)}"
            )
        if method is not None:
            method = method.upper()
            routes = [
                r
                for r in routes
                if method in r.methods or (method == "HEAD" and "GET" in r.methods)
            ]
            if not routes:
                raise BuildError(f"url_for({endpoint!r}): no route of it accepts {method}")
        candidates = sorted(routes, key=lambda r: -len(r.params))
        for route in candidates:
            if all(name in params and params[name] is not None for name, _ in route.params):
                path = _fill(endpoint, route, params)
                names = {name for name, _ in route.params}
                extra = [(k, v) for k, v in params.items() if k not in names and v is not None]
                return route, path, urlencode(extra, doseq=True) if extra else ""
        fewest = candidates[-1]
        missing = [name for name, _ in fewest.params if params.get(name) is None]
        raise BuildError(
            f"url_for({endpoint!r}): missing parameter{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} for {fewest.pattern!r}"
        )


def _fill(endpoint: str, route: Route, params: Mapping[str, Any]) -> str:
    """The route's pattern with each parameter converted back to URL text, checked."""
    out: list[str] = []
    for part in route.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        name, conv = part
        value = params[name]
        try:
            text = _TO_URL[conv](value)
        except (TypeError, ValueError, OverflowError):
            text = ""
        if not _FULL[conv].match(text):
            raise BuildError(
                f"url_for({endpoint!r}): {name}={value!r} does not fit <{conv}:{name}> "
                f"in {route.pattern!r}"
            )
        out.append(text)
    return "".join(out)


def _name(endpoint: Callable[..., Any]) -> str:
    return getattr(endpoint, "__qualname__", None) or repr(endpoint)


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, [c for c in candidates if c != word], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_options(pattern: str, options: dict[str, Any]) -> None:
    """Refuse an option nobody reads; `methods` is a candidate for the typo `method`."""
    known = set(USER_OPTIONS)
    body_options = options.get("body_options")
    if body_options is not None and is_dataclass(body_options):
        known.update(spec.name for spec in fields(body_options))
    unknown = sorted(options.keys() - known - INTERNAL_OPTIONS)
    if not unknown:
        endpoint_name = options.get("endpoint")
        if endpoint_name is not None and not isinstance(endpoint_name, str):
            raise RouteError(
                f"route {pattern!r}: endpoint must be a name (a string), not {endpoint_name!r}"
            )
        return
    candidates = known | {"methods"}
    described = ", ".join(f"{name!r}{_suggest(name, candidates)}" for name in unknown)
    raise RouteError(
        f"route {pattern!r}: unknown option{'s' if len(unknown) > 1 else ''} {described}; "
        f"known: methods, {', '.join(sorted(known))}"
    )


def _check_methods(pattern: str, methods: Any) -> frozenset[str]:
    """The method names, uppercased; a string, a non-string or a non-method is refused."""
    if isinstance(methods, str):
        raise RouteError(
            f"route {pattern!r}: methods must be a list, not a string (use methods=[{methods!r}])"
        )
    if isinstance(methods, bytes) or not isinstance(methods, Iterable):
        raise RouteError(
            f"route {pattern!r}: methods must be a list of method names, not {methods!r}"
        )
    upper: set[str] = set()
    for name in methods:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise RouteError(f"route {pattern!r}: {name!r} is not a method name")
        upper.add(name.upper())
    if not upper:
        raise RouteError(f"route {pattern!r}: no methods")
    unknown = sorted(upper - HTTP_METHODS)
    if unknown:
        described = ", ".join(f"{name}{_suggest(name, HTTP_METHODS)}" for name in unknown)
        raise RouteError(f"route {pattern!r}: unknown method(s) {described}")
    return frozenset(upper)


class _Default:
    """Shows a parameter default as `...` in error messages, whatever its repr."""

    def __repr__(self) -> str:
        return "..."


def _describe(endpoint: Callable[..., Any], signature: inspect.Signature) -> str:
    """`show_user(request, user_id=...)`: the handler as the user wrote it, minus annotations."""
    empty = inspect.Parameter.empty
    plain = [
        p.replace(annotation=empty, default=empty if p.default is empty else _Default())
        for p in signature.parameters.values()
    ]
    return f"{_name(endpoint)}{signature.replace(parameters=plain, return_annotation=empty)}"


def first_segment(path: str) -> str:
    """What `Router.heads` holds of a pattern and App.handle looks up of a path: the text up
    to the second "/" ("" for "/" and "//x")."""
    return path[1:].partition("/")[0]


def _positional_name(
    endpoint: Callable[..., Any], params: list[tuple[str, Callable[[str], Any]]]
) -> str | None:
    """Route.positional: only a plain function is read (its code, not a signature a decorator
    may claim through __wrapped__), whose second parameter takes the route's one parameter
    by position or by keyword alike."""
    if len(params) != 1 or type(endpoint) is not FunctionType:
        return None
    code = endpoint.__code__
    name = params[0][0]
    if code.co_argcount >= 2 and code.co_posonlyargcount <= 1 and code.co_varnames[1] == name:
        return name
    return None


def _check_signature(pattern: str, endpoint: Callable[..., Any], params: list[str]) -> None:
    """The endpoint is called as `endpoint(request, **params)`: check it can be, now."""
    try:
        signature = inspect.signature(endpoint)  # follows __wrapped__ (stream routes)
    except (TypeError, ValueError):
        return  # some builtins and C callables have no readable signature: trust them
    problem = _signature_problem(signature, params)
    if problem is not None:
        raise RouteError(f"route {pattern!r}: handler {_describe(endpoint, signature)} {problem}")


def _signature_problem(signature: inspect.Signature, params: list[str]) -> str | None:
    """What stops a call `f(request, **params)` with this signature, or None."""
    kind = inspect.Parameter
    parameters = list(signature.parameters.values())
    positional = [
        p for p in parameters if p.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD)
    ]
    has_var_positional = any(p.kind is kind.VAR_POSITIONAL for p in parameters)
    has_var_keyword = any(p.kind is kind.VAR_KEYWORD for p in parameters)
    request = positional[0] if positional else None
    if request is None and not has_var_positional:
        return "takes no positional argument for the request"
    by_name = {p.name: p for p in parameters if p is not request}
    for name in params:
        if request is not None and name == request.name:
            return (
                f"cannot take parameter {name!r}: that name is its first argument, "
                "which receives the request"
            )
        target = by_name.get(name)
        if target is not None and target.kind is kind.POSITIONAL_ONLY:
            if target.default is kind.empty or not has_var_keyword:
                return f"cannot take parameter {name!r} by keyword: it is positional-only"
            continue  # the value goes to **kwargs; the positional-only one keeps its default
        named = target is not None and target.kind in (
            kind.POSITIONAL_OR_KEYWORD,
            kind.KEYWORD_ONLY,
        )
        if not named and not has_var_keyword:
            return f"cannot take parameter {name!r}"
    missing = [
        p.name
        for p in parameters
        if p is not request
        and p.default is kind.empty
        and p.kind not in (kind.VAR_POSITIONAL, kind.VAR_KEYWORD)
        and (p.kind is kind.POSITIONAL_ONLY or p.name not in params)
    ]
    if missing:
        listed = ", ".join(repr(name) for name in missing)
        supplied = f" (it supplies {', '.join(repr(n) for n in params)})" if params else ""
        return f"requires {listed}, which the route does not supply{supplied}"
    return None


def lineage(blueprint: str) -> list[str]:
    """The blueprint `a.b.c` (a route's dotted `blueprint`) and those it is nested in,
    outermost first: a, a.b, a.b.c."""
    parts = blueprint.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]
