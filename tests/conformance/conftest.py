"""Fixtures shared by the conformance sections."""

from __future__ import annotations

import pytest

from ._harness import CHUNKINGS


@pytest.fixture(params=["server", "client"])
def role(request: pytest.FixtureRequest) -> str:
    """The testee's role; Autobahn runs its cases against servers and clients."""
    return str(request.param)


@pytest.fixture(params=CHUNKINGS)
def chunking(request: pytest.FixtureRequest) -> str:
    """How the fuzzer's frames are cut into TCP segments."""
    return str(request.param)
