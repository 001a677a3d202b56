"""Binding: Unix domain sockets, an inherited descriptor (fd://N), systemd socket activation,
and the pid file."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import sys

from tests.ops.load import Load
from tests.support.client import http_get
from tests.support.polling import wait_until


def test_a_unix_socket_is_shared_by_the_workers_and_removed_at_exit(rush, tmp_path):
    path = str(tmp_path / "rush.sock")
    server = rush("--bind", f"unix:{path}", "--unix-socket-mode", "600", "--workers", "2", ready=2)
    assert server.address == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    status, body = http_get(path, "/whoami")
    assert status == 200
    assert json.loads(body) == {"remote_addr": None, "scheme": "http"}
    with Load(path, "/pid", threads=4) as load:
        assert wait_until(lambda: len(load.total().bodies) == 2, 10)  # both workers accept
        tally = load.stop()
    assert tally.failures == []
    assert server.stop() == 0
    assert not os.path.exists(path)


def test_a_stale_unix_socket_file_is_replaced(rush, tmp_path):
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    server = rush("--bind", f"unix:{path}", "--workers", "1")
    assert http_get(server.address, "/")[0] == 200


def test_an_inherited_listening_fd_is_served(rush):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    try:
        server = rush("--bind", f"fd://{fd}", "--workers", "2", pass_fds=[fd], ready=2)
        assert server.address == ("127.0.0.1", port)
        with Load(server.address, "/pid", threads=4) as load:
            assert wait_until(lambda: len(load.total().bodies) == 2, 10)  # both workers accept
            assert load.stop().failures == []
    finally:
        listener.close()


def test_systemd_socket_activation(rush):
    # What systemd does: the socket is fd 3, LISTEN_FDS=1, LISTEN_PID is the service's pid.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    launcher = (
        "import os, sys\n"
        f"os.dup2({fd}, 3)\n"
        f"os.close({fd})\n"
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1')\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'rush', "
        "'tests.ops.apps.opsapp:app', '--workers', '2'])\n"
    )
    try:
        server = rush(command=[sys.executable, "-c", launcher], pass_fds=[fd], ready=2)
        assert "using 1 socket(s) from systemd instead of --bind" in server.log
        assert server.address == ("127.0.0.1", port)
        assert http_get(server.address, "/")[0] == 200
    finally:
        listener.close()


def test_a_bad_fd_is_a_startup_error(rush):
    server = rush("--bind", "fd://99", "--workers", "2", ready=None)
    assert server.wait_exit(10) == 2
    assert "cannot use fd://99" in server.log


def test_the_pid_file_names_the_master_and_goes_away(rush, tmp_path):
    pid_file = tmp_path / "rush.pid"
    server = rush("--bind", "127.0.0.1:0", "--workers", "2", "--pid", str(pid_file), ready=2)
    assert int(pid_file.read_text()) == server.pid
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    assert server.wait_exit(10) == 0
    assert not pid_file.exists()
