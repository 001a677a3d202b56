"""request.form / request.files / request.body / request.stream and stream=True handlers, in
process: through the test client (bodies in memory) and through `harness.Session`, which feeds
raw bytes the way the connection does (sinks, spooling, random splits, disconnects)."""

from __future__ import annotations

import hashlib
import io
import os
import random

import pytest

from rush import Rush, abort
from rush.bodies import BodyOptions, ClientDisconnected, MultipartSink, SpoolSink, StreamSink
from rush.exceptions import ConfigError, RouteError
from rush.multipart import encode_multipart, quote_filename_star
from rush.uploads import UploadedFile, safe_filename
from tests.bodies.harness import Session, post, serve, splits

KIB = 1024


def spool_fds(directory) -> int:
    """Descriptors of this process open on files in `directory` (anonymous ones included)."""
    prefix = str(directory) + "/"
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(prefix)
        except OSError:
            pass
    return count


def describe(upload: UploadedFile) -> dict:
    return {
        "name": upload.name,
        "filename": upload.filename,
        "safe": upload.safe_filename,
        "type": upload.content_type,
        "size": upload.size,
        "sha": hashlib.sha256(upload.read()).hexdigest(),
        "memory": upload.in_memory,
    }


@pytest.fixture
def app(tmp_path):
    app = Rush(spool_threshold=4 * KIB, spool_dir=str(tmp_path), max_form_parts=20)
    app.spool_dir = tmp_path

    @app.post("/upload")
    def upload(request):
        return {
            "form": request.form.to_dict(flat=False),
            "files": [describe(f) for _, f in request.files.items(multi=True)],
        }

    @app.post("/raw")
    def raw(request):
        store = request.body_store
        return {
            "stream": hashlib.sha256(request.stream.read()).hexdigest(),
            "body": hashlib.sha256(request.body).hexdigest(),
            "spooled": type(store).__name__ if store is not None else None,
        }

    @app.post("/ingest", stream=True)
    def ingest(request):
        digest = hashlib.sha256()
        sizes = []
        while chunk := (yield):
            digest.update(chunk)
            sizes.append(len(chunk))
        return {"sha": digest.hexdigest(), "chunks": len(sizes), "total": sum(sizes)}

    return app


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- forms through the test client (in memory) -------------------------------------------


def test_urlencoded_form_and_limits(app):
    client = app.test_client()
    answer = client.post("/upload", form={"a": "1", "b": "x y&z"})
    assert answer.json["form"] == {"a": ["1"], "b": ["x y&z"]}
    too_many = "&".join(f"k{i}=v" for i in range(1001))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/upload", body=too_many, headers=headers).status == 400


def test_multipart_in_memory_through_the_test_client(app):
    body, content_type = encode_multipart(
        [("title", "Holiday"), ("tag", "a"), ("tag", "b")],
        [("photo", "../../etc/passwd", b"\x89PNG...", "image/png")],
    )
    answer = app.test_client().post("/upload", body=body, headers={"Content-Type": content_type})
    assert answer.status == 200
    data = answer.json
    assert data["form"] == {"title": ["Holiday"], "tag": ["a", "b"]}
    (photo,) = data["files"]
    assert photo == {
        "name": "photo",
        "filename": "../../etc/passwd",
        "safe": "passwd",
        "type": "image/png",
        "size": 7,
        "sha": sha(b"\x89PNG..."),
        "memory": True,
    }


def test_missing_file_is_a_400_and_empty_multipart_is_an_empty_form(app):
    @app.post("/need")
    def need(request):
        return request.files["photo"].filename

    client = app.test_client()
    body, content_type = encode_multipart([("a", "1")])
    assert client.post("/need", body=body, headers={"Content-Type": content_type}).status == 400
    headers = {"Content-Type": "multipart/form-data; boundary=x"}
    assert client.post("/upload", headers=headers).json == {"form": {}, "files": []}


def test_in_memory_multipart_obeys_the_route_limits(app):
    @app.post("/small", max_form_field_size=10, max_form_parts=2)
    def small(request):
        return request.form.to_dict()

    client = app.test_client()
    ok, ct = encode_multipart([("a", "x" * 10)])
    assert client.post("/small", body=ok, headers={"Content-Type": ct}).json == {"a": "x" * 10}
    big, ct = encode_multipart([("a", "x" * 11)])
    assert client.post("/small", body=big, headers={"Content-Type": ct}).status == 413
    many, ct = encode_multipart([("a", "1"), ("b", "2"), ("c", "3")])
    assert client.post("/small", body=many, headers={"Content-Type": ct}).status == 413


# -- spooled bodies through the connection's path ----------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
def test_large_multipart_spools_files_and_parses_in_any_split(app, chunked):
    rng = random.Random(7)
    big = rng.randbytes(50 * KIB)
    small = b"tiny"
    body, ct = encode_multipart(
        [("title", "t" * 100), ("név", "érték")],
        [("big", "big.bin", big, "application/x-big"), ("small", "s.txt", small, "text/plain")],
    )
    raw = post("/upload", body, ct, chunked=chunked)
    for pieces in ([raw], list(splits(raw, rng, 7000)), list(splits(raw, rng, 100))):
        (answer,) = serve(app, raw, iter(pieces))
        data = answer.json
        assert data["form"] == {"title": ["t" * 100], "név": ["érték"]}
        by_name = {f["name"]: f for f in data["files"]}
        assert by_name["big"]["sha"] == sha(big) and by_name["big"]["size"] == len(big)
        assert by_name["big"]["memory"] is False  # above spool_threshold: in the temp file
        assert by_name["small"]["sha"] == sha(small)
        # A form announced above the threshold sends every file to the temporary file; a
        # chunked one keeps files in memory until they pass the threshold together.
        assert by_name["small"]["memory"] is chunked
    assert spool_fds(app.spool_dir) == 0
    assert os.listdir(app.spool_dir) == []


def test_uploaded_file_api_on_a_spooled_file(app, tmp_path):
    content = random.Random(3).randbytes(20 * KIB)
    saved = tmp_path / "saved"
    saved.mkdir()

    @app.post("/save")
    def save(request):
        upload = request.files["f"]
        assert not upload.in_memory
        head = upload.read(10)
        upload.stream.seek(0)
        assert upload.stream.read() == content and head == content[:10]
        upload.save(saved / upload.safe_filename)
        sink = io.BytesIO()
        upload.save(sink)
        assert sink.getvalue() == content
        return upload.safe_filename

    body, ct = encode_multipart([], [("f", "C:\\Users\\me\\photo.jpg", content, "image/jpeg")])
    (answer,) = serve(app, post("/save", body, ct))
    assert answer.text == "photo.jpg"
    assert (saved / "photo.jpg").read_bytes() == content


def test_uploaded_file_has_werkzeugs_file_storage_names(app):
    @app.post("/werkzeug")
    def werkzeug(request):
        upload, empty = request.files["f"], request.files["empty"]
        assert upload and not empty  # an empty file input has no name: falsy, as Werkzeug's
        assert (upload.mimetype, upload.content_length) == ("text/plain", 16)
        first = upload.readline()
        assert upload.tell() == len(first) and list(upload) == [b"line two\n"]
        upload.seek(0)
        assert upload.read() == b"line 1\nline two\n"
        with pytest.raises(AttributeError):
            getattr(upload, "_no_such_thing")  # noqa: B009  # no proxy for private names
        return first

    files = [("f", "a.txt", b"line 1\nline two\n", "Text/Plain; charset=utf-8")]
    body, ct = encode_multipart([], [*files, ("empty", "", b"", "application/octet-stream")])
    (answer,) = serve(app, post("/werkzeug", body, ct))
    assert answer.status == 200 and answer.text == "line 1\n"


def test_uploads_are_gone_after_the_request(app):
    kept = []

    @app.post("/keep")
    def keep(request):
        kept.append(request.files["f"])
        return "ok"

    body, ct = encode_multipart([], [("f", "f", b"z" * 10 * KIB, "x/y")])
    serve(app, post("/keep", body, ct))
    with pytest.raises(ValueError, match="save"):
        kept[0].read()


@pytest.mark.parametrize("chunked", [False, True])
def test_large_raw_body_spools_and_reads_back(app, chunked):
    data = random.Random(5).randbytes(30 * KIB)
    raw = post("/raw", data, "application/octet-stream", chunked=chunked)
    (answer,) = serve(app, raw, splits(raw, random.Random(1), 5000))
    assert answer.json == {"stream": sha(data), "body": sha(data), "spooled": "SpoolSink"}
    small = post("/raw", b"abc", "application/octet-stream", chunked=chunked)
    expected = "SpoolSink" if chunked else None  # a small known length never gets a sink
    assert serve(app, small)[0].json["spooled"] == expected
    assert spool_fds(app.spool_dir) == 0


def test_spooled_urlencoded_form(app):
    fields = "&".join(f"k{i}={'v' * 10}" for i in range(500))
    raw = post("/upload", fields.encode(), "application/x-www-form-urlencoded")
    (answer,) = serve(app, raw)
    assert len(answer.json["form"]) == 500
    app2 = Rush(spool_threshold=100, max_form_memory=1000)

    @app2.post("/f")
    def form(request):
        return request.form.to_dict()

    assert (
        serve(app2, post("/f", fields.encode(), "application/x-www-form-urlencoded"))[0].status
        == 413
    )


# -- limits and malformed bodies, fed the way the connection does ------------------------


def limit_app(tmp_path):
    app = Rush(
        spool_threshold=1 * KIB,
        spool_dir=str(tmp_path),
        max_form_parts=5,
        max_form_field_size=2 * KIB,
        max_form_memory=5 * KIB,
        max_part_header_size=512,
    )

    @app.post("/f")
    def form(request):
        return {"fields": len(request.form), "files": len(request.files)}

    return app


@pytest.mark.parametrize(
    "fields, files, status, word",
    [
        ([("a", "x" * 2048)], [], 200, ""),
        ([("a", "x" * 2049)], [("file", "a", b"x" * 2000, "x/y")], 413, "form field too large"),
        ([(f"f{i}", "x" * 1500) for i in range(4)], [], 413, "form fields too large"),
        ([(f"f{i}", "x" * 300) for i in range(5)], [], 200, ""),
        ([(f"f{i}", "1") for i in range(5)], [("file", "a", b"x" * 2000, "x/y")], 413, "too many"),
        ([("n" * 600, "1")], [("file", "a", b"x" * 2000, "x/y")], 413, "part headers too large"),
        ([], [("file", "a", b"x" * 100_000, "x/y")], 200, ""),  # files: only max_body applies
    ],
)
def test_form_limits(tmp_path, fields, files, status, word):
    app = limit_app(tmp_path)
    body, ct = encode_multipart(fields, files)
    assert len(body) > 1 * KIB  # a spooled body: parsed by the sink as it arrives
    raw = post("/f", body, ct)
    # Fed whole, the limit is found in the last bytes fed: the handler's form access says 413.
    (answer,) = serve(app, raw)
    assert answer.status == status, answer.body
    assert word.encode() in answer.body
    # Fed in pieces, a 413 comes from the parser at the next bytes after the limit was
    # crossed: the rest of the body is never read.
    session = Session(app)
    pieces = list(splits(raw, random.Random(2), 300))
    fed = 0
    while session.error is None and fed < len(pieces):
        session.feed(pieces[fed])
        fed += 1
    if status == 413:
        assert session.error is not None and session.error.status == 413
        assert fed < len(pieces)
    else:
        assert session.responses[0].status == 200
    assert spool_fds(tmp_path) == 0


MALFORMED = [
    ("multipart/form-data", b"--x\r\n\r\nv\r\n--x--" + b" " * 2000, "without a boundary"),
    (
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n" + b"v" * 2000,
        "truncated",
    ),
    ("multipart/form-data; boundary=x", b"--x\r\nbad header\r\n\r\n" + b"v" * 2000, "header"),
    (
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Type: a/b\r\n\r\n" + b"v" * 2000 + b"\r\n--x--",
        "Content-Disposition",
    ),
    (
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition: form-data; name=a\r\n"
        + b"Content-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe"
        + b"v" * 2000
        + b"\r\n--x--",
        "not valid utf-8",
    ),
]


@pytest.mark.parametrize("content_type, body, word", MALFORMED)
@pytest.mark.parametrize("size", ["large", "small"])
def test_malformed_multipart_is_a_400(tmp_path, content_type, body, word, size):
    app = limit_app(tmp_path)
    if size == "small":
        body = body.replace(b"v" * 2000, b"v")
    (answer,) = serve(app, post("/f", body, content_type))
    assert answer.status == 400
    assert word.encode() in answer.body
    client = app.test_client()  # the in-memory path says the same
    assert client.post("/f", body=body, headers={"Content-Type": content_type}).status == 400


def test_a_client_leaving_mid_upload_deletes_the_spool(tmp_path):
    app = limit_app(tmp_path)
    body, ct = encode_multipart([], [("file", "a", b"x" * 1_000_000, "x/y")])
    raw = post("/f", body, ct)
    session = Session(app)
    session.feed(raw[:600_000])
    assert session.current is not None and spool_fds(tmp_path) == 1
    session.disconnect()
    assert spool_fds(tmp_path) == 0


def test_the_handler_raising_still_deletes_the_spool(tmp_path):
    app = limit_app(tmp_path)

    @app.post("/boom")
    def boom(request):
        assert request.files["file"].size == 500_000
        raise RuntimeError("handler bug")

    body, ct = encode_multipart([], [("file", "a", b"x" * 500_000, "x/y")])
    (answer,) = serve(app, post("/boom", body, ct))
    assert answer.status == 500
    assert spool_fds(tmp_path) == 0


def test_a_full_disk_is_a_507(tmp_path, monkeypatch):
    app = limit_app(tmp_path)

    def no_space(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("rush.uploads.os.write", no_space)
    body, ct = encode_multipart([], [("file", "a", b"x" * 600_000, "x/y")])
    (answer,) = serve(app, post("/f", body, ct))
    assert answer.status == 507
    assert spool_fds(tmp_path) == 0


# -- non-ASCII names ---------------------------------------------------------------------


def test_non_ascii_field_names_and_filenames(app):
    star = quote_filename_star("€ résumé.pdf")
    body = (
        '--B\r\nContent-Disposition: form-data; name="名前"\r\n\r\n太郎\r\n'
        '--B\r\nContent-Disposition: form-data; name="raw"; filename="naïve café.txt"\r\n\r\n'
        "1\r\n"
        f'--B\r\nContent-Disposition: form-data; name="star"; filename="fallback.pdf"; '
        f"filename*={star}\r\n\r\n2\r\n"
        "--B--\r\n"
    ).encode()
    raw = post("/upload", body, "multipart/form-data; boundary=B")
    for answer in (
        serve(app, raw)[0],
        app.test_client().post(
            "/upload", body=body, headers={"Content-Type": "multipart/form-data; boundary=B"}
        ),
    ):
        data = answer.json
        assert data["form"] == {"名前": ["太郎"]}
        names = {f["name"]: (f["filename"], f["safe"]) for f in data["files"]}
        assert names == {
            "raw": ("naïve café.txt", "naïve café.txt"),
            "star": ("€ résumé.pdf", "€ résumé.pdf"),
        }


@pytest.mark.parametrize(
    "filename, expected",
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("..", "upload"),
        ("", "upload"),
        ("/", "upload"),
        ("...", "upload"),
        (".bashrc", "bashrc"),
        ("a\x00b\x1fc.txt", "abc.txt"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("  spaced   out .txt. ", "spaced out .txt"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("x" * 300 + ".tar.gz", "x" * 252 + ".gz"),
        ("é" * 200, "é" * 127),
    ],
)
def test_safe_filename(filename, expected):
    assert safe_filename(filename) == expected
    assert len(expected.encode()) <= 255


# -- stream=True handlers ----------------------------------------------------------------


def test_stream_handler_sees_chunks_as_they_arrive(app):
    data = random.Random(9).randbytes(100 * KIB)
    raw = post("/ingest", data, "application/octet-stream")
    session = Session(app)
    pieces = list(splits(raw, random.Random(4), 20_000))
    for piece in pieces:
        session.feed(piece)
    (answer,) = session.responses
    assert answer.json["sha"] == sha(data)
    assert answer.json["chunks"] > 3
    # Chunked, and through the test client (one chunk) too.
    chunked = post("/ingest", data, "application/octet-stream", chunked=True)
    assert serve(app, chunked)[0].json["sha"] == sha(data)
    assert app.test_client().post("/ingest", body=data).json["chunks"] == 1


def test_stream_handler_runs_before_the_body_ends():
    app = Rush()
    seen: list[bytes] = []

    @app.post("/s", stream=True)
    def stream(request):
        while chunk := (yield):
            seen.append(chunk)
        return str(len(seen))

    session = Session(app)
    session.feed(b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nab")
    assert seen == [b"ab"] and not session.responses
    session.feed(b"cd")
    assert seen == [b"ab", b"cd"]
    session.feed(b"ef")
    assert session.responses[0].text == "3"


def test_a_stream_request_whose_client_leaves_mid_body_is_torn_down_once():
    calls: list[tuple[str, object]] = []
    app = Rush()
    app.before_request(lambda request: calls.append(("open", request.path)))
    app.teardown_request(lambda request, error: calls.append(("close", error)))

    @app.post("/up", stream=True)
    def upload(request):
        size = 0
        while chunk := (yield):
            size += len(chunk)
        return str(size)

    head = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n"
    left = Session(app)
    left.feed(head + b"abc")
    assert calls == [("open", "/up")]
    left.disconnect()
    assert [name for name, _ in calls] == ["open", "close"]
    error = calls[1][1]
    assert isinstance(error, ClientDisconnected) and isinstance(error, ConnectionError)
    left.disconnect()  # closing again tears nothing down twice
    assert len(calls) == 2
    calls.clear()
    whole = Session(app)
    whole.feed(head + b"abcdef")
    assert whole.responses[0].text == "6" and calls == [("open", "/up"), ("close", None)]
    whole.disconnect()
    assert len(calls) == 2  # answered: the teardown ran once, in App.handle


def test_a_stream_handler_reading_the_body_another_way_is_told_to_yield():
    app = Rush()
    seen: list[str] = []

    @app.post("/s", stream=True)
    def stream(request):
        for read in (lambda: request.body, lambda: request.form, lambda: request.stream):
            try:
                read()
            except RuntimeError as error:
                seen.append(str(error))
        while (yield):
            pass
        return "done"

    session = Session(app)
    session.feed(b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab")
    assert session.responses[0].text == "done"
    assert seen == ["a stream=True handler receives the body through `yield`"] * 3


def test_stream_handler_outcomes():
    app = Rush()
    log = []

    @app.post("/early", stream=True)
    def early(request):
        first = yield
        return f"first={first!r}"

    @app.post("/fails", stream=True)
    def fails(request):
        yield
        raise RuntimeError("broken")

    @app.post("/denied", stream=True)
    def denied(request):
        if request.headers.get("x-token") != "ok":
            abort(403, "no token")
        while (yield):
            pass
        return "accepted"

    @app.post("/greedy", stream=True)
    def greedy(request):
        while True:
            yield

    @app.post("/cleanup", stream=True)
    def cleanup(request):
        try:
            while (yield):
                log.append("chunk")
        finally:
            log.append("closed")
        return "done"

    def one(target, body=b"0123456789", extra=""):
        return serve(app, post(target, body, "x/y", extra=extra))[0]

    assert one("/early").text == "first=b'0123456789'"
    assert one("/fails").status == 500
    assert one("/denied").status == 403
    assert one("/denied", extra="X-Token: ok\r\n").text == "accepted"
    assert one("/greedy").status == 500
    assert one("/cleanup").text == "done" and log == ["chunk", "closed"]
    log.clear()
    session = Session(app)
    session.feed(post("/cleanup", b"x" * 100, "x/y")[:-50])
    session.disconnect()  # the client left: the generator is closed, its finally runs
    assert log == ["chunk", "closed"]


def test_stream_handler_with_hooks_and_context():
    app = Rush()
    order = []

    @app.before_request
    def before(request):
        order.append("before")
        request.context["user"] = "ann"
        if request.headers.get("x-deny"):
            return "denied by hook", 401
        return None

    @app.after_request
    def after(request, response):
        order.append(f"after:{request.context.get('user')}")
        return response

    @app.post("/s", stream=True)
    def stream(request):
        order.append(f"start:{request.context['user']}")
        size = 0
        while chunk := (yield):
            size += len(chunk)
        return f"{request.context['user']} sent {size}"

    answer = serve(app, post("/s", b"x" * 5000, "x/y", chunked=True))[0]
    assert answer.text == "ann sent 5000"
    assert order == ["before", "start:ann", "after:ann"]  # hooks run once each
    order.clear()
    answer = serve(app, post("/s", b"x" * 5000, "x/y", chunked=True, extra="X-Deny: 1\r\n"))[0]
    assert answer.status == 401 and order == ["before", "after:ann"]


def test_stream_route_needs_a_generator_and_bad_options_are_config_errors():
    app = Rush()
    with pytest.raises(RouteError, match="generator"):

        @app.post("/s", stream=True)
        def plain(request):
            return "x"

    with pytest.raises(ConfigError):
        Rush(spool_threshold=-1)
    with pytest.raises(ConfigError):
        BodyOptions(max_form_parts="10")  # type: ignore[arg-type]


def test_sinks_chosen_by_the_body_plan(app):
    from rush.protocol import RequestParser

    def sink_for(raw: bytes):
        (message,) = RequestParser().feed(raw)
        _, sink, _ = app.body_plan(message, 1 << 30)
        if sink is not None:
            sink.close()
        return type(sink)

    body, ct = encode_multipart([], [("f", "f", b"x" * 5000, "x/y")])
    assert sink_for(post("/upload", body, ct)) is MultipartSink
    assert sink_for(post("/upload", b"x" * 5000, "x/y")) is SpoolSink
    assert sink_for(post("/upload", b"x" * 10, "x/y")) is type(None)
    assert sink_for(post("/upload", b"x" * 10, "x/y", chunked=True)) is SpoolSink
    assert sink_for(post("/ingest", b"x" * 10, "x/y")) is StreamSink
    assert sink_for(post("/nowhere", b"x" * 5000, "x/y")) is type(None)  # nobody reads it


def test_an_error_inside_a_sink_never_reaches_the_connection(app):
    body, ct = encode_multipart([], [("f", "f", b"x" * 5000, "x/y")])
    raw = post("/upload", body.replace(b"Disposition", b"Dispo\x00sition"), ct)
    session = Session(app)
    for piece in splits(raw, random.Random(0), 500):
        session.feed(piece)  # would raise here if a sink raised
    assert session.responses[0].status == 400


def test_a_client_dribbling_bytes_costs_no_object_per_byte():
    import tracemalloc

    from rush.bodies import DEFAULT_OPTIONS, FormCollector
    from rush.multipart import MultipartParser

    collector = FormCollector(DEFAULT_OPTIONS, None)
    parser = MultipartParser(b"B", collector)
    parser.feed(b'--B\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n')
    data = b"d" * 30_000
    tracemalloc.start()
    try:
        for index in range(len(data)):
            parser.feed(data[index : index + 1])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    parser.feed(b"\r\n--B--")
    parser.finish()
    assert collector.files[0][1].read() == data
    assert peak < 200_000  # a list of 1-byte chunks would hold over 1 MB
