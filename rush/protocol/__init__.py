"""Sans-IO HTTP/1.1: bytes in, request messages out; response framing helpers.

Nothing in this package touches a socket, a file descriptor, the clock or logging:
the server feeds it bytes and writes what it returns. That is what makes it testable
with raw byte strings and safe to fuzz.
"""

from rush.protocol.errors import ProtocolError
from rush.protocol.limits import Limits
from rush.protocol.parser import RequestMessage, RequestParser

__all__ = ["Limits", "ProtocolError", "RequestMessage", "RequestParser"]
