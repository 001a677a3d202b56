"""Reverse proxies: forwarded headers only from trusted peers, the PROXY protocol, and the
sample nginx configuration run for real in front of Rush."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from rush.config import Config
from rush.exceptions import ConfigError
from rush.proxy import ProxyTrust, forwarded_client, parse_forwarded
from tests.ops.load import Load
from tests.support.client import free_port, http_get, read_response
from tests.support.polling import wait_until
from tests.support.process import ROOT


def forwarded(peer, headers, allowed, header="x-forwarded"):
    raw = [(k.encode(), v.encode()) for k, v in headers]
    return forwarded_client(raw, peer, ProxyTrust(allowed, header))


@pytest.mark.parametrize(
    ("peer", "headers", "allowed", "expected"),
    [
        # Nobody is trusted by default: the headers are ignored.
        ("10.0.0.2", [("X-Forwarded-For", "203.0.113.7")], [], ("10.0.0.2", "http")),
        (
            "10.0.0.2",
            [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")],
            ["10.0.0.0/8"],
            ("203.0.113.7", "https"),
        ),
        # An untrusted peer's headers are ignored even when others are trusted.
        ("192.0.2.1", [("X-Forwarded-For", "203.0.113.7")], ["10.0.0.0/8"], ("192.0.2.1", "http")),
        # Rightmost untrusted hop: a client-forged first entry is not believed.
        (
            "10.0.0.2",
            [("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.9")],
            ["10.0.0.0/8"],
            ("203.0.113.7", "http"),
        ),
        # Repeated header fields are one list.
        (
            "10.0.0.2",
            [("X-Forwarded-For", "6.6.6.6"), ("x-forwarded-for", "203.0.113.7")],
            ["10.0.0.2"],
            ("203.0.113.7", "http"),
        ),
        # Every hop trusted: the leftmost.
        (
            "10.0.0.2",
            [("X-Forwarded-For", "10.1.1.1, 10.0.0.3")],
            ["10.0.0.0/8"],
            ("10.1.1.1", "http"),
        ),
        # A client's own Forwarded field, passed through by a proxy that sets X-Forwarded-*
        # (nginx and HAProxy do not touch it), is not believed: it would choose any address.
        (
            "10.0.0.2",
            [
                ("Forwarded", "for=203.0.113.66;proto=https"),
                ("X-Forwarded-For", "203.0.113.7"),
            ],
            ["10.0.0.2"],
            ("203.0.113.7", "http"),
        ),
        ("10.0.0.2", [("Forwarded", "for=203.0.113.66;proto=https")], ["*"], ("10.0.0.2", "http")),
        # Junk in X-Forwarded-Proto is ignored.
        ("10.0.0.2", [("X-Forwarded-Proto", "gopher")], ["*"], ("10.0.0.2", "http")),
        # Unix socket peers (remote_addr None) are trusted only with `unix`.
        (None, [("X-Forwarded-For", "203.0.113.7")], ["127.0.0.1"], (None, "http")),
        (None, [("X-Forwarded-For", "203.0.113.7")], ["unix"], ("203.0.113.7", "http")),
        ("::1", [("X-Forwarded-For", "203.0.113.7")], ["::1"], ("203.0.113.7", "http")),
    ],
)
def test_forwarded_headers_are_believed_only_from_trusted_proxies(peer, headers, allowed, expected):
    assert forwarded(peer, headers, allowed) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # Quoted IPv6 with a port; the client's own X-Forwarded-* are not believed.
        (
            [
                ("Forwarded", 'for="[2001:db8::1]:4711";proto=https'),
                ("X-Forwarded-For", "203.0.113.7"),
            ],
            ("2001:db8::1", "https"),
        ),
        (
            [("Forwarded", "for=6.6.6.6, for=192.0.2.60;proto=https;by=10.0.0.2")],
            ("192.0.2.60", "https"),
        ),
        (
            [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")],
            ("10.0.0.2", "http"),
        ),
    ],
)
def test_rfc7239_forwarded_is_believed_when_the_proxy_sets_it(headers, expected):
    assert forwarded("10.0.0.2", headers, ["10.0.0.2"], "forwarded") == expected


def test_forwarded_header_is_validated():
    with pytest.raises(ConfigError, match="forwarded_header"):
        Config.from_sources({"forwarded_header": "both"}, {})
    config = Config.from_sources({}, {"RUSH_FORWARDED_HEADER": "forwarded"})
    assert config.forwarded_header == "forwarded"


def test_parse_forwarded_keeps_quoted_separators():
    assert parse_forwarded('for="a,b;c";proto=http, for=x') == [
        {"for": "a,b;c", "proto": "http"},
        {"for": "x"},
    ]


def test_forwarded_allow_ips_is_validated():
    with pytest.raises(ConfigError, match="forwarded_allow_ips"):
        Config.from_sources({"forwarded_allow_ips": "10.0.0.0/8,nonsense"}, {})
    config = Config.from_sources({}, {"RUSH_FORWARDED_ALLOW_IPS": "127.0.0.1, unix"})
    assert config.forwarded_allow_ips == ("127.0.0.1", "unix")


def whoami(address, headers=()):
    status, body = http_get(address, "/whoami", headers)
    assert status == 200
    return json.loads(body)


def test_x_forwarded_for_from_a_trusted_and_an_untrusted_peer(rush):
    spoof = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]
    untrusting = rush("--bind", "127.0.0.1:0", "--workers", "1")
    assert whoami(untrusting.address, spoof) == {"remote_addr": "127.0.0.1", "scheme": "http"}
    trusting = rush("--bind", "127.0.0.1:0", "--workers", "1", "--forwarded-allow-ips", "127.0.0.1")
    assert whoami(trusting.address, spoof) == {"remote_addr": "203.0.113.7", "scheme": "https"}
    assert whoami(trusting.address) == {"remote_addr": "127.0.0.1", "scheme": "http"}
    forged = [("Forwarded", "for=203.0.113.66;proto=https")]
    assert whoami(trusting.address, forged) == {"remote_addr": "127.0.0.1", "scheme": "http"}
    rfc7239 = rush(
        "--bind", "127.0.0.1:0", "--workers", "1", "--forwarded-allow-ips", "127.0.0.1",
        "--forwarded-header", "forwarded",
    )  # fmt: skip
    assert whoami(rfc7239.address, forged) == {"remote_addr": "203.0.113.66", "scheme": "https"}
    assert whoami(rfc7239.address, spoof) == {"remote_addr": "127.0.0.1", "scheme": "http"}


def test_proxy_protocol_v1_and_v2(rush):
    server = rush("--bind", "127.0.0.1:0", "--workers", "1", "--proxy-protocol", ready=None)
    server.wait_for("listening on")
    host, port = (
        "127.0.0.1",
        int(server.wait_for(r"listening on http://127\.0\.0\.1:(\d+)").group(1)),
    )
    request = b"GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

    def ask(header: bytes) -> tuple[int, bytes]:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(header + request)
            status, _, body = read_response(sock)
            return status, body

    assert wait_until(lambda: _connectable(host, port), 10)
    status, body = ask(b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\n")
    assert json.loads(body)["remote_addr"] == "198.51.100.9"
    v2 = (
        b"\r\n\r\n\x00\r\nQUIT\n"
        + bytes([0x21, 0x11])
        + (12).to_bytes(2, "big")
        + socket.inet_aton("192.0.2.44")
        + socket.inet_aton("127.0.0.1")
        + b"\x15\xb3\x00\x50"
    )
    status, body = ask(v2)
    assert json.loads(body)["remote_addr"] == "192.0.2.44"
    # No PROXY header: the connection is closed without an answer (a reset, since the
    # request bytes were never read).
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request)
        try:
            assert sock.recv(100) == b""
        except ConnectionResetError:
            pass


def _connectable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.mark.slow
@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_the_sample_nginx_config_in_front_of_rush_on_a_unix_socket(rush, tmp_path):
    sock_path = str(tmp_path / "rush.sock")
    server = rush(
        "--bind",
        f"unix:{sock_path}",
        "--unix-socket-mode",
        "666",
        "--workers",
        "2",
        "--forwarded-allow-ips",
        "unix",
        ready=2,
    )
    port = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in [
        ("/run/rush/rush.sock", sock_path),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("user www-data;", "user root;"),
        ("/run/nginx.pid", str(tmp_path / "nginx.pid")),
        ("/var/log/nginx/error.log", str(tmp_path / "nginx-error.log")),
        ("/var/lib/nginx", str(tmp_path)),
        ("worker_processes auto;", "worker_processes 1;"),
    ]:
        assert old in conf, old
        conf = conf.replace(old, new)
    (tmp_path / "nginx.conf").write_text(conf)
    nginx = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_until(lambda: _connectable("127.0.0.1", port), 10), nginx.poll()
        # The client's own X-Forwarded-For is not believed: nginx appends the real peer.
        seen = whoami(("127.0.0.1", port), [("X-Forwarded-For", "6.6.6.6")])
        assert seen == {"remote_addr": "127.0.0.1", "scheme": "http"}
        # A rolling reload behind nginx (upstream keep-alive): no client sees an error.
        with Load(("127.0.0.1", port), threads=4) as load:
            assert wait_until(lambda: load.total().ok >= 200, 10), load.total()
            mark = server.mark()
            server.signal(signal.SIGHUP)
            server.wait_for("reload complete", 20, mark)
            before = load.total().ok
            assert wait_until(lambda: load.total().ok >= before + 200, 10)
            tally = load.stop()
        print(f"SIGHUP behind nginx: {tally}")
        assert tally.failures == [] and tally.retried == 0, tally
    finally:
        nginx.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait(5)
        if nginx.stderr is not None:
            nginx.stderr.close()
    error_log = tmp_path / "nginx-error.log"
    assert "[error]" not in (error_log.read_text() if error_log.exists() else "")
