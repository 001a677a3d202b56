"""Fault injection over real sockets: whatever user code does wrong, the worker answers, serves on.

DESIGN.md, errors: anything user code raises (handler, hook, error handler, body sink, upload
save, return value, response rendering) is logged once with its traceback to `rush.error` and
answered 500, or with the intended answer (`abort(response)` answers that response, as in
Flask); a bad value (status outside 100..599, CR/LF/NUL in a header, non-latin-1 header text,
an unsupported return type) is refused when the answer is built, with a log line naming the
function that produced it, and never sent.

Each fault of tests/apps/faulty.py is driven on one keep-alive connection between two
`GET /pid`, against both of its apps (with and without after_request hooks), with one worker
(in-process) and with two; once one request at a time, and once pipelined in one write (the
README's promise: "the worker and the connection's other requests carry on").
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.support.client import Reader, ServerClosed, connect, request
from tests.support.polling import wait_until
from tests.support.process import RushServer, start_server

LOG_TIMEOUT = 5.0

#: One record of the CLI's log format: `[asctime] [pid] [LEVEL] message`, then any traceback.
_RECORD = re.compile(r"^\[[^\]]*\] \[(\d+)\] \[([A-Z]+)\] ")
_PROBLEM_LEVELS = {"WARNING", "ERROR", "CRITICAL"}


def raised(marker: str) -> str:
    """The last line of the traceback of a `Fault(marker)` from the faulty app."""
    return rf"^tests\.apps\.faulty\.Fault: {re.escape(marker)}$"


def multipart(name: str, filename: str, content: bytes) -> tuple[list[tuple[str, str]], bytes]:
    boundary = "faultyboundary"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return [("Content-Type", f"multipart/form-data; boundary={boundary}")], body


@dataclass(frozen=True)
class Fault:
    """One route of tests/apps/faulty.py and what it must be answered and logged."""

    name: str
    status: int = 500
    method: str = "GET"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    answer_body: bytes | None = None  # the exact body expected, where it matters
    traceback: str | None = None  # regex of the exception line logged exactly once
    culprit: str | None = None  # the user function the log record must name
    needs_after_hooks: bool = False

    def request(self) -> bytes:
        return request(self.method, f"/fault/{self.name}", self.headers, self.body)

    @property
    def logged(self) -> bool:
        return self.traceback is not None or self.culprit is not None


_UPLOAD_HEADERS, _UPLOAD_BODY = multipart("f", "x.txt", b"some content")

FAULTS = [
    # Exceptions from user code: a logged 500.
    Fault("handler-raises", traceback=raised("FAULT-handler-raises")),
    Fault("before-hook-raises", traceback=raised("FAULT-before-hook-raises")),
    Fault(
        "after-hook-raises",
        traceback=raised("FAULT-after-hook-raises"),
        needs_after_hooks=True,
    ),
    Fault("error-handler-raises", traceback=raised("FAULT-error-handler-raises")),
    Fault("500-handler-raises", traceback=raised("FAULT-500-handler-raises")),
    Fault("stream-raises", method="POST", body=b"chunk", traceback=raised("FAULT-stream-raises")),
    Fault(
        "upload-save-fails",
        method="POST",
        headers=_UPLOAD_HEADERS,
        body=_UPLOAD_BODY,
        traceback=r"^FileNotFoundError: .*/nonexistent-FAULT-upload-save/x",
    ),
    # Intended answers: no 500, nothing logged.
    Fault("abort-response", status=418, answer_body=b"teapot"),
    Fault(
        "bad-json",
        status=400,
        method="POST",
        headers=[("Content-Type", "application/json")],
        body=b"{not json",
    ),
    # Bad values from user code: refused when the answer is built, the culprit named.
    Fault("after-hook-returns-text", culprit="after_hook_returns_text", needs_after_hooks=True),
    Fault("after-hook-returns-int", culprit="after_hook_returns_int", needs_after_hooks=True),
    Fault("error-handler-returns-object", culprit="unprocessable_handler_returns_object"),
    Fault("abort-99", culprit="abort_99"),
    Fault("abort-str", culprit="abort_str"),
    Fault("abort-600", culprit="abort_600"),
    Fault("response-status-600", culprit="response_status_600"),
    Fault("response-status-99", culprit="response_status_99"),
    Fault("response-status-str", culprit="response_status_str"),
    Fault("tuple-status-600", culprit="tuple_status_600"),
    Fault("header-crlf", culprit="header_crlf"),
    Fault("tuple-header-crlf", culprit="tuple_header_crlf"),
    Fault("content-type-crlf", culprit="content_type_crlf"),
    Fault("redirect-crlf", culprit="redirect_crlf"),
    Fault("header-nul", culprit="header_nul"),
    Fault("header-name-space", culprit="header_name_space"),
    Fault("header-name-colon", culprit="header_name_colon"),
    Fault("header-name-cr", culprit="header_name_cr"),
    Fault("header-non-latin1", culprit="header_non_latin1"),
    Fault("return-object", culprit="return_object"),
    Fault("return-set", culprit="return_set"),
    Fault("return-int", culprit="return_int"),
    Fault("return-unserialisable", culprit="return_unserialisable"),
]

#: (app attribute in tests/apps/faulty.py, --workers): the servers the faults run against.
SERVERS = [("app", 1), ("app", 2), ("hooked", 1), ("hooked", 2)]

CASES = [
    pytest.param(app, workers, fault, id=f"{app}-{workers}w-{fault.name}")
    for app, workers in SERVERS
    for fault in FAULTS
    if app == "hooked" or not fault.needs_after_hooks
]

_tokens = itertools.count()


@pytest.fixture(scope="module")
def faulty() -> Iterator[Callable[[str, int], RushServer]]:
    """`faulty(app, workers)`: one server per (app, workers) for the module, started on first
    use; one that exited (a fault killed its only process) is replaced, so that one fault's
    failure does not fail the faults after it."""
    started: dict[tuple[str, int], RushServer] = {}

    def get(app: str, workers: int) -> RushServer:
        server = started.get((app, workers))
        if server is not None and server.proc.poll() is not None:
            server.stop()
            server = None
        if server is None:
            server = start_server(app=f"tests.apps.faulty:{app}", workers=workers)
            started[(app, workers)] = server
        return server

    yield get
    for server in started.values():
        server.stop()


@dataclass
class Record:
    pid: int
    level: str
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def records(lines: list[str]) -> list[Record]:
    """Log lines grouped into records: a record's line, then its traceback lines."""
    found: list[Record] = []
    for line in lines:
        match = _RECORD.match(line)
        if match:
            found.append(Record(int(match.group(1)), match.group(2), [line]))
        elif found:
            found[-1].lines.append(line)
        else:
            found.append(Record(0, "", [line]))
    return found


def logged_until_sync(server: RushServer, start: int, token: str) -> list[str]:
    """The log lines from `start` up to the worker's `faulty-sync token` line."""
    sync = f"faulty-sync {token}"
    server.wait_for(rf"^{re.escape(sync)}$", LOG_TIMEOUT, start)
    lines = server.output.snapshot()[start:]
    return lines[: lines.index(sync)]


def worker_lives(server: RushServer, pid: int) -> bool:
    if server.proc.poll() is not None:
        return False
    return pid == server.pid or pid in server.workers()


def drive(server: RushServer, fault: Fault, pipelined: bool):
    """GET /pid, the fault, GET /pid?sync on one connection: the three answers and the log."""
    token = f"{next(_tokens)}-{fault.name}"
    requests = [request("GET", "/pid"), fault.request(), request("GET", f"/pid?sync={token}")]
    steps = ["the first GET /pid", f"the fault {fault.name}", "the GET /pid after the fault"]
    start = server.mark()
    answers = []
    with connect(server.port) as sock:
        reader = Reader(sock)
        if pipelined:
            sock.sendall(b"".join(requests))
        for step, raw in zip(steps, requests, strict=True):
            if not pipelined:
                sock.sendall(raw)
            try:
                answers.append(reader.read_response())
            except (ServerClosed, ConnectionError) as error:
                if pipelined:
                    step += " (all three pipelined: their answers leave together)"
                broken(server, answers, f"answering {step}: {error}")
    return answers, logged_until_sync(server, start, token)


def broken(server: RushServer, answers: list, what: str) -> None:
    """Fail for a connection the server dropped; stop the server, so that the next fault
    gets a fresh one instead of a dead or respawning worker."""
    pid = int(answers[0].body) if answers else None
    died = pid is not None and wait_until(lambda: not worker_lives(server, pid), 1.0)
    fate = "unknown" if pid is None else "died" if died else "still lives"
    log = server.log[-3000:]
    server.stop()
    pytest.fail(f"the connection closed instead of {what}; worker {pid}: {fate}\nlog:\n{log}")


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-by-one", "pipelined"])
@pytest.mark.parametrize(("app", "workers", "fault"), CASES)
def test_a_fault_is_answered_logged_once_and_the_worker_serves_on(
    faulty, app, workers, fault, pipelined
):
    server = faulty(app, workers)
    (before, answer, after), log = drive(server, fault, pipelined)
    pid = int(before.body)

    head = answer.raw.split(b"\r\n\r\n", 1)[0]
    assert answer.status == fault.status, f"answered {head!r}"
    if fault.answer_body is not None:
        assert answer.body == fault.answer_body
    assert b"evil" not in answer.raw, f"a header injection went out: {answer.raw!r}"
    assert b"FAULT" not in answer.raw, f"the fault leaked to the client: {answer.raw!r}"
    assert not answer.closes, "the fault closed the connection"
    assert after.status == 200 and not after.closes
    assert int(after.body) == pid, "another process answered after the fault"
    assert worker_lives(server, pid), f"worker {pid} is gone"

    problems = [r for r in records(log) if r.pid == pid and r.level in _PROBLEM_LEVELS]
    text = "\n".join(log)
    if not fault.logged:
        assert not problems and "Traceback" not in text, f"an intended answer was logged:\n{text}"
        return
    assert len(problems) == 1, f"{len(problems)} log records for one fault:\n{text}"
    record = problems[0].text
    if fault.traceback is not None:
        count = sum(1 for line in log if re.search(fault.traceback, line))
        assert count == 1, f"the traceback is logged {count} times:\n{text}"
        assert re.search(fault.traceback, record, re.MULTILINE) and "Traceback" in record, text
    if fault.culprit is not None:
        assert fault.culprit in record, f"the log record does not name {fault.culprit}:\n{text}"
