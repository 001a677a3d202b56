"""What every peer server shares, so all of them serve byte-identical bodies.

The static page is read once at import time: the benchmark compares request
handling, not disk reads, and Rush is expected to cache its static files too.
"""

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# bench/run.py points this elsewhere only while examples/public/index.html is missing.
INDEX_PATH = Path(os.environ.get("RUSH_BENCH_INDEX", REPO / "examples" / "public" / "index.html"))


def load_index() -> bytes:
    """Bytes of the static page (GET /), read once at startup."""
    return INDEX_PATH.read_bytes()


def user_record(user_id: int) -> dict:
    """The JSON payload of GET /users/<id>; one definition for every peer."""
    return {"id": user_id, "name": f"user{user_id}"}


def fork_workers(serve: Callable[[], None], count: int) -> None:
    """Run `serve` in `count` forked workers; SIGTERM/SIGINT to this parent stops them all.

    Each worker must bind its own SO_REUSEPORT socket inside `serve`, so the
    kernel balances new connections between the workers.
    """
    children: list[int] = []

    def stop(_signum, _frame):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                serve()
            finally:
                os._exit(0)
        children.append(pid)
    while children:
        try:
            children.remove(os.wait()[0])
        except ChildProcessError:
            break
