"""Access-log cost on the params benchmark (not a test): python tests/ops/measure_access_log.py

Alternates runs with and without `--access-log FILE` on one worker pinned to CPU 0, with wrk
pinned to CPU 1 (`GET /hello?name=bill` on examples/app.py), and prints requests/s per run,
the medians, and their ratio.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("RUSH_ROOT") or Path(__file__).resolve().parents[2])
URL = "http://127.0.0.1:{port}/hello?name=bill"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_once(access_log: str | None, seconds: int, server_cpu: str, client_cpu: str) -> float:
    port = free_port()
    argv = [
        "taskset",
        "-c",
        server_cpu,
        sys.executable,
        "-m",
        "rush",
        "examples.app:app",
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    if access_log:
        argv += ["--access-log", access_log]
    server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)
        wrk = ["taskset", "-c", client_cpu, "wrk", "-t1", "-c50"]
        subprocess.run(wrk + ["-d1", URL.format(port=port)], capture_output=True, check=True)
        out = subprocess.run(
            wrk + [f"-d{seconds}", URL.format(port=port)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
        if errors:
            print("  wrk reported:", errors.group(0))
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)


def main() -> None:
    rounds = int(os.environ.get("ROUNDS", "3"))
    seconds = int(os.environ.get("SECONDS_PER_RUN", "5"))
    server_cpu, client_cpu = os.environ.get("CPUS", "0,1").split(",")
    off: list[float] = []
    on: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "access.log")
        for index in range(rounds):
            off.append(run_once(None, seconds, server_cpu, client_cpu))
            on.append(run_once(log, seconds, server_cpu, client_cpu))
            lines = sum(1 for _ in open(log))
            os.unlink(log)
            print(
                f"round {index + 1}: off {off[-1]:9.0f} req/s   on {on[-1]:9.0f} req/s   "
                f"({lines} lines logged)",
                flush=True,
            )
    ratio = statistics.median(on) / statistics.median(off)
    print(
        f"median off {statistics.median(off):.0f}, on {statistics.median(on):.0f}: "
        f"with/without = {ratio:.3f} (cost {100 * (1 - ratio):.1f}%)"
    )


if __name__ == "__main__":
    main()
