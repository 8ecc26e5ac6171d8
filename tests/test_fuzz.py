"""Fuzzing: saved crashers and seeds replayed, and a short coverage-guided run.

The short run (about 10 s per target) uses atheris; it is part of the normal
test run, and with ``CI=true`` atheris must be installed. Longer runs: ``tox -e
fuzz`` or ``python tests/fuzz/run.py --seconds 600``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.fuzz.run import run_target
from tests.fuzz.seeds import write_seeds
from tests.fuzz.targets import TARGETS

CRASHERS = Path(__file__).resolve().parent / "fuzz" / "crashers"


def _saved_inputs() -> list[tuple[str, Path]]:
    found = []
    for name in TARGETS:
        folder = CRASHERS / name
        if folder.is_dir():
            found.extend((name, path) for path in sorted(folder.iterdir()) if path.is_file())
    return found


@pytest.mark.parametrize(
    ("target", "path"), _saved_inputs(), ids=lambda v: str(getattr(v, "name", v))
)
def test_saved_crasher_is_fixed(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seeds_pass(target: str, tmp_path: Path) -> None:
    write_seeds(target, tmp_path)
    seeds = list(tmp_path.iterdir())
    assert seeds
    for path in seeds:
        TARGETS[target](path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_short_fuzz_run(target: str) -> None:
    if importlib.util.find_spec("atheris") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("atheris is required in CI (pip install -e '.[test]')")
        pytest.skip("atheris is not installed")
    seconds = int(os.environ.get("FUZZ_SECONDS", "8"))
    ok, executions = run_target(target, seconds)
    assert ok, f"the fuzzer found a crash in {target}: see tests/fuzz/crashers/{target}/"
    assert executions > 0
