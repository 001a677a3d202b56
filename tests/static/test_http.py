"""HTTP semantics of file answers, through the in-process test client (no sockets).

Content-Type, Content-Length, validators, 304s, single ranges (206/416, If-Range), HEAD,
pre-compressed siblings with Vary, Cache-Control per folder, attachments.
"""

from __future__ import annotations

import gzip
import os
from email.utils import formatdate
from pathlib import Path

import pytest

from rush import Response, Rush
from tests.static.site import make_tree

BIG = 300 * 1024  # above the default 256 KiB threshold: served with sendfile, never cached


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = make_tree(tmp_path / "site")
    (root / "public" / "big.bin").write_bytes(os.urandom(BIG))
    (root / "public" / "data.json").write_text('{"a": 1}')
    (root / "public" / "logo.png").write_bytes(b"\x89PNG fake")
    (root / "public" / "noext").write_bytes(b"raw")
    (root / "public" / "style.css.gz").write_bytes(gzip.compress(b"body { color: red; }\n"))
    (root / "public" / "style.css.br").write_bytes(b"pretend brotli")
    return root


@pytest.fixture
def app(site: Path) -> Rush:
    app = Rush(static_folder=site / "public", static_url="/static")
    app.static("/assets", site / "assets", cache_control="max-age=3600")

    @app.get("/")
    def index(request):
        return app.send_file(site / "public" / "index.html")

    @app.get("/download/<path:name>")
    def download(request, name):
        return app.send_from_directory(site / "files", name, as_attachment=True)

    @app.get("/named")
    def named(request):
        return app.send_file(site / "files" / "report.txt", download_name='Résumé "v2".txt')

    @app.get("/typed")
    def typed(request):
        return app.send_file(site / "public" / "noext", mimetype="text/x-custom")

    @app.get("/teapot")
    def teapot(request):
        return app.send_file(site / "public" / "a.txt"), 418, {"X-Extra": "1"}

    return app


@pytest.fixture
def client(app: Rush):
    return app.test_client()


@pytest.mark.parametrize(
    "path, ctype",
    [
        ("/static/index.html", "text/html; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/a.txt", "text/plain; charset=utf-8"),
        ("/static/data.json", "application/json; charset=utf-8"),
        ("/static/logo.png", "image/png"),
        ("/static/noext", "application/octet-stream"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/static/big.bin", "application/octet-stream"),
    ],
)
def test_content_type_and_length(client, site, path, ctype):
    response = client.get(path)
    assert response.status == 200
    assert response.headers["content-type"] == ctype
    assert int(response.headers["content-length"]) == len(response.body)
    assert response.headers["accept-ranges"] == "bytes"
    folder = "assets" if path.startswith("/assets") else "public"
    assert response.body == (site / folder / path.split("/", 2)[2]).read_bytes()


def test_validators(client, site):
    response = client.get("/static/a.txt")
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    mtime = int((site / "public" / "a.txt").stat().st_mtime)
    assert response.headers["last-modified"] == formatdate(mtime, usegmt=True)
    assert client.get("/static/a.txt").headers["etag"] == etag  # stable
    assert client.get("/static/style.css").headers["etag"] != etag


def test_if_none_match_gives_304_without_body(client):
    etag = client.get("/static/a.txt").headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/static/a.txt", headers={"If-None-Match": header})
        assert response.status == 304, header
        assert response.body == b""
        assert response.headers["etag"] == etag
        assert "content-length" not in response.headers
        assert response.headers["cache-control"] == "no-cache"
    assert client.get("/static/a.txt", headers={"If-None-Match": '"nope"'}).status == 200


def test_if_modified_since(client, site):
    modified = client.get("/static/a.txt").headers["last-modified"]
    assert client.get("/static/a.txt", headers={"If-Modified-Since": modified}).status == 304
    future = formatdate(int((site / "public" / "a.txt").stat().st_mtime) + 60, usegmt=True)
    assert client.get("/static/a.txt", headers={"If-Modified-Since": future}).status == 304
    past = formatdate(int((site / "public" / "a.txt").stat().st_mtime) - 60, usegmt=True)
    assert client.get("/static/a.txt", headers={"If-Modified-Since": past}).status == 200
    assert client.get("/static/a.txt", headers={"If-Modified-Since": "garbage"}).status == 200
    # RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
    headers = {"If-Modified-Since": modified, "If-None-Match": '"other"'}
    assert client.get("/static/a.txt", headers=headers).status == 200


def test_304_for_large_files_too(client):
    etag = client.get("/static/big.bin").headers["etag"]
    response = client.get("/static/big.bin", headers={"If-None-Match": etag})
    assert response.status == 304 and response.body == b""


@pytest.mark.parametrize("path, size", [("/static/a.txt", None), ("/static/big.bin", BIG)])
@pytest.mark.parametrize(
    "spec, span",
    [
        ("bytes=0-4", (0, 4)),
        ("bytes=3-", (3, None)),
        ("bytes=-4", (-4, None)),
        ("bytes=2-2", (2, 2)),
        ("bytes=1-999999999", (1, None)),
    ],
)
def test_single_range_is_206_byte_for_byte(client, site, path, size, spec, span):
    data = (site / "public" / path.rsplit("/", 1)[1]).read_bytes()
    first, last = span
    first = first if first >= 0 else len(data) + first
    last = len(data) - 1 if last is None else last
    response = client.get(path, headers={"Range": spec})
    assert response.status == 206
    assert response.body == data[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert int(response.headers["content-length"]) == last - first + 1


@pytest.mark.parametrize("path", ["/static/a.txt", "/static/big.bin"])
@pytest.mark.parametrize("spec", ["bytes=999999999-", "bytes=-0"])
def test_unsatisfiable_range_is_416(client, site, path, spec):
    size = (site / "public" / path.rsplit("/", 1)[1]).stat().st_size
    response = client.get(path, headers={"Range": spec})
    assert response.status == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.body == b""


@pytest.mark.parametrize("spec", ["bytes=5-2", "bytes=0-1,3-4", "items=0-1", "bytes=x-", "bytes"])
def test_ranges_we_ignore_get_the_whole_file(client, spec):
    response = client.get("/static/a.txt", headers={"Range": spec})
    assert response.status == 200 and response.body == b"version 1\n"


def test_if_range(client):
    first = client.get("/static/a.txt")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for good in (etag, modified):
        response = client.get("/static/a.txt", headers={"Range": "bytes=0-2", "If-Range": good})
        assert response.status == 206 and response.body == b"ver"
    for stale in ('"old"', f"W/{etag}", "Mon, 01 Jan 2001 00:00:00 GMT"):
        response = client.get("/static/a.txt", headers={"Range": "bytes=0-2", "If-Range": stale})
        assert response.status == 200 and response.body == b"version 1\n"


def test_head_has_headers_but_no_body(client, site):
    for path, size in (("/static/a.txt", 10), ("/static/big.bin", BIG)):
        response = client.head(path)
        assert response.status == 200
        assert int(response.headers["content-length"]) == size
        assert response.body == b""
    assert client.head("/static/a.txt", headers={"Range": "bytes=0-1"}).status == 200


def test_precompressed_siblings(client, site):
    plain = client.get("/static/style.css")
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    zipped = client.get("/static/style.css", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.headers["content-type"] == "text/css; charset=utf-8"
    assert gzip.decompress(zipped.body) == b"body { color: red; }\n"
    assert zipped.headers["etag"] != plain.headers["etag"]
    brotli = client.get("/static/style.css", headers={"Accept-Encoding": "gzip, br"})
    assert brotli.headers["content-encoding"] == "br" and brotli.body == b"pretend brotli"
    refused = client.get("/static/style.css", headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
    assert "content-encoding" not in refused.headers
    star = client.get("/static/style.css", headers={"Accept-Encoding": "*;q=0.5, br;q=0"})
    assert star.headers["content-encoding"] == "gzip"
    # A file without siblings does not vary.
    assert "vary" not in client.get("/static/a.txt", headers={"Accept-Encoding": "gzip"}).headers
    # The sibling itself is an ordinary file when asked for by name.
    direct = client.get("/static/style.css.gz")
    assert direct.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in direct.headers


def test_304_and_range_follow_the_selected_encoding(client):
    headers = {"Accept-Encoding": "gzip"}
    etag = client.get("/static/style.css", headers=headers).headers["etag"]
    assert client.get("/static/style.css", headers={**headers, "If-None-Match": etag}).status == 304
    assert client.get("/static/style.css", headers={"If-None-Match": etag}).status == 200
    part = client.get("/static/style.css", headers={**headers, "Range": "bytes=0-1"})
    assert part.status == 206 and part.body == b"\x1f\x8b"


def test_cache_control_per_folder(client):
    assert client.get("/static/a.txt").headers["cache-control"] == "no-cache"
    assert client.get("/assets/app.js").headers["cache-control"] == "max-age=3600"


def test_send_file_and_attachments(client):
    assert client.get("/").body == b"<h1>index</h1>\n"
    download = client.get("/download/report.txt")
    assert download.headers["content-disposition"] == 'attachment; filename="report.txt"'
    named = client.get("/named").headers["content-disposition"]
    assert named == (
        'inline; filename="R?sum? \\"v2\\".txt"; filename*=UTF-8\'\'R%C3%A9sum%C3%A9%20%22v2%22.txt'
    )
    assert client.get("/typed").headers["content-type"] == "text/x-custom; charset=utf-8"


def test_status_and_headers_from_a_tuple(client):
    response = client.get("/teapot")
    assert response.status == 418
    assert response.headers["x-extra"] == "1"
    assert response.body == b"version 1\n"


def test_after_request_hooks_see_file_responses(app, client):
    @app.after_request
    def stamp(request, response):
        response.headers["X-Hook"] = "yes"
        return response

    for path in ("/static/a.txt", "/static/big.bin", "/"):
        response = client.get(path)
        assert response.status == 200 and response.headers["x-hook"] == "yes"
    assert client.get("/static/a.txt", headers={"Range": "bytes=0-0"}).headers["x-hook"] == "yes"

    @app.after_request
    def replace(request, response):
        return Response("replaced")

    assert client.get("/static/big.bin").body == b"replaced"


def test_directories_serve_their_index(client):
    assert client.get("/static/").body == b"<h1>index</h1>\n"
    assert client.get("/static/sub/").body == b"<h1>sub</h1>\n"
    assert client.get("/static/sub").body == b"<h1>sub</h1>\n"
    assert client.get("/static/a.txt/").status == 404


def test_directory_without_index_is_404(client, site):
    (site / "public" / "empty").mkdir()
    assert client.get("/static/empty/").status == 404
    assert client.get("/static/empty").status == 404
    assert client.get("/download/").status == 404


def test_missing_files_are_404_through_the_apps_error_handling(app, client):
    @app.errorhandler(404)
    def not_found(request, error):
        return "custom 404", 404

    @app.get("/gone")
    def gone(request):
        return app.send_file("does/not/exist.txt")

    for path in ("/gone", "/static/nope.txt", "/download/nope.txt", "/assets/nope.js"):
        response = client.get(path)
        assert (response.status, response.body) == (404, b"custom 404"), path


def test_other_methods_are_405(client):
    response = client.post("/static/a.txt")
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def test_no_descriptor_is_left_open(app, client):
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    etag = client.get("/static/big.bin").headers["etag"]
    before = open_fds()
    for headers in (
        {},
        {"If-None-Match": etag},
        {"Range": "bytes=0-9"},
        {"Range": "bytes=999999999-"},
        {"If-Modified-Since": client.get("/static/big.bin").headers["last-modified"]},
    ):
        client.get("/static/big.bin", headers=headers)
        client.head("/static/big.bin", headers=headers)
        client.get("/static/nope.bin", headers=headers)
    assert open_fds() == before

    @app.after_request
    def replace(request, response):
        return Response("replaced")  # the file response is dropped without an answer

    client.get("/static/big.bin")
    assert open_fds() == before
