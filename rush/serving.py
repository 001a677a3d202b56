"""What an app serves from disk, mixed into `Rush`: static folders, files and templates.

The work is done by rush.static (a per-worker cache of pre-rendered small files, sendfile for
large ones, inotify freshness) and rush.templating (compiled Jinja2 templates, invalidated by
the same kind of watch); this module is the app's API over them and the watchers each worker
registers in its loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, TypeVar

from rush.exceptions import ConfigError
from rush.fileresponse import FileResponse, cache_control_line
from rush.request import Request
from rush.response import Response
from rush.static import DEFAULT_CACHE_CONTROL, StaticFiles, StaticMount
from rush.templating import Templates

if TYPE_CHECKING:
    from rush.fixedanswers import FixedAnswers
    from rush.routing import Route, Router

F = TypeVar("F", bound=Callable[..., Any])


class Serving:
    """Static folders, `send_file`, templates; needs the app's router and `add_route`."""

    if TYPE_CHECKING:
        router: Router
        static_files: StaticFiles
        fixed_answers: FixedAnswers
        templates: Templates

        def add_route(
            self, path: str, endpoint: Any, methods: Any = None, /, **options: Any
        ) -> Route: ...

    def static(
        self,
        url: str,
        directory: str | os.PathLike[str],
        *,
        cache_control: str | None = "no-cache",
        dotfiles: bool = False,
        index: str | None = "index.html",
        preload: bool = False,
        endpoint: str | None = None,
    ) -> StaticMount:
        """Serve every file below `directory` at `url/...` (see rush.static for the rules).

        `directory` is relative to the app's root (the module of `import_name`, else the
        current directory); a missing one is a ConfigError now, not a 404 later.
        `preload=True` reads the small files into the cache before the workers fork.
        `endpoint` names it for `url_for(endpoint, filename=...)`: "static" for the first
        folder, `"static" + url` (`"static/assets"`) for the others.
        """
        if endpoint is None:
            endpoint = "static" if "static" not in self.router.endpoints else "static" + url
        mount = self.static_files.mount(
            url, directory, cache_control=cache_control, dotfiles=dotfiles, index=index
        )
        self.add_route(mount.url + "/<path:filename>", mount.serve, ["GET"], endpoint=endpoint)
        self.add_route(mount.url + "/", mount.serve, ["GET"], endpoint=endpoint)
        if preload:
            mount.preload()
        return mount

    def static_file(
        self,
        url: str,
        path: str | os.PathLike[str],
        *,
        cache_control: str | None = DEFAULT_CACHE_CONTROL,
    ) -> Route:
        """Answer GET (and HEAD) `url` with the file at `path` (relative to the app's root),
        as a handler returning `send_file(path)` would: its type from its name, ETag and
        Last-Modified, conditional requests and ranges. While the file is small enough for
        the cache, each worker's server sends it without calling Python (rush.fixedanswers)
        and inotify keeps it fresh. A missing file is a ConfigError now.
        """
        if not isinstance(url, str) or not url.startswith("/") or "<" in url:
            raise ConfigError(
                f"static_file {url!r}: the URL must start with '/' and take no parameters"
            )
        files = self.static_files
        key = files.absolute(path)
        if not os.path.isfile(key):
            raise ConfigError(f"static_file {url!r}: {os.fspath(path)!r} ({key}) is not a file")
        send_file = files.send_file

        def static_file_endpoint(request: Request) -> Response:
            return send_file(key, cache_control=cache_control)

        static_file_endpoint.__qualname__ = f"static_file({url!r} -> {os.fspath(path)!r})"
        static_file_endpoint.__name__ = "<static_file>"  # no endpoint name for url_for
        route = self.add_route(url, static_file_endpoint, ["GET"])
        lines = cache_control_line(cache_control) if cache_control else b""
        self.fixed_answers.file_routes.setdefault(key, []).append(
            (url, lines, static_file_endpoint)
        )
        return route

    def send_file(self, path: str | os.PathLike[str] | IO[bytes], **options: Any) -> Response:
        """Answer with a file the app chose (trusted path): 404 if missing, 403 if unreadable;
        or with an open file object (read whole; `mimetype` or `download_name` says its type).

        Options: `mimetype`, `as_attachment`, `download_name`, `cache_control`.
        """
        if options:
            return self.static_files.send_file(path, **options)
        return self.static_files.send_file(path)  # PERF: a call with **{} costs 2k instructions

    def send_from_directory(
        self, directory: str | os.PathLike[str], name: str, **options: Any
    ) -> FileResponse:
        """Answer with `directory/name` where `name` comes from the client: 404 if it
        leaves `directory` in any way. Options as for `send_file`."""
        return self.static_files.send_from_directory(directory, name, **options)

    def preload(self, *paths: str | os.PathLike[str]) -> int:
        """Read files (or the files below directories) into the cache now, in the master."""
        return self.static_files.preload(paths)

    def watchers(self) -> list[Any]:
        """Called by each worker after the fork: objects with fileno() / on_readable() for
        its event loop (the inotify watchers that keep the file cache and the compiled
        templates fresh)."""
        return [*self.static_files.start_watching(), *self.templates.start_watching()]

    @property
    def jinja_env(self) -> Any:
        """The app's jinja2.Environment (made on first use), as Flask's `app.jinja_env`."""
        return self.templates.environment

    def template_filter(self, name: str | Callable[..., Any] | None = None) -> Any:
        """Register a Jinja2 filter: `@app.template_filter()`, `@app.template_filter("name")`
        or `@app.template_filter`, as in Flask (the function's name by default)."""
        return self._template_decorator("filters", name)

    def template_test(self, name: str | Callable[..., Any] | None = None) -> Any:
        """Register a Jinja2 test (`{% if n is prime %}`), spelled as `template_filter`."""
        return self._template_decorator("tests", name)

    def template_global(self, name: str | Callable[..., Any] | None = None) -> Any:
        """Register a function every template can call, spelled as `template_filter`."""
        return self._template_decorator("globals", name)

    def add_template_filter(self, func: Callable[..., Any], name: str | None = None) -> None:
        """`template_filter` without the decorator."""
        self.templates.register("filters", name, func)

    def add_template_test(self, func: Callable[..., Any], name: str | None = None) -> None:
        """`template_test` without the decorator."""
        self.templates.register("tests", name, func)

    def add_template_global(self, func: Callable[..., Any], name: str | None = None) -> None:
        """`template_global` without the decorator."""
        self.templates.register("globals", name, func)

    def context_processor(self, func: F) -> F:
        """Run `func()` (or `func(request)`, the render's request) at each render; the dict
        it returns is added to the template's context, under what the render passes."""
        self.templates.add_context_processor(func)
        return func

    def _template_decorator(self, kind: str, name: str | Callable[..., Any] | None) -> Any:
        if callable(name):  # used bare, without parentheses
            self.templates.register(kind, None, name)
            return name

        def decorator(func: F) -> F:
            self.templates.register(kind, name, func)
            return func

        return decorator

    def render_template(
        self, name: str | Iterable[str], /, request: Request | None = None, **context: Any
    ) -> Response:
        """Render the Jinja2 template `name` (relative to the template folder; a list:
        the first that exists) with `context` as a response, HTML unless the name's
        extension says otherwise. Pass the handler's `request` so that the template sees
        `request`, `session` and `get_flashed_messages`; `url_for` and `config` are always
        there. A missing template is a jinja2.TemplateNotFound naming it (a logged 500)."""
        return self.templates.render(name, request, context)

    def render_template_string(
        self, source: str, /, request: Request | None = None, **context: Any
    ) -> Response:
        """Render a template given as text (autoescaped), as `render_template` does."""
        return self.templates.render_string(source, request, context)
