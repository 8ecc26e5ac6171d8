"""The strict-order cases of ``test_asyncio_adapter.py`` through the sync and trio adapters.

The testee is each adapter's ``serve`` running the echo handler, over
loopback. The fuzzer is a blocking socket: it speaks the handshake by hand,
writes a valid message and what ends the connection in one ``sendall`` (one
TCP segment), and reads the reply up to EOF. The echo must come before the
close frame (Autobahn 7.1.1 accepts nothing else), however quickly the
adapter's reader sees the rest of the segment.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ._harness import SAMPLE_KEY, Frame, Out, check_101, parse_frames, upgrade_request
from .test_asyncio_adapter import STRICT, close_out, expect

HOST = "127.0.0.1"
OPTIONS: dict[str, Any] = {"ping_interval": None, "close_timeout": 2.0}


@contextlib.contextmanager
def sync_server() -> Iterator[int]:
    from wsproto_lite.adapters.sync import WebSocket, serve

    def echo(ws: WebSocket) -> None:
        for message in ws:
            ws.send(message)

    server = serve(echo, HOST, 0, **OPTIONS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        thread.join(5)


@contextlib.contextmanager
def trio_server() -> Iterator[int]:
    trio = pytest.importorskip("trio")
    from wsproto_lite.adapters.trio import WebSocket, serve

    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    ports: list[int] = []
    ready, stop = threading.Event(), threading.Event()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(functools.partial(serve, echo, HOST, 0, **OPTIONS))
            ports.append(server.port)
            ready.set()
            await trio.to_thread.run_sync(stop.wait, abandon_on_cancel=True)
            nursery.cancel_scope.cancel()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    try:
        assert ready.wait(5), "the trio server did not start"
        yield ports[0]
    finally:
        stop.set()
        thread.join(5)


SERVERS = {"sync": sync_server, "trio": trio_server}


def exchange(port: int, data: bytes) -> list[Frame]:
    """Open a WebSocket by hand, write *data* at once, return the frames up to EOF."""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(upgrade_request())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            assert chunk, "the server closed during the handshake"
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        check_101(head + b"\r\n\r\n", SAMPLE_KEY)
        sock.sendall(data)
        chunks = [rest]
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return parse_frames(b"".join(chunks), masked=False)


@pytest.mark.parametrize("adapter", list(SERVERS))
@pytest.mark.parametrize("case_id", list(STRICT))
def test_adapter_strict_order_in_one_segment(adapter: str, case_id: str) -> None:
    """The message before the closing frame is echoed before the close frame."""
    frames, outcome = STRICT[case_id]
    *echoes, code = outcome
    assert isinstance(code, int)
    with SERVERS[adapter]() as port:
        for _ in range(3):  # the reader races the handler: give it a few chances
            got = exchange(port, b"".join(frames))
            expect(got, *[e for e in echoes if isinstance(e, Out)], close_out(code))
