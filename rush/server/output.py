"""The answers of one connection waiting for its socket: bytes, files, streamed bodies.

Facts and strategy:
- Items leave strictly in order. Consecutive bytes are joined into one `send`.
- `size` counts every byte still to send, file bytes included, and a streamed body as
  `stream_weight` until it ends (its length is unknown): the connection compares it with its
  high-water mark to stop reading, and answering, while the client is slow.
- Files and streams get a turn of at most SEND_TURN bytes per call, so one fast download does
  not hold up the other clients of the worker. Measured on 2 cores beside one loopback
  download at ~350 MB/s: small requests on another connection had p99 65-185 ms / max 250 ms
  without turns, 19-24 / 39 ms with them, and the download did not slow down.
- A streamed body is pulled only when the socket has taken what came before, so a generator
  producing a large export runs at the client's pace and memory stays flat.
- A body that ends short of its announced length (a file shrank, a stream yielded less or
  more) sets `broken`: the connection closes after it, so the client sees the truncation.
  A stream whose iterator raises is logged and raises StreamFailed: the connection drops at
  once, without the last chunk, so the client sees the body broken rather than complete.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from rush.protocol.writer import LAST_CHUNK, FileBody, StreamBody, chunk

#: Most bytes one connection's file or streamed body may send per loop wake-up (fairness).
SEND_TURN = 1 << 20

error_log = logging.getLogger("rush.error")


class StreamFailed(Exception):
    """A streamed body's iterator raised: the connection must end now."""


class OutStream:
    """A streamed body in the queue: its framed bytes not yet taken, and how it ends."""

    __slots__ = ("body", "chunked", "buffered", "done")

    def __init__(self, body: StreamBody, chunked: bool) -> None:
        self.body = body
        self.chunked = chunked
        self.buffered = b""
        self.done = False


OutItem = bytes | FileBody | OutStream


class Output:
    """One connection's queue of answers not yet taken by the socket."""

    __slots__ = ("items", "size", "stream_weight", "broken")

    def __init__(self, stream_weight: int) -> None:
        self.items: list[OutItem] = []
        self.size = 0
        self.stream_weight = stream_weight
        self.broken = False  # a body ended short of its length: close after it

    def queue(self, item: OutItem) -> None:
        self.items.append(item)
        if type(item) is bytes:
            self.size += len(item)
        elif type(item) is FileBody:
            self.size += item.remaining
        else:
            self.size += self.stream_weight

    def queue_body(self, pieces: list[bytes], body: FileBody | StreamBody, chunked: bool) -> int:
        """Queue the answers in `pieces` (the last one `body`'s head), then `body`; what the
        body adds to `size`. `pieces` is emptied."""
        self.queue(b"".join(pieces))
        pieces.clear()
        if type(body) is FileBody:
            self.queue(body)
            return body.remaining
        self.queue(OutStream(body, chunked))  # type: ignore[arg-type]
        return self.stream_weight  # nothing more is answered until it has ended

    def send(self, sock: socket.socket) -> None:
        """Send items in order until the queue is empty; BlockingIOError when the socket is
        full or a file or stream had its turn; OSError when the client is gone."""
        items = self.items
        while items:
            item = items[0]
            if type(item) is bytes:
                if len(items) > 1 and type(items[1]) is bytes:
                    items[0] = item + items.pop(1)  # type: ignore[operator]
                    continue
                sent = sock.send(item)
                self.size -= sent
                if sent < len(item):
                    items[0] = item[sent:]
                    raise BlockingIOError
            elif type(item) is FileBody:
                self._send_file(sock.fileno(), item)
            else:
                self._send_stream(sock, item)  # type: ignore[arg-type]
            items.pop(0)

    def _send_file(self, fd: int, body: FileBody) -> None:
        turn = SEND_TURN
        while body.remaining > 0:
            if turn <= 0:
                raise BlockingIOError  # level-triggered EPOLLOUT resumes us next time round
            sent = os.sendfile(fd, body.fileno(), body.offset, min(body.remaining, turn))
            turn -= sent
            if sent == 0:  # the file shrank under us: the client gets a short body
                self.broken = True
                self.size -= body.remaining
                body.remaining = 0
                break
            body.offset += sent
            body.remaining -= sent
            self.size -= sent
        body.close()

    def _send_stream(self, sock: socket.socket, out: OutStream) -> None:
        turn = SEND_TURN
        while True:
            buffered = out.buffered
            if buffered:
                sent = sock.send(buffered)
                out.buffered = buffered[sent:]
                if sent < len(buffered):
                    raise BlockingIOError
            if out.done:
                self.size -= self.stream_weight
                return
            if turn <= 0:
                raise BlockingIOError
            data = self._pull(out)
            if data:
                turn -= len(data)
                out.buffered = chunk(data) if out.chunked else data

    def _pull(self, out: OutStream) -> bytes:
        """The stream's next bytes (b"" once it ended, its end framed into `buffered`)."""
        body = out.body
        try:
            data = next(body.iterator)
        except StopIteration:
            out.done = True
            out.buffered = LAST_CHUNK if out.chunked else b""
            if body.length is not None and body.sent != body.length:
                self.broken = True  # fewer bytes than announced
            close_quietly(body)
            return b""
        except Exception as exc:
            error_log.exception("a streamed response body failed after %d bytes", body.sent)
            raise StreamFailed from exc
        if body.length is not None and body.sent + len(data) > body.length:
            data = data[: body.length - body.sent]  # never more than the announced length
            self.broken = True
        body.sent += len(data)
        return data

    def close(self) -> None:
        """The connection ends: close every file and stream still queued."""
        items, self.items = self.items, []
        self.size = 0
        for item in items:
            if type(item) is FileBody:
                item.close()
            elif type(item) is OutStream:
                close_quietly(item.body)  # the client left: the generator's finally runs


def close_quietly(closable: Any) -> None:
    """Close something the app made (a sink, a stream); what it raises is logged."""
    try:
        closable.close()
    except Exception:
        error_log.exception("closing %r failed", closable)
