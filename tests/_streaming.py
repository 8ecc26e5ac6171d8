"""recv_streaming() scenarios the asyncio and trio adapters run the same way
(their WebSockets share one receive side); the blocking adapter's tests
write them with plain calls."""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["fragments_then_next", "superseded_mid_message"]


async def fragments_then_next(ws: Any) -> None:
    """A handler: on "go", a message in three parts, then "next", then "after"."""
    assert await ws.recv() == "go"
    await ws.send_fragments([b"a", b"b", b"c"])
    await ws.send("next")
    await ws.send("after")
    await ws.recv()


async def superseded_mid_message(ws: Any) -> None:
    """A receive while an iteration is left mid-message discards the rest, and
    the iteration then refuses to go on (a client of :func:`fragments_then_next`)."""
    await ws.send("go")
    parts = ws.recv_streaming()
    assert await parts.__anext__() == b"a"
    assert await ws.recv() == "next"  # b"b" and b"c" are discarded
    with pytest.raises(RuntimeError, match="abandoned mid-message"):
        await parts.__anext__()
    unused = ws.recv_streaming()  # never iterated: nothing to discard
    assert await ws.recv() == "after"
    with pytest.raises(RuntimeError, match="abandoned"):
        await unused.__anext__()
