"""The application object: routes, hooks, error handling, and turning return values into answers.

The server sees a Rush app only through the methods of its `Handler` protocol
(rush.server.connection): `prepare` in the master; `startup`, `watchers`, `shutdown` in each
worker; per request `body_plan` (for a head that announces a body) and `handle`, which takes
the parsed message and returns an answer (status, header lines, body) that the server frames.
It knows nothing of sockets and never spells the wire format.

One catch point per error family: `handle` never raises (except SystemExit and
KeyboardInterrupt). An HTTPError becomes its page or the registered handler's answer; anything
else a handler, hook, error handler or return value does wrong is logged once with its
traceback, naming the handler, and answered 500. A value that must not be sent (a status
outside 100..599, CR/LF/NUL or non-latin-1 in a header) is refused while the answer is built.
Hot path: one route lookup, the handler, one tuple. Hooks, error handlers and the `Response`
object are only paid for by apps and requests that use them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rush.appconfig import AppConfig
from rush.blueprints import BlueprintHost, qualified_name, run_after_hooks
from rush.bodies import DEFAULT_OPTIONS, BodyOptions, StreamSink, open_sink, prepare_route
from rush.errorhandling import ErrorHandling
from rush.exceptions import ConfigError, HTTPError, NotFound
from rush.fileresponse import FileResponse
from rush.fixedanswers import FixedAnswers, routed_by
from rush.protocol import RequestMessage
from rush.protocol.parser import BodyPlan
from rush.protocol.writer import (
    Answer,
    InvalidAnswer,
    check_status,
)
from rush.request import Request, decode_path, new_request
from rush.response import (
    HTML_LINE,
    JSON_LINE,
    Response,
    dump_json,
    field_lines,
    response_from,
)
from rush.routing import Route, Router
from rush.scaffold import F, Handler, Scaffold
from rush.serving import Serving
from rush.sessions import SessionStore
from rush.static import DEFAULT_CACHE_BYTES, DEFAULT_THRESHOLD, StaticFiles
from rush.templating import Templates
from rush.wsgiapp import serve as serve_wsgi

if TYPE_CHECKING:
    from rush.blueprints import Blueprint

error_log = logging.getLogger("rush.error")

REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))
# PERF: the router's 404 is a NotFound made without its Python __init__ (BaseException's
# __new__ sets args to (404, None), the class says status 404): 3.2k -> 1.6k instructions,
# on every request no route matches (bench/micro.py --instructions notfound).
new_not_found = NotFound.__new__


class Rush(ErrorHandling, BlueprintHost, Serving, Scaffold):
    """A Rush application: register routes with decorators, then `run()` it.

    Hooks and where they run:

    - `before_request` / `after_request`: around every request, in the worker that serves it;
      `teardown_request` once its answer is made, whatever happened.
    - `on_startup` / `on_shutdown`: once in every worker process, after the fork and before
      exit (so each worker opens its own database connections); once in all with workers=1.

    Module-level code of the app runs once, in the master, before the workers are forked.

    Where things are, and URLs:

    - `import_name` (pass `__name__`): relative folders start at that module's directory
      (else the current directory).
    - `static_folder`, served at `static_url` ("/static"); more folders with `static()`.
      `file_cache_threshold` (256 KiB) and `file_cache_bytes` (64 MiB): the per-worker cache
      of small files.
    - `server_name`: the host of `url_for(..., _external=True)` without a request;
      `static_versioning=True`: every static URL gets `?v=<version>`.
    - `max_body`: the request body limit of every route (else the server's, 1 GiB).

    Request bodies (see rush.bodies.BodyOptions; each may also be given per route):

    - `spool_threshold` (1 MiB): a larger body, or the files of a larger form, go to an
      anonymous temporary file in `spool_dir` (None: $TMPDIR) as they arrive, deleted when
      the request ends.
    - `max_form_parts` (1000), `max_form_field_size` (1 MiB per non-file field),
      `max_form_memory` (8 MiB of non-file fields in all), `max_part_header_size` (8 KiB):
      multipart limits, each answered 413.

    Templates, sessions, settings:
    - `template_folder` ("templates" beside the app's module): Jinja2 templates for
      `render_template` (rush.templating).
    - `secret_key` (else the RUSH_SECRET_KEY environment variable): signs the session cookie
      (rush.sessions); the same as `app.config["SECRET_KEY"]`.
    - `debug`: an unhandled exception's 500 page shows its traceback. Never in production.
    """

    def __init__(
        self,
        import_name: str | None = None,
        *,
        max_body: int | None = None,
        spool_threshold: int = DEFAULT_OPTIONS.spool_threshold,
        max_form_parts: int = DEFAULT_OPTIONS.max_form_parts,
        max_form_field_size: int = DEFAULT_OPTIONS.max_form_field_size,
        max_form_memory: int = DEFAULT_OPTIONS.max_form_memory,
        max_part_header_size: int = DEFAULT_OPTIONS.max_part_header_size,
        spool_dir: str | None = None,
        static_folder: str | os.PathLike[str] | None = None,
        static_url: str = "/static",
        file_cache_bytes: int = DEFAULT_CACHE_BYTES,
        file_cache_threshold: int = DEFAULT_THRESHOLD,
        server_name: str | None = None,
        static_versioning: bool = False,
        template_folder: str | os.PathLike[str] | None = "templates",
        secret_key: str | bytes | None = None,
        debug: bool = False,
    ) -> None:
        self.import_name = import_name
        #: The host (and port) of `url_for(..., _external=True)` when no request is given.
        self.server_name = server_name
        #: Whether `url_for` of a static file adds `?v=<version of its content>` by default.
        self.static_versioning = static_versioning
        self.router = Router()
        #: Default request body limit in bytes; None means the server's limit (1 GiB).
        self.max_body = max_body
        #: How bodies are kept and the form limits, for routes that do not override them.
        self.body_options = BodyOptions(
            spool_threshold,
            max_form_parts,
            max_form_field_size,
            max_form_memory,
            max_part_header_size,
            spool_dir,
        )
        # A body with a known length up to this stays in memory without asking the router
        # (the smallest spool_threshold of any route) unless its request may reach a route
        # with a body plan of its own (stream=True or its own max_body): the raw paths of
        # those, each with and without its trailing slash; None once one of them is dynamic.
        self._body_in_memory = spool_threshold
        self._body_route_paths: set[bytes] | None = set()
        Scaffold.__init__(self)
        #: Registered blueprints by dotted name, and what they registered for their requests
        #: (rush.blueprints fills these; hooks and error handlers are picked by route).
        self.blueprints: dict[str, Blueprint] = {}
        self.blueprint_before_request_funcs: dict[str, list[Handler]] = {}
        self.blueprint_after_request_funcs: dict[str, list[Handler]] = {}
        self.blueprint_teardown_request_funcs: dict[str, list[Handler]] = {}
        self.blueprint_error_handlers: dict[str, dict[int | type[BaseException], Handler]] = {}
        #: Template folders of the blueprints, in registration order, searched after the app's.
        self.blueprint_template_folders: list[str] = []
        #: Files: static folders, send_file, and this process's cache of small files.
        self.static_files = StaticFiles.for_app(import_name, file_cache_threshold, file_cache_bytes)
        #: GET target -> answer the server may send without building a Request: redirects, and
        #: the cached files of static folders and static_file routes (rush.fixedanswers).
        self.fixed_answers = FixedAnswers(self.static_files, routed_by(self.router))
        # PERF: `send_file` answers straight from the cache, without the call of the documented
        # method in rush.serving, which only forwards (~600 instructions per file answer).
        self.send_file = self.static_files.send_file  # type: ignore[method-assign, assignment]
        #: The folder of `static_folder=` (`app.static_folder`), if any.
        self.static_mount = (
            None if static_folder is None else self.static(static_url, static_folder)
        )
        #: Flask's place for extensions to keep their state on the app.
        self.extensions: dict[str, Any] = {}
        #: The app's settings (SECRET_KEY, SESSION_COOKIE_*, DEBUG, your own): rush.appconfig.
        self.config = AppConfig(self.static_files.root_path)
        self.config["SECRET_KEY"] = secret_key or os.environ.get("RUSH_SECRET_KEY") or None
        self.config["DEBUG"] = debug
        #: Reads and writes the session cookie with the settings of `config`.
        self.session_store = SessionStore(self.config)
        folders = [] if template_folder is None else [self.static_files.absolute(template_folder)]
        #: The Jinja2 templates (rush.templating); Jinja2 is imported at the first render.
        self.templates = Templates(self, folders)
        #: Your app's logger; the `rush` command shows its records (rush.app.<import_name>).
        self.logger = logging.getLogger(f"rush.app.{import_name or 'app'}")

    # -- Flask's names for what the app was given ---------------------------------------

    @property
    def name(self) -> str:
        """The import name (`__name__`), or the main script's name when it is `__main__`."""
        name = self.import_name or "app"
        if name == "__main__":
            main = getattr(sys.modules.get("__main__"), "__file__", None)
            return os.path.splitext(os.path.basename(main))[0] if main else name
        return name

    @property
    def root_path(self) -> str:
        """The folder relative paths start at: the app's module's, else the current one."""
        return self.static_files.root_path

    @property
    def static_folder(self) -> str | None:
        """The absolute path of the `static_folder=` folder, or None."""
        return None if self.static_mount is None else self.static_mount.root

    @property
    def static_url_path(self) -> str | None:
        """The URL the `static_folder=` folder is served at, or None."""
        return None if self.static_mount is None else self.static_mount.url

    @property
    def view_functions(self) -> dict[str, Handler]:
        """Endpoint name -> its function, as Flask's (a copy: add routes with `route`)."""
        return {name: routes[0].endpoint for name, routes in self.router.endpoints.items()}

    def send_static_file(self, filename: str) -> FileResponse:
        """A file of the `static_folder=` folder (404 if it is not there), as Flask's."""
        if self.static_mount is None:
            raise RuntimeError("'static_folder' must be set to serve static files")
        return self.static_mount.serve(None, filename)

    @property
    def secret_key(self) -> str | bytes | None:
        """`config["SECRET_KEY"]`: signs the session cookie."""
        return self.config.get("SECRET_KEY")  # type: ignore[no-any-return]

    @secret_key.setter
    def secret_key(self, value: str | bytes | None) -> None:
        self.config["SECRET_KEY"] = value

    @property
    def debug(self) -> bool:
        """`config["DEBUG"]`: show tracebacks on 500 pages (`rush --debug`). Never in production."""
        return bool(self.config.get("DEBUG"))

    @debug.setter
    def debug(self, value: bool) -> None:
        self.config["DEBUG"] = bool(value)

    # -- registering ---------------------------------------------------------------------

    def add_route(
        self,
        path: str,
        endpoint: Handler,
        methods: list[str] | tuple[str, ...] | None = None,
        /,
        **options: Any,
    ) -> Route:
        """Bind `endpoint` to `path` for `methods` now (else the endpoint's own `methods`,
        as a class-based view has, else GET); see `route` for the options."""
        if methods is None:
            methods = getattr(endpoint, "methods", None)
        endpoint = prepare_route(self.body_options, endpoint, options)
        route = self.router.add(path, methods or ["GET"], endpoint, **options)
        if options.get("max_body") is not None or options.get("stream"):
            if route.is_static and self._body_route_paths is not None:
                raw = route.pattern.rstrip("/").encode("utf-8")
                self._body_route_paths.update((raw, raw + b"/"))
            else:
                self._body_route_paths = None
        if not options.get("stream"):
            threshold = options["body_options"].spool_threshold
            self._body_in_memory = min(self._body_in_memory, threshold)
        return route

    def teardown_appcontext(self, func: F) -> F:
        """Flask's spelling for closing what a request opened (the Flask tutorial's
        `close_db`): `func(error)` once each request's answer is made, as a teardown_request
        hook given no request. Rush has no application context apart from the request."""
        self.teardown_request(lambda request, error: func(error))
        return func

    def redirect(self, path: str, location: str, status: int = 301) -> None:
        """Answer GET `path` with a redirect to `location`, rendered once at startup."""
        if status not in REDIRECT_CODES:
            raise ConfigError(f"redirect {path!r}: {status} is not a redirect status")
        if any(ch in location for ch in "\r\n\x00"):
            raise ConfigError(f"redirect {path!r}: the location contains a control character")
        if "<" in path:
            raise ConfigError(f"redirect {path!r}: a redirect path takes no parameters")
        response = Response(b"", status, {"Location": location}, content_type="")
        try:
            answer = response.answer()
        except InvalidAnswer as exc:
            raise ConfigError(f"redirect {path!r}: {exc}") from None

        def redirect_endpoint(request: Request) -> Response:
            return response

        redirect_endpoint.__qualname__ = f"redirect({path!r} -> {location!r})"
        redirect_endpoint.__name__ = "<redirect>"  # no endpoint name: url_for cannot ask for it
        route = self.add_route(path, redirect_endpoint, ["GET"])
        if route.is_static:
            self.fixed_answers.add(path.encode("utf-8"), answer)

    # -- what the server asks (the Handler protocol of rush.server.connection) -----------

    def prerendered(self) -> dict[bytes, Answer]:
        """GET targets the server may answer without calling the app: redirects and cached
        files (none when hooks exist: they must see every request)."""
        if self._hooked():
            return {}
        return dict(self.fixed_answers.answers)

    def follow_prerendered(self, update: Callable[[bytes, Answer | None], None]) -> None:
        """`update(target, answer)` whenever a cached file's answer comes or goes."""
        if not self._hooked():
            self.fixed_answers.follow(update)

    def _hooked(self) -> bool:
        return bool(
            self.before_request_funcs or self.after_request_funcs or self.teardown_request_funcs
        )

    def startup(self) -> None:
        """In each worker after the fork: the `on_startup` hooks."""
        for hook in self.startup_funcs:
            hook()

    def shutdown(self) -> None:
        """In each worker before it exits: the `on_shutdown` hooks; one failing is logged
        and the others still run."""
        for hook in self.shutdown_funcs:
            try:
                hook()
            except Exception:
                error_log.exception("shutdown hook %s failed", qualified_name(hook))

    def body_plan(self, message: RequestMessage, default_limit: int) -> BodyPlan:
        """What to do with the body a request head announces, decided once per head and after
        the parser returned: the limit (the route's `max_body`, else the app's, else
        `default_limit`), a sink for a body the app does not want in memory (a stream route's
        generator is primed here, its before_request hooks run here), and whether the answer
        needs the body at all (not when no route takes the request).
        """
        limit = self.max_body if self.max_body is not None else default_limit
        length = message.content_length
        small = length is not None and length <= self._body_in_memory
        raw_path = None
        if small and not message.expect_continue:
            # PERF: a small body of a known length for no route with a plan of its own: no
            # routing (post 65.5k -> 60.6k instructions, bench/micro.py --instructions). A
            # percent-encoded path may spell one of those routes: that one is routed.
            special = self._body_route_paths
            if special is not None:
                if not special:
                    return limit, None, True  # no such route: not even the path is split
                raw_path = message.target.partition(b"?")[0]
                if raw_path not in special and raw_path.find(b"%") < 0:
                    return limit, None, True
        if raw_path is None:
            raw_path = message.target.partition(b"?")[0]
        path = decode_path(raw_path)
        found = self.router.match(message.method, path)
        if found is None:
            found = self.router.match_other_slash(message.method, path)
            if found is None or found[0].options.get("strict_slashes", True):
                return limit, None, False
        options = found[0].options
        route_limit = options.get("max_body")
        if route_limit is not None:
            limit = route_limit
        if (small and not options.get("stream")) or (length is not None and length > limit):
            return limit, None, True
        return limit, open_sink(self, message, found, self._stream_request), True  # type: ignore[arg-type]

    def handle(self, message: RequestMessage, remote_addr: str | None, scheme: str) -> Answer:
        """Answer one complete request message. Never raises for app errors."""
        store = message.body_sink
        if type(store) is StreamSink:
            request = store.request  # built when its head arrived: one Request per request
            request.remote_addr = remote_addr
            request.body_store = store
            store.handled = True
        else:
            parts = message.body_parts  # PERF: message.take_body() inlined
            # PERF: built in C (rush/_request.c): Request() and its app 5.6k -> 2.1k
            # instructions for /hello?name=bill.
            request = new_request(
                message.method,
                message.target,
                message.headers,
                (parts[0] if len(parts) == 1 else b"".join(parts)) if parts else b"",
                message.version,
                message.keep_alive,
                remote_addr,
                self,
            )
            if store is not None:
                request.body_store = store
        if scheme != "http":
            request.scheme = scheme
        failure = None
        try:
            rv = self._run_before_hooks(request) if self.before_request_funcs else None
            if rv is not None:  # a hook answered
                answer = self._finish(request, rv, 200)
            else:
                found = self.router.match(request.method, request.path)
                if found is None:
                    heads = self.router.heads
                    # PERF: a path outside every route's first segment (the commonest 404:
                    # /missing, scanners' /wp-admin) is a 404 without the miss path's walks;
                    # routing.first_segment inlined (a call is ~0.5k instructions).
                    if heads is None or request.path[1:].partition("/")[0] in heads:
                        found = self._match_fallback(request)
                if found is not None:
                    route, args = found
                    request.route = route
                    request.view_args = args
                    if not args:
                        rv = route.endpoint(request)
                    elif route.positional is not None:
                        rv = route.endpoint(request, args[route.positional])
                    else:
                        rv = route.endpoint(request, **args)
                    answer = self._finish(request, rv, 200)
                else:
                    # PERF: a 404 is answered, not raised and caught (bench/micro.py notfound)
                    answer = self._answer_error(request, new_not_found(NotFound, 404, None))
        except HTTPError as error:
            answer = self._answer_error(request, error)
        except Exception as error:
            answer = self._answer_exception(request, error)
            failure = error
        # Only a request that opened its session pays for saving it: one attribute test, not
        # a flag that, once any route used a session, costs every request a call.
        if request._session is not None:
            answer = self._with_session(request, answer)
        if self.teardown_request_funcs:
            self._run_teardown(request, failure)
        return answer

    def _run_teardown(
        self, request: Request, error: Exception | None, hooks: Iterable[Handler] | None = None
    ) -> None:
        """The teardown_request hooks (the app's, or `hooks`: a blueprint's), each whatever the
        others do; failures are logged."""
        for hook in self.teardown_request_funcs if hooks is None else hooks:
            try:
                hook(request, error)
            except Exception as failure:
                self._log_failure(request, failure, "a teardown_request hook failed")

    def _stream_request(self, *args: Any) -> Request:
        """The Request of a stream route, built by rush.bodies when its head arrives."""
        request = Request(*args)
        request.app = self
        return request

    def _with_session(self, request: Request, answer: Answer) -> Answer:
        """The answer with the session's cookie, for a request that used its session."""
        session = request._session
        if session is None:
            return answer
        request._session = None  # saved once, even if saving fails
        try:
            lines = self.session_store.header_lines(session)
        except Exception as error:
            self._log_failure(request, error, "saving the session failed")
            body = answer[2]
            if not isinstance(body, bytes):
                body.close()  # a file or a stream that will not be sent
            return self._plain_error(request, HTTPError(500))
        status, head, body = answer
        return status, head + lines, body

    # -- the miss path -------------------------------------------------------------------

    def _match_fallback(self, request: Request) -> tuple[Route, dict[str, Any]] | None:
        """HEAD via GET, the trailing slash (a 308 from `/x` to `/x/`, or a route with
        `strict_slashes=False`), automatic OPTIONS, then 405 with Allow, else None: 404."""
        router = self.router
        if request.method == "HEAD":
            found = router.match("GET", request.path)
            if found is not None:
                return found
        if request.path == "*":  # `OPTIONS *` (the parser allows no other method with it)
            return self._options_route("*", router.all_methods())
        if router.slash_dynamic or request.path in router.slash_paths:
            found = router.match_other_slash(request.method, request.path)
            if found is not None:
                if not found[0].options.get("strict_slashes", True):
                    return found
                if not request.path.endswith("/") and not request.path.startswith("//"):
                    # (`//host` would be a Location on another site: that stays a 404)
                    raise HTTPError(308, headers={"Location": _slash_location(request)})
        allowed = router.allowed_methods(request.path, request.method)
        if not allowed:
            return None
        if request.method == "OPTIONS":
            return self._options_route(request.path, allowed)
        raise HTTPError(405, headers={"Allow": allow_value(allowed)})

    @staticmethod
    def _options_route(path: str, methods: set[str]) -> tuple[Route, dict[str, Any]]:
        """The automatic OPTIONS answer: 200, no body, `Allow` of `methods` (and HEAD, OPTIONS)."""
        answer = Response(b"", 200, {"Allow": allow_value(methods)}, content_type="")
        return Route(path, frozenset(("OPTIONS",)), lambda request: answer), {}

    def _run_before_hooks(self, request: Request) -> Any:
        if type(request.body_store) is StreamSink:
            return request.body_store.adopt(request)  # they ran when the head arrived
        for hook in self.before_request_funcs:
            rv = hook(request)
            if rv is not None:
                return rv
        return None

    # -- turning return values into answers ----------------------------------------------

    def _finish(self, request: Request, rv: Any, status: int) -> Answer:
        # PERF: the common return types become an answer straight away, no Response object.
        if not self.after_request_funcs:
            body, code, kind = rv, status, type(rv)
            if kind is tuple and len(rv) == 2 and type(rv[1]) is int:
                body, code = rv  # `return "not here", 404` and the like
                kind = type(body)
                if not 100 <= code <= 599:
                    check_status(code)  # raises: never sent
            elif kind is tuple and len(rv) == 3 and type(rv[1]) is int and type(rv[2]) is dict:
                body, code, headers = rv  # `return data, 200, {"Content-Type": ...}`
                kind = type(body)
                if kind is str or kind is bytes or kind is dict or kind is list:
                    if not 100 <= code <= 599:
                        check_status(code)  # raises: never sent
                    if kind is str:
                        return code, field_lines(headers, HTML_LINE), body.encode()
                    if kind is bytes:
                        return code, field_lines(headers, HTML_LINE), body
                    return code, field_lines(headers, JSON_LINE), dump_json(body)
            elif kind is FileResponse:
                return rv.answer_for(request)  # type: ignore[no-any-return]
            if kind is str:
                return code, HTML_LINE, body.encode()
            if kind is bytes:
                return code, HTML_LINE, body
            if kind is dict or kind is list:
                return code, JSON_LINE, dump_json(body)
        response = response_from(rv, status)  # PERF: a global, not a staticmethod lookup
        if self.after_request_funcs:
            try:
                response = self._run_after_hooks(request, response)
            except Exception as error:
                # Logged once here: the error page is sent without running them again.
                self._log_failure(request, error, "an after_request hook failed")
                return self._plain_error(request, HTTPError(500))
        if isinstance(response, FileResponse):
            return response.answer_for(request)
        return response.answer()

    def _run_after_hooks(self, request: Request, response: Response) -> Response:
        return run_after_hooks(self.after_request_funcs, request, response)

    #: Any allowed handler return value as a Response (Flask's rules, rush.response):
    #: `app.make_response(rv, status=200)`.
    make_response = staticmethod(response_from)

    # -- running -------------------------------------------------------------------------

    def test_client(self, **options: Any) -> Any:
        """An in-process client (rush.testing.TestClient): `with app.test_client() as
        client:` runs the startup and shutdown hooks around the block."""
        from rush.testing import TestClient

        return TestClient(self, **options)

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        workers: int | None = None,
        **options: Any,
    ) -> None:
        """Serve the app: `workers=None` forks one worker per CPU, `workers=1` runs in-process.

        Other keyword arguments are `rush.config.Config` fields (timeouts, limits, logging).
        """
        # Imported here so that the framework modules never depend on the server at import.
        from rush.cli import run_app
        from rush.config import Config

        config = Config.from_sources({"bind": [f"{host}:{port}"], "workers": workers, **options})
        raise SystemExit(run_app(self, config))

    def prepare(self) -> None:
        """Compile the route table; the server calls this in the master, before forking."""
        self.router.compile()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The app as a WSGI application (`gunicorn module:app`); see rush.wsgiapp."""
        return serve_wsgi(self, environ, start_response)


def allow_value(methods: set[str]) -> str:
    """An `Allow` field value: `methods`, HEAD with GET, and OPTIONS, sorted."""
    allowed = {*methods, "OPTIONS", *(("HEAD",) if "GET" in methods else ())}
    return ", ".join(sorted(allowed))


def _slash_location(request: Request) -> str:
    """`/x?q` -> `/x/?q`: where a 308 sends a request missing its trailing slash."""
    location = quote(request.path, safe="/!$&'()*+,;=:@-._~") + "/"
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    return location
