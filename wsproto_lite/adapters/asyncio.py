"""WebSocket clients and servers on asyncio.

The adapter moves bytes between an asyncio transport and a
:class:`~wsproto_lite.Connection` and owns time: the opening and closing
timeouts and the keepalive pings. Every protocol decision is the core's.

A server::

    from wsproto_lite.adapters.asyncio import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 8765) as server:
        await server.serve_forever()

A client::

    from wsproto_lite.adapters.asyncio import connect

    async with connect("ws://127.0.0.1:8765/") as ws:
        await ws.send("hello")
        print(await ws.recv())

Flow control works both ways. Received messages wait in a queue of at most
``max_queue`` parts; when it is full the adapter stops reading the socket, so
a peer that sends faster than the application reads is slowed down by TCP.
:meth:`WebSocket.send` waits while more than ``write_limit`` bytes are waiting
to be written, so a peer that does not read cannot make the sender's memory
grow either.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import ssl as ssl_module
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any

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
from ..extensions.permessage_deflate import PerMessageDeflate
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
    "ClientConnect",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "DataLike",
    "InvalidHandshake",
    "InvalidURI",
    "Server",
    "WebSocket",
    "connect",
    "serve",
]

#: A message: ``str`` for text, ``bytes`` for binary.
Data = str | bytes
#: What may be sent: ``str`` for text, any bytes-like object for binary.
DataLike = str | bytes | bytearray | memoryview
#: What ``process_request`` may return (``None``: the default answer).
Answer = Accept | Reject | None
#: The ``process_request`` hook: called with the request, sync or async.
ProcessRequest = Callable[[Handshake | HTTPRequest], Answer | Awaitable[Answer]]
#: The connection handler of :func:`serve`: ``async def handler(ws)``.
Handler = Callable[["WebSocket"], Awaitable[Any]]

_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED
# The most of a rejection's body a client keeps for InvalidHandshake.body.
_MAX_REJECT_BODY = 1 << 16


def _extensions(compression: bool, extensions: Sequence[Extension] | None) -> list[Extension]:
    """The extensions to configure: the given ones, plus permessage-deflate if asked."""
    result = list(extensions or ())
    if compression and not any(ext.name == PerMessageDeflate.name for ext in result):
        result.append(PerMessageDeflate())
    return result


@dataclass(frozen=True)
class _Settings:
    """What the client and the server configure the same way."""

    extensions: list[Extension]
    max_message_size: int | None
    close_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_queue: int | None
    write_limit: int
    logger: logging.Logger | logging.LoggerAdapter[Any]

    def websocket(self, role: Role) -> WebSocket:
        """A new connection's WebSocket, its core streaming message parts."""
        conn = Connection(
            role, extensions=self.extensions, max_message_size=self.max_message_size, stream=True
        )
        return WebSocket(conn, self)


class _Protocol(asyncio.Protocol):
    """Forwards the transport's callbacks to a :class:`WebSocket`."""

    def __init__(self, ws: WebSocket, on_made: Callable[[WebSocket], None] | None = None) -> None:
        self.ws = ws
        self.on_made = on_made
        # Bound methods as attributes: one call less per chunk received.
        self.data_received = ws._data_received  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.ws._connection_made(transport)
        if self.on_made is not None:
            self.on_made(self.ws)

    def eof_received(self) -> bool | None:
        self.ws._eof_received()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.ws._connection_lost(exc)

    def pause_writing(self) -> None:
        self.ws._write_paused = True

    def resume_writing(self) -> None:
        self.ws._resume_writing()


class WebSocket:
    """An open WebSocket connection, on either side.

    Servers pass one to their handler; :func:`connect` returns one. Messages
    are ``str`` (text) or ``bytes`` (binary).

    Not meant to be instantiated directly.
    """

    def __init__(self, conn: Connection, settings: _Settings) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._logger = settings.logger
        self._close_timeout = settings.close_timeout
        self._ping_interval = settings.ping_interval
        self._ping_timeout = settings.ping_timeout
        self._max_queue = max_queue = settings.max_queue
        # Resume reading well below the limit, so that reading is not toggled
        # for every message consumed.
        self._low_water = 0 if max_queue is None else max_queue // 4
        self._write_limit = settings.write_limit
        self._transport: asyncio.Transport | None = None

        # Receiving.
        self._queue: deque[TextMessage | BinaryMessage] = deque()
        self._paused_queue = False  # the queue is full: the socket is not read
        self._paused_answer = False  # server: the request awaits process_request
        self._discard = False  # closing, and the queue overflowed: drop messages
        self._recv_waiter: asyncio.Future[None] | None = None
        self._recv_active = False
        self._skip_partial = False  # an abandoned recv_streaming() left parts behind
        self._stream: _MessageParts | None = None  # the current recv_streaming()

        # Sending.
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._send_lock = asyncio.Lock()
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._latency = 0.0

        # Opening and closing.
        self._handshake_waiter: asyncio.Future[Event | None] = self._loop.create_future()
        self._reject: Reject | None = None
        self._reject_body: list[bytes] = []
        self._request: Handshake | None = None
        self._response: Accept | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._sent_close: tuple[int, str] | None = None
        self._lost = False
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._close_timer: asyncio.TimerHandle | None = None
        self._keepalive_task: asyncio.Task[None] | None = None

    # -- public properties --------------------------------------------------------

    @property
    def request(self) -> Handshake | None:
        """The opening handshake's request (received by a server, sent by a client).

        ``.target`` is the path and query, ``.headers`` every header,
        ``.origin`` and ``.subprotocols`` the parsed values.
        """
        return self._request if self._request is not None else self._conn.handshake

    @property
    def response(self) -> Accept | None:
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
        ``None`` while the connection is open."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The close reason that goes with :attr:`close_code` (``""`` if none)."""
        return self._close_reason

    @property
    def remote_address(self) -> Any:
        """The peer's address, as the socket reports it (``(host, port)`` for IPv4)."""
        return self._transport.get_extra_info("peername") if self._transport else None

    @property
    def local_address(self) -> Any:
        """This end's address, as the socket reports it."""
        return self._transport.get_extra_info("sockname") if self._transport else None

    @property
    def latency(self) -> float:
        """The last round trip measured by :meth:`ping` (keepalive included), in seconds."""
        return self._latency

    # -- receiving ----------------------------------------------------------------

    async def recv(self) -> Data:
        """Wait for the next message and return it whole (``str`` or ``bytes``).

        :raises ConnectionClosedOK: the connection closed normally (messages
            received before the close are returned first).
        :raises ConnectionClosedError: it closed with an error or was lost.
        :raises RuntimeError: another task is already receiving.

        Cancelling ``recv()`` loses nothing: a message it had started to
        collect is delivered by the next call.
        """
        queue = self._queue
        if queue and not self._recv_active and self._stream is None:
            first = queue[0]
            if first.final:  # the fast path: a whole message is waiting
                queue.popleft()
                if self._paused_queue:
                    self._after_pop()
                return first.data
        self._start_receiving()
        parts: list[TextMessage | BinaryMessage] = []
        try:
            while True:
                part = await self._next_part()
                parts.append(part)
                if part.final:
                    break
        except asyncio.CancelledError:
            # Put the parts back so that the next call gets the whole message.
            queue.extendleft(reversed(parts))
            raise
        finally:
            self._recv_active = False
        if len(parts) == 1:
            return parts[0].data
        if isinstance(parts[0], TextMessage):
            return "".join([p.data for p in parts])  # type: ignore[misc]
        return b"".join([p.data for p in parts])  # type: ignore[misc]

    def recv_streaming(self) -> AsyncIterator[Data]:
        """Iterate over the parts of the next message as they arrive::

            async for part in ws.recv_streaming():
                sink.write(part)

        Parts are ``str`` for a text message (split on character boundaries)
        and ``bytes`` for a binary one; the iteration ends with the message.
        A large message therefore never needs to sit in memory whole (raise
        ``max_message_size``, or set it to ``None``, to receive one). If the
        iteration is abandoned early (``break``), the next receive discards
        the rest of the message.

        :raises RuntimeError: another task is already receiving.
        """
        self._start_receiving()
        self._recv_active = False  # held only while a part is awaited
        stream = _MessageParts(self)
        self._stream = stream
        return stream

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
        stream = self._stream
        if stream is not None:
            # A recv_streaming() iterator was left before the end of its
            # message (no async-iterator hook says so): retire it.
            stream.retire()
        self._recv_active = True

    async def _next_part(self) -> TextMessage | BinaryMessage:
        """Take the next message part from the queue, waiting for one if needed."""
        queue = self._queue
        while True:
            while not queue:
                if self._lost or self._conn.state is _CLOSED:
                    raise self._closed_exception()
                waiter = self._loop.create_future()
                self._recv_waiter = waiter
                try:
                    await waiter
                finally:
                    self._recv_waiter = None
            part = queue.popleft()
            if self._paused_queue:
                self._after_pop()
            if self._skip_partial:
                # The remains of a message whose streaming was abandoned.
                if part.final:
                    self._skip_partial = False
                continue
            return part

    def _after_pop(self) -> None:
        if len(self._queue) <= self._low_water:
            self._paused_queue = False
            self._update_reading()
            self._process()

    # -- sending ------------------------------------------------------------------

    async def send(self, message: DataLike) -> None:
        """Send a whole message: ``str`` as text, ``bytes``-like as binary.

        Waits while the transport's write buffer is above ``write_limit``.
        A message being sent with :meth:`send_fragments` is finished first.

        :raises ConnectionClosed: the connection is closing or closed.
        :raises TypeError: *message* is neither ``str`` nor bytes-like.
        """
        if self._send_lock.locked():
            async with self._send_lock:
                self._send_whole(message)
        else:
            self._send_whole(message)
        if self._write_paused:
            await self._drain()

    def _send_whole(self, message: DataLike) -> None:
        conn = self._conn
        if conn.state is not _OPEN or self._lost:
            raise self._closed_exception()
        if isinstance(message, str):
            conn.send(TextMessage(message))
        elif isinstance(message, (bytes, bytearray, memoryview)):
            conn.send(BinaryMessage(message))  # type: ignore[arg-type]  # copied to bytes
        else:
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        self._write(conn.data_to_send())

    async def send_fragments(self, fragments: Iterable[DataLike] | AsyncIterable[DataLike]) -> None:
        """Send one message in parts, from a sync or async iterable.

        Every part must be of the same type (``str``: a text message, bytes:
        binary); each is sent as a frame as soon as the iterable yields it, and
        an empty final frame ends the message. An empty iterable sends nothing.
        Other sends wait until the message is complete. If the iterable raises
        (or the call is cancelled) mid-message, the connection is closed with
        1011, since the message can no longer be completed.
        """
        async with self._send_lock:
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
                    self._fail(1011, "error while sending a fragmented message")
                raise
            if kind is None:
                return
            if self._conn.state is not _OPEN or self._lost:
                raise self._closed_exception()
            self._conn.send(TextMessage("", True) if kind is TextMessage else BinaryMessage(b""))
            self._write(self._conn.data_to_send())
            if self._write_paused:
                await self._drain()

    async def _send_fragment(
        self, part: DataLike, kind: type[TextMessage] | type[BinaryMessage] | None
    ) -> type[TextMessage] | type[BinaryMessage]:
        if isinstance(part, str):
            this: type[TextMessage] | type[BinaryMessage] = TextMessage
        elif isinstance(part, (bytes, bytearray, memoryview)):
            this = BinaryMessage
        else:
            raise TypeError(f"fragments must be str or bytes, not {type(part).__name__}")
        if kind is not None and this is not kind:
            raise TypeError("all fragments of a message must be str, or all bytes")
        if self._conn.state is not _OPEN or self._lost:
            raise self._closed_exception()
        self._conn.send(this(part, False))  # type: ignore[arg-type]
        self._write(self._conn.data_to_send())
        if self._write_paused:
            await self._drain()
        return this

    async def ping(self, data: DataLike | None = None) -> asyncio.Future[float]:
        """Send a ping; return an awaitable that resolves when its pong arrives.

        The awaitable's result is the round-trip time in seconds. A pong also
        answers every ping sent before the one it echoes (RFC 6455 §5.5.3).
        *data* (at most 125 bytes; ``str`` is UTF-8 encoded) defaults to four
        random bytes not used by another pending ping. Usage::

            pong = await ws.ping()
            latency = await pong

        :raises ConnectionClosed: the connection is closing or closed.
        :raises RuntimeError: a ping with the same data is already pending.
        """
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:  # pragma: no cover - 1 in 4 billion
                payload = os.urandom(4)
        else:
            payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            if payload in self._pings:
                raise RuntimeError("a ping with the same data is already waiting for its pong")
        if self._conn.state is not _OPEN or self._lost:
            raise self._closed_exception()
        self._conn.send(Ping(payload))
        self._write(self._conn.data_to_send())
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, self._loop.time())
        if self._write_paused:
            await self._drain()
        return waiter

    async def _drain(self) -> None:
        """Wait until the write buffer is below the low-water mark again."""
        while self._write_paused and not self._lost:
            waiter = self._drain_waiter
            if waiter is None or waiter.done():
                waiter = self._drain_waiter = self._loop.create_future()
            # Shielded: one sender's cancellation must not wake the others.
            await asyncio.shield(waiter)
        if self._lost:  # what was waiting to be written may never have left
            raise self._closed_exception()

    # -- closing ------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the connection is closed.

        Sends a close frame with *code* and *reason* (unless a close is already
        under way), waits for the peer's reply and the end of the TCP
        connection, at most ``close_timeout`` seconds after which the
        transport is aborted. Safe to call more than once. Messages received
        before the close can still be read with :meth:`recv`; once this side
        has sent its close frame, messages that no longer fit in the queue are
        dropped rather than holding up the peer's reply.

        :raises LocalProtocolError: *code* or *reason* cannot be sent (e.g.
            1005, 1006, or a reason over 123 bytes).
        """
        self._start_close(code, reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (the TCP connection included)."""
        await asyncio.shield(self._closed)

    def _start_close(self, code: int, reason: str) -> None:
        """Send a close frame now if the connection is open; arm the close timer."""
        conn = self._conn
        if conn.state is _OPEN and not self._lost:
            conn.send(Close(code, reason))
            self._sent_close = (code, reason)
            self._write(conn.data_to_send())
            if self._paused_queue:
                # The peer's reply may be stuck behind messages the application
                # no longer reads: read on, dropping what does not fit.
                self._paused_queue = False
                self._update_reading()
                self._process()
        self._arm_close_timer()

    def _fail(self, code: int, reason: str) -> None:
        """Close at once with *code*, without waiting for the peer's reply."""
        conn = self._conn
        if conn.state is _OPEN and not self._lost:
            conn.send(Close(code, reason))
            self._sent_close = (code, reason)
            self._write(conn.data_to_send())
        if self._close_code is None:
            self._close_code, self._close_reason = code, reason
        self._close_transport()

    def _closed_exception(self) -> ConnectionClosed:
        code = self._close_code
        if code is not None:
            return ConnectionClosed.create(code, self._close_reason)
        if self._sent_close is not None:  # closing: our close frame says how
            return ConnectionClosed.create(*self._sent_close)
        return ConnectionClosedError(1006, "the connection was lost")

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._lost and self._close_timeout is not None:
            self._close_timer = self._loop.call_later(self._close_timeout, self._abort)

    def _abort(self) -> None:
        if self._transport is not None and not self._lost:
            self._transport.abort()

    def _close_transport(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
        # close() flushes first, which a peer that does not read can stall.
        self._arm_close_timer()

    # -- keepalive ----------------------------------------------------------------

    def _start_keepalive(self) -> None:
        if self._ping_interval is not None and self._keepalive_task is None and not self._lost:
            self._keepalive_task = self._loop.create_task(self._keepalive())

    async def _keepalive(self) -> None:
        assert self._ping_interval is not None
        while True:
            await asyncio.sleep(self._ping_interval)
            if self._paused_queue:
                # The peer filled our queue, so it is alive; its pong would
                # wait behind the messages the application has not read.
                continue
            try:
                waiter = await self.ping()
            except ConnectionClosed:
                return
            if self._ping_timeout is None:
                continue
            try:
                await asyncio.wait_for(waiter, self._ping_timeout)
            except asyncio.TimeoutError:
                if self._paused_queue:
                    continue  # as above: stuck behind unread messages
                self._logger.info("keepalive ping timed out; closing the connection")
                self._fail(1011, "keepalive ping timeout")
                return
            except ConnectionClosed:
                return

    # -- transport callbacks ------------------------------------------------------

    def _connection_made(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        transport.set_write_buffer_limits(high=self._write_limit)

    def _data_received(self, data: bytes) -> None:
        self._conn.receive_data(data)
        if not (self._paused_queue or self._paused_answer):
            self._process()

    def _eof_received(self) -> None:
        self._conn.receive_data(b"")
        self._process(force=True)

    def _connection_lost(self, exc: Exception | None) -> None:
        self._conn.receive_data(b"")
        self._process(force=True)
        self._lost = True
        if self._close_code is None:
            self._close_code = 1006
            self._close_reason = "the connection closed without a closing handshake"
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        if not self._handshake_waiter.done():
            self._handshake_waiter.set_result(None)
        self._wake_reader()
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        error = self._closed_exception()
        for waiter, _ in self._pings.values():
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()  # retrieved: no "never retrieved" log if unawaited
        self._pings.clear()
        self._closed.set_result(None)

    def _resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- the core -----------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._paused_queue or self._paused_answer:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def _process(self, force: bool = False) -> None:
        """Take events from the core until it needs data or the queue is full.

        ``force`` (end of input) takes everything: no more data can arrive, so
        what is buffered is all there is.
        """
        conn = self._conn
        queue = self._queue
        max_queue = self._max_queue
        got = False
        # The request of a server waits for its answer even at end of input.
        while not self._paused_answer and (force or not self._paused_queue):
            event = conn.next_event()
            if event is None:
                break
            cls = event.__class__
            if cls is TextMessage or cls is BinaryMessage:
                if self._discard:
                    continue
                full = max_queue is not None and len(queue) >= max_queue
                if full and self._sent_close is not None:
                    # Closing: read on for the peer's reply, and drop this and
                    # every later message (never a message in part).
                    self._discard = True
                    continue
                queue.append(event)  # type: ignore[arg-type]
                got = True
                if max_queue is not None and len(queue) >= max_queue and self._sent_close is None:
                    self._paused_queue = True
                    self._update_reading()
            elif cls is Ping:
                pass  # the core queued the pong
            elif cls is Pong:
                self._on_pong(event.payload)  # type: ignore[attr-defined]
            elif cls is Close:
                self._on_close(event)  # type: ignore[arg-type]
                got = True
            else:
                self._on_handshake_event(event)
        if got:
            self._wake_reader()
        data = conn.data_to_send()
        if data:
            self._write(data)
        if conn.should_close_transport:
            self._close_transport()

    def _on_pong(self, payload: bytes) -> None:
        if payload not in self._pings:
            return  # unsolicited, or answers a ping already settled
        now = self._loop.time()
        # A pong answers its ping and every earlier one (dicts keep order).
        for key in list(self._pings):
            waiter, sent = self._pings.pop(key)
            if not waiter.done():
                waiter.set_result(now - sent)
            if key == payload:
                self._latency = now - sent
                break

    def _on_close(self, event: Close) -> None:
        if self._close_code is None:
            self._close_code, self._close_reason = event.code, event.reason
        if event.failed:
            self._logger.debug("connection failed: %d %s", event.code, event.reason)
        # The client waits for the server to close TCP, but not forever.
        self._arm_close_timer()

    def _on_handshake_event(self, event: Event) -> None:
        if isinstance(event, (Handshake, HTTPRequest)):
            # Server: hold everything until process_request has answered.
            self._request = event if isinstance(event, Handshake) else None
            self._paused_answer = True
            self._update_reading()
            self._handshake_waiter.set_result(event)
        elif isinstance(event, Reject):
            if self._reject is None:
                self._reject = event
            if sum(map(len, self._reject_body)) < _MAX_REJECT_BODY:
                self._reject_body.append(event.body)
            if event.final and not self._handshake_waiter.done():
                self._handshake_waiter.set_result(event)
        elif not self._handshake_waiter.done():  # Accept, HandshakeFailed
            if isinstance(event, Accept):
                self._response = event
            self._handshake_waiter.set_result(event)

    def _answer(self, answer: Accept | Reject) -> bool:
        """Server: send the answer to the request; True when it was accepted.

        :raises LocalProtocolError: the core refused *answer* (nothing was sent).
        """
        self._conn.send(answer)
        if isinstance(answer, Accept):
            self._response = answer
        self._paused_answer = False
        self._update_reading()
        self._process()  # writes the answer, then parses what followed the request
        return isinstance(answer, Accept)

    def __repr__(self) -> str:
        role = "client" if self._conn.client else "server"
        return f"<WebSocket {role} {self._conn.state.name} {self.remote_address}>"


class _MessageParts:
    """The iterator returned by :meth:`WebSocket.recv_streaming`."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._started = False
        self._done = False

    def __aiter__(self) -> _MessageParts:
        return self

    async def __anext__(self) -> Data:
        ws = self._ws
        if self._done:
            raise StopAsyncIteration
        if ws._recv_active:
            raise RuntimeError("another task is already receiving on this WebSocket")
        ws._recv_active = True
        try:
            part = await ws._next_part()
        except ConnectionClosed:
            self.retire()
            raise
        finally:
            ws._recv_active = False
        self._started = True
        if part.final:
            self._done = True
            ws._stream = None
        return part.data

    def retire(self) -> None:
        """Stop this iteration; the rest of a started message will be skipped."""
        if not self._done:
            self._done = True
            if self._started:
                self._ws._skip_partial = True
        if self._ws._stream is self:
            self._ws._stream = None


# -- client -------------------------------------------------------------------------


class ClientConnect:
    """What :func:`connect` returns: await it, or use it with ``async with``."""

    def __init__(
        self,
        uri: str,
        request: Handshake,
        ssl: ssl_module.SSLContext | bool | None,
        open_timeout: float | None,
        settings: _Settings,
        kwargs: dict[str, Any],
    ) -> None:
        self._uri = parse_uri(uri)
        self._request = request
        self._ssl: ssl_module.SSLContext | None = None
        if self._uri.secure:
            if isinstance(ssl, ssl_module.SSLContext):
                self._ssl = ssl
            else:
                self._ssl = ssl_module.create_default_context()
        elif ssl is not None:
            raise ValueError(f"connect() got an ssl argument for the ws:// URI {uri!r}")
        self._open_timeout = open_timeout
        self._settings = settings
        self._kwargs = kwargs
        self._ws: WebSocket | None = None

    def __await__(self) -> Generator[Any, None, WebSocket]:
        return self._connect().__await__()

    async def __aenter__(self) -> WebSocket:
        self._ws = await self._connect()
        return self._ws

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._ws is not None
        await self._ws.close()

    async def _connect(self) -> WebSocket:
        ws = self._settings.websocket(Role.CLIENT)
        timeout = self._open_timeout
        try:
            await asyncio.wait_for(self._open(ws), timeout)
        except asyncio.TimeoutError:
            uri = f"{'wss' if self._uri.secure else 'ws'}://{self._uri.host_header}"
            raise TimeoutError(
                f"timed out after {timeout} s while opening the connection to {uri}"
            ) from None
        ws._start_keepalive()
        return ws

    async def _open(self, ws: WebSocket) -> None:
        loop = asyncio.get_running_loop()
        kwargs = dict(self._kwargs)
        if self._ssl is not None:
            kwargs.setdefault("server_hostname", self._uri.host)
        if "sock" not in kwargs:
            kwargs["host"], kwargs["port"] = self._uri.host, self._uri.port
        await loop.create_connection(lambda: _Protocol(ws), ssl=self._ssl, **kwargs)
        try:
            ws._conn.send(self._request)
            ws._write(ws._conn.data_to_send())
            answer = await ws._handshake_waiter
        except BaseException:
            ws._abort()
            raise
        if isinstance(answer, Accept):
            return
        ws._abort()
        if isinstance(answer, Reject) and ws._reject is not None:
            raise InvalidHandshake(
                f"the server rejected the WebSocket connection: HTTP {answer.status}",
                answer.status,
                ws._reject.headers,
                b"".join(ws._reject_body)[:_MAX_REJECT_BODY],
            )
        if isinstance(answer, HandshakeFailed):
            raise InvalidHandshake(f"invalid handshake response: {answer.reason}", answer.status)
        raise InvalidHandshake("the connection closed during the opening handshake")


def connect(
    uri: str,
    *,
    subprotocols: Sequence[str] | None = None,
    extra_headers: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
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
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    **kwargs: Any,
) -> ClientConnect:
    """Open a WebSocket connection to *uri*: ``ws = await connect(uri)`` or
    ``async with connect(uri) as ws:`` (which closes it on exit).

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
        transport is aborted.
    :param ping_interval: seconds between keepalive pings (``None``: none).
    :param ping_timeout: seconds a keepalive ping waits for its pong before the
        connection is closed with 1011 (``None``: wait forever).
    :param max_message_size: the largest message accepted (1009 beyond).
    :param max_queue: received message parts held before reading stops.
    :param write_limit: bytes waiting to be written above which sends wait.
    :param logger: defaults to ``logging.getLogger("wsproto_lite.asyncio.client")``.
    :param kwargs: passed to :meth:`asyncio.loop.create_connection` (e.g.
        ``sock=``, ``local_addr=``).
    :raises InvalidURI: *uri* is not a WebSocket URI (raised at once).
    :raises InvalidHandshake: the server refused (``.status``, ``.headers``,
        ``.body``) or answered something invalid.
    :raises TimeoutError: *open_timeout* expired.
    :raises OSError: the TCP connection could not be made.
    """
    parsed = parse_uri(uri)
    headers = extra_headers.items() if isinstance(extra_headers, Mapping) else extra_headers
    request = Handshake(
        host=parsed.host_header,
        target=parsed.resource,
        subprotocols=tuple(subprotocols or ()),
        extra_headers=tuple(headers or ()),
        origin=origin,
    )
    settings = _Settings(
        _extensions(compression, extensions),
        max_message_size,
        close_timeout,
        ping_interval,
        ping_timeout,
        max_queue,
        write_limit,
        logger or logging.getLogger("wsproto_lite.asyncio.client"),
    )
    return ClientConnect(uri, request, ssl, open_timeout, settings, kwargs)


# -- server -------------------------------------------------------------------------


class Server:
    """A WebSocket server; created by :func:`serve`.

    Start it with ``server = await serve(...)`` or ``async with serve(...) as
    server:`` (which shuts it down on exit).
    """

    def __init__(
        self,
        handler: Handler,
        host: str | Sequence[str] | None,
        port: int | None,
        process_request: ProcessRequest | None,
        subprotocols: Sequence[str] | None,
        ssl: ssl_module.SSLContext | None,
        open_timeout: float | None,
        settings: _Settings,
        kwargs: dict[str, Any],
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._process_request = process_request
        self._subprotocols = subprotocols
        self._ssl = ssl
        self._open_timeout = open_timeout
        self._settings = settings
        self._kwargs = kwargs
        #: The server's logger.
        self.logger = settings.logger
        self._server: asyncio.Server | None = None
        self._bound_port: int | None = None
        self._tasks: dict[WebSocket, asyncio.Task[None]] = {}
        self._shutdown_task: asyncio.Task[None] | None = None
        self._closed: asyncio.Future[None] | None = None

    # -- lifecycle ----------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Server]:
        return self.start().__await__()

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    async def start(self) -> Server:
        """Start listening (idempotent); return the server."""
        if self._server is None:
            loop = asyncio.get_running_loop()
            self._closed = loop.create_future()
            self._server = await loop.create_server(
                self._new_protocol, self._host, self._port, ssl=self._ssl, **self._kwargs
            )
            if self._server.sockets:
                self._bound_port = int(self._server.sockets[0].getsockname()[1])
        return self

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets."""
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def port(self) -> int:
        """The port of the first listening socket (useful with ``port=0``)."""
        if self._bound_port is None:
            raise RuntimeError("the server is not started: await it or use async with")
        return self._bound_port

    @property
    def connections(self) -> frozenset[WebSocket]:
        """The connections being served (handshake in progress included)."""
        return frozenset(self._tasks)

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` is called; shut down if cancelled."""
        await self.start()
        assert self._closed is not None
        try:
            await asyncio.shield(self._closed)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    def close(self, code: int = 1001, reason: str = "going away") -> None:
        """Start a graceful shutdown; :meth:`wait_closed` waits for its end.

        Stops accepting connections, closes every open connection with *code*
        and *reason*, drops handshakes in progress, waits up to
        ``close_timeout`` for the handlers to return, then cancels them.
        """
        if self._shutdown_task is None and self._server is not None:
            self._shutdown_task = asyncio.get_running_loop().create_task(
                self._shutdown(code, reason)
            )

    async def wait_closed(self) -> None:
        """Wait until the server is shut down (call :meth:`close` first)."""
        if self._closed is not None:
            await asyncio.shield(self._closed)

    async def _shutdown(self, code: int, reason: str) -> None:
        assert self._server is not None and self._closed is not None
        try:
            self._server.close()
            for ws in list(self._tasks):
                if ws.state is _OPEN:
                    ws._start_close(code, reason)
                elif ws.state is ConnectionState.CONNECTING:
                    ws._abort()
            tasks = list(self._tasks.values())
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=self._settings.close_timeout)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending)
            await self._server.wait_closed()
        finally:
            self._closed.set_result(None)

    # -- connections --------------------------------------------------------------

    def _new_protocol(self) -> _Protocol:
        return _Protocol(self._settings.websocket(Role.SERVER), self._connection_made)

    def _connection_made(self, ws: WebSocket) -> None:
        if self._shutdown_task is not None:
            ws._abort()  # accepted just as the server was closing
            return
        task = asyncio.get_running_loop().create_task(self._serve(ws))
        self._tasks[ws] = task
        task.add_done_callback(lambda _: self._tasks.pop(ws, None))

    async def _serve(self, ws: WebSocket) -> None:
        try:
            try:
                accepted = await asyncio.wait_for(self._handshake(ws), self._open_timeout)
            except asyncio.TimeoutError:
                self.logger.info("opening handshake timed out (%s)", ws.remote_address)
                ws._abort()
                return
            except Exception:
                self.logger.exception("opening handshake failed")
                ws._abort()
                return
            if accepted:
                ws._start_keepalive()
                try:
                    await self._handler(ws)
                except ConnectionClosed:
                    # Usually this connection closing: not an error.
                    ws._start_close(1000, "")
                except Exception:
                    self.logger.exception("connection handler failed")
                    ws._start_close(1011, "internal error")
                else:
                    ws._start_close(1000, "")
            await ws.wait_closed()
        except asyncio.CancelledError:
            ws._abort()
            raise

    async def _handshake(self, ws: WebSocket) -> bool:
        request = await ws._handshake_waiter
        if not isinstance(request, (Handshake, HTTPRequest)):
            if isinstance(request, HandshakeFailed):
                self.logger.debug("invalid opening handshake: %s", request.reason)
            return False  # the core answered (400, 426, 431) or the client left
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
        if ws._lost:  # the client left (or the server is closing) meanwhile
            return False
        if answer is None:
            answer = default_answer(request, self._subprotocols)
        try:
            return ws._answer(answer)
        except LocalProtocolError:
            # E.g. Accept for a plain HTTP request, or an unoffered subprotocol.
            self.logger.exception("process_request returned an answer that cannot be sent")
            return ws._answer(_internal_error())


def _internal_error() -> Reject:
    return Reject(500, [("Content-Type", "text/plain")], b"Internal Server Error\n")


def serve(
    handler: Handler,
    host: str | Sequence[str] | None = None,
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
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server; ``async with serve(...) as server:`` or
    ``server = await serve(...)``.

    :param handler: ``async def handler(ws)``, called once per connection after
        the handshake. The connection is closed with 1000 when it returns and
        with 1011 when it raises (the exception is logged).
    :param host: the interface(s) to listen on (``None``: all).
    :param port: the port (``0``: any free port; see :attr:`Server.port`).
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
    :param open_timeout: seconds a client has to complete the handshake.
    :param close_timeout: seconds the closing handshake (and a graceful
        shutdown's wait for the handlers) may take.
    :param ping_interval: seconds between keepalive pings (``None``: none).
    :param ping_timeout: seconds a ping waits for its pong before the
        connection is closed with 1011 (``None``: wait forever).
    :param max_message_size: the largest message accepted (1009 beyond).
    :param max_queue: received message parts held per connection before
        reading stops.
    :param write_limit: bytes waiting to be written above which sends wait.
    :param logger: defaults to ``logging.getLogger("wsproto_lite.asyncio.server")``.
    :param kwargs: passed to :meth:`asyncio.loop.create_server` (e.g.
        ``sock=``, ``reuse_port=``, ``backlog=``).
    """
    settings = _Settings(
        _extensions(compression, extensions),
        max_message_size,
        close_timeout,
        ping_interval,
        ping_timeout,
        max_queue,
        write_limit,
        logger or logging.getLogger("wsproto_lite.asyncio.server"),
    )
    return Server(
        handler, host, port, process_request, subprotocols, ssl, open_timeout, settings, kwargs
    )
