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
- Replacing a worker (SIGHUP's rolling reload, max_requests, the watchdog) starts the new one
  first, for the same index, and retires the old one (SIGTERM: it drains) only once the new one
  says, through its heartbeat slot, that it accepts. One replacement is in flight at a time.
- A reload bumps the generation; workers of a newer generation run `reload_main` (which
  re-imports the app) instead of `worker_main`. If a new-generation worker dies before it is
  ready, the reload is abandoned and the old workers keep serving.
- Per-index resources the workers inherit (listening sockets) belong to the code that built the
  Supervisor, through `Hooks`: the master keeps them open across replacements, so a connection
  queued for an index is taken by whichever worker of that index accepts next.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import time
from collections.abc import Callable, Sequence

from rush.server.heartbeat import Heartbeat, Slot
from rush.server.process import BOOT_FAILURE, IMPORT_FAILURE, note_signal

error_log = logging.getLogger("rush.error")

_HANDLED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGCHLD,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
)
# Until a worker installs its own handlers these must not kill or stop it.
_IGNORED_IN_CHILD = (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1)
_YOUNG = 5.0  # a worker dying sooner than this after its start counts towards backoff
_MAX_BACKOFF = 5.0
_FAILED_START = (BOOT_FAILURE, IMPORT_FAILURE)
_DUMP_GRACE = 0.3  # seconds between asking a stuck worker for its stack and killing it


class Hooks:
    """What the code that builds the workers does in the master at these moments (no-ops)."""

    def before_spawn(self, index: int) -> None:
        """Make ready what worker `index` inherits (e.g. its listening sockets)."""

    def index_retired(self, index: int) -> None:
        """SIGTTOU removed `index`: release what `before_spawn` made for it."""

    def stopping(self) -> None:
        """A graceful stop began: workers are about to drain."""

    def reopen_logs(self) -> None:
        """SIGUSR1: reopen the master's log files (workers get SIGUSR1 too)."""


class WorkerProcess:
    """The master's record of one child."""

    __slots__ = (
        "pid",
        "index",
        "generation",
        "started",
        "slot",
        "ready",
        "replaces",
        "replaced_by",
        "retiring",
        "kill_at",
        "reported_busy",
        "watchdog_killed",
    )

    def __init__(self, pid: int, index: int, generation: int, slot: Slot) -> None:
        self.pid = pid
        self.index = index
        self.generation = generation
        self.started = time.monotonic()
        self.slot = slot
        self.ready = False
        self.replaces = 0  # pid of the worker this one takes over from, once ready
        self.replaced_by = 0  # pid of the worker taking over from this one
        self.retiring = False
        self.kill_at = float("inf")
        self.reported_busy = 0.0  # busy_since of the stuck request already reported
        self.watchdog_killed = False


class Supervisor:
    """Keeps `count` children running `worker_main(index)` until told to stop."""

    def __init__(
        self,
        worker_main: Callable[[int], int],
        count: int,
        graceful_timeout: float = 30.0,
        *,
        reload_main: Callable[[int], int] | None = None,
        hooks: Hooks | None = None,
        handler_timeout: float = 0.0,
        worker_timeout: float = 0.0,
        watch: Sequence[tuple[int, Callable[[], None]]] = (),
    ) -> None:
        self.worker_main = worker_main
        self.reload_main = reload_main
        self.count = count
        self.graceful_timeout = graceful_timeout
        self.hooks = hooks or Hooks()
        self.handler_timeout = handler_timeout
        self.worker_timeout = worker_timeout
        self.watch = list(watch)  # (fd, callback): extra fds the master loop waits on
        self.workers: dict[int, WorkerProcess] = {}
        self.stopping = False
        self.exit_code = 0
        self.backoff = 0.0
        self.generation = 0  # what newly started workers run; SIGHUP adds one
        self._respawn_at: dict[int, float] = {}  # index -> when to start it again
        self._kill_at = 0.0  # when stopping: SIGKILL whoever is still alive by then
        self._reload_at = float("inf")  # a reload asked for with a delay (source watcher)
        self._replace_after = 0.0  # no max_requests replacement before (one just failed)
        self._reloading = False
        self._read_fd = -1
        self.heartbeat: Heartbeat | None = None
        #: In a worker process: its own heartbeat slot, for `worker_main` to hand on.
        self.slot: Slot | None = None

    # -- the master loop -----------------------------------------------------------------

    def run(self) -> int:
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._read_fd = read_fd
        self.heartbeat = Heartbeat()
        old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        old_handlers = {signum: signal.signal(signum, note_signal) for signum in _HANDLED}
        try:
            for index in range(self.count):
                self.spawn(index)
            while self.workers or (self._respawn_at and not self.stopping):
                self._wait(0.05 if self.stopping else 0.5)
                self.reap()
                self._respawn_due()
                self.check_workers()
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
            self.heartbeat.close()

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal, a worker's notification, a watched fd, or `timeout`."""
        heartbeat = self.heartbeat
        assert heartbeat is not None
        if self._reload_at != float("inf"):
            timeout = max(0.0, min(timeout, self._reload_at - time.monotonic()))
        fds = [self._read_fd, heartbeat.read_fd, *(fd for fd, _ in self.watch)]
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            ready = []
        if heartbeat.read_fd in ready:
            heartbeat.drain()  # the slots are scanned on every turn of the loop anyway
        for fd, callback in self.watch:
            if fd in ready:
                callback()
        if time.monotonic() >= self._reload_at:
            self._reload_at = float("inf")
            self.reload()
        if self._read_fd not in ready:
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
        elif signum == signal.SIGHUP:
            self.reload()
        elif signum == signal.SIGTTIN:
            self.add_worker()
        elif signum == signal.SIGTTOU:
            self.remove_worker()
        elif signum == signal.SIGUSR1:
            error_log.info("reopening log files")
            self.hooks.reopen_logs()
            self.kill_all(signal.SIGUSR1)
        # SIGCHLD needs nothing here: waking the loop makes it reap.

    # -- operations ----------------------------------------------------------------------

    def reload(self) -> None:
        """Rolling reload: replace every worker by one of a new generation, one at a time."""
        if self.stopping:
            return
        self.generation += 1
        self._reloading = True
        error_log.info("reloading: starting generation %d, one worker at a time", self.generation)

    def request_reload(self, delay: float) -> None:
        """Reload in `delay` seconds; requests until then fold into one (editors save twice)."""
        self._reload_at = min(self._reload_at, time.monotonic() + delay)

    def add_worker(self) -> None:
        if self.stopping:
            return
        self.count += 1
        error_log.info("SIGTTIN: one worker more (%d)", self.count)
        if not self.spawn(self.count - 1):
            self.count -= 1

    def remove_worker(self) -> None:
        if self.stopping:
            return
        if self.count <= 1:
            error_log.info("SIGTTOU ignored: one worker is the fewest")
            return
        self.count -= 1
        index = self.count
        error_log.info("SIGTTOU: one worker fewer (%d)", self.count)
        self._respawn_at.pop(index, None)
        self.hooks.index_retired(index)
        for worker in list(self.workers.values()):
            if worker.index == index and not worker.retiring:
                self.retire(worker)

    # -- workers -------------------------------------------------------------------------

    def spawn(self, index: int, generation: int | None = None) -> int:
        """Fork a worker for `index`; its pid, or 0 when no heartbeat slot is free."""
        heartbeat = self.heartbeat
        assert heartbeat is not None
        slot = heartbeat.allocate()
        if slot is None:
            error_log.error("cannot start worker %d: every heartbeat slot is in use", index)
            return 0
        generation = self.generation if generation is None else generation
        main = self.reload_main if generation and self.reload_main else self.worker_main
        self.hooks.before_spawn(index)
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                for signum in _HANDLED:
                    signal.signal(signum, signal.SIG_DFL)
                for signum in _IGNORED_IN_CHILD:
                    signal.signal(signum, signal.SIG_IGN)
                signal.set_wakeup_fd(-1)
                os.close(self._read_fd)
                heartbeat.close_in_child()
                for fd, _ in self.watch:
                    os.close(fd)
                self.slot = slot
                self.generation = generation
                code = main(index)
            except BaseException:
                error_log.exception("worker %d crashed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(code)
        slot.set_pid(pid)
        self.workers[pid] = WorkerProcess(pid, index, generation, slot)
        error_log.info("started worker %d (pid %d)", index, pid)
        if generation:
            error_log.info("worker %d (pid %d) runs generation %d", index, pid, generation)
        return pid

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            assert self.heartbeat is not None
            self.heartbeat.release(worker.slot)
            self._reaped(worker, os.waitstatus_to_exitcode(status))

    def _reaped(self, worker: WorkerProcess, code: int) -> None:
        index, pid = worker.index, worker.pid
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        old = self.workers.get(worker.replaces) if worker.replaces else None
        if old is not None:
            old.replaced_by = 0  # it died before it was ready: the old worker stays
        if self.stopping or worker.retiring:
            if code != 0:
                error_log.warning("worker %d (pid %d) exited with %d", index, pid, code)
            return
        new = self.workers.get(worker.replaced_by) if worker.replaced_by else None
        if new is not None:
            new.replaces = 0  # its replacement is starting already: that one takes over
            error_log.warning("worker %d (pid %d) died (%s) while being replaced", index, pid, how)
            return
        if old is not None:
            if worker.generation > old.generation:
                error_log.error(
                    "reload failed: worker %d of generation %d could not start (%s; see the "
                    "error above); the workers of generation %d keep serving",
                    index,
                    worker.generation,
                    how,
                    old.generation,
                )
                self.generation = old.generation
                self._reloading = False
            else:
                error_log.warning("replacement worker %d (pid %d) died (%s)", index, pid, how)
                self._replace_after = time.monotonic() + 1.0  # the old one serves meanwhile
            return
        if index >= self.count:
            return  # SIGTTOU took this index away
        if code in _FAILED_START and not worker.ready:
            error_log.error("worker %d failed to boot; stopping (see the error above)", index)
            self.exit_code = BOOT_FAILURE
            self.stop()
            return
        if worker.watchdog_killed:
            error_log.warning(
                "worker %d (pid %d) replaced after the watchdog killed it", index, pid
            )
            self._respawn_at[index] = time.monotonic()
            return
        error_log.warning("worker %d (pid %d) died (%s); restarting", index, pid, how)
        lived = time.monotonic() - worker.started
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

    # -- replacing workers -----------------------------------------------------------------

    def check_workers(self) -> None:
        """Read every slot: readiness, replacement requests, the watchdog, the rolling reload."""
        now = time.monotonic()
        states = {}
        for worker in list(self.workers.values()):
            state = states[worker.pid] = worker.slot.read()
            if state.ready and not worker.ready:
                worker.ready = True
                old = self.workers.get(worker.replaces) if worker.replaces else None
                worker.replaces = 0
                if old is not None and not old.retiring:
                    self.retire(old)
            if now >= worker.kill_at:
                if worker.retiring:
                    error_log.warning(
                        "worker %d (pid %d) did not drain in time; killing",
                        worker.index,
                        worker.pid,
                    )
                self._kill(worker.pid, signal.SIGKILL)
                worker.kill_at = float("inf")
        if self.stopping:
            return
        # One replacement at a time: a fork storm helps nobody, and the old worker serves on.
        in_flight = any(w.replaces for w in self.workers.values())
        for worker in list(self.workers.values()):
            if worker.retiring or worker.watchdog_killed:
                continue
            state = states[worker.pid]
            if worker.ready and (self.handler_timeout or self.worker_timeout):
                self._watch(worker, state.beat, state.busy_since, state.label, now)
            if (
                state.wants_replacement
                and not (in_flight or worker.replaced_by or worker.watchdog_killed)
                and now >= self._replace_after
            ):
                error_log.info(
                    "worker %d (pid %d) served max_requests; replacing it", worker.index, worker.pid
                )
                in_flight = self.replace(worker, worker.generation)
        if in_flight:
            return
        outdated = [
            w
            for w in self.workers.values()
            if w.generation < self.generation
            and not (w.retiring or w.replaced_by or w.watchdog_killed)
            and w.index < self.count
        ]
        if outdated:
            self.replace(min(outdated, key=lambda w: w.index), self.generation)
        elif self._reloading and all(
            w.generation >= self.generation for w in self.workers.values()
        ):
            # Only once the old workers are gone: until its SIGTERM is handled, a retiring
            # worker may still accept, and "complete" must mean the old code answers no more.
            self._reloading = False
            error_log.info(
                "reload complete: %d worker(s) run generation %d",
                len(self.workers),
                self.generation,
            )

    def replace(self, old: WorkerProcess, generation: int) -> bool:
        """Start old's successor; `old` is retired once the successor is ready."""
        pid = self.spawn(old.index, generation)
        if not pid:
            return False
        self.workers[pid].replaces = old.pid
        old.replaced_by = pid
        return True

    def retire(self, worker: WorkerProcess) -> None:
        """Ask a worker to drain and exit; SIGKILL it if it outlives graceful_timeout."""
        if worker.replaced_by:
            error_log.info(
                "worker %d (pid %d) retires: pid %d serves in its place",
                worker.index,
                worker.pid,
                worker.replaced_by,
            )
        worker.retiring = True
        worker.slot.mark_retiring()
        worker.kill_at = time.monotonic() + self.graceful_timeout + 1.0
        self._kill(worker.pid, signal.SIGTERM)

    def _watch(
        self, worker: WorkerProcess, beat: float, busy_since: float, label: str, now: float
    ) -> None:
        """The watchdog: log a handler stuck past handler_timeout (with its stack, once);
        replace a worker whose loop has not beaten for worker_timeout."""
        busy = now - busy_since if busy_since else 0.0
        if (
            self.handler_timeout
            and busy >= self.handler_timeout
            and worker.reported_busy != busy_since
        ):
            worker.reported_busy = busy_since
            error_log.warning(
                "worker %d (pid %d) has been handling %r for %.1f s (handler_timeout %g s); "
                "its stack follows",
                worker.index,
                worker.pid,
                label,
                busy,
                self.handler_timeout,
            )
            self._kill(worker.pid, signal.SIGUSR2)
        # The loop ran until the handler started: that, or the last beat, is when it stuck.
        stuck = now - max(beat, busy_since)
        if self.worker_timeout and beat and stuck >= self.worker_timeout:
            doing = f" handling {label!r}" if busy_since else ""
            error_log.error(
                "worker %d (pid %d) has been stuck for %.1f s (worker_timeout %g s)%s; "
                "replacing it",
                worker.index,
                worker.pid,
                stuck,
                self.worker_timeout,
                doing,
            )
            worker.watchdog_killed = True
            if worker.reported_busy != busy_since or not busy_since:
                self._kill(worker.pid, signal.SIGUSR2)  # its stack, before it goes
                worker.kill_at = now + _DUMP_GRACE
            else:
                self._kill(worker.pid, signal.SIGKILL)

    def _kill(self, pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    # -- stopping ------------------------------------------------------------------------

    def stop(self) -> None:
        """Graceful stop: workers finish in-flight requests within graceful_timeout."""
        if self.stopping:
            return
        error_log.info("stopping %d worker(s) gracefully", len(self.workers))
        self.stopping = True
        self.hooks.stopping()
        self._kill_at = time.monotonic() + self.graceful_timeout + 1.0
        self.kill_all(signal.SIGTERM)

    def kill_all(self, signum: int) -> None:
        for pid in list(self.workers):
            try:
                os.kill(pid, signum)
            except OSError as exc:
                if exc.errno == errno.ESRCH:
                    self.workers.pop(pid, None)
