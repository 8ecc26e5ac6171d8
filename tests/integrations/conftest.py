"""Shared rules of the integration tests.

Like the interop tests, a missing outside tool (uvicorn's source distribution
with its tests, Chromium…) skips a test on a developer machine but fails it
when ``CI`` is ``true``: CI must never pass by skipping.
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
        pytest.fail(f"CI=true and something this test needs is missing: {reason}", pytrace=False)
    pytest.skip(reason)  # raises


@pytest.fixture
def missing() -> Callable[[str], NoReturn]:
    """``missing(reason)``: skip the test (fail it when ``CI=true``)."""
    return skip_or_fail
