"""What ``broadcast()`` does the same way in the asyncio and trio adapters.

A broadcast encodes the message and builds its frame once
(:class:`~wsproto_lite.PreparedMessage`), then hands the same ``bytes`` to
every connection that can take them *now*: one slow connection never holds
the others back, and none is waited for. A connection that cannot take the
message is skipped and reported in the :class:`BroadcastResult`, with why
(:class:`SkipReason`). Each adapter decides only what "can take it now" means
for its transport, and how the bytes leave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from .._prepared import PreparedMessage
from ..connection import Connection
from ..errors import LocalProtocolError
from ._session import message_event

__all__ = ["BroadcastResult", "SkipReason", "prepare", "queue_prepared"]

W = TypeVar("W")


class SkipReason(Enum):
    """Why ``broadcast()`` did not send the message on a connection."""

    #: The connection is not open: its handshake is still under way, or it
    #: is closing or closed. Nothing can be sent on it.
    NOT_OPEN = "not open"
    #: More than ``write_limit`` bytes already wait to be written to it: the
    #: peer does not read as fast as the server writes. Writing more would
    #: grow the server's memory, and waiting would hold the others back.
    BUSY = "write buffer over write_limit"
    #: A fragmented message (``send_fragments()``) is being sent on it, and a
    #: message may not be sent in the middle of another (RFC 6455 §5.4).
    FRAGMENTING = "sending a fragmented message"


@dataclass(frozen=True)
class BroadcastResult(Generic[W]):
    """What ``broadcast()`` did: how many connections took the message, and
    which were skipped and why.

    ::

        result = broadcast(server.connections, "news")
        for ws, reason in result.skipped.items():
            if reason is SkipReason.BUSY:
                ...  # a slow client: e.g. close it, or resend later
    """

    #: The connections the message was written to (or, for trio, queued for
    #: their writer); each receives it whole, in order with its other messages.
    sent: int
    #: Every connection that was skipped, with its :class:`SkipReason`.
    skipped: Mapping[W, SkipReason]

    @property
    def all_sent(self) -> bool:
        """Whether no connection was skipped."""
        return not self.skipped


def prepare(message: object) -> PreparedMessage:
    """The frame of *message* (``str``: text, bytes-like: binary), built once.

    :raises TypeError: *message* is neither ``str`` nor bytes-like.
    :raises LocalProtocolError: *message* is text that UTF-8 cannot encode.
    """
    return PreparedMessage(message_event(message))


def queue_prepared(conn: Connection, prepared: PreparedMessage, compress: bool) -> None:
    """Queue *prepared* in the core of an OPEN connection that is not
    sending a fragmented message.

    The shared frame goes out as it is (uncompressed even where
    permessage-deflate was negotiated: RFC 7692 §6 allows it), except on a
    connection where it cannot: a client connection masks every frame (RFC
    6455 §5.3), and an extension may insist on transforming every message.
    Those, and with *compress* the connections that negotiated an extension,
    get the message through :meth:`Connection.send
    <wsproto_lite.Connection.send>`, encoded for them alone.
    """
    if compress and conn.extensions:
        conn.send(prepared.message)
        return
    try:
        conn.send_prepared(prepared)
    except LocalProtocolError:
        conn.send(prepared.message)
