"""Files over a real socket: no path trick leaves the folder, and a file replaced while it is
being sent never yields a response that mixes two versions without the client noticing.

"Noticing" means: the body is complete (Content-Length bytes) and equals the version its ETag
names, or the body is short of its Content-Length (the server closed the connection).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.servers import start

SECRET = b"TOP SECRET hardening"
INSIDE = {"a.txt": b"file a\n", "sub/b.txt": b"file b\n"}

DOTS = [
    "..", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "%252e%252e", "%c0%ae%c0%ae", "%e0%80%ae%e0%80%ae",
    "%uff0e%uff0e", "%ef%bc%8e%ef%bc%8e", "..%00", "..%20", "...", "..;", "%2e%2e%00",
    ". .", "..%09", "%2e%2e%2f..",
]  # fmt: skip
SEPARATORS = [
    "/", "%2f", "%2F", "%252f", "\\", "%5c", "%5C", "%c0%af", "%e0%80%af", "//", "/./", ";/",
    "%00/", "/%2e/",
]  # fmt: skip
TARGETS = ["secret.txt", "%73ecret.txt", "secret.txt%00.txt", "etc/passwd"]


def tricks() -> list[str]:
    found = []
    for dot, sep, target in itertools.product(DOTS, SEPARATORS, TARGETS[:2]):
        found.append(f"{dot}{sep}{target}")
        found.append(f"sub{sep}{dot}{sep}{dot}{sep}{target}")
    found += [f"{sep}etc{sep}passwd" for sep in SEPARATORS]
    found += [f"{dot}{sep}{dot}{sep}{dot}{sep}etc/passwd" for dot in DOTS for sep in ("/", "%2f")]
    found += ["out", "sub/up", "outdir/secret.txt", "%6fut", "o%75t"]
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "secret.txt").write_bytes(SECRET)
    public = root / "public"
    (public / "sub").mkdir(parents=True)
    for name, data in INSIDE.items():
        (public / name).write_bytes(data)
    (public / "out").symlink_to(root / "secret.txt")
    (public / "outdir").symlink_to(root)
    (public / "sub" / "up").symlink_to("../../secret.txt")
    return root


@pytest.fixture(scope="module")
def server(site: Path):
    shared = start(env={"HARDENING_FILES": str(site / "public")})
    yield shared
    shared.stop()


def fetch(port: int, target: str, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def check_refused(data: bytes, target: str) -> None:
    status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/1.1 ") else b"?"
    assert status in (b"400", b"404"), (target, data[:100])
    assert SECRET not in data, target


def test_traversal_through_every_encoding_trick(server) -> None:
    found = tricks()
    assert len(found) > 1000
    for trick in found:
        for prefix in ("/files/", "/download/", "http://x/files/"):
            check_refused(fetch(server.port, prefix + trick), prefix + trick)
    assert fetch(server.port, "/files/a.txt").endswith(INSIDE["a.txt"])
    assert server.proc.poll() is None and not server.errors_logged()


SEGMENT = st.sampled_from(DOTS + ["sub", "a.txt", "b.txt", "secret.txt", "", ".", "out", "up"])


@settings(
    max_examples=int(os.environ.get("RUSH_FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize="RUSH_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(parts=st.lists(st.tuples(SEGMENT, st.sampled_from(SEPARATORS)), min_size=1, max_size=6))
def test_random_paths_serve_only_files_inside_the_folder(server, parts) -> None:
    path = "".join(segment + sep for segment, sep in parts).rstrip("/")
    for prefix in ("/files/", "/download/"):
        data = fetch(server.port, prefix + path)
        assert SECRET not in data, path
        status = data.split(b" ", 2)[1]
        assert status in (b"200", b"400", b"404"), (path, data[:100])
        if status == b"200":
            assert data.split(b"\r\n\r\n", 1)[1] in INSIDE.values(), (path, data[:200])


# -- a file replaced while it is sent ------------------------------------------------------------


def version(tag: bytes, size: int) -> bytes:
    return (tag * (size // len(tag) + 1))[:size]


def slow_get(
    port: int, target: str, on_progress, rcvbuf: int = 32 * 1024
) -> tuple[dict, bytes, bool]:
    """GET with a small receive buffer, reading slowly; calls on_progress(received) as it goes.

    Returns (headers, body, complete): complete is False when the server closed early.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    with sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed before a response head: {data!r}"
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        length = int(fields[b"content-length"])
        while len(body) < length:
            on_progress(len(body))
            time.sleep(0.002)
            try:
                chunk = sock.recv(16 * 1024)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return fields, body, False
            body += chunk
    return fields, body, True


def etag_of(port: int, target: str) -> bytes:
    data = fetch(port, target)
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"etag:"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError(data[:200])


def replace_during_download(port: int, folder: Path, how: str, rounds: int) -> list[dict]:
    """Download big.bin slowly while it is replaced `how`; one record per round."""
    path = folder / "big.bin"
    size = 3 * 1024 * 1024  # over the cache threshold: opened per request, sent with sendfile
    records = []
    for round_ in range(rounds):
        old = version(b"old%d-" % round_, size)
        new_size = {"rename": size + 4096, "truncate": size // 3}.get(how, size)
        new = version(b"NEW%d+" % round_, new_size)
        path.write_bytes(old)
        past = time.time_ns() - 10**10  # a clearly older mtime, so the new one differs
        os.utime(path, ns=(past, past))
        old_etag = etag_of(port, "/files/big.bin")
        swapped = []

        def swap(received: int, new=new, swapped=swapped) -> None:
            if swapped or received < size // 4:
                return
            swapped.append(received)
            if how == "rename":  # the deploy pattern: write aside, rename over
                staging = folder / "big.bin.tmp"
                staging.write_bytes(new)
                os.replace(staging, path)
            else:  # in place: the same inode rewritten (shorter first, for "truncate")
                with open(path, "r+b") as f:
                    if how == "truncate":
                        f.truncate(len(new))
                    f.write(new)

        fields, body, complete = slow_get(port, "/files/big.bin", swap)
        assert swapped, "the file was not replaced during the download"
        length = int(fields[b"content-length"])
        assert len(body) <= length
        records.append(
            {
                "complete": complete,
                "etag_is_old": fields[b"etag"] == old_etag,
                "whole_old": body == old,
                "length_is_old": length == size,
                "after": fetch(port, "/files/big.bin"),
                "new": new,
                "old_etag": old_etag,
            }
        )
    return records


def check_after(record: dict) -> None:
    """A request after the change gets the new version, whole, under a new ETag."""
    head, body = record["after"].split(b"\r\n\r\n", 1)
    assert body == record["new"]
    assert b"\r\nContent-Length: %d\r\n" % len(body) in head + b"\r\n"
    assert record["old_etag"] not in head


@pytest.mark.slow
def test_a_file_renamed_over_during_sendfile_is_sent_whole(tmp_path) -> None:
    """Atomic replacement (rename) keeps the open inode intact: every response is entirely
    the version its Content-Length and ETag describe."""
    folder = tmp_path / "public"
    folder.mkdir()
    server = start(env={"HARDENING_FILES": str(folder)})
    try:
        records = replace_during_download(server.port, folder, "rename", rounds=5)
    finally:
        server.stop()
    for record in records:
        assert record["complete"] and record["whole_old"] and record["etag_is_old"], record
        assert record["length_is_old"]
        check_after(record)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncate", "rewrite_same_size"])
def test_a_file_rewritten_in_place_during_sendfile(tmp_path, how) -> None:
    """A known limit, measured rather than hidden: sendfile queues references to page-cache
    pages, so bytes rewritten in place after the server queued them can still reach the
    client under the old ETag. A file that shrinks while the server is still sending ends
    the response short (the client can tell). What must hold: the server survives, and the
    next request gets the new version whole under a new ETag. Deploy by rename."""
    folder = tmp_path / "public"
    folder.mkdir()
    server = start(env={"HARDENING_FILES": str(folder)})
    try:
        records = replace_during_download(server.port, folder, how, rounds=4)
        assert server.proc.poll() is None and not server.errors_logged(), server.log
    finally:
        server.stop()
    for record in records:
        check_after(record)
    mixed = sum(r["complete"] and not r["whole_old"] for r in records)
    short = sum(not r["complete"] for r in records)
    print(f"\n{how}: {len(records)} downloads, {mixed} complete but mixed, {short} short")
