"""Tests of wsproto_lite._messages: reassembly, incremental UTF-8 (RFC 6455 §8.1,
fail fast) and the message size limit (1009), on the assembler alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto_lite import BinaryMessage, RemoteProtocolError, TextMessage
from wsproto_lite._messages import MessageAssembler


def test_whole_text_message_from_parts() -> None:
    a = MessageAssembler(stream=False, max_size=None)
    a.start(is_text=True)
    assert a.feed("h\u00e9".encode()[:2], False) is None  # cut inside the é
    assert a.feed("h\u00e9".encode()[2:] + b"!", False) is None
    assert a.feed(b"", True) == TextMessage("h\u00e9!")
    assert a.size == 4


def test_whole_binary_message_from_parts() -> None:
    a = MessageAssembler(stream=False, max_size=None)
    a.start(is_text=False)
    assert a.feed(b"ab", False) is None
    event = a.feed(b"c", True)
    assert event == BinaryMessage(b"abc") and type(event.data) is bytes  # type: ignore[union-attr]


def test_streamed_parts() -> None:
    a = MessageAssembler(stream=True, max_size=None)
    a.start(is_text=True)
    assert a.feed(b"\xe2\x82", False) is None  # nothing whole yet
    assert a.feed(b"\xacx", False) == TextMessage("\u20acx", final=False)
    assert a.feed(b"", True) == TextMessage("", final=True)
    a.start(is_text=False)
    assert a.feed(b"x", False) == BinaryMessage(b"x", final=False)


@pytest.mark.parametrize(
    "pieces",
    [
        [b"\xff"],
        [b"ok", b"\xc3"],  # a character cut at the end of the message
        [b"\xed\xa0"],  # a UTF-16 surrogate: known bad after two bytes, not three
        [b"\xe2\x82", b"x"],
    ],
)
def test_invalid_utf8_fails_fast_with_1007(pieces: list[bytes]) -> None:
    a = MessageAssembler(stream=False, max_size=None)
    a.start(is_text=True)
    with pytest.raises(RemoteProtocolError) as info:
        for i, piece in enumerate(pieces):
            a.feed(piece, i == len(pieces) - 1 and piece != b"\xed\xa0")
    assert info.value.code == 1007


@given(st.text(), st.lists(st.integers(0, 8), max_size=6))
def test_any_split_of_valid_text(text: str, cuts: list[int]) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return  # (lone surrogates are not valid UTF-8: covered above)
    a = MessageAssembler(stream=False, max_size=None)
    a.start(is_text=True)
    pos = 0
    for cut in cuts:
        assert a.feed(data[pos : pos + cut], False) is None
        pos += cut
    assert a.feed(data[pos:], True) == TextMessage(text)


def test_no_limit() -> None:
    a = MessageAssembler(stream=False, max_size=None)
    a.start(is_text=False)
    a.check_announced(1 << 62, continues=False)
    a.check_decoded(1 << 62)
    assert a.room() is None


def test_limit_from_the_header_counts_the_message_so_far() -> None:
    a = MessageAssembler(stream=False, max_size=10)
    a.start(is_text=False)
    a.check_announced(10, continues=False)
    a.feed(b"123456", False)
    assert a.room() == 4
    a.check_announced(4, continues=True)
    a.check_announced(10, continues=False)  # a new message starts empty
    with pytest.raises(RemoteProtocolError) as info:
        a.check_announced(5, continues=True)
    assert info.value.code == 1009
    assert info.value.message == "message of at least 11 bytes exceeds the 10-byte limit"


def test_limit_on_decoded_data() -> None:
    a = MessageAssembler(stream=False, max_size=10)
    a.start(is_text=False)
    a.feed(b"12345678", False)
    a.check_decoded(2)
    with pytest.raises(RemoteProtocolError) as info:
        a.check_decoded(3)
    assert info.value.code == 1009
