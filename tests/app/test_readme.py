"""The README's Python code runs, and its `test_*` functions pass.

Every ```python block of README.md runs, in order, in one namespace, as a reader would type
them into one module: a block may use what an earlier block defined (the tour's `app`). After
each block, the zero-argument `test_*` functions it defined are called, as pytest would. The
blocks run in a temporary directory holding the files the examples name (`public/index.html`,
...). A block that cannot run here (it imports the reader's own module) is preceded by a line
`<!-- no-test: why -->`, and the reason is required.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_NO_TEST = re.compile(r"<!-- no-test(?::\s*(?P<why>.*?))?\s*-->\s*$")
#: Files and folders the examples refer to, made in the directory the blocks run in.
FILES = {
    "public/index.html": "<!doctype html><title>home</title>",
    "build/assets/app.js": "console.log('hi')",
    "files/report.txt": "report",
}


@dataclass
class Block:
    line: int  # where the code starts in README.md
    code: str
    skip_reason: str | None  # None: it runs


def python_blocks(text: str) -> list[Block]:
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _NO_TEST.search(before)
        reason = None
        if marker:
            reason = marker.group("why") or ""
        line = text.count("\n", 0, match.start()) + 2
        blocks.append(Block(line, match.group(1), reason))
    return blocks


def test_the_extractor_finds_the_blocks():
    blocks = python_blocks(
        "intro\n```python\nx = 1\n```\n<!-- no-test: needs a database -->\n```python\nno\n```\n"
        "```sh\nls\n```\n"
    )
    assert [(b.line, b.code, b.skip_reason) for b in blocks] == [
        (3, "x = 1\n", None),
        (7, "no\n", "needs a database"),
    ]


def test_every_skipped_block_says_why():
    for block in python_blocks(README.read_text()):
        if block.skip_reason is not None:
            assert block.skip_reason, f"README.md:{block.line}: `<!-- no-test: why -->`"


def test_the_tour_and_testing_sections_are_among_the_blocks_that_run():
    running = [b.code for b in python_blocks(README.read_text()) if b.skip_reason is None]
    assert any("app = Rush()" in code and "def hello(request)" in code for code in running)
    assert any("with app.test_client() as client:" in code for code in running)


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    for name, content in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}  # not "__main__": `app.run()` stays unrun
    ran = 0
    for block in python_blocks(README.read_text()):
        if block.skip_reason is not None:
            continue
        before = dict(namespace)
        try:
            exec(compile(block.code, f"README.md:{block.line}", "exec"), namespace)
            for name, value in list(namespace.items()):
                if name.startswith("test_") and before.get(name) is not value and callable(value):
                    if not inspect.signature(value).parameters:
                        value()
                        ran += 1
        except Exception as error:
            raise AssertionError(f"README.md block at line {block.line}: {error!r}") from error
    assert ran >= 1, "the README's test functions did not run"
