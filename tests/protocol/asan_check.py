"""The C fast path under AddressSanitizer: run by test_asan.py in a subprocess.

    python tests/protocol/asan_check.py ASAN_BUILD_OF_HEADS_SO SECONDS

It loads the given build of rush.protocol._heads before anything imports rush, then feeds it
the corpus, random field lists to decode_fields, and a time-bounded random fuzz, checking
results against the pure-Python twins and llhttp as it goes. Buffers handed to parse_heads
directly are ctypes arrays of exactly the input's size, in allocations of their own (with
PYTHONMALLOC=malloc), so a read one byte past the end lands in ASan's redzone; every prefix of
every corpus stream is tried that way.
"""

from __future__ import annotations

import ctypes
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.asan import load_extension  # noqa: E402 (imports no part of rush)


def main() -> None:
    so_path, seconds = sys.argv[1], float(sys.argv[2])
    compiled = load_extension("rush.protocol._heads", so_path)

    from rush.protocol import Limits, RequestMessage, heads
    from rush.protocol.parser import PythonMessageFields
    from tests.protocol import differential
    from tests.support.protocol import FAST_PATHS, bytewise, feed_pieces, load_cases, random_split

    assert heads.parse_heads is compiled.parse_heads, heads.IMPLEMENTATION  # type: ignore[attr-defined]
    assert FAST_PATHS["C"] is compiled.parse_heads  # type: ignore[attr-defined]
    assert RequestMessage.__bases__ == (compiled.MessageFields,)  # type: ignore[attr-defined]

    def fields(message: object) -> tuple[object, ...]:
        return tuple(getattr(message, name) for name in PythonMessageFields.__slots__)

    limit_sets = [Limits(), differential.SMALL, Limits(0, 0, 0, 0)]

    def exact(data: bytes) -> ctypes.Array[ctypes.c_char]:
        return (ctypes.c_char * len(data)).from_buffer_copy(data)

    def check_prefixes(stream: bytes, ends: range | list[int]) -> None:
        for limits in limit_sets:
            args = (
                limits.max_request_line,
                limits.max_header_bytes,
                limits.max_header_count,
                limits.max_body,
            )
            for end in ends:
                got = heads.parse_heads(memoryview(exact(stream[:end])), *args)
                assert got == heads.python_parse_heads(stream[:end], *args), stream[:end]
                # Messages: C's own fields filled in place, and a type it has to call.
                for message_type in (RequestMessage, PythonMessageFields):
                    made, used = heads.parse_heads(
                        memoryview(exact(stream[:end])), *args, message_type
                    )
                    twin, twin_used = heads.python_parse_heads(stream[:end], *args, message_type)
                    assert used == twin_used, stream[:end]
                    assert [fields(m) for m in made] == [fields(m) for m in twin], stream[:end]

    cases = load_cases("valid") + load_cases("invalid")
    for case in cases:
        check_prefixes(case.data, range(len(case.data) + 1))
        for pieces in ([case.data], bytewise(case.data), random_split(case.data, 7)):
            views = [memoryview(exact(piece)) for piece in pieces]
            assert feed_pieces(views, case.limits, "C") == feed_pieces(
                pieces, case.limits, "llhttp"
            )
    print(f"corpus: {len(cases)} cases, every prefix", flush=True)

    # decode_fields: every field list of the corpus's messages, and random ones.
    fields_rng = random.Random(3)
    for _ in range(2000):
        raw = [
            (fields_rng.randbytes(fields_rng.choice((0, 1, 5, 40))), fields_rng.randbytes(9))
            for _ in range(fields_rng.choice((0, 1, 3, 70)))
        ]
        assert compiled.decode_fields(raw) == heads.python_decode_fields(raw)  # type: ignore[attr-defined]
    for bad in ([(b"a",)], [("a", b"b")], [None], 1):
        try:
            compiled.decode_fields(bad)  # type: ignore[attr-defined]
        except TypeError:
            continue
        raise AssertionError(f"decode_fields({bad!r}) did not refuse")
    print("decode_fields: 2000 random field lists", flush=True)

    rng = random.Random(1)
    seeds = differential.seed_streams()
    deadline = time.monotonic() + seconds
    streams = 0
    while time.monotonic() < deadline:
        stream = differential.near_plain_stream(rng.choice)
        if rng.random() < 0.5:
            stream = differential.mutate(rng, stream if rng.random() < 0.5 else rng.choice(seeds))
        check_prefixes(stream, [rng.randint(0, len(stream)) for _ in range(4)] + [len(stream)])
        pieces = random_split(stream, rng.randrange(1 << 30))
        differential.assert_identical(stream, pieces, rng.choice(differential.LIMITS))
        streams += 1
    print(f"fuzz: {streams} streams", flush=True)


if __name__ == "__main__":
    main()
