"""The trio adapter: a real client and server on 127.0.0.1, plus raw-socket peers.

Each test runs ``trio.run`` itself (no pytest plugin). The raw peers are the
blocking helpers of ``test_adapter_sync.py``, run in threads.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

trio = pytest.importorskip("trio")

from wsproto_lite import Accept, Handshake, HTTPRequest, Reject  # noqa: E402
from wsproto_lite.adapters.trio import (  # noqa: E402
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    Server,
    WebSocket,
    connect,
    connect_websocket,
    serve,
)

from ._flood import SLACK, Flooder  # noqa: E402
from ._streaming import fragments_then_next, superseded_mid_message  # noqa: E402
from .test_adapter_sync import (  # noqa: E402
    http_get,
    raw_client,
    read_until_eof,
    silent_server,
    tls_contexts,
)
from .test_adapter_sync import tls_files as tls_files  # noqa: E402  (a fixture)

FAST: dict[str, Any] = {"open_timeout": 2.0, "close_timeout": 2.0, "ping_interval": None}
# No test should come near this; a hang fails instead of blocking the suite.
LIMIT = 20


def run_with_server(
    handler: Callable[[WebSocket], Awaitable[Any]],
    body: Callable[[Server], Awaitable[None]],
    **kwargs: Any,
) -> None:
    """Run *body* against a trio server on 127.0.0.1; cancel the server afterwards.

    Errors of *body* are re-raised as they are, not wrapped in an ExceptionGroup.
    """
    options = {**FAST, **kwargs}
    error: Exception | None = None

    async def main() -> None:
        nonlocal error
        with trio.fail_after(LIMIT):
            async with trio.open_nursery() as nursery:
                server = await nursery.start(partial(serve, handler, "127.0.0.1", 0, **options))
                try:
                    await body(server)
                except Exception as exc:
                    error = exc
                nursery.cancel_scope.cancel()

    trio.run(main)
    if error is not None:
        raise error


def run(fn: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        with trio.fail_after(LIMIT):
            await fn()

    trio.run(main)


def uri(server: Server, path: str = "/") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


# -- messages -------------------------------------------------------------------------


def test_text_and_binary_echo() -> None:
    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\xff")
            assert await ws.recv() == b"\x00\xff"
            await ws.send(bytearray(b"ba"))
            assert await ws.recv() == b"ba"
            await ws.send("")
            assert await ws.recv() == ""
            assert ws.extensions == (
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
            )  # the server's defaults
            assert ws.remote_address[1] == server.port
            assert ws.local_address[0] == "127.0.0.1"
            assert ws.request is not None and ws.request.target == "/"
            assert len(server.connections) == 1
            with pytest.raises(TypeError):
                await ws.send(42)  # type: ignore[arg-type]
        assert ws.close_code == 1000

    run_with_server(echo, body)


def test_compressed_and_uncompressed() -> None:
    text = "wsproto_lite " * 5000

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            await ws.send(text)
            assert await ws.recv() == text
        async with connect(uri(server), compression=False, **FAST) as ws:
            assert ws.extensions == ()
            await ws.send(text)
            assert await ws.recv() == text

    run_with_server(echo, body)


def test_large_message_with_raised_limit() -> None:
    data = os.urandom(16 << 20)
    options: dict[str, Any] = {"max_message_size": 32 << 20, "compression": False}

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST, **options) as ws:
            await ws.send(data)
            assert await ws.recv() == data

    run_with_server(echo, body, **options)


def test_message_over_the_limit_closes_with_1009() -> None:
    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            await ws.send(b"x" * 1001)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1009

    run_with_server(echo, body, max_message_size=1000)


def test_fragments_in_and_out() -> None:
    seen: list[list[str | bytes]] = []

    async def handler(ws: WebSocket) -> None:
        parts = [part async for part in ws.recv_streaming()]
        seen.append(parts)
        await ws.send_fragments(parts)

        async def agen() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        await ws.send_fragments(agen())

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            await ws.send_fragments(["un ", "deux ", "trois"])
            assert await ws.recv() == "un deux trois"
            assert await ws.recv() == b"ab"
            with pytest.raises(TypeError):
                await ws.send_fragments([1])  # type: ignore[list-item]

    run_with_server(handler, body)
    assert "".join(map(str, seen[0])) == "un deux trois"
    assert len(seen[0]) >= 3


def test_mixed_fragments_fail_the_connection() -> None:
    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            with pytest.raises(TypeError):
                await ws.send_fragments(["text", b"bytes"])
            await ws.wait_closed()
        assert ws.close_code == 1011

    run_with_server(echo, body)


def test_abandoned_streaming_discards_the_rest() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.send_fragments([b"1", b"2", b"3"])
        await ws.send("next")
        await ws.recv()

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            parts = ws.recv_streaming()
            assert await parts.__anext__() == b"1"
            await parts.aclose()
            with pytest.raises(StopAsyncIteration):
                await parts.__anext__()
            assert await ws.recv() == "next"

    run_with_server(handler, body)


def test_cancelled_recv_keeps_partial_message() -> None:
    async def handler(ws: WebSocket) -> None:
        async def slow() -> AsyncIterator[str]:
            yield "first "
            await ws_go.wait()
            yield "second"

        await ws.send_fragments(slow())
        await ws.recv()

    ws_go = trio.Event()

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            with trio.move_on_after(0.2) as scope:
                await ws.recv()
            assert scope.cancelled_caught
            ws_go.set()
            assert await ws.recv() == "first second"

    run_with_server(handler, body)


def test_recv_streaming_left_with_break_then_recv() -> None:
    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            await ws.send("go")
            async for part in ws.recv_streaming():
                assert part == b"a"
                break
            assert await ws.recv() == "next"  # at once: no finalizer to wait for

    run_with_server(fragments_then_next, body)


def test_recv_streaming_superseded_by_a_receive_mid_message() -> None:
    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            await superseded_mid_message(ws)

    run_with_server(fragments_then_next, body)


def test_one_receiver_at_a_time() -> None:
    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws, trio.open_nursery() as nursery:
            parts = ws.recv_streaming()
            got: list[object] = []

            async def first_part() -> None:
                got.append(await parts.__anext__())

            nursery.start_soon(first_part)
            await trio.sleep(0.05)
            with pytest.raises(RuntimeError, match="already receiving"):
                await ws.recv()
            with pytest.raises(RuntimeError, match="already receiving"):
                ws.recv_streaming()
            await ws.send("go")
            while not got:
                await trio.sleep(0.01)
            assert got == [b"a"]  # the refused calls changed nothing
            assert b"".join([part async for part in parts]) == b"bc"
            assert await ws.recv() == "next"

    run_with_server(fragments_then_next, body)


# -- ping, pong, subprotocols -------------------------------------------------------------


def test_ping_pong() -> None:
    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            pong = await ws.ping()
            latency = await pong
            assert latency >= 0 and ws.latency == latency == pong.latency
            first, second = await ws.ping(b"a"), await ws.ping("b")
            await second
            assert first.is_set()  # answered by the later pong
            await ws.pong(b"unsolicited")
            await ws.send("still fine")
            assert await ws.recv() == "still fine"

    run_with_server(echo, body)


def test_ping_without_pong() -> None:
    async def main() -> None:
        with silent_server(handshake=True) as silent:
            options = {**FAST, "close_timeout": 0.2}
            async with connect(f"ws://127.0.0.1:{silent.port}/", **options) as ws:
                pong = await ws.ping(b"same")
                with pytest.raises(RuntimeError):
                    await ws.ping(b"same")  # its pong could not be told apart
                with trio.move_on_after(0.05):
                    await pong
                assert not pong.is_set()
            with pytest.raises(ConnectionClosed):
                await pong

    run(main)


def test_subprotocol_negotiation() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.send(ws.subprotocol or "none")

    async def body(server: Server) -> None:
        async with connect(uri(server), subprotocols=["chat.v1", "chat.v2"], **FAST) as ws:
            assert ws.subprotocol == "chat.v2"
            assert await ws.recv() == "chat.v2"
        async with connect(uri(server), subprotocols=["other"], **FAST) as ws:
            assert ws.subprotocol is None
            assert await ws.recv() == "none"

    run_with_server(handler, body, subprotocols=["chat.v2", "chat.v1"])


# -- closing --------------------------------------------------------------------------


def test_close_from_client() -> None:
    seen: list[ConnectionClosed] = []

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            seen.append(exc)
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (4001, "done here")

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            await ws.close(4001, "done here")
            assert (ws.close_code, ws.close_reason) == (4001, "")  # the server echoes the code
            with pytest.raises(ConnectionClosedError):
                await ws.send("late")

    run_with_server(handler, body)
    assert isinstance(seen[0], ConnectionClosedError)
    assert (seen[0].code, seen[0].reason) == (4001, "done here")


def test_close_from_server() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.send("bye")
        await ws.close(1000, "see you")

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            assert [m async for m in ws] == ["bye"]
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (1000, "see you")
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (1000, "see you")

    run_with_server(handler, body)


def test_both_sides_closing_at_once_is_quick() -> None:
    # Regression: the client's close() held the send lock while its reader
    # wanted to write the reply to the server's close frame, and dropped it.
    server_side: list[tuple[int | None, float]] = []

    async def handler(ws: WebSocket) -> None:
        await ws.send("x")
        start = time.monotonic()
        await ws.close()
        server_side.append((ws.close_code, time.monotonic() - start))

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            assert await ws.recv() == "x"
        assert ws.close_code == 1000
        await trio.sleep(0.1)

    run_with_server(handler, body)
    code, took = server_side[0]
    assert code == 1000 and took < 1


def test_iteration_raises_on_error_close() -> None:
    async def handler(ws: WebSocket) -> None:
        await ws.close(4000, "custom")

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                async for _ in ws:
                    pass
            assert info.value.code == 4000

    run_with_server(handler, body)


def test_invalid_close_code_is_refused_locally() -> None:
    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            with pytest.raises(Exception, match="1005"):
                await ws.close(1005)
            await ws.send("still open")
            assert await ws.recv() == "still open"

    run_with_server(echo, body)


def test_errors_in_the_block_are_not_wrapped() -> None:
    async def body(server: Server) -> None:
        with pytest.raises(KeyError):
            async with connect(uri(server), **FAST):
                raise KeyError("mine")

    run_with_server(echo, body)


def test_connect_websocket_in_own_nursery() -> None:
    seen: list[ConnectionClosed] = []

    async def handler(ws: WebSocket) -> None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            seen.append(exc)

    async def body(server: Server) -> None:
        async with trio.open_nursery() as nursery:
            ws = await connect_websocket(nursery, uri(server), **FAST)
            await ws.send("hi")
            # Cancelling the nursery closes the connection gracefully.
            nursery.cancel_scope.cancel()
        assert ws.close_code == 1000
        await trio.sleep(0.1)

    run_with_server(handler, body)
    assert seen and seen[0].code == 1000


# -- timeouts and keepalive -------------------------------------------------------------


def test_open_timeout_client() -> None:
    async def main() -> None:
        with silent_server(handshake=False) as silent:
            start = time.monotonic()
            with pytest.raises(TimeoutError, match=r"timed out after 0\.3 s"):
                async with connect(f"ws://127.0.0.1:{silent.port}/", open_timeout=0.3):
                    pass  # pragma: no cover
            assert time.monotonic() - start < 2

    run(main)


def test_open_timeout_server() -> None:
    async def body(server: Server) -> None:
        def check() -> float:
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                return read_until_eof(sock, 5)

        assert await trio.to_thread.run_sync(check) < 2  # dropped without a word

    run_with_server(echo, body, open_timeout=0.3)


def test_close_timeout_client() -> None:
    async def main() -> None:
        with silent_server(handshake=True) as silent:
            options = {**FAST, "close_timeout": 0.3}
            async with connect(f"ws://127.0.0.1:{silent.port}/", **options) as ws:
                start = time.monotonic()
                await ws.close()
                assert 0.25 < time.monotonic() - start < 2
            assert ws.close_code == 1006
            with pytest.raises(ConnectionClosedError):
                await ws.recv()

    run(main)


def test_close_timeout_server() -> None:
    closed = trio.Event()

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.close()
        finally:
            closed.set()

    async def body(server: Server) -> None:
        sock = await trio.to_thread.run_sync(raw_client, server.port)
        with sock:
            start = time.monotonic()
            await closed.wait()
            assert 0.25 < time.monotonic() - start < 2
            await trio.to_thread.run_sync(read_until_eof, sock, 5)

    run_with_server(handler, body, close_timeout=0.3)


def test_keepalive_timeout_client() -> None:
    async def main() -> None:
        with silent_server(handshake=True) as silent:
            async with connect(
                f"ws://127.0.0.1:{silent.port}/", ping_interval=0.1, ping_timeout=0.2
            ) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == 1011
            assert (ws.close_code, ws.close_reason) == (1011, "keepalive ping timeout")

    run(main)


def test_keepalive_timeout_server() -> None:
    seen: list[ConnectionClosed] = []
    done = trio.Event()

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            seen.append(exc)
        done.set()

    async def body(server: Server) -> None:
        sock = await trio.to_thread.run_sync(raw_client, server.port)
        with sock:
            await done.wait()

    run_with_server(handler, body, ping_interval=0.1, ping_timeout=0.2)
    assert seen[0].code == 1011


def test_keepalive_catches_a_dead_peer_while_a_send_is_blocked() -> None:
    # The peer neither reads nor answers: once the socket buffers are full the
    # send blocks (holding the send lock), and only the keepalive can end it.
    chunk = b"\x00" * 65536

    async def main() -> None:
        with silent_server(handshake=True) as silent:
            # The first ping comes once the send is blocked already.
            options: dict[str, Any] = {
                "compression": False,
                "ping_interval": 0.5,
                "ping_timeout": 0.3,
            }
            async with connect(f"ws://127.0.0.1:{silent.port}/", **options) as ws:
                with pytest.raises(ConnectionClosedError) as info, trio.fail_after(10):
                    while True:
                        await ws.send(chunk)
                assert info.value.code == 1011
            assert ws.close_code == 1011

    run(main)


def test_keepalive_keeps_a_live_connection() -> None:
    options: dict[str, Any] = {**FAST, "ping_interval": 0.05, "ping_timeout": 0.5}

    async def body(server: Server) -> None:
        async with connect(uri(server), **options) as ws:
            await trio.sleep(0.4)
            await ws.send("alive")
            assert await ws.recv() == "alive"
            assert ws.latency > 0

    run_with_server(echo, body, **options)


# -- the server -------------------------------------------------------------------------


def test_handler_exception_closes_1011_and_server_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(ws: WebSocket) -> None:
        if await ws.recv() == "boom":
            raise ValueError("boom")
        await ws.send("ok")

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST) as ws:
            await ws.send("boom")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1011
        async with connect(uri(server), **FAST) as ws:
            await ws.send("fine")
            assert await ws.recv() == "ok"

    with caplog.at_level(logging.ERROR, "wsproto_lite.trio.server"):
        run_with_server(handler, body)
    assert "connection handler failed" in caplog.text


def test_process_request_rejects_and_serves_a_page() -> None:
    async def process_request(request: Handshake | HTTPRequest) -> Accept | Reject | None:
        await trio.sleep(0)  # an async hook is awaited
        if isinstance(request, HTTPRequest):
            if request.target == "/health":
                return Reject(200, [("Content-Type", "text/plain")], b"OK\n")
            return None  # 426
        if dict(request.headers).get("authorization") != "Bearer good":
            return Reject(403, [("X-Why", "token")], b"forbidden\n")
        return None

    async def body(server: Server) -> None:
        with pytest.raises(InvalidHandshake) as info:
            async with connect(uri(server), extra_headers={"Authorization": "Bearer bad"}):
                pass  # pragma: no cover
        assert info.value.status == 403
        assert ("x-why", "token") in info.value.headers
        assert info.value.body == b"forbidden\n"
        headers = [("Authorization", "Bearer good")]
        async with connect(uri(server), extra_headers=headers, **FAST) as ws:
            await ws.send("in")
            assert await ws.recv() == "in"
        status, _, page = await trio.to_thread.run_sync(http_get, server.port, "/health")
        assert (status, page) == (200, b"OK\n")

    run_with_server(echo, body, process_request=process_request)


def test_plain_get_gets_426() -> None:
    async def body(server: Server) -> None:
        status, headers, page = await trio.to_thread.run_sync(http_get, server.port, "/")
        assert status == 426
        assert headers["Upgrade"] == "websocket"
        assert b"WebSocket" in page

    run_with_server(echo, body)


def test_process_request_errors_give_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Handshake | HTTPRequest) -> Accept | Reject | None:
        raise RuntimeError("oops")

    async def body(server: Server) -> None:
        with pytest.raises(InvalidHandshake) as info:
            async with connect(uri(server), **FAST):
                pass  # pragma: no cover
        assert info.value.status == 500

    with caplog.at_level(logging.ERROR):
        run_with_server(echo, body, process_request=broken)
    assert "process_request failed" in caplog.text


def test_graceful_shutdown_closes_with_1001() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()

            async def run_server(task_status: Any) -> None:
                with scope:
                    await serve(echo, "127.0.0.1", 0, **FAST, task_status=task_status)

            server = await nursery.start(run_server)
            async with connect(uri(server), **FAST) as ws:
                await ws.send("before")
                assert await ws.recv() == "before"
                start = time.monotonic()
                scope.cancel()
                with pytest.raises(ConnectionClosedOK) as info:
                    await ws.recv()
                assert (info.value.code, info.value.reason) == (1001, "going away")
            assert time.monotonic() - start < 1.5
            with pytest.raises(OSError):
                async with connect(uri(server), **FAST):
                    pass  # pragma: no cover

    run(main)


def test_shutdown_waits_for_handlers_then_cancels_them() -> None:
    stopped = []

    async def stubborn(ws: WebSocket) -> None:
        try:
            await trio.sleep_forever()  # ignores the closing connection
        except trio.Cancelled:
            stopped.append(time.monotonic())
            raise

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()

            async def run_server(task_status: Any) -> None:
                with scope:
                    options = {**FAST, "close_timeout": 0.3}
                    await serve(stubborn, "127.0.0.1", 0, **options, task_status=task_status)

            server = await nursery.start(run_server)
            async with connect(uri(server), **FAST) as ws:
                start = time.monotonic()
                scope.cancel()
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
        assert 0.25 < stopped[0] - start < 2

    run(main)


def test_shutdown_right_after_the_handshake_still_sends_1001() -> None:
    # Regression: a connection accepted just before shutdown (its 101 sent,
    # its handler not started) was dropped like a handshake in progress.
    async def run_server(scope: Any, task_status: Any) -> None:
        with scope:
            await serve(echo, "127.0.0.1", 0, **FAST, task_status=task_status)

    async def main() -> None:
        for _ in range(5):
            async with trio.open_nursery() as nursery:
                scope = trio.CancelScope()
                server = await nursery.start(run_server, scope)
                async with connect(uri(server), **FAST) as ws:
                    scope.cancel()
                    with pytest.raises(ConnectionClosedOK) as info:
                        await ws.recv()
                    assert info.value.code == 1001

    run(main)


def test_shutdown_drops_handshakes_in_progress() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(serve, echo, "127.0.0.1", 0, **FAST))
            sock = await trio.to_thread.run_sync(
                socket.create_connection, ("127.0.0.1", server.port)
            )
            with sock:
                await trio.sleep(0.1)  # accepted, waiting for the request
                nursery.cancel_scope.cancel()
                with trio.CancelScope(shield=True):
                    took = await trio.to_thread.run_sync(read_until_eof, sock, 5)
                assert took < 1

    run(main)


def test_slow_reader_keeps_memory_bounded() -> None:
    chunk = b"\x00" * 65536
    total = 400  # 25 MiB: far more than the socket buffers hold
    sent = [0]
    finished = trio.Event()

    async def handler(ws: WebSocket) -> None:
        for _ in range(total):
            await ws.send(chunk)
            sent[0] += 1
        finished.set()
        await ws.recv()

    options: dict[str, Any] = {"compression": False, "max_queue": 4}

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST, **options) as ws:
            await trio.sleep(0.5)
            # The sender is blocked: the reader stopped reading once max_queue × 64 KiB waited.
            assert not finished.is_set()
            assert sent[0] < total
            # One message waits for the application; at most max_queue × 64 KiB
            # (plus one read) wait behind it, unparsed.
            assert len(ws._session.queue) <= 1 and ws._session.reading_paused
            assert ws._session._unparsed <= 5 * 65536
            for _ in range(total):
                assert await ws.recv() == chunk
            await finished.wait()
            await ws.send("done")

    run_with_server(handler, body, **options)


def test_both_sides_flooding_each_other_do_not_deadlock() -> None:
    # Both applications write faster than the peer reads, with pings flying:
    # a reader that waited behind its own side's blocked send_all() to write a
    # pong would stop reading, and the two peers would block each other.
    chunk = b"\x01" * (256 << 10)
    count = 40  # 10 MiB each way: more than the socket buffers hold

    async def flood(ws: WebSocket) -> None:
        got: list[bytes | str] = []

        async def reader() -> None:
            for _ in range(count):
                got.append(await ws.recv())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            for _ in range(count):
                await ws.send(chunk)
                await ws.ping()
        assert len(got) == count

    options: dict[str, Any] = {"compression": False, "max_queue": 2}

    async def body(server: Server) -> None:
        async with connect(uri(server), **FAST, **options) as ws:
            await flood(ws)

    run_with_server(flood, body, **options)


def test_paused_reader_is_not_blamed_by_keepalive() -> None:
    # While the queue is full nothing is read, pongs included: the keepalive
    # of the paused side must not call that a dead peer.
    chunk = b"\x00" * 65536
    total = 200

    async def handler(ws: WebSocket) -> None:
        for _ in range(total):
            await ws.send(chunk)
        await ws.recv()

    client_options: dict[str, Any] = {
        **FAST,
        "compression": False,
        "max_queue": 2,
        "ping_interval": 0.05,
        "ping_timeout": 0.1,
    }

    async def body(server: Server) -> None:
        async with connect(uri(server), **client_options) as ws:
            await trio.sleep(0.5)
            for _ in range(total):
                assert await ws.recv() == chunk
            await ws.send("done")
        assert ws.close_code == 1000

    run_with_server(handler, body, compression=False)


def test_tls(tls_files: tuple[Path, Path]) -> None:
    server_ctx, client_ctx = tls_contexts(tls_files)

    async def body(server: Server) -> None:
        wss = f"wss://127.0.0.1:{server.port}/"
        async with connect(wss, ssl=client_ctx, **FAST) as ws:
            await ws.send("secret")
            assert await ws.recv() == "secret"
            await ws.send(b"x" * 200_000)
            assert await ws.recv() == b"x" * 200_000
        # A client that does not trust the certificate fails the TLS handshake.
        with pytest.raises(trio.BrokenResourceError):
            async with connect(wss, **FAST):
                pass  # pragma: no cover

    run_with_server(echo, body, ssl=server_ctx)


# -- client arguments -------------------------------------------------------------------


def test_bad_uris() -> None:
    async def main() -> None:
        with pytest.raises(InvalidURI):
            async with connect("http://example.com/"):
                pass  # pragma: no cover
        with pytest.raises(ValueError, match="ssl"):
            async with connect("ws://127.0.0.1:1/", ssl=ssl.create_default_context()):
                pass  # pragma: no cover

    run(main)


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        with pytest.raises(OSError):
            async with connect(f"ws://127.0.0.1:{port}/", **FAST):
                pass  # pragma: no cover

    run(main)


def test_request_details_reach_the_handler() -> None:
    async def handler(ws: WebSocket) -> None:
        assert ws.request is not None
        headers = dict(ws.request.headers)
        await ws.send(f"{ws.request.target} {ws.request.origin} {headers['x-custom']}")

    async def body(server: Server) -> None:
        async with connect(
            uri(server, "/room?id=7"), origin="https://example.com", extra_headers={"X-Custom": "1"}
        ) as ws:
            assert await ws.recv() == "/room?id=7 https://example.com 1"

    run_with_server(handler, body)


# -- a peer that does not read ----------------------------------------------------------

LIMIT_OPTIONS: dict[str, Any] = {"ping_interval": None, "compression": False}


@asynccontextmanager
async def flooding(port: int) -> AsyncIterator[Flooder]:
    """A raw peer that floods pings and never reads (its handshake in a thread)."""
    flooder = await trio.to_thread.run_sync(Flooder, port)
    flooder.start()
    try:
        yield flooder
    finally:
        await trio.to_thread.run_sync(flooder.stop)


async def held_samples(ws: WebSocket, seconds: float) -> list[int]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(ws._session.held_bytes)
        await trio.sleep(0.05)
    return samples


def test_a_ping_flood_from_a_peer_that_never_reads_holds_at_most_write_limit() -> None:
    """Each ping is owed a pong; a peer that sends them and reads none must not
    make the server hold more than write_limit (one pong is kept, the latest)."""

    async def idle(ws: WebSocket) -> None:
        await ws.wait_closed()

    async def body(server: Server) -> None:
        async with flooding(server.port) as flooder:
            await trio.sleep(0.2)
            (ws,) = server.connections
            samples = await held_samples(ws, 2.0)
            # Without the bound, the pongs of these pings would all be held.
            assert flooder.sent > 2 << 20, flooder.sent
            assert max(samples) <= (1 << 16) + SLACK, samples
            ws._abort()

    run_with_server(idle, body, **LIMIT_OPTIONS, close_timeout=60, write_limit=1 << 16)


def test_sending_100_mb_while_the_peer_floods_pings_and_never_reads() -> None:
    size = 100_000_000
    started = trio.Event()
    outcome: list[BaseException] = []

    async def send_big(ws: WebSocket) -> None:
        started.set()
        try:
            await ws.send(bytes(size))
        except ConnectionClosed as exc:
            outcome.append(exc)

    async def body(server: Server) -> None:
        async with flooding(server.port) as flooder:
            await started.wait()
            (ws,) = server.connections
            before = flooder.sent
            samples = await held_samples(ws, 2.0)
            assert flooder.sent - before > 2 << 20  # the server kept reading
            assert max(samples) <= size + 10 + (1 << 16) + SLACK, samples
            assert samples[-1] <= samples[len(samples) // 2] + SLACK  # no growth
            ws._abort()
            await ws.wait_closed()

    run_with_server(send_big, body, **LIMIT_OPTIONS, close_timeout=60)


def test_a_peer_that_reads_nothing_for_close_timeout_is_failed_with_1011() -> None:
    outcome: list[ConnectionClosed] = []
    done = trio.Event()

    async def receiver(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            outcome.append(exc)
        done.set()

    async def body(server: Server) -> None:
        async with flooding(server.port):
            start = time.monotonic()
            with trio.fail_after(10):
                await done.wait()
            took = time.monotonic() - start
        assert (outcome[0].code, outcome[0].reason) == (1011, "the peer does not read")
        assert 0.4 < took < 5

    run_with_server(receiver, body, **LIMIT_OPTIONS, close_timeout=0.5)


def test_server_close_and_wait_closed_shut_down_as_a_cancellation_does() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(serve, echo, "127.0.0.1", 0, **FAST))
            assert server.sockets and server.port == server.sockets[0].getsockname()[1]
            async with connect(uri(server), **FAST) as ws:
                await ws.send("before")
                assert await ws.recv() == "before"
                (served,) = server.connections
                assert served.response.subprotocol is None
                server.close(4000, "maintenance")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert (info.value.code, info.value.reason) == (4000, "maintenance")
            with trio.fail_after(5):
                await server.wait_closed()
            assert not server.connections

    run(main)
