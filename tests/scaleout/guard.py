"""Cleanup that happens however the run ends: a fixture's finalizer, interpreter exit, SIGTERM.

The bed owns namespaces, processes and temporary files that outlive the test process if
nobody removes them. Each is registered here as it is made; `run()` undoes them in reverse
order, once, whichever of the pytest finalizer, `atexit` or a SIGTERM/SIGHUP handler comes
first (Ctrl-C already reaches the finalizer through KeyboardInterrupt). What a SIGKILL leaves
behind is removed by the next run (`netns.remove_stale`).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Guard:
    """A stack of undo actions, run once; signal handlers installed while it is armed."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], object]]] = []
        self._lock = threading.Lock()
        self._previous: dict[int, object] = {}

    def add(self, what: str, action: Callable[[], object]) -> None:
        """Register `action` (named `what` in the error it may print) to run at cleanup."""
        with self._lock:
            self._actions.append((what, action))

    def arm(self) -> None:
        """Run the cleanup at exit and on SIGTERM/SIGHUP too (from the main thread only)."""
        atexit.register(self.run)
        if threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)

    def run(self) -> None:
        """Undo everything registered, last first; an action that fails does not stop the rest."""
        while True:
            with self._lock:
                if not self._actions:
                    break
                what, action = self._actions.pop()
            try:
                action()
            except Exception as error:  # cleanup must go on
                print(f"scale-out cleanup: {what}: {error!r}", file=sys.stderr)
        self._disarm()

    def _disarm(self) -> None:
        atexit.unregister(self.run)
        if threading.current_thread() is threading.main_thread():
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.run()  # also restores the previous handlers
        os.kill(os.getpid(), signum)  # then die (or whatever was set) as the signal asked
