"""One connected client of the demo: who it is signed in as, and its calls."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from ..adapters.asyncio import ConnectionClosed, WebSocket
from .ordering import OrderedReplies, Turns

__all__ = ["Session"]

_session_ids = itertools.count(1)


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = f"[{address[0]}]" if ":" in str(address[0]) else str(address[0])
        return f"{host}:{address[1]}"
    return str(address)


class Session:
    """One connected client (an element of :attr:`DemoServer.clients`).

    :param ws: its connection.
    :param max_unsent_replies: how many replies without an id may wait for
        their turn (see :class:`~.ordering.OrderedReplies`).
    """

    def __init__(self, ws: WebSocket, max_unsent_replies: int = 32) -> None:
        #: A number identifying the client in logs and in ``whoami``.
        self.id = next(_session_ids)
        #: The connection.
        self.ws = ws
        #: ``host:port`` of the peer.
        self.remote = _format_address(ws.remote_address)
        #: The authenticated login, if any (see :attr:`authenticated`).
        self.login: str | None = None
        #: When the authentication lapses (the token's ``exp``).
        self.expires = 0.0
        #: Failed ``auth`` calls so far.
        self.failed_logins = 0
        #: The calls running now (or waiting for their turn).
        self.tasks: set[asyncio.Task[None]] = set()
        #: Which call waits for which (:class:`~.ordering.Turns`).
        self.turns = Turns()
        #: The replies without an id, in order (:class:`~.ordering.OrderedReplies`).
        self.replies = OrderedReplies(self.send, max_unsent_replies)

    @property
    def authenticated(self) -> bool:
        """Whether a login succeeded and its token has not expired since."""
        return self.login is not None and time.time() < self.expires

    async def send(self, text: str) -> bool:
        """Send one text message; ``False`` if the connection is closed."""
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            return False
        return True

    def __repr__(self) -> str:
        return f"<Session #{self.id} {self.remote} login={self.login!r}>"
