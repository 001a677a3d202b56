"""The layout of the tests themselves (DESIGN.md, "Tests"): shared machinery lives once in
tests/support and suites import it from there, never from a conftest (conftests hold fixtures,
which pytest hands out) and never from another suite's modules.

A suite is a package under tests/ (tests/server, tests/ops, ...). Every module may import
tests.support, the test apps in tests.apps, and top-level helper modules (tests/docs_runner.py);
a suite's modules may also import their own suite; tests/support imports only itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SHARED = {"support", "apps"}
SUITES = {p.name for p in TESTS.iterdir() if (p / "__init__.py").exists()} - SHARED


def module_name(path: Path) -> str:
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every `tests.*` module `source` imports, at any level of the file,
    relative imports resolved; `from tests.x import y` counts as tests.x.y (y may be a module)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "tests"]


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    parts = module.split(".")
    own = (
        parts[1] if len(parts) > 2 or (is_package and len(parts) == 2) else None
    )  # None: top level
    bad = []
    for line, name in imported(source, module, is_package):
        target = [*name.split("."), ""]
        if "conftest" in target:
            bad.append(f"{module}:{line} imports {name}: a conftest holds only fixtures")
        elif own == "support" and target[1] != "support":
            bad.append(f"{module}:{line} imports {name}: tests/support depends on no suite")
        elif target[1] in SUITES and target[1] != own:
            bad.append(f"{module}:{line} imports {name}: another suite's module")
    return bad


def test_no_module_imports_a_conftest_or_another_suite() -> None:
    bad = []
    for path in sorted(TESTS.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        bad += violations(source, module_name(path), path.name == "__init__.py")
    assert not bad, "move shared machinery to tests/support:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "module", "allowed"),
    [
        ("from tests.support.process import RushServer", "tests.ops.test_x", True),
        ("from tests.ops.load import Load", "tests.ops.test_x", True),
        ("from .load import Load", "tests.ops.test_x", True),
        ("from tests.apps import seam", "tests.server.test_x", True),
        ("from tests.docs_runner import run", "tests.test_docs", True),
        ("from tests.server.conftest import wait_until", "tests.ops.test_x", False),
        ("from tests.ops.conftest import ROOT", "tests.ops.test_x", False),
        ("from .conftest import ROOT", "tests.ops.test_x", False),
        ("def f():\n    from tests.ops.load import Load", "tests.wsgi.test_x", False),
        ("import tests.server.limits", "tests.test_pure_path", False),
        ("from tests import hardening", "tests.bodies.test_x", False),
        ("from tests.ops.load import Load", "tests.support.client", False),
    ],
)
def test_the_check_tells_allowed_imports_from_forbidden_ones(
    source: str, module: str, allowed: bool
) -> None:
    assert SUITES >= {"server", "ops", "wsgi", "hardening", "bodies"}
    assert (violations(source, module) == []) is allowed
