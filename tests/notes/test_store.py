"""The note store's file, opened by several worker processes at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from examples.notes.store import NoteStore


def _open(path: str, start, results) -> None:  # type: ignore[no-untyped-def]
    start.wait()
    store = NoteStore()
    try:
        store.open(path)
        results.put("ok")
    except Exception as error:  # the outcome is what the test compares
        results.put(repr(error))
    finally:
        store.close()


def test_workers_opening_a_new_file_together_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL in several processes at once: SQLite answers the losers
    "database is locked" without waiting (CI once saw a worker fail to boot so). Before the
    retry, 20 rounds of 6 processes failed 7 opens here."""
    fork = multiprocessing.get_context("fork")
    outcomes = []
    for round_ in range(20):
        path = str(tmp_path / f"notes-{round_}.db")
        start, results = fork.Event(), fork.Queue()
        openers = [fork.Process(target=_open, args=(path, start, results)) for _ in range(6)]
        for process in openers:
            process.start()
        start.set()
        outcomes += [results.get(timeout=30) for _ in openers]
        for process in openers:
            process.join(10)
    assert set(outcomes) == {"ok"}, [o for o in outcomes if o != "ok"][:3]
