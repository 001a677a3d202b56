"""The workloads: what each one requests and what a correct answer is.

Every server must give the same status, key headers and body, or it is not
loaded for that workload: a faster wrong answer is not a result.
"""

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
LUA = BENCH / "lua"
INDEX_PATH = REPO / "examples" / "public" / "index.html"

POST_BODY = b"0123456789abcdef" * 64  # same 1 KiB as bench/lua/post.lua
#: The template workload's session cookie value (signed by bench/run.py, read by session.lua)
SESSION_ENV = "RUSH_BENCH_SESSION"
#: The key the servers sign sessions with during a run (their RUSH_SECRET_KEY).
SESSION_KEY = "bench-session-key"


def session_cookie(user: str = "bench") -> str:
    """A session cookie with {"user": user}, signed as Flask (and so Rush) sign theirs."""
    from itsdangerous import URLSafeTimedSerializer

    settings = {"key_derivation": "hmac", "digest_method": hashlib.sha1}
    signer = URLSafeTimedSerializer(SESSION_KEY, salt="cookie-session", signer_kwargs=settings)
    return signer.dumps({"user": user})


PIPELINE_DEPTH = 16  # same as bench/lua/pipeline.lua

#: The header fields of the "browser" workload, as bench/lua/browser.lua sends them (it also
#: varies the cookie and sec-ch-ua values per request; the checks send one instance).
BROWSER_FIELDS = (
    ("Connection", "keep-alive"),
    ("Upgrade-Insecure-Requests", "1"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
    ),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    ("sec-ch-ua-mobile", "?0"),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9,de;q=0.8"),
    ("sec-ch-ua", '"Chromium";v="124", "Not-A.Brand";v="1"'),
    (
        "Cookie",
        "_ga=GA1.1.1.1717171717; theme=dark; csrftoken=Xq3vT0aZ8mN2pL5rK7wY9bC1dF4gH6jE; "
        "sessionid=7919",
    ),
)


@dataclass(frozen=True)
class Expect:
    """A correct response. content_types: accepted prefixes of Content-Type (any if empty)."""

    status: int
    body: bytes | None = None  # None: any body
    headers: dict[str, str] = field(default_factory=dict)
    content_types: tuple[str, ...] = ()
    contains: bytes | None = None  # a part of the body that must be there


@dataclass(frozen=True)
class Workload:
    name: str
    method: str
    path: str
    script: Path
    expect: Expect
    description: str
    pipeline: int = 1
    non2xx_expected: bool = False  # wrk counts 404s as "non-2xx or 3xx": not errors here
    cookie: bool = False  # sends the signed session cookie (SESSION_ENV), as its script does
    fields: tuple[tuple[str, str], ...] = ()  # more header fields, as its script sends them

    def request_bytes(self) -> bytes:
        """The raw HTTP/1.1 request the checks send (wrk sends the same thing)."""
        body = POST_BODY if self.method == "POST" else b""
        head = f"{self.method} {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if self.cookie:
            head += f"Cookie: session={os.environ[SESSION_ENV]}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self.fields)
        if body:
            head += f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + body


def make_workloads(index_bytes: bytes) -> dict[str, Workload]:
    """All workloads, in report order; the static body is whatever index file is served."""
    hello = Expect(200, b"hello, bill!", content_types=("text/plain", "text/html"))
    report = LUA / "report.lua"
    items = [
        Workload(
            "redirect",
            "GET",
            "/easter",
            report,
            Expect(301, b"", headers={"location": "/egg"}),
            "GET /easter -> 301 Location: /egg, empty body",
        ),
        Workload(
            "static",
            "GET",
            "/",
            report,
            Expect(200, index_bytes, content_types=("text/html",)),
            f"GET / -> examples/public/index.html ({len(index_bytes)} bytes)",
        ),
        Workload(
            "params",
            "GET",
            "/hello?name=bill",
            report,
            hello,
            "GET /hello?name=bill -> 'hello, bill!' (query parsed in Python)",
        ),
        Workload(
            "browser",
            "GET",
            "/hello?name=bill",
            LUA / "browser.lua",
            hello,
            "the params request with the 12 header fields a browser sends (~600 bytes, "
            "cookies; values vary per request)",
            fields=BROWSER_FIELDS,
        ),
        Workload(
            "json",
            "GET",
            "/users/42",
            report,
            Expect(200, b'{"id":42,"name":"user42"}', content_types=("application/json",)),
            "GET /users/42 -> compact JSON from a typed path parameter",
        ),
        Workload(
            "post",
            "POST",
            "/echo",
            LUA / "post.lua",
            Expect(200, POST_BODY),
            "POST /echo with a 1 KiB body, echoed back",
        ),
        Workload(
            "notfound",
            "GET",
            "/missing",
            report,
            Expect(404),
            "GET /missing -> 404",
            non2xx_expected=True,
        ),
        Workload(
            "pipelined",
            "GET",
            "/hello?name=bill",
            LUA / "pipeline.lua",
            hello,
            f"params route, {PIPELINE_DEPTH} requests pipelined per connection",
            pipeline=PIPELINE_DEPTH,
        ),
        Workload(
            "template",
            "GET",
            "/table",
            LUA / "session.lua",
            Expect(200, content_types=("text/html",), contains=b"Signed in as bench."),
            "GET /table -> a Jinja2 page of 20 rows naming the user of a signed session cookie",
            cookie=True,
        ),
    ]
    return {w.name: w for w in items}


WORKLOAD_NAMES = (
    "redirect", "static", "params", "browser", "json", "post", "notfound", "pipelined", "template",
)  # fmt: skip
