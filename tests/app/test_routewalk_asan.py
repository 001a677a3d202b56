"""The C route walk (rush/_routewalk.c) under AddressSanitizer (DESIGN.md, rule 8).

Built here with -fsanitize=address into a temporary directory and run in a subprocess with
libasan preloaded (tests/support/asan.py): the property tests' random tables, the C walk's
own tests, then a bounded fuzz (tests/app/routewalk_asan_check.py). A canary overflow checks
first that ASan does report here. About 15 seconds; skipped where gcc, libasan or the Python
headers are missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.asan import (
    ROOT,
    asan_env,
    check_asan_reports,
    compile_asan,
    extension_path,
    toolchain,
)

SOURCE = ROOT / "rush" / "_routewalk.c"
FUZZ_SECONDS = 5


@pytest.mark.slow
def test_the_c_route_walk_under_address_sanitizer(tmp_path: Path) -> None:
    gcc, libasan, include = toolchain()
    env = asan_env(libasan)
    check_asan_reports(tmp_path, gcc, include, env)

    built = extension_path(tmp_path, "_routewalk")
    compile_asan(gcc, SOURCE, built, include)
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests/app/routewalk_asan_check.py"),
            str(built),
            str(FUZZ_SECONDS),
        ],
        cwd=tmp_path,  # Hypothesis's files, if any, stay there
        env=env,
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 90,
        check=False,
    )
    assert run.returncode == 0 and "AddressSanitizer" not in run.stderr, run.stderr[-6000:]
    assert "properties: passed" in run.stdout and "fuzz:" in run.stdout, run.stdout
