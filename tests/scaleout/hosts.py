"""The Rush hosts of the scale-out bed: start, probe, deploy new code, drain, kill, restart.

Each host is a `python -m rush scaleapp:app --workers 2` master in its own namespace, bound to
its own address, with its own project directory holding its copy of `app.py` (a rolling
deploy rewrites that copy and sends SIGHUP, and the new workers import it from disk). Its log
goes to a file, never to a pipe nobody reads. Every wait polls with a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.scaleout.netns import Bed, Machine, run_in
from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
APP_SOURCE = Path(__file__).with_name("app.py")
PORT = 8000
WORKERS = 2
SECRET_KEY = "scale-out test bed: one key for every host"
HEALTH_PATH = "/healthz"
DRAIN_DELAY = 5  # seconds: > nginx's upstream keepalive_timeout (3 s), > HAProxy's detection


def host_options(balancer_address: str) -> list[str]:
    """The Rush options of every host behind the balancer at `balancer_address`
    (docs/scaling.md): trust its X-Forwarded-* headers; health endpoint and drain delay."""
    return ["--forwarded-allow-ips", balancer_address, "--health-path", HEALTH_PATH,
            "--drain-delay", str(DRAIN_DELAY)]  # fmt: skip


def children(pid: int) -> set[int]:
    """Live children of `pid` (a master's workers), from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
            if int(parent) == pid and state != "Z":
                found.add(int(entry))
    return found


def request(
    netns: str,
    address: str,
    port: int,
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
    timeout: float = 3.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection made from namespace `netns`: (status, headers with
    lower-case names, body)."""

    def ask() -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            fields = {name.lower(): value for name, value in response.getheaders()}
            return response.status, fields, response.read()
        finally:
            connection.close()

    return run_in(netns, ask, timeout + 5)


class RushHost:
    """One Rush master (and its workers) on one machine of the bed."""

    def __init__(
        self,
        bed: Bed,
        machine: Machine,
        directory: Path,
        options: Sequence[str] = (),
        port: int = PORT,
        workers: int = WORKERS,
    ) -> None:
        self.bed, self.machine, self.directory = bed, machine, directory
        self.options, self.port, self.worker_count = list(options), port, workers
        self.version = 1
        self.reload_mark = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.known_pids: set[int] = set()
        self.log_path = directory / "rush.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.write_version(self.version)

    @property
    def name(self) -> str:
        return self.machine.role

    def write_version(self, version: int) -> None:
        """Put the app on disk as version `version` (what the next worker generation imports)."""
        text = APP_SOURCE.read_text().replace('VERSION = "1"', f'VERSION = "{version}"')
        (self.directory / "scaleapp.py").write_text(text)

    def argv(self) -> list[str]:
        rush = [sys.executable, "-m", "rush", "scaleapp:app", "--bind",
                f"{self.machine.address}:{self.port}", "--workers", str(self.worker_count),
                *self.options]  # fmt: skip
        return self.bed.exec_argv(self.machine, rush)

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUSH_")}
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",  # a rewrite in the same second must not hit a stale .pyc
            SCALEOUT_HOST=self.name,
            RUSH_SECRET_KEY=SECRET_KEY,
        )
        with open(self.log_path, "ab") as log:
            # Its own process group: `kill` takes the master and every worker in one go.
            self.proc = subprocess.Popen(
                self.argv(), cwd=self.directory, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.known_pids.add(self.proc.pid)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_mark(self) -> int:
        return len(self.log())

    def wait_for_log(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        regex = re.compile(pattern)
        found = wait_until(lambda: regex.search(self.log(), start), timeout)
        if not isinstance(found, re.Match):
            raise AssertionError(
                f"{self.name}: no /{pattern}/ in {timeout} s:\n{self.log()[-3000:]}"
            )
        return found

    def ask(self, path: str = "/", **options: object) -> tuple[int, dict[str, str], bytes]:
        """One request to this host directly (not through the balancer), from the client."""
        client = self.bed.client.netns
        return request(client, self.machine.address, self.port, path=path, **options)  # type: ignore[arg-type]

    def answers(self) -> bytes | None:
        """The body of `GET /` when the host answers it with 200, else None."""
        try:
            status, _, body = self.ask("/", timeout=1.0)
        except OSError:
            return None
        return body if status == 200 else None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until every worker runs and the host answers."""

        def ready() -> bool:
            if not self.alive:
                raise AssertionError(f"{self.name} exited:\n{self.log()[-3000:]}")
            return len(self.workers()) >= self.worker_count and self.answers() is not None

        if not wait_until(ready, timeout, 0.1):
            raise AssertionError(f"{self.name} not ready in {timeout} s:\n{self.log()[-3000:]}")

    def workers(self) -> set[int]:
        pids = children(self.proc.pid) if self.alive else set()  # type: ignore[union-attr]
        self.known_pids |= pids
        return pids

    def signal(self, signum: int) -> None:
        assert self.proc is not None and self.alive, f"{self.name} is not running"
        self.workers()
        os.kill(self.proc.pid, signum)

    def deploy(self, timeout: float = 30.0) -> int:
        """Rolling deploy of the next version: new code on disk, then SIGHUP. Returns once every
        worker of the new code serves (the old ones may still be draining: see
        `wait_reload_complete`); the new version's number."""
        self.version += 1
        self.write_version(self.version)
        self.reload_mark = self.log_mark()
        self.signal(signal.SIGHUP)
        expected = f"{self.name} {self.version}".encode()

        def replaced() -> bool:
            retired = len(re.findall(r"retires: pid \d+ serves", self.log()[self.reload_mark :]))
            return retired >= self.worker_count and self.answers() == expected

        if not wait_until(replaced, timeout, 0.1):
            raise AssertionError(f"{self.name}: v{self.version} not serving:\n{self.log()[-3000:]}")
        return self.version

    def wait_reload_complete(self, timeout: float = 30.0) -> None:
        """Wait until the last deploy's old workers are gone (they drain first)."""
        pattern = r"reload complete: \d+ worker\(s\) run generation"
        self.wait_for_log(pattern, timeout, self.reload_mark)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: the machine's service dies. One signal
        to the process group: killed one by one, a worker killed before its master is
        replaced by a fork no list of pids taken before holds."""
        if self.proc is None:
            return
        if self.alive:
            self.workers()
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM twice (the second cuts a drain delay short), then SIGKILL past `timeout`;
        then any worker we saw that outlived its master."""
        if self.alive:
            self.workers()
            os.kill(self.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
            if not wait_until(lambda: not self.alive, 0.5):
                os.kill(self.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                self.kill()
        for pid in self.known_pids:
            _kill_if_rush(pid)
        self.known_pids.clear()

    def restart_if_down(self) -> bool:
        """Start the host again if a scenario killed or stopped it; whether it had to."""
        if self.alive:
            return False
        self.stop()
        self.start()
        return True

    def whoami(self) -> dict[str, str]:
        status, _, body = self.ask("/whoami")
        assert status == 200, (status, body)
        return json.loads(body)  # type: ignore[no-any-return]


def _kill_if_rush(pid: int) -> None:
    """SIGKILL `pid` if it is still one of our Rush processes (its command line says so)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"scaleapp:app" not in f.read():
                return
        os.kill(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass
