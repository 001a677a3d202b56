"""Load generation with wrk, and syscall counting with strace.

wrk's numbers come from the `done()` hook in bench/lua/report.lua (one JSON
line), so nothing depends on the layout of wrk's human-readable report.
"""

import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

from .servers import HOST, RunningServer, proc_status
from .workloads import LUA, Workload

MARK = "RUSHBENCH "


@dataclass(frozen=True)
class LoadShape:
    """How hard wrk pushes, and on which CPUs (None: unpinned)."""

    threads: int
    connections: int
    cpus: str | None


def wrk_argv(url: str, script, shape: LoadShape, duration_s: int) -> list[str]:
    argv = [
        "wrk", f"-t{shape.threads}", f"-c{shape.connections}", f"-d{duration_s}s",
        "--timeout", "5s", "-s", str(script), url,
    ]  # fmt: skip
    return ["taskset", "-c", shape.cpus, *argv] if shape.cpus else argv


def run_wrk(url: str, script, shape: LoadShape, duration_s: int) -> dict:
    """One wrk run; returns its parsed summary plus the raw output, or raises RuntimeError."""
    argv = wrk_argv(url, script, shape, duration_s)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"wrk did not finish: {' '.join(argv)}") from exc
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            stats = json.loads(line[len(MARK) :])
            stats["raw"] = done.stdout
            return stats
    raise RuntimeError(f"wrk failed (rc={done.returncode}): {done.stderr.strip() or done.stdout}")


def measure(server: RunningServer, workload: Workload, shape: LoadShape, duration_s: int) -> dict:
    """One measured sample: req/s, latency percentiles (ms) and errors for one workload."""
    stats = run_wrk(server.url + workload.path, workload.script, shape, duration_s)
    seconds = stats["duration_us"] / 1e6
    socket_errors = stats["connect"] + stats["read"] + stats["write"] + stats["timeout"]
    unexpected_status = 0 if workload.non2xx_expected else stats["status"]
    return {
        "rps": stats["requests"] / seconds if seconds else 0.0,
        "requests": stats["requests"],
        "duration_s": round(seconds, 3),
        "p50_ms": percentile_ms(stats["p50_us"]),
        "p90_ms": percentile_ms(stats["p90_us"]),
        "p99_ms": percentile_ms(stats["p99_us"]),
        "mean_ms": round(stats["mean_us"] / 1000, 3),
        "max_ms": stats["max_us"] / 1000,
        "socket_errors": socket_errors,
        "non2xx": stats["status"],
        "errors": socket_errors + unexpected_status,
        "wrk_output": stats["raw"],
    }


def percentile_ms(value_us: int) -> float | None:
    """wrk reports a percentile as 0 when its coordinated-omission correction has put
    samples below its recorded minimum; that happens with pipelining (the correction
    assumes one response per round trip). 0 is never a real latency: call it unknown."""
    return value_us / 1000 if value_us > 0 else None


def warm_up(servers: list[RunningServer], shape: LoadShape, duration_s: int) -> None:
    """Hit every route of every server at once (not measured), so no run pays first-use costs."""
    procs = []
    for server in servers:
        small = LoadShape(1, min(10, shape.connections), shape.cpus)
        argv = wrk_argv(server.url + "/", LUA / "warmup.lua", small, duration_s)
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for proc in procs:
        try:
            proc.wait(duration_s + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def send_requests(port: int, path: str, count: int, budget_s: float) -> int:
    """Send up to `count` sequential keep-alive GETs (reconnecting when the server
    closes); returns how many got an answer before `budget_s` ran out."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    end = time.monotonic() + budget_s
    done = 0
    try:
        while done < count and time.monotonic() < end:
            conn.request("GET", path)
            conn.getresponse().read()
            done += 1
    except (OSError, http.client.HTTPException):
        pass
    finally:
        conn.close()
    return done


def syscalls_per_request(server: RunningServer, path: str, count: int, budget_s: float) -> dict:
    """Attach `strace -c -f` to the worker processes, send `count` requests, divide.

    Returns {"error": why} when strace is missing or cannot attach (containers
    often forbid ptrace): this measurement is optional.
    """
    pids = server.worker_pids()
    if not pids:
        return {"error": "server is not running"}
    fd, out_path = tempfile.mkstemp(prefix="rush-bench-strace-", suffix=".txt")
    os.close(fd)
    argv = ["strace", "-c", "-f", "-q", "-o", out_path]
    for pid in pids:
        argv += ["-p", str(pid)]
    try:
        tracer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except FileNotFoundError:
        os.unlink(out_path)
        return {"error": "strace is not installed"}
    try:
        if not wait_attached(tracer, pids):
            return {"error": f"strace could not attach: {stop_tracer(tracer)}"}
        answered = send_requests(server.port, path, count, budget_s)
        stop_tracer(tracer)
        with open(out_path) as fh:
            calls, top = parse_strace_summary(fh.read())
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
        os.unlink(out_path)
    if not answered or calls is None:
        return {"error": "no requests answered or no strace summary"}
    return {
        "requests": answered,
        "syscalls": calls,
        "per_request": round(calls / answered, 2),
        "pids": pids,
        "top": top,
    }


def wait_attached(tracer: subprocess.Popen, pids: list[int], timeout_s: float = 5.0) -> bool:
    """True once every pid shows our strace as its TracerPid (so no request goes unseen)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if tracer.poll() is not None:
            return False
        if all(proc_status(pid).get("TracerPid", "0").strip() == str(tracer.pid) for pid in pids):
            time.sleep(0.1)  # threads of each process are attached right after
            return True
        time.sleep(0.05)
    return False


def stop_tracer(tracer: subprocess.Popen) -> str:
    """SIGINT makes strace detach and write its summary; returns its stderr."""
    if tracer.poll() is None:
        tracer.send_signal(signal.SIGINT)
    try:
        _, err = tracer.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        tracer.kill()
        _, err = tracer.communicate()
    return (err or b"").decode(errors="replace").strip()[-300:]


def parse_strace_summary(text: str) -> tuple[int | None, dict[str, int]]:
    """Total calls from `strace -c` output, and the five most frequent syscalls."""
    total = None
    counts: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[3].isdigit():
            continue
        if parts[-1] == "total":
            total = int(parts[3])
        else:
            counts[parts[-1]] = int(parts[3])
    top = dict(sorted(counts.items(), key=lambda kv: -kv[1])[:5])
    return total, top
