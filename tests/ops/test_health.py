"""The health endpoint (`--health-path`) and the drain on SIGTERM (`--drain-delay`), against real
servers: readiness and liveness without the app, `starting` until every worker has booted,
`draining` while SIGTERM keeps serving, and rolling reloads that stay ready and lose nothing."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from rush.config import Config
from rush.exceptions import ConfigError
from rush.server.heartbeat import Heartbeat, HostState
from rush.server.supervisor import Hooks, Supervisor
from tests.ops.load import Load
from tests.support.client import free_port, http_get, read_response
from tests.support.polling import wait_until
from tests.support.process import ROOT, START_TIMEOUT

APP = "tests.ops.apps.healthapp:app"
HEALTH = ("--health-path", "/healthz")


def ask(
    sock: socket.socket, method: str, path: str, close: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """One request on `sock`: (status, headers with lower-case names, body)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(["Connection: close"] if close else [])]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if method != "HEAD":
        return read_response(sock)
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed inside the head: {buffer!r}")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    assert rest == b"", f"a HEAD answer carried a body: {rest!r}"
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {n.strip().lower(): v.strip() for n, _, v in (f.partition(":") for f in fields)}
    return int(status_line.split()[1]), headers, b""


def fetch(
    address: tuple[str, int], path: str, method: str = "GET", timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection."""
    with socket.create_connection(address, timeout=timeout) as sock:
        return ask(sock, method, path, close=True)


def try_fetch(address: tuple[str, int], path: str) -> tuple[int, bytes] | None:
    """(status, body), or None when no answer came within a moment: the connection may have
    landed on the listening socket of a worker still in its startup hook."""
    try:
        status, _, body = fetch(address, path, timeout=0.5)
    except OSError:
        return None
    return status, body


def ready_everywhere(address: tuple[str, int]) -> None:
    """Wait until every worker says ready: each polls the master's word every 50 ms, so one
    may say `starting` a moment after another said `ok`."""
    ok = wait_until(
        lambda: {fetch(address, "/healthz")[0] for _ in range(10)} == {200}, START_TIMEOUT
    )
    assert ok, f"not ready on {address}"


def refused(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def still_open(sock: socket.socket, until: float) -> bool:
    """Whether the peer keeps `sock` open (sends nothing, closes nothing) until `until`."""
    sock.setblocking(False)
    try:
        while time.monotonic() < until:
            try:
                if sock.recv(1, socket.MSG_PEEK) == b"":
                    return False
            except BlockingIOError:
                pass
            time.sleep(0.02)
        return True
    finally:
        sock.setblocking(True)


def serve(rush, *args: str, workers: int = 2, env: dict[str, str] | None = None, **options):
    return rush(
        "--bind", "127.0.0.1:0", "--workers", str(workers), *args, app=APP, env=env, **options
    )


def test_readiness_and_liveness_are_answered_for_get_and_head(rush):
    server = serve(rush, *HEALTH, ready=2)
    ready_everywhere(server.address)
    for path in ("/healthz", "/healthz/live"):
        status, headers, body = fetch(server.address, path)
        assert (status, body) == (200, b"ok\n")
        assert headers["content-type"].startswith("text/plain")
        assert headers["cache-control"] == "no-store"
    # HEAD: the same head and no body, and the connection goes on after it.
    with socket.create_connection(server.address, timeout=10) as sock:
        status, headers, _ = ask(sock, "HEAD", "/healthz")
        assert (status, headers["content-length"]) == (200, "3")
        assert "connection" not in headers
        status, headers, _ = ask(sock, "HEAD", "/healthz/live")
        assert (status, headers["content-length"], headers["cache-control"]) == (
            200,
            "3",
            "no-store",
        )
        assert ask(sock, "GET", "/healthz")[::2] == (200, b"ok\n")
        assert ask(sock, "GET", "/")[::2] == (200, b"open")
    # Only the exact targets: with a query, or another method, the app answers.
    assert fetch(server.address, "/healthz?full=1")[0] == 404
    assert fetch(server.address, "/healthz/")[0] == 404


def test_no_app_code_runs_for_health_requests(rush, tmp_path):
    counted = tmp_path / "requests"
    server = serve(rush, *HEALTH, ready=2, env={"HEALTH_COUNT_FILE": str(counted)})
    ready_everywhere(server.address)
    before = Counter(counted.read_text().splitlines())
    for _ in range(10):
        for method in ("GET", "HEAD"):
            for path in ("/healthz", "/healthz/live"):
                assert fetch(server.address, path, method)[0] == 200
    assert fetch(server.address, "/")[0] == 200
    after = Counter(counted.read_text().splitlines())
    assert after - before == Counter({"GET /": 1}), after  # the hook saw "/" only


def test_readiness_says_starting_until_every_worker_ran_its_startup_hooks(rush, tmp_path):
    port = free_port()
    address = ("127.0.0.1", port)
    gate = tmp_path / "gate"
    env = {"HEALTH_LEAD_FILE": str(tmp_path / "lead"), "HEALTH_GATE_FILE": str(gate)}
    server = rush(
        "--bind", f"127.0.0.1:{port}", "--workers", "2", *HEALTH, app=APP, env=env, ready=None
    )
    server.wait_for("boots first", START_TIMEOUT)
    server.wait_for("startup hook waiting", START_TIMEOUT)
    # One worker accepts; the other is held in its startup hook, so the host is not ready.
    seen = wait_until(lambda: try_fetch(address, "/healthz"), START_TIMEOUT, 0.01)
    assert seen == (503, b"starting\n"), (seen, server.log)
    assert wait_until(lambda: try_fetch(address, "/healthz/live"), 10, 0.01) == (200, b"ok\n")
    assert "listening on" not in server.log
    gate.touch()
    server.wait_for("listening on", START_TIMEOUT)
    ready_everywhere(address)  # within 50 ms of each other


def test_one_worker_in_process_is_ready_once_its_startup_hooks_ran(rush):
    server = serve(rush, *HEALTH, workers=1)
    assert fetch(server.address, "/healthz")[::2] == (200, b"ok\n")
    assert "(1 worker, in-process)" in server.log


@pytest.mark.slow
def test_sigterm_drains_for_drain_delay_then_stops(rush):
    server = serve(rush, *HEALTH, "--drain-delay", "1.5", "--keepalive-timeout", "10", ready=2)
    address = server.address
    idle = socket.create_connection(address, timeout=10)
    assert ask(idle, "GET", "/")[::2] == (200, b"open")  # kept alive, idle from here on
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    server.wait_for(r"draining for 1\.5 s; health answers 503", 5)
    # Every worker says it drains (20 new connections, spread over both) once the SIGTERM the
    # master logged has reached it: the master logs, then signals, so for a moment a worker may
    # still show its earlier state (under a full run's load one showed `starting` there).
    draining = {(503, b"draining\n")}
    deadline = time.monotonic() + 1.0
    while (answers := {fetch(address, "/healthz")[::2] for _ in range(20)}) != draining:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert answers == draining, answers
    assert fetch(address, "/healthz/live")[::2] == (200, b"ok\n")
    assert fetch(address, "/healthz", "HEAD")[0] == 503
    # New connections are still served, with answers that close them.
    status, headers, body = fetch(address, "/")
    assert (status, body, headers.get("connection")) == (200, b"open", "close")
    with socket.create_connection(address, timeout=10) as sock:
        status, headers, _ = ask(sock, "GET", "/")  # no Connection: close asked for
        assert (status, headers.get("connection")) == (200, "close")
    # The idle connection is not closed during the delay (a graceful stop would close it
    # after 0.25 s); a request on it is answered, and closes it.
    assert still_open(idle, started + 1.0), server.log
    status, headers, body = ask(idle, "GET", "/")
    assert (status, body, headers.get("connection")) == (200, b"open", "close")
    assert idle.recv(1) == b""
    idle.close()
    assert not server.count("drain over"), server.log  # all of that within the delay
    # Then the graceful stop: the port refuses connections, and the master exits 0.
    assert wait_until(lambda: refused(address), 10), server.log
    assert server.wait_exit(10) == 0, server.log
    assert time.monotonic() - started >= 1.5
    server.wait_for(r"drain over: stopping 2 worker\(s\) gracefully", 1)
    assert "did not stop in time" not in server.log


@pytest.mark.slow
def test_in_flight_requests_finish_after_the_drain(rush):
    server = serve(rush, *HEALTH, "--drain-delay", "0.5", ready=2)
    with socket.create_connection(server.address, timeout=15) as sock:
        sock.sendall(b"GET /slow?t=1.5 HTTP/1.1\r\nHost: test\r\n\r\n")
        server.wait_for("slow request started", 5)
        server.signal(signal.SIGTERM)
        status, _, body = read_response(sock)
        assert (status, body) == (200, b"slept")
        # (It was framed before the worker, busy in the handler, read its SIGTERM.) Idle
        # from here on, the connection is closed by the graceful stop after the delay.
        assert sock.recv(1) == b""
    assert server.wait_exit(10) == 0, server.log


def test_one_worker_in_process_drains_on_sigterm_too(rush):
    server = serve(rush, *HEALTH, "--drain-delay", "1", workers=1)
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    server.wait_for(r"draining for 1 s; health answers 503", 5)
    assert fetch(server.address, "/healthz")[::2] == (503, b"draining\n")
    assert fetch(server.address, "/")[::2] == (200, b"open")
    assert server.wait_exit(10) == 0, server.log
    assert time.monotonic() - started >= 1.0
    assert server.count("drain over: stopping gracefully") == 1


def test_a_second_sigterm_ends_the_drain_delay(rush):
    server = serve(rush, *HEALTH, "--drain-delay", "60", ready=2)
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    server.wait_for("draining for 60 s", 5)
    assert fetch(server.address, "/healthz")[0] == 503
    server.signal(signal.SIGTERM)
    assert server.wait_exit(10) == 0, server.log
    assert time.monotonic() - started < 10
    assert server.count("drain over: stopping 2 worker") == 1


def test_sigint_during_the_drain_delay_stops_at_once(rush):
    server = serve(rush, *HEALTH, "--drain-delay", "60", ready=2)
    server.signal(signal.SIGTERM)
    server.wait_for("draining for 60 s", 5)
    server.signal(signal.SIGINT)
    assert server.wait_exit(10) is not None, server.log


def test_without_a_drain_delay_sigterm_stops_as_before(rush):
    server = serve(rush, *HEALTH, "--keepalive-timeout", "10", ready=2)
    idle = socket.create_connection(server.address, timeout=10)
    assert ask(idle, "GET", "/")[::2] == (200, b"open")
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert idle.recv(1) == b""  # idle connections close after the usual 0.25 s
    idle.close()
    assert wait_until(lambda: refused(server.address), 5), server.log
    assert server.wait_exit(10) == 0, server.log
    assert time.monotonic() - started < 5
    assert "draining" not in server.log
    assert server.count(r"stopping 2 worker\(s\) gracefully") == 1


# -- the master's side, without forking ---------------------------------------------------


def test_the_host_byte_is_the_masters_word_every_slot_reads():
    heartbeat = Heartbeat(slots=2)
    try:
        slots = [heartbeat.allocate(), heartbeat.allocate()]
        assert all(slot is not None and slot.host_state is HostState.STARTING for slot in slots)
        heartbeat.set_host_state(HostState.READY)
        assert [slot.host_state for slot in slots if slot] == [HostState.READY] * 2
        for slot in slots:
            assert slot is not None
            slot.mark_ready()
            slot.reset()  # a slot's own bytes never touch the host's
        assert heartbeat.host_state is HostState.READY
    finally:
        heartbeat.close()


class DrainHooks(Hooks):
    def __init__(self) -> None:
        self.drains: list[float] = []

    def draining(self, delay: float) -> None:
        self.drains.append(delay)


@pytest.mark.parametrize("drain_delay", [2.0, 0.0])
def test_the_master_says_which_stop_a_sigterm_asks_for(drain_delay, caplog):
    caplog.set_level("INFO", "rush.error")
    hooks = DrainHooks()
    supervisor = Supervisor(lambda index: 0, 1, 5.0, hooks=hooks, drain_delay=drain_delay)
    supervisor.open()
    try:
        assert supervisor.heartbeat is not None
        supervisor.handle_signal(signal.SIGTERM)
        assert supervisor.stopping
        if drain_delay:
            assert supervisor.heartbeat.host_state is HostState.DRAINING
            assert hooks.drains == [2.0]
            assert "drain over" not in caplog.text
            supervisor.handle_signal(signal.SIGTERM)  # a second one ends the delay
            assert "drain over: stopping 0 worker(s) gracefully" in caplog.text
        else:
            assert supervisor.heartbeat.host_state is HostState.STOPPING
            assert hooks.drains == []
            assert "stopping 0 worker(s) gracefully" in caplog.text
    finally:
        supervisor.close()


def test_sigint_never_drains():
    supervisor = Supervisor(lambda index: 0, 1, 5.0, drain_delay=2.0)
    supervisor.open()
    try:
        supervisor.handle_signal(signal.SIGINT)
        assert supervisor.heartbeat is not None
        assert supervisor.heartbeat.host_state is HostState.STOPPING
    finally:
        supervisor.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"health_path": "healthz"}, "health_path: 'healthz' must start with '/'"),
        ({"health_path": "/healthz?x=1"}, "without '\\?' or '#'"),
        ({"health_path": "/health#z"}, "without '\\?' or '#'"),
        ({"health_path": "/health z"}, "printable ASCII"),
        ({"drain_delay": -1.0}, "drain_delay: must be a number of seconds, not negative"),
        ({"drain_delay": float("nan")}, "drain_delay"),
    ],
)
def test_bad_health_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_sources(options, {})


def test_health_options_come_from_flags_and_the_environment():
    config = Config.from_sources({}, {"RUSH_HEALTH_PATH": "/hz", "RUSH_DRAIN_DELAY": "2.5"})
    assert (config.health_path, config.drain_delay) == ("/hz", 2.5)
    assert Config.from_sources({"health_path": ""}, {}).health_path is None
    assert (Config().health_path, Config().drain_delay) == (None, 0.0)


def test_a_health_path_that_is_also_a_route_stops_the_server_at_startup():
    # tests/ops/apps/opsapp.py has a GET /health route.
    result = subprocess.run(
        [sys.executable, "-m", "rush", "tests.ops.apps.opsapp:app", "--bind", "127.0.0.1:0"]
        + ["--health-path", "/health"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "health_path: /health is also a route of the app" in result.stderr
    assert "started worker" not in result.stderr


def test_the_liveness_path_may_not_be_a_route_either():
    from rush import Rush
    from rush.cli import check_health_path

    app = Rush()
    app.get("/hz/live")(lambda request: "mine")
    check_health_path(app, "/other")
    with pytest.raises(ConfigError, match="health_path: /hz/live is also a route"):
        check_health_path(app, "/hz")


@pytest.mark.slow
def test_a_rolling_reload_with_a_drain_delay_stays_ready_and_fails_nothing(rush, project):
    server = rush(
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
        *("--health-path", "/healthz", "--drain-delay", "3", "--keepalive-timeout", "10"),
        app="hotapp:app",
        cwd=project,
        ready=2,
    )
    readiness: Counter[object] = Counter()
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            try:
                status, _, body = fetch(server.address, "/healthz")
                readiness[(status, body)] += 1
            except OSError as exc:
                readiness[type(exc).__name__] += 1
            time.sleep(0.01)

    ready_everywhere(server.address)
    idle = socket.create_connection(server.address, timeout=10)
    status, _, old_pid = ask(idle, "GET", "/pid")
    prober = threading.Thread(target=probe, daemon=True)
    with Load(server.address, threads=2, pause=0.002) as load:
        prober.start()
        assert wait_until(lambda: load.total().ok >= 200, 10), load.total()
        text = (project / "hotapp.py").read_text().replace('VERSION = "v1"', 'VERSION = "v2"')
        (project / "hotapp.py").write_text(text)
        mark = server.mark()
        server.signal(signal.SIGHUP)
        # The worker holding `idle` keeps it open for the drain delay (not the usual 1 s)
        # once it retires; a request on it is still answered, by the old code, and closes it.
        server.wait_for(rf"\(pid {old_pid.decode()}\) retires: pid \d+ serves", 20, mark)
        assert still_open(idle, time.monotonic() + 1.5), server.log
        status, headers, body = ask(idle, "GET", "/")
        assert (status, body, headers.get("connection")) == (200, b"v1", "close")
        idle.close()
        server.wait_for(r"reload complete: \d+ worker\(s\) run generation", 30, mark)
        assert wait_until(lambda: b"v2" in load.total().bodies, 5), load.total()
        goal = load.total().ok + 200
        assert wait_until(lambda goal=goal: load.total().ok >= goal, 10), load.total()
        tally = load.stop()
        stop.set()
        prober.join(10)
    print(f"SIGHUP with --drain-delay 3 under load: {tally}; readiness {dict(readiness)}")
    assert tally.failures == [], tally
    assert tally.retried == 0, tally
    assert set(readiness) == {(200, b"ok\n")}, readiness  # the host stayed ready throughout
    assert readiness[(200, b"ok\n")] > 10
    assert server.count(r"retires: pid \d+ serves in its place", mark) == 2
    assert {http_get(server.address, "/")[1] for _ in range(10)} == {b"v2"}
