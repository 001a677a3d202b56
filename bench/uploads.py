"""Upload throughput of one worker: Rush against gunicorn (sync, 1 worker) + Flask 3.

    python bench/uploads.py [--quick] [--repeat R] [--out bench/results/uploads.json]

Starts both servers once, each with one worker pinned to CPU 0 (`taskset -c 0`); this
client runs on CPU 1. Every upload is a multipart/form-data POST of one file part whose
handler reads the file back in 64 KiB chunks, hashes it with sha256 and answers the
hexdigest, which is checked against the expected one:

- Rush: `python -m rush bench.peers.rush_uploads:app --workers 1` (request.files["file"].stream)
- Flask: bench/peers/flask_app.py under `gunicorn -k sync -w 1` (werkzeug's multipart parser,
  request.files["file"].stream)

plus Rush-only rows for its `stream=True` generator handler (/ingest) fed a raw body.

Every upload of the compared rows uses a new connection and sends `Connection: close`
(gunicorn's sync workers close after each response anyway), so both servers pay the same
per-upload connection cost. One more Rush-only row sends the 1 MiB form on one keep-alive
connection, to show what that cost is.
Request bytes are built before timing: the client costs one connect, one `sendall` and
reading the short answer. MB/s is MiB of file content per second of wall time over all
uploads of a workload. Both servers spool large files to the same temporary directory.

Per repetition the workloads run in turn, each on both servers, alternating which server
goes first. Numbers are medians over repetitions (3, or 1 with --quick); the Rush/Flask
ratio is the median of the per-repetition ratios. Before each measurement the worker's peak
RSS is reset (/proc/PID/clear_refs), and "RSS +" is VmHWM after minus VmRSS before, the
largest over repetitions. Loopback only; only the processes started here are stopped, by PID.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness.report import load_average, package_version, rush_version
from harness.servers import (
    HOST,
    RUSH_PROBE,
    SERVERS,
    RunningServer,
    ServerSpec,
    kb,
    missing_requirement,
    proc_status,
    start,
)
from harness.workloads import BENCH, REPO

MIB = 1024 * 1024
IO_TIMEOUT_S = 60.0  # per socket operation; a 100 MiB upload takes well under a second
READY_S = 30.0


def _rush_uploads(workers: int, port: int) -> list[str]:
    return [
        sys.executable, "-m", "rush", "bench.peers.rush_uploads:app",
        "--workers", str(workers), "--bind", f"{HOST}:{port}",
    ]  # fmt: skip


RUSH = ServerSpec(
    "rush",
    "Rush",
    "python -m rush bench.peers.rush_uploads:app --workers 1",
    _rush_uploads,
)
FLASK = SERVERS["gunicorn"]
LABELS = {"rush": "Rush", "gunicorn": "Flask"}


@dataclass
class Workload:
    """One kind of upload, sent `count` times per measurement to each server in `servers`."""

    name: str
    size: int  # file bytes per upload (what MB/s counts)
    count: int
    request: bytes  # the whole HTTP request, built before timing
    expected: str  # sha256 hexdigest the handler must answer
    servers: tuple[str, ...]
    description: str
    samples: dict[str, list[dict]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # server -> why its check failed
    keepalive: bool = False  # all uploads of a measurement on one connection


def http_request(path: str, content_type: str, body: bytes, close: bool = True) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    head += "Connection: close\r\n\r\n" if close else "\r\n"
    return head.encode("latin-1") + body


def multipart_body(content: bytes, boundary: str) -> tuple[bytes, str]:
    """One form field and one file part, as a browser sends them."""
    delimiter = b"--" + boundary.encode("ascii")
    body = b"".join(
        (
            delimiter,
            b'\r\nContent-Disposition: form-data; name="title"\r\n\r\nbench\r\n',
            delimiter,
            b'\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n",
            content,
            b"\r\n",
            delimiter,
            b"--\r\n",
        )
    )
    return body, f"multipart/form-data; boundary={boundary}"


def build_workloads(sizes: list[tuple[int, int]], servers: tuple[str, ...]) -> list[Workload]:
    rng = random.Random(1)
    out = []
    for size, count in sizes:
        content = rng.randbytes(size)
        digest = hashlib.sha256(content).hexdigest()
        label = f"{size // MIB} MiB"
        body, ctype = multipart_body(content, "----RushBenchBoundary" + rng.randbytes(8).hex())
        out.append(
            Workload(
                f"multipart {label} x{count}",
                size,
                count,
                http_request("/upload", ctype, body),
                digest,
                servers,
                f"POST /upload multipart/form-data, one {label} file part; sha256 of "
                "request.files['file'].stream",
            )
        )
        if "rush" in servers and size <= MIB:
            out.append(
                Workload(
                    f"multipart {label} x{count} keep-alive",
                    size,
                    count,
                    http_request("/upload", ctype, body, close=False),
                    digest,
                    ("rush",),
                    f"the multipart {label} upload, all on one keep-alive connection (Rush only: "
                    "gunicorn's sync workers close after each response)",
                    keepalive=True,
                )
            )
        del body
        if "rush" in servers:
            out.append(
                Workload(
                    f"stream=True {label} x{count}",
                    size,
                    count,
                    http_request("/ingest", "application/octet-stream", content),
                    digest,
                    ("rush",),
                    f"POST /ingest raw {label} body to a stream=True generator handler (Rush only)",
                )
            )
        del content
    return out


def rush_missing() -> str | None:
    """Why `python -m rush` cannot run from this checkout, or None."""
    probe = subprocess.run(
        [sys.executable, "-c", RUSH_PROBE], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        return "rush is not runnable: " + (probe.stderr.strip().splitlines() or ["?"])[-1]
    return None


class UploadError(Exception):
    pass


def upload(port: int, request: bytes) -> tuple[int, bytes]:
    """Send one request on a new connection; the status and body of the answer."""
    with socket.create_connection((HOST, port), timeout=IO_TIMEOUT_S) as sock:
        return exchange(sock, request)


def exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """Send one request; read exactly its answer (to EOF where it has no Content-Length)."""
    sock.sendall(request)
    data = bytearray()
    while (end := data.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise UploadError(f"connection closed before the answer's headers: {data[:200]!r}")
        data += chunk
    head = bytes(data[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    length = None
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = data[end + 4 :]
    while length is None or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            if length is None:
                break
            raise UploadError("connection closed in the middle of the answer")
        body += chunk
    return status, bytes(body[:length] if length is not None else body)


def check(server: RunningServer, wl: Workload) -> str | None:
    """One upload, which must be answered 200 with the right digest; None if it was."""
    try:
        status, body = upload(server.port, wl.request)
    except (OSError, UploadError, ValueError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if status != 200 or body.strip() != wl.expected.encode():
        return f"answered {status} {body[:200]!r}, expected 200 {wl.expected}"
    return None


def reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current RSS


def measure(server: RunningServer, wl: Workload) -> dict:
    workers = server.worker_pids()
    for pid in workers:
        reset_peak(pid)
    before = {pid: kb(proc_status(pid).get("VmRSS")) for pid in workers}
    expected = wl.expected.encode()
    error = None
    done = 0
    started = time.perf_counter()
    sock = None
    try:
        if wl.keepalive:
            sock = socket.create_connection((HOST, server.port), timeout=IO_TIMEOUT_S)
        for _ in range(wl.count):
            if sock is None:
                status, body = upload(server.port, wl.request)
            else:
                status, body = exchange(sock, wl.request)
            if status != 200 or body.strip() != expected:
                error = f"answered {status} {body[:200]!r}"
                break
            done += 1
    except (OSError, UploadError, ValueError, IndexError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if sock is not None:
            sock.close()
    elapsed = time.perf_counter() - started
    peaks = {pid: kb(proc_status(pid).get("VmHWM")) for pid in workers}
    growth = max((peaks[pid] - before[pid] for pid in workers if peaks[pid]), default=0)
    sample = {
        "uploads": done,
        "seconds": elapsed,
        "mb_s": wl.size * done / MIB / elapsed if done and not error else None,
        "worker_pids": workers,
        "rss_before_kb": before,
        "hwm_after_kb": peaks,
        "rss_growth_kb": growth,
    }
    if error:
        sample["error"] = error
    return sample


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(wl: Workload) -> dict:
    out: dict = {"workload": wl.name, "description": wl.description, "file_bytes": wl.size}
    out["uploads_per_measurement"] = wl.count
    for name in wl.servers:
        samples = wl.samples.get(name, [])
        rates = [s["mb_s"] for s in samples if s["mb_s"] is not None]
        out[name] = {
            "mb_s_median": median(rates),
            "mb_s_min": min(rates, default=None),
            "mb_s_max": max(rates, default=None),
            "rates": rates,
            "rss_growth_kb_max": max((s["rss_growth_kb"] for s in samples), default=None),
            "check_failed": wl.failed.get(name),
            "errors": [s["error"] for s in samples if "error" in s],
            "samples": samples,
        }
    if {"rush", "gunicorn"} <= set(wl.servers):
        pairs = zip(wl.samples.get("rush", []), wl.samples.get("gunicorn", []), strict=False)
        ratios = [r["mb_s"] / f["mb_s"] for r, f in pairs if r["mb_s"] and f["mb_s"]]
        out["ratio_rush_flask"] = median(ratios)
        out["ratio_samples"] = ratios
    return out


def fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def fmt_spread(info: dict | None, missing: str) -> str:
    """The median, and the min-max over repetitions where there were several."""
    if not info or info["mb_s_median"] is None:
        return "-" if info else missing
    text = fmt_rate(info["mb_s_median"])
    if len(info["rates"]) > 1:
        text += f" ({fmt_rate(info['mb_s_min'])}-{fmt_rate(info['mb_s_max'])})"
    return text


def fmt_mem(kib: int | None) -> str:
    return "-" if kib is None else f"+{kib / 1024:.1f} MiB"


def table(rows: list[dict], skipped: dict[str, str]) -> str:
    head = ("workload", "Rush MB/s", "Flask MB/s", "Rush/Flask", "Rush RSS", "Flask RSS")
    lines = []
    for row in rows:
        rush, flask = row.get("rush"), row.get("gunicorn")
        ratio = row.get("ratio_rush_flask")
        lines.append(
            (
                row["workload"],
                fmt_spread(rush, "-"),
                fmt_spread(flask, "n/a"),
                f"{ratio:.2f}x" if ratio else "-",
                fmt_mem(rush["rss_growth_kb_max"]) if rush else "-",
                fmt_mem(flask["rss_growth_kb_max"]) if flask else "n/a",
            )
        )
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]

    def render(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    out = [render(head), "  ".join("-" * w for w in widths), *map(render, lines)]
    for row in rows:
        for name in ("rush", "gunicorn"):
            info = row.get(name) or {}
            if info.get("check_failed"):
                out.append(
                    f"  ! {row['workload']} {LABELS[name]} check failed: {info['check_failed']}"
                )
            for error in info.get("errors", [])[:1]:
                out.append(f"  ! {row['workload']} {LABELS[name]}: {error}")
    for name, why in skipped.items():
        out.append(f"  ! {LABELS[name]} not measured: {why}")
    return "\n".join(out)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 repetition (< 1 minute)")
    p.add_argument("--repeat", type=int, help="repetitions (default 3, quick 1)")
    p.add_argument(
        "--out", type=Path, default=BENCH / "results" / "uploads.json", help="results JSON"
    )
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if shutil.which("taskset") is None:
        print("taskset is missing (util-linux)", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    pinned = len(cpus) >= 2
    server_cpus = str(cpus[0]) if pinned else None
    if pinned:
        os.sched_setaffinity(0, {cpus[1]})  # the client; the servers get taskset -c cpus[0]
    else:
        print("fewer than 2 CPUs: nothing is pinned", file=sys.stderr)

    skipped: dict[str, str] = {}
    specs = []
    for spec in (RUSH, FLASK):
        why = rush_missing() if spec is RUSH else missing_requirement(spec)
        if why:
            skipped[spec.name] = why
        else:
            specs.append(spec)
    if not specs:
        print("\n".join(f"{k}: {v}" for k, v in skipped.items()), file=sys.stderr)
        return 1
    names = tuple(s.name for s in specs)

    t0 = time.monotonic()
    workloads = build_workloads([(1 * MIB, 50), (100 * MIB, 3)], names)
    print(f"bodies built in {time.monotonic() - t0:.1f}s", file=sys.stderr)

    logs = args.out.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    spool = tempfile.mkdtemp(prefix="rush-bench-uploads-")
    env = dict(os.environ, TMPDIR=spool, PYTHONUNBUFFERED="1")
    machine = {
        "nproc": len(cpus),
        "python": sys.version.split()[0],
        "loadavg_at_start": load_average(),
        "versions": {
            "rush": rush_version(),
            **{n: package_version(n) for n in ("flask", "werkzeug", "gunicorn")},
        },
    }
    servers: list[RunningServer] = []
    try:
        for spec in specs:
            servers.append(start(spec, 1, server_cpus, logs / f"uploads-{spec.name}.log", env))
        for server in list(servers):
            why = server.wait_ready(READY_S)
            if why:
                skipped[server.spec.name] = why
                server.stop()
                servers.remove(server)
        # Every (workload, server) once, which must be answered right; also the warm-up.
        for wl in workloads:
            for server in servers:
                name = server.spec.name
                if name in wl.servers:
                    wl.samples[name] = []
                    if why := check(server, wl):
                        wl.failed[name] = why
        for rep in range(args.repeat):
            for i, wl in enumerate(workloads):
                turn = (rep + i) % len(servers)
                for server in servers[turn:] + servers[:turn]:
                    name = server.spec.name
                    if name not in wl.servers or name in wl.failed:
                        continue
                    sample = measure(server, wl)
                    sample["rep"] = rep
                    wl.samples[name].append(sample)
                    print(
                        f"rep {rep + 1}/{args.repeat} {wl.name:<30} {LABELS[name]:<6} "
                        f"{fmt_rate(sample['mb_s']):>7} MB/s  {fmt_mem(sample['rss_growth_kb'])}"
                        + (f"  ! {sample['error']}" if "error" in sample else ""),
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(spool, ignore_errors=True)

    rows = [summarize(wl) for wl in workloads]
    title = (
        f"Upload throughput, 1 worker, server on CPU {server_cpus}, client on CPU {cpus[1]}, "
        "new connection per upload unless "
        f"marked; MB/s = MiB of file per second, median of {args.repeat}"
        f"{' (min-max)' if args.repeat > 1 else ''}; "
        "RSS = worker peak growth (largest)"
        if pinned
        else f"Upload throughput, 1 worker, unpinned, median of {args.repeat}"
    )
    text = f"{title}\n{table(rows, skipped)}"
    sys.stderr.flush()
    print("\n" + text, flush=True)
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *argv]),
        "machine": machine,
        "settings": {
            "repeat": args.repeat,
            "server_cpus": server_cpus,
            "client_cpu": cpus[1] if pinned else None,
            "connection": "new connection per upload, Connection: close (both servers); "
            "rows marked keep-alive: one connection (Rush only)",
            "handlers": "sha256 of the file, read back in 64 KiB chunks; answer: hexdigest",
            "servers": {s.name: s.about for s in specs},
            "spool_dir": "a fresh mkdtemp() under the default TMPDIR, shared by both servers",
            "total_seconds": round(time.monotonic() - t0, 1),
        },
        "skipped": skipped,
        "table": text,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    measured = any(
        (row.get(n) or {}).get("mb_s_median") for row in rows for n in ("rush", "gunicorn")
    )
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
