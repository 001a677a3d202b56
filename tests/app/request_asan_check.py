"""The C accelerator of rush.request under AddressSanitizer: run by test_request_asan.py in a
subprocess.

    python tests/app/request_asan_check.py ASAN_BUILD_OF_REQUEST_SO SECONDS

It loads the given build of rush._request before anything imports rush, runs the tests of
test_request_maker.py against it, then a time-bounded fuzz: random targets (empty, long, any
byte, '?' and '%' anywhere) through RequestMaker, random query strings through query_args and
a get of what it read, each result compared with the pure-Python twin's.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.asan import load_extension  # noqa: E402 (imports no part of rush)

PIECES = [b"", b"/", b"?", b"%", b"&", b"=", b"+", b"a", b"\xc3\xa9", b"\xff", b"\x00", b"x" * 300]


def fuzz(rng: random.Random, seconds: float) -> int:
    from rush._request import RequestMaker, multidict_get, query_args
    from rush.datastructures import MultiDict, python_multidict_get
    from rush.request import (
        MAX_FORM_FIELDS,
        NO_VIEW_ARGS,
        Request,
        python_query_args,
    )
    from tests.app.test_request_maker import CONVERTERS, args_state, made, outcome, state

    c_maker = RequestMaker(Request, Request, NO_VIEW_ARGS)
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        raw = b"".join(rng.choice(PIECES) for _ in range(rng.choice([0, 1, 3, 10, 60])))
        assert state(made(c_maker, raw)) == state(made(Request, raw)), raw[:200]
        compiled = query_args(raw, MultiDict, rng.choice([0, 1, 5, MAX_FORM_FIELDS]))
        if compiled is not None:
            assert args_state(compiled) == args_state(python_query_args(raw)), raw[:200]
            key, convert = rng.choice([*compiled, "absent"]), rng.choice(CONVERTERS)
            expected = outcome(python_multidict_get, compiled, key, raw, convert)
            assert outcome(multidict_get, compiled, key, raw, convert) == expected, raw[:200]
        count += 1
    return count


def main() -> None:
    so_path, seconds = sys.argv[1], float(sys.argv[2])
    compiled = load_extension("rush._request", so_path)

    from rush import request
    from tests.app import test_request_maker

    assert request.IMPLEMENTATION == "C accelerator", request.IMPLEMENTATION
    assert sys.modules["rush._request"] is compiled
    for name in dir(test_request_maker):
        test = getattr(test_request_maker, name)
        if name.startswith("test_") and callable(test):
            if name == "test_query_args_declines_too_many_pairs_for_the_twin_to_refuse":
                for count in (0, 1, 2, 3):
                    test(count)
            else:
                test()
    print("tests: passed", flush=True)
    print(f"fuzz: {fuzz(random.Random(1), seconds)} inputs", flush=True)


if __name__ == "__main__":
    main()
