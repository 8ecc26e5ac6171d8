"""The demo (wsproto_lite.demo) end to end, with the asyncio client on port 0.

Each test runs its own demo server in its own event loop (``asyncio.run``);
the users (whose scrypt hashes take a while) are built once per module.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from wsproto_lite.adapters.asyncio import (
    ConnectionClosedError,
    InvalidHandshake,
    WebSocket,
    connect,
)
from wsproto_lite.demo import (
    ConfigError,
    DemoConfig,
    DemoServer,
    ErrorCode,
    LocalHub,
    Session,
    UserStore,
    hash_password,
    jwt,
    load_users,
    verify_password,
)
from wsproto_lite.demo.config import SECRET_ENV, secret_from_env
from wsproto_lite.demo.ordering import OrderedReplies, Turn, Turns
from wsproto_lite.demo.rpc import (
    Note,
    Ping,
    Request,
    RPCError,
    parse_message,
    parse_request,
    pong_reply,
)
from wsproto_lite.demo.server import load_page

SECRET = b"k" * 32
USERS = UserStore.default()

# -- helpers ------------------------------------------------------------------------


@asynccontextmanager
async def demo_server(**options: Any) -> AsyncIterator[tuple[DemoServer, str]]:
    """A demo server on a free port: yields it and its ws:// URL."""
    options.setdefault("users", USERS)
    options.setdefault("secret", SECRET)
    options.setdefault("auth_delay", 0.02)
    demo = DemoServer(DemoConfig(**options))
    async with demo.serve("127.0.0.1", 0, close_timeout=2) as server:
        yield demo, f"ws://127.0.0.1:{server.port}"


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


class Client:
    """A test client: numbered calls, replies matched by id, pushes kept apart."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.next_id = 1
        self.pushes: list[dict[str, Any]] = []

    async def send(self, method: str, *args: Any) -> int:
        call_id = self.next_id
        self.next_id += 1
        await self.ws.send(json.dumps({"id": call_id, "method": method, "args": list(args)}))
        return call_id

    async def reply(self) -> dict[str, Any]:
        """The next reply (pushes received meanwhile go to :attr:`pushes`)."""
        while True:
            message = json.loads(await self.ws.recv())
            if "event" in message:
                self.pushes.append(message)
            else:
                return message  # type: ignore[no-any-return]

    async def call(self, method: str, *args: Any) -> dict[str, Any]:
        call_id = await self.send(method, *args)
        reply = await self.reply()
        assert reply["id"] == call_id
        return reply

    async def result(self, method: str, *args: Any) -> Any:
        reply = await self.call(method, *args)
        assert "error" not in reply, reply
        return reply["result"]

    async def error(self, method: str, *args: Any) -> tuple[int, str]:
        reply = await self.call(method, *args)
        assert "result" not in reply, reply
        return reply["error"]["code"], reply["error"]["message"]

    async def raw(self, message: str | bytes) -> dict[str, Any]:
        await self.ws.send(message)
        return await self.reply()

    async def still_open(self) -> None:
        assert (await self.result("whoami"))["client"] >= 1


@asynccontextmanager
async def client(url: str) -> AsyncIterator[Client]:
    async with connect(url + "/ws") as ws:
        yield Client(ws)


async def http_exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, return everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return data


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# -- the tutorial's session -----------------------------------------------------------


def test_tutorial_session() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            code, message = await c.error("auth", "admin", "wrong")
            assert code == -32002 and code == ErrorCode.INVALID_CREDENTIALS
            assert message == "wrong login or password"
            result = await c.result("auth", "admin", "secret")
            assert result["login"] == "admin"
            claims = jwt.decode(result["token"], SECRET)
            assert claims["sub"] == "admin"
            assert claims["exp"] == result["expires"] > time.time()
            users = await c.result("getUsers")
            assert users == [{"login": "admin", "name": "Administrator", "online": 1}]

    run(test)


def test_tutorial_messages_without_id() -> None:
    """The tutorial's messages have no id: the reply's id is null."""

    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            reply = await c.raw('{"method": "auth", "args": ["admin", "secret"]}')
            assert reply["id"] is None and reply["result"]["login"] == "admin"
            reply = await c.raw('{"method": "getUsers"}')
            assert reply == {
                "id": None,
                "result": [{"login": "admin", "name": "Administrator", "online": 1}],
            }

    run(test)


# The tutorial's browser-console steps (see docs/demo.md), as JSON.stringify sends them.
STEP4 = json.dumps({"message": "Hello World"}, separators=(",", ":"))
STEP5 = json.dumps({"ping": "Hello World"}, separators=(",", ":"))
STEP6 = [
    json.dumps({"method": "auth", "args": ["admin", "wrong"]}, separators=(",", ":")),
    json.dumps({"method": "auth", "args": ["admin", "secret"]}, separators=(",", ":")),
    json.dumps({"method": "getUsers"}, separators=(",", ":")),
]


def demo_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wsproto_lite.demo"]


def test_tutorial_step2_the_handshake_headers_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """At the default level (INFO), like the tutorial's ``headers`` event."""

    async def test() -> None:
        async with demo_server() as (_, url):
            headers = [("User-Agent", "step-2"), ("Cookie", "session=hunter2"), ("X-Bell", "\x07")]
            async with connect(url, extra_headers=headers):
                pass

    with caplog.at_level(logging.INFO, logger="wsproto_lite.demo"):
        run(test)
    (entry,) = [m for m in demo_log(caplog) if m.startswith("handshake request")]
    lines = entry.splitlines()
    assert lines[0] == "handshake request GET /, headers:"
    assert re.fullmatch(r"    host: 127\.0\.0\.1:\d+", lines[1])
    assert "    upgrade: websocket" in lines
    assert "    connection: Upgrade" in lines
    assert "    sec-websocket-version: 13" in lines
    assert any(re.fullmatch(r"    sec-websocket-key: [A-Za-z0-9+/]{22}==", ln) for ln in lines)
    assert "    user-agent: step-2" in lines
    # Credentials are not written to the log, and nothing can forge log lines.
    assert "    cookie: (15 characters, not shown)" in lines
    assert "hunter2" not in caplog.text
    assert "    x-bell: \\u0007" in lines


def test_tutorial_step4_a_message_that_is_not_a_call_is_printed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``{"message": "Hello World"}``: printed on the server's terminal, not answered."""

    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            await c.ws.send(STEP4)
            await c.ws.send('{"message": "x\\u001b[2J", "n": [1, 2]}')
            await c.ws.send("{}")
            # No reply to either: the next reply is whoami's.
            assert (await c.result("whoami"))["authenticated"] is False
            assert c.pushes == []

    with caplog.at_level(logging.INFO, logger="wsproto_lite.demo"):
        run(test)
    log = demo_log(caplog)
    assert re.search(
        r"^client #\d+: message \{\"message\":\"Hello World\"\}$", "\n".join(log), re.M
    )
    # Control characters reach the log escaped.
    assert any(m.endswith(': message {"message": "x\\u001b[2J", "n": [1, 2]}') for m in log)
    assert any(m.endswith(": message {}") for m in log)


def test_a_long_note_is_cut_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            await c.ws.send(json.dumps({"message": "y" * 5000}))
            await c.still_open()

    with caplog.at_level(logging.INFO, logger="wsproto_lite.demo"):
        run(test)
    (line,) = [m for m in demo_log(caplog) if ": message " in m]
    assert line.endswith("… (4815 more characters)")
    assert len(line) < 300


def test_tutorial_step5_ping_gets_a_pong(caplog: pytest.LogCaptureFixture) -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            assert await c.raw(STEP5) == {"pong": "Hello World"}
            # Any JSON value comes back as is; an id is echoed.
            assert await c.raw('{"ping": {"a": [1, null]}, "id": 7}') == {
                "id": 7,
                "pong": {"a": [1, None]},
            }
            reply = await c.raw('{"ping": 1, "id": {}}')
            assert reply["id"] is None and reply["error"]["code"] == ErrorCode.INVALID_REQUEST

    with caplog.at_level(logging.INFO, logger="wsproto_lite.demo"):
        run(test)
    assert any(
        re.fullmatch(r'client #\d+: ping \{"ping":"Hello World"\}', m) for m in demo_log(caplog)
    )


def test_tutorial_step6_three_sends_back_to_back_without_ids() -> None:
    """auth(wrong), auth(secret), getUsers sent at once: refused, accepted, the users,
    in this order, although auth is slow and getUsers fast."""

    async def test() -> None:
        async with demo_server(auth_delay=0.2) as (_, url), client(url) as c:
            for text in STEP6:
                await c.ws.send(text)
            refused, accepted, users = [await c.reply() for _ in range(3)]
            assert refused == {
                "id": None,
                "error": {
                    "code": ErrorCode.INVALID_CREDENTIALS,
                    "message": "wrong login or password",
                },
            }
            assert accepted["id"] is None and accepted["result"]["login"] == "admin"
            assert users == {
                "id": None,
                "result": [{"login": "admin", "name": "Administrator", "online": 1}],
            }

    run(test)


def test_string_ids_are_echoed() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            reply = await c.raw('{"id": "abc", "method": "sleep", "args": [0]}')
            assert reply == {"id": "abc", "result": {"slept": 0}}

    run(test)


def test_unknown_user_and_wrong_password_look_the_same() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            assert await c.error("auth", "nobody", "secret") == await c.error("auth", "admin", "x")

    run(test)


def test_methods_that_require_authentication() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            for method, args in (("getUsers", ()), ("broadcast", ("hi",))):
                code, message = await c.error(method, *args)
                assert code == -32001 and code == ErrorCode.UNAUTHORIZED
                assert "call auth first" in message
            me = await c.result("whoami")
            assert me["authenticated"] is False and me["login"] is None

    run(test)


def test_whoami() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            await c.result("auth", "admin", "secret")
            me = await c.result("whoami")
            assert me["authenticated"] is True and me["login"] == "admin"
            assert me["remote"].startswith("127.0.0.1:")
            assert me["expires"] > time.time()

    run(test)


# -- bad input --------------------------------------------------------------------------

BAD_INPUT: list[tuple[str, str | bytes, int]] = [
    ("invalid JSON", "{nope", ErrorCode.PARSE_ERROR),
    ("truncated JSON", '{"id": 1, "method": "whoami"', ErrorCode.PARSE_ERROR),
    ("NaN is not JSON", '{"id": NaN, "method": "whoami"}', ErrorCode.PARSE_ERROR),
    ("empty text", "", ErrorCode.PARSE_ERROR),
    ("an array", '[{"id": 1, "method": "whoami"}]', ErrorCode.INVALID_REQUEST),
    ("a number", "42", ErrorCode.INVALID_REQUEST),
    ("a string", '"whoami"', ErrorCode.INVALID_REQUEST),
    ("null", "null", ErrorCode.INVALID_REQUEST),
    ("no method", '{"id": 1}', ErrorCode.INVALID_REQUEST),
    ("method not a string", '{"id": 1, "method": 7}', ErrorCode.INVALID_REQUEST),
    ("args not an array", '{"id": 1, "method": "sleep", "args": 5}', ErrorCode.INVALID_REQUEST),
    ("id an object", '{"id": {}, "method": "whoami"}', ErrorCode.INVALID_REQUEST),
    ("id a boolean", '{"id": true, "method": "whoami"}', ErrorCode.INVALID_REQUEST),
    ("binary message", b'{"id": 1, "method": "whoami"}', ErrorCode.INVALID_REQUEST),
    ("unknown method", '{"id": 1, "method": "rm -rf"}', ErrorCode.METHOD_NOT_FOUND),
    ("inherited name", '{"id": 1, "method": "__init__"}', ErrorCode.METHOD_NOT_FOUND),
    ("too few args", '{"id": 1, "method": "auth", "args": ["admin"]}', ErrorCode.INVALID_PARAMS),
    ("too many args", '{"id": 1, "method": "whoami", "args": [1]}', ErrorCode.INVALID_PARAMS),
    ("wrong type", '{"id": 1, "method": "auth", "args": ["admin", 1]}', ErrorCode.INVALID_PARAMS),
    ("bool for number", '{"id": 1, "method": "sleep", "args": [true]}', ErrorCode.INVALID_PARAMS),
    ("string for number", '{"id": 1, "method": "sleep", "args": ["1"]}', ErrorCode.INVALID_PARAMS),
    ("sleep too long", '{"id": 1, "method": "sleep", "args": [10001]}', ErrorCode.INVALID_PARAMS),
    ("negative sleep", '{"id": 1, "method": "sleep", "args": [-1]}', ErrorCode.INVALID_PARAMS),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, ErrorCode.PARSE_ERROR),
]


def test_bad_input_gets_an_error_and_the_connection_stays_open() -> None:
    async def test() -> None:
        async with demo_server(max_message_size=1 << 20) as (_, url), client(url) as c:
            for label, message, code in BAD_INPUT:
                reply = await c.raw(message)
                assert set(reply) == {"id", "error"}, label
                assert reply["error"]["code"] == code, (label, reply)
                assert reply["error"]["message"], label
                # Calls are answered with their id; unreadable ones with null.
                expected_id = (
                    1 if code in (ErrorCode.METHOD_NOT_FOUND, ErrorCode.INVALID_PARAMS) else None
                )
                if label in ("no method", "method not a string", "args not an array"):
                    expected_id = 1
                assert reply["id"] == expected_id, (label, reply)
                await c.still_open()

    run(test)


def test_error_messages_say_what_is_wrong() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            _, message = await c.error("auth", "admin")
            assert message == "auth(login, password) takes 2 arguments, got 1"
            _, message = await c.error("auth", "admin", None)
            assert message == "auth: argument 2 (password) must be a string, got null"
            _, message = await c.error("nope")
            assert "unknown method 'nope'" in message and "getUsers" in message
            reply = await c.raw(b"\x00")
            assert "binary" in reply["error"]["message"]

    run(test)


def test_broadcast_too_long() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            await c.result("auth", "admin", "secret")
            code, message = await c.error("broadcast", "x" * 1001)
            assert code == ErrorCode.INVALID_PARAMS and "1000" in message
            await c.still_open()

    run(test)


def test_oversized_message_closes_with_1009() -> None:
    async def test() -> None:
        async with demo_server() as (demo, url), client(url) as c:
            assert demo.config.max_message_size == 64 * 1024
            await c.still_open()  # just below the limit is fine
            padding = " " * (64 * 1024 - 40)
            reply = await c.raw('{"id": 5, "method": "sleep", "args": [0]}' + padding[:-1])
            assert reply["id"] == 5
            await c.ws.send('{"id": 6, "method": "sleep", "args": [0]}' + " " * (64 * 1024))
            with pytest.raises(ConnectionClosedError) as info:
                await c.ws.recv()
            assert info.value.code == 1009
            assert c.ws.extensions  # compressed, which the reason need not say
            assert (
                info.value.reason == "message of at least 65537 bytes exceeds the 65536-byte limit"
            )

    run(test)


def test_too_many_failed_logins_close_with_1008() -> None:
    async def test() -> None:
        async with demo_server(max_failed_logins=2) as (_, url), client(url) as c:
            assert (await c.error("auth", "admin", "a"))[0] == ErrorCode.INVALID_CREDENTIALS
            assert (await c.error("auth", "admin", "b"))[0] == ErrorCode.INVALID_CREDENTIALS
            with pytest.raises(ConnectionClosedError) as info:
                await c.ws.recv()
            assert info.value.code == 1008

    run(test)


def test_too_many_calls_at_once() -> None:
    async def test() -> None:
        async with demo_server(max_pending_calls=2) as (_, url), client(url) as c:
            first = await c.send("sleep", 300)
            second = await c.send("sleep", 300)
            third = await c.send("sleep", 0)
            reply = await c.reply()
            assert reply["id"] == third
            assert reply["error"]["code"] == ErrorCode.TOO_MANY_CALLS
            assert {(await c.reply())["id"], (await c.reply())["id"]} == {first, second}
            await c.still_open()

    run(test)


# -- concurrency and order --------------------------------------------------------------


def test_a_call_sent_during_auth_waits_for_it() -> None:
    """With ids too: getUsers sent right after auth (no waiting) sees the login."""

    async def test() -> None:
        async with demo_server(auth_delay=0.3) as (_, url), client(url) as c:
            auth = await c.send("auth", "admin", "secret")
            users = await c.send("getUsers")
            me = await c.send("whoami")
            replies = {r["id"]: r for r in [await c.reply() for _ in range(3)]}
            assert replies[auth]["result"]["login"] == "admin"
            assert replies[users]["result"][0]["online"] == 1
            assert replies[me]["result"]["authenticated"] is True

    run(test)


class SlowHub(LocalHub):
    """A hub whose sign-ins take a while to record (a shared store, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: dict[str, int] = {}

    async def signed_in(self, session: Session) -> None:
        await asyncio.sleep(0.2)
        assert session.login is not None
        self.recorded[session.login] = self.recorded.get(session.login, 0) + 1

    async def online(self) -> dict[str, int]:
        return dict(self.recorded)


def test_auth_token_is_a_barrier_too() -> None:
    """getUsers sent right after authToken runs once the sign-in is recorded."""

    async def test() -> None:
        demo = DemoServer(DemoConfig(users=USERS, secret=SECRET), hub=SlowHub())
        token, _ = demo.issue_token("admin")
        async with (
            demo.serve("127.0.0.1", 0) as server,
            client(f"ws://127.0.0.1:{server.port}") as c,
        ):
            await c.ws.send(json.dumps({"method": "authToken", "args": [token]}))
            await c.ws.send('{"method": "getUsers"}')
            assert (await c.reply())["result"]["login"] == "admin"
            assert (await c.reply())["result"][0]["online"] == 1

    run(test)


def test_auth_waits_for_earlier_calls_to_start_not_to_finish() -> None:
    """A slow earlier call does not delay auth; a call sent before auth does not see it."""

    async def test() -> None:
        async with demo_server(auth_delay=0.05) as (_, url), client(url) as c:
            slow = await c.send("sleep", 800)
            before = await c.send("getUsers")
            started = time.monotonic()
            auth = await c.send("auth", "admin", "secret")
            first, second = await c.reply(), await c.reply()
            assert first["id"] == before and first["error"]["code"] == ErrorCode.UNAUTHORIZED
            assert second["id"] == auth and "result" in second
            assert time.monotonic() - started < 0.6
            assert (await c.reply())["id"] == slow

    run(test)


def test_id_less_replies_come_in_order_and_calls_still_run_concurrently() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            started = time.monotonic()
            await c.ws.send('{"method": "sleep", "args": [600]}')
            await c.ws.send('{"method": "sleep", "args": [500]}')
            await c.ws.send('{"method": "sleep", "args": [10]}')
            await c.ws.send("{not json")
            await c.ws.send(STEP5)
            replies = [await c.reply() for _ in range(5)]
            elapsed = time.monotonic() - started
            assert [r.get("result") for r in replies[:3]] == [
                {"slept": 600},
                {"slept": 500},
                {"slept": 10},
            ]
            assert replies[3]["error"]["code"] == ErrorCode.PARSE_ERROR
            assert replies[4] == {"pong": "Hello World"}
            assert all(r.get("id") is None for r in replies)
            # Concurrently: the three sleeps took 0.6 s together, not 1.11 s.
            assert elapsed < 1.0

    run(test)


def test_a_slow_id_less_call_does_not_hold_up_a_call_with_an_id() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            await c.ws.send('{"method": "sleep", "args": [500]}')
            started = time.monotonic()
            fast = await c.send("sleep", 10)
            assert (await c.reply())["id"] == fast
            assert time.monotonic() - started < 0.4
            assert await c.reply() == {"id": None, "result": {"slept": 500}}

    run(test)


def test_id_less_replies_are_bounded() -> None:
    """At most max_unsent_replies wait for their turn; then the server stops
    reading until one is sent, and nothing is lost."""

    async def test() -> None:
        async with demo_server(max_unsent_replies=2) as (demo, url), client(url) as c:
            await c.ws.send('{"method": "sleep", "args": [300]}')
            for _ in range(6):
                await c.ws.send("[]")
            await asyncio.sleep(0.1)
            (session,) = demo.clients
            assert len(session.replies) == 2  # the sleep and one error; the rest unread
            replies = [await c.reply() for _ in range(7)]
            assert replies[0] == {"id": None, "result": {"slept": 300}}
            assert all(r["error"]["code"] == ErrorCode.INVALID_REQUEST for r in replies[1:])
            assert len(session.replies) == 0
            await c.still_open()

    run(test)


def test_replies_come_back_out_of_order() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            slow = await c.send("sleep", 200)
            fast = await c.send("sleep", 10)
            first, second = await c.reply(), await c.reply()
            assert first == {"id": fast, "result": {"slept": 10}}
            assert second == {"id": slow, "result": {"slept": 200}}

    run(test)


def test_a_slow_call_does_not_block_other_clients() -> None:
    async def test() -> None:
        async with demo_server(auth_delay=0.5) as (_, url), client(url) as a, client(url) as b:
            await a.send("sleep", 500)
            await a.send("auth", "admin", "secret")
            started = time.monotonic()
            await b.still_open()  # other clients go on during a's auth
            assert time.monotonic() - started < 0.4
            assert {(await a.reply())["id"] for _ in range(2)} == {1, 2}

    run(test)


def test_many_clients() -> None:
    async def test() -> None:
        async with demo_server() as (demo, url):
            clients = [await connect(url) for _ in range(20)]
            try:
                assert len(demo.clients) == 20
                callers = [Client(ws) for ws in clients]
                replies = await asyncio.gather(*(c.call("sleep", 50) for c in callers))
                assert all(r["result"] == {"slept": 50} for r in replies)
            finally:
                await asyncio.gather(*(ws.close() for ws in clients))
            for _ in range(100):
                if not demo.clients:
                    break
                await asyncio.sleep(0.01)
            assert not demo.clients

    run(test)


def test_turns_unit() -> None:
    """Turns on their own: who waits for whom."""

    async def test() -> None:
        turns = Turns()
        events: list[str] = []

        async def call(name: str, turn: Turn, duration: float) -> None:
            async with turn:
                events.append(f"start {name}")
                await asyncio.sleep(duration)
            events.append(f"end {name}")

        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(call("slow", turns.take(barrier=False), 0.2)),
            loop.create_task(call("auth", turns.take(barrier=True), 0.05)),
            loop.create_task(call("a", turns.take(barrier=False), 0.05)),
            loop.create_task(call("b", turns.take(barrier=False), 0.05)),
        ]
        await asyncio.gather(*tasks)
        assert events == [
            "start slow",
            "start auth",  # after slow started, not after it ended
            "end auth",
            "start a",
            "start b",  # a and b do not wait for each other
            "end a",
            "end b",
            "end slow",
        ]

    run(test)


def test_turns_survive_a_cancelled_call() -> None:
    async def test() -> None:
        turns = Turns()
        first = turns.take(barrier=True)
        waiting = turns.take(barrier=True)
        last = turns.take(barrier=False)

        async def hold(turn: Turn, gate: asyncio.Event) -> None:
            async with turn:
                await gate.wait()

        gate = asyncio.Event()
        loop = asyncio.get_running_loop()
        holder = loop.create_task(hold(first, gate))
        cancelled = loop.create_task(hold(waiting, asyncio.Event()))
        await asyncio.sleep(0.01)
        cancelled.cancel()  # cancelled while waiting for its turn
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not holder.done()  # the first call was not cancelled with it
        gate.set()
        await holder
        async with last:  # and the chain goes on
            pass

    run(test)


def test_ordered_replies_unit() -> None:
    async def test() -> None:
        sent: list[str] = []

        async def send(text: str) -> bool:
            await asyncio.sleep(0)
            sent.append(text)
            return text != "last straw"

        replies = OrderedReplies(send, limit=3)
        a, b, c = replies.reserve(), replies.reserve(), replies.reserve()
        room = asyncio.get_running_loop().create_task(replies.wait_for_room())
        await asyncio.sleep(0.01)
        assert not room.done()  # 3 waiting: full
        await replies.deliver(c, "c")
        await replies.deliver(b, None)  # no reply after all
        assert sent == [] and len(replies) == 3
        await replies.deliver(a, "a")
        assert sent == ["a", "c"] and len(replies) == 0
        await room
        d, e = replies.reserve(), replies.reserve()
        replies.cancel(d)
        await replies.deliver(e, "last straw")
        assert sent == ["a", "c", "last straw"]
        f = replies.reserve()
        await replies.deliver(f, "dropped")  # the connection is gone
        assert sent[-1] == "last straw"
        with pytest.raises(ValueError):
            OrderedReplies(send, limit=0)

    run(test)


class RecordingHub(LocalHub):
    """A hub of one's own: the demo goes through it for everything shared."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def join(self, session: Session) -> int:
        self.calls.append("join")
        return await super().join(session)

    async def leave(self, session: Session) -> int:
        self.calls.append("leave")
        return await super().leave(session)

    async def signed_in(self, session: Session) -> None:
        self.calls.append(f"signed_in {session.login}")

    async def online(self) -> dict[str, int]:
        self.calls.append("online")
        return {"admin": 42}

    async def broadcast(self, message: str) -> int:
        self.calls.append(f"broadcast {message}")
        return await super().broadcast(message)


def test_the_shared_state_goes_through_the_hub() -> None:
    hub = RecordingHub()

    async def test() -> None:
        config = DemoConfig(users=USERS, secret=SECRET, auth_delay=0)
        demo = DemoServer(config, hub=hub)
        async with (
            demo.serve("127.0.0.1", 0) as server,
            client(f"ws://127.0.0.1:{server.port}") as c,
        ):
            assert demo.clients == hub.clients and len(hub.clients) == 1
            await c.result("auth", "admin", "secret")
            assert (await c.result("getUsers"))[0]["online"] == 42
            assert await c.result("broadcast", "hi") == {"delivered": 1}
        for _ in range(100):
            if "leave" in hub.calls:
                break
            await asyncio.sleep(0.01)

    run(test)
    assert hub.calls == [
        "join",
        "signed_in admin",
        "online",
        'broadcast {"event":"broadcast","from":"admin","text":"hi"}',
        "leave",
    ]


# -- broadcast ----------------------------------------------------------------------------


def test_broadcast_reaches_authenticated_clients_only() -> None:
    async def test() -> None:
        async with (
            demo_server() as (_, url),
            client(url) as a,
            client(url) as b,
            client(url) as c,
            client(url) as anonymous,
        ):
            await a.result("auth", "admin", "secret")
            token = (await b.result("auth", "admin", "secret"))["token"]
            assert (await c.result("authToken", token))["login"] == "admin"  # by token
            assert await a.result("broadcast", "hello") == {"delivered": 3}
            push = {"event": "broadcast", "from": "admin", "text": "hello"}
            assert a.pushes == [push]  # the push came before the reply
            await b.still_open()
            await c.still_open()
            assert b.pushes == [push] and c.pushes == [push]
            # Replies and pushes are ordered: a push would precede this reply.
            await anonymous.still_open()
            assert anonymous.pushes == []

    run(test)


def test_get_users_counts_connections() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as a, client(url) as b:
            await a.result("auth", "admin", "secret")
            await b.result("auth", "admin", "secret")
            assert (await a.result("getUsers"))[0]["online"] == 2

    run(test)


# -- tokens on the wire -----------------------------------------------------------------


def test_auth_token() -> None:
    async def test() -> None:
        async with demo_server() as (demo, url), client(url) as c:
            good, _ = demo.issue_token("admin")
            expired, _ = demo.issue_token("admin", now=time.time() - 7200)
            tampered = good[:-2] + ("AA" if good[-2:] != "AA" else "BA")
            for token, text in (
                (expired, "expired"),
                (tampered, "bad signature"),
                ("nonsense", "three"),
                (jwt.encode({"sub": "admin", "exp": time.time() + 60}, b"x" * 32), "signature"),
                (demo.issue_token("ghost")[0], "no longer exists"),
            ):
                code, message = await c.error("authToken", token)
                assert code == ErrorCode.INVALID_TOKEN and text in message, message
            assert (await c.error("getUsers"))[0] == ErrorCode.UNAUTHORIZED
            assert (await c.result("authToken", good))["login"] == "admin"
            assert (await c.result("getUsers"))[0]["login"] == "admin"

    run(test)


def test_authentication_lapses_when_the_token_expires() -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            claims = {"sub": "admin", "iss": "wsproto_lite demo", "exp": time.time() + 0.3}
            await c.result("authToken", jwt.encode(claims, SECRET))
            await c.result("getUsers")
            await asyncio.sleep(0.35)
            code, message = await c.error("getUsers")
            assert code == ErrorCode.UNAUTHORIZED and "expired" in message
            assert (await c.result("whoami"))["authenticated"] is False

    run(test)


# -- HTTP and the handshake ----------------------------------------------------------------


def test_get_root_serves_the_page() -> None:
    async def test() -> None:
        async with demo_server() as (_, url):
            response = await http_exchange(
                port_of(url), b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
            )
        head, _, body = response.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0] == "HTTP/1.1 200 OK"
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert int(headers["content-length"]) == len(body)
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        text = body.decode("utf-8")
        for element in ("status", "log", "login", "password", "auth", "getUsers", "result"):
            assert f'id="{element}"' in text
        assert "http://" not in text and "https://" not in text  # nothing external

    run(test)


def test_head_root_answers_like_get_without_a_body() -> None:
    async def test() -> None:
        async with demo_server() as (_, url):
            port = port_of(url)
            get = await http_exchange(port, b"GET / HTTP/1.1\r\nHost: localhost:4000\r\n\r\n")
            head = await http_exchange(port, b"HEAD / HTTP/1.1\r\nHost: localhost:4000\r\n\r\n")
        get_head, _, get_body = get.partition(b"\r\n\r\n")
        head_head, _, head_body = head.partition(b"\r\n\r\n")
        assert head_head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert head_head == get_head  # the same headers, Content-Length included
        assert head_body == b""
        assert int(dict(_header_lines(head_head))["content-length"]) == len(get_body) > 0

    run(test)


def _header_lines(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [(k.lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]


def test_other_methods_on_the_page_are_405() -> None:
    async def test() -> None:
        async with demo_server() as (_, url):
            response = await http_exchange(
                port_of(url), b"DELETE / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            )
        head = response.partition(b"\r\n\r\n")[0]
        assert head.startswith(b"HTTP/1.1 405 ")
        assert dict(_header_lines(head))["allow"] == "GET, HEAD"

    run(test)


def test_the_page_is_prefilled_with_the_public_demo_user() -> None:
    async def fetch(**options: Any) -> str:
        async with demo_server(**options) as (_, url):
            response = await http_exchange(port_of(url), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return response.partition(b"\r\n\r\n")[2].decode("utf-8")

    page = asyncio.run(fetch())
    assert re.search(r'<input id="login"[^>]* value="admin"', page)
    assert re.search(r'<input id="password"[^>]* value="secret"', page, re.S)
    assert "The demo's user is <code>admin</code> with the password <code>secret</code>." in page
    # With users of one's own, nothing is given away.
    own = UserStore.from_entries([{"login": "ann", "password": "pw"}])
    page = asyncio.run(fetch(users=own))
    assert re.search(r'<input id="login"[^>]* value=""', page)
    assert re.search(r'<input id="password"[^>]* value=""', page, re.S)
    assert "secret" not in page and "Sign in with a login from the server's users file." in page
    assert "@" + "LOGIN@" not in page


def test_the_page_may_connect_to_the_loopback_names_of_its_port() -> None:
    """The tutorial's ``new WebSocket('ws://localhost:4000')``, pasted in the console
    of the page opened as http://127.0.0.1:4000/, is not blocked by its CSP."""

    async def test() -> None:
        async with demo_server() as (_, url):
            response = await http_exchange(
                port_of(url), b"GET / HTTP/1.1\r\nHost: 127.0.0.1:4000\r\n\r\n"
            )
            no_port = await http_exchange(port_of(url), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            bad = await http_exchange(port_of(url), b"GET / HTTP/1.1\r\nHost: x:99999\r\n\r\n")
        csp = dict(_header_lines(response.partition(b"\r\n\r\n")[0]))["content-security-policy"]
        assert "connect-src 'self' ws://localhost:4000 ws://127.0.0.1:4000;" in csp
        csp = dict(_header_lines(no_port.partition(b"\r\n\r\n")[0]))["content-security-policy"]
        assert "connect-src 'self' ws://localhost:80 " in csp
        csp = dict(_header_lines(bad.partition(b"\r\n\r\n")[0]))["content-security-policy"]
        assert "connect-src 'self';" in csp

    run(test)


def test_page_csp_allows_exactly_its_inline_script_and_style() -> None:
    page, headers = load_page()
    csp = dict(headers)["Content-Security-Policy"]
    text = page.decode("utf-8")
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        (source,) = re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.S)
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp
    assert "style=" not in text  # inline style attributes would be blocked
    markup = re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    assert not re.search(r"\son[a-z]+\s*=", markup)  # nor inline event handlers


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /other HTTP/1.1", 426),
        (b"GET /ws HTTP/1.1", 426),
        (b"POST / HTTP/1.1", 405),
        (b"GET /index.html HTTP/1.1", 200),
    ],
)
def test_plain_http(request_line: bytes, status: int) -> None:
    async def test() -> None:
        async with demo_server() as (_, url):
            response = await http_exchange(
                port_of(url),
                request_line + b"\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
            )
        assert response.startswith(b"HTTP/1.1 %d " % status)
        if status == 426:
            assert b"\r\nupgrade: websocket\r\n" in response.lower()

    run(test)


def test_upgrade_to_something_else_is_400() -> None:
    request = (
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )

    async def test() -> None:
        async with demo_server() as (_, url):
            response = await http_exchange(port_of(url), request)
        assert response.startswith(b"HTTP/1.1 400 ")

    run(test)


def test_upgrade_with_a_raw_socket() -> None:
    """The tutorial's handshake, byte for byte (RFC 6455 §1.3's example key)."""
    request = (
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )

    async def test() -> None:
        async with demo_server() as (_, url):
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.close()
            await writer.wait_closed()
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b": s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head

    run(test)


def test_websocket_on_another_path_is_404() -> None:
    async def test() -> None:
        async with demo_server() as (_, url):
            async with connect(url + "/"):
                pass  # "/" works as well as "/ws"
            with pytest.raises(InvalidHandshake) as info:
                await connect(url + "/elsewhere")
            assert info.value.status == 404

    run(test)


def test_allowed_origins() -> None:
    async def test() -> None:
        allowed = ("http://good.example",)
        async with demo_server(allowed_origins=allowed) as (_, url):
            with pytest.raises(InvalidHandshake) as info:
                await connect(url, origin="http://evil.example")
            assert info.value.status == 403
            async with connect(url, origin="http://good.example"):
                pass
            async with connect(url):  # no Origin: not a browser
                pass

    run(test)


def test_clients_are_tracked_and_handshakes_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def test() -> None:
        async with demo_server() as (demo, url):
            async with connect(url + "/ws?x=1", extra_headers=[("User-Agent", "pytest-agent")]):
                await asyncio.sleep(0.05)
                assert len(demo.clients) == 1
                (session,) = demo.clients
                assert session.remote.startswith("127.0.0.1:")
            for _ in range(100):
                if not demo.clients:
                    break
                await asyncio.sleep(0.01)
            assert not demo.clients

    with caplog.at_level(logging.DEBUG, logger="wsproto_lite.demo"):
        run(test)
    text = caplog.text
    assert "handshake request GET /ws?x=1, headers:\n" in text
    assert "\n    user-agent: pytest-agent\n" in text
    assert "connected from 127.0.0.1:" in text
    assert re.search(r"client #\d+ disconnected \(1000\); 0 connected", text)


def test_passwords_and_tokens_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def test() -> None:
        async with demo_server() as (_, url), client(url) as c:
            token = (await c.result("auth", "admin", "secret"))["token"]
            await c.error("auth", "admin", "hunter2")
            await c.result("authToken", token)
            assert "hunter2" not in caplog.text and token not in caplog.text

    with caplog.at_level(logging.DEBUG):
        run(test)


# -- JWT ----------------------------------------------------------------------------------


def _segments(token: str) -> list[str]:
    return token.split(".")


def test_jwt_round_trip() -> None:
    token = jwt.encode({"sub": "admin", "exp": 2_000_000_000}, SECRET)
    header = json.loads(jwt.b64url_decode(_segments(token)[0]))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(token, SECRET, now=1_999_999_999) == {"sub": "admin", "exp": 2_000_000_000}


def test_jwt_known_vector() -> None:
    """Independent check: the signature is HMAC-SHA-256 over header.payload."""
    import hmac

    token = jwt.encode({"exp": 1}, SECRET)
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature
    assert signing_input == "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjF9"


def test_jwt_expiry() -> None:
    token = jwt.encode({"exp": 1000}, SECRET)
    assert jwt.decode(token, SECRET, now=999.9)
    with pytest.raises(jwt.ExpiredToken):
        jwt.decode(token, SECRET, now=1000)  # at exp already (RFC 7519 §4.1.4)
    assert jwt.decode(token, SECRET, now=1005, leeway=10)
    with pytest.raises(jwt.ExpiredToken):
        jwt.decode(token, SECRET)  # now: long after 1970


def test_jwt_not_before() -> None:
    token = jwt.encode({"exp": 2000, "nbf": 1500}, SECRET)
    with pytest.raises(jwt.InvalidToken, match="not valid yet"):
        jwt.decode(token, SECRET, now=1499)
    assert jwt.decode(token, SECRET, now=1500)


def _forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    def seg(data: dict[str, Any]) -> str:
        return jwt.b64url_encode(json.dumps(data).encode())

    return f"{seg(header)}.{seg(payload)}.{jwt.b64url_encode(signature)}"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        # The payload changed (admin → root): the signature no longer matches.
        (
            lambda t: ".".join(
                [
                    _segments(t)[0],
                    _forge({}, {"sub": "root", "exp": 3e9}).split(".")[1],
                    _segments(t)[2],
                ]
            ),
            "bad signature",
        ),
        (lambda t: t[:-1] + ("A" if t[-1] != "A" else "Q"), "signature|base64"),
        (lambda t: t + "A", "bad signature"),  # 33 bytes
        (lambda t: t + "AA", "base64"),
        (lambda t: t.rsplit(".", 1)[0] + ".", "bad signature"),
        (lambda t: t.replace(".", "..", 1), "three"),
        (lambda t: t + "=", "base64"),
        (lambda t: "é" + t, "base64"),
        (lambda t: "x" * 5000, "too long"),
        (lambda t: _forge({"alg": "none"}, {"sub": "admin", "exp": 3e9}), "algorithm"),
        (lambda t: _forge({"alg": "HS512"}, {"sub": "admin", "exp": 3e9}), "algorithm"),
        (lambda t: "e30.e30.", "algorithm"),
        (lambda t: "bm90IGpzb24.e30.", "not JSON"),
        (lambda t: "W10.e30.", "not a JSON object"),
    ],
)
def test_jwt_tampered(mutate: Callable[[str], str], match: str) -> None:
    token = jwt.encode({"sub": "admin", "exp": 3e9}, SECRET)
    with pytest.raises(jwt.InvalidToken, match=match):
        jwt.decode(mutate(token), SECRET, now=0)


def test_jwt_wrong_key_and_missing_exp() -> None:
    token = jwt.encode({"exp": 3e9}, SECRET)
    with pytest.raises(jwt.InvalidToken, match="bad signature"):
        jwt.decode(token, b"z" * 32, now=0)
    header = jwt.b64url_encode(b'{"alg":"HS256"}')
    payload = jwt.b64url_encode(b'{"sub":"admin","exp":true}')
    import hmac

    signature = hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(jwt.InvalidToken, match="exp"):
        jwt.decode(f"{header}.{payload}.{jwt.b64url_encode(signature)}", SECRET, now=0)
    with pytest.raises(ValueError, match="exp"):
        jwt.encode({"sub": "admin"}, SECRET)
    with pytest.raises(ValueError, match="32 bytes"):
        jwt.encode({"exp": 1}, b"short")


def test_jwt_non_canonical_base64_is_refused() -> None:
    assert jwt.b64url_decode("QQ") == b"A"
    with pytest.raises(jwt.InvalidToken, match="non-canonical"):
        jwt.b64url_decode("QR")  # same bits but nonzero padding bits


# -- users, passwords and configuration ---------------------------------------------------


def test_password_hashes() -> None:
    encoded = hash_password("secret", salt=b"s" * 16)
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("secret", encoded)
    assert not verify_password("Secret", encoded)
    assert hash_password("secret") != hash_password("secret")  # salted
    pbkdf2 = "pbkdf2_sha256$1000$" + base64.b64encode(b"s" * 16).decode() + "$"
    pbkdf2 += base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"pw", b"s" * 16, 1000)).decode()
    assert verify_password("pw", pbkdf2) and not verify_password("px", pbkdf2)
    for bad in (
        "plain",
        "scrypt$3$8$1$AAAA$AAAA",
        "scrypt$1048576$64$1$c2FsdA==$aGFzaA==",
        "pbkdf2_sha256$x$AA==$AA==",
        "scrypt$16384$8$1$!!$AA==",
    ):
        with pytest.raises(ConfigError):
            verify_password("pw", bad)


def test_users_file(tmp_path: Path) -> None:
    hashed = hash_password("s3cret")
    path = tmp_path / "users.json"
    path.write_text(
        json.dumps(
            {
                "users": [
                    {"login": "alice", "password": "wonderland", "name": "Alice"},
                    {"login": "bob", "password_hash": hashed},
                ]
            }
        )
    )
    store = load_users(path)
    assert [u.login for u in store] == ["alice", "bob"]
    alice = store.authenticate("alice", "wonderland")
    assert alice is not None and alice.name == "Alice"
    assert "wonderland" not in alice.password_hash
    assert store.authenticate("bob", "s3cret") is not None
    assert store.authenticate("bob", "wonderland") is None
    assert store.authenticate("carol", "s3cret") is None


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{", "not valid JSON"),
        ("42", "must hold a JSON list of users"),
        ('{"people": []}', "must hold a JSON list of users"),
        ("[]", "no users"),
        ('{"users": []}', "no users"),
        ('{"users": [1]}', "not a JSON object"),
        ('{"users": [{"login": "a"}]}', "exactly one"),
        ('{"users": [{"login": "a", "password": "x", "password_hash": "y"}]}', "exactly one"),
        ('{"users": [{"login": "", "password": "x"}]}', "login"),
        ('{"users": [{"login": "a\\n", "password": "x"}]}', "control"),
        ('{"users": [{"login": "a", "password": ""}]}', "non-empty"),
        ('{"users": [{"login": "a", "password": "x", "role": "root"}]}', "unknown keys"),
        ('{"users": [{"login": "a", "password_hash": "md5$x"}]}', "password hash"),
    ],
)
def test_bad_users_files(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "users.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=match):
        load_users(path)


def test_users_file_may_be_a_bare_list(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps([{"login": "ann", "password": "pw", "name": "Ann"}]))
    store = load_users(path)
    assert [u.login for u in store] == ["ann"]
    assert store.authenticate("ann", "pw") is not None
    assert store.public_credentials is None
    # The object form, with members besides "users", still works.
    path.write_text(json.dumps({"users": [{"login": "bob", "password": "pw"}], "comment": "x"}))
    assert [u.login for u in load_users(path)] == ["bob"]
    assert UserStore.default().public_credentials == ("admin", "secret")


def test_users_file_missing_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_users(tmp_path / "missing.json")
    hashed = USERS.get("admin")
    assert hashed is not None
    with pytest.raises(ConfigError, match="duplicate"):
        UserStore([hashed, hashed])


def test_secret_from_env() -> None:
    key, from_env = secret_from_env({})
    assert len(key) == 32 and not from_env
    assert secret_from_env({}) != (key, False)  # random each time
    assert secret_from_env({SECRET_ENV: "x" * 40}) == (b"x" * 40, True)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        secret_from_env({SECRET_ENV: "short"})


def test_parse_message() -> None:
    assert parse_message('{"message": "Hello World"}') == Note('{"message": "Hello World"}')
    assert parse_message("{}") == Note("{}")
    assert parse_message('{"ping": "x"}') == Ping(None, "x")
    assert parse_message('{"ping": null, "id": "a"}') == Ping("a", None)
    assert parse_message('{"method": "whoami", "ping": 1}') == Request(None, "whoami", ())
    assert parse_message('{"method": "whoami", "id": null}') == Request(None, "whoami", ())
    for text in ('{"args": []}', '{"id": 3}', '{"params": [1]}', '{"jsonrpc": "2.0"}'):
        with pytest.raises(RPCError) as info:
            parse_message(text)
        assert info.value.code == ErrorCode.INVALID_REQUEST
    with pytest.raises(RPCError) as info:
        parse_request('{"ping": 1, "id": 5}')  # parse_request takes calls only
    assert (info.value.code, info.value.id) == (ErrorCode.INVALID_REQUEST, 5)
    assert pong_reply(Ping(None, [1, "é"])) == '{"pong":[1,"é"]}'
    assert pong_reply(Ping(0, "x")) == '{"id":0,"pong":"x"}'


def test_parse_request() -> None:
    request = parse_request('{"jsonrpc": "2.0", "id": 3, "method": "sleep", "args": [1]}')
    assert (request.id, request.method, request.args) == (3, "sleep", (1,))
    assert parse_request('{"method": "whoami"}').args == ()
    with pytest.raises(RPCError) as info:
        parse_request('{"id": 9007199254740993, "method": "whoami"}')  # not exact in JS
    assert info.value.code == ErrorCode.INVALID_REQUEST
    with pytest.raises(RPCError):
        parse_request('{"id": "' + "x" * 129 + '", "method": "whoami"}')
