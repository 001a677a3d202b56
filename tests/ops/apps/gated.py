"""An app whose startup hook waits for a file to exist: it holds every worker before it
accepts, so a test can see what the server says (and does not say) until then."""

from __future__ import annotations

import logging
import os
import time

from rush import Rush

app = Rush()
log = logging.getLogger("rush.error")


@app.get("/")
def index(request):
    return "open"


@app.on_startup
def wait_for_the_gate() -> None:
    gate = os.environ["GATE_FILE"]
    log.info("startup hook waiting in %d", os.getpid())
    while not os.path.exists(gate):
        time.sleep(0.01)
    log.info("startup hook done in %d", os.getpid())
