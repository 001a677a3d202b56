"""Polling with a deadline: the one way the tests wait for something (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.02):
    """Poll `predicate` until it returns something truthy and return that value; at the
    deadline, return its last (falsy) value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
