"""Tests of wsproto_lite._frames: header layout, minimal lengths, masking (RFC 6455 §5)."""

from __future__ import annotations

import functools
import importlib
import os
import struct
from collections.abc import Callable

import pytest

from wsproto_lite._frames import (
    FIN,
    MASK_BIT,
    RSV1,
    RSV2,
    RSV3,
    Opcode,
    apply_mask,
    serialize_frame,
)

RFC_KEY = bytes.fromhex("37fa213d")


def _implementations() -> list[Callable[[bytes, bytes], bytes]]:
    """The active ``apply_mask`` plus every alternative implementation present."""
    impls = [apply_mask]
    for module, name in (
        ("wsproto_lite._mask", "apply_mask_python"),
        ("wsproto_lite._speedups", "apply_mask"),
        # The pure-Python strategies, each checked on every size (internal names:
        # skipped when they do not exist).
        ("wsproto_lite._mask", "_mask_int"),
        ("wsproto_lite._mask", "_mask_translate"),
        ("wsproto_lite._mask", "_mask_bytewise"),
    ):
        try:
            impl = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if impl not in impls:
            impls.append(impl)
    return impls


MaskFn = Callable[[bytes, bytes], bytes]
IMPLS = _implementations()
impl_param = pytest.mark.parametrize(
    "mask_fn", IMPLS, ids=[f"{f.__module__}.{f.__name__}" for f in IMPLS]
)


@functools.cache
def vector(size: int, key: bytes) -> tuple[bytes, bytes]:
    """Deterministic data of *size* bytes and its masking by the definition."""
    data = bytes((i * 7 + 3) & 0xFF for i in range(size))
    return data, naive_mask(data, key)


def naive_mask(data: bytes, key: bytes) -> bytes:
    """The RFC's definition, one octet at a time: j = i MOD 4 (RFC 6455 §5.3)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


# -- RFC 6455 §5.7 examples --------------------------------------------------------


@pytest.mark.parametrize(
    ("opcode", "payload", "kwargs", "expected"),
    [
        # A single-frame unmasked text message containing "Hello".
        (Opcode.TEXT, b"Hello", {}, "810548656c6c6f"),
        # A single-frame masked text message containing "Hello".
        (Opcode.TEXT, b"Hello", {"mask": True, "masking_key": RFC_KEY}, "818537fa213d7f9f4d5158"),
        # A fragmented unmasked text message: "Hel" then "lo".
        (Opcode.TEXT, b"Hel", {"fin": False}, "010348656c"),
        (Opcode.CONTINUATION, b"lo", {}, "80026c6f"),
        # Unmasked ping with body "Hello".
        (Opcode.PING, b"Hello", {}, "890548656c6c6f"),
        # Masked pong with body "Hello", answering that ping.
        (Opcode.PONG, b"Hello", {"mask": True, "masking_key": RFC_KEY}, "8a8537fa213d7f9f4d5158"),
    ],
    ids=["text", "masked-text", "fragment-1", "fragment-2", "ping", "masked-pong"],
)
def test_rfc_5_7_examples(opcode: Opcode, payload: bytes, kwargs: dict, expected: str) -> None:
    assert serialize_frame(opcode, payload, **kwargs) == bytes.fromhex(expected)


def test_rfc_5_7_256_bytes_binary() -> None:
    payload = bytes(range(256))
    frame = serialize_frame(Opcode.BINARY, payload)
    assert frame[:4] == bytes.fromhex("827e0100")
    assert frame[4:] == payload
    assert len(frame) == 4 + 256


def test_rfc_5_7_64_kib_binary() -> None:
    payload = os.urandom(65536)
    frame = serialize_frame(Opcode.BINARY, payload)
    assert frame[:10] == bytes.fromhex("827f0000000000010000")
    assert frame[10:] == payload


# -- header fields -------------------------------------------------------------------


def test_bit_constants() -> None:
    assert (FIN, RSV1, RSV2, RSV3, MASK_BIT) == (0x80, 0x40, 0x20, 0x10, 0x80)


@pytest.mark.parametrize("opcode", list(Opcode))
@pytest.mark.parametrize("fin", [True, False])
@pytest.mark.parametrize("rsv", [0, RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3])
def test_first_byte(opcode: Opcode, fin: bool, rsv: int) -> None:
    frame = serialize_frame(opcode, b"ab", fin=fin, rsv=rsv)
    assert frame[0] == (0x80 if fin else 0) | rsv | opcode
    assert frame[1] == 2
    assert frame[2:] == b"ab"


@pytest.mark.parametrize(
    ("opcode", "value", "control"),
    [
        (Opcode.CONTINUATION, 0x0, False),
        (Opcode.TEXT, 0x1, False),
        (Opcode.BINARY, 0x2, False),
        (Opcode.CLOSE, 0x8, True),
        (Opcode.PING, 0x9, True),
        (Opcode.PONG, 0xA, True),
    ],
)
def test_opcodes(opcode: Opcode, value: int, control: bool) -> None:
    assert opcode == value
    assert opcode.is_control is control


@pytest.mark.parametrize("value", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_not_members(value: int) -> None:
    with pytest.raises(ValueError):
        Opcode(value)


# -- minimal length encoding (RFC 6455 §5.2) -----------------------------------------


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, "8200"),
        (1, "8201"),
        (125, "827d"),
        (126, "827e007e"),
        (127, "827e007f"),
        (65535, "827effff"),
        (65536, "827f0000000000010000"),
        (65537, "827f0000000000010001"),
        (1 << 20, "827f0000000000100000"),
    ],
)
def test_minimal_length_encoding(length: int, header: str) -> None:
    payload = b"\x00" * length
    frame = serialize_frame(Opcode.BINARY, payload)
    hdr = bytes.fromhex(header)
    assert frame[: len(hdr)] == hdr
    assert len(frame) == len(hdr) + length


@pytest.mark.parametrize(
    ("length", "header_len"), [(0, 6), (125, 6), (126, 8), (65535, 8), (65536, 14)]
)
def test_masked_header_layout(length: int, header_len: int) -> None:
    key = b"\x01\x02\x03\x04"
    payload = os.urandom(length)
    frame = serialize_frame(Opcode.BINARY, payload, mask=True, masking_key=key)
    assert frame[1] & MASK_BIT
    assert frame[header_len - 4 : header_len] == key
    assert len(frame) == header_len + length
    assert naive_mask(frame[header_len:], key) == payload
    if length >= 126:
        assert frame[1] & 0x7F == (126 if length < 65536 else 127)
        fmt = "!H" if length < 65536 else "!Q"
        assert struct.unpack_from(fmt, frame, 2)[0] == length


# -- masking (RFC 6455 §5.3) ---------------------------------------------------------

SIZES = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    15,
    16,
    17,
    31,
    32,
    33,
    63,
    64,
    65,
    100,
    125,
    126,
    127,
    255,
    256,
    383,
    384,
    385,
    511,
    512,
    513,
    514,
    515,
    1000,
    1023,
    1024,
    1025,
    4097,
    65535,
    65536,
    65537,
]
KEYS = [
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    RFC_KEY,
    b"\x01\x02\x03\x04",
    b"\x80\x00\x00\x01",
    b"\x00\x00\x00\x80",
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("key", KEYS, ids=lambda k: k.hex())
@impl_param
def test_apply_mask_matches_definition(mask_fn: MaskFn, size: int, key: bytes) -> None:
    data, expected = vector(size, key)
    masked = mask_fn(data, key)
    assert isinstance(masked, bytes)
    assert len(masked) == size
    assert masked == expected
    # Involution: masking twice restores the data.
    assert mask_fn(masked, key) == data


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 13, 64, 129, 1001])
@pytest.mark.parametrize("rotation", [0, 1, 2, 3])
@impl_param
def test_apply_mask_all_key_rotations(mask_fn: MaskFn, size: int, rotation: int) -> None:
    """Unmasking a payload in pieces at any offset means rotating the key."""
    key = os.urandom(4)
    data = os.urandom(size + rotation)
    whole = mask_fn(data, key)
    rotated = key[rotation:] + key[:rotation]
    assert mask_fn(data[rotation:], rotated) == whole[rotation:]


@impl_param
def test_apply_mask_zero_key_is_identity(mask_fn: MaskFn) -> None:
    data = os.urandom(333)
    assert mask_fn(data, b"\x00\x00\x00\x00") == data


@impl_param
def test_apply_mask_rfc_vector(mask_fn: MaskFn) -> None:
    assert mask_fn(b"Hello", RFC_KEY) == bytes.fromhex("7f9f4d5158")
    assert mask_fn(bytes.fromhex("7f9f4d5158"), RFC_KEY) == b"Hello"


@impl_param
def test_apply_mask_preserves_leading_and_trailing_zero_bytes(mask_fn: MaskFn) -> None:
    # Little/big-endian integer tricks must not drop zero bytes at either end.
    data = b"\x00\x00abc\x00\x00"
    assert mask_fn(data, b"\x00\x00\x00\x00") == data
    key = b"\x00\x00\x00\x01"
    assert mask_fn(data, key) == naive_mask(data, key)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
@impl_param
def test_apply_mask_accepts_bytes_like(mask_fn: MaskFn, kind: type) -> None:
    data = b"Hello, world"
    assert bytes(mask_fn(kind(data), RFC_KEY)) == naive_mask(data, RFC_KEY)


def test_random_keys_differ_per_frame() -> None:
    keys = set()
    for _ in range(64):
        frame = serialize_frame(Opcode.TEXT, b"same payload", mask=True)
        assert frame[1] == MASK_BIT | 12
        key = frame[2:6]
        assert naive_mask(frame[6:], key) == b"same payload"
        keys.add(key)
    # 64 draws from 2**32 keys: a repeat would mean the key is not random.
    assert len(keys) == 64


def test_unmasked_frame_has_no_key() -> None:
    assert serialize_frame(Opcode.BINARY, b"xyz") == b"\x82\x03xyz"
    assert serialize_frame(Opcode.BINARY, b"xyz", mask=False) == b"\x82\x03xyz"


def test_empty_masked_frame() -> None:
    frame = serialize_frame(Opcode.CLOSE, b"", mask=True, masking_key=b"abcd")
    assert frame == b"\x88\x80abcd"


def test_active_implementation_is_one_of_the_tested() -> None:
    assert IMPLS[0] is apply_mask


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
def test_python_mask_refuses_bad_key_length(key: bytes) -> None:
    mask = importlib.import_module("wsproto_lite._mask")
    python_impl = getattr(mask, "apply_mask_python", None)
    if python_impl is None:
        pytest.skip("no pure-Python implementation exposed")
    with pytest.raises(ValueError):
        python_impl(b"data", key)


@pytest.mark.parametrize("text", [True, False])
def test_the_writers_small_frame_path_is_serialize_frame(text: bool) -> None:
    """FrameWriter writes a server's small whole messages itself (a hot path):
    byte for byte what serialize_frame gives, at every length it takes, and
    serialize_frame from 126 bytes on."""
    from wsproto_lite._writer import FrameWriter

    writer = FrameWriter(client=False)
    opcode = Opcode.TEXT if text else Opcode.BINARY
    for n in (0, 1, 17, 124, 125, 126, 127, 1000, 65535, 65536):
        payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        assert writer.message(text, payload, True, True) == serialize_frame(opcode, payload)
