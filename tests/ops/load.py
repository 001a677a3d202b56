"""A continuous HTTP/1.1 client loop for the operations tests, and the tally of what it saw.

Each thread sends requests back to back until stopped, on a keep-alive connection or a new
connection per request. Every request is counted; a request fails when it gets no complete
response or a status other than 200.

The one exception is RFC 9112 §9.3.1: a client may retry a request on a new connection when a
*reused* keep-alive connection is closed before any byte of the response arrived (the server
closed an idle connection while the request was on its way). Such retries are counted
separately (`retried`), so a test can still demand zero of them.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from dataclasses import dataclass, field

from tests.support.client import NoResponse, read_response

TIMEOUT = 10.0


@dataclass
class Tally:
    requests: int = 0
    ok: int = 0
    retried: int = 0
    failures: list[str] = field(default_factory=list)
    bodies: collections.Counter = field(default_factory=collections.Counter)
    first_seen: dict[bytes, float] = field(default_factory=dict)

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.ok += other.ok
        self.retried += other.retried
        self.failures += other.failures
        self.bodies.update(other.bodies)
        for body, when in other.first_seen.items():
            self.first_seen[body] = min(when, self.first_seen.get(body, when))

    def __str__(self) -> str:
        return (
            f"{self.requests} requests, {self.ok} ok, {len(self.failures)} failed, "
            f"{self.retried} retried; bodies {dict(self.bodies.most_common(6))}; "
            f"first failures {self.failures[:5]}"
        )


class Load:
    """`threads` client loops against `address` (a (host, port) pair or a Unix socket path)."""

    def __init__(
        self,
        address: tuple[str, int] | str,
        path: str = "/",
        threads: int = 4,
        keepalive: bool | None = None,
        pause: float = 0.0,
    ) -> None:
        self.address = address
        self.path = path
        self.pause = pause
        self.stopping = threading.Event()
        # None: half the threads keep connections alive, half open one per request.
        modes = [keepalive if keepalive is not None else i % 2 == 0 for i in range(threads)]
        self.tallies = [Tally() for _ in modes]
        self.threads = [
            threading.Thread(target=self._run, args=(mode, tally), daemon=True)
            for mode, tally in zip(modes, self.tallies, strict=True)
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> Tally:
        self.stopping.set()
        for thread in self.threads:
            thread.join(TIMEOUT + 5)
        total = Tally()
        for tally in self.tallies:
            total.merge(tally)
        return total

    def total(self) -> Tally:
        """A snapshot while running (approximate)."""
        total = Tally()
        for tally in self.tallies:
            total.merge(tally)
        return total

    def _connect(self) -> socket.socket:
        if isinstance(self.address, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(TIMEOUT)
            sock.connect(self.address)
        else:
            sock = socket.create_connection(self.address, timeout=TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _run(self, keepalive: bool, tally: Tally) -> None:
        close = b"" if keepalive else b"Connection: close\r\n"
        message = f"GET {self.path} HTTP/1.1\r\nHost: test\r\n".encode() + close + b"\r\n"
        sock: socket.socket | None = None
        while not self.stopping.is_set():
            reused = sock is not None
            tally.requests += 1
            try:
                if sock is None:
                    sock = self._connect()
                sock.sendall(message)
                status, headers, body = read_response(sock)
            except (NoResponse, ConnectionResetError, BrokenPipeError) as exc:
                if sock is not None:
                    sock.close()
                sock = None
                if reused and not isinstance(exc, socket.timeout):
                    tally.retried += 1  # RFC 9112 §9.3.1: retry on a new connection
                    tally.requests -= 1
                    continue
                tally.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            except OSError as exc:
                if sock is not None:
                    sock.close()
                sock = None
                tally.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if status != 200:
                tally.failures.append(f"status {status}: {body[:80]!r}")
            else:
                tally.ok += 1
                tally.bodies[body] += 1
                tally.first_seen.setdefault(body, time.monotonic())
            if not keepalive or headers.get("connection", "").lower() == "close":
                sock.close()
                sock = None
            if self.pause:
                time.sleep(self.pause)
        if sock is not None:
            sock.close()
