"""Rush's pytest plugin (the `pytest11` entry point): a `client` fixture, as pytest-flask's.

Define an `app` fixture that returns your application (in `conftest.py`); a test that asks
for `client` gets `app.test_client()`, entered as a context manager, so the app's startup
hooks run before the test and its shutdown hooks after it. A project that defines its own
`client` fixture keeps it: a fixture closer to the test wins over a plugin's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rush.testing import TestClient


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """`app.test_client()` for one test, between the app's startup and shutdown hooks."""
    with app.test_client() as test_client:
        yield test_client
