"""The dependency direction of DESIGN.md, checked by walking every module's imports.

An allowlist: each module may import only the rush modules listed for the longest prefix of
its name (and itself), at any level of the file; and no module imports another module's
`_private` names.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rush"

# module prefix -> the rush modules (prefixes) it may import
ALLOWED: dict[str, tuple[str, ...]] = {
    # Sans-IO HTTP: bytes in, messages and wire bytes out. Nothing above it.
    "rush.protocol": ("rush.protocol",),
    # The server knows the app only through the Handler protocol (rush.server.context).
    "rush.server.loop": (),
    "rush.server.heartbeat": (),
    "rush.server.process": (),
    "rush.server.reloader": (),
    "rush.server.signals": ("rush.server.process",),
    "rush.server.workers": ("rush.server.heartbeat",),
    "rush.server.supervisor": (
        "rush.server.heartbeat",
        "rush.server.process",
        "rush.server.signals",
        "rush.server.workers",
    ),
    "rush.server.output": ("rush.protocol",),
    "rush.server.context": (
        "rush.protocol",
        "rush.proxy",
        "rush.server.loop",
        "rush.server.connection",  # for type checking only
    ),
    "rush.server.connection": (
        "rush.protocol",
        "rush.proxy",
        "rush.server.context",
        "rush.server.intake",
        "rush.server.loop",
        "rush.server.output",
    ),
    "rush.server.intake": ("rush.protocol", "rush.server.context", "rush.server.output"),
    "rush.server.proxyprotocol": (
        "rush.server.connection",
        "rush.server.context",
        "rush.server.loop",
    ),
    "rush.server.health": (
        "rush.protocol",
        "rush.server.context",  # for type checking only
        "rush.server.heartbeat",
        "rush.server.loop",
    ),
    "rush.server.watchdog": ("rush.protocol", "rush.server.heartbeat", "rush.server.loop"),
    "rush.server.accesslog": ("rush.exceptions",),
    "rush.server.sockets": ("rush.exceptions",),
    "rush.server.worker": ("rush.config", "rush.proxy", "rush.server"),
    "rush.server.serve": ("rush.config", "rush.server"),
    "rush.server": (),
    "rush.proxy": (),
    "rush.version": (),
    "rush.config": ("rush.exceptions", "rush.protocol", "rush.proxy"),
    "rush.cli": (
        "rush.app",
        "rush.config",
        "rush.exceptions",
        "rush.protocol",
        "rush.request",  # which implementation it runs, for --version
        "rush.routetrie",
        "rush.server",
        "rush.version",
        "rush.wsgihost",
    ),
    # Any WSGI app as a Handler: framework level, no sockets (but `serve_wsgi()`, like `run()`).
    "rush.wsgihost": (
        "rush.bodies",
        "rush.cli",
        "rush.config",
        "rush.exceptions",
        "rush.fixedanswers",
        "rush.protocol",
        "rush.request",
        "rush.response",
        "rush.static",
    ),
    # The framework: no sockets, no server (but `run()`, which hands the app to the CLI).
    "rush.app": (
        "rush.appconfig",
        "rush.bodies",
        "rush.blueprints",
        "rush.cli",
        "rush.config",
        "rush.errorhandling",
        "rush.exceptions",
        "rush.fileresponse",
        "rush.fixedanswers",
        "rush.protocol",
        "rush.request",
        "rush.response",
        "rush.routing",
        "rush.scaffold",
        "rush.serving",
        "rush.sessions",
        "rush.static",
        "rush.templating",
        "rush.testing",
        "rush.wsgiapp",
    ),
    # A Rush app under another WSGI server: the framework's side of the seam, no server.
    "rush.wsgiapp": ("rush.protocol",),
    "rush.scaffold": ("rush.exceptions",),
    "rush.blueprints": (
        "rush.app",  # for type checking only
        "rush.exceptions",
        "rush.paths",
        "rush.request",  # for type checking only
        "rush.response",
        "rush.routing",
        "rush.scaffold",
        "rush.static",
    ),
    "rush.serving": (
        "rush.exceptions",
        "rush.fileresponse",
        "rush.fixedanswers",  # for type checking only
        "rush.request",
        "rush.response",
        "rush.routing",  # for type checking only
        "rush.static",
        "rush.templating",
    ),
    "rush.errorhandling": (
        "rush.appconfig",  # for type checking only
        "rush.blueprints",
        "rush.exceptions",
        "rush.protocol",
        "rush.request",
        "rush.response",
        "rush.routing",
        "rush.scaffold",
    ),
    "rush.routing": ("rush.exceptions", "rush.routetrie"),
    "rush.routetrie": (
        "rush._routewalk",  # its C accelerator
        "rush.protocol.heads",  # which accelerators may run (RUSH_NO_EXTENSIONS)
        "rush.routing",  # for type checking only
    ),
    "rush.request": (
        "rush._request",  # its C accelerator
        "rush.accept",
        "rush.bodies",
        "rush.datastructures",
        "rush.exceptions",
        "rush.protocol.heads",  # which accelerators may run (RUSH_NO_EXTENSIONS)
        "rush.sessions",
    ),
    "rush.appconfig": (),
    "rush.accept": (),
    "rush.sessions": ("rush.exceptions", "rush.protocol", "rush.response"),
    "rush.templating": ("rush.exceptions", "rush.response", "rush.routing", "rush.watch"),
    "rush.response": ("rush.datastructures", "rush.protocol"),
    "rush.exceptions": ("rush.protocol", "rush.response"),
    "rush.datastructures": (
        "rush._request",  # MultiDict.get's C twin
        "rush.exceptions",
        "rush.protocol",  # decode_fields, and which accelerators may run
    ),
    "rush.bodies": ("rush.datastructures", "rush.exceptions", "rush.multipart", "rush.uploads"),
    "rush.multipart": (),
    "rush.uploads": ("rush.datastructures",),
    "rush.static": (
        "rush.exceptions",
        "rush.fileresponse",
        "rush.paths",
        "rush.response",  # send_file of a file object answers with a Response
        "rush.watch",
    ),
    "rush.fileresponse": ("rush.datastructures", "rush.protocol", "rush.response"),
    "rush.fixedanswers": (
        "rush.fileresponse",
        "rush.protocol",
        "rush.routing",  # for type checking only
        "rush.static",
    ),
    "rush.paths": (),
    "rush.watch": (),
    "rush.testing": ("rush.datastructures", "rush.protocol", "rush.response"),
    "rush.pytest_plugin": ("rush.testing",),
    "rush.views": (),
    "rush.__main__": ("rush.cli",),
    "rush": ("rush",),
}
# Outside rush, the protocol layer may use only httptools and the standard library, and never
# anything that does I/O.
PROTOCOL_FORBIDDEN_STDLIB = ("socket", "select", "os", "logging", "time")
# Exceptions, each for one reason: heads reads RUSH_NO_EXTENSIONS once, at import (DESIGN.md,
# hot-path rule 8), to choose its implementation; it does no I/O.
PROTOCOL_STDLIB_EXCEPTIONS = {"rush.protocol.heads": ("os",)}


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import in the file, at any level."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def allowed_for(name: str) -> tuple[str, ...]:
    rule = max((p for p in ALLOWED if name == p or name.startswith(p + ".")), key=len)
    return ALLOWED[rule]


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_module_imports_only_what_its_layer_allows(path: Path) -> None:
    name = module_name(path)
    allowed = allowed_for(name)
    for imported, _ in imports_of(path):
        if imported == "rush" or imported.startswith("rush."):
            assert imported == name or within(imported, allowed), (
                f"{name} must not import {imported} (allowed: {', '.join(allowed) or 'none'})"
            )
    if name.startswith("rush.protocol"):
        excepted = PROTOCOL_STDLIB_EXCEPTIONS.get(name, ())
        bad = [
            i
            for i, _ in imports_of(path)
            if i.split(".")[0] in PROTOCOL_FORBIDDEN_STDLIB and i not in excepted
        ]
        assert not bad, f"{name} is sans-IO and must not import {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_another_modules_private_names(path: Path) -> None:
    name = module_name(path)
    for imported, names in imports_of(path):
        if imported.startswith("rush") and imported != name:
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{name} imports private {private} from {imported}"


def test_every_module_has_a_rule() -> None:
    """A new module is placed in a layer on purpose, not by falling under `rush`."""
    for path in MODULES:
        name = module_name(path)
        rule = max((p for p in ALLOWED if name == p or name.startswith(p + ".")), key=len)
        assert rule != "rush" or name == "rush", f"{name} has no layering rule"


def test_the_allowlist_catches_a_forbidden_import() -> None:
    """The check itself: the protocol layer reaching up to the app would be refused."""
    assert not within("rush.app", allowed_for("rush.protocol.parser"))
    assert not within("rush.app", allowed_for("rush.server.connection"))
    assert within("rush.protocol.writer", allowed_for("rush.server.output"))


# A status line, or a framing field as it is written on the wire ("Name: "): only the
# protocol writer spells these (the parser reads them, in lower case, without the colon).
_WIRE_LITERAL = re.compile(
    r"HTTP/1\.[01] \d{3}|(Content-Length|Transfer-Encoding|Connection): ", re.IGNORECASE
)


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every str/bytes constant that is not a docstring."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            if isinstance(node.value, bytes):
                found.append((node.lineno, node.value.decode("latin-1")))
            elif isinstance(node.value, str):
                found.append((node.lineno, node.value))
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if not module_name(p).startswith("rush.protocol")],
    ids=lambda p: module_name(p),
)
def test_only_the_protocol_writer_spells_the_wire_format(path: Path) -> None:
    spelled = [(line, text) for line, text in string_literals(path) if _WIRE_LITERAL.search(text)]
    assert not spelled, f"{module_name(path)} spells wire format: {spelled}"


def test_the_wire_format_check_would_catch_a_status_line() -> None:
    assert _WIRE_LITERAL.search("HTTP/1.1 200 OK\r\n")
    assert _WIRE_LITERAL.search("Content-Length: 5\r\n")
    assert not _WIRE_LITERAL.search("content-length")


def test_importing_rush_does_not_load_openssl() -> None:
    """hashlib, hmac and secrets load OpenSSL's libcrypto (~3.5 MB of RSS in every worker):
    Rush imports them where they are used (sessions, the test client's multipart bodies)."""
    probe = "import sys, rush, rush.server, rush.cli; print(sorted(sys.modules))"
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(ast.literal_eval(run.stdout))
    assert not loaded & {"_hashlib", "hashlib", "hmac", "secrets"}
