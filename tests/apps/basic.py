"""The app most server tests run: small routes that each exercise one server behaviour."""

from __future__ import annotations

import os
import sys
import time

from rush import Response, Rush

app = Rush()

#: A body big enough that a few hundred pipelined answers exceed the write high-water mark.
BIG = b"x" * (64 * 1024)


@app.get("/")
def index(request):
    return "hello"


@app.get("/id/<rid>")
def echo_id(request, rid):
    return Response(f"id={rid}", content_type="text/plain")


@app.post("/echo")
def echo(request):
    return Response(request.body, content_type="application/octet-stream")


@app.get("/nocontent")
def nocontent(request):
    return None


@app.get("/notmodified")
def notmodified(request):
    return Response(b"", 304)


@app.post("/only-post")
def only_post(request):
    return "posted"


@app.get("/boom")
def boom(request):
    raise RuntimeError("boom (raised on purpose by a test)")


@app.get("/slow")
def slow(request):
    # Tests wait for this line to know the request is in flight.
    print(f"slow request started in {os.getpid()}", file=sys.stderr, flush=True)
    time.sleep(float(request.args.get("t", "1")))
    return "slept"


@app.get("/pid")
def pid(request):
    return str(os.getpid())


@app.get("/big")
def big(request):
    return Response(BIG, content_type="application/octet-stream")
