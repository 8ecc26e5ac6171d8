"""Frame layout, serialization and masking (RFC 6455 §5).

The incremental *parser* lives in :mod:`wsproto_lite.connection` next to the
state it feeds; this module holds the pieces that do not depend on a
connection: opcodes, the header encoder and the masking function.
"""

from __future__ import annotations

import os
import struct
from enum import IntEnum

__all__ = [
    "FIN",
    "MASK_BIT",
    "RSV1",
    "RSV2",
    "RSV3",
    "SPEEDUPS",
    "Opcode",
    "apply_mask",
    "serialize_frame",
]

#: Bit masks of the first header byte (RFC 6455 §5.2).
FIN = 0x80
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
#: The MASK bit of the second header byte.
MASK_BIT = 0x80

_pack_H = struct.Struct("!H").pack
_pack_Q = struct.Struct("!Q").pack


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 §5.2). 0x3–0x7 and 0xB–0xF are reserved."""

    #: A continuation of a fragmented data message.
    CONTINUATION = 0x0
    #: The first frame of a text message.
    TEXT = 0x1
    #: The first frame of a binary message.
    BINARY = 0x2
    #: A close frame (§5.5.1).
    CLOSE = 0x8
    #: A ping (§5.5.2).
    PING = 0x9
    #: A pong (§5.5.3).
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Control frames have the high bit of the opcode set (§5.5)."""
        return self >= 0x8


# Masking lives in ``_mask.py``: a pure-Python version (always available) and
# the optional C speedup, chosen at import. ``SPEEDUPS`` says which is active;
# ``WSPROTO_LITE_NO_SPEEDUPS=1`` forces the pure-Python one.
from ._mask import SPEEDUPS, apply_mask, mask_frame  # noqa: E402


def serialize_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = False,
    masking_key: bytes | None = None,
) -> bytes:
    """Build one frame: header, optional masking key, payload (RFC 6455 §5.2).

    The length uses the shortest encoding (§5.2: "the minimal number of bytes
    MUST be used"). With *mask* a fresh random key is used for every frame
    (§5.3: "unpredictable"), unless *masking_key* fixes it (for tests and
    vectors).
    """
    n = len(payload)
    b0 = (FIN if fin else 0) | rsv | opcode
    mask_bit = MASK_BIT if mask else 0
    if n < 126:
        header = bytes((b0, mask_bit | n))
    elif n < 0x10000:
        header = bytes((b0, mask_bit | 126)) + _pack_H(n)
    else:
        header = bytes((b0, mask_bit | 127)) + _pack_Q(n)
    if not mask:
        return header + payload
    key = os.urandom(4) if masking_key is None else masking_key
    return mask_frame(header, payload, key)
