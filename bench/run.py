"""Benchmark Rush against gunicorn+Flask, granian, bjoern and a raw epoll ceiling.

    python bench/run.py [--quick] [--servers rush,gunicorn,granian,bjoern,raw]
                        [--workloads redirect,static,...] [--config pinned,unpinned]
                        [--duration S] [--connections C] [--repeat R] [--syscalls]
                        [--out bench/results]

Each configuration starts every server once, checks that every workload gets
a correct answer, warms everything up, then measures with wrk, interleaving
servers inside each repetition so slow drifts of this machine hit all of
them alike. Only loopback is used and every load is bounded in time.
See bench/README.md.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness import chart, report
from harness.checks import check_workload
from harness.load import LoadShape, measure, syscalls_per_request, warm_up
from harness.servers import (
    DEFAULT_SERVERS,
    SERVERS,
    WSGI_SERVERS,
    RunningServer,
    missing_requirement,
    start,
)
from harness.workloads import (
    BENCH,
    INDEX_PATH,
    SESSION_ENV,
    SESSION_KEY,
    WORKLOAD_NAMES,
    make_workloads,
    session_cookie,
)

CONFIGS = ("pinned", "unpinned")
SYSCALL_PATH = "/hello?name=bill"


class HarnessError(Exception):
    """The harness itself cannot run (missing tool, bad arguments): exit code 2."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 rep, 1 s runs: a smoke test (<2 min)")
    p.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"comma-separated subset of {', '.join(SERVERS)}; `wsgi` for the WSGI hosting set",
    )
    p.add_argument("--workloads", default=",".join(WORKLOAD_NAMES), help="comma-separated subset")
    p.add_argument("--config", default=",".join(CONFIGS), help="pinned, unpinned or both")
    p.add_argument("--duration", type=int, help="seconds per measured wrk run (default 2, quick 1)")
    p.add_argument(
        "--connections", type=int, help="wrk connections (default 50 pinned, 100 unpinned)"
    )
    p.add_argument("--repeat", type=int, help="repetitions (default 3, quick 1)")
    p.add_argument("--warmup", type=int, help="seconds of warm-up per configuration (default 1)")
    p.add_argument("--syscalls", action="store_true", help="count syscalls/request with strace")
    p.add_argument(
        "--syscall-requests", type=int, help="requests sent under strace (default 20000)"
    )
    p.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    p.add_argument("--install", action="store_true", help="run bench/setup.sh first")
    args = p.parse_args(argv)
    if args.servers == "wsgi":
        args.servers = ",".join(WSGI_SERVERS)
    args.servers = pick(args.servers, list(SERVERS), "server")
    args.workloads = pick(args.workloads, list(WORKLOAD_NAMES), "workload")
    args.config = pick(args.config, list(CONFIGS), "config")
    defaults = {
        "duration": (1, 2),
        "repeat": (1, 3),
        "warmup": (1, 1),
        "syscall_requests": (2000, 20000),
    }
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        elif getattr(args, name) < 1:
            raise HarnessError(f"--{name.replace('_', '-')} must be at least 1")
    if args.connections is not None and args.connections < 2:
        raise HarnessError("--connections must be at least 2 (wrk needs one per thread)")
    return args


def pick(value: str, known: list[str], what: str) -> list[str]:
    """Parse a comma list, keep the canonical order, reject unknown names."""
    asked = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in asked if v not in known]
    if unknown or not asked:
        raise HarnessError(f"unknown {what}(s) {unknown or value!r}; choose from {','.join(known)}")
    return [k for k in known if k in asked]


def make_configs(args: argparse.Namespace) -> list[dict]:
    """The measured setups: one worker pinned away from wrk, and two workers unpinned."""
    two_cpus = len(os.sched_getaffinity(0)) >= 2
    wrk_cpu = "1" if two_cpus else "0"
    out = []
    for name in args.config:
        if name == "pinned":
            shape = LoadShape(1, args.connections or 50, wrk_cpu)
            workers, cpus = 1, "0"
            title = f"[pinned] 1 worker, server on CPU 0, wrk -t1 -c{shape.connections} on CPU {wrk_cpu}"
        else:
            shape = LoadShape(2, args.connections or 100, None)
            workers, cpus = 2, None
            title = f"[unpinned] 2 workers, wrk -t2 -c{shape.connections}, no pinning"
        title += f"; {args.repeat} rep(s) x {args.duration}s"
        out.append(
            {
                "name": name,
                "title": title,
                "workers": workers,
                "server_cpus": cpus,
                "shape": shape,
                "servers": list(args.servers),
                "workloads": list(args.workloads),
            }
        )
    return out


def check_tools(args: argparse.Namespace) -> None:
    if args.install:
        subprocess.run(["bash", str(BENCH / "setup.sh")], check=True)
    if not shutil.which("wrk"):
        raise HarnessError("wrk is not installed: run `bash bench/setup.sh` (or --install)")
    if "pinned" in args.config and not shutil.which("taskset"):
        raise HarnessError("taskset (util-linux) is needed for the pinned configuration")
    if args.syscalls and not shutil.which("strace"):
        print("note: strace is not installed; --syscalls will be skipped")


def resolve_index(out_dir: Path) -> tuple[Path, bytes, bool]:
    """The static page every server must serve; a generated stand-in while the real one
    (examples/public/index.html) does not exist yet (then Rush's static check fails)."""
    if INDEX_PATH.exists():
        return INDEX_PATH, INDEX_PATH.read_bytes(), False
    stand_in = out_dir / "tmp" / "index.html"
    stand_in.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"<p>Paragraph {i}: the quick brown fox jumps over the lazy dog.</p>\n" for i in range(22)
    )
    page = f"<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>stand-in</title></head>\n<body>\n{rows}</body></html>\n"
    stand_in.write_text(page)
    return stand_in, page.encode(), True


def start_servers(config: dict, args, env: dict, result: dict) -> list[RunningServer]:
    """Start every runnable server of the configuration at once, then wait for each."""
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    launched = []
    for name in config["servers"]:
        spec = SERVERS[name]
        info = result["servers"][name]
        why = missing_requirement(spec)
        if why:
            info["error"] = why
            continue
        log_path = logs / f"{config['name']}-{name}.log"
        launched.append(start(spec, config["workers"], config["server_cpus"], log_path, env))
    try:
        return [server for server in launched if became_ready(server, result)]
    except BaseException:  # Ctrl-C while waiting: leave nothing running behind us
        for server in launched:
            server.stop()
        raise


def became_ready(server: RunningServer, result: dict) -> bool:
    info = result["servers"][server.spec.name]
    info["argv"] = server.proc.args
    why = server.wait_ready(30.0)
    if why:
        info["error"] = f"failed to start: {why} (log: {server.log_path})"
        server.stop()
        return False
    info["started"] = True
    return True


def run_checks(servers: list[RunningServer], workloads: dict, result: dict) -> None:
    for server in servers:
        checks = result["servers"][server.spec.name]["checks"]
        for name, workload in workloads.items():
            checks[name] = check_workload(server.port, workload)


def measure_all(config: dict, servers: list[RunningServer], workloads: dict, args, run) -> None:
    """for rep: for workload: for server -- the server order rotates with each rep.

    A server is skipped for a workload whose correctness check it failed.
    """
    checks = {name: info["checks"] for name, info in run.results[config["name"]]["servers"].items()}
    for rep in range(args.repeat):
        order = servers[rep % len(servers) :] + servers[: rep % len(servers)]
        for name, workload in workloads.items():
            line = []
            for server in order:
                if checks[server.spec.name].get(name):
                    continue
                try:
                    sample = measure(server, workload, config["shape"], args.duration)
                except RuntimeError as exc:
                    print(f"  ! {server.spec.name} {name}: {exc}")
                    continue
                sample.update(
                    config=config["name"], rep=rep + 1, workload=name, server=server.spec.name
                )
                run.samples.append(sample)
                err = f" ({sample['errors']} err)" if sample["errors"] else ""
                line.append(f"{server.spec.name} {report.fmt_rps(sample['rps'])}{err}")
            print(f"  rep {rep + 1}/{args.repeat} {name:<9} " + " | ".join(line), flush=True)


def run_config(config: dict, args, workloads: dict, env: dict, run: "Run") -> None:
    """Start, check, warm up, measure, then record memory and (optionally) syscalls."""
    result = {
        "title": config["title"],
        "workers": config["workers"],
        "server_cpus": config["server_cpus"],
        "wrk": vars(config["shape"]),
        "servers": {s: {"started": False, "error": None, "checks": {}} for s in config["servers"]},
    }
    run.results[config["name"]] = result
    print(f"\n== {config['title']}", flush=True)
    servers = start_servers(config, args, env, result)
    try:
        for name, info in result["servers"].items():
            if not info["started"]:
                print(f"  skip {name}: {info['error']}")
        if not servers:
            return
        run_checks(servers, workloads, result)
        for server in servers:
            failed = {
                w: why for w, why in result["servers"][server.spec.name]["checks"].items() if why
            }
            for w, why in failed.items():
                print(f"  check failed: {server.spec.name} {w}: {why}")
        warm_up(servers, config["shape"], args.warmup)
        measure_all(config, servers, workloads, args, run)
        for server in servers:
            info = result["servers"][server.spec.name]
            if server.proc.poll() is not None:
                info["error"] = f"exited during the run: {server.log_tail()}"
                print(f"  ! {server.spec.name} {info['error']}")
            info["memory"] = server.memory()
        if args.syscalls and config["name"] == syscall_config(args):
            count_syscalls(servers, args, result)
    finally:
        for server in servers:
            server.stop()


def syscall_config(args) -> str:
    """Syscalls/request is a per-worker figure: count it once, in the pinned 1-worker setup."""
    return "pinned" if "pinned" in args.config else args.config[0]


def count_syscalls(servers: list[RunningServer], args, result: dict) -> None:
    budget = 20.0 if args.quick else 60.0
    for server in servers:
        sc = syscalls_per_request(server, SYSCALL_PATH, args.syscall_requests, budget)
        result["servers"][server.spec.name]["syscalls"] = sc
        shown = sc.get("per_request", sc.get("error"))
        print(f"  syscalls/request {server.spec.name}: {shown}", flush=True)


def estimate_s(args, n_configs: int) -> float:
    runs = n_configs * args.repeat * len(args.workloads) * len(args.servers)
    extra = n_configs * (args.warmup + 6)
    if args.syscalls:
        extra += len(args.servers) * (args.syscall_requests / 1500 + 1)
    return runs * (args.duration + 0.2) + extra


@dataclass
class Run:
    """Everything one invocation produced, for the tables, the JSON and the chart."""

    args: argparse.Namespace
    argv: list[str]
    configs: list[dict]
    workloads: dict
    index_path: Path
    machine: dict = field(default_factory=report.machine_info)
    results: dict = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)


def interrupt(_signum, _frame) -> None:
    """First SIGINT/SIGTERM: stop measuring. Later ones are ignored so that the
    (bounded) cleanup always stops every server it started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    # SIGTERM, and SIGINT even where a parent shell ignored it, end the run the same
    # way Ctrl-C does: servers are stopped and what was measured is still reported.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        args = parse_args(argv)
        check_tools(args)
    except (HarnessError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    index_path, index_bytes, stand_in = resolve_index(args.out)
    if stand_in:
        print(f"note: {INDEX_PATH} is missing; peers serve a stand-in page ({index_path})")
    os.environ[SESSION_ENV] = session_cookie()  # wrk's session.lua and the checks read it
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        RUSH_BENCH_INDEX=str(index_path),
        RUSH_SECRET_KEY=SESSION_KEY,
    )
    workloads = {w: make_workloads(index_bytes)[w] for w in args.workloads}
    run = Run(args, argv, make_configs(args), workloads, index_path)
    print(f"servers: {', '.join(args.servers)}; workloads: {', '.join(args.workloads)}")
    print(f"estimated time: {estimate_s(args, len(run.configs)) / 60:.1f} min", flush=True)
    warn_if_busy(run.machine)
    try:
        for config in run.configs:
            run_config(config, args, workloads, env, run)
    except KeyboardInterrupt:
        print("\ninterrupted: reporting what was measured")
        return 130
    finally:
        write_outputs(run)
    if not run.samples:
        print("error: nothing was measured (see the messages above)", file=sys.stderr)
        return 1
    return 0


def warn_if_busy(machine: dict) -> None:
    load, cpus = machine["loadavg_at_start"], machine["nproc"]
    if load is not None and load > 0.5 * cpus:
        print(f"warning: load average {load:.1f} on {cpus} CPUs: other work is running, ", end="")
        print("so expect noisy numbers")


def write_outputs(run: Run) -> None:
    """Tables and notes on stdout, then latest.json and chart.svg in --out."""
    args = run.args
    done = [c for c in run.configs if c["name"] in run.results]
    for config in done:
        result = run.results[config["name"]]
        mine = [s for s in run.samples if s["config"] == config["name"]]
        result["summary"] = report.summarize(mine).get(config["name"], {})
        result["ratios"] = rush_ratios(config, mine)
        print("\n" + report.format_table(config, result, mine))
        for note in report.notes(result):
            print(f"  note: {note}")
    report.write_json(args.out / "latest.json", json_payload(run))
    panels = [(run.results[c["name"]]["title"], run.results[c["name"]]["summary"]) for c in done]
    panels = [p for p in panels if p[1]]
    if panels:
        m = run.machine
        subtitle = (
            f"{m['cpu_model']}, {m['nproc']} CPUs, Linux {m['kernel']}, Python {m['python']}; "
            f"median of {args.repeat} wrk run(s) of {args.duration}s each"
        )
        svg = chart.render(panels, args.servers, args.workloads, subtitle)
        (args.out / "chart.svg").write_text(svg)
    print(
        f"\nwrote {args.out / 'latest.json'}" + (f" and {args.out / 'chart.svg'}" if panels else "")
    )
    print(f"total time: {time.monotonic() - run.t0:.0f} s")


def rush_ratios(config: dict, samples: list[dict]) -> dict:
    """{workload: {"num/den": ratio stats}} for every ratio column of the table (Rush over
    each peer, and the WSGI hosting pairs), per repetition."""
    pairs = report.ratio_pairs(list(config["servers"]))
    return {
        w: {f"{a}/{b}": report.ratios(samples, config["name"], w, a, b) for a, b in pairs}
        for w in config["workloads"]
    }


def json_payload(run: Run) -> dict:
    args = run.args
    return {
        "command": [sys.executable, "bench/run.py", *run.argv],
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - run.t0, 1),
        "machine": run.machine,
        "settings": {
            "quick": args.quick,
            "duration_s": args.duration,
            "repeat": args.repeat,
            "warmup_s": args.warmup,
            "syscalls": args.syscalls,
            "syscall_requests": args.syscall_requests,
            "index_path": str(run.index_path),
        },
        "servers": {
            s: {"label": SERVERS[s].label, "about": SERVERS[s].about} for s in args.servers
        },
        "workloads": {name: w.description for name, w in run.workloads.items()},
        "configs": run.results,
        "samples": run.samples,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
