"""The C accelerator (rush/protocol/_heads.c) under AddressSanitizer (DESIGN.md, rule 8).

It is built here with -fsanitize=address into a temporary directory and run in a subprocess
(tests/protocol/asan_check.py: the corpus, every prefix, then a bounded fuzz) with libasan
preloaded, since the interpreter itself is not instrumented (tests/support/asan.py). A canary
overflow checks first that ASan does report in this environment, so a pass means something.
About 25 seconds; skipped where gcc, libasan or the Python headers are missing.
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

SOURCE = ROOT / "rush" / "protocol" / "_heads.c"
FUZZ_SECONDS = 15


@pytest.mark.slow
def test_the_c_fast_path_under_address_sanitizer(tmp_path: Path) -> None:
    gcc, libasan, include = toolchain()
    env = asan_env(libasan)
    check_asan_reports(tmp_path, gcc, include, env)

    built = extension_path(tmp_path, "_heads")
    compile_asan(gcc, SOURCE, built, include)
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests/protocol/asan_check.py"), str(built), str(FUZZ_SECONDS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 90,
        check=False,
    )
    assert run.returncode == 0 and "AddressSanitizer" not in run.stderr, run.stderr[-6000:]
    assert "fuzz:" in run.stdout, run.stdout
