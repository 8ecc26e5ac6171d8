"""Memory: what an idle connection keeps, and that big messages leave nothing behind.

Measured with tracemalloc (Python allocations only). The figures are reported
in docs/security.md; the bounds here are a few times the measured values, so
a regression (a buffer kept alive, a per-connection cache) fails the test.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

import pytest

from wsproto_lite import Accept, BinaryMessage, Connection, Handshake, Role, TextMessage
from wsproto_lite._frames import serialize_frame


@pytest.fixture
def traced() -> Iterator[None]:
    gc.collect()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _current() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _open_server(**kwargs: object) -> Connection:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER, **kwargs)  # type: ignore[arg-type]
    client.send(Handshake(host="example.com", target="/chat", origin="https://example.com"))
    server.receive_data(client.data_to_send())
    assert isinstance(next(server.events()), Handshake)
    server.send(Accept())
    server.data_to_send()
    return server


def test_idle_open_server_connection_is_small(traced: None) -> None:
    count = 500
    before = _current()
    conns = [_open_server() for _ in range(count)]
    per_connection = (_current() - before) / count
    print(f"idle OPEN server connection (core): {per_connection:.0f} bytes")
    assert per_connection < 8 * 1024
    assert all(c._handshake is None for c in conns)  # the HTTP phase (h11) is released


@pytest.mark.parametrize("stream", [False, True])
def test_a_big_message_leaves_no_buffer_behind(traced: None, stream: bool) -> None:
    server = _open_server(max_message_size=None, stream=stream)
    before = _current()
    frame = serialize_frame(2, bytes(16 << 20), mask=True)
    server.receive_data(frame)
    del frame
    total = 0
    for event in server.events():
        assert isinstance(event, BinaryMessage)
        total += len(event.data)
        del event
    assert total == 16 << 20
    retained = _current() - before
    print(f"retained after a 16 MiB message (stream={stream}): {retained} bytes")
    assert retained < 64 * 1024


def test_a_big_text_message_in_fragments_leaves_nothing_behind(traced: None) -> None:
    server = _open_server(max_message_size=None)
    before = _current()
    chunk = "é" * (1 << 19)  # 1 MiB of UTF-8 per fragment
    data = b"".join(
        serialize_frame(1 if i == 0 else 0, chunk.encode(), fin=(i == 7), mask=True)
        for i in range(8)
    )
    for start in range(0, len(data), 1 << 16):
        server.receive_data(data[start : start + (1 << 16)])
        for event in server.events():
            assert event == TextMessage(chunk * 8)
            del event
    del data, chunk
    assert _current() - before < 64 * 1024
