"""The blocking and trio adapters against an independent peer: the ``websockets`` package.

``websockets`` is the client of our servers and the server for our clients,
with compression off, on, and with context takeover disabled by the peer; the
payloads cover every frame-length encoding, text and binary, compressible and
not. Its own blocking API (``websockets.sync``) is used, in threads, for both
adapters, since trio cannot host asyncio code on the same thread.

A missing ``websockets`` skips the test, except with ``CI=true`` where it fails
it (the ``require_peer`` fixture of ``conftest.py``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from wsproto_lite.adapters import sync as ws_sync

pytestmark = pytest.mark.interop

HOST = "127.0.0.1"
LIMIT = 1 << 21  # every payload below fits, on both sides
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20]
MODES = ["off", "deflate", "no_takeover_peer"]
Require = Callable[[str | None], None]


def payloads() -> list[str | bytes]:
    """Text and binary of many sizes, compressible and not, ASCII and not."""
    rng = random.Random(7692)
    result: list[str | bytes] = []
    for n in SIZES:
        result.append(("The quick brown fox. " * (n // 21 + 1))[:n])
        result.append(rng.randbytes(n))
        result.append((bytes(range(256)) * (n // 256 + 1))[:n])
    result.append("é€😀 – ünïcödé " * 3000)
    return result


def websockets_missing() -> str | None:
    try:
        import websockets.sync.client  # the blocking API of websockets >= 12
        import websockets.sync.server  # noqa: F401
    except ImportError:
        return "the websockets package (>= 13) is not installed"
    return None


def trio_missing() -> str | None:
    try:
        import trio  # noqa: F401
    except ImportError:
        return "trio is not installed"
    return None


def our_options(mode: str) -> dict[str, Any]:
    return {"compression": mode != "off", "max_message_size": LIMIT}


def peer_options(mode: str, client: bool) -> dict[str, Any]:
    """Options for websockets' connect() or serve()."""
    from websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )

    options: dict[str, Any] = {"max_size": LIMIT}
    if client:
        options["proxy"] = None  # never route the test through an environment proxy
    if mode == "off":
        options["compression"] = None
    elif mode == "no_takeover_peer":
        factory = ClientPerMessageDeflateFactory if client else ServerPerMessageDeflateFactory
        ext = factory(server_no_context_takeover=True, client_no_context_takeover=True)
        options.update(compression=None, extensions=[ext])
    else:
        options["compression"] = "deflate"
    return options


def check_negotiated(mode: str, extensions: tuple[str, ...]) -> None:
    if mode == "off":
        assert extensions == ()
        return
    assert len(extensions) == 1 and extensions[0].startswith("permessage-deflate")
    if mode == "no_takeover_peer":
        assert "server_no_context_takeover" in extensions[0]
        assert "client_no_context_takeover" in extensions[0]


@contextmanager
def websockets_echo_server(mode: str, handler: Any = None) -> Iterator[int]:
    """A websockets (sync) echo server in a thread; yields its port."""
    from websockets.sync.server import ServerConnection
    from websockets.sync.server import serve as peer_serve

    def echo(conn: ServerConnection) -> None:
        for message in conn:
            conn.send(message)

    server = peer_serve(handler or echo, HOST, 0, **peer_options(mode, client=False))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.shutdown()
        thread.join(10)


def websockets_client_round_trips(port: int, mode: str) -> None:
    """Connect with websockets' sync client and echo every payload, twice."""
    from websockets.sync.client import connect as peer_connect

    with peer_connect(f"ws://{HOST}:{port}/", **peer_options(mode, client=True)) as client:
        for _ in range(2):  # twice: the second round uses the context, if kept
            for payload in payloads():
                client.send(payload)
                assert client.recv(timeout=10) == payload
        assert client.ping(b"interop").wait(10)
    assert client.close_code == 1000


# -- the blocking adapter -------------------------------------------------------------------


def sync_echo(ws: ws_sync.WebSocket) -> None:
    for message in ws:
        ws.send(message)


@contextmanager
def our_sync_server(handler: Any, **options: Any) -> Iterator[ws_sync.Server]:
    server = ws_sync.serve(handler, HOST, 0, close_timeout=5, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)


@pytest.mark.parametrize("mode", MODES)
def test_websockets_client_against_our_sync_server(mode: str, require_peer: Require) -> None:
    require_peer(websockets_missing())
    negotiated: list[tuple[str, ...]] = []

    def handler(ws: ws_sync.WebSocket) -> None:
        negotiated.append(ws.extensions)
        sync_echo(ws)

    with our_sync_server(handler, **our_options(mode)) as server:
        websockets_client_round_trips(server.port, mode)
    check_negotiated(mode, negotiated[0])


@pytest.mark.parametrize("mode", MODES)
def test_our_sync_client_against_websockets_server(mode: str, require_peer: Require) -> None:
    require_peer(websockets_missing())
    with websockets_echo_server(mode) as port:
        with ws_sync.connect(f"ws://{HOST}:{port}/", **our_options(mode)) as ws:
            check_negotiated(mode, ws.extensions)
            for _ in range(2):
                for payload in payloads():
                    ws.send(payload)
                    assert ws.recv(timeout=10) == payload
            assert ws.ping().wait(10)
            ws.send_fragments([b"x" * 70000, b"y", b"z" * 3])
            assert ws.recv(timeout=10) == b"x" * 70000 + b"yzzz"
        assert ws.close_code == 1000


def test_sync_fragments_and_close_codes(require_peer: Require) -> None:
    require_peer(websockets_missing())
    from websockets.exceptions import ConnectionClosed as PeerClosed
    from websockets.sync.client import connect as peer_connect
    from websockets.sync.server import ServerConnection

    seen: list[tuple[int, str]] = []

    def handler(ws: ws_sync.WebSocket) -> None:
        # A fragmented message from websockets, received in parts and whole.
        parts = list(ws.recv_streaming())
        assert "".join(map(str, parts)) == "abcdef"
        assert ws.recv() == b"\x01\x02\x03"
        ws.send_fragments(["a" * 70000, "b"])
        try:
            ws.recv()
        except ws_sync.ConnectionClosedError as exc:
            seen.append((exc.code, exc.reason))

    with our_sync_server(handler) as server:
        with peer_connect(f"ws://{HOST}:{server.port}/", proxy=None) as client:
            client.send(["ab", "cd", "ef"])
            client.send([b"\x01", b"\x02\x03"])
            assert client.recv(timeout=10) == "a" * 70000 + "b"
            client.close(4001, "from the websockets client")
        # Our server's 1001 on shutdown reaches a websockets client.
        with peer_connect(f"ws://{HOST}:{server.port}/", proxy=None) as client:
            server.shutdown()
            with pytest.raises(PeerClosed) as closed:
                client.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert seen == [(4001, "from the websockets client")]

    def closing(conn: ServerConnection) -> None:
        conn.close(4002, "from websockets")

    with (
        websockets_echo_server("off", closing) as port,
        ws_sync.connect(f"ws://{HOST}:{port}/") as ws,
        pytest.raises(ws_sync.ConnectionClosedError) as info,
    ):
        ws.recv(timeout=10)
    assert (info.value.code, info.value.reason) == (4002, "from websockets")


# -- the trio adapter -----------------------------------------------------------------------


def run_trio(fn: Callable[[], Any]) -> None:
    import trio

    async def main() -> None:
        with trio.fail_after(60):
            await fn()

    trio.run(main)


@pytest.mark.parametrize("mode", MODES)
def test_websockets_client_against_our_trio_server(mode: str, require_peer: Require) -> None:
    require_peer(websockets_missing())
    require_peer(trio_missing())
    import trio

    from wsproto_lite.adapters import trio as ws_trio

    negotiated: list[tuple[str, ...]] = []

    async def handler(ws: ws_trio.WebSocket) -> None:
        negotiated.append(ws.extensions)
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(ws_trio.serve, handler, HOST, 0, **our_options(mode))
            )
            await trio.to_thread.run_sync(websockets_client_round_trips, server.port, mode)
            nursery.cancel_scope.cancel()

    run_trio(main)
    check_negotiated(mode, negotiated[0])


@pytest.mark.parametrize("mode", MODES)
def test_our_trio_client_against_websockets_server(mode: str, require_peer: Require) -> None:
    require_peer(websockets_missing())
    require_peer(trio_missing())
    from wsproto_lite.adapters import trio as ws_trio

    async def main() -> None:
        with websockets_echo_server(mode) as port:
            url = f"ws://{HOST}:{port}/"
            async with ws_trio.connect(url, **our_options(mode)) as ws:
                check_negotiated(mode, ws.extensions)
                for _ in range(2):
                    for payload in payloads():
                        await ws.send(payload)
                        assert await ws.recv() == payload
                assert await (await ws.ping()) >= 0
                await ws.send_fragments([b"x" * 70000, b"y", b"z" * 3])
                assert await ws.recv() == b"x" * 70000 + b"yzzz"
            assert ws.close_code == 1000

    run_trio(main)


def test_trio_fragments_and_close_codes(require_peer: Require) -> None:
    require_peer(websockets_missing())
    require_peer(trio_missing())
    import trio
    from websockets.exceptions import ConnectionClosed as PeerClosed
    from websockets.sync.client import connect as peer_connect
    from websockets.sync.server import ServerConnection

    from wsproto_lite.adapters import trio as ws_trio

    seen: list[tuple[int, str]] = []

    async def handler(ws: ws_trio.WebSocket) -> None:
        parts = [part async for part in ws.recv_streaming()]
        assert "".join(map(str, parts)) == "abcdef"
        assert await ws.recv() == b"\x01\x02\x03"
        await ws.send_fragments(["a" * 70000, "b"])
        try:
            await ws.recv()
        except ws_trio.ConnectionClosedError as exc:
            seen.append((exc.code, exc.reason))

    def peer_client(port: int) -> None:
        with peer_connect(f"ws://{HOST}:{port}/", proxy=None) as client:
            client.send(["ab", "cd", "ef"])
            client.send([b"\x01", b"\x02\x03"])
            assert client.recv(timeout=10) == "a" * 70000 + "b"
            client.close(4001, "from the websockets client")

    def peer_waits_for_shutdown(port: int, connected: threading.Event) -> int | None:
        with peer_connect(f"ws://{HOST}:{port}/", proxy=None) as client:
            connected.set()
            with pytest.raises(PeerClosed) as closed:
                client.recv(timeout=10)
            return None if closed.value.rcvd is None else closed.value.rcvd.code

    def closing(conn: ServerConnection) -> None:
        conn.close(4002, "from websockets")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(ws_trio.serve, handler, HOST, 0))
            await trio.to_thread.run_sync(peer_client, server.port)
            nursery.cancel_scope.cancel()
        scope = trio.CancelScope()
        codes: list[int | None] = []

        async def run_server(task_status: Any) -> None:
            with scope:
                await ws_trio.serve(handler, HOST, 0, task_status=task_status)

        async def client(port: int, connected: threading.Event) -> None:
            codes.append(await trio.to_thread.run_sync(peer_waits_for_shutdown, port, connected))

        async with trio.open_nursery() as nursery:
            server = await nursery.start(run_server)
            connected = threading.Event()
            nursery.start_soon(client, server.port, connected)
            await trio.to_thread.run_sync(connected.wait, 10)
            scope.cancel()  # our server's 1001 on shutdown reaches a websockets client
        assert codes == [1001]
        with websockets_echo_server("off", closing) as port:
            async with ws_trio.connect(f"ws://{HOST}:{port}/") as ws:
                with pytest.raises(ws_trio.ConnectionClosedError) as info:
                    await ws.recv()
                assert (info.value.code, info.value.reason) == (4002, "from websockets")

    run_trio(main)
    assert seen == [(4001, "from the websockets client")]
