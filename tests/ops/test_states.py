"""The master's worker lifecycle: states, replacement records, signals dispatched by name.

A Supervisor here runs in the test process and forks real, tiny workers; the test drives its
loop one `turn` at a time instead of `run()`, and calls `handle_signal` instead of signalling.
A worker is told what to do by how many workers the fake hooks saw started before it (the
count it inherits at its fork); a gated worker waits for a byte on a pipe before it says READY.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from rush.server.heartbeat import Heartbeat
from rush.server.process import IMPORT_FAILURE
from rush.server.supervisor import Hooks, Supervisor
from rush.server.workers import Reason, WorkerProcess, WorkerState

TIMEOUT = 10.0


class RecordingHooks(Hooks):
    """Counts spawns (a worker reads the count at its fork) and records `serving`."""

    def __init__(self) -> None:
        self.spawns = 0
        self.served: list[int] = []

    def before_spawn(self, index: int) -> None:
        self.spawns += 1

    def serving(self, workers: int) -> None:
        self.served.append(workers)


class Gate:
    """A pipe a gated worker reads one byte from before it says it is READY."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()

    def open_one(self) -> None:
        os.write(self.write_fd, b"!")

    def wait(self) -> None:  # in a worker
        os.close(self.write_fd)
        os.read(self.read_fd, 1)

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


def serve_until_stopped(
    supervisor: Supervisor, *, before_ready: Callable[[], None] = lambda: None
) -> Callable[[int], int]:
    """A worker main: mark the slot READY (after `before_ready`), then wait for SIGTERM."""

    def main(index: int) -> int:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        before_ready()
        assert supervisor.slot is not None
        supervisor.slot.mark_ready()
        while True:
            signal.pause()

    return main


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[Supervisor, RecordingHooks]]]:
    """Factory for an opened Supervisor; its workers are SIGKILLed and reaped at teardown."""
    made: list[Supervisor] = []

    def build(count: int, **options: object) -> tuple[Supervisor, RecordingHooks]:
        hooks = RecordingHooks()
        supervisor = Supervisor(lambda index: 0, count, 5.0, hooks=hooks, **options)
        supervisor.open()
        made.append(supervisor)
        return supervisor, hooks

    yield build
    for supervisor in made:
        for pid in supervisor.workers:
            os.kill(pid, signal.SIGKILL)
        for pid in supervisor.workers:
            os.waitpid(pid, 0)
        supervisor.close()


def drive(supervisor: Supervisor, done: Callable[[], object], timeout: float = TIMEOUT) -> None:
    """Turn the master loop until `done()` holds; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not done in {timeout}s: {supervisor.workers}"
        supervisor.turn(0.05)


def in_state(supervisor: Supervisor, state: WorkerState) -> list[WorkerProcess]:
    return [w for w in supervisor.workers.values() if w.state is state]


def start(supervisor: Supervisor) -> list[WorkerProcess]:
    for index in range(supervisor.count):
        supervisor.spawn(index)
    return sorted(supervisor.workers.values(), key=lambda w: w.index)


# -- the states on their own ---------------------------------------------------------------


def test_a_worker_moves_only_forward_through_its_states():
    heartbeat = Heartbeat(slots=1)
    try:
        slot = heartbeat.allocate()
        assert slot is not None
        worker = WorkerProcess(1234, 0, 0, slot)
        assert worker.state is WorkerState.STARTING and worker.active
        assert not worker.move(WorkerState.KILLED)  # the watchdog watches READY workers only
        assert worker.move(WorkerState.READY) and worker.active
        assert worker.move(WorkerState.KILLED) and not worker.active
        assert not worker.move(WorkerState.RETIRING)  # a stuck worker is killed, not drained
        assert worker.move(WorkerState.EXITED)
        assert not any(worker.move(state) for state in WorkerState)
        retiring = WorkerProcess(1235, 0, 0, slot)
        assert retiring.move(WorkerState.RETIRING)  # SIGTTOU or a stop, before it was ready
        assert not retiring.move(WorkerState.READY)  # its slot saying ready changes nothing
        assert retiring.state is WorkerState.RETIRING
    finally:
        heartbeat.close()


def test_each_signal_runs_the_handler_of_its_name():
    calls: list[str] = []

    class Recording(Supervisor):
        def handle_term(self) -> None:
            calls.append("term")

        def handle_int(self) -> None:
            calls.append("int")

        def handle_quit(self) -> None:
            calls.append("quit")

        def handle_chld(self) -> None:
            calls.append("chld")

        def handle_hup(self) -> None:
            calls.append("hup")

        def handle_ttin(self) -> None:
            calls.append("ttin")

        def handle_ttou(self) -> None:
            calls.append("ttou")

        def handle_usr1(self) -> None:
            calls.append("usr1")

    supervisor = Recording(lambda index: 0, 1)
    names = ["term", "int", "quit", "chld", "hup", "ttin", "ttou", "usr1"]
    for name in names:
        supervisor.handle_signal(getattr(signal, "SIG" + name.upper()))
    supervisor.handle_signal(signal.SIGWINCH)  # not one of the master's: ignored
    assert calls == names


def test_hup_and_ttou_act_only_when_they_may(caplog):
    caplog.set_level(logging.INFO, "rush.error")
    supervisor = Supervisor(lambda index: 0, 1)
    supervisor.handle_signal(signal.SIGHUP)
    assert supervisor.generation == 1
    supervisor.handle_signal(signal.SIGTTOU)
    assert supervisor.count == 1
    assert "SIGTTOU ignored: one worker is the fewest" in caplog.text
    supervisor.stopping = True
    supervisor.handle_signal(signal.SIGHUP)
    assert supervisor.generation == 1  # no reload once stopping


# -- forked workers ------------------------------------------------------------------------


def test_serving_is_announced_once_every_index_is_ready(make):
    supervisor, hooks = make(2)
    gate = Gate()
    try:
        supervisor.worker_main = serve_until_stopped(supervisor, before_ready=gate.wait)
        first, second = start(supervisor)
        for _ in range(3):
            supervisor.turn(0.05)
        assert [first.state, second.state] == [WorkerState.STARTING] * 2
        gate.open_one()
        drive(supervisor, lambda: len(in_state(supervisor, WorkerState.READY)) == 1)
        assert hooks.served == [] and not supervisor.serving
        gate.open_one()
        drive(supervisor, lambda: hooks.served)
        assert hooks.served == [2] and first.state is second.state is WorkerState.READY
        gate.open_one()
        supervisor.handle_signal(signal.SIGTTIN)
        drive(supervisor, lambda: len(in_state(supervisor, WorkerState.READY)) == 3)
        assert hooks.served == [2]  # once, not at every change
    finally:
        gate.close()


def test_a_rolling_reload_replaces_one_index_at_a_time(make, caplog):
    caplog.set_level(logging.INFO, "rush.error")
    gate = Gate()
    supervisor, hooks = make(2)
    try:
        supervisor.worker_main = serve_until_stopped(supervisor)
        supervisor.reload_main = serve_until_stopped(supervisor, before_ready=gate.wait)
        old = start(supervisor)
        drive(supervisor, lambda: hooks.served)
        before = time.monotonic()
        supervisor.handle_signal(signal.SIGHUP)
        drive(supervisor, lambda: supervisor.replacements)
        (record,) = supervisor.replacements
        assert record.why is Reason.RELOAD and record.old is old[0]
        assert record.new.generation == 1 and record.new.state is WorkerState.STARTING
        assert before <= record.since <= time.monotonic()
        for _ in range(3):
            supervisor.turn(0.05)
        assert supervisor.replacements == [record]  # index 1 waits its turn
        assert old[0].state is WorkerState.READY  # serving until its successor is
        gate.open_one()
        drive(supervisor, lambda: record.new.state is WorkerState.READY)
        assert old[0].state in (WorkerState.RETIRING, WorkerState.EXITED)
        assert f"(pid {old[0].pid}) retires: pid {record.new.pid} serves in its place" in (
            caplog.text
        )
        drive(supervisor, lambda: supervisor.replacements and supervisor.replacements[0] != record)
        assert supervisor.replacements[0].old is old[1]
        gate.open_one()
        drive(supervisor, lambda: "reload complete: 2 worker(s) run generation 1" in caplog.text)
        assert supervisor.replacements == []
        assert [w.state for w in old] == [WorkerState.EXITED] * 2
        assert {w.generation for w in supervisor.workers.values()} == {1}
    finally:
        gate.close()


def test_a_reload_whose_new_worker_cannot_start_keeps_the_old_one(make, caplog):
    supervisor, _ = make(1)
    supervisor.worker_main = serve_until_stopped(supervisor)
    supervisor.reload_main = lambda index: IMPORT_FAILURE
    (old,) = start(supervisor)
    drive(supervisor, lambda: old.state is WorkerState.READY)
    supervisor.handle_signal(signal.SIGHUP)
    drive(supervisor, lambda: supervisor.replacements)
    (record,) = supervisor.replacements
    drive(supervisor, lambda: record.new.state is WorkerState.EXITED)
    assert "reload failed: worker 0 of generation 1 could not start" in caplog.text
    assert supervisor.replacements == [] and supervisor.generation == 0
    assert list(supervisor.workers.values()) == [old] and old.state is WorkerState.READY
    assert not supervisor.stopping


def test_max_requests_replaces_a_worker_once_its_successor_is_ready(make, caplog):
    caplog.set_level(logging.INFO, "rush.error")
    supervisor, hooks = make(1)

    def main(index: int) -> int:
        if hooks.spawns == 1:  # the first worker asks to be replaced; its successor does not
            assert supervisor.slot is not None
            supervisor.slot.request_replacement()
        return serve_until_stopped(supervisor)(index)

    supervisor.worker_main = main
    (old,) = start(supervisor)
    drive(supervisor, lambda: supervisor.replacements)
    (record,) = supervisor.replacements
    assert record.why is Reason.RECYCLE and record.old is old
    assert record.new.generation == old.generation
    drive(supervisor, lambda: old.state is WorkerState.EXITED)
    assert record.new.state is WorkerState.READY and supervisor.replacements == []
    assert list(supervisor.workers.values()) == [record.new]
    assert "served max_requests; replacing it" in caplog.text
    assert "exited with" not in caplog.text  # it drained and exited 0


def test_the_watchdog_kills_a_stuck_worker_and_starts_its_successor_at_once(make, caplog):
    supervisor, hooks = make(1, worker_timeout=0.3)

    def main(index: int) -> int:
        if hooks.spawns == 1:  # the first worker beats once, then never again: stuck
            assert supervisor.slot is not None
            supervisor.slot.beat(time.monotonic())
        return serve_until_stopped(supervisor)(index)

    supervisor.worker_main = main
    (stuck,) = start(supervisor)
    drive(supervisor, lambda: stuck.state is WorkerState.KILLED)
    (record,) = supervisor.replacements
    assert record.why is Reason.WATCHDOG and not record.gentle
    assert record.old is stuck and record.new.state is WorkerState.STARTING
    assert "has been stuck for" in caplog.text
    drive(supervisor, lambda: stuck.state is WorkerState.EXITED)
    drive(supervisor, lambda: record.new.state is WorkerState.READY)
    for _ in range(3):
        supervisor.turn(0.05)
    assert list(supervisor.workers.values()) == [record.new]
    assert hooks.spawns == 2  # the successor, and no respawn besides it
    assert f"(pid {stuck.pid}) replaced after the watchdog killed it" in caplog.text


def test_a_worker_that_dies_is_respawned_and_a_retired_one_is_not(make, caplog):
    supervisor, hooks = make(2)
    supervisor.worker_main = serve_until_stopped(supervisor)
    first, second = start(supervisor)
    drive(supervisor, lambda: hooks.served)
    os.kill(first.pid, signal.SIGKILL)
    drive(supervisor, lambda: first.state is WorkerState.EXITED)
    drive(supervisor, lambda: len(in_state(supervisor, WorkerState.READY)) == 2)
    assert hooks.spawns == 3
    assert f"(pid {first.pid}) died (signal 9); restarting" in caplog.text
    supervisor.handle_signal(signal.SIGTTOU)
    assert second.state is WorkerState.RETIRING
    drive(supervisor, lambda: second.state is WorkerState.EXITED)
    for _ in range(3):
        supervisor.turn(0.05)
    assert hooks.spawns == 3 and len(supervisor.workers) == 1
