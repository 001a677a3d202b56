"""The plain-answer fast path: a batch of plain requests answered and framed in one call.

Facts and strategy:
- `answer_plain(messages, pieces, prerendered, date, handle, remote, scheme, budget)` walks
  `messages` from the first while each is *plain to answer*: complete, kept alive, HTTP/1.1,
  not HEAD, its body (if any) in memory (no sink). A GET whose target is in `prerendered`
  (target -> `(status, status_line, head, body, conditional)`, the server's table of answers
  rendered once) becomes `status_line + date + head + body`, unless `conditional` is True and
  the request has a field of writer.PRECONDITION_FIELDS; any other request is answered by
  `handle(message, remote, scheme)`, and an answer `(status, lines, body)` with an int status
  in 200..599 but 204 and 304, bytes lines and body, and a status line in `STATUS_LINES`
  becomes `status_line + date + lines + Content-Length + body`: what the server's own loop
  (rush.server.connection) renders for it, byte for byte. Each framed answer is appended to
  `pieces` and its size taken from `budget`.
- It stops before a message that is not plain to answer, or when `budget` is below zero,
  returning `(budget, None)`; and after `handle` gave an answer it does not frame (a file, a
  stream, a 204, an unknown status...), returning `(budget, answer)`: that answer belongs to
  `messages[len(pieces)]` and the caller frames it without asking `handle` again. What
  `handle` raises propagates; the messages answered so far are the first `len(pieces)`.
- So the caller's loop stays the one definition of everything unusual, and a batch of common
  requests (wrk's, a browser's, a pipeline) costs one call instead of a Python loop turn
  each.
- Two implementations, one behaviour: the C accelerator `rush.protocol._answers` (used with
  the C request heads, whose messages it reads directly) and `python_answer_plain` below;
  tests hold both to what the server's loop alone sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rush.protocol.heads import COMPILED, IMPLEMENTATION, PURE
from rush.protocol.writer import (
    LENGTH_LINES,
    STATUS_LINES,
    Answer,
    Prerendered,
    has_preconditions,
    length_line,
)

#: answer_plain's signature: (messages, pieces, prerendered, date, handle, remote, scheme,
#: budget) -> (budget, held).
AnswerPlain = Callable[
    [
        list[Any],
        list[bytes],
        dict[bytes, Prerendered],
        bytes,
        Callable[[Any, str | None, str], Answer],
        str | None,
        str,
        int,
    ],
    tuple[int, Answer | None],
]


def python_answer_plain(
    messages: list[Any],
    pieces: list[bytes],
    prerendered: dict[bytes, Prerendered],
    date: bytes,
    handle: Callable[[Any, str | None, str], Answer],
    remote: str | None,
    scheme: str,
    budget: int,
    /,
) -> tuple[int, Answer | None]:
    """The pure-Python implementation of `answer_plain` (see the module notes)."""
    for message in messages:
        if budget < 0:
            break
        if not (
            message.complete is True
            and message.keep_alive is True
            and message.body_sink is None
            and message.version == "1.1"
        ):
            break
        method = message.method
        if method == "HEAD":
            break
        hit = prerendered.get(message.target) if method == "GET" else None
        if hit is not None:
            if not _renders(hit):
                break  # not an entry of the server's table: the caller's loop answers
            if hit[4] and has_preconditions(message.headers):
                hit = None  # the app compares them with the file's validators
        if hit is not None:
            data = b"".join((hit[1], date, hit[2], hit[3]))
        else:
            answer = handle(message, remote, scheme)
            framed = _framed(answer, date)
            if framed is None:
                return budget, answer
            data = framed
        pieces.append(data)
        budget -= len(data)
    return budget, None


def _renders(hit: Any) -> bool:
    return (
        type(hit) is tuple
        and len(hit) == 5
        and type(hit[1]) is bytes
        and type(hit[2]) is bytes
        and type(hit[3]) is bytes
        and type(hit[4]) is bool
    )


def _framed(answer: Any, date: bytes) -> bytes | None:
    """The whole response for an answer with content in bytes; None for any other."""
    if type(answer) is not tuple or len(answer) != 3:
        return None
    status, lines, body = answer
    if type(status) is not int or type(lines) is not bytes or type(body) is not bytes:
        return None
    if not 200 <= status <= 599 or status == 204 or status == 304:
        return None
    first = STATUS_LINES.get(status)
    if first is None:
        return None
    size = len(body)
    return b"".join((first, date, lines, LENGTH_LINES.get(size) or length_line(size), body))


def _select() -> tuple[AnswerPlain, str]:
    """The C accelerator where the C request heads are used (it reads their messages)."""
    if IMPLEMENTATION != COMPILED:
        return python_answer_plain, PURE
    try:
        from rush.protocol._answers import answer_plain as compiled
    except ImportError:
        return python_answer_plain, PURE
    return compiled, COMPILED


answer_plain, ANSWERS_IMPLEMENTATION = _select()
