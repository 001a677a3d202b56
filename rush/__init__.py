"""Rush: a Flask-like web framework with its own pre-forked epoll HTTP/1.1 server.

from rush import Rush, escape
app = Rush()

@app.get("/hello")
def hello(request):
    return f"hello, {escape(request.args.get('name', 'world'))}!"
"""

from rush.app import Rush
from rush.blueprints import Blueprint
from rush.datastructures import Headers, MultiDict
from rush.exceptions import ConfigError, HTTPError, NotFound, RouteError, abort
from rush.request import Request
from rush.response import Response, escape, jsonify, make_response, redirect
from rush.routing import BuildError
from rush.version import __version__ as __version__
from rush.wsgihost import serve_wsgi

__all__ = [
    "Blueprint",
    "BuildError",
    "ConfigError",
    "HTTPError",
    "Headers",
    "MultiDict",
    "NotFound",
    "Request",
    "Response",
    "RouteError",
    "Rush",
    "abort",
    "escape",
    "jsonify",
    "make_response",
    "redirect",
    "serve_wsgi",
]
