"""The load balancers of the scale-out bed: deploy/'s nginx and HAProxy configs, run for real.

Each config is read from deploy/ and changed only where a test machine must differ from a
server: file paths, the user, and the upstream read timeout (30 s in production; 3 s here, so
that a request caught on a cut link is retried within a scenario's few seconds). Every
replaced text is asserted to be there, so an edit of the deploy file cannot silently escape
the test. The balancer runs in the foreground inside the balancer's namespace, its log in a
file; `hosts_up()` says which hosts it currently sends requests to.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.scaleout.hosts import PORT as HOST_PORT
from tests.scaleout.hosts import ROOT, request
from tests.scaleout.netns import Bed
from tests.support.polling import wait_until

DEPLOY = ROOT / "deploy"
PORT = 80
READ_TIMEOUT = 3  # seconds; see the module docstring


def which(program: str) -> str | None:
    return shutil.which(program) or next(
        (p for p in (f"/usr/sbin/{program}", f"/sbin/{program}") if Path(p).exists()), None
    )


def substitute(text: str, replacements: list[tuple[str, str]]) -> str:
    """`text` with each `old` replaced by its `new`; AssertionError for an `old` not there."""
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"the deploy config no longer has {old!r}: update the test bed")
        text = text.replace(old, new)
    return text


class Balancer:
    """One balancer process in the bed's `lb` namespace (subclasses: the program and config)."""

    name = ""
    program = ""

    def __init__(
        self,
        bed: Bed,
        directory: Path,
        *,
        proxy_protocol: bool = False,
        port: int = PORT,
        host_port: int = HOST_PORT,
    ) -> None:
        self.bed, self.directory = bed, directory
        self.proxy_protocol, self.port, self.host_port = proxy_protocol, port, host_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = directory / f"{self.name}.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = self.render()

    @property
    def address(self) -> str:
        return self.bed.balancer.address

    def render(self) -> Path:
        raise NotImplementedError

    def argv(self) -> list[str]:
        raise NotImplementedError

    def check_argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        checked = subprocess.run(self.check_argv(), capture_output=True, text=True, timeout=15)
        if checked.returncode != 0:
            raise AssertionError(f"{self.name} refuses the config:\n{checked.stderr}")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.bed.exec_argv(self.bed.balancer, self.argv()), cwd=self.directory,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ask(self, path: str = "/", **options: object) -> tuple[int, dict[str, str], bytes]:
        """One request through the balancer on a new connection, from the client namespace."""
        return request(self.bed.client.netns, self.address, self.port, path=path, **options)  # type: ignore[arg-type]

    def hosts_up(self) -> set[str]:
        raise NotImplementedError

    def wait_for_hosts(self, names: set[str], timeout: float) -> None:
        """Wait until the balancer sends to exactly `names` (and answers through them)."""
        if not wait_until(lambda: self.hosts_up() == names, timeout, 0.1):
            raise AssertionError(f"{self.name}: hosts up {self.hosts_up()} != {names}:\n"
                                 f"{self.log()[-3000:]}")  # fmt: skip

    def answered_by(self, requests: int = 12) -> set[str]:
        """The hosts that answered `requests` requests through the balancer (each on its own
        connection; a failed request names no host)."""
        seen = set()
        for _ in range(requests):
            try:
                status, _, body = self.ask("/", timeout=5.0)
            except OSError:
                continue
            if status == 200:
                seen.add(body.decode().split()[0])
        return seen


class Nginx(Balancer):
    """deploy/nginx-upstream.conf; passive health checks only, so `hosts_up` asks by traffic."""

    name = "nginx"
    program = "nginx"

    def render(self) -> Path:
        text = substitute((DEPLOY / "nginx-upstream.conf").read_text(), [
            ("user www-data;", "user root;"),
            ("worker_processes auto;", "worker_processes 1;"),
            ("/run/nginx.pid", str(self.directory / "nginx.pid")),
            ("/var/log/nginx/error.log", str(self.directory / "error.log")),
            ("/var/lib/nginx", str(self.directory)),
            ("proxy_read_timeout 30s;", f"proxy_read_timeout {READ_TIMEOUT}s;"),
            ("listen 80;", f"listen {self.port};"),
            (f":{HOST_PORT} max_fails", f":{self.host_port} max_fails"),
        ])  # fmt: skip
        path = self.directory / "nginx.conf"
        path.write_text(text)
        return path

    def argv(self) -> list[str]:
        nginx = which("nginx") or "nginx"
        return [nginx, "-p", str(self.directory), "-c", str(self.config_path), "-g", "daemon off;"]

    def check_argv(self) -> list[str]:
        return [*self.argv()[:-2], "-t", "-q"]

    def log(self) -> str:
        error_log = self.directory / "error.log"
        own = error_log.read_text(errors="replace") if error_log.exists() else ""
        return super().log() + own

    def hosts_up(self) -> set[str]:
        # nginx keeps no list of live hosts (no active checks): the ones that answer are up.
        # 3 hosts x 4 rounds of round robin, plus slack for a retried request.
        return self.answered_by(14)

    def disabled_marks(self, address: str) -> int:
        """How often nginx logged taking the host at `address` out (its passive check)."""
        pattern = rf"upstream server temporarily disabled.*upstream: \"http://{re.escape(address)}:"
        return len(re.findall(pattern, self.log()))


class HAProxy(Balancer):
    """deploy/haproxy.cfg; active health checks, so `hosts_up` reads HAProxy's own view."""

    name = "haproxy"
    program = "haproxy"

    @property
    def socket_path(self) -> Path:
        return self.directory / "admin.sock"

    def render(self) -> Path:
        replacements = [
            ("    user haproxy\n", ""),
            ("    group haproxy\n", ""),
            ("    chroot /var/lib/haproxy\n", ""),
            ("/run/haproxy/admin.sock", str(self.socket_path)),
            ("timeout server 30s", f"timeout server {READ_TIMEOUT}s"),
            ("    bind :80\n", f"    bind :{self.port}\n"),
            (f":{HOST_PORT}\n", f":{self.host_port}\n"),
        ]
        if self.proxy_protocol:
            plain = "    default-server check inter 1s fall 2 rise 2 pool-purge-delay 1s\n"
            proxied = "    # default-server check inter 1s fall 2 rise 2 pool-purge-delay 1s send-proxy-v2\n"
            replacements += [(plain, ""), (proxied, proxied.replace("# ", "", 1))]
        text = substitute((DEPLOY / "haproxy.cfg").read_text(), replacements)
        path = self.directory / "haproxy.cfg"
        path.write_text(text)
        return path

    def argv(self) -> list[str]:
        return [which("haproxy") or "haproxy", "-f", str(self.config_path), "-db"]

    def check_argv(self) -> list[str]:
        return [which("haproxy") or "haproxy", "-c", "-q", "-f", str(self.config_path)]

    def stats(self) -> list[dict[str, str]]:
        """`show stat` from the admin socket (a Unix socket: reachable from any namespace)."""
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(str(self.socket_path))
                sock.sendall(b"show stat\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError:
            return []
        text = b"".join(chunks).decode().lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def hosts_up(self) -> set[str]:
        return {
            row["svname"]
            for row in self.stats()
            if row["pxname"] == "rush" and row["svname"] not in ("FRONTEND", "BACKEND")
            and row["status"].startswith("UP")
        }  # fmt: skip

    def wait_down(self, name: str, timeout: float) -> float:
        """Seconds until HAProxy marks host `name` DOWN; AssertionError past `timeout`."""
        start = time.monotonic()
        if not wait_until(lambda: name not in self.hosts_up(), timeout, 0.05):
            raise AssertionError(f"haproxy still sends to {name} after {timeout} s")
        return time.monotonic() - start


BALANCERS: dict[str, type[Balancer]] = {"nginx": Nginx, "haproxy": HAProxy}
