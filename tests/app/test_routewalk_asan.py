"""The C route walk (rush/_routewalk.c) under AddressSanitizer (DESIGN.md, rule 8).

Built here with -fsanitize=address into a temporary directory and run in a subprocess with
libasan preloaded (tests/support/asan.py): the property tests' random tables, the C walk's
own tests, then a bounded fuzz (tests/app/routewalk_asan_check.py). A canary overflow checks
first that ASan does report here. About 15 seconds; skipped where gcc, libasan or the Python
headers are missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.asan import ROOT, run_under_asan

SOURCE = ROOT / "rush" / "_routewalk.c"
FUZZ_SECONDS = 5


@pytest.mark.slow
def test_the_c_route_walk_under_address_sanitizer(tmp_path: Path) -> None:
    run = run_under_asan(
        tmp_path, SOURCE, "_routewalk", ROOT / "tests/app/routewalk_asan_check.py", FUZZ_SECONDS
    )
    assert "properties: passed" in run.stdout and "fuzz:" in run.stdout, run.stdout
