"""A latency probe in its own process (so the test's other threads cannot skew it with the GIL).

`python -m tests.hardening.probe PORT SECONDS [--interval S] [--fresh]` sends `GET /` every
interval on one keep-alive connection (or a new connection per request with --fresh) for
SECONDS, then prints one JSON line: count, errors, and latency percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: probe\r\n\r\n"


def read_one(sock: socket.socket, buffer: bytearray) -> None:
    """Read one complete response with a Content-Length (the hardening app always sends one)."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end != -1:
            head = bytes(buffer[:end]).lower()
            start = head.find(b"content-length:")
            length = int(head[start + 15 :].split(b"\r\n", 1)[0]) if start != -1 else 0
            total = end + 4 + length
            if len(buffer) >= total:
                if not head.startswith(b"http/1.1 200"):
                    raise RuntimeError(f"status {head[:40]!r}")
                del buffer[:total]
                return
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buffer += data


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(port: int, seconds: float, interval: float, fresh: bool) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    sock = None if fresh else connect(port)
    buffer = bytearray()
    end = time.monotonic() + seconds
    while time.monotonic() < end and len(errors) < 20:
        started = time.perf_counter()
        try:
            if sock is None:
                sock = connect(port)
                buffer = bytearray()
            sock.sendall(REQUEST)
            read_one(sock, buffer)
            latencies.append((time.perf_counter() - started) * 1000)
        except (OSError, RuntimeError) as exc:
            errors.append(repr(exc))
            if sock is not None:
                sock.close()
            sock = None
        if fresh and sock is not None:
            sock.close()
            sock = None
        time.sleep(interval)
    if sock is not None:
        sock.close()
    return {
        "count": len(latencies),
        "errors": errors,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.port, args.seconds, args.interval, args.fresh)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
