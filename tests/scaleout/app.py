"""The app every host of the scale-out bed serves (copied to each host as `scaleapp.py`).

It says which host answered and which version of the code did, so the load driver can count
the spread across hosts and see a rolling deploy land. A deploy rewrites the VERSION line of
the copy on disk, then SIGHUPs the host. The session routes check that a cookie signed by one
host is good on another: every host gets the same RUSH_SECRET_KEY.
"""

from __future__ import annotations

import os

from rush import Rush

VERSION = "1"
HOST = os.environ.get("SCALEOUT_HOST", "?")

app = Rush()


@app.get("/")
def index(request):
    return f"{HOST} {VERSION}"


@app.post("/orders")
def order(request):
    return f"{HOST} {VERSION} {len(request.body)}"


@app.get("/whoami")
def whoami(request):
    return {"host": HOST, "remote_addr": request.remote_addr, "scheme": request.scheme}


@app.post("/login")
def login(request):
    request.session["user"] = request.args.get("user", "")
    return HOST


@app.get("/me")
def me(request):
    return {"host": HOST, "user": request.session.get("user")}
