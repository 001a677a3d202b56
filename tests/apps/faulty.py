"""Routes that each misbehave in one way, for the fault-injection suite (tests/server/test_faults.py).

Every fault lives at `/fault/<name>`. What user code raises on purpose is a `Fault` whose
message is a unique marker, `FAULT-<name>`, so a test can find exactly that traceback in the
log (the marker is built at run time: the source lines a traceback quotes never contain it).
Hooks and error handlers misbehave for their own path only, but every time they run for it,
as a real bug would (so a 500 passed back through a failing after_request hook fails again).

Two apps share the routes: `app` has no after_request hook, so return values take the hot
path (rendered straight to bytes); `hooked` adds the misbehaving after_request hooks, which
send every answer through a Response object.
`GET /pid?sync=TOKEN` answers the worker's pid and prints `faulty-sync TOKEN` to stderr: once
a test has read that line, everything the worker logged before it has been read too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from rush import Response, Rush, abort, redirect

#: Not a directory anywhere, and a marker of its own in the log line of the failed save.
MISSING_DIR = "/nonexistent-" + "FAULT-upload-save"


class Fault(RuntimeError):
    """An exception user code raises on purpose; its message is the fault's marker."""


def fault(name: str) -> Fault:
    return Fault("FAULT-" + name)


ROUTES: list[tuple[str, list[str], Callable[..., Any], dict[str, Any]]] = []


def route(name: str, method: str = "GET", **options: Any) -> Callable[[Any], Any]:
    """Register a handler at /fault/`name` in both apps (see `build`)."""

    def register(func: Any) -> Any:
        ROUTES.append((f"/fault/{name}", [method], func, options))
        return func

    return register


def pid(request):
    token = request.args.get("sync")
    if token is not None:
        print(f"faulty-sync {token}", file=sys.stderr, flush=True)
    return str(os.getpid())


# -- exceptions from user code ------------------------------------------------------------


@route("handler-raises")
def handler_raises(request):
    raise fault("handler-raises")


@route("before-hook-raises")
def behind_before_hook_raises(request):
    return "not reached: the before_request hook raises"


@route("after-hook-raises")
def behind_after_hook_raises(request):
    return "replaced: the after_request hook raises"


@route("after-hook-returns-text")
def behind_after_hook_returns_text(request):
    return "replaced: the after_request hook returns a str"


@route("after-hook-returns-int")
def behind_after_hook_returns_int(request):
    return "replaced: the after_request hook returns an int"


@route("error-handler-raises")
def abort_409(request):
    abort(409)


@route("500-handler-raises")
def abort_500(request):
    abort(500)


@route("error-handler-returns-object")
def abort_422(request):
    abort(422)


@route("stream-raises", "POST", stream=True)
def stream_raises(request):
    chunk = yield
    if chunk:
        raise fault("stream-raises")
    return "not reached: the generator raises on its first chunk"


@route("upload-save-fails", "POST")
def upload_save_fails(request):
    request.files["f"].save(MISSING_DIR + "/x")
    return "not reached: the save raises"


# -- intended answers ---------------------------------------------------------------------


@route("abort-response")
def abort_response(request):
    abort(Response("teapot", status=418))


@route("bad-json", "POST")
def bad_json(request):
    return {"got": request.json}


# -- bad values: refused when the answer is built -----------------------------------------


@route("abort-99")
def abort_99(request):
    abort(99)


@route("abort-str")
def abort_str(request):
    abort("404")


@route("abort-600")
def abort_600(request):
    abort(600)


@route("response-status-600")
def response_status_600(request):
    return Response("x", status=600)


@route("response-status-99")
def response_status_99(request):
    return Response("x", status=99)


@route("response-status-str")
def response_status_str(request):
    return Response("x", status="200")


@route("tuple-status-600")
def tuple_status_600(request):
    return "x", 600


@route("header-crlf")
def header_crlf(request):
    return Response("x", headers={"X-Bad": "a\r\nSet-Cookie: evil=1"})


@route("tuple-header-crlf")
def tuple_header_crlf(request):
    return "x", 200, {"X-Bad": "a\r\nSet-Cookie: evil=1"}


@route("content-type-crlf")
def content_type_crlf(request):
    return Response("x", content_type="text/plain\r\nSet-Cookie: evil=1")


@route("redirect-crlf")
def redirect_crlf(request):
    return redirect("/next\r\nSet-Cookie: evil=1")


@route("header-nul")
def header_nul(request):
    return Response("x", headers={"X-Bad": "a\x00b"})


@route("header-name-space")
def header_name_space(request):
    return Response("x", headers={"X Bad": "v"})


@route("header-name-colon")
def header_name_colon(request):
    return Response("x", headers={"X:Bad": "v"})


@route("header-name-cr")
def header_name_cr(request):
    return Response("x", headers={"X\rBad": "v"})


@route("header-non-latin1")
def header_non_latin1(request):
    return Response("x", headers={"X-Bad": "\u0109"})


@route("return-object")
def return_object(request):
    return object()


@route("return-set")
def return_set(request):
    return {"a", "b"}


@route("return-int")
def return_int(request):
    return 42


@route("return-unserialisable")
def return_unserialisable(request):
    return {"x": object()}


# -- hooks and error handlers -------------------------------------------------------------


def before_hook_raises(request):
    if request.path == "/fault/before-hook-raises":
        raise fault("before-hook-raises")


def after_hook_raises(request, response):
    if request.path == "/fault/after-hook-raises":
        raise fault("after-hook-raises")
    return response


def after_hook_returns_text(request, response):
    if request.path == "/fault/after-hook-returns-text":
        return "not a response"
    return response


def after_hook_returns_int(request, response):
    if request.path == "/fault/after-hook-returns-int":
        return 42
    return response


def conflict_handler_raises(request, error):
    if request.path == "/fault/error-handler-raises":
        raise fault("error-handler-raises")
    return "conflict", 409


def server_error_handler_raises(request, error):
    if request.path == "/fault/500-handler-raises":
        raise fault("500-handler-raises")
    return "internal server error", 500


def unprocessable_handler_returns_object(request, error):
    if request.path == "/fault/error-handler-returns-object":
        return object()
    return "unprocessable", 422


def build(*, after_hooks: bool) -> Rush:
    rush = Rush()
    rush.get("/pid")(pid)
    for path, methods, func, options in ROUTES:
        rush.route(path, methods, **options)(func)
    rush.before_request(before_hook_raises)
    rush.errorhandler(409)(conflict_handler_raises)
    rush.errorhandler(500)(server_error_handler_raises)
    rush.errorhandler(422)(unprocessable_handler_returns_object)
    if after_hooks:
        rush.after_request(after_hook_raises)
        rush.after_request(after_hook_returns_text)
        rush.after_request(after_hook_returns_int)
    return rush


app = build(after_hooks=False)
hooked = build(after_hooks=True)
