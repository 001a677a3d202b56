"""Listening sockets: SO_REUSEPORT so every worker binds its own and the kernel spreads load.

Unix domain sockets and inherited descriptors (fd://N, systemd socket activation) cannot be
bound once per worker: the master makes or receives them once and every worker shares them.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import MutableMapping

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


# -- sockets the workers share: Unix domain, inherited (fd://N), systemd socket activation ----


def listen_unix(path: str, backlog: int, mode: int | None = None) -> socket.socket:
    """A listening AF_UNIX socket at `path`, made once in the master and shared by workers.

    AF_UNIX has no SO_REUSEPORT. A stale socket file (nobody accepts on it) is replaced; a
    live one is an error, as a TCP port in use is.
    """
    if os.path.exists(path):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise ConfigError(f"cannot bind unix:{path}: it exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale: left by a server that did not clean up
        else:
            raise ConfigError(f"cannot bind unix:{path}: another server listens there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind unix:{path}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def inherited(fd: int) -> socket.socket:
    """A listening stream socket this process was given as descriptor `fd`."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"cannot use fd://{fd}: {exc.strerror or exc}") from None
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
    ):
        sock.detach()
        raise ConfigError(f"fd://{fd} is not a listening stream socket")
    sock.setblocking(False)
    return sock


SD_LISTEN_FDS_START = 3


def systemd_sockets(
    environ: MutableMapping[str, str] | None = None,
) -> list[socket.socket]:
    """The sockets systemd passed us (LISTEN_FDS/LISTEN_PID, sd_listen_fds(3)); the variables
    are removed so that no child takes them for its own."""
    if environ is None:
        environ = os.environ
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    return [inherited(SD_LISTEN_FDS_START + i) for i in range(count)]


def describe(sock: socket.socket) -> str:
    """How to reach a listening socket, for the log: http://host:port or unix:/path."""
    if sock.family == socket.AF_UNIX:
        name = sock.getsockname()
        return f"unix:{name.decode() if isinstance(name, bytes) else name}"
    host, port = sock.getsockname()[:2]
    return f"http://{format_address(host, port)}"
