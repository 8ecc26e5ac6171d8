"""wsproto_lite: a sans-I/O WebSocket implementation (RFC 6455, RFC 7692).

Everything public is importable from here::

    from wsproto_lite import Connection, Role, TextMessage
"""

from ._close_codes import CloseCode, is_valid_on_wire
from ._connection import Connection, Role
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import (
    Accept,
    BinaryMessage,
    Close,
    Event,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    Message,
    Ping,
    Pong,
    Reject,
    RejectData,
    TextMessage,
)
from ._frames import SPEEDUPS, Opcode
from ._handshake import accept_key
from ._prepared import PreparedMessage
from ._states import ConnectionState
from ._version import __version__
from .extensions import Extension, ExtensionSession

__all__ = [
    "SPEEDUPS",
    "Accept",
    "BinaryMessage",
    "Close",
    "CloseCode",
    "Connection",
    "ConnectionState",
    "Event",
    "Extension",
    "ExtensionSession",
    "HTTPRequest",
    "Handshake",
    "HandshakeFailed",
    "LocalProtocolError",
    "Message",
    "Opcode",
    "Ping",
    "Pong",
    "PreparedMessage",
    "ProtocolError",
    "Reject",
    "RejectData",
    "RemoteProtocolError",
    "Role",
    "TextMessage",
    "__version__",
    "accept_key",
    "is_valid_on_wire",
]
