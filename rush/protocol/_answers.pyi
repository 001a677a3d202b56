"""Type stub of the C accelerator; the twin and the documentation are in answers.py."""

from collections.abc import Callable
from typing import Any

from rush.protocol.writer import Answer, Prerendered

def answer_plain(
    messages: list[Any],
    pieces: list[bytes],
    prerendered: dict[bytes, Prerendered],
    date: bytes,
    handle: Callable[[Any, str | None, str], Answer],
    remote: str | None,
    scheme: str,
    budget: int,
    /,
) -> tuple[int, Answer | None]: ...
