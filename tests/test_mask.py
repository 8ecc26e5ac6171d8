"""Masking (RFC 6455 §5.3): the pure-Python and the C implementation, same vectors.

The C extension is optional, so its tests are skipped when it was not built,
except on CI (``CI=true``), where a missing extension is a failure.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto_lite import _frames as frames
from wsproto_lite import _mask

MaskFn = Callable[[bytes | bytearray | memoryview, bytes], bytes]

try:
    from wsproto_lite import _speedups
except ImportError:  # pragma: no cover - depends on the build
    _speedups = None  # type: ignore[assignment]

ON_CI = os.environ.get("CI", "").lower() == "true"


def _c_impl() -> MaskFn:
    if _speedups is None:
        if ON_CI:
            pytest.fail("CI=true but the C extension wsproto_lite._speedups was not built")
        pytest.skip("the C extension wsproto_lite._speedups is not built")
    return _speedups.apply_mask


@pytest.fixture(params=["python", "c"])
def apply_mask(request: pytest.FixtureRequest) -> MaskFn:
    """Each test runs once per implementation."""
    if request.param == "python":
        return _mask.apply_mask_python
    return _c_impl()


def reference(data: bytes, key: bytes) -> bytes:
    """The definition, one byte at a time (RFC 6455 §5.3: j = i MOD 4)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


KEYS = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x37\xfa\x21\x3d", b"\x01\x02\x03\x04"]
LARGE_SIZES = [125, 126, 511, 512, 513, 1023, 1024, 1025, 4096, 65535, 65536, 65537, 1 << 20]


def _payload(n: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def test_rfc_6455_section_5_7_masked_hello(apply_mask: MaskFn) -> None:
    # "A single-frame masked text message": 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58
    key = bytes([0x37, 0xFA, 0x21, 0x3D])
    masked = bytes([0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert apply_mask(b"Hello", key) == masked
    assert apply_mask(masked, key) == b"Hello"


def test_serialize_frame_matches_rfc_example() -> None:
    frame = frames.serialize_frame(
        frames.Opcode.TEXT, b"Hello", mask=True, masking_key=b"\x37\xfa\x21\x3d"
    )
    assert frame == bytes.fromhex("818537fa213d7f9f4d5158")


def test_empty(apply_mask: MaskFn) -> None:
    assert apply_mask(b"", b"abcd") == b""
    assert type(apply_mask(b"", b"abcd")) is bytes


@pytest.mark.parametrize("key", KEYS)
def test_all_small_sizes(apply_mask: MaskFn, key: bytes) -> None:
    for n in range(71):
        data = _payload(n)
        assert apply_mask(data, key) == reference(data, key), n


@pytest.mark.parametrize("n", LARGE_SIZES)
def test_large_sizes(apply_mask: MaskFn, n: int) -> None:
    key = b"\x9a\x3c\x55\xe1"
    data = os.urandom(n)
    out = apply_mask(data, key)
    assert len(out) == n
    # Compare with the other implementation-independent reference cheaply:
    # check every lane through a strided slice (bytes, not Python loops).
    for lane in range(4):
        expect = bytes(b ^ key[lane] for b in data[lane::4])
        assert out[lane::4] == expect, lane


def test_4_mib(apply_mask: MaskFn) -> None:
    key = b"\x12\x34\x56\x78"
    data = _payload(256) * (1 << 14)  # 4 MiB
    out = apply_mask(data, key)
    assert out[:256] == reference(data[:256], key)
    assert out[-256:] == reference(data[-256:], key)  # 4 MiB is a multiple of 4
    assert apply_mask(out, key) == data


@pytest.mark.parametrize("offset", range(16))
@pytest.mark.parametrize("n", [1, 3, 4, 15, 16, 17, 31, 63, 64, 65, 127, 600, 1000])
def test_unaligned_input(apply_mask: MaskFn, offset: int, n: int) -> None:
    # A slice of a memoryview starts at any address: exercises head/tail handling.
    backing = bytearray(os.urandom(n + 32))
    view = memoryview(backing)[offset : offset + n]
    key = b"\xa1\xb2\xc3\xd4"
    assert apply_mask(view, key) == reference(bytes(view), key)


@pytest.mark.parametrize("rotation", range(4))
def test_key_rotation(apply_mask: MaskFn, rotation: int) -> None:
    # Unmasking a frame in pieces: the piece at offset r uses the key rotated by r.
    key = b"\x10\x20\x30\x40"
    data = os.urandom(2000)
    whole = apply_mask(data, key)
    rotated = key[rotation:] + key[:rotation]
    start = 4 * 37 + rotation
    assert apply_mask(data[start:], rotated) == whole[start:]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("n", [0, 5, 100, 511, 512, 5000])
def test_input_types(apply_mask: MaskFn, kind: Callable[[bytes], object], n: int) -> None:
    data = _payload(n)
    key = b"wxyz"
    out = apply_mask(kind(data), key)  # type: ignore[arg-type]
    assert type(out) is bytes
    assert out == reference(data, key)


@pytest.mark.parametrize("n", [0, 3, 16, 700, 5000])
def test_key_types(apply_mask: MaskFn, n: int) -> None:
    data = _payload(n)
    for key in (b"abcd", bytearray(b"abcd")):
        assert apply_mask(data, key) == reference(data, b"abcd")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["_mask_int", "_mask_translate", "_mask_bytewise"])
def test_each_python_technique(name: str) -> None:
    # Every technique, at every small size, whatever the size-based selection picks.
    fn = getattr(_mask, name)
    for key in KEYS:
        edge = _mask._TRANSLATE_MIN
        for n in [*range(71), edge - 1, edge, edge + 1, 4099]:
            data = _payload(n)
            assert fn(data, key) == reference(data, key), (name, n)
            assert fn(memoryview(bytearray(data)), key) == reference(data, key), (name, n)


def test_input_not_modified(apply_mask: MaskFn) -> None:
    data = bytearray(_payload(3000))
    before = bytes(data)
    apply_mask(data, b"\xff\x00\xff\x00")
    assert data == before


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
def test_bad_key_length(apply_mask: MaskFn, key: bytes) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask(b"data", key)


def test_non_bytes_input(apply_mask: MaskFn) -> None:
    with pytest.raises(TypeError):
        apply_mask("text", b"abcd")  # type: ignore[arg-type]


@given(data=st.binary(max_size=3000), key=st.binary(min_size=4, max_size=4))
def test_involution_and_reference_python(data: bytes, key: bytes) -> None:
    masked = _mask.apply_mask_python(data, key)
    assert masked == reference(data, key)
    assert _mask.apply_mask_python(masked, key) == data


@given(
    data=st.binary(max_size=3000),
    key=st.binary(min_size=4, max_size=4),
    offset=st.integers(0, 15),
)
def test_c_matches_python(data: bytes, key: bytes, offset: int) -> None:
    c_apply_mask = _c_impl()
    view = memoryview(bytes(offset) + data)[offset:]
    masked = c_apply_mask(view, key)
    assert masked == _mask.apply_mask_python(data, key)
    assert c_apply_mask(masked, key) == data


# -- apply_mask_slice and apply_mask_join: the same contract, from a buffer / in pieces ------

SliceFn = Callable[[bytes | bytearray | memoryview, int, int, bytes], bytes]
JoinFn = Callable[[list[bytes | bytearray | memoryview], bytes], bytes]


@pytest.fixture(params=["python", "c"])
def apply_mask_slice(request: pytest.FixtureRequest) -> SliceFn:
    if request.param == "python":
        return _mask.apply_mask_slice_python
    _c_impl()
    return _speedups.apply_mask_slice


@pytest.fixture(params=["python", "c"])
def apply_mask_join(request: pytest.FixtureRequest) -> JoinFn:
    if request.param == "python":
        return _mask.apply_mask_join_python
    _c_impl()
    return _speedups.apply_mask_join  # type: ignore[return-value]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
@pytest.mark.parametrize(("start", "end"), [(0, 0), (0, 5000), (3, 3), (1, 17), (7, 4099)])
def test_slice_is_mask_of_the_slice(
    apply_mask_slice: SliceFn, kind: Callable[[bytes], object], start: int, end: int
) -> None:
    data = _payload(5000)
    key = b"\x37\xfa\x21\x3d"
    out = apply_mask_slice(kind(data), start, end, key)  # type: ignore[arg-type]
    assert type(out) is bytes
    assert out == reference(data[start:end], key)


def test_slice_of_a_strided_view(apply_mask_slice: SliceFn) -> None:
    view = memoryview(_payload(100))[::3]
    assert apply_mask_slice(view, 2, 20, b"abcd") == reference(bytes(view)[2:20], b"abcd")


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (5, 4), (0, 11), (11, 11)])
def test_slice_bounds_are_checked_not_clamped(
    apply_mask_slice: SliceFn, start: int, end: int
) -> None:
    with pytest.raises(ValueError, match="0 <= start <= end <= len"):
        apply_mask_slice(b"0123456789", start, end, b"abcd")


def test_slice_bad_key_length(apply_mask_slice: SliceFn) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask_slice(b"data", 0, 4, b"abc")


@pytest.mark.parametrize(
    "sizes", [[], [0], [1], [5, 0, 3], [1, 2, 3, 4, 5, 6, 7], [65_530, 17, 1 << 20, 3]]
)
def test_join_is_mask_of_the_joined_pieces(apply_mask_join: JoinFn, sizes: list[int]) -> None:
    key = b"\x9a\x3c\x55\xe1"
    pieces: list[bytes | bytearray | memoryview] = []
    for i, n in enumerate(sizes):
        piece = os.urandom(n)
        # Every kind of bytes-like piece, views starting at odd addresses.
        pieces.append([piece, bytearray(piece), memoryview(b"x" + piece)[1:]][i % 3])
    joined = b"".join(pieces)
    out = apply_mask_join(pieces, key)
    assert type(out) is bytes
    assert out == apply_mask_join([joined], key) == _mask.apply_mask_python(joined, key)


def test_join_bad_input(apply_mask_join: JoinFn) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask_join([b"data"], b"abcde")
    with pytest.raises(TypeError):
        apply_mask_join([b"data", "text"], b"abcd")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        apply_mask_join(3, b"abcd")  # type: ignore[arg-type]


@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
    key=st.binary(min_size=4, max_size=4),
)
def test_c_slice_and_join_match_python(data: bytes, cuts: list[int], key: bytes) -> None:
    _c_impl()
    bounds = sorted(min(c, len(data)) for c in cuts)
    edges = [0, *bounds, len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(edges)]
    assert _speedups.apply_mask_join(pieces, key) == _mask.apply_mask_join_python(pieces, key)
    for a, b in itertools.pairwise(edges):
        assert _speedups.apply_mask_slice(data, a, b, key) == _mask.apply_mask_slice_python(
            data, a, b, key
        )


UnmaskFn = Callable[[bytes, bytes | bytearray | memoryview, list[int]], bytes]


@pytest.fixture(params=["python", "c"])
def unmask_payloads(request: pytest.FixtureRequest) -> UnmaskFn:
    if request.param == "python":
        return _mask.unmask_payloads_python
    _c_impl()
    return _speedups.unmask_payloads  # type: ignore[return-value]


def _frames_of(payloads: list[bytes], keys: list[bytes]) -> tuple[bytes, list[int]]:
    """Masked frames (a 2-byte stand-in header, the key, the payload) and the bounds."""
    data = b""
    bounds = []
    for payload, key in zip(payloads, keys, strict=True):
        data += b"\x00\x80" + key
        bounds += [len(data), len(data) + len(payload)]
        data += reference(payload, key)
    return data, bounds


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("sizes", [[], [0], [1], [5, 0, 3], [128] * 7, [65_530, 17, 3]])
def test_unmask_payloads_is_the_payloads_unmasked_each_with_its_key(
    unmask_payloads: UnmaskFn, kind: Callable[[bytes], object], sizes: list[int]
) -> None:
    payloads = [os.urandom(n) for n in sizes]
    keys = [os.urandom(4) for _ in sizes]
    data, bounds = _frames_of(payloads, keys)
    out = unmask_payloads(b"first", kind(data), bounds)  # type: ignore[arg-type]
    assert type(out) is bytes
    assert out == b"first" + b"".join(payloads)


@pytest.mark.parametrize("bounds", [[3, 5], [5, 4], [4, 11], [4], [4, 6, 8]])
def test_unmask_payloads_bounds_are_checked(unmask_payloads: UnmaskFn, bounds: list[int]) -> None:
    match = "pairs of bounds" if len(bounds) & 1 else "4 <= start <= end <= len"
    with pytest.raises(ValueError, match=match):
        unmask_payloads(b"", b"0123456789", bounds)


def test_unmask_payloads_bad_input(unmask_payloads: UnmaskFn) -> None:
    with pytest.raises(TypeError):
        unmask_payloads(b"", "text", [4, 4])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        unmask_payloads(b"", b"0123456789", ["4", "5"])  # type: ignore[list-item]


@given(
    payloads=st.lists(st.binary(max_size=300), max_size=8),
    keys=st.lists(st.binary(min_size=4, max_size=4), min_size=8, max_size=8),
    prefix=st.binary(max_size=10),
)
def test_c_unmask_payloads_matches_python(
    payloads: list[bytes], keys: list[bytes], prefix: bytes
) -> None:
    _c_impl()
    data, bounds = _frames_of(payloads, keys[: len(payloads)])
    expected = _mask.unmask_payloads_python(prefix, data, bounds)
    assert _speedups.unmask_payloads(prefix, data, bounds) == expected
    assert expected == prefix + b"".join(payloads)


FrameFn = Callable[[bytes, bytes | bytearray | memoryview, bytes], bytes]


@pytest.fixture(params=["python", "c"])
def mask_frame(request: pytest.FixtureRequest) -> FrameFn:
    if request.param == "python":
        return _mask.mask_frame_python
    _c_impl()
    return _speedups.mask_frame


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("n", [0, 1, 125, 126, 4099, 1 << 20])
def test_mask_frame_is_header_key_masked_payload(
    mask_frame: FrameFn, kind: Callable[[bytes], object], n: int
) -> None:
    header = b"\x82\xfe\x01\x00"
    key = b"\x37\xfa\x21\x3d"
    payload = os.urandom(n)
    out = mask_frame(header, kind(payload), key)  # type: ignore[arg-type]
    assert type(out) is bytes
    assert out == header + key + _mask.apply_mask_python(payload, key)


def test_mask_frame_bad_input(mask_frame: FrameFn) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        mask_frame(b"\x82\x01", b"x", b"abc")
    with pytest.raises(TypeError):
        mask_frame(b"\x82\x01", "x", b"abcd")  # type: ignore[arg-type]


def test_selection_default() -> None:
    # frames re-exports the active implementation and says which one it is.
    assert frames.apply_mask is _mask.apply_mask
    assert frames.SPEEDUPS is _mask.SPEEDUPS
    if os.environ.get("WSPROTO_LITE_NO_SPEEDUPS", "") in ("", "0"):
        built = _speedups is not None
        assert frames.SPEEDUPS is built
        if ON_CI:
            assert frames.SPEEDUPS, "CI=true: the C speedup must be built and active"


@pytest.mark.parametrize("value,expect_c", [("1", False), ("0", True), ("", True)])
def test_selection_environment_variable(value: str, expect_c: bool) -> None:
    if expect_c and _speedups is None:
        _c_impl()  # skips, or fails on CI
    env = dict(os.environ, WSPROTO_LITE_NO_SPEEDUPS=value)
    code = (
        "import wsproto_lite._frames as f, wsproto_lite._mask as m;"
        " print(f.SPEEDUPS, f.apply_mask.__module__, m.apply_mask_slice.__module__,"
        " m.apply_mask_join.__module__, m.mask_frame.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == str(expect_c)
    module = "wsproto_lite._speedups" if expect_c else "wsproto_lite._mask"
    assert out[1:] == [module] * 4


def test_selection_honours_the_environment_and_a_missing_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib
    import sys

    import wsproto_lite
    import wsproto_lite._mask as mask_module

    try:
        monkeypatch.setenv("WSPROTO_LITE_NO_SPEEDUPS", "1")
        reloaded = importlib.reload(mask_module)
        assert reloaded.SPEEDUPS is False
        assert reloaded.apply_mask is reloaded.apply_mask_python
        monkeypatch.setenv("WSPROTO_LITE_NO_SPEEDUPS", "0")  # "0" means: use it if present
        if _speedups is not None:
            reloaded = importlib.reload(mask_module)
            assert reloaded.SPEEDUPS is True
            assert reloaded.apply_mask is _speedups.apply_mask
            assert reloaded.mask_frame is _speedups.mask_frame
        monkeypatch.setitem(sys.modules, "wsproto_lite._speedups", None)  # import fails
        monkeypatch.delattr(wsproto_lite, "_speedups", raising=False)
        assert importlib.reload(mask_module).SPEEDUPS is False
    finally:
        monkeypatch.undo()
        importlib.reload(mask_module)


def test_masking_key_must_be_four_bytes() -> None:
    from wsproto_lite._mask import _check_key

    _check_key(b"abcd")
    with pytest.raises(ValueError, match="4 bytes"):
        _check_key(b"abc")
