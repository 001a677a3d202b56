"""Listening sockets: SO_REUSEPORT so every worker binds its own and the kernel spreads load."""

from __future__ import annotations

import socket

from rush.exceptions import ConfigError


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def make_socket(host: str, port: int) -> socket.socket:
    """A bound, non-listening TCP socket with SO_REUSEADDR and SO_REUSEPORT."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
    return sock


def reserve(host: str, port: int) -> tuple[socket.socket, int]:
    """Bind without listening, to fix the port (port 0 included) before workers fork.

    A bound socket that does not listen receives no connections, yet it holds the port in
    the SO_REUSEPORT group, so every worker binding the same port joins the same group.
    """
    sock = make_socket(host, port)
    return sock, sock.getsockname()[1]


def listen(host: str, port: int, backlog: int) -> socket.socket:
    sock = make_socket(host, port)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
