"""Autobahn section 13: permessage-deflate parameter negotiation (RFC 7692 §7.1).

Every combination of server_no_context_takeover × client_no_context_takeover
× server_max_window_bits {absent, 8, 9, 15} × client_max_window_bits
{bare, 8, 9, 15}, negotiated by a real handshake between our client and our
server: first as the client's offer (the server accepts it as offered), then
as the server's own configuration (imposed on a client that offers the
defaults).

For each: the response holds exactly the expected parameters (§7.1.1.1–
§7.1.2.2), then messages of 16 B to 64 KiB (compressible, random, and data
whose repeats lie just beyond a 256-byte window) go both ways. The harness
decompresses each direction *with the negotiated window and context rule*:
a fresh decompressor per message when no_context_takeover applies (which
fails if the sender referred to an earlier message) and an 8-bit window when
8 was agreed (which fails if the sender used a longer distance).
"""

from __future__ import annotations

import itertools

import pytest

from wsproto_lite import BinaryMessage, TextMessage
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

from ._harness import DeflatePair, Testee, binary_payload, compressible_text, far_repeats

BITS = [None, 8, 9, 15]
COMBOS = list(itertools.product([False, True], [False, True], BITS, BITS))


def _id(combo: tuple[bool, bool, int | None, int | None]) -> str:
    snct, cnct, sbits, cbits = combo
    return f"snct={int(snct)}-cnct={int(cnct)}-sbits={sbits or '-'}-cbits={cbits or '-'}"


def _exercise(pair: DeflatePair) -> None:
    for size in (16, 256, 4096, 65536):
        text = compressible_text(size, size)
        pair.roundtrip([TextMessage(text.decode())])
        pair.roundtrip([TextMessage(text.decode())])  # again: tempts a back-reference
        pair.roundtrip([BinaryMessage(binary_payload(size))])
    for seed in range(2):
        pair.roundtrip([BinaryMessage(far_repeats(3000, seed))])
    # A fragmented message: RSV1 on its first frame only.
    parts = [BinaryMessage(far_repeats(700, 9 + i), final=False) for i in range(3)]
    pair.roundtrip([*parts, BinaryMessage(b"end")])
    pair.close()


@pytest.mark.parametrize("combo", COMBOS, ids=[_id(c) for c in COMBOS])
def test_13_offered_by_the_client(combo: tuple[bool, bool, int | None, int | None]) -> None:
    snct, cnct, sbits, cbits = combo
    client = PerMessageDeflate(
        server_no_context_takeover=snct,
        client_no_context_takeover=cnct,
        server_max_window_bits=sbits,
        client_max_window_bits=cbits,
        min_size=0,
    )
    pair = DeflatePair(client, PerMessageDeflate(min_size=0))
    expected_offer: dict[str, str | None] = {}
    if snct:
        expected_offer["server_no_context_takeover"] = None
    if cnct:
        expected_offer["client_no_context_takeover"] = None
    if sbits:
        expected_offer["server_max_window_bits"] = str(sbits)
    expected_offer["client_max_window_bits"] = str(cbits) if cbits else None
    assert pair.offer == expected_offer
    # The server accepts the offer as made (§7.1.1.1 MUST include
    # server_no_context_takeover; §7.1.2.1 server_max_window_bits ≤ offered).
    expected = {
        k: v for k, v in expected_offer.items() if v is not None or k != "client_max_window_bits"
    }
    assert pair.agreed == expected
    assert (pair.server_bits, pair.client_bits) == (sbits or 15, cbits or 15)
    assert (pair.server_nct, pair.client_nct) == (snct, cnct)
    _exercise(pair)


@pytest.mark.parametrize("combo", COMBOS, ids=[_id(c) for c in COMBOS])
def test_13_imposed_by_the_server(combo: tuple[bool, bool, int | None, int | None]) -> None:
    snct, cnct, sbits, cbits = combo
    server = PerMessageDeflate(
        server_no_context_takeover=snct,
        client_no_context_takeover=cnct,
        server_max_window_bits=sbits,
        client_max_window_bits=cbits,
        min_size=0,
    )
    pair = DeflatePair(PerMessageDeflate(min_size=0), server)
    assert pair.offer == {"client_max_window_bits": None}
    expected: dict[str, str | None] = {}
    if snct:
        expected["server_no_context_takeover"] = None
    if cnct:
        expected["client_no_context_takeover"] = None
    if sbits:
        expected["server_max_window_bits"] = str(sbits)
    if cbits:  # allowed because the client offered client_max_window_bits (§7.1.2.2)
        expected["client_max_window_bits"] = str(cbits)
    assert pair.agreed == expected
    _exercise(pair)


def test_13_client_without_client_max_window_bits_offer() -> None:
    """§7.1.2.2: a server MUST NOT answer client_max_window_bits unless offered."""
    t = Testee(
        "server",
        offer="permessage-deflate",
        extensions=[PerMessageDeflate(client_max_window_bits=9)],
    )
    assert t.response_headers["sec-websocket-extensions"] == "permessage-deflate"


@pytest.mark.parametrize(
    ("offer", "answer"),
    [
        (
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10",
        ),
        (
            "permessage-deflate; client_max_window_bits=12; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=12",
        ),
        # An invalid first offer is skipped; the next is accepted (§5.1, §7).
        (
            "permessage-deflate; server_max_window_bits=16, permessage-deflate",
            "permessage-deflate",
        ),
        (
            "permessage-deflate; unknown_param, permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover",
        ),
    ],
)
def test_13_raw_offers(offer: str, answer: str) -> None:
    """Offers written by hand (Autobahn 13.7: several offers in one header)."""
    t = Testee("server", offer=offer, extensions=[PerMessageDeflate()])
    assert t.response_headers["sec-websocket-extensions"] == answer


def test_13_invalid_offer_only_is_declined() -> None:
    t = Testee(
        "server",
        offer="permessage-deflate; server_max_window_bits=7",
        extensions=[PerMessageDeflate()],
    )
    assert "sec-websocket-extensions" not in t.response_headers
