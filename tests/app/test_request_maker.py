"""The C accelerator of rush.request (rush/_request.c) against its pure-Python twins: the
Request App.handle builds (RequestMaker / Request itself), `request.args`
(query_args / python_query_args) and its `get` (multidict_get / python_multidict_get). Where the C code declines it hands the input to the twin,
so the property is: the same result, and the C code declines only where it says it does.
test_request_asan.py runs this module under AddressSanitizer.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rush import HTTPError, MultiDict
from rush.datastructures import python_multidict_get
from rush.request import (
    MAX_FORM_FIELDS,
    NO_VIEW_ARGS,
    Request,
    python_query_args,
)

try:
    from rush import _request
except ImportError:
    pytest.skip(
        "rush._request is not built (pip install -e . with a C compiler builds it)",
        allow_module_level=True,
    )

SLOTS = [name for name in Request.__slots__ if name not in ("__dict__", "__weakref__")]
#: Bytes that matter to the split and the decoding: separators, escapes, non-ASCII, invalid UTF-8.
TARGET_BYTES = st.sampled_from([b"/", b"?", b"%", b"%2F", b"%C3%A9", b"a", b"\xc3\xa9", b"\xff"])
QUERY_BYTES = st.sampled_from([b"a", b"b", b"=", b"&", b"\xe9", b"\x00", b" ", b"%41", b"+"])
PROPERTY = settings(max_examples=400, deadline=None)


class Declined(Exception):
    """Raised by a fallback that must not be called."""


def refuse(*args: object) -> None:
    raise Declined(args)


def state(request: Request) -> tuple[dict[str, object], dict[str, object]]:
    """Everything a Request holds: its slots and its __dict__."""
    return {name: getattr(request, name) for name in SLOTS}, dict(vars(request))


def made(maker, target: bytes, headers=None, body: bytes = b"", app: object = "app") -> Request:
    return maker("GET", target, [] if headers is None else headers, body, "1.1", True, "ip", app)


@PROPERTY
@given(st.lists(TARGET_BYTES, max_size=8).map(b"".join))
def test_the_maker_builds_what_the_twin_builds(target):
    c_maker = _request.RequestMaker(Request, Request, NO_VIEW_ARGS)
    assert state(made(c_maker, target)) == state(made(Request, target))


@PROPERTY
@given(st.lists(TARGET_BYTES, max_size=8).map(b"".join))
def test_the_maker_declines_only_a_path_with_an_escape(target):
    c_maker = _request.RequestMaker(Request, refuse, NO_VIEW_ARGS)
    if b"%" in target.partition(b"?")[0]:
        with pytest.raises(Declined):
            made(c_maker, target)
    else:
        assert state(made(c_maker, target)) == state(made(Request, target))


def test_the_maker_hands_unusual_arguments_to_the_twin():
    calls = []

    def twin(*args, **kwargs):
        calls.append((args, kwargs))
        return "from the twin"

    c_maker = _request.RequestMaker(Request, twin, NO_VIEW_ARGS)
    assert made(c_maker, bytearray(b"/x")) == "from the twin"  # not bytes
    assert made(c_maker, b"/x", headers=(("a", "b"),)) == "from the twin"  # not a list
    assert c_maker("GET", b"/x") == "from the twin"  # too few
    assert c_maker("GET", b"/x", [], b"", "1.1", True, "ip", None, key=1) == "from the twin"
    assert len(calls) == 4 and calls[-1][1] == {"key": 1}


def test_a_made_request_is_a_whole_request():
    c_maker = _request.RequestMaker(Request, Request, NO_VIEW_ARGS)
    request = made(c_maker, b"/hello?name=bill", [(b"Host", b"h")], b"body")
    assert (request.path, request.query_string, request.body) == ("/hello", b"name=bill", b"body")
    assert request.headers["host"] == "h" and request.args["name"] == "bill"
    assert request.url == "http://h/hello?name=bill" and request.app == "app"
    request.route, request.custom = "route", 1  # a slot, then the instance dict
    assert (request.route, vars(request)["custom"]) == ("route", 1)


def test_the_maker_keeps_no_reference_it_does_not_own():
    c_maker = _request.RequestMaker(Request, Request, NO_VIEW_ARGS)
    headers, body, app = [], b"x" * 100, object()
    before = [sys.getrefcount(o) for o in (headers, body, app, NO_VIEW_ARGS)]
    for _ in range(1000):
        made(c_maker, b"/a?b", headers, body, app)
    assert [sys.getrefcount(o) for o in (headers, body, app, NO_VIEW_ARGS)] == before


def test_the_maker_refuses_a_class_without_the_slots():
    class Plain:
        method = "GET"

    with pytest.raises(TypeError, match="Plain.method is not a __slots__ member"):
        _request.RequestMaker(Plain, Request, NO_VIEW_ARGS)
    with pytest.raises(AttributeError, match="method"):
        _request.RequestMaker(object, Request, NO_VIEW_ARGS)

    class Borrowed:  # a member descriptor of another class's layout
        method = Request.__dict__["method"]

    with pytest.raises(TypeError, match="Borrowed.method is not a __slots__ member"):
        _request.RequestMaker(Borrowed, Request, NO_VIEW_ARGS)

    class Made(Request):
        __slots__ = ()

        def __new__(cls, *args):
            return object.__new__(Request)

    with pytest.raises(TypeError, match="Made defines __new__"):
        _request.RequestMaker(Made, Request, NO_VIEW_ARGS)
    subclass = type("Subclass", (Request,), {"__slots__": ()})
    made_one = made(_request.RequestMaker(subclass, Request, NO_VIEW_ARGS), b"/s?q")
    assert type(made_one) is subclass and (made_one.path, made_one.query_string) == ("/s", b"q")
    with pytest.raises(TypeError):
        _request.RequestMaker(Request, "not callable", NO_VIEW_ARGS)


def args_state(args: MultiDict) -> tuple[type, list[tuple[str, str]], list[tuple[str, str]]]:
    return type(args), list(dict.items(args)), args.items(multi=True)


@PROPERTY
@given(st.lists(QUERY_BYTES, max_size=12).map(b"".join))
def test_query_args_reads_what_the_twin_reads(query):
    compiled = _request.query_args(query, MultiDict, MAX_FORM_FIELDS)
    if b"%" in query or b"+" in query:
        assert compiled is None
    else:
        assert compiled is not None
        assert args_state(compiled) == args_state(python_query_args(query))


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_query_args_declines_too_many_pairs_for_the_twin_to_refuse(count):
    query = b"&".join(b"k%d=v" % i for i in range(count + 1)) + b"&&"
    assert _request.query_args(query, MultiDict, count) is None
    assert _request.query_args(query, MultiDict, count + 1) is not None


def test_too_many_query_pairs_are_still_a_400():
    request = Request("GET", b"/?" + b"&".join(b"k%d" % i for i in range(MAX_FORM_FIELDS + 1)))
    with pytest.raises(HTTPError) as info:
        _ = request.args
    assert info.value.status == 400


def test_query_args_keeps_the_first_value_and_every_pair():
    args = _request.query_args(b"a=1&b&a=2&=x&c==&&", MultiDict, MAX_FORM_FIELDS)
    assert args == {"a": "1", "b": "", "": "x", "c": "="}
    assert args.getlist("a") == ["1", "2"]
    assert list(args) == ["a", "b", "", "c"]
    with pytest.raises(HTTPError):
        args["missing"]


def test_query_args_declines_what_is_not_bytes_and_a_dict():
    assert _request.query_args(bytearray(b"a=1"), MultiDict, 10) is None
    assert _request.query_args(b"a=1", list, 10) is None
    with pytest.raises(TypeError):
        _request.query_args(b"a=1", MultiDict, "ten")


# -- MultiDict.get -------------------------------------------------------------------------


def _to_int_or_type_error(value: str) -> int:
    return abs(value)  # type: ignore[arg-type]  # a str: TypeError, as Werkzeug's type= meets


def _raises_lookup_error(value: str) -> str:
    raise LookupError(value)


CONVERTERS = [None, int, float, str.upper, bool, _to_int_or_type_error, _raises_lookup_error]
GET_KEYS = st.sampled_from(["a", "b", "", "é", "1"])
GET_VALUES = st.sampled_from(["1", "x", "", "-2", "2.5", "é"])


def outcome(get, *args: object, **kwargs: object) -> tuple[str, object]:
    """What a call of `get` gives: its value, or the type of what it raised."""
    try:
        return "value", get(*args, **kwargs)
    except Exception as error:
        return "raised", type(error)


@PROPERTY
@given(
    st.lists(st.tuples(GET_KEYS, GET_VALUES), max_size=6),
    GET_KEYS,
    st.sampled_from([None, 0, "d"]),
    st.sampled_from(range(len(CONVERTERS))),
)
def test_multidict_get_answers_as_the_twin(pairs, key, default, converter):
    data, convert = MultiDict(pairs), CONVERTERS[converter]
    for args, kwargs in [
        ((key,), {}),
        ((key, default), {}),
        ((key, default, convert), {}),
        ((key,), {"type": convert}),
        ((), {"key": key, "default": default, "type": convert}),
    ]:
        expected = outcome(python_multidict_get, data, *args, **kwargs)
        assert outcome(_request.multidict_get, data, *args, **kwargs) == expected, (args, kwargs)


def test_multidict_get_takes_the_arguments_its_twin_takes():
    data = MultiDict([("a", "1")])
    for args, kwargs in [
        ((), {}),
        (("a", 1, int, 4), {}),
        (("a",), {"key": "a"}),
        (("a", 1), {"default": 2}),
        (("a",), {"typ": int}),
        (([],), {}),
    ]:
        assert outcome(_request.multidict_get, data, *args, **kwargs) == ("raised", TypeError)
        assert outcome(python_multidict_get, data, *args, **kwargs) == ("raised", TypeError)
    assert outcome(_request.multidict_get, 3, "a") == ("raised", TypeError)  # not a dict


def test_multidict_get_is_the_c_twin_and_keeps_no_reference_it_does_not_own():
    from rush import request

    if request.IMPLEMENTATION == "C accelerator":
        assert MultiDict.get is _request.multidict_get
    value, default = "".join(["v", "1"]), object()
    data = MultiDict([("a", value)])
    before = sys.getrefcount(value), sys.getrefcount(default)
    for _ in range(100):
        assert _request.multidict_get(data, "a") is value
        assert _request.multidict_get(data, "zz", default) is default
        assert _request.multidict_get(data, "a", default, _to_int_or_type_error) is default
        assert _request.multidict_get(data, "a", default, str) is value
    assert (sys.getrefcount(value), sys.getrefcount(default)) == before


def test_multidict_get_survives_a_converter_that_empties_the_dict():
    data = MultiDict([("a", "".join(["v", "1"]))])
    assert _request.multidict_get(data, "a", None, lambda value: data.clear() or value) == "v1"
    assert data == {} and _request.multidict_get(data, "a", "gone") == "gone"
