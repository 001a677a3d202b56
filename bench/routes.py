"""Route-count benchmark: does matching cost grow with the number of parameter routes?

    python bench/routes.py [--counts 10,100,1000] [--repeat R] [--number N]

Builds N routes `/api/v1/res{i}/<int:id>/items/<name>` (GET) in a Rush Router and in a
Werkzeug Map, then times, per match: the first, middle and last route, a 404 and a 405 (a
POST to the last route's path). Rush's 404/405 is what the app does on a miss: `match`, then
`allowed_methods`; Werkzeug's is `MapAdapter.match` raising NotFound / MethodNotAllowed.
Each figure is the minimum over `--repeat` runs of `--number` calls, in microseconds per
call: the minimum is the run least disturbed by the rest of a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.exceptions import HTTPException  # noqa: E402
from werkzeug.routing import Map, Rule  # noqa: E402

from rush.routetrie import IMPLEMENTATION  # noqa: E402
from rush.routing import Router  # noqa: E402

CASES = ("first", "middle", "last", "404", "405")


def handler(request: object, **params: object) -> None:
    return None


def paths(count: int) -> dict[str, tuple[str, str]]:
    """case -> (method, path)."""
    return {
        "first": ("GET", "/api/v1/res0/7/items/bolt"),
        "middle": ("GET", f"/api/v1/res{count // 2}/7/items/bolt"),
        "last": ("GET", f"/api/v1/res{count - 1}/7/items/bolt"),
        "404": ("GET", "/api/v1/nothing/7/items/bolt"),
        "405": ("POST", f"/api/v1/res{count - 1}/7/items/bolt"),
    }


def rush_matcher(count: int) -> Callable[[str, str], object]:
    router = Router()
    for i in range(count):
        router.add(f"/api/v1/res{i}/<int:id>/items/<name>", ["GET"], handler, endpoint=f"r{i}")
    router.compile()
    match, allowed = router.match, router.allowed_methods

    def rush(method: str, path: str) -> object:
        found = match(method, path)
        return found if found is not None else allowed(path, method)  # 405 if any, else 404

    return rush


def werkzeug_matcher(count: int) -> Callable[[str, str], object]:
    rules = [
        Rule(f"/api/v1/res{i}/<int:id>/items/<name>", endpoint=f"r{i}", methods=["GET"])
        for i in range(count)
    ]
    adapter = Map(rules).bind("localhost")
    match = adapter.match

    def werkzeug(method: str, path: str) -> object:
        try:
            return match(path, method=method)
        except HTTPException as error:  # NotFound, MethodNotAllowed
            return error

    return werkzeug


def check(
    count: int, rush: Callable[[str, str], object], werk: Callable[[str, str], object]
) -> None:
    """Both routers give the expected answer before anything is timed."""
    for case, (method, path) in paths(count).items():
        mine, theirs = rush(method, path), werk(method, path)
        if case == "404":
            assert mine == set() and getattr(theirs, "code", None) == 404, (mine, theirs)
        elif case == "405":
            assert mine == {"GET"} and getattr(theirs, "code", None) == 405, (mine, theirs)
        else:
            route, params = mine  # type: ignore[misc]
            endpoint, args = theirs  # type: ignore[misc]
            assert route.name == endpoint and params == args == {"id": 7, "name": "bolt"}


def per_call_us(
    fn: Callable[[str, str], object], method: str, path: str, number: int, repeat: int
) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn(method, path)
        best = min(best, time.perf_counter() - started)
    return best / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100,1000", help="route counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=15, help="runs per figure (minimum kept)")
    parser.add_argument("--number", type=int, default=2000, help="calls per run")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    results: dict[tuple[str, int, str], float] = {}
    for count in counts:
        rush, werk = rush_matcher(count), werkzeug_matcher(count)
        check(count, rush, werk)
        for case, (method, path) in paths(count).items():
            for name, fn in (("rush", rush), ("werkzeug", werk)):
                results[name, count, case] = per_call_us(fn, method, path, args.number, args.repeat)
    print(f"route walk: {IMPLEMENTATION}")
    print(f"per match, microseconds (min of {args.repeat} x {args.number} calls)\n")
    print(f"{'routes':>6}  {'case':<7}{'Rush':>9}{'Werkzeug':>10}{'Werkzeug/Rush':>15}")
    for count in counts:
        for case in CASES:
            mine, theirs = results["rush", count, case], results["werkzeug", count, case]
            print(f"{count:>6}  {case:<7}{mine:>9.2f}{theirs:>10.2f}{theirs / mine:>14.1f}x")
    if len(counts) > 1:
        low, high = counts[0], counts[-1]
        print(f"\nRush({high}) / Rush({low}) per case: ", end="")
        print(
            ", ".join(
                f"{case} {results['rush', high, case] / results['rush', low, case]:.2f}"
                for case in CASES
            )
        )


if __name__ == "__main__":
    main()
