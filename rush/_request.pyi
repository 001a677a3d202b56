"""Type stub of the C accelerator; the twins and the documentation are in request.py."""

from collections.abc import Callable, Mapping
from typing import Any

from rush.datastructures import MultiDict
from rush.request import NewRequest, Request

class RequestMaker:
    def __init__(
        self, cls: type[Request], fallback: NewRequest, view_args: Mapping[str, Any], /
    ) -> None: ...
    def __call__(
        self,
        method: str,
        target: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes,
        http_version: str,
        keep_alive: bool,
        remote_addr: str | None,
        app: Any,
        /,
    ) -> Request: ...

def query_args(
    query: bytes, multidict_type: type[MultiDict], max_fields: int, /
) -> MultiDict | None: ...
def multidict_get(
    self: dict[str, Any], key: str, default: Any = None, type: Callable[[str], Any] | None = None
) -> Any: ...
