"""The master's signal queue: each signal it takes becomes a byte on a pipe, read in its loop.

Owns the pipe CPython writes each caught signal number to (`signal.set_wakeup_fd`), the
do-nothing handlers installed for those signals (and the ones they replaced, put back after),
and undoing both in a forked child before it becomes a worker. It decides nothing: the
Supervisor reads the queued numbers and dispatches each to its `handle_<name>`.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from rush.server.process import note_signal

#: The signals the master takes: each is dispatched to `Supervisor.handle_<name>`.
HANDLED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGCHLD,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
)
_Disposition = Callable[[int, FrameType | None], Any] | int | None
# Until a worker installs its own handlers these must not kill or stop it.
_IGNORED_IN_CHILD = (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1)


class SignalQueue:
    """The wakeup pipe (`read_fd` for the loop to wait on) and the handlers that feed it."""

    __slots__ = ("read_fd", "write_fd", "_old_wakeup", "_old_handlers")

    def __init__(self) -> None:
        self.read_fd = self.write_fd = -1
        self._old_wakeup = -1
        self._old_handlers: dict[int, _Disposition] = {}

    def open(self) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)

    def install(self) -> None:
        """From now on every HANDLED signal is queued (the pipe must be open)."""
        self._old_wakeup = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self._old_handlers = {signum: signal.signal(signum, note_signal) for signum in HANDLED}

    def restore(self) -> None:
        """Put back the wakeup fd and the handlers `install` replaced."""
        signal.set_wakeup_fd(self._old_wakeup)
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)

    def read(self) -> bytes:
        """The signal numbers queued since the last read, one byte each (none: empty)."""
        try:
            return os.read(self.read_fd, 64)
        except BlockingIOError:
            return b""

    def drop_in_child(self) -> None:
        """In a forked child: default (or ignored) dispositions, no wakeup fd, no pipe."""
        for signum in HANDLED:
            signal.signal(signum, signal.SIG_DFL)
        for signum in _IGNORED_IN_CHILD:
            signal.signal(signum, signal.SIG_IGN)
        signal.set_wakeup_fd(-1)
        os.close(self.read_fd)
