"""One worker process: its own epoll loop, its own SO_REUSEPORT listeners, its connections.

Facts and strategy:
- Everything here is created after the fork (epoll fd, listeners, signal pipe): an epoll fd
  shared across a fork would deliver one process's events to another.
- Signal handlers do nothing but let CPython write the signal number to a pipe the loop
  watches (`signal.set_wakeup_fd`); the loop then dispatches `handle_<signal>`.
- Graceful stop: stop accepting (after taking what is already queued on the listener), close
  idle connections, let in-flight requests finish with `Connection: close`, and stop when no
  connection is left or `graceful_timeout` has passed.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence

from rush.config import Config
from rush.response import date_line
from rush.server.connection import Connection, Handler, ServerContext, sweep
from rush.server.loop import EPOLLIN, EventLoop
from rush.server.process import BOOT_FAILURE, note_signal
from rush.server.sockets import format_address, listen

error_log = logging.getLogger("rush.error")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_ACCEPT_BATCH = 64


class Listener:
    """Accepts connections from one listening socket into the worker's loop."""

    __slots__ = ("sock", "fd", "worker", "active")

    def __init__(self, sock: socket.socket, worker: Worker) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.worker = worker
        self.active = False

    def on_readable(self) -> None:
        ctx = self.worker.ctx
        limit = self.worker.config.max_connections
        for _ in range(_ACCEPT_BATCH):
            try:
                client, address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: leave the rest in the backlog and retry shortly.
                    error_log.warning("accept failed (%s); pausing accepts for 100 ms", exc)
                    self.pause()
                    ctx.loop.call_later(0.1, self.resume)
                return  # ECONNABORTED and friends: the client is already gone
            client.setblocking(False)
            if client.family != socket.AF_UNIX:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            Connection(client, address[0] if isinstance(address, tuple) else None, ctx)
            if len(ctx.connections) >= limit:
                self.pause()  # the rest wait in the kernel backlog until one closes
                return

    def on_writable(self) -> None:  # pragma: no cover - listeners never ask for EPOLLOUT
        pass

    def resume(self) -> None:
        if not self.active and not self.worker.stopping:
            self.worker.loop.register(self.fd, self, EPOLLIN)
            self.active = True

    def pause(self) -> None:
        if self.active:
            self.worker.loop.unregister(self.fd)
            self.active = False

    def close(self) -> None:
        self.pause()
        self.sock.close()


class SignalPipe:
    """The read end of CPython's signal wakeup fd, dispatching to the worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def on_readable(self) -> None:
        try:
            data = os.read(self.read_fd, 64)
        except BlockingIOError:
            return
        for signum in data:
            self.worker.handle_signal(signum)

    def on_writable(self) -> None:  # pragma: no cover
        pass


class Worker:
    """Runs the app on one epoll loop until told to stop; `run()` returns the exit code."""

    def __init__(self, app: Handler, config: Config, addresses: Sequence[tuple[str, int]]) -> None:
        self.app = app
        self.config = config
        self.addresses = list(addresses)
        self.loop = EventLoop()
        self.ctx = ServerContext(
            self.loop,
            app,
            config.limits,
            config.header_timeout,
            config.keepalive_timeout,
            config.body_timeout,
            config.write_high_water,
            access_log_enabled=bool(config.access_log),
            on_close=self._on_connection_closed,
        )
        self.listeners: list[Listener] = []
        self.stopping = False
        self.stop_deadline = 0.0

    def run(self) -> int:
        try:
            self._boot()
        except Exception as exc:
            error_log.error("worker %d failed to start: %s", os.getpid(), exc, exc_info=exc)
            return BOOT_FAILURE
        try:
            self.loop.run()
        finally:
            self._shutdown()
        return 0

    def _boot(self) -> None:
        signals = SignalPipe(self)
        self.loop.register(signals.read_fd, signals, EPOLLIN)
        signal.set_wakeup_fd(signals.write_fd, warn_on_full_buffer=False)
        for signum in _STOP_SIGNALS:
            signal.signal(signum, note_signal)
        for host, port in self.addresses:
            listener = Listener(listen(host, port, self.config.backlog), self)
            self.listeners.append(listener)
        for hook in getattr(self.app, "startup_funcs", ()):
            hook()
        for listener in self.listeners:
            listener.resume()
        self._tick_date()
        config = self.config
        shortest = min(config.header_timeout, config.keepalive_timeout, config.body_timeout)
        interval = max(0.05, min(1.0, shortest / 4))
        self.loop.call_every(interval, lambda: sweep(self.ctx, self.loop.now))

    def _tick_date(self) -> None:
        """Refresh the Date line just after each wall-clock second turns."""
        now = time.time()
        date_line.refresh(now)
        self.loop.call_later(1.0 - (now % 1.0) + 0.001, self._tick_date)

    def listening_addresses(self) -> list[str]:
        return [format_address(*listener.sock.getsockname()[:2]) for listener in self.listeners]

    # -- stopping ------------------------------------------------------------------------

    def handle_signal(self, signum: int) -> None:
        if signum == signal.SIGQUIT or (signum == signal.SIGINT and self.stopping):
            self.loop.stop()  # immediate: a second Ctrl-C, or SIGQUIT
        elif signum in (signal.SIGTERM, signal.SIGINT):
            self.begin_stop()

    def begin_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.ctx.draining = True
        self.stop_deadline = time.monotonic() + self.config.graceful_timeout
        for listener in self.listeners:
            if listener.active:
                listener.on_readable()  # take what the kernel already queued for us
            listener.close()
        for connection in list(self.ctx.connections.values()):
            if connection.idle:
                connection.close()
        self._check_stopped()

    def _check_stopped(self) -> None:
        if not self.ctx.connections or time.monotonic() >= self.stop_deadline:
            self.loop.stop()
        else:
            self.loop.call_later(0.05, self._check_stopped)

    def _on_connection_closed(self, connection: Connection) -> None:
        if self.stopping:
            if not self.ctx.connections:
                self.loop.stop()
            return
        for listener in self.listeners:
            if not listener.active:
                listener.resume()

    def _shutdown(self) -> None:
        for connection in list(self.ctx.connections.values()):
            connection.close()
        for listener in self.listeners:
            listener.close()
        for hook in getattr(self.app, "shutdown_funcs", ()):
            try:
                hook()
            except Exception:
                error_log.exception("shutdown hook %r failed", hook)
        self.loop.close()
