"""One worker process: its own epoll loop, its own SO_REUSEPORT listeners, its connections.

Facts and strategy:
- Everything here is created after the fork (epoll fd, listeners, signal pipe): an epoll fd
  shared across a fork would deliver one process's events to another.
- Signal handlers do nothing but let CPython write the signal number to a pipe the loop
  watches (`signal.set_wakeup_fd`); the loop then dispatches `handle_<signal>`.
- Graceful stop: stop accepting (after taking what is already queued on the listener), close
  idle connections, let in-flight requests finish with `Connection: close`, and stop when no
  connection is left or `graceful_timeout` has passed.
- Drain (SIGTERM with `drain_delay`, when the host stops): for `drain_delay` seconds keep
  accepting and serving, but answer everything with `Connection: close` and readiness with 503
  (rush.server.health), so a balancer takes the host out and retires its pooled connections on
  answers; idle connections stay open (closing one could cross a request on its way). Then the
  graceful stop. A second SIGTERM ends the delay early; SIGINT while draining stops at once.
  Under a master, the host byte of the heartbeat region says whether SIGTERM asks for a drain
  (DRAINING) or a plain stop (STOPPING); a worker *retiring* in a rolling reload stops
  accepting at once (its successor takes its queue), keeps `ok` as readiness, and keeps its idle
  connections `drain_delay` seconds before closing them.
"""

from __future__ import annotations

import errno
import faulthandler
import logging
import os
import resource
import select
import signal
import socket
import time
from collections.abc import Callable, Sequence

from rush.config import Config
from rush.proxy import ProxyTrust
from rush.server.accesslog import FLUSH_INTERVAL as ACCESS_FLUSH_INTERVAL
from rush.server.accesslog import AccessLog
from rush.server.connection import Connection, sweep
from rush.server.context import Handler, ServerContext
from rush.server.health import DRAINING, HealthEndpoint, drain_line
from rush.server.heartbeat import HostState, Slot
from rush.server.loop import EPOLLIN, EventLoop
from rush.server.process import BOOT_FAILURE, StopNow
from rush.server.proxyprotocol import ProxyHeaderReader
from rush.server.sockets import describe, listen
from rush.server.watchdog import Recycler, start_beat, watched

error_log = logging.getLogger("rush.error")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_ACCEPT_BATCH = 64
_STOP_GRACE = 0.25  # seconds an idle connection may still bring a request once we stop
# Descriptors a worker needs besides its sockets: listeners, epoll, pipes, inotify, logs.
_FD_SLACK = 128


def raise_fd_limit(max_connections: int) -> int:
    """Raise the soft RLIMIT_NOFILE toward the hard limit (always allowed); returns the soft.

    Each connection may hold a second descriptor (a file being sent, a spooled body). Past the
    limit, accept() fails with EMFILE and the connection waits in the backlog (see Listener).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * max_connections + _FD_SLACK
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            error_log.warning("cannot raise the open file limit from %d: %s", soft, exc)
    if soft != resource.RLIM_INFINITY and soft < max_connections + _FD_SLACK:
        error_log.warning(
            "open file limit %d is low for max_connections=%d: connections over it wait in "
            "the listen backlog",
            soft,
            max_connections,
        )
    return soft


class Listener:
    """Accepts connections from one listening socket into the worker's loop."""

    __slots__ = ("sock", "fd", "worker", "active", "events", "connect")

    def __init__(self, sock: socket.socket, worker: Worker, shared: bool = False) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.worker = worker
        self.active = False
        # A socket several workers accept on wakes one of them per connection, not all.
        self.events = EPOLLIN | select.EPOLLEXCLUSIVE if shared else EPOLLIN
        #: Makes the connection object; a PROXY protocol reader first, when that is on.
        self.connect: Callable[..., object] = Connection

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
            self.connect(client, address[0] if isinstance(address, tuple) else None, ctx)
            if len(ctx.connections) >= limit:
                self.pause()  # the rest wait in the kernel backlog until one closes
                return

    def on_writable(self) -> None:  # pragma: no cover - listeners never ask for EPOLLOUT
        pass

    def resume(self) -> None:
        if not self.active and not self.worker.stopping:
            self.worker.loop.register(self.fd, self, self.events)
            self.active = True

    def drain(self) -> None:
        """Accept everything already queued (before closing: the kernel resets the rest).

        Out of the loop first: with EPOLLEXCLUSIVE the kernel wakes one waiter per new
        connection, and a wakeup spent on a listener about to close would leave a connection
        queued on a socket a sibling worker shares, unannounced until the next one arrives.
        """
        if not self.active:
            return
        self.pause()
        connections = self.worker.ctx.connections
        while len(connections) < self.worker.config.max_connections:
            before = len(connections)
            self.on_readable()
            if len(connections) - before < _ACCEPT_BATCH:
                return

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

    def __init__(
        self,
        app: Handler,
        config: Config,
        addresses: Sequence[tuple[str, int] | socket.socket],
        *,
        slot: Slot | None = None,
        reopen_logs: Callable[[], None] | None = None,
    ) -> None:
        """`addresses`: (host, port) to bind here with SO_REUSEPORT, or listening sockets made
        by the master; `slot`: this worker's heartbeat slot when a master watches it."""
        self.app = app
        self.config = config
        self.addresses = list(addresses)
        self.slot = slot
        self.reopen_logs = reopen_logs
        self._interrupts = 0
        self.loop = EventLoop()
        # Decided once here, so requests pay only for what is switched on.
        self.access = AccessLog(config.access_log_format) if config.access_log else None
        trust = (
            ProxyTrust(config.forwarded_allow_ips, config.forwarded_header)
            if config.forwarded_allow_ips
            else None
        )
        self.ctx = ServerContext(
            self.loop,
            app,
            config.limits,
            config.header_timeout,
            config.keepalive_timeout,
            config.body_timeout,
            config.write_high_water,
            access_log=self.access.record if self.access is not None else None,
            on_close=self._on_connection_closed,
            trust=trust,
        )
        self.listeners: list[Listener] = []
        self.health = HealthEndpoint(config.health_path, self.ctx) if config.health_path else None
        self.draining = False  # SIGTERM with drain_delay: serving on, until begin_stop
        self.stopping = False
        self.stop_deadline = 0.0
        if slot is not None and (config.handler_timeout or config.worker_timeout):
            self.ctx.handle = watched(self.ctx.handle, slot)

    def run(self) -> int:
        try:
            self._boot()
        except Exception as exc:
            error_log.error("worker %d failed to start: %s", os.getpid(), exc, exc_info=exc)
            return BOOT_FAILURE
        try:
            self.loop.run()
        except StopNow:
            pass
        finally:
            self._shutdown()
        return 0

    def _note_signal(self, signum: int, frame: object) -> None:
        """Signal context. Only an immediate stop acts here, since it must interrupt even a
        handler that blocks; everything else the loop dispatches from the wakeup fd."""
        if signum == signal.SIGINT:
            self._interrupts += 1
        if signum == signal.SIGQUIT or self._interrupts >= 2:
            raise StopNow

    def _boot(self) -> None:
        raise_fd_limit(self.config.max_connections)
        signals = SignalPipe(self)
        self.loop.register(signals.read_fd, signals, EPOLLIN)
        signal.set_wakeup_fd(signals.write_fd, warn_on_full_buffer=False)
        for signum in (*_STOP_SIGNALS, signal.SIGUSR1):
            signal.signal(signum, self._note_signal)
        for signum in (signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(signum, signal.SIG_IGN)  # the master's signals; never stop a worker
        try:
            faulthandler.register(signal.SIGUSR2, all_threads=True)  # `kill -USR2`: the stack
        except (OSError, ValueError, RuntimeError):
            pass  # stderr has no descriptor (an embedding host captures it): no stack dumps
        for address in self.addresses:
            if isinstance(address, socket.socket):
                listener = Listener(address, self, shared=True)
            else:
                listener = Listener(listen(*address, self.config.backlog), self)
            if self.config.proxy_protocol:
                listener.connect = ProxyHeaderReader
            self.listeners.append(listener)
        self.app.startup()
        # The app's inotify watchers (static file cache) exist per worker, never in the master.
        for watcher in self.app.watchers():
            self.loop.register(watcher.fileno(), watcher, EPOLLIN)
        for listener in self.listeners:
            listener.resume()
        self._tick_date()
        config = self.config
        shortest = min(config.header_timeout, config.keepalive_timeout, config.body_timeout)
        interval = max(0.05, min(1.0, shortest / 4))
        self.loop.call_every(interval, lambda: sweep(self.ctx, self.loop.now))
        self._start_operations()
        if self.health is not None:
            self.health.follow(self.loop, self.slot)

    def _start_operations(self) -> None:
        """Access log flushing, and what the master watches: beat, recycling, readiness."""
        config, slot = self.config, self.slot
        if self.access is not None:
            self.loop.call_every(ACCESS_FLUSH_INTERVAL, self.access.tick)
        if slot is None:
            return
        self._watch_master(slot.master_pid)
        if config.worker_timeout:
            start_beat(self.loop, slot, config.worker_timeout)
        if config.max_requests:
            ctx = self.ctx
            Recycler(
                self.loop,
                slot,
                lambda: ctx.requests_served,
                config.max_requests,
                config.max_requests_jitter,
            )
        slot.mark_ready()  # the master may now retire the worker this one replaces

    def _watch_master(self, master: int) -> None:
        """Stop gracefully once the master is gone (SIGKILLed, crashed): no orphan serves on.
        Checked at once too: it may have died while this worker was loading the app."""

        def check() -> None:
            if os.getppid() != master and not self.stopping:
                error_log.warning(
                    "worker %d: the master (pid %d) is gone; stopping", os.getpid(), master
                )
                self.begin_stop()

        self.loop.call_later(0.0, check)
        self.loop.call_every(1.0, check)

    def _tick_date(self) -> None:
        """Refresh the Date line just after each wall-clock second turns."""
        now = time.time()
        self.ctx.tick(now)
        self.loop.call_later(1.0 - (now % 1.0) + 0.001, self._tick_date)

    def listening_addresses(self) -> list[str]:
        """host:port (or unix:/path) of each listening socket."""
        return [describe(listener.sock).removeprefix("http://") for listener in self.listeners]

    # -- stopping ------------------------------------------------------------------------

    def handle_signal(self, signum: int) -> None:
        if signum == signal.SIGQUIT or (
            signum == signal.SIGINT and (self.stopping or self.draining)
        ):
            self.loop.stop()  # immediate: a second Ctrl-C, or SIGQUIT
        elif signum == signal.SIGTERM:
            self.handle_term()
        elif signum == signal.SIGINT:
            self.begin_stop()
        elif signum == signal.SIGUSR1:
            if self.access is not None:
                self.access.flush()
            if self.reopen_logs is not None:
                self.reopen_logs()
                # Says when this worker writes to the new files (logrotate scripts and the
                # tests wait for it: the master's line comes before the workers reopen).
                error_log.info("worker %d reopened its log files", os.getpid())

    def handle_term(self) -> None:
        """Drain first when the host stops and `drain_delay` asks for it, else the graceful
        stop (a retiring worker's is gentler, see `begin_stop`); a second SIGTERM while
        draining ends the delay now."""
        delay, slot = self.config.drain_delay, self.slot
        if self.draining or self.stopping or not delay:
            self.begin_stop()
        elif slot is None or slot.host_state is HostState.DRAINING:
            self.begin_drain(delay)
        else:
            self.begin_stop()

    def begin_drain(self, delay: float) -> None:
        """Serve on for `delay` seconds while the balancer notices readiness is 503: answers
        say `Connection: close`, so it retires its pooled connections on an answer, never on
        a close that could cross a request; idle connections stay open meanwhile."""
        if self.draining or self.stopping:
            return
        self.draining = True
        self.ctx.draining = True  # every answer says `Connection: close`
        if self.health is not None:
            self.health.show(DRAINING)
        if self.slot is None:  # under a master, the master says it once for the host
            error_log.info(drain_line(delay, self.health is not None))
        self.loop.call_later(delay, self.begin_stop)

    def begin_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.ctx.draining = True
        # A worker replaced in a rolling reload: its successor serves, so the host stays
        # ready, and its idle connections get the drain delay (see the module docstring).
        retiring = self.slot is not None and self.slot.retiring
        delay = self.config.drain_delay if retiring else 0.0
        if self.health is not None and not retiring:
            self.health.show(DRAINING)
        if self.draining and self.slot is None:
            error_log.info("drain over: stopping gracefully")
        self.stop_deadline = time.monotonic() + delay + self.config.graceful_timeout
        for listener in self.listeners:
            listener.drain()  # take what the kernel already queued for us
            listener.close()
        # An idle connection closed now could cross a request already on its way (a connection
        # just taken from the queue has not sent its request yet; a keep-alive client may be
        # sending its next one): give each a moment to arrive, to be answered with
        # `Connection: close`, then close what is still idle. Replaced, not stopped, clients
        # go on, so a retiring worker waits longer.
        grace = max(delay, min(1.0, self.config.keepalive_timeout)) if retiring else _STOP_GRACE
        self.loop.call_later(grace, self._close_idle)
        self._check_stopped()

    def _close_idle(self) -> None:
        for connection in list(self.ctx.connections.values()):
            if connection.idle:
                connection.close()

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
        try:
            self.app.shutdown()
        except Exception:
            error_log.exception("the app's shutdown failed")
        if self.access is not None:
            self.access.flush()
        self.loop.close()
