"""The access log: its format, its buffering, and reopening its file on SIGUSR1."""

from __future__ import annotations

import logging
import os
import re
import signal
import time

import pytest

from rush.exceptions import ConfigError
from rush.protocol.parser import RequestMessage
from rush.server.accesslog import AccessLog
from tests.support.client import http_get
from tests.support.polling import wait_until

ANSWER = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!"
# What the connection hands the log for ANSWER: status, bytes sent, body bytes sent.
SENT = (404, len(ANSWER), 5)


def message(target=b"/hello?name=bill", headers=()):
    msg = RequestMessage()
    msg.method = "GET"
    msg.target = target
    msg.headers = list(headers)
    return msg


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


@pytest.fixture
def collected():
    logger = logging.getLogger("test.ops.access")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler.records
    logger.removeHandler(handler)


def test_every_field_of_the_format(collected):
    logger, records = collected
    log = AccessLog(
        '{remote} "{request}" {method} {target} {path} {version} {status} {size} {body_size} '
        '{duration_us} "{user_agent}" {request_id} {referer} {header:X-Custom} {pid} 100%',
        logger,
    )
    headers = [(b"User-Agent", b"curl/8.0"), (b"X-REQUEST-ID", b"req-1"), (b"x-custom", b"yes")]
    log.record("192.0.2.1", message(headers=headers), *SENT, time.perf_counter())
    log.flush()
    fields = records[0].split(" ")
    assert (
        fields[:13]
        == [
            "192.0.2.1",
            '"GET',
            "/hello?name=bill",
            'HTTP/1.1"',
            "GET",
            "/hello?name=bill",
            "/hello",
            "1.1",
            "404",
            str(len(ANSWER)),
            "5",
        ]
        + fields[11:13]
    )
    assert int(fields[11]) >= 0
    assert fields[12:] == ['"curl/8.0"', "req-1", "-", "yes", str(os.getpid()), "100%"]


def test_missing_values_and_file_answers(collected):
    logger, records = collected
    log = AccessLog("{remote} {status} {size} {body_size} {user_agent} {time}", logger)

    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    log.record(None, message(), 200, len(head) + 1000, 1000, 0.0)
    log.flush()
    remote, status, size, body_size, agent, when = records[0].split(" ", 5)
    assert (remote, status, body_size, agent) == ("-", "200", "1000", "-")
    assert int(size) == len(head) + 1000
    assert re.match(r"\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$", when)


def test_lines_are_buffered_and_written_in_batches(collected):
    logger, records = collected
    log = AccessLog("{status}", logger, max_lines=10)
    for _ in range(9):
        log.record("a", message(), *SENT, 0.0)
    assert records == []  # nothing written per request
    log.record("a", message(), *SENT, 0.0)
    assert records == ["\n".join(["404"] * 10)]  # the 10th line flushes all, as one record
    log.record("a", message(), *SENT, 0.0)
    log.tick()  # the loop timer writes what waits
    assert records[1] == "404"
    log.tick()
    assert len(records) == 2  # nothing waiting, nothing written


@pytest.mark.parametrize(
    ("fmt", "message_part"),
    [
        ("{nope}", "unknown field {nope}"),
        ("{header}", "{header:Header-Name}"),
        ("{header:bad name}", "{header:Header-Name}"),
        ("{status:>5}", "takes no format spec"),
        ("{remote!r}", "not supported"),
        ("{remote", "access_log_format"),
    ],
)
def test_a_bad_format_is_a_config_error(fmt, message_part):
    with pytest.raises(ConfigError, match=re.escape(message_part)):
        AccessLog(fmt)


def test_a_bad_format_stops_the_server_at_startup(rush):
    server = rush(
        "--bind", "127.0.0.1:0", "--access-log", "-", "--access-log-format", "{x}", ready=None
    )
    assert server.wait_exit(10) == 2
    assert "rush: error: access_log_format: unknown field {x}" in server.log


def read_lines(path) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


@pytest.mark.slow
def test_the_access_log_file_end_to_end_with_reopen_on_sigusr1(rush, tmp_path):
    path = tmp_path / "access.log"
    server = rush(
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--access-log",
        str(path),
        "--access-log-format",
        '{remote} "{request}" {status} {size} {duration_us}us "{user_agent}" {request_id}',
        ready=2,
    )
    for i in range(5):
        http_get(
            server.address, f"/hello?i={i}", [("User-Agent", "ops-test"), ("X-Request-ID", f"r{i}")]
        )
    assert wait_until(lambda: sum("ops-test" in line for line in read_lines(path)) == 5, 5)
    line = next(line for line in read_lines(path) if "r3" in line)
    assert re.fullmatch(
        r'127\.0\.0\.1 "GET /hello\?i=3 HTTP/1\.1" 404 \d+ \d+us "ops-test" r3', line
    ), line
    # logrotate: move the file, then SIGUSR1 to the master; new lines go to a new file.
    os.rename(path, tmp_path / "access.log.1")
    mark = server.mark()
    server.signal(signal.SIGUSR1)
    server.wait_for("reopening log files", 5, mark)
    # Each worker reopens when it handles its SIGUSR1: a request before that is logged to the
    # old file, as it should be; wait until both have.
    assert wait_until(lambda: server.count("reopened its log files", mark) >= 2, 5)
    assert wait_until(lambda: path.exists(), 5)
    http_get(server.address, "/", [("X-Request-ID", "after-rotation")])
    assert wait_until(lambda: any("after-rotation" in x for x in read_lines(path)), 5)
    assert not any("after-rotation" in x for x in read_lines(tmp_path / "access.log.1"))
    # SIGTERM writes what is still buffered.
    for i in range(20):
        http_get(server.address, "/", [("X-Request-ID", f"last{i}")])
    server.signal(signal.SIGTERM)
    assert server.wait_exit(10) == 0
    assert sum("last" in x for x in read_lines(path)) == 20
