"""Build the benchmarks' input bytes, independently of every library measured.

A small frame serializer (RFC 6455 §5.2) and a permessage-deflate compressor
(RFC 7692 §7.2.1) used only to prepare input outside the timed region, so that
every library parses exactly the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

#: The fixed masking key of every generated client frame.
KEY = b"\x37\xfa\x21\x3d"

#: The RFC 6455 §1.3 sample key and its accept value.
WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
WS_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

TEXT, BINARY, CONTINUATION = 0x1, 0x2, 0x0


def mask(data: bytes, key: bytes = KEY) -> bytes:
    """XOR *data* with *key* repeated (one big-integer XOR; untimed)."""
    n = len(data)
    if not n:
        return b""
    m = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(m, "little")).to_bytes(n, "little")


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, key: bytes | None = KEY
) -> bytes:
    """One frame; masked with *key* (a client's frame) unless *key* is None."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mbit = 0x80 if key is not None else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n < 1 << 16:
        head = bytes((b0, mbit | 126)) + struct.pack("!H", n)
    else:
        head = bytes((b0, mbit | 127)) + struct.pack("!Q", n)
    if key is None:
        return head + payload
    return head + key + mask(payload, key)


def stream(frames: Iterable[bytes]) -> bytes:
    """Concatenate frames."""
    return b"".join(frames)


def chunked(data: bytes, size: int = 1 << 16) -> list[bytes]:
    """Cut *data* into chunks of *size* bytes, as reads from a socket would."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def unmask_frame(data: bytes) -> tuple[int, bytes]:
    """Parse one whole frame at the start of *data*: (opcode, unmasked payload)."""
    b0, b1 = data[0], data[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        n = struct.unpack_from("!H", data, 2)[0]
        pos = 4
    elif n == 127:
        n = struct.unpack_from("!Q", data, 2)[0]
        pos = 10
    if b1 & 0x80:
        key = data[pos : pos + 4]
        return b0 & 0x0F, mask(data[pos + 4 : pos + 4 + n], key)
    return b0 & 0x0F, data[pos : pos + n]


class Deflater:
    """A permessage-deflate sender with context takeover and a 15-bit window."""

    def __init__(self) -> None:
        self._c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)

    def message(self, data: bytes) -> bytes:
        """The payload of one compressed message (RFC 7692 §7.2.1: tail removed)."""
        out = self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]


def upgrade_request(extensions: str | None = None) -> bytes:
    """A client's opening handshake (RFC 6455 §4.1), as bytes."""
    lines = [
        b"GET /bench HTTP/1.1",
        b"Host: localhost",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + WS_KEY,
        b"Sec-WebSocket-Version: 13",
    ]
    if extensions:
        lines.append(b"Sec-WebSocket-Extensions: " + extensions.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"
