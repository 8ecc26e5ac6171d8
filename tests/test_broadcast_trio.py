"""trio's writes from the calling task: broadcast()'s shared frame, and what
send() queues, written to an idle connection's socket without a writer task.

Each server WebSocket here runs over one end of a ``socket.socketpair()``
wrapped as a :class:`trio.SocketStream`, as a server's accepted TCP stream
is; the test holds the other end, a plain non-blocking socket, and reads
exactly what went on the wire. The fast path is visible from outside: the
frame is in the peer's socket as soon as ``broadcast()`` returns, before the
calling task has yielded once, and no writer task was started. Each of its
conditions is removed in turn, and the frame then waits for a writer task,
in order behind what was there before.
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsproto_lite import Accept, BinaryMessage, Connection, Ping, Role, TextMessage
from wsproto_lite.adapters import SkipReason

trio = pytest.importorskip("trio")

from wsproto_lite.adapters import trio as tri  # noqa: E402
from wsproto_lite.adapters._options import Settings  # noqa: E402
from wsproto_lite.adapters._session import Session  # noqa: E402

from .test_adapter_sync import tls_contexts  # noqa: E402
from .test_adapter_sync import tls_files as tls_files  # noqa: E402  (a fixture)

pytestmark = pytest.mark.skipif(
    os.name != "posix", reason="the fast path writes to POSIX sockets (os.write)"
)

FAST: dict[str, Any] = {"open_timeout": 5.0, "close_timeout": 2.0, "ping_interval": None}
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def frame(data: str | bytes) -> bytes:
    """A final, unmasked frame (RFC 6455 §5.2), built independently."""
    payload, opcode = (data.encode(), 0x81) if isinstance(data, str) else (data, 0x82)
    n = len(payload)
    if n < 126:
        return bytes([opcode, n]) + payload
    if n < 1 << 16:
        return bytes([opcode, 126]) + n.to_bytes(2, "big") + payload
    return bytes([opcode, 127]) + n.to_bytes(8, "big") + payload


#: Sockets the test holds (closed by run()).
_HELD: list[Any] = []
#: The server WebSockets of a test (aborted at its end: their peers answer no close).
_SERVED: list[tri.WebSocket] = []


class Peer:
    """The test's end of a socketpair: reads exactly what the server wrote."""

    def __init__(self, sock: socket.socket) -> None:
        _HELD.append(sock)
        sock.setblocking(False)
        self.sock = sock
        self.buf = b""

    def now(self) -> bytes:
        """Everything in the socket now, without waiting."""
        out = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except BlockingIOError:
                return out
            if not chunk:
                return out
            out += chunk

    async def exactly(self, n: int) -> bytes:
        """*n* bytes, waiting for them (the server's tasks run meanwhile)."""
        with trio.fail_after(10):
            while len(self.buf) < n:
                self.buf += self.now()
                if len(self.buf) < n:
                    await trio.sleep(0.001)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


async def open_ws(
    nursery: trio.Nursery,
    sndbuf: int | None = None,
    **options: Any,
) -> tuple[tri.WebSocket, Peer]:
    """An open server WebSocket over a socketpair, its reader started and its
    writer task gone (an idle connection), and the peer's end."""
    ours, theirs = socket.socketpair()
    if sndbuf is not None:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, sndbuf)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    settings = Settings.create("test.server", {**FAST, "compression": False, **options})
    session = Session(Role.SERVER, settings)
    session.receive_data(UPGRADE)
    session.process(trio.current_time())
    assert session.answer(None)
    head = session.take_output()
    assert head.startswith(b"HTTP/1.1 101 ")
    ws = tri.WebSocket(stream, session)
    _SERVED.append(ws)
    ws._start(nursery)
    await trio.testing.wait_all_tasks_blocked()
    assert ws._writer is None and ws.state.name == "OPEN"
    return ws, Peer(theirs)


def run(body: Callable[[trio.Nursery], Awaitable[None]]) -> None:
    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await body(nursery)
                for ws in _SERVED:
                    ws._abort()
                nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        while _HELD:
            _HELD.pop().close()
        _SERVED.clear()


def fill(sock: socket.socket) -> int:
    """Write junk to *sock* until it takes no more; return how much it took."""
    total = 0
    while True:
        try:
            total += os.write(sock.fileno(), b"\x00" * 65536)
        except BlockingIOError:
            return total


# -- the fast path, and each of its conditions removed ---------------------------------------


def test_an_idle_socket_gets_the_frame_before_broadcast_returns() -> None:
    async def body(nursery: trio.Nursery) -> None:
        pairs = [await open_ws(nursery) for _ in range(3)]
        result = tri.broadcast([ws for ws, _ in pairs], "héllo")
        assert result == tri.BroadcastResult(3, {})
        for ws, peer in pairs:  # no checkpoint yet: written by this task
            assert peer.now() == b"\x81\x06h\xc3\xa9llo"
            assert ws._writer is None  # and no writer task was started
            assert ws._session.output_size == 0
        client = Connection(Role.CLIENT, handshake=False)
        assert tri.broadcast([pairs[0][0]], b"\x00\xff").sent == 1
        client.receive_data(pairs[0][1].now())
        assert list(client.events()) == [BinaryMessage(b"\x00\xff")]

    run(body)


def test_the_core_s_queued_output_goes_first_in_the_same_write() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery)
        ws._conn.send(Ping(b"p"))  # queued in the core, not taken by the session yet
        assert tri.broadcast([ws], "after") == tri.BroadcastResult(1, {})
        assert peer.now() == b"\x89\x01p" + frame("after")

    run(body)


async def start_ws(nursery: trio.Nursery, stream: Any) -> tri.WebSocket:
    """An open server WebSocket on *stream* (its handshake done here), idle."""
    settings = Settings.create("test.server", {**FAST, "compression": False})
    session = Session(Role.SERVER, settings)
    session.receive_data(UPGRADE)
    session.process(trio.current_time())
    assert session.answer(None)
    session.take_output()
    ws = tri.WebSocket(stream, session)
    _SERVED.append(ws)
    ws._start(nursery)
    await trio.testing.wait_all_tasks_blocked()
    return ws


def test_a_tls_stream_is_written_by_its_writer(tls_files: tuple[Path, Path]) -> None:
    """TLS over a socket: the socket must get ciphertext, which only the
    stream's ``send_all`` makes; a plaintext write would break the peer's TLS."""
    server_ctx, client_ctx = tls_contexts(tls_files)

    async def body(nursery: trio.Nursery) -> None:
        ours, theirs = socket.socketpair()
        server = trio.SSLStream(
            trio.SocketStream(trio.socket.from_stdlib_socket(ours)), server_ctx, server_side=True
        )
        _HELD.append(theirs)
        client = trio.SSLStream(
            trio.SocketStream(trio.socket.from_stdlib_socket(theirs)),
            client_ctx,
            server_hostname="127.0.0.1",
        )
        async with trio.open_nursery() as handshakes:
            handshakes.start_soon(server.do_handshake)
            handshakes.start_soon(client.do_handshake)
        ws = await start_ws(nursery, server)
        assert tri.broadcast([ws], "x") == tri.BroadcastResult(1, {})
        assert ws._writer is not None  # a writer task encrypts and writes it
        with trio.fail_after(5):
            assert await client.receive_some(100) == frame("x")

    run(body)


def test_a_stream_that_is_not_a_socket_stream_is_written_by_its_writer() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ours, theirs = trio.testing.memory_stream_pair()
        ws = await start_ws(nursery, ours)
        assert tri.broadcast([ws], "x") == tri.BroadcastResult(1, {})
        assert ws._writer is not None  # a writer task writes it
        with trio.fail_after(5):
            assert await theirs.receive_some(100) == frame("x")

    run(body)


def test_without_os_write_the_writer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tri, "_WRITE_NOW", False)  # as on Windows

    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery)
        assert tri.broadcast([ws], "x") == tri.BroadcastResult(1, {})
        assert peer.now() == b"" and ws._writer is not None
        assert await peer.exactly(3) == frame("x")

    run(body)


def test_output_queued_in_the_session_is_not_overtaken() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery)
        assert ws._session.send(TextMessage("first"))  # queued; no writer has run yet
        assert tri.broadcast([ws], "second") == tri.BroadcastResult(1, {})
        # The checked way: queued behind "first", and both written at once, in
        # order, by the calling task (no writer task runs: see _write_now).
        assert peer.now() == frame("first") + frame("second")
        assert ws._writer is None

    run(body)


def test_a_write_in_progress_is_not_interleaved_with() -> None:
    """The writer task is inside ``send_all`` (the peer reads nothing): a
    broadcast's frame goes after the whole message, never inside it."""

    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery, sndbuf=4096, write_limit=1 << 20)
        big = bytes(range(256)) * 2000  # 512,000 bytes: far more than the socket takes
        nursery.start_soon(ws.send, big)
        await trio.testing.wait_all_tasks_blocked()
        assert ws._session._held > 0 and ws._write_scope is not None  # blocked in send_all
        # The peer reads: the socket could take more now, but the writer task
        # has not run since, and is still inside send_all.
        start = peer.now()
        assert 0 < len(start) < len(frame(big))
        assert tri.broadcast([ws], "news") == tri.BroadcastResult(1, {})
        assert start + await peer.exactly(len(frame(big)) - len(start)) == frame(big)
        assert await peer.exactly(6) == frame("news")

    run(body)


@pytest.mark.parametrize("why", ["aborted", "must abort", "closing", "finished"])
def test_what_is_not_open_is_skipped_and_nothing_is_written(why: str) -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery)
        if why == "aborted":  # e.g. a write failed; the reader has not closed the stream yet
            ws._abort()
        elif why == "must abort":  # a clock expired; the reader aborts next
            ws._session.must_abort = True
        elif why == "closing":  # our close frame is sent: the core is CLOSING
            ws._session.start_close(1000, "")
            ws._after()
            assert await peer.exactly(4) == b"\x88\x02\x03\xe8"
        else:
            ws._abort()
            await ws.wait_closed()
        assert tri.broadcast([ws], "x") == tri.BroadcastResult(0, {ws: SkipReason.NOT_OPEN})
        await trio.testing.wait_all_tasks_blocked()
        assert peer.now() == b""

    run(body)


@pytest.mark.parametrize("started", [False, True])
def test_a_fragmented_message_is_not_interrupted(started: bool) -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery)
        ws._session.sending_fragments = True  # send_fragments() waits for its first part
        if not started:  # nothing to interrupt yet: the frame goes out
            assert tri.broadcast([ws], "x") == tri.BroadcastResult(1, {})
            assert peer.now() == frame("x")
            return
        assert ws._session.send(TextMessage("a", final=False))
        ws._after()
        assert await peer.exactly(3) == b"\x01\x01a"
        result = tri.broadcast([ws], "x")
        assert result == tri.BroadcastResult(0, {ws: SkipReason.FRAGMENTING})
        await trio.testing.wait_all_tasks_blocked()
        assert peer.now() == b""

    run(body)


def test_write_limit_skip_reasons_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output waiting over write_limit: BUSY; at the limit: queued behind it.

    (The output is made to wait for the writer tasks: with direct writes, the
    bytes put in the session here would go at once.)"""
    monkeypatch.setattr(tri, "_WRITE_NOW", False)

    async def body(nursery: trio.Nursery) -> None:
        (busy, busy_peer), (full, full_peer) = [
            await open_ws(nursery, write_limit=100) for _ in range(2)
        ]
        busy._session.unwritten(b"\x82\x63" + b"b" * 99)  # 101 bytes wait
        full._session.unwritten(b"\x82\x62" + b"f" * 98)  # 100 bytes wait
        busy._wake_writer()  # (no checkpoint before the broadcast: the writers wait)
        full._wake_writer()
        result = tri.broadcast([busy, full], "x")
        assert result == tri.BroadcastResult(1, {busy: SkipReason.BUSY})
        assert full_peer.now() == b""  # behind what waits, for the writer
        assert await full_peer.exactly(103) == b"\x82\x62" + b"f" * 98 + frame("x")
        assert await busy_peer.exactly(101) == b"\x82\x63" + b"b" * 99
        await trio.testing.wait_all_tasks_blocked()
        assert busy_peer.now() == b""

    run(body)


def test_a_client_connection_gets_its_own_masked_frame() -> None:
    """A client masks every frame (RFC 6455 §5.3): the shared frame cannot go,
    and the message is sent for it alone, by its writer."""
    from wsproto_lite.adapters import _common

    async def body(nursery: trio.Nursery) -> None:
        ours, theirs = socket.socketpair()
        settings = Settings.create("test.client", {**FAST, "compression": False})
        _, _, session = _common.client_session(
            "ws://example.com/", None, None, None, None, settings
        )
        server = Connection(Role.SERVER)
        server.receive_data(session.take_output())
        (_request,) = server.events()
        server.send(Accept())
        session.receive_data(server.data_to_send())
        session.process(trio.current_time())
        session.client_result()
        ws = tri.WebSocket(trio.SocketStream(trio.socket.from_stdlib_socket(ours)), session)
        _SERVED.append(ws)
        ws._start(nursery)
        await trio.testing.wait_all_tasks_blocked()
        peer = Peer(theirs)
        assert tri.broadcast([ws], "x") == tri.BroadcastResult(1, {})
        data = await peer.exactly(7)  # not the shared frame: its own
        assert data[:2] == b"\x81\x81"  # masked
        server.receive_data(data)
        assert list(server.events()) == [TextMessage("x")]

    run(body)


# -- what the socket does not take -----------------------------------------------------------


def test_a_partial_write_hands_the_rest_to_the_writer_in_order() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery, sndbuf=4096, write_limit=1 << 20)
        big = "é" * 100_000  # 200,000 bytes of text
        assert tri.broadcast([ws], big) == tri.BroadcastResult(1, {})
        first = peer.now()  # what the socket took at once
        assert 0 < len(first) < len(frame(big))
        assert first == frame(big)[: len(first)]
        assert ws._session.output_size > 0 and ws._writer is not None
        await ws.send("after")  # queued behind the rest
        assert tri.broadcast([ws], "again").sent == 1  # output waits: not written now
        rest = await peer.exactly(len(frame(big)) - len(first) + 7 + 7)
        assert first + rest == frame(big) + frame("after") + frame("again")
        client = Connection(Role.CLIENT, handshake=False, max_message_size=None)
        client.receive_data(first + rest)
        assert list(client.events()) == [
            TextMessage(big),
            TextMessage("after"),
            TextMessage("again"),
        ]

    run(body)


def test_what_the_sockets_did_not_take_is_one_shared_frame_not_copies() -> None:
    """Slow peers hold views of the one frame: 10,000 of them must not hold
    10,000 copies of a large message."""

    async def body(nursery: trio.Nursery) -> None:
        pairs = [await open_ws(nursery, sndbuf=4096, write_limit=1 << 20) for _ in range(3)]
        big = b"\x07" * 300_000
        assert tri.broadcast([ws for ws, _ in pairs], big) == tri.BroadcastResult(3, {})
        rests = [ws._session._out for ws, _ in pairs]
        assert all(len(rest) == 1 and isinstance(rest[0], memoryview) for rest in rests)
        frames = {id(rest[0].obj) for rest in rests}  # type: ignore[union-attr]
        assert len(frames) == 1  # the same bytes object under every view
        for _, peer in pairs:
            assert await peer.exactly(len(frame(big))) == frame(big)

    run(body)


def test_a_socket_that_takes_nothing_hands_everything_to_the_writer() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery, sndbuf=4096)
        junk = fill(ws._stream.socket)  # the socket's buffer is full
        assert tri.broadcast([ws], "x") == tri.BroadcastResult(1, {})
        assert ws._session.output_size == 3 and ws._writer is not None
        assert await peer.exactly(junk) == b"\x00" * junk
        assert await peer.exactly(3) == frame("x")

    run(body)


# -- send() writes at once too ------------------------------------------------------------------


def test_send_to_an_idle_socket_writes_before_it_returns() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery)
        await ws.send("x")
        assert peer.now() == frame("x") and ws._writer is None  # no task was needed
        await ws.send(b"\x01" * 200)
        assert peer.now() == frame(b"\x01" * 200) and ws._writer is None

    run(body)


def test_send_hands_what_the_socket_does_not_take_to_the_writer_in_order() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery, sndbuf=4096, write_limit=1 << 20)
        big = b"\x05" * 200_000
        await ws.send(big)  # under write_limit: returns at once
        first = peer.now()
        assert 0 < len(first) < len(frame(big)) and ws._writer is not None
        await ws.send("after")  # behind the rest, for the writer
        rest = await peer.exactly(len(frame(big)) - len(first) + 7)
        assert first + rest == frame(big) + frame("after")

    run(body)


def test_send_over_write_limit_waits_until_the_peer_reads() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery, sndbuf=4096, write_limit=1000)
        big = b"\x05" * 100_000
        done = trio.Event()

        async def sender() -> None:
            await ws.send(big)
            done.set()

        nursery.start_soon(sender)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()  # over write_limit while the peer reads nothing
        assert await peer.exactly(len(frame(big))) == frame(big)
        with trio.fail_after(5):
            await done.wait()

    run(body)


def test_without_os_write_send_uses_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tri, "_WRITE_NOW", False)  # as on Windows

    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery)
        await ws.send("x")
        assert ws._writer is not None  # started for it (send()'s checkpoint may let it write)
        assert await peer.exactly(3) == frame("x")

    run(body)


def test_a_send_loop_to_a_socket_that_takes_everything_still_lets_other_tasks_run() -> None:
    """send() is a checkpoint even when every write goes to the socket at once:
    a loop of them to a fast peer must not starve the other tasks (nor the
    connection's own reader, nor a timeout)."""

    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery, sndbuf=1 << 20, write_limit=1 << 20)
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await trio.sleep(0)

        nursery.start_soon(heartbeat)
        await trio.sleep(0)
        start = ticks
        for _ in range(200):
            await ws.send(b"\x01" * 50)
        assert ticks - start >= 100  # the heartbeat ran between the sends
        assert await peer.exactly(200 * 52) == frame(b"\x01" * 50) * 200

    run(body)


def test_a_cancelled_send_queues_nothing() -> None:
    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery)
        with trio.CancelScope() as scope:
            scope.cancel()
            await ws.send("x")
        assert scope.cancelled_caught and peer.now() == b""
        await ws.send("y")
        assert await peer.exactly(3) == frame("y")

    run(body)


def test_a_peer_that_reads_nothing_is_failed_after_close_timeout_without_keepalive() -> None:
    """The output blocks while the writer task, or the sender's own direct
    write, fills the socket; the reader, waiting without a deadline (no
    keepalive), must start the output's clock all the same."""

    async def body(nursery: trio.Nursery) -> None:
        ws, _peer = await open_ws(nursery, sndbuf=4096, write_limit=1000, close_timeout=0.5)
        with trio.fail_after(5), pytest.raises(tri.ConnectionClosed):
            while True:
                await ws.send(b"\x00" * 1000)
        assert (ws.close_code, ws.close_reason) == (1011, "the peer does not read")

    run(body)


# -- a peer that is gone -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["closed", "stopped reading"])
def test_a_failed_write_on_the_fast_path_fails_the_connection_as_the_writer_does(
    how: str,
) -> None:
    """The write fails (EPIPE): broadcast() raises nothing, reports the
    connection NOT_OPEN (nothing reached the peer), and the connection ends as
    after a failed write of its writer task; the other connections are served."""

    async def body(nursery: trio.Nursery) -> None:
        (gone, gone_peer), (other, other_peer), (by_writer, writer_peer) = [
            await open_ws(nursery) for _ in range(3)
        ]
        if how == "closed":
            gone_peer.sock.close()
        else:  # (a peer that stopped reading, but did not close: no end of input either)
            gone_peer.sock.shutdown(socket.SHUT_RD)
            writer_peer.sock.shutdown(socket.SHUT_RD)
        result = tri.broadcast([gone, other], "x")  # no checkpoint since then
        assert result == tri.BroadcastResult(1, {gone: SkipReason.NOT_OPEN})
        assert other_peer.now() == frame("x")
        with trio.fail_after(5):
            await gone.wait_closed()
        assert gone.close_code == 1006
        assert other.state.name == "OPEN"
        if how == "closed":
            return
        # The same failure through the writer task (send()):
        await by_writer.send("x")
        with trio.fail_after(5):
            await by_writer.wait_closed()
        assert (gone.close_code, gone.close_reason) == (
            by_writer.close_code,
            by_writer.close_reason,
        )

    run(body)


def test_a_tcp_peer_that_reset_the_connection() -> None:
    """Over TCP, a peer that reset the connection (SO_LINGER 0): the same."""
    import struct

    conns: list[tri.WebSocket] = []

    async def handler(ws: tri.WebSocket) -> None:
        conns.append(ws)
        await ws.wait_closed()

    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                server = await nursery.start(
                    lambda task_status: tri.serve(
                        handler, "127.0.0.1", 0, task_status=task_status, **FAST
                    )
                )
                sock = socket.create_connection(("127.0.0.1", server.port))
                sock.sendall(UPGRADE)
                with trio.fail_after(5):
                    while not conns:
                        await trio.sleep(0.005)
                ws = conns[0]
                await trio.testing.wait_all_tasks_blocked()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()  # an RST, not a FIN
                # Until the server's socket has it (without a checkpoint: the
                # reader must not see it first).
                poll = select.poll()
                poll.register(ws._stream.socket.fileno(), select.POLLIN)
                for _ in range(5000):
                    if any(ev & select.POLLERR for _, ev in poll.poll(1)):
                        break
                else:  # pragma: no cover
                    raise AssertionError("the reset did not arrive")
                result = tri.broadcast([ws], "x")
                assert result == tri.BroadcastResult(0, {ws: SkipReason.NOT_OPEN})
                await ws.wait_closed()
                assert ws.close_code == 1006
                nursery.cancel_scope.cancel()

    trio.run(main)


# -- interleavings ---------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["send", "broadcast", "checkpoint", "read"]),
        st.one_of(
            st.text(max_size=20), st.binary(max_size=20), st.binary(min_size=5000, max_size=70_000)
        ),
    ),
    max_size=12,
)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=OPS, sndbuf=st.sampled_from([4096, 1 << 20]))
def test_interleaved_send_and_broadcast_put_the_sequential_bytes_on_the_wire(
    ops: list[tuple[str, str | bytes]], sndbuf: int
) -> None:
    """Whatever the mix of ``send()``, ``broadcast()``, checkpoints (the writer
    runs) and reads by the peer (the socket takes more), the wire carries the
    messages in the order they were sent, each whole: as sequential sends."""
    expected = b"".join(frame(data) for op, data in ops if op in ("send", "broadcast"))

    async def body(nursery: trio.Nursery) -> None:
        ws, peer = await open_ws(nursery, sndbuf=sndbuf, write_limit=1 << 22)
        got = b""
        for op, data in ops:
            if op == "send":
                await ws.send(data)  # queued, then its writer writes it
            elif op == "broadcast":
                assert tri.broadcast([ws], data) == tri.BroadcastResult(1, {})
            elif op == "checkpoint":
                await trio.lowlevel.checkpoint()
            else:
                got += peer.now()
        got += await peer.exactly(len(expected) - len(got))
        assert got == expected
        await trio.testing.wait_all_tasks_blocked()
        assert peer.now() == b""

    run(body)
