"""Autobahn section 10: auto-fragmentation.

10.1.1: a 64 KiB text message sent auto-fragmented into 1300-byte frames is
echoed intact. Here also larger messages and other frame sizes, frames cut
across segment boundaries, and the other direction: a message the testee
sends in parts arrives as one byte-identical message (reassembled from the
wire by the harness, not by the library).
"""

from __future__ import annotations

import pytest

from wsproto_lite import BinaryMessage, TextMessage

from ._harness import BINARY, TEXT, Out, Testee, fragments, messages_of, payload_for

KiB = 1 << 10


@pytest.mark.parametrize("chunk", ["frame", 4096, 1000])
@pytest.mark.parametrize(
    ("size", "frame_size"), [(64 * KiB, 1300), (256 * KiB, 1300), (64 * KiB, 1), (100, 7)]
)
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_10_1_auto_fragmented_message_is_echoed_intact(
    role: str, opcode: int, size: int, frame_size: int, chunk: str | int
) -> None:
    payload = payload_for(opcode, size)
    t = Testee(role)
    frames = fragments(opcode, payload, frame_size, masked=t.peer_masks)
    t.send(frames, chunk)
    t.expect(Out(opcode, payload))
    assert messages_of(t.frames()) == [
        ("text", payload.decode()) if opcode == TEXT else ("binary", payload)
    ]
    t.close_normally()


@pytest.mark.parametrize("part_size", [1, 1300, 65536])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_10_x_testee_sends_fragments(role: str, opcode: int, part_size: int) -> None:
    """The testee's own fragmentation: FIN only on the last frame, opcode only
    on the first, the rest continuations (§5.4), payload byte-identical."""
    payload = payload_for(opcode, 200 * KiB if part_size > 1 else 3000)
    t = Testee(role)
    if opcode == TEXT:
        text = payload.decode()
        parts = [text[i : i + part_size] for i in range(0, len(text), part_size)]
        for i, p in enumerate(parts):
            t.conn.send(TextMessage(p, final=i == len(parts) - 1))
    else:
        parts_b = [payload[i : i + part_size] for i in range(0, len(payload), part_size)]
        for i, pb in enumerate(parts_b):
            t.conn.send(BinaryMessage(pb, final=i == len(parts_b) - 1))
    t.out += t.conn.data_to_send()
    frames = t.frames()
    assert frames[0].opcode == opcode
    assert all(f.opcode == 0 for f in frames[1:])
    assert [f.fin for f in frames] == [False] * (len(frames) - 1) + [True]
    assert b"".join(f.payload for f in frames) == payload
    kind = "text" if opcode == TEXT else "binary"
    assert messages_of(frames) == [(kind, payload.decode() if opcode == TEXT else payload)]
    t.close_normally()
