"""The built documentation in headless Chromium: every table fits the text column
at 1366 px (a common laptop width), so no column is cut off or needs scrolling.

Builds the HTML docs with Sphinx (the ``docs`` dependencies, also in the
``test`` extra) into a temporary directory, then measures each page with
``docs_tables.js``. Skipped without Sphinx, furo, MyST, node or Chromium, except
with ``CI=true`` where a missing tool is a failure (``conftest.py``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nodepeer
import pytest

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs"
#: Generated pages without tables of ours.
SKIPPED = {"genindex.html", "search.html", "py-modindex.html"}


def sphinx_missing_reason() -> str | None:
    """Why the docs cannot be built here, or None."""
    for module in ("sphinx", "furo", "myst_parser"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[test]')"
    return None


def build_html(out: Path) -> list[str]:
    """Build the HTML docs into *out*; return the pages (relative paths)."""
    command = [sys.executable, "-m", "sphinx", "-q", "-b", "html"]
    command += ["-d", str(out / ".doctrees"), str(DOCS), str(out)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pages = [
        path.relative_to(out).as_posix()
        for path in out.rglob("*.html")
        if not path.relative_to(out).parts[0].startswith(("_", "."))
    ]
    return sorted(page for page in pages if page not in SKIPPED)


def test_every_table_fits_at_1366_px(
    require_peer: Callable[[str | None], None], tmp_path: Path
) -> None:
    require_peer(nodepeer.node_missing_reason(browser=True))
    require_peer(sphinx_missing_reason())
    pages = build_html(tmp_path / "html")
    assert "security.html" in pages and "reference/errors.html" in pages
    base = (tmp_path / "html").as_uri() + "/"
    result = nodepeer.run_browser_page(
        base + "index.html",
        HERE / "docs_tables.js",
        args=[base, *pages],
        viewport=(1366, 768),
        timeout=180,
    )
    assert set(result) == set(pages)
    too_wide = {page: tables for page, tables in result.items() if tables}
    assert too_wide == {}
