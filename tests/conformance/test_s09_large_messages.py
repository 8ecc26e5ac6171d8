"""Autobahn section 9: large messages, many frames, many messages.

9.1/9.2: text and binary messages of 64 KiB to 16 MiB in one frame; 9.3/9.4:
a 4 MiB message fragmented into frames of 64 B to 4 MiB; 9.5/9.6: a 1 MiB
message delivered in chops of 64 B to 2 KiB; 9.7/9.8: 1000 messages in a row.
Inputs are delivered in 64 KiB or 1 MiB segments (a TCP segment per chunk).
The echo must be byte-identical (checked on the wire). Only a few cases use
16 MiB; the testee's ``max_message_size`` is raised for them.

Also the limits themselves (not Autobahn, but the design's promise): a
message over ``max_message_size`` fails with 1009 as soon as a frame header
announces it (RFC 6455 §7.4.1: 1009 "message that is too big for it to
process"), before its payload arrives.
"""

from __future__ import annotations

import pytest

from wsproto_lite import BinaryMessage
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

from ._harness import (
    BINARY,
    RSV1,
    TEXT,
    Deflater,
    Out,
    Testee,
    binary_payload,
    fragments,
    frame,
    payload_for,
)

KiB = 1 << 10
MiB = 1 << 20


def _echo_case(role: str, opcode: int, frames: list[bytes], payload: bytes, chunk: int) -> None:
    t = Testee(role, max_message_size=len(payload) + 1)
    t.send(frames, chunk)
    t.expect(Out(opcode, payload))
    msg = t.messages()[0]
    assert (msg.data.encode() if isinstance(msg.data, str) else msg.data) == payload
    t.close_normally()


OPCODES = pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])


@pytest.mark.parametrize("chunk", [64 * KiB, MiB], ids=["64KiB-segments", "1MiB-segments"])
@pytest.mark.parametrize(
    "size", [64 * KiB, 256 * KiB, MiB, 4 * MiB], ids=["64K", "256K", "1M", "4M"]
)
@OPCODES
def test_9_1_and_9_2_one_frame(opcode: int, size: int, chunk: int) -> None:
    payload = payload_for(opcode, size)
    _echo_case("server", opcode, [frame(opcode, payload)], payload, chunk)


@pytest.mark.parametrize(
    ("opcode", "chunk"), [(TEXT, MiB), (BINARY, 64 * KiB)], ids=["text-1MiB", "binary-64KiB"]
)
def test_9_1_6_and_9_2_6_sixteen_mib_in_one_frame(opcode: int, chunk: int) -> None:
    payload = payload_for(opcode, 16 * MiB)
    _echo_case("server", opcode, [frame(opcode, payload)], payload, chunk)


@pytest.mark.parametrize(
    "frame_size",
    [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB],
    ids=["64", "256", "1K", "4K", "16K", "64K", "256K", "1M", "4M"],
)
@OPCODES
def test_9_3_and_9_4_four_mib_fragmented(opcode: int, frame_size: int) -> None:
    payload = payload_for(opcode, 4 * MiB)
    chunk = 64 * KiB if opcode == TEXT else MiB
    _echo_case("server", opcode, fragments(opcode, payload, frame_size), payload, chunk)


@pytest.mark.parametrize(
    ("opcode", "frame_size", "chunk"),
    [(TEXT, 4 * MiB, MiB), (BINARY, MiB, 64 * KiB)],
    ids=["text-4MiB-frames", "binary-1MiB-frames"],
)
def test_9_x_sixteen_mib_fragmented(opcode: int, frame_size: int, chunk: int) -> None:
    payload = payload_for(opcode, 16 * MiB)
    _echo_case("server", opcode, fragments(opcode, payload, frame_size), payload, chunk)


@pytest.mark.parametrize("chop", [64, 128, 256, 512, 1024, 2048])
@OPCODES
def test_9_5_and_9_6_one_mib_in_small_chops(opcode: int, chop: int) -> None:
    payload = payload_for(opcode, MiB)
    _echo_case("server", opcode, [frame(opcode, payload)], payload, chop)


@pytest.mark.parametrize("size", [0, 16, 64, 256, 1024, 4096])
@OPCODES
def test_9_7_and_9_8_thousand_messages(role: str, opcode: int, size: int) -> None:
    t = Testee(role)
    payload = payload_for(opcode, size)
    data = t.frame(opcode, payload)
    for _ in range(1000):
        t.feed(data)
    frames = t.frames()
    assert len(frames) == 1000
    expected = frame(opcode, payload, masked=False)
    if t.is_server:
        assert bytes(t.out) == expected * 1000
    else:
        assert all(f.payload == payload and f.opcode == opcode and f.fin for f in frames)
    t.close_normally()


# -- the client as testee (a sample) --------------------------------------------------


@pytest.mark.parametrize(
    ("opcode", "size", "frame_size", "chunk"),
    [(TEXT, 4 * MiB, None, 64 * KiB), (BINARY, MiB, 64, MiB), (TEXT, MiB, 4 * KiB, 1000)],
)
def test_9_x_client_testee(opcode: int, size: int, frame_size: int | None, chunk: int) -> None:
    payload = payload_for(opcode, size)
    frames = (
        [frame(opcode, payload, masked=False)]
        if frame_size is None
        else fragments(opcode, payload, frame_size, masked=False)
    )
    _echo_case("client", opcode, frames, payload, chunk)


# -- limits ---------------------------------------------------------------------------


@OPCODES
def test_9_x_message_over_the_limit_fails_on_the_header(role: str, opcode: int) -> None:
    """Default limit 1 MiB: a frame announcing 1 MiB + 1 fails at its header."""
    t = Testee(role)
    data = t.frame(opcode, payload_for(opcode, MiB + 1))
    t.feed(t.text("before") + data[:14])
    t.assert_failed(1009, before=[Out(TEXT, b"before")])


@OPCODES
def test_9_x_fragmented_message_over_the_limit(role: str, opcode: int) -> None:
    t = Testee(role, max_message_size=100 * KiB)
    payload = payload_for(opcode, 150 * KiB)
    frames = fragments(opcode, payload, 60 * KiB, masked=t.peer_masks)
    t.feed(frames[0])
    assert not t.out
    t.feed(frames[1][:14])  # only the header of the frame that crosses the limit
    t.assert_failed(1009)


def test_9_x_message_exactly_at_the_limit(role: str) -> None:
    t = Testee(role, max_message_size=64 * KiB)
    payload = binary_payload(64 * KiB)
    t.send(fragments(BINARY, payload, 16 * KiB, masked=t.peer_masks), "segment")
    t.expect(Out(BINARY, payload))
    t.close_normally()


def test_9_x_compressed_message_at_and_over_the_limit(role: str) -> None:
    """The limit applies to the decompressed size (permessage-deflate)."""
    for size, ok in ((64 * KiB, True), (64 * KiB + 1, False)):
        ext = (
            {"offer": "permessage-deflate"}
            if role == "server"
            else {"answer": "permessage-deflate"}
        )
        t = Testee(role, extensions=[PerMessageDeflate()], max_message_size=64 * KiB, **ext)
        t.feed(t.binary(Deflater().message(bytes(size)), rsv=RSV1))
        if ok:
            assert t.messages() == [BinaryMessage(bytes(size))]
            t.close_normally()
        else:
            t.assert_failed(1009)


def test_9_x_frame_over_max_frame_size(role: str) -> None:
    t = Testee(role, max_frame_size=1000)
    t.feed(t.binary(b"x" * 1000))
    t.feed(t.binary(b"x" * 1001)[:10])
    t.assert_failed(1009, before=[Out(BINARY, b"x" * 1000)])
