"""The error half of an app: one catch point per error family, and the pages it answers with.

`ErrorHandling` is mixed into `Rush`. An HTTPError raised on purpose (`abort`) becomes its
response, its registered handler's answer (a blueprint's first, then the app's) or the default
page; anything else user code does wrong is logged once, with its traceback and the handler's
name, and answered 500 (with the traceback on the page only in debug mode). When an error
handler fails too, the plain default page is sent: it runs no user code and cannot fail.
"""

from __future__ import annotations

import html
import logging
import traceback
from typing import TYPE_CHECKING, Any

from rush.blueprints import qualified_name
from rush.exceptions import HTTPError, error_page
from rush.protocol.writer import Answer, InvalidAnswer, encode_fields, has_no_body
from rush.request import Request
from rush.response import HTML_LINE, Response
from rush.routing import lineage
from rush.scaffold import Handler

if TYPE_CHECKING:
    from rush.appconfig import AppConfig

error_log = logging.getLogger("rush.error")


class ErrorHandling:
    """Answers for errors; needs the app's tables and its `_finish` (see rush.app.Rush)."""

    if TYPE_CHECKING:
        error_handlers: dict[int | type[BaseException], Handler]
        blueprint_error_handlers: dict[str, dict[Any, Handler]]
        after_request_funcs: list[Any]
        config: AppConfig

        def _finish(self, request: Request, rv: Any, status: int) -> Answer: ...

    def _answer_error(self, request: Request, error: HTTPError) -> Answer:
        """An HTTPError raised on purpose: its response, its handler's answer or its page."""
        status = error.status
        if type(status) is not int or not 100 <= status <= 599:
            return self._answer_exception(
                request, InvalidAnswer(f"abort({status!r}): need an int status in 100..599")
            )
        handler = None
        try:
            if error.response is not None:
                return self._finish(request, error.response, status)
            if self.blueprint_error_handlers:
                handler = self._status_handler(request, status)
            else:  # PERF: every 404 comes here; a method call is ~700 instructions
                handler = self.error_handlers.get(status)
            handler = handler or self._class_handler(request, error)
            if handler is not None:
                return self._finish(request, handler(request, error), status)
            return self._default_error(request, error)
        except HTTPError as inner:
            if inner is not error and type(inner.status) is int and 400 <= inner.status <= 599:
                return self._plain_error(request, inner)
            self._log_failure(request, inner, f"the answer to {status} failed")
        except Exception as failure:
            what = (
                f"error handler {qualified_name(handler)}" if handler is not None else "the answer"
            )
            self._log_failure(request, failure, f"{what} for {status} failed")
        return self._plain_error(request, HTTPError(500))

    def _answer_exception(self, request: Request, error: Exception) -> Answer:
        """A bug in user code (or a value that must not be sent): logged once, then 500."""
        handler = self._class_handler(request, error)
        if handler is not None:
            try:
                return self._finish(request, handler(request, error), 500)
            except HTTPError as http_error:
                return self._answer_error(request, http_error)
            except Exception as failure:
                self._log_failure(request, error, "unhandled exception")
                self._log_failure(
                    request, failure, f"its error handler {qualified_name(handler)} failed"
                )
        else:
            self._log_failure(request, error, "unhandled exception")
        server_error = HTTPError(500)
        handler = self._status_handler(request, 500)
        if self.config.get("DEBUG"):
            return 500, HTML_LINE, debug_page(request, error)
        try:
            if handler is not None:
                return self._finish(request, handler(request, server_error), 500)
            return self._default_error(request, server_error)
        except Exception as failure:
            what = (
                f"error handler {qualified_name(handler)}"
                if handler is not None
                else "the 500 page"
            )
            self._log_failure(request, failure, f"{what} for 500 failed")
        return self._plain_error(request, server_error)

    def _log_failure(self, request: Request, error: BaseException, what: str) -> None:
        route = request.route
        where = f" (handler {qualified_name(route.endpoint)})" if route is not None else ""
        error_log.error(
            "%s in %s %s%s: %s", what, request.method, request.path, where, error, exc_info=error
        )

    def _error_tables(self, request: Request) -> list[dict[Any, Handler]]:
        """Error handlers to ask, innermost first: those of the blueprints whose handler (or
        hook) raised, then the app's. A 404 or 405 from routing has no route: the app's."""
        route = request.route
        if route is None or route.blueprint is None or not self.blueprint_error_handlers:
            return [self.error_handlers]
        tables = [self.blueprint_error_handlers.get(name) for name in lineage(route.blueprint)]
        return [table for table in reversed(tables) if table] + [self.error_handlers]

    def _status_handler(self, request: Request, status: int) -> Handler | None:
        for table in self._error_tables(request):
            handler = table.get(status)
            if handler is not None:
                return handler
        return None

    def _class_handler(self, request: Request, error: BaseException) -> Handler | None:
        tables = [self.error_handlers]
        if self.blueprint_error_handlers:
            tables = self._error_tables(request)
        for table in tables:
            for cls in type(error).__mro__:
                handler = table.get(cls)
                if handler is not None:
                    return handler
        return None

    def _default_error(self, request: Request, error: HTTPError) -> Answer:
        """The default page; through the after_request hooks when there are some."""
        if not self.after_request_funcs:
            return self._plain_error(request, error)
        status = error.status
        body = b"" if has_no_body(status) else error_page(status, error.message)
        return self._finish(request, Response(body, status, error.headers), status)

    def _plain_error(self, request: Request, error: HTTPError) -> Answer:
        """The default page with no user code involved: this cannot fail."""
        status = error.status
        body = b"" if has_no_body(status) else error_page(status, error.message)
        lines = HTML_LINE
        if error.headers:
            try:
                lines += encode_fields(error.headers.items())
            except InvalidAnswer as exc:
                self._log_failure(request, exc, f"headers of the {status} page dropped")
        return status, lines, body


def debug_page(request: Request, error: BaseException) -> bytes:
    """The 500 page of debug mode: the request and the traceback, HTML-escaped."""
    trace = "".join(traceback.format_exception(error))
    return (
        "<!doctype html><html><head><title>500 Internal Server Error (debug)</title></head>"
        f"<body><h1>{html.escape(type(error).__name__)}: {html.escape(str(error))}</h1>"
        f"<p>{html.escape(request.method)} {html.escape(request.url)}</p>"
        f"<pre>{html.escape(trace)}</pre>"
        "<p>Shown because debug mode is on. Never turn it on in production.</p></body></html>"
    ).encode("utf-8", "replace")
