"""What the master and its workers agree on: exit codes and how signals are received."""

from __future__ import annotations

#: Exit code of a worker that could not start (bind, startup hook): the master must not
#: respawn it in a loop; it stops instead.
BOOT_FAILURE = 3

#: Exit code of a new-generation worker (rolling reload) that could not import the app: the
#: master abandons the reload and keeps the old workers serving.
IMPORT_FAILURE = 4


def note_signal(signum: int, frame: object) -> None:
    """Does nothing: CPython has already written `signum` to the wakeup fd, and the loop
    that watches that fd does the work, outside signal context."""


class StopNow(BaseException):
    """Raised by a worker's signal handler to leave at once whatever it is doing, a handler
    blocked in a sleep or a socket included: SIGQUIT, or a second SIGINT (Ctrl-C twice).
    A BaseException, so an app's `except Exception` cannot swallow it."""
