"""uvicorn's own WebSocket test module, run with our protocol class.

uvicorn's source distribution ships its tests. This test unpacks the newest
one it finds, appends ``uvicorn_suite_conftest.py`` (beside this file) to its
``tests/protocols/conftest.py`` so that the ``ws_protocol_cls`` fixture gives
:class:`wsproto_lite.integrations.uvicorn.WebSocketProtocol`, and runs
``tests/protocols/test_websocket.py`` in a subprocess, test bodies untouched,
under uvicorn's own pytest settings (warnings are errors). Every case that
takes ``ws_protocol_cls`` must pass with each HTTP protocol (h11 and
httptools; zttp too when it is installed): no failure, no error, no skip.

Where the sdist comes from: ``$WSPROTO_LITE_UVICORN_SDIST`` (a path to
``uvicorn-X.Y.Z.tar.gz``) or the newest ``.cache/uvicorn/uvicorn-*.tar.gz`` of
this checkout, which ``.ci/run`` fills::

    python -m pip download --no-binary :all: --no-deps uvicorn -d .cache/uvicorn

Without one (an offline machine) the test is skipped, except with ``CI=true``.
The module takes about 25 s.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = ROOT / ".cache" / "uvicorn"
SDIST_ENV = "WSPROTO_LITE_UVICORN_SDIST"
MODULE = "tests/protocols/test_websocket.py"
OUR_ID = "wsproto_lite"
#: uvicorn's HTTP protocols that must run; zttp joins them when installed.
HTTP_IDS = ["h11", "httptools"]
TIMEOUT = 300


def _version(path: Path) -> tuple[int, ...]:
    match = re.fullmatch(r"uvicorn-([0-9.]+)\.tar\.gz", path.name)
    return tuple(int(part) for part in match.group(1).split(".") if part) if match else ()


def find_sdist() -> Path | None:
    """The uvicorn sdist to test against, or ``None`` when there is none."""
    given = os.environ.get(SDIST_ENV)
    if given:
        path = Path(given)
        assert path.is_file(), f"${SDIST_ENV} is {given!r}, which is not a file"
        return path
    found = [p for p in CACHE.glob("uvicorn-*.tar.gz") if _version(p)]
    return max(found, key=_version) if found else None


def unpack(sdist: Path, into: Path) -> Path:
    """Unpack *sdist* under *into*; return its top directory."""
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def cases_taking_the_fixture(module: Path) -> set[str]:
    """The test functions of *module* that take ``ws_protocol_cls``."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
        and any(arg.arg == "ws_protocol_cls" for arg in node.args.args)
    }


def test_uvicorns_websocket_tests_pass_with_our_protocol(
    tmp_path: Path, missing: Callable[[str], NoReturn]
) -> None:
    sdist = find_sdist()
    if sdist is None:
        missing(
            f"no uvicorn sdist in {CACHE} (python -m pip download --no-binary :all:"
            f" --no-deps uvicorn -d {CACHE}) and ${SDIST_ENV} is not set"
        )
    for name in ("httptools", "httpx2", "websockets"):
        if importlib.util.find_spec(name) is None:
            missing(f"{name} is not installed (pip install -e '.[test]')")
    top = unpack(sdist, tmp_path)
    module = top / MODULE
    assert module.is_file(), f"{sdist.name} has no {MODULE}"
    expected = cases_taking_the_fixture(module)
    assert len(expected) > 40, f"only {len(expected)} tests take ws_protocol_cls"

    # Appended, so that a conftest uvicorn may ship there one day stays in force.
    conftest = top / "tests" / "protocols" / "conftest.py"
    ours = (HERE / "uvicorn_suite_conftest.py").read_text(encoding="utf-8")
    with conftest.open("a", encoding="utf-8") as out:
        out.write("\n\n" + ours)

    http_ids = HTTP_IDS + (["zttp"] if importlib.util.find_spec("zttp") else [])
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    selection = f"{OUR_ID} and ({' or '.join(http_ids)})"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        MODULE,
        "-o",
        "addopts=--strict-markers",  # uvicorn's own adds -n 8 (pytest-xdist)
        "-p",
        "no:cacheprovider",
        "-k",
        selection,
        "-q",
        f"--junitxml={report}",
    ]
    proc = subprocess.run(
        cmd, cwd=top, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    output = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert report.is_file(), f"{' '.join(cmd)} wrote no report:\n{output}"

    passed: dict[str, set[str]] = {http: set() for http in http_ids}
    problems = []
    for case in ET.parse(report).iter("testcase"):
        name = case.get("name", "")
        match = re.fullmatch(r"(test_\w+)\[(.*)\]", name)
        assert match is not None, f"unexpected case {name!r}"
        params = match.group(2).split("-")
        assert OUR_ID in params, f"{name} does not run our class"
        outcome = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        if outcome:
            problems.append(f"{name}: {outcome[0]}")
            continue
        http = next(p for p in params if p in passed)
        passed[http].add(match.group(1))
    assert not problems, "\n".join(problems) + "\n" + output
    assert proc.returncode == 0, output
    for http in http_ids:
        missing = expected - passed[http]
        assert not missing, f"with {http}, these did not run: {sorted(missing)}\n{output}"
