"""Documentation whose code runs: the code blocks of README.md and docs/*.md, as tests.

One Markdown file is one module: its ```python blocks run in order in one namespace, as a
reader would type them into one file, so a block may use what an earlier block of the same
file defined (an `app`). After each block, the zero-argument `test_*` functions it defined
are called, as pytest would. The blocks run in a scratch directory holding the files the
examples name (`public/index.html`, ...; see `FILES`).

Shell blocks (```sh, ```bash) are not run, but each `rush ...` or `python -m rush ...` command
in them is parsed by the command's own argument parser and checked as `rush` would check it
(`Config.from_sources`), so a documented flag or value that `rush` refuses fails the test.

A block preceded by the line `<!-- file: templates/home.html -->` is written to that path of
the scratch directory before the python blocks of its file run: the template a page shows is
the one its examples render.

A block that cannot run here (it imports the reader's own module, or needs a feature that is
not merged yet) is preceded by the line `<!-- no-test: why -->`; the reason is required.
Used by tests/app/test_readme.py (README.md) and tests/test_docs.py (docs/*.md).
"""

from __future__ import annotations

import inspect
import re
import shlex
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

_FENCE = re.compile(
    r"^```(?P<lang>[\w+-]*)[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE
)
_NO_TEST = re.compile(r"<!-- no-test(?::\s*(?P<why>.*?))?\s*-->\s*$")
_FILE = re.compile(r"<!-- file:\s*(?P<path>[\w./-]+)\s*-->\s*$")
SHELL = frozenset(("sh", "bash", "shell", "console"))

#: Files and folders the examples refer to, made in the directory the blocks run in.
FILES = {
    "public/index.html": "<!doctype html><title>home</title>",
    "public/site.css": "body { margin: 0 }",
    "build/assets/app.js": "console.log('hi')",
    "files/report.txt": "report",
    "uploads/.keep": "",
}


@dataclass
class Block:
    line: int  # where the code starts in its file (1-based)
    lang: str  # what follows the opening ```: "python", "sh", "" ...
    code: str
    skip_reason: str | None  # None: it runs (or is checked)
    file: str | None = None  # the path it is written to, for `<!-- file: path -->`


def code_blocks(text: str) -> list[Block]:
    """Every fenced block of `text` that starts at the left margin, in order."""
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _NO_TEST.search(before)
        reason = None
        if marker:
            reason = marker.group("why") or ""
        file = _FILE.search(before)
        line = text.count("\n", 0, match.start()) + 2
        blocks.append(
            Block(
                line,
                match.group("lang"),
                match.group("code"),
                reason,
                file.group("path") if file else None,
            )
        )
    return blocks


def python_blocks(text: str) -> list[Block]:
    return [block for block in code_blocks(text) if block.lang == "python"]


def make_files(directory: Path, page: Path | None = None) -> None:
    """The files the examples name, and the `<!-- file: path -->` blocks of `page`, below
    `directory`."""
    files = dict(FILES)
    if page is not None:
        files.update((b.file, b.code) for b in code_blocks(page.read_text()) if b.file)
    for name, content in files.items():
        assert not Path(name).is_absolute() and ".." not in Path(name).parts, name
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(content)


def run_python_blocks(path: Path, module_name: str) -> int:
    """Run the python blocks of `path` (in the current directory) and the `test_*` functions
    they define; the number of such functions called. The namespace's `__name__` is
    `module_name`, never "__main__", so that `if __name__ == "__main__": app.run()` stays
    unrun."""
    namespace: dict = {"__name__": module_name}
    called = 0
    for block in python_blocks(path.read_text()):
        if block.skip_reason is not None:
            continue
        where = f"{path.name}:{block.line}"
        before = dict(namespace)
        try:
            exec(compile(block.code, where, "exec"), namespace)
            for name, value in list(namespace.items()):
                if name.startswith("test_") and before.get(name) is not value and callable(value):
                    if not inspect.signature(value).parameters:
                        value()
                        called += 1
        except Exception as error:
            raise AssertionError(_failure(path, block, where, error)) from error
    return called


def _failure(path: Path, block: Block, where: str, error: Exception) -> str:
    """`file:line: the source line: the error`, naming the innermost line of the block."""
    lineno = None
    for frame, frame_lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == where:
            lineno = frame_lineno
    if lineno is None:
        return f"{where}: the block starting here failed: {error!r}"
    source = block.code.splitlines()[lineno - 1].strip()
    return f"{path.name}:{block.line + lineno - 1}: {source}: {error!r}"


def rush_commands(code: str) -> list[list[str]]:
    """The arguments of each `rush ...` / `python -m rush ...` command in a shell block."""
    commands = []
    text = code.replace("\\\n", " ")
    for line in text.splitlines():
        for part in re.split(r"&&|\|\||;|\||&", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                words = words[1:]  # VAR=value rush ...
            if words[:1] == ["rush"]:
                commands.append(words[1:])
            elif len(words) >= 3 and words[0].startswith("python") and words[1:3] == ["-m", "rush"]:
                commands.append(words[3:])
    return commands


def check_rush_command(args: list[str]) -> None:
    """Parse `args` as `rush` does and build its configuration; raises if `rush` would refuse
    them (the app itself is not imported)."""
    from rush.cli import build_parser
    from rush.config import Config

    if "-h" in args or "--help" in args:
        return
    try:
        parsed = build_parser().parse_args(args)
    except SystemExit as exit:
        raise AssertionError(f"rush {shlex.join(args)}: refused by the argument parser") from exit
    options = {k: v for k, v in vars(parsed).items() if k != "app" and v is not None}
    Config.from_sources(options, environ={})


def check_shell_blocks(path: Path) -> int:
    """Check every `rush` command of the shell blocks of `path`; how many were checked."""
    checked = 0
    for block in code_blocks(path.read_text()):
        if block.lang not in SHELL or block.skip_reason is not None:
            continue
        for args in rush_commands(block.code):
            try:
                check_rush_command(args)
            except Exception as error:
                raise AssertionError(f"{path.name}:{block.line}: {error}") from error
            checked += 1
    return checked


def unexplained_skips(path: Path) -> list[str]:
    """`file:line` of each `<!-- no-test -->` without a reason."""
    return [
        f"{path.name}:{block.line}"
        for block in code_blocks(path.read_text())
        if block.skip_reason is not None and not block.skip_reason
    ]
