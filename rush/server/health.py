"""The health endpoint: readiness and liveness, answered by the worker itself, never the app.

`GET|HEAD {path}` is readiness (200 `ok`, 503 `starting` or `draining`); `GET|HEAD {path}/live`
is liveness (200 `ok` whenever a worker answers, draining included). The answers live in the
connection's pre-rendered tables (`ServerContext.prerendered` for GET, `prerendered_head` for
HEAD), so a health request costs one dict lookup, runs no hook and no handler, and an ordinary
request pays nothing for the endpoint. A change of state swaps the readiness entries; nothing
else reads the state per request.

Facts and strategy (who knows what):
- A worker knows only itself; the host is ready once every worker index has booted and run
  the app's startup hooks, which only the master sees. The master writes that into the host
  byte of the shared heartbeat region (rush.server.heartbeat.HostState); a worker polls it
  every `POLL_INTERVAL` seconds from a loop timer while it says STARTING, and stops polling once
  READY (no further change is announced that way: a stop arrives as a signal). With no master
  (one in-process worker) the worker is ready as soon as its startup hooks have run.
- The workers' listeners accept only after their own startup hooks ran, so `starting` comes
  from a worker that is ready while another is not (yet).
- Draining (SIGTERM with `drain_delay`) and the graceful stop switch readiness to `draining`
  (rush.server.worker); a worker retiring in a rolling reload keeps it at `ok`, because the
  host, served by its successors, stays ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rush.protocol.writer import Prerendered, prerender
from rush.server.heartbeat import HostState, Slot
from rush.server.loop import EventLoop

if TYPE_CHECKING:
    from rush.server.context import ServerContext

#: Seconds between two looks at the host byte while the host is starting.
POLL_INTERVAL = 0.05

READY = "ok"
STARTING = "starting"
DRAINING = "draining"

_LINES = b"Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n"
_STATUS = {READY: 200, STARTING: 503, DRAINING: 503}


def entries(status: int, body: bytes) -> tuple[Prerendered, Prerendered]:
    """The GET and the HEAD entry of one answer (HEAD: the same head, with no body). A probe's
    preconditions are ignored: the answer has no validators to compare them with."""
    _, line, head, _, _ = prerender(status, _LINES, body)
    return (status, line, head, body, False), (status, line, head, b"", False)


def drain_line(delay: float, health: bool) -> str:
    """The log line that says a drain began (the master's, or an in-process worker's)."""
    says = (
        "health answers 503"
        if health
        else "no health_path: only answers that close their connections say so"
    )
    return f"draining for {delay:g} s; {says}"


class HealthEndpoint:
    """The two targets of one worker's health endpoint and the readiness it shows now."""

    __slots__ = ("ready_target", "live_target", "state", "_gets", "_heads", "_answers")

    def __init__(self, path: str, ctx: ServerContext) -> None:
        """`path` is already validated (rush.config); liveness is `path` + `/live`."""
        self.ready_target = path.encode("ascii")
        self.live_target = (path.rstrip("/") + "/live").encode("ascii")
        self._gets = ctx.prerendered
        self._heads = ctx.prerendered_head
        self._answers = {state: entries(_STATUS[state], f"{state}\n".encode()) for state in _STATUS}
        self._gets[self.live_target], self._heads[self.live_target] = self._answers[READY]
        self.state = ""
        self.show(STARTING)

    def follow(self, loop: EventLoop, slot: Slot | None) -> None:
        """After the worker's boot: READY now without a master, else once the master says the
        whole host is (polling its byte while it says STARTING, then never again)."""
        if slot is None:
            self.show(READY)
            return

        def look() -> None:
            if self.state != STARTING:
                return  # the worker began to drain meanwhile
            host = slot.host_state
            if host is HostState.READY:
                self.show(READY)
            elif host is HostState.STARTING:
                loop.call_later(POLL_INTERVAL, look)
            # DRAINING or STOPPING: the worker's SIGTERM, on its way, shows `draining`.

        look()

    def show(self, state: str) -> None:
        """Answer readiness with `state` (READY, STARTING or DRAINING) from now on."""
        if state != self.state:
            self.state = state
            self._gets[self.ready_target], self._heads[self.ready_target] = self._answers[state]


__all__ = [
    "DRAINING",
    "POLL_INTERVAL",
    "READY",
    "STARTING",
    "HealthEndpoint",
    "drain_line",
    "entries",
]
