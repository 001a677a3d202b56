"""Exceptions a handler raises on purpose, and the errors Rush reports at startup.

`HTTPError` (via `abort`) becomes a response of its status: the app renders it with a
registered error handler or the default page. Anything else a handler raises is a bug:
it is logged with its traceback and answered 500.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, NoReturn, cast

from rush.protocol.writer import reason_phrase

if TYPE_CHECKING:
    from rush.response import Response

__all__ = [
    "BadRequestKeyError",
    "ConfigError",
    "HTTPError",
    "NotFound",
    "RouteError",
    "abort",
    "reason_phrase",
]


class _OwnDict:
    """A class attribute that gives each instance a dict of its own on first read (a
    non-data descriptor: from then on the instance's own dict entry answers)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value: dict[str, str] = {}
        instance.__dict__[self.name] = value
        return value


class HTTPError(Exception):
    """An error response: `abort(404)` raises one; error handlers receive it.

    `response`, when set (`abort(some_response)`), is the answer itself, as in Flask.
    """

    # PERF: None unless given (class defaults, no store), and `args` set as
    # Exception.__init__ would set it, without the call: HTTPError(404) 5.8k -> 3.8k
    # instructions, on every 404 (bench/micro.py --instructions notfound).
    message: str | None = None
    response: Response | None = None
    # PERF: made on first use (a 404 handler rarely reads it): HTTPError(404) 3.8k -> 3.2k.
    headers: dict[str, str] = _OwnDict()  # type: ignore[assignment]

    def __init__(
        self,
        status: int = 500,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        response: Response | None = None,
    ) -> None:
        self.args = (status, message)
        self.status = status
        if message is not None:
            self.message = message
        if headers:
            self.headers = headers
        if response is not None:
            self.response = response

    @property
    def code(self) -> int:
        """The status, by Werkzeug's name (`error.code` in a Flask error handler)."""
        return self.status  # type: ignore[no-any-return]

    @property
    def name(self) -> str:
        """The status's reason phrase ("Not Found"), as Werkzeug's."""
        return reason_phrase(self.status)

    @property
    def description(self) -> str:
        """The message, else the reason phrase: what Werkzeug's `description` holds."""
        return self.message if self.message is not None else reason_phrase(self.status)

    def __str__(self) -> str:
        # PERF: built on demand; a 404 is raised on every miss and rarely printed.
        text = f"{self.status} {reason_phrase(self.status)}"
        return f"{text}: {self.message}" if self.message else text


class NotFound(HTTPError):
    """404 Not Found, by Werkzeug's name: what a URL that no route matches gets, and what
    `abort(404)` raises. `errorhandler(NotFound)` is `errorhandler(404)`, as in Flask."""

    #: Read by the instances the router's miss makes without `__init__` (rush.app).
    status = 404

    def __init__(
        self,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        response: Response | None = None,
    ) -> None:
        HTTPError.__init__(self, 404, message, headers, response)


class BadRequestKeyError(HTTPError, KeyError):
    """`request.args["missing"]` in a handler: a 400 for the client, as in Flask."""

    def __init__(self, key: str) -> None:
        HTTPError.__init__(self, 400, f"missing key: {key}")
        self.key = key

    __str__ = HTTPError.__str__


def abort(
    status: int | Any, message: str | None = None, *, description: str | None = None
) -> NoReturn:
    """Stop the handler and answer `status` (rendered by the app's error handling), or
    answer a Response as it is: `abort(Response("teapot", status=418))`, as in Flask.
    `description=` is Flask's name for the message.

    A status that is not an int in 400..599 is a bug in the caller: the request is answered
    500 and the mistake logged, never sent.
    """
    if message is None:
        message = description
    if hasattr(status, "answer") and hasattr(status, "status"):
        response = cast("Response", status)
        raise HTTPError(response.status, message, response=response)
    if status == 404:
        raise NotFound(message)
    raise HTTPError(status, message)


class RouteError(ValueError):
    """A route table mistake (bad pattern, duplicate route), raised when the route is added."""


class ConfigError(ValueError):
    """A configuration mistake found at startup (bad bind address, missing folder...)."""


def error_page(status: int, message: str | None = None) -> bytes:
    """The default HTML body for an error status."""
    phrase = reason_phrase(status)
    text = f"<!doctype html>\n<title>{status} {phrase}</title>\n<h1>{phrase}</h1>\n"
    if message:
        text += f"<p>{html.escape(message)}</p>\n"
    return text.encode("utf-8")
