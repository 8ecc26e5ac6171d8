"""Type stub of the optional C extension ``wsproto_lite._speedups``."""

from collections.abc import Sequence

#: The vector instructions ``apply_mask`` was compiled with: "sse2", "neon" or "none".
SIMD: str

def apply_mask(data: bytes | bytearray | memoryview, key: bytes, /) -> bytes:
    """Return *data* XOR the 4-byte *key* repeated (RFC 6455 §5.3)."""

def apply_mask_slice(
    data: bytes | bytearray | memoryview, start: int, end: int, key: bytes, /
) -> bytes:
    """Return ``apply_mask(data[start:end], key)`` without copying the slice first."""

def apply_mask_join(pieces: Sequence[bytes | bytearray | memoryview], key: bytes, /) -> bytes:
    """Return ``apply_mask(b"".join(pieces), key)`` without joining the pieces first."""

def mask_frame(header: bytes, payload: bytes | bytearray | memoryview, key: bytes, /) -> bytes:
    """Return ``header + key + apply_mask(payload, key)``: a masked frame, in one copy."""

def unmask_payloads(
    prefix: bytes, data: bytes | bytearray | memoryview, bounds: Sequence[int], /
) -> bytes:
    """Return *prefix* and the payloads ``data[s:e]`` of consecutive masked frames
    (*bounds*: ``[s0, e0, s1, e1, …]``), each unmasked with the key before it."""
