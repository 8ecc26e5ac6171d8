"""I/O adapters: asyncio, trio and blocking sockets.

Each adapter only moves bytes between a transport and a
:class:`~wsproto_lite.Connection` and owns time (timeouts, keepalive); every
protocol decision is the core's. Import the one you use::

    from wsproto_lite.adapters.asyncio import connect, serve
"""

from ._broadcast import BroadcastResult, SkipReason
from ._common import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    WebSocketURI,
    parse_uri,
)

__all__ = [
    "BroadcastResult",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidURI",
    "SkipReason",
    "WebSocketURI",
    "parse_uri",
]
