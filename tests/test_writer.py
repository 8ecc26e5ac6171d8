"""Tests of wsproto_lite._writer: the frames of what is sent (RFC 6455 §5),
read back by the independent parser of tests/_wire.py."""

from __future__ import annotations

import pytest

from wsproto_lite import LocalProtocolError
from wsproto_lite._writer import FrameWriter

from ._wire import parse_frames, payloads


def test_whole_messages() -> None:
    w = FrameWriter(client=False)
    data = w.message(True, b"hi", True, True) + w.message(False, b"\x00", True, True)
    assert payloads(parse_frames(data, masked=False)) == [
        (True, 0, 0x1, b"hi"),
        (True, 0, 0x2, b"\x00"),
    ]


def test_a_fragmented_message_continues_with_its_kind_only() -> None:
    w = FrameWriter(client=True)
    data = w.message(False, b"a", False, True)
    with pytest.raises(LocalProtocolError, match="binary message is in progress"):
        w.message(True, b"x", True, True)
    data += w.message(False, b"b", False, True) + w.message(False, b"c", True, True)
    data += w.message(True, b"t", True, True)  # a new message after the end
    assert payloads(parse_frames(data, masked=True)) == [
        (False, 0, 0x2, b"a"),
        (False, 0, 0x0, b"b"),
        (True, 0, 0x0, b"c"),
        (True, 0, 0x1, b"t"),
    ]


def test_control_and_close_frames() -> None:
    w = FrameWriter(client=True)
    data = w.control(0x9, b"p") + w.close(1001, "away")
    assert payloads(parse_frames(data, masked=True)) == [
        (True, 0, 0x9, b"p"),
        (True, 0, 0x8, b"\x03\xe9away"),
    ]
