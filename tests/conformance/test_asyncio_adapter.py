"""A sample of the conformance cases through the asyncio adapter, over loopback.

The testee is ``wsproto_lite.adapters.asyncio.serve`` running the echo handler
(``async for msg in ws: await ws.send(msg)``). The fuzzer is a raw asyncio
socket: it speaks the handshake by hand, writes crafted frames (usually in one
``write``, i.e. one TCP segment) and reads the reply bytes up to EOF; the
server closes TCP first (RFC 6455 §7.1.1). The replies are parsed by the
harness's own frame parser.

OK cases proceed the way the Autobahn fuzzer does: wait for each echo, then
close. The "strict order" cases send a valid message and what ends the
connection in one segment: the echo must come before the close (Autobahn
7.1.1 accepts nothing else).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import pytest

from ._harness import (
    BINARY,
    CLOSE,
    PING,
    RSV1,
    SAMPLE_KEY,
    TEXT,
    CloseOut,
    Deflater,
    Frame,
    Inflater,
    Out,
    binary_payload,
    check_101,
    check_frame,
    close_payload,
    compressible_text,
    fragments,
    frame,
    parse_frames,
    pong,
    text_payload,
    upgrade_request,
)

adapter = pytest.importorskip("wsproto_lite.adapters.asyncio")

T = TypeVar("T")
HOST = "127.0.0.1"
KiB = 1 << 10


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


class Fuzzer:
    """A raw TCP client that has completed the opening handshake."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.headers: dict[str, str] = {}

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_frame(self, timeout: float = 5.0) -> Frame:
        async def read() -> bytes:
            r = self.reader
            head = await r.readexactly(2)
            n = head[1] & 0x7F
            ext = b""
            if n == 126:
                ext = await r.readexactly(2)
                n = int.from_bytes(ext, "big")
            elif n == 127:
                ext = await r.readexactly(8)
                n = int.from_bytes(ext, "big")
            return head + ext + await r.readexactly(n)

        raw = await asyncio.wait_for(read(), timeout)
        (f,) = parse_frames(raw, masked=False)
        return f

    async def read_to_eof(self, timeout: float = 5.0) -> list[Frame]:
        data = await asyncio.wait_for(self.reader.read(), timeout)
        return parse_frames(data, masked=False)

    async def nothing_arrives(self, delay: float = 0.05) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            data = await asyncio.wait_for(self.reader.read(1), delay)
            raise AssertionError(f"unexpected output {data!r}")

    async def close_normally(self) -> None:
        """Send close 1000; the reply is exactly 88 02 03 e8, then EOF."""
        await self.send(frame(CLOSE, close_payload(1000)))
        assert await self.read_to_eof() == parse_frames(b"\x88\x02\x03\xe8", masked=False)


@contextlib.asynccontextmanager
async def fuzzer(offer: str | None = None, **serve_kwargs: Any) -> AsyncIterator[Fuzzer]:
    serve_kwargs.setdefault("ping_interval", None)
    serve_kwargs.setdefault("close_timeout", 2.0)
    async with adapter.serve(echo, HOST, 0, **serve_kwargs) as server:
        reader, writer = await asyncio.open_connection(HOST, server.port)
        try:
            writer.write(upgrade_request(extensions=offer))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            f = Fuzzer(reader, writer)
            f.headers = check_101(head, SAMPLE_KEY)
            yield f
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def expect(frames: list[Frame], *expected: Out | CloseOut) -> None:
    assert len(frames) == len(expected), frames
    for g, e in zip(frames, expected, strict=True):
        check_frame(g, e, server=True)


def close_out(code: int) -> CloseOut:
    return CloseOut(code)


# -- section 1: framing ----------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 127, 65535, 65536])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_adapter_1_x_echo(opcode: int, size: int) -> None:
    payload = b"*" * size

    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(opcode, payload))
            echoed = await f.read_frame()
            assert echoed.raw == frame(opcode, payload, masked=False)
            await f.close_normally()

    run(case())


def test_adapter_1_x_many_small_segments() -> None:
    """A frame written a few bytes at a time, each write its own segment."""

    async def case() -> None:
        async with fuzzer() as f:
            f.writer.transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
            data = frame(TEXT, "κόσμε 🎉".encode())
            for i in range(0, len(data), 3):
                await f.send(data[i : i + 3])
                await asyncio.sleep(0.001)
            echoed = await f.read_frame()
            assert echoed.raw == frame(TEXT, "κόσμε 🎉".encode(), masked=False)
            await f.close_normally()

    run(case())


def test_adapter_1_x_unmasked_frame() -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(TEXT, b"unmasked", masked=False))
            expect(await f.read_to_eof(), close_out(1002))

    run(case())


# -- section 2: pings --------------------------------------------------------------------


def test_adapter_2_10_ten_pings_in_one_segment() -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(b"".join(frame(PING, b"payload-%d" % i) for i in range(10)))
            got = [await f.read_frame() for _ in range(10)]
            expect(got, *[pong(b"payload-%d" % i) for i in range(10)])
            await f.close_normally()

    run(case())


@pytest.mark.parametrize("size", [0, 125])
def test_adapter_2_x_ping_payloads(size: int) -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(PING, bytes(range(size))))
            expect([await f.read_frame()], pong(bytes(range(size))))
            await f.close_normally()

    run(case())


def test_adapter_2_5_ping_126_bytes() -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(PING, b"\xfe" * 126))
            expect(await f.read_to_eof(), close_out(1002))

    run(case())


# -- sections 3 and 4: reserved bits and opcodes --------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        frame(TEXT, b"x", rsv=1),
        frame(BINARY, b"x", rsv=4),
        frame(PING, rsv=6),
        frame(3),
        frame(0xB, b"x"),
    ],
    ids=["3.1", "3.5-like", "3.6", "4.1.1", "4.2.2"],
)
def test_adapter_3_and_4_bad_frame_alone(bad: bytes) -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(bad + frame(PING))
            expect(await f.read_to_eof(), close_out(1002))

    run(case())


@pytest.mark.parametrize("bad", [frame(TEXT, b"x", rsv=2), frame(5)], ids=["3.2", "4.1.3"])
def test_adapter_3_and_4_bad_frame_after_a_message_waiting_for_the_echo(bad: bytes) -> None:
    """Autobahn-paced: the echo is read before the bad frame is sent."""

    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(TEXT, b"Hello, world!"))
            expect([await f.read_frame()], Out(TEXT, b"Hello, world!"))
            await f.send(bad + frame(PING))
            expect(await f.read_to_eof(), close_out(1002))

    run(case())


# -- strict order in one segment ------------------------------------------------------------

STRICT: dict[str, tuple[list[bytes], list[Out | int]]] = {
    "7.1.1 message then close": (
        [frame(TEXT, b"Hello World!"), frame(CLOSE, close_payload(1000))],
        [Out(TEXT, b"Hello World!"), 1000],
    ),
    "3.2 message then RSV 2 then ping": (
        [frame(TEXT, b"Hello, world!"), frame(TEXT, b"Hello, world!", rsv=2), frame(PING)],
        [Out(TEXT, b"Hello, world!"), 1002],
    ),
    "5.15 message then stray continuation": (
        [
            frame(TEXT, b"fragment1", fin=False),
            frame(0, b"fragment2"),
            frame(0, b"fragment3", fin=False),
            frame(TEXT, b"fragment4"),
        ],
        [Out(TEXT, b"fragment1fragment2"), 1002],
    ),
    "6.x valid then invalid UTF-8": (
        [frame(TEXT, "κόσμε".encode()), frame(TEXT, b"\xff")],
        [Out(TEXT, "κόσμε".encode()), 1007],
    ),
}


@pytest.mark.parametrize("case_id", list(STRICT))
def test_adapter_strict_order_in_one_segment(case_id: str) -> None:
    """The message before the closing frame is echoed before the close frame.

    DESIGN.md: "An application that answers each event before taking the next
    gets its answer queued before whatever a later frame of the same chunk
    causes (a close, say)". Autobahn 7.1.1 expects exactly: the echo, then a
    clean close.
    """
    frames, outcome = STRICT[case_id]

    async def case() -> None:
        async with fuzzer() as f:
            await f.send(b"".join(frames))
            *echoes, code = outcome
            assert isinstance(code, int)
            assert all(isinstance(e, Out) for e in echoes)
            expect(
                await f.read_to_eof(), *[e for e in echoes if isinstance(e, Out)], close_out(code)
            )

    run(case())


# -- section 5: fragmentation -----------------------------------------------------------------


def test_adapter_5_19_fragments_with_pings() -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(
                frame(TEXT, b"fragment1", fin=False)
                + frame(0, b"fragment2", fin=False)
                + frame(PING, b"pongme 1!")
            )
            expect([await f.read_frame()], pong(b"pongme 1!"))
            await f.send(
                frame(0, b"fragment3", fin=False)
                + frame(0, b"fragment4", fin=False)
                + frame(PING, b"pongme 2!")
                + frame(0, b"fragment5")
            )
            got = [await f.read_frame(), await f.read_frame()]
            expect(
                got, pong(b"pongme 2!"), Out(TEXT, b"fragment1fragment2fragment3fragment4fragment5")
            )
            await f.close_normally()

    run(case())


@pytest.mark.parametrize(
    "frames",
    [
        [frame(PING, b"fragment1", fin=False), frame(0, b"fragment2")],
        [frame(0, b"non-continuation payload"), frame(TEXT, b"Hello, world!")],
        [frame(TEXT, b"fragment1", fin=False), frame(TEXT, b"fragment2")],
    ],
    ids=["5.1", "5.9", "5.18"],
)
def test_adapter_5_x_fragmentation_errors(frames: list[bytes]) -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(b"".join(frames))
            expect(await f.read_to_eof(), close_out(1002))

    run(case())


# -- section 6: UTF-8 --------------------------------------------------------------------------


def test_adapter_6_2_4_valid_utf8_in_1_byte_fragments() -> None:
    kosme = "κόσμε".encode()

    async def case() -> None:
        async with fuzzer() as f:
            await f.send(b"".join(fragments(TEXT, kosme, 1)))
            expect([await f.read_frame()], Out(TEXT, kosme))
            await f.close_normally()

    run(case())


def test_adapter_6_3_1_invalid_utf8() -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(TEXT, bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")))
            expect(await f.read_to_eof(), close_out(1007))

    run(case())


@pytest.mark.parametrize("as_frames", [True, False], ids=["6.4.1-frames", "6.4.3-chops"])
def test_adapter_6_4_fail_fast(as_frames: bool) -> None:
    """The close arrives after the 2nd part, while the 3rd is still unsent."""
    part1 = bytes.fromhex("cebae1bdb9cf83cebcceb5")
    part2 = bytes.fromhex("f4908080")
    part3 = bytes.fromhex("656469746564")
    if as_frames:
        chunks = [frame(TEXT, part1, fin=False), frame(0, part2, fin=False), frame(0, part3)]
    else:
        data = frame(TEXT, part1 + part2 + part3)
        h = len(data) - len(part1 + part2 + part3)
        chunks = [
            data[: h + len(part1)],
            data[h + len(part1) : h + len(part1) + 4],
            data[h + len(part1) + 4 :],
        ]

    async def case() -> None:
        async with fuzzer() as f:
            await f.send(chunks[0])
            await f.nothing_arrives()
            await f.send(chunks[1])
            check_frame(await f.read_frame(), close_out(1007), server=True)
            with contextlib.suppress(ConnectionError):
                await f.send(chunks[2])
            assert await f.read_to_eof() == []

    run(case())


# -- section 7: closing ----------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
def test_adapter_7_7_valid_codes_echoed(code: int) -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(CLOSE, close_payload(code, b"reason")))
            frames = await f.read_to_eof()
            assert [fr.raw for fr in frames] == [b"\x88\x02" + code.to_bytes(2, "big")]

    run(case())


@pytest.mark.parametrize(
    "payload",
    [
        close_payload(999),
        close_payload(1005),
        close_payload(5000),
        b"\x03",
        close_payload(1000, b"*" * 124),
    ],
)
def test_adapter_7_x_invalid_close_frames(payload: bytes) -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(CLOSE, payload))
            expect(await f.read_to_eof(), close_out(1002))

    run(case())


def test_adapter_7_3_1_empty_close_and_data_after_it() -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(CLOSE) + frame(PING, b"after") + frame(TEXT, b"after"))
            assert [fr.raw for fr in await f.read_to_eof()] == [b"\x88\x02\x03\xe8"]

    run(case())


def test_adapter_7_5_1_invalid_utf8_reason() -> None:
    async def case() -> None:
        async with fuzzer() as f:
            await f.send(frame(CLOSE, close_payload(1000, b"\xce\xba\xed\xa0\x80")))
            expect(await f.read_to_eof(), close_out(1007))

    run(case())


# -- section 9: large messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opcode", "frame_size"),
    [(BINARY, None), (TEXT, 1300), (BINARY, 64)],
    ids=["binary-1-frame", "text-1300", "binary-64"],
)
def test_adapter_9_x_one_mib(opcode: int, frame_size: int | None) -> None:
    payload = text_payload(1 << 20) if opcode == TEXT else binary_payload(1 << 20)
    data = (
        frame(opcode, payload)
        if frame_size is None
        else b"".join(fragments(opcode, payload, frame_size))
    )

    async def case() -> None:
        async with fuzzer() as f:
            await f.send(data)
            echoed = await f.read_frame()
            assert echoed.raw == frame(opcode, payload, masked=False)
            await f.close_normally()

    run(case())


def test_adapter_9_x_over_the_limit() -> None:
    async def case() -> None:
        async with fuzzer(max_message_size=64 * KiB) as f:
            await f.send(frame(BINARY, bytes(64 * KiB + 1))[:14])
            expect(await f.read_to_eof(), close_out(1009))

    run(case())


# -- section 12: permessage-deflate ------------------------------------------------------------


def test_adapter_12_x_compressed_echo() -> None:
    async def case() -> None:
        async with fuzzer(offer="permessage-deflate; client_max_window_bits") as f:
            # A server's defaults: 12-bit windows both ways (the client offered
            # client_max_window_bits), so the echo never reaches back further.
            assert f.headers["sec-websocket-extensions"] == (
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
            )
            deflater, inflater = Deflater(12), Inflater(12, False)
            for size in (64, 1024, 16 * KiB, 64 * KiB):
                data = compressible_text(size, size)
                await f.send(frame(TEXT, deflater.message(data), rsv=RSV1))
                echoed = await f.read_frame()
                assert (echoed.opcode, echoed.rsv, echoed.fin) == (TEXT, RSV1, True)
                assert inflater.message(echoed.payload) == data
            await f.close_normally()

    run(case())
