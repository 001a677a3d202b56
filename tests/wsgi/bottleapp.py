"""A small Bottle app served by Rush as a WSGI app."""

from __future__ import annotations

import bottle

app = bottle.Bottle()


@app.get("/hello/<name>")
def hello(name):
    return f"hello {name}"


@app.post("/form")
def form():
    return f"got {bottle.request.forms.get('name')}"


@app.get("/go")
def go():
    bottle.redirect("/hello/redirected")


@app.get("/json")
def as_json():
    return {"framework": "bottle"}
