"""WebSocket clients and servers on asyncio.

The adapter moves bytes between an asyncio transport and a
:class:`~wsproto_lite.Connection` and owns time: the opening and closing
timeouts and the keepalive pings. Every protocol decision is the core's, and
what the three adapters share lives in one sans-I/O session.

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

Flow control works both ways. A received message waits for the application,
and what follows it is not parsed until the application asks for the next one
(so that its answer goes out before, say, the reply to a close frame that came
next); bytes that arrive meanwhile are kept up to ``max_queue`` × 64 KiB, then
the adapter stops reading the socket, so a peer that sends faster than the
application reads is slowed down by TCP. :meth:`WebSocket.send` waits while
more than ``write_limit`` bytes are waiting to be written, so a peer that does
not read cannot make the sender's memory grow either.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import (
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any

from .._connection import Role
from .._events import Accept, Event, Handshake, HTTPRequest, Reject
from .._prepared import PreparedMessage
from .._states import ConnectionState
from . import _broadcast, _common, _session
from ._broadcast import BroadcastResult, SkipReason
from ._common import WebSocketURI
from ._errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    WebSocketError,
)
from ._options import Settings
from ._session import Part, Session

__all__ = [
    "BroadcastResult",
    "ClientConnect",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "DataLike",
    "InvalidHandshake",
    "InvalidURI",
    "PongWaiter",
    "Server",
    "SkipReason",
    "WebSocket",
    "WebSocketError",
    "broadcast",
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


class _Protocol(asyncio.Protocol):
    """Forwards the transport's callbacks to a :class:`WebSocket`."""

    __slots__ = ("data_received", "on_made", "ws")

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
        self.ws._session.receive_data(b"")
        self.ws._process()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.ws._connection_lost()

    def pause_writing(self) -> None:
        self.ws._write_paused = True
        self.ws._output_moved()  # the output is blocked: its clock starts

    def resume_writing(self) -> None:
        self.ws._write_paused = False
        self.ws._wake(self.ws._drain_waiter)
        self.ws._output_moved()  # a pong held back goes out


class PongWaiter(_common.AwaitablePongWaiter):
    """What :meth:`WebSocket.ping` returns: await it for the round trip in seconds.

    ::

        pong = await ws.ping()
        latency = await pong

    Awaiting raises :class:`ConnectionClosed` if the connection closed before
    the pong arrived. The same object, with the same meaning, as the trio
    adapter's (and, with ``wait()`` instead of ``await``, the blocking one's).
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(asyncio.Event())


class WebSocket(_common.AsyncWebSocketBase[PongWaiter]):
    """An open WebSocket connection, on either side.

    Servers pass one to their handler; :func:`connect` returns one. Messages
    are ``str`` (text) or ``bytes`` (binary).

    Not meant to be instantiated directly.
    """

    __slots__ = (
        "__weakref__", "_close_waiters", "_closed", "_conn", "_deadline", "_drain_waiter",
        "_handshake_waiter", "_local_address", "_loop", "_now", "_reading_paused",
        "_recv_waiter", "_remote_address", "_session", "_timer", "_transport",
        "_write_paused",
    )  # fmt: skip
    _Lock = asyncio.Lock
    _PongWaiter = PongWaiter

    def __init__(self, session: Session, clock: Callable[[], float] | None = None) -> None:
        self._session = session
        self._conn = session.conn
        self._remote_address: Any = None
        self._local_address: Any = None
        self._loop = asyncio.get_running_loop()
        # The loop's clock: a server's connections share one bound method.
        self._now = clock or self._loop.time
        self._transport: asyncio.Transport | None = None
        self._reading_paused = False
        self._recv_waiter: asyncio.Future[None] | None = None
        self._recv_active = False
        self._streaming = None  # the current recv_streaming()
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        # Keeps a fragmented message whole; made by the first send_fragments().
        self._send_lock = None
        # Set when the handshake has an outcome; dropped then.
        self._handshake_waiter: asyncio.Future[None] | None = self._loop.create_future()
        # The transport is closed; those who wait for it (a future each, made
        # as needed: a shield around one shared future costs more per idle
        # connection than the waiting handler itself).
        self._closed = False
        self._close_waiters: list[asyncio.Future[None]] | None = None
        # One timer, at the session's next deadline (see _schedule).
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None

    # -- receiving ----------------------------------------------------------------

    async def _next_part(self) -> Part:
        """Take the next message part, parsing on or waiting for one if needed."""
        session = self._session
        while True:
            part = session.take_part(self._now())
            if part is not None:
                return part
            if session.has_unparsed and self._process():  # it asks for more: parse on
                continue
            if session.aborted or self._conn.state is _CLOSED:
                raise session.closed_exception()
            waiter = self._recv_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None

    # -- sending ------------------------------------------------------------------

    async def send(self, message: DataLike) -> None:
        """Send a whole message: ``str`` as text, ``bytes``-like as binary.

        Waits while the transport's write buffer is above ``write_limit``.
        A message being sent with :meth:`send_fragments` is finished first.

        :raises ConnectionClosed: the connection is closing or closed.
        :raises TypeError: *message* is neither ``str`` nor bytes-like.
        """
        event = _session.message_event(message)
        lock = self._send_lock
        if lock is not None and lock.locked():
            async with lock:
                self._send_event(event)
        else:
            self._send_event(event)
        if self._write_paused:
            await self._drain()

    def _send_event(self, event: Event) -> None:
        if not self._session.send(event):
            raise self._session.closed_exception()
        self._flush()

    async def _send(self, queue: Callable[[], bool]) -> None:
        """Queue an event with *queue* (``False``: the connection is not open),
        write it, and wait while the write buffer is above ``write_limit``."""
        if not queue():
            raise self._session.closed_exception()
        self._flush()
        if self._write_paused:
            await self._drain()

    async def _drain(self) -> None:
        """Wait until the write buffer is below the low-water mark again."""
        while self._write_paused and not self._session.aborted:
            waiter = self._drain_waiter
            if waiter is None or waiter.done():
                waiter = self._drain_waiter = self._loop.create_future()
            # Shielded: one sender's cancellation must not wake the others.
            await asyncio.shield(waiter)
        if self._session.aborted:  # what was waiting to be written may never have left
            raise self._session.closed_exception()

    # -- closing ------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the connection is closed.

        Sends a close frame with *code* and *reason* (unless a close is already
        under way), waits for the peer's reply and the end of the TCP
        connection, at most ``close_timeout`` seconds after which the
        transport is aborted. Safe to call more than once. Messages received
        before the close can still be read with :meth:`recv`; once this side
        has sent its close frame, the messages that arrive after the first
        ``max_queue`` ones are dropped rather than holding up the peer's reply.

        :raises LocalProtocolError: *code* or *reason* cannot be sent (e.g.
            1005, 1006, or a reason over 123 bytes).
        """
        self._start_close(code, reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (the TCP connection included)."""
        if self._closed:
            return
        waiter = self._loop.create_future()
        if self._close_waiters is None:
            self._close_waiters = []
        self._close_waiters.append(waiter)
        try:
            await waiter
        finally:
            if not self._closed:  # cancelled
                self._close_waiters.remove(waiter)

    async def _wait_handshake(self) -> None:
        """Wait until the opening handshake has an outcome (or the transport closed)."""
        waiter = self._handshake_waiter
        if waiter is not None:
            await waiter
            self._handshake_waiter = None

    def _start_close(self, code: int, reason: str) -> None:
        """Send a close frame now if the connection is open (the closing timeout starts)."""
        self._session.start_close(code, reason)
        # Writes the frame, and reads on past unread messages for the reply.
        self._process()

    def _fail(self, code: int, reason: str) -> None:
        """Close at once with *code*, without waiting for the peer's reply."""
        self._session.fail(code, reason)
        self._process()

    def _abort(self) -> None:
        if self._transport is not None and not self._session.aborted:
            self._transport.abort()

    def _close_transport(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            # close() flushes first, which a peer that does not read can
            # stall: the session's closing timeout runs meanwhile.
            transport.close()

    # -- clocks -------------------------------------------------------------------

    def _output_moved(self) -> None:
        """Tell the session how much the transport holds; act on what follows."""
        transport = self._transport
        if transport is not None and not self._session.aborted:
            self._session.transport_holds(transport.get_write_buffer_size(), self._now())
            self._process()

    def _on_timer(self) -> None:
        self._timer = self._deadline = None
        if self._write_paused:
            self._output_moved()  # did the peer read meanwhile?
        else:
            self._process()

    def _schedule(self, now: float | None = None) -> None:
        """Run the session's clocks (keepalive, timeouts, the answer time, an
        output that does not move) at *now* (the loop's time if ``None``); arm
        the timer for the next deadline."""
        session = self._session
        woke, deadline = session.tick(self._now() if now is None else now)
        if woke:
            self._wake(self._recv_waiter)
        if session.has_output:
            self._flush()  # a keepalive ping, or the close frame of a failure
        if session.must_abort:
            self._abort()
        elif session.should_close_transport:
            self._close_transport()
        if deadline != self._deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None if deadline is None else self._loop.call_at(deadline, self._on_timer)
            self._deadline = deadline

    # -- the transport and the core -----------------------------------------------

    def _connection_made(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        transport.set_write_buffer_limits(high=self._session.settings.write_limit)
        self._remote_address = transport.get_extra_info("peername")
        self._local_address = transport.get_extra_info("sockname")
        self._schedule()  # a server's opening timeout starts

    def _data_received(self, data: bytes) -> None:
        self._session.receive_data(data)
        self._process()

    def _connection_lost(self) -> None:
        session = self._session
        session.receive_data(b"")
        self._process()  # what is left: input ended, so all of it
        session.transport_closed()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._write_paused = False
        for waiter in (self._handshake_waiter, self._recv_waiter, self._drain_waiter):
            self._wake(waiter)
        self._closed = True
        for waiter in self._close_waiters or ():
            self._wake(waiter)
        self._close_waiters = None

    def _wake(self, waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _flush(self) -> None:
        """Write what the session has queued (dropped if the transport is closing)."""
        session = self._session
        data = session.take_output()
        if data:
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.write(data)
                # (Usually 0 at once: the socket took it all.)
                session.written(transport.get_write_buffer_size(), self._now)

    def _process(self) -> bool:
        """Let the session take events from the core; act on what it found.

        Returns whether something for receivers arrived.
        """
        session = self._session
        now = self._now()
        woke = session.process(now)
        if woke:
            self._wake(self._recv_waiter)
            if session.handshake_done:
                self._wake(self._handshake_waiter)
        if session.has_output:
            self._flush()  # pongs, the close reply, a server's answer
        # Reading goes on while the output is blocked (the session holds back
        # the pongs then): a peer that stops reading while its own output is
        # blocked, as this one does not, would otherwise wait for us for ever.
        paused = session.reading_paused
        transport = self._transport
        if paused is not self._reading_paused and transport and not transport.is_closing():
            self._reading_paused = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()
        if not session.aborted:
            self._schedule(now)
        return woke


# -- broadcast ----------------------------------------------------------------------


def broadcast(
    connections: Iterable[WebSocket], message: DataLike, *, compress: bool = False
) -> BroadcastResult[WebSocket]:
    """Send *message* to every connection that can take it now; never wait.

    The message is encoded and framed once, and the same bytes are written to
    every open connection whose write buffer is within ``write_limit``. A
    connection that cannot take it now is skipped, not waited for, and
    reported with the reason; the others are unaffected::

        result = broadcast(server.connections, "news")
        for ws, reason in result.skipped.items():
            log.warning("%s missed the news: %s", ws.remote_address, reason.value)

    A plain function, not a coroutine: the message is handed to each
    transport before it returns. Each connection that takes it receives it
    whole, after whatever was sent on it before.

    :param connections: :class:`WebSocket` s of this adapter (e.g.
        :attr:`Server.connections`), any iterable.
    :param message: ``str`` for a text message, bytes-like for binary.
    :param compress: where permessage-deflate was negotiated, compress the
        message for each such connection (one zlib run per connection).
        By default (``False``) those connections get the shared frame
        uncompressed, as RFC 7692 §6 allows, which is what makes a
        broadcast cheap; compression pays off for large, compressible
        messages over slow links.
    :returns: a :class:`BroadcastResult`: how many connections took the
        message, and which were skipped, with their :class:`SkipReason`
        (``NOT_OPEN``: handshake in progress, closing or closed; ``BUSY``: more
        than ``write_limit`` bytes already wait to be written; ``FRAGMENTING``:
        a :meth:`WebSocket.send_fragments` is under way).
    :raises TypeError: *message* is neither ``str`` nor bytes-like, or one of
        *connections* is not an asyncio :class:`WebSocket` (nothing is sent).
    :raises LocalProtocolError: *message* is text that UTF-8 cannot encode
        (nothing is sent).
    """
    return _broadcast.broadcast(
        connections, message, compress, WebSocket, "asyncio", _hand_over, _broadcast.write_shared
    )


def _hand_over(ws: WebSocket, prepared: PreparedMessage, compress: bool) -> SkipReason | None:
    transport = ws._transport
    if transport is None or transport.is_closing():
        return SkipReason.NOT_OPEN
    reason = _broadcast.offer(ws._session, prepared, compress)
    if reason is None:
        ws._flush()
    return reason


# -- client -------------------------------------------------------------------------


class ClientConnect:
    """What :func:`connect` returns: await it, or use it with ``async with``."""

    def __init__(
        self,
        uri: WebSocketURI,
        request: Handshake,
        ssl: ssl_module.SSLContext | None,
        settings: Settings,
        kwargs: dict[str, Any],
    ) -> None:
        self._uri = uri
        self._request = request
        self._ssl = ssl
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
        ws = WebSocket(Session(Role.CLIENT, self._settings))
        timeout = self._settings.open_timeout
        try:
            await asyncio.wait_for(self._open(ws), timeout)
        except asyncio.TimeoutError:
            raise _common.open_timeout_error(self._uri, timeout) from None
        ws._process()  # the clocks start (keepalive)
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
            ws._flush()
            await ws._wait_handshake()
            ws._session.client_result()
        except BaseException:
            ws._abort()
            raise


def connect(
    uri: str,
    *,
    subprotocols: Sequence[str] | None = None,
    extra_headers: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
    origin: str | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    **options: Any,
) -> ClientConnect:
    """Open a WebSocket connection to *uri*: ``ws = await connect(uri)`` or
    ``async with connect(uri) as ws:`` (which closes it on exit).

    :param uri: a ``ws://`` or ``wss://`` URI.
    :param subprotocols: subprotocols to offer, most preferred first.
    :param extra_headers: headers added to the handshake request.
    :param origin: the ``Origin`` header.
    :param ssl: for ``wss://``, an :class:`ssl.SSLContext` (default: the
        system's trusted CAs, :func:`ssl.create_default_context`).
    :param options: the :class:`~wsproto_lite.adapters.Options` (``open_timeout=``,
        ``max_message_size=``…), the same in every adapter; any other keyword
        argument is passed to :meth:`asyncio.loop.create_connection` (e.g.
        ``sock=``, ``local_addr=``).
    :raises InvalidURI: *uri* is not a WebSocket URI (raised at once).
    :raises InvalidHandshake: the server refused (``.status``, ``.headers``,
        ``.body``) or answered something invalid.
    :raises TimeoutError: ``open_timeout`` expired.
    :raises OSError: the TCP connection could not be made.
    """
    ours, kwargs = Settings.split(options)
    settings = Settings.create("asyncio.client", ours)
    parsed, request = _common.client_request(uri, subprotocols, extra_headers, origin)
    return ClientConnect(parsed, request, _common.client_ssl(parsed, ssl), settings, kwargs)


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
        ssl: ssl_module.SSLContext | None,
        settings: Settings,
        kwargs: dict[str, Any],
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._process_request = process_request
        self._ssl = ssl
        self._settings = settings
        self._kwargs = kwargs
        #: The server's logger.
        self.logger = settings.logger
        self._server: asyncio.Server | None = None
        self._bound_port: int | None = None
        self._tasks: dict[WebSocket, asyncio.Task[None]] = {}
        self._shutdown_task: asyncio.Task[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._clock: Callable[[], float] | None = None  # the loop's, once started

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
            self._clock = loop.time
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
        """The connections whose handshake is done, until they are closed (the
        same in every adapter: handshakes in progress are not included)."""
        return frozenset(ws for ws in self._tasks if ws._session.response is not None)

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
        session = Session(Role.SERVER, self._settings)
        clock = self._clock
        assert clock is not None  # (started)
        session.start_clock(clock())  # the opening timeout
        return _Protocol(WebSocket(session, clock), self._connection_made)

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
                # Within open_timeout: the session's clock aborts the transport.
                accepted = await self._handshake(ws)
            except Exception:
                self.logger.exception("opening handshake failed")
                ws._abort()
                return
            if accepted:
                # The handler is awaited here, not in a helper: a coroutine
                # more per idle connection would cost a few hundred bytes.
                error = None
                try:
                    await self._handler(ws)
                except Exception as exc:
                    error = exc
                ws._start_close(*_session.handler_ended(self.logger, error))
            await ws.wait_closed()
        except asyncio.CancelledError:
            ws._abort()
            raise

    async def _handshake(self, ws: WebSocket) -> bool:
        await ws._wait_handshake()
        session = ws._session
        request = session.pending_request
        if request is None:
            return False  # the core answered (400, 426, 431) or the client left
        result, error = await _common.await_hook(self._process_request, request)
        if session.aborted or session.must_abort:  # the client left, or it took too long
            return False
        accepted = session.answer(result, error)
        ws._process()  # writes the answer, then parses what followed the request
        return accepted


def serve(
    handler: Handler,
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    process_request: ProcessRequest | None = None,
    subprotocols: Sequence[str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    **options: Any,
) -> Server:
    """Create a WebSocket server; ``async with serve(...) as server:`` or
    ``server = await serve(...)``.

    :param handler: ``async def handler(ws)``, called once per connection after
        the handshake. The connection is closed with 1000 when it returns and
        with 1011 when it raises (the exception is logged).
    :param host: the interface(s) to listen on (``None``: all).
    :param port: the port (``0``: any free port; see :attr:`Server.port`).
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
        ``max_message_size=``…), the same in every adapter; any other keyword
        argument is passed to :meth:`asyncio.loop.create_server` (e.g.
        ``sock=``, ``reuse_port=``, ``backlog=``).
    """
    ours, kwargs = Settings.split(options)
    settings = Settings.create("asyncio.server", ours, subprotocols)
    return Server(handler, host, port, process_request, ssl, settings, kwargs)
