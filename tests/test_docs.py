"""The documentation site builds, and its code runs.

- `mkdocs build --strict` succeeds: every page is in the nav, every link and anchor between
  pages resolves, and mkdocstrings renders the API reference from the docstrings without a
  warning (CI installs mkdocs with the `test` extra; a machine without it skips that test).
- Every ```python block of docs/*.md runs, page by page, and the `test_*` functions the blocks
  define pass; every `rush ...` command of a shell block is one `rush` accepts
  (tests/docs_runner.py has the rules, shared with the README's test).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from tests.docs_runner import (
    DOCS,
    ROOT,
    check_shell_blocks,
    code_blocks,
    make_files,
    run_python_blocks,
    unexplained_skips,
)

PAGES = sorted(DOCS.glob("*.md"))
#: Pages that document code: at least one of their python blocks must run.
NO_RUNNABLE_CODE = {"architecture.md", "operations.md", "performance.md", "reference.md"}


def test_the_topic_pages_exist():
    names = {page.name for page in PAGES}
    topics = "quickstart routing requests responses templates sessions blueprints files uploads"
    topics += " testing configuration deployment operations performance wsgi architecture"
    assert {f"{topic}.md" for topic in topics.split()} | {"index.md", "reference.md"} <= names


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [page.name for page in PAGES if page.name not in nav]
    assert not missing, f"pages missing from the nav of mkdocs.yml: {missing}"


def test_the_reference_covers_every_public_name():
    import rush

    reference = (DOCS / "reference.md").read_text()
    documented = set(re.findall(r"^::: ([\w.]+)", reference, re.MULTILINE))
    expected = {f"rush.{name}" for name in rush.__all__}
    expected |= {"rush.views", "rush.testing.TestClient", "rush.testing.TestResponse"}
    assert expected <= documented, sorted(expected - documented)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_skipped_blocks_say_why(page):
    assert unexplained_skips(page) == [], "write `<!-- no-test: why -->`"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_python_blocks_of_a_page_run(page, tmp_path, monkeypatch):
    make_files(tmp_path, page)
    monkeypatch.chdir(tmp_path)
    run_python_blocks(page, f"docs_{page.stem}")
    if page.name not in NO_RUNNABLE_CODE:
        runnable = [b for b in code_blocks(page.read_text()) if b.lang == "python"]
        assert any(b.skip_reason is None for b in runnable), f"{page.name}: no python block runs"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_rush_commands_of_a_page_are_valid(page):
    check_shell_blocks(page)


def test_mkdocs_build_strict(tmp_path):
    if (
        importlib.util.find_spec("mkdocs") is None
        or importlib.util.find_spec("mkdocstrings") is None
    ):
        pytest.skip("mkdocs and mkdocstrings are not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "index.html").exists()
    assert (tmp_path / "site" / "bench-chart.svg").exists()
