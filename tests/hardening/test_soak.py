"""Long runs: a mixed workload with worker memory and descriptors sampled, and many clients
pipelining on many connections with every answer checked against its own request.

The CI form is bounded (150,000 requests, well under a minute). The long form:

    RUSH_SOAK_REQUESTS=10000000 python -m pytest tests/hardening/test_soak.py -k soak_mixed -s

(`RUSH_SOAK_CLIENTS`, default 2 processes, and `RUSH_SOAK_CONNECTIONS`, default 16 per
process, shape it; the figures are printed with -s.)
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.polling import wait_until
from tests.support.process import ROOT, rush_env
from tests.support.procfs import open_fds, rss_kb

pytestmark = pytest.mark.slow

REQUESTS = int(os.environ.get("RUSH_SOAK_REQUESTS", "150000"))
CLIENTS = int(os.environ.get("RUSH_SOAK_CLIENTS", "2"))
CONNECTIONS = int(os.environ.get("RUSH_SOAK_CONNECTIONS", "16"))
SAMPLE_EVERY = 1.0


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    rng = random.Random(7)
    (folder / "small.txt").write_bytes(rng.randbytes(1000))
    (folder / "medium.bin").write_bytes(rng.randbytes(100_000))  # cached in memory
    (folder / "big.bin").write_bytes(rng.randbytes(1_500_000))  # sent with sendfile
    return folder


def start_load(port: int, requests: int, seed: int, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.hardening.load", str(port)]
    command += ["--requests", str(requests), "--seed", str(seed), *extra]
    return subprocess.Popen(
        command, cwd=ROOT, env=rush_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def results(procs: list[subprocess.Popen], timeout: float) -> list[dict]:
    out = []
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert proc.returncode == 0, stderr.decode(errors="replace")
            out.append(json.loads(stdout))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def sample(workers: set[int]) -> dict[int, tuple[int, int]]:
    return {pid: (rss_kb(pid), open_fds(pid)) for pid in workers}


def test_soak_mixed_workload_keeps_memory_and_descriptors_flat(serve, files) -> None:
    server = serve(workers=2, env={"HARDENING_FILES": str(files)})
    workers = server.worker_pids()
    assert len(workers) == 2
    baseline = sample(workers)
    per_client = REQUESTS // CLIENTS
    limit = 60 + REQUESTS / 1000  # seconds: far more than needed, so a hang ends the test
    extra = ("--connections", str(CONNECTIONS), "--files", str(files), "--seconds", str(limit))
    started = time.monotonic()
    procs = [start_load(server.port, per_client, seed, *extra) for seed in range(1, CLIENTS + 1)]
    samples: list[tuple[float, dict[int, tuple[int, int]]]] = []
    while any(proc.poll() is None for proc in procs) and time.monotonic() - started < limit:
        samples.append((time.monotonic() - started, sample(workers)))
        time.sleep(SAMPLE_EVERY)
    tallies = results(procs, timeout=30)
    elapsed = time.monotonic() - started
    assert server.worker_pids() == workers, "a worker was replaced during the soak"
    # Connections closed: the descriptors go back to what they were before the load.
    assert wait_until(lambda: all(open_fds(p) <= baseline[p][1] for p in workers), 10), (
        baseline,
        sample(workers),
    )
    end = sample(workers)
    sent = sum(t["sent"] for t in tallies)
    figures = {
        "requests": sent,
        "seconds": round(elapsed, 1),
        "per_second": round(sent / elapsed),
        "baseline": baseline,
        "warm": samples[len(samples) // 4][1] if samples else None,
        "end": end,
        "max_fds_during": {p: max(s[p][1] for _, s in samples) for p in workers}
        if samples
        else None,
        "jobs": [t["jobs"] for t in tallies],
        # ten points of the (seconds, {pid: (rss kB, fds)}) timeline
        "series": [(round(t), s) for t, s in samples[:: max(1, len(samples) // 10)]],
    }
    print(f"\nsoak: {figures}")
    for tally in tallies:
        assert tally["failed"] == 0 and tally["ok"] == tally["sent"], tally
    assert sent >= REQUESTS - CLIENTS
    assert not server.errors_logged(), "\n".join(server.errors_logged()[:20])
    # Memory is flat once warm: after the first quarter of the run it may not keep growing.
    if len(samples) >= 4:
        warm = samples[len(samples) // 4][1]
        for pid in workers:
            growth = end[pid][0] - warm[pid][0]
            assert growth < max(8 * 1024, warm[pid][0] // 5), (pid, warm[pid], end[pid])


def test_many_clients_pipelining_get_their_own_answers(serve) -> None:
    """300 connections at once, each pipelining batches of up to 32 GET/HEAD/POST requests."""
    server = serve(workers=2)
    procs = [
        start_load(server.port, 20_000, seed, "--connections", "100", "--jobs", "pipeline,single")
        for seed in (11, 12, 13)
    ]
    tallies = results(procs, timeout=120)
    for tally in tallies:
        assert tally["failed"] == 0 and tally["ok"] == tally["sent"], tally
    print(f"\npipelining: {[(t['sent'], t['seconds']) for t in tallies]}")
    assert not server.errors_logged(), server.log
