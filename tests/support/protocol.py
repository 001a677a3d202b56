"""The protocol and hardening suites' helpers: the corpus file format, splitting, and outcomes.

An *outcome* is everything a server could observe from feeding a byte stream to a
RequestParser: the messages it would answer (in order), any message still arriving when the
input ran out, and the error status. Two ways of
delivering the same bytes must produce equal outcomes; that is the heart of these tests.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from rush.protocol import Limits, ProtocolError, RequestMessage, RequestParser, parser
from rush.protocol.heads import ParseHeads, python_parse_heads

CORPUS = Path(__file__).resolve().parents[1] / "protocol" / "corpus"

# -- fast paths ----------------------------------------------------------------------------


def _compiled() -> ParseHeads | None:
    try:
        from rush.protocol._heads import parse_heads
    except ImportError:
        return None
    return parse_heads


#: Every way a RequestParser can run: llhttp alone, or behind a plain-request fast path
#: (rush.protocol.heads): the pure-Python twin, and the C accelerator where it is built.
FAST_PATHS: dict[str, ParseHeads | None] = {"llhttp": None, "python": python_parse_heads}
C_PARSE_HEADS = _compiled()
if C_PARSE_HEADS is not None:
    FAST_PATHS["C"] = C_PARSE_HEADS


@contextmanager
def fast_path(name: str) -> Iterator[None]:
    """RequestParsers made inside use the fast path `name` (a key of FAST_PATHS)."""
    saved = parser.PLAIN_HEADS
    parser.PLAIN_HEADS = FAST_PATHS[name]
    try:
        yield
    finally:
        parser.PLAIN_HEADS = saved


# -- corpus files --------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}


def decode_http(text: str) -> bytes:
    """Turn a `.http` file's text into the exact bytes it describes.

    Real line breaks only make the file readable and are dropped; every byte that is not
    printable ASCII is written as an escape: \\r \\n \\t \\\\ or \\xHH.
    """

    def unescape(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) == 3 and code[0] == "x":
            return chr(int(code[1:], 16))
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        raise ValueError(f"unknown escape \\{code} in a .http file")

    text = text.replace("\r", "").replace("\n", "")
    return _ESCAPE.sub(unescape, text).encode("latin-1")


def wire(text: str) -> bytes:
    """JSON strings in the corpus hold bytes as latin-1 code points ("\\u00e9" is 0xE9)."""
    return text.encode("latin-1")


@dataclass(frozen=True)
class Case:
    """One corpus entry: the raw bytes and the expectation from its sidecar JSON."""

    name: str
    kind: str  # "valid" or "invalid"
    data: bytes
    expect: dict

    @property
    def limits(self) -> Limits | None:
        override = self.expect.get("limits")
        return Limits(**override) if override else None


def load_cases(kind: str) -> list[Case]:
    cases = []
    for path in sorted((CORPUS / kind).glob("*.http")):
        sidecar = path.with_suffix(".json")
        expect = json.loads(sidecar.read_text(encoding="ascii"))
        data = decode_http(path.read_text(encoding="ascii"))
        cases.append(Case(path.stem, kind, data, expect))
    return cases


# -- splitting -----------------------------------------------------------------------------


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def linewise(data: bytes) -> list[bytes]:
    """Pieces that each end just after a LF (the last may not): how a line reader sees it."""
    return [piece for piece in re.split(rb"(?<=\n)", data) if piece]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Cut `data` at the given offsets (any order, duplicates and out-of-range ignored)."""
    points = sorted({cut for cut in cuts if 0 < cut < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def random_split(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    if len(data) < 2:
        return [data]
    count = rng.randint(1, min(len(data) - 1, 12))
    return split_at(data, rng.sample(range(1, len(data)), count))


# -- outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A RequestMessage frozen into comparable values (the body is read, not taken)."""

    method: str
    target: bytes
    version: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    keep_alive: bool
    content_length: int | None
    chunked: bool
    expect_continue: bool
    complete: bool

    @classmethod
    def of(cls, message: RequestMessage) -> Snapshot:
        return cls(
            method=message.method,
            target=message.target,
            version=message.version,
            headers=tuple(message.headers),
            body=b"".join(message.body_parts),
            keep_alive=message.keep_alive,
            content_length=message.content_length,
            chunked=message.chunked,
            expect_continue=message.expect_continue,
            complete=message.complete,
        )


@dataclass(frozen=True)
class Outcome:
    """What a server sees after feeding all pieces (or up to the first ProtocolError).

    answered: messages complete by the end of a successful feed, plus `error.completed`;
        exactly the requests the connection answers, in order.
    pending: messages handed out but not complete when the input ended. After an error the
        connection drops them, and whether a message was handed out before its bad bytes
        arrived depends on the split, so they are not part of an error outcome.
    """

    answered: tuple[Snapshot, ...]
    pending: tuple[Snapshot, ...]
    status: int | None


def feed_pieces(
    pieces: Sequence[bytes | memoryview],
    limits: Limits | None = None,
    path: str | None = None,
    looks_first: bool = False,
) -> Outcome:
    """Feed `pieces` one `feed()` call each, the way a connection would, and record the outcome.

    `path`: the fast path to use (a key of FAST_PATHS); by default the one in force.
    `looks_first`: at rest, read each piece with `read_plain` first, as rush.server.connection
    does: a piece that is whole plain requests, kept alive and without a body, is not fed at
    all (the parser stays at rest); any other is fed with what was read of it.
    """
    if path is None:
        parser = RequestParser(limits)
    else:
        with fast_path(path):
            parser = RequestParser(limits)
    answered: list[RequestMessage] = []
    pending: list[RequestMessage] = []
    status = None
    for piece in pieces:
        try:
            read = None
            if looks_first and parser.resting:
                assert parser.read_plain is not None
                read = parser.read_plain(
                    piece,
                    parser.max_target,
                    parser.max_header_bytes,
                    parser.max_header_count,
                    parser.max_body,
                    RequestMessage,
                    len(piece),
                )
            if read is not None and read[1] == len(piece) > 0 and _at_rest_after(read[0]):
                returned = read[0]
            else:
                returned = parser.feed(piece, None, read)
        except ProtocolError as error:
            answered.extend(error.completed)
            pending = []
            status = error.status
            break
        pending.extend(returned)
        answered.extend(m for m in pending if m.complete)
        pending = [m for m in pending if not m.complete]
    return Outcome(
        answered=tuple(Snapshot.of(m) for m in answered),
        pending=tuple(Snapshot.of(m) for m in pending),
        status=status,
    )


def _at_rest_after(taken: list[RequestMessage]) -> bool:
    return taken[-1].keep_alive and not any(message.body_size for message in taken)


def feed_case(case: Case, pieces: Sequence[bytes]) -> Outcome:
    return feed_pieces(pieces, case.limits)


def describe(outcome: Outcome) -> str:
    """A short one-line summary for assertion messages."""
    answered = [f"{m.method} {m.target!r} body={m.body[:40]!r}" for m in outcome.answered]
    return f"status={outcome.status} answered={answered} pending={len(outcome.pending)}"


def mutated_streams(seeds: Sequence[bytes], interesting: bytes) -> st.SearchStrategy[bytes]:
    """Seed streams with 1-4 byte-level edits (replace, insert, delete, duplicate), the
    replaced and inserted bytes biased toward `interesting` ones."""
    favoured = st.sampled_from(interesting)

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            op = draw(st.sampled_from(["replace", "insert", "delete", "duplicate"]))
            if op == "replace" and at < len(data):
                data[at] = draw(favoured | st.integers(0, 255))
            elif op == "insert":
                data[at:at] = bytes([draw(favoured | st.integers(0, 255))])
            elif op == "delete":
                del data[at : at + draw(st.integers(1, 8))]
            elif op == "duplicate":
                data[at:at] = data[at : at + draw(st.integers(1, 32))]
        return bytes(data)

    return mutated()
