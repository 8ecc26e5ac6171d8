"""Tests of permessage-deflate (RFC 7692): negotiation, RFC vectors, bounds, round trips."""

from __future__ import annotations

import itertools
import re
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsproto_lite import accept_key
from wsproto_lite._connection import Connection, Role
from wsproto_lite._errors import LocalProtocolError, RemoteProtocolError
from wsproto_lite._events import (
    Accept,
    BinaryMessage,
    Close,
    Event,
    Handshake,
    HandshakeFailed,
    TextMessage,
)
from wsproto_lite._frames import RSV1, Opcode, serialize_frame
from wsproto_lite.extensions import permessage_deflate as pmd
from wsproto_lite.extensions.base import Params
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate, PerMessageDeflateSession
from wsproto_lite.testing import ConnectionPair

MiB = 1 << 20


def params(text: str) -> Params:
    """``"a; b=1"`` → ``[("a", None), ("b", "1")]`` (no quoting: tests only)."""
    result: Params = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, eq, value = part.partition("=")
        result.append((name, value if eq else None))
    return result


def receive(
    session: PerMessageDeflateSession, pieces: list[bytes], max_length: int = 1 << 16
) -> bytes:
    """Feed one message's compressed *pieces* as the core does; check every bound."""
    out = []
    pieces = pieces or [b""]
    for i, piece in enumerate(pieces):
        final = i == len(pieces) - 1
        data = piece
        while True:
            chunk = session.inbound_data(data, final, max_length)
            assert len(chunk) <= max_length
            out.append(chunk)
            if len(chunk) < max_length:
                break
            data = b""  # the contract: call again with no data and the same final
    return b"".join(out)


def send(session: PerMessageDeflateSession, parts: list[bytes]) -> bytes:
    """Compress a message sent in *parts* (one part: sent whole)."""
    size_hint = len(parts[0]) if len(parts) == 1 else None
    assert session.outbound_message(Opcode.BINARY, size_hint, True) == RSV1
    return b"".join(
        session.outbound_data(part, i == len(parts) - 1) for i, part in enumerate(parts)
    )


def negotiate(
    client_kwargs: dict[str, Any], server_kwargs: dict[str, Any]
) -> tuple[Params, PerMessageDeflateSession, PerMessageDeflateSession]:
    client = PerMessageDeflate(**client_kwargs)
    server = PerMessageDeflate(**server_kwargs)
    result = server.accept(client.offer())
    assert result is not None
    response, server_session = result
    return response, client.finalize(response), server_session


# -- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": 16},
        {"client_max_window_bits": 0},
        {"client_max_window_bits": True},
        {"client_max_window_bits": "10"},
        {"server_no_context_takeover": 1},
        {"client_no_context_takeover": "yes"},
        {"compress_level": -2},
        {"compress_level": 10},
        {"compress_level": 6.0},
        {"mem_level": 0},
        {"mem_level": 10},
        {"min_size": -1},
        {"min_size": None},
        {"release_contexts": 1},
    ],
)
def test_invalid_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        PerMessageDeflate(**kwargs)


def test_valid_configuration_extremes() -> None:
    ext = PerMessageDeflate(
        server_max_window_bits=8,
        client_max_window_bits=15,
        compress_level=-1,
        mem_level=1,
        min_size=0,
    )
    assert ext.name == "permessage-deflate"
    assert "server_max_window_bits=8" in repr(ext)
    assert PerMessageDeflate().min_size == 32


# -- client offer --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "offer"),
    [
        ({}, "client_max_window_bits"),
        ({"client_max_window_bits": 10}, "client_max_window_bits=10"),
        ({"server_max_window_bits": 9}, "server_max_window_bits=9; client_max_window_bits"),
        (
            {"server_no_context_takeover": True},
            "server_no_context_takeover; client_max_window_bits",
        ),
        (
            {"client_no_context_takeover": True},
            "client_no_context_takeover; client_max_window_bits",
        ),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 12,
                "client_max_window_bits": 8,
            },
            "server_no_context_takeover; client_no_context_takeover;"
            " server_max_window_bits=12; client_max_window_bits=8",
        ),
    ],
)
def test_offer(kwargs: dict[str, Any], offer: str) -> None:
    assert PerMessageDeflate(**kwargs).offer() == [params(offer)]


# -- server: accepting offers (RFC 7692 §7) ------------------------------------------

ALL_FOUR = (
    "server_no_context_takeover; client_no_context_takeover;"
    " server_max_window_bits=12; client_max_window_bits=11"
)


@pytest.mark.parametrize(
    ("offer", "server_kwargs", "response"),
    [
        # The offer alone, default server.
        ("", {}, ""),
        ("server_no_context_takeover", {}, "server_no_context_takeover"),
        ("client_no_context_takeover", {}, "client_no_context_takeover"),
        ("server_max_window_bits=10", {}, "server_max_window_bits=10"),
        ("server_max_window_bits=8", {}, "server_max_window_bits=8"),
        ("client_max_window_bits", {}, ""),
        ("client_max_window_bits=9", {}, "client_max_window_bits=9"),
        (ALL_FOUR, {}, ALL_FOUR),
        # §7.1.1.1: the server may always refuse context takeover for itself.
        ("", {"server_no_context_takeover": True}, "server_no_context_takeover"),
        (
            "server_no_context_takeover",
            {"server_no_context_takeover": True},
            "server_no_context_takeover",
        ),
        # §7.1.1.2: the server may always ask the client not to take over.
        ("", {"client_no_context_takeover": True}, "client_no_context_takeover"),
        (
            "client_max_window_bits",
            {"client_no_context_takeover": True},
            "client_no_context_takeover",
        ),
        # §7.1.2.1: server window: the offer's limit or ours, whichever is smaller.
        ("", {"server_max_window_bits": 10}, "server_max_window_bits=10"),
        ("server_max_window_bits=12", {"server_max_window_bits": 10}, "server_max_window_bits=10"),
        ("server_max_window_bits=9", {"server_max_window_bits": 10}, "server_max_window_bits=9"),
        # §7.1.2.2: client window only when offered; then the smaller one.
        ("", {"client_max_window_bits": 10}, ""),
        ("client_max_window_bits", {"client_max_window_bits": 10}, "client_max_window_bits=10"),
        ("client_max_window_bits=12", {"client_max_window_bits": 10}, "client_max_window_bits=10"),
        ("client_max_window_bits=9", {"client_max_window_bits": 10}, "client_max_window_bits=9"),
        # Everything at once.
        (
            "client_max_window_bits",
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 9,
                "client_max_window_bits": 8,
            },
            "server_no_context_takeover; client_no_context_takeover;"
            " server_max_window_bits=9; client_max_window_bits=8",
        ),
        # Names are case-insensitive; the response uses the RFC spelling.
        ("Server_No_Context_Takeover", {}, "server_no_context_takeover"),
    ],
)
def test_accept_table(offer: str, server_kwargs: dict[str, Any], response: str) -> None:
    result = PerMessageDeflate(**server_kwargs).accept([params(offer)])
    assert result is not None
    assert result[0] == params(response)


INVALID_OFFERS = [
    "foo",
    "server_no_context_takeover; foo=1",
    "server_no_context_takeover; server_no_context_takeover",
    "client_max_window_bits; client_max_window_bits=10",
    "server_max_window_bits=10; Server_Max_Window_Bits=10",
    "server_no_context_takeover=1",
    "client_no_context_takeover=",
    "server_max_window_bits",  # a value is required
    "server_max_window_bits=7",
    "server_max_window_bits=16",
    "server_max_window_bits=08",
    "server_max_window_bits=010",
    "server_max_window_bits=+9",
    "server_max_window_bits=9.0",
    "server_max_window_bits=abc",
    "server_max_window_bits=",
    "server_max_window_bits=\uff11\uff10",  # fullwidth digits are not DIGIT
    "client_max_window_bits=0",
    "client_max_window_bits=99999999999999999999",
    "client_max_window_bits=-9",
]


@pytest.mark.parametrize("offer", INVALID_OFFERS)
def test_accept_declines_invalid_offer(offer: str) -> None:
    assert PerMessageDeflate().accept([params(offer)]) is None


def test_accept_takes_the_first_valid_offer() -> None:
    ext = PerMessageDeflate()
    offers = [
        params("foo"),
        params("server_max_window_bits=20"),
        params("server_max_window_bits=10"),
        [],
    ]
    result = ext.accept(offers)
    assert result is not None
    assert result[0] == params("server_max_window_bits=10")
    assert result[1].outbound_max_window_bits == 10
    # The first valid offer wins even when a later one is also valid.
    result = ext.accept([[], params("server_no_context_takeover")])
    assert result is not None
    assert result[0] == []
    assert ext.accept([params(o) for o in INVALID_OFFERS]) is None
    assert ext.accept([]) is None


OFFER_VARIANTS = {
    "server_no_context_takeover": [None, "server_no_context_takeover"],
    "client_no_context_takeover": [None, "client_no_context_takeover"],
    "server_max_window_bits": [None, *(f"server_max_window_bits={b}" for b in (8, 10, 15))],
    "client_max_window_bits": [
        None,
        "client_max_window_bits",
        *(f"client_max_window_bits={b}" for b in (8, 12, 15)),
    ],
}
SERVER_CONFIGS = [
    dict(
        zip(
            (
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits",
                "client_max_window_bits",
            ),
            values,
            strict=True,
        )
    )
    for values in itertools.product((False, True), (False, True), (None, 9, 13), (None, 8, 11))
]


def _offers() -> Iterator[Params]:
    for combo in itertools.product(*OFFER_VARIANTS.values()):
        yield params("; ".join(p for p in combo if p is not None))


@pytest.mark.parametrize("server_kwargs", SERVER_CONFIGS, ids=repr)
def test_accept_rules_over_every_combination(server_kwargs: dict[str, Any]) -> None:
    """Every offer × this server: the response obeys RFC 7692 §7.1, the session matches it."""
    ext = PerMessageDeflate(**server_kwargs)
    for offer in _offers():
        result = ext.accept([offer])
        assert result is not None, offer
        response, session = result
        off = dict(offer)
        got = dict(response)
        assert len(got) == len(response)  # no duplicates
        # §7.1.1.1: present if offered (MUST) or if we want it (MAY).
        snct = "server_no_context_takeover" in off or server_kwargs["server_no_context_takeover"]
        assert ("server_no_context_takeover" in got) == snct
        assert session.outbound_no_context_takeover == snct
        cnct = "client_no_context_takeover" in off or server_kwargs["client_no_context_takeover"]
        assert ("client_no_context_takeover" in got) == cnct
        assert session.inbound_no_context_takeover == cnct
        # §7.1.2.1: never more than offered, never more than configured.
        limits = [int(v) for v in (off.get("server_max_window_bits"),) if v]
        if server_kwargs["server_max_window_bits"] is not None:
            limits.append(server_kwargs["server_max_window_bits"])
        if limits:
            assert got["server_max_window_bits"] == str(min(limits))
        else:
            assert "server_max_window_bits" not in got
        assert session.outbound_max_window_bits == (min(limits) if limits else 15)
        # §7.1.2.2: MUST NOT include client_max_window_bits unless offered.
        if "client_max_window_bits" not in off:
            assert "client_max_window_bits" not in got
            assert session.inbound_max_window_bits == 15
        else:
            limits = [int(v) for v in (off["client_max_window_bits"],) if v]
            if server_kwargs["client_max_window_bits"] is not None:
                limits.append(server_kwargs["client_max_window_bits"])
            expected = str(min(limits)) if limits else None
            assert got.get("client_max_window_bits") == expected
            assert session.inbound_max_window_bits == (min(limits) if limits else 15)
        # Values in a response are always present for window bits.
        assert all(got[k] is not None for k in got if k.endswith("_bits"))


# -- client: checking the response ---------------------------------------------------


@pytest.mark.parametrize(
    ("client_kwargs", "response"),
    [
        ({}, "foo"),
        ({}, "server_no_context_takeover; x=1"),
        ({}, "server_no_context_takeover; server_no_context_takeover"),
        ({}, "client_max_window_bits=10; client_max_window_bits=10"),
        ({}, "server_no_context_takeover=1"),
        ({}, "client_no_context_takeover=x"),
        ({}, "server_max_window_bits"),
        ({}, "server_max_window_bits=7"),
        ({}, "server_max_window_bits=16"),
        ({}, "server_max_window_bits=08"),
        ({}, "server_max_window_bits=abc"),
        ({}, "server_max_window_bits="),
        # §7.1.2.2: a response's client_max_window_bits needs a value.
        ({}, "client_max_window_bits"),
        ({}, "client_max_window_bits=16"),
        # §7.1.2.1: a server granting a bigger window than the offer asked for.
        ({"server_max_window_bits": 10}, "server_max_window_bits=11"),
        ({"server_max_window_bits": 10}, "server_max_window_bits=15"),
        # ... or not confirming the limit at all.
        ({"server_max_window_bits": 10}, ""),
        # §7.1.1.1: accepting server_no_context_takeover means echoing it.
        ({"server_no_context_takeover": True}, ""),
        ({"server_no_context_takeover": True}, "client_no_context_takeover"),
        # §7.1.2.2: a value bigger than the client's own limit.
        ({"client_max_window_bits": 10}, "client_max_window_bits=11"),
    ],
)
def test_finalize_rejects(client_kwargs: dict[str, Any], response: str) -> None:
    with pytest.raises(RemoteProtocolError):
        PerMessageDeflate(**client_kwargs).finalize(params(response))


@pytest.mark.parametrize(
    ("client_kwargs", "response", "expected"),
    [
        # expected: (outbound bits, outbound no takeover, inbound bits, inbound no takeover)
        ({}, "", (15, False, 15, False)),
        ({}, "server_no_context_takeover", (15, False, 15, True)),  # MAY without asking
        ({}, "client_no_context_takeover", (15, True, 15, False)),
        ({}, "server_max_window_bits=9", (15, False, 9, False)),  # MAY without asking
        ({}, "client_max_window_bits=8", (8, False, 15, False)),
        ({}, "Client_Max_Window_Bits=12", (12, False, 15, False)),
        ({}, ALL_FOUR, (11, True, 12, True)),
        ({"server_max_window_bits": 10}, "server_max_window_bits=10", (15, False, 10, False)),
        ({"server_max_window_bits": 10}, "server_max_window_bits=8", (15, False, 8, False)),
        ({"server_no_context_takeover": True}, "server_no_context_takeover", (15, False, 15, True)),
        # Our own promises hold even when the server does not repeat them (§7.1.1.2, §7.1.2.2).
        ({"client_no_context_takeover": True}, "", (15, True, 15, False)),
        ({"client_max_window_bits": 10}, "", (10, False, 15, False)),
        ({"client_max_window_bits": 10}, "client_max_window_bits=10", (10, False, 15, False)),
        ({"client_max_window_bits": 10}, "client_max_window_bits=9", (9, False, 15, False)),
    ],
)
def test_finalize_accepts(
    client_kwargs: dict[str, Any], response: str, expected: tuple[int, bool, int, bool]
) -> None:
    session = PerMessageDeflate(**client_kwargs).finalize(params(response))
    assert (
        session.outbound_max_window_bits,
        session.outbound_no_context_takeover,
        session.inbound_max_window_bits,
        session.inbound_no_context_takeover,
    ) == expected
    assert "bits" in repr(session)


CLIENT_CONFIGS = [
    dict(
        zip(
            (
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits",
                "client_max_window_bits",
            ),
            values,
            strict=True,
        )
    )
    for values in itertools.product((False, True), (False, True), (None, 8, 11, 15), (None, 8, 12))
]


@pytest.mark.parametrize("client_kwargs", CLIENT_CONFIGS, ids=repr)
def test_client_and_server_agree(client_kwargs: dict[str, Any]) -> None:
    """Our client against our server, every configuration pair: both ends see one contract."""
    for server_kwargs in SERVER_CONFIGS:
        _, client, server = negotiate(client_kwargs, server_kwargs)
        assert client.outbound_max_window_bits == server.inbound_max_window_bits
        assert client.outbound_no_context_takeover == server.inbound_no_context_takeover
        assert client.inbound_max_window_bits == server.outbound_max_window_bits
        assert client.inbound_no_context_takeover == server.outbound_no_context_takeover
        for kwargs in (client_kwargs, server_kwargs):
            if kwargs["server_max_window_bits"] is not None:
                assert server.outbound_max_window_bits <= kwargs["server_max_window_bits"]
            if kwargs["client_max_window_bits"] is not None:
                assert client.outbound_max_window_bits <= kwargs["client_max_window_bits"]
            if kwargs["server_no_context_takeover"]:
                assert server.outbound_no_context_takeover
            if kwargs["client_no_context_takeover"]:
                assert client.outbound_no_context_takeover


# -- RSV1 checks (RFC 7692 §6.1) -----------------------------------------------------


@pytest.mark.parametrize("opcode", [Opcode.CLOSE, Opcode.PING, Opcode.PONG])
def test_rsv1_on_control_frame(opcode: Opcode) -> None:
    session = PerMessageDeflateSession()
    assert session.inbound_frame(opcode, 0, starts_message=False) is False
    with pytest.raises(RemoteProtocolError) as info:
        session.inbound_frame(opcode, RSV1, starts_message=False)
    assert info.value.code == 1002


def test_rsv1_on_continuation_frame() -> None:
    session = PerMessageDeflateSession()
    assert session.inbound_frame(Opcode.TEXT, RSV1, starts_message=True) is True
    assert session.inbound_frame(Opcode.CONTINUATION, 0, starts_message=False) is False
    with pytest.raises(RemoteProtocolError) as info:
        session.inbound_frame(Opcode.CONTINUATION, RSV1, starts_message=False)
    assert info.value.code == 1002


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_rsv1_on_first_frame(opcode: Opcode) -> None:
    session = PerMessageDeflateSession()
    assert session.inbound_frame(opcode, RSV1, starts_message=True) is True
    assert session.inbound_frame(opcode, 0, starts_message=True) is False
    assert session.rsv_mask == RSV1


def test_outbound_message_decision() -> None:
    session = PerMessageDeflateSession(min_size=10)
    assert session.outbound_message(Opcode.TEXT, 10, True) == RSV1
    assert session.outbound_message(Opcode.BINARY, 1000, True) == RSV1
    assert session.outbound_message(Opcode.TEXT, None, True) == RSV1  # fragmented: size unknown
    assert session.outbound_message(Opcode.TEXT, 9, True) == 0  # below min_size
    assert session.outbound_message(Opcode.TEXT, 1000, False) == 0  # compress=False
    for opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE, Opcode.CONTINUATION):
        assert session.outbound_message(opcode, 1000, True) == 0


# -- RFC 7692 §7.2.3 vectors ---------------------------------------------------------

HELLO = bytes.fromhex("f2 48 cd c9 c9 07 00")
HELLO_AGAIN = bytes.fromhex("f2 00 11 00 00")


def test_vector_7_2_3_1_compress() -> None:
    session = PerMessageDeflateSession()
    assert send(session, [b"Hello"]) == HELLO
    # The whole frame of §7.2.3.1, unmasked: RSV1 is set by outbound_message.
    assert serialize_frame(Opcode.TEXT, HELLO, rsv=RSV1) == bytes.fromhex(
        "c1 07 f2 48 cd c9 c9 07 00"
    )


def test_vector_7_2_3_1_decompress_whole_and_fragmented() -> None:
    session = PerMessageDeflateSession()
    assert receive(session, [HELLO]) == b"Hello"
    session = PerMessageDeflateSession(inbound_no_context_takeover=True)
    # §7.2.3.1's fragments: "f2 48 cd" then "c9 c9 07 00".
    assert receive(session, [HELLO[:3], HELLO[3:]]) == b"Hello"


def test_vector_7_2_3_2_shared_window() -> None:
    sender = PerMessageDeflateSession()
    assert send(sender, [b"Hello"]) == HELLO
    assert send(sender, [b"Hello"]) == HELLO_AGAIN
    receiver = PerMessageDeflateSession()
    assert receive(receiver, [HELLO]) == b"Hello"
    assert receive(receiver, [HELLO_AGAIN]) == b"Hello"


def test_no_context_takeover_resets_both_ways() -> None:
    sender = PerMessageDeflateSession(outbound_no_context_takeover=True)
    assert send(sender, [b"Hello"]) == HELLO
    assert send(sender, [b"Hello"]) == HELLO  # no back-reference to the first message
    receiver = PerMessageDeflateSession(inbound_no_context_takeover=True)
    assert receive(receiver, [HELLO]) == b"Hello"
    # The second message of §7.2.3.2 refers to the first: invalid without the window.
    with pytest.raises(RemoteProtocolError) as info:
        receive(receiver, [HELLO_AGAIN])
    assert info.value.code == 1007


# -- release_contexts: no context between messages, the same bytes ----------------------


def test_release_contexts_keeps_the_shared_window_of_7_2_3_2() -> None:
    sender = PerMessageDeflateSession(release_contexts=True)
    receiver = PerMessageDeflateSession(release_contexts=True)
    assert send(sender, [b"Hello"]) == HELLO
    assert sender._deflater.compressor is None  # released, the window kept
    # The second message still refers to the first: the bytes of §7.2.3.2.
    assert send(sender, [b"Hello"]) == HELLO_AGAIN
    assert receive(receiver, [HELLO]) == b"Hello"
    assert receiver._inflater.decompressor is None
    assert receive(receiver, [HELLO_AGAIN]) == b"Hello"
    assert receiver._inflater.decompressor is None
    # Fragmented: the context lives until the last piece, then goes.
    assert sender.outbound_message(Opcode.TEXT, None, True) == RSV1
    first = sender.outbound_data(b"Hel", False)
    assert sender._deflater.compressor is not None
    last = sender.outbound_data(b"lo", True)
    assert sender._deflater.compressor is None
    assert receive(receiver, [first, last]) == b"Hello"
    assert receiver._inflater.decompressor is None


def _zlib_messages(messages: list[bytes], wbits: int) -> list[bytes]:
    """*messages* compressed by one zlib context kept across them (independent of ours)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -wbits, 9)
    out = []
    for message in messages:
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def _history_messages() -> list[bytes]:
    """Messages that refer back across several earlier ones, up to the window's edge."""
    words = [bytes(f"word{i:03d}-", "ascii") * 3 for i in range(300)]
    return [
        words[0] * 40,  # 5.3 KiB: longer than a 12-bit window
        words[1],
        words[2],
        words[0][:20] + words[1] + words[2],  # refers to the three before it
        b"".join(words[3:60]),
        b"".join(words[3:60])[::-1],
        b"".join(words[3:60])[100:2000] + words[1],
        b"",
        b"x",
        b"".join(words[3:60])[1500:3900],  # up to the 4 KiB window's edge
    ]


@pytest.mark.parametrize("wbits", [9, 12, 15])
def test_released_decompressor_decodes_what_one_context_compressed(wbits: int) -> None:
    messages = _history_messages()
    compressed = _zlib_messages(messages, wbits)
    for max_length in (1 << 16, 97):  # whole, and a little at a time
        receiver = PerMessageDeflateSession(inbound_max_window_bits=wbits, release_contexts=True)
        for message, data in zip(messages, compressed, strict=True):
            assert receive(receiver, [data[:3], data[3:]], max_length) == message
            assert receiver._inflater.decompressor is None
            assert len(receiver._inflater.history) <= 1 << wbits
    # Without the history the later messages would not decode: it is really used.
    with pytest.raises(RemoteProtocolError):
        receive(PerMessageDeflateSession(inbound_max_window_bits=wbits), [compressed[3]])


@pytest.mark.parametrize("wbits", [9, 12, 15])
def test_released_compressor_output_decodes_with_one_zlib_context(wbits: int) -> None:
    messages = _history_messages()
    sender = PerMessageDeflateSession(outbound_max_window_bits=wbits, release_contexts=True)
    plain = PerMessageDeflateSession(outbound_max_window_bits=wbits)
    decompressor = zlib.decompressobj(-wbits)  # the peer: one context for the connection
    for message in messages:
        data = send(sender, [message[:10], message[10:]] if len(message) > 10 else [message])
        assert sender._deflater.compressor is None
        assert decompressor.decompress(data + b"\x00\x00\xff\xff") == message
        # As small as with the context kept (within a few bytes of block framing).
        kept = send(plain, [message[:10], message[10:]] if len(message) > 10 else [message])
        assert len(data) <= len(kept) + 8
    # Repeated text became back-references into the earlier messages.
    assert len(send(sender, [messages[3]])) < len(messages[3]) // 4


def test_release_contexts_after_a_stream_that_ended() -> None:
    # §7.2.3.4: the peer ended its stream (BFINAL); the next starts with no history.
    receiver = PerMessageDeflateSession(release_contexts=True)
    assert receive(receiver, [HELLO]) == b"Hello"
    assert receive(receiver, [bytes.fromhex("f3 48 cd c9 c9 07 00 00")]) == b"Hello"
    assert receiver._inflater.history == b""
    assert receive(receiver, [HELLO]) == b"Hello"
    assert receive(receiver, [HELLO_AGAIN]) == b"Hello"
    # BFINAL within a message, then more of it: the window starts over there too.
    ended = bytes.fromhex("f3 48 cd c9 c9 07 00")
    assert receive(receiver, [ended + HELLO, HELLO_AGAIN[:0]], max_length=5) == b"HelloHello"
    assert receiver._inflater.history == b""


def test_release_contexts_without_context_takeover_keeps_no_history() -> None:
    sender = PerMessageDeflateSession(outbound_no_context_takeover=True, release_contexts=True)
    receiver = PerMessageDeflateSession(inbound_no_context_takeover=True, release_contexts=True)
    for _ in range(2):
        assert send(sender, [b"Hello"]) == HELLO
        assert receive(receiver, [HELLO]) == b"Hello"
    assert sender._deflater.history == receiver._inflater.history == b""


def test_release_contexts_holds_the_windows_only() -> None:
    message = bytes(range(256)) * 64  # 16 KiB
    held = {}
    for release in (False, True):
        tracemalloc.start()
        try:
            sender = PerMessageDeflateSession(
                outbound_max_window_bits=12, inbound_max_window_bits=12, mem_level=5,
                release_contexts=release,
            )  # fmt: skip
            before = tracemalloc.get_traced_memory()[0]
            # (Its own output back: a window the same as the one it sent.)
            assert receive(sender, [send(sender, [message])]) == message
            held[release] = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    # zlib's contexts (about 45 KiB at 12 bits, mem_level 5), or two 4 KiB windows.
    assert held[False] > 40_000
    assert held[True] < 10_000


def test_vector_7_2_3_3_stored_block() -> None:
    payload = bytes.fromhex("00 05 00 fa ff 48 65 6c 6c 6f 00")
    assert receive(PerMessageDeflateSession(), [payload]) == b"Hello"


def test_vector_7_2_3_4_bfinal() -> None:
    session = PerMessageDeflateSession()
    payload = bytes.fromhex("f3 48 cd c9 c9 07 00 00")
    assert receive(session, [payload]) == b"Hello"
    # The stream ended: the next message starts a new one and still decodes.
    assert receive(session, [HELLO]) == b"Hello"
    assert receive(session, [HELLO_AGAIN]) == b"Hello"
    # A BFINAL block without the trailing 00 byte (non-conforming, but seen) is tolerated.
    assert receive(session, [payload[:-1]]) == b"Hello"
    assert receive(session, [HELLO]) == b"Hello"
    # A tiny output bound across the end of the stream.
    assert receive(session, [payload], max_length=1) == b"Hello"
    assert receive(session, [payload, HELLO[:0]], max_length=5) == b"Hello"


def test_bfinal_then_more_output_than_the_bound() -> None:
    # What follows a stream's end in the same message (here a new stream) is
    # decoded under the same output bound, and what zlib did not consume waits.
    ended = bytes.fromhex("f3 48 cd c9 c9 07 00")  # "Hello", BFINAL
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    more = compressor.compress(b"x" * 1000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    session = PerMessageDeflateSession()
    assert session.inbound_frame(Opcode.TEXT, RSV1, starts_message=True)
    assert session.inbound_data(ended + more[:-4], True, 8) == b"Helloxxx"
    assert session.inbound_data(b"", True, 8) == b"x" * 8
    assert receive(session, [b""], max_length=8) == b"x" * (1000 - 11)
    # The message ended with a new stream: the next message starts afresh.
    assert receive(session, [HELLO]) == b"Hello"


def test_vector_7_2_3_5_two_blocks() -> None:
    payload = bytes.fromhex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")
    assert receive(PerMessageDeflateSession(), [payload]) == b"Hello"
    # Our sender flushes every fragment the same way: "He" then "llo".
    sender = PerMessageDeflateSession()
    assert send(sender, [b"He", b"llo"]) == payload


def test_vector_7_2_3_6_empty_fragment() -> None:
    # An empty final fragment is the single byte 00 (an empty stored block).
    receiver = PerMessageDeflateSession()
    assert receive(receiver, [bytes.fromhex("00")]) == b""
    # §7.2.3.6: a flushed first fragment (tail kept), then an empty last fragment.
    assert receive(receiver, [HELLO + b"\x00\x00\xff\xff", b"\x00"]) == b"Hello"
    for no_takeover in (False, True):
        sender = PerMessageDeflateSession(outbound_no_context_takeover=no_takeover)
        assert send(sender, [b""]) == b"\x00"
        # Fragmented with an empty last piece, and empty middle pieces.
        parts = [b"Hel", b"", b"lo", b""]
        assert sender.outbound_message(Opcode.TEXT, None, True) == RSV1
        pieces = [sender.outbound_data(part, i == len(parts) - 1) for i, part in enumerate(parts)]
        assert pieces[1] == b""
        assert pieces[-1] == b"\x00"
        assert receive(receiver, pieces) == b"Hello"
        assert send(sender, [b""]) == b"\x00"
        assert receive(receiver, [b"\x00"]) == b""


def test_empty_message_round_trip_both_modes() -> None:
    for no_takeover in (False, True):
        sender = PerMessageDeflateSession(outbound_no_context_takeover=no_takeover)
        receiver = PerMessageDeflateSession(inbound_no_context_takeover=no_takeover)
        for message in (b"", b"abc", b"", b"", b"abcabc", b""):
            assert receive(receiver, [send(sender, [message])]) == message


# -- inbound_data: bounds and errors -------------------------------------------------


def test_output_bound_contract() -> None:
    data = bytes(range(256)) * 40 + b"z" * 50_000
    sender = PerMessageDeflateSession()
    compressed = send(sender, [data])
    receiver = PerMessageDeflateSession()
    # Exactly max_length means "call again"; the call that returns less ends the message.
    calls = []
    chunk = receiver.inbound_data(compressed, True, 1000)
    calls.append(chunk)
    while len(chunk) == 1000:
        chunk = receiver.inbound_data(b"", True, 1000)
        calls.append(chunk)
    assert b"".join(calls) == data
    assert all(len(c) == 1000 for c in calls[:-1])
    assert len(calls[-1]) == len(data) % 1000
    # The message ended: the decompressor is ready for the next one.
    assert receive(receiver, [send(sender, [b"next"])]) == b"next"


def test_output_bound_exact_multiple() -> None:
    """Output of exactly k × max_length: the last call returns b"" and ends the message."""
    sender = PerMessageDeflateSession()
    receiver = PerMessageDeflateSession()
    compressed = send(sender, [b"q" * 3000])
    assert [
        len(receiver.inbound_data(compressed if i == 0 else b"", True, 1000)) for i in range(4)
    ] == [
        1000,
        1000,
        1000,
        0,
    ]
    assert receive(receiver, [send(sender, [b"q" * 3000])]) == b"q" * 3000


def test_output_bound_with_non_final_pieces() -> None:
    sender = PerMessageDeflateSession()
    data = b"0123456789" * 1000
    compressed = send(sender, [data])
    receiver = PerMessageDeflateSession()
    out = []
    for start in range(0, len(compressed), 7):
        piece = compressed[start : start + 7]
        final = start + 7 >= len(compressed)
        chunk = receiver.inbound_data(piece, final, 64)
        out.append(chunk)
        while len(chunk) == 64:
            chunk = receiver.inbound_data(b"", final, 64)
            out.append(chunk)
    assert b"".join(out) == data


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff",  # reserved block type 11
        bytes.fromhex("00 05 00 00 00 48 65"),  # stored block with LEN/NLEN mismatch
        bytes.fromhex("f2 00 11 00 00"),  # back-reference with an empty window
    ],
)
def test_invalid_data_is_1007(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        receive(PerMessageDeflateSession(), [payload])
    assert info.value.code == 1007


def test_max_length_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PerMessageDeflateSession().inbound_data(HELLO, True, 0)


def _zeros_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(size // MiB)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    payload = b"".join(parts)
    assert payload.endswith(b"\x00\x00\xff\xff")
    return payload[:-4]


def test_decompression_bomb_bounded() -> None:
    size = 100 * MiB
    payload = _zeros_bomb(size)
    assert len(payload) < 200_000  # about 100 KB on the wire
    max_length = MiB + 1
    session = PerMessageDeflateSession()
    total = 0
    calls = 0
    tracemalloc.start()
    try:
        # As the core would: frames of 64 KiB arrive, each drained with the bound.
        for start in range(0, len(payload), 1 << 16):
            piece = payload[start : start + (1 << 16)]
            final = start + (1 << 16) >= len(payload)
            while True:
                chunk = session.inbound_data(piece, final, max_length)
                calls += 1
                assert len(chunk) <= max_length
                total += len(chunk)
                n = len(chunk)
                del chunk
                if n < max_length:
                    break
                piece = b""
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size
    assert calls >= size // max_length
    assert peak < 8 * MiB, peak


# -- the 8-bit window (module docstring) ---------------------------------------------


def _strict_receive(session: PerMessageDeflateSession, payload: bytes) -> bytes:
    # A 16-byte output bound: every back-reference must come from the window.
    return receive(session, [payload], max_length=16)


def test_window_8_compresses_with_9_and_decodes_with_8() -> None:
    assert pmd._window_9_fits_8(6, 8) is True
    sender = PerMessageDeflateSession(outbound_max_window_bits=8)
    receiver = PerMessageDeflateSession(inbound_max_window_bits=8)
    for period in (250, 256, 257, 300, 400, 511, 600):
        block = bytes((i * 7919 + period) % 251 for i in range(period))
        message = block * 5
        assert _strict_receive(receiver, send(sender, [message])) == message
    # The same data compressed with a 15-bit window does not fit a 256-byte window.
    wide = PerMessageDeflateSession()
    block = bytes((i * 7919) % 251 for i in range(300))
    with pytest.raises(RemoteProtocolError):
        _strict_receive(
            PerMessageDeflateSession(inbound_max_window_bits=8), send(wide, [block * 5])
        )


def test_window_8_falls_back_to_uncompressed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pmd, "_window_9_fits_8", lambda level, mem_level: False)
    session = PerMessageDeflateSession(outbound_max_window_bits=8)
    assert session.outbound_message(Opcode.TEXT, 1000, True) == 0
    assert session.outbound_message(Opcode.TEXT, None, True) == 0
    # Receiving is unaffected, and wider windows still compress.
    assert receive(session, [HELLO]) == b"Hello"
    assert (
        PerMessageDeflateSession(outbound_max_window_bits=9).outbound_message(
            Opcode.TEXT, 1000, True
        )
        == RSV1
    )


def test_window_probe_detects_a_wide_compressor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A zlib whose 9-bit output reaches past 256 bytes fails the probe."""
    real = zlib.compressobj

    def too_wide(level: int, method: int, wbits: int, mem_level: int) -> Any:
        return real(level, method, -15, mem_level)

    monkeypatch.setattr(zlib, "compressobj", too_wide)
    assert pmd._window_9_fits_8.__wrapped__(6, 8) is False


class _SilentCompressor:
    """A compressor whose flush emits nothing, as a zlib variant might on a repeated flush."""

    def compress(self, data: bytes) -> bytes:
        return b""

    def flush(self, mode: int = zlib.Z_FINISH) -> bytes:
        return b""


def test_empty_flush_still_sends_an_empty_block() -> None:
    # RFC 7692 §7.2.1 step 2: append an empty stored block if the output lacks one.
    session = PerMessageDeflateSession()
    session._deflater.compressor = _SilentCompressor()  # type: ignore[assignment]
    assert session.outbound_data(b"", True) == b"\x00"


def test_window_probe_every_level() -> None:
    for level in range(-1, 10):
        for mem_level in (1, 8, 9):
            assert pmd._window_9_fits_8(level, mem_level)


# -- round trips (hypothesis) --------------------------------------------------------

configs = st.fixed_dictionaries(
    {
        "server_no_context_takeover": st.booleans(),
        "client_no_context_takeover": st.booleans(),
        "server_max_window_bits": st.none() | st.integers(8, 15),
        "client_max_window_bits": st.none() | st.integers(8, 15),
        "compress_level": st.integers(-1, 9),
        "mem_level": st.integers(1, 9),
        "min_size": st.just(0),
        "release_contexts": st.booleans(),
    }
)

payloads = st.one_of(
    st.binary(max_size=3000),
    # Repetitive data with back-references at every distance up to a few KB.
    st.tuples(st.binary(min_size=1, max_size=700), st.integers(1, 12)).map(lambda t: t[0] * t[1]),
    st.text(max_size=500).map(lambda s: (s * 3).encode()),
)


def _split(draw: Any, data: bytes, max_pieces: int) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=max_pieces)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), configs, configs)
def test_round_trip(
    data: st.DataObject, client_kwargs: dict[str, Any], server_kwargs: dict[str, Any]
) -> None:
    _, client, server = negotiate(client_kwargs, server_kwargs)
    messages = data.draw(st.lists(st.tuples(st.booleans(), payloads), min_size=1, max_size=6))
    for from_client, message in messages:
        sender, receiver = (client, server) if from_client else (server, client)
        parts = _split(data.draw, message, 3)
        compressed = send(sender, parts)
        assert receiver.inbound_frame(Opcode.BINARY, RSV1, starts_message=True)
        pieces = _split(data.draw, compressed, 5)
        max_length = data.draw(st.integers(1, 5000))
        assert receive(receiver, pieces, max_length) == message


# -- through Connection pairs --------------------------------------------------------


def _pair(**kwargs: Any) -> ConnectionPair:
    kwargs.setdefault("extensions", [PerMessageDeflate(min_size=0)])
    return ConnectionPair.open(**kwargs)


def _failure(conn: Connection, data: bytes) -> Close:
    """Feed *data*; the only event must be a failing Close."""
    conn.receive_data(data)
    events: list[Event] = list(conn.events())
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, Close)
    assert event.failed
    return event


def test_connection_rfc_frames_end_to_end() -> None:
    pair = _pair()
    assert pair.client.negotiated_extensions == ("permessage-deflate",)
    assert pair.server.negotiated_extensions == ("permessage-deflate",)
    # Server frames are unmasked: the exact frames of RFC 7692 §7.2.3.1 and §7.2.3.2.
    pair.server.send(TextMessage("Hello"))
    first = pair.server.data_to_send()
    assert first == bytes.fromhex("c1 07") + HELLO
    pair.server.send(TextMessage("Hello"))
    second = pair.server.data_to_send()
    assert second == bytes.fromhex("c1 05") + HELLO_AGAIN
    pair.client.receive_data(first + second)
    assert list(pair.client.events()) == [TextMessage("Hello"), TextMessage("Hello")]


def test_connection_fragments_and_compress_false() -> None:
    pair = _pair()
    pair.client.send(TextMessage("Hel", final=False))
    first = pair.client.data_to_send()
    pair.client.send(TextMessage("lo"))
    second = pair.client.data_to_send()
    assert first[0] == 0x41  # RSV1 + text, no FIN: RSV1 on the first frame only
    assert second[0] == 0x80  # FIN + continuation, RSV1 clear
    pair.server.receive_data(first + second)
    assert list(pair.server.events()) == [TextMessage("Hello")]
    pair.client.send(TextMessage("not compressed"), compress=False)
    assert pair.client.data_to_send()[0] == 0x81
    big = b"compressible " * 10_000
    pair.client.send(BinaryMessage(big))
    wire = pair.client.data_to_send()
    assert wire[0] == 0xC2
    assert len(wire) < len(big) // 20
    pair.server.receive_data(wire)
    assert list(pair.server.events()) == [BinaryMessage(big)]


def test_connection_min_size_default() -> None:
    pair = _pair(extensions=[PerMessageDeflate()])
    pair.client.send(TextMessage("x" * 31))
    assert pair.client.data_to_send()[0] == 0x81  # below min_size=32: not compressed
    pair.client.send(TextMessage("x" * 32))
    assert pair.client.data_to_send()[0] == 0xC1


def test_connection_negotiated_parameters() -> None:
    client_ext = PerMessageDeflate(server_max_window_bits=10, client_no_context_takeover=True)
    server_ext = PerMessageDeflate(server_no_context_takeover=True, client_max_window_bits=9)
    pair = ConnectionPair(
        Connection(Role.CLIENT, extensions=[client_ext]),
        Connection(Role.SERVER, extensions=[server_ext]),
    )
    pair.client.send(Handshake(host="localhost", target="/"))
    assert len(pair.deliver_to_server()) == 1
    pair.server.send(Accept())
    assert len(pair.deliver_to_client()) == 1
    expected = (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
        " server_max_window_bits=10; client_max_window_bits=9",
    )
    assert pair.client.negotiated_extensions == expected
    assert pair.server.negotiated_extensions == expected
    for _ in range(3):
        message = BinaryMessage(bytes(range(256)) * 20)
        pair.client.send(message)
        assert pair.deliver_to_server() == [message]
        pair.server.send(message)
        assert pair.deliver_to_client() == [message]


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_connection_rsv1_on_control_frame_is_1002(opcode: Opcode) -> None:
    pair = _pair()
    payload = b"\x03\xe8" if opcode is Opcode.CLOSE else b""
    assert _failure(pair.client, serialize_frame(opcode, payload, rsv=RSV1)).code == 1002


def test_connection_rsv1_on_continuation_is_1002() -> None:
    pair = _pair()
    data = serialize_frame(Opcode.TEXT, HELLO[:3], fin=False, rsv=RSV1)
    data += serialize_frame(Opcode.CONTINUATION, HELLO[3:], rsv=RSV1)
    assert _failure(pair.client, data).code == 1002


def test_connection_corrupt_data_is_1007() -> None:
    pair = _pair()
    frame = serialize_frame(Opcode.BINARY, b"\xff\xff", rsv=RSV1)
    assert _failure(pair.client, frame).code == 1007


def test_connection_bomb_is_1009_with_bounded_memory() -> None:
    pair = _pair(max_message_size=MiB)
    frame = serialize_frame(Opcode.BINARY, _zeros_bomb(100 * MiB), rsv=RSV1)
    tracemalloc.start()
    try:
        event = _failure(pair.client, frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert event.code == 1009
    assert event.reason == f"message of at least {MiB + 1} bytes exceeds the {MiB}-byte limit"
    assert peak < 8 * MiB, peak


@pytest.mark.parametrize("compressed", [False, True])
def test_connection_message_too_big_reads_the_same_compressed_or_not(compressed: bool) -> None:
    """The close reason says what the peer did (sent too big a message); it does
    not mention decompression, which the peer may not know was negotiated."""
    pair = _pair(
        max_message_size=1000, extensions=[PerMessageDeflate(min_size=0 if compressed else 1 << 20)]
    )
    pair.server.send(TextMessage("x" * 1001))
    frame = pair.server.data_to_send()
    assert bool(frame[0] & 0x40) is compressed  # RSV1: permessage-deflate was applied
    event = _failure(pair.client, frame)
    assert event.code == 1009
    assert event.reason == "message of at least 1001 bytes exceeds the 1000-byte limit"


def test_connection_streaming_bomb_parts_are_bounded() -> None:
    pair = _pair(max_message_size=None, stream=True)
    size = 20 * MiB
    pair.client.receive_data(serialize_frame(Opcode.BINARY, _zeros_bomb(size), rsv=RSV1))
    total = 0
    parts = 0
    for event in pair.client.events():
        assert isinstance(event, BinaryMessage)
        assert len(event.data) <= 1 << 16
        total += len(event.data)
        parts += 1
    assert total == size
    assert parts >= size >> 16


def test_connection_invalid_response_fails_handshake() -> None:
    client = Connection(Role.CLIENT, extensions=[PerMessageDeflate(server_max_window_bits=10)])
    client.send(Handshake(host="localhost", target="/"))
    request = client.data_to_send()
    match = re.search(rb"(?i)sec-websocket-key: *([^\r]+)", request)
    assert match is not None
    assert b"server_max_window_bits=10" in request
    response = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(match.group(1).decode())}\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12\r\n\r\n"
    )
    client.receive_data(response.encode())
    events = list(client.events())
    assert len(events) == 1
    assert isinstance(events[0], HandshakeFailed)
    assert "server_max_window_bits" in events[0].reason


# -- the compiled codec, called by the core directly ------------------------------------


class _CountingSession(PerMessageDeflateSession):
    """A subclass that overrides the per-message methods (and counts the calls)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[str] = []

    def inbound_frame(self, opcode: Opcode, rsv: int, *, starts_message: bool) -> bool:
        self.calls.append("inbound_frame")
        return super().inbound_frame(opcode, rsv, starts_message=starts_message)

    def inbound_data(self, data: bytes, final: bool, max_length: int) -> bytes:
        self.calls.append("inbound_data")
        return super().inbound_data(data, final, max_length)

    def outbound_message(self, opcode: Opcode, size_hint: int | None, transform: bool) -> int:
        self.calls.append("outbound_message")
        return super().outbound_message(opcode, size_hint, transform)

    def outbound_data(self, data: bytes, final: bool) -> bytes:
        self.calls.append("outbound_data")
        return super().outbound_data(data, final)


class _InboundOnly(PerMessageDeflateSession):
    def inbound_data(self, data: bytes, final: bool, max_length: int) -> bytes:
        return super().inbound_data(data, final, max_length)


class _OutboundOnly(PerMessageDeflateSession):
    def outbound_message(self, opcode: Opcode, size_hint: int | None, transform: bool) -> int:
        return super().outbound_message(opcode, size_hint, transform)


def test_the_core_calls_the_codec_unless_a_subclass_overrides() -> None:
    session = PerMessageDeflateSession()
    assert session._core_inflater is session._inflater
    assert session._core_deflater is session._deflater
    counting = _CountingSession()
    assert counting._core_inflater is None and counting._core_deflater is None
    # Either method overridden is enough for that direction to go through the session.
    assert _InboundOnly()._core_inflater is None
    assert _InboundOnly()._core_deflater is not None
    assert _OutboundOnly()._core_deflater is None
    assert _OutboundOnly()._core_inflater is not None


@pytest.mark.parametrize("subclass", [False, True])
def test_the_codec_and_the_session_give_the_same_bytes_and_events(subclass: bool) -> None:
    """Through a connection, with the codec called directly or through a subclass's
    overrides: the same frames out, the same events in, on the fast path (whole
    frames) and on the general path (a frame in pieces, a fragmented message, a
    control frame with RSV1)."""
    session = _CountingSession() if subclass else PerMessageDeflateSession()
    conn = Connection(Role.SERVER, handshake=False, extension_sessions=[session])
    peer = Connection(Role.CLIENT, handshake=False, extension_sessions=[PerMessageDeflateSession()])
    conn.send(TextMessage("Hello " * 20))
    conn.send(TextMessage("He", final=False))
    conn.send(TextMessage("llo"))
    sent = conn.data_to_send()
    peer.receive_data(sent)
    assert list(peer.events()) == [
        TextMessage("Hello " * 20),
        TextMessage("Hello"),
    ]
    assert sent[0] == 0xC1  # FIN, RSV1, text
    peer.send(TextMessage("Hello " * 20))
    peer.send(BinaryMessage(b"abc" * 50))
    wire = peer.data_to_send()
    conn.receive_data(wire)  # whole frames: the fast path
    assert list(conn.events()) == [TextMessage("Hello " * 20), BinaryMessage(b"abc" * 50)]
    peer.send(TextMessage("Hello " * 20))
    wire = peer.data_to_send()
    for i in range(len(wire)):  # a byte at a time: the general path
        conn.receive_data(wire[i : i + 1])
    assert list(conn.events()) == [TextMessage("Hello " * 20)]
    if subclass:
        assert set(session.calls) == {
            "inbound_frame",
            "inbound_data",
            "outbound_message",
            "outbound_data",
        }
    # RSV1 on a control frame fails the connection with 1002 either way (§6.1).
    conn.receive_data(serialize_frame(Opcode.PING, b"", rsv=RSV1, mask=True))
    events = list(conn.events())
    assert events == [Close(1002, "RSV1 set on a control frame (RFC 7692 §6.1)", failed=True)]
    assert conn.data_to_send()[:4] == b"\x88\x2e\x03\xea"  # close, 46 bytes, 1002
