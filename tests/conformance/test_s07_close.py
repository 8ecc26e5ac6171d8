"""Autobahn section 7: the closing handshake (RFC 6455 §5.5.1, §7).

- A close frame is answered with a close frame (§5.5.1); per this library's
  design the reply echoes the received code with an empty reason, and is
  1000 when the received close had no code. After it nothing more is sent,
  and whatever arrives later is ignored ("the endpoint MUST NOT send any more
  data frames", "MAY ... discard any further data").
- The server closes the TCP connection first (§7.1.1): should_close_transport.
- The payload is empty, or a 2-byte code then a UTF-8 reason (§5.5.1); a
  1-byte payload, a code not allowed on the wire (§7.4) or a frame over 125
  bytes fail with 1002; a reason that is not UTF-8 fails with 1007 (§8.1).
"""

from __future__ import annotations

import pytest

from wsproto_lite import Close

from ._harness import BINARY, CLOSE, TEXT, CloseOut, Out, Testee, check_frame

VALID_CODES = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    3999,
    4000,
    4999,
]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def _clean(t: Testee, reply_code: int, event: Close) -> None:
    """The close reply is the last frame, the last event is *event*, and the
    connection is cleanly closed (nothing more is sent or reported)."""
    frames = t.frames()
    check_frame(frames[-1], CloseOut(reply_code, b""), server=t.is_server)
    assert t.events[-1] == event
    t.assert_closed(failed=False)


def test_7_1_1_message_then_close(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text("Hello World!"), t.close(1000)], chunking)
    t.expect(Out(TEXT, b"Hello World!"), CloseOut(1000, b""))
    if t.is_server:
        assert bytes(t.out).endswith(b"\x88\x02\x03\xe8")
    _clean(t, 1000, Close(1000, ""))


def test_7_1_2_two_close_frames(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.close(1000), t.close(1001)], chunking)
    t.expect(CloseOut(1000, b""))
    _clean(t, 1000, Close(1000, ""))


def test_7_1_3_ping_after_close(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.close(1000), t.ping(b"ping after close")], chunking)
    t.expect(CloseOut(1000, b""))
    assert not t.controls()
    _clean(t, 1000, Close(1000, ""))


def test_7_1_4_text_after_close(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.close(1000), t.text("text after close")], chunking)
    t.expect(CloseOut(1000, b""))
    assert not t.messages()
    _clean(t, 1000, Close(1000, ""))


def test_7_1_5_fragment_close_fragment(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text("fragment1", fin=False), t.close(1000), t.cont("fragment2")], chunking)
    t.expect(CloseOut(1000, b""))
    assert not t.messages()
    _clean(t, 1000, Close(1000, ""))


def test_7_1_6_large_message_close_ping(role: str) -> None:
    payload = b"BAsd7&jh23" * 26214  # 262140 bytes
    t = Testee(role, max_message_size=1 << 20)
    t.send([t.text(payload), t.close(1000), t.ping(b"ping after close")], "segment")
    t.expect(Out(TEXT, payload), CloseOut(1000, b""))
    _clean(t, 1000, Close(1000, ""))


def test_7_3_1_close_without_payload(role: str, chunking: str) -> None:
    """The reply to a close without a code carries 1000; the event says 1005."""
    t = Testee(role)
    t.send([t.close(None)], chunking)
    t.expect(CloseOut(1000, b""))
    if t.is_server:
        assert bytes(t.out) == b"\x88\x02\x03\xe8"
    assert t.events == [Close(1005, "")]
    t.assert_closed(failed=False)


def test_7_3_2_close_with_1_byte_payload(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.frame(CLOSE, b"\x03")], chunking)
    t.assert_failed(1002)


def test_7_3_3_close_with_code_only(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.close(1000)], chunking)
    t.expect(CloseOut(1000, b""))
    assert t.events == [Close(1000, "")]
    t.assert_closed(failed=False)


def test_7_3_4_close_with_code_and_reason(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.close(1000, "Hello World! ✓".encode())], chunking)
    t.expect(CloseOut(1000, b""))
    assert t.events == [Close(1000, "Hello World! ✓")]
    t.assert_closed(failed=False)


@pytest.mark.parametrize(
    "reason", ["*" * 123, "€" * 41, "ab" + "😀" * 30 + "c"], ids=["ascii", "3-byte", "4-byte"]
)
def test_7_3_5_close_with_123_byte_reason(role: str, chunking: str, reason: str) -> None:
    assert len(reason.encode()) == 123
    t = Testee(role)
    t.send([t.close(1000, reason.encode())], chunking)
    t.expect(CloseOut(1000, b""))
    assert t.events == [Close(1000, reason)]
    t.assert_closed(failed=False)


def test_7_3_6_close_with_124_byte_reason(role: str, chunking: str) -> None:
    """126 bytes of payload: a control frame over 125 bytes (§5.5) → 1002."""
    t = Testee(role)
    t.send([t.close(1000, b"*" * 124)], chunking)
    t.assert_failed(1002)


def test_7_5_1_close_reason_not_utf8(role: str, chunking: str) -> None:
    t = Testee(role)
    reason = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")
    t.send([t.close(1000, reason)], chunking)
    t.assert_failed(1007)


@pytest.mark.parametrize("reason", [b"\xff", b"ok\xce", b"\xed\xa0\x80", b"\xc0\xaf"])
def test_7_5_x_more_invalid_reasons(role: str, reason: bytes) -> None:
    t = Testee(role)
    t.feed(t.close(1000, reason))
    t.assert_failed(1007)


@pytest.mark.parametrize("code", VALID_CODES)
def test_7_7_valid_close_codes_are_echoed(role: str, chunking: str, code: int) -> None:
    t = Testee(role)
    t.send([t.close(code)], chunking)
    t.expect(CloseOut(code, b""))
    if t.is_server:
        assert bytes(t.out) == b"\x88\x02" + code.to_bytes(2, "big")
    assert t.events == [Close(code, "")]
    t.assert_closed(failed=False)


@pytest.mark.parametrize("code", INVALID_CODES)
def test_7_9_and_7_13_invalid_close_codes(role: str, chunking: str, code: int) -> None:
    t = Testee(role)
    t.send([t.close(code)], chunking)
    t.assert_failed(1002)


@pytest.mark.parametrize("code", INVALID_CODES)
def test_7_9_invalid_close_code_after_a_message(role: str, code: int) -> None:
    t = Testee(role)
    t.send([t.binary(b"data"), t.close(code, b"reason")], "segment")
    t.assert_failed(1002, before=[Out(BINARY, b"data")])


def test_7_x_close_reply_goes_out_before_later_frames_are_parsed(role: str) -> None:
    """Data, close, then a bad frame in one segment: the bad frame is never
    parsed (it comes after the close), so the reply is a clean 1000."""
    t = Testee(role)
    t.send([t.text("last"), t.close(1000), t.frame(3, b"reserved opcode")], "segment")
    t.expect(Out(TEXT, b"last"), CloseOut(1000, b""))
    _clean(t, 1000, Close(1000, ""))


def test_7_x_close_split_across_segments(role: str) -> None:
    t = Testee(role)
    data = t.close(4321, b"reason")
    t.feed(data[:3])
    assert not t.out
    t.feed(data[3:])
    t.expect(CloseOut(4321, b""))
    assert t.events == [Close(4321, "reason")]


def test_7_x_server_closes_transport_after_the_closing_handshake() -> None:
    t = Testee("server")
    assert not t.conn.should_close_transport
    t.feed(t.close(1000))
    assert t.conn.should_close_transport


def test_7_x_client_waits_for_the_server_to_close_tcp() -> None:
    t = Testee("client")
    t.feed(t.close(1000))
    assert not t.conn.should_close_transport
    t.eof()
    assert t.conn.should_close_transport
    assert t.events == [Close(1000, "")]


def test_7_x_eof_without_close_is_1006(role: str) -> None:
    t = Testee(role)
    t.feed(t.text("x"))
    t.eof()
    last = t.events[-1]
    assert isinstance(last, Close) and last.code == 1006 and last.failed
    t.expect(Out(TEXT, b"x"))
    assert t.conn.should_close_transport


def test_7_x_testee_initiates_close_and_peer_replies(role: str) -> None:
    """The other direction of §7.1.2: the testee closes, the peer answers."""
    t = Testee(role)
    t.conn.send(Close(1001, "going away"))
    t.out += t.conn.data_to_send()
    t.expect(CloseOut(1001, b"going away"))
    # Data still in flight from the peer is delivered (the echo app does not
    # answer: it cannot send after its close), then the peer's reply.
    t.send([t.text("in flight"), t.ping(b"p"), t.close(1001)], "segment")
    t.expect(CloseOut(1001, b"going away"), Out(0xA, b"p"))
    assert t.events[-1] == Close(1001, "")
    assert t.conn.should_close_transport == t.is_server
