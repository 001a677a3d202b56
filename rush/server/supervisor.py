"""The master process: forks workers, respawns the ones that die, stops them gracefully.

It knows no HTTP and no app: it runs a callable per worker in a forked child and watches
the children. Facts and strategy (the shape of gunicorn's arbiter):
- Signals only queue: CPython writes each signal number to a pipe (`set_wakeup_fd`) and the
  main loop handles them one by one, outside signal context.
- A worker that exits with BOOT_FAILURE could not start; respawning it would loop forever,
  so the master stops everything and exits non-zero, saying why.
- Any other unexpected exit is respawned, with a delay that grows while workers keep dying
  young and resets once they live.
- SIGTERM/SIGINT: SIGTERM to every worker, wait up to `graceful_timeout` for them to finish
  in-flight requests, and only then SIGKILL what is left (the exception, not the path).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import time
from collections.abc import Callable

from rush.server.process import BOOT_FAILURE, note_signal

error_log = logging.getLogger("rush.error")

_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGCHLD, signal.SIGHUP)
_YOUNG = 5.0  # a worker dying sooner than this after its start counts towards backoff
_MAX_BACKOFF = 5.0


class Supervisor:
    """Keeps `count` children running `worker_main(index)` until told to stop."""

    def __init__(
        self,
        worker_main: Callable[[int], int],
        count: int,
        graceful_timeout: float = 30.0,
    ) -> None:
        self.worker_main = worker_main
        self.count = count
        self.graceful_timeout = graceful_timeout
        self.workers: dict[int, tuple[int, float]] = {}  # pid -> (index, started at)
        self.stopping = False
        self.exit_code = 0
        self.backoff = 0.0
        self._respawn_at: dict[int, float] = {}  # index -> when to start it again
        self._kill_at = 0.0  # when stopping: SIGKILL whoever is still alive by then
        self._read_fd = -1

    # -- the master loop -----------------------------------------------------------------

    def run(self) -> int:
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._read_fd = read_fd
        old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        old_handlers = {signum: signal.signal(signum, note_signal) for signum in _HANDLED}
        try:
            for index in range(self.count):
                self.spawn(index)
            while self.workers or (self._respawn_at and not self.stopping):
                self._wait_for_signals(0.05 if self.stopping else 0.5)
                self.reap()
                self._respawn_due()
                if self.stopping and self.workers and time.monotonic() >= self._kill_at:
                    error_log.warning(
                        "%d worker(s) did not stop in time; killing", len(self.workers)
                    )
                    self.kill_all(signal.SIGKILL)
                    self._kill_at = float("inf")
            return self.exit_code
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in old_handlers.items():
                signal.signal(signum, handler)
            os.close(read_fd)
            os.close(write_fd)

    def _wait_for_signals(self, timeout: float) -> None:
        try:
            ready, _, _ = select.select([self._read_fd], [], [], timeout)
        except InterruptedError:
            ready = []
        if not ready:
            return
        try:
            data = os.read(self._read_fd, 64)
        except BlockingIOError:
            return
        for signum in data:
            self.handle_signal(signum)

    def handle_signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            if self.stopping and signum == signal.SIGINT:
                self.kill_all(signal.SIGQUIT)  # a second Ctrl-C: stop at once
            else:
                self.stop()
        elif signum == signal.SIGQUIT:
            self.stopping = True
            self.kill_all(signal.SIGQUIT)
        # SIGCHLD needs nothing here: waking the loop makes it reap.

    # -- workers -------------------------------------------------------------------------

    def spawn(self, index: int) -> int:
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                for signum in _HANDLED:
                    signal.signal(signum, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                os.close(self._read_fd)
                code = self.worker_main(index)
            except BaseException:
                error_log.exception("worker %d crashed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(code)
        self.workers[pid] = (index, time.monotonic())
        error_log.info("started worker %d (pid %d)", index, pid)
        return pid

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            entry = self.workers.pop(pid, None)
            if entry is None:
                continue
            index, started = entry
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                if code != 0:
                    error_log.warning("worker %d (pid %d) exited with %d", index, pid, code)
                continue
            if code == BOOT_FAILURE:
                error_log.error("worker %d failed to boot; stopping (see the error above)", index)
                self.exit_code = BOOT_FAILURE
                self.stop()
                continue
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            error_log.warning("worker %d (pid %d) died (%s); restarting", index, pid, how)
            lived = time.monotonic() - started
            self.backoff = 0.0 if lived > _YOUNG else min(_MAX_BACKOFF, self.backoff * 2 or 0.1)
            self._respawn_at[index] = time.monotonic() + self.backoff

    def _respawn_due(self) -> None:
        if self.stopping:
            self._respawn_at.clear()
            return
        now = time.monotonic()
        for index, when in list(self._respawn_at.items()):
            if when <= now:
                del self._respawn_at[index]
                self.spawn(index)

    # -- stopping ------------------------------------------------------------------------

    def stop(self) -> None:
        """Graceful stop: workers finish in-flight requests within graceful_timeout."""
        if self.stopping:
            return
        error_log.info("stopping %d worker(s) gracefully", len(self.workers))
        self.stopping = True
        self._kill_at = time.monotonic() + self.graceful_timeout + 1.0
        self.kill_all(signal.SIGTERM)

    def kill_all(self, signum: int) -> None:
        for pid in list(self.workers):
            try:
                os.kill(pid, signum)
            except OSError as exc:
                if exc.errno == errno.ESRCH:
                    self.workers.pop(pid, None)
