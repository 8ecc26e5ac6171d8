"""Sphinx configuration for the wsproto_lite documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
Run the examples embedded in the pages: ``sphinx-build -b doctest docs docs/_build/doctest``
(``tests/test_docs_examples.py`` runs the same blocks, and every file under
``docs/examples/``, without Sphinx). Nothing here needs the network.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the source tree itself, installed or not.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))
# The pure-Python build (the same source): autodoc reads the docstrings and the
# ``#:`` comments of the .py files, which a compiled build's modules do not have.
os.environ["WSPROTO_LITE_NO_SPEEDUPS"] = "1"

import wsproto_lite  # noqa: E402

project = "wsproto_lite"
author = "The wsproto_lite developers"
copyright = "2025, The wsproto_lite developers"
release = wsproto_lite.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "myst_parser",
    "wsl_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "README.md", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc -----------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}

# -- doctest -----------------------------------------------------------------
# Pages import what they use themselves (so a reader can copy a block as is);
# nothing is set up behind their back.
doctest_global_setup = ""
doctest_test_doctest_blocks = "default"

# -- HTML --------------------------------------------------------------------
html_theme = "furo"
html_title = f"wsproto_lite {release}"
html_static_path = ["_static"]
html_css_files = ["wsl.css"]
html_theme_options = {
    "source_repository": "https://github.com/wsproto-lite/wsproto-lite/",
    "source_branch": "main",
    "source_directory": "docs/",
}

# Warnings are errors (-W). Nitpicky mode (every cross-reference must resolve) is off
# until the package's docstrings are clean; `sphinx-build -n` shows what is left. There
# is no intersphinx (the build must not need the network), so references into the
# standard library and trio cannot resolve and are not reported.
nitpicky = False
nitpick_ignore_regex = [
    (r"py:.*", r"(collections\.abc|typing|logging|ssl|socket|enum|abc|asyncio|_asyncio|trio)\..*"),
]

# Every name in these modules' __all__ must be documented somewhere (wsl_docs checks).
wsl_public_modules = [
    "wsproto_lite",
    "wsproto_lite.testing",
    "wsproto_lite.extensions",
    "wsproto_lite.extensions.permessage_deflate",
    "wsproto_lite.adapters",
    "wsproto_lite.adapters.asyncio",
    "wsproto_lite.adapters.sync",
    "wsproto_lite.adapters.trio",
]
