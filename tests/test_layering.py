"""The dependency direction of DESIGN.md, checked by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rush"

# module prefix -> rush modules it must never import (directly, at any level of the file)
FORBIDDEN = {
    "rush.protocol": ("rush.server", "rush.app", "rush.request", "rush.response", "rush.routing"),
    "rush.server.loop": ("rush.",),
    "rush.server.supervisor": ("rush.app", "rush.protocol", "rush.server.connection",
                               "rush.server.worker", "rush.request", "rush.response",
                               "rush.server.serve", "rush.cli", "rush.proxy",
                               "rush.server.accesslog", "rush.server.reloader"),
    # The master and its workers share it; it knows no HTTP and no app.
    "rush.server.heartbeat": ("rush.",),
    "rush.proxy": ("rush.server", "rush.app", "rush.cli"),
    "rush.routing": ("rush.server", "rush.app"),
    "rush.request": ("rush.server", "rush.app"),
    "rush.response": ("rush.server", "rush.app"),
    "rush.server.connection": ("rush.app",),
    "rush.static": ("rush.server", "rush.app"),
    "rush.paths": ("rush.server", "rush.app"),
    "rush.fileresponse": ("rush.server", "rush.app"),
    "rush.watch": ("rush.server", "rush.app"),
    "rush.multipart": ("rush.server", "rush.app", "rush.request"),
}
# Outside rush, the protocol layer may use only httptools and the standard library, and never
# anything that does I/O.
PROTOCOL_FORBIDDEN_STDLIB = ("socket", "select", "os", "logging", "time")


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_module_respects_layering(path):
    name = module_name(path)
    imported = imports_of(path)
    for prefix, forbidden in FORBIDDEN.items():
        if name == prefix or name.startswith(prefix + "."):
            bad = [i for i in imported if i.startswith(forbidden)]
            assert not bad, f"{name} must not import {bad}"
    if name.startswith("rush.protocol"):
        bad = [i for i in imported if i.split(".")[0] in PROTOCOL_FORBIDDEN_STDLIB]
        assert not bad, f"{name} is sans-IO and must not import {bad}"
