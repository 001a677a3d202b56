"""The raw ceiling: the fastest pure-Python HTTP/1.1 server we can write simply.

`python bench/peers/raw_epoll.py HOST PORT [--workers N]`

One process per worker, each with its own SO_REUSEPORT socket and a
level-triggered epoll loop. There is no HTTP parser: a request ends at
b"\\r\\n\\r\\n" (plus Content-Length body bytes for POST), its target is looked
up in a dict of pre-rendered responses, and every response produced by one
recv() leaves in one send(). Pipelined and partially received requests work,
connections stay alive. Whatever a framework adds costs time above this line.
"""

import argparse
import select
import signal
import socket
import sys

from common import fork_workers, load_index, user_record

try:
    import orjson

    JSON = orjson.dumps(user_record(42))
except ImportError:  # pragma: no cover
    import json

    JSON = json.dumps(user_record(42), separators=(",", ":")).encode()

MAX_PENDING = 1 << 16  # bytes of an unfinished request before we give up on a client


def render(
    status: str, body: bytes = b"", content_type: str = "text/plain", extra: str = ""
) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


CANNED = {
    b"/easter": render("301 Moved Permanently", extra="Location: /egg\r\n"),
    b"/": render("200 OK", load_index(), "text/html; charset=utf-8"),
    b"/hello?name=bill": render("200 OK", b"hello, bill!", "text/plain; charset=utf-8"),
    b"/users/42": render("200 OK", JSON, "application/json"),
}
NOT_FOUND = render("404 Not Found", b"Not Found")
ECHO_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
)


def body_length(head: bytes) -> int:
    """Content-Length of a request head (status line excluded); 0 when absent."""
    head = head.lower()
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    start = at + 17
    return int(head[start : head.find(b"\r\n", start)])


def answer(data: bytes) -> tuple[bytes, bytes]:
    """Responses for every complete request in `data`, and the unconsumed rest."""
    out = []
    start = 0
    while True:
        end = data.find(b"\r\n\r\n", start)
        if end < 0:
            break
        line_end = data.find(b"\r\n", start)
        method, _, rest = data[start:line_end].partition(b" ")
        target = rest.partition(b" ")[0]
        if method == b"POST":
            length = body_length(data[line_end : end + 2])
            if end + 4 + length > len(data):
                break  # body not all here yet: keep the whole request for the next recv
            if target == b"/echo":
                out.append(ECHO_HEAD % length + data[end + 4 : end + 4 + length])
            else:
                out.append(NOT_FOUND)
            start = end + 4 + length
        else:
            out.append(CANNED.get(target, NOT_FOUND))
            start = end + 4
    return b"".join(out), data[start:]


class Worker:
    """One epoll loop over one listening socket and its keep-alive clients."""

    def __init__(self, listener: socket.socket):
        self.listener = listener
        self.epoll = select.epoll()
        self.epoll.register(listener.fileno(), select.EPOLLIN)
        self.clients: dict[int, socket.socket] = {}
        self.pending: dict[int, bytes] = {}  # fd -> start of an unfinished request
        self.unsent: dict[int, bytes] = {}  # fd -> responses the socket would not take yet

    def run(self) -> None:
        listen_fd = self.listener.fileno()
        clients = self.clients
        while True:
            for fd, events in self.epoll.poll():
                if fd == listen_fd:
                    self.accept()
                elif events & select.EPOLLOUT:
                    self.flush(fd)
                else:
                    self.read(fd, clients[fd])

    def accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.clients[conn.fileno()] = conn
            self.epoll.register(conn.fileno(), select.EPOLLIN)

    def read(self, fd: int, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close(fd)
            return
        if fd in self.pending:
            data = self.pending.pop(fd) + data
        try:
            out, rest = answer(data)
        except ValueError:  # unreadable Content-Length: nothing sane to answer
            self.close(fd)
            return
        if rest:
            if len(rest) > MAX_PENDING:
                self.close(fd)
                return
            self.pending[fd] = rest
        if out:
            self.send(fd, conn, out)

    def send(self, fd: int, conn: socket.socket, out: bytes) -> None:
        if fd in self.unsent:  # still waiting for EPOLLOUT: keep the order
            self.unsent[fd] += out
            return
        try:
            sent = conn.send(out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close(fd)
            return
        if sent < len(out):
            self.unsent[fd] = out[sent:]
            self.epoll.modify(fd, select.EPOLLIN | select.EPOLLOUT)

    def flush(self, fd: int) -> None:
        out = self.unsent.pop(fd)
        self.epoll.modify(fd, select.EPOLLIN)
        self.send(fd, self.clients[fd], out)

    def close(self, fd: int) -> None:
        self.epoll.unregister(fd)
        self.clients.pop(fd).close()
        self.pending.pop(fd, None)
        self.unsent.pop(fd, None)


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve(host: str, port: int) -> None:
    Worker(listen(host, port)).run()


def main() -> None:
    parser = argparse.ArgumentParser(description="raw epoll ceiling server")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers == 1:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve(args.host, args.port)
    else:
        fork_workers(lambda: serve(args.host, args.port), args.workers)


if __name__ == "__main__":
    main()
