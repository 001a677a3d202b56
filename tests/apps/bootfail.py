"""An app whose startup hook fails in every worker: the server must stop, not respawn."""

from __future__ import annotations

from rush import Rush

app = Rush()


@app.get("/")
def index(request):
    return "never served"


@app.on_startup
def fail() -> None:
    raise RuntimeError("database unreachable (raised on purpose by a test)")
