"""Real Rush servers for the hardening tests, and the processes that watch them.

`HardServer` is tests.support's RushServer with two extras: environment variables for the app
(the file folder) and an optional RLIMIT_NOFILE set before rush starts (tests.hardening.launch).
`Probe` runs tests.hardening.probe in its own process. Every wait polls with a deadline.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

from tests.support.process import ROOT, RushServer, rush_env, start_server

APP = "tests.hardening.app:app"


class HardServer(RushServer):
    def __init__(
        self,
        app: str,
        *args: str,
        env: dict[str, str] | None = None,
        nofile: tuple[int, int] | None = None,
    ) -> None:
        command = None
        if nofile is not None:
            launch = [sys.executable, "-m", "tests.hardening.launch", *map(str, nofile)]
            command = [*launch, app, *args]
        super().__init__(app, *args, env=env, command=command)

    def worker_pids(self) -> set[int]:
        """The processes that serve: the workers, or rush itself when it runs without a master."""
        return self.workers() or {self.pid}

    def errors_logged(self) -> list[str]:
        """Log lines that report a bug (tracebacks, 500s, worker deaths)."""
        markers = ("Traceback", "ERROR", "error", "exited", "killed")
        return [line for line in self.output.snapshot() if any(m in line for m in markers)]


def start(app: str = APP, *args: str, workers: int = 1, **kwargs) -> HardServer:
    return start_server(*args, app=app, workers=workers, kind=HardServer, **kwargs)  # type: ignore[return-value]


def raise_own_nofile(wanted: int) -> int:
    """Raise this (client) process's soft descriptor limit toward `wanted`; returns the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class Probe:
    """tests.hardening.probe running in its own process while a test does something nasty."""

    def __init__(self, port: int, seconds: float, interval: float = 0.01, fresh: bool = False):
        command = [sys.executable, "-m", "tests.hardening.probe", str(port), str(seconds)]
        command += ["--interval", str(interval)] + (["--fresh"] if fresh else [])
        self.seconds = seconds
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=rush_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def result(self) -> dict:
        try:
            out, err = self.proc.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("the probe did not finish") from None
        assert self.proc.returncode == 0, err.decode(errors="replace")
        return json.loads(out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
