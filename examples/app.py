"""The demo app: `python -m rush examples.app:app` (or `python examples/app.py`)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from rush import Rush, escape

HERE = Path(__file__).resolve().parent

# Every file under examples/public/ is served at /static/... (folders relative to this module).
# Sessions are signed with this key: set RUSH_SECRET_KEY in production (the default is for
# trying the demo only). Templates come from examples/templates/.
app = Rush(
    __name__,
    static_folder="public",
    static_url="/static",
    secret_key=os.environ.get("RUSH_SECRET_KEY", "demo-only-secret-change-me"),
)
app.redirect("/easter", "/egg")
# GET / is the file: cached, kept fresh by inotify, and sent by the server without a handler.
app.static_file("/", "public/index.html")
app.preload("public/index.html")  # read once in the master, shared by the forked workers


@app.get("/hello")
def hello(request):
    # A str answer is HTML: what the client sent is escaped, or a browser would run it.
    return f"hello, {escape(request.args.get('name', 'world'))}!"


@app.route("/users/<int:user_id>", methods=["GET", "DELETE"])
def user(request, user_id):
    if request.method == "DELETE":
        return None
    return {"id": user_id, "name": f"user{user_id}"}


@app.post("/echo")
def echo(request):
    return (
        request.body,
        200,
        {"Content-Type": request.headers.get("content-type") or "application/octet-stream"},
    )


UPLOADS = Path(tempfile.gettempdir()) / "rush-uploads"


@app.post("/upload")
def upload(request):
    """curl -F title=Holiday -F photo=@beach.jpg localhost:8000/upload"""
    f = request.files["photo"]  # spooled to a temporary file when large
    UPLOADS.mkdir(exist_ok=True)
    f.save(UPLOADS / f.safe_filename)
    return {"name": f.filename, "size": f.size, "title": request.form.get("title")}


@app.post("/ingest", stream=True)  # the handler sees the body as it arrives
def ingest(request):
    """curl --data-binary @big.iso localhost:8000/ingest"""
    digest = hashlib.sha256()
    size = 0
    while chunk := (yield):  # each chunk as it arrives; b"" at the end
        digest.update(chunk)
        size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}  # the return value is the response


USERS = [{"id": i, "name": f"user{i}", "email": f"user{i}@example.com"} for i in range(20)]


@app.get("/table")
def table(request):
    """A page from a Jinja2 template (20 rows) naming the user of the session cookie."""
    user = request.session.get("user", "nobody")
    return app.render_template("table.html", rows=USERS, user=user)


@app.get("/egg")
def egg(request):
    return "You found the egg.\n"


@app.errorhandler(404)
def not_found(request, error):
    return "nothing here\n", 404


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000, workers=None)
