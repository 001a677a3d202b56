"""Flask 3 version of the benchmark routes, served by `gunicorn -k sync`.

This is the ordinary Flask deployment the comparison is about, written the
way a Flask user would (route decorators, request.args, an int converter),
with only two deviations to keep bodies identical to the other servers:
the redirect has an empty body and JSON is compact orjson output without
Flask's trailing newline.
"""

import hashlib
import os

from common import REPO, load_index, user_record
from flask import Flask, Response, render_template, request, session
from markupsafe import escape

try:
    import orjson

    def dumps(obj) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - orjson is in bench/requirements.txt
    import json

    def dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


INDEX = load_index()
app = Flask(__name__, template_folder=str(REPO / "examples" / "templates"))
app.secret_key = os.environ.get("RUSH_SECRET_KEY", "demo-only-secret-change-me")
USERS = [{"id": i, "name": f"user{i}", "email": f"user{i}@example.com"} for i in range(20)]


@app.get("/easter")
def easter():
    return Response(status=301, headers={"Location": "/egg"})


@app.get("/")
def index():
    return Response(INDEX, mimetype="text/html")


@app.get("/hello")
def hello():
    return f"hello, {escape(request.args.get('name', 'world'))}!"


@app.get("/users/<int:user_id>")
def user(user_id: int):
    return Response(dumps(user_record(user_id)), mimetype="application/json")


@app.post("/echo")
def echo():
    return Response(request.get_data(), mimetype="application/octet-stream")


@app.post("/upload")
def upload():
    """bench/uploads.py: sha256 of the multipart file part, streamed in 64 KiB reads."""
    digest = hashlib.sha256()
    stream = request.files["file"].stream
    while chunk := stream.read(65536):
        digest.update(chunk)
    return Response(digest.hexdigest(), mimetype="text/plain")


@app.errorhandler(404)
def not_found(_error):
    return Response("Not Found", status=404, mimetype="text/plain")


@app.get("/table")
def table():
    return render_template("table.html", rows=USERS, user=session.get("user", "nobody"))
