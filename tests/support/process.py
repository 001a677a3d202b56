"""A real `python -m rush` process for the end-to-end tests: its environment, its log, its end.

`RushServer` starts the CLI as a subprocess, reads the master's log on a thread (`StderrLog`),
finds the address in the `listening on` line, and stops the server by PID with SIGTERM (then
SIGKILL) at teardown, and any worker it left behind. Every wait polls with a deadline; no test
sleeps a fixed time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from tests.support.client import http_get
from tests.support.polling import wait_until
from tests.support.procfs import alive, child_pids, cmdline, listening_sockets

ROOT = Path(__file__).resolve().parents[2]
BASIC = "tests.apps.basic:app"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

_LISTENING = re.compile(r"listening on (\S+?),?(?:\s|$)")
_LISTENING_LOCAL = re.compile(r"listening on .*?http://127\.0\.0\.1:(\d+)\b")
_STARTED = re.compile(r"started worker (\d+) \(pid (\d+)\)")


def rush_command(app: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "rush", app, *args]


# Kept for the server: which request-head parser runs (tests/test_pure_path.py sets it).
PASSED_THROUGH = ("RUSH_NO_EXTENSIONS",)


def rush_env() -> dict[str, str]:
    """The test process's environment without its RUSH_* configuration (each test sets its
    own), but with PASSED_THROUGH; the repository first on PYTHONPATH, so that the test apps
    import from any working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSH_") or k in PASSED_THROUGH}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    inherited = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([inherited] if inherited else [])])
    return env


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
    """One `python -m rush` subprocess (the master, or the only worker) and its captured stderr."""

    def __init__(
        self,
        app: str,
        *args: str,
        env: dict[str, str] | None = None,
        command: Sequence[str] | None = None,
        cwd: Path = ROOT,
        pass_fds: Sequence[int] = (),
    ) -> None:
        """`env` adds variables for the app; `command` replaces `python -m rush app args`;
        `cwd` is where it runs; `pass_fds` are descriptors it inherits (socket activation)."""
        self.command = list(command) if command else rush_command(app, *args)
        self.proc = subprocess.Popen(
            self.command,
            cwd=cwd,
            env={**rush_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
        )
        self.pid = self.proc.pid
        self.address: tuple[str, int] | str = ""
        self.port = 0
        self.seen_workers: set[int] = set()
        assert self.proc.stderr is not None
        self.output = StderrLog(self.proc.stderr)

    # -- the log -------------------------------------------------------------------------

    @property
    def log(self) -> str:
        return self.output.text

    def wait_for(
        self, pattern: str | re.Pattern[str], timeout: float = 5.0, start: int = 0
    ) -> re.Match[str]:
        """The first match of `pattern` in log lines from index `start` on, waiting for it."""
        return self.output.wait_for(pattern, timeout, start)

    def mark(self) -> int:
        """The current end of the log, to wait for lines logged after this point."""
        return self.output.mark()

    def count(self, pattern: str, start: int = 0) -> int:
        """How many log lines from index `start` on match `pattern`."""
        return self.output.count(pattern, start)

    # -- the processes -------------------------------------------------------------------

    def wait_ready(
        self, workers: int, timeout: float = START_TIMEOUT, *, answers: bool = False
    ) -> RushServer:
        """Wait for the `listening on` line and take the (first) address from it.

        `listening on` is logged only once every worker accepts (the master's Hooks.serving,
        or the in-process loop starting), and each worker's socket listens before it forks:
        the line is the signal. Then, by default, the count of sockets listening on
        127.0.0.1:port checks it did not come early (one per worker under SO_REUSEPORT); with
        `answers`, which suits any address (Unix sockets, inherited ones), wait instead for
        `workers` workers and for `GET /` answering 200.
        """
        where = self.wait_for(_LISTENING, timeout).group(1)
        if where.startswith("http://"):
            host, _, port = where[len("http://") :].rpartition(":")
            self.address = (host.strip("[]"), int(port))
            self.port = int(port)
        else:
            self.address = where[len("unix:") :]
        if not answers:
            listening = listening_sockets(self.port) if self.address[0] == "127.0.0.1" else 0
            if listening < workers:
                raise AssertionError(f"{listening} of {workers} worker(s) listening:\n{self.log}")
            return self
        if workers > 1 or self.count(r"started worker"):
            ok = wait_until(lambda: len(self.workers()) >= workers, timeout)
            assert ok, f"{workers} workers not started:\n{self.log}"
        ok = wait_until(self._answers, timeout, 0.05)
        assert ok, f"no answer from {self.address}:\n{self.log}"
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"rush exited with {self.proc.returncode}:\n{self.log}")
        try:
            return http_get(self.address, "/")[0] == 200
        except OSError:
            return False

    def workers(self) -> set[int]:
        """The live children of the master now (each one is remembered, to stop it at the end)."""
        pids = child_pids(self.pid)
        self.seen_workers |= pids
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
            self.workers()
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
            for pid in self.seen_workers | {pid for _, pid in self.started_workers()}
            if _kill_orphan(pid, self.command)
        ]
        wait_until(lambda: not any(alive(pid) for pid in orphans), STOP_TIMEOUT)
        self.output.join(STOP_TIMEOUT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


def _kill_orphan(pid: int, command: list[str]) -> bool:
    """SIGKILL a worker we started if it outlived its master (its command line is ours)."""
    argv = cmdline(pid)
    if argv is None or argv[1:] != [arg.encode() for arg in command[1:]]:
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


def assert_no_errors(server: RushServer, start: int = 0) -> None:
    """No traceback and no error line in the server's log since `start`."""
    lines = server.output.snapshot()[start:]
    bad = [line for line in lines if "Traceback" in line or "[ERROR]" in line]
    assert not bad, "\n".join(lines)
