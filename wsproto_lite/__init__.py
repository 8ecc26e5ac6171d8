"""wsproto_lite: a sans-I/O WebSocket implementation (RFC 6455, RFC 7692).

Everything public is importable from here::

    from wsproto_lite import Connection, Role, TextMessage
"""

# ruff: noqa: E402
# First, before any core module is imported: with WSPROTO_LITE_NO_SPEEDUPS set,
# the core modules load from their .py sources even where a compiled build is
# installed beside them.
from . import _compiled

_compiled.select(__name__, __path__)

from ._close_codes import CloseCode, is_valid_on_wire
from ._connection import Connection
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
from ._frames import Opcode
from ._handshake import accept_key
from ._prepared import PreparedMessage
from ._role import Role
from ._states import ConnectionState
from ._version import __version__
from .extensions import Extension, ExtensionSession

#: The modules running as compiled code (sorted, fully qualified names): the
#: core modules compiled from their own source by mypyc and the C masking
#: extension ``wsproto_lite._speedups``, when built and not turned off by
#: ``WSPROTO_LITE_NO_SPEEDUPS``. Empty: everything runs in pure Python.
COMPILED: tuple[str, ...] = _compiled.active(__name__)
#: Whether any compiled code is active (``bool(COMPILED)``).
SPEEDUPS: bool = bool(COMPILED)

__all__ = [
    "COMPILED",
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
