"""Failed requests across operations under a continuous client loop (not a test).

    python tests/ops/measure_operations.py hup 10 mix
    python tests/ops/measure_operations.py ttou 10 close
    python tests/ops/measure_operations.py recycle 5 mix --max-requests 500 --max-requests-jitter 100
    python tests/ops/measure_operations.py term 5 mix

The first argument is the operation, the second how many times (seconds for `recycle`), the
third the client mode (`ka`: keep-alive, `close`: a new connection per request, `mix`: half
each); the rest are passed to `rush`. Two workers serve tests/ops/apps/opsapp.py on loopback.
"""

from __future__ import annotations

import collections
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.ops.load import Load  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.process import RushServer  # noqa: E402

OPS_APP = "tests.ops.apps.opsapp:app"


def measure(operation: str, count: int, keepalive: bool | None, extra: list[str]) -> None:
    server = RushServer(OPS_APP, "--bind", "127.0.0.1:0", "--workers", "2", *extra)
    try:
        server.wait_ready(2, answers=True)
        with Load(server.address, threads=6, keepalive=keepalive) as load:
            wait_until(lambda: load.total().ok > 300, 10)
            for _ in range(count if operation != "term" else 1):
                mark = server.mark()
                if operation == "hup":
                    server.signal(signal.SIGHUP)
                    server.wait_for("reload complete", 30, mark)
                elif operation == "ttou":
                    server.signal(signal.SIGTTOU)
                    time.sleep(0.3)
                    server.signal(signal.SIGTTIN)
                    time.sleep(0.3)
                elif operation == "recycle":
                    time.sleep(1.0)
                elif operation == "term":
                    server.signal(signal.SIGTERM)
                    print("exit code", server.wait_exit(30))
            tally = load.stop()
        kinds = collections.Counter(failure.split(":")[0] for failure in tally.failures)
        print(
            f"{operation}: {tally.ok} ok, {len(tally.failures)} failed {dict(kinds)}, "
            f"{tally.retried} retried; {server.count('served max_requests')} recycled"
        )
    finally:
        server.stop()


def main() -> None:
    operation, count, mode, *extra = sys.argv[1:]
    keepalive = {"ka": True, "close": False, "mix": None}[mode]
    runs = int(count) if operation == "term" else 1
    for _ in range(runs):
        measure(operation, int(count), keepalive, extra)


if __name__ == "__main__":
    main()
