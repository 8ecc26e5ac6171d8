"""Profile wsproto_lite alone on one workload: where does its time go?

    python benchmarks/prof_lite.py recv_small            # cProfile, top 25 by own time
    python benchmarks/prof_lite.py recv_fragmented --pyinstrument

The workload names are those of ``run.py --list`` (in-process ones only). Only
the wsproto_lite contender runs, on the full-size input, once untimed (warm-up)
and once under the profiler.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's wsproto_lite
sys.path.insert(0, _HERE)

from workloads import all_benchmarks  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Profile the wsproto_lite row of one workload."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload")
    parser.add_argument("--pyinstrument", action="store_true", help="a pyinstrument tree")
    parser.add_argument("--top", type=int, default=25, help="cProfile rows (25)")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    builders = dict(all_benchmarks(args.scale))
    bench = builders[args.workload]()
    if isinstance(bench, str):
        print(bench)
        return 1
    contender = next(c for c in bench.contenders if c.name == "wsproto_lite")
    contender.check(contender.run(contender.prepare()))  # warm-up
    state = contender.prepare()
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
        result = contender.run(state)
        profiler.stop()
        contender.check(result)
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return 0
    prof = cProfile.Profile()
    result = prof.runcall(contender.run, state)
    contender.check(result)
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
