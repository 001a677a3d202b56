"""Micro-benchmark of RequestParser.feed(): microseconds per read for typical reads, with
llhttp alone, the pure-Python fast path and the C fast path (rush.protocol.heads).

    python bench/feed.py [--number N]

Each read goes again and again to the feed() of one parser, as on a kept-alive connection.
Best of 5 repeats.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rush.protocol import RequestParser, parser  # noqa: E402
from rush.protocol.heads import ParseHeads, python_parse_heads  # noqa: E402

WRK = b"GET /hello?name=bill HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
BROWSER = (
    b"GET /static/css/site.css?v=20240101 HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"Connection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"\r\n'
    b"sec-ch-ua-mobile: ?0\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    b" Chrome/124.0.0.0 Safari/537.36\r\n"
    b'sec-ch-ua-platform: "Linux"\r\n'
    b"Accept: text/css,*/*;q=0.1\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Sec-Fetch-Mode: no-cors\r\n"
    b"Referer: https://www.example.com/\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"\r\n"
)
READS = {"wrk": WRK, "browser": BROWSER, "pipelined16": WRK * 16}


def implementations() -> dict[str, ParseHeads | None]:
    found: dict[str, ParseHeads | None] = {"llhttp": None, "python": python_parse_heads}
    try:
        from rush.protocol._heads import parse_heads
    except ImportError:
        pass
    else:
        found["C"] = parse_heads
    return found


def per_read(data: bytes, plain: ParseHeads | None, number: int) -> float:
    """Microseconds of one feed() of `data`."""
    view = memoryview(bytearray(data))  # what the server feeds: a view of its read buffer
    parser.PLAIN_HEADS = plain  # what a new RequestParser uses
    feed = RequestParser().feed
    assert feed(view) and feed(view)[-1].complete
    timer = timeit.Timer("feed(view)", globals={"feed": feed, "view": view})
    return min(timer.repeat(5, number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    found = implementations()
    print(f"{'read':<14}" + "".join(f"{name:>12}" for name in found) + "   (us per feed)")
    for name, data in READS.items():
        cells = [per_read(data, plain, args.number) for plain in found.values()]
        print(f"{name:<14}" + "".join(f"{cell:>12.2f}" for cell in cells))


if __name__ == "__main__":
    main()
