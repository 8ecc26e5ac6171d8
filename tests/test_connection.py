"""Tests of Connection after the handshake: framing rules (RFC 6455 §5), UTF-8
(§8.1), limits, the closing handshake (§7), sending rules, lazy ordering,
streaming, and the extension hooks (§9)."""

from __future__ import annotations

from typing import Any

import pytest

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Connection,
    ConnectionState,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    LocalProtocolError,
    Opcode,
    Ping,
    Pong,
    Reject,
    RemoteProtocolError,
    Role,
    TextMessage,
)
from wsproto_lite._close_codes import is_valid_on_wire
from wsproto_lite._frames import serialize_frame
from wsproto_lite.extensions import ExtensionSession
from wsproto_lite.testing import ConnectionPair

from . import _wire
from ._wire import frame, payloads

OPEN = ConnectionState.OPEN
CLOSING = ConnectionState.CLOSING
CLOSED = ConnectionState.CLOSED
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10


# -- the frames of the tests: tests/_wire.py, written independently of the library ----------


def cframe(opcode: int, payload: bytes = b"", *, rsv: int = 0, **kwargs: Any) -> bytes:
    """A frame as a client sends it (masked): what a server receives. *rsv* in
    the first byte's bits (RSV1 = 0x40)."""
    return frame(opcode, payload, rsv=rsv >> 4, masked=True, **kwargs)


def sframe(opcode: int, payload: bytes = b"", *, rsv: int = 0, **kwargs: Any) -> bytes:
    """A frame as a server sends it (unmasked): what a client receives."""
    return frame(opcode, payload, rsv=rsv >> 4, masked=False, **kwargs)


def parse_frames(data: bytes, *, masked: bool) -> list[tuple[bool, int, int, bytes]]:
    """Split what the library sent into ``(fin, rsv bits, opcode, payload)``,
    checking every sender rule on the way (tests/_wire.py)."""
    return payloads(_wire.parse_frames(data, masked=masked))


def close_bytes(code: int, reason: bytes = b"") -> bytes:
    """The unmasked close frame a server sends."""
    payload = code.to_bytes(2, "big") + reason
    return bytes([0x88, len(payload)]) + payload


def server(**kwargs: object) -> Connection:
    return Connection(Role.SERVER, handshake=False, **kwargs)  # type: ignore[arg-type]


def client(**kwargs: object) -> Connection:
    return Connection(Role.CLIENT, handshake=False, **kwargs)  # type: ignore[arg-type]


def feed(conn: Connection, *chunks: bytes) -> list:
    for chunk in chunks:
        conn.receive_data(chunk)
    return list(conn.events())


def assert_failed(conn: Connection, events: list, code: int) -> Close:
    """The last event is a failure Close with *code*; the close frame is queued."""
    assert events, "no event"
    event = events[-1]
    assert isinstance(event, Close), events
    assert event.failed is True
    assert event.code == code
    assert conn.state is CLOSED
    assert conn.should_close_transport
    out = conn.data_to_send()
    if conn.client:
        frames = parse_frames(out, masked=True)
        assert frames == [(True, 0, 0x8, code.to_bytes(2, "big") + event.reason.encode())]
    else:
        assert out == close_bytes(code, event.reason.encode())
    assert len(event.reason.encode()) <= 123
    # Later input is ignored: no events, nothing sent.
    conn.receive_data(cframe(0x1, b"late") if not conn.client else sframe(0x1, b"late"))
    conn.receive_data(b"")
    assert list(conn.events()) == []
    assert conn.data_to_send() == b""
    return event


def server_fails(data: bytes, code: int, **kwargs: object) -> Close:
    conn = server(**kwargs)
    return assert_failed(conn, feed(conn, data), code)


def client_fails(data: bytes, code: int, **kwargs: object) -> Close:
    conn = client(**kwargs)
    return assert_failed(conn, feed(conn, data), code)


# -- basics -------------------------------------------------------------------------------------


def test_handshake_false_starts_open() -> None:
    for conn in (server(), client()):
        assert conn.state is OPEN
        assert not conn.should_close_transport
        assert conn.data_to_send() == b""
        assert list(conn.events()) == []
        with pytest.raises(LocalProtocolError):
            conn.send(Handshake(host="h"))
        with pytest.raises(LocalProtocolError):
            conn.send(Accept())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_message_size": -1},
        {"max_message_size": "big"},
        {"max_frame_size": -5},
        {"max_frame_size": 1.5},
        {"max_handshake_size": 100},
        {"extensions": [object()]},
        {"extension_sessions": [object()]},
    ],
)
def test_constructor_validation(kwargs: dict) -> None:
    with pytest.raises(LocalProtocolError):
        Connection(Role.SERVER, **kwargs)


def test_constructor_role_must_be_a_role() -> None:
    with pytest.raises(LocalProtocolError):
        Connection("server")  # type: ignore[arg-type]


def test_repr_mentions_role_and_state() -> None:
    text = repr(server())
    assert "server" in text and "OPEN" in text


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (TextMessage("Hello"), "810548656c6c6f"),
        (BinaryMessage(b"Hello"), "820548656c6c6f"),
        (Ping(b"Hello"), "890548656c6c6f"),
        (Pong(b"Hello"), "8a0548656c6c6f"),
        (TextMessage(""), "8100"),
        (BinaryMessage(bytes(256)), "827e0100" + "00" * 256),
        (Close(1000), "880203e8"),
        (Close(1001, "bye"), "880503e9627965"),
        (Close(4999, "x"), "8803" + "1387" + "78"),
    ],
)
def test_server_sends_unmasked(event: object, expected: str) -> None:
    conn = server()
    conn.send(event)  # type: ignore[arg-type]
    assert conn.data_to_send() == bytes.fromhex(expected)


@pytest.mark.parametrize(
    ("event", "opcode", "payload"),
    [
        (TextMessage("Hello"), 0x1, b"Hello"),
        (TextMessage("\u20ac"), 0x1, b"\xe2\x82\xac"),
        (BinaryMessage(b"\x00" * 70000), 0x2, b"\x00" * 70000),
        (Ping(b"p"), 0x9, b"p"),
        (Pong(b""), 0xA, b""),
        (Close(1000, "ok"), 0x8, b"\x03\xe8ok"),
    ],
)
def test_client_sends_masked(event: object, opcode: int, payload: bytes) -> None:
    conn = client()
    conn.send(event)  # type: ignore[arg-type]
    out = conn.data_to_send()
    assert parse_frames(out, masked=True) == [(True, 0, opcode, payload)]


def test_client_mask_keys_differ() -> None:
    conn = client()
    keys = set()
    for _ in range(32):
        conn.send(TextMessage("same"))
        out = conn.data_to_send()
        keys.add(out[2:6])
    assert len(keys) == 32


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_receive_data_accepts_bytes_like(kind: type) -> None:
    conn = server()
    data = bytearray(cframe(0x1, b"hi") + cframe(0x2, b"yo"))
    conn.receive_data(kind(data[:3]))
    conn.receive_data(kind(data[3:]))
    data[:] = b"\x00" * len(data)  # the caller may reuse its buffer
    assert list(conn.events()) == [TextMessage("hi"), BinaryMessage(b"yo")]


def test_next_event() -> None:
    conn = server()
    conn.receive_data(cframe(0x1, b"a") + cframe(0x1, b"b"))
    assert conn.next_event() == TextMessage("a")
    assert conn.next_event() == TextMessage("b")
    assert conn.next_event() is None


@pytest.mark.parametrize(
    ("size", "chunk"),
    [
        (size, chunk)
        for size in (0, 1, 125, 126, 65535, 65536, 200_000)
        for chunk in (1, 7, 4096, None)
        if not (chunk == 1 and size > 70_000)  # slow and redundant
    ],
)
def test_receive_sizes_and_chunkings(size: int, chunk: int | None) -> None:
    payload = bytes(i & 0xFF for i in range(size))
    data = cframe(0x2, payload) + cframe(0x1, b"end")
    conn = server()
    events = []
    step = chunk or len(data)
    for i in range(0, len(data), step):
        conn.receive_data(data[i : i + step])
        events.extend(conn.events())
    assert events == [BinaryMessage(payload), TextMessage("end")]


# -- framing violations → 1002 -------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcode(opcode: int) -> None:
    server_fails(cframe(opcode, b"x"), 1002)
    client_fails(sframe(opcode, b"x"), 1002)


@pytest.mark.parametrize("opcode", [3, 0xB])
def test_reserved_opcode_fails_on_first_two_bytes(opcode: int) -> None:
    server_fails(cframe(opcode, bytes(1000))[:2], 1002)


@pytest.mark.parametrize("rsv", [RSV1, RSV2, RSV3, RSV1 | RSV3])
@pytest.mark.parametrize("opcode", [0x1, 0x2, 0x9, 0xA, 0x8])
def test_rsv_bits_without_extension(rsv: int, opcode: int) -> None:
    payload = b"\x03\xe8" if opcode == 0x8 else b"x"
    server_fails(cframe(opcode, payload, rsv=rsv), 1002)
    client_fails(sframe(opcode, payload, rsv=rsv), 1002)


def test_rsv_on_continuation_without_extension() -> None:
    server_fails(cframe(0x1, b"a", fin=False) + cframe(0x0, b"b", rsv=RSV1), 1002)


@pytest.mark.parametrize("opcode", [0x1, 0x2, 0x9, 0xA, 0x8])
def test_unmasked_frame_to_server(opcode: int) -> None:
    server_fails(sframe(opcode, b""), 1002)


@pytest.mark.parametrize("opcode", [0x1, 0x2, 0x9, 0xA, 0x8])
def test_masked_frame_to_client(opcode: int) -> None:
    client_fails(cframe(opcode, b""), 1002)


def test_unmasked_continuation_to_server() -> None:
    server_fails(cframe(0x1, b"a", fin=False) + sframe(0x0, b"b"), 1002)


@pytest.mark.parametrize(
    ("length", "enc"),
    [(0, 16), (1, 16), (125, 16), (0, 64), (125, 64), (126, 64), (65535, 64)],
)
def test_non_minimal_length(length: int, enc: int) -> None:
    data = cframe(0x2, bytes(length), enc=enc)
    server_fails(data, 1002)
    # Fails on the header alone.
    header = 2 + (2 if enc == 16 else 8) + 4
    server_fails(data[:header], 1002)
    client_fails(sframe(0x2, bytes(length), enc=enc), 1002)


@pytest.mark.parametrize("length", [1 << 63, (1 << 64) - 1, (1 << 63) + 65536])
def test_64_bit_length_with_msb_set(length: int) -> None:
    data = cframe(0x2, b"", length=length, enc=64)
    server_fails(data, 1002, max_message_size=None)
    server_fails(data, 1002)


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
@pytest.mark.parametrize("length", [126, 127, 1000, 65536])
def test_control_frame_over_125(opcode: int, length: int) -> None:
    # Fails on the header: the payload never needs to arrive.
    server_fails(cframe(opcode, bytes(length))[:4], 1002)
    server_fails(cframe(opcode, bytes(length)), 1002)
    client_fails(sframe(opcode, bytes(length)), 1002)


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_control_frame_of_125_is_fine(opcode: int) -> None:
    payload = b"\x03\xe8" + b"r" * 123 if opcode == 0x8 else b"p" * 125
    conn = server()
    (event,) = feed(conn, cframe(opcode, payload))
    assert not (isinstance(event, Close) and event.failed)


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_fragmented_control_frame(opcode: int) -> None:
    server_fails(cframe(opcode, b"\x03\xe8", fin=False), 1002)
    client_fails(sframe(opcode, b"\x03\xe8", fin=False), 1002)


@pytest.mark.parametrize("fin", [True, False])
def test_continuation_without_start(fin: bool) -> None:
    server_fails(cframe(0x0, b"x", fin=fin), 1002)
    client_fails(sframe(0x0, b"x", fin=fin), 1002)


def test_continuation_after_complete_message() -> None:
    conn = server()
    events = feed(conn, cframe(0x1, b"a", fin=False), cframe(0x0, b"b"), cframe(0x0, b"c"))
    assert events[0] == TextMessage("ab")
    assert_failed(conn, events, 1002)


@pytest.mark.parametrize(("first", "second"), [(0x1, 0x1), (0x1, 0x2), (0x2, 0x1), (0x2, 0x2)])
def test_new_data_frame_during_fragmented_message(first: int, second: int) -> None:
    server_fails(cframe(first, b"a", fin=False) + cframe(second, b"b"), 1002)
    client_fails(sframe(first, b"a", fin=False) + sframe(second, b"b"), 1002)


def test_control_frames_between_fragments() -> None:
    conn = server()
    events = feed(
        conn,
        cframe(0x1, b"Hel", fin=False)
        + cframe(0x9, b"p1")
        + cframe(0xA, b"q")
        + cframe(0x0, b"", fin=False)
        + cframe(0x9, b"p2")
        + cframe(0x0, b"lo"),
    )
    assert events == [Ping(b"p1"), Pong(b"q"), Ping(b"p2"), TextMessage("Hello")]
    assert conn.data_to_send() == b"\x8a\x02p1\x8a\x02p2"


def test_close_between_fragments() -> None:
    conn = server()
    events = feed(conn, cframe(0x2, b"a", fin=False) + cframe(0x8, b"\x03\xe8"))
    assert events == [Close(1000, "")]
    assert conn.data_to_send() == close_bytes(1000)


def test_empty_fragments() -> None:
    conn = server()
    events = feed(conn, cframe(0x1, b"", fin=False), cframe(0x0, b"", fin=False), cframe(0x0, b""))
    assert events == [TextMessage("")]
    events = feed(conn, cframe(0x2, b""))
    assert events == [BinaryMessage(b"")]


@pytest.mark.parametrize("general", [False, True], ids=["fast path", "general path"])
def test_empty_fragments_when_streaming(general: bool) -> None:
    """Empty non-final fragments give no event (an extension that transforms
    nothing still sends every frame through the general path)."""
    conn = server(stream=True, extension_sessions=[InvertSession()] if general else [])
    frames = [
        cframe(0x2, b"", fin=False),
        cframe(0x0, b"ab", fin=False),
        cframe(0x0, b"", fin=False),
    ]
    assert feed(conn, *frames, cframe(0x0, b"")) == [
        BinaryMessage(b"ab", final=False),
        BinaryMessage(b"", final=True),
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["fast paths", "general path"])
@pytest.mark.parametrize(
    ("following", "expect"),
    [
        # Taken with the first fragment (the fast path's run of continuations):
        (cframe(0x0, "é€".encode() * 50, fin=False) + cframe(0x0, b"!"), "whole"),
        # Each of these ends the run; the general path then reads the frame.
        (cframe(0x0, b"x" * 10, enc=16), 1002),  # a non-minimal 16-bit length
        (cframe(0x0, b"x" * 200, enc=64), 1002),  # a non-minimal 64-bit length
        (cframe(0x0, b"x", rsv=0x40), 1002),  # an RSV bit without an extension
        (frame(0x0, b"x", masked=False), 1002),  # unmasked, from a client
        (cframe(0x0, b"x" * 1000), 1009),  # over the message limit
        (cframe(0x1, b"x"), 1002),  # a new message in the middle of one
        (cframe(0x0, b"\xff"), 1007),  # invalid text
        (cframe(0x0, b"xyz", fin=False)[:-1], "partial"),  # not all here yet
    ],
    ids=["run", "16-bit", "64-bit", "rsv", "unmasked", "too-big", "new-message", "utf8", "partial"],
)
def test_fragment_runs_stop_before_anything_unusual(
    fast: bool, following: bytes, expect: object
) -> None:
    """A text fragment and what follows it in one chunk: the fast path takes the
    ordinary continuations that follow with the first fragment, and leaves the
    rest to the general path, which gives the same outcome as with no fast
    path at all."""
    conn = server(max_message_size=700)
    conn._reader.fast = fast
    first = cframe(0x1, "ab€".encode(), fin=False)
    events = feed(conn, first + following)
    if expect == "whole":
        assert events == [TextMessage("ab€" + "é€" * 50 + "!")]
    elif expect == "partial":
        assert events == []
        assert feed(conn, cframe(0x0, b"xyz", fin=False)[-1:]) == []  # the rest of it
        assert feed(conn, cframe(0x0, b"!")) == [TextMessage("ab€xyz!")]
    else:
        assert_failed(conn, events, expect)  # type: ignore[arg-type]


def test_client_receives_rfc_fragmented_example() -> None:
    conn = client()
    assert feed(conn, bytes.fromhex("010348656c"), bytes.fromhex("80026c6f")) == [
        TextMessage("Hello")
    ]


def test_server_receives_rfc_masked_example() -> None:
    conn = server()
    assert feed(conn, bytes.fromhex("818537fa213d7f9f4d5158")) == [TextMessage("Hello")]


def test_ping_is_answered_with_same_payload() -> None:
    conn = server()
    assert feed(conn, cframe(0x9, b"Hello")) == [Ping(b"Hello")]
    assert conn.data_to_send() == bytes.fromhex("8a0548656c6c6f")
    conn = client()
    assert feed(conn, sframe(0x9, b"Hello")) == [Ping(b"Hello")]
    assert parse_frames(conn.data_to_send(), masked=True) == [(True, 0, 0xA, b"Hello")]


def test_pong_is_not_answered() -> None:
    conn = server()
    assert feed(conn, cframe(0xA, b"x")) == [Pong(b"x")]
    assert conn.data_to_send() == b""


# -- UTF-8 (RFC 6455 §8.1) → 1007 ----------------------------------------------------------------

INVALID_UTF8 = {
    "ff": b"\xff",
    "fe": b"\xfe",
    "lone-continuation": b"\x80",
    "overlong-slash-2": b"\xc0\xaf",
    "overlong-c1": b"\xc1\xbf",
    "overlong-slash-3": b"\xe0\x80\xaf",
    "overlong-4": b"\xf0\x80\x80\xaf",
    "surrogate-d800": b"\xed\xa0\x80",
    "surrogate-dfff": b"\xed\xbf\xbf",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "f5": b"\xf5\x80\x80\x80",
    "bad-continuation": b"\xe2\x28\xa1",
}


@pytest.mark.parametrize("bad", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
@pytest.mark.parametrize("where", ["alone", "middle"])
def test_invalid_utf8_whole_message(bad: bytes, where: str) -> None:
    payload = bad if where == "alone" else b"hello " + bad + b" world"
    server_fails(cframe(0x1, payload), 1007)
    client_fails(sframe(0x1, payload), 1007)


@pytest.mark.parametrize("bad", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_fails_fast(bad: bytes) -> None:
    """The failure comes before the rest of a large frame arrives (Autobahn 6.4)."""
    payload = b"ok " + bad + b"x" * 100_000
    data = cframe(0x1, payload)
    header = 2 + 2 + 4 if len(payload) < 65536 else 2 + 8 + 4
    # Only the header and the first few payload bytes (up to the bad sequence).
    prefix = data[: header + 3 + len(bad)]
    server_fails(prefix, 1007)


def test_invalid_utf8_fails_fast_in_later_chunk() -> None:
    payload = "é".encode() * 1000 + b"\xff" + b"x" * 100_000
    data = cframe(0x1, payload)
    conn = server()
    assert feed(conn, data[:500]) == []
    assert feed(conn, data[500:1000]) == []
    # The header is 14 bytes: the bad byte is at 14 + 2000; the frame is 102015 bytes.
    events = feed(conn, data[1000:2015])
    assert_failed(conn, events, 1007)


def test_surrogate_prefix_fails_fast() -> None:
    """ED A0 can only start a surrogate: fail without waiting for the third byte."""
    data = cframe(0x1, b"\xed\xa0" + b"\x80" * 1000)
    server_fails(data[: 2 + 2 + 4 + 2], 1007)


def test_invalid_utf8_in_continuation_fails_fast() -> None:
    data = cframe(0x1, b"ok", fin=False) + cframe(0x0, b"\xff" + b"x" * 1000)
    server_fails(data[: len(data) - 1000], 1007)


@pytest.mark.parametrize("truncated", [b"\xce", b"\xe2\x82", b"\xf0\x9f\x98", b"ok\xe2"])
def test_truncated_utf8_at_message_end(truncated: bytes) -> None:
    server_fails(cframe(0x1, truncated), 1007)
    server_fails(cframe(0x1, b"a", fin=False) + cframe(0x0, truncated), 1007)


@pytest.mark.parametrize(
    "text", ["\u20ac", "\U0001f600", "h\u00e9llo \u4e16\u754c \U0010ffff", "\ud7ff\ue000\ufffd"]
)
def test_valid_utf8_split_mid_codepoint_across_fragments(text: str) -> None:
    data = text.encode()
    for cut in range(len(data) + 1):
        conn = server()
        events = feed(conn, cframe(0x1, data[:cut], fin=False) + cframe(0x0, data[cut:]))
        assert events == [TextMessage(text)], cut


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"\xed", b"\xa0\x80"),
        (b"\xf4", b"\x90\x80\x80"),
        (b"\xe0", b"\x80\xaf"),
        (b"\xe2\x82", b"x"),
        (b"\xce", b"\xce\xba"),
    ],
)
def test_invalid_utf8_split_across_fragments(first: bytes, second: bytes) -> None:
    server_fails(cframe(0x1, first, fin=False) + cframe(0x0, second), 1007)
    # Also with the fragments in separate reads.
    conn = server()
    assert feed(conn, cframe(0x1, first, fin=False)) == []
    assert_failed(conn, feed(conn, cframe(0x0, second)), 1007)


def test_invalid_utf8_split_across_fragments_with_a_ping_between() -> None:
    conn = server()
    events = feed(
        conn, cframe(0x1, b"\xf0\x9f", fin=False) + cframe(0x9, b"p") + cframe(0x0, b"\x98")
    )
    assert events[0] == Ping(b"p")
    # The message ends mid-codepoint: invalid. The pong goes out before the close.
    close = events[-1]
    assert close.code == 1007 and close.failed
    assert conn.data_to_send() == b"\x8a\x01p" + close_bytes(1007, close.reason.encode())


def test_binary_is_not_validated() -> None:
    conn = server()
    assert feed(conn, cframe(0x2, b"\xff\xed\xa0\x80")) == [BinaryMessage(b"\xff\xed\xa0\x80")]


# -- size limits → 1009 ------------------------------------------------------------------------


def test_max_message_size_boundary() -> None:
    conn = server(max_message_size=1000)
    assert feed(conn, cframe(0x2, bytes(1000))) == [BinaryMessage(bytes(1000))]
    server_fails(cframe(0x2, bytes(1001)), 1009, max_message_size=1000)


@pytest.mark.parametrize("opcode", [0x1, 0x2])
def test_max_message_size_fails_on_the_header(opcode: int) -> None:
    data = cframe(opcode, b"a" * 5000)
    server_fails(data[:8], 1009, max_message_size=1000)


def test_max_message_size_default_is_1_mib() -> None:
    conn = server()
    assert conn.max_message_size == 1 << 20
    head = cframe(0x2, b"", length=(1 << 20) + 1)
    server_fails(head, 1009)


def test_max_message_size_across_fragments() -> None:
    conn = server(max_message_size=1000)
    assert feed(conn, cframe(0x2, bytes(600), fin=False), cframe(0x0, bytes(400))) == [
        BinaryMessage(bytes(1000))
    ]
    data = cframe(0x2, bytes(600), fin=False) + cframe(0x0, bytes(401))
    # Fails at the second header, before its payload.
    server_fails(data[: len(data) - 401], 1009, max_message_size=1000)


def test_max_message_size_resets_between_messages() -> None:
    conn = server(max_message_size=100)
    for _ in range(5):
        assert feed(conn, cframe(0x1, b"a" * 60, fin=False), cframe(0x0, b"a" * 40)) == [
            TextMessage("a" * 100)
        ]


def test_max_message_size_none() -> None:
    conn = server(max_message_size=None)
    payload = bytes(2 << 20)
    assert feed(conn, cframe(0x2, payload)) == [BinaryMessage(payload)]


def test_max_message_size_zero() -> None:
    conn = server(max_message_size=0)
    assert feed(conn, cframe(0x1, b"")) == [TextMessage("")]
    server_fails(cframe(0x1, b"x"), 1009, max_message_size=0)


def test_max_frame_size() -> None:
    conn = server(max_frame_size=100, max_message_size=None)
    assert feed(conn, cframe(0x2, bytes(100))) == [BinaryMessage(bytes(100))]
    parts = [
        cframe(0x2, bytes(100), fin=False),
        cframe(0x0, bytes(100), fin=False),
        cframe(0x0, bytes(100)),
    ]
    assert feed(conn, *parts) == [BinaryMessage(bytes(300))]
    server_fails(cframe(0x2, bytes(101))[:8], 1009, max_frame_size=100)
    server_fails(
        cframe(0x2, bytes(10), fin=False) + cframe(0x0, bytes(101)), 1009, max_frame_size=100
    )


def test_max_frame_size_does_not_apply_to_control_frames() -> None:
    conn = server(max_frame_size=10)
    assert feed(conn, cframe(0x9, b"p" * 100)) == [Ping(b"p" * 100)]


def test_client_limits_too() -> None:
    client_fails(sframe(0x2, bytes(11)), 1009, max_message_size=10)


# -- the closing handshake (RFC 6455 §5.5.1, §7) ------------------------------------------------

BOUNDARY_CODES = [
    0,
    1,
    999,
    1000,
    1001,
    1002,
    1003,
    1004,
    1005,
    1006,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    1015,
    1016,
    1100,
    2000,
    2999,
    3000,
    3001,
    3999,
    4000,
    4999,
    5000,
    65535,
]


@pytest.mark.parametrize("code", BOUNDARY_CODES)
def test_close_code_received(code: int) -> None:
    check_close_code(code)


def test_every_close_code_0_to_5000() -> None:
    for code in range(0, 5001):
        check_close_code(code)


def check_close_code(code: int) -> None:
    conn = server()
    events = feed(conn, cframe(0x8, code.to_bytes(2, "big") + b"reason"))
    valid = code in {1000, 1001, 1002, 1003, *range(1007, 1015)} or 3000 <= code <= 4999
    assert is_valid_on_wire(code) is valid
    if valid:
        assert events == [Close(code, "reason")], code
        assert conn.data_to_send() == close_bytes(code), code  # echoes the code
        assert conn.state is CLOSED
    else:
        assert_failed(conn, events, 1002)


def test_close_with_one_byte_payload() -> None:
    server_fails(cframe(0x8, b"\x03"), 1002)
    client_fails(sframe(0x8, b"\x03"), 1002)


@pytest.mark.parametrize("reason", [b"\xff", b"ok\xed\xa0\x80", b"\xc0\xaf", b"trunc\xe2\x82"])
def test_close_reason_invalid_utf8(reason: bytes) -> None:
    server_fails(cframe(0x8, b"\x03\xe8" + reason), 1007)
    client_fails(sframe(0x8, b"\x03\xe8" + reason), 1007)


def test_close_reason_utf8() -> None:
    conn = server()
    reason = "bye \u2603 \U0001f600"
    assert feed(conn, cframe(0x8, b"\x03\xe9" + reason.encode())) == [Close(1001, reason)]
    # The reply echoes the code only.
    assert conn.data_to_send() == close_bytes(1001)


def test_empty_close_is_1005_and_answered_with_1000() -> None:
    conn = server()
    events = feed(conn, cframe(0x8))
    assert events == [Close(1005, "")]
    assert events[0].failed is False
    assert conn.data_to_send() == bytes.fromhex("880203e8")
    assert conn.state is CLOSED
    conn = client()
    assert feed(conn, sframe(0x8)) == [Close(1005, "")]
    assert parse_frames(conn.data_to_send(), masked=True) == [(True, 0, 0x8, b"\x03\xe8")]


def test_data_after_close_is_ignored() -> None:
    conn = server()
    events = feed(conn, cframe(0x8, b"\x03\xe8") + cframe(0x1, b"after") + b"\xff\xff")
    assert events == [Close(1000, "")]
    conn.receive_data(cframe(0x1, b"later"))
    assert list(conn.events()) == []
    assert conn.data_to_send() == close_bytes(1000)


def test_open_closing_closed_server_initiates() -> None:
    pair = ConnectionPair.open()
    pair.server.send(Close(1001, "going away"))
    assert pair.server.state is CLOSING
    assert not pair.server.should_close_transport
    assert pair.deliver_to_client() == [Close(1001, "going away")]
    assert pair.client.state is CLOSED
    # RFC 6455 §7.1.1: the server closes TCP first; the client waits.
    assert not pair.client.should_close_transport
    assert pair.deliver_to_server() == [Close(1001, "")]
    assert pair.server.state is CLOSED
    assert pair.server.should_close_transport
    assert pair.server.data_to_send() == b""


def test_open_closing_closed_client_initiates() -> None:
    pair = ConnectionPair.open()
    pair.client.send(Close(1000, "done"))
    assert pair.client.state is CLOSING
    assert pair.deliver_to_server() == [Close(1000, "done")]
    assert pair.server.state is CLOSED
    assert pair.server.should_close_transport
    assert pair.deliver_to_client() == [Close(1000, "")]
    assert pair.client.state is CLOSED
    assert not pair.client.should_close_transport
    # The server closes TCP; the client sees EOF: nothing more happens.
    assert pair.send_eof_to_client() == []
    assert pair.client.state is CLOSED
    assert pair.client.should_close_transport


def test_simultaneous_close() -> None:
    pair = ConnectionPair.open()
    pair.client.send(Close(1000, "c"))
    pair.server.send(Close(1001, "s"))
    assert pair.deliver_to_server() == [Close(1000, "c")]
    assert pair.deliver_to_client() == [Close(1001, "s")]
    assert pair.server.state is CLOSED and pair.client.state is CLOSED
    assert pair.server.data_to_send() == b"" and pair.client.data_to_send() == b""


def test_closing_state_still_receives_data_and_answers_pings() -> None:
    conn = server()
    conn.send(Close(1000))
    assert conn.data_to_send() == close_bytes(1000)
    events = feed(conn, cframe(0x1, b"in flight") + cframe(0x9, b"p") + cframe(0x8, b"\x03\xe8"))
    assert events == [TextMessage("in flight"), Ping(b"p"), Close(1000, "")]
    # A pong for the ping, no second close frame.
    assert conn.data_to_send() == b"\x8a\x01p"
    assert conn.state is CLOSED


def test_failure_while_closing_sends_no_second_close() -> None:
    conn = server()
    conn.send(Close(1000))
    conn.data_to_send()
    events = feed(conn, cframe(0x3))
    assert events[-1].code == 1002 and events[-1].failed
    assert conn.state is CLOSED
    assert conn.data_to_send() == b""


def test_close_reply_with_invalid_code_while_closing() -> None:
    conn = server()
    conn.send(Close(1000))
    conn.data_to_send()
    events = feed(conn, cframe(0x8, b"\x03\xed"))  # 1005 on the wire
    assert events == [Close(1002, events[0].reason, failed=True)]
    assert conn.data_to_send() == b""


@pytest.mark.parametrize("state", ["open", "closing"])
@pytest.mark.parametrize("partial", [b"", b"\x81", b"\x81\x85\x00"])
def test_eof_is_1006(state: str, partial: bytes) -> None:
    conn = server()
    if state == "closing":
        conn.send(Close(1000))
        conn.data_to_send()
    events = feed(conn, partial, b"")
    assert len(events) == 1
    assert events[0].code == 1006 and events[0].failed is True
    assert conn.state is CLOSED
    assert conn.should_close_transport
    assert conn.data_to_send() == b""
    assert list(conn.events()) == []


def test_eof_after_messages() -> None:
    conn = client()
    events = feed(conn, sframe(0x1, b"a") + sframe(0x1, b"b"), b"")
    assert events[:2] == [TextMessage("a"), TextMessage("b")]
    assert events[2].code == 1006
    assert conn.should_close_transport


def test_eof_after_closed_is_silent() -> None:
    conn = server()
    feed(conn, cframe(0x8, b"\x03\xe8"))
    conn.data_to_send()
    assert feed(conn, b"") == []
    assert feed(conn, b"more") == []


def test_should_close_transport_after_failure() -> None:
    for conn, bad in ((server(), sframe(0x1)), (client(), cframe(0x1))):
        assert not conn.should_close_transport
        feed(conn, bad)
        assert conn.should_close_transport


# -- sending rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CLIENT, Role.SERVER])
def test_send_after_close_sent(role: Role) -> None:
    conn = Connection(role, handshake=False)
    conn.send(Close(1000))
    conn.data_to_send()
    for event in (TextMessage("x"), BinaryMessage(b"x"), Close(1000)):
        with pytest.raises(LocalProtocolError):
            conn.send(event)
    assert conn.data_to_send() == b""
    # Control frames are still allowed while CLOSING.
    conn.send(Ping(b"a"))
    conn.send(Pong(b"b"))
    frames = parse_frames(conn.data_to_send(), masked=role is Role.CLIENT)
    assert [(f[2], f[3]) for f in frames] == [(0x9, b"a"), (0xA, b"b")]
    assert conn.state is CLOSING


@pytest.mark.parametrize("role", [Role.CLIENT, Role.SERVER])
def test_send_after_closed(role: Role) -> None:
    conn = Connection(role, handshake=False)
    close = cframe(0x8, b"\x03\xe8") if role is Role.SERVER else sframe(0x8, b"\x03\xe8")
    feed(conn, close)
    conn.data_to_send()
    for event in (TextMessage("x"), BinaryMessage(b"x"), Close(1000), Ping(), Pong()):
        with pytest.raises(LocalProtocolError):
            conn.send(event)
    assert conn.data_to_send() == b""


def test_send_after_failure() -> None:
    conn = server()
    feed(conn, sframe(0x1, b"unmasked"))
    conn.data_to_send()
    for event in (TextMessage("x"), Close(1000), Ping()):
        with pytest.raises(LocalProtocolError):
            conn.send(event)


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999])
def test_send_close_with_code_not_allowed_on_wire(code: int) -> None:
    conn = server()
    with pytest.raises(LocalProtocolError):
        conn.send(Close(code))
    assert conn.data_to_send() == b""
    assert conn.state is OPEN
    conn.send(Close(1000))
    assert conn.state is CLOSING


@pytest.mark.parametrize("code", [-1, 0, 999, 5000, 65535])
def test_close_code_out_of_range_refused(code: int) -> None:
    conn = server()
    with pytest.raises(LocalProtocolError):
        conn.send(Close(code))
    assert conn.data_to_send() == b""
    assert conn.state is OPEN


def test_send_close_failed_true_refused() -> None:
    conn = server()
    with pytest.raises(LocalProtocolError):
        conn.send(Close(1000, failed=True))
    assert conn.data_to_send() == b""
    assert conn.state is OPEN


def test_send_close_reason_limit() -> None:
    conn = server()
    conn.send(Close(1000, "r" * 123))
    out = conn.data_to_send()
    assert out[:4] == b"\x88\x7d\x03\xe8"
    assert len(out) == 2 + 125
    with pytest.raises(LocalProtocolError):
        Close(1000, "r" * 124)
    with pytest.raises(LocalProtocolError):
        Close(1000, "\u20ac" * 42)  # 126 bytes


def test_send_fragmented_message_exact_bytes() -> None:
    conn = server()
    conn.send(TextMessage("Hel", final=False))
    conn.send(Ping(b"p"))  # control frames may be interleaved (RFC 6455 §5.4)
    conn.send(TextMessage("lo", final=True))
    assert conn.data_to_send() == bytes.fromhex("010348656c") + b"\x89\x01p" + bytes.fromhex(
        "80026c6f"
    )


def test_send_fragmented_binary_with_empty_parts() -> None:
    conn = server()
    conn.send(BinaryMessage(b"", final=False))
    conn.send(BinaryMessage(b"ab", final=False))
    conn.send(BinaryMessage(b""))
    assert conn.data_to_send() == b"\x02\x00" + b"\x00\x02ab" + b"\x80\x00"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (TextMessage("a", final=False), BinaryMessage(b"b")),
        (BinaryMessage(b"a", final=False), TextMessage("b")),
        (BinaryMessage(b"a", final=False), TextMessage("b", final=False)),
    ],
)
def test_interleaving_messages_refused(first: object, second: object) -> None:
    conn = server()
    conn.send(first)  # type: ignore[arg-type]
    sent = conn.data_to_send()
    with pytest.raises(LocalProtocolError):
        conn.send(second)  # type: ignore[arg-type]
    assert conn.data_to_send() == b""
    # The fragmented message can still be finished, then a new one sent.
    conn.send(type(first)(first.data[:0]))  # type: ignore[attr-defined]
    conn.send(second)  # type: ignore[arg-type]
    frames = parse_frames(sent + conn.data_to_send(), masked=False)
    assert [f[2] for f in frames] == [first_opcode(first), 0x0, first_opcode(second)]


def first_opcode(event: object) -> int:
    return 0x1 if isinstance(event, TextMessage) else 0x2


def test_close_during_fragmented_send() -> None:
    conn = server()
    conn.send(TextMessage("a", final=False))
    conn.send(Close(1000))
    with pytest.raises(LocalProtocolError):
        conn.send(TextMessage("b"))
    assert conn.data_to_send() == b"\x01\x01a" + close_bytes(1000)


def test_fragmented_round_trip() -> None:
    pair = ConnectionPair.open()
    pair.client.send(TextMessage("h\u00e9", final=False))
    pair.client.send(TextMessage("llo", final=False))
    pair.client.send(TextMessage("!", final=True))
    assert pair.deliver_to_server() == [TextMessage("h\u00e9llo!")]


@pytest.mark.parametrize("event", [HandshakeFailed("x"), HTTPRequest("GET", "/")])
def test_receive_only_events_cannot_be_sent(event: object) -> None:
    conn = server()
    with pytest.raises(LocalProtocolError):
        conn.send(event)  # type: ignore[arg-type]


@pytest.mark.parametrize("thing", [b"raw bytes", "text", None, 42])
def test_send_rejects_non_events(thing: object) -> None:
    conn = server()
    with pytest.raises(LocalProtocolError):
        conn.send(thing)  # type: ignore[arg-type]
    assert conn.data_to_send() == b""


def test_reject_cannot_be_sent_when_open() -> None:
    with pytest.raises(LocalProtocolError):
        server().send(Reject(400))


@pytest.mark.parametrize(
    "make",
    [
        lambda: TextMessage("\ud800"),
        lambda: TextMessage("ok \udfff"),
        lambda: Close(1000, "\ud800"),
    ],
    ids=["lone-high-surrogate", "lone-low-surrogate", "close-reason-surrogate"],
)
def test_text_with_surrogates_is_a_local_error(make: object) -> None:
    """Lone surrogates cannot be encoded as UTF-8 (RFC 3629): LocalProtocolError
    from the event or from send(), never UnicodeEncodeError; nothing queued."""
    conn = server()
    with pytest.raises(LocalProtocolError):
        conn.send(make())  # type: ignore[operator]
    assert conn.data_to_send() == b""
    assert conn.state is OPEN


# -- lazy parsing and ordering -------------------------------------------------------------------


def test_echo_reply_is_queued_before_failure_close() -> None:
    conn = server()
    conn.receive_data(cframe(0x1, b"hello") + cframe(0x3, b"bad"))
    events = []
    for event in conn.events():
        events.append(event)
        if isinstance(event, TextMessage):
            conn.send(TextMessage("echo: " + event.data))
    assert events[0] == TextMessage("hello")
    assert events[1].code == 1002 and events[1].failed
    assert conn.data_to_send() == b"\x81\x0becho: hello" + close_bytes(
        1002, events[1].reason.encode()
    )


def test_echo_and_pongs_keep_order() -> None:
    conn = server()
    conn.receive_data(cframe(0x9, b"1") + cframe(0x1, b"m") + cframe(0x9, b"2"))
    for event in conn.events():
        if isinstance(event, TextMessage):
            conn.send(TextMessage(event.data.upper()))
    assert conn.data_to_send() == b"\x8a\x011" + b"\x81\x01M" + b"\x8a\x012"


def test_reply_to_message_before_peer_close() -> None:
    conn = server()
    conn.receive_data(cframe(0x1, b"q") + cframe(0x8, b"\x03\xe8"))
    for event in conn.events():
        if isinstance(event, TextMessage):
            conn.send(TextMessage("a"))
    assert conn.data_to_send() == b"\x81\x01a" + close_bytes(1000)


def test_parsing_is_lazy() -> None:
    conn = server()
    conn.receive_data(cframe(0x1, b"a") + cframe(0x3))
    it = conn.events()
    assert next(it) == TextMessage("a")
    # The bad frame has not been looked at yet.
    assert conn.state is OPEN
    assert conn.data_to_send() == b""
    assert next(it).code == 1002  # type: ignore[attr-defined]
    assert conn.state is CLOSED


# -- streaming -----------------------------------------------------------------------------------


def test_stream_delivers_parts_in_bounded_memory() -> None:
    size = 4 << 20
    chunk = 64 * 1024
    payload = bytes(range(256)) * (size // 256)
    data = cframe(0x2, payload)
    conn = server(stream=True, max_message_size=None)
    total = 0
    finals = []
    for i in range(0, len(data), chunk):
        conn.receive_data(data[i : i + chunk])
        for event in conn.events():
            assert isinstance(event, BinaryMessage)
            assert len(event.data) <= chunk
            assert event.data == payload[total : total + len(event.data)]
            total += len(event.data)
            finals.append(event.final)
    assert total == size
    assert finals[-1] is True
    assert not any(finals[:-1])


def test_stream_text_split_mid_codepoint() -> None:
    text = "\u20ac\U0001f600" * 50
    data = text.encode()
    conn = server(stream=True)
    events = feed(conn, *(bytes([b]) for b in cframe(0x1, data)))
    assert all(isinstance(e, TextMessage) for e in events)
    assert "".join(e.data for e in events) == text
    assert events[-1].final
    assert not any(e.final for e in events[:-1])


def test_stream_fragments() -> None:
    conn = server(stream=True)
    events = feed(
        conn,
        cframe(0x1, b"ab", fin=False),
        cframe(0x0, b"", fin=False),
        cframe(0x0, b"cd", fin=False),
        cframe(0x0, b""),
    )
    assert "".join(e.data for e in events) == "abcd"
    assert events[-1].final
    assert not any(e.final for e in events[:-1])


def test_stream_invalid_utf8_after_parts() -> None:
    conn = server(stream=True)
    events = feed(conn, cframe(0x1, b"good", fin=False), cframe(0x0, b"\xff"))
    assert events[0] == TextMessage("good", final=False)
    assert_failed(conn, events, 1007)


def test_stream_empty_message() -> None:
    conn = server(stream=True)
    assert feed(conn, cframe(0x1, b"")) == [TextMessage("", final=True)]
    assert feed(conn, cframe(0x2, b"")) == [BinaryMessage(b"", final=True)]


def test_stream_size_limit_still_applies() -> None:
    server_fails(cframe(0x2, bytes(2000))[:8], 1009, stream=True, max_message_size=1000)


# -- extensions (RFC 6455 §9) with a toy extension -----------------------------------------------

INVERT = bytes(b ^ 0xFF for b in range(256))


class InvertSession(ExtensionSession):
    """A toy extension on RSV1: payloads are bit-inverted; *factor* > 1 makes the
    inbound side repeat each byte (a "decompression bomb")."""

    rsv_mask = RSV1

    def __init__(self, factor: int = 1) -> None:
        self.factor = factor
        self._pending = b""
        self.calls: list[tuple[int, bool]] = []

    def inbound_frame(self, opcode: Opcode, rsv: int, *, starts_message: bool) -> bool:
        if rsv and (opcode.is_control or opcode == Opcode.CONTINUATION):
            raise RemoteProtocolError("RSV1 is only allowed on the first frame of a message")
        return bool(rsv)

    def inbound_data(self, data: bytes, final: bool, max_length: int) -> bytes:
        out = data.translate(INVERT)
        if self.factor > 1:
            out = bytes(b for b in out for _ in range(self.factor))
        buf = self._pending + out
        self._pending = buf[max_length:]
        self.calls.append((len(data), final))
        return buf[:max_length]

    def outbound_message(self, opcode: Opcode, size_hint: int | None, transform: bool) -> int:
        return RSV1 if transform else 0

    def outbound_data(self, data: bytes, final: bool) -> bytes:
        return data.translate(INVERT)


def inv(data: bytes) -> bytes:
    return data.translate(INVERT)


def test_extension_session_requires_handshake_false() -> None:
    with pytest.raises(LocalProtocolError):
        Connection(Role.SERVER, extension_sessions=[InvertSession()])


def test_extension_inbound() -> None:
    conn = server(extension_sessions=[InvertSession()])
    events = feed(
        conn,
        cframe(0x1, inv(b"hello"), rsv=RSV1),
        cframe(0x2, b"plain"),
        cframe(0x2, inv(b"ab"), rsv=RSV1, fin=False) + cframe(0x0, inv(b"cd")),
        cframe(0x9, b"ping"),
    )
    assert events == [
        TextMessage("hello"),
        BinaryMessage(b"plain"),
        BinaryMessage(b"abcd"),
        Ping(b"ping"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        cframe(0x9, b"p", rsv=RSV1),
        cframe(0x1, b"a", fin=False) + cframe(0x0, b"b", rsv=RSV1),
        cframe(0x1, b"a", rsv=RSV2),
        cframe(0x1, b"a", rsv=RSV3),
    ],
    ids=["rsv1-on-ping", "rsv1-on-continuation", "rsv2", "rsv3"],
)
def test_extension_rsv_violations(data: bytes) -> None:
    server_fails(data, 1002, extension_sessions=[InvertSession()])


def test_extension_invalid_utf8_after_transform() -> None:
    server_fails(cframe(0x1, inv(b"\xff"), rsv=RSV1), 1007, extension_sessions=[InvertSession()])


def test_extension_outbound() -> None:
    conn = server(extension_sessions=[InvertSession()])
    conn.send(TextMessage("hi"))
    conn.send(BinaryMessage(b"raw"), compress=False)
    conn.send(BinaryMessage(b"ab", final=False))
    conn.send(BinaryMessage(b"cd"))
    conn.send(Ping(b"p"))
    frames = parse_frames(conn.data_to_send(), masked=False)
    assert frames == [
        (True, RSV1, 0x1, inv(b"hi")),
        (True, 0, 0x2, b"raw"),
        (False, RSV1, 0x2, inv(b"ab")),
        (True, 0, 0x0, inv(b"cd")),
        (True, 0, 0x9, b"p"),
    ]


def test_extension_round_trip_through_pair() -> None:
    pair = ConnectionPair(
        client(extension_sessions=[InvertSession()]),
        server(extension_sessions=[InvertSession()]),
        chunk_size=3,
    )
    messages = [TextMessage("\u20ac" * 10), BinaryMessage(bytes(range(200)))]
    for m in messages:
        pair.client.send(m)
        pair.server.send(m)
    assert pair.deliver_to_server() == messages
    assert pair.deliver_to_client() == messages


def test_extension_bomb_fails_with_1009() -> None:
    """The header check cannot see the transformed size: the output is bounded."""
    session = InvertSession(factor=100)
    conn = server(extension_sessions=[session], max_message_size=1000)
    events = feed(conn, cframe(0x2, bytes(50), rsv=RSV1))
    assert_failed(conn, events, 1009)


def test_extension_output_exactly_at_limit() -> None:
    conn = server(extension_sessions=[InvertSession(factor=10)], max_message_size=1000)
    assert feed(conn, cframe(0x2, inv(bytes(100)), rsv=RSV1)) == [BinaryMessage(bytes(1000))]


def test_extension_large_output_drained_in_parts_when_streaming() -> None:
    conn = server(extension_sessions=[InvertSession(factor=4)], stream=True, max_message_size=None)
    events = feed(conn, cframe(0x2, inv(b"\x01" * 50_000), rsv=RSV1))
    assert len(events) > 1
    assert b"".join(e.data for e in events) == b"\x01" * 200_000
    assert all(len(e.data) <= 1 << 16 for e in events)
    assert events[-1].final and not any(e.final for e in events[:-1])


def test_extension_large_output_whole_message() -> None:
    conn = server(extension_sessions=[InvertSession(factor=4)], max_message_size=None)
    events = feed(conn, cframe(0x2, inv(b"\x02" * 50_000), rsv=RSV1))
    assert events == [BinaryMessage(b"\x02" * 200_000)]
    # The next message is parsed normally.
    assert feed(conn, cframe(0x1, b"next")) == [TextMessage("next")]


def test_fragmented_output_exactly_at_drain_bound() -> None:
    """A fragment whose transformed output fills the bound exactly: the drain
    ends with an empty call, then the next frame is parsed."""
    conn = server(extension_sessions=[InvertSession(factor=4)], stream=True, max_message_size=None)
    events = feed(
        conn,
        cframe(0x2, inv(b"\x03" * 16384), rsv=RSV1, fin=False),
        cframe(0x0, inv(b"\x03" * 10)),
    )
    assert b"".join(e.data for e in events) == b"\x03" * (65536 + 40)
    assert events[-1].final and not any(e.final for e in events[:-1])


def test_stream_with_limit_bounds_extension_output() -> None:
    conn = server(extension_sessions=[InvertSession(factor=4)], stream=True)
    events = feed(conn, cframe(0x2, inv(b"\x04" * 40_000), rsv=RSV1))
    assert b"".join(e.data for e in events) == b"\x04" * 160_000
    assert all(len(e.data) <= 1 << 16 for e in events)


class LongReasonSession(InvertSession):
    def inbound_frame(self, opcode: Opcode, rsv: int, *, starts_message: bool) -> bool:
        if rsv:
            raise RemoteProtocolError("\u00e9\u20ac" * 60, code=1008)
        return False


def test_failure_reason_is_trimmed_to_123_bytes_of_utf8() -> None:
    event = server_fails(
        cframe(0x1, b"x", rsv=RSV1), 1008, extension_sessions=[LongReasonSession()]
    )
    data = event.reason.encode("utf-8")
    assert 120 <= len(data) <= 123
    assert ("\u00e9\u20ac" * 60).startswith(event.reason)


def test_pair_on_event_answers_before_the_next_frame() -> None:
    pair = ConnectionPair.open(chunk_size=5)
    pair.client.send(TextMessage("one"))
    pair.client.send(Close(1000))

    def answer(event: object) -> None:
        if isinstance(event, TextMessage):
            pair.server.send(TextMessage(event.data.upper()))

    assert pair.deliver_to_server(on_event=answer) == [TextMessage("one"), Close(1000, "")]
    # The answer went out before the automatic close reply.
    assert pair.deliver_to_client() == [TextMessage("ONE"), Close(1000, "")]


def test_pair_eof_helpers() -> None:
    pair = ConnectionPair.open()
    events = pair.send_eof_to_server()
    assert len(events) == 1 and events[0].code == 1006 and events[0].failed
    events = pair.send_eof_to_client()
    assert len(events) == 1 and events[0].code == 1006
    assert pair.server.should_close_transport and pair.client.should_close_transport


def test_drain_ends_in_the_middle_of_a_frame() -> None:
    conn = server(extension_sessions=[InvertSession(factor=4)], stream=True, max_message_size=None)
    data = cframe(0x2, inv(b"\x05" * 20_000), rsv=RSV1)
    header = 2 + 2 + 4
    first = feed(conn, data[: header + 16384])  # exactly one bound's worth of output
    rest = feed(conn, data[header + 16384 :])
    events = first + rest
    assert b"".join(e.data for e in events) == b"\x05" * 80_000
    assert events[-1].final and not any(e.final for e in events[:-1])


@pytest.mark.parametrize("attribute", ["max_message_size", "max_frame_size"])
def test_changing_a_limit_applies_whatever_the_chunking(attribute: str) -> None:
    """The limits are public attributes: if they can be changed after
    construction, the change applies to every frame, whichever parser path
    (whole frame in the buffer, or frame in pieces) handles it."""
    data = cframe(0x2, b"x" * 20)
    outcomes = []
    for pieces in ([data], [data[i : i + 1] for i in range(len(data))]):
        conn = server()
        try:
            setattr(conn, attribute, 10)
        except (AttributeError, LocalProtocolError):
            return  # read-only limits are fine too
        events = []
        for piece in pieces:
            conn.receive_data(piece)
            events.extend(conn.events())
        outcomes.append(events)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0].code == 1009


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"\xf4", b"\x90"),
        (b"\xed", b"\xa0"),
        (b"\xe0", b"\x80"),
        (b"\xf0", b"\x80"),
        (b"\xc3", b"("),
    ],
)
def test_invalid_utf8_split_across_reads_fails_fast(first: bytes, second: bytes) -> None:
    """An invalid sequence cut between two reads of one large frame fails as
    soon as its second byte arrives, before the rest of the frame."""
    data = cframe(0x1, b"ab" + first + second + b"x" * 100_000)
    header = 2 + 8 + 4
    conn = server()
    assert feed(conn, data[: header + 2 + len(first)]) == []
    events = feed(conn, data[header + 2 + len(first) : header + 2 + len(first) + len(second)])
    assert_failed(conn, events, 1007)


def test_has_data_to_send_peeks_without_consuming() -> None:
    conn = Connection(Role.SERVER, handshake=False)
    assert not conn.has_data_to_send
    conn.send(TextMessage("hi"))
    assert conn.has_data_to_send
    assert conn.has_data_to_send  # asking twice takes nothing
    assert conn.data_to_send() == b"\x81\x02hi"
    assert not conn.has_data_to_send


def test_max_frame_size_can_be_read_and_changed() -> None:
    conn = Connection(Role.SERVER, handshake=False, max_frame_size=10)
    assert conn.max_frame_size == 10
    conn.max_frame_size = None
    assert conn.max_frame_size is None
    with pytest.raises(LocalProtocolError):
        conn.max_frame_size = -1


@pytest.mark.parametrize("data", ["text", 123, None, [1, 2]])
def test_receive_data_refuses_what_is_not_bytes(data: object) -> None:
    conn = Connection(Role.SERVER, handshake=False)
    with pytest.raises(LocalProtocolError, match="takes bytes"):
        conn.receive_data(data)  # type: ignore[arg-type]
    assert conn.state is ConnectionState.OPEN


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_receive_data_takes_bytes_like(kind: type) -> None:
    conn = Connection(Role.SERVER, handshake=False)
    conn.receive_data(kind(serialize_frame(1, b"hi", mask=True)))
    assert list(conn.events()) == [TextMessage("hi")]


# -- the fast paths: the application may touch the parser between two events ----------------


def test_receive_data_between_fast_path_events() -> None:
    """More data received while events() is suspended on a fast-path event is
    parsed after what was already buffered, in order."""
    conn = server()
    conn.receive_data(cframe(0x1, b"one") + cframe(0x1, b"two"))
    got = []
    for event in conn.events():
        got.append(event)
        if len(got) == 1:
            conn.receive_data(cframe(0x2, b"three"))
    assert got == [TextMessage("one"), TextMessage("two"), BinaryMessage(b"three")]


def test_next_event_between_fast_path_events() -> None:
    conn = server()
    conn.receive_data(cframe(0x1, b"one") + cframe(0x1, b"two") + cframe(0x1, b"three"))
    events = conn.events()
    assert next(events) == TextMessage("one")
    assert conn.next_event() == TextMessage("two")
    assert list(events) == [TextMessage("three")]


def test_limit_lowered_between_fast_path_events() -> None:
    conn = server()
    conn.receive_data(cframe(0x1, b"one") + cframe(0x1, b"seven!!"))
    events = conn.events()
    assert next(events) == TextMessage("one")
    conn.max_message_size = 5
    assert_failed(conn, list(events), 1009)


# -- _needs_data (for the adapters' driver) --------------------------------------------------


def test_needs_data_says_when_only_more_input_can_give_an_event() -> None:
    conn = server()
    assert conn._needs_data()  # OPEN, nothing received
    conn.receive_data(frame(0x1, b"one") + frame(0x1, b"two")[:3])
    assert not conn._needs_data()
    assert conn.next_event() == TextMessage("one")
    assert conn.next_event() is None
    assert not conn._needs_data()  # (an incomplete header stays unparsed)
    conn.receive_data(frame(0x1, b"two")[3:])
    assert conn.next_event() == TextMessage("two")
    assert conn._needs_data()
    conn.receive_data(b"")  # the end of input is an event of its own
    assert not conn._needs_data()
    assert isinstance(conn.next_event(), Close)
    assert not conn._needs_data()  # CLOSED
    # During the handshake the handshake layer holds the input.
    assert not Connection(Role.SERVER)._needs_data()


def test_needs_data_is_false_while_an_extension_drains() -> None:
    import zlib

    from wsproto_lite.extensions.permessage_deflate import PerMessageDeflateSession

    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = compressor.compress(b"x" * 200_000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    conn = server(stream=True, extension_sessions=[PerMessageDeflateSession()])
    conn.receive_data(frame(0x2, payload[:-4], rsv=4))
    event = conn.next_event()
    assert isinstance(event, BinaryMessage) and not event.final
    assert not conn._needs_data()  # every byte parsed, but output is pending
    size = len(event.data)
    while not conn._needs_data():
        event = conn.next_event()
        assert isinstance(event, BinaryMessage)
        size += len(event.data)
    assert event.final and size == 200_000
