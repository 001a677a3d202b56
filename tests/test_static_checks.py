"""ruff and mypy stay clean on the package: run here so CI keeps them so (both come with the
`test` extra; a machine without them skips)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "tool, command",
    [
        ("ruff", [sys.executable, "-m", "ruff", "check", "rush", "tests", "bench"]),
        ("mypy", [sys.executable, "-m", "mypy", "rush"]),
        (
            "mypy --strict",
            [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"]
            + ["rush/protocol", "rush/server"],
        ),
    ],
)
def test_package_is_clean(tool: str, command: list[str]) -> None:
    if importlib.util.find_spec(tool.split()[0]) is None:
        pytest.skip(f"{tool} is not installed")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
