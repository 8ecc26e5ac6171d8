"""The wire format (RFC 6455 §5): opcodes, the header decoder and encoder,
the close frame's payload, masking.

Pure functions of bytes: the connection-specific parts of parsing (the buffer,
the limits, fragmentation across frames) are the reader's
(:mod:`wsproto_lite._reader`). :func:`decode_header` is the one frame header
decoder; the reader's fast paths only *recognize* the ordinary frame shapes
and leave every other frame to it.
"""

from __future__ import annotations

import os
import struct
from enum import IntEnum
from typing import Final

from ._close_codes import CloseCode, is_valid_on_wire
from ._errors import RemoteProtocolError
from ._messages import invalid_utf8

__all__ = [
    "FIN",
    "MASK_BIT",
    "RSV1",
    "RSV2",
    "RSV3",
    "SPEEDUPS",
    "Opcode",
    "apply_mask",
    "decode_header",
    "parse_close_payload",
    "serialize_frame",
]

#: Bit masks of the first header byte (RFC 6455 §5.2).
FIN: Final = 0x80
RSV1: Final = 0x40
RSV2: Final = 0x20
RSV3: Final = 0x10
#: The MASK bit of the second header byte.
MASK_BIT: Final = 0x80

# (Final: a compiled build reads these as constants, see _reader.py.)
_pack_BB: Final = struct.Struct("!BB").pack
_pack_BBH: Final = struct.Struct("!BBH").pack
_pack_BBQ: Final = struct.Struct("!BBQ").pack
_unpack_H: Final = struct.Struct("!H").unpack_from
_unpack_Q: Final = struct.Struct("!Q").unpack_from


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
    # (struct packs the header a third faster than bytes() of a tuple.)
    if n < 126:
        header = _pack_BB(b0, mask_bit | n)
    elif n < 0x10000:
        header = _pack_BBH(b0, mask_bit | 126, n)
    else:
        header = _pack_BBQ(b0, mask_bit | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4) if masking_key is None else masking_key
    return mask_frame(header, payload, key)


#: The opcodes RFC 6455 §5.2 defines; the others are reserved.
_KNOWN_OPCODES: Final = frozenset((0x0, 0x1, 0x2, 0x8, 0x9, 0xA))


def _protocol_error(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(reason, code=CloseCode.PROTOCOL_ERROR)


def decode_header(
    buf: bytes, pos: int, *, rsv_allowed: int, masked: int, in_message: bool
) -> tuple[int, bool, int, int, int] | None:
    """Decode and check the frame header at *pos* of *buf* (RFC 6455 §5.2).

    Returns ``(opcode, fin, rsv, length, start)``: the payload length and
    where the payload starts (after the masking key, which is the four bytes
    before *start* when the frame is masked), or ``None`` while the header is
    incomplete. The context of the frame comes as arguments: the RSV bits the
    negotiated extensions allow (*rsv_allowed*), the MASK bit expected from
    the peer (*masked*: ``MASK_BIT`` from a client, §5.1) and whether a
    fragmented message is in progress (§5.4).

    Raises :class:`~wsproto_lite.RemoteProtocolError` (1002) for every framing
    violation: a reserved opcode or RSV bit, a fragmented or oversized control
    frame (§5.5), a continuation out of place, the wrong MASK bit, a
    non-minimal length, a 64-bit length with its top bit set. Everything
    checkable from the first two bytes is checked first, so a bad frame fails
    even if its length bytes never arrive.
    """
    avail = len(buf) - pos
    if avail < 2:
        return None
    b0 = buf[pos]
    b1 = buf[pos + 1]
    opcode = b0 & 0x0F
    fin = bool(b0 & FIN)
    rsv = b0 & 0x70
    length = b1 & 0x7F
    if opcode not in _KNOWN_OPCODES:
        raise _protocol_error(f"reserved opcode {opcode:#x}")
    if rsv & ~rsv_allowed:
        raise _protocol_error("reserved bits set without a negotiated extension")
    if opcode >= 0x8:
        if not fin:
            raise _protocol_error("fragmented control frame (RFC 6455 §5.5)")
        if length > 125:
            raise _protocol_error("control frame payload over 125 bytes (RFC 6455 §5.5)")
    elif opcode == 0:
        if not in_message:
            raise _protocol_error("continuation frame without a message to continue")
    elif in_message:
        raise _protocol_error("new data frame while a fragmented message is in progress")
    if (b1 & MASK_BIT) != masked:
        if masked:
            raise _protocol_error("the client sent an unmasked frame (RFC 6455 §5.1)")
        raise _protocol_error("the server masked a frame (RFC 6455 §5.1)")
    start = pos + 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if masked else 0)
    if len(buf) < start:
        return None
    if length == 126:
        length = _unpack_H(buf, pos + 2)[0]
        if length < 126:
            raise _protocol_error("non-minimal 16-bit frame length (RFC 6455 §5.2)")
    elif length == 127:
        length = _unpack_Q(buf, pos + 2)[0]
        if length >> 63:
            raise _protocol_error("frame length with the most significant bit set")
        if length < 0x10000:
            raise _protocol_error("non-minimal 64-bit frame length (RFC 6455 §5.2)")
    return opcode, fin, rsv, length, start


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """The code and reason of a close frame's payload (RFC 6455 §5.5.1, §7.1.5).

    An empty payload gives 1005 (no status received) and no reason. Raises
    :class:`~wsproto_lite.RemoteProtocolError`: 1002 for a 1-byte payload or
    a code not valid on the wire (§7.4), 1007 for a reason that is not UTF-8.
    """
    if not payload:
        return CloseCode.NO_STATUS_RCVD, ""
    if len(payload) == 1:
        raise _protocol_error("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_on_wire(code):
        raise _protocol_error(f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_utf8("in the close reason") from None
    return code, reason
