"""Autobahn section 2: pings and pongs (RFC 6455 §5.5.2, §5.5.3).

A ping is answered with a pong carrying "exactly the same Application data"
(§5.5.3), whatever the payload (0 to 125 bytes, text or binary); a ping over
125 bytes is a protocol error (§5.5: control frames carry at most 125 bytes),
as is a fragmented ping (§5.5: "Control frames MUST NOT be fragmented"). An
unsolicited pong is allowed and needs no answer (§5.5.3).
"""

from __future__ import annotations

import pytest

from ._harness import TEXT, Out, Testee, pong

BINARY_PAYLOAD = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"


def test_2_1_ping_without_payload(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.ping()], chunking)
    t.expect(pong(b""))
    if t.is_server:
        assert bytes(t.out) == b"\x8a\x00"
    t.close_normally()


def test_2_2_ping_with_text_payload(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.ping(b"Hello, world!")], chunking)
    t.expect(pong(b"Hello, world!"))
    if t.is_server:
        assert bytes(t.out) == b"\x8a\x0dHello, world!"
    t.close_normally()


def test_2_3_ping_with_binary_payload(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.ping(BINARY_PAYLOAD)], chunking)
    t.expect(pong(BINARY_PAYLOAD))
    t.close_normally()


def test_2_4_ping_with_125_byte_payload(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.ping(b"\xfe" * 125)], chunking)
    t.expect(pong(b"\xfe" * 125))
    t.close_normally()


def test_2_5_ping_with_126_byte_payload(role: str, chunking: str) -> None:
    """No pong: the connection is failed with 1002 (§5.5)."""
    t = Testee(role)
    t.send([t.ping(b"\xfe" * 126)], chunking)
    t.assert_failed(1002)


def test_2_5_ping_over_125_fails_before_the_payload_arrives(role: str) -> None:
    """The 126 in the length field is enough to fail: the payload never comes."""
    t = Testee(role)
    t.feed(t.ping(b"\xfe" * 126)[:4])
    t.assert_failed(1002)


def test_2_x_pong_with_126_byte_payload(role: str, chunking: str) -> None:
    """Pongs are control frames too: at most 125 bytes (§5.5)."""
    t = Testee(role)
    t.send([t.pong(b"\xfe" * 126), t.ping()], chunking)
    t.assert_failed(1002)


def test_2_6_ping_125_bytes_in_chops_of_1_byte(role: str) -> None:
    t = Testee(role)
    data = t.ping(bytes(range(125)))
    for i in range(len(data) - 1):
        t.feed(data[i : i + 1])
        assert not t.out, "a pong before the ping was complete"
    t.feed(data[-1:])
    t.expect(pong(bytes(range(125))))
    t.close_normally()


def test_2_7_unsolicited_pong_without_payload(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.pong()], chunking)
    t.expect()
    assert [type(e).__name__ for e in t.events] == ["Pong"]
    t.close_normally()


def test_2_8_unsolicited_pong_with_payload(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.pong(b"unsolicited pong payload")], chunking)
    t.expect()
    t.close_normally()


def test_2_9_unsolicited_pong_then_ping(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.pong(b"unsolicited pong payload"), t.ping(b"ping payload")], chunking)
    t.expect(pong(b"ping payload"))
    t.close_normally()


def test_2_10_ten_pings_in_one_segment(role: str) -> None:
    """Every ping is answered, in order (Autobahn accepts only the last one
    answered; we answer all, §5.5.3 "SHOULD respond")."""
    t = Testee(role)
    t.send([t.ping(b"payload-%d" % i) for i in range(10)], "segment")
    t.expect(*[pong(b"payload-%d" % i) for i in range(10)])
    t.close_normally()


def test_2_11_ten_pings_one_by_one(role: str) -> None:
    t = Testee(role)
    for i in range(10):
        t.feed(t.ping(b"payload-%d" % i))
        assert [f.payload for f in t.new_frames()] == [b"payload-%d" % i]
    t.expect(*[pong(b"payload-%d" % i) for i in range(10)])
    t.close_normally()


@pytest.mark.parametrize("chunking", ["segment", "frame", "byte"])
def test_2_x_every_payload_length_0_to_125(role: str, chunking: str) -> None:
    t = Testee(role)
    payloads = [bytes((i * 7 + j) & 0xFF for j in range(i)) for i in range(126)]
    t.send([t.ping(p) for p in payloads], chunking)
    t.expect(*[pong(p) for p in payloads])
    t.close_normally()


def test_2_x_ping_without_fin(role: str, chunking: str) -> None:
    """A lone ping with FIN clear: a fragmented control frame (§5.5) → 1002."""
    t = Testee(role)
    t.send([t.text("before"), t.ping(b"fragment", fin=False), t.ping(b"after")], chunking)
    t.assert_failed(1002, before=[Out(TEXT, b"before")])


def test_2_x_pings_between_messages(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send(
        [t.text("one"), t.ping(b"a"), t.binary(b"two"), t.ping(b"b"), t.pong(b"c"), t.text("3")],
        chunking,
    )
    t.expect(Out(TEXT, b"one"), pong(b"a"), Out(2, b"two"), pong(b"b"), Out(TEXT, b"3"))
    t.close_normally()
