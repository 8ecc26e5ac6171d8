"""WebSocket clients and servers on trio.

The adapter moves bytes between a :class:`trio.abc.Stream` and a
:class:`~wsproto_lite.Connection` and owns time: the opening and closing
timeouts and the keepalive pings. Every protocol decision is the core's.

A server runs until it is cancelled, then shuts down gracefully (every
connection is closed with 1001)::

    import trio
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
    Every connection has a reader task (and a keepalive task) in a nursery:
    the one :func:`connect` opens, the server's, or the one given to
    :func:`connect_websocket`. The reader feeds the sans-I/O core and puts the
    parts of received messages in a queue of at most ``max_queue`` parts;
    when it is full the reader stops reading, so TCP slows down a peer that
    sends faster than the application reads. :meth:`WebSocket.send` returns
    once the stream has taken every byte (``send_all``), so a peer that does
    not read blocks the sender instead of growing its memory.

Cancellation
    Cancelling :meth:`WebSocket.recv` loses nothing. Cancelling a send while
    it waits for the peer to read aborts the connection: the message may be
    half written, and the stream cannot be used after that.
"""

from __future__ import annotations

import errno
import inspect
import logging
import math
import os
import ssl as ssl_module
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager, suppress
from typing import Any, cast

import trio

from ..connection import Connection, Role
from ..errors import LocalProtocolError
from ..events import (
    Accept,
    BinaryMessage,
    Close,
    Event,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    Ping,
    Pong,
    Reject,
    TextMessage,
)
from ..extensions.base import Extension
from ..states import ConnectionState
from ._common import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    default_answer,
    parse_uri,
)

__all__ = [
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "InvalidHandshake",
    "InvalidURI",
    "PongWaiter",
    "Server",
    "WebSocket",
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
_Logger = logging.Logger | logging.LoggerAdapter[Any]
_Part = TextMessage | BinaryMessage

_OPEN = ConnectionState.OPEN
# One receive_some() per 64 KiB: large enough for throughput, small enough that
# a streamed message part (what the queue holds) stays small.
_RECV_SIZE = 1 << 16
# The most of a rejection's body a client keeps for InvalidHandshake.body.
_MAX_REJECT_BODY = 1 << 16
# What a stream raises once the peer or this side closed it.
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)
# accept() errors that mean "out of resources, try again soon" rather than a bug.
_ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


def _extensions(compression: bool, extensions: Sequence[Extension] | None) -> list[Extension]:
    """The extensions to configure: the given ones, plus permessage-deflate if asked."""
    result = list(extensions or ())
    if compression and not any(ext.name == "permessage-deflate" for ext in result):
        try:
            # Imported by name: the module is optional while the package grows.
            import importlib

            module = importlib.import_module("wsproto_lite.extensions.permessage_deflate")
        except ImportError:  # pragma: no cover - depends on the installed version
            pass
        else:
            result.append(module.PerMessageDeflate())
    return result


def _deadline(timeout: float | None) -> float:
    return math.inf if timeout is None else trio.current_time() + timeout


def _socket_of(stream: trio.abc.Stream) -> Any:
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    return getattr(stream, "socket", None)


def _address(stream: trio.abc.Stream, peer: bool) -> Any:
    sock = _socket_of(stream)
    try:
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


class PongWaiter:
    """What :meth:`WebSocket.ping` returns: await it for the round trip in seconds.

    ::

        pong = await ws.ping()
        latency = await pong

    Awaiting raises :class:`ConnectionClosed` if the connection closed before
    the pong arrived.
    """

    __slots__ = ("_error", "_event", "_sent_at", "latency")

    def __init__(self, sent_at: float) -> None:
        self._event = trio.Event()
        self._error: ConnectionClosed | None = None
        self._sent_at = sent_at
        #: The round trip in seconds, once the pong arrived (``None`` before).
        self.latency: float | None = None

    def __await__(self) -> Generator[Any, None, float]:
        return self._wait().__await__()

    async def _wait(self) -> float:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        assert self.latency is not None
        return self.latency

    def is_set(self) -> bool:
        """Whether the pong arrived."""
        return self.latency is not None

    def _resolve(self, now: float) -> None:
        self.latency = now - self._sent_at
        self._event.set()

    def _abandon(self, error: ConnectionClosed) -> None:
        self._error = error
        self._event.set()


class WebSocket:
    """An open WebSocket connection, on either side.

    Servers pass one to their handler; :func:`connect` gives one. Messages
    are ``str`` (text) or ``bytes`` (binary).

    Not meant to be instantiated directly.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        conn: Connection,
        *,
        response: Accept,
        logger: _Logger,
        close_timeout: float | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        max_queue: int | None,
    ) -> None:
        self._stream = stream
        self._conn = conn
        self._response = response
        self._logger = logger
        self._close_timeout = close_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_queue = max_queue
        self._remote_address: Any = _address(stream, peer=True)
        self._local_address: Any = _address(stream, peer=False)

        # Receiving.
        self._queue: deque[_Part] = deque()
        self._items = trio.lowlevel.ParkingLot()  # receivers wait here for parts
        self._room = trio.lowlevel.ParkingLot()  # the reader waits here for room
        self._unpaused = trio.lowlevel.ParkingLot()  # keepalive waits here during a pause
        self._paused = False  # the queue is full: the stream is not read
        self._recv_active = False
        self._skip_partial = False  # an abandoned recv_streaming() left parts behind
        self._discard = False  # closing locally: drop what does not fit in the queue
        self._finished = False  # the reader is done and the stream closed

        # Sending: _message_lock keeps a fragmented message whole, _send_lock
        # keeps frames in order on the stream.
        self._message_lock = trio.Lock()
        self._send_lock = trio.Lock()
        self._pings: dict[bytes, PongWaiter] = {}
        self._latency = 0.0

        # Closing.
        self._close_code: int | None = None
        self._close_reason = ""
        self._sent_close: tuple[int, str] | None = None
        self._aborted = False
        self._closed = trio.Event()
        # Created now so that an abort before the tasks start still counts.
        # The reader is shielded: when its nursery is cancelled, the guard
        # task closes the connection, which needs the reader to read the
        # peer's reply; only _abort() (or the end of the connection) stops it.
        self._reader_scope = trio.CancelScope(shield=True)
        self._keepalive_scope = trio.CancelScope()

    def _start(self, nursery: trio.Nursery) -> None:
        """Start the reader, guard (and keepalive) tasks in *nursery*."""
        nursery.start_soon(self._run_reader, name=f"wsproto_lite reader {self._remote_address}")
        nursery.start_soon(self._guard)
        if self._ping_interval is not None:
            nursery.start_soon(self._run_keepalive)

    async def _guard(self) -> None:
        """Close the connection (within close_timeout) if the nursery is cancelled."""
        try:
            await self._closed.wait()
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                await self.close()
            raise

    # -- public properties --------------------------------------------------------

    @property
    def request(self) -> Handshake | None:
        """The opening handshake's request (received by a server, sent by a client).

        ``.target`` is the path and query, ``.headers`` every header,
        ``.origin`` and ``.subprotocols`` the parsed values.
        """
        return self._conn.handshake

    @property
    def response(self) -> Accept:
        """The server's :class:`~wsproto_lite.events.Accept` (received or sent)."""
        return self._response

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the handshake, or ``None``."""
        return self._conn.subprotocol

    @property
    def extensions(self) -> tuple[str, ...]:
        """The extensions agreed in the handshake, as header elements."""
        return self._conn.extensions

    @property
    def state(self) -> ConnectionState:
        """The connection's :class:`~wsproto_lite.states.ConnectionState`."""
        return self._conn.state

    @property
    def close_code(self) -> int | None:
        """The close code: the peer's, the one this side failed the connection
        with, or 1006 when the connection ended without a closing handshake.
        ``None`` until the connection is closed."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The close reason that goes with :attr:`close_code` (``""`` if none)."""
        return self._close_reason

    @property
    def remote_address(self) -> Any:
        """The peer's address, as the socket reports it (``(host, port)`` for IPv4)."""
        return self._remote_address

    @property
    def local_address(self) -> Any:
        """This end's address, as the socket reports it."""
        return self._local_address

    @property
    def latency(self) -> float:
        """The last round trip measured by :meth:`ping` (keepalive included), in seconds."""
        return self._latency

    # -- receiving ----------------------------------------------------------------

    async def recv(self) -> Data:
        """Wait for the next message and return it whole (``str`` or ``bytes``).

        Cancelling ``recv()`` (e.g. with :func:`trio.move_on_after`) loses
        nothing: a message it had started to collect is delivered by the next
        call.

        :raises ConnectionClosedOK: the connection closed normally (messages
            received before the close are returned first).
        :raises ConnectionClosedError: it closed with an error or was lost.
        :raises RuntimeError: another task is already receiving.
        """
        self._start_receiving()
        parts: list[_Part] = []
        try:
            while True:
                part = await self._next_part()
                parts.append(part)
                if part.final:
                    break
        except BaseException:
            # Put the parts back so that the next call gets the whole message.
            self._queue.extendleft(reversed(parts))
            raise
        finally:
            self._recv_active = False
        if len(parts) == 1:
            return parts[0].data
        if isinstance(parts[0], TextMessage):
            return "".join([cast(str, p.data) for p in parts])
        return b"".join([cast(bytes, p.data) for p in parts])

    async def recv_streaming(self) -> AsyncGenerator[Data, None]:
        """Iterate over the parts of the next message as they arrive.

        Parts are ``str`` for a text message (split on character boundaries)
        and ``bytes`` for a binary one; the iteration ends with the message.
        A large message therefore never needs to sit in memory whole (raise
        ``max_message_size``, or set it to ``None``, to receive one). If the
        iteration is abandoned early, the rest of the message is discarded.
        """
        self._start_receiving()
        started = finished = False
        try:
            while not finished:
                part = await self._next_part()
                started = True
                finished = part.final
                yield part.data
        finally:
            self._recv_active = False
            if started and not finished:
                self._skip_partial = True

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over messages until the connection closes.

        Ends silently on a normal close; raises :class:`ConnectionClosedError`
        otherwise.
        """
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    def _start_receiving(self) -> None:
        if self._recv_active:
            raise RuntimeError("another task is already receiving on this WebSocket")
        self._recv_active = True

    async def _next_part(self) -> _Part:
        """Take the next message part from the queue, waiting for one if needed."""
        queue = self._queue
        while True:
            while not queue:
                if self._finished:
                    raise self._closed_exception()
                await self._items.park()
            part = queue.popleft()
            self._room.unpark_all()
            if self._skip_partial:
                # The remains of a message whose streaming was abandoned.
                if part.final:
                    self._skip_partial = False
                continue
            return part

    # -- sending ------------------------------------------------------------------

    async def send(self, message: Data | bytearray | memoryview) -> None:
        """Send a whole message: ``str`` as text, ``bytes``-like as binary.

        Returns once the stream has taken the message, so it waits while the
        peer does not read. A message being sent with :meth:`send_fragments`
        is finished first.

        :raises ConnectionClosed: the connection is closing or closed.
        :raises TypeError: *message* is neither ``str`` nor bytes-like.
        """
        if type(message) is str:
            event: Event = TextMessage(message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = BinaryMessage(bytes(message))  # no copy for bytes itself
        else:
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        async with self._message_lock:
            await self._send_event(event)

    async def send_fragments(self, fragments: Iterable[Data] | AsyncIterable[Data]) -> None:
        """Send one message in parts, from a sync or async iterable.

        Every part must be of the same type (``str``: a text message, bytes:
        binary); each is sent as a frame as soon as the iterable yields it, and
        an empty final frame ends the message. Other sends wait until the
        message is complete. If the iterable raises (or the call is cancelled)
        mid-message, the connection is closed with 1011, since the message can
        no longer be completed.
        """
        async with self._message_lock:
            kind: type[TextMessage] | type[BinaryMessage] | None = None
            try:
                if isinstance(fragments, AsyncIterable):
                    async for part in fragments:
                        kind = await self._send_fragment(part, kind)
                else:
                    for part in fragments:
                        kind = await self._send_fragment(part, kind)
            except BaseException as exc:
                if kind is not None and not isinstance(exc, ConnectionClosed):
                    with trio.CancelScope(shield=True):
                        await self._fail(1011, "error while sending a fragmented message")
                raise
            if kind is not None:
                await self._send_event(
                    TextMessage("") if kind is TextMessage else BinaryMessage(b"")
                )

    async def _send_fragment(
        self, part: Data, kind: type[TextMessage] | type[BinaryMessage] | None
    ) -> type[TextMessage] | type[BinaryMessage]:
        if isinstance(part, str):
            this: type[TextMessage] | type[BinaryMessage] = TextMessage
        elif isinstance(part, (bytes, bytearray, memoryview)):
            this = BinaryMessage
        else:
            raise TypeError(f"fragments must be str or bytes, not {type(part).__name__}")
        if kind is not None and this is not kind:
            raise TypeError("all fragments of a message must be str, or all bytes")
        await self._send_event(this(part, False))  # type: ignore[arg-type]
        return this

    async def ping(self, data: Data | None = None) -> PongWaiter:
        """Send a ping; return a :class:`PongWaiter` to await for the pong.

        Awaiting the waiter gives the round-trip time in seconds. A pong also
        answers every ping sent before the one it echoes (RFC 6455 §5.5.3).
        *data* (at most 125 bytes; ``str`` is UTF-8 encoded) defaults to four
        random bytes not used by another pending ping. Usage::

            pong = await ws.ping()
            latency = await pong

        :raises ConnectionClosed: the connection is closing or closed.
        :raises RuntimeError: a ping with the same data is already pending.
        """
        waiter = PongWaiter(trio.current_time())

        def prepare() -> Event:  # runs once the connection is known to be open
            if data is None:
                payload = os.urandom(4)
                while payload in self._pings:  # pragma: no cover - 1 in 4 billion
                    payload = os.urandom(4)
            else:
                payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
                if payload in self._pings:
                    raise RuntimeError("a ping with the same data is already waiting for its pong")
            event = Ping(payload)  # checks the size before anything is registered
            waiter._sent_at = trio.current_time()
            self._pings[payload] = waiter
            return event

        await self._send_event(prepare)
        return waiter

    async def pong(self, data: Data = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat). Pings are answered on their own."""
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        await self._send_event(Pong(payload))

    async def _send_event(self, event: Event | Callable[[], Event]) -> None:
        """Queue *event* in the core and write it (with anything queued before it).

        *event* may be a function that makes the event; it is called once the
        connection is known to be open, right before the event is queued.
        """
        async with self._send_lock:
            open_ = self._conn.state is _OPEN and not self._aborted
            if open_:
                self._conn.send(event if isinstance(event, Event) else event())
            # Whoever holds the send lock writes everything queued, the
            # reader's answers included (it skips writing while we hold it).
            written = await self._write_all()
        if not (open_ and written):
            raise await self._wait_closed_exception()

    async def _write_all(self) -> bool:
        """Write what the core has queued, until it is empty (``_send_lock`` held).

        Whatever the reader queues while a ``send_all`` is under way (a pong, a
        close reply) goes out right after it. Returns ``False`` when the
        stream failed (the connection is then aborted).
        """
        conn = self._conn
        while True:
            data = conn.data_to_send()
            if not data:
                return True
            try:
                await self._stream.send_all(data)
            except _STREAM_ERRORS as exc:
                self._logger.debug("write failed: %r", exc)
                self._abort()
                return False
            except BaseException:
                # Cancelled mid-write: part of a frame may be out, so nothing
                # more can be sent on this stream.
                self._abort()
                raise

    async def _flush_pending(self) -> None:
        """Write what the core queued, unless a task is writing (it will take it)."""
        if not self._send_lock.locked() and not self._aborted:
            async with self._send_lock:
                await self._write_all()

    # -- closing ------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the connection is closed.

        Sends a close frame with *code* and *reason* (unless a close is already
        under way), waits for the peer's reply and the end of the TCP
        connection, at most ``close_timeout`` seconds after which the stream
        is closed anyway. Safe to call more than once. If ``close()`` is
        cancelled, the connection is aborted.

        :raises LocalProtocolError: *code* or *reason* cannot be sent (e.g.
            1005, 1006, or a reason over 123 bytes).
        """
        event = Close(code, reason)  # checks the reason before anything is sent
        try:
            with trio.move_on_at(_deadline(self._close_timeout)):
                await self._start_close(event)
                await self._closed.wait()
        except LocalProtocolError:
            raise  # the core refused the code: nothing was sent
        except BaseException:
            self._abort()
            with trio.CancelScope(shield=True):
                await self._closed.wait()  # an abort makes this quick
            raise
        if not self._closed.is_set():
            self._logger.info("closing handshake timed out; closing the connection")
            self._abort()
            await self._closed.wait()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (the TCP connection included)."""
        await self._closed.wait()

    async def _start_close(self, event: Close) -> None:
        """Send a close frame now if the connection is open."""
        async with self._send_lock:
            if self._conn.state is _OPEN and not self._aborted:
                self._conn.send(event)
                self._sent_close = (event.code, event.reason)
            # The peer's reply may be stuck behind messages the application no
            # longer reads: read on, dropping what does not fit.
            self._discard = True
            self._room.unpark_all()
            await self._write_all()

    async def _fail(self, code: int, reason: str) -> None:
        """Close at once with *code*, without waiting for the peer's reply.

        The close frame gets ``close_timeout`` seconds to be written, since a
        peer being failed may well not be reading.
        """
        if self._close_code is None and self._conn.state is _OPEN:
            self._close_code, self._close_reason = code, reason
        if self._conn.state is _OPEN and not self._aborted:
            self._conn.send(Close(code, reason))
            self._sent_close = (code, reason)
            with trio.move_on_at(_deadline(self._close_timeout)):
                await self._flush_pending()
        self._abort()

    def _abort(self) -> None:
        """Stop the reader, which closes the stream (waking any writer)."""
        self._aborted = True
        self._discard = True
        self._room.unpark_all()
        self._reader_scope.cancel()

    def _closed_exception(self) -> ConnectionClosed:
        code = self._close_code
        if code is not None:
            return ConnectionClosed.create(code, self._close_reason)
        if self._sent_close is not None:  # closing: our close frame says how
            return ConnectionClosed.create(*self._sent_close)
        return ConnectionClosedError(1006, "the connection was lost")

    async def _wait_closed_exception(self) -> ConnectionClosed:
        """The exception for a send on a connection that is not open.

        A closing handshake under way ends within ``close_timeout`` (someone
        armed that clock); waiting for it gives the exception its real code.
        """
        with trio.move_on_at(_deadline(self._close_timeout)):
            await self._closed.wait()
        return self._closed_exception()

    # -- the reader task ----------------------------------------------------------

    async def _run_reader(self) -> None:
        try:
            with self._reader_scope:
                await self._read_loop()
        except Exception:  # pragma: no cover - a bug; say so rather than hang
            self._logger.exception("the WebSocket reader failed")
        finally:
            with trio.CancelScope(shield=True):
                await self._finish()

    async def _read_loop(self) -> None:
        conn = self._conn
        close_deadline = math.inf
        while True:
            await self._process()
            if conn.should_close_transport:
                # The last bytes (a close reply, say), within close_timeout.
                with trio.move_on_at(_deadline(self._close_timeout)):
                    async with self._send_lock:
                        await self._write_all()
                return
            await self._flush_pending()
            if conn.state is not _OPEN and close_deadline == math.inf:
                # A closing handshake is under way, or a client waits for the
                # server to close TCP (RFC 6455 §7.1.1): not for ever.
                close_deadline = _deadline(self._close_timeout)
            with trio.move_on_at(close_deadline):
                try:
                    data = await self._stream.receive_some(_RECV_SIZE)
                except _STREAM_ERRORS as exc:
                    self._logger.debug("read failed: %r", exc)
                    data = b""
                conn.receive_data(data)
                continue
            self._logger.info("closing handshake timed out; closing the connection")
            self._aborted = True
            return

    async def _process(self) -> None:
        """Take events from the core until it needs more data."""
        conn = self._conn
        while True:
            event = conn.next_event()
            if event is None:
                return
            cls = event.__class__
            if cls is TextMessage or cls is BinaryMessage:
                await self._deliver(event)  # type: ignore[arg-type]
            elif cls is Pong:
                self._on_pong(event.payload)  # type: ignore[attr-defined]
            elif cls is Close:
                self._on_close(event)  # type: ignore[arg-type]
            # Ping: the core queued the pong already.

    async def _deliver(self, part: _Part) -> None:
        """Queue a message part; wait for room while the queue is full."""
        limit = self._max_queue
        queue = self._queue
        if limit is not None and len(queue) >= limit:
            if self._discard:
                return
            # Answer what is owed before waiting, since waiting stops reading.
            await self._flush_pending()
            self._paused = True
            # Resume well below the limit, so that reading is not toggled for
            # every message consumed.
            low_water = limit // 4
            try:
                while len(queue) > low_water and not self._discard:
                    await self._room.park()
            finally:
                self._paused = False
                self._unpaused.unpark_all()
            if len(queue) >= limit:
                return
        queue.append(part)
        self._items.unpark_all()

    def _on_pong(self, payload: bytes) -> None:
        if payload not in self._pings:
            return  # unsolicited, or answers a ping already settled
        now = trio.current_time()
        # A pong answers its ping and every earlier one (dicts keep order).
        for key in list(self._pings):
            waiter = self._pings.pop(key)
            waiter._resolve(now)
            if key == payload:
                self._latency = now - waiter._sent_at
                break

    def _on_close(self, event: Close) -> None:
        if self._close_code is None:
            self._close_code, self._close_reason = event.code, event.reason
        if event.failed:
            self._logger.info("connection failed: %d %s", event.code, event.reason)

    async def _finish(self) -> None:
        """Close the stream and wake everyone who waits (the reader's last act)."""
        self._discard = True
        self._keepalive_scope.cancel()
        if self._close_code is None:
            self._close_code = 1006
            self._close_reason = "the connection closed without a closing handshake"
        await _close_stream(self._stream)
        self._finished = True
        self._items.unpark_all()
        self._room.unpark_all()
        error = self._closed_exception()
        for waiter in self._pings.values():
            waiter._abandon(error)
        self._pings.clear()
        self._logger.debug("connection closed: %d %s", self._close_code, self._close_reason)
        self._closed.set()

    # -- keepalive ----------------------------------------------------------------

    async def _run_keepalive(self) -> None:
        assert self._ping_interval is not None
        with self._keepalive_scope:
            while True:
                await trio.sleep(self._ping_interval)
                if self._paused:
                    # The peer filled our queue, so it is alive; its pong would
                    # wait behind the messages the application has not read.
                    continue
                waiter = self._queue_keepalive_ping()
                if waiter is None:
                    return  # closing
                deadline = _deadline(self._ping_timeout)
                while not waiter.is_set():
                    with trio.move_on_at(deadline):
                        # Written here, or by the task that holds the send
                        # lock; either way the clock runs: a send stuck on a
                        # dead peer is exactly what keepalive must catch.
                        await self._flush_pending()
                        try:
                            await waiter
                        except ConnectionClosed:
                            return
                    if waiter.is_set():
                        break
                    if self._paused:
                        # Nothing is read while the queue is full, the pong
                        # included: the clock restarts rather than blame the
                        # peer for our pause.
                        while self._paused:
                            await self._unpaused.park()
                        deadline = _deadline(self._ping_timeout)
                        continue
                    self._logger.info("keepalive ping timed out; closing the connection")
                    await self._fail(1011, "keepalive ping timeout")
                    return

    def _queue_keepalive_ping(self) -> PongWaiter | None:
        """Queue a ping in the core, without waiting for the send lock."""
        if self._conn.state is not _OPEN or self._aborted:
            return None
        payload = os.urandom(4)
        while payload in self._pings:  # pragma: no cover - 1 in 4 billion
            payload = os.urandom(4)
        self._conn.send(Ping(payload))
        waiter = PongWaiter(trio.current_time())
        self._pings[payload] = waiter
        return waiter

    def __repr__(self) -> str:
        role = "client" if self._conn.client else "server"
        return f"<WebSocket {role} {self._conn.state.name} {self._remote_address}>"


# -- client -------------------------------------------------------------------------


async def connect_websocket(
    nursery: trio.Nursery,
    uri: str,
    *,
    subprotocols: Sequence[str] | None = None,
    extra_headers: Sequence[tuple[str, str]] | dict[str, str] | None = None,
    origin: str | None = None,
    compression: bool = True,
    extensions: Sequence[Extension] | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    open_timeout: float | None = 10.0,
    close_timeout: float | None = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    max_message_size: int | None = 1 << 20,
    max_queue: int | None = 16,
    write_limit: int = 1 << 16,
    logger: _Logger | None = None,
) -> WebSocket:
    """Open a WebSocket connection whose tasks run in *nursery*; close it yourself.

    For an application that manages its own nursery; :func:`connect` is the
    usual way. The parameters are those of :func:`connect`.
    """
    del write_limit  # see connect()
    parsed = parse_uri(uri)
    ssl_context: ssl_module.SSLContext | None
    if parsed.secure:
        if ssl is None or ssl is True:
            ssl_context = ssl_module.create_default_context()
        elif ssl is False:
            raise ValueError(f"connect() got ssl=False for the wss:// URI {uri!r}")
        else:
            ssl_context = ssl
    elif ssl is not None and ssl is not False:
        raise ValueError(f"connect() got an ssl argument for the ws:// URI {uri!r}")
    else:
        ssl_context = None
    extra: Any = extra_headers or ()
    if hasattr(extra, "items"):
        extra = list(extra.items())
    request = Handshake(
        host=parsed.host_header,
        target=parsed.resource,
        subprotocols=tuple(subprotocols or ()),
        extra_headers=extra,
        origin=origin,
    )
    conn = Connection(
        Role.CLIENT,
        extensions=_extensions(compression, extensions),
        max_message_size=max_message_size,
        stream=True,
    )
    try:
        with trio.fail_at(_deadline(open_timeout)):
            stream: trio.abc.Stream = await trio.open_tcp_stream(parsed.host, parsed.port)
            try:
                if ssl_context is not None:
                    stream = trio.SSLStream(stream, ssl_context, server_hostname=parsed.host)
                    await stream.do_handshake()
                response = await _client_handshake(stream, conn, request)
            except BaseException:
                await _close_stream(stream)
                raise
    except trio.TooSlowError:
        raise TimeoutError(
            f"timed out after {open_timeout} s while opening the connection to {uri}"
        ) from None
    ws = WebSocket(
        stream,
        conn,
        response=response,
        logger=logger or logging.getLogger("wsproto_lite.trio.client"),
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_queue=max_queue,
    )
    ws._start(nursery)
    return ws


async def _client_handshake(
    stream: trio.abc.Stream, conn: Connection, request: Handshake
) -> Accept:
    """Send *request* and read the answer; return the server's Accept."""
    conn.send(request)
    await stream.send_all(conn.data_to_send())
    reject: Reject | None = None
    body: list[bytes] = []
    size = 0
    while True:
        event = conn.next_event()
        if event is None:
            try:
                data = await stream.receive_some(_RECV_SIZE)
            except _STREAM_ERRORS:
                data = b""
            conn.receive_data(data)
            continue
        if isinstance(event, Accept):
            return event
        if isinstance(event, Reject):
            if reject is None:
                reject = event
            if size < _MAX_REJECT_BODY:
                body.append(event.body)
                size += len(event.body)
            if event.final:
                raise InvalidHandshake(
                    f"the server rejected the WebSocket connection: HTTP {reject.status}",
                    reject.status,
                    reject.headers,
                    b"".join(body)[:_MAX_REJECT_BODY],
                )
        elif isinstance(event, HandshakeFailed):
            raise InvalidHandshake(f"invalid handshake response: {event.reason}", event.status)
        else:  # pragma: no cover - nothing else comes before the answer
            raise InvalidHandshake(f"unexpected {type(event).__name__} during the handshake")


@asynccontextmanager
async def connect(
    uri: str,
    *,
    subprotocols: Sequence[str] | None = None,
    extra_headers: Sequence[tuple[str, str]] | dict[str, str] | None = None,
    origin: str | None = None,
    compression: bool = True,
    extensions: Sequence[Extension] | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    open_timeout: float | None = 10.0,
    close_timeout: float | None = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    max_message_size: int | None = 1 << 20,
    max_queue: int | None = 16,
    write_limit: int = 1 << 16,
    logger: _Logger | None = None,
) -> AsyncIterator[WebSocket]:
    """Open a WebSocket connection to *uri*: ``async with connect(uri) as ws:``.

    The connection is closed on exit (with 1000, within ``close_timeout``,
    even when the block is cancelled). Exceptions raised in the block come out
    as they are, not wrapped in an exception group.

    :param uri: a ``ws://`` or ``wss://`` URI.
    :param subprotocols: subprotocols to offer, most preferred first.
    :param extra_headers: headers added to the handshake request.
    :param origin: the ``Origin`` header.
    :param compression: offer permessage-deflate (RFC 7692).
    :param extensions: further :class:`~wsproto_lite.extensions.Extension` s to offer.
    :param ssl: for ``wss://``, an :class:`ssl.SSLContext` (default: the
        system's trusted CAs, :func:`ssl.create_default_context`).
    :param open_timeout: seconds for TCP, TLS and the handshake together
        (``None``: no limit); :class:`TimeoutError` beyond.
    :param close_timeout: seconds the closing handshake may take before the
        stream is closed anyway.
    :param ping_interval: seconds between keepalive pings (``None``: none).
    :param ping_timeout: seconds a keepalive ping waits for its pong before the
        connection is closed with 1011 (``None``: wait forever).
    :param max_message_size: the largest message accepted (1009 beyond).
    :param max_queue: received message parts held before reading stops.
    :param write_limit: accepted for symmetry with the asyncio adapter; there
        is no write buffer here, since :meth:`WebSocket.send` returns only
        once the stream has taken every byte.
    :param logger: defaults to ``logging.getLogger("wsproto_lite.trio.client")``.
    :raises InvalidURI: *uri* is not a WebSocket URI.
    :raises InvalidHandshake: the server refused (``.status``, ``.headers``,
        ``.body``) or answered something invalid.
    :raises TimeoutError: *open_timeout* expired.
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
                compression=compression,
                extensions=extensions,
                ssl=ssl,
                open_timeout=open_timeout,
                close_timeout=close_timeout,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                max_message_size=max_message_size,
                max_queue=max_queue,
                logger=logger,
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

    The server stops when :func:`serve` is cancelled.
    """

    def __init__(
        self,
        listeners: list[trio.SocketListener],
        handler: Handler,
        *,
        process_request: ProcessRequest | None,
        subprotocols: Sequence[str] | None,
        extensions: list[Extension],
        ssl: ssl_module.SSLContext | None,
        open_timeout: float | None,
        close_timeout: float | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        max_message_size: int | None,
        max_queue: int | None,
        logger: _Logger,
    ) -> None:
        #: The listening sockets, as trio listeners.
        self.listeners = listeners
        self._handler = handler
        self._process_request = process_request
        self._subprotocols = subprotocols
        self._extensions = extensions
        self._ssl = ssl
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_message_size = max_message_size
        self._max_queue = max_queue
        #: The server's logger.
        self.logger = logger
        self._peers: set[_Peer] = set()
        self._idle = trio.Event()  # no connection is being served
        self._idle.set()
        self._stopping = False
        self._handlers_scope = trio.CancelScope(shield=True)
        self._stopped = trio.Event()

    @property
    def port(self) -> int:
        """The port of the first listening socket (useful with ``port=0``)."""
        return int(self.listeners[0].socket.getsockname()[1])

    @property
    def connections(self) -> frozenset[WebSocket]:
        """The open connections (those whose handshake is done)."""
        return frozenset(p.ws for p in self._peers if p.ws is not None)

    async def _run(self, code: int, reason: str, task_status: trio.TaskStatus[Server]) -> None:
        async with trio.open_nursery() as outer:
            handlers: trio.Nursery = await outer.start(self._handler_nursery)
            try:
                async with trio.open_nursery() as accepting:
                    for listener in self.listeners:
                        accepting.start_soon(self._accept_loop, listener, handlers)
                    task_status.started(self)
            finally:
                # Cancelled (or an accept loop failed): shut down gracefully,
                # within close_timeout, whatever cancelled us.
                with trio.CancelScope(shield=True):
                    await self._shutdown(handlers, code, reason)

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
        with trio.move_on_at(_deadline(self._close_timeout)):
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
            handlers.start_soon(self._serve, stream)

    async def _serve(self, stream: trio.abc.Stream) -> None:
        with trio.CancelScope() as scope:
            peer = _Peer(scope)
            self._peers.add(peer)
            self._idle = trio.Event()
            try:
                ws = await self._handshake(stream, peer)
                if ws is None:
                    return
                async with trio.open_nursery() as nursery:
                    ws._start(nursery)
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
            try:
                await self._handler(ws)
            except ConnectionClosed:
                pass  # the handler let the closing of the connection end it
            except Exception:
                self.logger.exception("connection handler failed")
                await ws.close(1011, "internal error")
            else:
                await ws.close(1000, "")
            await ws.close()  # waits for the end, whatever the handler did
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
            with trio.fail_at(_deadline(self._open_timeout)):
                if self._ssl is not None:
                    stream = trio.SSLStream(stream, self._ssl, server_side=True)
                    await stream.do_handshake()
                conn = Connection(
                    Role.SERVER,
                    extensions=self._extensions,
                    max_message_size=self._max_message_size,
                    stream=True,
                )
                while True:
                    event = conn.next_event()
                    if event is None:
                        conn.receive_data(await stream.receive_some(_RECV_SIZE))
                        continue
                    if isinstance(event, (Handshake, HTTPRequest)):
                        answer = await self._answer(conn, event)
                        if isinstance(answer, Accept):
                            if self._stopping:
                                break  # shutting down: drop it, as a handshake in progress
                            peer.accepted = True
                        await stream.send_all(conn.data_to_send())
                        if isinstance(answer, Accept):
                            return WebSocket(
                                stream,
                                conn,
                                response=answer,
                                logger=self.logger,
                                close_timeout=self._close_timeout,
                                ping_interval=self._ping_interval,
                                ping_timeout=self._ping_timeout,
                                max_queue=self._max_queue,
                            )
                        self.logger.info(
                            "answered %s %s with HTTP %d",
                            getattr(event, "method", "GET"),
                            event.target,
                            answer.status,
                        )
                        break
                    if isinstance(event, HandshakeFailed):
                        self.logger.info("invalid opening handshake: %s", event.reason)
                        await stream.send_all(conn.data_to_send())  # the error response
                        break
        except trio.TooSlowError:
            self.logger.info("opening handshake timed out (%s)", address)
        except (*_STREAM_ERRORS, OSError) as exc:
            self.logger.debug("opening handshake failed (%s): %r", address, exc)
        # Not accepted: the stream ends here (once accepted, it is the ws's).
        await _close_stream(stream)
        return None

    async def _answer(self, conn: Connection, request: Handshake | HTTPRequest) -> Accept | Reject:
        """Ask process_request (or the default) and queue the answer in *conn*."""
        answer: Any = None
        if self._process_request is not None:
            try:
                answer = self._process_request(request)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception:
                self.logger.exception("process_request failed")
                answer = _internal_error()
            if answer is not None and not isinstance(answer, (Accept, Reject)):
                self.logger.error("process_request returned %r, not Accept/Reject/None", answer)
                answer = _internal_error()
        if answer is None:
            answer = default_answer(request, self._subprotocols)
        try:
            conn.send(answer)
        except LocalProtocolError:
            # E.g. Accept for a plain HTTP request, or an unoffered subprotocol.
            self.logger.exception("process_request returned an answer that cannot be sent")
            answer = _internal_error()
            conn.send(answer)
        if isinstance(answer, Reject) and not answer.final:
            conn.send(Reject(answer.status, final=True))  # one answer, so end its body
        return cast("Accept | Reject", answer)


def _internal_error() -> Reject:
    return Reject(500, [("Content-Type", "text/plain")], b"Internal Server Error\n")


async def serve(
    handler: Handler,
    host: str | None = None,
    port: int | None = None,
    *,
    process_request: ProcessRequest | None = None,
    subprotocols: Sequence[str] | None = None,
    compression: bool = True,
    extensions: Sequence[Extension] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    open_timeout: float | None = 10.0,
    close_timeout: float | None = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    max_message_size: int | None = 1 << 20,
    max_queue: int | None = 16,
    write_limit: int = 1 << 16,
    logger: _Logger | None = None,
    shutdown_code: int = 1001,
    shutdown_reason: str = "going away",
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
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
        :class:`~wsproto_lite.events.Handshake` or a plain
        :class:`~wsproto_lite.events.HTTPRequest`; returns (or, if async,
        resolves to) an :class:`~wsproto_lite.events.Accept`, a
        :class:`~wsproto_lite.events.Reject` (e.g. 403, or 200 with a page), or
        ``None`` for the default: accept a handshake with the first matching
        subprotocol, answer 426 to plain HTTP.
    :param subprotocols: subprotocols this server speaks, preferred first.
    :param compression: negotiate permessage-deflate (RFC 7692) when offered.
    :param extensions: further extensions to negotiate.
    :param ssl: an :class:`ssl.SSLContext` to serve ``wss://``.
    :param open_timeout: seconds a client has to complete TLS and the handshake.
    :param close_timeout: seconds the closing handshake (and a graceful
        shutdown's wait for the handlers) may take.
    :param ping_interval: seconds between keepalive pings (``None``: none).
    :param ping_timeout: seconds a ping waits for its pong before the
        connection is closed with 1011 (``None``: wait forever).
    :param max_message_size: the largest message accepted (1009 beyond).
    :param max_queue: received message parts held per connection before
        reading stops.
    :param write_limit: accepted for symmetry with the asyncio adapter (sends
        wait in ``send_all``; there is no write buffer to limit).
    :param logger: defaults to ``logging.getLogger("wsproto_lite.trio.server")``.
    :param shutdown_code: the close code sent to every client on shutdown.
    :param shutdown_reason: the close reason sent with it.
    """
    del write_limit  # see the docstring
    listeners = await trio.open_tcp_listeners(port or 0, host=host)
    server = Server(
        listeners,
        handler,
        process_request=process_request,
        subprotocols=subprotocols,
        extensions=_extensions(compression, extensions),
        ssl=ssl,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_message_size=max_message_size,
        max_queue=max_queue,
        logger=logger or logging.getLogger("wsproto_lite.trio.server"),
    )
    await server._run(shutdown_code, shutdown_reason, task_status)
