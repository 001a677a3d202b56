"""A single-threaded epoll loop with timers. It knows nothing about HTTP.

Facts and strategy:
- Level-triggered epoll: a handler that reads once per wake-up cannot lose an event, and a
  handler that stops wanting input simply changes its interest set.
- Each registered fd has one handler object with `on_readable()` / `on_writable()`; errors and
  hang-ups are delivered as readable, so the handler's own `recv` reports them.
- `now` is read once per wake-up (monotonic): handlers use it for deadlines instead of calling
  the clock per request.
- Timers live in a heap; a cancelled timer is skipped when it comes due (no heap surgery).
- Only `stop()` ends `run()`; exceptions from handlers propagate, since a handler that raises
  is a bug the worker must not hide.
"""

from __future__ import annotations

import heapq
import itertools
import select
import time
from collections.abc import Callable
from typing import Any, Protocol

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
_READ_EVENTS = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP | select.EPOLLRDHUP


class IOHandler(Protocol):
    def on_readable(self) -> None: ...
    def on_writable(self) -> None: ...


class Timer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], Any]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    """epoll + timers; one per process, created after fork."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._handlers: dict[int, IOHandler] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._running = False
        self.now = time.monotonic()

    def register(self, fd: int, handler: IOHandler, events: int = EPOLLIN) -> None:
        self._handlers[fd] = handler
        self._epoll.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        self._epoll.modify(fd, events)

    def unregister(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass  # already closed: the kernel dropped it from the set

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Timer:
        timer = Timer(time.monotonic() + delay, callback)
        heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
        return timer

    def call_every(self, interval: float, callback: Callable[[], Any]) -> Timer:
        """Call `callback` every `interval` seconds until the returned timer is cancelled."""
        handle = Timer(0.0, callback)

        def tick() -> None:
            if not handle.cancelled:
                callback()
                self.call_later(interval, tick)

        self.call_later(interval, tick)
        return handle

    def stop(self) -> None:
        self._running = False

    def run(self) -> None:
        self._running = True
        handlers = self._handlers
        poll = self._epoll.poll
        timers = self._timers
        # PERF: bound names in the hot loop save an attribute lookup per event.
        while self._running:
            timeout = -1.0
            if timers:
                timeout = max(0.0, timers[0][0] - time.monotonic())
            try:
                events = poll(timeout)
            except InterruptedError:
                events = []
            self.now = now = time.monotonic()
            for fd, mask in events:
                handler = handlers.get(fd)
                if handler is None:
                    continue  # closed by an earlier handler in this batch
                if mask & _READ_EVENTS:
                    handler.on_readable()
                    if mask & EPOLLOUT and handlers.get(fd) is handler:
                        handler.on_writable()
                elif mask & EPOLLOUT:
                    handler.on_writable()
            while timers and timers[0][0] <= now:
                timer = heapq.heappop(timers)[2]
                if not timer.cancelled:
                    timer.callback()

    def close(self) -> None:
        self._handlers.clear()
        self._epoll.close()
