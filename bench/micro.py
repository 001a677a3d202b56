"""In-process micro-benchmark: parse + route + handler + render through a real Connection.

No network and no kernel in the measured path (the socket is a fake that hands out the same
request bytes and swallows the answers), so it is far less noisy than wrk and catches
regressions in Rush's own Python code.

    python bench/micro.py [--seconds S] [WORKLOAD...]   requests/s
    python bench/micro.py --profile                     cProfile of the params workload
    python bench/micro.py --instructions [WORKLOAD...]  CPU instructions per request

`--instructions` runs each workload under valgrind (Debian package `valgrind`) twice, with
and without N requests, and divides the difference: the same count on every run of the same
code and Python, whatever else the machine does. Compare two versions of Rush with it, not
two machines.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.workloads import BROWSER_FIELDS  # noqa: E402

from examples.app import app  # noqa: E402
from rush.protocol import Limits  # noqa: E402
from rush.protocol.heads import IMPLEMENTATION  # noqa: E402
from rush.server.connection import Connection, ServerContext  # noqa: E402
from rush.server.loop import EventLoop  # noqa: E402

WORKLOADS = {
    "redirect": b"GET /easter HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "static": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "send_file": b"GET /send-file HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "params": b"GET /hello?name=bill HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "json": b"GET /users/42 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "post": b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1024\r\n\r\n" + b"x" * 1024,
    "notfound": b"GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n",
}
WORKLOADS["browser"] = (
    b"GET /hello?name=bill HTTP/1.1\r\nHost: localhost\r\n"
    + b"".join(b"%s: %s\r\n" % (name.encode(), value.encode()) for name, value in BROWSER_FIELDS)
    + b"\r\n"
)
WORKLOADS["pipelined"] = WORKLOADS["params"] * 16


# The static page through a handler, as it was served before `static_file` (the demo app's
# GET / is answered by the server itself): what any handler calling send_file costs.
app.get("/send-file")(lambda request: app.send_file("public/index.html"))


class FakeSocket:
    """recv() returns the same request bytes forever; send() takes everything."""

    def __init__(self, payload: bytes, real: socket.socket) -> None:
        self.payload = payload
        self.real = real
        self.sent = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def recv_into(self, buffer: bytearray) -> int:
        size = len(self.payload)
        buffer[:size] = self.payload
        return size

    def send(self, data: bytes) -> int:
        self.sent += 1
        return len(data)

    def close(self) -> None:
        pass


def connect(name: str) -> Connection:
    """A Connection of a worker serving the demo app whose socket always reads `name`."""
    app.prepare()
    loop = EventLoop()
    for watcher in app.watchers():  # as a worker does: inotify keeps the file cache fresh
        loop.register(watcher.fileno(), watcher)
    ctx = ServerContext(loop, app, Limits(), 10.0, 5.0, 30.0, 1 << 20)
    left, _ = socket.socketpair()  # a real descriptor for epoll; never read or written
    return Connection(FakeSocket(WORKLOADS[name], left), "127.0.0.1", ctx)  # type: ignore[arg-type]


def run(name: str, seconds: float) -> float:
    per_read = 16 if name == "pipelined" else 1
    on_readable = connect(name).on_readable
    for _ in range(1000):
        on_readable()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            on_readable()
        count += 1000
    elapsed = time.perf_counter() - started
    return count * per_read / elapsed


INSTRUCTION_REQUESTS = 3000


def serve_reads(name: str, reads: int) -> None:
    """What runs under valgrind: warm up, then `reads` reads of the workload."""
    on_readable = connect(name).on_readable
    for _ in range(200):
        on_readable()
    for _ in range(reads):
        on_readable()


def instructions(name: str) -> float:
    """CPU instructions per request of `name` (valgrind; difference of two runs)."""
    counts = []
    for reads in (0, INSTRUCTION_REQUESTS):
        command = [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--serve-reads",
            str(reads),
            name,
        ]
        run_ = subprocess.run(command, capture_output=True, text=True, check=False)
        found = re.search(r"Collected : (\d+)", run_.stderr)
        if run_.returncode != 0 or found is None:
            raise SystemExit(f"valgrind failed on {name}:\n{run_.stderr[-2000:]}")
        counts.append(int(found.group(1)))
    per_read = 16 if name == "pipelined" else 1
    return (counts[1] - counts[0]) / INSTRUCTION_REQUESTS / per_read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--profile", action="store_true", help="cProfile the params workload")
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per request (valgrind)"
    )
    parser.add_argument("--serve-reads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    args = parser.parse_args()
    if args.serve_reads is not None:
        serve_reads(args.workloads[0], args.serve_reads)
        return
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
        os.environ.setdefault("PYTHONHASHSEED", "0")  # the same dict layouts in both runs
        print(f"request heads: {IMPLEMENTATION}")
        print(f"{'workload':<12}{'instructions/request':>22}")
        for name in args.workloads:
            print(f"{name:<12}{instructions(name):>22,.0f}")
        return
    if args.profile:
        import cProfile
        import pstats

        cProfile.runctx("run('params', 2.0)", globals(), locals(), "/tmp/rush-micro.prof")
        pstats.Stats("/tmp/rush-micro.prof").sort_stats("tottime").print_stats(15)
        return
    print(f"request heads: {IMPLEMENTATION}")
    print(f"{'workload':<12}{'requests/s':>14}")
    for name in args.workloads:
        print(f"{name:<12}{run(name, args.seconds):>14,.0f}")


if __name__ == "__main__":
    main()
