"""Shared benchmark machinery: interleaved repetitions, statistics, table, JSON.

Every benchmark is a list of *contenders* (one per library, plus reference
rows) doing the same work. Each round runs every contender once, in turn
(A B C A B C …), so that background load on a shared machine hits all of them
alike; the first rounds are a warm-up and are discarded. A contender has three
parts: ``prepare()`` (untimed: build a connection, finish its handshake),
``run(state)`` (timed) and ``check(result)`` (untimed: the message count and a
payload sample must be right, so a broken path cannot look fast).
"""

from __future__ import annotations

import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Benchmark", "Contender", "Result", "print_table", "run_benchmark", "write_json"]

#: The library every ratio is relative to.
BASELINE = "wsproto"


@dataclass
class Contender:
    """One library (or reference row) doing a benchmark's work."""

    name: str
    run: Callable[[Any], Any]
    prepare: Callable[[], Any] = lambda: None
    check: Callable[[Any], None] = lambda result: None
    #: Work per run when it differs from the benchmark's (e.g. fewer calls of a slow row).
    work: float | None = None


@dataclass
class Benchmark:
    """A workload: *work* units (messages, MB, handshakes…) per timed run."""

    name: str
    unit: str
    work: float
    contenders: list[Contender]
    description: str = ""
    #: Shown under the table (e.g. why a contender is missing).
    notes: list[str] = field(default_factory=list)
    #: The contender every ratio of this benchmark is relative to.
    baseline: str = BASELINE
    #: Called once all rounds ran (e.g. to add measured notes).
    finish: Callable[[], None] | None = None


@dataclass
class Result:
    """Timings of one contender in one benchmark."""

    benchmark: str
    contender: str
    unit: str
    work: float
    times: list[float]

    @property
    def median_time(self) -> float:
        """The median of the timed runs, in seconds."""
        return statistics.median(self.times)

    @property
    def min_time(self) -> float:
        """The fastest timed run, in seconds."""
        return min(self.times)

    @property
    def median_rate(self) -> float:
        """Work per second at the median time."""
        return self.work / self.median_time

    @property
    def best_rate(self) -> float:
        """Work per second at the fastest run."""
        return self.work / self.min_time


def run_benchmark(bench: Benchmark, *, warmup: int, repeat: int) -> list[Result]:
    """Run *bench*'s contenders interleaved; return one :class:`Result` each."""
    times: dict[str, list[float]] = {c.name: [] for c in bench.contenders}
    timer = time.perf_counter
    for round_no in range(warmup + repeat):
        for contender in bench.contenders:
            state = contender.prepare()
            gc.collect()
            start = timer()
            result = contender.run(state)
            elapsed = timer() - start
            try:
                contender.check(result)
            except AssertionError as exc:
                raise AssertionError(
                    f"{bench.name}: {contender.name} produced a wrong result: {exc}"
                ) from exc
            del result, state
            if round_no >= warmup:
                times[contender.name].append(elapsed)
    if bench.finish is not None:
        bench.finish()
    return [
        Result(
            bench.name, c.name, bench.unit, bench.work if c.work is None else c.work, times[c.name]
        )
        for c in bench.contenders
    ]


def _fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:.1f}"


def ratios(
    results: Sequence[Result], baseline: str = BASELINE
) -> dict[str, tuple[float | None, float | None]]:
    """Median-rate and best-rate ratios of every contender to *baseline*."""
    base = next((r for r in results if r.contender == baseline), None)
    out: dict[str, tuple[float | None, float | None]] = {}
    for r in results:
        if base is None:
            out[r.contender] = (None, None)
        else:
            out[r.contender] = (
                r.median_rate / base.median_rate,
                r.best_rate / base.best_rate,
            )
    return out


def print_table(benches: Sequence[tuple[Benchmark, list[Result]]], file: Any = None) -> None:
    """Print one table: a block of rows per benchmark."""
    out = file or sys.stdout
    header = (
        f"{'benchmark':<34} {'contender':<27} {'median':>10} {'best':>10} {'unit':<8}"
        f" {'x wsproto (med)':>15} {'(best)':>7}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for bench, results in benches:
        rat = ratios(results, bench.baseline)
        for r in results:
            med, best = rat[r.contender]
            med_s = f"{med:.2f}x" if med is not None else "-"
            best_s = f"{best:.2f}x" if best is not None else "-"
            print(
                f"{bench.name:<34} {r.contender:<27} {_fmt_rate(r.median_rate):>10}"
                f" {_fmt_rate(r.best_rate):>10} {r.unit:<8} {med_s:>15} {best_s:>7}",
                file=out,
            )
        if bench.baseline != BASELINE:
            print(f"{'':<34} note: ratios to {bench.baseline}, not {BASELINE}", file=out)
        for note in bench.notes:
            print(f"{'':<34} note: {note}", file=out)
    print(file=out)


def environment() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "platform": platform.platform(),
    }
    for name in ("wsproto", "websockets", "aiohttp", "picows", "h11"):
        try:
            module = __import__(name)
            info[name] = getattr(module, "__version__", "?")
        except ImportError:
            info[name] = None
    try:
        import wsproto_lite

        info["wsproto_lite"] = wsproto_lite.__version__
        info["wsproto_lite_compiled"] = ",".join(
            name.rpartition(".")[2] for name in wsproto_lite.COMPILED
        )
    except ImportError:  # pragma: no cover
        info["wsproto_lite"] = None
    return info


def write_json(
    path: str,
    benches: Sequence[tuple[Benchmark, list[Result]]],
    *,
    settings: dict[str, Any],
) -> None:
    """Write every timing, rate and ratio to *path*."""
    doc: dict[str, Any] = {"environment": environment(), "settings": settings, "benchmarks": []}
    for bench, results in benches:
        rat = ratios(results, bench.baseline)
        doc["benchmarks"].append(
            {
                "name": bench.name,
                "description": bench.description,
                "unit": bench.unit,
                "work": bench.work,
                "notes": bench.notes,
                "baseline": bench.baseline,
                "results": [
                    {
                        "contender": r.contender,
                        "times": r.times,
                        "median_time": r.median_time,
                        "min_time": r.min_time,
                        "median_rate": r.median_rate,
                        "best_rate": r.best_rate,
                        "ratio_median": rat[r.contender][0],
                        "ratio_best": rat[r.contender][1],
                    }
                    for r in results
                ],
            }
        )
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
