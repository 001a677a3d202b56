"""The app the hardening tests serve: small routes that echo what identifies each request.

Static files (a mount at /files and a send_from_directory download) are served from
$HARDENING_FILES when it is set, so the soak and file tests can put files there first.
"""

from __future__ import annotations

import hashlib
import os

from rush import Response, Rush, abort

FILES = os.environ.get("HARDENING_FILES")

app = Rush(static_folder=FILES, static_url="/files") if FILES else Rush()


@app.get("/")
def index(request):
    return "ok"


@app.get("/id/<rid>")
def echo_id(request, rid):
    # The id travels in the path, the query and a header: all three must agree.
    return Response(
        f"id={rid};q={request.args.get('q', '')};h={request.headers.get('X-Id', '')}",
        content_type="text/plain",
        headers={"X-Id": rid},
    )


@app.post("/id/<rid>")
def echo_post(request, rid):
    body = request.body
    digest = hashlib.sha1(body).hexdigest()
    return Response(f"id={rid};len={len(body)};sha1={digest}", content_type="text/plain")


@app.get("/bytes/<int:size>")
def some_bytes(request, size):
    return Response(b"x" * min(size, 64 * 1024 * 1024), content_type="application/octet-stream")


@app.post("/echo")
def echo(request):
    return Response(request.body, content_type="application/octet-stream")


@app.get("/status/<int:code>")
def status(request, code):
    abort(code)


@app.post("/upload")
def upload(request):
    out = []
    for name, upload in request.files.items(multi=True):
        data = upload.read()
        out.append(f"{name}:{len(data)}:{hashlib.sha1(data).hexdigest()}")
    for name, value in request.form.items(multi=True):
        out.append(f"{name}={value}")
    return Response(";".join(sorted(out)), content_type="text/plain")


@app.get("/download/<path:name>")
def download(request, name):
    if not FILES:
        abort(404)
    return app.send_from_directory(FILES, name)


@app.get("/pid")
def pid(request):
    return str(os.getpid())
