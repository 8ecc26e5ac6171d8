"""Autobahn section 12: permessage-deflate (RFC 7692) with the default parameters.

12.x: messages of 16 B to 64 KiB, compressible and not, text and binary,
sent compressed to an echoing server, which compresses its echo. Two views
are checked: our client and our server talking to each other (a real
handshake), and the raw wire: the harness compresses with its own zlib
streams, frames and fragments the result itself, and decompresses the
server's frames itself (RFC 7692 §7.2.1, §7.2.2), with the negotiated window.

Framing rules (§6): RSV1 marks a compressed message on its first frame only;
RSV1 on a continuation or a control frame is an error (§6.1: the peer "MUST
_Fail the WebSocket Connection_"), as are RSV2/RSV3, which the extension does
not define (RFC 6455 §5.2).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import pytest

from wsproto_lite import BinaryMessage, TextMessage
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

from ._harness import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    RSV1,
    RSV2,
    RSV3,
    TEXT,
    DeflatePair,
    Deflater,
    Inflater,
    Out,
    Testee,
    binary_payload,
    check_message_frames,
    compressible_text,
    far_repeats,
    frame,
    parse_frames,
    split,
)

SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536]
KINDS: dict[str, tuple[int, Callable[[int], bytes]]] = {
    "compressible-text": (TEXT, compressible_text),
    "compressible-binary": (BINARY, compressible_text),
    "random-binary": (BINARY, lambda n: binary_payload(n)),
    "far-repeats-binary": (BINARY, far_repeats),
}


def _message(opcode: int, data: bytes) -> TextMessage | BinaryMessage:
    return TextMessage(data.decode()) if opcode == TEXT else BinaryMessage(data)


# -- our client ↔ our server ------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_12_x_messages_between_our_client_and_server(kind: str) -> None:
    """Every size, on one connection (context takeover carries over), twice."""
    opcode, make = KINDS[kind]
    pair = DeflatePair(PerMessageDeflate(min_size=0), PerMessageDeflate(min_size=0))
    assert pair.offer == {"client_max_window_bits": None}
    assert pair.agreed == {}
    for size in SIZES * 2:
        pair.roundtrip([_message(opcode, make(size))])
    pair.close()


@pytest.mark.parametrize("part_size", [1, 100, 5000])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_12_x_fragmented_compressed_messages(opcode: int, part_size: int) -> None:
    """A message sent in parts: RSV1 on the first frame only (§6)."""
    pair = DeflatePair(PerMessageDeflate(), PerMessageDeflate())
    data = compressible_text(20000, seed=part_size)
    for _ in range(2):
        pieces = split(data, part_size)
        parts = [
            (
                TextMessage(p.decode(), final=False)
                if opcode == TEXT
                else BinaryMessage(p, final=False)
            )
            for p in pieces
        ]
        parts.append(TextMessage("") if opcode == TEXT else BinaryMessage(b""))
        pair.roundtrip(parts)
    pair.close()


def test_12_x_min_size_leaves_small_messages_uncompressed() -> None:
    """RFC 7692 lets a sender compress message by message; below min_size
    (32 by default) the message goes out with RSV1 clear."""
    pair = DeflatePair(PerMessageDeflate(), PerMessageDeflate())
    pair.roundtrip([TextMessage("x" * 31)], compressed=False)
    pair.roundtrip([TextMessage("x" * 32)], compressed=True)
    pair.roundtrip([BinaryMessage(b"")], compressed=False)
    pair.close()


def test_12_x_server_sends_a_fragmented_compressed_message() -> None:
    pair = DeflatePair(PerMessageDeflate(), PerMessageDeflate())
    data = compressible_text(10000)
    pieces = split(data, 3000)
    for i, p in enumerate(pieces):
        pair.server.send(BinaryMessage(p, final=i == len(pieces) - 1))
    frames = parse_frames(pair.server.data_to_send(), masked=False)
    assert len(frames) == len(pieces)
    payload = check_message_frames(frames, BINARY, compressed=True)
    assert pair.s2c.message(payload) == data


# -- the raw wire: the harness compresses, the server testee echoes --------------------


def _server(**ext: object) -> Testee:
    t = Testee(
        "server",
        offer="permessage-deflate; client_max_window_bits",
        extensions=[PerMessageDeflate(min_size=0, **ext)],  # type: ignore[arg-type]
    )
    assert t.response_headers["sec-websocket-extensions"] == "permessage-deflate"
    return t


def _check_echo(t: Testee, inflater: Inflater, expected: list[tuple[int, bytes]]) -> None:
    frames = t.new_frames()
    assert len(frames) == len(expected), frames
    for f, (opcode, data) in zip(frames, expected, strict=True):
        payload = check_message_frames([f], opcode, compressed=True)
        assert inflater.message(payload) == data


@pytest.mark.parametrize("chunking", ["segment", "frame", 4096])
@pytest.mark.parametrize("kind", list(KINDS))
def test_12_x_raw_compressed_messages_echoed(kind: str, chunking: str | int) -> None:
    opcode, make = KINDS[kind]
    t = _server()
    deflater = Deflater()
    inflater = Inflater(15, False)
    messages = [make(size) for size in SIZES]
    t.send([frame(opcode, deflater.message(m), rsv=RSV1) for m in messages], chunking)
    _check_echo(t, inflater, [(opcode, m) for m in messages])
    t.close_normally()


@pytest.mark.parametrize("frame_size", [1, 7, 1300])
def test_12_x_raw_compressed_payload_fragmented_anywhere(frame_size: int) -> None:
    """The compressed payload cut into frames at arbitrary byte positions."""
    t = _server()
    deflater = Deflater()
    inflater = Inflater(15, False)
    for seed in range(3):
        data = compressible_text(5000, seed)
        pieces = split(deflater.message(data), frame_size)
        frames = [
            frame(TEXT if i == 0 else 0, p, fin=i == len(pieces) - 1, rsv=RSV1 if i == 0 else 0)
            for i, p in enumerate(pieces)
        ]
        t.send(frames, "segment")
        _check_echo(t, inflater, [(TEXT, data)])
    t.close_normally()


def test_12_x_raw_context_takeover_is_honoured_by_the_receiver() -> None:
    """The second message refers back into the first (one zlib stream)."""
    t = _server()
    deflater = Deflater()
    data = compressible_text(4000)
    first, second = deflater.message(data), deflater.message(data)
    assert len(second) < len(first) // 4  # it really is a back-reference
    t.send([frame(TEXT, first, rsv=RSV1), frame(TEXT, second, rsv=RSV1)], "segment")
    _check_echo(t, Inflater(15, False), [(TEXT, data), (TEXT, data)])
    t.close_normally()


def test_12_x_raw_message_ending_with_a_final_block() -> None:
    """§7.2.3.4: a sender may end a message's DEFLATE stream with BFINAL."""
    t = _server()
    deflater = Deflater()
    a, b = compressible_text(3000, 1), compressible_text(3000, 2)
    t.send(
        [
            frame(BINARY, deflater.message(a, final_block=True), rsv=RSV1),
            frame(BINARY, deflater.message(b), rsv=RSV1),
            frame(BINARY, deflater.message(b, final_block=True), rsv=RSV1),
        ],
        "segment",
    )
    _check_echo(t, Inflater(15, False), [(BINARY, a), (BINARY, b), (BINARY, b)])
    t.close_normally()


def test_12_x_raw_empty_compressed_message() -> None:
    """§7.2.3.6: an empty message compresses to the single byte 00."""
    t = _server()
    t.send(
        [frame(TEXT, b"\x00", rsv=RSV1), frame(BINARY, Deflater().message(b""), rsv=RSV1)],
        "segment",
    )
    _check_echo(t, Inflater(15, False), [(TEXT, b""), (BINARY, b"")])
    t.close_normally()


def test_12_x_raw_uncompressed_message_on_a_deflate_connection() -> None:
    """RSV1 clear: the message is not compressed (§6) and is echoed (compressed)."""
    t = _server()
    deflater = Deflater()
    t.send(
        [
            frame(TEXT, deflater.message(b"compressed one"), rsv=RSV1),
            frame(TEXT, b"plain one"),
            frame(TEXT, deflater.message(b"compressed one"), rsv=RSV1),
        ],
        "segment",
    )
    _check_echo(
        t,
        Inflater(15, False),
        [(TEXT, b"compressed one"), (TEXT, b"plain one"), (TEXT, b"compressed one")],
    )
    t.close_normally()


def test_12_x_raw_ping_between_compressed_fragments() -> None:
    t = _server()
    pieces = split(Deflater().message(compressible_text(2000)), 100)
    frames = [
        frame(TEXT if i == 0 else 0, p, fin=i == len(pieces) - 1, rsv=RSV1 if i == 0 else 0)
        for i, p in enumerate(pieces)
    ]
    frames.insert(1, frame(PING, b"between"))
    t.send(frames, "byte")
    got = t.new_frames()
    assert got[0].raw == b"\x8a\x07between"
    payload = check_message_frames(got[1:], TEXT, compressed=True)
    assert Inflater(15, False).message(payload) == compressible_text(2000)
    t.close_normally()


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE], ids=["ping", "pong", "close"])
def test_12_x_rsv1_on_a_control_frame(opcode: int) -> None:
    t = _server()
    payload = b"\x03\xe8" if opcode == CLOSE else b"x"
    t.send(
        [frame(TEXT, Deflater().message(b"before"), rsv=RSV1), frame(opcode, payload, rsv=RSV1)],
        "segment",
    )
    frames = t.frames()
    assert Inflater(15, False).message(frames[0].payload) == b"before"
    t.assert_failed(1002, before=[Out(TEXT, frames[0].payload, rsv=RSV1)])


def test_12_x_rsv1_on_a_continuation_frame() -> None:
    t = _server()
    pieces = split(Deflater().message(compressible_text(500)), 50)
    t.send(
        [frame(TEXT, pieces[0], fin=False, rsv=RSV1), frame(0, pieces[1], fin=False, rsv=RSV1)],
        "segment",
    )
    t.assert_failed(1002)


@pytest.mark.parametrize("rsv", [RSV2, RSV3, RSV1 | RSV2])
def test_12_x_other_rsv_bits_with_deflate(rsv: int) -> None:
    t = _server()
    t.send([frame(TEXT, Deflater().message(b"hello"), rsv=rsv)], "segment")
    t.assert_failed(1002)


def test_12_x_invalid_deflate_data_fails() -> None:
    """Undecodable compressed data: the design's code is 1007 (data
    "inconsistent with the type of the message", RFC 6455 §7.4.1)."""
    t = _server()
    t.send([frame(BINARY, b"\xff\xff\xff\xff\xff", rsv=RSV1)], "segment")
    t.assert_failed(1007)


def test_12_x_compressed_text_that_is_not_utf8() -> None:
    t = _server()
    t.send([frame(TEXT, Deflater().message(b"ok \xed\xa0\x80 bad"), rsv=RSV1)], "segment")
    t.assert_failed(1007)


def test_12_x_decompression_bomb_fails_with_1009() -> None:
    """64 KiB of compressed zeros inflating past max_message_size (1 MiB)."""
    t = Testee(
        "server",
        offer="permessage-deflate",
        extensions=[PerMessageDeflate()],
        max_message_size=1 << 20,
    )
    bomb = Deflater().message(bytes(8 << 20))
    assert len(bomb) < 16 << 10
    t.send([frame(BINARY, bomb, rsv=RSV1)], "segment")
    t.assert_failed(1009)


def test_12_x_client_testee_raw() -> None:
    """Our client as testee: the harness is the compressing server."""
    t = Testee(
        "client",
        answer="permessage-deflate",
        extensions=[PerMessageDeflate(min_size=0)],
    )
    deflater = Deflater()
    inflater = Inflater(15, False)
    messages = [compressible_text(n, n) for n in SIZES] + [binary_payload(n) for n in SIZES]
    frames = [
        frame(TEXT if i < len(SIZES) else BINARY, deflater.message(m), rsv=RSV1, masked=False)
        for i, m in enumerate(messages)
    ]
    t.send(frames, 1000)
    _check_echo(
        t, inflater, [(TEXT if i < len(SIZES) else BINARY, m) for i, m in enumerate(messages)]
    )
    t.close_normally()


def test_12_x_the_checker_catches_what_it_must() -> None:
    """The harness's inflater really detects a window or context violation
    (a check of the checker, with zlib streams the harness makes itself)."""
    d, i = Deflater(9, True), Inflater(8, True)
    for seed in range(3):  # zlib's 9-bit output fits an 8-bit window
        data = far_repeats(3000, seed)
        assert i.message(d.message(data)) == data
    with pytest.raises(zlib.error, match="too far back"):
        Inflater(8, False).message(Deflater(12).message(far_repeats(3000)))
    shared = Deflater(15, False)
    text = compressible_text(3000)
    fresh = Inflater(15, True)
    assert fresh.message(shared.message(text)) == text
    with pytest.raises(zlib.error, match="too far back"):
        fresh.message(shared.message(text))  # refers to the previous message


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("size", [100, 64 * 1024, 300 * 1024])
def test_12_x_streaming_testee_with_compression(role: str, size: int) -> None:
    """A streaming testee receives the decompressed message in parts and
    echoes them as they come: a fragmented compressed message, RSV1 on its
    first frame only, whose frames inflate back to the original."""
    kwargs: dict[str, object] = {"extensions": [PerMessageDeflate(min_size=0)], "stream": True}
    if role == "server":
        t = Testee(role, offer="permessage-deflate", **kwargs)  # type: ignore[arg-type]
    else:
        t = Testee(role, answer="permessage-deflate", **kwargs)  # type: ignore[arg-type]
    deflater, inflater = Deflater(), Inflater(15, False)
    for seed in range(2):
        data = compressible_text(size, seed)
        pieces = split(deflater.message(data), 5000)
        frames = [
            frame(
                BINARY if i == 0 else 0,
                p,
                fin=i == len(pieces) - 1,
                rsv=RSV1 if i == 0 else 0,
                masked=t.peer_masks,
            )
            for i, p in enumerate(pieces)
        ]
        t.send(frames, 4096)
        echoed = t.new_frames()
        payload = check_message_frames(echoed, BINARY, compressed=True)
        assert inflater.message(payload) == data
    t.close_normally()


def test_12_x_streaming_decompression_bomb_is_bounded() -> None:
    """No size limit, streaming: 8 MiB of zeros from a few KiB arrive in
    bounded parts (never one 8 MiB piece)."""
    t = Testee(
        "server",
        offer="permessage-deflate",
        extensions=[PerMessageDeflate()],
        stream=True,
        max_message_size=None,
    )
    t.send([frame(BINARY, Deflater().message(bytes(8 << 20)), rsv=RSV1)], "segment")
    parts = t.messages()
    assert sum(len(p.data) for p in parts) == 8 << 20
    assert max(len(p.data) for p in parts) <= 1 << 16
    assert [p.final for p in parts] == [False] * (len(parts) - 1) + [True]
    payload = check_message_frames(t.new_frames(), BINARY, compressed=True)
    assert Inflater(15, False).message(payload) == bytes(8 << 20)
    t.close_normally()


def test_12_x_compressed_message_with_empty_first_and_last_frames() -> None:
    t = _server()
    data = compressible_text(3000)
    compressed = Deflater().message(data)
    t.send(
        [
            frame(TEXT, b"", fin=False, rsv=RSV1),
            frame(0, compressed[:100], fin=False),
            frame(0, b"", fin=False),
            frame(0, compressed[100:], fin=False),
            frame(0, b""),
        ],
        "frame",
    )
    _check_echo(t, Inflater(15, False), [(TEXT, data)])
    t.close_normally()
