"""Keep Hypothesis failures readable under the project's `filterwarnings = error`.

When a property fails, Hypothesis's pytest plugin imports libcst to suggest an `@example`
patch. libcst 1.0 defines a `mypy_extensions.TypedDict` at import time, which warns; under
warnings-as-errors that warning escapes from a plugin hook as a pytest INTERNALERROR and hides
the real failure. Importing libcst once here, with that warning silenced, avoids it.
"""

from __future__ import annotations

import contextlib
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import libcst.metadata  # noqa: F401
