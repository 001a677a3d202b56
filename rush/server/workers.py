"""The master's records of its children, and its watchdog over them.

One `WorkerProcess` per forked worker, in one `WorkerState` at a time and moved only along the
transition table; a `Replacement` has a new worker take over an old one's index; the `Watchdog`
reads a READY worker's heartbeat slot, reports a late handler and kills a stuck worker.
Records and judgements only: nothing here forks, reaps, starts a successor or decides what an
exit means (the Supervisor does), and nothing knows HTTP or the app.
"""

from __future__ import annotations

import enum
import logging
import os
import signal
import time
from dataclasses import dataclass

from rush.server.heartbeat import Slot, SlotState

error_log = logging.getLogger("rush.error")

NEVER = float("inf")
_DUMP_GRACE = 0.3  # seconds between asking a stuck worker for its stack and killing it

# Facts and strategy:
# - STARTING (forked) -> READY (its slot says it accepts) -> RETIRING (SIGTERM sent: it drains)
#   or KILLED (the watchdog found it stuck) -> EXITED (reaped). A worker leaves STARTING for
#   RETIRING when removed or stopped before it was ready, and any live state for EXITED when it
#   dies. No way back: a RETIRING worker whose slot then says ready stays RETIRING.
# - The watchdog watches READY workers only: a STARTING one has no loop beating yet, and a
#   RETIRING one is bounded by its drain deadline (`kill_at`) instead.


class WorkerState(enum.Enum):
    """Where one worker is in its life, as the master sees it."""

    STARTING = "starting"  # forked; its slot does not say it accepts yet
    READY = "ready"  # its listeners accept
    RETIRING = "retiring"  # SIGTERM sent (replaced, removed, stopping): it drains, then exits
    KILLED = "killed"  # the watchdog found it stuck: SIGKILL sent, or due after a stack dump
    EXITED = "exited"  # reaped


_NEXT: dict[WorkerState, frozenset[WorkerState]] = {
    WorkerState.STARTING: frozenset({WorkerState.READY, WorkerState.RETIRING, WorkerState.EXITED}),
    WorkerState.READY: frozenset({WorkerState.RETIRING, WorkerState.KILLED, WorkerState.EXITED}),
    WorkerState.RETIRING: frozenset({WorkerState.EXITED}),
    WorkerState.KILLED: frozenset({WorkerState.EXITED}),
    WorkerState.EXITED: frozenset(),
}


class WorkerProcess:
    """The master's record of one child."""

    __slots__ = ("pid", "index", "generation", "started", "slot", "state", "kill_at", "reported")

    def __init__(self, pid: int, index: int, generation: int, slot: Slot) -> None:
        self.pid = pid
        self.index = index
        self.generation = generation
        self.started = time.monotonic()
        self.slot = slot
        self.state = WorkerState.STARTING
        self.kill_at = NEVER  # SIGKILL it then (it outlived its drain, or its stack dump)
        self.reported = 0.0  # busy_since of the stuck request already reported

    def move(self, state: WorkerState) -> bool:
        """Enter `state` if the lifecycle allows it from the current one; whether it did
        (a RETIRING worker never becomes READY again, a KILLED one is not retired)."""
        if state not in _NEXT[self.state]:
            return False
        self.state = state
        return True

    @property
    def active(self) -> bool:
        """Serving, or about to: neither told to go nor gone."""
        return self.state is WorkerState.STARTING or self.state is WorkerState.READY

    def send(self, signum: int) -> None:
        """Signal the child; one that has exited already (not yet reaped) is no error."""
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def retire(self, graceful_timeout: float, successor: WorkerProcess | None = None) -> None:
        """RETIRING, unless killed or gone: SIGTERM (it drains), SIGKILL due if it outlives
        graceful_timeout."""
        if not self.move(WorkerState.RETIRING):
            return
        if successor is not None:
            error_log.info(
                "worker %d (pid %d) retires: pid %d serves in its place",
                self.index,
                self.pid,
                successor.pid,
            )
        self.slot.mark_retiring()
        self.kill_at = time.monotonic() + graceful_timeout + 1.0
        self.send(signal.SIGTERM)

    def kill_if_late(self, now: float) -> None:
        """SIGKILL it once `kill_at` has passed: a drain that ran over, or a stack dumped."""
        if now < self.kill_at:
            return
        if self.state is WorkerState.RETIRING:
            error_log.warning(
                "worker %d (pid %d) did not drain in time; killing", self.index, self.pid
            )
        self.send(signal.SIGKILL)
        self.kill_at = NEVER


class Reason(enum.Enum):
    """Why a worker is being replaced."""

    RELOAD = "reload"  # SIGHUP or --reload: the new one runs a newer generation
    RECYCLE = "recycle"  # the old one served max_requests
    WATCHDOG = "watchdog"  # the old one is stuck: it is killed, not drained


@dataclass(frozen=True, slots=True, eq=False)
class Replacement:
    """`new` takes over `old`'s index. In flight from `new`'s fork until `new` is READY (then
    `old` retires) or until either one exits."""

    old: WorkerProcess
    new: WorkerProcess
    why: Reason
    since: float  # time.monotonic() at new's fork

    @property
    def gentle(self) -> bool:
        """The old one drains once the new one is READY; one such at a time."""
        return self.why is not Reason.WATCHDOG


class Replacements(list[Replacement]):
    """The replacements in flight, in the order they started."""

    __slots__ = ()

    def find(
        self, *, old: WorkerProcess | None = None, new: WorkerProcess | None = None
    ) -> Replacement | None:
        """The record that replaces `old`, or that `new` takes over in."""
        for record in self:
            if record.old is old or record.new is new:
                return record
        return None

    def in_flight(self) -> bool:
        """A gentle replacement is under way: a fork storm helps nobody, the old one serves."""
        return any(record.gentle for record in self)

    def settle(self, worker: WorkerProcess) -> tuple[Replacement | None, Replacement | None]:
        """`worker` exited: drop the records it was in; (the one replacing it, the one in
        which it was taking over)."""
        replacing, taking_over = self.find(old=worker), self.find(new=worker)
        for record in (replacing, taking_over):
            if record is not None:
                self.remove(record)
        return replacing, taking_over


class Watchdog:
    """The master's side of the watchdog (the worker's side is watchdog.py): per READY
    worker, report a handler stuck past handler_timeout (with its stack, once per request)
    and kill a worker whose loop has not beaten for worker_timeout."""

    __slots__ = ("handler_timeout", "worker_timeout")

    def __init__(self, handler_timeout: float, worker_timeout: float) -> None:
        self.handler_timeout = handler_timeout
        self.worker_timeout = worker_timeout

    @property
    def on(self) -> bool:
        return bool(self.handler_timeout or self.worker_timeout)

    def check(self, worker: WorkerProcess, slot: SlotState, now: float) -> bool:
        """Watch one READY worker through its slot; whether it was found stuck and killed
        (KILLED: its successor is the caller's to start)."""
        busy_since = slot.busy_since
        busy = now - busy_since if busy_since else 0.0
        if self.handler_timeout and busy >= self.handler_timeout and worker.reported != busy_since:
            worker.reported = busy_since
            error_log.warning(
                "worker %d (pid %d) has been handling %r for %.1f s (handler_timeout %g s); "
                "its stack follows",
                worker.index,
                worker.pid,
                slot.label,
                busy,
                self.handler_timeout,
            )
            worker.send(signal.SIGUSR2)
        # The loop ran until the handler started: that, or the last beat, is when it stuck.
        stuck = now - max(slot.beat, busy_since)
        if not (self.worker_timeout and slot.beat and stuck >= self.worker_timeout):
            return False
        doing = f" handling {slot.label!r}" if busy_since else ""
        error_log.error(
            "worker %d (pid %d) has been stuck for %.1f s (worker_timeout %g s)%s; replacing it",
            worker.index,
            worker.pid,
            stuck,
            self.worker_timeout,
            doing,
        )
        self._kill(worker, dump=worker.reported != busy_since or not busy_since, now=now)
        return True

    def _kill(self, worker: WorkerProcess, *, dump: bool, now: float) -> None:
        """KILLED: its stack first unless already printed, then SIGKILL."""
        worker.move(WorkerState.KILLED)
        if dump:
            worker.send(signal.SIGUSR2)
            worker.kill_at = now + _DUMP_GRACE
        else:
            worker.send(signal.SIGKILL)
