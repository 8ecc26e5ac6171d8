"""What the demo's workers share through Redis: who is connected, and broadcasts.

With ``demo --redis URL``, every worker (process) publishes its connections to
Redis and relays broadcasts through Redis pub/sub (:class:`RedisState`), so
that any number of workers, on one machine or many, behave as one server.
:class:`~.redis_hub.RedisHub` puts this behind the demo's
:class:`~.hub.Hub`; without ``--redis`` the demo keeps its state in memory
(:class:`~.hub.LocalHub`) and needs nothing but the package.

The Redis layout, under a prefix (default ``wsproto_lite:demo:``)::

    {prefix}workers           SET  of worker ids that have connections
    {prefix}worker:{id}       HASH connection number -> JSON {"remote", "login", "expires"}
                              with a TTL of `expiry` seconds, rewritten by its worker
                              whenever its connections change and every expiry / 3 s
    {prefix}broadcast         pub/sub channel: JSON {"worker": id, "message": push text}

A worker that crashes stops refreshing its hash, which expires: its users
disappear from everyone's ``getUsers`` within ``expiry`` seconds. Pub/sub is
at-most-once: a worker cut off from Redis misses the broadcasts sent
meanwhile.

A Redis outage never stops a worker: it is logged once, clearly, with what
still works (this worker's clients are served, broadcasts reach them, and
``getUsers`` shows this worker's users only); the worker retries every second
and logs when Redis is back, then republishes its connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # pragma: no cover
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = [
    "DEFAULT_EXPIRY",
    "DEFAULT_PREFIX",
    "ConnectionInfo",
    "LocalView",
    "RedisState",
    "redact_url",
]

logger = logging.getLogger("wsproto_lite.demo")

#: Seconds after which a silent worker's connections disappear.
DEFAULT_EXPIRY = 10.0
#: The prefix of every Redis key and channel of the demo.
DEFAULT_PREFIX = "wsproto_lite:demo:"
#: Seconds between attempts to reach Redis again during an outage.
RETRY_INTERVAL = 1.0
#: Seconds any single Redis command may take before it counts as an outage.
COMMAND_TIMEOUT = 2.0
#: Seconds a call waits for its change to reach Redis before going on anyway.
SYNC_WAIT = 2.0


@dataclass(frozen=True)
class ConnectionInfo:
    """One connection of one worker, as every worker sees it."""

    #: The id of the worker that holds the connection.
    worker: str
    #: The connection's number on its worker (``whoami``'s ``client``).
    client: int
    #: ``host:port`` of the peer.
    remote: str
    #: The authenticated login, or ``None``.
    login: str | None
    #: When the authentication lapses (seconds since the epoch; 0 if none).
    expires: float

    @property
    def authenticated(self) -> bool:
        """Whether the connection is authenticated now."""
        return self.login is not None and time.time() < self.expires

    def to_json(self) -> str:
        """The value stored in the worker's Redis hash."""
        return json.dumps({"remote": self.remote, "login": self.login, "expires": self.expires})

    @classmethod
    def from_json(cls, worker: str, client: str, value: str) -> ConnectionInfo | None:
        """Parse a hash entry; ``None`` for anything malformed (never trusted blindly)."""
        try:
            data = json.loads(value)
            login = data.get("login")
            info = cls(
                worker, int(client), str(data["remote"]), login, float(data.get("expires", 0))
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return info if login is None or isinstance(login, str) else None


class LocalView(ABC):
    """What a worker shows the shared state: its connections, and how to reach them."""

    @abstractmethod
    def local_connections(self) -> list[ConnectionInfo]:
        """This worker's connections, now."""

    @abstractmethod
    def deliver(self, message: str) -> int:
        """Push *message* to this worker's authenticated clients; return how many took it."""


def redact_url(url: str) -> str:
    """*url* without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _new_worker_id() -> str:
    # The pid alone is not unique across hosts or containers (where it is often 1).
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


class RedisState:
    """Shared state in Redis: connections as expiring keys, broadcasts over pub/sub.

    :param url: ``redis://[:password@]host[:port][/db]`` (or ``rediss://``, ``unix://``).
    :param prefix: of every key and channel (several demos may share a Redis).
    :param expiry: seconds after which a silent worker's connections disappear;
        each worker refreshes its own every ``expiry / 3`` seconds.
    :param client: a ready ``redis.asyncio.Redis`` (tests); by default one is
        made from *url* with short timeouts and no retries, so that an outage
        is noticed at once rather than hidden behind retries.
    :raises RuntimeError: the ``redis`` package is not installed.
    :raises ValueError: *expiry* is not positive.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        expiry: float = DEFAULT_EXPIRY,
        client: Redis | None = None,
    ) -> None:
        if not expiry > 0:
            raise ValueError(f"expiry must be a positive number of seconds, not {expiry!r}")
        if client is None:
            client = _make_client(url)
        self.url = redact_url(url)
        self.prefix = prefix
        self.expiry = float(expiry)
        self.worker_id = _new_worker_id()
        self._redis = client
        self._workers_key = f"{prefix}workers"
        self._hash_key = f"{prefix}worker:{self.worker_id}"
        self._channel = f"{prefix}broadcast"
        self._local: LocalView | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = asyncio.Event()
        self._version = 0  # bumped by every local change
        self._written = 0  # the version last written to Redis
        self._written_event = asyncio.Event()
        self._down_since: float | None = None  # the outage in progress, if any
        self._subscribed = asyncio.Event()
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------

    async def start(self, local: LocalView) -> None:
        """Publish *local*'s connections and listen to the broadcasts.

        Returns once both are set up, or at once if Redis is unreachable (the
        outage is logged; the worker then serves its own clients and keeps
        retrying).
        """
        self._local = local
        self._dirty.set()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._writer(), name="demo redis writer"),
            loop.create_task(self._listener(), name="demo redis listener"),
        ]
        waiting = loop.create_task(self._subscribed.wait())
        try:
            await asyncio.wait(
                [waiting, *self._tasks], timeout=COMMAND_TIMEOUT, return_when="FIRST_COMPLETED"
            )
        finally:
            waiting.cancel()
        if self._down_since is None:
            logger.info("sharing state through Redis at %s as worker %s", self.url, self.worker_id)

    async def close(self) -> None:
        """Stop the tasks, withdraw this worker's connections, close the client."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._hash_key)
                pipe.srem(self._workers_key, self.worker_id)
                await asyncio.wait_for(pipe.execute(), COMMAND_TIMEOUT)
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    @property
    def degraded(self) -> bool:
        """Whether Redis is out of reach."""
        return self._down_since is not None

    # -- outages --------------------------------------------------------------------

    def _outage(self, what: str, exc: BaseException) -> None:
        if self._down_since is None and not self._closing:
            self._down_since = time.monotonic()
            count = len(self._local.local_connections()) if self._local is not None else 0
            logger.error(
                "Redis at %s is unreachable (%s: %s). This worker goes on serving its"
                " %d client(s) on its own: broadcasts reach its clients only and getUsers"
                " lists its users only, until Redis is back (retrying every %g s).",
                self.url,
                what,
                _describe(exc),
                count,
                RETRY_INTERVAL,
            )

    def _recovered(self) -> None:
        if self._down_since is not None:
            lasted = time.monotonic() - self._down_since
            self._down_since = None
            logger.warning(
                "Redis at %s is reachable again after %.1f s; this worker's connections"
                " are shared again (broadcasts sent meanwhile were not relayed).",
                self.url,
                lasted,
            )

    # -- this worker's connections -------------------------------------------------

    def changed(self) -> None:
        """Schedule a rewrite of this worker's entry (it happens at once)."""
        self._version += 1
        self._dirty.set()

    async def synced(self) -> None:
        """Wait until the last change is written, at most :data:`SYNC_WAIT` seconds
        (not at all during an outage)."""
        target = self._version
        deadline = asyncio.get_running_loop().time() + SYNC_WAIT
        while self._written < target and self._down_since is None and self._tasks:
            self._written_event.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._written_event.wait(), remaining)

    async def _writer(self) -> None:
        """Rewrite this worker's hash when it changes, and every expiry / 3 seconds."""
        interval = self.expiry / 3
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), interval)
            self._dirty.clear()
            version = self._version
            try:
                await asyncio.wait_for(self._write(), COMMAND_TIMEOUT)
            except (asyncio.TimeoutError, OSError, _redis_errors()) as exc:
                self._outage("writing this worker's connections", exc)
                self._dirty.clear()
                await asyncio.sleep(RETRY_INTERVAL)
                self._dirty.set()  # rewrite everything once Redis is back
                continue
            self._recovered()
            self._written = max(self._written, version)
            self._written_event.set()

    async def _write(self) -> None:
        assert self._local is not None
        entries: Mapping[Any, Any] = {
            str(c.client): c.to_json() for c in self._local.local_connections()
        }
        ttl_ms = max(1, int(self.expiry * 1000))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._hash_key)
            if entries:
                pipe.hset(self._hash_key, mapping=entries)
                pipe.pexpire(self._hash_key, ttl_ms)
                pipe.sadd(self._workers_key, self.worker_id)
            else:
                pipe.srem(self._workers_key, self.worker_id)
            await pipe.execute()

    async def connections(self) -> list[ConnectionInfo]:
        """Every live worker's connections, or this worker's alone during an outage.

        A worker whose hash has expired (it crashed) is dropped from the set.
        """
        assert self._local is not None
        local = self._local.local_connections()
        if self._down_since is not None:
            return local
        try:
            found = await asyncio.wait_for(self._read_all(), COMMAND_TIMEOUT)
        except (asyncio.TimeoutError, OSError, _redis_errors()) as exc:
            self._outage("reading the connections of the other workers", exc)
            return local
        # This worker's own entries from memory: fresher than what was written.
        return local + [c for c in found if c.worker != self.worker_id]

    async def _read_all(self) -> list[ConnectionInfo]:
        workers = sorted(_str(w) for w in await self._redis.smembers(self._workers_key))
        if not workers:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for worker in workers:
                pipe.hgetall(f"{self.prefix}worker:{worker}")
            hashes = await pipe.execute()
        found: list[ConnectionInfo] = []
        gone = []
        for worker, entries in zip(workers, hashes, strict=True):
            if not entries:
                gone.append(worker)  # expired: the worker died without withdrawing
                continue
            for client, value in entries.items():
                info = ConnectionInfo.from_json(worker, _str(client), _str(value))
                if info is not None:
                    found.append(info)
        if gone:
            await self._redis.srem(self._workers_key, *gone)
        return found

    # -- broadcasts -----------------------------------------------------------------

    async def publish(self, message: str) -> int:
        """Deliver to this worker's clients at once, and relay to the others.

        The relay is skipped (and the outage logged) when Redis is out of
        reach: this worker's clients get the message either way.
        """
        assert self._local is not None
        delivered = self._local.deliver(message)
        if self._down_since is None:
            payload = json.dumps({"worker": self.worker_id, "message": message})
            try:
                await asyncio.wait_for(self._redis.publish(self._channel, payload), COMMAND_TIMEOUT)
            except (asyncio.TimeoutError, OSError, _redis_errors()) as exc:
                self._outage("relaying a broadcast to the other workers", exc)
        return delivered

    async def _listener(self) -> None:
        """Subscribe to the broadcast channel; deliver what other workers publish.

        An idle subscription is pinged every ``expiry / 3`` seconds: a
        connection that died silently (no RST, e.g. a network cut) is noticed
        when its pong does not come, and the subscription is made again.
        """
        while True:
            pubsub: PubSub | None = None
            try:
                pubsub = self._redis.pubsub()
                await asyncio.wait_for(pubsub.subscribe(self._channel), COMMAND_TIMEOUT)
                self._subscribed.set()
                self._recovered()
                pinged = False
                while True:
                    wait = COMMAND_TIMEOUT if pinged else self.expiry / 3
                    message = await pubsub.get_message(timeout=wait)
                    if message is None:
                        if pinged:
                            raise asyncio.TimeoutError("no pong on the subscription")
                        await asyncio.wait_for(pubsub.ping(), COMMAND_TIMEOUT)
                        pinged = True
                        continue
                    pinged = False  # anything heard proves the connection alive
                    if message.get("type") == "message":
                        self._on_broadcast(message.get("data"))
            except (asyncio.TimeoutError, OSError, _redis_errors()) as exc:
                self._subscribed.clear()
                self._outage("listening to the broadcasts of the other workers", exc)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            await asyncio.sleep(RETRY_INTERVAL)

    def _on_broadcast(self, data: Any) -> None:
        try:
            relayed = json.loads(data)
            worker, message = relayed["worker"], relayed["message"]
        except (ValueError, TypeError, KeyError):
            logger.warning("ignored a malformed message on %s", self._channel)
            return
        if worker == self.worker_id or not isinstance(message, str):
            return  # our own (already delivered), or not ours to understand
        assert self._local is not None
        count = self._local.deliver(message)
        logger.debug("relayed a broadcast from worker %s to %d client(s)", worker, count)


def _str(value: str | bytes) -> str:
    """A value from Redis as text (clients made without ``decode_responses`` give bytes)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _redis_errors() -> type[Exception]:
    from redis.exceptions import RedisError

    return RedisError


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {COMMAND_TIMEOUT:g} s"
    return str(exc) or type(exc).__name__


def _make_client(url: str) -> Redis:
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise RuntimeError(
            "--redis needs the redis package: pip install 'wsproto-lite[demo-redis]'"
        ) from None
    options: Mapping[str, Any] = {
        "decode_responses": True,
        "socket_timeout": COMMAND_TIMEOUT,
        "socket_connect_timeout": COMMAND_TIMEOUT,
        # No retries: an outage is reported at once and retried by the worker.
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
        "client_name": "wsproto_lite-demo",
    }
    client: Redis = Redis.from_url(url, **options)
    return client
