"""Jinja2 templates for an app: finding them, compiling each once per worker, rendering them.

Owns the app's Jinja2 Environment, made on the first render (so only apps that render import
Jinja2: `pip install 'rush[templates]'`), its loader over the template folders, and keeping the
compiled templates fresh. It must not touch sockets or the event loop: the worker registers the
watcher it gets from `Templates.start_watching()`.

Facts and strategy:
- Freshness without stat(): each worker watches the template folders (every directory below
  them, and the folders' own names) with a `rush.watch.DirectoryWatcher` after the fork, and
  forgets a compiled template when inotify reports a change to its name, so an edited template
  is used by every worker at its next render. Templates compiled before the fork are dropped
  when watching starts. Without a watcher (the test client, a folder over the inotify limit)
  Jinja2 compares the file's mtime at each render instead.
- A template extending or including another looks that one up when it renders, so forgetting
  the changed name alone is enough.
- Autoescaping is on for .html, .htm, .xml, .xhtml and .svg, and for templates from strings.
- Every template sees `request`, `session`, `url_for`, `get_flashed_messages` and `config`.
  `session` and `get_flashed_messages` are derived from `request` only when a template names
  them, so rendering reads no cookie (and needs no secret key) otherwise.
- Filters, tests and globals the app registers are kept here and given to the environment
  when it is made (at once if it exists): registering imports no Jinja2. Context processors
  run at each render; what the render is given wins over what they return, as in Flask.
"""

from __future__ import annotations

import inspect
import logging
import mimetypes
import os
import posixpath
from collections.abc import Callable, Iterable
from typing import Any

from rush.exceptions import ConfigError
from rush.response import Response
from rush.routing import lineage
from rush.watch import DirectoryWatcher

error_log = logging.getLogger("rush.error")

AUTOESCAPE_EXTENSIONS = ("html", "htm", "xml", "xhtml", "svg")
_HTML = "text/html; charset=utf-8"
_TEXT_TYPES = ("application/xml", "application/json", "application/javascript", "image/svg+xml")
# Names a template may use that are worked out from its `request` only when it uses them.
_DERIVED = {
    "session": lambda request: request.session,
    "get_flashed_messages": lambda request: request.get_flashed_messages,
}


class Templates:
    """One per app: its Jinja2 environment (made on first use), the per-process cache of
    compiled templates, and the inotify watcher that keeps that cache fresh."""

    def __init__(self, app: Any, folders: Iterable[str]) -> None:
        self.app = app
        self._own = [os.path.abspath(folder) for folder in folders]
        self.watcher: DirectoryWatcher | None = None
        self._environment: Any = None
        self._roots: list[tuple[str, str]] = []  # (real path, absolute path) of each folder
        self._content_types: dict[str, str] = {}
        # Whether Jinja2 must check each file's mtime (no watcher, or some directory unwatched).
        self._checked = True
        #: What the app registered for the environment: "filters", "tests", "globals".
        self.registered: dict[str, dict[str, Any]] = {"filters": {}, "tests": {}, "globals": {}}
        #: (function, whether it takes the request) for each context processor, in order.
        self.context_processors: list[tuple[Callable[..., Any], bool]] = []
        #: The same for the renders of each blueprint's requests (Blueprint.context_processor).
        self.blueprint_context_processors: dict[str, list[tuple[Callable[..., Any], bool]]] = {}

    @property
    def folders(self) -> list[str]:
        """Absolute template folders, searched in order: the app's, then those of its
        blueprints as they were registered (Flask's order); read when the loader is made."""
        extra = getattr(self.app, "blueprint_template_folders", ())
        return [*self._own, *(folder for folder in extra if folder not in self._own)]

    @property
    def environment(self) -> Any:
        """The jinja2.Environment; made on first use, with the options documented above."""
        environment = self._environment
        if environment is None:
            environment = self._environment = self._create_environment()
        return environment

    def _create_environment(self) -> Any:
        try:
            import jinja2
        except ImportError:
            raise ConfigError("templates need Jinja2: pip install 'rush[templates]'") from None

        class RequestContext(jinja2.runtime.Context):
            """Looks up `session` and `get_flashed_messages` from `request` when a template
            names them and nothing else defines them (Jinja2's documented hook)."""

            def resolve_or_missing(self, key: str) -> Any:
                if key in self.vars:
                    return self.vars[key]
                if key in self.parent:
                    return self.parent[key]
                derive = _DERIVED.get(key)
                request = self.parent.get("request")
                if derive is not None and request is not None:
                    return derive(request)
                return jinja2.runtime.missing

        app = self.app

        def url_for(endpoint: str, **values: Any) -> str:
            build = getattr(app, "url_for", None)
            if build is None:
                raise RuntimeError("url_for: this app cannot build URLs (no app.url_for)")
            return build(endpoint, **values)  # type: ignore[no-any-return]

        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.folders),
            autoescape=jinja2.select_autoescape(AUTOESCAPE_EXTENSIONS, default_for_string=True),
            cache_size=-1,  # every template stays compiled: their number is that of the files
            auto_reload=self._checked,
        )
        environment.context_class = RequestContext
        environment.globals.update(url_for=url_for, config=app.config)
        for kind, values in self.registered.items():
            getattr(environment, kind).update(values)
        return environment

    # -- what the app adds ---------------------------------------------------------------------

    def register(self, kind: str, name: str | None, value: Any) -> None:
        """A filter, test or global (`kind`) under `name`, else the function's own name."""
        if name is None:
            name = getattr(value, "__name__", None)
            if not isinstance(name, str) or name == "<lambda>":
                raise ConfigError(f"template {kind[:-1]} {value!r}: give it a name")
        self.registered[kind][name] = value
        if self._environment is not None:
            getattr(self._environment, kind)[name] = value

    def add_context_processor(self, func: Callable[..., Any], blueprint: str | None = None) -> None:
        """`func()` or `func(request)` returns a dict merged into each render's context (with
        `blueprint`: each render given the request of a route of that blueprint)."""
        try:
            parameters = len(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            parameters = -1
        if parameters not in (0, 1):
            raise ConfigError(
                f"context_processor {func!r}: it is called as f() or f(request) and returns a dict"
            )
        processors = (
            self.context_processors
            if blueprint is None
            else self.blueprint_context_processors.setdefault(blueprint, [])
        )
        processors.append((func, parameters == 1))

    def _processors(self, request: Any) -> list[tuple[Callable[..., Any], bool]]:
        """The app's context processors, then those of the request's blueprints, outermost
        first (as in Flask: an inner blueprint's values win)."""
        processors = self.context_processors
        if self.blueprint_context_processors and request is not None:
            blueprint = request.blueprint
            if blueprint is not None:
                processors = processors + [
                    processor
                    for name in lineage(blueprint)
                    for processor in self.blueprint_context_processors.get(name, ())
                ]
        return processors

    def _context(self, request: Any, context: dict[str, Any]) -> dict[str, Any]:
        processors = self._processors(request)
        if processors:
            merged: dict[str, Any] = {}
            for processor, takes_request in processors:
                values = processor(request) if takes_request else processor()
                if not isinstance(values, dict):
                    raise TypeError(
                        f"context processor {processor!r} returned {type(values).__name__}, "
                        "not a dict"
                    )
                merged.update(values)
            context = {**merged, **context}
        if request is not None:
            context["request"] = request
        return context

    # -- rendering -------------------------------------------------------------------------

    def render(self, name: str | Iterable[str], request: Any, context: dict[str, Any]) -> Response:
        """The template `name` (or the first of several that exists) as a response whose type
        follows the name's extension (HTML by default). A missing template is a
        jinja2.TemplateNotFound naming it and the folders searched."""
        environment = self.environment
        if isinstance(name, str):
            template = environment.get_template(name)
        else:
            template = environment.select_template(list(name))
        context = self._context(request, context)
        return Response(template.render(context), content_type=self.content_type(template.name))

    def render_string(self, source: str, request: Any, context: dict[str, Any]) -> Response:
        """A template given as text (autoescaped), rendered as an HTML response."""
        template = self.environment.from_string(source)
        return Response(template.render(self._context(request, context)))

    def content_type(self, name: str | None) -> str:
        found = self._content_types.get(name or "")
        if found is None:
            guessed = mimetypes.guess_type(name or "")[0] or "text/html"
            if guessed == "text/html":
                found = _HTML
            elif guessed.startswith("text/") or guessed in _TEXT_TYPES:
                found = guessed + "; charset=utf-8"
            else:
                found = guessed
            self._content_types[name or ""] = found
        return found

    # -- the watcher -----------------------------------------------------------------------

    def start_watching(self) -> list[DirectoryWatcher]:
        """Called in each worker after the fork: watch the folders that exist, and forget
        what was compiled before (a change between compiling and watching would be missed)."""
        self.stop_watching()
        self._roots = [(os.path.realpath(f), f) for f in self.folders if os.path.isdir(f)]
        if not self._roots:
            return []
        try:
            watcher = DirectoryWatcher(self.on_change, self.clear)
        except OSError as exc:
            error_log.warning("cannot use inotify (%s); templates are checked with stat()", exc)
            return []
        self.watcher = watcher
        watched = all([self._watch_tree(real, parent=True) for real, _ in self._roots])
        self._set_auto_reload(not watched)
        self.clear()
        return [watcher]

    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
            self._set_auto_reload(True)

    def on_change(self, path: str, tree: bool) -> None:
        """A watched directory entry changed: forget the templates named by it (or below it),
        and watch a directory that appeared."""
        for real, _ in self._roots:
            if path == real or real.startswith(path + "/"):
                # The folder itself (or a directory above it) was replaced, moved or deleted.
                self.clear()
                if not self._watch_tree(real, parent=True):
                    self._set_auto_reload(True)
                return
            if path.startswith(real + "/"):
                self._forget(path[len(real) + 1 :])
                if os.path.isdir(path) and not self._watch_tree(path):
                    self._set_auto_reload(True)
                return
        if not any(os.path.dirname(path) == os.path.dirname(real) for real, _ in self._roots):
            self.clear()  # somewhere we cannot name (below a symlinked directory)

    def clear(self) -> None:
        """Forget every compiled template (also after an inotify queue overflow)."""
        if self._environment is not None:
            self._environment.cache.clear()

    def _forget(self, name: str) -> None:
        cache = self._environment.cache if self._environment is not None else None
        if not cache:
            return
        prefix = name + "/"
        for key in list(cache):
            template_name = posixpath.normpath(key[1])
            if template_name == name or template_name.startswith(prefix):
                cache.pop(key, None)

    def _watch_tree(self, top: str, parent: bool = False) -> bool:
        """Watch `top` and every directory below it (and, with `parent`, the directory that
        holds `top`, to see it replaced); False when some could not be watched."""
        watcher = self.watcher
        if watcher is None:
            return False
        ok = watcher.watch(os.path.dirname(top)) if parent else True
        for directory, _, _ in os.walk(top, followlinks=True):
            ok = watcher.watch(os.path.realpath(directory)) and ok
        return ok

    def _set_auto_reload(self, value: bool) -> None:
        self._checked = value
        if self._environment is not None:
            self._environment.auto_reload = value
