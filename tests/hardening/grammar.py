"""Hypothesis strategies for request streams whose framing is known, and hostile edits to them.

`streams()` draws a few pipelined requests (Content-Length or chunked bodies, chunk extensions,
trailers, HTTP/1.0, Expect, a final `Connection: close`), each identified by a unique id in its
target (`/id/N`), and returns the bytes with the list of what a server must answer.
`hostile_streams()` does the same but breaks one request with a known smuggling or framing
trick: that request and everything after it must never be answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~",
    min_size=1,
    max_size=12,
)
VALUE = st.text('abcdefghijklmnopqrstuvwxyz0123456789 -_.,;:=/"()\t', min_size=0, max_size=24).map(
    lambda s: s.strip(" \t")
)
BODY = st.binary(min_size=0, max_size=300)


@dataclass
class Req:
    """One generated request: what it is, and how it is written on the wire."""

    method: str
    rid: int
    version: str
    body: bytes
    framing: str  # "none", "cl" or "chunked"
    keep_alive: bool
    fields: list[bytes] = field(default_factory=list)  # header lines, without CRLF
    chunks: list[bytes] = field(default_factory=list)  # chunked: the body as wire chunks
    terminator: bytes = b"0\r\n\r\n"

    @property
    def target(self) -> bytes:
        return b"/id/%d" % self.rid

    def wire(self) -> bytes:
        head = b"%s %s HTTP/%s\r\n" % (self.method.encode(), self.target, self.version.encode())
        head += b"".join(line + b"\r\n" for line in self.fields) + b"\r\n"
        if self.framing == "chunked":
            return head + b"".join(self.chunks) + self.terminator
        return head + (self.body if self.framing == "cl" else b"")


@st.composite
def requests(draw: st.DrawFn, rid: int, last: bool) -> Req:
    method = draw(st.sampled_from(["GET", "GET", "HEAD", "POST", "POST", "PUT", "DELETE"]))
    version = draw(st.sampled_from(["1.1", "1.1", "1.1", "1.0"]))
    has_body = method in ("POST", "PUT") or draw(st.integers(0, 9)) == 0
    framing = "none"
    if has_body:
        framing = "cl" if version == "1.0" else draw(st.sampled_from(["cl", "chunked"]))
    body = draw(BODY) if has_body else b""
    close = last and draw(st.booleans())
    keep_alive = not close  # only the last request may end the connection
    fields = [b"Host: example.com"] if version == "1.1" or draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 3))):
        fields.append(b"X-%s: %s" % (draw(TOKEN).encode(), draw(VALUE).encode()))
    if version == "1.0" and keep_alive:
        fields.append(b"Connection: keep-alive")
    if not keep_alive and (version == "1.1" or draw(st.booleans())):
        fields.append(b"Connection: close")
    req = Req(method, rid, version, body, framing, keep_alive, fields)
    if framing == "cl":
        req.fields.append(b"Content-Length: %d" % len(body))
    elif framing == "chunked":
        req.fields.append(b"Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        bounds = [0, *cuts, len(body)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            if b > a:
                ext = draw(st.sampled_from([b"", b"", b";a=b", b';n="q v"', b";x"]))
                size = draw(st.sampled_from([b"%x", b"%X", b"00%x"])) % (b - a)
                req.chunks.append(size + ext + b"\r\n" + body[a:b] + b"\r\n")
        if draw(st.booleans()):
            req.terminator = b"0\r\nX-Trailer: %s\r\n\r\n" % draw(VALUE).encode()
    # Only where a route wants the body: an unwanted one is answered at its head, without the
    # 100, and the connection closed (tests/server/test_messages.py covers that).
    if has_body and method == "POST" and version == "1.1" and draw(st.integers(0, 5)) == 0:
        req.fields.append(b"Expect: 100-continue")
    order = draw(st.permutations(range(len(req.fields))))
    req.fields = [req.fields[i] for i in order]
    return req


@st.composite
def streams(draw: st.DrawFn, max_requests: int = 4) -> list[Req]:
    count = draw(st.integers(1, max_requests))
    base = draw(st.integers(0, 10**6))
    return [draw(requests(base + i, i == count - 1)) for i in range(count)]


# -- hostile edits: each makes its request one that must be refused ---------------------------


def _replace_field(req: Req, prefix: bytes, *new: bytes) -> None:
    index = next(i for i, line in enumerate(req.fields) if line.lower().startswith(prefix))
    req.fields[index : index + 1] = list(new)


TE_TRICKS = [
    b"Transfer-Encoding : chunked",
    b"Transfer-Encoding\t: chunked",
    b"Transfer-Encoding: chunked, identity",
    b"Transfer-Encoding: identity, chunked",
    b"Transfer-Encoding: xchunked",
    b"Transfer-Encoding: chunked;q=1",
    b"Transfer-Encoding:\x0bchunked",
    b"Transfer-Encoding: chunked\x00",
    b'Transfer-Encoding: "chunked"',
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    b"Transfer-Encoding:\r\n chunked",
    b"Transfer-Encoding: chunked\r\nContent-Length: 0",
    b"Content-Length: 0\r\nTransfer-Encoding: chunked",
]
CL_TRICKS = [
    b"Content-Length: +%d",
    b"Content-Length: -%d",
    b"Content-Length: 0x%x",
    b"Content-Length : %d",
    b"Content-Length: %d\r\nContent-Length: %d1",
    b"Content-Length: %d\r\nContent-Length: %d",
    b"Content-Length: %d, %d",
    b"Content-Length: %d\r\n 1",
    b"Content-Length: %d\r\nTransfer-Encoding: chunked",
    b"Content-Length: %d\x00",
    b"Content-Length: 1_%d",
]
CHUNK_TRICKS = [b"0x%x", b" %x", b"%x ;a=b", b"+%x", b"%x;a=\x01", b'%x;a="\x7f"', b"%x\n"]
LINE_TRICKS = [
    (b"\r\n", b"\n"),  # a bare LF ends a field line
    (b"\r\n", b"\r"),  # a bare CR ends a field line
    (b": ", b" : "),  # whitespace before the colon
    (b": ", b":\x00"),  # NUL in a value
    (b": ", b": \x01"),  # a control byte in a value
    (b": ", b": \r\n "),  # obsolete line folding
]


@st.composite
def hostile_streams(draw: st.DrawFn) -> tuple[list[Req], int, bytes]:
    """(requests, index of the broken one, stream bytes); the broken one is 1.1."""
    reqs = draw(streams())
    index = draw(st.integers(0, len(reqs) - 1))
    victim = reqs[index]
    if victim.version != "1.1":
        victim.version = "1.1"
        victim.fields = [f for f in victim.fields if not f.startswith(b"Connection")]
        if not any(f.startswith(b"Host") for f in victim.fields):
            victim.fields.insert(0, b"Host: example.com")
        if not victim.keep_alive:
            victim.fields.append(b"Connection: close")
    kinds = ["host", "line", "method", "version", "target"]
    if victim.framing == "chunked":
        kinds += ["te", "te", "chunk"]
    if victim.framing == "cl":
        kinds += ["cl", "cl"]
    kind = draw(st.sampled_from(kinds))
    prefix = b"".join(r.wire() for r in reqs[:index])
    if kind == "te":
        _replace_field(victim, b"transfer-encoding:", draw(st.sampled_from(TE_TRICKS)))
    elif kind == "cl":
        trick = draw(st.sampled_from(CL_TRICKS))
        n = len(victim.body)
        _replace_field(victim, b"content-length:", trick % ((n,) * trick.count(b"%")))
    elif kind == "chunk":
        trick = draw(st.sampled_from(CHUNK_TRICKS))
        if victim.chunks:
            first = victim.chunks[0]
            size_end = first.index(b"\r\n")
            size = int(first[:size_end].split(b";")[0], 16)
            victim.chunks[0] = trick % size + first[size_end:]
        else:
            victim.terminator = trick % 0 + b"\r\n\r\n"
    elif kind == "host":
        if draw(st.booleans()):
            victim.fields = [f for f in victim.fields if not f.startswith(b"Host")]
        else:
            victim.fields.append(b"Host: other.example")
    elif kind == "line":
        old, new = draw(st.sampled_from(LINE_TRICKS))
        head = victim.wire()
        end = head.index(b"\r\n\r\n")
        first = head.index(b"\r\n") + 2  # not in the request line
        at = head.find(old, first, end)
        if at == -1:
            victim.fields.append(b"X-Pad: pad")
            head = victim.wire()
            end = head.index(b"\r\n\r\n")
            at = head.find(old, first, end)
        wire = head[:at] + new + head[at + len(old) :]
        return reqs, index, prefix + wire + b"".join(r.wire() for r in reqs[index + 1 :])
    elif kind == "method":
        victim.method = draw(st.sampled_from(["get", "G ET", "GET\x00", "CONNECT", "(GET)"]))
    elif kind == "version":
        victim.version = draw(st.sampled_from(["1.2", "2.0", "1.1 ", "1", "11"]))
    elif kind == "target":
        victim.method = "GET"
        victim.rid = -1  # "/id/-1" is fine; make the target itself bad below
        wire = victim.wire().replace(
            b" /id/-1 ", draw(st.sampled_from([b" * ", b" id ", b" ftp://x/ "])), 1
        )
        return reqs, index, prefix + wire + b"".join(r.wire() for r in reqs[index + 1 :])
    return reqs, index, prefix + b"".join(r.wire() for r in reqs[index:])
