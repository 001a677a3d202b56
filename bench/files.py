"""Large files: Rush (sendfile from its static folder) against nginx (`sendfile on`), one run.

Both serve the same 1 MiB file over loopback: one worker/process pinned to CPU 0, wrk pinned
to CPU 1, servers alternated, medians of the repetitions. The file is above Rush's cache
threshold (256 KiB), so Rush answers it with zero-copy sendfile, as nginx does.

    python bench/files.py [--size-kib 1024] [--repeat 3] [--duration 5]

Needs wrk and nginx (bench/setup.sh installs nginx-light).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /static/ {{ alias {files}/; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, path: str, digest: str, deadline_s: float = 15.0) -> None:
    """Wait until the server answers `path` with the exact file (checked by sha256)."""
    import http.client

    deadline = time.monotonic() + deadline_s
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            body = connection.getresponse().read()
            connection.close()
            if hashlib.sha256(body).hexdigest() != digest:
                raise SystemExit(f"port {port}: wrong body for {path}")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"port {port}: no answer within {deadline_s}s") from None
            time.sleep(0.1)


def wrk(port: int, path: str, duration: int) -> float:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            "-c50",
            f"-d{duration}",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=duration + 30,
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx"):
        print("needs wrk and nginx: run bash bench/setup.sh", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="rush-bench-files-"))
    tmp.chmod(0o755)  # nginx's workers run as an unprivileged user
    files = tmp / "files"
    files.mkdir()
    data = os.urandom(args.size_kib * 1024)
    (files / "big.bin").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    path = "/static/big.bin"
    rush_port, nginx_port = free_port(), free_port()
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=nginx_port, files=files))
    env = dict(os.environ, RUSH_BENCH_FILES=str(files), PYTHONPATH=str(REPO))
    rush_cmd = [
        "taskset",
        "-c",
        "0",
        sys.executable,
        "-m",
        "rush",
        "bench.peers.rush_files:app",
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{rush_port}",
        "--log-level",
        "warning",
    ]
    nginx_cmd = ["taskset", "-c", "0", "nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)]
    servers = {
        "rush": subprocess.Popen(rush_cmd, cwd=REPO, env=env, stderr=subprocess.DEVNULL),
        "nginx": subprocess.Popen(nginx_cmd, stderr=subprocess.DEVNULL),
    }
    ports = {"rush": rush_port, "nginx": nginx_port}
    try:
        for port in ports.values():
            wait_ready(port, path, digest)
            wrk(port, path, 1)  # warm-up
        samples: dict[str, list[float]] = {name: [] for name in ports}
        for rep in range(args.repeat):
            order = list(ports) if rep % 2 == 0 else list(reversed(ports))
            for name in order:
                samples[name].append(wrk(ports[name], path, args.duration))
        medians = {name: statistics.median(values) for name, values in samples.items()}
        mib = args.size_kib / 1024
        print(
            f"{args.size_kib} KiB file, 1 worker on CPU 0, wrk -t1 -c50 on CPU 1, "
            f"median of {args.repeat} x {args.duration}s"
        )
        for name, rps in medians.items():
            spread = f"{min(samples[name]):,.0f}-{max(samples[name]):,.0f}"
            print(f"{name:6} {rps:10,.0f} req/s ({spread})  {rps * mib:8,.0f} MiB/s")
        if medians["nginx"]:
            print(f"rush/nginx: x{medians['rush'] / medians['nginx']:.2f}")
    finally:
        for process in servers.values():
            process.send_signal(signal.SIGTERM if process is servers["rush"] else signal.SIGQUIT)
        for process in servers.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
