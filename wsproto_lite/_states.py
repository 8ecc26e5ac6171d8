"""The connection's state machine, as one table.

Everything that moves :attr:`Connection.state <wsproto_lite.Connection.state>`
is listed in :data:`TRANSITIONS`; the connection looks every change up here and
the docs draw the state diagram from this table. A missing entry means "not
allowed in this state": for a ``SEND_*`` trigger that is the application's
mistake (:class:`~wsproto_lite.LocalProtocolError`), the ``RECV_*`` and
``FAIL``/``EOF`` triggers come from the peer and are always listed where they
can happen.

This module does not know which role it plays (the table is the same for
client and server; the connection decides which triggers a role may use).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["TRANSITIONS", "ConnectionState", "Trigger", "next_state"]


class ConnectionState(Enum):
    """Where a connection is in its life (RFC 6455 §4, §7)."""

    #: The opening handshake is under way.
    CONNECTING = "CONNECTING"
    #: The handshake was refused and the HTTP response body is still being sent
    #: (server) or received (client) in parts.
    REJECTING = "REJECTING"
    #: Messages flow both ways.
    OPEN = "OPEN"
    #: This side sent a close frame and waits for the peer's (§7.1.2). Control
    #: frames still flow; no more data can be sent.
    CLOSING = "CLOSING"
    #: Closed: the closing handshake completed, the connection failed, the
    #: handshake was refused, or the transport ended. Nothing more is sent or read.
    CLOSED = "CLOSED"


class Trigger(Enum):
    """What can move a connection from one state to another."""

    #: The server sends ``Accept``; the client receives a valid ``101``.
    SEND_ACCEPT = "send Accept"
    RECV_ACCEPT = "receive Accept"
    #: A streamed rejection starts (``Reject(final=False)``) or goes on
    #: (``RejectData(final=False)``), sent or received.
    SEND_REJECT_PART = "send Reject(final=False)"
    RECV_REJECT_PART = "receive Reject(final=False)"
    #: The rejection's response is complete (a ``Reject`` or ``RejectData`` with
    #: ``final=True``).
    SEND_REJECT = "send Reject"
    RECV_REJECT = "receive Reject"
    #: The application sends a close frame.
    SEND_CLOSE = "send Close"
    #: A close frame arrives (in OPEN the reply is queued at once).
    RECV_CLOSE = "receive Close"
    #: The peer broke the protocol (or the handshake): fail the connection.
    FAIL = "fail"
    #: The transport reached end of file (``receive_data(b"")``).
    EOF = "end of input"


S = ConnectionState
T = Trigger

#: ``(state, trigger) -> new state``. The single source of truth for transitions.
TRANSITIONS: dict[tuple[ConnectionState, Trigger], ConnectionState] = {
    (S.CONNECTING, T.SEND_ACCEPT): S.OPEN,
    (S.CONNECTING, T.RECV_ACCEPT): S.OPEN,
    (S.CONNECTING, T.SEND_REJECT_PART): S.REJECTING,
    (S.CONNECTING, T.RECV_REJECT_PART): S.REJECTING,
    (S.CONNECTING, T.SEND_REJECT): S.CLOSED,
    (S.CONNECTING, T.RECV_REJECT): S.CLOSED,
    (S.CONNECTING, T.FAIL): S.CLOSED,
    (S.CONNECTING, T.EOF): S.CLOSED,
    (S.REJECTING, T.SEND_REJECT_PART): S.REJECTING,
    (S.REJECTING, T.RECV_REJECT_PART): S.REJECTING,
    (S.REJECTING, T.SEND_REJECT): S.CLOSED,
    (S.REJECTING, T.RECV_REJECT): S.CLOSED,
    (S.REJECTING, T.FAIL): S.CLOSED,
    (S.REJECTING, T.EOF): S.CLOSED,
    (S.OPEN, T.SEND_CLOSE): S.CLOSING,
    (S.OPEN, T.RECV_CLOSE): S.CLOSED,
    (S.OPEN, T.FAIL): S.CLOSED,
    (S.OPEN, T.EOF): S.CLOSED,
    (S.CLOSING, T.RECV_CLOSE): S.CLOSED,
    (S.CLOSING, T.FAIL): S.CLOSED,
    (S.CLOSING, T.EOF): S.CLOSED,
    (S.CLOSED, T.EOF): S.CLOSED,
}


def next_state(state: ConnectionState, trigger: Trigger) -> ConnectionState | None:
    """The state after *trigger* in *state*, or ``None`` when it is not allowed."""
    return TRANSITIONS.get((state, trigger))
