"""A socket for driving a real Connection without the kernel: what the test feeds comes out of
`recv_into`, and what the connection sends is kept in `sent`.

With an `rng`, `send` takes a random part of what it is given now and then (as a full socket
buffer would), so answers queue and backpressure holds requests back.
"""

from __future__ import annotations

import os
import random

# A real descriptor for the loop's epoll to hold; the fake socket never reads or writes it.
_EPOLL_TARGET = os.eventfd(0)


class FakeSocket:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng
        self.incoming = b""
        self.sent = bytearray()

    def fileno(self) -> int:
        return _EPOLL_TARGET

    def recv_into(self, buffer: bytearray) -> int:
        data, self.incoming = self.incoming[: len(buffer)], self.incoming[len(buffer) :]
        buffer[: len(data)] = data
        return len(data)

    def recv(self, size: int, flags: int = 0) -> bytes:
        raise BlockingIOError

    def send(self, data: bytes) -> int:
        size = len(data)
        if self.rng is not None and self.rng.random() < 0.2:
            size = self.rng.randrange(size + 1)
        self.sent += data[:size]
        return size

    def shutdown(self, how: int) -> None:
        pass

    def close(self) -> None:
        pass
