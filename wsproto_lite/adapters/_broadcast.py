"""What ``broadcast()`` does the same way in every adapter.

A broadcast encodes the message and builds its frame once
(:class:`~wsproto_lite.PreparedMessage`), then hands the same ``bytes`` to
every connection that can take them *now*: one slow connection never holds
the others back, and none is waited for. A connection that cannot take the
message is skipped and reported in the :class:`BroadcastResult`, with why
(:class:`SkipReason`). Each adapter decides only what "can take it now" means
for its transport, and how the bytes leave.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from .._connection import Connection
from .._errors import LocalProtocolError
from .._prepared import PreparedMessage
from ._session import Session, message_event

__all__ = [
    "BroadcastResult",
    "SkipReason",
    "broadcast",
    "offer",
    "prepare",
    "refused",
    "write_shared",
]

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

    #: How many connections took the message: it was written to them, or
    #: queued behind what waits for them (for their transport, or for their
    #: writer task in trio); each receives it whole, in order with its other
    #: messages.
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


def offer(session: Session, prepared: PreparedMessage, compress: bool) -> SkipReason | None:
    """Queue *prepared* on the connection of *session* if it can take it now;
    return why not otherwise (the adapter then hands the output to its transport).

    Skipped: a connection whose transport is closed or closing (``NOT_OPEN``),
    one with more than ``write_limit`` bytes waiting (``BUSY``), and those the
    core refuses (:func:`refused`). With *compress*, a connection that
    negotiated an extension gets the message encoded for it alone.
    """
    if session.aborted or session.must_abort:
        return SkipReason.NOT_OPEN
    if session.output_size > session.settings.write_limit:
        return SkipReason.BUSY
    conn = session.conn
    try:
        if compress and conn.negotiated_extensions:
            if session.sending_fragments:
                raise LocalProtocolError("a fragmented message is being sent")
            conn.send(prepared.message)
        else:
            conn.send_prepared(prepared)
    except LocalProtocolError:
        return refused(session, prepared)
    return None


#: What broadcast() iterates twice as it is; other iterables are listed first.
_COLLECTIONS = (list, tuple, set, frozenset)


#: The ``skipped`` of a broadcast that skipped nothing (read-only, so shared).
_NONE_SKIPPED: Mapping[object, SkipReason] = MappingProxyType({})


def broadcast(
    connections: Iterable[W],
    message: object,
    compress: bool,
    kind: type[W],
    adapter: str,
    hand_over: Callable[[W, PreparedMessage, bool], SkipReason | None],
    fast: Callable[[Collection[W], PreparedMessage], tuple[int, list[W]]] | None = None,
) -> BroadcastResult[W]:
    """The body of every adapter's ``broadcast()``.

    *hand_over* offers the frame to one connection of the adapter (with
    :func:`offer`) and hands what it queued to the transport: ``None`` once
    it did, the reason it skipped the connection otherwise.

    *fast*, without *compress*, goes first: it hands the shared frame to every
    connection that can take it at once, the usual case, in one loop without
    a call per check (the adapter's own, narrower than :func:`offer`: e.g.
    an open transport holding nothing, no output waiting in the session, and
    the core's :meth:`~wsproto_lite.Connection.take_prepared` takes the
    frame). It returns how many it served and the others, which *hand_over*
    then takes one by one (it checks ``write_limit`` and says why it skips
    one). A connection that *fast* returns has been given nothing (or its
    socket failed as it was written to: it is no longer open, and
    *hand_over* reports it ``NOT_OPEN``).

    :raises TypeError: *message* is neither ``str`` nor bytes-like, or one of
        *connections* is not a *kind* (nothing is sent).
    :raises LocalProtocolError: *message* is text that UTF-8 cannot encode.
    """
    targets: Collection[W] = (
        connections if isinstance(connections, _COLLECTIONS) else list(connections)
    )
    for cls in set(map(type, targets)):  # (one pass in C: the items are of one type or two)
        if not issubclass(cls, kind):
            raise TypeError(f"broadcast() takes {adapter} WebSockets, not {cls.__name__}")
    prepared = prepare(message)
    sent = 0
    rest: Iterable[W] = targets
    if fast is not None and not compress:
        sent, rest = fast(targets, prepared)
    skipped: dict[W, SkipReason] = {}
    for ws in rest:
        reason = hand_over(ws, prepared, compress)
        if reason is None:
            sent += 1
        else:
            skipped[ws] = reason
    return BroadcastResult(sent, MappingProxyType(skipped) if skipped else _NONE_SKIPPED)  # type: ignore[arg-type]


class _Transport(Protocol):
    def is_closing(self) -> bool: ...
    def write(self, data: bytes) -> None: ...


class _OnTransport(Protocol):
    """A connection over an asyncio-style transport (what :func:`write_shared` reads)."""

    @property
    def _transport(self) -> _Transport | None: ...
    @property
    def _session(self) -> Session: ...
    @property
    def _conn(self) -> Connection: ...


T = TypeVar("T", bound=_OnTransport)


def write_shared(targets: Collection[T], prepared: PreparedMessage) -> tuple[int, list[T]]:
    """broadcast()'s fast path over transports that write or buffer at once
    (asyncio's): write the shared frame straight to every transport that can
    take it now; return how many did, and the others (for the adapter's
    *hand_over*, which checks ``write_limit`` and says why it skips one).

    Now: an open transport, no output waiting in the session or (as far as
    it knows) in the transport, and a core that takes the frame. A write past
    ``write_limit`` calls the transport's ``pause_writing()``, which tells
    the session.
    """
    take = Connection.take_prepared  # (one lookup, not one per connection)
    rest = []
    for ws in targets:
        transport = ws._transport
        session = ws._session
        if (
            transport is not None
            and not (session.aborted or session.must_abort or session._out_size or session._held)
            and not transport.is_closing()
        ):
            try:
                data = take(ws._conn, prepared)
            except LocalProtocolError:
                pass  # not OPEN, a client's, ...: hand_over says why
            else:
                transport.write(data)
                continue
        rest.append(ws)
    return len(targets) - len(rest), rest
