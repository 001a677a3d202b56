"""In-process micro-benchmark: parse + route + handler + render through a real Connection.

No network and no kernel in the measured path (the socket is a fake that hands out the same
request bytes and swallows the answers), so it is far less noisy than wrk and catches
regressions in Rush's own Python code. Usage: python bench/micro.py [--seconds S] [--profile]
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.app import app  # noqa: E402
from rush.protocol import Limits  # noqa: E402
from rush.server.connection import Connection, ServerContext  # noqa: E402
from rush.server.loop import EventLoop  # noqa: E402

WORKLOADS = {
    "redirect": b"GET /easter HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "static": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "params": b"GET /hello?name=bill HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "json": b"GET /users/42 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "post": b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1024\r\n\r\n" + b"x" * 1024,
    "notfound": b"GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n",
}
WORKLOADS["pipelined"] = WORKLOADS["params"] * 16


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


def run(name: str, seconds: float) -> float:
    app.prepare()
    loop = EventLoop()
    for watcher in app.start_watchers():  # as a worker does: inotify keeps the file cache fresh
        loop.register(watcher.fileno(), watcher)
    ctx = ServerContext(loop, app, Limits(), 10.0, 5.0, 30.0, 1 << 20)
    left, right = socket.socketpair()
    payload = WORKLOADS[name]
    per_read = 16 if name == "pipelined" else 1
    fake = FakeSocket(payload, left)
    connection = Connection(fake, "127.0.0.1", ctx)  # type: ignore[arg-type]
    on_readable = connection.on_readable
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
    left.close()
    right.close()
    loop.close()
    return count * per_read / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--profile", action="store_true", help="cProfile the params workload")
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    args = parser.parse_args()
    if args.profile:
        import cProfile
        import pstats

        cProfile.runctx("run('params', 2.0)", globals(), locals(), "/tmp/rush-micro.prof")
        pstats.Stats("/tmp/rush-micro.prof").sort_stats("tottime").print_stats(15)
        return
    print(f"{'workload':<12}{'requests/s':>14}")
    for name in args.workloads:
        print(f"{name:<12}{run(name, args.seconds):>14,.0f}")


if __name__ == "__main__":
    main()
