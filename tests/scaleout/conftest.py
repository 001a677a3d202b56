"""Fixtures of the scale-out bed: the network, three Rush hosts, one balancer at a time.

The network and the hosts live as long as the test module (so nothing of the bed outlives
tests/scaleout in a full run); each balancer (nginx, then HAProxy) for its share of the
scenarios; `ready_bed` puts back what a scenario broke (a killed host, a
cut link) and waits until the balancer sends to all three hosts again. The figures of each
scenario are kept by `figures`, printed in pytest's terminal summary and written to
`scaleout-figures.json` and `.md` under pytest's base temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scaleout.balancers import BALANCERS, Balancer, which
from tests.scaleout.figures import FIGURES, Figures
from tests.scaleout.guard import Guard
from tests.scaleout.hosts import RushHost, host_options
from tests.scaleout.netns import OWNER, PREFIX, Bed, owner_alive, remove_stale, why_unusable

READMIT_TIMEOUT = 20.0  # nginx retries a failed host after fail_timeout (5 s), on traffic


@pytest.fixture(scope="module")
def guard() -> Iterator[Guard]:
    guard = Guard()
    guard.arm()
    yield guard
    guard.run()


@pytest.fixture(scope="module")
def workdir(guard: Guard) -> Path:
    """Configs, logs and the hosts' app copies; removed at the end (whatever ends the run),
    and those of earlier runs that were killed before they could remove theirs."""
    for old in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        found = OWNER.match(old.name)
        if found and old.is_dir() and not owner_alive(int(found.group(1))):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    guard.add(f"remove {path}", lambda: shutil.rmtree(path, ignore_errors=True))
    return path


@pytest.fixture(scope="module")
def bed(guard: Guard, workdir: Path) -> Bed:
    reason = why_unusable()
    if reason:
        pytest.skip(reason)
    remove_stale()
    bed = Bed()
    guard.add("remove the namespaces", bed.destroy)
    bed.build()
    return bed


@pytest.fixture(scope="module")
def hosts(bed: Bed, guard: Guard, workdir: Path) -> list[RushHost]:
    started = []
    for machine in bed.hosts:
        host = RushHost(bed, machine, workdir / machine.role, host_options(bed.balancer.address))
        guard.add(f"stop {host.name}", host.stop)
        host.start()
        started.append(host)
    for host in started:
        host.wait_ready()
    return started


@pytest.fixture(scope="module", params=sorted(BALANCERS, reverse=True))  # nginx, haproxy
def balancer(
    request: pytest.FixtureRequest, hosts: list[RushHost], guard: Guard, workdir: Path
) -> Iterator[Balancer]:
    kind = BALANCERS[request.param]
    if which(kind.program) is None:
        pytest.skip(f"{kind.program} is not installed (.ci/run installs it)")
    lb = kind(hosts[0].bed, workdir / kind.name)
    guard.add(f"stop {lb.name}", lb.stop)
    lb.start()
    lb.wait_for_hosts({h.name for h in hosts}, READMIT_TIMEOUT)
    yield lb
    lb.stop()


@pytest.fixture
def ready_bed(balancer: Balancer, hosts: list[RushHost]) -> Balancer:
    """Every link up, every host running and taken by the balancer: a scenario's start."""
    bed = hosts[0].bed
    for host in hosts:
        bed.set_link(host.machine, up=True)
        if host.restart_if_down():
            host.wait_ready()
    balancer.wait_for_hosts({h.name for h in hosts}, READMIT_TIMEOUT)
    return balancer


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if not FIGURES.rows:
        return
    terminalreporter.section("scale-out figures (tests/scaleout)")
    terminalreporter.write_line(FIGURES.markdown())
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        written = FIGURES.write(factory.getbasetemp())
        terminalreporter.write_line(f"written to {written}")
