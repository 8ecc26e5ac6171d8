"""``demo --workers N --redis URL``: several worker processes behave as one server.

Each test starts the demo as a user would (``python -m wsproto_lite demo``) with
two workers sharing a real Redis (``redis_server``), and talks to it with the
``websockets`` package as an independent client. With ``SO_REUSEPORT`` the
kernel picks the worker of each connection, so the tests open connections
until they have one on each worker (``whoami`` says which).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .conftest import RedisServer

websockets_client = pytest.importorskip("websockets.asyncio.client")

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
EXPIRY = 1.5
USERS = {
    "users": [
        {"login": "alice", "password": "alice-pw", "name": "Alice"},
        {"login": "bob", "password": "bob-pw", "name": "Bob"},
    ]
}


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


class Demo:
    """``python -m wsproto_lite demo ...`` in a subprocess; its stderr collected."""

    def __init__(self, *args: str, tmp_path: Path, env: dict[str, str] | None = None) -> None:
        users = tmp_path / "users.json"
        users.write_text(json.dumps(USERS), encoding="utf-8")
        env = {**os.environ, **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        env["WSPROTO_LITE_DEMO_SECRET"] = "test-secret-" + "x" * 32
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wsproto_lite",
                "demo",
                "--port",
                "0",
                "--users",
                str(users),
                "--auth-delay",
                "0",
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        match = self.wait_for(r"listening on (ws://127\.0\.0\.1:\d+)", 30)
        self.url = match.group(1) + "/"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._changed:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def log(self) -> str:
        """Everything the demo wrote to stderr so far."""
        with self._changed:
            return "\n".join(self._lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until a line of the demo's stderr matches *pattern*."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        with self._changed:
            while True:
                for line in self._lines:
                    match = regex.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no line matches {pattern!r} in:\n" + "\n".join(self._lines)
                    )
                self._changed.wait(min(remaining, 0.2))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send *sig* and wait for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._done()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._done()

    def _done(self) -> None:
        # The pipe ends when the last process holding it does (workers outlive
        # a killed supervisor for a moment); never close it under the reader.
        self._reader.join(15)
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()


@pytest.fixture
def demo_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Demo] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Demo:
        demo = Demo(*args, tmp_path=tmp_path, env=env)
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.kill()


class Client:
    """A demo client on the ``websockets`` package: calls with ids, pushes collected."""

    _ids = itertools.count(1)

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.pushes: list[dict[str, Any]] = []
        self.worker = ""

    @classmethod
    async def open(cls, url: str) -> Client:
        client = cls(await websockets_client.connect(url, open_timeout=10))
        client.worker = (await client.call("whoami"))["worker"]
        return client

    async def call(self, method: str, *args: Any, timeout: float = 10) -> Any:
        call_id = next(self._ids)
        await self.ws.send(json.dumps({"id": call_id, "method": method, "args": list(args)}))

        async def reply() -> Any:
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("id") == call_id:
                    if "error" in message:
                        raise AssertionError(f"{method} failed: {message['error']}")
                    return message["result"]
                self.pushes.append(message)

        return await asyncio.wait_for(reply(), timeout)

    async def next_push(self, timeout: float = 5) -> dict[str, Any]:
        if self.pushes:
            return self.pushes.pop(0)
        push: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return push

    async def close(self) -> None:
        await self.ws.close()


async def one_client_per_worker(url: str, workers: int = 2) -> list[Client]:
    """Open connections until *workers* distinct workers hold one each."""
    chosen: dict[str, Client] = {}
    spare = []
    for _ in range(40):
        client = await Client.open(url)
        if client.worker in chosen:
            spare.append(client)
        else:
            chosen[client.worker] = client
        if len(chosen) == workers:
            break
    for client in spare:
        await client.close()
    assert len(chosen) == workers, f"40 connections reached only {list(chosen)}"
    return list(chosen.values())


def worker_pid(worker_id: str) -> int:
    """The pid in a worker id (``host/pid/random``)."""
    return int(worker_id.split("/")[-2])


def online(users: list[dict[str, Any]]) -> dict[str, int]:
    return {user["login"]: user["online"] for user in users}


def start_two(
    demo_factory: Any, redis_server: RedisServer, env: dict[str, str] | None = None
) -> Demo:
    return demo_factory(
        "--workers", "2", "--redis", redis_server.url, "--redis-expiry", str(EXPIRY), env=env
    )  # fmt: skip


async def sign_in(alice: Client, bob: Client) -> None:
    assert (await alice.call("auth", "alice", "alice-pw"))["login"] == "alice"
    assert (await bob.call("auth", "bob", "bob-pw"))["login"] == "bob"


def test_two_workers_share_users_and_broadcasts(
    redis_server: RedisServer, demo_factory: Any
) -> None:
    demo = start_two(demo_factory, redis_server)
    assert re.search(r"2 workers serve port \d+ \(SO_REUSEPORT\)", demo.log), demo.log

    async def main() -> None:
        alice, bob = await one_client_per_worker(demo.url)
        await sign_in(alice, bob)
        # getUsers lists the users connected to either worker, from either.
        assert online(await alice.call("getUsers")) == {"alice": 1, "bob": 1}
        assert online(await bob.call("getUsers")) == {"alice": 1, "bob": 1}
        # A broadcast on one worker reaches the clients of the other.
        result = await alice.call("broadcast", "hello from one worker")
        assert result["delivered"] == 1  # alice, on this worker; bob's is relayed
        expected = {"event": "broadcast", "from": "alice", "text": "hello from one worker"}
        assert await alice.next_push() == expected
        assert await bob.next_push() == expected
        await bob.call("broadcast", "and back")
        assert (await alice.next_push())["text"] == "and back"
        # A disconnection shows on the other worker at once.
        await bob.close()
        await asyncio.sleep(0.2)
        assert online(await alice.call("getUsers")) == {"alice": 1, "bob": 0}
        await alice.close()

    run(main())
    assert demo.stop() == 0, demo.log


def test_a_killed_worker_s_users_disappear_within_the_expiry(
    redis_server: RedisServer, demo_factory: Any
) -> None:
    demo = start_two(demo_factory, redis_server)

    async def main() -> None:
        alice, bob = await one_client_per_worker(demo.url)
        await sign_in(alice, bob)
        assert online(await alice.call("getUsers")) == {"alice": 1, "bob": 1}
        pid = worker_pid(bob.worker)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        while online(await alice.call("getUsers"))["bob"]:
            assert time.monotonic() - killed < EXPIRY + 1.0, "bob is still listed"
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - killed
        assert elapsed <= EXPIRY + 0.5, f"bob disappeared after {elapsed:.2f} s"
        demo.wait_for(rf"worker #\d \(pid {pid}\) was killed by signal 9", 5)
        demo.wait_for(r"worker #\d restarted \(pid \d+\)", 10)
        # The replacement serves and shares like the others.
        clients = await one_client_per_worker(demo.url)
        assert pid not in {worker_pid(c.worker) for c in clients}
        for client in clients:
            await client.close()
        await alice.close()

    run(main())
    assert demo.stop() == 0, demo.log


def test_a_redis_outage_is_reported_and_local_clients_keep_being_served(
    redis_server: RedisServer, demo_factory: Any
) -> None:
    demo = start_two(demo_factory, redis_server)

    async def main() -> None:
        alice, bob = await one_client_per_worker(demo.url)
        await sign_in(alice, bob)
        redis_server.stop()
        unreachable = rf"Redis at {re.escape(redis_server.url)} is unreachable"
        demo.wait_for(unreachable, 10)
        # Each worker serves its own clients: calls, broadcasts and its own users.
        assert (await alice.call("whoami"))["login"] == "alice"
        assert online(await alice.call("getUsers")) == {"alice": 1, "bob": 0}
        assert online(await bob.call("getUsers")) == {"alice": 0, "bob": 1}
        assert (await alice.call("broadcast", "during"))["delivered"] == 1
        assert (await alice.next_push())["text"] == "during"
        assert (await bob.call("sleep", 1)) == {"slept": 1}
        assert bob.pushes == []  # not relayed: Redis is down
        assert "goes on serving its 1 client(s) on its own" in demo.log

        redis_server.start()
        demo.wait_for("is reachable again", 10)
        deadline = time.monotonic() + 10
        while online(await alice.call("getUsers")) != {"alice": 1, "bob": 1}:
            assert time.monotonic() < deadline, "the workers never shared again"
            await asyncio.sleep(0.1)
        # Broadcasts are relayed again once bob's worker has subscribed again
        # (it retries every second): within a few seconds, and for good.
        deadline = time.monotonic() + 10
        while True:
            await alice.call("broadcast", "after")
            try:
                push = await bob.next_push(timeout=0.3)
                break
            except asyncio.TimeoutError:
                assert time.monotonic() < deadline, "broadcasts are not relayed again"
        assert push == {"event": "broadcast", "from": "alice", "text": "after"}
        await alice.call("broadcast", "again")
        while (await bob.next_push(timeout=5))["text"] != "again":
            pass  # the relays of the probes sent before it
        await alice.close()
        await bob.close()

    run(main())
    assert demo.stop() == 0, demo.log


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_shutdown_stops_every_worker_gracefully(
    redis_server: RedisServer, demo_factory: Any, sig: int, status: int
) -> None:
    demo = start_two(demo_factory, redis_server)

    async def main() -> None:
        clients = await one_client_per_worker(demo.url)
        pids = [worker_pid(c.worker) for c in clients]
        stopped = time.monotonic()
        assert await asyncio.to_thread(demo.stop, sig) == status, demo.log
        assert time.monotonic() - stopped < 10
        for client in clients:
            await client.ws.wait_closed()
            assert client.ws.close_code == 1001  # going away: a graceful close
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)

    run(main())


def test_several_workers_need_redis(demo_factory: Any, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wsproto_lite", "demo", "--workers", "2", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "--workers 2 needs --redis URL" in result.stderr


def test_two_hosts_share_one_redis(redis_server: RedisServer, demo_factory: Any) -> None:
    """Two separate demos (two machines, say), one worker each, one Redis."""
    options = ("--redis", redis_server.url, "--redis-expiry", str(EXPIRY))
    host_a = demo_factory(*options)
    host_b = demo_factory(*options)
    assert host_a.url != host_b.url

    async def main() -> None:
        alice = await Client.open(host_a.url)
        bob = await Client.open(host_b.url)
        await sign_in(alice, bob)
        assert online(await bob.call("getUsers")) == {"alice": 1, "bob": 1}
        await bob.call("broadcast", "across hosts")
        assert (await alice.next_push())["text"] == "across hosts"
        # A host that stops withdraws its users at once.
        assert await asyncio.to_thread(host_a.stop) == 0
        assert online(await bob.call("getUsers")) == {"alice": 0, "bob": 1}
        await bob.close()

    run(main())
    assert host_b.stop() == 0, host_b.log


def test_the_shared_socket_mode_of_platforms_without_so_reuseport(
    redis_server: RedisServer, demo_factory: Any
) -> None:
    demo = start_two(demo_factory, redis_server, env={"WSPROTO_LITE_DEMO_NO_REUSEPORT": "1"})
    assert re.search(r"2 workers serve port \d+ \(a shared listening socket\)", demo.log)

    async def main() -> None:
        clients = [await Client.open(demo.url) for _ in range(6)]
        for client in clients:
            await client.call("auth", "alice", "alice-pw")
        for client in clients:  # every worker counts the users of both
            assert online(await client.call("getUsers"))["alice"] == 6
        for client in clients:
            await client.close()

    run(main())
    assert demo.stop() == 0, demo.log


def test_workers_stop_when_the_supervisor_is_killed(
    redis_server: RedisServer, demo_factory: Any
) -> None:
    demo = start_two(demo_factory, redis_server)

    async def main() -> list[int]:
        clients = await one_client_per_worker(demo.url)
        pids = [worker_pid(c.worker) for c in clients]
        for client in clients:
            await client.close()
        return pids

    pids = run(main())
    demo.proc.kill()  # no chance to stop its workers: they notice their stdin close
    demo.proc.wait()
    demo.wait_for("the supervisor is gone; stopping", 10)
    deadline = time.monotonic() + 15
    for pid in pids:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, f"worker pid {pid} is still running"
            time.sleep(0.05)
