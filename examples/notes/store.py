"""The notes, kept in one SQLite file that every worker process opens for itself.

A worker is a process: a dict in one of them is invisible to the others, so the notes live in
a file. Each worker opens its own connection in an `on_startup` hook (a connection made before
the fork and shared by two processes would corrupt the file). WAL mode lets one worker read
while another writes; `timeout` makes a writer wait for the other's lock instead of failing.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    attachment TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_by_owner ON notes (owner, id);
"""

MAX_TITLE = 100
MAX_BODY = 10_000


def validate(title: Any, body: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(the cleaned fields, the errors by field name) of a note a user sent."""
    title = title.strip() if isinstance(title, str) else ""
    body = body if isinstance(body, str) else ""
    errors = {}
    if not title:
        errors["title"] = "A note needs a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"A title has at most {MAX_TITLE} characters."
    if len(body) > MAX_BODY:
        errors["body"] = f"A note has at most {MAX_BODY} characters."
    return {"title": title, "body": body}, errors


def _use_wal(connection: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch the file to WAL. Workers starting together all try at once, and SQLite answers
    the loser "database is locked" at once, without its busy timeout (waiting could deadlock
    two lock upgrades): so the loser tries again a moment later."""
    for attempt in range(attempts):
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.01)


class NoteStore:
    """This process's connection to the notes file: `open(path)` in each worker."""

    def __init__(self) -> None:
        self.connection: sqlite3.Connection | None = None

    def open(self, path: str) -> None:
        self.close()
        connection = sqlite3.connect(path, timeout=10, isolation_level=None)
        connection.row_factory = sqlite3.Row
        _use_wal(connection)
        connection.executescript(SCHEMA)
        self.connection = connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    @property
    def db(self) -> sqlite3.Connection:
        if self.connection is None:
            raise RuntimeError(
                "the note store is not open: it opens in an on_startup hook "
                "(a worker, or `with app.test_client() as client:`)"
            )
        return self.connection

    def list(self, owner: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM notes WHERE owner = ? ORDER BY id DESC", (owner,)
        ).fetchall()
        return [dict(row) for row in rows]

    def get(self, owner: str, note_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT * FROM notes WHERE owner = ? AND id = ?", (owner, note_id)
        ).fetchone()
        return dict(row) if row is not None else None

    def add(self, owner: str, title: str, body: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO notes (owner, title, body, created) VALUES (?, ?, ?, ?)",
            (owner, title, body, time.time()),
        )
        return int(cursor.lastrowid or 0)

    def delete(self, owner: str, note_id: int) -> bool:
        cursor = self.db.execute("DELETE FROM notes WHERE owner = ? AND id = ?", (owner, note_id))
        return cursor.rowcount == 1

    def attach(self, owner: str, note_id: int, filename: str) -> None:
        self.db.execute(
            "UPDATE notes SET attachment = ? WHERE owner = ? AND id = ?",
            (filename, owner, note_id),
        )
