"""Containers for request data: a multi-value dict and case-insensitive headers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from rush.exceptions import BadRequestKeyError
from rush.protocol.heads import decode_fields, extensions_wanted

_ABSENT = object()


def python_multidict_get(
    self: dict[str, Any], key: str, default: Any = None, type: Callable[[str], Any] | None = None
) -> Any:
    """MultiDict.get: the first value of `key`, else `default`; with `type` (as Werkzeug's),
    the value converted, or `default` when the conversion raises ValueError or TypeError:
    `request.args.get("page", 1, type=int)`."""
    value = dict.get(self, key, _ABSENT)
    if value is _ABSENT:
        return default
    if type is None:
        return value
    return _converted(value, type, default)


def _converted(value: str, type: Callable[[str], Any], default: Any) -> Any:
    """Werkzeug's `get(type=)`: `type(value)`, or `default` where it raises ValueError or
    TypeError (a value the client sent that does not convert is no error of the app's)."""
    try:
        return type(value)
    except (ValueError, TypeError):
        return default


def _each_converted(values: list[str], type: Callable[[str], Any]) -> list[Any]:
    """Werkzeug's `getlist(type=)`: the values that convert, converted."""
    converted = []
    for value in values:
        try:
            converted.append(type(value))
        except (ValueError, TypeError):
            continue
    return converted


def _select_get() -> Callable[..., Any]:
    """The C twin (rush/_request.c), a method of dict called at dict.get's cost (a Python
    `get` costs the params workload 0.8k instructions a request), unless RUSH_NO_EXTENSIONS
    is set or it is not built."""
    if extensions_wanted():
        try:
            from rush._request import multidict_get
        except ImportError:
            pass
        else:
            return multidict_get  # type: ignore[no-any-return]
    return python_multidict_get


class MultiDict(dict):  # type: ignore[type-arg]
    """Maps each key to its first value; `getlist` gives all of them.

    `request.args`, `request.form` and `request.files` are MultiDicts. A missing key read with
    `[]` raises a KeyError that is also an HTTPError 400, so the client gets a Bad Request (as
    Flask's `BadRequestKeyError`); `get(key, default)` does not raise.

    PERF: subclassing dict keeps `get` and `[]` at C speed, and filling it from the pairs is
    one C call (a second pass only when a key repeats): together half the cost of a Python
    loop for the `params` benchmark's one `args.get` per request.
    """

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        pairs = pairs if type(pairs) is list else list(pairs)
        dict.__init__(self, pairs)  # PERF: no super() lookup
        if len(self) != len(pairs):  # a repeated key: its first value is the one to keep
            for key, value in reversed(pairs):
                dict.__setitem__(self, key, value)
        self._pairs = pairs

    def __missing__(self, key: str) -> str:
        raise BadRequestKeyError(key)

    get = _select_get()  # (key, default=None, type=None): python_multidict_get or its twin

    def getlist(self, key: str, type: Callable[[str], Any] | None = None) -> list[Any]:
        """Every value of `key`, in order ([] when absent); with `type`, each converted, and
        those it refuses (ValueError, TypeError) left out, as Werkzeug's."""
        values = [value for name, value in self._pairs if name == key]
        return values if type is None else _each_converted(values, type)

    def items(self, multi: bool = False):  # type: ignore[override]
        """(key, first value) pairs; with `multi=True` every (key, value) pair, in order."""
        if not multi:
            return dict.items(self)
        return list(self._pairs)

    def to_dict(self, flat: bool = True) -> dict[str, str] | dict[str, list[str]]:
        """A plain dict: each key's first value, or with `flat=False` the list of its values."""
        if flat:
            return dict(self)
        lists: dict[str, list[str]] = {}
        for key, value in self._pairs:
            lists.setdefault(key, []).append(value)
        return lists

    def __repr__(self) -> str:
        return f"MultiDict({self._pairs!r})"


class Headers:
    """Case-insensitive header fields that keep repeated fields and their order."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[tuple[str, str]] | dict[str, str] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] = {}
        if items:
            pairs = items.items() if isinstance(items, dict) else items
            for name, value in pairs:
                self.add(name, value)

    @classmethod
    def from_raw(cls, raw: list[tuple[bytes, bytes]]) -> Headers:
        """Headers from the parser's (name, value) byte pairs, decoded as latin-1.

        PERF: one C call (rush.protocol.heads.decode_fields) instead of a Python loop that
        costs ~3.3k instructions a field: post 60.6k -> 58.1k (bench/micro.py --instructions).
        """
        headers = object.__new__(cls)
        headers._items, headers._index = decode_fields(raw)
        return headers

    def add(self, name: str, value: str) -> None:
        """Add a field, keeping those of the same name (`Set-Cookie`); a line break in the
        name or value is a ValueError. `headers[name] = value` replaces them instead."""
        value = str(value)
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} contains a line break")
        self._items.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    def __setitem__(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def set(self, name: str, value: str) -> None:
        """`headers[name] = value`: the one field of that name (Werkzeug's spelling)."""
        self[name] = value

    def setlist(self, name: str, values: Iterable[str]) -> None:
        """Replace the fields called `name` with one field per value."""
        self.remove(name)
        for value in values:
            self.add(name, value)

    def extend(
        self, fields: Headers | Mapping[str, Any] | Iterable[tuple[str, str]] = (), **more: str
    ) -> None:
        """Add fields, keeping those already there; a list value in a mapping adds a field
        per item (Werkzeug's)."""
        for name, value in _field_pairs(fields, more):
            if isinstance(value, (list, tuple)):
                for item in value:
                    self.add(name, item)
            else:
                self.add(name, value)

    def update(
        self, fields: Headers | Mapping[str, Any] | Iterable[tuple[str, str]] = (), **more: str
    ) -> None:
        """Replace the fields of each name given (a list value: one field per item), as
        Werkzeug's; from a Headers, each name gets all its fields."""
        if isinstance(fields, Headers):
            for name in dict.fromkeys(fields.keys()):
                self.setlist(name, fields.getlist(name))
            fields = ()
        for name, value in _field_pairs(fields, more):
            if isinstance(value, (list, tuple)):
                self.setlist(name, value)
            else:
                self[name] = value

    def pop(self, name: str, default: Any = _ABSENT) -> Any:
        """Remove the fields called `name` and return the first value; `default` (else a
        KeyError) when there is none."""
        values = self._index.get(name.lower())
        if not values:
            if default is _ABSENT:
                raise KeyError(name)
            return default
        self.remove(name)
        return values[0]

    def copy(self) -> Headers:
        return Headers(self._items)

    def values(self) -> list[str]:
        """The value of every field, in order."""
        return [value for _, value in self._items]

    def to_wsgi_list(self) -> list[tuple[str, str]]:
        """(name, value) of every field, as start_response takes them (Werkzeug's)."""
        return list(self._items)

    def remove(self, name: str) -> None:
        """Remove every field called `name` (also `del headers[name]`); none is not an error."""
        lowered = name.lower()
        if self._index.pop(lowered, None) is not None:
            self._items = [item for item in self._items if item[0].lower() != lowered]

    __delitem__ = remove

    def setdefault(self, name: str, value: str) -> str:
        """Add the field unless one of that name exists; its (first) value."""
        if name.lower() not in self._index:
            self.add(name, value)
        return self._index[name.lower()][0]

    def get(self, name: str, default: Any = None, type: Callable[[str], Any] | None = None) -> Any:
        """The first value of field `name` (any case), else `default`; with `type`, converted
        as MultiDict.get does (`headers.get("X-Count", 0, type=int)`)."""
        values = self._index.get(name.lower())
        if not values:
            return default
        return values[0] if type is None else _converted(values[0], type, default)

    def getlist(self, name: str, type: Callable[[str], Any] | None = None) -> list[Any]:
        """Every value of field `name`, in order; with `type`, those that convert, converted."""
        values = list(self._index.get(name.lower(), ()))
        return values if type is None else _each_converted(values, type)

    get_all = getlist  # Werkzeug's other name

    def __getitem__(self, name: str) -> str:
        values = self._index.get(name.lower())
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:
        """(name, value) of every field, in order, names as given."""
        return list(self._items)

    def keys(self) -> list[str]:
        """The name of every field, in order (a repeated field's name repeats)."""
        return [name for name, _ in self._items]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _field_pairs(
    fields: Headers | Mapping[str, Any] | Iterable[tuple[str, str]], more: Mapping[str, Any]
) -> list[tuple[str, Any]]:
    """The (name, value) pairs of a mapping, a Headers or pairs, then of keyword arguments."""
    if isinstance(fields, Headers):
        pairs = fields.items()
    elif isinstance(fields, Mapping):
        pairs = list(fields.items())
    else:
        pairs = list(fields)
    return [*pairs, *more.items()]
