"""The compiled build of the core and the pure-Python one: which runs, and both pass.

``pip install`` compiles the core modules (``wsproto_lite._compiled.CORE_MODULES``)
with mypyc when it can; ``WSPROTO_LITE_NO_SPEEDUPS`` picks pure Python at build
and at import time, and ``wsproto_lite.COMPILED`` says what runs compiled. This
test run itself uses the pure build (see ``tests/conftest.py``, for coverage);
:func:`test_core_tests_pass_against_the_other_build` runs the core's tests
again against the compiled one. Without a compiled build that test is skipped,
except on CI (``CI=true``), where it fails: CI must test both builds.
"""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import wsproto_lite
from wsproto_lite import _compiled

ON_CI = os.environ.get("CI", "").strip().lower() == "true"
PACKAGE_DIR = os.path.dirname(os.path.abspath(wsproto_lite.__file__))
TESTS_DIR = Path(__file__).resolve().parent

#: The tests of the core (every module the compiled build compiles, and the
#: conformance suite on the core). Left out: the adapters, the demo and the CLI
#: (interpreted code on top of the core, and slow socket and subprocess tests),
#: the interop peers and the fuzz runs (the whole-connection properties here
#: cover the same ground in seconds).
CORE_TESTS = [
    "test_close_codes.py",
    "test_connection.py",
    "test_events.py",
    "test_frames.py",
    "test_handshake.py",
    "test_mask.py",
    "test_memory.py",
    "test_messages.py",
    "test_permessage_deflate.py",
    "test_prepared.py",
    "test_properties.py",
    "test_reader.py",
    "test_states.py",
    "test_writer.py",
    "test_readme.py",
    "conformance",
]
CORE_TESTS_IGNORED = [
    "conformance/test_asyncio_adapter.py",
    "conformance/test_sync_trio_adapters.py",
]


def _stale_modules() -> list[str]:
    """The core modules whose source changed after the compiled build was made."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    built = {
        name.split(".")[0]: os.path.getmtime(os.path.join(PACKAGE_DIR, name))
        for name in os.listdir(PACKAGE_DIR)
        if name.endswith(suffixes)
    }
    return [
        name
        for name in _compiled.CORE_MODULES
        if os.path.getmtime(os.path.join(PACKAGE_DIR, f"{name}.py")) > built.get(name, 0.0)
    ]


def _require_compiled_build() -> None:
    reason = None
    if not _compiled.built(PACKAGE_DIR):
        reason = "the compiled core is not built (pip install needs a C compiler and mypyc)"
    elif stale := _stale_modules():
        reason = (
            f"the compiled core is older than the source of {', '.join(stale)}:"
            " reinstall (pip install -e .) to test the compiled build"
        )
    if reason is not None:
        if ON_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


def _core_module_files(env_value: str) -> dict[str, str]:
    code = (
        "import sys, wsproto_lite as w, wsproto_lite._compiled as c;"
        "print(repr((w.COMPILED, w.SPEEDUPS,"
        " {n: sys.modules['wsproto_lite.' + n].__file__ for n in c.CORE_MODULES})))"
    )
    env = dict(os.environ, WSPROTO_LITE_NO_SPEEDUPS=env_value)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    compiled, speedups, files = eval(out)  # our own repr() of str tuples and a dict
    return {"COMPILED": compiled, "SPEEDUPS": speedups, **files}


# -- what runs --------------------------------------------------------------------------


def test_compiled_says_what_runs_in_this_process() -> None:
    assert _compiled.active("wsproto_lite") == wsproto_lite.COMPILED
    assert wsproto_lite.SPEEDUPS is bool(wsproto_lite.COMPILED)
    for name in _compiled.CORE_MODULES:
        module = sys.modules[f"wsproto_lite.{name}"]
        assert (module.__name__ in wsproto_lite.COMPILED) is _compiled.is_compiled(module)
    if _compiled.pure_requested():
        assert wsproto_lite.COMPILED == ()
        for name in _compiled.CORE_MODULES:
            assert sys.modules[f"wsproto_lite.{name}"].__file__.endswith(".py")


def test_no_speedups_at_import_time_gives_pure_python() -> None:
    result = _core_module_files("1")
    assert result.pop("COMPILED") == ()
    assert result.pop("SPEEDUPS") is False
    for name, filename in result.items():
        assert filename == os.path.join(PACKAGE_DIR, f"{name}.py")


@pytest.mark.parametrize("value", ["", "0"])
def test_the_compiled_build_is_used_when_present(value: str) -> None:
    _require_compiled_build()
    result = _core_module_files(value)
    compiled = result.pop("COMPILED")
    assert result.pop("SPEEDUPS") is True
    expected = {f"wsproto_lite.{name}" for name in _compiled.CORE_MODULES}
    assert expected <= set(compiled)
    for filename in result.values():
        assert filename.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


# -- the selection machinery, unit by unit ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "pure"), [(None, False), ("", False), ("0", False), ("1", True), ("yes", True)]
)
def test_pure_requested(monkeypatch: pytest.MonkeyPatch, value: str | None, pure: bool) -> None:
    if value is None:
        monkeypatch.delenv("WSPROTO_LITE_NO_SPEEDUPS", raising=False)
    else:
        monkeypatch.setenv("WSPROTO_LITE_NO_SPEEDUPS", value)
    assert _compiled.pure_requested() is pure


def test_select_installs_one_source_finder_per_package(monkeypatch: pytest.MonkeyPatch) -> None:
    meta_path = [object()]
    monkeypatch.setattr(sys, "meta_path", meta_path)
    monkeypatch.setenv("WSPROTO_LITE_NO_SPEEDUPS", "0")
    _compiled.select("pkg", ["/somewhere/pkg"])
    assert len(meta_path) == 1  # compiled modules allowed: nothing to do
    monkeypatch.setenv("WSPROTO_LITE_NO_SPEEDUPS", "1")
    _compiled.select("pkg", ["/somewhere/pkg"])
    _compiled.select("pkg", ["/somewhere/pkg"])  # a reload: still one
    _compiled.select("other", ["/elsewhere/other"])
    finders = [f for f in meta_path if isinstance(f, _compiled._SourceFinder)]
    assert [(f.package, f.directory) for f in finders] == [
        ("other", "/elsewhere/other"),
        ("pkg", "/somewhere/pkg"),
    ]
    assert meta_path[0] is finders[0]  # first: ahead of the extension-module finder


def test_source_finder_answers_for_core_modules_only() -> None:
    finder = _compiled._SourceFinder("pkg", "/somewhere/pkg")
    spec = finder.find_spec("pkg._reader")
    assert spec is not None
    assert spec.origin == os.path.join("/somewhere/pkg", "_reader.py")
    assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("pkg._events") is None  # never compiled
    assert finder.find_spec("other._reader") is None
    assert finder.find_spec("pkg.sub._reader") is None
    assert finder.find_spec("_reader") is None


def test_active_and_built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]

    def module(name: str, filename: str | None, **attrs: object) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__file__ = filename  # type: ignore[assignment]
        for key, value in attrs.items():
            setattr(m, key, value)
        return m

    first, second, *_ = _compiled.CORE_MODULES
    monkeypatch.setitem(sys.modules, f"fake.{first}", module(f"fake.{first}", f"/x/a{suffix}"))
    monkeypatch.setitem(sys.modules, f"fake.{second}", module(f"fake.{second}", "/x/b.py"))
    assert _compiled.active("fake") == (f"fake.{first}",)
    monkeypatch.setitem(sys.modules, "fake._mask", module("fake._mask", "/x/m.py", SPEEDUPS=True))
    assert _compiled.active("fake") == tuple(sorted([f"fake.{first}", "fake._speedups"]))
    assert _compiled.is_compiled(module("fake.none", None)) is False

    assert _compiled.built(str(tmp_path)) is False
    for name in _compiled.CORE_MODULES[:-1]:
        (tmp_path / f"{name}{suffix}").touch()
    assert _compiled.built(str(tmp_path)) is False
    (tmp_path / f"{_compiled.CORE_MODULES[-1]}{suffix}").touch()
    assert _compiled.built(str(tmp_path)) is True


# -- both builds pass ---------------------------------------------------------------------


def test_core_tests_pass_against_the_other_build() -> None:
    """The core's tests, again, in a subprocess, against the build this run does not use."""
    if _compiled.pure_requested():
        _require_compiled_build()
        other = "0"  # the compiled build
    else:
        other = "1"  # this run is the compiled one: the other is pure Python
    env = {
        key: value
        for key, value in os.environ.items()
        # The coverage of the main run is the pure build's alone.
        if not key.startswith(("COV_CORE_", "COVERAGE_"))
    }
    env["WSPROTO_LITE_NO_SPEEDUPS"] = other
    args = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    args += [str(TESTS_DIR / name) for name in CORE_TESTS]
    args += [f"--ignore={TESTS_DIR / name}" for name in CORE_TESTS_IGNORED]
    proc = subprocess.run(
        args, env=env, cwd=TESTS_DIR.parent, capture_output=True, text=True, timeout=280
    )
    tail = "\n".join(proc.stdout.splitlines()[-40:])
    assert proc.returncode == 0, f"the core's tests failed against the other build:\n{tail}"
    assert (" passed" in tail and "skipped" not in tail.splitlines()[-1]) or not ON_CI, tail
