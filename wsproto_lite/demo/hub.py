"""The state the demo's connections share: who is connected, who is signed in, broadcast.

Everything one connection needs to know about the others goes through a
:class:`Hub`, and nothing else in the demo touches another connection. The
demo runs in one process and keeps it in memory (:class:`LocalHub`); to run
several demo processes behind a load balancer, implement :class:`Hub` on a
shared store (a Redis set per login and pub/sub for broadcasts, say) and give
it to :class:`~.server.DemoServer`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Set
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["Hub", "LocalHub"]


class Hub(abc.ABC):
    """What the demo's connections share. Every method is called from the event loop."""

    @property
    @abc.abstractmethod
    def clients(self) -> Set[Session]:
        """The connections of this process (the tutorial's ``clients``)."""

    @abc.abstractmethod
    async def join(self, session: Session) -> int:
        """*session* is connected; return how many connections there are now."""

    @abc.abstractmethod
    async def leave(self, session: Session) -> int:
        """*session* is gone; return how many connections there are now."""

    async def signed_in(self, session: Session) -> None:  # noqa: B027 (optional hook)
        """*session* signed in (its ``login`` and ``expires`` changed).

        Nothing to do for :class:`LocalHub`, which reads the sessions
        themselves; a shared store records it here.
        """

    @abc.abstractmethod
    async def online(self) -> dict[str, int]:
        """How many authenticated connections each login has (logins with none are left out)."""

    @abc.abstractmethod
    async def broadcast(self, message: str) -> int:
        """Send *message* to every authenticated connection; return how many got it."""


class LocalHub(Hub):
    """The demo's connections, in this process's memory."""

    def __init__(self) -> None:
        self._clients: set[Session] = set()

    @property
    def clients(self) -> Set[Session]:
        """The connected sessions (a read-only view)."""
        return self._clients

    async def join(self, session: Session) -> int:
        """Add *session*; return the number of connections."""
        self._clients.add(session)
        return len(self._clients)

    async def leave(self, session: Session) -> int:
        """Remove *session*; return the number of connections."""
        self._clients.discard(session)
        return len(self._clients)

    async def online(self) -> dict[str, int]:
        """Authenticated connections per login, read from the sessions now (so an
        expired token no longer counts)."""
        online: dict[str, int] = {}
        for client in self._clients:
            if client.authenticated and client.login is not None:
                online[client.login] = online.get(client.login, 0) + 1
        return online

    async def broadcast(self, message: str) -> int:
        """Send *message* to every authenticated session, concurrently: a client
        that reads slowly does not hold up the others."""
        recipients = [client for client in self._clients if client.authenticated]
        sent = await asyncio.gather(*(client.send(message) for client in recipients))
        return sum(sent)
