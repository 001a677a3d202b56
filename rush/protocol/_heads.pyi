"""Type stub of the C accelerator; the twin and the documentation are in heads.py."""

from rush.protocol.heads import Head

def parse_heads(
    data: bytes | memoryview,
    max_target: int,
    max_header_bytes: int,
    max_header_count: int,
    max_body: int,
    /,
) -> tuple[list[Head], int]: ...
