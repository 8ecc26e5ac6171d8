"""broadcast() in the asyncio and trio adapters, at the byte level.

The peers are raw TCP clients that do the handshake by hand and read frames
byte for byte, so a test sees exactly what went on the wire: the shared frame
(RSV1 clear) on a permessage-deflate connection, a per-connection compressed
frame with ``compress=True``, nothing for skipped connections, and whole
messages for the others.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from wsproto_lite import (
    BinaryMessage,
    ConnectionState,
    LocalProtocolError,
    Ping,
    Role,
    TextMessage,
    accept_key,
)
from wsproto_lite.adapters import asyncio as aio
from wsproto_lite.adapters.asyncio import BroadcastResult, SkipReason

T = TypeVar("T")
HOST = "127.0.0.1"
DEFLATE = "permessage-deflate"
FAST: dict[str, Any] = {"open_timeout": 5.0, "close_timeout": 2.0, "ping_interval": None}


def text_frame(text: str) -> bytes:
    """A final, unmasked text frame (RFC 6455 §5.2), built independently."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 1 << 16:
        return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + n.to_bytes(8, "big") + payload


def request(key: str, extensions: str | None) -> bytes:
    ext = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    return (
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    ).encode()


def check_response(head: bytes, key: str, extensions: str | None) -> None:
    text = head.decode("latin-1")
    assert text.startswith("HTTP/1.1 101 ")
    assert f"\r\nsec-websocket-accept: {accept_key(key).lower()}\r\n" in text.lower()
    if extensions:
        assert "sec-websocket-extensions: permessage-deflate" in text.lower()
    else:
        assert "sec-websocket-extensions" not in text.lower()


def inflate(payload: bytes) -> bytes:
    """RFC 7692 §7.2.2: append 00 00 ff ff and inflate a raw DEFLATE stream."""
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


class Frames:
    """Reads a server's frames byte for byte with *read_exactly*."""

    def __init__(self, read_exactly: Callable[[int], Awaitable[bytes]]) -> None:
        self.read_exactly = read_exactly

    async def raw(self) -> bytes:
        """One whole frame, header included, exactly as it arrived."""
        head = await self.read_exactly(2)
        assert head[1] & 0x80 == 0, "a server's frames are not masked"
        n = head[1] & 0x7F
        if n == 126:
            ext = await self.read_exactly(2)
            n = int.from_bytes(ext, "big")
            head += ext
        elif n == 127:
            ext = await self.read_exactly(8)
            n = int.from_bytes(ext, "big")
            head += ext
        return head + await self.read_exactly(n)


# -- asyncio --------------------------------------------------------------------------------


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


class AsyncioRaw:
    """A raw client of an asyncio test: the handshake by hand, then frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.frames = Frames(reader.readexactly)

    @classmethod
    async def open(
        cls, port: int, extensions: str | None = None, rcvbuf: int | None = None
    ) -> AsyncioRaw:
        sock = socket.socket()
        if rcvbuf is not None:  # before connect(): the window is set at the handshake
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(request(key, extensions))
        check_response(await reader.readuntil(b"\r\n\r\n"), key, extensions)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.transport.abort()


class Hub:
    """An asyncio server whose handler parks every connection in ``self.ws``."""

    def __init__(self) -> None:
        self.ws: list[aio.WebSocket] = []
        self.arrived = asyncio.Event()

    async def handler(self, ws: aio.WebSocket) -> None:
        self.ws.append(ws)
        self.arrived.set()
        async for _ in ws:
            pass

    async def wait_for(self, n: int) -> list[aio.WebSocket]:
        while len(self.ws) < n:
            self.arrived.clear()
            await self.arrived.wait()
        return list(self.ws)


async def asyncio_hub(**options: Any) -> tuple[Hub, aio.Server]:
    hub = Hub()
    server = await aio.serve(hub.handler, HOST, 0, **{**FAST, **options})
    return hub, server


def test_asyncio_every_peer_receives_exactly_the_frame() -> None:
    async def main() -> None:
        hub, server = await asyncio_hub()
        async with server:
            peers = [await AsyncioRaw.open(server.port) for _ in range(3)]
            conns = await hub.wait_for(3)
            result = aio.broadcast(server.connections, "héllo")
            assert result == BroadcastResult(3, {})
            assert result.all_sent
            payload = bytes(range(256)) * 300  # 76,800 bytes: a 64-bit length
            result = aio.broadcast((ws for ws in conns), bytearray(payload))
            assert result.sent == 3
            for peer in peers:
                assert await peer.frames.raw() == b"\x81\x06h\xc3\xa9llo"
                assert await peer.frames.raw() == (
                    b"\x82\x7f" + len(payload).to_bytes(8, "big") + payload
                )
                peer.close()

    run(main())


def test_asyncio_deflate_peers_get_the_shared_frame_or_their_own_compressed_one() -> None:
    text = "broadcast " * 200

    async def main() -> None:
        hub, server = await asyncio_hub()
        async with server:
            plain = await AsyncioRaw.open(server.port)
            deflate = await AsyncioRaw.open(server.port, DEFLATE)
            await hub.wait_for(2)
            assert aio.broadcast(server.connections, text).sent == 2
            for peer in (plain, deflate):  # the same bytes: RSV1 clear (RFC 7692 §6)
                assert await peer.frames.raw() == text_frame(text)
            assert aio.broadcast(server.connections, text, compress=True).sent == 2
            assert await plain.frames.raw() == text_frame(text)
            frame = await deflate.frames.raw()
            assert frame[0] == 0xC1  # FIN, RSV1 (compressed), text
            assert len(frame) < 100
            assert inflate(frame[2:]) == text.encode()
            plain.close()
            deflate.close()

    run(main())


def test_asyncio_websockets_client_with_deflate_decodes_both_kinds() -> None:
    websockets_client = pytest.importorskip("websockets.asyncio.client")
    text = "compressible " * 300

    async def main() -> None:
        hub, server = await asyncio_hub()
        url = f"ws://{HOST}:{server.port}/"
        async with server, websockets_client.connect(url) as client:
            await hub.wait_for(1)
            assert hub.ws[0].extensions[0].startswith(DEFLATE)
            aio.broadcast(server.connections, text)
            aio.broadcast(server.connections, text, compress=True)
            aio.broadcast(server.connections, b"\x00\xff")
            assert await client.recv() == text
            assert await client.recv() == text
            assert await client.recv() == b"\x00\xff"

    run(main())


def test_asyncio_a_peer_that_does_not_read_is_skipped_not_waited_for() -> None:
    """A non-reading peer fills its buffers; from then on it is skipped (BUSY),
    the reading peer gets every message, and the server holds at most
    write_limit plus one message for the slow one."""
    payload = os.urandom(1 << 16)
    limit = 4096

    async def main() -> None:
        hub, server = await asyncio_hub(write_limit=limit)
        async with server:
            fast = await AsyncioRaw.open(server.port)
            slow = await AsyncioRaw.open(server.port, rcvbuf=4096)
            await hub.wait_for(2)
            slow_ws = next(ws for ws in hub.ws if ws.remote_address[1] == _port(slow))
            received = 0

            async def read_fast() -> None:
                nonlocal received
                while True:
                    frame = await fast.frames.raw()
                    assert frame[10:] == payload
                    received += 1

            reader = asyncio.create_task(read_fast())
            sent_to_slow = 0
            busy = 0
            fast_ws = next(ws for ws in hub.ws if ws is not slow_ws)
            for _ in range(400):  # 25 MiB at most
                # The reading peer keeps up, however loaded the machine: it is
                # never over the limit when the next message goes out.
                while fast_ws._write_paused:
                    await asyncio.sleep(0.001)
                result = aio.broadcast(server.connections, payload)
                assert slow_ws not in result.skipped or result.skipped == {slow_ws: SkipReason.BUSY}
                if slow_ws in result.skipped:
                    busy += 1
                    if busy == 3:
                        break
                else:
                    sent_to_slow += 1
                    assert result.sent == 2
                transport = slow_ws._transport
                assert transport is not None
                assert transport.get_write_buffer_size() <= limit + len(payload) + 10
                await asyncio.sleep(0.001)
            assert busy == 3, "the slow peer was never skipped"
            total = sent_to_slow + busy
            while received < total:
                await asyncio.sleep(0.01)
            reader.cancel()
            # The slow peer now reads: it gets whole messages, exactly those
            # sent to it, then is served again.
            for _ in range(sent_to_slow):
                assert (await slow.frames.raw())[10:] == payload
            assert aio.broadcast([slow_ws], "again") == BroadcastResult(1, {})
            assert await slow.frames.raw() == text_frame("again")
            fast.close()
            slow.close()

    run(main(), timeout=60)


def _port(peer: AsyncioRaw) -> int:
    return int(peer.writer.get_extra_info("sockname")[1])


def test_asyncio_connections_that_are_not_open_are_skipped() -> None:
    async def main() -> None:
        hub, server = await asyncio_hub()
        async with server:
            closed = await AsyncioRaw.open(server.port)
            closing = await AsyncioRaw.open(server.port)
            live = await AsyncioRaw.open(server.port)
            conns = await hub.wait_for(3)
            # A TCP connection whose handshake never comes: CONNECTING.
            _, idle_writer = await asyncio.open_connection(HOST, server.port)
            while len(server._tasks) < 4:  # (handshakes in progress are not connections)
                await asyncio.sleep(0.01)
            connecting = next(ws for ws in server._tasks if ws not in conns)
            assert connecting not in server.connections
            closed_ws, closing_ws, _ = conns
            closed.writer.write(b"\x88\x82abcd" + bytes([0x03 ^ 0x61, 0xE8 ^ 0x62]))
            await closed_ws.wait_closed()
            closing_task = asyncio.create_task(closing_ws.close())  # waits for the reply
            assert await closing.frames.raw() == b"\x88\x02\x03\xe8"
            assert closed_ws not in server.connections  # its handler has returned
            result = aio.broadcast([*conns, connecting], "x")
            assert result.sent == 1
            assert dict(result.skipped) == {
                closed_ws: SkipReason.NOT_OPEN,
                closing_ws: SkipReason.NOT_OPEN,
                connecting: SkipReason.NOT_OPEN,
            }
            assert await live.frames.raw() == text_frame("x")
            closing.writer.write(b"\x88\x80abcd")  # the close reply; nothing came before it
            await closing_task
            for peer in (closed, closing, live):
                peer.close()
            idle_writer.transport.abort()

    run(main())


def test_asyncio_a_fragmented_message_is_not_interrupted() -> None:
    async def main() -> None:
        hub, server = await asyncio_hub()
        async with server:
            peer = await AsyncioRaw.open(server.port)
            (ws,) = await hub.wait_for(1)
            go_on = asyncio.Event()

            async def parts() -> AsyncIterator[str]:
                yield "a"
                await go_on.wait()
                yield "b"

            sending = asyncio.create_task(ws.send_fragments(parts()))
            assert await peer.frames.raw() == b"\x01\x01a"
            assert aio.broadcast([ws], "news") == BroadcastResult(0, {ws: SkipReason.FRAGMENTING})
            go_on.set()
            await sending
            assert await peer.frames.raw() == b"\x00\x01b"
            assert await peer.frames.raw() == b"\x80\x00"
            assert aio.broadcast([ws], "news").sent == 1
            assert await peer.frames.raw() == text_frame("news")
            peer.close()

    run(main())


def test_asyncio_client_connections_mask_their_copy() -> None:
    async def echo(ws: aio.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with aio.serve(echo, HOST, 0, **FAST) as server:
            uri = f"ws://{HOST}:{server.port}/"
            clients = [await aio.connect(uri, **FAST) for _ in range(2)]
            assert aio.broadcast(clients, "up").sent == 2
            for client in clients:
                assert await client.recv() == "up"  # the server accepted a masked frame
                await client.close()

    run(main())


def test_asyncio_misuse_raises_and_sends_nothing() -> None:
    async def main() -> None:
        hub, server = await asyncio_hub()
        async with server:
            peer = await AsyncioRaw.open(server.port)
            (ws,) = await hub.wait_for(1)
            with pytest.raises(TypeError, match="takes asyncio WebSockets, not object"):
                aio.broadcast([ws, object()], "x")  # type: ignore[list-item]
            with pytest.raises(TypeError, match="str or bytes, not int"):
                aio.broadcast([ws], 42)  # type: ignore[arg-type]
            with pytest.raises(LocalProtocolError, match="lone surrogate"):
                aio.broadcast([ws], "\ud800")
            assert aio.broadcast([], "nobody") == BroadcastResult(0, {})
            aio.broadcast([ws], "only this")
            assert await peer.frames.raw() == text_frame("only this")
            peer.close()

    run(main())


# -- asyncio: the fast path, on recording transports ----------------------------------------
#
# broadcast() writes the shared frame straight to every transport that can take
# it at once, and leaves every other connection to the checks that say why.
# Each test below would fail if the fast path skipped one of its checks.


class Recorder(asyncio.Transport):
    """An asyncio transport stand-in that keeps every write. With *stalled*, the
    kernel takes nothing: writes stay buffered, and past the high-water mark the
    protocol is paused, as asyncio's own transports do."""

    def __init__(self, stalled: bool = False) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.stalled = stalled
        self.buffered = 0
        self.high = 1 << 16
        self.closing = False
        self.paused = False
        self.protocol: Any = None

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)

    def write(self, data: bytes) -> None:
        assert not self.closing, "a write after close() or abort()"
        self.writes.append(data)
        if self.stalled:
            self.buffered += len(data)
            if self.buffered > self.high and not self.paused:
                self.paused = True
                self.protocol.pause_writing()

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        assert high is not None
        self.high = high

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def recorded(n: int = 1, **options: Any) -> list[tuple[aio.WebSocket, Recorder]]:
    """*n* open server WebSockets, each on a :class:`Recorder` (handshake done,
    its response taken)."""
    from wsproto_lite.adapters._options import Settings
    from wsproto_lite.adapters._session import Session
    from wsproto_lite.adapters.asyncio import _Protocol

    settings = Settings.create("test.server", {**FAST, "compression": False, **options})
    out = []
    for _ in range(n):
        ws = aio.WebSocket(Session(Role.SERVER, settings))
        transport = Recorder()
        protocol = transport.protocol = _Protocol(ws)
        protocol.connection_made(transport)  # type: ignore[arg-type]
        key = base64.b64encode(os.urandom(16)).decode()
        ws._data_received(request(key, None))
        assert ws._session.answer(None)
        ws._process()
        check_response(transport.data, key, None)
        transport.writes.clear()
        assert ws.state is ConnectionState.OPEN
        out.append((ws, transport))
    return out


def test_asyncio_fast_path_writes_the_one_frame_object_to_each_transport() -> None:
    async def main() -> None:
        pairs = await recorded(3)
        result = aio.broadcast([ws for ws, _ in pairs], "héllo")
        assert result == BroadcastResult(3, {})
        writes = [t.writes for _, t in pairs]
        assert all(len(w) == 1 for w in writes)
        assert writes[0][0] == b"\x81\x06h\xc3\xa9llo"
        assert writes[1][0] is writes[0][0] and writes[2][0] is writes[0][0]

    run(main())


def test_asyncio_fast_path_never_overtakes_output_queued_in_the_session() -> None:
    async def main() -> None:
        ((ws, transport),) = await recorded()
        assert ws._session.send(TextMessage("first"))  # queued, not written yet
        assert transport.writes == []
        assert aio.broadcast([ws], "second") == BroadcastResult(1, {})
        assert transport.data == text_frame("first") + text_frame("second")

    run(main())


def test_asyncio_fast_path_never_overtakes_output_queued_in_the_core() -> None:
    async def main() -> None:
        ((ws, transport),) = await recorded()
        ws._conn.send(Ping(b"p"))  # queued in the core, not taken by the session
        assert aio.broadcast([ws], "after") == BroadcastResult(1, {})
        assert transport.data == b"\x89\x01p" + text_frame("after")
        assert not ws._conn.has_data_to_send

    run(main())


def test_asyncio_fast_path_never_overtakes_output_held_by_the_transport() -> None:
    """Bytes the kernel has not taken yet stay ahead of the frame, and a
    transport past write_limit pauses the protocol: from then on it is BUSY."""

    async def main() -> None:
        ((ws, transport),) = await recorded(write_limit=1000)
        transport.stalled = True
        big = "x" * 600
        assert aio.broadcast([ws], big).sent == 1
        assert transport.buffered == 604 and not ws._write_paused
        assert aio.broadcast([ws], big).sent == 1  # 1,208 bytes: over the limit, paused
        assert ws._write_paused
        assert ws._session.output_size == 1208
        assert aio.broadcast([ws], "x") == BroadcastResult(0, {ws: SkipReason.BUSY})
        assert transport.data == text_frame(big) * 2

    run(main())


@pytest.mark.parametrize("held", [1000, 1001])
def test_asyncio_fast_path_checks_what_the_transport_holds(held: int) -> None:
    """Over write_limit is BUSY even before the transport paused the protocol."""

    async def main() -> None:
        ((ws, transport),) = await recorded(write_limit=1000)
        ws._session.transport_holds(held, 0.0)
        assert not ws._write_paused
        result = aio.broadcast([ws], "x")
        if held > 1000:
            assert result == BroadcastResult(0, {ws: SkipReason.BUSY})
            assert transport.writes == []
        else:
            assert result == BroadcastResult(1, {})
            assert transport.data == text_frame("x")

    run(main())


@pytest.mark.parametrize("why", ["closing transport", "must abort", "transport closed", "closing"])
def test_asyncio_fast_path_skips_what_is_not_open(why: str) -> None:
    async def main() -> None:
        ((ws, transport),) = await recorded()
        if why == "closing transport":  # e.g. abort() called, connection_lost() not yet
            transport.closing = True
        elif why == "must abort":  # a clock expired; the transport is aborted next
            ws._session.must_abort = True
        elif why == "transport closed":
            ws._session.transport_closed()
        else:  # our close frame is sent: the core is CLOSING
            ws._session.start_close(1000, "")
            ws._flush()
            assert transport.data == b"\x88\x02\x03\xe8"
            transport.writes.clear()
        assert aio.broadcast([ws], "x") == BroadcastResult(0, {ws: SkipReason.NOT_OPEN})
        assert transport.writes == []

    run(main())


def test_asyncio_fast_path_skips_a_websocket_without_a_transport() -> None:
    from wsproto_lite.adapters._options import Settings
    from wsproto_lite.adapters._session import Session

    async def main() -> None:
        ws = aio.WebSocket(Session(Role.SERVER, Settings.create("test.server", FAST)))
        assert aio.broadcast([ws], "x") == BroadcastResult(0, {ws: SkipReason.NOT_OPEN})

    run(main())


@pytest.mark.parametrize("started", [False, True])
def test_asyncio_fast_path_skips_a_fragmented_message(started: bool) -> None:
    """Between the frames of a fragmented message the core refuses the frame
    (RFC 6455 §5.4); before its first frame, nothing can be interrupted yet."""

    async def main() -> None:
        ((ws, transport),) = await recorded()
        ws._session.sending_fragments = True  # send_fragments() waits for its first part
        if started:
            ws._session.send(TextMessage("a", final=False))
            ws._flush()
            assert transport.data == b"\x01\x01a"
            transport.writes.clear()
            assert aio.broadcast([ws], "x") == BroadcastResult(0, {ws: SkipReason.FRAGMENTING})
            assert transport.writes == []
        else:
            assert aio.broadcast([ws], "x") == BroadcastResult(1, {})
            assert transport.data == text_frame("x")

    run(main())


def test_asyncio_fast_path_and_the_others_in_one_broadcast() -> None:
    """Each connection gets what it can take, and the result names every one skipped."""

    async def main() -> None:
        pairs = await recorded(5, write_limit=100)
        (_, t1), (busy, tb), (closing, tc), (fragmenting, tf), (ok2, t2) = pairs
        busy._session.transport_holds(101, 0.0)
        tc.closing = True
        fragmenting._session.sending_fragments = True
        fragmenting._session.send(BinaryMessage(b"a", final=False))
        fragmenting._flush()
        tf.writes.clear()
        ok2._session.send(BinaryMessage(b"queued"))
        result = aio.broadcast([ws for ws, _ in pairs], "news")
        assert result.sent == 2
        assert dict(result.skipped) == {
            busy: SkipReason.BUSY,
            closing: SkipReason.NOT_OPEN,
            fragmenting: SkipReason.FRAGMENTING,
        }
        assert t1.data == text_frame("news")
        assert t2.data == b"\x82\x06queued" + text_frame("news")
        assert tb.writes == tc.writes == tf.writes == []

    run(main())


def test_asyncio_fast_path_leaves_an_extension_that_insists_to_send() -> None:
    """A connection whose extension transforms every message gets the message
    encoded for it alone (its frame sets the extension's bit)."""
    from wsproto_lite.extensions import ExtensionSession

    class Upper(ExtensionSession):
        rsv_mask = 0x20

        def inbound_frame(self, opcode: Any, rsv: int, *, starts_message: bool) -> bool:
            raise AssertionError("not used")  # pragma: no cover

        def inbound_data(self, data: bytes, final: bool, max_length: int) -> bytes:
            raise AssertionError("not used")  # pragma: no cover

        def outbound_message(self, opcode: Any, size_hint: int | None, transform: bool) -> int:
            return 0x20

        def outbound_data(self, data: bytes, final: bool) -> bytes:
            return data.upper()

    async def main() -> None:
        (plain, tp), (insists, ti) = await recorded(2)
        insists._conn._writer.set_sessions([Upper()])  # as if negotiated
        assert aio.broadcast([plain, insists], "news") == BroadcastResult(2, {})
        assert tp.data == text_frame("news")
        assert ti.data == b"\xa1\x04NEWS"  # FIN, RSV2, text

    run(main())


# -- trio -----------------------------------------------------------------------------------


trio = pytest.importorskip("trio")

from wsproto_lite.adapters import trio as tri  # noqa: E402


class TrioRaw:
    """A raw client of a trio test."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.buf = b""
        self.frames = Frames(self.read_exactly)

    async def read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = await self.stream.receive_some(1 << 16)
            assert chunk, "the server closed the connection"
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    @classmethod
    async def open(
        cls, port: int, extensions: str | None = None, rcvbuf: int | None = None
    ) -> TrioRaw:
        sock = trio.socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect((HOST, port))
        peer = cls(trio.SocketStream(sock))
        key = base64.b64encode(os.urandom(16)).decode()
        await peer.stream.send_all(request(key, extensions))
        while b"\r\n\r\n" not in peer.buf:
            peer.buf += await peer.stream.receive_some(1 << 16)
        head, _, peer.buf = peer.buf.partition(b"\r\n\r\n")
        check_response(head + b"\r\n\r\n", key, extensions)
        return peer


def run_trio(
    body: Callable[[tri.Server, list[tri.WebSocket]], Awaitable[None]], **options: Any
) -> None:
    conns: list[tri.WebSocket] = []

    async def handler(ws: tri.WebSocket) -> None:
        conns.append(ws)
        async for _ in ws:
            pass

    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                server = await nursery.start(
                    lambda task_status: tri.serve(
                        handler, HOST, 0, task_status=task_status, **{**FAST, **options}
                    )
                )
                await body(server, conns)
                nursery.cancel_scope.cancel()

    trio.run(main)


async def arrived(conns: list[tri.WebSocket], n: int) -> list[tri.WebSocket]:
    while len(conns) < n:
        await trio.sleep(0.005)
    return list(conns)


def test_trio_every_peer_receives_exactly_the_frame() -> None:
    payload = os.urandom(70_000)

    async def body(server: tri.Server, conns: list[tri.WebSocket]) -> None:
        peers = [await TrioRaw.open(server.port) for _ in range(3)]
        await arrived(conns, 3)
        assert tri.broadcast(server.connections, "héllo") == tri.BroadcastResult(3, {})
        assert tri.broadcast(iter(conns), memoryview(payload)).sent == 3
        for peer in peers:
            assert await peer.frames.raw() == b"\x81\x06h\xc3\xa9llo"
            assert await peer.frames.raw() == b"\x82\x7f" + (70_000).to_bytes(8, "big") + payload
            await peer.stream.aclose()

    run_trio(body)


def test_trio_deflate_peers() -> None:
    text = "broadcast " * 200

    async def body(server: tri.Server, conns: list[tri.WebSocket]) -> None:
        plain = await TrioRaw.open(server.port)
        deflate = await TrioRaw.open(server.port, DEFLATE)
        await arrived(conns, 2)
        assert tri.broadcast(conns, text).sent == 2
        assert tri.broadcast(conns, text, compress=True).sent == 2
        for peer in (plain, deflate):
            assert await peer.frames.raw() == text_frame(text)
        assert await plain.frames.raw() == text_frame(text)
        frame = await deflate.frames.raw()
        assert frame[0] == 0xC1
        assert inflate(frame[2:]) == text.encode()
        await plain.stream.aclose()
        await deflate.stream.aclose()

    run_trio(body)


def test_trio_a_peer_that_does_not_read_is_skipped_not_waited_for() -> None:
    payload = os.urandom(1 << 16)
    limit = 4096

    async def body(server: tri.Server, conns: list[tri.WebSocket]) -> None:
        fast = await TrioRaw.open(server.port)
        slow = await TrioRaw.open(server.port, rcvbuf=4096)
        await arrived(conns, 2)
        slow_port = slow.stream.socket.getsockname()[1]
        slow_ws = next(ws for ws in conns if ws.remote_address[1] == slow_port)
        counts = {"fast": 0}

        async def read_fast() -> None:
            while True:
                frame = await fast.frames.raw()
                assert frame[10:] == payload
                counts["fast"] += 1

        sent_to_slow = busy = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_fast)
            fast_ws = next(ws for ws in conns if ws is not slow_ws)
            for _ in range(400):
                # The reading peer keeps up, however loaded the machine: its
                # writer has taken every byte when the next message goes out.
                while fast_ws._session.output_size:
                    await trio.sleep(0.001)
                result = tri.broadcast(conns, payload)
                if slow_ws in result.skipped:
                    assert dict(result.skipped) == {slow_ws: SkipReason.BUSY}
                    busy += 1
                    if busy == 3:
                        break
                else:
                    assert result.sent == 2
                    sent_to_slow += 1
                # Held for the slow peer: at most write_limit plus one message.
                assert slow_ws._session.output_size <= limit + len(payload) + 10
                await trio.sleep(0.001)
            assert busy == 3, "the slow peer was never skipped"
            with trio.fail_after(10):
                while counts["fast"] < sent_to_slow + busy:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        for _ in range(sent_to_slow):
            assert (await slow.frames.raw())[10:] == payload
        with trio.fail_after(5):
            while slow_ws._session.output_size:  # the last write completes: the peer reads
                await trio.sleep(0.01)
        assert tri.broadcast([slow_ws], "again") == tri.BroadcastResult(1, {})
        assert await slow.frames.raw() == text_frame("again")
        await slow.stream.aclose()
        await fast.stream.aclose()

    run_trio(body, write_limit=limit)


def test_trio_closed_and_fragmenting_connections_are_skipped() -> None:
    async def body(server: tri.Server, conns: list[tri.WebSocket]) -> None:
        closed = await TrioRaw.open(server.port)
        busy = await TrioRaw.open(server.port)
        await arrived(conns, 2)
        closed_ws, busy_ws = conns
        await closed.stream.send_all(b"\x88\x80abcd")  # masked close, no payload
        await closed_ws.wait_closed()
        go_on = trio.Event()

        async def parts() -> AsyncIterator[str]:
            yield "a"
            await go_on.wait()
            yield "b"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(busy_ws.send_fragments, parts())
            assert await busy.frames.raw() == b"\x01\x01a"
            result = tri.broadcast([closed_ws, busy_ws], "x")
            assert result == tri.BroadcastResult(
                0, {closed_ws: SkipReason.NOT_OPEN, busy_ws: SkipReason.FRAGMENTING}
            )
            go_on.set()
        assert await busy.frames.raw() == b"\x00\x01b"
        assert await busy.frames.raw() == b"\x80\x00"
        assert tri.broadcast(conns, "y").skipped == {closed_ws: SkipReason.NOT_OPEN}
        assert await busy.frames.raw() == text_frame("y")
        with pytest.raises(TypeError, match="takes trio WebSockets"):
            tri.broadcast([busy_ws, "ws"], "x")  # type: ignore[list-item]
        await closed.stream.aclose()
        await busy.stream.aclose()

    run_trio(body)


# -- blocking sockets -----------------------------------------------------------------------

import threading  # noqa: E402

from wsproto_lite.adapters import sync as syn  # noqa: E402


class SyncRaw:
    """A raw blocking client: the handshake by hand, then frames."""

    def __init__(self, port: int, rcvbuf: int | None = None) -> None:
        sock = socket.socket()
        if rcvbuf is not None:  # before connect(): the window is set at the handshake
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(10)
        sock.connect((HOST, port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(request(key, None))
        self.sock, self.buf = sock, b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += sock.recv(4096)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        check_response(head + b"\r\n\r\n", key, None)

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "closed"
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def frame(self) -> bytes:
        head = self.exactly(2)
        n = head[1] & 0x7F
        ext = self.exactly({126: 2, 127: 8}.get(n, 0))
        if ext:
            n = int.from_bytes(ext, "big")
        return head + ext + self.exactly(n)


class SyncHub:
    """A blocking server whose handler parks every connection in ``self.ws``."""

    def __init__(self, **options: Any) -> None:
        self.ws: list[syn.WebSocket] = []
        self.server = syn.serve(self.handler, HOST, 0, **{**FAST, **options})
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handler(self, ws: syn.WebSocket) -> None:
        self.ws.append(ws)
        for _ in ws:
            pass

    def wait_for(self, n: int) -> list[syn.WebSocket]:
        for _ in range(500):
            if len(self.ws) >= n:
                return list(self.ws)
            threading.Event().wait(0.01)
        raise AssertionError(f"{len(self.ws)} connections, not {n}")

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def test_sync_every_peer_receives_exactly_the_frame() -> None:
    hub = SyncHub()
    try:
        peers = [SyncRaw(hub.server.port) for _ in range(3)]
        conns = hub.wait_for(3)
        assert syn.broadcast(hub.server.connections, "héllo") == BroadcastResult(3, {})
        payload = bytes(range(256)) * 300
        assert syn.broadcast(iter(conns), bytearray(payload)).sent == 3
        for peer in peers:
            assert peer.frame() == b"\x81\x06h\xc3\xa9llo"
            assert peer.frame() == b"\x82\x7f" + len(payload).to_bytes(8, "big") + payload
            peer.sock.close()
        with pytest.raises(TypeError):
            syn.broadcast([object()], "x")  # type: ignore[list-item]
    finally:
        hub.close()


def test_sync_a_peer_that_does_not_read_is_skipped_not_waited_for() -> None:
    limit = 1 << 16
    hub = SyncHub(write_limit=limit, close_timeout=60)
    try:
        slow, fast = SyncRaw(hub.server.port, rcvbuf=4096), SyncRaw(hub.server.port)
        conns = hub.wait_for(2)
        slow_port = slow.sock.getsockname()[1]
        slow_ws = next(ws for ws in conns if ws.remote_address[1] == slow_port)
        payload = os.urandom(70_000)
        busy = 0
        for _ in range(400):
            result = syn.broadcast(conns, payload)
            assert fast.frame()[10:] == payload  # the reading peer gets every one
            if slow_ws in result.skipped:
                assert dict(result.skipped) == {slow_ws: SkipReason.BUSY}
                busy += 1
                if busy == 3:
                    break
            # Held for the slow peer: at most write_limit plus one message.
            assert slow_ws._session.output_size <= limit + len(payload) + 10
        assert busy == 3, "the slow peer was never skipped"
        for sock in (slow.sock, fast.sock):
            sock.close()
    finally:
        hub.close()


def test_sync_closed_and_fragmenting_connections_are_skipped() -> None:
    hub = SyncHub()
    try:
        closed, busy = SyncRaw(hub.server.port), SyncRaw(hub.server.port)
        closed_ws, busy_ws = hub.wait_for(2)
        if closed_ws.remote_address[1] != closed.sock.getsockname()[1]:
            closed_ws, busy_ws = busy_ws, closed_ws
        closed.sock.sendall(b"\x88\x80abcd")  # masked close, no payload
        assert closed_ws.wait_closed(5)
        go_on = threading.Event()

        def parts() -> Any:
            yield "a"
            go_on.wait(5)
            yield "b"

        sender = threading.Thread(target=busy_ws.send_fragments, args=(parts(),))
        sender.start()
        assert busy.frame() == b"\x01\x01a"
        result = syn.broadcast([closed_ws, busy_ws], "x")
        assert result == BroadcastResult(
            0, {closed_ws: SkipReason.NOT_OPEN, busy_ws: SkipReason.FRAGMENTING}
        )
        go_on.set()
        sender.join(5)
        assert busy.frame() == b"\x00\x01b"
        assert busy.frame() == b"\x80\x00"
        assert syn.broadcast([busy_ws], "y") == BroadcastResult(1, {})
        assert busy.frame() == text_frame("y")
        for sock in (closed.sock, busy.sock):
            sock.close()
    finally:
        hub.close()
