"""I/O adapters: asyncio, trio and blocking sockets.

Each adapter only moves bytes between a transport and an I/O-free driver (the
session) that holds a :class:`~wsproto_lite.Connection` and decides the rest:
what to write, when to stop reading, when to close, the next deadline. Every
protocol decision is the core's. Import the one you use::

    from wsproto_lite.adapters.asyncio import connect, serve

The exceptions share one base, :class:`WebSocketError`, and mean the same in
every adapter.
"""

from ._broadcast import BroadcastResult, SkipReason
from ._common import AsyncMessageParts, MessageParts, WebSocketURI, parse_uri
from ._errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    WebSocketError,
)
from ._options import Options

__all__ = [
    "AsyncMessageParts",
    "BroadcastResult",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidURI",
    "MessageParts",
    "Options",
    "SkipReason",
    "WebSocketError",
    "WebSocketURI",
    "parse_uri",
]
