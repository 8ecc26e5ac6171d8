"""The demo's shared state (wsproto_lite.demo.shared) against a real Redis.

Two or three :class:`RedisState` s in one event loop stand for workers; each
has a fake :class:`LocalView` (its connections, and a list of what it
delivered to its clients).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from wsproto_lite.demo import shared
from wsproto_lite.demo.shared import ConnectionInfo, LocalView, RedisState, redact_url

from .conftest import RedisServer

T = TypeVar("T")
EXPIRY = 0.6


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry every 0.1 s instead of every second: the outage tests stay short."""
    monkeypatch.setattr(shared, "RETRY_INTERVAL", 0.1)
    monkeypatch.setattr(shared, "COMMAND_TIMEOUT", 1.0)


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


class FakeWorker(LocalView):
    """A worker's connections, and what its clients received."""

    def __init__(self) -> None:
        self.conns: list[tuple[int, str | None]] = []
        self.delivered: list[str] = []
        self.state: RedisState | None = None

    def local_connections(self) -> list[ConnectionInfo]:
        assert self.state is not None
        worker = self.state.worker_id
        return [
            ConnectionInfo(worker, n, f"127.0.0.1:{50000 + n}", login, time.time() + 60)
            for n, login in self.conns
        ]

    def deliver(self, message: str) -> int:
        self.delivered.append(message)
        return sum(1 for _, login in self.conns if login)


async def worker(url: str, **options: Any) -> tuple[RedisState, FakeWorker]:
    state = RedisState(url, expiry=EXPIRY, **options)
    view = FakeWorker()
    view.state = state
    await state.start(view)
    return state, view


async def eventually(check: Callable[[], Coroutine[Any, Any, bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


def logins(conns: list[ConnectionInfo]) -> list[tuple[str, int]]:
    return sorted((c.login or "-", c.client) for c in conns)


def test_connections_of_every_worker(redis_server: RedisServer) -> None:
    async def main() -> None:
        a, va = await worker(redis_server.url)
        b, vb = await worker(redis_server.url)
        va.conns = [(1, "admin"), (2, None)]
        a.changed()
        await a.synced()
        vb.conns = [(1, "guest")]
        b.changed()
        await b.synced()
        seen_by_b = await b.connections()
        assert logins(seen_by_b) == [("-", 2), ("admin", 1), ("guest", 1)]
        assert {c.worker for c in seen_by_b} == {a.worker_id, b.worker_id}
        assert all(c.authenticated == (c.login is not None) for c in seen_by_b)
        # A disconnection shows at once.
        va.conns = [(2, None)]
        a.changed()
        await a.synced()
        assert logins(await b.connections()) == [("-", 2), ("guest", 1)]
        # A clean stop withdraws a worker's connections at once.
        await a.close()
        assert logins(await b.connections()) == [("guest", 1)]
        await b.close()

    run(main())


def test_broadcast_reaches_every_worker_once(redis_server: RedisServer) -> None:
    async def main() -> None:
        a, va = await worker(redis_server.url)
        b, vb = await worker(redis_server.url)
        c, vc = await worker(redis_server.url)
        va.conns = [(1, "admin")]
        assert await a.publish('{"event": "broadcast", "text": "hi"}') == 1
        assert va.delivered == ['{"event": "broadcast", "text": "hi"}']  # at once, locally

        async def relayed() -> bool:
            return len(vb.delivered) == 1 and len(vc.delivered) == 1

        await eventually(relayed, 5)
        assert vb.delivered == vc.delivered == ['{"event": "broadcast", "text": "hi"}']
        await asyncio.sleep(0.2)
        assert len(va.delivered) == 1, "the publisher delivered its own message twice"
        for state in (a, b, c):
            await state.close()

    run(main())


def test_a_crashed_worker_disappears_within_the_expiry(redis_server: RedisServer) -> None:
    async def main() -> None:
        a, va = await worker(redis_server.url)
        b, _ = await worker(redis_server.url)
        va.conns = [(1, "admin")]
        a.changed()
        await a.synced()
        assert logins(await b.connections()) == [("admin", 1)]
        # A crash: its tasks stop, nothing is withdrawn.
        for task in a._tasks:
            task.cancel()
        crashed = time.monotonic()

        async def gone() -> bool:
            return await b.connections() == []

        await eventually(gone, EXPIRY + 2)
        assert time.monotonic() - crashed <= EXPIRY + 0.5
        # The dead worker was dropped from the set, not only skipped.
        members = await b._redis.smembers(b._workers_key)
        assert a.worker_id not in members
        await b.close()
        await a._redis.aclose()

    run(main())


def test_a_live_worker_keeps_its_entry_past_the_expiry(redis_server: RedisServer) -> None:
    async def main() -> None:
        a, va = await worker(redis_server.url)
        b, _ = await worker(redis_server.url)
        va.conns = [(7, "admin")]
        a.changed()
        await a.synced()
        await asyncio.sleep(EXPIRY * 3)  # refreshed every EXPIRY / 3
        assert logins(await b.connections()) == [("admin", 7)]
        await a.close()
        await b.close()

    run(main())


def test_outage_is_reported_local_clients_keep_being_served_and_it_recovers(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wsproto_lite.demo")

    async def main() -> None:
        a, va = await worker(redis_server.url)
        b, vb = await worker(redis_server.url)
        va.conns = [(1, "admin")]
        vb.conns = [(1, "guest")]
        a.changed()
        b.changed()
        await a.synced()
        await b.synced()

        redis_server.stop()

        async def degraded() -> bool:
            return a.degraded and b.degraded

        await eventually(degraded, 5)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        text = errors[0].getMessage()
        assert f"Redis at {redis_server.url} is unreachable" in text
        assert "goes on serving its 1 client(s) on its own" in text
        assert len([r for r in errors if "unreachable" in r.getMessage()]) == 2  # once each
        # Local service goes on: broadcasts reach local clients, getUsers shows local users.
        assert await a.publish("during") == 1
        assert va.delivered == ["during"]
        assert logins(await a.connections()) == [("admin", 1)]
        await asyncio.sleep(0.3)
        assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 2

        redis_server.start()  # the same port, empty: everything must be republished

        async def back() -> bool:
            return not a.degraded and not b.degraded and len(await b.connections()) == 2

        await eventually(back, 10)
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        assert logins(await a.connections()) == [("admin", 1), ("guest", 1)]
        await eventually(lambda: _subscribed(b), 5)
        await a.publish("after")

        async def relayed() -> bool:
            return vb.delivered == ["after"]

        await eventually(relayed, 5)
        await a.close()
        await b.close()

    run(main())


async def _subscribed(state: RedisState) -> bool:
    return state._subscribed.is_set()


def test_start_during_an_outage_does_not_block(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = redis_server.url
    redis_server.stop()

    async def main() -> None:
        started = time.monotonic()
        a, va = await worker(url)
        assert time.monotonic() - started < 2
        assert a.degraded
        va.conns = [(1, "admin")]
        assert await a.publish("x") == 1
        assert logins(await a.connections()) == [("admin", 1)]
        await a.synced()  # returns at once during an outage
        redis_server.start()
        await eventually(lambda: _not_degraded(a), 10)
        await a.close()

    run(main())
    assert "is unreachable" in caplog.text


async def _not_degraded(state: RedisState) -> bool:
    return not state.degraded


def test_malformed_entries_and_messages_are_ignored(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        a, va = await worker(redis_server.url)
        r = a._redis
        await r.sadd(a._workers_key, "intruder")
        await r.hset(
            f"{a.prefix}worker:intruder",
            mapping={
                "1": "not json",
                "2": '{"login": 5, "remote": "x"}',
                "x": '{"remote": "y"}',
                "3": '{"login": "eve", "remote": "h:1", "expires": 9e12}',
            },
        )
        assert [(c.worker, c.client, c.login) for c in await a.connections()] == [
            ("intruder", 3, "eve")
        ]
        await r.publish(a._channel, "garbage")
        await r.publish(a._channel, '{"worker": "w", "message": 5}')
        await r.publish(a._channel, '{"worker": "w", "message": "ok"}')
        await eventually(lambda: _delivered(va, ["ok"]), 5)
        assert "ignored a malformed message" in caplog.text
        await a.close()

    run(main())


async def _delivered(view: FakeWorker, expected: list[str]) -> bool:
    return view.delivered == expected


def test_redact_url_and_bad_options(monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact_url("redis://:hunter2@db.example:6380/1") == "redis://:***@db.example:6380/1"
    assert redact_url("redis://u:p@[::1]/0") == "redis://u:***@[::1]/0"
    assert redact_url("redis://db/0") == "redis://db/0"
    with pytest.raises(ValueError, match="expiry must be a positive number"):
        RedisState("redis://127.0.0.1:1/0", expiry=0)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(RuntimeError, match=r"pip install 'wsproto-lite\[demo-redis\]'"):
        RedisState("redis://127.0.0.1:1/0")
