"""One client connection: bytes from the socket -> protocol -> app -> answers framed -> socket.

The connection owns HTTP framing on the server side: the app answers `(status, lines, body)`
and the protocol writer renders the head (`Date`, `Connection`, `Content-Length` or chunked);
the app is reached only through the `Handler` protocol (rush.server.context).

Facts and strategy:
- One `recv` per readable event; every request completed by those bytes is answered, in
  order, and all their answers leave in one `send` (pipelining costs one syscall per batch).
- Request bodies (rush.server.intake): for each head that announces one, after `feed()`
  returns, the app is asked once for a body plan (limit, sink, wanted); the collected parts go
  to the sink then, never from inside a parser callback.
- Writes: if nothing is queued, `send` at once; only the remainder is queued (rush.server.
  output) and only then do we ask for EPOLLOUT. Above `write_high_water` queued bytes (file
  bytes included) we stop reading and answering, so a client that pipelines and never reads
  cannot grow our memory (CPython's selector transport does the same).
- Deadlines, one rule (`settle`): each phase has its timeout, restarted on entering the phase
  and on progress within it. HEAD: a request head must arrive whole within `header_timeout`
  of its first byte (slowloris); BODY and WRITING: body bytes or written bytes every
  `body_timeout`; IDLE: a keep-alive connection lives `keepalive_timeout` after its answer.
- A ProtocolError gets a canned answer with `Connection: close`, then a lingering close: we
  stop writing, drain what the client still sends for a moment, then close, so the kernel does
  not answer unread bytes with a RST that would destroy our error response in flight.
- Socket errors are a quiet close: a client that vanishes is normal, not an error to log.
  Anything the app lets escape (it should not) is logged and answered 500: the worker lives on.
"""

from __future__ import annotations

import logging
import socket
import time

from rush.protocol import ProtocolError, RequestMessage, RequestParser
from rush.protocol.writer import (
    CLOSE_LINE,
    CONTINUE,
    LENGTH_LINES,
    STATUS_LINES,
    Answer,
    FileBody,
    connection_line,
    error_response,
    has_no_body,
    has_preconditions,
    length_line,
    render,
    render_head,
    status_line,
)
from rush.proxy import forwarded_client
from rush.server.context import (
    BODY,
    CLOSED,
    HEAD,
    IDLE,
    LINGER_SECONDS,
    LINGERING,
    WRITING,
    ServerContext,
)
from rush.server.intake import plan_completed, refusal, take_bodies
from rush.server.loop import EPOLLIN, EPOLLOUT
from rush.server.output import Output, StreamFailed, close_quietly

error_log = logging.getLogger("rush.error")

_APP_FAILED = (500, b"Content-Type: text/plain; charset=utf-8\r\n", b"internal error\n")


class Connection:
    """Serves the requests of one accepted socket until either side closes it."""

    __slots__ = (
        "sock",
        "fd",
        "remote_addr",
        "ctx",
        "parser",
        "current",
        "pending",
        "pending_error",
        "output",
        "reading",
        "events",
        "close_after_write",
        "phase",
        "deadline",
    )

    def __init__(self, sock: socket.socket, remote_addr: str | None, ctx: ServerContext) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.remote_addr = remote_addr
        self.ctx = ctx
        self.parser = RequestParser(ctx.parser_limits)
        self.current: RequestMessage | None = None  # head done, body still arriving
        # Parsed requests held back by backpressure, answered once the client has read what
        # is queued; and a framing error found after them, sent after their answers.
        self.pending: list[RequestMessage] = []
        self.pending_error: ProtocolError | None = None
        self.output = Output(ctx.write_high_water)
        self.reading = True
        self.events = EPOLLIN  # the interest set registered with the loop
        self.close_after_write = False
        # A connection is accepted because a request is on its way: its head clock runs.
        self.phase = HEAD
        self.deadline = ctx.loop.now + ctx.timeouts[HEAD]
        ctx.connections[self.fd] = self
        ctx.loop.register(self.fd, self, EPOLLIN)

    @property
    def closed(self) -> bool:
        return self.phase is CLOSED

    # -- the one deadline rule -----------------------------------------------------------

    def settle(self, progress: bool) -> None:
        """Work out the phase; restart its clock when it changed or `progress` was made in it."""
        phase = self.phase
        if phase is CLOSED or phase is LINGERING:
            return
        if self.output.items or self.pending:
            new = WRITING
        elif self.current is not None:
            new = BODY
        elif self.parser.in_head:
            new = HEAD
        else:
            new = IDLE
        if new is not phase or progress:
            self.phase = new
            self.deadline = self.ctx.loop.now + self.ctx.timeouts[new]

    # -- reading -------------------------------------------------------------------------

    def on_readable(self) -> None:
        ctx = self.ctx
        try:
            size = self.sock.recv_into(ctx.recv_buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not size or self.phase is LINGERING:
            self._on_end_of_input(size)
            return
        parser = self.parser
        read = None
        if parser.resting and not self.pending:
            # PERF: a read at rest that is whole plain requests, kept alive and without a body,
            # leaves the parser as it found it (at rest): they are answered without feed()
            # (redirect 17.1k -> 14.2k instructions with answer()'s own send, bench/micro.py
            # --instructions). Any other read is fed with what was read of it here.
            read = taken, consumed = parser.read_plain(  # type: ignore[misc]  # resting
                ctx.recv_view,
                parser.max_target,
                parser.max_header_bytes,
                parser.max_header_count,
                parser.max_body,
                RequestMessage,
                size,
            )
            if consumed == size and taken[-1].keep_alive:
                for message in taken:
                    if message.body_size:
                        break
                else:
                    self.answer(taken)
                    if self.phase is CLOSED or self.close_after_write:
                        return
                    if self.output.items or self.pending:
                        self.settle(True)
                    else:  # PERF: settle() inlined, as below
                        self.phase = IDLE
                        self.deadline = ctx.loop.now + ctx.keepalive_timeout
                    return
        begun = parser.begun
        open_body = self.current
        body_before = open_body.body_size if open_body is not None else 0
        try:
            messages = parser.feed(ctx.recv_view, size, read)
        except ProtocolError as error:
            self._on_protocol_error(error, open_body)
            return
        if parser.with_body or (open_body is not None and open_body.body_sink is not None):
            refused = take_bodies(ctx, parser.with_body, open_body)
            if refused is not None:
                self._refuse(refused, messages, open_body)
                return
        if open_body is not None:
            messages.insert(0, open_body)
            self.current = None
        if messages:
            if self.pending:
                self.pending += messages  # behind requests held back by backpressure
            else:
                served = ctx.requests_served
                self.answer(messages)
                if self.phase is CLOSED or self.close_after_write:
                    return
                if ctx.requests_served != served:
                    # A request answered: a new keep-alive (or head) clock.
                    if self.output.items or self.current is not None or parser.in_head:
                        self.settle(True)
                    else:  # PERF: settle() inlined for the common case, about 400 instructions
                        self.phase = IDLE
                        self.deadline = ctx.loop.now + ctx.keepalive_timeout
                    return
        current = self.current
        if parser.in_head:
            self.settle(parser.begun != begun)  # only a new head starts its clock
        elif current is not None:
            # Only body bytes are progress: chunk extensions and size lines are parsed and
            # dropped, so a client streaming an endless one (CVE-2024-22019) meets the timeout.
            self.settle(current is not open_body or current.body_size != body_before)
        # Else only blank lines came (RFC 9112 §2.2 lets us skip them): no request, no progress.

    def _refuse(
        self,
        message: RequestMessage,
        messages: list[RequestMessage],
        open_body: RequestMessage | None,
    ) -> None:
        """A body over its limit: answer what came before it, then 413 and close."""
        self.parser = RequestParser(self.ctx.parser_limits)  # nothing after it is read
        self._on_protocol_error(refusal(message, messages, open_body), None)

    def _on_end_of_input(self, size: int) -> None:
        """A read returned EOF, or something arrived while lingering."""
        if self.phase is LINGERING:
            if not size:
                self.close()
            return
        # The client finished sending (maybe a half-close): answers already queued still go.
        if self.output.items:
            self.close_after_write = True
            self.reading = False
            self._update_events()
        else:
            self.close()

    def _on_protocol_error(self, error: ProtocolError, open_body: RequestMessage | None) -> None:
        # Requests completed before the bad bytes still get their answers, in order.
        if error.completed:
            error = plan_completed(self.ctx, error, open_body)
            self.current = None
            if error.completed:
                self.answer(error.completed)
        if self.pending:
            self.pending_error = error  # its turn comes after the held-back answers
        elif not (self.phase is CLOSED or self.close_after_write):
            self.fail(error)  # (nothing goes out after an answer with Connection: close)

    # -- answering -----------------------------------------------------------------------

    def answer(self, messages: list[RequestMessage]) -> None:
        """Answer every complete message in order; park an incomplete last one.

        The documented hot loop: the common answers (pre-rendered, or bytes from the app) are
        framed inline. Once the answers pass `write_high_water`, the rest wait in `pending`
        until the client reads: a few bytes of pipelined requests must not make megabytes of
        answers at once.
        """
        ctx = self.ctx
        pieces: list[bytes] = []
        budget = ctx.write_high_water - self.output.size
        held = None
        answer_plain = ctx.answer_plain
        if answer_plain is not None and not ctx.draining:
            # PERF: the common requests at the head of the batch are answered and framed in
            # one call (rush.protocol.answers); the loop below takes the rest, and the
            # answer `held` for the first of them, which the fast path did not frame.
            try:
                budget, held = answer_plain(
                    messages,
                    pieces,
                    ctx.prerendered,
                    ctx.date,
                    ctx.handle,
                    self.remote_addr,
                    "http",
                    budget,
                )
            except Exception:
                held = self._app_failed(messages[len(pieces)])
                budget -= sum(map(len, pieces))
            answered = len(pieces)
            ctx.requests_served += answered
            if answered == len(messages):
                if answered == 1 and not self.output.items:
                    # PERF: _send_answers' first case, write() inlined: redirect 14.8k ->
                    # 14.2k instructions (bench/micro.py --instructions).
                    data = pieces[0]
                    try:
                        sent = self.sock.send(data)
                    except (BlockingIOError, InterruptedError):
                        sent = 0
                    except OSError:
                        self.close()
                        return
                    if sent != len(data):
                        self.output.queue(data[sent:])
                        self.flush()
                    elif self.close_after_write:
                        self.finish()
                else:
                    self._send_answers(pieces)
                return
            messages = messages[answered:]
        prerendered = ctx.prerendered
        access_log = ctx.access_log
        date = ctx.date
        for message in messages:
            if budget < 0:
                self.pending.extend(messages[messages.index(message) :])
                self.reading = False
                break
            if not message.complete and not self._park(message, pieces):
                break
            keep_alive = message.keep_alive and not ctx.draining
            version = message.version
            # PERF: the common case (HTTP/1.1, kept alive) needs no Connection line, no call.
            conn = b"" if keep_alive and version == "1.1" else connection_line(keep_alive, version)
            started = time.perf_counter() if access_log else 0.0
            # PERF: a GET pays what it always did; another method one comparison more (post
            # +170 instructions, where a conditional expression cost +400: bench/micro.py
            # --instructions); only HEAD a lookup, in the health endpoint's table.
            if message.method == "GET":
                hit = prerendered.get(message.target)
            elif message.method == "HEAD":
                hit = ctx.prerendered_head.get(message.target)
            else:
                hit = None
            if hit is not None and hit[4] and has_preconditions(message.headers):
                hit = None  # the app compares them with the file's validators
            if hit is not None:
                # PERF: pre-rendered answers skip the Request object and the app entirely.
                status, line, head, content, _ = hit
                data = b"".join((line, date, conn, head, content))
                body_size = len(content)
                remote = self.remote_addr
            else:
                remote, scheme = self.remote_addr, "http"
                if ctx.trust is not None:
                    remote, scheme = forwarded_client(message.headers, remote, ctx.trust)
                if held is not None:
                    answer, held = held, None
                else:
                    try:
                        answer = ctx.handle(message, remote, scheme)
                    except Exception:
                        answer = self._app_failed(message)
                if message.body_sink is not None:
                    close_quietly(message.body_sink)  # the request is over: its spool goes
                    message.body_sink = None
                status, lines, body = answer
                if type(body) is not bytes:
                    budget -= self._frame_body(message, answer, conn, pieces, remote, started)
                    ctx.requests_served += 1
                    if self.close_after_write or not keep_alive:
                        self.close_after_write = True
                        break
                    continue
                body_size = len(body)
                if 200 <= status and status != 204 and status != 304 and message.method != "HEAD":
                    # PERF: writer.render() inlined for an answer with content (~1k
                    # instructions of the call, bench/micro.py --instructions).
                    length = LENGTH_LINES.get(body_size) or length_line(body_size)
                    first = STATUS_LINES.get(status) or status_line(status)
                    data = b"".join((first, date, conn, lines, length, body))
                else:
                    data = render(status, lines, body, conn, date, message.method == "HEAD")
            pieces.append(data)
            budget -= len(data)
            ctx.requests_served += 1
            if access_log:
                if message.method == "HEAD" or has_no_body(status):
                    body_size = 0
                access_log(remote, message, status, len(data), body_size, started)
            if not keep_alive:
                self.close_after_write = True
                break
        self._send_answers(pieces)

    def _send_answers(self, pieces: list[bytes]) -> None:
        """Send the answers of a batch, in one send when they are bytes."""
        if len(pieces) == 1 and not self.output.items:
            self.write(pieces[0])
        elif pieces:
            self.output.queue(b"".join(pieces))
            self.flush()
        elif self.output.items:
            self.flush()
        if self.pending and self.phase is not CLOSED:
            self._update_events()  # EPOLLOUT: on_writable answers the rest once the client reads

    @staticmethod
    def _app_failed(message: RequestMessage) -> Answer:
        """The app promises never to raise; if it does, this request fails alone."""
        error_log.exception("the app raised for %s %r", message.method, message.target)
        return _APP_FAILED

    def _park(self, message: RequestMessage, pieces: list[bytes]) -> bool:
        """A request whose body is still arriving: wait for it, after the 100 it may expect
        (RFC 9110 §10.1.1). True: answer it at once instead, since no route wants the body
        (without the 100, and closing rather than reading a body nobody needs)."""
        if message.expect_continue and not message.body_size:
            if not message.body_wanted:
                message.keep_alive = False
                message.complete = True
                return True
            pieces.append(CONTINUE)
            message.expect_continue = False
        self.current = message
        return False

    def _frame_body(
        self,
        message: RequestMessage,
        answer: Answer,
        conn: bytes,
        pieces: list[bytes],
        remote: str | None,
        started: float,
    ) -> int:
        """Queue an answer whose body is a file or a stream; what it adds to the queue."""
        status, lines, body = answer
        version = message.version
        sending = not (message.method == "HEAD" or has_no_body(status))
        length = body.remaining if type(body) is FileBody else body.length  # type: ignore[union-attr]
        if length is None and version != "1.1" and sending:
            conn = CLOSE_LINE  # RFC 9112 §6.3: HTTP/1.0 has no chunks; the close ends it
            self.close_after_write = True
        head = render_head(status, lines, length, conn, self.ctx.date, version == "1.1")
        pieces.append(head)
        size = len(pieces[-1])
        if self.ctx.access_log:
            sent = (length or 0) if sending else 0
            self.ctx.access_log(remote, message, status, size + sent, sent, started)
        if not sending:
            close_quietly(body)
            return size
        chunked = length is None and version == "1.1"
        return size + self.output.queue_body(pieces, body, chunked)  # type: ignore[arg-type]

    def _answer_pending(self) -> None:
        """The client has read what was queued: answer the requests held back for it."""
        pending, self.pending = self.pending, []
        error, self.pending_error = self.pending_error, None
        if pending:
            self.answer(pending)
        if error is not None:
            if self.pending:
                self.pending_error = error
            elif not (self.phase is CLOSED or self.close_after_write):
                self.fail(error)
            return
        if self.phase is CLOSED or self.close_after_write or self.output.items or self.pending:
            return
        self.reading = True
        self._update_events()
        self.settle(True)

    def fail(self, error: ProtocolError) -> None:
        """Answer a framing error or limit, then close: nothing after it can be trusted."""
        current = self.current
        if current is not None and current.body_sink is not None:
            close_quietly(current.body_sink)  # a 413 or 408 mid-body: its file goes now
            current.body_sink = None
        self.current = None
        self.close_after_write = True
        self.write(error_response(error.status, error.reason, self.ctx.date))

    # -- writing -------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send now if nothing is queued; queue only what the socket did not take."""
        if self.phase is CLOSED:
            return
        if not self.output.items:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close()
                return
            if sent == len(data):
                if self.close_after_write:
                    self.finish()
                return
            data = data[sent:]
        self.output.queue(data)
        self.flush()

    def flush(self) -> None:
        """Send what is queued until the socket is full or the queue is empty."""
        output = self.output
        try:
            output.send(self.sock)
        except (BlockingIOError, InterruptedError):
            pass
        except (OSError, StreamFailed):
            self.close()  # the client is gone, or a stream broke: what was sent is all
            return
        if output.broken:
            self.close_after_write = True
        if output.items:
            if output.size > self.ctx.write_high_water:
                self.reading = False  # backpressure: no new requests until the client reads
            self._update_events()
            self.settle(True)  # bytes left: the write clock restarts
            return
        if self.close_after_write:
            self.finish()
            return
        if self.pending:
            self._update_events()  # still paused: on_writable answers the held-back requests
            return
        self.reading = True
        self._update_events()
        self.settle(True)

    def on_writable(self) -> None:
        if self.output.items:
            self.flush()
        if self.pending and not (
            self.output.items or self.phase is CLOSED or self.close_after_write
        ):
            self._answer_pending()

    def _update_events(self) -> None:
        """Register interest in reading unless paused, in writing while output is queued."""
        if self.phase is CLOSED:
            return
        writing = self.output.items or self.pending
        events = (EPOLLIN if self.reading else 0) | (EPOLLOUT if writing else 0)
        if events != self.events:
            self.events = events
            self.ctx.loop.modify(self.fd, events)

    # -- ending --------------------------------------------------------------------------

    def finish(self) -> None:
        """Everything is sent and the connection must end: half-close, then linger briefly."""
        if self.phase is CLOSED:
            return
        self.pending = []  # the client said it is done (EOF) or an error ends the connection
        self.pending_error = None
        if (
            self.parser.idle
            and self.current is None
            and self.phase is not LINGERING
            and self._drained()
        ):
            self.close()
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.phase = LINGERING
        self.reading = True
        self._update_events()
        self.deadline = self.ctx.loop.now + LINGER_SECONDS

    def _drained(self) -> bool:
        """True when the client has sent nothing we have not read (a plain close is safe)."""
        try:
            return not self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:
            return True

    def on_timeout(self) -> None:
        """The sweep found the deadline passed: answer 408 to a half-sent request, or close
        (a connection that never began a request gets no answer, as an idle one)."""
        phase = self.phase
        if phase is BODY or (phase is HEAD and not self.parser.idle):
            self.fail(ProtocolError(408, "request timeout"))
        else:
            self.close()

    def close(self) -> None:
        if self.phase is CLOSED:
            return
        self.phase = CLOSED
        ctx = self.ctx
        ctx.loop.unregister(self.fd)
        ctx.connections.pop(self.fd, None)
        try:
            self.sock.close()
        except OSError:
            pass
        self.output.close()
        current = self.current
        if current is not None and current.body_sink is not None:
            close_quietly(current.body_sink)  # the client left mid-body
        for message in self.pending:
            if message.body_sink is not None:
                close_quietly(message.body_sink)
        self.pending = []
        if ctx.on_close is not None:
            ctx.on_close(self)

    @property
    def idle(self) -> bool:
        """No request partly read or waiting unread, nothing to send: safe to close for shutdown.

        A connection just taken from the listen queue usually holds a request not yet read:
        closing it would drop that request (and the kernel would answer it with a RST).
        """
        return (
            not self.output.items
            and not self.pending
            and self.current is None
            and self.parser.idle
            and self._drained()
        )

    def __repr__(self) -> str:
        return f"<Connection fd={self.fd} {self.remote_addr} {self.phase.value}>"


def sweep(ctx: ServerContext, now: float) -> None:
    """Enforce every connection's deadline; called from a loop timer, not per request."""
    for connection in [c for c in ctx.connections.values() if c.deadline <= now]:
        connection.on_timeout()


__all__ = ["Connection", "ServerContext", "sweep"]
