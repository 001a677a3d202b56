"""Fixtures for the end-to-end server tests: real `python -m rush` processes on ephemeral
loopback ports (tests.support.process), stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.server.limits import LIMITS
from tests.support.process import BASIC, RushServer, start_server


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


@pytest.fixture(scope="module")
def server() -> Iterator[RushServer]:
    """One in-process worker with small limits, shared by the tests of a module."""
    args: list[str] = []
    for name, value in LIMITS.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    shared = start_server(*args)
    yield shared
    shared.stop()
