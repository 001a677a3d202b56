"""Objects that are not Rush apps, for the CLI to refuse before it forks any worker."""

from __future__ import annotations

from rush import Rush


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"a WSGI app, which Rush hosts with --interface wsgi"]


class Flaskish:
    """Shaped like a Flask app: an instance called as a WSGI application."""

    def __call__(self, environ, start_response):
        return wsgi_app(environ, start_response)


flaskish = Flaskish()
settings = {"debug": True}
app = Rush  # the class, not an instance


def create_app() -> Rush:
    return Rush()
