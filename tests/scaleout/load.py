"""A small, bounded load driver: threads, each with one keep-alive `http.client` connection.

Each thread sends `GET /` and, every `post_every`-th request, `POST /orders` with a small body,
back to back with a short pause (the machine is small and shared), until stopped or until its
deadline. The test app answers `<host> <version> ...`, so the tally counts which host and which
code answered, per method. A request fails when it gets no complete answer or a status other
than 200; the driver never retries (a retry is the balancer's job, and what is measured), it
only opens a new connection for the next request. Failures keep their time, so a scenario can
tell the ones during a failure's detection from those after it.

Run alone from a namespace: `ip netns exec NS python -m tests.scaleout.load 10.77.0.2 --seconds 5`.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

METHODS = ("GET", "POST")
POST_BODY = b"item=42&quantity=1"


@dataclass
class Failure:
    """One request that got no good answer: when it was sent (seconds since the start), how
    long it took to fail, what it was, and why."""

    at: float
    method: str
    reason: str
    took: float = 0.0


@dataclass
class Tally:
    """What the clients saw: counts per method, answers per host and per host+version."""

    ok: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    failed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    hosts: collections.Counter[str] = field(default_factory=collections.Counter)
    versions: collections.Counter[str] = field(default_factory=collections.Counter)
    last_seen: dict[str, float] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.ok.values()) + sum(self.failed.values())

    def requests(self, method: str) -> int:
        return self.ok[method] + self.failed[method]

    def failed_after(self, moment: float, method: str | None = None) -> list[Failure]:
        """The failures of requests sent after `moment` (seconds since the start), of `method`
        or of all methods."""
        return [f for f in self.failures if f.at > moment and method in (None, f.method)]

    def merge(self, other: Tally) -> None:
        for method in METHODS:
            self.ok[method] += other.ok[method]
            self.failed[method] += other.failed[method]
        self.hosts.update(other.hosts)
        self.versions.update(other.versions)
        for host, when in other.last_seen.items():
            self.last_seen[host] = max(when, self.last_seen.get(host, when))
        self.failures = sorted(self.failures + other.failures, key=lambda f: f.at)
        self.seconds = max(self.seconds, other.seconds)

    def summary(self) -> str:
        per_method = ", ".join(
            f"{m} {self.requests(m)}/{self.failed[m]} failed" for m in METHODS if self.requests(m)
        )
        return f"{self.total} requests ({per_method}); hosts {dict(sorted(self.hosts.items()))}"

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["total"] = self.total
        data["failures"] = [asdict(f) for f in self.failures[:50]]
        return data


class Load:
    """`threads` client threads against `host:port`, from network namespace `netns` if given.

    Use as a context manager or call `start()`/`stop()`; `snapshot()` reads the running tally.
    """

    def __init__(
        self,
        host: str,
        port: int = 80,
        *,
        threads: int = 4,
        pause: float = 0.004,
        post_every: int = 4,
        seconds: float = 60.0,
        timeout: float = 20.0,
        netns: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.pause, self.post_every, self.timeout = pause, post_every, timeout
        self.netns = netns
        self.seconds = seconds
        self._stop = threading.Event()
        self._tallies = [Tally() for _ in range(threads)]
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(t,), name=f"load-{i}", daemon=True)
            for i, t in enumerate(self._tallies)
        ]
        self.started = 0.0
        self.errors: list[BaseException] = []

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def elapsed(self) -> float:
        """Seconds since the start, on the clock the failures are stamped with."""
        return time.monotonic() - self.started

    def stop(self) -> Tally:
        """Stop every thread (each finishes the request it is in) and merge their tallies."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        if self.errors:
            raise self.errors[0]
        return self.snapshot()

    def snapshot(self) -> Tally:
        total = Tally()
        with self._lock:
            for tally in self._tallies:
                total.merge(tally)
        total.seconds = self.elapsed()
        return total

    def wait_for(self, condition: Callable[[Tally], bool], timeout: float) -> Tally:
        """Poll the running tally until `condition` holds; AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            tally = self.snapshot()
            if condition(tally):
                return tally
            if time.monotonic() >= deadline or self.errors:
                raise AssertionError(f"load: condition not met in {timeout} s: {tally.summary()}")
            time.sleep(0.05)

    def _run(self, tally: Tally) -> None:
        try:
            if self.netns:
                from tests.scaleout.netns import enter

                enter(self.netns)
            self._loop(tally)
        except BaseException as error:  # reported by stop()
            self.errors.append(error)

    def _loop(self, tally: Tally) -> None:
        connection: http.client.HTTPConnection | None = None
        deadline = self.started + self.seconds
        sent = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            sent += 1
            method = "POST" if self.post_every and sent % self.post_every == 0 else "GET"
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            sent_at = self.elapsed()
            try:
                answer = self._ask(connection, method)
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connection = None
                answer = f"{type(error).__name__}: {error}"
            self._count(tally, method, answer, sent_at)
            self._stop.wait(self.pause)
        if connection is not None:
            connection.close()

    def _ask(self, connection: http.client.HTTPConnection, method: str) -> tuple[str, str] | str:
        """(host, version) of a good answer, or why it is not one."""
        if method == "POST":
            connection.request("POST", "/orders", body=POST_BODY,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        else:
            connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            return f"status {response.status}: {body[:80]!r}"
        host, version = body.decode("latin-1").split()[:2]
        return host, version

    def _count(
        self, tally: Tally, method: str, answer: tuple[str, str] | str, sent_at: float
    ) -> None:
        now = self.elapsed()
        with self._lock:
            if isinstance(answer, str):
                tally.failed[method] += 1
                failure = Failure(round(sent_at, 3), method, answer, round(now - sent_at, 3))
                tally.failures.append(failure)
                return
            host, version = answer
            tally.ok[method] += 1
            tally.hosts[host] += 1
            tally.versions[f"{host} v{version}"] += 1
            tally.last_seen[host] = now


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    load = Load(args.host, args.port, threads=args.threads, seconds=args.seconds)
    load.start()
    time.sleep(args.seconds)
    print(json.dumps(load.stop().as_dict(), indent=1))


if __name__ == "__main__":
    main()
