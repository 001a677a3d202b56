"""The README's code runs: its python blocks and their `test_*` functions pass, and its
`rush` command lines are ones `rush` accepts (see tests/docs_runner.py for the rules)."""

from __future__ import annotations

from tests.docs_runner import (
    README,
    check_shell_blocks,
    code_blocks,
    make_files,
    python_blocks,
    run_python_blocks,
    rush_commands,
    unexplained_skips,
)


def test_the_extractor_finds_the_blocks():
    blocks = code_blocks(
        "intro\n```python\nx = 1\n```\n<!-- no-test: needs a database -->\n```python\nno\n```\n"
        "```sh\nls\n```\n  ```python\nindented, not a block\n  ```\n"
    )
    assert [(b.line, b.lang, b.code, b.skip_reason) for b in blocks] == [
        (3, "python", "x = 1\n", None),
        (7, "python", "no\n", "needs a database"),
        (10, "sh", "ls\n", None),
    ]
    assert [b.code for b in python_blocks("```python\na\n```\n```sh\nb\n```\n")] == ["a\n"]
    [template] = code_blocks("<!-- file: templates/a.html -->\n```html\n<p>{{ x }}</p>\n```\n")
    assert (template.file, template.code, template.skip_reason) == (
        "templates/a.html",
        "<p>{{ x }}</p>\n",
        None,
    )


def test_rush_commands_are_found_in_shell_blocks():
    code = (
        "pip install -e . && python3 -m rush examples.app:app   # start it\n"
        "RUSH_WORKERS=2 rush app:app --workers 4 \\\n    --bind 127.0.0.1:8000\n"
        "curl localhost:8000/ | head\nkill -HUP $(cat rush.pid)\n"
    )
    assert rush_commands(code) == [
        ["examples.app:app"],
        ["app:app", "--workers", "4", "--bind", "127.0.0.1:8000"],
    ]


def test_every_skipped_block_says_why():
    assert unexplained_skips(README) == [], "write `<!-- no-test: why -->`"


def test_the_tour_and_testing_sections_are_among_the_blocks_that_run():
    running = [b.code for b in python_blocks(README.read_text()) if b.skip_reason is None]
    assert any("app = Rush()" in code and "def hello(request)" in code for code in running)
    assert any("with app.test_client() as client:" in code for code in running)


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    make_files(tmp_path, README)
    monkeypatch.chdir(tmp_path)
    assert run_python_blocks(README, "readme") >= 1, "the README's test functions did not run"


def test_readme_rush_commands_are_valid():
    assert check_shell_blocks(README) >= 3
