"""The wire format, written independently of the library, for the tests:
one raw frame builder (any frame, broken ones included) and one strict
parser of what the library sends (RFC 6455 §5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["KEY", "Frame", "WireError", "frame", "mask", "parse_frames", "payloads"]

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: The masking key of the frames built here (any fixed key will do).
KEY = b"\x37\xfa\x21\x3d"


def mask(data: bytes, key: bytes) -> bytes:
    """XOR *data* with the repeated 4-byte *key* (RFC 6455 §5.3)."""
    n = len(data)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    key: bytes = KEY,
    length: int | None = None,
    enc: int | None = None,
) -> bytes:
    """One raw frame, built independently of the library (RFC 6455 §5.2).

    *rsv* is the 3-bit RSV value (4 for RSV1). The length is encoded in the
    shortest form unless *enc* (7, 16 or 64 bits) says otherwise, and is
    ``len(payload)`` unless *length* lies: both build broken frames on purpose.
    """
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)
    m = 0x80 if masked else 0
    if enc is None:
        enc = 7 if n < 126 else 16 if n < 1 << 16 else 64
    if enc == 7:
        header = bytes((b0, m | n))
    elif enc == 16:
        header = bytes((b0, m | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((b0, m | 127)) + n.to_bytes(8, "big")
    if masked:
        return header + key + mask(payload, key)
    return header + payload


@dataclass(frozen=True)
class Frame:
    """A frame as parsed from the testee's output."""

    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    masked: bool
    raw: bytes = field(repr=False)

    @property
    def code(self) -> int | None:
        assert self.opcode == CLOSE
        return int.from_bytes(self.payload[:2], "big") if self.payload else None

    @property
    def reason(self) -> str:
        assert self.opcode == CLOSE
        return self.payload[2:].decode("utf-8")

    def __repr__(self) -> str:
        body = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return (
            f"Frame(op={self.opcode:#x}, fin={self.fin}, rsv={self.rsv},"
            f" len={len(self.payload)}, {body!r})"
        )


class WireError(AssertionError):
    """The testee's output breaks a sender rule of RFC 6455."""


def parse_frames(data: bytes, *, masked: bool) -> list[Frame]:
    """Parse the testee's *complete* output; raise :class:`WireError` on any violation.

    *masked*: whether the testee is a client (RFC 6455 §5.1: a client masks
    every frame, a server never does).
    """
    frames = []
    pos = 0
    end = len(data)
    while pos < end:
        start = pos
        if end - pos < 2:
            raise WireError(f"truncated frame header at offset {pos}")
        b0, b1 = data[pos], data[pos + 1]
        pos += 2
        fin = bool(b0 & 0x80)
        rsv = (b0 >> 4) & 7
        opcode = b0 & 0xF
        is_masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        if opcode not in (CONT, TEXT, BINARY, CLOSE, PING, PONG):
            raise WireError(f"reserved opcode {opcode:#x} sent (§5.2)")
        if is_masked != masked:
            raise WireError(
                f"mask bit {is_masked} from a {'client' if masked else 'server'} (§5.1)"
            )
        if n == 126:
            if end - pos < 2:
                raise WireError("truncated 16-bit length")
            n = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
            if n < 126:
                raise WireError(f"non-minimal 16-bit length {n} (§5.2)")
        elif n == 127:
            if end - pos < 8:
                raise WireError("truncated 64-bit length")
            n = int.from_bytes(data[pos : pos + 8], "big")
            pos += 8
            if n >> 63:
                raise WireError("64-bit length with the most significant bit set (§5.2)")
            if n < 1 << 16:
                raise WireError(f"non-minimal 64-bit length {n} (§5.2)")
        key = b""
        if is_masked:
            if end - pos < 4:
                raise WireError("truncated masking key")
            key = data[pos : pos + 4]
            pos += 4
        if end - pos < n:
            raise WireError(f"truncated payload: {end - pos} of {n} bytes")
        payload = data[pos : pos + n]
        pos += n
        if is_masked:
            payload = mask(payload, key)
        if opcode >= 8:
            if not fin:
                raise WireError("fragmented control frame (§5.5)")
            if n > 125:
                raise WireError("control frame over 125 bytes (§5.5)")
        if opcode == CLOSE and payload:
            if n == 1:
                raise WireError("close frame with a 1-byte payload (§5.5.1)")
            code = int.from_bytes(payload[:2], "big")
            if not (
                code in {1000, 1001, 1002, 1003} or 1007 <= code <= 1014 or 3000 <= code <= 4999
            ):
                raise WireError(f"close code {code} may not be sent (§7.4)")
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise WireError("close reason is not UTF-8 (§5.5.1)") from None
        frames.append(Frame(fin, rsv, opcode, payload, is_masked, data[start:pos]))
    return frames


def payloads(frames: Sequence[Frame]) -> list[tuple[bool, int, int, bytes]]:
    """``(fin, rsv bits, opcode, payload)`` per frame (RSV as in the first byte: 0x40 for RSV1)."""
    return [(f.fin, f.rsv << 4, f.opcode, f.payload) for f in frames]
