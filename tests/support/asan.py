"""Building a C accelerator with AddressSanitizer and running Python code against it.

The interpreter itself is not instrumented, so the build is loaded into a subprocess with
libasan preloaded and every Python object in an allocation of its own (PYTHONMALLOC=malloc),
where a read past an object's end lands in a redzone. `check_asan_reports` proves first, with
a deliberate overflow, that ASan does report in this environment, so a pass means something.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def extension_path(directory: Path, module: str) -> Path:
    """Where a build of the extension `module` (its last name) goes in `directory`."""
    return directory / (module + sysconfig.get_config_var("EXT_SUFFIX"))


def asan_env(libasan: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RUSH_NO_EXTENSIONS"}
    env.update(
        LD_PRELOAD=libasan,
        ASAN_OPTIONS="detect_leaks=0",
        PYTHONMALLOC="malloc",  # every Python object its own malloc: redzones around buffers
        PYTHONPATH=str(ROOT),
    )
    return env


def check_asan_reports(tmp_path: Path, gcc: str, include: str, env: dict[str, str]) -> None:
    """A heap overflow in a canary library is reported here, or the test fails."""
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


def run_under_asan(
    tmp_path: Path, source: Path, module: str, script: Path, seconds: float
) -> subprocess.CompletedProcess[str]:
    """Build `source` (the extension whose last name is `module`) with ASan, after the canary,
    and run `script BUILD SECONDS` against it in a subprocess; it must finish cleanly, with no
    ASan report. Skips where the toolchain is missing."""
    gcc, libasan, include = toolchain()
    env = asan_env(libasan)
    check_asan_reports(tmp_path, gcc, include, env)
    built = extension_path(tmp_path, module)
    compile_asan(gcc, source, built, include)
    run = subprocess.run(
        [sys.executable, str(script), str(built), str(seconds)],
        cwd=tmp_path,  # Hypothesis's files, if any, stay there
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 90,
        check=False,
    )
    assert run.returncode == 0 and "AddressSanitizer" not in run.stderr, run.stderr[-6000:]
    return run


def load_extension(name: str, path: str) -> ModuleType:
    """Import the extension module `name` from the build at `path` (before anything imports
    the package), in place of the one installed."""
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[name] = module
    return module
