"""Masking throughput per payload size: every technique side by side (MB/s).

Run ``python benchmarks/mask_sizes.py`` (``--quick``, ``--json out.json``).
Rows, all computing the same ``data XOR key*``:

* ``int_bytes``: big-integer XOR with the mask built as ``(key * r)[:n]``
  (wsproto_lite's first version);
* ``int``: the same without the slice when the length is a multiple of 4;
* ``translate``: ``bytes.translate`` over the four strided lanes;
* ``bytewise``: a plain Python loop, four bytes per turn (PyPy's choice);
* ``python``: what ``wsproto_lite`` selects in pure Python for that size;
* ``c``: ``wsproto_lite._speedups.apply_mask`` (when built);
* ``wsproto``: wsproto's ``XorMaskerSimple``; ``websockets-c`` /
  ``websockets-py``: websockets' compiled and pure ``apply_mask``;
* ``copy``: ``bytes(bytearray(data))``, two plain copies: memory bandwidth.

Ratios are to ``wsproto``, like every benchmark here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's wsproto_lite
sys.path.insert(0, _HERE)  # the harness

from _harness import Benchmark, Contender, print_table, run_benchmark, write_json  # noqa: E402

from wsproto_lite import _mask  # noqa: E402

SIZES = [1, 4, 16, 64, 125, 1024, 16 << 10, 64 << 10, 1 << 20, 4 << 20]
KEY = b"\x37\xfa\x21\x3d"


def _int_bytes(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    mask = (key * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")


def techniques() -> dict[str, Callable[[bytes, bytes], bytes]]:
    """Every masking function to compare, by row name."""
    found: dict[str, Callable[[bytes, bytes], bytes]] = {}
    try:
        from wsproto.frame_protocol import XorMaskerSimple

        found["wsproto"] = lambda data, key: bytes(
            XorMaskerSimple(key).process(data)  # type: ignore[arg-type]
        )
    except ImportError:
        pass
    found["int_bytes"] = _int_bytes
    found["int"] = _mask._mask_int
    found["translate"] = _mask._mask_translate
    found["bytewise"] = _mask._mask_bytewise
    found["python"] = _mask.apply_mask_python
    try:
        from wsproto_lite._speedups import apply_mask as c_apply_mask

        found["c"] = c_apply_mask
    except ImportError:
        pass
    try:
        from websockets.speedups import apply_mask as ws_c

        found["websockets-c"] = ws_c
    except ImportError:
        pass
    try:
        from websockets.utils import apply_mask as ws_py

        found["websockets-py"] = ws_py
    except ImportError:
        pass
    found["copy"] = lambda data, key: bytes(bytearray(data))
    return found


def _contender(
    name: str, fn: Callable[[bytes, bytes], bytes], data: bytes, number: int, expect: bytes
) -> Contender:
    def run(_: Any) -> bytes:
        out = b""
        for _ in range(number):
            out = fn(data, KEY)
        return out

    def check(out: bytes) -> None:
        if name == "copy":
            assert out == data
        else:
            assert out == expect, "wrong mask output"

    return Contender(name, run, check=check, work=len(data) * number / 1e6)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < (1 << 20):
        return f"{n >> 10} KiB"
    return f"{n >> 20} MiB"


def benchmarks(quick: bool) -> list[Benchmark]:
    """One benchmark per payload size."""
    target = (4 if quick else 24) << 20  # bytes per timed run (plus per-call weight)
    found = techniques()
    benches = []
    for n in SIZES:
        data = os.urandom(n)
        expect = _int_bytes(data, KEY)
        number = max(1, target // (n + 256))
        contenders = []
        for name, fn in found.items():
            # A per-byte Python loop on CPython: only up to 64 KiB (it is ~20x slower).
            slow = name in ("bytewise", "websockets-py") and sys.implementation.name == "cpython"
            if slow and n > (64 << 10):
                continue
            calls = max(1, number // 20) if slow else number
            contenders.append(_contender(name, fn, data, calls, expect))
        benches.append(
            Benchmark(
                f"mask {_size(n)}", "MB/s", n * number / 1e6, contenders, f"apply_mask on {n} bytes"
            )
        )
    return benches


def main(argv: list[str] | None = None) -> int:
    """Run the masking benchmarks and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, less data")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed rounds (default 7, quick 3)"
    )
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 7)
    warmup = 1
    done = []
    for bench in benchmarks(args.quick):
        results = run_benchmark(bench, warmup=warmup, repeat=repeat)
        done.append((bench, results))
        print_table([(bench, results)])
        sys.stdout.flush()
    if args.json:
        settings = {"quick": args.quick, "repeat": repeat, "warmup": warmup}
        write_json(args.json, done, settings=settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
