"""Summaries, the printed tables, machine info and the JSON file.

Medians over repetitions are the headline numbers; min–max is shown next to
them because a shared 2-core VM is noisy. Rush/peer ratios are computed per
repetition (the two samples were taken minutes apart at most, interleaved)
and then the median is taken.
"""

import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from .servers import RATIO_PAIRS, SERVERS
from .workloads import REPO


def summarize(samples: list[dict]) -> dict:
    """{config: {workload: {server: stats}}} from the raw samples."""
    groups: dict[tuple, list[dict]] = {}
    for s in samples:
        groups.setdefault((s["config"], s["workload"], s["server"]), []).append(s)
    out: dict = {}
    for (config, workload, server), group in groups.items():
        rps = [s["rps"] for s in group]
        out.setdefault(config, {}).setdefault(workload, {})[server] = {
            "rps": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p50_ms": median_or_none(s["p50_ms"] for s in group),
            "p99_ms": median_or_none(s["p99_ms"] for s in group),
            "errors": sum(s["errors"] for s in group),
            "reps": len(group),
        }
    return out


def median_or_none(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def ratios(samples: list[dict], config: str, workload: str, num: str, den: str) -> dict | None:
    """Median (and range) over repetitions of num's req/s divided by den's, same rep."""
    by_rep: dict[int, dict[str, float]] = {}
    for s in samples:
        if s["config"] == config and s["workload"] == workload and s["server"] in (num, den):
            by_rep.setdefault(s["rep"], {})[s["server"]] = s["rps"]
    values = [r[num] / r[den] for r in by_rep.values() if r.get(num) and r.get(den)]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt_rps(value: float) -> str:
    if value >= 100_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def fmt_range(low: float, high: float) -> str:
    """'11.1-31.6k' rather than '11.1k-31.6k': the table is wide enough already."""
    a, b = fmt_rps(low), fmt_rps(high)
    if a.endswith("k") and b.endswith("k"):
        return f"{a[:-1]}-{b}"
    return f"{a}-{b}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"  # wrk gave no usable percentile (see load.percentile_ms)
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def cell_lines(stats: dict | None, problem: str | None) -> tuple[str, str]:
    """The two lines a server shows for one workload: throughput, then latency/errors."""
    if problem:
        return "check failed", "(see notes)"
    if not stats:
        return "-", ""
    top = fmt_rps(stats["rps"])
    if stats["reps"] > 1:
        top += f" ({fmt_range(stats['rps_min'], stats['rps_max'])})"
    bottom = f"{fmt_ms(stats['p50_ms'])}/{fmt_ms(stats['p99_ms'])} ms"
    bottom += f" {stats['errors']}err" if stats["errors"] else ""
    return top, bottom


def ratio_pairs(servers: list[str]) -> list[tuple[str, str]]:
    """The ratio columns: native Rush over each other server, then the WSGI hosting pairs."""
    pairs = [("rush", s) for s in servers if "rush" in servers and not s.startswith("rush")]
    pairs += [(a, b) for a, b in RATIO_PAIRS if a in servers and b in servers]
    return pairs


def format_table(config: dict, result: dict, samples: list[dict]) -> str:
    """One configuration's table: rows are workloads, columns servers then Rush/peer ratios."""
    name = config["name"]
    servers = [s for s in config["servers"] if result["servers"][s]["started"]]
    pairs = ratio_pairs(servers)
    stats = result["summary"]
    head = ["workload", *(SERVERS[s].label for s in servers), *(f"{a}/{b}" for a, b in pairs)]
    rows: list[list[str]] = []
    for workload in config["workloads"]:
        top, bottom = [workload], [""]
        for server in servers:
            problem = result["servers"][server]["checks"].get(workload)
            a, b = cell_lines(stats.get(workload, {}).get(server), problem)
            top.append(a)
            bottom.append(b)
        for num, den in pairs:
            r = ratios(samples, name, workload, num, den)
            top.append(f"x{r['median']:.2f}" if r else "-")
            bottom.append("")
        rows += [top, bottom]
    rows += extra_rows(result, servers, len(pairs))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    text = [
        config["title"],
        "cells: req/s median (min-max over reps) / latency p50/p99, errors",
        line,
    ]
    text.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    text.append(line)
    text += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    text.append(line)
    return "\n".join(text)


def extra_rows(result: dict, servers: list[str], n_ratios: int) -> list[list[str]]:
    """Per-server memory and syscall rows, aligned under the server columns."""
    rss, total, sysc = ["worker peak RSS"], ["all procs RSS"], ["syscalls/req"]
    for server in servers:
        info = result["servers"][server]
        mem = info.get("memory") or {}
        rss.append(f"{mem['worker_peak_kb'] / 1024:.1f} MiB" if mem else "-")
        total.append(f"{mem['total_rss_kb'] / 1024:.1f} MiB" if mem else "-")
        sc = info.get("syscalls")
        sysc.append(f"{sc['per_request']:.1f}" if sc and "per_request" in sc else "-")
    pad = [""] * n_ratios
    rows = [rss + pad, total + pad]
    if any(result["servers"][s].get("syscalls") for s in servers):
        rows.append(sysc + pad)
    return rows


def notes(result: dict) -> list[str]:
    """Servers that did not start and checks that failed, in words."""
    out = []
    for server, info in result["servers"].items():
        label = SERVERS[server].label
        if not info["started"]:
            out.append(f"{label}: not measured: {info['error']}")
            continue
        if info["error"]:
            out.append(f"{label}: {info['error']}")
        out += [f"{label} / {w}: check failed: {why}" for w, why in info["checks"].items() if why]
        sc = info.get("syscalls")
        if sc and "error" in sc:
            out.append(f"{label}: syscalls not counted: {sc['error']}")
    return out


def machine_info() -> dict:
    """What the numbers were measured on (they mean nothing without it)."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "nproc": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "loadavg_at_start": load_average(),
        "versions": versions(),
    }


def load_average() -> float | None:
    """1-minute load average: on a 2-CPU box anything else running skews every number."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def versions() -> dict:
    out = {name: package_version(name) for name in ("flask", "gunicorn", "granian", "bjoern")}
    out["rush"] = rush_version()
    try:
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        out["wrk"] = (done.stdout + done.stderr).splitlines()[0].split(" Copyright")[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        out["wrk"] = None
    return out


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def rush_version() -> str | None:
    """Rush as imported from this checkout (it need not be pip-installed)."""
    code = "import rush; print(getattr(rush, '__version__', ''))"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or package_version("rush") or "unknown"


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
