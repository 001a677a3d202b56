"""A real `python -m rush` serving the WSGI test apps (tests.support.process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.process import RushServer, start_server

APP = "tests.wsgi.apps:app"


@pytest.fixture(scope="module")
def wsgi_server() -> Iterator[RushServer]:
    """One in-process worker hosting tests.wsgi.apps, mounted at /mount, shared by a module."""
    server = start_server("--root-path", "/mount", "--max-body", str(64 * 1024 * 1024), app=APP)
    yield server
    server.stop()
