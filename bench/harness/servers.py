"""The servers under test: how to start each one, wait for it, measure and stop it.

Every server gets its own free loopback port and a log file. Processes are
only ever stopped by the PIDs we started (and their descendants, found in
/proc), never by name.
"""

import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .workloads import BENCH, REPO

PEERS = BENCH / "peers"
# Imports the package without running its CLI, and needs `python -m rush` to exist.
RUSH_PROBE = (
    "import importlib.util, rush; "
    "assert importlib.util.find_spec('rush.__main__'), 'rush/__main__.py is missing'"
)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerSpec:
    """One contender. `argv(workers, port)` builds its command line."""

    name: str
    label: str
    about: str
    argv: Callable[[int, int], list[str]]
    needs: tuple[str, ...] = ()  # importable modules it needs
    cwd: Path = REPO
    max_workers: int | None = None


def _rush(workers: int, port: int) -> list[str]:
    app = "examples.app:app"
    return [
        sys.executable,
        "-m",
        "rush",
        app,
        "--workers",
        str(workers),
        "--bind",
        f"{HOST}:{port}",
    ]


def _rush_pure(workers: int, port: int) -> list[str]:
    """Rush on its pure-Python path (RUSH_NO_EXTENSIONS=1: no C accelerator), same app."""
    return ["env", "RUSH_NO_EXTENSIONS=1", *_rush(workers, port)]


def _gunicorn(workers: int, port: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "-k", "sync", "-w", str(workers),
        "-b", f"{HOST}:{port}", "--chdir", str(PEERS), "--log-level", "warning",
        "flask_app:app",
    ]  # fmt: skip


def _granian(workers: int, port: int) -> list[str]:
    # One blocking thread per worker: the handler holds the GIL anyway, and more
    # threads measured slower here (granian itself warns about the default).
    return [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--host", HOST,
        "--port", str(port), "--workers", str(workers), "--blocking-threads", "1",
        "--http", "1", "--no-ws", "--log-level", "warning",
        "--working-dir", str(PEERS), "wsgi_app:app",
    ]  # fmt: skip


def _bjoern(workers: int, port: int, app: str = "wsgi_app") -> list[str]:
    return [
        sys.executable,
        str(PEERS / "run_bjoern.py"),
        HOST,
        str(port),
        "--workers",
        str(workers),
        "--app",
        app,
    ]


def _rush_wsgi(app: str) -> Callable[[int, int], list[str]]:
    """Rush's engine hosting a WSGI app from bench/peers (`rush --interface wsgi`)."""

    def argv(workers: int, port: int) -> list[str]:
        return [
            sys.executable, "-m", "rush", app, "--interface", "wsgi", "--workers", str(workers),
            "--bind", f"{HOST}:{port}",
        ]  # fmt: skip

    return argv


def _gunicorn_gthread(workers: int, port: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "4", "-w", str(workers),
        "-b", f"{HOST}:{port}", "--chdir", str(PEERS), "--log-level", "warning",
        "flask_app:app",
    ]  # fmt: skip


def _granian_flask(workers: int, port: int) -> list[str]:
    return [*_granian(workers, port)[:-1], "flask_app:app"]


def _raw(workers: int, port: int) -> list[str]:
    return [sys.executable, str(PEERS / "raw_epoll.py"), HOST, str(port), "--workers", str(workers)]


SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("rush", "Rush", "python -m rush examples.app:app (this repo)", _rush),
        ServerSpec(
            "rush-pure",
            "Rush pure",
            "the same, with RUSH_NO_EXTENSIONS=1: the pure-Python path, no C accelerator",
            _rush_pure,
        ),
        ServerSpec(
            "gunicorn",
            "gunicorn+Flask",
            "Flask 3 app under gunicorn sync workers (one connection at a time, no keep-alive)",
            _gunicorn,
            ("gunicorn", "flask"),
        ),
        ServerSpec(
            "granian",
            "granian WSGI",
            "plain WSGI callable under granian (Rust HTTP, --interface wsgi)",
            _granian,
            ("granian",),
        ),
        ServerSpec(
            "bjoern",
            "bjoern WSGI",
            "plain WSGI callable under bjoern (C/libev); N workers = N forked SO_REUSEPORT processes",
            _bjoern,
            ("bjoern",),
        ),
        ServerSpec(
            "raw",
            "raw epoll",
            "canned responses from a minimal pure-Python epoll loop: the ceiling for Python code",
            _raw,
        ),
        # Hosting WSGI apps (`--servers wsgi`): the same Flask app and the same plain WSGI
        # callable on Rush's engine and on the other servers.
        ServerSpec(
            "rush-flask",
            "Flask on Rush",
            "the Flask 3 app under `rush --interface wsgi`",
            _rush_wsgi("flask_app:app"),
            ("flask",),
            cwd=PEERS,
        ),
        ServerSpec(
            "bjoern-flask",
            "Flask on bjoern",
            "the Flask 3 app under bjoern",
            lambda workers, port: _bjoern(workers, port, "flask_app"),
            ("bjoern", "flask"),
        ),
        ServerSpec(
            "gunicorn-gthread",
            "Flask on gunicorn gthread",
            "the Flask 3 app under gunicorn -k gthread --threads 4 (keep-alive)",
            _gunicorn_gthread,
            ("gunicorn", "flask"),
        ),
        ServerSpec(
            "granian-flask",
            "Flask on granian",
            "the Flask 3 app under granian --interface wsgi",
            _granian_flask,
            ("granian", "flask"),
        ),
        ServerSpec(
            "rush-wsgi",
            "WSGI fn on Rush",
            "the plain WSGI callable under `rush --interface wsgi`",
            _rush_wsgi("wsgi_app:app"),
            cwd=PEERS,
        ),
    )
}
#: The servers `--servers` means by default, and the WSGI hosting comparison (`--servers wsgi`).
DEFAULT_SERVERS = ("rush", "gunicorn", "granian", "bjoern", "raw")
WSGI_SERVERS = (
    "rush-flask", "bjoern-flask", "gunicorn-gthread", "gunicorn", "granian-flask",
    "rush-wsgi", "bjoern", "granian",
)  # fmt: skip
#: Ratio columns: Rush against every peer in the table, and these pairs when both ran.
RATIO_PAIRS = (
    ("rush", "rush-pure"),
    ("rush-pure", "bjoern"),
    ("rush-pure", "raw"),
    ("rush-flask", "bjoern-flask"),
    ("rush-flask", "gunicorn-gthread"),
    ("rush-flask", "gunicorn"),
    ("rush-flask", "granian-flask"),
    ("rush-wsgi", "bjoern"),
    ("rush-wsgi", "granian"),
)


def missing_requirement(spec: ServerSpec) -> str | None:
    """Why this server cannot run on this machine, or None."""
    for module in spec.needs:
        if importlib.util.find_spec(module) is None:
            return f"Python module {module!r} is not installed (run bench/setup.sh)"
    if spec.name.startswith("rush-"):
        probe = subprocess.run(
            [sys.executable, "-m", "rush", "--help"], cwd=REPO, capture_output=True, text=True
        )
        if "--interface" not in probe.stdout:
            return "this rush has no --interface option (WSGI hosting)"
    if spec.name in ("rush", "rush-pure"):
        if not (REPO / "examples" / "app.py").exists():
            return "examples/app.py does not exist yet"
        probe = subprocess.run(
            [sys.executable, "-c", RUSH_PROBE],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["?"])[-1]
            return f"rush is not runnable with `python -m rush`: {last}"
    return None


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, parents first, from /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        tree.append(pid)
        queue.extend(sorted(children.get(pid, [])))
    return tree


def proc_status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return dict(line.split(":\t", 1) for line in fh if ":\t" in line)
    except OSError:
        return {}


def kb(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


@dataclass
class RunningServer:
    """A server we launched: its root process, its port and its log."""

    spec: ServerSpec
    workers: int
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def wait_ready(self, deadline_s: float) -> str | None:
        """Poll with HTTP GETs until one gets any answer; None if ready, else why not."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return f"exited with code {self.proc.returncode}: {self.log_tail()}"
            conn = http.client.HTTPConnection(HOST, self.port, timeout=1.0)
            try:
                conn.request("GET", "/easter")
                conn.getresponse().read()
                return None
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
            finally:
                conn.close()
        return f"no HTTP answer within {deadline_s:.0f}s: {self.log_tail()}"

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc.poll() is None else []

    def worker_pids(self) -> list[int]:
        """Processes that serve requests: the children if there are any, else the root."""
        tree = self.pids()
        return tree[1:] or tree

    def memory(self) -> dict | None:
        """VmHWM (peak) and VmRSS of every process of the server, in KiB; None if it is gone."""
        procs = []
        tree = self.pids()
        if not tree:
            return None
        for pid in tree:
            status = proc_status(pid)
            if status:
                role = "master" if pid == tree[0] and len(tree) > 1 else "worker"
                procs.append(
                    {
                        "pid": pid,
                        "role": role,
                        "hwm_kb": kb(status.get("VmHWM")),
                        "rss_kb": kb(status.get("VmRSS")),
                    }
                )
        workers = [p for p in procs if p["role"] == "worker"]
        return {
            "processes": procs,
            "worker_peak_kb": max((p["hwm_kb"] for p in workers), default=0),
            "total_rss_kb": sum(p["rss_kb"] for p in procs),
        }

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the root, then SIGKILL whatever of its tree is left, each by PID."""
        tree = self.pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(grace_s)
        for pid in tree[1:]:
            kill_if_alive(pid)


def kill_if_alive(pid: int, grace_s: float = 2.0) -> None:
    """A leftover descendant: give it `grace_s` after SIGTERM, then SIGKILL."""
    end = time.monotonic() + grace_s
    sig = signal.SIGTERM
    while True:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if sig == signal.SIGKILL:
            return
        time.sleep(0.05)
        if time.monotonic() > end:
            sig = signal.SIGKILL
        elif not os.path.exists(f"/proc/{pid}") or zombie(pid):
            return


def zombie(pid: int) -> bool:
    return proc_status(pid).get("State", "").startswith("Z")


def start(
    spec: ServerSpec, workers: int, cpus: str | None, log_path: Path, env: dict
) -> RunningServer:
    """Launch (not wait for) a server; `cpus` pins it and its children with taskset."""
    port = free_port()
    argv = spec.argv(workers, port)
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=spec.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    return RunningServer(spec, workers, port, proc, log_path)
