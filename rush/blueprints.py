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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rush.exceptions import ConfigError, RouteError
from rush.paths import root_path_of
from rush.scaffold import Handler, Scaffold

if TYPE_CHECKING:
    from rush.app import Rush

__all__ = ["Blueprint", "BlueprintSetupState"]


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
        first = not self._registered
        app.blueprints[state.name] = self
        self._registered = True
        if self.static_folder is not None:
            url = _join(state.url_prefix, self.static_url_path)
            app.static(url, self.static_folder, endpoint=f"{state.name}.static")
        if self.template_folder is not None:
            if self.template_folder not in app.blueprint_template_folders:
                app.blueprint_template_folders.append(self.template_folder)
        app.add_blueprint_hooks(state.name, self.before_request_funcs, self.after_request_funcs)
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
