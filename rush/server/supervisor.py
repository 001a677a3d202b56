"""The master process: forks workers, respawns the ones that die, stops them gracefully.

It knows no HTTP and no app: it runs a callable per worker in a forked child and watches
the children. Facts and strategy (the shape of gunicorn's arbiter):
- Signals only queue (signals.py, a wakeup pipe); the loop dispatches each, outside signal
  context, to `handle_<name>` (`handle_term`, `handle_hup`, ...) through a table built once.
- Each worker is in one `WorkerState` (workers.py: STARTING -> READY -> RETIRING or KILLED ->
  EXITED). What its exit means (respawn, reload failed, nothing) follows from that state.
- A worker that exits with BOOT_FAILURE before it is READY could not start; respawning it
  would loop forever, so the master stops everything and exits non-zero, saying why.
- Any other unexpected exit is respawned, with a delay that grows while workers keep dying
  young and resets once they live.
- SIGTERM/SIGINT: SIGTERM to every worker, wait up to `graceful_timeout` for them to finish
  in-flight requests, and only then SIGKILL what is left (the exception, not the path).
  A SIGTERM with `drain_delay` drains first (workers serve on that long, health readiness
  503; a second SIGTERM ends it). The host byte of the heartbeat region tells the workers
  which stop their SIGTERM asks for (DRAINING or STOPPING), and says READY once every index
  first has a READY worker (`Hooks.serving`): health readiness says `starting` until then.
- A `Replacement` (old, new, why, since) starts the new worker first, for the same index. For a
  rolling reload (SIGHUP) or max_requests the old one retires (SIGTERM: it drains) only once
  the new one is READY, and one such replacement is in flight at a time. The watchdog's new
  worker starts at once: the stuck one is killed, not drained, and serves nobody meanwhile.
- A reload bumps the generation; workers of a newer generation run `reload_main` (which
  re-imports the app) instead of `worker_main`. If a new-generation worker dies before it is
  ready, the reload is abandoned and the old workers keep serving.
- `Hooks.serving` runs once, when every index first has a READY worker: only then does the
  server accept everywhere (serve.py logs `listening on` there).
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
from typing import NoReturn

from rush.server.heartbeat import Heartbeat, HostState, Slot, SlotState
from rush.server.process import BOOT_FAILURE, IMPORT_FAILURE
from rush.server.signals import HANDLED, SignalQueue
from rush.server.workers import (
    NEVER,
    Reason,
    Replacement,
    Replacements,
    Watchdog,
    WorkerProcess,
    WorkerState,
)

error_log = logging.getLogger("rush.error")

_YOUNG = 5.0  # a worker dying sooner than this after its start counts towards backoff
_MAX_BACKOFF = 5.0
_FAILED_START = (BOOT_FAILURE, IMPORT_FAILURE)


class Hooks:
    """What the code that builds the workers does in the master at these moments (no-ops)."""

    def before_spawn(self, index: int) -> None:
        """Make ready what worker `index` inherits (e.g. its listening sockets)."""

    def index_retired(self, index: int) -> None:
        """SIGTTOU removed `index`: release what `before_spawn` made for it."""

    def serving(self, workers: int) -> None:
        """Every index has a READY worker, for the first time: the server accepts."""

    def stopping(self) -> None:
        """A graceful stop began: workers are about to drain."""

    def draining(self, delay: float) -> None:
        """SIGTERM with a drain delay: the workers serve on for `delay` s, then stop."""

    def reopen_logs(self) -> None:
        """SIGUSR1: reopen the master's log files (workers get SIGUSR1 too)."""


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
        drain_delay: float = 0.0,
    ) -> None:
        self.worker_main = worker_main
        self.reload_main = reload_main
        self.count = count
        self.graceful_timeout = graceful_timeout
        self.drain_delay = drain_delay
        self.retire_timeout = graceful_timeout + drain_delay  # idle kept drain_delay, then stop
        self.hooks = hooks or Hooks()
        self.watchdog = Watchdog(handler_timeout, worker_timeout)
        self.watch = list(watch)  # (fd, callback): extra fds the master loop waits on
        self.workers: dict[int, WorkerProcess] = {}
        self.replacements = Replacements()
        self.stopping = False
        self.serving = False  # every index has had a READY worker (Hooks.serving ran)
        self.exit_code = 0
        self.backoff = 0.0
        self.generation = 0  # what newly started workers run; SIGHUP adds one
        self._handlers: dict[int, Callable[[], None]] = {
            signum: getattr(self, "handle_" + signal.Signals(signum).name[3:].lower())
            for signum in HANDLED
        }
        self._respawn_at: dict[int, float] = {}  # index -> when to start it again
        self._kill_at = NEVER  # when stopping: SIGKILL whoever is still alive by then
        self._drain_until = NEVER  # when stopping with a drain: its end
        self._reload_at = NEVER  # a reload asked for with a delay (source watcher)
        self._replace_after = 0.0  # no max_requests replacement before (one just failed)
        self._reloading = False
        self.signals = SignalQueue()
        self.heartbeat: Heartbeat | None = None
        #: In a worker process: its own heartbeat slot, for `worker_main` to hand on.
        self.slot: Slot | None = None

    # -- the master loop -----------------------------------------------------------------

    def run(self) -> int:
        self.open()
        self.signals.install()
        try:
            for index in range(self.count):
                self.spawn(index)
            while self.workers or (self._respawn_at and not self.stopping):
                self.turn(0.05 if self.stopping else 0.5)
            return self.exit_code
        finally:
            self.signals.restore()
            self.close()

    def open(self) -> None:
        """Make the master's own fds: the signal pipe and the heartbeat region (`run` does)."""
        self.signals.open()
        self.heartbeat = Heartbeat()

    def close(self) -> None:
        self.signals.close()
        if self.heartbeat is not None:
            self.heartbeat.close()

    def turn(self, timeout: float) -> None:
        """One pass of the master loop: wait, reap, respawn, read the slots, kill the late."""
        self._wait(timeout)
        if time.monotonic() >= self._drain_until:
            self._end_drain()  # said before the workers', which began their delay later, end
        self.reap()
        self._respawn_due()
        self.check_workers()
        if self.stopping and self.workers and time.monotonic() >= self._kill_at:
            error_log.warning("%d worker(s) did not stop in time; killing", len(self.workers))
            self.kill_all(signal.SIGKILL)
            self._kill_at = NEVER

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal, a worker's notification, a watched fd, or `timeout`."""
        heartbeat = self.heartbeat
        assert heartbeat is not None
        for when in (self._reload_at, self._drain_until):
            if when != NEVER:
                timeout = max(0.0, min(timeout, when - time.monotonic()))
        fds = [self.signals.read_fd, heartbeat.read_fd, *(fd for fd, _ in self.watch)]
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
            self._reload_at = NEVER
            self.reload()
        if self.signals.read_fd in ready:
            for signum in self.signals.read():
                self.handle_signal(signum)

    # -- signals -------------------------------------------------------------------------

    def handle_signal(self, signum: int) -> None:
        """Run `handle_<name>` for a queued signal; others are ignored."""
        handler = self._handlers.get(signum)
        if handler is not None:
            handler()

    def handle_term(self) -> None:
        if self._drain_until != NEVER:
            self._end_drain()  # a second SIGTERM: the workers end their delay too
            self.kill_all(signal.SIGTERM)
        else:
            self.stop(self.drain_delay)

    def handle_int(self) -> None:
        if self.stopping:
            self.kill_all(signal.SIGQUIT)  # a second Ctrl-C: stop at once
        else:
            self.stop()

    def handle_quit(self) -> None:
        self.stopping = True
        self.kill_all(signal.SIGQUIT)

    def handle_chld(self) -> None:
        """Nothing: the signal woke the loop, and every turn reaps."""

    def handle_hup(self) -> None:
        self.reload()

    def handle_ttin(self) -> None:
        self.add_worker()

    def handle_ttou(self) -> None:
        self.remove_worker()

    def handle_usr1(self) -> None:
        error_log.info("reopening log files")
        self.hooks.reopen_logs()
        self.kill_all(signal.SIGUSR1)

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
            if worker.index == index:
                worker.retire(self.retire_timeout)

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
        self.hooks.before_spawn(index)
        pid = os.fork()
        if pid == 0:
            self._be_worker(index, generation, slot)
        slot.set_pid(pid)
        self.workers[pid] = WorkerProcess(pid, index, generation, slot)
        error_log.info("started worker %d (pid %d)", index, pid)
        if generation:
            error_log.info("worker %d (pid %d) runs generation %d", index, pid, generation)
        return pid

    def _be_worker(self, index: int, generation: int, slot: Slot) -> NoReturn:
        """In the child: drop what is the master's, run the worker, exit with its code."""
        code = 1
        try:
            self.signals.drop_in_child()
            assert self.heartbeat is not None
            self.heartbeat.close_in_child()
            for fd, _ in self.watch:
                os.close(fd)
            self.slot = slot
            self.generation = generation
            main = self.reload_main if generation and self.reload_main else self.worker_main
            code = main(index)
        except BaseException:
            error_log.exception("worker %d crashed", os.getpid())
        finally:
            logging.shutdown()
            os._exit(code)

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
            worker.move(WorkerState.EXITED)

    def _reaped(self, worker: WorkerProcess, code: int) -> None:
        """What a worker's exit means, from the state it was in and the replacement it was in."""
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        replacing, taking_over = self.replacements.settle(worker)
        if self.stopping or worker.state is WorkerState.RETIRING:
            if code != 0:
                error_log.warning(
                    "worker %d (pid %d) exited with %d", worker.index, worker.pid, code
                )
        elif worker.state is WorkerState.KILLED:
            self._watchdog_victim_gone(worker)
        elif replacing is not None:
            error_log.warning(
                "worker %d (pid %d) died (%s) while being replaced", worker.index, worker.pid, how
            )  # its successor is starting already: that one takes over
        elif taking_over is not None and taking_over.gentle:
            self._replacement_failed(taking_over, how)
        elif worker.index < self.count:  # else SIGTTOU took this index away
            self._died(worker, code, how)

    def _died(self, worker: WorkerProcess, code: int, how: str) -> None:
        index, pid = worker.index, worker.pid
        if code in _FAILED_START and worker.state is WorkerState.STARTING:
            error_log.error("worker %d failed to boot; stopping (see the error above)", index)
            self.exit_code = BOOT_FAILURE
            self.stop()
            return
        error_log.warning("worker %d (pid %d) died (%s); restarting", index, pid, how)
        lived = time.monotonic() - worker.started
        self.backoff = 0.0 if lived > _YOUNG else min(_MAX_BACKOFF, self.backoff * 2 or 0.1)
        self._respawn_at[index] = time.monotonic() + self.backoff

    def _watchdog_victim_gone(self, worker: WorkerProcess) -> None:
        """A KILLED worker exited: its successor serves, or one starts now."""
        if worker.index >= self.count:
            return
        error_log.warning(
            "worker %d (pid %d) replaced after the watchdog killed it", worker.index, worker.pid
        )
        if not self._covered(worker.index):
            self._respawn_at[worker.index] = time.monotonic()

    def _covered(self, index: int) -> bool:
        """Some worker serves `index`, or is about to (started, or due to be)."""
        if index in self._respawn_at:
            return True
        return any(w.index == index and w.active for w in self.workers.values())

    def _respawn_due(self) -> None:
        if self.stopping:
            self._respawn_at.clear()
            return
        now = time.monotonic()
        for index, when in list(self._respawn_at.items()):
            if when <= now:
                del self._respawn_at[index]
                self.spawn(index)

    # -- reading the slots ---------------------------------------------------------------

    def check_workers(self) -> None:
        """Read every slot: readiness, replacement requests, the watchdog, the rolling reload."""
        now = time.monotonic()
        slots = {pid: worker.slot.read() for pid, worker in self.workers.items()}
        for worker in list(self.workers.values()):
            if slots[worker.pid].ready and worker.move(WorkerState.READY):
                self._became_ready(worker)
            worker.kill_if_late(now)
        if self.stopping:
            return
        self._announce()
        self._watch_all(slots, now)
        if not self.replacements.in_flight():
            self._roll()

    def _became_ready(self, worker: WorkerProcess) -> None:
        record = self.replacements.find(new=worker)
        if record is None:
            return
        self.replacements.remove(record)
        if record.old.active:
            record.old.retire(self.retire_timeout, successor=worker)

    def _announce(self) -> None:
        """Hooks.serving, once every index first has a READY worker."""
        if self.serving:
            return
        ready = {w.index for w in self.workers.values() if w.state is WorkerState.READY}
        if ready.issuperset(range(self.count)):
            self.serving = True
            assert self.heartbeat is not None
            self.heartbeat.set_host_state(HostState.READY)
            self.hooks.serving(self.count)

    def _watch_all(self, slots: dict[int, SlotState], now: float) -> None:
        """The watchdog for READY workers, and max_requests replacements."""
        for worker in list(self.workers.values()):
            slot = slots[worker.pid]
            if worker.state is WorkerState.READY and self.watchdog.on:
                self._watch(worker, slot, now)
            if (
                worker.active
                and slot.wants_replacement
                and self.replacements.find(old=worker) is None
                and not self.replacements.in_flight()
                and now >= self._replace_after
            ):
                error_log.info(
                    "worker %d (pid %d) served max_requests; replacing it", worker.index, worker.pid
                )
                self.replace(worker, worker.generation, Reason.RECYCLE)

    def _roll(self) -> None:
        """The rolling reload's next step: replace the lowest outdated index, or finish."""
        outdated = [
            w
            for w in self.workers.values()
            if w.generation < self.generation
            and w.active
            and w.index < self.count
            and self.replacements.find(old=w) is None
        ]
        if outdated:
            self.replace(min(outdated, key=lambda w: w.index), self.generation, Reason.RELOAD)
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

    # -- replacing workers ---------------------------------------------------------------

    def replace(self, old: WorkerProcess, generation: int, why: Reason) -> bool:
        """Start old's successor (see `Replacement`); whether it started."""
        pid = self.spawn(old.index, generation)
        if not pid:
            return False
        self.replacements.append(Replacement(old, self.workers[pid], why, time.monotonic()))
        return True

    def _replacement_failed(self, record: Replacement, how: str) -> None:
        """A gentle replacement's new worker died before it was READY: the old one serves on."""
        new, old = record.new, record.old
        if record.why is Reason.RELOAD:
            error_log.error(
                "reload failed: worker %d of generation %d could not start (%s; see the "
                "error above); the workers of generation %d keep serving",
                new.index,
                new.generation,
                how,
                old.generation,
            )
            self.generation = old.generation
            self._reloading = False
        else:
            error_log.warning("replacement worker %d (pid %d) died (%s)", new.index, new.pid, how)
            self._replace_after = time.monotonic() + 1.0  # the old one serves meanwhile

    def _watch(self, worker: WorkerProcess, slot: SlotState, now: float) -> None:
        """The watchdog; a worker it killed gets a successor now unless one is starting."""
        if not self.watchdog.check(worker, slot, now):
            return
        if self.replacements.find(old=worker) is None and worker.index < self.count:
            self.replace(worker, self.generation, Reason.WATCHDOG)

    # -- stopping ------------------------------------------------------------------------

    def stop(self, drain: float = 0.0) -> None:
        """Graceful stop: workers finish in-flight requests within graceful_timeout; after
        serving on for `drain` seconds first, when that is not 0 (see the module docstring)."""
        if self.stopping:
            return
        self.stopping = True
        assert self.heartbeat is not None
        # Before the signal: a worker reads it to learn which stop its SIGTERM asks for.
        self.heartbeat.set_host_state(HostState.DRAINING if drain else HostState.STOPPING)
        now = time.monotonic()
        if drain:
            self._drain_until = now + drain
            self.hooks.draining(drain)
        else:
            error_log.info("stopping %d worker(s) gracefully", len(self.workers))
        self.hooks.stopping()
        self._kill_at = now + drain + self.graceful_timeout + 1.0
        for worker in self.workers.values():
            worker.move(WorkerState.RETIRING)
        self.kill_all(signal.SIGTERM)

    def _end_drain(self) -> None:
        """The drain delay is over (or cut short): the workers' graceful stop begins."""
        self._drain_until = NEVER
        error_log.info("drain over: stopping %d worker(s) gracefully", len(self.workers))
        self._kill_at = min(self._kill_at, time.monotonic() + self.graceful_timeout + 1.0)

    def kill_all(self, signum: int) -> None:
        for pid in list(self.workers):
            try:
                os.kill(pid, signum)
            except OSError as exc:
                if exc.errno == errno.ESRCH:
                    self.workers.pop(pid, None)
