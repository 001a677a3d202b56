"""Fixtures for the hardening tests: real Rush servers (tests.hardening.servers), stopped by
their PID at teardown."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

import pytest

from tests.hardening.servers import APP, HardServer, start

# As in tests/protocol/conftest.py: Hypothesis imports libcst to explain a failure, which warns
# under `filterwarnings = error` and would hide the failure behind an INTERNALERROR.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import libcst.metadata  # noqa: F401


@pytest.fixture
def serve() -> Iterator[Callable[..., HardServer]]:
    """Factory: `serve("--header-timeout", "1", workers=2, env={...})`; stopped at teardown."""
    started: list[HardServer] = []

    def factory(*args: str, app: str = APP, workers: int = 1, **kwargs) -> HardServer:
        server = start(app, *args, workers=workers, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
