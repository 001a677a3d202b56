"""The app of the template and session server tests (tests/server/test_templates_sessions.py).

Its template folder is $FLASKISH_TEMPLATES; $FLASKISH_SECRET (absent: no secret key) and
$FLASKISH_FALLBACKS (comma-separated old keys) configure the session.
"""

from __future__ import annotations

import os

from rush import Rush, redirect

app = Rush(
    __name__,
    template_folder=os.environ["FLASKISH_TEMPLATES"],
    secret_key=os.environ.get("FLASKISH_SECRET"),
)
app.config["SECRET_KEY_FALLBACKS"] = [
    key for key in os.environ.get("FLASKISH_FALLBACKS", "").split(",") if key
]


@app.get("/pid")
def pid(request):
    return str(os.getpid())


@app.get("/login")
def login(request):
    request.session["user"] = request.args.get("user", "bob")
    request.flash(f"welcome, {request.session['user']}")
    return redirect("/welcome")


@app.get("/welcome")
def welcome(request):
    return app.render_template("welcome.html", request=request, pid=os.getpid())


@app.get("/whoami")
def whoami(request):
    return {"user": request.session.get("user"), "pid": os.getpid()}


@app.get("/page/<path:name>")
def page(request, name):
    response = app.render_template(name, request=request, value=request.args.get("v", ""))
    response.headers["X-Pid"] = str(os.getpid())
    return response


@app.get("/log")
def log(request):
    app.logger.info("the app says %s", request.args.get("word", "hello"))
    return "logged"


@app.get("/boom")
def boom(request):
    raise RuntimeError("<boom>")
