"""A small Flask app served by Rush as a WSGI app: forms, uploads, sessions, redirects,
streaming, files and error handlers."""

from __future__ import annotations

import hashlib
import os

from flask import Flask, Response, make_response, redirect, request, send_file, session

app = Flask(__name__)
app.secret_key = "only-for-tests"


@app.get("/")
def index():
    return "flask ok"


@app.post("/form")
def form():
    return f"hello {request.form['name']} ({request.form.get('lang', '-')})"


@app.post("/upload")
def upload():
    upload = request.files["file"]
    data = upload.read()
    return f"{upload.filename}:{len(data)}:{hashlib.sha256(data).hexdigest()}"


@app.get("/login")
def login():
    session["user"] = request.args.get("user", "ann")
    return redirect("/me")


@app.get("/me")
def me():
    return f"user={session.get('user', 'nobody')}"


@app.get("/cookie")
def cookie():
    response = make_response("cookie set")
    response.set_cookie("flavour", "oat")
    return response


@app.get("/echo-cookie")
def echo_cookie():
    return f"flavour={request.cookies.get('flavour', '')}"


@app.get("/stream")
def stream():
    count = int(request.args.get("n", "3"))

    def generate():
        for index in range(count):
            yield f"line {index}\n"

    return Response(generate(), mimetype="text/plain")


@app.get("/download")
def download():
    return send_file(os.environ["WSGI_TEST_FILE"], mimetype="application/octet-stream")


@app.get("/boom")
def boom():
    raise RuntimeError("flask view failed")


@app.errorhandler(404)
def not_found(error):
    return "custom 404", 404


@app.errorhandler(500)
def server_error(error):
    return "custom 500", 500
