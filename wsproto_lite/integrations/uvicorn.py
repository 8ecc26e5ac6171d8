"""A uvicorn WebSocket protocol on the sans-I/O core.

:class:`WebSocketProtocol` serves the WebSocket connections of any ASGI
application (FastAPI, Starlette, …) in uvicorn::

    import uvicorn
    from wsproto_lite.integrations.uvicorn import WebSocketProtocol

    uvicorn.run(app, ws=WebSocketProtocol)
    # or: uvicorn app:app --ws wsproto_lite.integrations.uvicorn:WebSocketProtocol

It is an :class:`asyncio.Protocol` driven the way uvicorn drives its own
WebSocket protocols: uvicorn's HTTP protocol parses a request with
``Upgrade: websocket``, builds this class with ``config``, ``server_state`` and
``app_state``, hands it the transport (``connection_made``) and replays the
request's bytes (``data_received``). From there on a
:class:`~wsproto_lite.Connection` does all the protocol work and this class
moves bytes, runs the application and keeps the clocks (keepalive pings, the
closing handshake's timeout).

What the application sees is the ASGI WebSocket interface, spec version 2.5,
with the ``websocket.http.response`` extension (a denial response, its body
whole or streamed). uvicorn's options apply: ``ws_max_size`` (the largest
message, 1009 beyond), ``ws_max_queue`` (how many received messages are parsed
ahead of an application that has not taken them), ``ws_ping_interval`` and
``ws_ping_timeout`` (a client that does not answer a ping is closed with
1011), ``ws_per_message_deflate``, ``server_header`` and ``date_header`` (the
handshake's response carries uvicorn's default headers), ``root_path``,
proxy headers (uvicorn's middleware, which sees the ``websocket`` scope), TLS
(``wss``) and access logging (one line per handshake on ``uvicorn.access``,
in uvicorn's format, off with ``--no-access-log``). On shutdown an open
connection is closed with 1012 (Service Restart).

Flow control, both ways:

* Reading stops while a received message waits for the application (the
  kernel's buffer and TCP's window then hold the peer back). What one read
  already brought is parsed up to ``ws_max_queue`` messages ahead; the rest
  waits, unparsed, in the connection. Before the handshake is answered, a
  client sends nothing (RFC 6455 §4.1): reading goes on only to see it hang
  up, up to :data:`EARLY_DATA_LIMIT` bytes. After the application sent
  ``websocket.close``, reading goes on (the peer's reply must be seen) and
  data messages are dropped; after a failure, the sending side is shut and
  what the peer still sends is read and dropped until its end of stream.
* ``send()`` waits while the transport's write buffer is over its high-water
  mark (``pause_writing``/``resume_writing``), and reading stops meanwhile:
  a peer that sends pings and reads nothing cannot grow the pongs owed.

Errors: an application that raises before answering the handshake gets a
``500`` response; after accepting, a close frame with 1011. uvicorn's own
implementations close the TCP connection without a close frame there; this
class does the same only in one case, which uvicorn's tests pin: when the
exception is the one :meth:`WebSocketProtocol.send` raised because the
application sent a message the ASGI interface does not allow at that point
(a second ``websocket.accept``, …). An application that returns after
accepting without sending ``websocket.close`` has its connection closed
without a close frame, as uvicorn does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal, cast
from urllib.parse import unquote

from uvicorn.config import Config
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.utils import (
    ClientDisconnected,
    get_client_addr,
    get_local_addr,
    get_path_with_query_string,
    get_remote_addr,
    is_ssl,
)
from uvicorn.server import ServerState

from .. import (
    Accept,
    BinaryMessage,
    Close,
    CloseCode,
    Connection,
    Event,
    Extension,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    LocalProtocolError,
    Ping,
    Pong,
    Reject,
    RejectData,
    Role,
    TextMessage,
)
from ..extensions.permessage_deflate import PerMessageDeflate

__all__ = ["EARLY_DATA_LIMIT", "SPEC_VERSION", "WebSocketProtocol"]

Message = dict[str, Any]
HeaderPairs = list[tuple[str, str]]
_App = Callable[[Any, Callable[[], Awaitable[Message]], Callable[[Mapping[str, Any]], Any]], Any]

#: The ASGI HTTP/WebSocket spec version implemented (2.5: ``reason`` in
#: ``websocket.disconnect``; 2.4: ``send()`` raises ``OSError`` once closed).
SPEC_VERSION = "2.5"

# Where the conversation with the application is.
_CONNECTING = 0  # the handshake request is awaited, or the application's answer to it
_RESPONDING = 1  # a denial response (websocket.http.response.*) is being sent
_OPEN = 2  # accepted: messages flow both ways
_CLOSING = 3  # a close frame was sent; the peer's reply is awaited (close_timer runs)
_CLOSED = 4  # over

#: The most bytes read before the handshake is answered (the request, and
#: whatever a client sends too early); beyond it reading stops until then.
EARLY_DATA_LIMIT = 1 << 16

_CONNECT: Message = {"type": "websocket.connect"}
_INTERNAL_ERROR_BODY = b"Internal Server Error"
_TEXT_PLAIN = ("content-type", "text/plain; charset=utf-8")
_BYTES = (bytes, bytearray, memoryview)


def _text_pairs(headers: Iterable[Any]) -> HeaderPairs:
    """ASGI headers (byte-string pairs) as the ``str`` pairs events take."""
    pairs = []
    for pair in headers:
        try:
            name, value = pair
        except (TypeError, ValueError):
            name = value = None
        if not isinstance(name, _BYTES) or not isinstance(value, _BYTES):
            raise RuntimeError(
                f"ASGI headers are [name, value] pairs of byte strings, not {pair!r}"
            )
        pairs.append((bytes(name).decode("latin-1"), bytes(value).decode("latin-1")))
    return pairs


class _OutOfOrder(RuntimeError):
    """The application sent an ASGI message the interface does not allow now."""


def _deflate() -> Extension:
    # uvicorn's websockets-based implementation offers these, to bound the
    # memory of each compressed connection (4 KiB windows, memLevel 5).
    return PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12, mem_level=5)


class WebSocketProtocol(asyncio.Protocol):
    """uvicorn's WebSocket protocol interface, on :class:`~wsproto_lite.Connection`.

    Give the class itself to uvicorn (``uvicorn.run(app, ws=WebSocketProtocol)``,
    ``uvicorn.Config(app, ws=WebSocketProtocol)``, or
    ``--ws wsproto_lite.integrations.uvicorn:WebSocketProtocol``); uvicorn builds
    one per upgraded connection.

    :param config: uvicorn's :class:`uvicorn.Config` (loaded if it is not yet).
    :param server_state: uvicorn's shared ``ServerState``: this protocol adds
        itself to its ``connections`` and its application task to its
        ``tasks``, and takes the response's default headers (``Server``,
        ``Date``) from its ``default_headers``.
    :param app_state: the lifespan state; each scope gets a shallow copy.
    :param _loop: the event loop (the running loop by default).

    The attributes uvicorn's own WebSocket protocols have keep their meaning:
    ``transport``, ``scope`` (once the request arrived), ``close_timeout``
    (seconds to wait for the peer's close reply, 10 by default; may be changed
    at any time), ``close_timer`` (the handle of that wait, ``None`` when no
    reply is awaited), ``ping_timer`` (the handle of the next keepalive ping,
    ``None`` when keepalive is off or stopped), ``ping_sent_at`` (the loop time
    of the last keepalive ping, ``0.0`` before the first) and ``last_ping_rtt``.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        #: uvicorn's configuration.
        self.config = config
        #: The ASGI application (as uvicorn loaded and wrapped it).
        self.app = cast(_App, config.loaded_app)
        #: The event loop.
        self.loop = _loop or asyncio.get_running_loop()
        #: ``uvicorn.error``: application errors, trace messages.
        self.logger = logging.getLogger("uvicorn.error")
        #: ``uvicorn.access``: one line per handshake answer.
        self.access_logger = logging.getLogger("uvicorn.access")
        #: Whether the access log is on (uvicorn removes its handlers when off).
        self.access_log = self.access_logger.hasHandlers()
        #: The application's mount point (``--root-path``).
        self.root_path = config.root_path
        #: The lifespan state each scope gets a copy of.
        self.app_state = app_state
        #: uvicorn's shared server state.
        self.server_state = server_state
        #: The server's live connections (this one while it lives).
        self.connections: set[Any] = server_state.connections
        #: The server's application tasks (this one's while it runs).
        self.tasks = server_state.tasks

        #: The transport, from :meth:`connection_made` on.
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        #: The local address (host, port), or ``None``.
        self.server: tuple[str, int | None] | None = None
        #: The peer's address (host, port), or ``None``.
        self.client: tuple[str, int] | None = None
        #: ``"wss"`` over TLS, ``"ws"`` otherwise.
        self.scheme: Literal["ws", "wss"] = "ws"
        #: The ASGI scope, once the request arrived.
        self.scope: dict[str, Any] = {}

        extensions = [_deflate()] if config.ws_per_message_deflate else []
        #: The sans-I/O connection doing the protocol work.
        self.conn = Connection(
            Role.SERVER, extensions=extensions, max_message_size=config.ws_max_size
        )

        #: Seconds to wait for the peer's reply to our close frame.
        self.close_timeout = 10.0
        #: Runs out when the peer's close reply is late; ``None`` unless one is awaited.
        self.close_timer: asyncio.TimerHandle | None = None
        #: Seconds between keepalive pings (``None`` or 0: no keepalive).
        self.ping_interval = config.ws_ping_interval
        #: Seconds a pong may take before the connection is closed (1011).
        self.ping_timeout = config.ws_ping_timeout
        #: The next keepalive ping's handle; ``None`` when none is scheduled.
        self.ping_timer: asyncio.TimerHandle | None = None
        #: The deadline of the pong awaited; ``None`` when none is.
        self.pong_timer: asyncio.TimerHandle | None = None
        #: Loop time when the last keepalive ping was sent (``0.0``: never).
        self.ping_sent_at = 0.0
        #: The round trip of the last keepalive ping answered, in seconds.
        self.last_ping_rtt = 0.0
        self._ping_payload: bytes | None = None

        self._phase = _CONNECTING
        self._awaiting_answer = False  # the application holds the handshake
        self._early_bytes = 0  # received before the answer to the handshake
        # What ended the conversation when the application did ("" otherwise).
        self._app_closed = ""
        self._disconnected = False  # the transport is gone (connection_lost)
        self._transport_closed = False  # we closed it, or it is gone
        self._draining = False  # failed: reading on to the peer's end (see _close_after_failure)
        self._read_paused = False
        self._write_paused = False
        self._writable_waiters: list[asyncio.Future[None]] = []
        # Messages for the application: the connect event, received messages
        # (at most ws_max_queue parsed ahead), then the disconnect event, which
        # every later receive() returns again.
        self._connect_pending = False
        self._queue: deque[Message] = deque()
        self._max_queue = max(1, int(config.ws_max_queue))
        self._parse_stopped = False
        self._waiters: deque[asyncio.Future[Message]] = deque()  # receive() calls, FIFO
        self._disconnect: Message | None = None
        # A denial response: its head until it is sent (framing not known yet).
        self._response_head: tuple[int, HeaderPairs] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """uvicorn hands over the upgraded connection's transport."""
        self.transport = cast(asyncio.Transport, transport)
        # (uvicorn's HTTP protocol may have paused reading before the upgrade.)
        is_reading = getattr(transport, "is_reading", None)
        self._read_paused = is_reading is not None and not is_reading()
        self.connections.add(self)
        self.server = get_local_addr(self.transport)
        self.client = get_remote_addr(self.transport)
        self.scheme = "wss" if is_ssl(self.transport) else "ws"
        self._trace("WebSocket connection made")

    def data_received(self, data: bytes) -> None:
        """Bytes from the peer (first the upgrade request, replayed by uvicorn)."""
        conn = self.conn
        if self._phase < _OPEN:
            # For the error responses the core writes itself (400, 426, 431).
            conn.auto_response_headers = self._default_headers()
            self._early_bytes += len(data)
            conn.receive_data(data)
            self._process()
            self._update_reading()
            return
        conn.receive_data(data)
        self._process()

    def eof_received(self) -> None:
        """The peer closed its end: what was received is still delivered."""
        self.conn.receive_data(b"")
        self._process()
        # (Returning None lets the transport close itself.)

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport is gone: stop the timers, tell the application (1006)."""
        self._disconnected = True
        self._transport_closed = True
        self._stop_keepalive()
        self._cancel_close_timer()
        self.connections.discard(self)
        self._wake_writers()
        self._trace("WebSocket connection lost")
        if self._phase is _OPEN:
            # Messages received in full are still delivered, then 1006.
            self.conn.receive_data(b"")
            self._process()
            if self._parse_stopped:
                return  # receive() goes on parsing once the application catches up
        self._phase = _CLOSED
        self._deliver_disconnect({"type": "websocket.disconnect", "code": 1006})

    def pause_writing(self) -> None:
        """The transport's write buffer is full: ``send()`` waits, reading stops.

        (Reading stops too: each ping a peer sends is owed a pong, so a peer
        that sends pings and reads nothing would grow our output without end.)
        """
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        """The transport's write buffer drained: waiting ``send()`` calls go on."""
        self._write_paused = False
        self._wake_writers()
        self._update_reading()

    # -- uvicorn -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """uvicorn is shutting down: close an open connection with 1012.

        A connection whose closing handshake is under way is closed at once; a
        handshake the application has not answered gets ``503``.
        """
        self._stop_keepalive()
        phase = self._phase
        if phase is _OPEN and self._start_closing(CloseCode.SERVICE_RESTART):
            self._deliver_disconnect({"type": "websocket.disconnect", "code": 1012})
            return
        if (phase is _CONNECTING and self._awaiting_answer) or (
            phase is _RESPONDING and self._response_head is not None
        ):
            self._send_error(503, b"Service Unavailable")
        self._cancel_close_timer()
        self._phase = _CLOSED
        self._close_transport()
        self._deliver_disconnect({"type": "websocket.disconnect", "code": 1006})

    # -- from the connection to the application ------------------------------------------

    def _process(self) -> None:
        """Take events from the core until it needs data, the application must
        act first, or ``ws_max_queue`` messages wait; write what it queued."""
        conn = self.conn
        queue = self._queue
        self._parse_stopped = False
        for event in conn.events():
            kind = type(event)
            if kind is TextMessage:
                if self._phase is _OPEN:
                    self._deliver({"type": "websocket.receive", "text": event.data})  # type: ignore[attr-defined]
            elif kind is BinaryMessage:
                if self._phase is _OPEN:
                    self._deliver({"type": "websocket.receive", "bytes": event.data})  # type: ignore[attr-defined]
            elif kind is Pong:
                self._on_pong(cast(Pong, event))
            elif kind is Close:
                self._on_close(cast(Close, event))
                break
            elif kind is Handshake:
                self._on_handshake(cast(Handshake, event))
                break
            elif kind is HandshakeFailed:
                self._on_handshake_failed(cast(HandshakeFailed, event))
            elif kind is HTTPRequest:
                # uvicorn hands over only requests with "Upgrade: websocket",
                # which the core takes for handshakes; should one not be, the
                # core answers 426 when asked for the next event.
                self._phase = _CLOSED
                self._access(cast(HTTPRequest, event).method, 426)
            # (Ping: the core queued the pong, written below.)
            if len(queue) >= self._max_queue and self._phase is _OPEN:
                self._parse_stopped = True
                break
        self._flush()
        if self._phase is _CLOSED and not self._draining and self.conn.should_close_transport:
            self._close_transport()

    def _deliver(self, message: Message) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(message)
                return
        self._queue.append(message)
        if not self._read_paused:
            self._pause_reading()

    def _deliver_disconnect(self, message: Message) -> None:
        if self._disconnect is not None:
            return
        self._disconnect = message
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(dict(message))

    def _on_handshake(self, event: Handshake) -> None:
        target = event.target
        raw_path, _, query = target.partition("?")
        root = self.root_path
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": SPEC_VERSION},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": root,
            "path": root + unquote(raw_path),
            "raw_path": root.encode("ascii") + raw_path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in event.headers],
            "subprotocols": list(event.subprotocols),
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self._awaiting_answer = True
        self._connect_pending = True
        self._update_reading()
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _on_handshake_failed(self, event: HandshakeFailed) -> None:
        self._phase = _CLOSED
        self._awaiting_answer = False
        if event.status is None:
            # The client went away, maybe while the application was deciding.
            self._deliver_disconnect({"type": "websocket.disconnect", "code": 1006})
        else:
            # A refused request: the core answers it (400, 426, 431…) when asked
            # for the next event, with uvicorn's default headers; the
            # application never sees it, as with uvicorn's own implementations.
            self._access("GET", event.status)

    def _on_close(self, event: Close) -> None:
        if self._phase is _CLOSING:
            # The peer's reply to our close frame (or its end of stream): done.
            self._phase = _CLOSED
            self._cancel_close_timer()
            self._flush()
            self._close_transport()
            return
        # The peer closed (its reply is queued), broke the protocol (our close
        # frame with 1002/1007/1009… is queued), or its stream ended (1006).
        self._phase = _CLOSED
        self._stop_keepalive()
        self._flush()
        if event.code == CloseCode.ABNORMAL_CLOSURE:
            self._close_transport()
            message: Message = {"type": "websocket.disconnect", "code": 1006}
        else:
            if event.failed:
                self._close_after_failure()
            else:
                self._close_transport()
            message = {"type": "websocket.disconnect", "code": event.code, "reason": event.reason}
        self._deliver_disconnect(message)

    # -- reading -------------------------------------------------------------------------

    def _update_reading(self) -> None:
        """Pause or resume reading, whichever the state calls for."""
        if self._transport_closed:
            return
        phase = self._phase
        if self._write_paused:
            want = False  # (see pause_writing)
        elif phase is _OPEN:
            want = not self._queue and not self._parse_stopped
        elif phase is _CLOSING:
            want = True
        elif phase is _CLOSED:
            want = self._draining
        else:
            # Before the answer to the handshake is out, a client sends nothing
            # (RFC 6455 §4.1): reading goes on only to see it hang up, until
            # EARLY_DATA_LIMIT bytes came.
            want = self._early_bytes <= EARLY_DATA_LIMIT
        if want:
            if self._read_paused:
                self._read_paused = False
                self.transport.resume_reading()
        elif not self._read_paused:
            self._pause_reading()

    def _pause_reading(self) -> None:
        if not self._transport_closed:
            self._read_paused = True
            self.transport.pause_reading()

    # -- the application -----------------------------------------------------------------

    async def run_asgi(self) -> None:
        """Run the application with this connection's scope, then clean up."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except Exception as exc:
            self.logger.exception("Exception in ASGI application\n")
            self._after_app_error(exc)
        except BaseException:
            # Cancelled (uvicorn's graceful shutdown timed out), or the process
            # is stopping: drop the connection and let the exception go on.
            self._phase = _CLOSED
            self._close_transport()
            raise
        else:
            self._after_app_return(result)
        if self.close_timer is None:
            self._close_transport()

    def _after_app_error(self, exc: Exception) -> None:
        phase = self._phase
        if phase is _CONNECTING or (phase is _RESPONDING and self._response_head is not None):
            self._send_error(500, _INTERNAL_ERROR_BODY)
            self._phase = _CLOSED
        elif phase is _OPEN:
            self._stop_keepalive()
            if isinstance(exc, _OutOfOrder) or not self._start_closing(
                CloseCode.INTERNAL_ERROR, "Internal Server Error"
            ):
                self._phase = _CLOSED  # (closed without a close frame, see above)
        elif phase is _RESPONDING:
            self._phase = _CLOSED  # the head is out: the response ends short

    def _after_app_return(self, result: object) -> None:
        phase = self._phase
        if phase is _CONNECTING:
            self.logger.error("ASGI callable returned without completing handshake.")
            self._send_error(500, _INTERNAL_ERROR_BODY)
            self._phase = _CLOSED
            return
        if phase is _RESPONDING:
            self.logger.error("ASGI callable returned without completing the response.")
            try:
                self._response_body(b"", more=False)
            except LocalProtocolError:
                self._phase = _CLOSED  # a body was promised: the response ends short
            return
        if result is not None:
            self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if phase is _OPEN:
            # Returned without websocket.close: closed without a close frame,
            # as uvicorn's implementations do (its tests expect 1006).
            self._stop_keepalive()
            self._phase = _CLOSED

    async def receive(self) -> Message:
        """The ASGI ``receive`` callable: the next event for the application.

        ``websocket.connect`` first, then ``websocket.receive`` messages, then
        one ``websocket.disconnect``, which every later call returns again.
        """
        if self._connect_pending:
            self._connect_pending = False
            return dict(_CONNECT)
        queue = self._queue
        if queue:
            message = queue.popleft()
            if not queue or self._parse_stopped:
                if self._parse_stopped and len(queue) < self._max_queue:
                    self._process()
                self._update_reading()
            return message
        if self._disconnect is not None:
            return dict(self._disconnect)
        waiter: asyncio.Future[Message] = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if not waiter.done() or waiter.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            elif waiter.result()["type"] == "websocket.receive":
                # Handed over, but the caller was cancelled before it took it:
                # the message goes back in front (nothing received is lost).
                self._queue.appendleft(waiter.result())
                self._update_reading()
            raise

    async def send(self, message: Mapping[str, Any]) -> None:
        """The ASGI ``send`` callable.

        :raises uvicorn.protocols.utils.ClientDisconnected: (an ``OSError``)
            the connection is closed and the application did not close it.
        :raises RuntimeError: the message is not one the ASGI interface allows
            now (or comes after the application's own ``websocket.close``).
        :raises wsproto_lite.LocalProtocolError: the message is invalid (a
            subprotocol the client did not offer, a close code that may not be
            sent, a header with a line break, …). Nothing was sent.
        """
        if self._write_paused:
            await self._writable()
        if self._disconnected:
            raise ClientDisconnected()
        kind = message["type"]
        phase = self._phase
        if phase is _OPEN:
            if kind == "websocket.send":
                text = message.get("text")
                data = message.get("bytes")
                if text is not None:
                    if data is not None:
                        raise RuntimeError("websocket.send must carry 'bytes' or 'text', not both.")
                    event: Event = TextMessage(text)
                elif data is not None:
                    event = BinaryMessage(data)
                else:
                    raise RuntimeError("websocket.send must carry 'bytes' or 'text'.")
                conn = self.conn
                conn.send(event)
                self.transport.write(conn.data_to_send())
            elif kind == "websocket.close":
                self._app_close(message)
            else:
                raise _OutOfOrder(
                    "Expected ASGI message 'websocket.send' or 'websocket.close',"
                    f" but got '{kind}'."
                )
        elif phase is _CONNECTING:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._refuse()
            elif kind == "websocket.http.response.start":
                self._response_start(message)
            else:
                raise _OutOfOrder(
                    "Expected ASGI message 'websocket.accept', 'websocket.close' or"
                    f" 'websocket.http.response.start' but got '{kind}'."
                )
        elif phase is _RESPONDING:
            if kind != "websocket.http.response.body":
                raise _OutOfOrder(
                    f"Expected ASGI message 'websocket.http.response.body' but got '{kind}'."
                )
            self._response_body(message.get("body", b""), more=message.get("more_body", False))
        elif self._app_closed:
            raise RuntimeError(
                f"Unexpected ASGI message '{kind}', after sending {self._app_closed}."
            )
        else:
            raise ClientDisconnected()

    async def _writable(self) -> None:
        while self._write_paused and not self._disconnected:
            waiter: asyncio.Future[None] = self.loop.create_future()
            self._writable_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._writable_waiters:
                    self._writable_waiters.remove(waiter)

    def _wake_writers(self) -> None:
        waiters, self._writable_waiters = self._writable_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- the application's messages ------------------------------------------------------

    def _default_headers(self) -> HeaderPairs:
        # uvicorn refreshes these every second (Date) on the shared state.
        return _text_pairs(self.server_state.default_headers)

    def _accept(self, message: Mapping[str, Any]) -> None:
        headers = self._default_headers() + _text_pairs(message.get("headers") or ())
        self.conn.send(Accept(subprotocol=message.get("subprotocol"), headers=headers))
        self._phase = _OPEN
        self._awaiting_answer = False
        self._flush()
        self._access("GET", 101)
        self._start_keepalive()
        self._update_reading()
        self._process()  # frames that came with the request, if any

    def _refuse(self) -> None:
        # websocket.close before accept: 403 (ASGI).
        self.conn.send(Reject(403, self._default_headers(), b""))
        self._app_closed = "'websocket.close'"
        self._phase = _CLOSED
        self._awaiting_answer = False
        self._flush()
        self._access("GET", 403)
        self._close_transport()
        self._deliver_disconnect({"type": "websocket.disconnect", "code": 1006})

    def _response_start(self, message: Mapping[str, Any]) -> None:
        status = message["status"]
        if not isinstance(status, int) or not 200 <= status <= 599:
            raise RuntimeError(f"Invalid HTTP status code '{status!r}' in response.")
        headers = self._default_headers()
        has_length = False
        for name, value in _text_pairs(message.get("headers") or ()):
            lower = name.lower()
            if lower == "transfer-encoding":
                continue  # the server frames the body itself (ASGI)
            if lower == "content-length":
                has_length = True
            headers.append((name, value))
        head = Reject(status, headers, b"", final=False)  # (checks the headers now)
        if has_length:
            # The framing is known: the head goes out now.
            self.conn.send(head)
            self._flush()
            self._access("GET", status)
        else:
            # Held until the first body part says whether the body comes whole
            # (Content-Length) or in parts (chunked).
            self._response_head = (status, headers)
        self._awaiting_answer = False
        self._phase = _RESPONDING

    def _response_body(self, body: bytes, *, more: bool) -> None:
        head = self._response_head
        if head is not None:
            self.conn.send(Reject(head[0], head[1], body, final=not more))
            self._response_head = None
            self._access("GET", head[0])
        else:
            self.conn.send(RejectData(body, final=not more))
        self._flush()
        if not more:
            self._app_closed = "the HTTP response"
            self._phase = _CLOSED
            self._close_transport()
            self._deliver_disconnect({"type": "websocket.disconnect", "code": 1006})

    def _app_close(self, message: Mapping[str, Any]) -> None:
        code = message.get("code")
        code = CloseCode.NORMAL_CLOSURE if code is None else code
        reason = message.get("reason") or ""
        self.conn.send(Close(code, reason))
        self._app_closed = "'websocket.close'"
        self._phase = _CLOSING
        self._stop_keepalive()
        self._flush()
        self._deliver_disconnect({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._arm_close_timer()
        self._update_reading()

    def _send_error(self, status: int, body: bytes) -> None:
        """Answer the handshake with an error, if nothing was answered yet."""
        self._awaiting_answer = False
        self._response_head = None
        if self._transport_closed:
            return
        headers = [*self._default_headers(), _TEXT_PLAIN]
        try:
            self.conn.send(Reject(status, headers, body))
        except LocalProtocolError:
            return  # (the answer has started already)
        self._flush()
        self._access("GET", status)

    # -- keepalive -----------------------------------------------------------------------

    def _start_keepalive(self) -> None:
        if self.ping_interval is not None and self.ping_interval > 0:
            self._schedule_ping()

    def _schedule_ping(self) -> None:
        assert self.ping_interval is not None
        delay = max(0.0, self.ping_interval - self.last_ping_rtt)
        self.ping_timer = self.loop.call_later(delay, self._send_keepalive_ping)

    def _stop_keepalive(self) -> None:
        if self.ping_timer is not None:
            self.ping_timer.cancel()
            self.ping_timer = None
        if self.pong_timer is not None:
            self.pong_timer.cancel()
            self.pong_timer = None
        self._ping_payload = None

    def _send_keepalive_ping(self) -> None:
        self.ping_timer = None
        if self._phase is not _OPEN or self._transport_closed:
            return
        # A random payload tells this ping's pong from any other.
        payload = struct.pack("!I", random.getrandbits(32))
        self._ping_payload = payload
        self.ping_sent_at = self.loop.time()
        self.conn.send(Ping(payload))
        self._flush()
        if self.ping_timeout is not None:
            self.pong_timer = self.loop.call_later(self.ping_timeout, self._keepalive_timeout)
        else:
            self._schedule_ping()

    def _on_pong(self, event: Pong) -> None:
        if self._ping_payload is None or event.payload != self._ping_payload:
            return  # unsolicited, or an earlier ping's
        self.last_ping_rtt = self.loop.time() - self.ping_sent_at
        self._ping_payload = None
        if self.pong_timer is not None:
            self.pong_timer.cancel()
            self.pong_timer = None
            self._schedule_ping()

    def _keepalive_timeout(self) -> None:
        self.pong_timer = None
        self._ping_payload = None
        if self._phase is not _OPEN:
            return
        self._trace("WebSocket keepalive ping timeout")
        reason = "keepalive ping timeout"
        with contextlib.suppress(LocalProtocolError):  # (see _start_closing)
            self.conn.send(Close(CloseCode.INTERNAL_ERROR, reason))
        self._flush()
        # A peer that does not answer pings will not answer a close frame.
        self._phase = _CLOSED
        self._close_transport(unresponsive=True)
        self._deliver_disconnect(
            {"type": "websocket.disconnect", "code": CloseCode.INTERNAL_ERROR, "reason": reason}
        )

    # -- the transport -------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self._transport_closed:
            self.transport.write(data)

    def _start_closing(self, code: int, reason: str = "") -> bool:
        """Send a close frame of ours and wait for the reply (CLOSING).

        ``False`` when the connection cannot send one any more (it ended in
        events not taken yet): then there is no handshake to wait for.
        """
        try:
            self.conn.send(Close(code, reason))
        except LocalProtocolError:
            return False
        self._flush()
        self._phase = _CLOSING
        self._arm_close_timer()
        self._update_reading()
        return True

    def _arm_close_timer(self) -> None:
        self._cancel_close_timer()
        self.close_timer = self.loop.call_later(self.close_timeout, self._close_timed_out)

    def _cancel_close_timer(self) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None

    def _close_timed_out(self) -> None:
        # RFC 6455 §7.1.1: the server may close once the reply is late.
        self.close_timer = None
        self._phase = _CLOSED
        self._close_transport(unresponsive=True)

    def _close_after_failure(self) -> None:
        """Close after failing the connection, while the peer may still send.

        Closing a socket with unread data makes the kernel send a reset, which
        can destroy our close frame before the peer reads it. So the sending
        side is shut first; what still comes is read and dropped until the
        peer's end of stream, or ``close_timeout`` (see the embedding guide).
        """
        if self._transport_closed:
            return
        if not self.transport.can_write_eof():  # (TLS cannot half-close)
            self._close_transport()
            return
        self.transport.write_eof()
        self._draining = True
        self._arm_close_timer()
        self._update_reading()

    def _close_transport(self, *, unresponsive: bool = False) -> None:
        """Close the transport once what is buffered is written.

        With *unresponsive*, the peer stopped answering: bytes it does not
        read would keep the transport (and this connection) open forever, so
        they are dropped and the connection aborted.
        """
        transport = self.transport
        if not self._transport_closed:
            self._transport_closed = True
            transport.close()
        if unresponsive:
            buffered = getattr(transport, "get_write_buffer_size", None)
            if buffered is not None and buffered() and not self._disconnected:
                transport.abort()

    def _access(self, method: str, status: int) -> None:
        """One access-log line, in uvicorn's format, for the handshake's answer."""
        if not self.access_log:
            return
        if self.scope:
            path = get_path_with_query_string(self.scope)  # type: ignore[arg-type]
            client = get_client_addr(self.scope)  # type: ignore[arg-type]
        else:
            path = "-"
            client = self._peer()
        self.access_logger.info('%s - "%s %s HTTP/%s" %d', client, method, path, "1.1", status)

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else ""

    def _trace(self, what: str) -> None:
        if self.logger.level <= TRACE_LOG_LEVEL:
            peer = self._peer()
            self.logger.log(TRACE_LOG_LEVEL, "%s%s", f"{peer} - " if peer else "", what)
