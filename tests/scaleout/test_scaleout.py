"""Scale-out: three Rush hosts behind nginx, then HAProxy, with failures and deploys under load.

Each scenario drives a few seconds of bounded load from the client namespace through the
balancer (deploy/nginx-upstream.conf, deploy/haproxy.cfg), does one thing to one host, and
asserts the failed/total counts, which it also prints (`-s`) and adds to the figures table
of the terminal summary. Idempotent GETs must never fail: the balancer retries them. POSTs
must not fail either where Rush's drain protocol makes that possible (rolling deploy, drain
by SIGTERM); where a host dies with POSTs in flight, their failures are counted, not denied.
"""

from __future__ import annotations

import http.client
import json
import signal
import time

import pytest

from tests.scaleout.balancers import Balancer, HAProxy, Nginx, which
from tests.scaleout.figures import Figures
from tests.scaleout.hosts import (
    DRAIN_DELAY,
    HEALTH_PATH,
    RushHost,
    wait_until,
)
from tests.scaleout.load import Load, Tally
from tests.scaleout.netns import tcp_active_opens, why_unusable

_REASON = why_unusable()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_REASON is not None, reason=_REASON or ""),
]

WARMUP = 300  # good answers before a scenario acts: every thread is running
PROXIED_PORT, PROXIED_HOST_PORT = 81, 8001


def load_through(balancer: Balancer, **options: object) -> Load:
    """Load from the client namespace through `balancer` (started by the `with`)."""
    return Load(balancer.address, netns=balancer.bed.client.netns, **options)  # type: ignore[arg-type]


def ok(tally: Tally) -> int:
    return sum(tally.ok.values())


def more_answers(load: Load, count: int, timeout: float = 15.0) -> Tally:
    """Keep the load going until `count` more requests were answered."""
    goal = ok(load.snapshot()) + count
    return load.wait_for(lambda t: ok(t) >= goal, timeout)


def test_steady_load_spreads_across_all_hosts(ready_bed, hosts, figures: Figures):
    balancer = ready_bed
    opened_before = tcp_active_opens(balancer.bed.balancer.netns)
    with load_through(balancer) as load:
        load.wait_for(lambda t: t.total >= 2500, 30)
        tally = load.stop()
    opened = tcp_active_opens(balancer.bed.balancer.netns) - opened_before
    shares = {h: round(n / ok(tally), 2) for h, n in sorted(tally.hosts.items())}
    figures.add("1 steady load", balancer.name, tally, shares=shares, upstream_connections=opened)
    assert tally.failures == [], tally.failures[:5]
    # Upstream keep-alive: a handful of connections per host (HAProxy's checks open one per
    # host a second, and HAProxy gives each new client connection its own first connection).
    assert opened < 3 * tally.seconds * len(hosts) + 40, opened
    assert set(tally.hosts) == {h.name for h in hosts}
    assert all(0.25 <= share <= 0.42 for share in shares.values()), shares
    # The balancer's X-Forwarded-* are believed (--forwarded-allow-ips): Rush sees the client,
    # not the balancer, and not what the client claims about itself.
    spoof = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"}
    rfc7239 = {"Forwarded": "for=203.0.113.66;proto=https"}  # Rush prefers it: must not pass
    for headers in ({}, spoof, rfc7239):
        status, _, body = balancer.ask("/whoami", headers=headers)
        assert status == 200
        seen = json.loads(body)
        assert (seen["remote_addr"], seen["scheme"]) == (balancer.bed.client.address, "http")


def test_a_host_killed_mid_load_fails_no_get(ready_bed, hosts, figures: Figures):
    balancer, victim = ready_bed, hosts[1]
    with load_through(balancer) as load:
        load.wait_for(lambda t: ok(t) >= WARMUP, 15)
        killed_at = load.elapsed()
        victim.kill()
        more_answers(load, 1500)
        tally = load.stop()
    figures.add("2 SIGKILL of a host", balancer.name, tally, killed_at=round(killed_at, 1))
    # POSTs in flight on the dead host may fail (a balancer never resends them): counted only.
    assert tally.failed["GET"] == 0, tally.failures[:5]
    assert tally.hosts[victim.name] > 0 and tally.last_seen[victim.name] <= killed_at + 0.5


def test_a_host_whose_link_goes_down_is_taken_out(ready_bed, hosts, figures: Figures):
    balancer, victim = ready_bed, hosts[2]
    bed = balancer.bed
    try:
        with load_through(balancer) as load:
            load.wait_for(lambda t: ok(t) >= WARMUP, 15)
            marks = (
                balancer.disabled_marks(victim.machine.address)
                if isinstance(balancer, Nginx)
                else 0
            )
            bed.set_link(victim.machine, up=False)
            detected = detect_out(balancer, victim, marks)
            out_at = load.elapsed()
            more_answers(load, 1000)
            tally = load.stop()
    finally:
        bed.set_link(victim.machine, up=True)
    figures.add("3 link down", balancer.name, tally, detected_in_s=round(detected, 1),
                failed_after_detection=len(tally.failed_after(out_at)))  # fmt: skip
    # HAProxy: fall x (inter + timeout connect) = 2 x (1 s + 1 s), plus slack. nginx: the first
    # request sent there after the cut waits out proxy_connect_timeout (1 s) or
    # proxy_read_timeout (3 s) on a kept-alive connection.
    assert detected <= 6.0, detected
    # A POST in flight on the cut link fails after proxy_read_timeout / timeout server: no
    # balancer resends it. Counted, not denied; nothing sent once the host is out fails.
    assert tally.failed_after(out_at) == [], tally.failures[:5]
    assert tally.failed["GET"] == 0, tally.failures[:5]
    assert tally.last_seen.get(victim.name, 0) <= out_at


def detect_out(balancer: Balancer, victim: RushHost, marks_before: int) -> float:
    """Seconds until the balancer takes `victim` out: HAProxy's checks mark it DOWN; nginx's
    passive check logs that it disabled it (a failed request counted against it)."""
    if isinstance(balancer, HAProxy):
        return balancer.wait_down(victim.name, 10)
    assert isinstance(balancer, Nginx)
    start = time.monotonic()
    address = victim.machine.address
    if not wait_until(lambda: balancer.disabled_marks(address) > marks_before, 10):
        raise AssertionError(f"nginx never took {victim.name} out:\n{balancer.log()[-2000:]}")
    return time.monotonic() - start


def test_a_rolling_deploy_host_by_host_fails_nothing(ready_bed, hosts, figures: Figures):
    balancer = ready_bed
    started, log_mark = time.monotonic(), len(balancer.log())
    with load_through(balancer) as load:
        load.wait_for(lambda t: ok(t) >= WARMUP, 15)
        versions = {}
        for host in hosts:  # one host at a time, each serving its new code before the next
            versions[host.name] = host.deploy()
            landed = f"{host.name} v{versions[host.name]}"
            load.wait_for(lambda t, landed=landed: t.versions[landed] >= 100, 15)
        for host in hosts:
            host.wait_reload_complete()
        more_answers(load, 300)
        tally = load.stop()
    figures.add("4 rolling deploy (SIGHUP)", balancer.name, tally,
                deploy_s=round(time.monotonic() - started, 1))  # fmt: skip
    assert tally.failures == [], tally.failures[:5]
    # A host stays ready while it reloads: its new workers serve before the old ones drain.
    assert " is DOWN" not in balancer.log()[log_mark:], balancer.log()[log_mark:]
    for host in hosts:
        new = f"{host.name} {versions[host.name]}".encode()
        assert {host.answers() for _ in range(6)} == {new}, host.name
        assert tally.versions[f"{host.name} v{versions[host.name]}"] > 0, tally.versions
    assert {balancer.ask("/")[2].split()[1] for _ in range(9)} == {
        str(v).encode() for v in versions.values()
    }


def test_a_host_drained_by_sigterm_fails_nothing(ready_bed, hosts, figures: Figures):
    balancer, victim = ready_bed, hosts[0]
    notes: dict[str, object] = {}
    with load_through(balancer) as load:
        load.wait_for(lambda t: ok(t) >= WARMUP, 15)
        victim.signal(signal.SIGTERM)
        termed = time.monotonic()
        check_draining(victim)
        if isinstance(balancer, HAProxy):
            notes["out_in_s"] = round(balancer.wait_down(victim.name, DRAIN_DELAY), 1)
        assert victim.proc is not None
        victim.proc.wait(DRAIN_DELAY + 20)
        notes["exited_after_s"] = round(time.monotonic() - termed, 1)
        more_answers(load, 600)
        tally = load.stop()
    figures.add("5 drain (SIGTERM)", balancer.name, tally, **notes)
    assert tally.failures == [], tally.failures[:5]
    assert notes["exited_after_s"] >= DRAIN_DELAY  # type: ignore[operator]


def check_draining(host: RushHost) -> None:
    """During the drain: readiness 503 `draining`, liveness 200, and `Connection: close` on
    every answer, while the host still serves."""

    def draining() -> bool:
        status, _, body = host.ask(HEALTH_PATH)
        return status == 503 and body.strip() == b"draining"

    assert wait_until(draining, 2.0), host.ask(HEALTH_PATH)
    assert host.ask(f"{HEALTH_PATH}/live")[0] == 200
    status, headers, _ = host.ask("/")
    assert status == 200 and headers.get("connection", "").lower() == "close", headers


def test_a_session_cookie_from_one_host_is_good_on_the_others(ready_bed, hosts, figures: Figures):
    balancer = ready_bed
    status, headers, _ = hosts[0].ask("/login?user=ann", method="POST")
    assert status == 200, headers
    cookie = headers["set-cookie"].split(";")[0]
    tally = Tally()
    for host in hosts:  # straight to each host
        status, _, body = host.ask("/me", headers={"Cookie": cookie})
        count(tally, status, body)
    for _ in range(3 * len(hosts)):  # and through the balancer, on new connections
        status, _, body = balancer.ask("/me", headers={"Cookie": cookie})
        count(tally, status, body)
    figures.add("6 shared session", balancer.name, tally)
    assert tally.failures == [], tally.failures
    assert set(tally.hosts) == {h.name for h in hosts}


def count(tally: Tally, status: int, body: bytes) -> None:
    """Count a `/me` answer: good when the session names the user who logged in on h1."""
    from tests.scaleout.load import Failure

    answer = json.loads(body) if status == 200 else {}
    if answer.get("user") == "ann":
        tally.ok["GET"] += 1
        tally.hosts[answer["host"]] += 1
    else:
        tally.failed["GET"] += 1
        tally.failures.append(Failure(0.0, "GET", f"{status} {body[:80]!r}"))


@pytest.mark.skipif(which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_send_proxy_gives_rush_the_client_address(bed, guard, workdir):
    """deploy/haproxy.cfg's PROXY protocol line, to hosts run with --proxy-protocol (beside the
    main hosts and balancer, on ports of their own)."""
    proxied = []
    for machine in bed.hosts:
        options = ["--proxy-protocol", "--health-path", HEALTH_PATH]
        host = RushHost(bed, machine, workdir / f"{machine.role}-proxy", options,
                        port=PROXIED_HOST_PORT, workers=1)  # fmt: skip
        guard.add(f"stop {host.name} (PROXY)", host.stop)
        host.start()
        proxied.append(host)
    lb = HAProxy(bed, workdir / "haproxy-proxy", proxy_protocol=True, port=PROXIED_PORT,
                 host_port=PROXIED_HOST_PORT)  # fmt: skip
    guard.add("stop haproxy (PROXY)", lb.stop)
    try:
        for host in proxied:
            host.wait_for_log(r"listening on http://", 15)
        lb.start()
        # The health checks speak the PROXY protocol too, or the hosts would never be UP.
        assert wait_until(lambda: lb.answered_by(6) == {h.name for h in proxied}, 15), lb.log()
        status, _, body = lb.ask("/whoami")
        assert status == 200 and json.loads(body)["remote_addr"] == bed.client.address, body
        # Without a PROXY header the host answers nothing: only the balancer can reach it.
        with pytest.raises((OSError, http.client.HTTPException)):
            proxied[0].ask("/whoami", timeout=2.0)
    finally:
        lb.stop()
        for host in proxied:
            host.stop()
