"""``python -m wsproto_lite``: see :mod:`wsproto_lite.cli` (and ``--help``)."""

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
