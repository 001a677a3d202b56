"""Upload throughput of one worker over loopback (not a test: `python -m tests.bodies.measure_uploads`).

Starts `python -m rush tests.bodies.app:app --workers 1`, sends pre-built bodies on one
keep-alive connection and prints MB/s (MiB per second, body bytes only) and the worker's peak
RSS growth. The bodies are built before timing so that the client costs only `sendall`.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time

from rush.multipart import encode_multipart
from tests.support.client import Reader, connect, request
from tests.support.process import RushServer
from tests.support.procfs import rss_kb

MIB = 1024 * 1024


def peak_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def measure(server: RushServer, label: str, raw: bytes, body_size: int, repeat: int) -> None:
    with open(f"/proc/{server.pid}/clear_refs", "w") as f:
        f.write("5")
    before = rss_kb(server.pid)
    with connect(server.port, 120) as sock:
        reader = Reader(sock, 120)
        sock.sendall(raw)  # warm up
        assert reader.read_response().status == 200
        started = time.perf_counter()
        for _ in range(repeat):
            sock.sendall(raw)
            answer = reader.read_response()
            assert answer.status == 200, answer.body[:200]
        elapsed = time.perf_counter() - started
    growth = (peak_kb(server.pid) - before) / 1024
    rate = body_size * repeat / MIB / elapsed
    print(f"{label:<34} {rate:8.0f} MB/s  {repeat / elapsed:8.1f} req/s  RSS peak +{growth:.1f} MB")


def main() -> None:
    spool = tempfile.mkdtemp(prefix="rush-measure-")
    os.environ["TMPDIR"] = spool
    server = RushServer("tests.bodies.app:app", "--bind", "127.0.0.1:0", "--workers", "1")
    try:
        server.wait_ready(1)
        rng = random.Random(1)
        for size, repeat in ((1 * MIB, 200), (100 * MIB, 5)):
            content = rng.randbytes(size)
            body, ct = encode_multipart([("title", "x")], [("file", "f.bin", content, "x/y")])
            raw = request("POST", "/upload", [("Content-Type", ct)], body)
            measure(server, f"multipart /upload {size // MIB} MiB (sha256)", raw, size, repeat)
            raw = request("POST", "/ingest", [("Content-Type", "x/y")], content)
            measure(server, f"stream /ingest {size // MIB} MiB (sha256)", raw, size, repeat)
            raw = request("POST", "/limited" if size <= MIB else "/nothing", body=content)
            if size <= MIB:
                measure(server, f"raw body {size // MIB} MiB (len)", raw, size, repeat)
    finally:
        server.stop()
        os.rmdir(spool)
    json.dump({"python": sys.version.split()[0]}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
