"""Server configuration: one frozen object built from keyword arguments, CLI flags and env.

Precedence, highest first: `app.run(...)` keyword arguments or CLI flags, then `RUSH_<FIELD>`
environment variables, then the defaults below. Mistakes are reported at startup as
ConfigError with the field's name.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from rush.exceptions import ConfigError
from rush.protocol import Limits
from rush.proxy import FORWARDED_HEADERS


@dataclass(frozen=True, slots=True)
class Config:
    """Every server knob with its default. Times are in seconds, sizes in bytes."""

    bind: tuple[str, ...] = ("127.0.0.1:8000",)
    workers: int | None = None
    backlog: int = 2048
    max_connections: int = 10_000
    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    max_body: int = 1024 * 1024 * 1024
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    body_timeout: float = 30.0
    graceful_timeout: float = 30.0
    write_high_water: int = 1024 * 1024
    access_log: str | None = None
    access_log_format: str = (
        '{remote} [{time}] "{request}" {status} {size} {duration_us}us "{user_agent}"'
    )
    log_level: str = "info"
    #: Replace a worker (gracefully) after it served this many requests, plus a random 0..jitter.
    max_requests: int = 0
    max_requests_jitter: int = 0
    #: Log the stack and request line of a handler running longer than this (0: off).
    handler_timeout: float = 0.0
    #: Replace a worker whose loop has been stuck this long (0: off).
    worker_timeout: float = 0.0
    #: Proxies whose X-Forwarded-For/-Proto and Forwarded headers are believed: addresses,
    #: networks (10.0.0.0/8), `unix` for Unix socket peers, `*` for all. Default: none.
    forwarded_allow_ips: tuple[str, ...] = ()
    #: Which headers those proxies set, and so which are believed (never both: a proxy passes a
    #: client's own header of the other family through): `x-forwarded` (X-Forwarded-For and
    #: X-Forwarded-Proto) or `forwarded` (RFC 7239).
    forwarded_header: str = "x-forwarded"
    #: Expect a PROXY protocol v1 line (HAProxy) at the start of every connection.
    proxy_protocol: bool = False
    #: Development: restart workers when a source file of the app changes.
    reload: bool = False
    #: Permission bits for `unix:` bind paths (e.g. 0o660); None leaves the umask's.
    unix_socket_mode: int | None = None
    #: Write the master's pid to this file (removed at exit).
    pid_file: str | None = None
    #: How `module:app` is served: `auto` (a Rush app natively, another callable as WSGI),
    #: `rush` or `wsgi`.
    interface: str = "auto"
    #: WSGI: SCRIPT_NAME, the URL prefix a proxy mounts the app at.
    root_path: str = ""
    #: `URL=DIR` folders served from Rush's file cache in front of the app.
    static: tuple[str, ...] = ()
    #: Development: an unhandled exception's 500 page shows its traceback (sets app.debug).
    debug: bool = False
    #: The workers answer GET/HEAD on this path (readiness) and on PATH/live (liveness)
    #: themselves, without the app (rush.server.health); None: off.
    health_path: str | None = None
    #: SIGTERM first drains for this long: readiness answers 503, everything else is served
    #: with `Connection: close`, then the graceful stop (0: stop at once).
    drain_delay: float = 0.0

    @property
    def limits(self) -> Limits:
        return Limits(
            self.max_request_line, self.max_header_bytes, self.max_header_count, self.max_body
        )

    @property
    def static_mounts(self) -> list[tuple[str, str]]:
        """(url, directory) of each `static` entry."""
        return [(url, directory) for url, _, directory in (s.partition("=") for s in self.static)]

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers else (os.cpu_count() or 1)

    @property
    def needs_master(self) -> bool:
        """Whether a master process must watch the workers even when there is only one."""
        return self.worker_count > 1 or bool(
            self.reload or self.max_requests or self.handler_timeout or self.worker_timeout
        )

    @classmethod
    def from_sources(
        cls, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Config:
        """Merge explicit options over `RUSH_*` environment variables over defaults."""
        environ = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        unknown = set(options) - set(known)
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, spec in known.items():
            env_value = environ.get(f"RUSH_{name.upper()}")
            if options.get(name) is not None:
                values[name] = options[name]
            elif env_value is not None and env_value != "":
                values[name] = _from_env(name, spec.default, env_value)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if isinstance(self.bind, str):
            object.__setattr__(self, "bind", (self.bind,))
        object.__setattr__(self, "bind", tuple(self.bind))
        if not self.bind:
            raise ConfigError("bind: at least one address is needed")
        for address in self.bind:
            parse_listen(address)
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers: must be at least 1 (got {self.workers})")
        for name in (
            "max_request_line",
            "max_header_bytes",
            "max_header_count",
            "backlog",
            "max_connections",
            "write_high_water",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be positive")
        if self.max_body < 0:
            raise ConfigError("max_body: must not be negative")
        for name in ("header_timeout", "keepalive_timeout", "body_timeout", "graceful_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: must be a positive number of seconds")
        for name in ("max_requests", "max_requests_jitter", "handler_timeout", "worker_timeout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must not be negative (0 turns it off)")
        if not 0 <= self.drain_delay < float("inf"):  # (NaN fails this too)
            raise ConfigError(
                f"drain_delay: must be a number of seconds, not negative (0 turns it off); "
                f"got {self.drain_delay}"
            )
        self._validate_health_path()
        if self.unix_socket_mode is not None and not 0 <= self.unix_socket_mode <= 0o777:
            raise ConfigError(f"unix_socket_mode: {self.unix_socket_mode:o} is not a mode")
        allowed = self.forwarded_allow_ips
        if isinstance(allowed, str):
            allowed = (allowed,)
        allowed = tuple(p.strip() for item in allowed for p in item.split(",") if p.strip())
        for entry in allowed:
            if entry not in ("*", "unix"):
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ConfigError(
                        f"forwarded_allow_ips: {entry!r} is not an address or network"
                    ) from None
        object.__setattr__(self, "forwarded_allow_ips", allowed)
        if self.forwarded_header not in FORWARDED_HEADERS:
            raise ConfigError(
                f"forwarded_header: {self.forwarded_header!r} is not one of "
                f"{', '.join(FORWARDED_HEADERS)}"
            )
        self._validate_app_options()

    def _validate_health_path(self) -> None:
        """A path the request target must equal byte for byte: no query, no fragment."""
        path = self.health_path or None
        object.__setattr__(self, "health_path", path)
        if path is None:
            return
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"health_path: {path!r} must start with '/' (e.g. /healthz)")
        if "?" in path or "#" in path:
            raise ConfigError(f"health_path: {path!r} must be a bare path, without '?' or '#'")
        if not path.isascii() or not path.isprintable() or " " in path:
            raise ConfigError(
                f"health_path: {path!r} must be printable ASCII without spaces, as it is sent"
            )

    def _validate_app_options(self) -> None:
        if self.interface not in INTERFACES:
            raise ConfigError(
                f"interface: {self.interface!r} is not one of {', '.join(INTERFACES)}"
            )
        if self.root_path and not self.root_path.startswith("/"):
            raise ConfigError(f"root_path: {self.root_path!r} must start with '/'")
        object.__setattr__(self, "root_path", self.root_path.rstrip("/"))
        static = (self.static,) if isinstance(self.static, str) else tuple(self.static)
        for entry in static:
            url, equals, directory = entry.partition("=")
            if not equals or not url.startswith("/") or not directory:
                raise ConfigError(f"static: {entry!r} is not URL=DIR (e.g. /static=static)")
        object.__setattr__(self, "static", static)


def _from_env(name: str, default: Any, text: str) -> Any:
    try:
        if name == "bind" or isinstance(default, tuple):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        if name == "workers":
            return int(text)
        if name == "unix_socket_mode":
            return int(text, 8)
        if isinstance(default, bool):
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise ConfigError(f"RUSH_{name.upper()}: cannot read {text!r}") from None
    return text


def parse_listen(address: str) -> tuple[str, Any]:
    """What a bind address names: ("unix", path), ("fd", n) or ("tcp", (host, port))."""
    if isinstance(address, str) and address.startswith("unix:"):
        path = address[len("unix:") :]
        if not path:
            raise ConfigError(f"bind: {address!r} names no path")
        return "unix", path
    if isinstance(address, str) and address.startswith("fd://"):
        try:
            fd = int(address[len("fd://") :])
        except ValueError:
            raise ConfigError(f"bind: {address!r} is not fd://NUMBER") from None
        if fd < 0:
            raise ConfigError(f"bind: {address!r} is not a descriptor")
        return "fd", fd
    return "tcp", parse_bind(address)


def parse_bind(address: str) -> tuple[str, int]:
    """`host:port`, `[::1]:port` or `:port` -> (host, port); a bad address is a ConfigError."""
    if not isinstance(address, str) or ":" not in address:
        raise ConfigError(f"bind: {address!r} is not HOST:PORT")
    host, _, port_text = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"bind: {address!r} has no numeric port") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"bind: port {port} is out of range")
    return host or "0.0.0.0", port


INTERFACES = ("auto", "rush", "wsgi")
DEFAULTS = {f.name: f.default for f in fields(Config) if f.default is not MISSING}
