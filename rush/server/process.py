"""What the master and its workers agree on: exit codes and how signals are received."""

from __future__ import annotations

#: Exit code of a worker that could not start (bind, startup hook): the master must not
#: respawn it in a loop; it stops instead.
BOOT_FAILURE = 3


def note_signal(signum: int, frame: object) -> None:
    """Does nothing: CPython has already written `signum` to the wakeup fd, and the loop
    that watches that fd does the work, outside signal context."""
