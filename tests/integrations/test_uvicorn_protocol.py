"""The uvicorn integration with a real uvicorn server on 127.0.0.1.

Each test runs ``uvicorn.Server`` (with
:class:`~wsproto_lite.integrations.uvicorn.WebSocketProtocol` as its ``ws``
protocol) in a fresh event loop under a deadline, and talks to it with the
``websockets`` client, or, where the bytes themselves are the point (HTTP
statuses, close frames, silent or broken peers), with a raw socket that speaks
the handshake by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme
import uvicorn
import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsproto_lite.integrations.uvicorn import WebSocketProtocol

from .._wire import frame

T = TypeVar("T")
HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run *coro* in a fresh event loop; fail (not hang) after *timeout* seconds."""

    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


@dataclass
class Served:
    """A running uvicorn server and what its application saw."""

    server: uvicorn.Server
    port: int
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT``."""
        return f"ws://{HOST}:{self.port}"

    def protocols(self) -> list[WebSocketProtocol]:
        """The live WebSocket connections."""
        return [p for p in self.server.server_state.connections if isinstance(p, WebSocketProtocol)]


@contextlib.asynccontextmanager
async def serve(app: App, **options: Any) -> AsyncIterator[Served]:
    """Run uvicorn with our protocol class on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    options.setdefault("lifespan", "off")
    options.setdefault("log_config", None)
    options.setdefault("timeout_graceful_shutdown", 5)
    options.setdefault("ws", WebSocketProtocol)
    config = uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield Served(server, sock.getsockname()[1])
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


def recording(app: Callable[[Scope, Receive, Send, list[dict[str, Any]]], Awaitable[None]]) -> Any:
    """Wrap *app* so that every event it receives lands in ``app.events``."""
    events: list[dict[str, Any]] = []

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        async def recorded_receive() -> dict[str, Any]:
            message = await receive()
            events.append(message)
            return message

        await app(scope, recorded_receive, send, events)

    asgi.events = events  # type: ignore[attr-defined]
    return asgi


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, echo every message, close when asked to by a text "close CODE"."""
    assert scope["type"] == "websocket"
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            text = message.get("text")
            if text is not None and text.startswith("close "):
                code = int(text.split()[1])
                await send({"type": "websocket.close", "code": code, "reason": "as asked"})
            elif text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        else:
            return


# -- a raw client ----------------------------------------------------------------------------


def request(
    target: str = "/", extra: bytes = b"", *, key: bytes = KEY, version: bytes = b"13"
) -> bytes:
    """An upgrade request, with *extra* header lines (each ending in CRLF)."""
    lines = [
        f"GET {target} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + key,
        b"Sec-WebSocket-Version: " + version,
    ]
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


@dataclass
class Response:
    """An HTTP response as a raw client read it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def get_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


async def read_response(reader: asyncio.StreamReader) -> Response:
    """Read an HTTP/1.1 response: its head, then its body (length, chunked or EOF)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers = [(n.strip(), v.strip()) for n, v in (line.split(":", 1) for line in lines)]
    response = Response(status, headers, b"")
    if status == 101:
        return response
    lengths = response.get_all("content-length")
    if lengths:
        response.body = await reader.readexactly(int(lengths[0]))
    elif response.get_all("transfer-encoding") == ["chunked"]:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if size == 0:
                break
        response.body = body
    else:
        response.body = await reader.read()
    return response


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame: (opcode, payload). Server frames are not masked."""
    b0, b1 = await reader.readexactly(2)
    assert b1 & 0x80 == 0, "the server masked a frame"
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await reader.readexactly(n)


async def open_raw(
    port: int, data: bytes | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Response]:
    """Connect, send *data* (an upgrade request by default), read the response head."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(request() if data is None else data)
    response = await read_response(reader)
    return reader, writer, response


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until *predicate()* is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.01)


@pytest.fixture(params=["h11", "httptools"])
def http(request: pytest.FixtureRequest) -> str:
    """uvicorn's HTTP protocol that hands the upgrade over."""
    return str(request.param)


# -- the handshake and the scope -------------------------------------------------------------


def test_echo_text_and_bytes_both_ways(http: str) -> None:
    async def main() -> None:
        async with serve(echo_app, http=http) as served, connect(served.url) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\xff" * 1000)
            assert await ws.recv() == b"\x00\xff" * 1000
            await ws.send("")
            assert await ws.recv() == ""

    run(main())


def test_the_scope(http: str) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "chat.v2"})
        await send({"type": "websocket.close"})

    async def main() -> None:
        async with serve(app, http=http, root_path="/api") as served:
            async with connect(
                served.url + "/caf%C3%A9/a%2Fb?x=1&y=%20",
                subprotocols=["chat.v1", "chat.v2"],  # type: ignore[list-item]
                additional_headers=[("X-Name", "abra\u00e3o".encode().decode("latin-1"))],
            ) as ws:
                assert ws.subprotocol == "chat.v2"
                local = ws.local_address
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            scope = scopes[0]
            assert scope["type"] == "websocket"
            assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
            assert scope["http_version"] == "1.1"
            assert scope["scheme"] == "ws"
            assert scope["root_path"] == "/api"
            assert scope["path"] == "/api/café/a/b"
            assert scope["raw_path"] == b"/api/caf%C3%A9/a%2Fb"
            assert scope["query_string"] == b"x=1&y=%20"
            assert scope["client"] == (local[0], local[1])
            assert scope["server"] == (HOST, served.port)
            assert scope["subprotocols"] == ["chat.v1", "chat.v2"]
            assert scope["extensions"] == {"websocket.http.response": {}}
            headers = scope["headers"]
            assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers)
            assert all(n == n.lower() for n, _ in headers)
            names = [n for n, _ in headers]
            assert b"host" in names and b"sec-websocket-key" in names
            assert (b"x-name", "abraão".encode()) in headers  # the bytes as sent
            assert scope["state"] == {}

    run(main())


def test_accept_headers_and_uvicorns_default_headers() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.accept",
                "headers": [(b"x-extra", b"1"), (b"set-cookie", b"a=b"), (b"set-cookie", b"c=d")],
            }
        )
        await receive()

    async def main() -> None:
        async with serve(app) as served, connect(served.url) as ws:
            assert ws.response is not None
            headers = ws.response.headers
            assert headers["x-extra"] == "1"
            assert headers.get_all("set-cookie") == ["a=b", "c=d"]
            assert headers.get_all("server") == ["uvicorn"]
            assert len(headers.get_all("date")) == 1
        async with (
            serve(app, server_header=False, date_header=False) as served,
            connect(served.url) as ws,
        ):
            assert ws.response is not None
            assert "server" not in ws.response.headers
            assert "date" not in ws.response.headers
        async with (
            serve(app, headers=[("X-Deploy", "blue")]) as served,
            connect(served.url) as ws,
        ):
            assert ws.response is not None
            assert ws.response.headers["x-deploy"] == "blue"

    run(main())


def test_accept_with_a_subprotocol_the_client_did_not_offer_is_a_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "nope"})

    async def main() -> None:
        async with serve(app) as served:
            with pytest.raises(InvalidStatus) as info:
                await connect(served.url, subprotocols=["chat"])  # type: ignore[list-item]
            assert info.value.response.status_code == 500
            assert info.value.response.body == b"Internal Server Error"

    run(main())


def test_a_refused_request_gets_the_cores_answer_with_uvicorns_headers() -> None:
    async def main() -> None:
        async with serve(echo_app) as served:
            # The wrong version: 426 with the version we speak (RFC 6455 §4.2.2).
            reader, writer, response = await open_raw(served.port, request(version=b"8"))
            assert response.status == 426
            assert response.get_all("sec-websocket-version") == ["13"]
            assert response.get_all("server") == ["uvicorn"]
            assert len(response.get_all("date")) == 1
            assert await reader.read() == b""  # and the connection is closed
            writer.close()
            # A key that is not 16 bytes, base64-encoded: 400.
            reader, writer, response = await open_raw(served.port, request(key=b"short"))
            assert response.status == 400
            assert b"Sec-WebSocket-Key" in response.body
            writer.close()

    run(main())


# -- closing ---------------------------------------------------------------------------------


def test_the_application_closes_with_a_code_and_a_reason() -> None:
    app = recording(lambda scope, receive, send, events: echo_app(scope, receive, send))

    async def main() -> None:
        async with serve(app) as served:
            async with connect(served.url) as ws:
                await ws.send("close 4001")
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "as asked")
            await until(
                lambda: bool(app.events) and app.events[-1]["type"] == "websocket.disconnect"
            )
            assert app.events[-1] == {
                "type": "websocket.disconnect",
                "code": 4001,
                "reason": "as asked",
            }

    run(main())


def test_the_application_closes_without_a_code() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close"})
        assert await receive() == {"type": "websocket.disconnect", "code": 1000, "reason": ""}

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, response = await open_raw(served.port)
            assert response.status == 101
            assert await read_frame(reader) == (0x8, close_payload(1000))
            # The server waits for our reply before it closes TCP (RFC 6455 §7.1.1).
            await asyncio.sleep(0.1)
            assert not reader.at_eof()
            writer.write(frame(0x8, close_payload(1000)))
            assert await reader.read() == b""
            writer.close()

    run(main())


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (close_payload(1001, "going"), {"code": 1001, "reason": "going"}),
        (close_payload(4999, "é"), {"code": 4999, "reason": "é"}),
        (b"", {"code": 1005, "reason": ""}),  # no code given
    ],
)
def test_the_client_closes(payload: bytes, expected: dict[str, Any]) -> None:
    app = recording(lambda scope, receive, send, events: echo_app(scope, receive, send))

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, _ = await open_raw(served.port)
            writer.write(frame(0x8, payload))
            # The reply echoes the code (1000 when none was given), then TCP closes.
            code = int.from_bytes(payload[:2], "big") if payload else 1000
            assert await read_frame(reader) == (0x8, close_payload(code))
            assert await reader.read() == b""
            writer.close()
            await until(
                lambda: bool(app.events) and app.events[-1]["type"] == "websocket.disconnect"
            )
            assert app.events[-1] == {"type": "websocket.disconnect", **expected}

    run(main())


def test_the_transport_drops_1006_and_messages_received_are_delivered_first() -> None:
    app = recording(
        lambda scope, receive, send, events: _accept_then_collect(receive, send, pause=0.2)
    )

    async def main() -> None:
        async with serve(app) as served:
            _reader, writer, _ = await open_raw(served.port)
            writer.write(frame(0x1, b"one") + frame(0x2, b"two"))
            await writer.drain()
            writer.close()  # no close frame
            await until(
                lambda: bool(app.events) and app.events[-1]["type"] == "websocket.disconnect"
            )
            assert app.events == [
                {"type": "websocket.connect"},
                {"type": "websocket.receive", "text": "one"},
                {"type": "websocket.receive", "bytes": b"two"},
                {"type": "websocket.disconnect", "code": 1006},
            ]

    run(main())


async def _accept_then_collect(receive: Receive, send: Send, pause: float = 0.0) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.sleep(pause)
    while (await receive())["type"] != "websocket.disconnect":
        pass


def test_a_reset_while_messages_wait_unparsed() -> None:
    # The client resets the connection while ws_max_queue messages wait for the
    # application and more wait unparsed: the server learns of it when it
    # writes, and the application still gets every message, then 1006.
    app = recording(lambda scope, receive, send, events: _reset_app(receive, send))

    async def main() -> None:
        async with serve(app, ws_max_queue=1) as served:
            _, writer, _ = await open_raw(served.port)
            writer.write(b"".join(frame(0x1, f"m{i}".encode()) for i in range(5)))
            await writer.drain()
            await asyncio.sleep(0.1)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # a reset, not a FIN
            await until(
                lambda: bool(app.events) and app.events[-1]["type"] == "websocket.disconnect"
            )
        assert app.events[1:] == [
            *({"type": "websocket.receive", "text": f"m{i}"} for i in range(5)),
            {"type": "websocket.disconnect", "code": 1006},
        ]

    run(main())


async def _reset_app(receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.sleep(0.3)  # meanwhile the client resets the connection
    await send({"type": "websocket.send", "text": "into a reset"})
    await asyncio.sleep(0.1)
    while (await receive())["type"] != "websocket.disconnect":
        pass


def test_the_close_reply_never_comes() -> None:
    go = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await go.wait()
        await send({"type": "websocket.close", "code": 1001})

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, _ = await open_raw(served.port)
            (protocol,) = served.protocols()
            protocol.close_timeout = 0.2
            go.set()
            assert await read_frame(reader) == (0x8, close_payload(1001))
            assert protocol.close_timer is not None
            started = time.monotonic()
            assert await reader.read() == b""  # we never reply: closed after close_timeout
            assert 0.1 < time.monotonic() - started < 2
            assert protocol.close_timer is None
            writer.close()

    run(main())


def test_an_application_cancelled_at_shutdown() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await asyncio.sleep(3600)  # ignores everything

    async def main() -> None:
        started = time.monotonic()
        async with serve(app, timeout_graceful_shutdown=0.5) as served:
            reader, writer, _ = await open_raw(served.port)
        # uvicorn cancelled the task after its grace period; the server stopped.
        assert time.monotonic() - started < 5
        assert await read_frame(reader) == (0x8, close_payload(1012))
        writer.close()

    run(main())


def test_an_application_that_lets_client_disconnected_escape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the disconnect
        try:
            await send({"type": "websocket.send", "text": "too late"})
        finally:
            done.append("sent")

    async def main() -> None:
        async with serve(app) as served:
            async with connect(served.url):
                pass
            await until(lambda: bool(done))

    with caplog.at_level(logging.ERROR, "uvicorn.error"):
        run(main())
    assert "Exception in ASGI application" not in caplog.text  # (ASGI 2.4: not an error)


def test_a_hang_up_before_the_answer_is_a_1006_disconnect() -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        await asyncio.sleep(0.3)  # deciding…
        seen.append(await receive())
        with pytest.raises(OSError):
            await send({"type": "websocket.accept"})
        seen.append("raised")

    async def main() -> None:
        async with serve(app) as served:
            _reader, writer = await asyncio.open_connection(HOST, served.port)
            writer.write(request())
            await asyncio.sleep(0.1)
            writer.close()
            await until(lambda: len(seen) == 3)
        assert seen == [
            {"type": "websocket.connect"},
            {"type": "websocket.disconnect", "code": 1006},
            "raised",
        ]

    run(main())


def test_sends_after_the_end() -> None:
    outcomes: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        if message["type"] == "websocket.receive":
            await send({"type": "websocket.close"})
            with pytest.raises(RuntimeError, match=r"after sending 'websocket\.close'"):
                await send({"type": "websocket.send", "text": "late"})
            outcomes.append("own close: RuntimeError")
        else:
            with pytest.raises(OSError):  # ClientDisconnected (ASGI 2.4)
                await send({"type": "websocket.send", "text": "late"})
            outcomes.append("peer close: OSError")
        # After the disconnect, receive() keeps returning it.
        assert (await receive())["type"] == "websocket.disconnect"
        assert (await receive())["type"] == "websocket.disconnect"

    async def main() -> None:
        async with serve(app) as served:
            async with connect(served.url) as ws:
                await ws.send("hi")
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            async with connect(served.url):
                pass  # closes at once
            await until(lambda: len(outcomes) == 2)
        assert sorted(outcomes) == ["own close: RuntimeError", "peer close: OSError"]

    run(main())


def test_receive_cancelled_or_concurrent_loses_nothing() -> None:
    got: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        # A receive() cancelled by a timeout, again and again, while nothing comes.
        for _ in range(50):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(receive(), 0.001)
        await send({"type": "websocket.send", "text": "ready"})
        # A receive() whose message arrives as it is being cancelled.
        task = asyncio.ensure_future(receive())
        while not task.done():
            await asyncio.sleep(0)
            if task.done():
                break
        got.append(task.result())
        # Two receivers at once: each gets one message, in order; both see the end.
        first, second = asyncio.ensure_future(receive()), asyncio.ensure_future(receive())
        got.extend(await asyncio.gather(first, second))
        await send({"type": "websocket.send", "text": "go on"})
        ends = await asyncio.gather(receive(), receive())
        got.extend(ends)

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, _ = await open_raw(served.port)
            (protocol,) = served.protocols()
            assert await read_frame(reader) == (0x1, b"ready")
            assert not protocol._waiters or len(protocol._waiters) == 1
            writer.write(frame(0x1, b"a"))
            await until(lambda: len(got) == 1)
            writer.write(frame(0x1, b"b") + frame(0x1, b"c"))
            assert await read_frame(reader) == (0x1, b"go on")
            writer.write(frame(0x8, close_payload(1000)))
            await reader.read()
            writer.close()
            await until(lambda: len(got) == 5)
        assert got[:3] == [
            {"type": "websocket.receive", "text": "a"},
            {"type": "websocket.receive", "text": "b"},
            {"type": "websocket.receive", "text": "c"},
        ]
        assert got[3:] == [{"type": "websocket.disconnect", "code": 1000, "reason": ""}] * 2

    run(main())


def test_a_message_handed_to_a_cancelled_receive_is_kept() -> None:
    got: list[Any] = []
    receivers: list[asyncio.Future[Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        receivers.append(asyncio.ensure_future(receive()))
        with contextlib.suppress(asyncio.CancelledError):
            await receivers[0]
        got.append(await receive())

    async def main() -> None:
        async with serve(app) as served:
            _, writer, _ = await open_raw(served.port)
            (protocol,) = served.protocols()
            await until(lambda: bool(protocol._waiters))
            # In one step of the loop: the message is handed to the waiting
            # receive(), which is cancelled before it resumes to take it.
            protocol.data_received(frame(0x1, b"kept"))
            receivers[0].cancel()
            await until(lambda: bool(got))
            writer.close()
        assert got == [{"type": "websocket.receive", "text": "kept"}]

    run(main())


# -- denial responses ------------------------------------------------------------------------


def test_close_before_accept_is_a_403() -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        seen.append(await receive())

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, response = await open_raw(served.port)
            assert response.status == 403
            assert response.body == b""
            assert response.get_all("content-length") == ["0"]
            assert response.get_all("server") == ["uvicorn"]
            assert await reader.read() == b""
            writer.close()
            await until(lambda: bool(seen))
        assert seen == [{"type": "websocket.disconnect", "code": 1006}]

    run(main())


def test_a_denial_response_whole() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert "websocket.http.response" in scope["extensions"]
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b'{"detail":"no"}'})

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, response = await open_raw(served.port)
            assert response.status == 401
            assert response.body == b'{"detail":"no"}'
            assert response.get_all("content-length") == ["15"]
            assert response.get_all("content-type") == ["application/json"]
            assert response.get_all("www-authenticate") == ["Bearer"]
            assert response.get_all("connection") == ["close"]
            assert response.get_all("server") == ["uvicorn"]
            assert await reader.read() == b""
            writer.close()

    run(main())


def test_a_denial_response_streamed() -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 429,
                # Ignored: the server frames the body itself (ASGI).
                "headers": [(b"transfer-encoding", b"gzip")],
            }
        )
        for part in (b"slow ", b"down", b""):
            await send({"type": "websocket.http.response.body", "body": part, "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"!"})
        seen.append(await receive())
        with pytest.raises(RuntimeError, match="after sending the HTTP response"):
            await send({"type": "websocket.http.response.body", "body": b"?"})

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, response = await open_raw(served.port)
            assert response.status == 429
            assert response.get_all("transfer-encoding") == ["chunked"]
            assert response.body == b"slow down!"
            assert await reader.read() == b""
            writer.close()
            await until(lambda: bool(seen))
        assert seen == [{"type": "websocket.disconnect", "code": 1006}]

    run(main())


def test_a_denial_response_streamed_with_a_content_length() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        start = {"type": "websocket.http.response.start", "status": 503}
        await send({**start, "headers": [(b"content-length", b"6")]})
        await send({"type": "websocket.http.response.body", "body": b"bye", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"bye"})

    async def main() -> None:
        async with serve(app) as served:
            _reader, writer, response = await open_raw(served.port)
            assert response.status == 503
            assert response.get_all("content-length") == ["6"]
            assert "transfer-encoding" not in [n.lower() for n, _ in response.headers]
            assert response.body == b"byebye"
            writer.close()

    run(main())


@pytest.mark.parametrize(
    ("messages", "status", "body"),
    [
        # An invalid status: the application fails before anything was sent.
        ([{"type": "websocket.http.response.start", "status": 700}], 500, b"Internal Server Error"),
        # A message out of order while the head waits for the first body
        # part: nothing was sent yet, so a 500 replaces it.
        (
            [
                {"type": "websocket.http.response.start", "status": 400},
                {"type": "websocket.send", "text": "not now"},
            ],
            500,
            b"Internal Server Error",
        ),
        # Not a message before an answer.
        ([{"type": "websocket.send", "text": "too soon"}], 500, b"Internal Server Error"),
    ],
)
def test_a_failing_denial_becomes_a_500(messages: list[Any], status: int, body: bytes) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        for message in messages:
            await send(message)

    async def main() -> None:
        async with serve(app) as served:
            _reader, writer, response = await open_raw(served.port)
            assert response.status == status
            assert response.body == body
            writer.close()

    run(main())


def test_a_denial_that_returns_without_a_body_sends_an_empty_one() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 404, "headers": []})

    async def main() -> None:
        async with serve(app) as served:
            _reader, writer, response = await open_raw(served.port)
            assert response.status == 404
            assert response.get_all("content-length") == ["0"]
            writer.close()

    run(main())


@pytest.mark.parametrize("ending", ["raise", "return"])
def test_a_denial_cut_short_after_its_head_went_out(ending: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-length", b"10")]
        await send({"type": "websocket.http.response.start", "status": 400, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"abc", "more_body": True})
        if ending == "raise":
            raise ValueError("boom")

    async def main() -> None:
        async with serve(app) as served:
            reader, writer = await asyncio.open_connection(HOST, served.port)
            writer.write(request())
            # The head and 3 of the 10 bytes promised, then the end: the client
            # can tell that the response is incomplete.
            data = await reader.read()
            assert data.startswith(b"HTTP/1.1 400 ")
            assert data.endswith(b"\r\n\r\nabc")
            writer.close()

    run(main())


# -- application errors ----------------------------------------------------------------------


def test_an_error_before_accept_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise ValueError("boom")

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, response = await open_raw(served.port)
            assert response.status == 500
            assert response.body == b"Internal Server Error"
            assert response.get_all("content-type") == ["text/plain; charset=utf-8"]
            assert await reader.read() == b""
            writer.close()

    with caplog.at_level(logging.ERROR, "uvicorn.error"):
        run(main())
    assert "Exception in ASGI application" in caplog.text
    assert "boom" in caplog.text


def test_returning_before_accept_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    async def main() -> None:
        async with serve(app) as served:
            _, writer, response = await open_raw(served.port)
            assert response.status == 500
            writer.close()

    with caplog.at_level(logging.ERROR, "uvicorn.error"):
        run(main())
    assert "ASGI callable returned without completing handshake." in caplog.text


def test_an_error_after_accept_is_a_1011() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise ValueError("boom")

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, _ = await open_raw(served.port)
            writer.write(frame(0x1, b"trigger"))
            assert await read_frame(reader) == (0x8, close_payload(1011, "Internal Server Error"))
            writer.write(frame(0x8, close_payload(1011)))
            assert await reader.read() == b""
            writer.close()

    run(main())


@pytest.mark.parametrize("second", ["websocket.accept", "websocket.http.response.start"])
def test_an_out_of_order_message_after_accept_drops_the_connection(second: str) -> None:
    # The one exception to 1011, as uvicorn's implementations behave (its
    # test_duplicate_handshake): no close frame.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        with pytest.raises(RuntimeError, match=r"Expected ASGI message 'websocket\.send'"):
            await send({"type": second, "status": 400})
        await send({"type": second, "status": 400})  # (not caught this time)

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, _ = await open_raw(served.port)
            assert await reader.read() == b""
            writer.close()

    run(main())


def test_returning_after_accept_drops_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> Any:
        await receive()
        await send({"type": "websocket.accept"})
        return 42

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, _ = await open_raw(served.port)
            assert await reader.read() == b""
            writer.close()

    with caplog.at_level(logging.ERROR, "uvicorn.error"):
        run(main())
    assert "ASGI callable should return None, but returned '42'." in caplog.text


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "websocket.send"}, "must carry 'bytes' or 'text'"),
        ({"type": "websocket.send", "text": "a", "bytes": b"a"}, "not both"),
        ({"type": "websocket.close", "code": 1005}, "may not be sent"),
        ({"type": "websocket.close", "reason": "x" * 124}, "at most 123 bytes"),
    ],
)
def test_invalid_messages_raise_and_change_nothing(message: dict[str, Any], error: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        with pytest.raises(Exception, match=error):
            await send(message)
        await send({"type": "websocket.send", "text": "still open"})
        await receive()

    async def main() -> None:
        async with serve(app) as served, connect(served.url) as ws:
            assert await ws.recv() == "still open"

    run(main())


def test_invalid_accept_headers_raise() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        bad = ([(b"x", b"a\r\nb")], [(b"sec-websocket-accept", b"x")], [("x", "y")], [b"x"])
        for headers in bad:
            with pytest.raises(Exception, match=r"header|byte strings"):
                await send({"type": "websocket.accept", "headers": headers})
        for headers in ([(b"x", b"a\r\nb")], [(b"content-length", b"1"), (b"x", b"\x00")]):
            start = {"type": "websocket.http.response.start", "status": 400, "headers": headers}
            with pytest.raises(Exception, match=r"header"):
                await send(start)
        await send({"type": "websocket.accept"})
        await receive()

    async def main() -> None:
        async with serve(app) as served, connect(served.url) as ws:
            assert ws.protocol.state.name == "OPEN"

    run(main())


# -- limits, failures, compression -----------------------------------------------------------


def test_ws_max_size() -> None:
    app = recording(lambda scope, receive, send, events: echo_app(scope, receive, send))

    async def main() -> None:
        async with serve(app, ws_max_size=1000) as served:
            async with connect(served.url, compression=None) as ws:
                await ws.send(b"x" * 1000)
                assert await ws.recv() == b"x" * 1000
                with pytest.raises(ConnectionClosed) as info:
                    await ws.send(b"x" * 1001)
                    await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009
            await until(lambda: app.events[-1]["type"] == "websocket.disconnect")
            assert app.events[-1]["code"] == 1009

    run(main())


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(0x1, b"unmasked", masked=False), 1002),
        (frame(0x1, b"\xff\xfe"), 1007),  # invalid UTF-8
        (frame(0x3, b""), 1002),  # a reserved opcode
    ],
)
def test_a_peer_breaking_the_protocol(data: bytes, code: int) -> None:
    app = recording(lambda scope, receive, send, events: _accept_then_collect(receive, send))

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, _ = await open_raw(served.port)
            writer.write(data)
            opcode, payload = await read_frame(reader)
            assert opcode == 0x8
            assert int.from_bytes(payload[:2], "big") == code
            # The server shut its sending side (no reset that could destroy the
            # close frame) and reads on until our end of stream.
            assert await reader.read() == b""
            writer.write(frame(0x1, b"dropped") * 100)
            await writer.drain()
            await asyncio.sleep(0.05)
            assert served.protocols()
            writer.close()
            await until(lambda: not served.protocols(), 2)
            await until(lambda: app.events[-1]["type"] == "websocket.disconnect")
            assert app.events[-1]["code"] == code
            assert app.events[-1]["reason"] == payload[2:].decode()

    run(main())


def test_per_message_deflate() -> None:
    async def main() -> None:
        async with serve(echo_app) as served, connect(served.url) as ws:
            assert ws.response is not None
            agreed = ws.response.headers["sec-websocket-extensions"]
            assert agreed.startswith("permessage-deflate")
            assert "server_max_window_bits=12" in agreed
            text = "compressible " * 1000
            await ws.send(text)
            assert await ws.recv() == text
        async with (
            serve(echo_app, ws_per_message_deflate=False) as served,
            connect(served.url) as ws,
        ):
            assert ws.response is not None
            assert "sec-websocket-extensions" not in ws.response.headers
            await ws.send("plain")
            assert await ws.recv() == "plain"

    run(main())


def test_a_decompression_bomb_is_a_1009() -> None:
    async def main() -> None:
        async with serve(echo_app, ws_max_size=100_000) as served:
            async with connect(served.url, max_size=None) as ws:
                with pytest.raises(ConnectionClosed) as info:
                    await ws.send("0" * 10_000_000)  # compresses to ~10 KB
                    await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009

    run(main())


# -- keepalive -------------------------------------------------------------------------------


def test_keepalive_closes_a_silent_client_with_1011() -> None:
    app = recording(lambda scope, receive, send, events: _accept_then_collect(receive, send))

    async def main() -> None:
        async with serve(app, ws_ping_interval=0.1, ws_ping_timeout=0.2) as served:
            reader, writer, _ = await open_raw(served.port)
            started = time.monotonic()
            opcode, payload = await read_frame(reader)
            assert opcode == 0x9 and len(payload) == 4  # the ping; we do not answer
            assert await read_frame(reader) == (0x8, close_payload(1011, "keepalive ping timeout"))
            assert await reader.read() == b""
            assert 0.25 < time.monotonic() - started < 3
            writer.close()
            await until(lambda: app.events[-1]["type"] == "websocket.disconnect")
            assert app.events[-1] == {
                "type": "websocket.disconnect",
                "code": 1011,
                "reason": "keepalive ping timeout",
            }

    run(main())


def test_keepalive_keeps_an_answering_client() -> None:
    async def main() -> None:
        async with (
            serve(echo_app, ws_ping_interval=0.05, ws_ping_timeout=0.5) as served,
            connect(served.url, ping_interval=None) as ws,
        ):
            (protocol,) = served.protocols()
            await until(lambda: protocol.ping_sent_at > 0)
            first = protocol.ping_sent_at
            await until(lambda: protocol.ping_sent_at > first)  # a second one: answered
            assert protocol.ping_timer is not None or protocol.pong_timer is not None
            await ws.send("still here")
            assert await ws.recv() == "still here"
        async with (
            serve(echo_app, ws_ping_interval=None) as served,
            connect(served.url, ping_interval=None),
        ):
            (protocol,) = served.protocols()
            assert protocol.ping_timer is None

    run(main())


def test_a_client_that_neither_reads_nor_answers_is_dropped() -> None:
    outcome: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            while True:  # until the buffers are full and send() waits
                await send({"type": "websocket.send", "bytes": b"x" * 65536})
        except OSError:
            outcome.append("send raised OSError")

    async def main() -> None:
        async with serve(app, ws_ping_interval=0.1, ws_ping_timeout=0.3) as served:
            _, writer, _ = await open_raw(served.port)
            await until(lambda: bool(served.protocols()))
            # We never read: the ping waits behind megabytes we do not take, the
            # keepalive times out, and the connection is aborted, not left to
            # flush forever.
            await until(lambda: not served.protocols(), 5)
            await until(lambda: bool(outcome))
            writer.close()
        assert outcome == ["send raised OSError"]

    run(main())


# -- flow control ----------------------------------------------------------------------------


def test_reading_stops_while_the_application_falls_behind() -> None:
    release = asyncio.Event()
    received: list[bytes] = []
    # 20,000 × 1 KiB: more than loopback's socket buffers hold, and many
    # messages in every read.
    payloads = [i.to_bytes(4, "big") * 256 for i in range(20_000)]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            received.append(message["bytes"])
            if len(received) == len(payloads):
                await send({"type": "websocket.send", "text": "all"})

    async def main() -> None:
        async with serve(app, ws_max_queue=4) as served:
            reader, writer, _ = await open_raw(served.port)
            (protocol,) = served.protocols()
            writer.write(b"".join(frame(0x2, p) for p in payloads))
            await until(lambda: not protocol.transport.is_reading())
            await asyncio.sleep(0.2)
            # Reading is paused, at most ws_max_queue messages are parsed ahead,
            # and the rest waits in the kernel's buffers (or unparsed in ours).
            assert not protocol.transport.is_reading()
            assert len(protocol._queue) == 4
            assert protocol._parse_stopped  # the rest of the read waits unparsed
            assert writer.transport.get_write_buffer_size() > 0  # TCP pushes back
            release.set()
            assert await read_frame(reader) == (0x1, b"all")
            assert received == payloads  # nothing lost, in order
            writer.write(frame(0x8, close_payload(1000)))
            await reader.read()
            writer.close()

    run(main())


def test_a_ping_flood_from_a_peer_that_does_not_read_is_throttled() -> None:
    async def main() -> None:
        async with serve(echo_app) as served:
            _, writer, _ = await open_raw(served.port)
            (protocol,) = served.protocols()
            # 125-byte pings, each owed a 127-byte pong, and we never read.
            ping = frame(0x9, b"p" * 125)
            sent = 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                writer.write(ping * 256)
                sent += 256
                try:
                    await asyncio.wait_for(writer.drain(), 0.5)
                except asyncio.TimeoutError:
                    break  # TCP pushes back: the server stopped reading
            assert not protocol.transport.is_reading()
            # What waits in the server's output stays near the high-water mark,
            # far below the pongs owed for what we sent.
            assert protocol.transport.get_write_buffer_size() < 2 * 65536 + 127 * 256
            assert sent * 127 > 4 * protocol.transport.get_write_buffer_size()
            writer.transport.abort()

    run(main())


def test_send_waits_while_the_transport_is_full() -> None:
    progress: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        chunk = b"x" * 65536
        for i in range(400):  # 25 MiB, more than loopback's buffers hold
            await send({"type": "websocket.send", "bytes": chunk})
            progress.append(i)
        await send({"type": "websocket.close"})

    async def main() -> None:
        async with serve(app) as served:
            reader, writer, _ = await open_raw(served.port)
            (protocol,) = served.protocols()
            await until(lambda: len(progress) > 0)
            await asyncio.sleep(0.3)  # we do not read: the application must stall
            stalled = len(progress)
            assert stalled < 399
            # What waits in the server's buffer stays near the high-water mark.
            assert protocol.transport.get_write_buffer_size() < 4 * 65536 + 65536
            await asyncio.sleep(0.2)
            assert len(progress) == stalled
            total = 0
            while True:
                opcode, payload = await read_frame(reader)
                if opcode == 0x8:
                    break
                total += len(payload)
            assert total == 400 * 65536
            assert len(progress) == 400
            writer.write(frame(0x8, close_payload(1000)))
            await reader.read()
            writer.close()

    run(main(), timeout=60)


# -- server shutdown -------------------------------------------------------------------------


def test_shutdown_closes_open_connections_with_1012() -> None:
    app = recording(lambda scope, receive, send, events: _accept_then_collect(receive, send))

    async def main() -> None:
        served_ref: list[Served] = []
        async with serve(app) as served, connect(served.url) as ws:
            served_ref.append(served)
            await served.server.shutdown()
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1012
        assert app.events[-1] == {"type": "websocket.disconnect", "code": 1012}

    run(main())


def test_shutdown_while_the_application_decides_is_a_503() -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        seen.append(await receive())  # the disconnect, at shutdown

    async def main() -> None:
        async with serve(app) as served:
            reader, writer = await asyncio.open_connection(HOST, served.port)
            writer.write(request())
            await until(lambda: bool(seen))
            await served.server.shutdown()
            response = await read_response(reader)
            assert response.status == 503
            writer.close()
        assert seen == [
            {"type": "websocket.connect"},
            {"type": "websocket.disconnect", "code": 1006},
        ]

    run(main())


# -- TLS, proxies, root_path, logging, --ws --------------------------------------------------


def test_tls_is_wss(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    schemes: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        schemes.append(scope["scheme"])
        await echo_app(scope, receive, send)

    async def main() -> None:
        async with (
            serve(app, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as served,
            connect(f"wss://{HOST}:{served.port}/", ssl=client_context) as ws,
        ):
            await ws.send("secret")
            assert await ws.recv() == "secret"

    run(main())
    assert schemes == ["wss"]


def test_proxy_headers() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await echo_app(scope, receive, send)

    async def main() -> None:
        async with (
            serve(app, proxy_headers=True, forwarded_allow_ips="*") as served,
            connect(
                served.url,
                additional_headers=[
                    ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-For", "203.0.113.9"),
                ],
            ),
        ):
            pass

    run(main())
    assert scopes[0]["scheme"] == "wss"
    assert scopes[0]["client"] == ("203.0.113.9", 0)


def test_access_log() -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/no":
            await receive()
            await send({"type": "websocket.close"})
        else:
            await echo_app(scope, receive, send)

    handler = Collect()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    old_level = access.level
    access.setLevel(logging.INFO)
    try:

        async def main() -> None:
            async with serve(refuse) as served:
                async with connect(served.url + "/yes?q=1") as ws:
                    port = ws.local_address[1]
                with pytest.raises(InvalidStatus):
                    await connect(served.url + "/no")
                _, writer, _ = await open_raw(served.port, request(version=b"7"))
                writer.close()
            assert records[0] == f'{HOST}:{port} - "GET /yes?q=1 HTTP/1.1" 101'
            assert records[1].endswith('"GET /no HTTP/1.1" 403')
            assert records[2].endswith('"GET - HTTP/1.1" 426')

        run(main())
        records.clear()

        async def quiet() -> None:
            access.removeHandler(handler)
            async with serve(echo_app) as served, connect(served.url):
                pass

        run(quiet())  # no handler: uvicorn's --no-access-log
        assert records == []
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)


def test_the_ws_option_takes_an_import_string() -> None:
    config = uvicorn.Config(echo_app, ws="wsproto_lite.integrations.uvicorn:WebSocketProtocol")
    config.load()
    assert config.ws_protocol_class is WebSocketProtocol


def test_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "async def app(scope, receive, send):\n"
        "    assert (await receive())['type'] == 'websocket.connect'\n"
        "    await send({'type': 'websocket.accept'})\n"
        "    message = await receive()\n"
        "    await send({'type': 'websocket.send', 'text': message['text'].upper()})\n"
        "    await receive()\n"
    )
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    cmd = [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), "--lifespan", "off"]
    cmd += ["--ws", "wsproto_lite.integrations.uvicorn:WebSocketProtocol"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:

        async def main() -> str:
            deadline = time.monotonic() + 20
            while True:
                try:
                    async with connect(f"ws://{HOST}:{port}/") as ws:
                        await ws.send("shout")
                        return str(await ws.recv())
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    await asyncio.sleep(0.1)

        assert run(main()) == "SHOUT"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert '"GET / HTTP/1.1" 101' in output  # the access log (on stdout)


# -- frameworks ------------------------------------------------------------------------------


def test_a_starlette_application() -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    codes: list[int] = []

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="chat")
        try:
            while True:
                data = await websocket.receive_json()
                if data.get("bye"):
                    await websocket.close(code=4000, reason="see you")
                    return
                await websocket.send_json({"echo": data, "user": websocket.query_params["u"]})
        except WebSocketDisconnect as exc:
            codes.append(exc.code)

    app = Starlette(routes=[WebSocketRoute("/chat", chat)])

    async def main() -> None:
        async with serve(app) as served:
            async with connect(served.url + "/chat?u=ana", subprotocols=["chat"]) as ws:  # type: ignore[list-item]
                await ws.send('{"n": 1}')
                assert await ws.recv() == '{"echo":{"n":1},"user":"ana"}'
                await ws.send('{"bye": true}')
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd is not None
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "see you")
            async with connect(served.url + "/chat?u=bo", subprotocols=["chat"]) as ws:  # type: ignore[list-item]
                await ws.close(1001)
            await until(lambda: codes == [1001])
            with pytest.raises(InvalidStatus) as refused:
                await connect(served.url + "/nowhere")
            assert refused.value.response.status_code == 403

    run(main())


def test_websockets_version() -> None:
    # The assertions above read websockets' ConnectionClosed.rcvd (13.0 and later).
    assert tuple(int(x) for x in websockets.__version__.split(".")[:2]) >= (13, 0)


def test_the_docs_example() -> None:
    example = ROOT / "docs" / "examples" / "uvicorn_starlette.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(example)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "hello, ada",
        "SANS-I/O",
        "closed by the server: 4000 see you",
    ]


# -- driven directly, as uvicorn's HTTP protocols drive it -----------------------------------


class FakeTransport(asyncio.Transport):
    """Records what the protocol writes and does to its transport."""

    def __init__(self, *, can_write_eof: bool = True) -> None:
        super().__init__()
        self.data = b""
        self.closed = False
        self.eof_written = False
        self.reading = True
        self._can_write_eof = can_write_eof

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self.data += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return self._can_write_eof

    def write_eof(self) -> None:
        assert self._can_write_eof
        self.eof_written = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading


def handed_over(app: App, transport: FakeTransport) -> WebSocketProtocol:
    """A protocol built and given its transport the way uvicorn's HTTP protocols do."""
    from uvicorn.server import ServerState

    config = uvicorn.Config(app, ws=WebSocketProtocol, lifespan="off", log_config=None)
    config.load()
    protocol = WebSocketProtocol(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(transport)
    return protocol


def test_a_request_without_upgrade_gets_426() -> None:
    async def main() -> None:
        transport = FakeTransport()
        protocol = handed_over(echo_app, transport)
        protocol.data_received(b"GET /page HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert transport.data.startswith(b"HTTP/1.1 426 ")
        assert b"\r\nupgrade: websocket\r\n" in transport.data.lower()
        assert transport.closed
        assert not protocol.tasks  # the application never ran

    run(main())


def test_a_failure_over_tls_closes_at_once() -> None:
    # TLS cannot half-close: after the close frame the transport is closed.
    events: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        events.append(await receive())

    async def main() -> None:
        transport = FakeTransport(can_write_eof=False)
        protocol = handed_over(app, transport)
        protocol.data_received(request())
        await until(lambda: transport.data.startswith(b"HTTP/1.1 101 "))
        transport.data = b""
        protocol.data_received(frame(0x1, b"x", masked=False))
        assert transport.data[:4] == b"\x88\x34\x03\xea"  # close frame, 1002
        assert transport.closed and not transport.eof_written
        protocol.connection_lost(None)
        await until(lambda: bool(events))
        assert events[0]["code"] == 1002

    run(main())
