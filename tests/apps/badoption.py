"""An app with a typo in a route option (`method=`): RouteError at import, at startup."""

from __future__ import annotations

from rush import Rush

app = Rush()


@app.route("/submit", method=["POST"])
def submit(request):
    return "unreachable"
