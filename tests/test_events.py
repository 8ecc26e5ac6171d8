"""Tests of wsproto_lite._events: frozen, slotted, value-compared events that
validate (and normalize) their fields when constructed."""

from __future__ import annotations

import dataclasses

import pytest

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Event,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    LocalProtocolError,
    Message,
    Ping,
    Pong,
    Reject,
    RejectData,
    TextMessage,
)
from wsproto_lite._events import MAX_CLOSE_REASON, MAX_CONTROL_PAYLOAD

SAMPLES = [
    Handshake(host="h"),
    Accept(),
    Reject(),
    RejectData(),
    HTTPRequest(method="GET", target="/"),
    HandshakeFailed("why"),
    TextMessage("t"),
    BinaryMessage(b"b"),
    Ping(),
    Pong(),
    Close(),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_events_are_frozen_and_slotted(event: Event) -> None:
    assert isinstance(event, Event)
    assert dataclasses.is_dataclass(event)
    assert not hasattr(event, "__dict__")
    field = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, getattr(event, field))
    with pytest.raises((AttributeError, TypeError)):
        event.unknown_attribute = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_events_compare_and_hash_by_value(event: Event) -> None:
    twin = dataclasses.replace(event)
    assert twin == event
    assert twin is not event
    assert hash(twin) == hash(event)
    assert event != object()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (TextMessage("a"), TextMessage("b")),
        (TextMessage("a"), TextMessage("a", final=False)),
        (BinaryMessage(b"a"), BinaryMessage(b"b")),
        (Ping(b"a"), Pong(b"a")),
        (Close(1000), Close(1001)),
        (Close(1000, "a"), Close(1000, "b")),
        (Close(1006), Close(1006, failed=True)),
        (Reject(400), Reject(403)),
        (Handshake(host="a"), Handshake(host="b")),
        (Accept(subprotocol="a"), Accept(subprotocol="b")),
    ],
)
def test_events_differ(a: Event, b: Event) -> None:
    assert a != b


def test_message_base_class() -> None:
    assert isinstance(TextMessage(""), Message)
    assert isinstance(BinaryMessage(b""), Message)
    assert not isinstance(Ping(), Message)


def test_defaults() -> None:
    assert TextMessage("x").final is True
    assert BinaryMessage(b"x").final is True
    assert Ping().payload == b"" and Pong().payload == b""
    assert Close() == Close(1000, "", failed=False)
    assert Reject() == Reject(400, (), b"", True)
    h = Handshake(host="h")
    assert (h.target, h.subprotocols, h.extensions) == ("/", (), None)
    assert (h.headers, h.origin) == ((), None)
    a = Accept()
    assert (a.subprotocol, a.extensions, a.headers) == (None, None, ())
    assert HandshakeFailed("x").status is None


def test_constants() -> None:
    assert MAX_CONTROL_PAYLOAD == 125
    assert MAX_CLOSE_REASON == 123


# -- normalization --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_bytes_like_payloads_become_bytes(kind: type) -> None:
    for event in (BinaryMessage(kind(b"ab")), Ping(kind(b"ab")), Pong(kind(b"ab"))):
        value = event.data if isinstance(event, BinaryMessage) else event.payload
        assert type(value) is bytes
        assert value == b"ab"
        assert hash(event) == hash(type(event)(b"ab"))
    reject = Reject(200, body=kind(b"ab"))
    assert type(reject.body) is bytes
    part = RejectData(kind(b"ab"))
    assert type(part.body) is bytes and part == RejectData(b"ab")


def test_bytearray_is_copied() -> None:
    buf = bytearray(b"abc")
    event = BinaryMessage(buf)
    buf[0] = ord("z")
    assert event.data == b"abc"


def test_headers_are_normalized_to_str_tuples() -> None:
    event = Reject(200, [(b"X-A", b"1"), ("X-B", "2")])
    assert event.headers == (("X-A", "1"), ("X-B", "2"))
    assert Handshake(host="h", headers=[["X", "y"]]).headers == (("X", "y"),)  # type: ignore[list-item]
    assert HTTPRequest("GET", "/", [(b"host", b"h")]).headers == (("host", "h"),)
    assert Accept(headers=((b"x", b"\xe9"),)).headers == (("x", "\u00e9"),)


def test_sequences_become_tuples() -> None:
    h = Handshake(host="h", subprotocols=["a", "b"], extensions=["x"])  # type: ignore[arg-type]
    assert h.subprotocols == ("a", "b")
    assert h.extensions == ("x",)
    assert Accept(extensions=["x"]).extensions == ("x",)  # type: ignore[arg-type]


def test_every_field_takes_part_in_equality() -> None:
    # One meaning for each field, sent and received: no hidden field.
    assert Handshake(host="h", headers=[("x-a", "1")]) != Handshake(host="h")
    assert "headers=(('x-a', '1'),)" in repr(Handshake(host="h", headers=[("x-a", "1")]))
    assert Accept(headers=[("a", "b")]) != Accept()
    assert Reject(200, body=b"a", final=False) != Reject(200, body=b"a")
    assert RejectData(b"a") != RejectData(b"a", final=False)


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: TextMessage(b"bytes"),
        lambda: TextMessage(None),
        lambda: TextMessage(1),
        lambda: BinaryMessage("text"),
        lambda: BinaryMessage(None),
        lambda: BinaryMessage([1, 2]),
        lambda: Ping("text"),
        lambda: Ping(b"x" * 126),
        lambda: Pong(b"x" * 126),
        lambda: Pong(None),
        lambda: Close(999),
        lambda: Close(5000),
        lambda: Close(0),
        lambda: Close(-1),
        lambda: Close("1000"),
        lambda: Close(1000.0),
        lambda: Close(None),
        lambda: Close(1000, b"reason"),
        lambda: Close(1000, "r" * 124),
        lambda: Close(1000, "\u00e9" * 62),
        lambda: Close(1000, "\U0001f600" * 31),
        lambda: Reject(199),
        lambda: Reject(600),
        lambda: Reject(101),
        lambda: Reject("404"),
        lambda: Reject(200, body="text"),
        lambda: Reject(200, headers="X: y"),
        lambda: Reject(200, headers=[("a",)]),
        lambda: Reject(200, headers=[("a", "b", "c")]),
        lambda: Reject(200, headers=[1]),
        lambda: Reject(200, headers=[("", "v")]),
        lambda: Reject(200, headers=[("a b", "v")]),
        lambda: Reject(200, headers=[("a:", "v")]),
        lambda: Reject(200, headers=[("a", "v\r\nInjected: 1")]),
        lambda: Reject(200, headers=[("a", "v\x00")]),
        lambda: Reject(200, headers=[("a", 1)]),
        lambda: Reject(200, headers=[("a", "\u20ac")]),
        lambda: Handshake(host=""),
        lambda: Handshake(host=None),
        lambda: Handshake(host="h", target="chat"),
        lambda: Handshake(host="h", target=""),
        lambda: Handshake(host="h", target="/a b"),
        lambda: Handshake(host="h", target="/a\r\n"),
        lambda: Handshake(host="h", target=None),
        lambda: Handshake(host="h", subprotocols="chat"),
        lambda: Handshake(host="h", subprotocols=("",)),
        lambda: Handshake(host="h", subprotocols=(1,)),
        lambda: Handshake(host="h", extensions="x"),
        lambda: Handshake(host="h", extensions=("",)),
        lambda: Handshake(host="h", origin=1),
        lambda: Handshake(host="h", headers="x"),
        lambda: Accept(subprotocol=""),
        lambda: Accept(subprotocol=1),
        lambda: Accept(subprotocol="a b"),
        lambda: Accept(extensions="x"),
        lambda: Accept(headers=[("a\n", "b")]),
        lambda: RejectData("text"),
        lambda: HTTPRequest("GET", "/", headers=[("bad name", "v")]),
    ],
)
def test_invalid_events_raise_local_protocol_error(make: object) -> None:
    with pytest.raises(LocalProtocolError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Ping(b"x" * 125),
        lambda: Pong(b"x" * 125),
        lambda: Close(1000, "r" * 123),
        lambda: Close(1000, "\u00e9" * 61),
        lambda: Close(4999),
        lambda: Close(1005),
        lambda: Close(1006, "abnormal", failed=True),
        lambda: Reject(200),
        lambda: Reject(599),
        lambda: Handshake(host="h", target="/a?b=c#d"),
        lambda: Handshake(host="[::1]:8080", origin="null"),
        lambda: TextMessage(""),
        lambda: BinaryMessage(b""),
    ],
)
def test_valid_edge_events(make: object) -> None:
    make()  # type: ignore[operator]


class MyStr(str):
    pass


def test_str_subclass_is_accepted() -> None:
    assert TextMessage(MyStr("x")).data == "x"
