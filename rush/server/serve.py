"""Start serving an app: in this process for one worker, else under a Supervisor.

The app and its route table are made ready here, in the master, before any fork, so every
worker shares them copy-on-write. Under a master, the listening sockets are made here too: one
SO_REUSEPORT set per worker index (kept open across replacements, so nothing queued is lost),
plus the unix:/fd:// sockets all workers share; each worker opens its own epoll.
`listening on` is logged once the workers accept: in-process as the loop starts, under a master
once every worker index has a ready worker (Hooks.serving); never when the workers fail to boot.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence

from rush.config import Config, parse_listen
from rush.server.accesslog import AccessLog
from rush.server.context import Handler
from rush.server.health import drain_line
from rush.server.heartbeat import Slot
from rush.server.process import BOOT_FAILURE, IMPORT_FAILURE
from rush.server.reloader import SourceWatcher, module_files
from rush.server.sockets import (
    describe,
    format_address,
    inherited,
    listen,
    listen_unix,
    reserve,
    systemd_sockets,
)
from rush.server.supervisor import Hooks, Supervisor
from rush.server.worker import Worker

error_log = logging.getLogger("rush.error")


def serve(
    app: Handler,
    config: Config,
    *,
    loader: Callable[[], Handler] | None = None,
    reopen_logs: Callable[[], None] | None = None,
    source_root: str | None = None,
) -> int:
    """Run until stopped; returns the process exit code.

    `loader` imports the app afresh (`module:app` from the command line): workers of a new
    generation (SIGHUP, --reload) call it right after their fork. Without one, a reload restarts
    the workers on the code already loaded. `reopen_logs` reopens log files (SIGUSR1);
    `source_root` is the project directory whose modules --reload watches.
    """
    app.prepare()
    AccessLog(config.access_log_format)  # a bad format fails here, at startup, once
    # Resolve every port (0 included) once, so all workers join the same SO_REUSEPORT group;
    # the reservations stay open while we serve so the port cannot change under us.
    reservations: list[socket.socket] = []
    addresses: list[tuple[str, int]] = []
    shared = Shared()
    try:
        activated = systemd_sockets()
        if activated:
            error_log.info("using %d socket(s) from systemd instead of --bind", len(activated))
            shared.sockets.extend(activated)
        for text in () if activated else config.bind:
            kind, target = parse_listen(text)
            if kind == "unix":
                shared.add_unix(listen_unix(target, config.backlog, config.unix_socket_mode))
            elif kind == "fd":
                shared.sockets.append(inherited(target))
            else:
                host, port = target
                sock, port = reserve(host, port)
                reservations.append(sock)
                addresses.append((host, port))
        listening = ", ".join(
            [f"http://{format_address(h, p)}" for h, p in addresses]
            + [describe(sock) for sock in shared.sockets]
        )
        pid_file = PidFile(config.pid_file)
        if not config.needs_master:
            with pid_file:
                return run_worker(
                    app,
                    config,
                    [*addresses, *shared.sockets],
                    reopen_logs=reopen_logs,
                    serving=lambda: error_log.info(
                        "listening on %s (1 worker, in-process)", listening
                    ),
                )
        with pid_file:
            return _supervise(
                app,
                config,
                addresses,
                reservations,
                shared,
                loader,
                reopen_logs,
                source_root,
                serving=lambda workers: error_log.info(
                    "listening on %s (%d workers)", listening, workers
                ),
            )
    finally:
        for sock in reservations:
            sock.close()
        shared.close()


def _supervise(
    app: Handler,
    config: Config,
    addresses: list[tuple[str, int]],
    reservations: list[socket.socket],
    shared: Shared,
    loader: Callable[[], Handler] | None,
    reopen_logs: Callable[[], None] | None,
    source_root: str | None,
    *,
    serving: Callable[[int], None],
) -> int:
    """The master: per-index listeners it keeps open, the workers, and what reloads them;
    `serving(workers)` runs once every worker index first accepts."""
    hooks = IndexListeners(
        addresses,
        config.backlog,
        reopen_logs,
        serving,
        draining=lambda delay: error_log.info(drain_line(delay, bool(config.health_path))),
    )

    def worker_main(index: int, current: Handler = app) -> int:
        for sock in reservations:
            sock.close()
        own = hooks.take(index)
        return run_worker(
            current, config, [*own, *shared.sockets], slot=supervisor.slot, reopen_logs=reopen_logs
        )

    def reload_main(index: int) -> int:
        assert loader is not None
        try:
            fresh = loader()
            fresh.prepare()
        except BaseException as exc:  # SyntaxError, ImportError, a module that exits...
            error_log.error(
                "worker %d (pid %d) cannot load the new code: %s",
                index,
                os.getpid(),
                exc,
                exc_info=exc,
            )
            return IMPORT_FAILURE
        return worker_main(index, fresh)

    watch = []
    watcher = None
    if config.reload:
        if loader is None or source_root is None:
            error_log.warning("reload: the app was not loaded from module:app; not watching")
        else:
            watcher = SourceWatcher(module_files(source_root).values())
            error_log.info(
                "reload: watching %d director%s for changes",
                len(watcher.directories),
                "y" if len(watcher.directories) == 1 else "ies",
            )

            def on_change() -> None:
                assert watcher is not None
                names = watcher.changed()
                if names:
                    error_log.info("reload: %s changed", ", ".join(sorted(set(names))))
                    supervisor.request_reload(0.1)

            watch.append((watcher.fileno(), on_change))
    supervisor = Supervisor(
        worker_main,
        config.worker_count,
        config.graceful_timeout,
        reload_main=reload_main if loader is not None else None,
        hooks=hooks,
        handler_timeout=config.handler_timeout,
        worker_timeout=config.worker_timeout,
        watch=watch,
        drain_delay=config.drain_delay,
    )
    try:
        return supervisor.run()
    finally:
        hooks.close()
        if watcher is not None:
            watcher.close()


class IndexListeners(Hooks):
    """The master's listening sockets, one set per worker index (TCP, SO_REUSEPORT).

    The master keeps them open while workers come and go, so a replaced or crashed worker's
    queued connections wait for the next worker of its index instead of being reset: rolling
    reloads and max_requests recycling lose nothing, whatever net.ipv4.tcp_migrate_req says.
    """

    def __init__(
        self,
        addresses: list[tuple[str, int]],
        backlog: int,
        reopen_logs: Callable[[], None] | None,
        serving: Callable[[int], None] | None = None,
        *,
        draining: Callable[[float], None] | None = None,
    ) -> None:
        self.addresses = addresses
        self.backlog = backlog
        self._reopen_logs = reopen_logs
        self._serving = serving
        self._draining = draining
        self.by_index: dict[int, list[socket.socket]] = {}

    def before_spawn(self, index: int) -> None:
        if index not in self.by_index:
            self.by_index[index] = [listen(h, p, self.backlog) for h, p in self.addresses]

    def index_retired(self, index: int) -> None:
        for sock in self.by_index.pop(index, ()):
            sock.close()

    def serving(self, workers: int) -> None:
        if self._serving is not None:
            self._serving(workers)

    def stopping(self) -> None:
        self.close()  # the draining workers hold their own copies until they are done

    def draining(self, delay: float) -> None:
        if self._draining is not None:
            self._draining(delay)

    def reopen_logs(self) -> None:
        if self._reopen_logs is not None:
            self._reopen_logs()

    def take(self, index: int) -> list[socket.socket]:
        """In a worker: its own sockets; the other indexes' are closed (else a socket that
        SIGTTOU retired would stay open in this worker, queueing connections nobody takes)."""
        own = self.by_index.pop(index, [])
        self.close()
        return own

    def close(self) -> None:
        for socks in self.by_index.values():
            for sock in socks:
                sock.close()
        self.by_index.clear()


class Shared:
    """Listening sockets every worker accepts on (unix:, fd://, systemd), and their cleanup."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self._paths: list[tuple[str, int, int]] = []  # unix socket files we made
        self._owner = os.getpid()  # only the process that made them removes the files

    def add_unix(self, sock: socket.socket) -> None:
        path = sock.getsockname()
        info = os.stat(path)
        self._paths.append((path, info.st_dev, info.st_ino))
        self.sockets.append(sock)

    def close(self) -> None:
        if os.getpid() != self._owner:
            return
        for sock in self.sockets:
            sock.close()
        for path, dev, ino in self._paths:
            try:
                info = os.stat(path)
                if (info.st_dev, info.st_ino) == (dev, ino):
                    os.unlink(path)  # ours, not a newer server's
            except OSError:
                pass


class PidFile:
    """Writes the master's pid to `path` while serving (`kill -HUP $(cat path)`)."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def __enter__(self) -> PidFile:
        if self.path:
            temporary = f"{self.path}.{os.getpid()}.tmp"
            with open(temporary, "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(temporary, self.path)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.path:
            return
        try:
            with open(self.path) as f:
                if f.read().strip() == str(os.getpid()):
                    os.unlink(self.path)
        except OSError:
            pass


def run_worker(
    app: Handler,
    config: Config,
    addresses: Sequence[tuple[str, int] | socket.socket],
    *,
    slot: Slot | None = None,
    reopen_logs: Callable[[], None] | None = None,
    serving: Callable[[], None] | None = None,
) -> int:
    """One worker's life; a worker that cannot even be built (say `app` is not an app) is a
    boot failure, which the supervisor stops on, not a crash it would respawn forever.
    `serving` runs once the worker has booted (listeners bound, startup hooks run), as its
    loop starts."""
    try:
        worker = Worker(app, config, addresses, slot=slot, reopen_logs=reopen_logs)
    except Exception as exc:
        error_log.error("worker %d failed to start: %s", os.getpid(), exc, exc_info=exc)
        return BOOT_FAILURE
    if serving is not None:
        worker.loop.call_later(0.0, serving)  # the first turn of the loop, after the boot
    return worker.run()
