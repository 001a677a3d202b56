"""The server suites once more with the pure-Python request parsing (RUSH_NO_EXTENSIONS=1).

The main run uses the C accelerator where it is built (rush.protocol.heads); DESIGN.md rule 8
wants the same behaviour without it, end to end, so tests/server, tests/hardening and tests/ops
run again in a subprocess with the variable set (the servers they start inherit it through
tests.support's rush_env(), which every server subprocess gets). Where the accelerator is not
built the main run already is the pure path and this is skipped. About 110 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import rush_env

ROOT = Path(__file__).resolve().parent.parent


def accelerated() -> bool:
    from rush.protocol import heads

    return heads.IMPLEMENTATION == "C accelerator"


def test_servers_started_by_the_tests_inherit_the_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSH_NO_EXTENSIONS", "1")
    monkeypatch.setenv("RUSH_WORKERS", "7")
    env = rush_env()
    assert env["RUSH_NO_EXTENSIONS"] == "1" and "RUSH_WORKERS" not in env


@pytest.mark.slow
def test_server_suites_pass_on_the_pure_path() -> None:
    if not accelerated():
        pytest.skip("the C accelerator is not in use: the main run is the pure path")
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*command, "tests/server", "tests/hardening", "tests/ops"],
        cwd=ROOT,
        env={**os.environ, "RUSH_NO_EXTENSIONS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]
    assert " passed" in run.stdout.splitlines()[-1], run.stdout[-2000:]
