"""The one exception the protocol layer raises: the client broke HTTP/1.1 framing or a limit.

The connection answers it with a canned response of `status` and closes, because after a
framing error nothing that follows on the same connection can be trusted (RFC 9112 §11.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rush.protocol.parser import RequestMessage


class ProtocolError(Exception):
    """A request that cannot be answered normally; `status` is the 4xx/5xx to send."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
        #: Requests completed in the same feed before the error; they deserve their answers.
        self.completed: list[RequestMessage] = []
