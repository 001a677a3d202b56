"""An event-driven load client that checks every answer against the request it was sent for.

`python -m tests.hardening.load PORT --requests N [--connections C] [--files DIR] [--seed S]`
keeps C connections busy with a mix of jobs until N requests were sent, then prints one JSON
line with the tally. Every request carries a unique id (in its path, query, header or body)
and every answer is checked: status, framing and the echoed id, length or digest. Jobs:

  single    one GET on a keep-alive connection
  pipeline  2-32 mixed GET/HEAD/POST requests written at once, answers checked in order
  close     a GET with `Connection: close`; the server must close, the client reconnects
  post      a POST with a Content-Length body of up to 32 KiB (digest checked)
  chunked   the same with a chunked body
  error     GET /status/CODE (4xx/5xx raised by the handler)
  missing   GET of a path no route matches (404)
  file      a small (cached) or large (sendfile) file from --files, sometimes a Range
  upload    a multipart form with a file (digest checked)

`--jobs pipeline,single` restricts the mix.

Runs in its own process so that a test's sampling thread does not compete for its GIL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import selectors
import socket
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

Check = Callable[[int, dict[bytes, bytes], bytes], str | None]

JOBS = {
    "single": 20,
    "pipeline": 30,
    "close": 4,
    "post": 8,
    "chunked": 4,
    "error": 4,
    "missing": 4,
    "file": 6,
    "upload": 2,
}
ERROR_CODES = (400, 403, 404, 410, 429, 500, 503)


@dataclass
class Expect:
    head_only: bool
    check: Check
    what: str


@dataclass
class Conn:
    sock: socket.socket
    out: bytearray = field(default_factory=bytearray)
    inbuf: bytearray = field(default_factory=bytearray)
    expects: deque = field(default_factory=deque)
    closing: bool = False  # the last request asked for Connection: close


def expect_status(status: int, body: bytes | None = None) -> Check:
    def check(got: int, fields: dict[bytes, bytes], got_body: bytes) -> str | None:
        if got != status:
            return f"status {got} != {status}"
        if body is not None and got_body != body:
            return f"body {got_body[:60]!r} != {body[:60]!r}"
        return None

    return check


class Load:
    def __init__(
        self,
        port: int,
        connections: int,
        total: int,
        files: str | None,
        seed: int,
        only: list[str] | None = None,
    ):
        self.port = port
        self.total = total
        self.rng = random.Random(seed)
        self.uid = seed * 10**9
        self.sent = 0
        self.tally: Counter[str] = Counter()
        self.failures: list[str] = []
        self.selector = selectors.DefaultSelector()
        self.files: dict[str, bytes] = {}
        if files:
            for name in sorted(os.listdir(files)):
                with open(os.path.join(files, name), "rb") as f:
                    self.files[name] = f.read()
        self.jobs = [job for job in only or JOBS if job not in ("file", "upload") or files]
        self.weights = [JOBS[job] for job in self.jobs]
        self.conns = [self.open() for _ in range(connections)]

    # -- connections -------------------------------------------------------------------------

    def open(self) -> Conn:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = Conn(sock)
        self.selector.register(sock, selectors.EVENT_READ, conn)
        return conn

    def replace(self, conn: Conn) -> Conn | None:
        self.selector.unregister(conn.sock)
        conn.sock.close()
        self.conns.remove(conn)
        if self.sent >= self.total:
            return None
        fresh = self.open()
        self.conns.append(fresh)
        return fresh

    def fail(self, conn: Conn, message: str) -> None:
        self.tally["failed"] += 1
        if len(self.failures) < 20:
            self.failures.append(message)

    # -- requests ----------------------------------------------------------------------------

    def next_uid(self) -> int:
        self.uid += 1
        return self.uid

    def add(self, conn: Conn, raw: bytes, expect: Expect) -> None:
        conn.out += raw
        conn.expects.append(expect)
        self.sent += 1
        self.tally["sent"] += 1

    def get_id(self, conn: Conn, close: bool = False) -> None:
        uid = self.next_uid()
        extra = b"Connection: close\r\n" if close else b""
        raw = b"GET /id/%d?q=%d HTTP/1.1\r\nHost: load\r\nX-Id: %d\r\n%s\r\n" % (
            uid,
            uid,
            uid,
            extra,
        )
        body = b"id=%d;q=%d;h=%d" % (uid, uid, uid)
        self.add(conn, raw, Expect(False, expect_status(200, body), f"GET id {uid}"))

    def head_id(self, conn: Conn) -> None:
        uid = self.next_uid()
        raw = b"HEAD /id/%d HTTP/1.1\r\nHost: load\r\n\r\n" % uid

        def check(status: int, fields: dict[bytes, bytes], body: bytes) -> str | None:
            if status != 200 or fields.get(b"x-id") != b"%d" % uid or body:
                return f"HEAD {status} {fields.get(b'x-id')!r} {body[:20]!r}"
            return None

        self.add(conn, raw, Expect(True, check, f"HEAD id {uid}"))

    def post_id(self, conn: Conn, chunked: bool = False) -> None:
        uid = self.next_uid()
        size = self.rng.choice((0, 1, 100, 1000, 8000, 32 * 1024))
        body = self.rng.randbytes(size)
        if chunked:
            parts, at = [], 0
            while at < size:
                step = self.rng.randint(1, 9000)
                parts.append(b"%x\r\n%s\r\n" % (len(body[at : at + step]), body[at : at + step]))
                at += step
            framing = b"Transfer-Encoding: chunked\r\n"
            payload = b"".join(parts) + b"0\r\n\r\n"
        else:
            framing = b"Content-Length: %d\r\n" % size
            payload = body
        raw = b"POST /id/%d HTTP/1.1\r\nHost: load\r\n%s\r\n" % (uid, framing) + payload
        want = b"id=%d;len=%d;sha1=%s" % (uid, size, hashlib.sha1(body).hexdigest().encode())
        self.add(conn, raw, Expect(False, expect_status(200, want), f"POST id {uid}"))

    def error(self, conn: Conn) -> None:
        code = self.rng.choice(ERROR_CODES)
        raw = b"GET /status/%d?u=%d HTTP/1.1\r\nHost: load\r\n\r\n" % (code, self.next_uid())
        self.add(conn, raw, Expect(False, expect_status(code), f"status {code}"))

    def missing(self, conn: Conn) -> None:
        raw = b"GET /missing/%d HTTP/1.1\r\nHost: load\r\n\r\n" % self.next_uid()
        self.add(conn, raw, Expect(False, expect_status(404), "missing"))

    def file(self, conn: Conn) -> None:
        name = self.rng.choice(sorted(self.files))
        data = self.files[name]
        if self.rng.random() < 0.3 and len(data) > 10:
            first = self.rng.randrange(len(data) - 1)
            last = self.rng.randrange(first, len(data))
            raw = b"GET /files/%s HTTP/1.1\r\nHost: load\r\nRange: bytes=%d-%d\r\n\r\n" % (
                name.encode(),
                first,
                last,
            )
            check = expect_status(206, data[first : last + 1])
        else:
            raw = b"GET /files/%s HTTP/1.1\r\nHost: load\r\n\r\n" % name.encode()
            check = expect_status(200, data)
        self.add(conn, raw, Expect(False, check, f"file {name}"))

    def upload(self, conn: Conn) -> None:
        uid = self.next_uid()
        data = self.rng.randbytes(self.rng.choice((10, 5000, 200_000)))
        boundary = b"b%dz" % uid
        body = (
            b'--%s\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n%s\r\n"
            b'--%s\r\nContent-Disposition: form-data; name="k"\r\n\r\nv%d\r\n--%s--\r\n'
        ) % (boundary, data, boundary, uid, boundary)
        raw = (
            b"POST /upload HTTP/1.1\r\nHost: load\r\nContent-Length: %d\r\n"
            b"Content-Type: multipart/form-data; boundary=%s\r\n\r\n" % (len(body), boundary)
        ) + body
        want = b";".join(
            sorted(
                [b"f:%d:%s" % (len(data), hashlib.sha1(data).hexdigest().encode()), b"k=v%d" % uid]
            )
        )
        self.add(conn, raw, Expect(False, expect_status(200, want), f"upload {uid}"))

    def start_job(self, conn: Conn) -> None:
        job = self.rng.choices(self.jobs, self.weights)[0]
        self.tally["job:" + job] += 1
        if job == "single":
            self.get_id(conn)
        elif job == "pipeline":
            for _ in range(self.rng.randint(2, 32)):
                self.rng.choice((self.get_id, self.get_id, self.head_id, self.post_id))(conn)
        elif job == "close":
            self.get_id(conn, close=True)
            conn.closing = True
        elif job == "post":
            self.post_id(conn)
        elif job == "chunked":
            self.post_id(conn, chunked=True)
        else:
            getattr(self, job)(conn)
        self.flush(conn)

    # -- the loop ----------------------------------------------------------------------------

    def flush(self, conn: Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            sent = 0
        del conn.out[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        self.selector.modify(conn.sock, events, conn)

    def on_read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(256 * 1024)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data = b""
        if not data:
            if conn.expects:
                self.fail(conn, f"closed with {len(conn.expects)} answers missing")
            elif not conn.closing:
                self.fail(conn, "the server closed a keep-alive connection")
            fresh = self.replace(conn)
            if fresh is not None:
                self.start_job(fresh)
            return
        conn.inbuf += data
        self.parse(conn)
        if not conn.expects and not conn.closing and self.sent < self.total:
            self.start_job(conn)
        elif not conn.expects and not conn.closing:
            self.selector.unregister(conn.sock)
            conn.sock.close()
            self.conns.remove(conn)

    def parse(self, conn: Conn) -> None:
        buf = conn.inbuf
        while conn.expects:
            end = buf.find(b"\r\n\r\n")
            if end == -1:
                return
            head = bytes(buf[:end])
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                fields[name.lower()] = value.strip()
            expect = conn.expects[0]
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            length = 0 if expect.head_only else int(fields.get(b"content-length", b"0"))
            if len(buf) < end + 4 + length:
                return
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            conn.expects.popleft()
            if not lines[0].startswith(b"HTTP/1.1 "):
                self.fail(conn, f"{expect.what}: bad status line {lines[0][:60]!r}")
                continue
            problem = expect.check(status, fields, body)
            if problem:
                self.fail(conn, f"{expect.what}: {problem}")
            else:
                self.tally["ok"] += 1

    def run(self, seconds: float) -> dict:
        started = time.monotonic()
        for conn in list(self.conns):
            self.start_job(conn)
        deadline = started + seconds
        while self.conns and time.monotonic() < deadline:
            for key, mask in self.selector.select(1.0):
                conn = key.data
                if mask & selectors.EVENT_WRITE and conn in self.conns:
                    self.flush(conn)
                if mask & selectors.EVENT_READ and conn in self.conns:
                    self.on_read(conn)
        if self.conns:
            self.fail(self.conns[0], f"{len(self.conns)} connections unfinished at the deadline")
        for conn in self.conns:
            conn.sock.close()
        elapsed = time.monotonic() - started
        return {
            "sent": self.tally["sent"],
            "ok": self.tally["ok"],
            "failed": self.tally["failed"],
            "failures": self.failures,
            "seconds": round(elapsed, 2),
            "jobs": {k[4:]: v for k, v in self.tally.items() if k.startswith("job:")},
        }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--files", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--jobs", default=None, help="comma-separated job kinds (default all)")
    args = parser.parse_args(argv)
    only = args.jobs.split(",") if args.jobs else None
    load = Load(args.port, args.connections, args.requests, args.files, args.seed, only)
    print(json.dumps(load.run(args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
