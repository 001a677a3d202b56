"""An app with a malformed route pattern: RouteError at import, reported at startup."""

from __future__ import annotations

from rush import Rush

app = Rush()


@app.get("/users/<int:id")
def user(request, id):
    return "unreachable"
