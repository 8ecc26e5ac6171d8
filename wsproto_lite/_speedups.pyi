"""Type stub of the optional C extension ``wsproto_lite._speedups``."""

#: The vector instructions ``apply_mask`` was compiled with: "sse2", "neon" or "none".
SIMD: str

def apply_mask(data: bytes | bytearray | memoryview, key: bytes, /) -> bytes:
    """Return *data* XOR the 4-byte *key* repeated (RFC 6455 §5.3)."""
