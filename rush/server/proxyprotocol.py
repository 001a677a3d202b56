"""The PROXY protocol (HAProxy, v1 text and v2 binary): the client's address, before HTTP.

With `proxy_protocol` on, every accepted connection must begin with a PROXY header; this
reader takes it (peeking, so not one HTTP byte is consumed), then hands the socket to a normal
Connection whose remote address is the one the proxy reported. A connection without a valid
header within `header_timeout` is closed. Nothing here runs when the option is off: the
listener makes a Connection directly.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from rush.server.connection import Connection
from rush.server.context import Phase, ServerContext
from rush.server.loop import EPOLLIN

V1_MAX = 107  # the longest v1 line, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_HEAD = struct.Struct("!12sBBH")


class ProxyHeaderError(ValueError):
    pass


def parse_header(data: bytes) -> tuple[int, str | None] | None:
    """(bytes the header takes, client address or None for LOCAL/UNKNOWN); None: need more."""
    if data.startswith(V2_SIGNATURE[: len(data)]) and len(data) < 16:
        return None
    if data.startswith(V2_SIGNATURE):
        _, version_command, family, length = _V2_HEAD.unpack_from(data)
        if version_command >> 4 != 2:
            raise ProxyHeaderError("PROXY v2: unknown version")
        if len(data) < 16 + length:
            return None
        body = data[16 : 16 + length]
        if version_command & 0x0F == 0:  # LOCAL: a health check from the proxy itself
            return 16 + length, None
        if family >> 4 == 1 and len(body) >= 12:
            return 16 + length, str(ipaddress.IPv4Address(body[:4]))
        if family >> 4 == 2 and len(body) >= 36:
            return 16 + length, str(ipaddress.IPv6Address(body[:16]))
        return 16 + length, None
    if not b"PROXY "[: len(data)] == data[:6]:
        raise ProxyHeaderError("no PROXY header")
    end = data.find(b"\r\n")
    if end == -1:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 line too long")
        return None
    parts = data[:end].decode("ascii", "replace").split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return end + 2, None
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("malformed PROXY v1 line")
    try:
        address = ipaddress.ip_address(parts[2])
    except ValueError:
        raise ProxyHeaderError("bad source address in PROXY line") from None
    return end + 2, str(address)


class ProxyHeaderReader:
    """Waits for one PROXY header on an accepted socket, then becomes a Connection."""

    __slots__ = ("sock", "fd", "peer", "ctx", "timer")

    def __init__(self, sock: socket.socket, peer: str | None, ctx: ServerContext) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.ctx = ctx
        ctx.loop.register(self.fd, self, EPOLLIN)
        self.timer = ctx.loop.call_later(ctx.timeouts[Phase.HEAD], self.close)

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(V1_MAX + 216, socket.MSG_PEEK)
            if not data:
                self.close()
                return
            found = parse_header(data)
            if found is None:
                return
            size, client = found
            self.sock.recv(size)  # consume exactly the header; HTTP bytes stay queued
        except (BlockingIOError, InterruptedError):
            return
        except (OSError, ProxyHeaderError):
            self.close()
            return
        self.timer.cancel()
        self.ctx.loop.unregister(self.fd)
        connection = Connection(self.sock, client or self.peer, self.ctx)
        connection.on_readable()  # bytes that came with the header are waiting already

    def on_writable(self) -> None:  # pragma: no cover - never asks for EPOLLOUT
        pass

    def close(self) -> None:
        self.timer.cancel()
        self.ctx.loop.unregister(self.fd)
        try:
            self.sock.close()
        except OSError:
            pass
