"""Heartbeat slots: what each worker tells the master through shared memory, without a syscall.

The master maps one anonymous shared region before forking and lends each live worker process
one fixed-size slot of it. It knows no HTTP: a slot holds numbers, flags and an opaque label.
Facts and strategy:
- The worker writes `ready` once its listeners accept: the master retires a worker it is
  replacing only after that (rolling reload, max_requests), so no moment is left unserved.
- `beat` is a monotonic timestamp the worker writes from a loop timer (not per request) when
  `worker_timeout` is on: a worker stuck in a handler stops beating and the master replaces it.
- `busy_since` and the label (the request line) are written around each handler call only when
  the watchdog is on, so the master can name what a stuck worker is doing.
- CLOCK_MONOTONIC is system-wide on Linux, so timestamps compare across processes.
- Each flag is its own byte with a single writer (worker or master), so no read-modify-write
  races; a torn label read only garbles a log line.
- A worker writes one byte to the notify pipe after setting `ready` or `wants replacement`, so
  the master wakes at once instead of at its next tick.
- One byte before the slots is the host's state (`HostState`), written by the master only:
  STARTING until every worker index first has a ready worker, then READY; DRAINING or
  STOPPING once it stops (written before it signals the workers, who read it to learn which
  stop their SIGTERM asks for). The health endpoint (rush.server.health) reports it.
"""

from __future__ import annotations

import enum
import mmap
import os
import struct
from typing import NamedTuple

SLOT_SIZE = 256
_HEADER = 64  # the host's bytes, before slot 0
_HOST_STATE = 0  # master-written byte: a HostState
LABEL_MAX = 222
_BEAT = struct.Struct("<d")  # offset 0
_BUSY = struct.Struct(f"<dH{LABEL_MAX}s")  # offset 8: busy_since, label length, label
_READY = 240  # worker-written byte: listeners accept
_WANTS_REPLACEMENT = 241  # worker-written byte: replace me (max_requests)
_RETIRING = 242  # master-written byte: you are being replaced, drain gently
_PID = struct.Struct("<i")  # offset 244


class HostState(enum.IntEnum):
    """What the whole host is doing, as the master sees it (one byte of the region)."""

    STARTING = 0  # some worker index has not had a ready worker yet
    READY = 1  # every index has had one: the host serves
    DRAINING = 2  # SIGTERM with a drain delay: still serving, but asking to be taken out
    STOPPING = 3  # a stop without a drain delay (SIGINT, SIGTERM without drain, a failure)


class SlotState(NamedTuple):
    """A snapshot of one slot, as the master reads it."""

    beat: float
    busy_since: float
    label: str
    ready: bool
    wants_replacement: bool


class Slot:
    """One worker's slot: the worker writes it, the master reads it."""

    __slots__ = ("_map", "offset", "index", "_notify_fd", "master_pid")

    def __init__(self, region: mmap.mmap, index: int, notify_fd: int, master_pid: int) -> None:
        self._map = region
        self.index = index
        self.offset = _HEADER + index * SLOT_SIZE
        self._notify_fd = notify_fd
        #: Known from before the fork: a worker whose master died before it asked would
        #: otherwise take the process it was reparented to for its master.
        self.master_pid = master_pid

    # -- the worker's side ---------------------------------------------------------------

    def mark_ready(self) -> None:
        self._map[self.offset + _READY] = 1
        self._notify()

    def request_replacement(self) -> None:
        if not self._map[self.offset + _WANTS_REPLACEMENT]:
            self._map[self.offset + _WANTS_REPLACEMENT] = 1
            self._notify()

    def beat(self, now: float) -> None:
        _BEAT.pack_into(self._map, self.offset, now)

    def busy(self, label: bytes, now: float) -> None:
        _BUSY.pack_into(self._map, self.offset + 8, now, min(len(label), LABEL_MAX), label)

    def idle(self) -> None:
        _BEAT.pack_into(self._map, self.offset + 8, 0.0)

    @property
    def retiring(self) -> bool:
        return bool(self._map[self.offset + _RETIRING])

    @property
    def host_state(self) -> HostState:
        """The master's word on the whole host (not this worker)."""
        return HostState(self._map[_HOST_STATE])

    def _notify(self) -> None:
        try:
            os.write(self._notify_fd, b"!")
        except OSError:
            pass  # a full pipe already wakes the master; a closed one means it is gone

    # -- the master's side ---------------------------------------------------------------

    def reset(self, pid: int = 0) -> None:
        start = self.offset
        self._map[start : start + SLOT_SIZE] = bytes(SLOT_SIZE)
        _PID.pack_into(self._map, start + 244, pid)

    def set_pid(self, pid: int) -> None:
        _PID.pack_into(self._map, self.offset + 244, pid)

    def mark_retiring(self) -> None:
        self._map[self.offset + _RETIRING] = 1

    def read(self) -> SlotState:
        region, start = self._map, self.offset
        beat = _BEAT.unpack_from(region, start)[0]
        busy_since, length, label = _BUSY.unpack_from(region, start + 8)
        return SlotState(
            beat,
            busy_since,
            label[:length].decode("utf-8", "replace"),
            bool(region[start + _READY]),
            bool(region[start + _WANTS_REPLACEMENT]),
        )


class Heartbeat:
    """The shared region and the notify pipe; created by the master before any fork."""

    def __init__(self, slots: int = 256) -> None:
        self.region = mmap.mmap(-1, _HEADER + slots * SLOT_SIZE)  # MAP_SHARED | MAP_ANONYMOUS
        self.capacity = slots
        self._free = list(range(slots - 1, -1, -1))
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.master_pid = os.getpid()

    def allocate(self) -> Slot | None:
        """A zeroed slot for a new worker, or None when every slot is lent."""
        if not self._free:
            return None
        slot = Slot(self.region, self._free.pop(), self.write_fd, self.master_pid)
        slot.reset()
        return slot

    @property
    def host_state(self) -> HostState:
        return HostState(self.region[_HOST_STATE])

    def set_host_state(self, state: HostState) -> None:
        """Before the workers are told (a signal): they read it once they are."""
        self.region[_HOST_STATE] = state

    def release(self, slot: Slot) -> None:
        slot.reset()
        self._free.append(slot.index)

    def drain(self) -> None:
        """Empty the notify pipe (the master then scans the slots)."""
        try:
            while os.read(self.read_fd, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def close_in_child(self) -> None:
        """A worker keeps the region and the write end; the read end is the master's."""
        os.close(self.read_fd)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.region.close()
