"""Large files go out with sendfile and cost no memory; small ones live in a bounded LRU cache.

End to end: byte-for-byte downloads and ranges of a file above the threshold, a 1 GiB sparse
file read by a deliberately slow client while another client stays fast (worker RSS and open
descriptors checked), and eviction under a tiny cache limit.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rush import Rush
from tests.support.polling import wait_until
from tests.support.procfs import open_fds, rss_kb

GIB = 1 << 30


def age(*paths: Path) -> None:
    """Make files old enough that the test client's stat() mode trusts them (not racy)."""
    old = time.time() - 10
    for path in paths:
        os.utime(path, (old, old))


def small_request_latencies(fast, seconds: float) -> list[float]:
    """Seconds each small cached GET took on `fast`, back to back for `seconds`."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        fast.request("GET", "/static/a.txt")
        assert fast.getresponse().read() == b"version 1\n"
        latencies.append(time.perf_counter() - started)
    return latencies


def test_large_file_download_and_ranges_over_sendfile(serve, tree):
    data = os.urandom(3 * 1024 * 1024 + 17)
    (tree / "public" / "large.bin").write_bytes(data)
    (tree / "files" / "large.bin").write_bytes(data)
    server = serve(tree)
    status, headers, got = server.get("/static/large.bin")
    assert (status, int(headers["content-length"])) == (200, len(data))
    assert got == data
    for spec, first, last in (
        ("bytes=1000000-2000000", 1000000, 2000000),
        ("bytes=-100", len(data) - 100, len(data) - 1),
        ("bytes=3145000-", 3145000, len(data) - 1),
    ):
        status, headers, got = server.get("/static/large.bin", {"Range": spec})
        assert status == 206
        assert headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
        assert got == data[first : last + 1]
    status, headers, got = server.get("/static/large.bin", method="HEAD")
    assert (status, int(headers["content-length"]), got) == (200, len(data), b"")
    etag = server.get("/static/large.bin")[1]["etag"]
    assert server.get("/static/large.bin", {"If-None-Match": etag})[0] == 304
    assert server.get("/static/large.bin", {"Range": f"bytes={len(data)}-"})[0] == 416
    status, headers, got = server.get("/download/large.bin")
    assert got == data and headers["content-disposition"].startswith("attachment")
    keys = server.get("/cache")[2]
    assert b"large.bin" not in keys  # above the threshold: never read into memory


@pytest.mark.slow
def test_slow_client_on_a_huge_file_costs_no_memory_and_blocks_nobody(serve, tree):
    huge = tree / "public" / "huge.bin"
    with open(huge, "wb") as f:
        f.truncate(GIB)  # sparse: no disk used
    server = serve(tree)
    pid = server.proc.pid  # --workers 1 serves in the master process
    for _ in range(3):
        server.get("/static/a.txt")
    rss_before, fds_before = rss_kb(pid), open_fds(pid)

    slow = socket.socket()
    fast = server.connect()
    try:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        slow.connect(("127.0.0.1", server.port))
        slow.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = SlowReader(slow)
        reader.start()
        latencies = small_request_latencies(fast, 1.5)
        rss_during = rss_kb(pid)
        reader.stop()
        assert 64 * 1024 < reader.total < GIB // 4  # it flows, slowly
        head = bytes(reader.first).split(b"\r\n\r\n", 1)[0]
        assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: %d" % GIB in head
        assert len(latencies) > 20 and max(latencies) < 0.1, max(latencies)
        assert rss_during - rss_before < 16 * 1024, (rss_before, rss_during)
    finally:
        fast.close()
        slow.close()  # mid-download: the worker must close the file and the socket
    assert wait_until(lambda: open_fds(pid) <= fds_before, 5), (fds_before, open_fds(pid))
    assert rss_kb(pid) - rss_before < 16 * 1024


class SlowReader(threading.Thread):
    """Reads 16 KiB every 5 ms (about 3 MB/s) until stopped."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.first = bytearray()
        self.total = 0
        self._stop_reading = threading.Event()

    def run(self) -> None:
        while not self._stop_reading.is_set():
            chunk = self.sock.recv(16 * 1024)
            if not chunk:
                return
            if len(self.first) < 4096:
                self.first.extend(chunk)
            self.total += len(chunk)
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop_reading.set()
        self.join(5)


FAST_READER = """
import socket, sys, time
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
sock.sendall(b"GET /static/huge.bin HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
buffer = bytearray(1 << 20)
total, started = 0, time.monotonic()
while time.monotonic() - started < float(sys.argv[2]):
    received = sock.recv_into(buffer)
    if not received:
        break
    total += received
print(total)
"""


@pytest.mark.slow
def test_a_fast_download_does_not_hold_up_other_clients(serve, tree):
    """sendfile takes turns: a client draining as fast as loopback goes gets 1 MiB per loop
    round, not the whole file (without turns, small requests here waited up to 250 ms)."""
    with open(tree / "public" / "huge.bin", "wb") as f:
        f.truncate(8 * GIB)
    server = serve(tree)
    reader = subprocess.Popen(
        [sys.executable, "-c", FAST_READER, str(server.port), "2.0"], stdout=subprocess.PIPE
    )
    fast = server.connect()
    try:
        latencies = small_request_latencies(fast, 1.5)
    finally:
        fast.close()
        downloaded = int(reader.communicate(timeout=10)[0])
    assert downloaded > 100 * 1024 * 1024  # it really was fast
    assert max(latencies) < 0.15, sorted(latencies)[-5:]


def test_tiny_cache_on_a_real_server_still_answers_correctly(serve, tree):
    names = [f"f{i}.txt" for i in range(6)]
    for i, name in enumerate(names):
        (tree / "public" / name).write_text(str(i) * 1000)
    server = serve(tree, STATIC_TEST_CACHE_BYTES="4000")
    for _ in range(2):
        for i, name in enumerate(names):
            assert server.get(f"/static/{name}")[2] == str(i).encode() * 1000
    import json

    cache = json.loads(server.get("/cache")[2])
    assert 0 < cache["size"] <= 4000 and len(cache["keys"]) <= 2


# -- the cache, in process ------------------------------------------------------------------


@pytest.fixture
def small_site(tmp_path: Path) -> Path:
    public = tmp_path / "public"
    public.mkdir()
    for name in "abcd":
        (public / f"{name}.txt").write_text(name * 1000)
    (public / "big.txt").write_text("B" * 5000)
    age(*public.iterdir())
    return public


def test_lru_eviction_under_a_tiny_limit(small_site):
    app = Rush(static_folder=small_site, file_cache_bytes=4000, file_cache_threshold=2000)
    files = app.static_files
    client = app.test_client()

    def keys() -> list[str]:
        return [Path(k).name for k in files.cached_keys()]

    for name in ("a", "b"):
        assert client.get(f"/static/{name}.txt").body == name.encode() * 1000
    assert keys() == ["a.txt", "b.txt"]
    client.get("/static/a.txt")  # a becomes the most recently used
    assert keys() == ["b.txt", "a.txt"]
    client.get("/static/c.txt")  # evicts b, the least recently used
    assert keys() == ["a.txt", "c.txt"]
    assert files.size <= 4000
    assert client.get("/static/b.txt").body == b"b" * 1000  # evicted, still served
    assert keys() == ["c.txt", "b.txt"]
    assert client.get("/static/big.txt").body == b"B" * 5000  # above the threshold
    assert "big.txt" not in keys()


def test_an_entry_larger_than_the_whole_cache_is_served_not_kept(small_site):
    app = Rush(static_folder=small_site, file_cache_bytes=1000)
    client = app.test_client()
    assert client.get("/static/a.txt").body == b"a" * 1000
    assert app.static_files.cached_keys() == [] and app.static_files.size == 0


def test_preload(small_site, tmp_path):
    app = Rush(file_cache_threshold=2000)
    app.static("/p", small_site, preload=True)
    names = sorted(Path(k).name for k in app.static_files.cached_keys())
    assert names == ["a.txt", "b.txt", "c.txt", "d.txt"]  # big.txt is above the threshold
    other = tmp_path / "other.txt"
    other.write_text("x")
    age(other)
    assert app.preload(other) == 1
    assert str(other) in app.static_files.cached_keys()
    assert app.send_file(other).resource.table is not None  # send_file finds the entry
    tiny = Rush(file_cache_bytes=4000)
    tiny.static("/p", small_site, preload=True)
    assert 0 < tiny.static_files.size <= 4000
