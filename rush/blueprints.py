"""Blueprints: routes, hooks, error handlers and folders recorded now, added to an app later.

A `Blueprint` has the app's decorators (rush.scaffold) but applies nothing: each route and
nested blueprint is recorded, and `app.register_blueprint(bp)` replays the records with the
registration's URL prefix and dotted name (`bp.func`, `parent.child.func`), as Flask's
`record`/`BlueprintSetupState` do. Its hooks and error handlers go to the app's tables under
its name, where the app picks them by the matched route. It owns no request handling, and
nothing may be added to it once registered (the replay would never see it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rush.exceptions import ConfigError, HTTPError, RouteError
from rush.paths import root_path_of
from rush.response import Response
from rush.routing import BuildError, lineage
from rush.scaffold import F, Handler, Scaffold
from rush.static import StaticMount

if TYPE_CHECKING:
    from rush.app import Rush
    from rush.request import Request
    from rush.routing import Router

__all__ = [
    "Blueprint",
    "BlueprintHost",
    "BlueprintSetupState",
    "qualified_name",
    "run_after_hooks",
]


class BlueprintSetupState:
    """One registration of a blueprint on an app: its full name and URL prefix."""

    name: str
    url_prefix: str

    def __init__(
        self,
        blueprint: Blueprint,
        app: Rush,
        url_prefix: str | None,
        name: str | None,
        parent: BlueprintSetupState | None,
    ) -> None:
        own = blueprint.name if name is None else _check_name(name, "name")
        self.blueprint = blueprint
        self.app = app
        #: Whether this is the blueprint's first registration (on any app), as in Flask.
        self.first_registration = not blueprint._registered
        self.name = f"{parent.name}.{own}" if parent is not None else own
        prefix = blueprint.url_prefix if url_prefix is None else _check_prefix(url_prefix)
        if parent is not None and parent.url_prefix:
            prefix = _join(parent.url_prefix, prefix) if prefix else parent.url_prefix
        self.url_prefix = prefix or ""

    def add_route(
        self,
        path: str,
        func: Handler,
        methods: list[str] | tuple[str, ...] | None,
        options: dict[str, Any],
    ) -> None:
        """The recorded route, with the prefix on its path and the name on its endpoint."""
        options = dict(options)
        endpoint = options.get("endpoint") or getattr(func, "__name__", None)
        if isinstance(endpoint, str):
            options["endpoint"] = f"{self.name}.{endpoint}"
        full = _join(self.url_prefix, path) if self.url_prefix else path
        route = self.app.add_route(full, func, methods, **options)
        route.blueprint = self.name


class Blueprint(Scaffold):
    """A part of an app: `bp = Blueprint("admin", __name__, url_prefix="/admin")`.

    `static_folder` (relative to the blueprint's module) is served at `url_prefix +
    static_url_path` (default "/static") as endpoint `"<name>.static"`; `template_folder`
    is resolved the same way and listed in `app.blueprint_template_folders` on registration.
    """

    def __init__(
        self,
        name: str,
        import_name: str,
        *,
        url_prefix: str | None = None,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
    ) -> None:
        Scaffold.__init__(self)
        self.name = _check_name(name, "name")
        self.import_name = import_name
        self.url_prefix = None if url_prefix is None else _check_prefix(url_prefix)
        #: The blueprint's module directory: where its relative folders start.
        self.root_path = root_path_of(import_name)
        self.static_folder = self._folder(static_folder)
        if static_url_path is not None and not static_url_path.startswith("/"):
            raise ConfigError(f"blueprint {name!r}: static_url_path must start with '/'")
        self.static_url_path = static_url_path or "/static"
        self.template_folder = self._folder(template_folder)
        #: What `register` replays: routes and nested blueprints, in the order given.
        self.deferred_functions: list[Callable[[BlueprintSetupState], Any]] = []
        self._registered = False

    def _folder(self, folder: str | os.PathLike[str] | None) -> str | None:
        if folder is None:
            return None
        return os.path.abspath(os.path.join(self.root_path, os.fspath(folder)))

    def check_setup(self, what: str) -> None:
        """Refuse a registration (`what`) once the blueprint is registered: a ConfigError."""
        if self._registered:
            raise ConfigError(
                f"blueprint {self.name!r}: {what} after it was registered on an app; "
                "set up a blueprint completely before app.register_blueprint()"
            )

    def record(self, func: Callable[[BlueprintSetupState], Any]) -> None:
        """Call `func(state)` each time the blueprint is registered (Flask's `record`)."""
        self.check_setup("record")
        self.deferred_functions.append(func)

    def record_once(self, func: Callable[[BlueprintSetupState], Any]) -> None:
        """Call `func(state)` at the blueprint's first registration only (Flask's)."""
        self.record(lambda state: func(state) if state.first_registration else None)

    # -- what a blueprint registers on the whole app (Flask's app_* decorators) ---------------

    def before_app_request(self, func: F) -> F:
        """`app.before_request(func)` for every request of the app, not only this blueprint's."""
        self.record_once(lambda state: state.app.before_request(func))
        return func

    def after_app_request(self, func: F) -> F:
        """`app.after_request(func)`: for every request of the app."""
        self.record_once(lambda state: state.app.after_request(func))
        return func

    def teardown_app_request(self, func: F) -> F:
        """`app.teardown_request(func)`: for every request of the app."""
        self.record_once(lambda state: state.app.teardown_request(func))
        return func

    def app_errorhandler(self, code_or_exception: int | type[BaseException]) -> Callable[[F], F]:
        """`app.errorhandler(...)`: the app's handler, for errors raised anywhere."""
        self.check_setup("app_errorhandler")

        def decorator(func: F) -> F:
            self.record_once(lambda state: state.app.errorhandler(code_or_exception)(func))
            return func

        return decorator

    def context_processor(self, func: F) -> F:
        """`func()` or `func(request)` adds its dict to the context of each template rendered
        with the request of one of this blueprint's routes (`render_template(name,
        request=request)`), after the app's processors, as Flask's blueprint processors do."""
        self.record(lambda state: state.app.templates.add_context_processor(func, state.name))
        return func

    def app_context_processor(self, func: F) -> F:
        """`app.context_processor(func)`: for every template the app renders."""
        self.record_once(lambda state: state.app.context_processor(func))
        return func

    def app_template_filter(self, name: str | None = None) -> Callable[[F], F]:
        """`app.template_filter(name)`: a filter every template of the app has."""
        return self._app_template("filters", name)

    def app_template_test(self, name: str | None = None) -> Callable[[F], F]:
        """`app.template_test(name)`: a test every template of the app has."""
        return self._app_template("tests", name)

    def app_template_global(self, name: str | None = None) -> Callable[[F], F]:
        """`app.template_global(name)`: a global every template of the app has."""
        return self._app_template("globals", name)

    def add_app_template_filter(self, func: Callable[..., Any], name: str | None = None) -> None:
        """`app_template_filter` without the decorator."""
        self._app_template("filters", name)(func)

    def add_app_template_test(self, func: Callable[..., Any], name: str | None = None) -> None:
        """`app_template_test` without the decorator."""
        self._app_template("tests", name)(func)

    def add_app_template_global(self, func: Callable[..., Any], name: str | None = None) -> None:
        """`app_template_global` without the decorator."""
        self._app_template("globals", name)(func)

    def _app_template(self, kind: str, name: str | None) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            self.record_once(lambda state: state.app.templates.register(kind, name, func))
            return func

        return decorator

    def add_route(
        self,
        path: str,
        endpoint: Handler,
        methods: list[str] | tuple[str, ...] | None = None,
        /,
        **options: Any,
    ) -> None:
        """Record a route; its path gets the URL prefix and its endpoint name the blueprint's
        name when the blueprint is registered."""
        self.check_setup("route")
        if not isinstance(path, str) or not (path == "" or path.startswith("/")):
            raise RouteError(f"route {path!r}: a pattern must be a string starting with '/'")
        name = options.get("endpoint")
        if name is None:
            name = getattr(endpoint, "__name__", "")
        if isinstance(name, str) and "." in name:
            raise RouteError(
                f"route {path!r} of blueprint {self.name!r}: endpoint {name!r} may not contain "
                "a dot (the blueprint's name is added to it)"
            )
        self.record(lambda state: state.add_route(path, endpoint, methods, options))

    def register_blueprint(
        self, blueprint: Blueprint, *, url_prefix: str | None = None, name: str | None = None
    ) -> None:
        """Nest `blueprint`: registered with this one, under `<this name>.<its name>` and
        this one's URL prefix followed by its own."""
        if blueprint is self:
            raise ConfigError(f"blueprint {self.name!r} cannot be registered on itself")
        prefix = None if url_prefix is None else _check_prefix(url_prefix)
        self.record(
            lambda state: blueprint.register(state.app, url_prefix=prefix, name=name, parent=state)
        )

    def register(
        self,
        app: Rush,
        *,
        url_prefix: str | None = None,
        name: str | None = None,
        parent: BlueprintSetupState | None = None,
    ) -> BlueprintSetupState:
        """Add everything recorded to `app` (what `app.register_blueprint` calls)."""
        state = BlueprintSetupState(self, app, url_prefix, name, parent)
        existing = app.blueprints.get(state.name)
        if existing is self:
            raise ConfigError(
                f"blueprint {state.name!r} is already registered; to register it again, "
                "give it another name with name="
            )
        if existing is not None:
            raise ConfigError(
                f"blueprint name {state.name!r} is already taken by another blueprint "
                f"(from {existing.import_name}); give this one another name with name="
            )
        first = state.first_registration
        app.blueprints[state.name] = self
        self._registered = True
        if self.static_folder is not None:
            url = _join(state.url_prefix, self.static_url_path)
            app.static(url, self.static_folder, endpoint=f"{state.name}.static")
        if self.template_folder is not None:
            if self.template_folder not in app.blueprint_template_folders:
                app.blueprint_template_folders.append(self.template_folder)
        app.add_blueprint_hooks(
            state.name,
            self.before_request_funcs,
            self.after_request_funcs,
            self.teardown_request_funcs,
        )
        if self.error_handlers:
            app.blueprint_error_handlers[state.name] = dict(self.error_handlers)
        if first:  # worker hooks run once per process, however often the blueprint is used
            app.startup_funcs.extend(self.startup_funcs)
            app.shutdown_funcs.extend(self.shutdown_funcs)
        for deferred in self.deferred_functions:
            deferred(state)
        return state

    def __repr__(self) -> str:
        return f"<Blueprint {self.name!r}>"


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name or "." in name:
        raise ConfigError(
            f"blueprint {what} {name!r}: need a non-empty string without dots "
            "(dots separate nested blueprints in endpoint names)"
        )
    return name


def _check_prefix(prefix: Any) -> str:
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ConfigError(f"blueprint url_prefix {prefix!r} must start with '/'")
    return prefix


def _join(prefix: str, path: str) -> str:
    """Flask's join: `/admin` + `/users` -> `/admin/users`; `/admin` + `/` -> `/admin/`."""
    if not path:
        return prefix
    return prefix.rstrip("/") + "/" + path.lstrip("/")


class BlueprintHost:
    """The app's side of blueprints and reverse routing, mixed into `Rush`: registering
    blueprints, running their hooks for their own routes, and `url_for`."""

    if TYPE_CHECKING:
        router: Router
        server_name: str | None
        static_versioning: bool
        before_request_funcs: list[Any]
        after_request_funcs: list[Any]
        blueprint_before_request_funcs: dict[str, list[Handler]]
        blueprint_after_request_funcs: dict[str, list[Handler]]
        teardown_request_funcs: list[Any]
        blueprint_teardown_request_funcs: dict[str, list[Handler]]

        def _run_teardown(
            self, request: Request, error: Exception | None, hooks: Iterable[Handler] | None = None
        ) -> None: ...

    def register_blueprint(
        self, blueprint: Blueprint, *, url_prefix: str | None = None, name: str | None = None
    ) -> None:
        """Add the blueprint's routes (under `url_prefix`, else its own), hooks, error
        handlers and folders; `name=` registers the same blueprint again under another name."""
        blueprint.register(self, url_prefix=url_prefix, name=name)  # type: ignore[arg-type]

    def before_request(self, func: F) -> F:
        """Run `func(request)` before each handler; a non-None return value is the answer.
        The app's hooks run before any blueprint's."""
        funcs = self.before_request_funcs
        if funcs and funcs[-1] == self._run_blueprint_before:
            funcs.insert(len(funcs) - 1, func)
        else:
            funcs.append(func)
        return func

    def add_blueprint_hooks(
        self,
        name: str,
        before: list[Handler],
        after: list[Handler],
        teardown: list[Handler] = [],  # noqa: B006  # read, never changed
    ) -> None:
        """Hooks that run only for the routes of blueprint `name` (and its children).

        The app's own hook lists get one dispatcher each (before: last; after and teardown:
        first, since a blueprint's run before the app's), so an app without blueprint hooks
        keeps its fast path."""
        if before:
            self.blueprint_before_request_funcs.setdefault(name, []).extend(before)
            if self._run_blueprint_before not in self.before_request_funcs:
                self.before_request_funcs.append(self._run_blueprint_before)
        if after:
            self.blueprint_after_request_funcs.setdefault(name, []).extend(after)
            if self._run_blueprint_after not in self.after_request_funcs:
                self.after_request_funcs.insert(0, self._run_blueprint_after)
        if teardown:
            self.blueprint_teardown_request_funcs.setdefault(name, []).extend(teardown)
            if self._run_blueprint_teardown not in self.teardown_request_funcs:
                self.teardown_request_funcs.insert(0, self._run_blueprint_teardown)

    def _run_blueprint_before(self, request: Request) -> Any:
        """An app before hook: the before hooks of the route's blueprints, outermost first."""
        if request.route is None:  # app hooks run before routing; stream routes are routed
            found = self.router.match(request.method, request.path)
            if found is None and request.method == "HEAD":
                found = self.router.match("GET", request.path)
            if found is None:
                found = self.router.match_other_slash(request.method, request.path)
                if found is None or found[0].options.get("strict_slashes", True):
                    return None  # the miss path answers it, with the app's hooks only
            request.route, request.view_args = found
        blueprint = request.route.blueprint
        if blueprint is None:
            return None
        for name in lineage(blueprint):
            for hook in self.blueprint_before_request_funcs.get(name, ()):
                rv = hook(request)
                if rv is not None:
                    return rv
        return None

    def _run_blueprint_after(self, request: Request, response: Response) -> Response:
        """An app after hook: the after hooks of the route's blueprints, innermost first."""
        route = request.route
        if route is None or route.blueprint is None:
            return response
        for name in reversed(lineage(route.blueprint)):
            hooks = self.blueprint_after_request_funcs.get(name, ())
            response = run_after_hooks(hooks, request, response)
        return response

    def _run_blueprint_teardown(self, request: Request, error: Exception | None) -> None:
        """An app teardown hook: those of the route's blueprints, innermost first (each
        runs, whatever the others do)."""
        route = request.route
        if route is None or route.blueprint is None:
            return
        for name in reversed(lineage(route.blueprint)):
            self._run_teardown(request, error, self.blueprint_teardown_request_funcs.get(name, ()))

    def url_for(
        self,
        endpoint: str,
        *,
        request: Request | None = None,
        _external: bool = False,
        _scheme: str | None = None,
        _anchor: str | None = None,
        _method: str | None = None,
        _version: bool | None = None,
        **params: Any,
    ) -> str:
        """The URL of `endpoint` ("func", "bp.func", ".func" within the request's blueprint,
        "static"): route parameters fill the pattern, the others become the query string.

        `_external=True` (implied by `_scheme`) gives an absolute URL, from the request's
        scheme and Host when `request=` is given, else `server_name`. `_version=True` (the
        default with `static_versioning=True`) adds `v=<content version>` to a static file's
        URL, from the file cache's ETag, so the URL changes when the file does (a file that
        does not exist gets no version).
        Raises BuildError (a RouteError) for an unknown endpoint or a missing parameter.
        """
        if endpoint.startswith("."):
            route = request.route if request is not None else None
            if route is None or route.blueprint is None:
                raise BuildError(
                    f"url_for({endpoint!r}): a relative endpoint needs request= of a blueprint"
                )
            endpoint = route.blueprint + endpoint
        route, path, query = self.router.build_route(endpoint, params, _method)
        if _version or (_version is None and self.static_versioning):
            mount = getattr(route.endpoint, "__self__", None)
            filename = params.get("filename")
            if isinstance(mount, StaticMount) and filename is not None:
                try:
                    version = f"v={mount.version(str(filename))}"
                except HTTPError:
                    version = ""  # no such file: its URL will answer 404, without a version
                if version:
                    query = f"{query}&{version}" if query else version
        url = f"{path}?{query}" if query else path
        if _anchor is not None:
            url += "#" + quote(_anchor, safe="!$&'()*+,;=:@-._~/?")
        if not (_external or _scheme):
            return url
        if request is not None:
            host, scheme = request.host, request.scheme
        else:
            host, scheme = self.server_name or "", "http"
        if not host:
            raise BuildError(
                f"url_for({endpoint!r}, _external=True): no host; pass request= "
                "or set server_name= on the app"
            )
        return f"{_scheme or scheme}://{host}{url}"


def run_after_hooks(hooks: Iterable[Handler], request: Any, response: Response) -> Response:
    """`response` through after_request hooks in order; each may return a replacement."""
    for hook in hooks:
        rv = hook(request, response)
        if rv is not None:
            if not isinstance(rv, Response):
                raise TypeError(
                    f"after_request hook {qualified_name(hook)} returned {type(rv).__name__}, "
                    "not a Response (or None)"
                )
            response = rv
    return response


def qualified_name(func: Any) -> str:
    """`module.qualname` of a handler or hook, for log lines and errors that name it."""
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or repr(func)
    return f"{module}.{name}" if module else name
