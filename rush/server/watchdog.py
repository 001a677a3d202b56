"""The worker's side of the watchdog and of recycling (the master's: Watchdog in workers.py).

Each piece is installed once at worker start and only when its option is on:
- `watched(handle, slot)` wraps the app's handle to write the request line and its start time
  into the heartbeat slot around each handler call (handler_timeout / worker_timeout), so the
  master can name a stuck request; SIGUSR2 (faulthandler) prints the worker's stack.
- `Beat` writes a timestamp from a loop timer: a loop stuck in a handler stops beating.
- `Recycler` asks the master for a replacement after max_requests (+ jitter) requests; the
  count is read ten times a second from a timer, never checked per request.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from rush.protocol import RequestMessage
from rush.server.heartbeat import Slot
from rush.server.loop import EventLoop, Timer

Handle = Callable[[RequestMessage, "str | None", str], Any]


def watched(handle: Handle, slot: Slot) -> Handle:
    monotonic = time.monotonic

    def handle_watched(message: RequestMessage, remote_addr: str | None, scheme: str) -> Any:
        line = b"%s %s HTTP/%s" % (
            message.method.encode("ascii", "replace"),
            message.target,
            message.version.encode("ascii"),
        )
        slot.busy(line, monotonic())
        try:
            return handle(message, remote_addr, scheme)
        finally:
            slot.idle()

    return handle_watched


def start_beat(loop: EventLoop, slot: Slot, worker_timeout: float) -> Timer:
    slot.beat(time.monotonic())
    interval = max(0.05, min(1.0, worker_timeout / 4))
    return loop.call_every(interval, lambda: slot.beat(time.monotonic()))


class Recycler:
    """Asks for a replacement once `served()` reaches max_requests plus a random jitter."""

    CHECK_INTERVAL = 0.1

    def __init__(
        self, loop: EventLoop, slot: Slot, served: Callable[[], int], limit: int, jitter: int
    ) -> None:
        self.slot = slot
        self.served = served
        self.limit = limit + (random.randint(0, jitter) if jitter > 0 else 0)
        self.timer = loop.call_every(self.CHECK_INTERVAL, self.check)

    def check(self) -> None:
        if self.served() >= self.limit:
            self.timer.cancel()
            self.slot.request_replacement()
