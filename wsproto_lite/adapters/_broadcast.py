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
from ._session import Session, message_event

__all__ = ["BroadcastResult", "SkipReason", "prepare", "refused"]

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


def refused(session: Session, prepared: PreparedMessage) -> SkipReason | None:
    """The connection's core refused *prepared* (or its message, sent on its own):
    why to skip the connection, or ``None`` once the message is queued anyway.

    The shared frame goes out as it is on every OPEN server connection that is
    not in the middle of a fragmented message (uncompressed even where
    permessage-deflate was negotiated: RFC 7692 §6 allows it). The core
    refuses it on a connection that is not OPEN, one that is sending a
    fragmented message (RFC 6455 §5.4), a client connection (which masks
    every frame, §5.3) and one whose extension insists on transforming every
    message: those last two get the message through :meth:`Connection.send
    <wsproto_lite.Connection.send>`, encoded for them alone.
    """
    if not session.is_open:
        return SkipReason.NOT_OPEN
    if session.sending_fragments:
        return SkipReason.FRAGMENTING
    session.conn.send(prepared.message)
    return None
