"""The C accelerator of rush.request (rush/_request.c) under AddressSanitizer (DESIGN.md,
rule 8).

Built here with -fsanitize=address into a temporary directory and run in a subprocess with
libasan preloaded (tests/support/asan.py): test_request_maker.py's tests, then a bounded fuzz
of targets and query strings against the pure-Python twins (tests/app/request_asan_check.py).
A canary overflow checks first that ASan does report here. About 10 seconds; skipped where
gcc, libasan or the Python headers are missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.asan import ROOT, run_under_asan

SOURCE = ROOT / "rush" / "_request.c"
FUZZ_SECONDS = 3


@pytest.mark.slow
def test_the_request_accelerator_under_address_sanitizer(tmp_path: Path) -> None:
    run = run_under_asan(
        tmp_path, SOURCE, "_request", ROOT / "tests/app/request_asan_check.py", FUZZ_SECONDS
    )
    assert "tests: passed" in run.stdout and "fuzz:" in run.stdout, run.stdout
