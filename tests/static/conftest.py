"""Fixtures for the static file tests: a folder tree in a tmp dir and a real `python -m rush`
serving it (tests.static.site), stopped by PID at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.static.site import StaticServer, make_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "site")


@pytest.fixture
def serve() -> Iterator[Callable[..., StaticServer]]:
    """Factory: `serve(tree, workers=2)`; every server started is stopped at teardown."""
    started: list[StaticServer] = []

    def start(root: Path, workers: int = 1, **env: str) -> StaticServer:
        server = StaticServer(root, workers, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
