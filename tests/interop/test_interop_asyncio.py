"""The asyncio adapter against independent peers.

* the ``websockets`` package, as client of our server and as server for our
  client, with compression off, on, and in both context-takeover modes;
* Node's ``ws`` package, both ways (``tests/interop/nodepeer.py``);
* headless Chromium's ``WebSocket`` against our echo server.

A missing peer skips the test, except with ``CI=true`` where it fails it
(the ``require_peer`` fixture of ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import nodepeer
import pytest

from wsproto_lite.adapters.asyncio import (
    ConnectionClosedError,
    WebSocket,
    connect,
    serve,
)
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

pytestmark = pytest.mark.interop

T = TypeVar("T")
HOST = "127.0.0.1"
LIMIT = 1 << 21  # every payload below fits, on both sides
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20]
Require = Callable[[str | None], None]


def run(coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
    """Run *coro* in a fresh event loop; fail (not hang) after *timeout* seconds."""

    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


def payloads() -> list[str | bytes]:
    """Text and binary of many sizes, compressible and not, ASCII and not."""
    rng = random.Random(6455)
    result: list[str | bytes] = []
    for n in SIZES:
        result.append(("The quick brown fox. " * (n // 21 + 1))[:n])
        result.append(rng.randbytes(n))
        result.append((bytes(range(256)) * (n // 256 + 1))[:n])
    result.append("é€😀 – ünïcödé " * 3000)
    return result


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


def websockets_missing() -> str | None:
    try:
        import websockets.asyncio.client  # noqa: F401  (the API of websockets >= 13)
    except ImportError:
        return "the websockets package (>= 13) is not installed"
    return None


# Compression modes: which side asks for what.
MODES = ["off", "default", "no_takeover_ours", "no_takeover_peer", "small_window_ours"]


def our_options(mode: str) -> dict[str, Any]:
    if mode == "off":
        return {"compression": False}
    if mode == "no_takeover_ours":
        ext = PerMessageDeflate(server_no_context_takeover=True, client_no_context_takeover=True)
        return {"compression": False, "extensions": [ext]}
    if mode == "small_window_ours":
        ext = PerMessageDeflate(server_max_window_bits=10, client_max_window_bits=10)
        return {"compression": False, "extensions": [ext]}
    return {"compression": True}


def peer_options(mode: str, client: bool) -> dict[str, Any]:
    from websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )

    if mode == "off":
        return {"compression": None}
    if mode == "no_takeover_peer":
        factory = ClientPerMessageDeflateFactory if client else ServerPerMessageDeflateFactory
        ext = factory(server_no_context_takeover=True, client_no_context_takeover=True)
        return {"compression": None, "extensions": [ext]}
    return {"compression": "deflate"}


def check_negotiated(mode: str, extensions: tuple[str, ...]) -> None:
    if mode == "off":
        assert extensions == ()
        return
    assert len(extensions) == 1 and extensions[0].startswith("permessage-deflate")
    if mode.startswith("no_takeover"):
        assert "server_no_context_takeover" in extensions[0]
        assert "client_no_context_takeover" in extensions[0]
    if mode == "small_window_ours":
        assert "server_max_window_bits=10" in extensions[0]


# -- the websockets package -----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_websockets_client_against_our_server(mode: str, require_peer: Require) -> None:
    require_peer(websockets_missing())
    from websockets.asyncio.client import connect as ws_connect

    negotiated: list[tuple[str, ...]] = []

    async def handler(ws: WebSocket) -> None:
        negotiated.append(ws.extensions)
        await echo(ws)

    async def main() -> None:
        async with serve(handler, HOST, 0, max_message_size=LIMIT, **our_options(mode)) as server:
            url = f"ws://{HOST}:{server.port}/"
            opts = peer_options(mode, client=True)
            async with ws_connect(url, max_size=LIMIT, **opts) as client:
                for _ in range(2):  # twice: the second round uses the context, if kept
                    for payload in payloads():
                        await client.send(payload)
                        assert await client.recv() == payload
                latency = await (await client.ping(b"interop"))
                assert latency >= 0

    run(main())
    check_negotiated(mode, negotiated[0])


@pytest.mark.parametrize("mode", MODES)
def test_our_client_against_websockets_server(mode: str, require_peer: Require) -> None:
    require_peer(websockets_missing())
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve

    async def ws_echo(conn: ServerConnection) -> None:
        async for message in conn:
            await conn.send(message)

    async def main() -> None:
        opts = peer_options(mode, client=False)
        async with ws_serve(ws_echo, HOST, 0, max_size=LIMIT, **opts) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"ws://{HOST}:{port}/"
            async with connect(url, max_message_size=LIMIT, **our_options(mode)) as ws:
                check_negotiated(mode, ws.extensions)
                for _ in range(2):
                    for payload in payloads():
                        await ws.send(payload)
                        assert await ws.recv() == payload
                assert await (await ws.ping()) >= 0
            assert ws.close_code == 1000

    run(main())


def test_websockets_fragments_and_close_codes(require_peer: Require) -> None:
    require_peer(websockets_missing())
    from websockets.asyncio.client import connect as ws_connect
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed as WsClosed

    seen: list[tuple[int | None, str]] = []

    async def handler(ws: WebSocket) -> None:
        # A fragmented message from websockets, received in parts and whole.
        parts = [part async for part in ws.recv_streaming()]
        assert "".join(parts) == "abcdef"  # type: ignore[arg-type]
        assert await ws.recv() == b"\x01\x02\x03"
        await ws.send_fragments([b"x" * 70000, b"y", b"z" * 3])
        try:
            await ws.recv()
        except ConnectionClosedError as exc:
            seen.append((exc.code, exc.reason))

    async def closing(conn: ServerConnection) -> None:
        await conn.close(4002, "from websockets")

    async def main() -> None:
        async with serve(handler, HOST, 0) as server:
            async with ws_connect(f"ws://{HOST}:{server.port}/") as client:
                await client.send(["ab", "cd", "ef"])
                await client.send([b"\x01", b"\x02\x03"])
                assert await client.recv() == b"x" * 70000 + b"yzzz"
                await client.close(4001, "from the websockets client")
            assert client.close_code == 4001
        async with ws_serve(closing, HOST, 0) as ws_server:
            port = ws_server.sockets[0].getsockname()[1]
            async with connect(f"ws://{HOST}:{port}/") as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert (info.value.code, info.value.reason) == (4002, "from websockets")
        async with ws_serve(closing, HOST, 0) as ws_server:
            port = ws_server.sockets[0].getsockname()[1]
            ws = await connect(f"ws://{HOST}:{port}/")
            await ws.close(1000, "bye")
            assert ws.close_code in (1000, 4002)  # whichever close frame crossed first
        # Our server's 1001 on shutdown reaches a websockets client.
        server = await serve(echo, HOST, 0)
        client = await ws_connect(f"ws://{HOST}:{server.port}/")
        server.close()
        await server.wait_closed()
        with pytest.raises(WsClosed) as closed:
            await client.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001

    run(main())
    assert seen == [(4001, "from the websockets client")]


# -- Node's ws --------------------------------------------------------------------------

NODE_VARIANTS: dict[str, tuple[bool, dict[str, Any] | None]] = {
    "off": (False, None),
    "deflate": (True, None),
    "no_takeover": (True, {"serverNoContextTakeover": True, "clientNoContextTakeover": True}),
}


@pytest.mark.parametrize("variant", list(NODE_VARIANTS))
def test_node_ws_client_against_our_server(variant: str, require_peer: Require) -> None:
    require_peer(nodepeer.node_missing_reason())
    compression, deflate = NODE_VARIANTS[variant]

    async def main() -> dict[str, Any]:
        async with serve(echo, HOST, 0, max_message_size=LIMIT, compression=compression) as s:
            url = f"ws://{HOST}:{s.port}/node"
            return await asyncio.to_thread(
                nodepeer.run_ws_client, url, compression, SIZES, deflate=deflate
            )

    result = run(main(), timeout=180)
    assert result["messages"] == 2 * len(SIZES) + 2
    assert result["close_code"] == 1000
    if compression:
        assert result["extensions"].startswith("permessage-deflate")
        if deflate is not None:
            assert "server_no_context_takeover" in result["extensions"]
    else:
        assert not result["extensions"]


@pytest.mark.parametrize("variant", list(NODE_VARIANTS))
def test_our_client_against_node_ws_server(variant: str, require_peer: Require) -> None:
    require_peer(nodepeer.node_missing_reason())
    compression, deflate = NODE_VARIANTS[variant]

    async def main(port: int) -> None:
        url = f"ws://{HOST}:{port}/"
        async with connect(url, max_message_size=LIMIT, compression=compression) as ws:
            if compression:
                assert ws.extensions and ws.extensions[0].startswith("permessage-deflate")
                if deflate is not None:
                    assert "client_no_context_takeover" in ws.extensions[0]
            for _ in range(2):
                for payload in payloads():
                    await ws.send(payload)
                    assert await ws.recv() == payload
            await ws.send_fragments(["frag", "mented"])
            assert await ws.recv() == "fragmented"
            assert await (await ws.ping()) >= 0
        assert ws.close_code == 1000

    with nodepeer.start_ws_echo_server(compression, deflate=deflate) as port:
        run(main(port), timeout=180)


# -- Chromium ---------------------------------------------------------------------------


def test_chromium_against_our_server(require_peer: Require) -> None:
    require_peer(nodepeer.node_missing_reason(browser=True))
    sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20]
    origins: list[str | None] = []

    async def handler(ws: WebSocket) -> None:
        assert ws.request is not None
        origins.append(ws.request.origin)
        await echo(ws)

    async def main() -> dict[str, Any]:
        async with serve(handler, HOST, 0, max_message_size=LIMIT) as server:
            url = f"ws://{HOST}:{server.port}/browser"
            return await asyncio.to_thread(nodepeer.run_browser_client, url, sizes)

    result = run(main(), timeout=240)
    assert result["messages"] == 2 * len(sizes) + 2
    assert result["close_code"] == 1000
    assert result["was_clean"] is True
    assert result["extensions"].startswith("permessage-deflate")  # Chromium offers it
    assert len(origins) == 1
