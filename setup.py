"""Build the optional compiled parts: the C masking extension
``wsproto_lite._speedups`` and the core compiled by mypyc.

All metadata lives in ``pyproject.toml``; this file only declares the
extensions. Both are optional: without a C compiler (or Python headers, or
mypyc) the build prints a warning and the package installs in pure Python,
which is complete and correct, only slower. Neither is built on PyPy, whose
JIT runs the pure-Python path faster than C extensions through its emulation
layer. Set ``WSPROTO_LITE_NO_SPEEDUPS=1`` at build time to skip both on purpose.

The compiled core comes from the same source files as the pure-Python one:
mypyc compiles the modules listed in ``wsproto_lite/_compiled.py``
(``CORE_MODULES``) after type-checking them (they are ``mypy --strict``
clean), into extension modules placed beside the ``.py`` files plus one shared
library, ``wsproto_lite/_core__mypyc``. The ``.py`` files stay in the package:
``WSPROTO_LITE_NO_SPEEDUPS=1`` at import time loads them instead.
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_MASKING = "wsproto_lite._speedups"


class OptionalBuildExt(build_ext):
    """``build_ext`` that turns any failure into a warning instead of an error.

    The compiled core is all or nothing: its extension modules are shims over
    one shared library, so if any of them fails, the others are removed (an
    import of a shim without its library would fail, where the ``.py`` beside
    it works).
    """

    def run(self) -> None:
        if self.inplace:
            _remove_stale({ext.name.rpartition(".")[2] for ext in self.extensions})
        self._core_failed = False
        try:
            super().run()
        except Exception as exc:  # no compiler at all, broken toolchain, …
            self._warn("the optional compiled extensions", exc)
            self._core_failed = True
        if self._core_failed:
            self._remove_core()

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            if ext.name == _MASKING:
                self._warn("the C masking extension wsproto_lite._speedups", exc)
            else:
                self._warn("the compiled core (mypyc)", exc)
                self._core_failed = True

    def _remove_core(self) -> None:
        for ext in self.extensions:
            if ext.name != _MASKING:
                path = self.get_ext_fullpath(ext.name)
                if os.path.exists(path):
                    os.remove(path)

    @staticmethod
    def _warn(what: str, exc: BaseException) -> None:
        print(
            f"WARNING: {what} could not be built ({exc}); wsproto_lite will run that part"
            " in pure Python.",
            file=sys.stderr,
        )


def _remove_stale(building: set[str]) -> None:
    """Remove the extension modules in the source tree that this build does not
    make (left by an earlier build whose part failed, was turned off, or is no
    longer compiled): Python would import them instead of the ``.py`` files
    beside them in an editable install."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for filename in os.listdir("wsproto_lite"):
        if filename.endswith(suffixes) and filename.split(".")[0] not in building:
            os.remove(os.path.join("wsproto_lite", filename))


def _core_modules() -> list[str]:
    """``CORE_MODULES`` of wsproto_lite/_compiled.py, read without importing the package."""
    with open(os.path.join("wsproto_lite", "_compiled.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CORE_MODULES" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise RuntimeError("CORE_MODULES not found in wsproto_lite/_compiled.py")


#: The setup.py commands that build extensions (pip runs others, e.g. egg_info
#: for the metadata, where compiling would only cost time).
_BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def _compiled_core() -> list[Extension]:
    """The core compiled by mypyc, or nothing (with a warning) when that cannot be done."""
    if not _BUILD_COMMANDS.intersection(sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as exc:
        print(
            f"WARNING: mypyc is not available ({exc}); the core stays pure Python.",
            file=sys.stderr,
        )
        return []
    paths = [os.path.join("wsproto_lite", f"{name}.py") for name in _core_modules()]
    try:
        # Type-checks the modules (with the [tool.mypy] settings of
        # pyproject.toml, for the running Python) and generates the C source.
        extensions = mypycify(
            [f"--python-version={sys.version_info[0]}.{sys.version_info[1]}", *paths],
            opt_level="3",
            group_name="wsproto_lite._core",
        )
    except (Exception, SystemExit) as exc:  # mypyc reports its errors with sys.exit()
        print(f"WARNING: mypyc failed ({exc!r}); the core stays pure Python.", file=sys.stderr)
        return []
    for ext in extensions:
        ext.optional = True
    return extensions


def _extensions() -> list[Extension]:
    pure = platform.python_implementation() != "CPython" or os.environ.get(
        "WSPROTO_LITE_NO_SPEEDUPS", ""
    ) not in ("", "0")
    if pure:
        if _BUILD_COMMANDS.intersection(sys.argv[1:]):
            _remove_stale(set())  # (no build_ext runs to do it)
        return []
    return [
        Extension(
            "wsproto_lite._speedups",
            sources=["wsproto_lite/_speedups.c"],
            optional=True,
        ),
        *_compiled_core(),
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
