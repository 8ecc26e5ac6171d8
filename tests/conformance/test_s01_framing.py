"""Autobahn section 1: framing of text and binary messages (RFC 6455 §5.2).

1.1.x: text messages of lengths 0, 125, 126, 127, 128, 65535 and 65536 (the
boundaries of the 7-bit, 16-bit and 64-bit length encodings), echoed byte for
byte; 1.1.8 sends the 65536-byte message in chops of 997 bytes. 1.2.x: the
same with binary messages. Each case runs against a server and a client testee
and under several chunkings of the input.
"""

from __future__ import annotations

import pytest

from wsproto_lite import Accept, Connection, Handshake, Role

from ._harness import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    SAMPLE_KEY,
    TEXT,
    CloseOut,
    Out,
    Testee,
    accept_for,
    check_101,
    frame,
    parse_frames,
    parse_head,
    respond,
    upgrade_request,
)

SIZES = [0, 125, 126, 127, 128, 65535, 65536]


@pytest.mark.parametrize("chunking", ["segment", "frame", 997])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_1_x_message_lengths(role: str, opcode: int, size: int, chunking: str | int) -> None:
    t = Testee(role, max_message_size=1 << 17)
    payload = (
        b"*" * size
        if opcode == TEXT
        else bytes(range(256)) * (size // 256) + b"\xfe" * (size % 256)
    )
    t.send([t.frame(opcode, payload)], chunking)
    t.expect(Out(opcode, payload))
    assert len(t.messages()) == 1
    t.close_normally()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 128])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_1_x_small_lengths_byte_by_byte(role: str, opcode: int, size: int) -> None:
    t = Testee(role)
    payload = b"x" * size
    t.send([t.frame(opcode, payload)], "byte")
    t.expect(Out(opcode, payload))
    t.close_normally()


def test_1_x_header_bytes_of_each_length_form() -> None:
    """The exact header the testee writes for each length encoding (§5.2)."""
    t = Testee("server", max_message_size=1 << 17)
    expected_headers = {
        0: b"\x81\x00",
        125: b"\x81\x7d",
        126: b"\x81\x7e\x00\x7e",
        127: b"\x81\x7e\x00\x7f",
        65535: b"\x81\x7e\xff\xff",
        65536: b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00",
    }
    for size, header in expected_headers.items():
        t.feed(t.text(b"a" * size))
        (got,) = t.new_frames()
        assert got.raw == header + b"a" * size
    t.close_normally()


@pytest.mark.parametrize("count", [1, 10, 100])
def test_1_x_many_messages_in_one_segment(role: str, count: int) -> None:
    t = Testee(role)
    frames = [t.text(f"message {i}") if i % 2 else t.binary(b"%d" % i) for i in range(count)]
    t.send(frames, "segment")
    t.expect(
        *[
            Out(TEXT, f"message {i}".encode()) if i % 2 else Out(BINARY, b"%d" % i)
            for i in range(count)
        ]
    )
    t.close_normally()


# -- masking (RFC 6455 §5.1, §5.3) ------------------------------------------------------


@pytest.mark.parametrize("chunking", ["segment", "byte"])
def test_1_mask_unmasked_frame_to_a_server(chunking: str) -> None:
    """§5.1: "The server MUST close the connection upon receiving a frame that is
    not masked" (with 1002, §7.4.1)."""
    t = Testee("server")
    t.send([t.text("ok"), t.text("not masked", masked=False), t.ping()], chunking)
    t.assert_failed(1002, before=[Out(TEXT, b"ok")])


@pytest.mark.parametrize("chunking", ["segment", "byte"])
def test_1_mask_masked_frame_to_a_client(chunking: str) -> None:
    """§5.1: "A client MUST close a connection if it detects a masked frame"."""
    t = Testee("client")
    t.send([t.text("ok"), t.text("masked", masked=True), t.ping()], chunking)
    t.assert_failed(1002, before=[Out(TEXT, b"ok")])


def test_1_mask_all_zero_key_and_arbitrary_keys() -> None:
    t = Testee("server")
    for key in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04"):
        t.feed(t.binary(b"payload-%s" % key.hex().encode(), key=key))
    t.expect(
        *[Out(BINARY, b"payload-%s" % k.encode()) for k in ("00000000", "ffffffff", "01020304")]
    )
    t.close_normally()


def test_1_length_with_most_significant_bit_set(role: str) -> None:
    """§5.2: "the most significant bit MUST be 0" in the 64-bit length."""
    t = Testee(role)
    header = bytes((0x82, (0x80 if t.peer_masks else 0) | 127)) + (1 << 63 | 5).to_bytes(8, "big")
    t.send([t.text("ok"), header + (b"KEYS" if t.peer_masks else b"") + b"hello"], "segment")
    t.assert_failed(1002, before=[Out(TEXT, b"ok")])


def test_1_close_code_is_checked_by_the_parser() -> None:
    """Sanity check of the harness itself: CloseOut compares codes."""
    t = Testee("server")
    t.feed(t.close(1000))
    t.expect(CloseOut(1000, b""))


# -- frames in the same segment as the handshake ------------------------------------------


def test_1_x_frames_right_behind_the_upgrade_request() -> None:
    """Frames that arrive with the request are parsed once the server accepts."""
    conn = Connection(Role.SERVER)
    conn.receive_data(upgrade_request() + frame(TEXT, b"early") + frame(PING, b"p"))
    assert [type(e).__name__ for e in conn.events()] == ["Handshake"]
    conn.send(Accept())
    check_101(conn.data_to_send(), SAMPLE_KEY)
    for event in conn.events():
        respond(conn, event)
    assert conn.data_to_send() == frame(TEXT, b"early", masked=False) + b"\x8a\x01p"


def test_1_x_frames_right_behind_the_101_response() -> None:
    """A server may send frames at once after its 101 (same TCP segment)."""
    conn = Connection(Role.CLIENT)
    conn.send(Handshake(host="127.0.0.1:9001"))
    _, headers, _ = parse_head(conn.data_to_send())
    response = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_for(headers['sec-websocket-key'])}\r\n\r\n"
    ).encode()
    conn.receive_data(
        response + frame(TEXT, b"hi", masked=False) + frame(CLOSE, b"\x03\xe8", masked=False)
    )
    events = []
    for event in conn.events():
        events.append(event)
        respond(conn, event)
    assert [type(e).__name__ for e in events] == ["Accept", "TextMessage", "Close"]
    got = parse_frames(conn.data_to_send(), masked=True)
    assert [(f.opcode, f.payload) for f in got] == [(TEXT, b"hi"), (CLOSE, b"\x03\xe8")]


def test_1_x_client_masking_keys_are_unpredictable() -> None:
    """§5.3: a fresh, unpredictable masking key for every frame."""
    t = Testee("client")
    t.send([t.text(b"x") for _ in range(64)], "segment")
    keys = {f.raw[2:6] for f in t.frames()}
    assert len(keys) > 60


def test_1_x_bytes_like_input(role: str) -> None:
    """receive_data takes bytearray and memoryview as well as bytes."""
    t = Testee(role)
    data = t.text("κόσμε" * 50) + t.ping(b"x")
    for i in range(0, len(data), 5):
        piece = data[i : i + 5]
        t.feed(memoryview(bytearray(piece)) if i % 2 else bytearray(piece))  # type: ignore[arg-type]
    t.expect(Out(TEXT, "κόσμε".encode() * 50), Out(PONG, b"x"))
    t.close_normally()
