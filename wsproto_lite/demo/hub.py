"""The state the demo's connections share: who is connected, who is signed in, broadcast.

Everything one connection needs to know about the others goes through a
:class:`Hub`, and nothing else in the demo touches another connection. By
default the demo runs in one process and keeps it in memory
(:class:`LocalHub`); with ``--redis`` several demo processes share it through
Redis (:class:`~.redis_hub.RedisHub`).
"""

from __future__ import annotations

import abc
import logging
import os
import socket
from collections.abc import Iterable, Set
from typing import TYPE_CHECKING

from ..adapters.asyncio import broadcast

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["Hub", "LocalHub", "deliver"]

logger = logging.getLogger("wsproto_lite.demo")


def deliver(sessions: Iterable[Session], message: str) -> int:
    """Push *message* to the authenticated *sessions* now; return how many took it.

    With the library's :func:`~wsproto_lite.adapters.asyncio.broadcast`: the
    frame is built once, and a client that does not read (more than
    ``write_limit`` bytes already wait for it) misses the message rather than
    holding up the others; that is logged.
    """
    recipients = {s.ws: s for s in sessions if s.authenticated}
    result = broadcast(recipients, message)
    for ws, reason in result.skipped.items():
        logger.info("client #%d missed a broadcast: %s", recipients[ws].id, reason.value)
    return result.sent


class Hub(abc.ABC):
    """What the demo's connections share. Every method is called from the event loop."""

    @property
    def worker_id(self) -> str:
        """This process among those sharing the state (``host/pid``; ``whoami`` shows it)."""
        return f"{socket.gethostname()}/{os.getpid()}"

    async def start(self) -> None:  # noqa: B027 (optional hook)
        """Called once before the server accepts connections (connect to a store, say)."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Called once after the server has shut down."""

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
        """Send *message* to every authenticated session at once (see :func:`deliver`):
        a client that reads slowly does not hold up the others."""
        return deliver(self._clients, message)
