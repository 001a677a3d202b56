"""Start serving an app: in this process for one worker, else under a Supervisor.

The app and its route table are made ready here, in the master, before any fork, so every
worker shares them copy-on-write; each worker then opens its own epoll and listeners.
"""

from __future__ import annotations

import logging
import socket

from rush.config import Config, parse_bind
from rush.server.connection import Handler
from rush.server.sockets import format_address, reserve
from rush.server.supervisor import Supervisor
from rush.server.worker import Worker

error_log = logging.getLogger("rush.error")


def serve(app: Handler, config: Config) -> int:
    """Run until stopped; returns the process exit code."""
    prepare = getattr(app, "prepare", None)
    if prepare is not None:
        prepare()
    # Resolve every port (0 included) once, so all workers join the same SO_REUSEPORT group;
    # the reservations stay open while we serve so the port cannot change under us.
    reservations: list[socket.socket] = []
    addresses: list[tuple[str, int]] = []
    for text in config.bind:
        host, port = parse_bind(text)
        sock, port = reserve(host, port)
        reservations.append(sock)
        addresses.append((host, port))
    workers = config.worker_count
    listening = ", ".join(f"http://{format_address(h, p)}" for h, p in addresses)
    try:
        if workers == 1:
            error_log.info("listening on %s (1 worker, in-process)", listening)
            return Worker(app, config, addresses).run()
        error_log.info("listening on %s (%d workers)", listening, workers)

        def worker_main(index: int) -> int:
            for sock in reservations:
                sock.close()
            return Worker(app, config, addresses).run()

        return Supervisor(worker_main, workers, config.graceful_timeout).run()
    finally:
        for sock in reservations:
            sock.close()
