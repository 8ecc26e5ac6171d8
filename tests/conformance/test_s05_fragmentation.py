"""Autobahn section 5: fragmentation (RFC 6455 §5.4).

The twenty classic cases, each under every chunking ("segment": everything in
one TCP segment; "frame": a segment per frame; "byte": a segment per byte),
which covers Autobahn's one-chop / frame-wise / octet-wise variants of the
same case (5.3–5.5, 5.6–5.8, 5.9–5.11, 5.12–5.14, 5.19–5.20).

Rules: control frames MUST NOT be fragmented (§5.5); control frames MAY be
injected between the fragments of a message (§5.4); a continuation frame
needs a message to continue, and a new data frame may not start while a
message is unfinished (§5.4: "fragments of one message MUST NOT be
interleaved"). Every violation fails the connection with 1002.
"""

from __future__ import annotations

import pytest

from ._harness import BINARY, CLOSE, PING, PONG, TEXT, CloseOut, Out, Testee, pong


def test_5_1_ping_in_two_fragments(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.ping(b"fragment1", fin=False), t.cont("fragment2")], chunking)
    t.assert_failed(1002)


def test_5_2_pong_in_two_fragments(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.pong(b"fragment1", fin=False), t.cont("fragment2")], chunking)
    t.assert_failed(1002)


def test_5_3_to_5_5_text_in_two_fragments(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text("fragment1", fin=False), t.cont("fragment2")], chunking)
    t.expect(Out(TEXT, b"fragment1fragment2"))
    t.close_normally()


def test_5_6_to_5_8_text_in_two_fragments_ping_between(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text("fragment1", fin=False), t.ping(b"ping payload"), t.cont("fragment2")], chunking)
    t.expect(pong(b"ping payload"), Out(TEXT, b"fragment1fragment2"))
    t.close_normally()


def test_5_9_to_5_11_continuation_fin_without_a_message(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.cont("non-continuation payload"), t.text("Hello, world!")], chunking)
    t.assert_failed(1002)


def test_5_12_to_5_14_continuation_nofin_without_a_message(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.cont("non-continuation payload", fin=False), t.text("Hello, world!")], chunking)
    t.assert_failed(1002)


def test_5_15_message_then_stray_continuation(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send(
        [
            t.text("fragment1", fin=False),
            t.cont("fragment2"),
            t.cont("fragment3", fin=False),
            t.text("fragment4"),
        ],
        chunking,
    )
    t.assert_failed(1002, before=[Out(TEXT, b"fragment1fragment2")])


def test_5_16_stray_continuation_nofin_then_fragments_twice(role: str, chunking: str) -> None:
    t = Testee(role)
    once = [t.cont("fragment1", fin=False), t.text("fragment2", fin=False), t.cont("fragment3")]
    t.send(once + once, chunking)
    t.assert_failed(1002)


def test_5_17_stray_continuation_fin_then_fragments_twice(role: str, chunking: str) -> None:
    t = Testee(role)
    once = [t.cont("fragment1"), t.text("fragment2", fin=False), t.cont("fragment3")]
    t.send(once + once, chunking)
    t.assert_failed(1002)


def test_5_18_two_fragments_both_text(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text("fragment1", fin=False), t.text("fragment2")], chunking)
    t.assert_failed(1002)


def test_5_19_and_5_20_five_fragments_two_pings_between(role: str, chunking: str) -> None:
    t = Testee(role)
    frames = [
        t.text("fragment1", fin=False),
        t.cont("fragment2", fin=False),
        t.ping(b"pongme 1!"),
        t.cont("fragment3", fin=False),
        t.cont("fragment4", fin=False),
        t.ping(b"pongme 2!"),
        t.cont("fragment5"),
    ]
    if chunking == "frame":
        # 5.20: the pongs come at once, before the message is complete.
        for i, f in enumerate(frames):
            t.feed(f)
            if i == 2:
                assert [x.payload for x in t.new_frames()] == [b"pongme 1!"]
    else:
        t.send(frames, chunking)
    t.expect(
        pong(b"pongme 1!"),
        pong(b"pongme 2!"),
        Out(TEXT, b"fragment1fragment2fragment3fragment4fragment5"),
    )
    t.close_normally()


# -- more of the same rules ---------------------------------------------------------


def test_5_x_binary_in_fragments(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send(
        [t.binary(b"\x00\x01", fin=False), t.cont(b"\x02", fin=False), t.cont(b"\xff")], chunking
    )
    t.expect(Out(BINARY, b"\x00\x01\x02\xff"))
    t.close_normally()


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_5_x_empty_fragments(role: str, chunking: str, opcode: int) -> None:
    t = Testee(role)
    t.send(
        [
            t.frame(opcode, b"", fin=False),
            t.cont(b"", fin=False),
            t.cont(b"middle", fin=False),
            t.cont(b""),
        ],
        chunking,
    )
    t.expect(Out(opcode, b"middle"))
    t.close_normally()


def test_5_x_hundred_fragments_with_pings(role: str) -> None:
    t = Testee(role)
    frames = [t.text("0", fin=False)]
    for i in range(1, 100):
        frames.append(t.ping(b"%d" % i))
        frames.append(t.cont(str(i % 10), fin=i == 99))
    t.send(frames, "segment")
    t.expect(
        *[pong(b"%d" % i) for i in range(1, 100)],
        Out(TEXT, "".join(str(i % 10) for i in range(100)).encode()),
    )
    t.close_normally()


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_5_x_new_data_frame_inside_a_message(role: str, chunking: str, opcode: int) -> None:
    """Interleaving a new message (of either type) into an unfinished one."""
    t = Testee(role)
    t.send([t.binary(b"frag", fin=False), t.frame(opcode, b"new"), t.cont(b"end")], chunking)
    t.assert_failed(1002)


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG], ids=["close", "ping", "pong"])
def test_5_x_control_frame_without_fin(role: str, chunking: str, opcode: int) -> None:
    t = Testee(role)
    payload = b"\x03\xe8" if opcode == CLOSE else b"x"
    t.send([t.text("ok"), t.frame(opcode, payload, fin=False)], chunking)
    t.assert_failed(1002, before=[Out(TEXT, b"ok")])


def test_5_x_control_frame_without_fin_between_fragments(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text("a", fin=False), t.ping(b"p", fin=False), t.cont("b")], chunking)
    t.assert_failed(1002)


def test_5_x_two_messages_back_to_back_after_fragments(role: str, chunking: str) -> None:
    """The state is reset after the final fragment: a continuation is stray again."""
    t = Testee(role)
    t.send([t.text("a", fin=False), t.cont("b"), t.text("c"), t.cont("d")], chunking)
    t.assert_failed(1002, before=[Out(TEXT, b"ab"), Out(TEXT, b"c")])


def test_5_x_fragment_boundaries_in_the_middle_of_a_frame(role: str) -> None:
    """A message of 3 frames, delivered in 7-byte segments that cut headers,
    masking keys and payloads anywhere."""
    t = Testee(role, max_message_size=1 << 18)
    frames = [t.text("x" * 130, fin=False), t.ping(b"ping"), t.cont("y" * 70000)]
    t.send(frames, 7)
    t.expect(pong(b"ping"), Out(TEXT, b"x" * 130 + b"y" * 70000))
    t.close_normally()


def test_5_x_close_between_fragments(role: str, chunking: str) -> None:
    """A close frame may come between fragments (§5.4: control frames may be
    injected); the unfinished message is dropped (Autobahn 7.1.5)."""
    t = Testee(role)
    t.send([t.text("fragment1", fin=False), t.close(1000), t.cont("fragment2")], chunking)
    t.expect(CloseOut(1000, b""))
    assert t.messages() == []
    t.assert_closed(failed=False)


# -- the same rules with a streaming testee -------------------------------------------------
#
# With Connection(stream=True) the parts of a message are delivered (and, by
# the echo application, echoed) as they arrive. The expected outcome is the
# same sequence of messages, compared after reassembling the testee's output.

STREAM_CASES: dict[str, tuple[list[tuple[int, bytes, bool]], list[tuple[str, object]]]] = {
    "5.1": ([(PING, b"f1", False), (0, b"f2", True)], [("close", 1002)]),
    "5.3": ([(TEXT, b"f1", False), (0, b"f2", True)], [("text", "f1f2")]),
    "5.6": (
        [(TEXT, b"f1", False), (PING, b"p", True), (0, b"f2", True)],
        [("pong", b"p"), ("text", "f1f2")],
    ),
    "5.9": ([(0, b"x", True), (TEXT, b"y", True)], [("close", 1002)]),
    "5.12": ([(0, b"x", False), (TEXT, b"y", True)], [("close", 1002)]),
    "5.15": (
        [(TEXT, b"f1", False), (0, b"f2", True), (0, b"f3", False), (TEXT, b"f4", True)],
        [("text", "f1f2"), ("close", 1002)],
    ),
    "5.18": (
        [(TEXT, b"f1", False), (TEXT, b"f2", True)],
        [("partial text", b"f1"), ("close", 1002)],
    ),
    "5.19": (
        [
            (TEXT, b"f1", False),
            (0, b"f2", False),
            (PING, b"p1", True),
            (0, b"f3", False),
            (0, b"f4", False),
            (PING, b"p2", True),
            (0, b"f5", True),
        ],
        [("pong", b"p1"), ("pong", b"p2"), ("text", "f1f2f3f4f5")],
    ),
    "binary": (
        [(BINARY, b"\x00", False), (0, b"", False), (0, b"\xff", True)],
        [("binary", b"\x00\xff")],
    ),
    "empty": ([(TEXT, b"", False), (0, b"", True)], [("text", "")]),
}


@pytest.mark.parametrize("case", list(STREAM_CASES))
def test_5_x_streaming_testee(role: str, chunking: str, case: str) -> None:
    frames, expected = STREAM_CASES[case]
    t = Testee(role, stream=True)
    t.send([t.frame(op, p, fin=fin) for op, p, fin in frames], chunking)
    assert t.received() == expected
    if expected[-1][0] == "close":
        t.assert_failed(int(expected[-1][1]), before=None)  # type: ignore[call-overload]
    else:
        t.close_normally()
