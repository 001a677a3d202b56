"""A real `python -m rush` serving the WSGI test apps, started with tests.server's machinery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.conftest import RushServer, start_server

APP = "tests.wsgi.apps:app"


@pytest.fixture(scope="module")
def wsgi_server() -> Iterator[RushServer]:
    """One in-process worker hosting tests.wsgi.apps, mounted at /mount, shared by a module."""
    server = start_server("--root-path", "/mount", "--max-body", str(64 * 1024 * 1024), app=APP)
    yield server
    server.stop()


def assert_no_errors(server: RushServer, start: int = 0) -> None:
    """No traceback and no error line in the server's log since `start`."""
    lines = server.output.snapshot()[start:]
    bad = [line for line in lines if "Traceback" in line or "[ERROR]" in line]
    assert not bad, "\n".join(lines)
