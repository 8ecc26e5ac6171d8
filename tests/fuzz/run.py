"""Coverage-guided fuzzing of the core with atheris, bounded in time.

    python tests/fuzz/run.py [TARGET ...] [--seconds N]

Each target runs in its own process for N seconds (``FUZZ_SECONDS``, default
10) with a corpus in ``tests/fuzz/corpus/TARGET`` (seeded from
``tests/fuzz/seeds.py``; not committed) and writes any crasher to
``tests/fuzz/crashers/TARGET/``; commit those, and ``tests/test_fuzz.py`` replays
them forever after. Exit status 1 if any target found a crash. Prints one line
per target with the number of executions.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

_CHILD = """
import sys
import atheris
with atheris.instrument_imports(include=["wsproto_lite"]):
    from tests.fuzz.targets import TARGETS
target = TARGETS[sys.argv[1]]
def one(data: bytes) -> None:
    target(data)
atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
atheris.Fuzz()
"""


def run_target(name: str, seconds: int) -> tuple[bool, int]:
    """Fuzz one target; return (no crash found, executions)."""
    from tests.fuzz.seeds import write_seeds

    corpus = HERE / "corpus" / name
    crashers = HERE / "crashers" / name
    corpus.mkdir(parents=True, exist_ok=True)
    crashers.mkdir(parents=True, exist_ok=True)
    write_seeds(name, corpus)
    cmd = [
        sys.executable,
        "-c",
        _CHILD,
        name,
        str(corpus),
        f"-max_total_time={seconds}",
        f"-artifact_prefix={crashers}/",
        "-max_len=4096",
        "-print_final_stats=1",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    output = proc.stdout + proc.stderr
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", output)
    count = int(execs[-1]) if execs else 0
    ok = proc.returncode == 0
    if not ok:
        sys.stderr.write(output[-4000:])
    return ok, count


def main(argv: list[str] | None = None) -> int:
    """Run the chosen targets (all by default)."""
    sys.path.insert(0, str(ROOT))
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", choices=[*TARGETS, []], default=[])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "10")))
    args = parser.parse_args(argv)
    failed = False
    for name in args.targets or list(TARGETS):
        ok, count = run_target(name, args.seconds)
        print(f"{name}: {count} executions in {args.seconds}s: {'ok' if ok else 'CRASH'}")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
