"""Autobahn section 6: UTF-8 handling (RFC 6455 §5.6, §8.1; RFC 3629).

Text messages must be valid UTF-8; "When an endpoint is to interpret a byte
stream as UTF-8 but finds that the byte stream is not, in fact, a valid UTF-8
stream, that endpoint MUST _Fail the WebSocket Connection_" (§8.1) with 1007
(§7.4.1). Validity is of the whole message: a frame (or a TCP segment) may
end inside a code point.

Fail fast: the connection must fail as soon as the received bytes cannot be
the start of valid UTF-8, even mid-frame and before the rest arrives
(Autobahn 6.4.x), and must *not* fail on a prefix that can still be completed.
Every invalid case below checks both, against an independent validator
(:func:`~._harness.utf8_error_at`, Unicode Table 3-7).

The byte sequences are the classic ones of Markus Kuhn's UTF-8 decoder
stress test, as used by Autobahn 6.5–6.23.
"""

from __future__ import annotations

import itertools

import pytest

from ._harness import TEXT, CloseOut, Out, Testee, utf8_error_at

KOSME = bytes.fromhex("cebae1bdb9cf83cebcceb5")  # κόσμε

VALID: dict[str, bytes] = {
    "6.2.1 Hello-µ@ßöäüàá-UTF-8!!": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "6.5.1 κόσμε": KOSME,
    "6.5.x mixed scripts": "Ünïcödé ✓ 日本語 한국어 עברית العربية 𝄞 🎉".encode(),
    "6.5.x only 4-byte": "😀😁😂🤣😃".encode(),
    "6.5.x NUL and DEL": b"\x00\x7f\x00",
    "6.7.1 first 1-byte U+0000": b"\x00",
    "6.7.2 first 2-byte U+0080": bytes.fromhex("c280"),
    "6.7.3 first 3-byte U+0800": bytes.fromhex("e0a080"),
    "6.7.4 first 4-byte U+10000": bytes.fromhex("f0908080"),
    "6.9.1 last 1-byte U+007F": bytes.fromhex("7f"),
    "6.9.2 last 2-byte U+07FF": bytes.fromhex("dfbf"),
    "6.9.3 last 3-byte U+FFFF": bytes.fromhex("efbfbf"),
    "6.9.4 last 4-byte U+10FFFF": bytes.fromhex("f48fbfbf"),
    "6.11.1 U+D7FF": bytes.fromhex("ed9fbf"),
    "6.11.2 U+E000": bytes.fromhex("ee8080"),
    "6.11.3 U+FFFD": bytes.fromhex("efbfbd"),
    "6.11.4 U+10FFFF": bytes.fromhex("f48fbfbf"),
    "6.22.x U+FDD0..U+FDEF": "".join(chr(c) for c in range(0xFDD0, 0xFDF0)).encode(),
    "6.23.x U+FFF9..U+FFFD": "".join(chr(c) for c in range(0xFFF9, 0xFFFE)).encode(),
    "6.23.x BOM U+FEFF": "\ufeffBOM".encode(),
}
# 6.6.x: every prefix of κόσμε ending on a code point boundary.
for _n in (2, 5, 7, 9, 11):
    VALID[f"6.6.{_n} κόσμε[:{_n}]"] = KOSME[:_n]
# 6.22.x: the noncharacters U+xFFFE and U+xFFFF of all 17 planes are valid UTF-8.
for _plane in range(17):
    for _low in (0xFFFE, 0xFFFF):
        _cp = _plane << 16 | _low
        VALID[f"6.22 U+{_cp:04X}"] = chr(_cp).encode()

INVALID: dict[str, bytes] = {
    "6.3.1 surrogate inside": bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564"),
    "6.8.1 5-byte F8": bytes.fromhex("f888808080"),
    "6.8.2 6-byte FC": bytes.fromhex("fc8480808080"),
    "6.10.1 F7 BF BF BF": bytes.fromhex("f7bfbfbf"),
    "6.10.2 5-byte last": bytes.fromhex("fbbfbfbfbf"),
    "6.10.3 6-byte last": bytes.fromhex("fdbfbfbfbfbf"),
    "6.11.5 U+110000": bytes.fromhex("f4908080"),
    "6.12.1 80": bytes.fromhex("80"),
    "6.12.2 BF": bytes.fromhex("bf"),
    "6.12.3 80 BF": bytes.fromhex("80bf"),
    "6.12.4": bytes.fromhex("80bf80"),
    "6.12.5": bytes.fromhex("80bf80bf"),
    "6.12.6": bytes.fromhex("80bf80bf80"),
    "6.12.7": bytes.fromhex("80bf80bf80bf"),
    "6.12.8 all continuation bytes": bytes(range(0x80, 0xBF)),
    "6.13.1 lonely C0..DF": b"".join(bytes((b, 0x20)) for b in range(0xC0, 0xE0)),
    "6.13.2 lonely E0..EF": b"".join(bytes((b, 0x20)) for b in range(0xE0, 0xF0)),
    "6.13.3 lonely F0..F7": b"".join(bytes((b, 0x20)) for b in range(0xF0, 0xF8)),
    "6.13.4 lonely F8..FB": b"".join(bytes((b, 0x20)) for b in range(0xF8, 0xFC)),
    "6.13.5 lonely FC..FD": b"".join(bytes((b, 0x20)) for b in range(0xFC, 0xFE)),
    "6.16.1 FE": b"\xfe",
    "6.16.2 FF": b"\xff",
    "6.16.3 FE FE FF FF": bytes.fromhex("fefeffff"),
    "6.17.1 overlong / 2": bytes.fromhex("c0af"),
    "6.17.2 overlong / 3": bytes.fromhex("e080af"),
    "6.17.3 overlong / 4": bytes.fromhex("f08080af"),
    "6.17.4 overlong / 5": bytes.fromhex("f8808080af"),
    "6.17.5 overlong / 6": bytes.fromhex("fc80808080af"),
    "6.18.1 max overlong 2": bytes.fromhex("c1bf"),
    "6.18.2 max overlong 3": bytes.fromhex("e09fbf"),
    "6.18.3 max overlong 4": bytes.fromhex("f08fbfbf"),
    "6.18.4 max overlong 5": bytes.fromhex("f887bfbfbf"),
    "6.18.5 max overlong 6": bytes.fromhex("fc83bfbfbfbf"),
    "6.19.1 overlong NUL 2": bytes.fromhex("c080"),
    "6.19.2 overlong NUL 3": bytes.fromhex("e08080"),
    "6.19.3 overlong NUL 4": bytes.fromhex("f0808080"),
    "6.19.4 overlong NUL 5": bytes.fromhex("f880808080"),
    "6.19.5 overlong NUL 6": bytes.fromhex("fc8080808080"),
    "6.20.1 U+D800": bytes.fromhex("eda080"),
    "6.20.2 U+DB7F": bytes.fromhex("edadbf"),
    "6.20.3 U+DB80": bytes.fromhex("edae80"),
    "6.20.4 U+DBFF": bytes.fromhex("edafbf"),
    "6.20.5 U+DC00": bytes.fromhex("edb080"),
    "6.20.6 U+DF80": bytes.fromhex("edbe80"),
    "6.20.7 U+DFFF": bytes.fromhex("edbfbf"),
    "6.21.1 D800 DC00": bytes.fromhex("eda080edb080"),
    "6.21.2 D800 DFFF": bytes.fromhex("eda080edbfbf"),
    "6.21.3 DB7F DC00": bytes.fromhex("edadbfedb080"),
    "6.21.4 DB7F DFFF": bytes.fromhex("edadbfedbfbf"),
    "6.21.5 DB80 DC00": bytes.fromhex("edae80edb080"),
    "6.21.6 DB80 DFFF": bytes.fromhex("edae80edbfbf"),
    "6.21.7 DBFF DC00": bytes.fromhex("edafbfedb080"),
    "6.21.8 DBFF DFFF": bytes.fromhex("edafbfedbfbf"),
    "6.x F5 (beyond U+10FFFF)": b"ok\xf5\x80\x80\x80",
    "6.x valid then invalid": "Ünïcödé ✓".encode() + b"\xff" + b"more",
}
# 6.6.x: prefixes of κόσμε that end inside a code point (truncated at the end).
for _n in (1, 3, 4, 6, 8, 10):
    INVALID[f"6.6.{_n} κόσμε[:{_n}]"] = KOSME[:_n]
# 6.14.x: sequences with the last continuation byte missing; 6.15.1: all of them.
_TRUNCATED = [
    "c0",
    "e080",
    "f08080",
    "f8808080",
    "fc80808080",
    "df",
    "efbf",
    "f7bfbf",
    "fbbfbfbf",
    "fdbfbfbfbf",
]
for _i, _h in enumerate(_TRUNCATED, 1):
    INVALID[f"6.14.{_i} {_h}"] = bytes.fromhex(_h)
    INVALID[f"6.14.{_i} {_h} at the end of valid text"] = b"abc" + bytes.fromhex(_h)
INVALID["6.15.1 all truncated, concatenated"] = bytes.fromhex("".join(_TRUNCATED))

#: How a message reaches the testee.
MODES = ["one-frame", "1-byte-frames", "1-byte-frames-fed-singly", "one-frame-fed-bytewise"]


def _deliver(t: Testee, payload: bytes, mode: str) -> None:
    """Send *payload* as a text message, delivered as *mode* says."""
    if mode == "one-frame":
        t.feed(t.text(payload))
        return
    if mode.startswith("1-byte-frames"):
        frames = [
            t.frame(TEXT if i == 0 else 0, payload[i : i + 1], fin=i == len(payload) - 1)
            for i in range(len(payload))
        ] or [t.text(b"")]
        if mode == "1-byte-frames":
            t.feed(b"".join(frames))
        else:
            for f in frames:
                t.feed(f)
        return
    data = t.text(payload)
    for i in range(len(data)):
        t.feed(data[i : i + 1])


def _feed_checking_fail_fast(t: Testee, payload: bytes, mode: str) -> None:
    """Deliver incrementally; the close must appear exactly when the first
    byte that makes the message invalid (or, for a truncated message, its end)
    has been delivered, not before."""
    bad = utf8_error_at(payload)
    assert bad is not None
    last = min(bad, len(payload) - 1)  # the byte whose arrival must fail the connection
    if mode == "1-byte-frames-fed-singly":
        for i in range(len(payload)):
            t.feed(t.frame(TEXT if i == 0 else 0, payload[i : i + 1], fin=i == len(payload) - 1))
            closed = any(f.opcode == 8 for f in t.frames())
            assert closed == (i >= last), f"byte {i}: closed={closed}, must fail at byte {last}"
            if closed:
                break
    else:
        data = t.text(payload)
        header = len(data) - len(payload)
        for i in range(len(data)):
            t.feed(data[i : i + 1])
            closed = any(f.opcode == 8 for f in t.frames())
            assert closed == (i >= header + last), (
                f"payload byte {i - header}: closed={closed}, must fail at byte {last}"
            )
            if closed:
                break


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("payload", list(VALID.values()), ids=list(VALID))
def test_6_valid_utf8_is_echoed(role: str, payload: bytes, mode: str) -> None:
    assert utf8_error_at(payload) is None
    t = Testee(role)
    _deliver(t, payload, mode)
    t.expect(Out(TEXT, payload))
    t.close_normally()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("payload", list(INVALID.values()), ids=list(INVALID))
def test_6_invalid_utf8_fails_with_1007(role: str, payload: bytes, mode: str) -> None:
    assert utf8_error_at(payload) is not None
    t = Testee(role)
    if mode in ("one-frame", "1-byte-frames"):
        _deliver(t, payload, mode)
    else:
        _feed_checking_fail_fast(t, payload, mode)
    t.assert_failed(1007)


# -- 6.1: empty text messages ---------------------------------------------------------


def test_6_1_1_empty_text(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text(b"")], chunking)
    t.expect(Out(TEXT, b""))
    t.close_normally()


def test_6_1_2_empty_text_in_three_fragments(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text(b"", fin=False), t.cont(b"", fin=False), t.cont(b"")], chunking)
    t.expect(Out(TEXT, b""))
    t.close_normally()


def test_6_1_3_empty_middle_empty(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send(
        [t.text(b"", fin=False), t.cont(b"middle frame payload", fin=False), t.cont(b"")], chunking
    )
    t.expect(Out(TEXT, b"middle frame payload"))
    t.close_normally()


# -- 6.2: valid UTF-8 cut anywhere ----------------------------------------------------


def test_6_2_2_two_fragments_on_a_code_point_boundary(role: str, chunking: str) -> None:
    text = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    t = Testee(role)
    t.send([t.text(text[:12], fin=False), t.cont(text[12:])], chunking)
    t.expect(Out(TEXT, text))
    t.close_normally()


@pytest.mark.parametrize("cut", range(1, len(KOSME)))
def test_6_2_x_two_fragments_cut_inside_a_code_point(role: str, chunking: str, cut: int) -> None:
    """A fragment boundary may fall inside a code point: the message is valid."""
    t = Testee(role)
    t.send([t.text(KOSME[:cut], fin=False), t.cont(KOSME[cut:])], chunking)
    t.expect(Out(TEXT, KOSME))
    t.close_normally()


def test_6_x_every_4_byte_split(role: str) -> None:
    """A 4-byte sequence split 1+3, 2+2, 3+1 and 1+1+1+1 across fragments."""
    emoji = "🎉".encode()
    t = Testee(role)
    for cuts in ([1], [2], [3], [1, 2, 3]):
        bounds = [0, *cuts, 4]
        pieces = [emoji[a:b] for a, b in itertools.pairwise(bounds)]
        frames = [
            t.frame(TEXT if i == 0 else 0, p, fin=i == len(pieces) - 1)
            for i, p in enumerate(pieces)
        ]
        t.send(frames, "frame")
    t.expect(*[Out(TEXT, emoji)] * 4)
    t.close_normally()


# -- 6.3 / 6.4: fail fast --------------------------------------------------------------

INVALID_MESSAGE = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")


def test_6_3_1_invalid_unfragmented(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.text(INVALID_MESSAGE)], chunking)
    t.assert_failed(1007)


def test_6_3_2_invalid_in_1_byte_fragments(role: str) -> None:
    t = Testee(role)
    _feed_checking_fail_fast(t, INVALID_MESSAGE, "1-byte-frames-fed-singly")
    t.assert_failed(1007)


PARTS = {
    # 6.4.1: the middle part is U+110000 encoded: invalid, beyond U+10FFFF.
    "6.4.1": (KOSME, bytes.fromhex("f4908080"), bytes.fromhex("656469746564")),
    # 6.4.2: the middle part is only the byte that makes the message invalid.
    "6.4.2": (KOSME + b"\xf4", b"\x90", bytes.fromhex("8080656469746564")),
}


@pytest.mark.parametrize("case", list(PARTS))
def test_6_4_1_and_6_4_2_three_frames_fail_at_the_second(role: str, case: str) -> None:
    """The close is queued when the 2nd frame arrives, before the 3rd is sent."""
    part1, part2, part3 = PARTS[case]
    t = Testee(role)
    t.feed(t.text(part1, fin=False))
    assert t.frames() == [], "the first frame is a valid prefix: no reason to fail"
    t.feed(t.cont(part2, fin=False))
    t.expect(CloseOut(1007))
    t.feed(t.cont(part3))
    t.assert_failed(1007)


@pytest.mark.parametrize("case", list(PARTS), ids=["6.4.3", "6.4.4"])
def test_6_4_3_and_6_4_4_one_frame_three_chops(role: str, case: str) -> None:
    """One frame delivered in three chops; the close follows the 2nd chop."""
    part1, part2, part3 = PARTS[case]
    t = Testee(role)
    data = t.text(part1 + part2 + part3)
    header = len(data) - len(part1 + part2 + part3)
    a, b = header + len(part1), header + len(part1) + len(part2)
    t.feed(data[:a])
    assert t.frames() == []
    t.feed(data[a:b])
    t.expect(CloseOut(1007))
    t.feed(data[b:])
    t.assert_failed(1007)


@pytest.mark.parametrize(
    "bad", [b"\xce\xba\xc0", b"Hello\xff", b"\xed\xa0", b"\xf4\x90", b"\xe0\x80", b"\xf0\x8f"]
)
def test_6_x_invalid_first_frame_rest_never_sent(role: str, bad: bytes) -> None:
    """Only the first frame of a fragmented message is sent; it is already
    invalid whatever would follow, so the close is queued now."""
    t = Testee(role)
    t.feed(t.text(bad, fin=False))
    t.assert_failed(1007)


@pytest.mark.parametrize("bad", [b"\xce", b"\xe1\xbd", b"\xf0\x90\x80", b"ok\xf4"])
def test_6_x_truncated_at_a_fragment_boundary_valid_when_completed(role: str, bad: bytes) -> None:
    """A first frame ending inside a code point is not a reason to fail."""
    t = Testee(role)
    t.feed(t.text(bad, fin=False))
    assert t.frames() == []
    rest = {
        b"\xce": b"\xba",
        b"\xe1\xbd": b"\xb9",
        b"\xf0\x90\x80": b"\x80",
        b"ok\xf4": b"\x80\x80\x80",
    }[bad]
    t.feed(t.cont(rest))
    t.expect(Out(TEXT, bad + rest))
    t.close_normally()


@pytest.mark.parametrize("bad", [b"\xce", b"\xe1\xbd", b"\xf0\x90\x80", b"ok\xf4"])
def test_6_x_truncated_at_the_end_of_the_message(role: str, chunking: str, bad: bytes) -> None:
    t = Testee(role)
    t.send([t.text(bad, fin=False), t.cont(b"")], chunking)
    t.assert_failed(1007)


def test_6_x_valid_message_then_invalid_one(role: str, chunking: str) -> None:
    """Strict order: the valid message's echo precedes the close."""
    t = Testee(role)
    t.send([t.text(KOSME), t.text(b"\xff"), t.ping()], chunking)
    t.assert_failed(1007, before=[Out(TEXT, KOSME)])


def test_6_x_binary_messages_are_not_utf8_checked(role: str, chunking: str) -> None:
    t = Testee(role)
    t.send([t.binary(INVALID_MESSAGE), t.binary(b"\xff", fin=False), t.cont(b"\xfe")], chunking)
    t.expect(Out(2, INVALID_MESSAGE), Out(2, b"\xff\xfe"))
    t.close_normally()


# -- a streaming testee: text parts are delivered (and echoed) as they arrive ------------------

STREAM_MODES = ["1-byte-frames-fed-singly", "one-frame-fed-bytewise", "one-frame"]


@pytest.mark.parametrize("mode", STREAM_MODES)
@pytest.mark.parametrize("payload", list(VALID.values()), ids=list(VALID))
def test_6_streaming_valid_utf8(role: str, payload: bytes, mode: str) -> None:
    t = Testee(role, stream=True)
    _deliver(t, payload, mode)
    assert t.received() == [("text", payload.decode())]
    t.close_normally()


@pytest.mark.parametrize("mode", STREAM_MODES)
@pytest.mark.parametrize("payload", list(INVALID.values()), ids=list(INVALID))
def test_6_streaming_invalid_utf8(role: str, payload: bytes, mode: str) -> None:
    """Fail fast as above; the parts echoed before the close are the valid
    prefix, cut on character boundaries."""
    t = Testee(role, stream=True)
    if mode == "one-frame":
        _deliver(t, payload, mode)
    else:
        _feed_checking_fail_fast(t, payload, mode)
    received = t.received()
    assert received[-1] == ("close", 1007)
    if len(received) == 2:
        kind, partial = received[0]
        bad = utf8_error_at(payload)
        assert kind == "partial text" and bad is not None
        assert payload[:bad].startswith(partial) and partial.decode()
    else:
        assert len(received) == 1
    t.assert_failed(1007, before=None)
