"""Which build of the core runs: the compiled one (when built) or pure Python.

``pip install`` compiles the core modules listed in :data:`CORE_MODULES` with
mypyc, from these same source files, when it can (a C compiler, CPython, and
``WSPROTO_LITE_NO_SPEEDUPS`` unset at build time; see ``setup.py``). Each is
then an extension module beside its ``.py`` file, which Python's import system
prefers. This module is never compiled: the package's ``__init__`` uses it
before any core module is imported, to

* load the ``.py`` sources instead of the extension modules when the
  environment variable ``WSPROTO_LITE_NO_SPEEDUPS`` is set (to anything but
  ``""`` or ``"0"``): :func:`select`;
* tell which modules run compiled: :func:`active`, behind
  :data:`wsproto_lite.COMPILED`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["CORE_MODULES", "active", "built", "is_compiled", "pure_requested", "select"]

#: The modules ``setup.py`` compiles with mypyc, relative to the package, in
#: dependency order. (``_mask``'s work is the C extension ``_speedups``' when
#: that is built; the handshake layers, the events and the extensions stay
#: interpreted: see docs/performance.md.)
CORE_MODULES = (
    "_close_codes",
    "_states",
    "_deflate",
    "_messages",
    "_frames",
    "_prepared",
    "_writer",
    "_reader",
    "_connection",
)

#: The C extension for masking (``wsproto_lite/_speedups.c``), selected by ``_mask``.
MASKING_MODULE = "_speedups"


def pure_requested() -> bool:
    """Whether ``WSPROTO_LITE_NO_SPEEDUPS`` asks for pure Python (set, and not ``"0"``)."""
    return os.environ.get("WSPROTO_LITE_NO_SPEEDUPS", "") not in ("", "0")


class _SourceFinder:
    """A meta path finder that loads the core modules of one package from source.

    Installed first on ``sys.meta_path``; it answers only for
    ``<package>.<name>`` with *name* in :data:`CORE_MODULES`, with a spec for the
    ``.py`` file beside the extension module, and leaves every other import to
    the normal finders.
    """

    def __init__(self, package: str, directory: str) -> None:
        self.package = package
        self.directory = directory

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != self.package or name not in CORE_MODULES:
            return None
        return importlib.util.spec_from_file_location(
            fullname, os.path.join(self.directory, name + ".py")
        )


def select(package: str, path: Sequence[str]) -> None:
    """Make the core modules of *package* (its ``__path__`` is *path*) load from
    source if ``WSPROTO_LITE_NO_SPEEDUPS`` asks for pure Python; otherwise do
    nothing (the import system picks a compiled module when there is one)."""
    if not pure_requested():
        return
    for finder in sys.meta_path:
        if isinstance(finder, _SourceFinder) and finder.package == package:
            return  # (a reload of the package)
    sys.meta_path.insert(0, _SourceFinder(package, path[0]))


def is_compiled(module: ModuleType) -> bool:
    """Whether *module* was loaded from an extension module (not from source)."""
    filename = getattr(module, "__file__", None) or ""
    return filename.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def built(directory: str) -> bool:
    """Whether the compiled core is installed in *directory* (the package's):
    an extension module beside every core module's source."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return all(
        any(os.path.exists(os.path.join(directory, name + suffix)) for suffix in suffixes)
        for name in CORE_MODULES
    )


def active(package: str) -> tuple[str, ...]:
    """The fully qualified names of *package*'s modules that run compiled now."""
    names = []
    for name in CORE_MODULES:
        module = sys.modules.get(f"{package}.{name}")
        if module is not None and is_compiled(module):
            names.append(module.__name__)
    mask = sys.modules.get(f"{package}._mask")
    if mask is not None and getattr(mask, "SPEEDUPS", False):
        names.append(f"{package}.{MASKING_MODULE}")
    return tuple(sorted(names))
