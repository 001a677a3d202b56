"""The app of the health endpoint tests: it counts the requests its code sees, and can hold all
but the first worker in its startup hook until a file exists.

HEALTH_COUNT_FILE: a before_request hook appends one line per request the app is asked.
HEALTH_LEAD_FILE and HEALTH_GATE_FILE: the first worker to create the lead file boots at once;
every other one waits in its startup hook until the gate file exists.
"""

from __future__ import annotations

import logging
import os
import time

from rush import Rush

app = Rush()
log = logging.getLogger("rush.error")


@app.before_request
def count(request):
    path = os.environ.get("HEALTH_COUNT_FILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{request.method} {request.path}\n")


@app.get("/")
def index(request):
    return "open"


@app.get("/slow")
def slow(request):
    log.info("slow request started")
    time.sleep(float(request.args.get("t", "1")))
    return "slept"


@app.on_startup
def hold_all_but_the_first() -> None:
    lead, gate = os.environ.get("HEALTH_LEAD_FILE"), os.environ.get("HEALTH_GATE_FILE")
    if not (lead and gate):
        return
    try:
        os.close(os.open(lead, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        log.info("startup hook: %d boots first", os.getpid())
        return
    except FileExistsError:
        pass
    log.info("startup hook waiting in %d", os.getpid())
    while not os.path.exists(gate):
        time.sleep(0.01)
    log.info("startup hook done in %d", os.getpid())
