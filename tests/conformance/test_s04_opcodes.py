"""Autobahn section 4: reserved opcodes (RFC 6455 §5.2).

Opcodes 0x3–0x7 ("reserved for further non-control frames") and 0xB–0xF
("reserved for further control frames"): "If an unknown opcode is received,
the receiving endpoint MUST _Fail the WebSocket Connection_" (§5.2) with 1002.
A valid message before the bad frame is echoed first; a ping after it is never
answered.
"""

from __future__ import annotations

import pytest

from ._harness import TEXT, Out, Testee

HELLO = b"Hello, world!"
NON_CONTROL = [3, 4, 5, 6, 7]
CONTROL = [0xB, 0xC, 0xD, 0xE, 0xF]


@pytest.mark.parametrize("opcode", [3, 0xB], ids=["4.1.1", "4.2.1"])
def test_4_x_1_reserved_opcode_empty(role: str, chunking: str, opcode: int) -> None:
    t = Testee(role)
    t.send([t.frame(opcode)], chunking)
    t.assert_failed(1002)


@pytest.mark.parametrize("opcode", [4, 0xC], ids=["4.1.2", "4.2.2"])
def test_4_x_2_reserved_opcode_with_payload(role: str, chunking: str, opcode: int) -> None:
    t = Testee(role)
    t.send([t.frame(opcode, b"reserved opcode payload")], chunking)
    t.assert_failed(1002)


@pytest.mark.parametrize(
    ("opcode", "payload"),
    [(5, b""), (6, b"reserved"), (7, b"reserved"), (0xD, b""), (0xE, b"res"), (0xF, b"res")],
    ids=["4.1.3", "4.1.4", "4.1.5", "4.2.3", "4.2.4", "4.2.5"],
)
def test_4_x_text_then_reserved_opcode_then_ping(
    role: str, chunking: str, opcode: int, payload: bytes
) -> None:
    t = Testee(role)
    t.send([t.text(HELLO), t.frame(opcode, payload), t.ping()], chunking)
    t.assert_failed(1002, before=[Out(TEXT, HELLO)])


@pytest.mark.parametrize("fin", [True, False])
@pytest.mark.parametrize("opcode", NON_CONTROL + CONTROL)
def test_4_x_every_reserved_opcode(role: str, opcode: int, fin: bool) -> None:
    t = Testee(role)
    t.send([t.binary(b"\x00"), t.frame(opcode, b"x" * 3, fin=fin), t.ping()], "segment")
    t.assert_failed(1002, before=[Out(2, b"\x00")])


@pytest.mark.parametrize("opcode", NON_CONTROL + CONTROL)
def test_4_x_reserved_opcode_inside_a_fragmented_message(role: str, opcode: int) -> None:
    t = Testee(role)
    t.send([t.text("frag", fin=False), t.frame(opcode, b"x"), t.cont("ment")], "frame")
    t.assert_failed(1002)


@pytest.mark.parametrize("opcode", [3, 0xB])
def test_4_x_fails_on_the_first_byte_pair(role: str, opcode: int) -> None:
    """Fail fast: the opcode is in the first byte; the length never arrives."""
    t = Testee(role)
    t.feed(t.text(HELLO) + t.frame(opcode, b"x" * 200)[:2])
    t.assert_failed(1002, before=[Out(TEXT, HELLO)])
