"""The demo's :class:`~.hub.Hub` on Redis: several workers behave as one server.

Each worker keeps its own connections in memory, like :class:`~.hub.LocalHub`,
and shares the rest through :class:`~.shared.RedisState`: its connections as an
expiring Redis hash (so every worker's ``getUsers`` sees every worker's users,
and a crashed worker's disappear within the expiry), and broadcasts over Redis
pub/sub. Broadcasts to this worker's clients use the library's
:func:`~wsproto_lite.adapters.asyncio.broadcast`: framed once, never waiting for
a slow client.
"""

from __future__ import annotations

import time
from collections.abc import Set
from typing import TYPE_CHECKING

from .hub import Hub, deliver
from .shared import ConnectionInfo, LocalView, RedisState

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["RedisHub"]


class RedisHub(Hub, LocalView):
    """A :class:`~.hub.Hub` whose state is shared with other workers through Redis.

    :param state: the Redis side (see :class:`~.shared.RedisState` for the URL,
        key prefix and expiry).
    """

    def __init__(self, state: RedisState) -> None:
        self.state = state
        self._clients: set[Session] = set()

    @property
    def worker_id(self) -> str:
        """This worker's id among the workers sharing the Redis."""
        return self.state.worker_id

    @property
    def clients(self) -> Set[Session]:
        """This worker's sessions (a read-only view)."""
        return self._clients

    async def start(self) -> None:
        """Connect to Redis (a failure is logged, and retried in the background)."""
        await self.state.start(self)

    async def close(self) -> None:
        """Withdraw this worker's connections from Redis and disconnect."""
        await self.state.close()

    async def join(self, session: Session) -> int:
        """Add *session*, visible to the other workers; return this worker's count."""
        self._clients.add(session)
        self.state.changed()
        await self.state.synced()
        return len(self._clients)

    async def leave(self, session: Session) -> int:
        """Remove *session* here and in Redis; return this worker's count."""
        self._clients.discard(session)
        self.state.changed()
        await self.state.synced()
        return len(self._clients)

    async def signed_in(self, session: Session) -> None:
        """Record the login in Redis before the caller's reply goes out."""
        self.state.changed()
        await self.state.synced()

    async def online(self) -> dict[str, int]:
        """Authenticated connections per login, over every live worker (this
        worker's alone during a Redis outage)."""
        online: dict[str, int] = {}
        for info in await self.state.connections():
            if info.authenticated and info.login is not None:
                online[info.login] = online.get(info.login, 0) + 1
        return online

    async def broadcast(self, message: str) -> int:
        """Send *message* to every worker's authenticated clients; return how many
        of this worker's took it (the others deliver on their side)."""
        return await self.state.publish(message)

    # -- LocalView, for RedisState ------------------------------------------------

    def local_connections(self) -> list[ConnectionInfo]:
        """This worker's sessions as the other workers see them."""
        worker = self.state.worker_id
        now = time.time()
        return [
            ConnectionInfo(
                worker,
                s.id,
                s.remote,
                s.login if s.login is not None and s.expires > now else None,
                s.expires if s.login is not None else 0.0,
            )
            for s in self._clients
        ]

    def deliver(self, message: str) -> int:
        """Push *message* to this worker's authenticated clients, without waiting."""
        return deliver(self._clients, message)
