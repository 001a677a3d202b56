"""Run the parser tests once per fast path, and keep Hypothesis failures readable.

A test module that uses the `each_fast_path` fixture (`pytestmark`) runs whole once with
llhttp alone, once behind the pure-Python fast path and once behind the C one where it is
built (tests.support.protocol.FAST_PATHS).

When a property fails, Hypothesis's pytest plugin imports libcst to suggest an `@example`
patch. libcst 1.0 defines a `mypy_extensions.TypedDict` at import time, which warns; under
warnings-as-errors that warning escapes from a plugin hook as a pytest INTERNALERROR and hides
the real failure. Importing libcst once here, with that warning silenced, avoids it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import pytest

from tests.support.protocol import FAST_PATHS, fast_path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import libcst.metadata  # noqa: F401


@pytest.fixture(scope="module", params=sorted(FAST_PATHS))
def each_fast_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Module-scoped, so Hypothesis tests can use it (no function-scoped fixture)."""
    with fast_path(request.param):
        yield request.param
