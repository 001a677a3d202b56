"""The access log: one line per request, in a configurable format, written in batches.

It owns turning (client, request message, status, sizes, start time) into a line; it does not
configure logging. The client is the one a trusted proxy forwarded for, when there is one. Facts and strategy:
- The format (`{remote} "{request}" {status} ...`) is compiled once, at worker start, into one
  function that computes only the fields it names and fills a bytes %-template: no per-request
  parsing of the format, no dict of fields, and no decoding per field (the raw target, status and
  header bytes go in as they are; a batch is decoded once, as UTF-8 with \\xNN escapes for
  anything else, so a hostile byte cannot forge a line).
- Lines are appended to a list and handed to the `rush.access` logger as one record per flush
  (a loop timer, or when `max_lines` are waiting), so a request costs a list append instead of
  a LogRecord, a handler lock and a write() syscall.
  PERF: a record with the default format costs ~1.0 us, a logging call per request 8-12 us
  (tests/ops/measure_access_log.py on a quiet 16-core host, wrk -t1 -c50 against one pinned
  worker on the params benchmark: logging per request cost 55% of the throughput, this 1-10%,
  median of three sessions 6.6%). The bytes template is as fast as a str one; it is here for
  the escaping and to skip a decode per field.
- Handlers of `rush.access` therefore receive several lines per record, joined by newlines.
"""

from __future__ import annotations

import logging
import os
import re
import string
import time
from collections.abc import Callable
from typing import Any

from rush.exceptions import ConfigError

access_logger = logging.getLogger("rush.access")

FLUSH_INTERVAL = 1.0  # seconds: the longest a line waits before it is written
MAX_LINES = 256  # lines waiting before a flush happens at once

# field -> (its %-conversion, an expression over remote, message, status, size, body_size,
# started and the names of the compiled function's namespace); every %s value is bytes.
_FIELDS: dict[str, tuple[str, str]] = {
    "remote": ("%s", "_names.get(remote) or _name(remote)"),
    "method": ("%s", "_names.get(message.method) or _name(message.method)"),
    "target": ("%s", "message.target"),
    "path": ("%s", 'message.target.partition(b"?")[0]'),
    "version": ("%s", "_names.get(message.version) or _name(message.version)"),
    "status": ("%d", "status"),
    "size": ("%d", "size"),
    "body_size": ("%d", "body_size"),
    "duration_us": ("%d", "(_perf() - started) * 1000000"),
    "duration_ms": ("%.3f", "(_perf() - started) * 1000"),
    "time": ("%s", "_clock[0]"),
    "user_agent": ("%s", '_header(message.headers, b"user-agent")'),
    "referer": ("%s", '_header(message.headers, b"referer")'),
    "request_id": ("%s", '_header(message.headers, b"x-request-id")'),
}
_REQUEST = ("method", "target", "version")  # `{request}`: the request line, three fields
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
FIELD_NAMES = (*sorted(_FIELDS), "request", "pid", "header:NAME")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    size = len(name)
    for key, value in headers:
        if len(key) == size and key.lower() == name:
            return value
    return b"-"


def _clf_time() -> bytes:
    return time.strftime("%d/%b/%Y:%H:%M:%S %z").encode()


class _Names(dict):  # type: ignore[type-arg]
    """str -> bytes for the few strings that recur: peer addresses, methods, versions."""

    def encode(self, text: str | None) -> bytes:
        if len(self) > 10_000:
            self.clear()  # a bound, not a cache policy: peers come and go
        value = self[text] = text.encode("utf-8", "backslashreplace") if text else b"-"
        return value


class AccessLog:
    """One worker's access log buffer; `record` is what the connection calls per request."""

    def __init__(
        self,
        fmt: str,
        logger: logging.Logger = access_logger,
        max_lines: int = MAX_LINES,
    ) -> None:
        self.logger = logger
        self.lines: list[bytes] = []
        self.max_lines = max_lines
        self._clock = [_clf_time()]
        self._names = _Names()
        self.record = self._compile(fmt)

    def _compile(self, fmt: str) -> Callable[[str | None, Any, int, int, int, float], None]:
        template, exprs = parse_format(fmt)
        source = ["def record(remote, message, status, size, body_size, started):"]
        values = ", ".join(exprs) + ("," if len(exprs) == 1 else "")
        source += [
            f"    _append(_template % ({values}))" if exprs else "    _append(_template)",
            "    if len(_lines) >= _max_lines:",
            "        _flush()",
        ]
        namespace: dict[str, Any] = {
            "_append": self.lines.append,
            "_lines": self.lines,
            "_max_lines": self.max_lines,
            "_flush": self.flush,
            "_template": template,
            "_perf": time.perf_counter,
            "_clock": self._clock,
            "_header": _header,
            "_names": self._names,
            "_name": self._names.encode,
        }
        # The source is built only from the fixed expressions above; the user's format supplies
        # field names (checked against the table) and literal text (inside `_template`).
        exec(compile("\n".join(source), "<access log format>", "exec"), namespace)
        return namespace["record"]  # type: ignore[no-any-return]

    def flush(self) -> None:
        lines = self.lines
        if lines:
            text = b"\n".join(lines).decode("utf-8", "backslashreplace")
            lines.clear()
            self.logger.info("%s", text)

    def tick(self) -> None:
        """The loop timer: refresh the `{time}` text and write what is waiting."""
        self._clock[0] = _clf_time()
        self.flush()


def parse_format(fmt: str) -> tuple[bytes, list[str]]:
    """A bytes %-template and the expression for each of its conversions, from `{field}` text."""
    pieces: list[str] = []
    exprs: list[str] = []
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise ConfigError(f"access_log_format: {exc}") from None
    for literal, field, spec, conversion in parsed:
        pieces.append(literal.replace("%", "%%"))
        if field is None:
            continue
        if conversion:
            raise ConfigError(f"access_log_format: {{{field}!{conversion}}} is not supported")
        if field == "header":
            if not spec or not _HEADER_NAME.match(spec):
                raise ConfigError("access_log_format: write {header:Header-Name}")
            pieces.append("%s")
            exprs.append(f"_header(message.headers, {spec.lower().encode('latin-1')!r})")
            continue
        if spec:
            raise ConfigError(f"access_log_format: {{{field}:{spec}}} takes no format spec")
        if field == "request":
            pieces.append("%s %s HTTP/%s")
            exprs.extend(_FIELDS[name][1] for name in _REQUEST)
        elif field == "pid":
            pieces.append(str(os.getpid()))
        elif field in _FIELDS:
            conversion_spec, expression = _FIELDS[field]
            pieces.append(conversion_spec)
            exprs.append(expression)
        else:
            raise ConfigError(
                f"access_log_format: unknown field {{{field}}}; "
                f"known: {', '.join('{' + n + '}' for n in FIELD_NAMES)}"
            )
    return "".join(pieces).encode("utf-8"), exprs
