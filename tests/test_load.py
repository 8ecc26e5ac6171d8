"""The short version of the load and fault suite (``benchmarks/load.py --quick``).

Each check runs a server of each adapter in a process of its own on loopback,
with independent clients (the ``websockets`` package, raw sockets); the full
version, with the ``websockets`` server side by side, is ``tox -e load``
(``python benchmarks/load.py``). See that module for what each check does.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.load

KIB, MIB = 1 << 10, 1 << 20
ADAPTERS = ("asyncio", "trio", "sync")


def _load_module() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "load.py"
    spec = importlib.util.spec_from_file_location("wsproto_lite_load_suite", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


load = _load_module()
SIZES = load.QUICK


@pytest.mark.parametrize("kind", ADAPTERS)
def test_load_loses_and_corrupts_nothing(kind: str) -> None:
    outcome = load.check_load(kind, SIZES)
    assert outcome.figures["lost"] == 0, outcome.text
    assert outcome.figures["corrupted"] == 0, outcome.text
    assert outcome.ok


@pytest.mark.parametrize("kind", ADAPTERS)
@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_idle_connections_are_small(kind: str, deflate: bool) -> None:
    # A gross bound, for a short run (the full suite measures 10,000): an idle
    # connection must not hold a compressor's windows, nor buffers sized for
    # traffic.
    outcome = load.check_idle(kind, SIZES, deflate)
    assert outcome.figures["per_connection"] < 40 * KIB, outcome.text


@pytest.mark.parametrize("kind", ADAPTERS)
def test_closing_many_connections_at_once_ends_within_close_timeout(kind: str) -> None:
    outcome = load.check_close(kind, SIZES)
    assert outcome.figures["still_open"] == 0, outcome.text
    assert outcome.figures["seconds"] <= SIZES.close_timeout, outcome.text
    assert outcome.figures["exit"] == 0, outcome.text


@pytest.mark.parametrize("kind", ADAPTERS)
@pytest.mark.parametrize("check", ["ping_flood", "send_flood"])
def test_a_flood_from_a_peer_that_never_reads_does_not_grow_the_server(
    kind: str, check: str
) -> None:
    outcome = load.RUNNERS[check](kind, SIZES)
    figures = outcome.figures
    assert figures["sent"] > 4 * MIB, outcome.text  # the flood happened
    # Unbounded, the pongs alone would grow by about what was sent.
    assert figures["second_half"] < 4 * MIB, outcome.text
    assert figures["growth"] < 8 * MIB, outcome.text
    # A peer that takes nothing is failed after close_timeout (once the socket
    # buffers are full: within the flood).
    dropped = figures["dropped_after"]
    assert dropped is not None and SIZES.close_timeout <= dropped < SIZES.flood_seconds, (
        outcome.text
    )


@pytest.mark.parametrize("kind", ADAPTERS)
def test_faults_leave_the_server_clean(kind: str) -> None:
    outcome = load.check_faults(kind, SIZES)
    assert outcome.figures["problems"] == [], outcome.text
