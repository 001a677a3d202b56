"""The C route walk under AddressSanitizer: run by test_routewalk_asan.py in a subprocess.

    python tests/app/routewalk_asan_check.py ASAN_BUILD_OF_ROUTEWALK_SO SECONDS

It loads the given build of rush._routewalk before anything imports rush, runs the property
tests of the router (test_routetrie.py) and of the C walk alone (test_routewalk.py) against it
(their random tables, the same on every run) and the C walk's own tests, then a time-bounded fuzz of random tables and paths (text of every str width,
empty, long and many segments, more parameters than the walk keeps), each answer checked
against RouteTrie.match, exceptions included.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.asan import load_extension  # noqa: E402 (imports no part of rush)

#: Pieces of pattern segments ({n}: a parameter name) and of path segments.
PATTERN_PIECES = ["a", "b", "é", "日本", "😀", "", "<{n}>", "<int:{n}>", "<float:{n}>"]
PATTERN_PIECES += ["<uuid:{n}>", "<{n}>.<{n}x>", "v<int:{n}>", "<path:{n}>", "<path:{n}>.txt"]
TEXT = ["a", "b", "é", "日本", "😀", "", "1", "12", "٣", "４２", "2.5", ".", "v3", "\n", "x.y"]
TEXT += ["12345678-1234-5678-1234-567812345678", "9" * 30, "/", "//"]


def outcome(match: Callable[[str], Any], path: str) -> object:
    try:
        return match(path)
    except Exception as error:  # the same exception from both walks
        return type(error)


def fuzz(rng: random.Random, seconds: float) -> int:
    from rush.routetrie import c_matcher
    from tests.app.test_routetrie import build, trie_for
    from tests.app.test_routewalk import DECLINED, c_walk

    deadline = time.monotonic() + seconds
    paths = 0
    while time.monotonic() < deadline:
        table = []
        for _ in range(rng.randint(1, 12)):
            size = rng.choice([1, 2, 3, 4, 40]) if rng.random() < 0.05 else rng.randint(1, 4)
            templates = [rng.choice(PATTERN_PIECES) for _ in range(size)]
            table.append((templates, rng.choice([("GET",), ("POST",), ("GET", "POST")])))
        router = build(table)
        for method in ("GET", "POST"):
            routes = [route for route in router.dynamic if method in route.methods]
            trie = trie_for(routes)
            walks = (c_matcher(trie), c_walk(trie, lambda path: DECLINED))
            for _ in range(20):
                count = rng.choice([1, 2, 3, 5, 41, rng.randint(0, 300)])
                path = "/" + "/".join(rng.choice(TEXT) for _ in range(count))
                if rng.random() < 0.1:
                    path = path.lstrip("/")
                expected = outcome(trie.match, path)
                assert outcome(walks[0], path) == expected, (method, path[:200])
                alone = outcome(walks[1], path)
                assert alone is DECLINED or alone == expected, (method, path[:200])
                paths += 1
    return paths


def main() -> None:
    so_path, seconds = sys.argv[1], float(sys.argv[2])
    compiled = load_extension("rush._routewalk", so_path)

    from rush import routetrie
    from tests.app import test_routetrie, test_routewalk

    assert routetrie.IMPLEMENTATION == "C accelerator", routetrie.IMPLEMENTATION
    assert routetrie.matcher_of is routetrie.c_matcher
    assert sys.modules["rush._routewalk"] is compiled
    # The router's property walks every table with the C walk and RouteTrie.match behind it
    # (as test_routetrie's trie property does, which would add only time under ASan).
    test_routetrie.test_router_answers_as_static_first_then_first_registered()
    test_routewalk.test_where_the_c_walk_answers_by_itself_it_answers_as_the_reference()
    for name in dir(test_routewalk):
        test = getattr(test_routewalk, name)
        if name.startswith("test_the_") and callable(test):
            test()
    print("properties: passed", flush=True)
    print(f"fuzz: {fuzz(random.Random(1), seconds)} paths", flush=True)


if __name__ == "__main__":
    main()
