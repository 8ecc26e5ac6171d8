"""Tests of the asyncio adapter: a real client and server on 127.0.0.1.

Each test runs its own event loop with ``asyncio.run`` under a deadline, so a
hang fails the test instead of stalling the suite. Peers that misbehave on
purpose (never answer, stop answering pings) are raw sockets that speak the
handshake by hand.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import resource
import shutil
import ssl
import subprocess
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from wsproto_lite import Accept, Handshake, HTTPRequest, Reject, accept_key
from wsproto_lite._frames import Opcode, serialize_frame
from wsproto_lite._states import ConnectionState
from wsproto_lite.adapters.asyncio import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    Server,
    WebSocket,
    connect,
    serve,
)

from ._flood import SLACK, Flooder
from ._streaming import fragments_then_next, superseded_mid_message

T = TypeVar("T")
HOST = "127.0.0.1"


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run *coro* in a fresh event loop; fail (not hang) after *timeout* seconds."""

    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


def uri(server: Server, path: str = "/") -> str:
    return f"ws://{HOST}:{server.port}{path}"


# -- raw peers that speak the handshake by hand ----------------------------------------


async def read_head(reader: asyncio.StreamReader) -> dict[str, str]:
    """Read an HTTP head; return its headers (lower-case names) plus ':line'."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {":line": lines[0]}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


async def raw_server(
    behaviour: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, int]:
    """A TCP server running *behaviour* for each connection; returns (server, port)."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(Exception):
            await behaviour(reader, writer)

    server = await asyncio.start_server(handle, HOST, 0)
    server.writers = writers  # type: ignore[attr-defined]
    return server, server.sockets[0].getsockname()[1]


def close_raw_server(server: asyncio.Server) -> None:
    for writer in server.writers:  # type: ignore[attr-defined]
        writer.transport.abort()
    server.close()


async def accept_by_hand(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer a client's handshake with a minimal 101."""
    headers = await read_head(reader)
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(headers["sec-websocket-key"]).encode() + b"\r\n\r\n"
    )
    await writer.drain()


async def raw_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection and complete a WebSocket handshake by hand."""
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    headers = await read_head(reader)
    assert headers[":line"].startswith("HTTP/1.1 101")
    assert headers["sec-websocket-accept"] == accept_key(key)
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one unmasked frame (a server's); return (opcode, payload)."""
    b0, b1 = await reader.readexactly(2)
    length = b1 & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await reader.readexactly(length)


def close_payload(payload: bytes) -> tuple[int, str]:
    return int.from_bytes(payload[:2], "big"), payload[2:].decode()


# -- messages -------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [True, False])
def test_text_and_binary_echo(compression: bool) -> None:
    async def main() -> None:
        async with serve(echo, HOST, 0, compression=compression) as server:
            async with connect(uri(server), compression=compression) as ws:
                # The server's defaults: 12-bit windows (SERVER_DEFLATE).
                assert ws.extensions == (
                    ("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",)
                    if compression
                    else ()
                )
                messages: list[str | bytes] = ["", "hello", "é€😀" * 100, b"", b"\xff" * 1000]
                for message in messages:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(bytearray(b"abc"))
                assert await ws.recv() == b"abc"
                await ws.send(memoryview(b"xyz"))
                assert await ws.recv() == b"xyz"
                with pytest.raises(TypeError):
                    await ws.send(42)  # type: ignore[arg-type]
            assert ws.close_code == 1000
            assert ws.state is ConnectionState.CLOSED

    run(main())


def test_many_messages_in_order_and_iteration() -> None:
    async def main() -> None:
        async with serve(echo, HOST, 0) as server, connect(uri(server)) as ws:
            for i in range(500):
                await ws.send(f"message {i}")
            for i in range(500):
                assert await ws.recv() == f"message {i}"

    run(main())


@pytest.mark.parametrize("compression", [False, True])
def test_large_message(compression: bool) -> None:
    size = 16 << 20
    # Random data does not compress; repeated random blocks do (and exercise
    # the bounded decompression path with many output chunks).
    payload = os.urandom(size) if not compression else os.urandom(4096) * (size // 4096)

    async def main() -> None:
        limit = size + 1
        async with (
            serve(echo, HOST, 0, compression=compression, max_message_size=limit) as server,
            connect(uri(server), compression=compression, max_message_size=limit) as ws,
        ):
            await ws.send(payload)
            assert await ws.recv() == payload
            text = "ü" * (size // 4)
            await ws.send(text)
            assert await ws.recv() == text

    run(main(), timeout=60)


def test_message_too_big_closes_1009() -> None:
    async def main() -> None:
        async with serve(echo, HOST, 0, max_message_size=1000) as server:
            async with connect(uri(server)) as ws:
                await ws.send(b"x" * 1001)
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == 1009
            assert ws.close_code == 1009

    run(main())


def test_send_fragments_and_recv_streaming() -> None:
    received: list[list[str | bytes]] = []

    async def handler(ws: WebSocket) -> None:
        for _ in range(3):
            parts = [part async for part in ws.recv_streaming()]
            received.append(parts)
        await ws.send(await ws.recv())  # a fragmented message, received whole

    async def agen() -> AsyncIterator[bytes]:
        for i in range(5):
            await asyncio.sleep(0)
            yield bytes([i]) * 1000

    async def main() -> None:
        async with serve(handler, HOST, 0) as server, connect(uri(server)) as ws:
            await ws.send_fragments(["ab", "cd", "é"])
            await ws.send_fragments(agen())
            await ws.send("whole")
            await ws.send_fragments([b"1", b"2", b"3"])
            assert await ws.recv() == b"123"

    run(main())
    assert "".join(received[0]) == "abcdé"  # type: ignore[arg-type]
    assert len(received[0]) >= 3
    assert b"".join(received[1]) == b"".join(bytes([i]) * 1000 for i in range(5))  # type: ignore[arg-type]
    assert received[2] == ["whole"]


def test_recv_streaming_abandoned_skips_the_rest() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.send_fragments([b"a", b"b", b"c"])
        await ws.send("next")
        await ws.recv()

    async def main() -> None:
        async with serve(handler, HOST, 0) as server, connect(uri(server)) as ws:
            async for part in ws.recv_streaming():
                assert part == b"a"
                break
            assert await ws.recv() == "next"

    run(main())


def test_recv_streaming_superseded_by_a_receive_mid_message() -> None:
    async def main() -> None:
        async with serve(fragments_then_next, HOST, 0) as server, connect(uri(server)) as ws:
            await superseded_mid_message(ws)

    run(main())


def test_recv_streaming_aclose_discards_the_rest() -> None:
    async def main() -> None:
        async with serve(fragments_then_next, HOST, 0) as server, connect(uri(server)) as ws:
            await ws.send("go")
            parts = ws.recv_streaming()
            assert await parts.__anext__() == b"a"
            await parts.aclose()
            with pytest.raises(StopAsyncIteration):
                await parts.__anext__()
            assert await ws.recv() == "next"

    run(main())


def test_recv_streaming_refuses_a_concurrent_receiver() -> None:
    async def main() -> None:
        async with serve(fragments_then_next, HOST, 0) as server, connect(uri(server)) as ws:
            parts = ws.recv_streaming()
            waiting = asyncio.create_task(parts.__anext__())
            await asyncio.sleep(0.05)
            with pytest.raises(RuntimeError, match="already receiving"):
                await ws.recv()
            with pytest.raises(RuntimeError, match="already receiving"):
                ws.recv_streaming()
            await ws.send("go")
            assert await waiting == b"a"  # the refused calls changed nothing
            assert b"".join([part async for part in parts]) == b"bc"
            assert await ws.recv() == "next"

    run(main())


def test_streaming_receives_a_huge_message_in_bounded_parts() -> None:
    total = 64 << 20

    async def handler(ws: WebSocket) -> None:
        chunk = b"\x01" * (1 << 20)
        await ws.send_fragments(chunk for _ in range(total >> 20))
        await ws.recv()

    async def main() -> None:
        async with (
            serve(handler, HOST, 0, compression=False) as server,
            connect(uri(server), compression=False, max_message_size=None) as ws,
        ):
            got = biggest = 0
            async for part in ws.recv_streaming():
                got += len(part)
                biggest = max(biggest, len(part))
            assert got == total
            assert biggest <= 1 << 20  # parts come as they arrive, never whole

    run(main(), timeout=60)


def test_concurrent_recv_is_refused_and_cancel_is_safe() -> None:
    async def main() -> None:
        async with serve(echo, HOST, 0) as server, connect(uri(server)) as ws:
            task = asyncio.create_task(ws.recv())
            await asyncio.sleep(0.05)
            with pytest.raises(RuntimeError):
                await ws.recv()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.05)
            await ws.send("after")
            assert await ws.recv() == "after"

    run(main())


def test_cancelled_recv_keeps_a_partial_message() -> None:
    resume = asyncio.Event()

    async def handler(ws: WebSocket) -> None:
        async def parts() -> AsyncIterator[str]:
            yield "first half, "
            await resume.wait()
            yield "second half"

        await ws.send_fragments(parts())
        await ws.recv()

    async def main() -> None:
        async with serve(handler, HOST, 0) as server, connect(uri(server)) as ws:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.2)  # took the first part, then cancelled
            resume.set()
            assert await ws.recv() == "first half, second half"

    run(main())


def test_peer_protocol_error_closes_1002() -> None:
    closed: list[ConnectionClosed] = []

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            closed.append(exc)

    async def main() -> None:
        async with serve(handler, HOST, 0) as server:
            reader, writer = await raw_client(server.port)
            writer.write(serialize_frame(Opcode.TEXT, b"unmasked", mask=False))
            opcode, payload = await read_frame(reader)
            assert opcode == Opcode.CLOSE and close_payload(payload)[0] == 1002
            assert await asyncio.wait_for(reader.read(), 2) == b""
            writer.close()
            while not closed:
                await asyncio.sleep(0.01)
        assert isinstance(closed[0], ConnectionClosedError) and closed[0].code == 1002

    run(main())


def test_close_with_a_full_queue_does_not_wait_for_the_timeout() -> None:
    """close() while unread messages wait: parsing goes on past them so that
    the peer's reply is read, and what no longer fits in max_queue is dropped."""

    async def chatty(ws: WebSocket) -> None:
        with contextlib.suppress(ConnectionClosed):
            for i in range(1000):
                await ws.send(f"message {i}")
            await ws.wait_closed()

    async def main() -> None:
        async with serve(chatty, HOST, 0) as server:
            ws = await connect(uri(server), max_queue=4, close_timeout=5)
            await asyncio.sleep(0.2)  # the rest waits unparsed behind the first message
            assert len(ws._session.queue) == 1
            started = time.monotonic()
            await ws.close()
            assert time.monotonic() - started < 2
            assert ws.close_code == 1000
            received = []
            with pytest.raises(ConnectionClosedOK):
                while True:
                    received.append(await ws.recv())
            assert received[:4] == [f"message {i}" for i in range(4)]

    run(main())


# -- ping / pong ----------------------------------------------------------------------


def test_ping_pong() -> None:
    async def main() -> None:
        async with (
            serve(echo, HOST, 0, ping_interval=None) as server,
            connect(uri(server), ping_interval=None) as ws,
        ):
            waiter = await ws.ping()
            latency = await waiter
            assert 0 < latency < 5
            assert ws.latency == latency
            first = await ws.ping(b"first")
            with pytest.raises(RuntimeError):
                await ws.ping(b"first")
            second = await ws.ping("second")
            # The pong of the second also settles the first (RFC 6455 §5.5.3).
            await second
            assert first.is_set()
            await ws.send("still open")
            assert await ws.recv() == "still open"

    run(main())


def test_keepalive_keeps_a_healthy_connection_open() -> None:
    async def main() -> None:
        async with (
            serve(echo, HOST, 0, ping_interval=0.05, ping_timeout=1) as server,
            connect(uri(server), ping_interval=0.05, ping_timeout=1) as ws,
        ):
            await asyncio.sleep(0.4)
            assert ws.latency > 0
            await ws.send("x")
            assert await ws.recv() == "x"

    run(main())


def test_keepalive_timeout_server_side() -> None:
    """A client that completes the handshake and then goes silent gets 1011."""
    closed: list[ConnectionClosed] = []

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            closed.append(exc)

    async def main() -> None:
        async with serve(handler, HOST, 0, ping_interval=0.1, ping_timeout=0.2) as server:
            reader, writer = await raw_client(server.port)
            opcode, _ = await read_frame(reader)  # a ping we never answer
            assert opcode == Opcode.PING
            while True:
                opcode, payload = await read_frame(reader)
                if opcode == Opcode.CLOSE:
                    break
            assert close_payload(payload) == (1011, "keepalive ping timeout")
            assert await reader.read() == b""  # and the server closed TCP
            writer.close()
            while not closed:
                await asyncio.sleep(0.01)
        assert isinstance(closed[0], ConnectionClosedError)
        assert closed[0].code == 1011

    run(main())


def test_keepalive_timeout_client_side() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_by_hand(reader, writer)
        await asyncio.sleep(30)

    async def main() -> None:
        server, port = await raw_server(silent)
        try:
            ws = await connect(f"ws://{HOST}:{port}/", ping_interval=0.1, ping_timeout=0.2)
            started = time.monotonic()
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1011
            assert info.value.reason == "keepalive ping timeout"
            assert time.monotonic() - started < 2
            await ws.wait_closed()
            assert ws.close_code == 1011
        finally:
            close_raw_server(server)

    run(main())


# -- closing --------------------------------------------------------------------------


def test_client_closes_with_code_and_reason() -> None:
    seen: list[ConnectionClosed] = []

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            seen.append(exc)
            assert ws.close_code == 4000 and ws.close_reason == "bye"

    async def main() -> None:
        async with serve(handler, HOST, 0) as server:
            ws = await connect(uri(server))
            await ws.close(4000, "bye")
            assert ws.close_code == 4000  # the server echoed our code
            with pytest.raises(ConnectionClosedError):
                await ws.send("late")
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
            await ws.close()  # idempotent
        assert isinstance(seen[0], ConnectionClosedError)
        assert (seen[0].code, seen[0].reason) == (4000, "bye")

    run(main())


def test_server_closes_with_code_and_reason() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.close(4001, "server says bye")

    async def returns(ws: WebSocket) -> None:
        await ws.send("one message")

    async def main() -> None:
        async with serve(handler, HOST, 0) as server, connect(uri(server)) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                async for _ in ws:
                    pass
            assert (info.value.code, info.value.reason) == (4001, "server says bye")
            assert (ws.close_code, ws.close_reason) == (4001, "server says bye")
        async with serve(returns, HOST, 0) as server, connect(uri(server)) as ws:
            messages = [message async for message in ws]  # ends silently on 1000
            assert messages == ["one message"]
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            await ws.wait_closed()
            assert ws.close_code == 1000

    run(main())


def test_server_closes_tcp_first() -> None:
    async def main() -> None:
        async with serve(echo, HOST, 0) as server:
            reader, writer = await raw_client(server.port)
            writer.write(serialize_frame(Opcode.CLOSE, b"\x03\xe8done", mask=True))
            opcode, payload = await read_frame(reader)
            assert opcode == Opcode.CLOSE and close_payload(payload)[0] == 1000
            assert await asyncio.wait_for(reader.read(), 2) == b""  # EOF from the server
            writer.close()

    run(main())


def test_close_timeout_when_the_peer_never_answers() -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_by_hand(reader, writer)
        await asyncio.sleep(30)

    async def main() -> None:
        server, port = await raw_server(deaf)
        try:
            ws = await connect(f"ws://{HOST}:{port}/", close_timeout=0.3)
            started = time.monotonic()
            await ws.close()
            assert 0.25 < time.monotonic() - started < 2
            assert ws.close_code == 1006
        finally:
            close_raw_server(server)

    run(main())


def test_client_closes_tcp_after_close_timeout_if_server_does_not() -> None:
    async def lingering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_by_hand(reader, writer)
        header = await reader.readexactly(2)
        mask = await reader.readexactly(4)
        data = await reader.readexactly(header[1] & 0x7F)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        writer.write(serialize_frame(Opcode.CLOSE, payload))  # reply, but keep TCP open
        await asyncio.sleep(30)

    async def main() -> None:
        server, port = await raw_server(lingering)
        try:
            ws = await connect(f"ws://{HOST}:{port}/", close_timeout=0.3)
            started = time.monotonic()
            await ws.close(1000, "done")
            assert 0.25 < time.monotonic() - started < 2
            assert ws.close_code == 1000  # the closing handshake itself completed
        finally:
            close_raw_server(server)

    run(main())


def test_send_fragments_failure_closes_1011() -> None:
    async def handler(ws: WebSocket) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.recv()

    def broken() -> Any:
        yield "start"
        raise ValueError("source failed")

    async def main() -> None:
        async with serve(handler, HOST, 0) as server:
            ws = await connect(uri(server))
            await ws.send_fragments([])  # nothing to send
            with pytest.raises(TypeError):
                await ws.send_fragments([1, 2])  # type: ignore[list-item]
            assert ws.state is ConnectionState.OPEN  # nothing was sent
            with pytest.raises(ValueError):
                await ws.send_fragments(broken())
            await ws.wait_closed()
            assert ws.close_code == 1011
            ws = await connect(uri(server))
            with pytest.raises(TypeError):
                await ws.send_fragments([b"a", "b"])
            await ws.wait_closed()
            assert ws.close_code == 1011

    run(main())


# -- timeouts on opening --------------------------------------------------------------


def test_open_timeout_client() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async def main() -> None:
        server, port = await raw_server(mute)
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="timed out"):
                await connect(f"ws://{HOST}:{port}/", open_timeout=0.3)
            assert time.monotonic() - started < 2
        finally:
            close_raw_server(server)

    run(main())


def test_open_timeout_server() -> None:
    async def main() -> None:
        async with serve(echo, HOST, 0, open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET / HTTP/1.1\r\n")  # and never the rest
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 3) == b""
            assert time.monotonic() - started < 2
            writer.close()

    run(main())


# -- handshake answers ----------------------------------------------------------------


def test_invalid_uri_and_ssl_mismatch() -> None:
    with pytest.raises(InvalidURI):
        connect("http://example.com/")
    with pytest.raises(InvalidURI):
        connect("ws://example.com/#fragment")

    async def main() -> None:
        with pytest.raises(ValueError, match="ssl"):
            await connect("ws://127.0.0.1:1/", ssl=True)

    run(main())


def test_handler_exception_closes_1011_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(ws: WebSocket) -> None:
        message = await ws.recv()
        if message == "boom":
            raise RuntimeError("handler failed on purpose")
        await ws.send(message)

    async def main() -> None:
        async with serve(handler, HOST, 0) as server:
            async with connect(uri(server)) as ws:
                await ws.send("boom")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == 1011
            async with connect(uri(server)) as ws:
                await ws.send("fine")
                assert await ws.recv() == "fine"

    with caplog.at_level(logging.ERROR, logger="wsproto_lite.asyncio.server"):
        run(main())
    failures = [r for r in caplog.records if r.getMessage() == "connection handler failed"]
    assert len(failures) == 1 and failures[0].exc_info is not None


@pytest.mark.parametrize("is_async", [False, True])
def test_process_request_rejects_and_serves_http(is_async: bool) -> None:
    def decide(request: Handshake | HTTPRequest) -> Accept | Reject | None:
        if isinstance(request, HTTPRequest):
            return Reject(200, [("Content-Type", "text/html")], b"<h1>hello</h1>")
        if request.target == "/forbidden":
            return Reject(403, [("X-Why", "because")], b"go away")
        if request.target.startswith("/chat"):
            return Accept(subprotocol="chat", headers=[("X-Served-By", "test")])
        return None

    async def adecide(request: Handshake | HTTPRequest) -> Accept | Reject | None:
        await asyncio.sleep(0)
        return decide(request)

    seen: list[Handshake | None] = []

    async def handler(ws: WebSocket) -> None:
        seen.append(ws.request)
        await echo(ws)

    async def main() -> None:
        async with serve(
            handler, HOST, 0, process_request=adecide if is_async else decide
        ) as server:
            with pytest.raises(InvalidHandshake) as info:
                await connect(uri(server, "/forbidden"))
            assert info.value.status == 403
            assert ("x-why", "because") in info.value.headers
            assert info.value.body == b"go away"
            assert "403" in str(info.value)

            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = await asyncio.wait_for(reader.read(), 5)
            assert response.startswith(b"HTTP/1.1 200 ")
            assert response.endswith(b"<h1>hello</h1>")
            writer.close()

            async with connect(
                uri(server, "/chat?x=1"),
                subprotocols=["other", "chat"],
                origin="http://example.com",
                extra_headers={"X-Token": "abc"},
            ) as ws:
                assert ws.subprotocol == "chat"
                assert ws.response is not None
                assert ("x-served-by", "test") in ws.response.headers
                await ws.send("hi")
                assert await ws.recv() == "hi"
                assert ws.remote_address[1] == server.port
                assert ws.local_address[0] == HOST
        request = seen[0]
        assert request is not None
        assert request.target == "/chat?x=1"
        assert request.origin == "http://example.com"
        assert request.subprotocols == ("other", "chat")
        assert ("x-token", "abc") in request.headers

    run(main())


def test_process_request_failure_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Handshake | HTTPRequest) -> None:
        raise RuntimeError("oops")

    async def main() -> None:
        async with serve(echo, HOST, 0, process_request=broken) as server:
            with pytest.raises(InvalidHandshake) as info:
                await connect(uri(server))
            assert info.value.status == 500

    with caplog.at_level(logging.ERROR, logger="wsproto_lite.asyncio.server"):
        run(main())
    assert any(r.getMessage() == "process_request failed" for r in caplog.records)


def test_default_subprotocol_choice() -> None:
    async def main() -> None:
        async with serve(echo, HOST, 0, subprotocols=["b", "a"]) as server:
            async with connect(uri(server), subprotocols=["a", "b"]) as ws:
                assert ws.subprotocol == "b"  # the server's preference
            async with connect(uri(server), subprotocols=["c"]) as ws:
                assert ws.subprotocol is None

    run(main())


def test_plain_http_gets_426() -> None:
    async def main() -> None:
        async with serve(echo, HOST, 0) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = await asyncio.wait_for(reader.read(), 5)
            assert response.startswith(b"HTTP/1.1 426 ")
            assert b"upgrade: websocket" in response.lower()
            writer.close()
            # A malformed upgrade gets 400 from the core, and the server carries on.
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            )
            response = await asyncio.wait_for(reader.read(), 5)
            assert response.startswith(b"HTTP/1.1 400 ")
            writer.close()
            async with connect(uri(server)) as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"

    run(main())


def test_client_rejects_an_invalid_response() -> None:
    async def bad_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: wrong\r\n\r\n"
        )
        await asyncio.sleep(5)

    async def main() -> None:
        server, port = await raw_server(bad_accept)
        try:
            with pytest.raises(InvalidHandshake) as info:
                await connect(f"ws://{HOST}:{port}/")
            assert info.value.status == 101
        finally:
            close_raw_server(server)

    run(main())


# -- server lifecycle -----------------------------------------------------------------


def test_graceful_shutdown() -> None:
    handler_done: list[str] = []

    async def polite(ws: WebSocket) -> None:
        try:
            await echo(ws)
        finally:
            handler_done.append("polite")

    async def stubborn(ws: WebSocket) -> None:
        try:
            await asyncio.sleep(60)  # ignores the close entirely
        finally:
            handler_done.append("stubborn")

    async def main() -> None:
        server = await serve(polite, HOST, 0)
        clients = [await connect(uri(server)) for _ in range(5)]
        for ws in clients:
            await ws.send("ping")
            assert await ws.recv() == "ping"
        assert len(server.connections) == 5
        started = time.monotonic()
        server.close()
        await server.wait_closed()
        assert time.monotonic() - started < 2
        for ws in clients:
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (1001, "going away")
            await ws.wait_closed()
        assert handler_done == ["polite"] * 5
        with pytest.raises(OSError):
            await connect(uri(server))

        handler_done.clear()
        server = await serve(stubborn, HOST, 0, close_timeout=0.3)
        ws = await connect(uri(server))
        started = time.monotonic()
        server.close()
        await server.wait_closed()
        assert 0.25 < time.monotonic() - started < 2
        assert handler_done == ["stubborn"]  # cancelled after close_timeout
        await ws.wait_closed()
        assert ws.close_code == 1001

    run(main())


def test_serve_forever_is_cancellable() -> None:
    async def main() -> None:
        server = serve(echo, HOST, 0)
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0.05)
        async with connect(uri(server)) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()

    run(main())


# -- flow control ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "compression"),
    [("server_to_client", False), ("client_to_server", False), ("server_to_client", True)],
)
def test_slow_reader_keeps_memory_bounded(direction: str, compression: bool) -> None:
    """The sender tries to push 200 MB at a receiver that does not read.

    The sender must block (its write buffer stays near write_limit), the
    receiver must hold at most max_queue message parts, and memory measured
    with tracemalloc must stay far below what was offered. Then the receiver
    reads everything, in order. With compression, 200 MB of compressible data
    is little on the wire: what matters then is that the receiver does not
    decompress ahead of the application.
    """
    size = 64 << 10
    count = 200 * (1 << 20) // size  # 200 MiB
    chunk = os.urandom(size) if not compression else bytes(range(256)) * (size // 256)
    progress = {"sent": 0}
    peers: dict[str, WebSocket] = {}

    async def sender(ws: WebSocket) -> None:
        peers["sender"] = ws
        for i in range(count):
            await ws.send(chunk[:-4] + i.to_bytes(4, "big"))
            progress["sent"] += 1

    async def receiver(ws: WebSocket) -> None:
        peers["receiver"] = ws
        while "sender" not in peers:
            await asyncio.sleep(0.01)
        # Do not read yet: let the sender run into the limits.
        sent_before = -1
        while progress["sent"] != sent_before:
            sent_before = progress["sent"]
            await asyncio.sleep(0.3)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sender_ws = peers["sender"]
        assert sender_ws._transport is not None
        # What was sent sits in the kernel's socket buffers: a few MB on
        # loopback, tens at most with autotuning; far from the 200 MB offered.
        if not compression:
            assert progress["sent"] * size < 64 << 20, "the sender was not slowed down"
        assert sender_ws._transport.get_write_buffer_size() <= (1 << 16) + size + 64
        assert len(ws._session.queue) <= 1  # one message waits; the rest is not parsed
        assert peak < 8 << 20, f"peak traced memory {peak} bytes"
        for i in range(count):
            message = await ws.recv()
            assert message[-4:] == i.to_bytes(4, "big")

    async def main() -> None:
        tracemalloc.start()
        kwargs: dict[str, Any] = {
            "compression": compression,
            "max_queue": 16,
            "write_limit": 1 << 16,
        }
        if direction == "server_to_client":
            async with serve(sender, HOST, 0, **kwargs) as server:
                ws = await connect(uri(server), **kwargs)
                await receiver(ws)
                await ws.close()
        else:
            finished = asyncio.Event()

            async def server_side(ws: WebSocket) -> None:
                await receiver(ws)
                finished.set()

            async with serve(server_side, HOST, 0, **kwargs) as server:
                ws = await connect(uri(server), **kwargs)
                await sender(ws)
                await finished.wait()
                await ws.close()

    try:
        run(main(), timeout=120)
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()


# -- TLS ------------------------------------------------------------------------------


def make_certificate(tmp: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1: with cryptography, else openssl."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    try:
        import datetime
        import ipaddress

        from cryptography import x509  # type: ignore[import-not-found,unused-ignore]
        from cryptography.hazmat.primitives import hashes, serialization  # type: ignore[import-not-found,unused-ignore]
        from cryptography.hazmat.primitives.asymmetric import ec  # type: ignore[import-not-found,unused-ignore]
        from cryptography.x509.oid import NameOID  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            return None
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def test_tls(tmp_path: Path) -> None:
    files = make_certificate(tmp_path)
    if files is None:
        pytest.skip("neither the cryptography package nor the openssl CLI is available")
    cert, key = files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        async with serve(echo, HOST, 0, ssl=server_ctx) as server:
            wss = f"wss://{HOST}:{server.port}/secure"
            async with connect(wss, ssl=client_ctx) as ws:
                messages: list[str | bytes] = ["secret", b"\x00" * 200_000]
                for message in messages:
                    await ws.send(message)
                    assert await ws.recv() == message
            assert ws.close_code == 1000
            # The default context does not trust a self-signed certificate.
            with pytest.raises(ssl.SSLError):
                await connect(wss)

    run(main())


# -- load -----------------------------------------------------------------------------


@pytest.mark.slow
def test_load_1000_connections() -> None:
    """1,000 concurrent connections each echo 100 messages, in order."""
    clients, messages = 1000, 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * clients + 200
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the fd limit ({hard}) is too low for {clients} connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))

    async def client(port: int, n: int) -> int:
        async with connect(f"ws://{HOST}:{port}/", open_timeout=60) as ws:
            for i in range(messages):
                await ws.send(f"{n}:{i}")
                assert await ws.recv() == f"{n}:{i}"
        return n

    async def main() -> None:
        async with serve(echo, HOST, 0, backlog=clients) as server:
            started = time.monotonic()
            done = await asyncio.gather(*(client(server.port, n) for n in range(clients)))
            assert sorted(done) == list(range(clients))
            elapsed = time.monotonic() - started
            print(f"{clients * messages / elapsed:.0f} round trips/s over {clients} connections")

    try:
        run(main(), timeout=180)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- a peer that does not read -----------------------------------------------------

LIMIT_OPTIONS: dict[str, Any] = {"ping_interval": None, "compression": False}


@contextlib.asynccontextmanager
async def flooding(port: int) -> AsyncIterator[Flooder]:
    """A raw peer that floods pings and never reads (its handshake in a thread)."""
    flooder = await asyncio.to_thread(Flooder, port)
    flooder.start()
    try:
        yield flooder
    finally:
        await asyncio.to_thread(flooder.stop)


async def held_samples(ws: WebSocket, seconds: float) -> list[int]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(ws._session.held_bytes)
        await asyncio.sleep(0.05)
    return samples


def test_a_ping_flood_from_a_peer_that_never_reads_holds_at_most_write_limit() -> None:
    """Each ping is owed a pong; a peer that sends them and reads none must not
    make the server hold more than write_limit (one pong is kept, the latest)."""

    async def main() -> None:
        async def idle(ws: WebSocket) -> None:
            await ws.wait_closed()

        options = {**LIMIT_OPTIONS, "close_timeout": 60, "write_limit": 1 << 16}
        async with serve(idle, HOST, 0, **options) as server:
            async with flooding(server.port) as flooder:
                await asyncio.sleep(0.2)
                (ws,) = server.connections
                samples = await held_samples(ws, 2.0)
                sent = flooder.sent
            # Without the bound, the pongs of these pings would all be held.
            assert sent > 2 << 20, sent
            assert max(samples) <= (1 << 16) + SLACK, samples

    run(main())


def test_sending_100_mb_while_the_peer_floods_pings_and_never_reads() -> None:
    size = 100_000_000
    started = asyncio.Event()

    async def main() -> None:
        async def send_big(ws: WebSocket) -> None:
            started.set()
            await ws.send(bytes(size))

        options = {**LIMIT_OPTIONS, "close_timeout": 60}
        async with serve(send_big, HOST, 0, **options) as server:
            async with flooding(server.port) as flooder:
                await started.wait()
                (ws,) = server.connections
                before = flooder.sent
                samples = await held_samples(ws, 2.0)
                sent = flooder.sent - before
                frame = size + 10  # the frame's header: 10 bytes
                assert sent > 2 << 20, sent  # the server kept reading
                assert max(samples) <= frame + (1 << 16) + SLACK, samples
                assert samples[-1] <= samples[len(samples) // 2] + SLACK  # no growth
            ws._abort()

    run(main())


def test_a_peer_that_reads_nothing_for_close_timeout_is_failed_with_1011() -> None:
    outcome: list[ConnectionClosed] = []

    async def main() -> None:
        async def receiver(ws: WebSocket) -> None:
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                outcome.append(exc)

        options = {**LIMIT_OPTIONS, "close_timeout": 0.5}
        async with serve(receiver, HOST, 0, **options) as server, flooding(server.port):
            start = time.monotonic()
            while not outcome and time.monotonic() - start < 10:
                await asyncio.sleep(0.05)
            took = time.monotonic() - start
        assert outcome, "the server never gave up on a peer that reads nothing"
        assert (outcome[0].code, outcome[0].reason) == (1011, "the peer does not read")
        assert 0.4 < took < 5

    run(main())


def test_both_sides_flooding_each_other_do_not_deadlock() -> None:
    # Both applications write faster than the peer reads, each with a reader
    # task: a side that stopped reading while its own output is blocked would
    # block the other side's output in turn, and neither would move again.
    chunk = b"\x01" * (256 << 10)
    count = 40  # 10 MiB each way: more than the socket buffers hold

    async def flood(ws: WebSocket) -> None:
        got: list[Any] = []

        async def reader() -> None:
            for _ in range(count):
                got.append(await ws.recv())

        task = asyncio.create_task(reader())
        for _ in range(count):
            await ws.send(chunk)
            await ws.ping()
        await asyncio.wait_for(task, 10)
        assert len(got) == count

    async def main() -> None:
        options: dict[str, Any] = {**LIMIT_OPTIONS, "max_queue": 2, "close_timeout": 2}
        async with (
            serve(flood, HOST, 0, **options) as server,
            connect(uri(server), **options) as ws,
        ):
            await asyncio.wait_for(flood(ws), 20)

    run(main())


def test_pong_and_connections_mean_what_they_mean_in_every_adapter() -> None:
    async def main() -> None:
        async def handler(ws: WebSocket) -> None:
            assert ws.response is not None and ws in server.connections
            await ws.pong(b"heartbeat")  # unsolicited: the client ignores it
            await ws.send("after the pong")
            await ws.wait_closed()

        async with serve(handler, HOST, 0, ping_interval=None) as server:
            # A TCP connection whose handshake never comes is not a connection yet.
            _, silent = await asyncio.open_connection(HOST, server.port)
            async with connect(uri(server), ping_interval=None) as ws:
                assert await ws.recv() == "after the pong"
                assert len(server.connections) == 1
                waiter = await ws.ping()
                assert not waiter.is_set() or waiter.latency is not None
                assert await waiter >= 0 and waiter.is_set()
            silent.close()

    run(main())
