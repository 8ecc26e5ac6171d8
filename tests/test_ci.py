"""The checkout's housekeeping: what git ignores, and ``.ci/run`` in a checkout that
is not fresh (a ``.venv`` file left by tox 4, say)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _git() -> str:
    git = shutil.which("git")
    if git is None:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail("CI=true and git is missing", pytrace=False)
        pytest.skip("git is not installed")
    return git


@pytest.mark.parametrize(
    "path",
    [
        ".venv",  # the file tox 4 writes (a path that does not exist counts as a file)
        ".venv/bin/python",  # a virtual environment
        ".ci/venv/bin/python",  # .ci/run's own
    ],
)
def test_gitignore_ignores_virtual_environments(path: str) -> None:
    result = subprocess.run(
        [_git(), "check-ignore", "--no-index", "--quiet", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, f"{path} is not ignored: {result.stderr}"


FAKE_PYTHON = """#!/bin/sh
# Stands in for python3: records each call; "-m venv DIR" makes a venv whose
# python records its calls too, and fails like the real one if DIR is in the way.
echo "$0 $*" >> "$CALLS"
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin" || exit 1
    dir=$(cd "$3" && pwd)
    printf 'export PATH="%s/bin:$PATH"\\n' "$dir" > "$3/bin/activate"
    cp "$0" "$3/bin/python"
    cp "$0" "$3/bin/python3"
fi
exit 0
"""


def _fake_checkout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of .ci/run in an empty checkout, with a recording python3 on PATH."""
    checkout = tmp_path / "checkout"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", checkout / ".ci" / "run")
    tools = tmp_path / "tools"
    tools.mkdir()
    python = tools / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ)
    env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
    env["CALLS"] = str(tmp_path / "calls")
    return checkout, env


@pytest.mark.skipif(sys.platform == "win32", reason=".ci/run is a bash script")
@pytest.mark.parametrize("stray", [".venv", ".ci/venv"])
def test_ci_run_copes_with_a_stray_venv_file(tmp_path: Path, stray: str) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    checkout, env = _fake_checkout(tmp_path)
    (checkout / stray).write_text("stray\n")
    result = subprocess.run(
        [bash, ".ci/run"], cwd=checkout, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    venv = checkout / ".ci" / "venv"
    assert calls[0].endswith("python3 -m venv .ci/venv")
    # The README's test command runs in the venv.
    assert calls[-1] == f"{venv}/bin/python3 -m pytest --cov=wsproto_lite"
    if stray == ".venv":
        assert (checkout / ".venv").read_text() == "stray\n"  # not ours: left alone
