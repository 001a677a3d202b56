"""The C accelerator (rush/protocol/_heads.c) under AddressSanitizer (DESIGN.md, rule 8).

It is built here with -fsanitize=address into a temporary directory and run in a subprocess
(tests/protocol/asan_check.py: the corpus, every prefix, then a bounded fuzz) with libasan
preloaded, since the interpreter itself is not instrumented. A canary overflow checks first
that ASan does report in this environment, so a pass means something. About 25 seconds;
skipped where gcc, libasan or the Python headers are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "rush" / "protocol" / "_heads.c"
FUZZ_SECONDS = 15
CANARY = "int over(const char *p, int n) { return p[n + 1]; }\n"


def toolchain() -> tuple[str, str, str]:
    """gcc, libasan and the Python include directory, or a skip naming what is missing."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    found = subprocess.run(
        [gcc, "-print-file-name=libasan.so"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not os.path.isabs(found) or not os.path.exists(found):
        pytest.skip("libasan is not installed (Debian: libasan8 / gcc)")
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        pytest.skip("the Python headers are not installed (python3-dev)")
    return gcc, found, include


def compile_asan(gcc: str, source: Path, target: Path, include: str) -> None:
    command = [gcc, "-shared", "-fPIC", "-g", "-O1", "-fsanitize=address"]
    command += ["-fno-omit-frame-pointer", f"-I{include}", str(source), "-o", str(target)]
    subprocess.run(command, check=True, capture_output=True)


def asan_env(libasan: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RUSH_NO_EXTENSIONS"}
    env.update(
        LD_PRELOAD=libasan,
        ASAN_OPTIONS="detect_leaks=0",
        PYTHONMALLOC="malloc",  # every Python object its own malloc: redzones around buffers
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.mark.slow
def test_the_c_fast_path_under_address_sanitizer(tmp_path: Path) -> None:
    gcc, libasan, include = toolchain()
    env = asan_env(libasan)

    canary = tmp_path / "canary.c"
    canary.write_text(CANARY)
    compile_asan(gcc, canary, tmp_path / "canary.so", include)
    probe = (
        "import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); "
        "lib.over(ctypes.create_string_buffer(40), 40)"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "canary.so")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "heap-buffer-overflow" in run.stderr, f"ASan does not report here:\n{run.stderr}"

    built = tmp_path / ("_heads" + sysconfig.get_config_var("EXT_SUFFIX"))
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
