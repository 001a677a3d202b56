"""What an app or a blueprint registers: routes, error handlers and hooks.

`Scaffold` owns the decorators users write (`@app.route`, `@app.get`, `@app.errorhandler`,
`@app.before_request`, ...) and the tables they fill; how a route is actually added is the
subclass's `add_route`. It knows nothing of requests being served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rush.exceptions import ConfigError, HTTPError

F = TypeVar("F", bound=Callable[..., Any])
Handler = Callable[..., Any]


class Scaffold:
    """The registration half of an app: decorators and the tables they fill."""

    def __init__(self) -> None:
        self.error_handlers: dict[int | type[BaseException], Handler] = {}
        self.before_request_funcs: list[Callable[..., Any]] = []
        self.after_request_funcs: list[Callable[..., Any]] = []
        self.teardown_request_funcs: list[Callable[..., Any]] = []
        self.startup_funcs: list[Callable[[], Any]] = []
        self.shutdown_funcs: list[Callable[[], Any]] = []

    def check_setup(self, what: str) -> None:
        """Called before each registration; a blueprint already registered refuses more."""

    def add_route(
        self,
        path: str,
        endpoint: Handler,
        methods: list[str] | tuple[str, ...] | None = None,
        /,
        **options: Any,
    ) -> Any:
        raise NotImplementedError

    def route(
        self,
        path: str,
        methods: list[str] | tuple[str, ...] | None = None,
        *,
        max_body: int | None = None,
        **options: Any,
    ) -> Callable[[F], F]:
        """Bind a handler to `path` for `methods` (GET by default).

        `max_body` overrides the request body limit for this route (413 beyond it).
        `stream=True` makes the handler a generator that receives the body as it arrives
        (`chunk = yield`, b"" at the end) and returns the response. The app's body options
        (`spool_threshold=`, `max_form_parts=`, ...) may be overridden per route.
        """

        def decorator(func: F) -> F:
            self.add_route(path, func, methods, max_body=max_body, **options)
            return func

        return decorator

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Handler | None = None,
        methods: list[str] | tuple[str, ...] | None = None,
        **options: Any,
    ) -> None:
        """Flask's spelling of `add_route`: `app.add_url_rule("/users", "users", list_users)`,
        `app.add_url_rule("/items", view_func=ItemView.as_view("items"))`; `endpoint` is the
        name url_for knows it by (else the function's)."""
        if view_func is None:
            raise ConfigError(
                f"add_url_rule({rule!r}): pass the handler as view_func= "
                "(Rush has no separate @app.endpoint registration)"
            )
        if endpoint is not None:
            options["endpoint"] = endpoint
        self.add_route(rule, view_func, methods, **options)

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """`route(path, ["GET"], **options)`: a GET route."""
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        """`route(path, ["POST"], **options)`: a POST route."""
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[F], F]:
        """`route(path, ["PUT"], **options)`: a PUT route."""
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        """`route(path, ["PATCH"], **options)`: a PATCH route."""
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        """`route(path, ["DELETE"], **options)`: a DELETE route."""
        return self.route(path, ["DELETE"], **options)

    def errorhandler(self, code_or_exception: int | type[BaseException]) -> Callable[[F], F]:
        """Handle an HTTP status (`404`) or an exception class; called as f(request, error).
        An HTTPError class with a status of its own (`NotFound`) stands for that status."""
        if isinstance(code_or_exception, int):
            if not 400 <= code_or_exception <= 599:
                raise ConfigError(f"errorhandler({code_or_exception}): not an error status")
        elif not (
            isinstance(code_or_exception, type) and issubclass(code_or_exception, BaseException)
        ):
            raise ConfigError(f"errorhandler({code_or_exception!r}): need a status or exception")

        self.check_setup("errorhandler")
        if isinstance(code_or_exception, type) and issubclass(code_or_exception, HTTPError):
            status = getattr(code_or_exception, "status", None)  # a class attribute
            if type(status) is int:
                code_or_exception = status  # NotFound is 404, as Werkzeug's are in Flask

        def decorator(func: F) -> F:
            self.error_handlers[code_or_exception] = func
            return func

        return decorator

    def register_error_handler(
        self, code_or_exception: int | type[BaseException], func: Handler
    ) -> None:
        """Flask's spelling of `errorhandler(code_or_exception)(func)`."""
        self.errorhandler(code_or_exception)(func)

    def before_request(self, func: F) -> F:
        """Run `func(request)` before each handler; a non-None return value is the answer."""
        self.check_setup("before_request")
        self.before_request_funcs.append(func)
        return func

    def after_request(self, func: F) -> F:
        """Run `func(request, response)` after each handler; it may change or replace it."""
        self.check_setup("after_request")
        self.after_request_funcs.append(func)
        return func

    def teardown_request(self, func: F) -> F:
        """Run `func(request, error)` once each request's answer is made, whatever happened
        (Flask's teardown_request): `error` is the exception of the handler or of a
        before_request hook that made it a 500, else None. For closing what the request
        opened; its return value is ignored, and an exception in it is logged and changes
        nothing. A blueprint's run for its own routes, before the app's."""
        self.check_setup("teardown_request")
        self.teardown_request_funcs.append(func)
        return func

    def on_startup(self, func: F) -> F:
        """Run `func()` once in each worker process when it starts."""
        self.check_setup("on_startup")
        self.startup_funcs.append(func)
        return func

    def on_shutdown(self, func: F) -> F:
        """Run `func()` once in each worker process when it stops."""
        self.check_setup("on_shutdown")
        self.shutdown_funcs.append(func)
        return func
