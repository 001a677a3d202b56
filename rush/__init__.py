"""Rush: a Flask-like web framework with its own pre-forked epoll HTTP/1.1 server.

from rush import Rush
app = Rush()

@app.get("/hello")
def hello(request):
    return f"hello, {request.args.get('name', 'world')}!"
"""

from rush.app import Rush
from rush.datastructures import Headers, MultiDict
from rush.exceptions import ConfigError, HTTPError, RouteError, abort
from rush.request import Request
from rush.response import Response, escape, jsonify, make_response, redirect

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "HTTPError",
    "Headers",
    "MultiDict",
    "Request",
    "Response",
    "RouteError",
    "Rush",
    "abort",
    "escape",
    "jsonify",
    "make_response",
    "redirect",
]
