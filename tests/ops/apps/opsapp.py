"""The app the operations tests serve (and copy, to rewrite between reload generations)."""

from __future__ import annotations

import logging
import os
import time

from rush import Rush

VERSION = "v1"

app = Rush()
log = logging.getLogger("rush.error")


@app.get("/")
def index(request):
    return VERSION


@app.get("/pid")
def pid(request):
    return str(os.getpid())


@app.get("/slow")
def slow(request):
    log.info("slow request started")
    time.sleep(float(request.args.get("t", "1")))
    return "slept"


@app.get("/whoami")
def whoami(request):
    return {"remote_addr": request.remote_addr, "scheme": request.scheme}


@app.get("/health")
def health(request):
    return "ok"


@app.on_shutdown
def said_goodbye():
    log.info("shutdown hook ran in %d", os.getpid())
