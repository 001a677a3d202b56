"""The C accelerators of rush.protocol (_heads.c, _answers.c) under AddressSanitizer
(DESIGN.md, rule 8).

It is built here with -fsanitize=address into a temporary directory and run in a subprocess
(tests/protocol/asan_check.py: the corpus, every prefix, then a bounded fuzz) with libasan
preloaded, since the interpreter itself is not instrumented (tests/support/asan.py). A canary
overflow checks first that ASan does report in this environment, so a pass means something.
About 30 seconds; skipped where gcc, libasan or the Python headers are missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.asan import ROOT, run_under_asan

SOURCE = ROOT / "rush" / "protocol" / "_heads.c"
FUZZ_SECONDS = 15
ANSWER_FUZZ_SECONDS = 5


@pytest.mark.slow
def test_the_c_fast_path_under_address_sanitizer(tmp_path: Path) -> None:
    run = run_under_asan(
        tmp_path, SOURCE, "_heads", ROOT / "tests/protocol/asan_check.py", FUZZ_SECONDS
    )
    assert "fuzz:" in run.stdout, run.stdout


@pytest.mark.slow
def test_the_answer_fast_path_under_address_sanitizer(tmp_path: Path) -> None:
    run = run_under_asan(
        tmp_path,
        ROOT / "rush" / "protocol" / "_answers.c",
        "_answers",
        ROOT / "tests/protocol/asan_answers_check.py",
        ANSWER_FUZZ_SECONDS,
    )
    assert "fuzz:" in run.stdout, run.stdout
