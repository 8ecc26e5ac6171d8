"""Test helpers for applications built on wsproto_lite: no sockets needed.

:class:`ConnectionPair` links a client and a server :class:`~wsproto_lite.Connection`
through an in-memory "network"::

    from wsproto_lite.testing import ConnectionPair
    pair = ConnectionPair.open()            # handshake done
    pair.client.send(TextMessage("hi"))
    assert pair.deliver_to_server() == [TextMessage("hi")]

With hypothesis installed, :func:`messages` is a strategy for data messages,
to fuzz an application with arbitrary traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._connection import Connection, Role
from ._events import Accept, BinaryMessage, Event, Handshake, Message, TextMessage

__all__ = ["ConnectionPair", "fragment", "messages"]


class ConnectionPair:
    """A client and a server connection, wired together in memory.

    :param client: the client connection (default: a new one).
    :param server: the server connection (default: a new one).
    :param chunk_size: deliver bytes in chunks of at most this size (``None``:
        all at once), to exercise incremental parsing.
    """

    def __init__(
        self,
        client: Connection | None = None,
        server: Connection | None = None,
        *,
        chunk_size: int | None = None,
    ) -> None:
        #: The client end.
        self.client = client if client is not None else Connection(Role.CLIENT)
        #: The server end.
        self.server = server if server is not None else Connection(Role.SERVER)
        self.chunk_size = chunk_size

    @classmethod
    def open(
        cls,
        *,
        handshake: Handshake | None = None,
        accept: Accept | None = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> ConnectionPair:
        """A pair that has completed the opening handshake.

        Keyword arguments are passed to both :class:`~wsproto_lite.Connection`
        constructors (``extensions=``, ``max_message_size=``, ``stream=``, …).
        """
        pair = cls(
            Connection(Role.CLIENT, **kwargs),
            Connection(Role.SERVER, **kwargs),
            chunk_size=chunk_size,
        )
        pair.client.send(handshake or Handshake(host="localhost", target="/"))
        received = pair.deliver_to_server()
        if not received or not isinstance(received[0], Handshake):  # pragma: no cover
            raise AssertionError(f"the server did not receive the handshake: {received!r}")
        pair.server.send(accept or Accept())
        received = pair.deliver_to_client()
        if not received or not isinstance(received[0], Accept):  # pragma: no cover
            raise AssertionError(f"the client was not accepted: {received!r}")
        return pair

    @staticmethod
    def _deliver(
        source: Connection,
        target: Connection,
        chunk_size: int | None,
        on_event: Callable[[Event], None] | None,
    ) -> list[Event]:
        data = source.data_to_send()
        if chunk_size is None or not data:
            target.receive_data(data) if data else None
        else:
            for i in range(0, len(data), chunk_size):
                target.receive_data(data[i : i + chunk_size])
        events = []
        for event in target.events():
            events.append(event)
            if on_event is not None:
                on_event(event)
        return events

    def deliver_to_server(self, on_event: Callable[[Event], None] | None = None) -> list[Event]:
        """Move the client's queued bytes to the server; return the server's events.

        *on_event* is called with each event as it is parsed (so it can answer
        before the next one is parsed).
        """
        return self._deliver(self.client, self.server, self.chunk_size, on_event)

    def deliver_to_client(self, on_event: Callable[[Event], None] | None = None) -> list[Event]:
        """Move the server's queued bytes to the client; return the client's events."""
        return self._deliver(self.server, self.client, self.chunk_size, on_event)

    def send_eof_to_server(self) -> list[Event]:
        """The client's transport closes: the server sees end of stream."""
        self.server.receive_data(b"")
        return list(self.server.events())

    def send_eof_to_client(self) -> list[Event]:
        """The server's transport closes: the client sees end of stream."""
        self.client.receive_data(b"")
        return list(self.client.events())


def messages(max_size: int = 1024) -> Any:
    """A hypothesis strategy of whole data messages (text or binary).

    Requires hypothesis (``pip install hypothesis``).
    """
    from hypothesis import strategies as st

    return st.one_of(
        st.text(max_size=max_size).map(TextMessage),
        st.binary(max_size=max_size).map(BinaryMessage),
    )


def fragment(message: Message, sizes: Sequence[int]) -> list[Message]:
    """Split *message* into parts of the given sizes (the rest in the last part).

    Text is split on characters. Useful with ``final=False`` sends.
    """
    data: Any = message.data  # type: ignore[attr-defined]
    parts = []
    start = 0
    for size in sizes:
        if start >= len(data):
            break
        parts.append(data[start : start + size])
        start += size
    parts.append(data[start:])
    cls = type(message)
    return [cls(part, i == len(parts) - 1) for i, part in enumerate(parts)]  # type: ignore[call-arg]
