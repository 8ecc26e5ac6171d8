"""Masking (RFC 6455 §5.3): XOR a payload with a repeating 4-byte key.

Two implementations with the same contract, ``apply_mask(data, key) -> bytes``:

* :func:`apply_mask_python`, pure Python, portable (CPython and PyPy alike);
* ``wsproto_lite._speedups.apply_mask``, an optional C extension built by
  ``pip install`` when a compiler is present (64-bit words, SSE2 or NEON).

Three variants save the connection a copy of every payload it unmasks or masks:

* ``apply_mask_slice(data, start, end, key)`` is ``apply_mask(data[start:end],
  key)``: the C version reads the payload where it lies in the receive buffer;
* ``apply_mask_join(pieces, key)`` is ``apply_mask(b"".join(pieces), key)``:
  the C version unmasks the pieces of a frame that arrived in several reads
  straight into one result;
* ``mask_frame(header, payload, key)`` is ``header + key + apply_mask(payload,
  key)``, a masked frame to send: the C version writes it in one copy;
* ``unmask_payloads(prefix, data, bounds)`` is ``prefix`` followed by the
  payloads ``data[s:e]`` of consecutive masked frames (``bounds`` is ``[s0, e0,
  s1, e1, …]``), each unmasked with the key just before it (``data[s-4:s]``):
  the C version writes a run of fragments into one result.

The pure-Python versions slice and join: their masking costs far more than
the copies. The names without ``_python`` are the C versions when
they could be imported, unless the environment variable
``WSPROTO_LITE_NO_SPEEDUPS`` is set to a non-empty value other than ``0``
when this module is first imported. :data:`SPEEDUPS` tells which are active::

    python -c "import wsproto_lite; print(wsproto_lite.SPEEDUPS)"

*data* may be any contiguous bytes-like object (``bytes``, ``bytearray``, a
``memoryview`` of bytes); *key* must be 4 bytes. The result is always a new
``bytes`` object. Masking and unmasking are the same operation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

__all__ = [
    "SPEEDUPS",
    "apply_mask",
    "apply_mask_join",
    "apply_mask_join_python",
    "apply_mask_python",
    "apply_mask_slice",
    "apply_mask_slice_python",
    "mask_frame",
    "mask_frame_python",
    "unmask_payloads",
    "unmask_payloads_python",
]

_Buffer = bytes | bytearray | memoryview

_PYPY = sys.implementation.name == "pypy"

# CPython: below this size one big-integer XOR is fastest; from it on, four
# ``bytes.translate`` passes over the strided lanes win. Measured with
# ``python benchmarks/mask_sizes.py`` (CPython 3.11, x86-64; medians, MB/s):
#
#     size       int XOR   translate
#     125 B        202        140
#     384 B        368        318
#     512 B        367        395
#     1 KiB        435        566
#     16 KiB       552        872
#     1 MiB        553        898
#     4 MiB        291        670     (int XOR falls off once out of cache)
#
# The crossover is between 384 and 512 bytes.
_TRANSLATE_MIN = 512


def _xor_tables() -> tuple[bytes, ...]:
    """The 256 translation tables ``t[k][b] == b ^ k``, built with int XOR."""
    identity = int.from_bytes(bytes(range(256)), "little")
    return tuple(
        (identity ^ int.from_bytes(bytes((k,)) * 256, "little")).to_bytes(256, "little")
        for k in range(256)
    )


_TABLES = _xor_tables()


def _check_key(key: bytes) -> None:
    if len(key) != 4:
        raise ValueError(f"the masking key must be 4 bytes, not {len(key)}")


def _mask_int(data: _Buffer, key: bytes) -> bytes:
    """One big-integer XOR: the fastest on CPython for small payloads.

    The mask is the key repeated to the payload's length. When the length is
    a multiple of 4 the repeated key is exactly that long and needs no slice:
    10-20% faster at 16-64 bytes than always cutting the mask to length.
    """
    n = len(data)
    mask = (key * ((n >> 2) + 1))[:n] if n & 3 else key * (n >> 2)
    return (int.from_bytes(data, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")


def _mask_translate(data: _Buffer, key: bytes) -> bytes:
    """Four ``bytes.translate`` passes, one per strided lane: CPython, large payloads.

    Bytes 0, 4, 8, … are XORed with ``key[0]``, bytes 1, 5, 9, … with
    ``key[1]``, and so on: each lane is cut out with an extended slice, mapped
    through the table of its key byte and written back. Slicing a bytearray
    and assigning to an extended slice of it was the fastest way to split and
    interleave (memoryview slices and a zero-filled output buffer measured
    1.5x to 7x slower). No per-byte Python code and no big integers, so it
    stays near 900 MB/s at every size.
    """
    out = bytearray(data)
    tables = _TABLES
    out[0::4] = out[0::4].translate(tables[key[0]])
    out[1::4] = out[1::4].translate(tables[key[1]])
    out[2::4] = out[2::4].translate(tables[key[2]])
    out[3::4] = out[3::4].translate(tables[key[3]])
    return bytes(out)


def _mask_bytewise(data: _Buffer, key: bytes) -> bytes:
    """A plain loop, four bytes per turn: PyPy's JIT makes it the fastest there.

    Measured on PyPy 7.3: 240 MB/s at 16 B and 900-1250 MB/s from 1 KiB,
    against 110-200 MB/s for big-integer XOR and 130-160 MB/s for translate.
    On CPython it is 20x slower than either; it is not used there.
    """
    out = bytearray(data)
    k0, k1, k2, k3 = key
    n = len(out)
    end = n & ~3
    for i in range(0, end, 4):
        out[i] ^= k0
        out[i + 1] ^= k1
        out[i + 2] ^= k2
        out[i + 3] ^= k3
    for i in range(end, n):
        out[i] ^= key[i & 3]
    return bytes(out)


if _PYPY:  # pragma: no cover - PyPy only; CI runs CPython (see tests/test_mask.py)

    def apply_mask_python(data: _Buffer, key: bytes) -> bytes:
        """XOR *data* with the 4-byte *key* repeated (RFC 6455 §5.3), in pure Python.

        On PyPy: a byte loop, which the JIT compiles to native code.
        """
        _check_key(key)
        return _mask_bytewise(data, key)

else:

    def apply_mask_python(data: _Buffer, key: bytes) -> bytes:
        """XOR *data* with the 4-byte *key* repeated (RFC 6455 §5.3), in pure Python.

        Small payloads (the common case: chat messages, JSON) take one
        big-integer XOR (:func:`_mask_int`), run in C by the interpreter. From
        ``_TRANSLATE_MIN`` bytes on, :func:`_mask_translate` is faster.
        """
        if len(key) != 4:
            _check_key(key)
        n = len(data)
        if n >= _TRANSLATE_MIN:
            return _mask_translate(data, key)
        # _mask_int, inlined: a call is a sixth of the time at 16 bytes.
        mask = (key * ((n >> 2) + 1))[:n] if n & 3 else key * (n >> 2)
        return (int.from_bytes(data, "little") ^ int.from_bytes(mask, "little")).to_bytes(
            n, "little"
        )


def apply_mask_slice_python(data: _Buffer, start: int, end: int, key: bytes) -> bytes:
    """``apply_mask_python(data[start:end], key)``; requires ``0 <= start <= end <= len(data)``.

    The bounds are checked (rather than clamped as a slice would) to match
    the C version, which must not read outside the buffer.
    """
    if not 0 <= start <= end <= len(data):
        raise ValueError(
            "apply_mask_slice() needs 0 <= start <= end <= len(data),"
            f" got start={start}, end={end}, len(data)={len(data)}"
        )
    return apply_mask_python(data[start:end], key)


def apply_mask_join_python(pieces: Sequence[_Buffer], key: bytes) -> bytes:
    """``apply_mask_python(b"".join(pieces), key)``: contiguous pieces of one payload."""
    return apply_mask_python(b"".join(pieces), key)


def mask_frame_python(header: bytes, payload: _Buffer, key: bytes) -> bytes:
    """``header + key + apply_mask_python(payload, key)``: a masked frame."""
    return header + key + apply_mask_python(payload, key)


def unmask_payloads_python(prefix: bytes, data: _Buffer, bounds: Sequence[int]) -> bytes:
    """*prefix* + the payloads ``data[s:e]`` for each pair of *bounds*, each unmasked
    with the 4 bytes before it (the frame's masking key, RFC 6455 §5.2).

    Requires an even number of bounds and ``4 <= s <= e <= len(data)`` for each
    pair (``ValueError`` otherwise, as the C version).
    """
    if len(bounds) & 1:
        raise ValueError("unmask_payloads() needs pairs of bounds")
    parts = [prefix]
    size = len(data)
    pairs = iter(bounds)
    for start, end in zip(pairs, pairs, strict=True):  # (an even number of bounds)
        if not 4 <= start <= end <= size:
            raise ValueError(
                "unmask_payloads() needs 4 <= start <= end <= len(data),"
                f" got start={start}, end={end}, len(data)={size}"
            )
        key = data[start - 4 : start]
        parts.append(apply_mask_python(data[start:end], key if type(key) is bytes else bytes(key)))
    return b"".join(parts)


def _speedups() -> ModuleType | None:
    """The C extension, unless it is missing or ``WSPROTO_LITE_NO_SPEEDUPS`` is set."""
    if os.environ.get("WSPROTO_LITE_NO_SPEEDUPS", "") not in ("", "0"):
        return None
    try:
        from . import _speedups
    except ImportError:
        return None
    return _speedups


_c = _speedups()
#: Whether the functions below are the compiled ``wsproto_lite._speedups`` ones.
SPEEDUPS = _c is not None
#: ``apply_mask(data, key) -> bytes``: the active implementation.
apply_mask: Callable[[_Buffer, bytes], bytes] = apply_mask_python
#: ``apply_mask_slice(data, start, end, key) -> bytes``: the active implementation.
apply_mask_slice: Callable[[_Buffer, int, int, bytes], bytes] = apply_mask_slice_python
#: ``apply_mask_join(pieces, key) -> bytes``: the active implementation.
apply_mask_join: Callable[[Sequence[_Buffer], bytes], bytes] = apply_mask_join_python
#: ``mask_frame(header, payload, key) -> bytes``: the active implementation.
mask_frame: Callable[[bytes, _Buffer, bytes], bytes] = mask_frame_python
#: ``unmask_payloads(prefix, data, bounds) -> bytes``: the active implementation.
unmask_payloads: Callable[[bytes, _Buffer, Sequence[int]], bytes] = unmask_payloads_python
if _c is not None:
    apply_mask = _c.apply_mask
    apply_mask_slice = _c.apply_mask_slice
    apply_mask_join = _c.apply_mask_join
    mask_frame = _c.mask_frame
    unmask_payloads = _c.unmask_payloads
