"""Tests of wsproto_lite._reader: the frame reader alone, without a connection
(the connection's behaviour is in test_connection.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto_lite import BinaryMessage, Close, Ping, Pong, RemoteProtocolError, TextMessage
from wsproto_lite._reader import FrameReader, iter_events

from ._wire import frame


def reader(**kwargs: object) -> FrameReader:
    options: dict[str, object] = {
        "client": False,
        "stream": False,
        "max_message_size": 1 << 20,
        "max_frame_size": None,
    }
    options.update(kwargs)
    return FrameReader(**options)  # type: ignore[arg-type]


def drain(r: FrameReader) -> list[object]:
    return list(iter_events(r, r.next_event))


def test_events_of_every_kind() -> None:
    r = reader()
    r.feed(
        frame(0x1, b"hi")
        + frame(0x2, b"\x00", fin=False)
        + frame(0x9, b"p")  # a control frame between fragments
        + frame(0x0, b"\x01")
        + frame(0xA, b"q")
        + frame(0x8, b"\x03\xe8bye")
    )
    assert drain(r) == [
        TextMessage("hi"),
        Ping(b"p"),
        BinaryMessage(b"\x00\x01"),
        Pong(b"q"),
        Close(1000, "bye"),
    ]
    assert r.buf == b""  # everything parsed is released


def test_a_client_reads_unmasked_frames() -> None:
    r = reader(client=True)
    r.feed(frame(0x1, b"hi", masked=False))
    assert drain(r) == [TextMessage("hi")]
    r = reader(client=True)
    r.feed(frame(0x1, b"hi"))  # masked: the server broke §5.1
    with pytest.raises(RemoteProtocolError) as info:
        drain(r)
    assert info.value.code == 1002


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(0x3, b""), 1002),  # reserved opcode
        (frame(0x0, b"x"), 1002),  # nothing to continue
        (frame(0x1, b"\xff"), 1007),
        (frame(0x2, bytes(11)), 1009),
        (frame(0x2, bytes(6), fin=False) + frame(0x0, bytes(6)), 1009),
        (frame(0x8, b"\x03"), 1002),
        (frame(0x8, b"\x03\xed"), 1002),  # 1005 may not be sent
        (frame(0x8, b"\x03\xe8\xff"), 1007),
    ],
)
def test_violations_raise_with_their_code(data: bytes, code: int) -> None:
    r = reader(max_message_size=10)
    r.feed(data)
    with pytest.raises(RemoteProtocolError) as info:
        drain(r)
    assert info.value.code == code


def test_frame_size_limit_applies_from_the_header() -> None:
    r = reader(max_frame_size=4)
    r.feed(frame(0x2, bytes(5))[:6])  # the header alone
    with pytest.raises(RemoteProtocolError) as info:
        r.next_event()
    assert info.value.code == 1009


def test_limits_can_change() -> None:
    r = reader()
    r.max_message_size = 2
    r.max_frame_size = 1
    assert (r.max_message_size, r.max_frame_size) == (2, 1)
    r.feed(frame(0x2, b"ab"))
    with pytest.raises(RemoteProtocolError):
        drain(r)


def test_discard_forgets_the_input() -> None:
    r = reader()
    r.feed(frame(0x1, b"a") + frame(0x1, b"b"))
    assert r.next_event() == TextMessage("a")
    r.discard()
    assert drain(r) == []


@given(
    st.lists(st.binary(max_size=300), max_size=5),
    st.integers(1, 50),
    st.booleans(),
    st.booleans(),
)
def test_any_chunking_fast_or_not(
    payloads: list[bytes], chunk: int, fast: bool, stream: bool
) -> None:
    data = b"".join(frame(0x2, p) for p in payloads)
    r = reader(stream=stream)
    r.fast = fast
    got = b""
    count = 0
    for i in range(0, len(data), chunk):
        r.feed(data[i : i + chunk])
        for event in drain(r):
            assert isinstance(event, BinaryMessage)
            got += event.data
            count += event.final
    assert got == b"".join(payloads)
    assert count == len(payloads)
