"""Streams for the differential tests: plain requests and near misses, and byte mutations.

Shared by test_differential.py (pytest, Hypothesis) and asan_check.py (a subprocess under
AddressSanitizer). A generator takes `pick(options)`, so Hypothesis (`draw(sampled_from)`)
and a seeded `random.Random.choice` drive the same grammar.

The grammar sits on the edge of the fast path's "plain" subset (rush.protocol.heads): each
part is mostly plain, sometimes just outside it (a method llhttp knows, a byte outside the
target set, a second Host, a Content-Length with a sign, a bare LF...), and sometimes an
outright error, so that every reason to decline and every error is met next to plain
requests, before and after them in a pipeline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from rush.protocol import Limits
from tests.support.protocol import (
    FAST_PATHS,
    Outcome,
    describe,
    feed_pieces,
    load_cases,
    random_split,
)

Pick = Callable[[Sequence[Any]], Any]

SMALL = Limits(max_request_line=64, max_header_bytes=256, max_header_count=8, max_body=128)
LIMITS: list[Limits | None] = [None, SMALL]

METHODS = (
    [b"GET"] * 6
    + [b"POST"] * 3
    + [
        b"HEAD",
        b"PUT",
        b"PATCH",
        b"DELETE",
        b"OPTIONS",
        b"TRACE",
        b"CONNECT",
        b"PROPFIND",
        b"get",
        b"GETX",
        b"",
    ]
)
TARGETS = [
    b"/",
    b"/hello?name=bill",
    b"/a/b/c.css?v=1",
    b"/%41%zz",
    b"/~user/x;p=1,2:@!$&'()*+",
    b"//double",
    b"/" + b"x" * 70,
    b"/#frag",
    b"/[v]",
    b"/{x}",
    b"/a|b",
    b"/\x7f",
    b"/\xe9",
    b"/a b",
    b"*",
    b"http://example.com/p?q",
    b"example.com:80",
    b"",
    b"a/b",
]
VERSIONS = (
    [b"HTTP/1.1"] * 6 + [b"HTTP/1.0"] * 3 + [b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/0.9"]
)
EOLS = [b"\r\n"] * 40 + [b"\n", b"\r", b"\r\r\n", b" \r\n"]
NAMES = [
    b"Host",
    b"host",
    b"HOST",
    b"Content-Length",
    b"content-length",
    b"Connection",
    b"connection",
    b"Proxy-Connection",
    b"Transfer-Encoding",
    b"Upgrade",
    b"Expect",
    b"Accept",
    b"User-Agent",
    b"X-A",
    b"Cookie",
    b"Content-Type",
    b"Keep-Alive",
    b"TE",
    b"Content-Lengthx",
    b"Hostx",
    b"X_Y",
    b"X Y",
    b"X@",
    b"",
    b"\xe9",
]
VALUES = [
    b"example.com",
    b"",
    b" ",
    b"\t",
    b"a b",
    b" padded \t",
    b"\ttab",
    b"1",
    b"0",
    b"00",
    b"5",
    b"17",
    b"999999999999",
    b"-1",
    b"+5",
    b"5 5",
    b"0x10",
    b"5,5",
    b"close",
    b"CLOSE",
    b"keep-alive",
    b"Keep-Alive",
    b"upgrade",
    b"close, keep-alive",
    b"chunked",
    b"100-continue",
    b"websocket",
    b"text/html,*/*;q=0.8",
    b"caf\xe9",
    b"a\x7fb",
    b"a\x00b",
    b'"quoted"',
    b"x" * 90,
]
LEADS = [b""] * 10 + [b"\r\n", b"\n", b" "]
#: Host values: plain ones, others valid (for the full parser to take), and invalid ones (400).
HOSTS = [b"example.com", b"127.0.0.1:8000", b"", b"x:"] * 3 + [
    b"[::1]:80",
    b"a;b",
    b"ex%41",
    b"a b",
    b"a@b",
    b"a:b:c",
    b"a:b",
    b"[::1",
    b"%4",
    b"\xe9",
]


def near_plain_request(pick: Pick) -> bytes:
    """One request (or a near miss) from the edge of the plain subset."""
    version = pick(VERSIONS)
    line = pick(METHODS) + b" " + pick(TARGETS) + b" " + version + pick(EOLS)
    fields = []
    if version == b"HTTP/1.1" and pick([True, True, True, False]):
        fields.append(b"Host: " + pick(HOSTS) + b"\r\n")
    for _ in range(pick([0, 1, 1, 2, 2, 3, 5, 9])):
        separator = pick([b": ", b": ", b":", b":  ", b":\t", b" : "])
        fields.append(pick(NAMES) + separator + pick(VALUES) + pick(EOLS))
    if pick([False, False, True]):  # a plain-looking body
        body = pick([b"", b"hello", b"x" * 17, b"GET / HTTP/1.1\r\n\r\n", b"x" * 200])
        declared = pick([len(body), len(body), len(body) + 3, max(len(body) - 2, 0)])
        fields.append(b"Content-Length: %d\r\n" % declared)
    else:
        body = b""
    order = pick([1, 1, -1])  # the fields as built, or reversed (Host last, a body first)
    return pick(LEADS) + line + b"".join(fields[::order]) + pick(EOLS) + body


def near_plain_stream(pick: Pick) -> bytes:
    """A pipeline of 1-4 requests, most of them plain (so the fast path takes a prefix)."""
    plain = b"GET /p HTTP/1.1\r\nHost: a\r\n\r\n"
    parts = [pick([plain, near_plain_request(pick)]) for _ in range(pick([1, 2, 3, 4]))]
    return b"".join(parts)


def mutate(rng: random.Random, data: bytes, interesting: bytes = b"\r\n\t :0123456789") -> bytes:
    """1-4 byte-level edits: replace, insert, delete, duplicate."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        op = rng.randrange(4)
        byte = rng.choice(interesting) if rng.random() < 0.6 else rng.randrange(256)
        if op == 0 and at < len(out):
            out[at] = byte
        elif op == 1:
            out[at:at] = bytes([byte])
        elif op == 2:
            del out[at : at + rng.randint(1, 8)]
        else:
            out[at:at] = out[at : at + rng.randint(1, 32)]
    return bytes(out)


def outcomes(pieces: Sequence[bytes], limits: Limits | None) -> dict[str, Outcome]:
    """The outcome of each fast path (and llhttp alone) on the same pieces; each fast path
    also the server's way, which reads a piece at rest before it feeds it."""
    found = {name: feed_pieces(pieces, limits, name) for name in FAST_PATHS}
    for name in FAST_PATHS:
        if name != "llhttp":
            found[f"{name}, read first"] = feed_pieces(pieces, limits, name, looks_first=True)
    return found


def assert_identical(stream: bytes, pieces: Sequence[bytes], limits: Limits | None) -> None:
    """Compared under one split. Whether one path gives one outcome under every split is
    test_corpus's and test_fuzz's question, and llhttp alone does not always: a target over
    the limit with a bad byte past the limit is a 400 fed whole, a 414 if a read ends in it."""
    found = outcomes(pieces, limits)
    reference = found["llhttp"]
    for name, outcome in found.items():
        assert outcome == reference, (
            f"{name} differs from llhttp on {stream!r} cut {[len(p) for p in pieces]}, "
            f"limits {limits}:\n  {name}: {describe(outcome)}\n  llhttp: {describe(reference)}"
        )


def seed_streams() -> list[bytes]:
    return [case.data for case in load_cases("valid") + load_cases("invalid")]


def run_seeded(seconds: float, seed: int = 0) -> int:
    """Random streams (mutated corpus cases, near-plain pipelines, mutated ones) under random
    splits and both limits, until `seconds` have passed; how many streams were tried."""
    rng = random.Random(seed)
    seeds = seed_streams()
    deadline = time.monotonic() + seconds
    tried = 0
    while time.monotonic() < deadline:
        kind = rng.randrange(3)
        if kind == 0:
            stream = mutate(rng, rng.choice(seeds))
        else:
            stream = near_plain_stream(rng.choice)
            if kind == 2:
                stream = mutate(rng, stream)
        pieces = random_split(stream, rng.randrange(1 << 30)) if rng.random() < 0.7 else [stream]
        assert_identical(stream, pieces, rng.choice(LIMITS))
        tried += 1
    return tried
