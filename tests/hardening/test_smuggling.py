"""The request corpus replayed against a real server over sockets.

Every invalid case must get its 4xx/5xx (after the answers to the requests completed before the
bad bytes), with `Connection: close`, and then the connection must end; a keep-alive connection
opened before the attack and a fresh one opened after it must both still get a normal 200.
Every valid case must get exactly one final answer per request, none of them a 400.
Cases with their own `limits` run against a server started with those limits. Every case runs
twice: against a Rush app, and against a WSGI app on the same engine (rush.wsgihost), whose
bodies take another path (always planned, spooled past a threshold).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.hardening.servers import HardServer, start
from tests.support.client import Reader, ServerClosed, connect, request, wait_closed
from tests.support.protocol import Case, load_cases, random_split

INVALID = load_cases("invalid")
VALID = load_cases("valid")
PROBE = request("GET", "/")
#: The app each run serves: the hardening Rush app, and its WSGI twin.
APPS = {"rush": "tests.hardening.app:app", "wsgi": "tests.wsgi.apps:hardening"}


def limit_args(case: Case) -> tuple[str, ...]:
    args: list[str] = []
    for name, value in sorted(case.expect.get("limits", {}).items()):
        args += ["--" + name.replace("_", "-"), str(value)]
    return tuple(args)


class Servers(dict[tuple[str, ...], HardServer]):
    """One server of `app` per distinct set of limits, started when a case first needs it."""

    def __init__(self, app: str) -> None:
        super().__init__()
        self.app = app


@pytest.fixture(scope="module", params=sorted(APPS))
def servers(request) -> Iterator[Servers]:
    started = Servers(APPS[request.param])
    yield started
    for server in started.values():
        server.stop()


def server_for(servers: Servers, case: Case) -> HardServer:
    args = limit_args(case)
    if args not in servers:
        servers[args] = start(servers.app, *args)
    return servers[args]


def send(sock: socket.socket, data: bytes, how: str) -> None:
    """Send whole, or in seeded random pieces with a pause between them (several reads)."""
    if how == "whole":
        sock.sendall(data)
        return
    for piece in random_split(data, seed=len(data)):
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return  # the server already answered and closed: that is allowed
        time.sleep(0.002)


def final_responses(
    reader: Reader, wanted: int, deadline: float, heads: frozenset[int] = frozenset()
) -> list:
    """Up to `wanted` final (non-1xx) responses; fewer if the server closes first.

    `heads`: the indexes of the answers to HEAD requests (a length but no body follows).
    """
    answers = []
    while len(answers) < wanted:
        try:
            response = reader.read_response(
                head_only=len(answers) in heads, timeout=max(0.1, deadline - time.monotonic())
            )
        except ServerClosed:
            break
        if response.status >= 200:
            answers.append(response)
    return answers


def assert_still_serving(port: int, bystander: socket.socket) -> None:
    bystander.sendall(PROBE)
    answer = Reader(bystander).read_response()
    assert answer.status == 200 and answer.body == b"ok", answer.raw
    with connect(port) as fresh:
        fresh.sendall(PROBE)
        answer = Reader(fresh).read_response()
        assert answer.status == 200 and answer.body == b"ok", answer.raw


@pytest.mark.parametrize("how", ["whole", "pieces"])
@pytest.mark.parametrize("case", INVALID, ids=[case.name for case in INVALID])
def test_invalid_case_over_a_socket(servers, case: Case, how: str) -> None:
    server = server_for(servers, case)
    completed = case.expect.get("completed", 0)
    with connect(server.port) as bystander, connect(server.port) as sock:
        send(sock, case.data, how)
        reader = Reader(sock)
        answers = final_responses(reader, completed + 1, time.monotonic() + 5)
        where = f"{case.name}: {[a.raw[:80] for a in answers]}"
        # The requests completed before the bad bytes are answered; one of them may close.
        closed_early = any(a.closes for a in answers[:completed])
        if closed_early:
            assert answers[-1].closes and len(answers) <= completed, where
        else:
            assert len(answers) == completed + 1, where
            error = answers[-1]
            assert error.status == case.expect["status"], where
            assert error.closes, where
        for answer in answers[:-1]:
            assert answer.status != 400 and not answer.closes, where
        assert not reader.buffer, f"{case.name}: bytes after the error: {bytes(reader.buffer)!r}"
        assert wait_closed(sock, 5), f"{case.name}: the connection stayed open"
        assert_still_serving(server.port, bystander)


@pytest.mark.parametrize("case", VALID, ids=[case.name for case in VALID])
def test_valid_case_over_a_socket(servers, case: Case) -> None:
    """Each request of a valid stream gets one answer: no request lost, none invented.

    When the connection stays open after the stream, a probe request follows it: its answer
    must come right after theirs, so nothing was left over or made up in between.
    """
    server = server_for(servers, case)
    wanted = len(case.expect["messages"])
    reusable = case.expect["messages"][-1]["keep_alive"]
    with connect(server.port) as sock:
        sock.sendall(case.data + (PROBE if reusable else b""))
        reader = Reader(sock)
        messages = case.expect["messages"]
        heads = frozenset(i for i, m in enumerate(messages) if m["method"] == "HEAD")
        answers = final_responses(reader, wanted + 1, time.monotonic() + 5, heads)
        where = f"{case.name}: {[a.raw[:60] for a in answers]}"
        if reusable:
            assert len(answers) == wanted + 1, where
            probe = answers.pop()
            assert probe.status == 200 and probe.body == b"ok", where
        else:
            assert len(answers) == wanted and answers[-1].closes, where
            assert wait_closed(sock, 5), where
        assert all(a.status < 500 and a.status != 400 for a in answers), where
        assert not reader.buffer, where


def test_corpus_figures(record_property) -> None:
    record_property("corpus", json.dumps({"valid": len(VALID), "invalid": len(INVALID)}))
    assert len(INVALID) >= 150 and len(VALID) >= 50
