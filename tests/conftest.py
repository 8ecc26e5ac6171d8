"""Which build of wsproto_lite the test run imports.

The main run (the README's ``python3 -m pytest --cov=wsproto_lite``) measures
coverage, which sees only Python code: it runs the pure-Python build, by setting
``WSPROTO_LITE_NO_SPEEDUPS=1`` before anything imports wsproto_lite, unless the
variable is already set (``WSPROTO_LITE_NO_SPEEDUPS=0`` runs the main run
against the compiled build). ``tests/test_compiled.py`` then runs the core's
tests again, in a subprocess, against the other build.
"""

from __future__ import annotations

import os

os.environ.setdefault("WSPROTO_LITE_NO_SPEEDUPS", "1")
