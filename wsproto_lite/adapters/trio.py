"""WebSocket clients and servers on trio.

The adapter moves bytes between a :class:`trio.abc.Stream` and a
:class:`~wsproto_lite.Connection` and owns time: the opening and closing
timeouts and the keepalive pings. Every protocol decision is the core's, and
what the three adapters share lives in one sans-I/O session.

A server runs until it is cancelled, then shuts down gracefully (every
connection is closed with 1001)::

    import trio

if TYPE_CHECKING:
    from typing_extensions import Unpack
    from wsproto_lite.adapters.trio import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    trio.run(serve, echo, "127.0.0.1", 8765)

``nursery.start(serve, ...)`` returns once the server listens, with a
:class:`Server` that knows its port. A client::

    from wsproto_lite.adapters.trio import connect

    async with connect("ws://127.0.0.1:8765/") as ws:
        await ws.send("hello")
        print(await ws.recv())

Tasks
    Every connection has a reader task, and a writer task while there is
    something to write that its socket could not take at once, in a
    nursery: the one :func:`connect` opens, the server's, or the one given
    to :func:`connect_websocket`. The reader feeds the sans-I/O session and
    runs its clocks. On a plain :class:`trio.SocketStream` (POSIX), what the
    session queues is written to the socket by the task that queued it, as
    much as the socket takes at once (trio's sockets are non-blocking); the
    writer task writes the rest, and everything over TLS or other streams.
    A received message waits for the application, and what follows it is
    parsed when the application asks for the next one, so that its answer
    goes out before, say, the reply to a close frame that came next.
    Meanwhile the reader keeps up to ``max_queue`` × 64 KiB of bytes, then
    stops reading, so TCP slows down a peer that sends faster than the
    application reads. :meth:`WebSocket.send` returns once at most
    ``write_limit`` bytes wait to be written, so a peer that does not read
    blocks the sender instead of growing its memory.

Cancellation
    Cancelling :meth:`WebSocket.recv` loses nothing, nor does cancelling a
    send while it waits: the message is queued whole.
"""

from __future__ import annotations

import errno
import math
import os
import ssl as ssl_module
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, cast

import trio

from .._connection import Connection, Role
from .._errors import LocalProtocolError
from .._events import Accept, Close, Handshake, HTTPRequest, Reject
from .._prepared import PreparedMessage
from .._states import ConnectionState
from . import _broadcast, _common, _session
from ._broadcast import BroadcastResult, SkipReason
from ._errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    WebSocketError,
)
from ._options import Options, Settings
from ._session import Part, Session

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "BroadcastResult",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "InvalidHandshake",
    "InvalidURI",
    "PongWaiter",
    "Server",
    "SkipReason",
    "WebSocket",
    "WebSocketError",
    "broadcast",
    "connect",
    "connect_websocket",
    "serve",
]

#: A message: ``str`` for text, ``bytes`` for binary.
Data = str | bytes
#: What ``process_request`` may return (``None``: the default answer).
Answer = Accept | Reject | None
#: The ``process_request`` hook: called with the request, sync or async.
ProcessRequest = Callable[[Handshake | HTTPRequest], Answer | Awaitable[Answer]]
#: The connection handler.
Handler = Callable[["WebSocket"], Awaitable[Any]]

_OPEN = ConnectionState.OPEN
# One receive_some() per 64 KiB: large enough for throughput, small enough that
# a streamed message part stays small.
_RECV_SIZE = 1 << 16
# An open connection reads 16 KiB at a time: each receive_some() allocates
# that much and shrinks it to what came, and under load (1,000 busy
# connections) 64 KiB reads left the heap about 10 MiB larger at its peak.
_READ_SIZE = 1 << 14
# What a stream raises once the peer or this side closed it.
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)
# Seconds a connection's writer task waits for more output before it ends
# (an idle connection then holds no writer; the next output starts one).
_WRITER_IDLE = 1.0
# broadcast() writes to a plain trio.SocketStream's socket without a task,
# with os.write() on its descriptor: on POSIX a socket is a file (Windows'
# sockets are not, and take the writer's way).
_WRITE_NOW = os.name == "posix"
# accept() errors that mean "out of resources, try again soon" rather than a bug.
_ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


def _deadline(timeout: float | None) -> float:
    return math.inf if timeout is None else trio.current_time() + timeout


def _address(stream: trio.abc.Stream, peer: bool) -> Any:
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    try:
        sock: Any = getattr(stream, "socket", None)
        return sock.getpeername() if peer else sock.getsockname()
    except (AttributeError, OSError):  # pragma: no cover - not a socket, or gone
        return None


async def _close_stream(stream: trio.abc.Stream) -> None:
    """Close *stream* at once, whatever state it is in.

    The TCP stream underneath is closed first: that wakes a task blocked in
    ``send_all`` (with ClosedResourceError) before the TLS layer, which such a
    task may hold, is asked to close.
    """
    inner: trio.abc.Stream = stream
    while isinstance(inner, trio.SSLStream):
        inner = inner.transport_stream
    if inner is not stream:
        await trio.aclose_forcefully(inner)
    with suppress(*_STREAM_ERRORS, trio.BusyResourceError):
        await trio.aclose_forcefully(stream)


async def _handshake_io(stream: trio.abc.Stream, session: Session, eof_on_error: bool) -> None:
    """Write what the core queued, then read until the handshake has an outcome.

    With *eof_on_error* a broken stream counts as the end of the input (the
    core then reports how the handshake failed); otherwise its error is raised.
    """
    if session.has_output:
        await stream.send_all(session.take_output())
    while True:
        session.process(trio.current_time())
        if session.handshake_done:
            return
        try:
            data = await stream.receive_some(_RECV_SIZE)
        except _STREAM_ERRORS:
            if not eof_on_error:
                raise
            data = b""
        session.receive_data(data)


class PongWaiter(_common.AwaitablePongWaiter):
    """What :meth:`WebSocket.ping` returns: await it for the round trip in seconds.

    ::

        pong = await ws.ping()
        latency = await pong

    Awaiting raises :class:`ConnectionClosed` if the connection closed before
    the pong arrived.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(trio.Event())


class WebSocket(_common.AsyncWebSocketBase[PongWaiter]):
    """An open WebSocket connection, on either side.

    Servers pass one to their handler; :func:`connect` gives one. Messages
    are ``str`` (text) or ``bytes`` (binary).

    Not meant to be instantiated directly.
    """

    __slots__ = (
        "__weakref__", "_conn", "_drained", "_finished", "_items", "_local_address", "_nudged",
        "_nursery", "_reader_scope", "_remote_address", "_session", "_stream", "_wait_scope",
        "_write_scope", "_writer",
    )  # fmt: skip
    _Lock = trio.Lock
    _PongWaiter = PongWaiter
    _now = staticmethod(trio.current_time)

    def __init__(self, stream: trio.abc.Stream, session: Session) -> None:
        self._stream = stream
        self._session = session
        self._conn = session.conn
        self._remote_address = _address(stream, peer=True)
        self._local_address = _address(stream, peer=False)
        # Receivers wait here for parts, and closers for the end (_finished).
        self._items = trio.lowlevel.ParkingLot()
        # Senders wait here while the output is blocked (made when one must).
        self._drained: trio.lowlevel.ParkingLot | None = None
        # The writer task, while it runs: it is started when there is output,
        # and ends after a second without any (an idle connection holds none).
        self._writer: trio.lowlevel.ParkingLot | None = None
        self._nursery: trio.Nursery | None = None
        self._recv_active = False
        self._streaming = None  # the current recv_streaming()
        self._finished = False  # the reader is done and the stream closed
        self._send_lock = None
        # Created now so that an abort before the tasks start still counts.
        # When the nursery is cancelled, the reader closes the connection (it
        # must read the peer's reply), shielded; _abort() stops it.
        self._reader_scope = trio.CancelScope()
        self._write_scope: trio.CancelScope | None = None  # one write (shielded)
        self._wait_scope: trio.CancelScope | None = None  # the reader's wait
        self._nudged = False

    def _start(self, nursery: trio.Nursery) -> None:
        """Start the reader task in *nursery* (the writer starts there when needed)."""
        self._nursery = nursery
        nursery.start_soon(self._run_reader, name=f"wsproto_lite reader {self._remote_address}")
        self._wake_writer()

    # -- receiving ----------------------------------------------------------------

    async def _next_part(self) -> Part:
        """Take the next message part, parsing on or waiting for one if needed."""
        session = self._session
        while True:
            part = session.take_part(trio.current_time())
            if part is not None:
                return part
            if session.has_unparsed and self._parse_here():  # it asks for more: parse on
                continue
            if self._finished:
                raise session.closed_exception()
            await self._items.park()

    def _parse_here(self) -> bool:
        """Parse in this task; wake the writer and the reader for what follows.

        Returns whether a part (or the close) arrived.
        """
        session = self._session
        if self._finished:
            return False
        woke = session.process(trio.current_time())
        self._after()
        return woke

    def _after(self) -> None:
        """Something happened to the session outside the reader: the writer
        writes what it queued, the reader looks at its state and clocks again."""
        self._wake_writer()
        self._nudged = True
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    # -- sending ------------------------------------------------------------------

    async def send(self, message: Data | bytearray | memoryview) -> None:
        """Send a whole message: ``str`` as text, ``bytes``-like as binary.

        What the socket takes at once is written now, the rest by the
        connection's writer task (see *Tasks* above); this waits while more
        than ``write_limit`` bytes wait to be written, so it waits while the
        peer does not read. Cancelling the wait loses nothing: the message is
        queued whole. A message being sent with :meth:`send_fragments` is
        finished first.

        :raises ConnectionClosed: the connection is closing or closed.
        :raises TypeError: *message* is neither ``str`` nor bytes-like.
        """
        event = _session.message_event(message)
        lock = self._send_lock
        if lock is None:
            await self._send_one(event)
        else:
            async with lock:
                await self._send_one(event)

    async def _send(self, queue: Callable[[], bool]) -> None:
        """Queue an event with *queue* (``False``: the connection is not open),
        hand it to the socket or the writer, and wait while the output is blocked.

        A checkpoint, as trio's own sends are: cancelled before, it queues
        nothing; and it lets other tasks run even when every write goes to the
        socket at once (a send loop to a fast peer would otherwise never yield).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        session = self._session
        if not queue():
            # A closing handshake under way ends within close_timeout; waiting
            # for it gives the exception its real code.
            with trio.move_on_at(_deadline(session.settings.close_timeout)):
                await self.wait_closed()
            raise session.closed_exception()
        self._wake_writer()
        if not session.output_blocked:
            await trio.lowlevel.cancel_shielded_checkpoint()
        else:
            # The reader runs the output's clock (a peer that reads nothing is
            # failed after close_timeout): it may be waiting without a deadline.
            self._after()
            while session.output_blocked and not self._finished:
                if self._drained is None:
                    self._drained = trio.lowlevel.ParkingLot()
                await self._drained.park()
            if self._finished:  # what was sent may never have left
                raise session.closed_exception()

    def _fail(self, code: int, reason: str) -> None:
        """Close at once with *code*, without waiting for the peer's reply."""
        self._session.fail(code, reason)
        self._after()

    # -- closing ------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the connection is closed.

        Sends a close frame with *code* and *reason* (unless a close is already
        under way), waits for the peer's reply and the end of the TCP
        connection, at most ``close_timeout`` seconds after which the stream
        is closed anyway. Safe to call more than once. If ``close()`` is
        cancelled, the connection is aborted. Messages received before the
        close can still be read with :meth:`recv`; those that arrive after the
        first ``max_queue`` ones are dropped rather than holding up the peer's
        reply.

        :raises LocalProtocolError: *code* or *reason* cannot be sent (e.g.
            1005, 1006, or a reason over 123 bytes).
        """
        Close(code, reason)  # checks the reason before anything is sent
        try:
            self._begin_close(code, reason)
            await self.wait_closed()  # the reader's clock ends it within close_timeout
        except LocalProtocolError:
            raise  # the core refused the code: nothing was sent
        except BaseException:
            self._abort()
            with trio.CancelScope(shield=True):
                await self.wait_closed()  # an abort makes this quick
            raise

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (the TCP connection included)."""
        while not self._finished:
            await self._items.park()

    def _begin_close(self, code: int, reason: str) -> None:
        if not self._finished:
            self._session.start_close(code, reason)
            # Parse on past unread messages: the peer's reply may wait behind them.
            self._parse_here()

    def _abort(self) -> None:
        """Stop the reader, which closes the stream (and stops the writer)."""
        self._session.aborted = self._session.closing = True
        self._reader_scope.cancel()

    # -- the reader and writer tasks -----------------------------------------------

    async def _run_reader(self) -> None:
        try:
            try:
                with self._reader_scope:
                    await self._read_loop()
            except trio.Cancelled:
                if self._reader_scope.cancel_called:
                    raise  # aborted
                # The nursery is cancelled: close (1000), as ``async with
                # connect(...)`` and a server that stops expect, within
                # close_timeout; shielded, since the peer's reply must be read.
                self._reader_scope = trio.CancelScope(shield=True)
                with self._reader_scope:
                    self._begin_close(1000, "")
                    await self._read_loop()
                raise
        except Exception:  # pragma: no cover - a bug; say so rather than hang
            self._session.logger.exception("the WebSocket reader failed")
        finally:
            with trio.CancelScope(shield=True):
                await self._finish()

    async def _read_loop(self) -> None:
        """Feed the session what the stream brings, and run its clocks."""
        session, stream = self._session, self._stream
        while True:
            self._nudged = False
            now = trio.current_time()
            woke = session.process(now)
            ticked, deadline = session.tick(now)  # keepalive, timeouts, the answer time
            if woke or ticked:
                self._items.unpark_all()
            self._wake_writer()
            if session.must_abort:
                return
            if self._nursery is None and self._writer is None and session.has_output:
                # No writer can start (the nursery is closing): write here,
                # within the clock's deadline.
                try:
                    with trio.move_on_at(math.inf if deadline is None else deadline):
                        await self._write(session.take_output(), shield=False)
                except _STREAM_ERRORS as exc:
                    session.logger.debug("write failed: %r", exc)
                    return
                continue
            closing = session.should_close_transport
            if closing and not session.output_size:
                return  # written out (the writer looked): the stream closes
            with trio.CancelScope(deadline=math.inf if deadline is None else deadline) as wait:
                self._wait_scope = wait
                if self._nudged:
                    wait.cancel()
                if closing or session.reading_paused:
                    # Until the writer is done, the application parses on, or a clock.
                    await trio.sleep_forever()
                try:
                    data = await stream.receive_some(_READ_SIZE)
                except _STREAM_ERRORS as exc:
                    session.logger.debug("read failed: %r", exc)
                    data = b""
                session.receive_data(data)
            self._wait_scope = None

    def _wake_writer(self) -> None:
        """Have the writer write what the session queued; start it if it does not
        run (after writing what the socket takes at once, when that can be done
        here: see :meth:`_write_now`)."""
        session = self._session
        if not session.has_output or session.aborted:
            return
        if self._writer is not None:
            self._writer.unpark_all()
            return
        if _WRITE_NOW and type(self._stream) is trio.SocketStream and not session._held:
            self._write_now()
            if not session.has_output or session.aborted:
                return
        if self._nursery is not None:
            self._writer = trio.lowlevel.ParkingLot()
            try:
                self._nursery.start_soon(self._run_writer)
            except RuntimeError:  # the nursery is closing: the reader writes
                self._writer = self._nursery = None
                self._after()

    def _write_now(self) -> None:
        """Write the session's output to the socket from this task, as much as
        it takes at once; what it does not take waits for the writer task.

        Only with no writer task and nothing being written (``_held``), on a
        plain :class:`trio.SocketStream` (trio's sockets are non-blocking):
        an idle connection then needs no task to send a message, which costs
        more than the write itself. A failed write fails the connection as
        one of the writer task's does.
        """
        session = self._session
        data = session.take_output()
        try:
            written = os.write(cast(trio.SocketStream, self._stream).socket.fileno(), data)
        except (BlockingIOError, NotImplementedError):  # (the latter: a custom socket
            written = 0  # class without a descriptor; the writer task writes for it)
        except OSError as exc:
            session.logger.debug("write failed: %r", exc)
            self._abort()
            return
        if written < len(data):
            session.unwritten(memoryview(data)[written:])  # first, for the writer
        elif session.output_blocked:
            session.transport_holds(0, trio.current_time())  # it all went: unblocked
            if self._drained is not None and not session.output_blocked:
                self._drained.unpark_all()

    async def _run_writer(self) -> None:
        """Write what the session queues, in pieces, telling it how much is left.

        Ends after :data:`_WRITER_IDLE` seconds without output, and at the end
        of the connection.
        """
        session = self._session
        lot = self._writer
        assert lot is not None
        try:
            while not session.aborted:
                if not session.has_output:
                    if session.should_close_transport:
                        self._after()  # written out: the reader closes the stream
                    with trio.move_on_after(_WRITER_IDLE) as idle:
                        await lot.park()
                    if idle.cancelled_caught and not session.has_output:
                        return
                    continue
                await self._write(session.take_output())
        except _STREAM_ERRORS as exc:
            session.logger.debug("write failed: %r", exc)
            self._abort()
        finally:
            self._writer = None
            if session.has_output and not session.aborted:
                # Cancelled with the nursery, output left: another writer, or
                # the reader, takes it.
                self._after()

    async def _write(self, output: bytes | memoryview, shield: bool = True) -> None:
        """Write *output*, in pieces, telling the session how much is left.

        Each piece is written *shield*-ed: a write cut short by a cancellation
        would leave half a frame on the stream (_finish() stops it).
        """
        session, stream = self._session, self._stream
        data = memoryview(output)
        blocked = session.output_blocked
        for start in range(0, len(data), _RECV_SIZE):
            session.transport_holds(len(data) - start, trio.current_time())
            if session.output_blocked and not blocked:
                blocked = True
                self._after()  # the reader runs the output's clock
            with trio.CancelScope(shield=shield) as self._write_scope:
                await stream.send_all(data[start : start + _RECV_SIZE])
            self._write_scope = None
        session.transport_holds(0, trio.current_time())
        if not session.output_blocked and self._drained is not None:
            self._drained.unpark_all()
        if blocked:
            self._after()

    async def _finish(self) -> None:
        """Close the stream and wake everyone who waits (the reader's last act)."""
        self._session.aborted = True  # nothing more is written
        if self._write_scope is not None:
            self._write_scope.cancel()
        if self._writer is not None:
            self._writer.unpark_all()
        await _close_stream(self._stream)
        self._session.transport_closed()
        self._finished = True
        self._items.unpark_all()
        if self._drained is not None:
            self._drained.unpark_all()


# -- broadcast ----------------------------------------------------------------------


def broadcast(
    connections: Iterable[WebSocket],
    message: Data | bytearray | memoryview,
    *,
    compress: bool = False,
) -> BroadcastResult[WebSocket]:
    """Send *message* to every connection that can take it now; never wait.

    The message is encoded and framed once, and the same bytes go to every
    open connection with at most ``write_limit`` bytes waiting for its
    stream. On POSIX, a connection over a plain :class:`trio.SocketStream`
    (a server's TCP connections without TLS) that has nothing waiting to be
    written, and is not being written to, gets the bytes written to its
    socket at once, by the calling task, without blocking; what its socket
    does not take goes to the connection's writer task. Every other
    connection (TLS, other streams, output already waiting) has the bytes
    queued behind what waits, for its writer task, which writes them at its
    next turn (``send_all`` waits for the peer, which a broadcast must not).
    A connection that cannot take the message now is skipped, not waited
    for, and reported with the reason::

        result = broadcast(server.connections, "news")
        for ws, reason in result.skipped.items():
            log.warning("%s missed the news: %s", ws.remote_address, reason.value)

    A plain function, not a coroutine. Each connection that takes the message
    receives it whole, after whatever was sent on it before. A peer that does
    not read makes its connection's writer wait; the bytes for it (at most
    ``write_limit`` plus one message) wait with it, and later broadcasts skip
    it as ``BUSY``. A socket that fails as the message is written to it (the
    peer reset the connection) fails the connection, as a failed write of
    its writer task does, and is reported ``NOT_OPEN``: nothing is raised.

    :param connections: :class:`WebSocket` s of this adapter (e.g.
        :attr:`Server.connections`), any iterable.
    :param message: ``str`` for a text message, bytes-like for binary.
    :param compress: where permessage-deflate was negotiated, compress the
        message for each such connection (one zlib run per connection).
        By default (``False``) those connections get the shared frame
        uncompressed, as RFC 7692 §6 allows.
    :returns: a :class:`BroadcastResult`: how many connections took the
        message, and which were skipped, with their :class:`SkipReason`
        (``NOT_OPEN``: closing or closed, or its socket failed as the message
        was written; ``BUSY``: more than ``write_limit`` bytes already wait for
        the stream; ``FRAGMENTING``: a
        :meth:`WebSocket.send_fragments` is under way).
    :raises TypeError: *message* is neither ``str`` nor bytes-like, or one of
        *connections* is not a trio :class:`WebSocket` (nothing is sent).
    :raises LocalProtocolError: *message* is text that UTF-8 cannot encode
        (nothing is sent).
    """
    return _broadcast.broadcast(
        connections, message, compress, WebSocket, "trio", _hand_over,
        _write_now if _WRITE_NOW else None,
    )  # fmt: skip


def _write_now(
    targets: Collection[WebSocket], prepared: PreparedMessage
) -> tuple[int, list[WebSocket]]:
    """broadcast()'s fast path: write the shared frame to every socket that can
    take it now, from the calling task, without the connection's writer task
    (an idle connection has none, and starting one costs more than the write);
    return how many took it, and the others (for :func:`_hand_over`).

    Now: a plain :class:`trio.SocketStream` (TLS and other streams are
    written by a task), no clock expired, nothing waiting to be written in
    the session and nothing being written by a task (from taking its output
    until the stream took all of it, the writer holds ``_held`` bytes: no
    write of ours runs beside its ``send_all``, and none overtakes what
    waits), and a core that takes the frame (with whatever it had queued
    first). trio's sockets are non-blocking: what the socket does not take
    at once goes to the writer task, first in the session's output. A socket
    that fails (a peer that reset the connection) fails the connection as a
    failed write of the writer does; it is among the others, which
    :func:`_hand_over` then reports ``NOT_OPEN``.
    """
    # What WebSocket._write_now does, written out here: calling it per
    # connection cost 46% more instructions (callgrind, 1,000 connections).
    take = Connection.take_prepared  # (one lookup, not one per connection)
    write = os.write
    rest: list[WebSocket] = []
    for ws in targets:
        session = ws._session
        stream = ws._stream
        if type(stream) is trio.SocketStream and not (
            session.aborted or session.must_abort or session._out_size or session._held
        ):
            try:
                data = take(ws._conn, prepared)
            except LocalProtocolError:
                rest.append(ws)  # not OPEN, a fragmented message, ...: _hand_over says why
                continue
            try:
                written = write(stream.socket.fileno(), data)
            except (BlockingIOError, NotImplementedError):  # (see WebSocket._write_now)
                written = 0
            except OSError as exc:
                session.logger.debug("write failed: %r", exc)
                ws._abort()
                rest.append(ws)
                continue
            if written < len(data):
                # The writer writes the rest: a view, not a copy, of the shared frame.
                session.unwritten(memoryview(data)[written:])
                ws._wake_writer()
            continue
        rest.append(ws)
    return len(targets) - len(rest), rest


def _hand_over(ws: WebSocket, prepared: PreparedMessage, compress: bool) -> SkipReason | None:
    if ws._finished:
        return SkipReason.NOT_OPEN
    reason = _broadcast.offer(ws._session, prepared, compress)
    if reason is None:
        ws._wake_writer()  # written now, or by the connection's writer
    return reason


# -- client -------------------------------------------------------------------------


async def connect_websocket(
    nursery: trio.Nursery,
    uri: str,
    *,
    subprotocols: Sequence[str] | None = None,
    extra_headers: Sequence[tuple[str, str]] | dict[str, str] | None = None,
    origin: str | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    **options: Unpack[Options],
) -> WebSocket:
    """Open a WebSocket connection whose tasks run in *nursery*; close it yourself.

    For an application that manages its own nursery; :func:`connect` is the
    usual way. The parameters are those of :func:`connect`.
    """
    settings = Settings.create("trio.client", options)
    parsed, ssl_context, session = _common.client_session(
        uri, subprotocols, extra_headers, origin, ssl, settings
    )
    try:
        with trio.fail_at(_deadline(settings.open_timeout)):
            stream: trio.abc.Stream = await trio.open_tcp_stream(parsed.host, parsed.port)
            try:
                if ssl_context is not None:
                    stream = trio.SSLStream(stream, ssl_context, server_hostname=parsed.host)
                    await stream.do_handshake()
                await _handshake_io(stream, session, eof_on_error=True)
                session.client_result()
            except BaseException:
                await _close_stream(stream)
                raise
    except trio.TooSlowError:
        raise _common.open_timeout_error(parsed, settings.open_timeout) from None
    ws = WebSocket(stream, session)
    ws._start(nursery)
    return ws


@asynccontextmanager
async def connect(
    uri: str,
    *,
    subprotocols: Sequence[str] | None = None,
    extra_headers: Sequence[tuple[str, str]] | dict[str, str] | None = None,
    origin: str | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    **options: Unpack[Options],
) -> AsyncIterator[WebSocket]:
    """Open a WebSocket connection to *uri*: ``async with connect(uri) as ws:``.

    The connection is closed on exit (with 1000, within ``close_timeout``,
    even when the block is cancelled). Exceptions raised in the block come out
    as they are, not wrapped in an exception group.

    :param uri: a ``ws://`` or ``wss://`` URI.
    :param subprotocols: subprotocols to offer, most preferred first.
    :param extra_headers: headers added to the handshake request.
    :param origin: the ``Origin`` header.
    :param ssl: for ``wss://``, an :class:`ssl.SSLContext` (default: the
        system's trusted CAs, :func:`ssl.create_default_context`).
    :param options: the :class:`~wsproto_lite.adapters.Options` (``open_timeout=``,
        ``max_message_size=``…), the same in every adapter.
    :raises InvalidURI: *uri* is not a WebSocket URI.
    :raises InvalidHandshake: the server refused (``.status``, ``.headers``,
        ``.body``) or answered something invalid.
    :raises TimeoutError: ``open_timeout`` expired.
    :raises OSError: the TCP connection could not be made.
    """
    error: Exception | None = None
    async with trio.open_nursery() as nursery:
        # Errors are carried out of the nursery by hand: raised inside it, they
        # would reach the caller wrapped in an ExceptionGroup.
        try:
            ws = await connect_websocket(
                nursery,
                uri,
                subprotocols=subprotocols,
                extra_headers=extra_headers,
                origin=origin,
                ssl=ssl,
                **options,
            )
        except Exception as exc:
            error = exc
        else:
            try:
                yield ws
            except Exception as exc:
                error = exc
            finally:
                with trio.CancelScope(shield=True):
                    await ws.close()
    if error is not None:
        raise error


# -- server -------------------------------------------------------------------------


class _Peer:
    """A connection being served: its cancel scope, then its ws."""

    __slots__ = ("accepted", "scope", "ws")

    def __init__(self, scope: trio.CancelScope) -> None:
        self.scope = scope
        # Set before the 101 is sent: from then on a shutdown must close the
        # connection with a close frame, not drop it.
        self.accepted = False
        self.ws: WebSocket | None = None


class Server:
    """A running server, as ``await nursery.start(serve, ...)`` returns it.

    The server stops, gracefully, when :func:`serve` is cancelled or
    :meth:`close` is called.
    """

    def __init__(
        self,
        listeners: list[trio.SocketListener],
        handler: Handler,
        process_request: ProcessRequest | None,
        ssl: ssl_module.SSLContext | None,
        settings: Settings,
    ) -> None:
        #: The listening sockets, as trio listeners.
        self.listeners = listeners
        self._handler = handler
        self._process_request = process_request
        self._ssl = ssl
        self._settings = settings
        #: The server's logger.
        self.logger = settings.logger
        self._peers: set[_Peer] = set()
        self._idle = trio.Event()  # no connection is being served
        self._idle.set()
        self._stopping = False
        self._handlers_scope = trio.CancelScope(shield=True)
        self._stopped = trio.Event()
        self._accepting = trio.CancelScope()  # cancelled by close()
        self._close_with: tuple[int, str] | None = None

    def close(self, code: int = 1001, reason: str = "going away") -> None:
        """Start a graceful shutdown (as cancelling :func:`serve` does);
        :meth:`wait_closed` waits for its end.

        Stops accepting connections, closes every open connection with *code*
        and *reason*, drops handshakes in progress, waits up to
        ``close_timeout`` for the handlers to return, then cancels them.
        """
        if self._close_with is None:
            self._close_with = (code, reason)
        self._accepting.cancel()

    async def wait_closed(self) -> None:
        """Wait until the server is shut down."""
        await self._stopped.wait()

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets (trio sockets)."""
        return tuple(listener.socket for listener in self.listeners)

    @property
    def port(self) -> int:
        """The port of the first listening socket (useful with ``port=0``)."""
        return int(self.listeners[0].socket.getsockname()[1])

    @property
    def connections(self) -> frozenset[WebSocket]:
        """The connections whose handshake is done, until they are closed (the
        same in every adapter: handshakes in progress are not included)."""
        return frozenset(p.ws for p in self._peers if p.ws is not None)

    async def _run(self, code: int, reason: str, task_status: trio.TaskStatus[Server]) -> None:
        async with trio.open_nursery() as outer:
            handlers: trio.Nursery = await outer.start(self._handler_nursery)
            try:
                with self._accepting:
                    async with trio.open_nursery() as accepting:
                        for listener in self.listeners:
                            accepting.start_soon(self._accept_loop, listener, handlers)
                        task_status.started(self)
            finally:
                # Cancelled, closed (or an accept loop failed): shut down
                # gracefully, within close_timeout, whatever stopped us.
                with trio.CancelScope(shield=True):
                    await self._shutdown(handlers, *(self._close_with or (code, reason)))

    async def _handler_nursery(self, task_status: trio.TaskStatus[trio.Nursery]) -> None:
        # Shielded: connections outlive the cancellation that stops the server
        # until _shutdown() has closed them (or given up on them).
        with self._handlers_scope:
            async with trio.open_nursery() as nursery:
                task_status.started(nursery)
                await self._stopped.wait()

    async def _shutdown(self, handlers: trio.Nursery, code: int, reason: str) -> None:
        self._stopping = True
        for listener in self.listeners:
            await trio.aclose_forcefully(listener)
        for peer in list(self._peers):
            if not peer.accepted:
                peer.scope.cancel()  # a handshake in progress: drop it
            elif peer.ws is None:
                pass  # accepted just now: _run_handler sees _stopping, closes with 1001
            elif peer.ws.state is _OPEN:
                handlers.start_soon(peer.ws.close, code, reason)
        with trio.move_on_at(_deadline(self._settings.close_timeout)):
            await self._idle.wait()
        if not self._idle.is_set():
            self.logger.warning("connection handlers still running after shutdown: cancelled")
        self._handlers_scope.cancel()
        self._stopped.set()

    async def _accept_loop(self, listener: trio.SocketListener, handlers: trio.Nursery) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_RETRY:
                    raise
                # E.g. too many open files: wait a little rather than spin.
                self.logger.error("accept() failed: %r", exc)
                await trio.sleep(0.1)
                continue
            handlers.start_soon(self._serve, stream, handlers)

    async def _serve(self, stream: trio.abc.Stream, handlers: trio.Nursery) -> None:
        peer = _Peer(trio.CancelScope())
        self._peers.add(peer)
        self._idle = trio.Event()
        try:
            ws = None
            with peer.scope:  # cancelled by a shutdown during the handshake
                ws = await self._handshake(stream, peer)
            if ws is None:
                return
            # The connection's reader and writer run beside this task (fewer
            # tasks and scopes per connection than a nursery of its own);
            # _run_handler() ends them however it ends.
            ws._start(handlers)
            peer.ws = ws
            await self._run_handler(ws)
        finally:
            self._peers.discard(peer)
            if not self._peers:
                self._idle.set()

    async def _run_handler(self, ws: WebSocket) -> None:
        """Run the handler; close the connection however it ends."""
        try:
            if self._stopping:  # accepted just as the server was shutting down
                await ws.close(1001, "going away")
                return
            # Awaited here, not in a helper: a coroutine more per idle
            # connection would cost a few hundred bytes.
            error = None
            try:
                await self._handler(ws)
            except Exception as exc:
                error = exc
            await ws.close(*_session.handler_ended(self.logger, error))  # waits for the end
        finally:
            # Cancelled (the server gave up on this handler): do not leave the
            # reader behind.
            ws._abort()

    async def _handshake(self, stream: trio.abc.Stream, peer: _Peer) -> WebSocket | None:
        """Do TLS and the opening handshake within open_timeout; None if it failed."""
        address = _address(stream, peer=True)
        try:
            return await self._handshake_within_timeout(stream, peer, address)
        except BaseException:
            # Cancelled (a shutdown drops handshakes in progress) or a bug.
            await _close_stream(stream)
            raise

    async def _handshake_within_timeout(
        self, stream: trio.abc.Stream, peer: _Peer, address: Any
    ) -> WebSocket | None:
        try:
            with trio.fail_at(_deadline(self._settings.open_timeout)):
                if self._ssl is not None:
                    stream = trio.SSLStream(stream, self._ssl, server_side=True)
                    await stream.do_handshake()
                session = Session(Role.SERVER, self._settings)
                await _handshake_io(stream, session, eof_on_error=False)
                request = session.pending_request
                accepted = False
                if request is not None:  # else the core answered (400, 426, 431)
                    result, error = await _common.await_hook(self._process_request, request)
                    accepted = session.answer(result, error)
                    if accepted:
                        if self._stopping:
                            raise trio.ClosedResourceError  # drop it, as a handshake in progress
                        peer.accepted = True
                await stream.send_all(session.take_output())
                if accepted:
                    return WebSocket(stream, session)
        except trio.TooSlowError:
            self.logger.info("opening handshake timed out (%s)", address)
        except (*_STREAM_ERRORS, OSError) as exc:
            self.logger.debug("opening handshake failed (%s): %r", address, exc)
        # Not accepted: the stream ends here (once accepted, it is the ws's).
        await _close_stream(stream)
        return None


async def serve(
    handler: Handler,
    host: str | None = None,
    port: int | None = None,
    *,
    process_request: ProcessRequest | None = None,
    subprotocols: Sequence[str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    shutdown_code: int = 1001,
    shutdown_reason: str = "going away",
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    **options: Unpack[Options],
) -> None:
    """Serve WebSocket connections until cancelled, then shut down gracefully.

    ``server = await nursery.start(serve, handler, host, port)`` returns once
    the server listens, with a :class:`Server` (``server.port``). Cancelling
    the task (``nursery.cancel_scope.cancel()``) stops accepting connections,
    closes every open one with *shutdown_code* and *shutdown_reason*, drops
    handshakes in progress, waits up to ``close_timeout`` for the handlers to
    return, then cancels them.

    :param handler: ``async def handler(ws)``, called once per connection after
        the handshake. The connection is closed with 1000 when it returns and
        with 1011 when it raises (the exception is logged).
    :param host: the interface to listen on (``None``: all).
    :param port: the port (``0`` or ``None``: any free port; see :attr:`Server.port`).
    :param process_request: called with each request, a
        :class:`~wsproto_lite.Handshake` or a plain
        :class:`~wsproto_lite.HTTPRequest`; returns (or, if async,
        resolves to) an :class:`~wsproto_lite.Accept`, a
        :class:`~wsproto_lite.Reject` (e.g. 403, or 200 with a page), or
        ``None`` for the default: accept a handshake with the first matching
        subprotocol, answer 426 to plain HTTP.
    :param subprotocols: subprotocols this server speaks, preferred first.
    :param ssl: an :class:`ssl.SSLContext` to serve ``wss://``.
    :param options: the :class:`~wsproto_lite.adapters.Options` (``open_timeout=``,
        ``max_message_size=``…), the same in every adapter.
    :param shutdown_code: the close code sent to every client on shutdown.
    :param shutdown_reason: the close reason sent with it.
    """
    settings = Settings.create("trio.server", options, subprotocols)
    listeners = await trio.open_tcp_listeners(port or 0, host=host)
    server = Server(listeners, handler, process_request, ssl, settings)
    await server._run(shutdown_code, shutdown_reason, task_status)
