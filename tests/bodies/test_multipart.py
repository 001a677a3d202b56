"""The incremental multipart parser: valid and malformed bodies fed whole, byte by byte and in
random splits must give the same parts (or the same error)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rush.multipart import (
    MultipartError,
    MultipartParser,
    boundary_of,
    encode_multipart,
    parse_options,
    quote_filename_star,
)

BOUNDARY = b"XyZ-boundary"


class Recorder:
    """A PartTarget that keeps [(headers, data)] and checks the call order."""

    def __init__(self) -> None:
        self.parts: list[tuple[list[tuple[str, str]], bytes]] = []
        self.open = False
        self.chunks: list[bytes] = []

    def part_begin(self, headers):
        assert not self.open
        self.open = True
        self.headers = headers
        self.chunks = []

    def part_data(self, data):
        assert self.open and data
        self.chunks.append(bytes(data))

    def part_end(self):
        assert self.open
        self.open = False
        self.parts.append((self.headers, b"".join(self.chunks)))


def parse(body: bytes, pieces: list[bytes] | None = None, boundary: bytes = BOUNDARY, **limits):
    recorder = Recorder()
    parser = MultipartParser(boundary, recorder, **limits)
    for piece in pieces if pieces is not None else [body]:
        parser.feed(piece)
    parser.finish()
    return recorder.parts


def split_every_way(body: bytes, seed: int = 0) -> list[list[bytes]]:
    rng = random.Random(seed)
    ways = [[body], [body[i : i + 1] for i in range(len(body))]]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 12))))
        ways.append([body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)])
    return ways


def cd(name: str, filename: str | None = None) -> str:
    value = f'form-data; name="{name}"'
    return value + (f'; filename="{filename}"' if filename is not None else "")


VALID = {
    "simple": (
        b"--XyZ-boundary\r\n"
        b'Content-Disposition: form-data; name="a"\r\n\r\n'
        b"1\r\n"
        b"--XyZ-boundary\r\n"
        b'Content-Disposition: form-data; name="f"; filename="x.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"hello\r\nworld\r\n"
        b"--XyZ-boundary--\r\n",
        [
            ([("content-disposition", cd("a"))], b"1"),
            (
                [("content-disposition", cd("f", "x.txt")), ("content-type", "text/plain")],
                b"hello\r\nworld",
            ),
        ],
    ),
    "preamble_epilogue_padding": (
        b"this is a preamble\r\n--XyZ-boundary \t\r\n"
        b'Content-Disposition: form-data; name="a"\r\n\r\n'
        b"\r\n--XyZ-boundar\r\n--XyZ-boundary--  and an epilogue\r\n--XyZ-boundary\r\n",
        [([("content-disposition", cd("a"))], b"\r\n--XyZ-boundar")],
    ),
    "empty_values_and_no_headers": (
        b"--XyZ-boundary\r\n\r\n\r\n--XyZ-boundary\r\n"
        b'Content-Disposition: form-data; name="e"\r\n\r\n\r\n--XyZ-boundary--',
        [([], b""), ([("content-disposition", cd("e"))], b"")],
    ),
    "crlf_heavy_content": (
        b'--XyZ-boundary\r\nContent-Disposition: form-data; name="b"\r\n\r\n'
        b"\r\r\n\r\n-\r\n--\r\n--X\r\n\r\n--XyZ-boundary--\r\n",
        [([("content-disposition", cd("b"))], b"\r\r\n\r\n-\r\n--\r\n--X\r\n")],
    ),
}


@pytest.mark.parametrize("case", sorted(VALID))
def test_valid_bodies_in_every_split(case):
    body, expected = VALID[case]
    for pieces in split_every_way(body):
        assert parse(body, pieces) == expected


def test_non_ascii_header_values_are_utf8_else_latin1():
    body = (
        b"--XyZ-boundary\r\n"
        b'Content-Disposition: form-data; name="\xe5\x90\x8d"; filename="r\xc3\xa9sum\xc3\xa9.pdf"\r\n'
        b"\r\nx\r\n--XyZ-boundary\r\n"
        b'Content-Disposition: form-data; name="caf\xe9"\r\n\r\ny\r\n--XyZ-boundary--'
    )
    (h1, _), (h2, _) = parse(body)
    assert h1 == [("content-disposition", 'form-data; name="名"; filename="résumé.pdf"')]
    assert h2 == [("content-disposition", 'form-data; name="café"')]


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=8),
            st.binary(max_size=300),
        ),
        max_size=5,
    ),
    seed=st.integers(0, 2**16),
)
def test_random_forms_round_trip_in_random_splits(parts, seed):
    # Content full of CR, LF, dashes and boundary prefixes is the hard case for the search.
    nasty = [(name, data + b"\r\n--rush-b" + data[:3] + b"\r") for name, data in parts]
    body, content_type = encode_multipart(
        files=[(name, "f.bin", data, "application/octet-stream") for name, data in nasty],
        boundary="rush-boundary",
    )
    expected = [data for _, data in nasty]
    boundary = boundary_of(content_type)
    for pieces in split_every_way(body, seed)[:6]:
        assert [data for _, data in parse(body, pieces, boundary)] == expected


MALFORMED = {
    "no_delimiter_at_all": (b"just some bytes", "truncated"),
    "truncated_in_body": (b"--XyZ-boundary\r\nContent-Disposition: x\r\n\r\nabc", "truncated"),
    "truncated_in_headers": (b"--XyZ-boundary\r\nContent-Disposition: x", "truncated"),
    "truncated_after_delimiter": (b"--XyZ-boundary", "truncated"),
    "garbage_after_delimiter": (b"--XyZ-boundaryQ\r\n\r\n\r\n--XyZ-boundary--", "delimiter"),
    "header_without_colon": (
        b"--XyZ-boundary\r\nno colon here\r\n\r\nx\r\n--XyZ-boundary--",
        "header",
    ),
    "header_folding": (
        b"--XyZ-boundary\r\nA: b\r\n  folded\r\n\r\nx\r\n--XyZ-boundary--",
        "header",
    ),
    "nul_in_header": (b"--XyZ-boundary\r\nA: b\x00c\r\n\r\nx\r\n--XyZ-boundary--", "header"),
    "bare_lf_in_header": (b"--XyZ-boundary\r\nA: b\nC: d\r\n\r\nx\r\n--XyZ-boundary--", "header"),
    "space_in_header_name": (b"--XyZ-boundary\r\nA b: c\r\n\r\nx\r\n--XyZ-boundary--", "header"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bodies_fail_with_400_in_every_split(case):
    body, word = MALFORMED[case]
    for pieces in split_every_way(body):
        with pytest.raises(MultipartError) as info:
            parse(body, pieces)
        assert info.value.status == 400
        assert word in info.value.message


def test_a_failed_parser_stays_failed():
    parser = MultipartParser(BOUNDARY, Recorder())
    with pytest.raises(MultipartError):
        parser.feed(b"--XyZ-boundary!!")
    with pytest.raises(MultipartError):
        parser.feed(b"\r\n\r\n")


def test_part_count_limit_is_checked_before_the_part_is_read():
    body, _ = encode_multipart([("a", "1"), ("b", "2"), ("c", "3")], boundary="B")
    assert len(parse(body, boundary=b"B", max_parts=3)) == 3
    for pieces in split_every_way(body):
        recorder = Recorder()
        parser = MultipartParser(b"B", recorder, max_parts=2)
        with pytest.raises(MultipartError) as info:
            for piece in pieces:
                parser.feed(piece)
        assert info.value.status == 413 and "too many parts" in info.value.message
        assert len(recorder.parts) == 2


def test_part_header_size_limit_even_before_the_block_ends():
    block = b'Content-Disposition: form-data; name="a"\r\nX-Pad: ' + b"p" * 200
    body = b"--B\r\n" + block + b"\r\n\r\nv\r\n--B--"
    assert parse(body, boundary=b"B", max_header_size=len(block) + 2)
    with pytest.raises(MultipartError) as info:
        parse(body, boundary=b"B", max_header_size=len(block) - 1)
    assert info.value.status == 413
    # A header block that never ends is refused once it passes the limit, not at the end.
    parser = MultipartParser(b"B", Recorder(), max_header_size=100)
    parser.feed(b"--B\r\nX: ")
    with pytest.raises(MultipartError):
        for _ in range(200):
            parser.feed(b"y")


def test_held_back_bytes_stay_small_in_a_large_part():
    recorder = Recorder()
    parser = MultipartParser(BOUNDARY, recorder)
    parser.feed(b'--XyZ-boundary\r\nContent-Disposition: form-data; name="a"\r\n\r\n')
    for _ in range(64):
        parser.feed(b"x" * 4095 + b"\r")  # each chunk ends like a delimiter could begin
        assert len(parser._buffer) <= 1
    parser.feed(b"\r\n--XyZ-boundary--")
    parser.finish()
    assert recorder.parts[0][1] == (b"x" * 4095 + b"\r") * 64


def test_invalid_boundaries():
    for content_type in (
        "multipart/form-data",
        "multipart/form-data; boundary=",
        'multipart/form-data; boundary=""',
        "multipart/form-data; boundary=a\x00b",
        "multipart/form-data; boundary=" + "x" * 201,
    ):
        with pytest.raises(MultipartError) as info:
            boundary_of(content_type)
        assert info.value.status == 400
    assert boundary_of('multipart/form-data; charset=utf-8; boundary="a b:c"') == b"a b:c"
    with pytest.raises(MultipartError):
        MultipartParser(b"", Recorder())


def test_content_disposition_parameters():
    assert parse_options('form-data; name="a;b"; filename="x y.txt"') == (
        "form-data",
        {"name": "a;b", "filename": "x y.txt"},
    )
    assert parse_options(r'form-data; name="q\"uote"; filename="C:\dir\f.txt"')[1] == {
        "name": 'q"uote',
        "filename": "C:\\dir\\f.txt",
    }
    # RFC 8187 filename* wins over filename; a broken one is ignored.
    star = quote_filename_star("€ rates.txt")
    assert parse_options(f'form-data; name=f; filename="rates.txt"; filename*={star}')[1] == {
        "name": "f",
        "filename": "€ rates.txt",
    }
    assert parse_options("form-data; name=f; filename*=ISO-8859-1''caf%E9")[1]["filename"] == "café"
    assert parse_options("form-data; name=f; filename=a; filename*=bogus%ZZ")[1]["filename"] == "a"
    assert parse_options("FORM-DATA;NAME=x")[0:2] == ("form-data", {"name": "x"})


def test_parser_module_is_sans_io():
    import ast
    from pathlib import Path

    import rush.multipart

    tree = ast.parse(Path(rush.multipart.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"os", "socket", "select", "tempfile", "logging", "io", "rush"}
