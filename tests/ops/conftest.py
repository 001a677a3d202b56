"""Fixtures for the operations tests: real `python -m rush` processes (tests.support.process)
serving the ops app, ready once they answer, stopped by PID at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.process import RushServer

OPS_APP = "tests.ops.apps.opsapp:app"
APP_SOURCE = Path(__file__).resolve().parent / "apps" / "opsapp.py"


@pytest.fixture
def rush() -> Iterator[Callable[..., RushServer]]:
    """Factory: `rush("--workers", "2", ready=2)` starts a server (the ops app unless `app=`)
    and waits for `ready` workers answering (None: no wait); all stopped at teardown."""
    started: list[RushServer] = []

    def start(*args: str, ready: int | None = 1, app: str = OPS_APP, **options) -> RushServer:
        server = RushServer(app, *args, **options)
        started.append(server)
        if ready is not None:
            server.wait_ready(ready, answers=True)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory holding a copy of the ops app as `hotapp.py` (for reload tests)."""
    (tmp_path / "hotapp.py").write_text(APP_SOURCE.read_text())
    return tmp_path
