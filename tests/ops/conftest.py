"""Real `python -m rush` processes for the operations tests: start, signal, read the log, stop.

Every wait polls with a deadline; every process started here is stopped by its PID at
teardown (the master with SIGTERM then SIGKILL, then any worker it left behind).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.server.conftest import StderrLog, child_pids, wait_until

ROOT = Path(__file__).resolve().parents[2]
OPS_APP = "tests.ops.apps.opsapp:app"
APP_SOURCE = Path(__file__).resolve().parent / "apps" / "opsapp.py"
START_TIMEOUT = 15.0

_LISTENING = re.compile(r"listening on (\S+)")
_STARTED = re.compile(r"started worker (\d+) \(pid (\d+)\)")


# One implementation of the polling and /proc helpers for every real-process suite.
children = child_pids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(
    address: tuple[str, int] | str, path: str = "/", headers: Sequence[tuple[str, str]] = ()
) -> tuple[int, bytes]:
    """One request on a new connection: (status, body)."""
    from tests.ops.load import read_response

    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(address)
    else:
        sock = socket.create_connection(address, timeout=10)
    with sock:
        lines = [f"GET {path} HTTP/1.1", "Host: test", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status, _, body = read_response(sock)
    return status, body


class Rush:
    """One `python -m rush` master and its captured stderr (the error log)."""

    def __init__(
        self,
        *args: str,
        app: str = OPS_APP,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        command: Sequence[str] | None = None,
    ) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUSH_")}
        full_env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        inherited = os.environ.get("PYTHONPATH")
        full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([inherited] if inherited else [])])
        full_env.update(env or {})
        argv = list(command) if command else [sys.executable, "-m", "rush", app, *args]
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
        )
        self.pid = self.proc.pid
        self.seen_workers: set[int] = set()
        assert self.proc.stderr is not None
        self.output = StderrLog(self.proc.stderr)
        self.address: tuple[str, int] | str = ""

    @property
    def log(self) -> str:
        return self.output.text

    def mark(self) -> int:
        return self.output.mark()

    def wait_for(self, pattern: str, timeout: float = 10.0, start: int = 0) -> re.Match[str]:
        return self.output.wait_for(pattern, timeout, start)

    def count(self, pattern: str, start: int = 0) -> int:
        return self.output.count(pattern, start)

    def wait_ready(self, workers: int) -> Rush:
        """Wait for the listening line and for `workers` workers answering."""
        where = self.wait_for(_LISTENING.pattern, START_TIMEOUT).group(1)
        if where.startswith("http://"):
            host, _, port = where[len("http://") :].rpartition(":")
            self.address = (host.strip("[]"), int(port))
        else:
            self.address = where[len("unix:") :]
        if workers > 1 or self.count(r"started worker"):
            ok = wait_until(lambda: len(self.workers()) >= workers, START_TIMEOUT)
            assert ok, f"{workers} workers not started:\n{self.log}"
        ok = wait_until(self._answers, START_TIMEOUT, 0.05)
        assert ok, f"no answer from {self.address}:\n{self.log}"
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"rush exited with {self.proc.returncode}:\n{self.log}")
        try:
            return http_get(self.address, "/")[0] == 200
        except OSError:
            return False

    @property
    def port(self) -> int:
        assert isinstance(self.address, tuple)
        return self.address[1]

    def workers(self) -> set[int]:
        pids = children(self.pid)
        self.seen_workers |= pids
        return pids

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.workers()
            os.kill(self.pid, signum)

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.workers()
            os.kill(self.pid, signal.SIGTERM)
            if self.wait_exit(timeout) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        for pid in self.seen_workers:
            _kill_leftover(pid)
        self.output.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


def _kill_leftover(pid: int) -> None:
    """SIGKILL a worker we started if it outlived its master (checked by its command line)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"rush" not in f.read():
                return
        os.kill(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass


@pytest.fixture
def rush() -> Iterator[Callable[..., Rush]]:
    """Factory: `rush("--workers", "2", ready=2)` starts a server; all stopped at teardown."""
    started: list[Rush] = []

    def start(*args: str, ready: int | None = 1, **options: object) -> Rush:
        server = Rush(*args, **options)  # type: ignore[arg-type]
        started.append(server)
        if ready is not None:
            server.wait_ready(ready)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory holding a copy of the ops app as `hotapp.py` (for reload tests)."""
    (tmp_path / "hotapp.py").write_text(APP_SOURCE.read_text())
    return tmp_path
