"""Shared rules of the interop tests.

A missing independent peer (the ``websockets`` package, Node's ``ws``,
Chromium) skips a test on a developer machine, but fails it when the
environment variable ``CI`` is ``true``: CI must never pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

import pytest


def on_ci() -> bool:
    """Whether the tests run on CI (``CI=true``), where missing tools are failures."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the running test because of *reason*, or fail it on CI."""
    if on_ci():
        pytest.fail(f"CI=true and an interop peer is missing: {reason}", pytrace=False)
    pytest.skip(reason)  # raises


@pytest.fixture
def require_peer() -> Callable[[str | None], None]:
    """``require_peer(missing_reason)``: carry on when it is ``None``, otherwise
    skip the test (fail it when ``CI=true``)."""

    def check(missing_reason: str | None) -> None:
        if missing_reason is not None:
            skip_or_fail(missing_reason)

    return check
