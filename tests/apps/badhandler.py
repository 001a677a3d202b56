"""An app whose handler cannot take its route's parameter: RouteError at import, at startup."""

from __future__ import annotations

from rush import Rush

app = Rush()


@app.get("/users/<int:id>")
def show_user(request, user_id):
    return "unreachable"
