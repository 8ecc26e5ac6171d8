"""wsproto_lite against wsproto and websockets, side by side, in one process.

Usage::

    python benchmarks/run.py                 # everything (a few minutes)
    python benchmarks/run.py --quick         # a smoke run: less data, 3 rounds
    python benchmarks/run.py --only recv_small,handshake --json out.json
    python benchmarks/run.py --list          # the workload names for --only

Contenders run interleaved (A B C A B C …) after a warm-up round; the table
gives the median and best rate of the timed rounds and both as a ratio to
wsproto. Every run's result is checked (message count and a payload sample).
Input bytes are built before timing. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's wsproto_lite
sys.path.insert(0, _HERE)

from _harness import (  # noqa: E402
    Benchmark,
    Result,
    environment,
    print_table,
    run_benchmark,
    write_json,
)
from broadcast import adapter_benchmark, core_benchmark, socket_builders  # noqa: E402
from broadcast_trio_sync import builders as trio_sync_builders  # noqa: E402
from workloads import all_benchmarks  # noqa: E402


def _e2e_builders(
    quick: bool, holder: dict[str, object]
) -> list[tuple[str, Callable[[], Benchmark | str]]]:
    def make(connections: int) -> Callable[[], Benchmark | str]:
        def build() -> Benchmark | str:
            from e2e import E2E

            if "e2e" not in holder:
                holder["e2e"] = E2E()
            e2e = holder["e2e"]
            assert isinstance(e2e, E2E)
            round_trips = (
                (2_000 if quick else 20_000) if connections > 1 else (1_000 if quick else 10_000)
            )
            return e2e.benchmark(connections, round_trips)

        return build

    return [("e2e_1", make(1)), ("e2e_50", make(50))]


def _uvicorn_builders(
    quick: bool, holder: dict[str, object]
) -> list[tuple[str, Callable[[], Benchmark | str]]]:
    def make(connections: int) -> Callable[[], Benchmark | str]:
        def build() -> Benchmark | str:
            try:
                import uvicorn  # noqa: F401
            except ImportError:
                return f"uvicorn_{connections}: skipped (pip install -e '.[bench]')"
            from uvicorn_echo import UvicornEcho

            if "uvicorn" not in holder:
                holder["uvicorn"] = UvicornEcho()
            echo = holder["uvicorn"]
            assert isinstance(echo, UvicornEcho)
            round_trips = 20_000 if connections > 1 else 10_000
            return echo.benchmark(connections, round_trips // 10 if quick else round_trips)

        return build

    return [("uvicorn_1", make(1)), ("uvicorn_50", make(50))]


def main(argv: list[str] | None = None) -> int:
    """Run the selected workloads; print the table; optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write every result as JSON")
    parser.add_argument(
        "--only", metavar="NAMES", help="comma-separated workload names (see --list)"
    )
    parser.add_argument("--list", action="store_true", help="list the workload names")
    parser.add_argument("--repeat", type=int, help="timed rounds (default 5; quick 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (1)")
    parser.add_argument(
        "--scale", type=float, help="amount of data, 1.0 = the full sizes (quick: 0.1)"
    )
    args = parser.parse_args(argv)
    scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)
    repeat = args.repeat or (3 if args.quick else 5)

    holder: dict[str, object] = {}
    builders = (
        all_benchmarks(scale)
        + _e2e_builders(args.quick, holder)
        + _uvicorn_builders(args.quick, holder)
        + [
            ("broadcast_core", lambda: core_benchmark(scale)),
            ("broadcast_core_deflate", lambda: core_benchmark(scale, deflate=True)),
            ("broadcast_adapter", lambda: adapter_benchmark(scale)),
            ("broadcast_adapter_16k", lambda: adapter_benchmark(scale, size=16384)),
            ("broadcast_adapter_deflate", lambda: adapter_benchmark(scale, deflate=True)),
        ]
        + socket_builders(scale, holder)
        + trio_sync_builders(scale, holder)
    )
    if args.list:
        for name, _ in builders:
            print(name)
        return 0
    if args.only:
        wanted = {w.strip() for w in args.only.split(",") if w.strip()}
        unknown = wanted - {name for name, _ in builders}
        if unknown:
            parser.error(f"unknown workload(s): {', '.join(sorted(unknown))} (see --list)")
        builders = [(n, b) for n, b in builders if n in wanted]

    env = environment()
    print(", ".join(f"{k}={v}" for k, v in env.items()))
    print(f"scale={scale} warmup={args.warmup} repeat={repeat}\n")
    done: list[tuple[Benchmark, list[Result]]] = []
    skipped: list[str] = []
    started = time.perf_counter()
    try:
        for _name, build in builders:
            bench = build()
            if isinstance(bench, str):
                print(f"{bench}\n")
                skipped.append(bench)
                continue
            results = run_benchmark(bench, warmup=args.warmup, repeat=repeat)
            done.append((bench, results))
            print_table([(bench, results)])
            sys.stdout.flush()
    finally:
        for owner in ("e2e", "uvicorn", "broadcast"):
            servers = holder.get(owner)
            if servers is not None:
                servers.close()  # type: ignore[attr-defined]
    print(f"All results ({time.perf_counter() - started:.0f} s):\n")
    print_table(done)
    for note in skipped:
        print(note)
    if args.json:
        settings = {
            "quick": args.quick,
            "scale": scale,
            "warmup": args.warmup,
            "repeat": repeat,
            "skipped": skipped,
        }
        write_json(args.json, done, settings=settings)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
