"""Type stub of the C accelerator; the twins and the documentation are in heads.py and parser.py."""

from typing import overload

from rush.protocol.heads import Head, Message
from rush.protocol.parser import PythonMessageFields

@overload
def parse_heads(
    data: bytes | memoryview,
    max_target: int,
    max_header_bytes: int,
    max_header_count: int,
    max_body: int,
    message_type: None = None,
    end: int | None = None,
    /,
) -> tuple[list[Head], int]: ...
@overload
def parse_heads(
    data: bytes | memoryview,
    max_target: int,
    max_header_bytes: int,
    max_header_count: int,
    max_body: int,
    message_type: type[Message],
    end: int | None = None,
    /,
) -> tuple[list[Message], int]: ...

class MessageFields(PythonMessageFields):
    """The C twin of parser.PythonMessageFields: the same attributes and __init__."""

def decode_fields(
    raw: list[tuple[bytes, bytes]], /
) -> tuple[list[tuple[str, str]], dict[str, list[str]]]: ...
