"""Tests of PreparedMessage and Connection.send_prepared: a message framed once,
sent on many server connections (the core of a broadcast)."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsproto_lite import (
    BinaryMessage,
    Close,
    Connection,
    ConnectionState,
    LocalProtocolError,
    Opcode,
    Ping,
    PreparedMessage,
    Role,
    TextMessage,
)
from wsproto_lite.extensions import ExtensionSession
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate, PerMessageDeflateSession
from wsproto_lite.testing import ConnectionPair, messages

RSV1 = 0x40


def unmasked_frame(opcode: int, payload: bytes) -> bytes:
    """An independent serializer of a final, unmasked frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 127]) + struct.pack("!Q", n)
    return head + payload


def open_server() -> Connection:
    return ConnectionPair.open().server


#: The two ways to send a prepared message; each refuses what the other refuses.
METHODS = pytest.mark.parametrize("method", ["send_prepared", "take_prepared"])


def send(conn: Connection, method: str, prepared: object) -> None:
    getattr(conn, method)(prepared)


# -- PreparedMessage ---------------------------------------------------------------------


def test_rfc_6455_5_7_unmasked_text_hello() -> None:
    prepared = PreparedMessage(TextMessage("Hello"))
    assert prepared.frame == b"\x81\x05\x48\x65\x6c\x6c\x6f"
    assert prepared.opcode is Opcode.TEXT
    assert prepared.size == 5
    assert prepared.message == TextMessage("Hello")


def test_rfc_6455_5_7_256_bytes_binary_16_bit_length() -> None:
    payload = bytes(range(256))
    prepared = PreparedMessage(BinaryMessage(payload))
    assert prepared.frame == b"\x82\x7e\x01\x00" + payload
    assert prepared.opcode is Opcode.BINARY
    assert prepared.size == 256


def test_rfc_6455_5_7_64_kib_binary_64_bit_length() -> None:
    payload = b"\xaa" * 65536
    prepared = PreparedMessage(BinaryMessage(payload))
    assert prepared.frame == b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + payload


@pytest.mark.parametrize(
    ("text", "size"), [("", 0), ("é", 2), ("€" * 42, 126), ("x" * 125, 125), ("𝄞", 4)]
)
def test_text_size_counts_utf8_bytes(text: str, size: int) -> None:
    prepared = PreparedMessage(TextMessage(text))
    assert prepared.size == size
    assert prepared.frame == unmasked_frame(0x1, text.encode("utf-8"))


def test_bytearray_and_memoryview_payloads() -> None:
    assert PreparedMessage(BinaryMessage(bytearray(b"ab"))).frame == b"\x82\x02ab"
    assert PreparedMessage(BinaryMessage(memoryview(b"cd"))).frame == b"\x82\x02cd"


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (Ping(b"x"), "not Ping"),
        ("text", "not str"),
        (b"bytes", "not bytes"),
        (TextMessage("part", final=False), "whole message"),
        (BinaryMessage(b"part", final=False), "whole message"),
        (TextMessage("\ud800"), "lone surrogate"),
    ],
)
def test_refuses(message: object, words: str) -> None:
    with pytest.raises(LocalProtocolError, match=words):
        PreparedMessage(message)  # type: ignore[arg-type]


def test_frozen_and_short_repr() -> None:
    prepared = PreparedMessage(BinaryMessage(b"z" * 10_000))
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.frame = b""  # type: ignore[misc]
    assert "frame=" not in repr(prepared)  # the payload shows once, in the message
    assert PreparedMessage(TextMessage("a")) == PreparedMessage(TextMessage("a"))


@settings(max_examples=200, deadline=None)
@given(message=messages(max_size=70_000), chunk=st.integers(1, 4096))
def test_same_bytes_as_send_and_received_whole(
    message: TextMessage | BinaryMessage, chunk: int
) -> None:
    """The prepared frame is exactly what send() queues on a plain server, and the
    peer receives the message, in any chunking."""
    pair = ConnectionPair.open(chunk_size=chunk, max_message_size=None)
    pair.server.send(message)
    expected = pair.server.data_to_send()
    prepared = PreparedMessage(message)
    assert prepared.frame == expected
    pair.server.send_prepared(prepared)
    assert pair.deliver_to_client() == [message]


# -- Connection.send_prepared --------------------------------------------------------------


def test_the_same_bytes_object_goes_to_every_connection() -> None:
    prepared = PreparedMessage(TextMessage("news"))
    pairs = [ConnectionPair.open() for _ in range(3)]
    for pair in pairs:
        pair.server.send_prepared(prepared)
        assert pair.server.data_to_send() is prepared.frame
        pair.server.send_prepared(prepared)
        assert pair.deliver_to_client() == [TextMessage("news")]


def test_ordered_with_other_sends() -> None:
    pair = ConnectionPair.open()
    pair.server.send(TextMessage("one"))
    pair.server.send_prepared(PreparedMessage(BinaryMessage(b"two")))
    pair.server.send(Ping(b"p"))
    pair.server.send(TextMessage("three"))
    assert pair.deliver_to_client() == [
        TextMessage("one"),
        BinaryMessage(b"two"),
        Ping(b"p"),
        TextMessage("three"),
    ]


# -- Connection.take_prepared ---------------------------------------------------------------


def test_take_prepared_returns_the_frame_itself_and_queues_nothing() -> None:
    prepared = PreparedMessage(TextMessage("news"))
    pairs = [ConnectionPair.open() for _ in range(3)]
    for pair in pairs:
        assert pair.server.take_prepared(prepared) is prepared.frame
        assert not pair.server.has_data_to_send
        pair.client.receive_data(prepared.frame)
        assert list(pair.client.events()) == [TextMessage("news")]


def test_take_prepared_takes_what_was_queued_first() -> None:
    """A prepared frame never overtakes bytes already queued: they come first,
    in one result, and nothing stays queued."""
    pair = ConnectionPair.open()
    pair.server.send(TextMessage("one"))
    pair.server.send(Ping(b"p"))
    queued = b"\x81\x03one\x89\x01p"
    data = pair.server.take_prepared(PreparedMessage(BinaryMessage(b"two")))
    assert data == queued + b"\x82\x03two"
    assert not pair.server.has_data_to_send
    assert pair.server.data_to_send() == b""
    pair.client.receive_data(data)
    assert list(pair.client.events()) == [TextMessage("one"), Ping(b"p"), BinaryMessage(b"two")]


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["send", "prepared", "take", "ping"]), messages(max_size=300)),
        max_size=10,
    )
)
def test_take_prepared_is_send_prepared_then_data_to_send(
    steps: list[tuple[str, TextMessage | BinaryMessage]],
) -> None:
    """Any mix of sends, prepared sends and takes gives the peer every message in order."""
    pair = ConnectionPair.open(max_message_size=None)
    wire = []
    expected: list[object] = []
    for kind, message in steps:
        if kind == "ping":
            pair.server.send(Ping(b"x"))
            expected.append(Ping(b"x"))
            continue
        expected.append(message)
        if kind == "send":
            pair.server.send(message)
        elif kind == "prepared":
            pair.server.send_prepared(PreparedMessage(message))
        else:
            wire.append(pair.server.take_prepared(PreparedMessage(message)))
            assert not pair.server.has_data_to_send
    wire.append(pair.server.data_to_send())
    data = b"".join(wire)
    if data:  # (b"" would be the end of the stream)
        pair.client.receive_data(data)
    assert list(pair.client.events()) == expected


@METHODS
def test_wrong_argument(method: str) -> None:
    server = open_server()
    with pytest.raises(LocalProtocolError, match=f"{method}.. takes a PreparedMessage, not Text"):
        send(server, method, TextMessage("x"))
    assert not server.has_data_to_send


@METHODS
def test_client_refused(method: str) -> None:
    client = ConnectionPair.open().client
    with pytest.raises(LocalProtocolError, match=r"client masks every frame \(RFC 6455 §5.3\)"):
        send(client, method, PreparedMessage(TextMessage("x")))
    assert not client.has_data_to_send
    assert client.state is ConnectionState.OPEN


@METHODS
def test_refused_before_the_handshake(method: str) -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(LocalProtocolError, match="in state CONNECTING"):
        send(server, method, PreparedMessage(TextMessage("x")))
    assert not server.has_data_to_send


@METHODS
def test_refused_after_sending_close(method: str) -> None:
    server = open_server()
    server.send(Close(1000))
    server.data_to_send()
    with pytest.raises(LocalProtocolError, match="after sending Close"):
        send(server, method, PreparedMessage(TextMessage("x")))
    assert not server.has_data_to_send
    assert server.state is ConnectionState.CLOSING


@METHODS
def test_refused_once_closed(method: str) -> None:
    pair = ConnectionPair.open()
    pair.client.send(Close(1000))
    pair.deliver_to_server()
    pair.server.data_to_send()
    assert pair.server.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError, match="in state CLOSED"):
        send(pair.server, method, PreparedMessage(TextMessage("x")))
    assert not pair.server.has_data_to_send


@METHODS
def test_refused_inside_a_fragmented_message(method: str) -> None:
    pair = ConnectionPair.open(stream=True)
    pair.server.send(BinaryMessage(b"a", final=False))
    before = pair.server.data_to_send()
    with pytest.raises(LocalProtocolError, match="fragmented binary message is in progress"):
        send(pair.server, method, PreparedMessage(TextMessage("x")))
    assert not pair.server.has_data_to_send
    # The message in progress is unharmed; once finished, prepared frames go again.
    pair.server.send(BinaryMessage(b"b"))
    pair.server.send_prepared(PreparedMessage(TextMessage("x")))
    pair.client.receive_data(before)
    assert pair.deliver_to_client() == [
        BinaryMessage(b"a", final=False),
        BinaryMessage(b"b"),
        TextMessage("x"),
    ]


# -- extensions ------------------------------------------------------------------------------


def deflate_pair(**params: bool) -> ConnectionPair:
    pair = ConnectionPair.open(extensions=[PerMessageDeflate(**params)])  # type: ignore[arg-type]
    assert pair.server.negotiated_extensions[0].startswith("permessage-deflate")
    return pair


def test_deflate_connection_gets_the_frame_uncompressed() -> None:
    pair = deflate_pair()
    text = "compressible " * 100
    prepared = PreparedMessage(TextMessage(text))
    pair.server.send_prepared(prepared)
    data = pair.server.data_to_send()
    assert data is prepared.frame
    assert data[0] & RSV1 == 0  # RFC 7692 §6: RSV1 clear, not compressed
    pair.client.receive_data(data)
    assert list(pair.client.events()) == [TextMessage(text)]


@pytest.mark.parametrize("no_takeover", [False, True])
@settings(max_examples=50, deadline=None)
@given(
    sends=st.lists(
        st.tuples(st.booleans(), st.sampled_from(["abc " * 50, "zzz" * 300, "hello", ""])),
        min_size=1,
        max_size=12,
    )
)
def test_deflate_contexts_stay_in_step(no_takeover: bool, sends: list[tuple[bool, str]]) -> None:
    """Compressed messages around prepared (uncompressed) ones all decode: an
    uncompressed message enters neither side's LZ77 window."""
    pair = deflate_pair(server_no_context_takeover=no_takeover)
    expected = []
    for prepared, text in sends:
        if prepared:
            pair.server.send_prepared(PreparedMessage(TextMessage(text)))
        else:
            pair.server.send(TextMessage(text))
        expected.append(TextMessage(text))
    assert pair.deliver_to_client() == expected


class _Insists(ExtensionSession):
    """An extension on RSV2 that transforms every message, asked or not."""

    rsv_mask = 0x20

    def __init__(self, insist: bool) -> None:
        self.insist = insist
        self.asked: list[tuple[Opcode, int | None, bool]] = []

    def inbound_frame(self, opcode: Opcode, rsv: int, *, starts_message: bool) -> bool:
        raise AssertionError("not used")  # pragma: no cover

    def inbound_data(self, data: bytes, final: bool, max_length: int) -> bytes:
        raise AssertionError("not used")  # pragma: no cover

    def outbound_message(self, opcode: Opcode, size_hint: int | None, transform: bool) -> int:
        self.asked.append((opcode, size_hint, transform))
        return 0x20 if self.insist else 0

    def outbound_data(self, data: bytes, final: bool) -> bytes:
        raise AssertionError("not used")  # pragma: no cover


def test_extension_asked_without_transform() -> None:
    session = _Insists(insist=False)
    server = Connection(Role.SERVER, handshake=False, extension_sessions=[session])
    prepared = PreparedMessage(TextMessage("héllo"))
    server.send_prepared(prepared)
    assert session.asked == [(Opcode.TEXT, 6, False)]
    assert server.data_to_send() == b"\x81\x06h\xc3\xa9llo"


@METHODS
def test_extension_that_insists_refuses(method: str) -> None:
    server = Connection(Role.SERVER, handshake=False, extension_sessions=[_Insists(insist=True)])
    with pytest.raises(LocalProtocolError, match="_Insists transforms every message"):
        send(server, method, PreparedMessage(BinaryMessage(b"x")))
    assert not server.has_data_to_send
    assert server.state is ConnectionState.OPEN


class _Optional(_Insists):
    """A session that declares its transform optional: never asked about a shared frame."""

    optional_transform = True


def test_an_optional_transform_is_not_asked() -> None:
    optional = _Optional(insist=True)  # (it would insist, were it asked)
    server = Connection(Role.SERVER, handshake=False, extension_sessions=[optional])
    prepared = PreparedMessage(TextMessage("x"))
    assert server.take_prepared(prepared) is prepared.frame
    assert optional.asked == []
    # send() still asks it (whether it keeps its word is its business).
    optional.insist = False
    server.send(TextMessage("x"), compress=False)
    assert optional.asked == [(Opcode.TEXT, 1, False)]


@METHODS
def test_the_sessions_that_must_be_asked_still_are(method: str) -> None:
    """Beside an optional transform, a session that insists still refuses the frame."""
    insists = _Insists(insist=True)
    server = Connection(
        Role.SERVER, handshake=False, extension_sessions=[_Optional(insist=True), insists]
    )
    with pytest.raises(LocalProtocolError, match="_Insists transforms every message"):
        send(server, method, PreparedMessage(TextMessage("x")))
    assert insists.asked == [(Opcode.TEXT, 1, False)]
    assert not server.has_data_to_send


def test_permessage_deflate_declares_its_transform_optional() -> None:
    session = PerMessageDeflateSession()
    assert session.optional_transform is True
    assert session.outbound_message(Opcode.TEXT, 1000, True) == RSV1
    assert session.outbound_message(Opcode.TEXT, 1000, False) == 0  # what it declares
    assert ExtensionSession.optional_transform is False
