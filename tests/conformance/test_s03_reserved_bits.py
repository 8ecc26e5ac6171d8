"""Autobahn section 3: reserved bits (RFC 6455 §5.2).

"RSV1, RSV2, RSV3: MUST be 0 unless an extension is negotiated that defines
meanings for non-zero values. If a nonzero value is received and none of the
negotiated extensions defines the meaning of such a nonzero value, the
receiving endpoint MUST _Fail the WebSocket Connection_." The close code is
1002 (§7.4.1). A valid message sent before the bad frame is echoed first: the
echo application answers each event before the next frame is even parsed, so
the order on the wire is strict even when everything arrives in one segment.
"""

from __future__ import annotations

import pytest

from ._harness import BINARY, CLOSE, CONT, PING, PONG, TEXT, Out, Testee, close_payload

HELLO = b"Hello, world!"


def test_3_1_text_with_rsv_1(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text(HELLO, rsv=1)], chunking)
    t.assert_failed(1002)


@pytest.mark.parametrize(
    ("rsv", "chunking"), [(2, "segment"), (3, "byte"), (4, "frame")], ids=["3.2", "3.3", "3.4"]
)
def test_3_2_to_3_4_text_then_text_with_rsv_then_ping(role: str, rsv: int, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text(HELLO), t.text(HELLO, rsv=rsv), t.ping()], chunking)
    t.assert_failed(1002, before=[Out(TEXT, HELLO)])


def test_3_5_binary_with_rsv_5(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.binary(bytes(range(256)), rsv=5)], chunking)
    t.assert_failed(1002)


def test_3_6_ping_with_rsv_6(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.ping(HELLO, rsv=6)], chunking)
    t.assert_failed(1002)


def test_3_7_close_with_rsv_7(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.close(1000, rsv=7)], chunking)
    t.assert_failed(1002)


KINDS = {
    "text": (TEXT, HELLO),
    "binary": (BINARY, b"\x00\x01\x02"),
    "ping": (PING, b"ping"),
    "pong": (PONG, b"pong"),
    "close": (CLOSE, close_payload(1000, b"bye")),
    "empty-text": (TEXT, b""),
}


@pytest.mark.parametrize("prefix", [False, True], ids=["alone", "after-valid"])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("rsv", range(1, 8))
def test_3_x_every_rsv_value_on_every_frame_kind(
    role: str, chunking: str, rsv: int, kind: str, prefix: bool
) -> None:
    """Every combination of RSV bits, on every kind of frame, with and without
    a valid message first; a ping after the bad frame must not be answered."""
    t = Testee(role)
    opcode, payload = KINDS[kind]
    frames = [t.frame(opcode, payload, rsv=rsv), t.ping(b"never answered")]
    if prefix:
        frames.insert(0, t.binary(b"valid"))
    t.send(frames, chunking)
    t.assert_failed(1002, before=[Out(BINARY, b"valid")] if prefix else [])


@pytest.mark.parametrize("rsv", [1, 2, 4])
def test_3_x_rsv_on_a_continuation_frame(role: str, chunking: str, rsv: int) -> None:
    t = Testee(role)
    t.send([t.text("frag", fin=False), t.cont("ment", rsv=rsv), t.ping()], chunking)
    t.assert_failed(1002)


@pytest.mark.parametrize("rsv", [1, 2, 4])
def test_3_x_rsv_fails_on_the_first_byte_pair(role: str, rsv: int) -> None:
    """Fail fast: the first two header bytes are enough; the rest never arrives."""
    t = Testee(role)
    t.feed(t.text(HELLO) + t.text(HELLO, rsv=rsv)[:2])
    t.assert_failed(1002, before=[Out(TEXT, HELLO)])


def test_3_x_rsv_ignored_nowhere_else(role: str) -> None:
    """Valid frames with RSV 0 around the cases above still pass (sanity)."""
    t = Testee(role)
    t.send([t.text("a", fin=False), t.cont("b", fin=False), t.frame(CONT, b"c")], "byte")
    t.expect(Out(TEXT, b"abc"))
    t.close_normally()
