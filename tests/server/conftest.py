"""Run a real `python -m rush` on an ephemeral loopback port for the end-to-end tests.

`RushServer` starts the CLI as a subprocess, reads the master's log on a thread, finds the
port in the `listening on` line, and stops the server with SIGTERM (then SIGKILL) at teardown.
Every wait polls with a deadline; no test sleeps a fixed time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASIC = "tests.apps.basic:app"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

_LISTENING = re.compile(r"listening on .*?http://127\.0\.0\.1:(\d+)\b")
_STARTED = re.compile(r"started worker (\d+) \(pid (\d+)\)")


def rush_command(app: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "rush", app, *args]


# Kept for the server: which request-head parser runs (tests/test_pure_path.py sets it).
PASSED_THROUGH = ("RUSH_NO_EXTENSIONS",)


def rush_env() -> dict[str, str]:
    """The test process's environment without its RUSH_* configuration (each test sets its
    own), but with PASSED_THROUGH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSH_") or k in PASSED_THROUGH}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> object:
    """Poll `predicate` until it returns something truthy; that value, or None at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def child_pids(pid: int) -> set[int]:
    """Live children of `pid`, read from /proc/*/stat (no `children` file on every kernel)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (one per worker under SO_REUSEPORT)."""
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and local == f"0100007F:{port:04X}":
                count += 1
    return count


def status_kb(pid: int, field: str) -> int:
    """A kB figure of /proc/PID/status: `VmRSS` (resident now), `VmHWM` (its peak)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def rss_kb(pid: int) -> int:
    return status_kb(pid, "VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class StderrLog:
    """A subprocess's stderr, collected line by line on a thread: wait for lines, count them."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def mark(self) -> int:
        """The current end of the log, to wait for lines logged after this point."""
        with self._changed:
            return len(self.lines)

    def snapshot(self) -> list[str]:
        with self._changed:
            return list(self.lines)

    def wait_for(
        self, pattern: str | re.Pattern[str], timeout: float, start: int = 0
    ) -> re.Match[str]:
        """The first match of `pattern` in log lines from index `start` on, waiting for it."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        index = start
        with self._changed:
            while True:
                while index < len(self.lines):
                    match = regex.search(self.lines[index])
                    if match:
                        return match
                    index += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    break
                self._changed.wait(remaining)
        raise AssertionError(f"{regex.pattern!r} not logged within {timeout}s; log:\n{self.text}")

    def count(self, pattern: str, start: int = 0) -> int:
        regex = re.compile(pattern)
        with self._changed:
            return sum(1 for line in self.lines[start:] if regex.search(line))

    def join(self, timeout: float) -> None:
        """Wait for the reader to reach the end of the stream (the process has exited)."""
        self._reader.join(timeout)


class RushServer:
    """One `python -m rush` subprocess and its captured stderr."""

    def __init__(
        self,
        app: str,
        *args: str,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        """`env` adds variables for the app; `command` replaces `python -m rush app args`."""
        self.command = command or rush_command(app, *args)
        self.proc = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env={**rush_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.pid = self.proc.pid
        self.port = 0
        self._known_workers: set[int] = set()
        assert self.proc.stderr is not None
        self.output = StderrLog(self.proc.stderr)

    # -- the log -------------------------------------------------------------------------

    @property
    def log(self) -> str:
        return self.output.text

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 5.0, start: int = 0):
        """The first match of `pattern` in log lines from index `start` on, waiting for it."""
        return self.output.wait_for(pattern, timeout, start)

    def mark(self) -> int:
        """The current end of the log, to wait for lines logged after this point."""
        return self.output.mark()

    # -- the processes -------------------------------------------------------------------

    def wait_ready(self, workers: int, timeout: float = START_TIMEOUT) -> RushServer:
        # `listening on` is logged only once every worker accepts (the master's Hooks.serving,
        # or the in-process loop starting), and each worker's socket listens before it forks:
        # the line is the signal, and the count checks it did not come early.
        self.port = int(self.wait_for(_LISTENING, timeout).group(1))
        listening = listening_sockets(self.port)
        if listening < workers:
            raise AssertionError(f"{listening} of {workers} worker(s) listening:\n{self.log}")
        return self

    def workers(self) -> set[int]:
        pids = child_pids(self.pid)
        self._known_workers |= pids
        return pids

    def started_workers(self) -> list[tuple[int, int]]:
        """(index, pid) of every `started worker` line so far."""
        found = [_STARTED.search(line) for line in self.output.snapshot()]
        return [(int(m.group(1)), int(m.group(2))) for m in found if m]

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signum)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, SIGKILL after `timeout`; workers left behind are killed by PID too."""
        if self.proc.poll() is None:
            self.workers()
            os.kill(self.pid, signal.SIGTERM)
            if self.wait_exit(timeout) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        orphans = [
            pid
            for pid in self._known_workers | {pid for _, pid in self.started_workers()}
            if _kill_orphan(pid, self.command)
        ]
        wait_until(lambda: not any(_alive(pid) for pid in orphans), STOP_TIMEOUT)
        self.output.join(STOP_TIMEOUT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _kill_orphan(pid: int, command: list[str]) -> bool:
    """SIGKILL a worker we started if it outlived its master (its command line is ours)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    if cmdline.rstrip(b"\0").split(b"\0")[1:] != [arg.encode() for arg in command[1:]]:
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def start_server(
    *args: str, app: str = BASIC, workers: int = 1, kind: type[RushServer] = RushServer, **kwargs
) -> RushServer:
    """A started server on an ephemeral port; `kind` and `kwargs` make a RushServer subclass."""
    server = kind(app, "--bind", "127.0.0.1:0", "--workers", str(workers), *args, **kwargs)
    try:
        return server.wait_ready(workers)
    except BaseException:
        server.stop()
        raise


@pytest.fixture
def rush_server() -> Iterator[Callable[..., RushServer]]:
    """Factory: `rush_server("--header-timeout", "1", workers=2)`; all stopped at teardown."""
    started: list[RushServer] = []

    def start(*args: str, app: str = BASIC, workers: int = 1) -> RushServer:
        server = start_server(*args, app=app, workers=workers)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


#: The shared server's limits, small enough that tests can cross them cheaply.
LIMITS = {
    "max_request_line": 1024,
    "max_header_bytes": 4096,
    "max_header_count": 20,
    "max_body": 65536,
}


@pytest.fixture(scope="module")
def server() -> Iterator[RushServer]:
    """One in-process worker with small limits, shared by the tests of a module."""
    args: list[str] = []
    for name, value in LIMITS.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    shared = start_server(*args)
    yield shared
    shared.stop()


class Finished:
    """How a server that stopped by itself ended: its exit code and its log."""

    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = stderr


def run_rush(*args: str, timeout: float = 10.0) -> Finished:
    """Run the CLI until it exits by itself; past `timeout` it is stopped and the test fails."""
    server = RushServer(*args)
    code = server.wait_exit(timeout)
    server.stop()
    assert code is not None, f"rush {' '.join(args)} still running after {timeout}s:\n{server.log}"
    return Finished(code, server.log)
