"""Build the optional C speedup ``wsproto_lite._speedups``.

All metadata lives in ``pyproject.toml``; this file only declares the
extension. It is optional: without a C compiler (or Python headers) the build
prints a warning and the package installs in pure Python, which is complete
and correct, only slower at masking. It is not built on PyPy, whose JIT runs
the pure-Python path faster than a C extension through its emulation layer.
Set ``WSPROTO_LITE_NO_SPEEDUPS=1`` at build time to skip it on purpose.
"""

from __future__ import annotations

import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """``build_ext`` that turns any failure into a warning instead of an error."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all, broken toolchain, …
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc: BaseException) -> None:
        print(
            f"WARNING: the optional C extension wsproto_lite._speedups was not built ({exc});"
            " wsproto_lite will use its pure-Python masking.",
            file=sys.stderr,
        )


def _extensions() -> list[Extension]:
    if platform.python_implementation() != "CPython":
        return []
    if os.environ.get("WSPROTO_LITE_NO_SPEEDUPS", "") not in ("", "0"):
        return []
    return [
        Extension(
            "wsproto_lite._speedups",
            sources=["wsproto_lite/_speedups.c"],
            optional=True,
        )
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
