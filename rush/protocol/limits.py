"""Size limits on what a client may send, with the house defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds checked while parsing; each excess has its own status code.

    max_request_line: bytes in the request target (414 beyond).
    max_header_bytes / max_header_count: the header section (431 beyond).
    max_body: the default request body limit (413 beyond); routes may override it.
    """

    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    max_body: int = 1024 * 1024 * 1024
