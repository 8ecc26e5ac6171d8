"""Blocking WebSocket clients and servers: plain sockets and threads.

The adapter moves bytes between a socket and a :class:`~wsproto_lite.Connection`
and owns time: the opening and closing timeouts and the keepalive pings. Every
protocol decision is the core's. A server::

    from wsproto_lite.adapters.sync import serve

    def echo(ws):
        for message in ws:
            ws.send(message)

    with serve(echo, "127.0.0.1", 8765) as server:
        server.serve_forever()

A client::

    from wsproto_lite.adapters.sync import connect

    with connect("ws://127.0.0.1:8765/") as ws:
        ws.send("hello")
        print(ws.recv())

Threads
    Every connection has a *reader* thread. It owns the socket's input and the
    connection's clocks (keepalive, closing timeout), feeds the sans-I/O core,
    and puts the parts of received messages in a queue of at most
    ``max_queue`` parts that :meth:`WebSocket.recv` takes from. When the queue
    is full the reader stops reading, so TCP slows down a peer that sends
    faster than the application reads.

    Application threads write their own messages: :meth:`WebSocket.send`
    returns once the kernel has taken every byte (``sendall``), so a peer that
    does not read blocks the sender instead of growing its memory. The reader
    never waits behind such a write: the answers the core queues for it
    (pongs, close replies) are sent by whichever thread writes next.

    A server runs each handler in a thread of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import ssl as ssl_module
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import Any, cast

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
    "serve",
]

#: A message: ``str`` for text, ``bytes`` for binary.
Data = str | bytes
#: What ``process_request`` may return (``None``: the default answer).
Answer = Accept | Reject | None
#: The ``process_request`` hook, called with the request in the connection's thread.
ProcessRequest = Callable[[Handshake | HTTPRequest], Answer]
#: The connection handler, called in a thread of its own.
Handler = Callable[["WebSocket"], Any]
_Logger = logging.Logger | logging.LoggerAdapter[Any]
_Part = TextMessage | BinaryMessage

_OPEN = ConnectionState.OPEN
# One recv() per 64 KiB: large enough for throughput, small enough that a
# streamed message part (what the queue holds) stays small.
_RECV_SIZE = 1 << 16
# The most of a rejection's body a client keeps for InvalidHandshake.body.
_MAX_REJECT_BODY = 1 << 16


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


def _new_selector() -> selectors.BaseSelector:
    # poll() needs no extra file descriptor (unlike epoll) and has no
    # FD_SETSIZE limit (unlike select); one socket per selector is its best case.
    if hasattr(selectors, "PollSelector"):
        return selectors.PollSelector()
    return selectors.SelectSelector()  # pragma: no cover - Windows


def _shutdown(sock: socket.socket) -> None:
    """Wake every thread blocked on *sock* (recv, sendall) by shutting it down.

    The plain socket's ``shutdown`` is called even for an ``SSLSocket``, whose
    own ``shutdown`` drops its SSL object under the feet of a thread still
    reading through it.
    """
    with contextlib.suppress(OSError):  # not connected any more, or already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _set_deadline(sock: socket.socket, deadline: float | None) -> None:
    """Make the next blocking call on *sock* fail with TimeoutError at *deadline*."""
    if deadline is None:
        sock.settimeout(None)
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out")
    sock.settimeout(remaining)


def _no_delay(sock: socket.socket) -> None:
    # WebSocket messages are written whole; Nagle's algorithm would only delay
    # the small ones (and the pongs) behind an unacknowledged segment.
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # platform dependent
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PongWaiter:
    """What :meth:`WebSocket.ping` returns: wait for the ping's pong.

    The blocking counterpart of the asyncio adapter's awaitable::

        pong = ws.ping()
        if pong.wait(timeout=5):
            print(f"latency: {pong.latency:.3f} s")
    """

    __slots__ = ("_error", "_event", "_sent_at", "latency")

    def __init__(self, sent_at: float) -> None:
        self._event = threading.Event()
        self._error: ConnectionClosed | None = None
        self._sent_at = sent_at
        #: The round trip in seconds, once the pong arrived (``None`` before).
        self.latency: float | None = None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the pong; ``True`` once it arrived, ``False`` on timeout.

        :raises ConnectionClosed: the connection closed before the pong came.
        """
        if not self._event.wait(timeout):
            return False
        if self._error is not None:
            raise self._error
        return True

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
    """An open WebSocket connection, on either side; safe to share between threads.

    Servers pass one to their handler; :func:`connect` returns one. Messages
    are ``str`` (text) or ``bytes`` (binary). Use it as a context manager to
    close it on exit.

    Not meant to be instantiated directly.
    """

    def __init__(
        self,
        sock: socket.socket,
        conn: Connection,
        *,
        response: Accept,
        logger: _Logger,
        close_timeout: float | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        max_queue: int | None,
    ) -> None:
        self._sock = sock
        self._conn = conn
        self._response = response
        self._logger = logger
        self._close_timeout = close_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_queue = max_queue
        # Read once: a closed socket no longer knows its addresses.
        self._remote_address: Any = _peername(sock)
        self._local_address: Any = sock.getsockname()

        # Lock order: _message_lock, then _write_lock, then _lock. _lock guards
        # the core and every field below; it is never held during I/O.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._write_lock = threading.Lock()  # one writer at a time, in order
        self._message_lock = threading.Lock()  # one message (or fragment series) at a time
        self._recv_lock = threading.Lock()  # one receiver at a time
        self._dirty = False  # the core queued bytes that no writer has taken yet
        self._leftover = b""  # taken from the core, not written: the socket was full

        # Receiving.
        self._queue: deque[_Part] = deque()
        self._partial: list[_Part] = []  # parts of a message a timed-out recv() took
        self._skip_partial = False  # an abandoned recv_streaming() left parts behind
        self._discard = False  # closing locally: drop what does not fit in the queue
        self._finished = False  # the reader is done and the socket closed

        # Pings: payload -> (waiter), in the order they were sent.
        self._pings: dict[bytes, PongWaiter] = {}
        self._latency = 0.0

        # Closing.
        self._close_code: int | None = None
        self._close_reason = ""
        self._sent_close: tuple[int, str] | None = None
        self._aborted = False
        self._sock_closed = False
        self._closed = threading.Event()

        # Clocks, owned by the reader thread.
        now = time.monotonic()
        self._ping_due = None if ping_interval is None else now + ping_interval
        self._keepalive: PongWaiter | None = None
        self._pong_deadline: float | None = None
        self._close_deadline: float | None = None

        self._reader = threading.Thread(
            target=self._run, name=f"wsproto_lite reader {self._remote_address}", daemon=True
        )
        self._reader.start()

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

    def recv(self, timeout: float | None = None) -> Data:
        """Wait for the next message and return it whole (``str`` or ``bytes``).

        :param timeout: seconds to wait for the whole message (``None``: no
            limit). A message that was partly received when the time ran out
            is not lost: the next call continues it.
        :raises TimeoutError: *timeout* expired.
        :raises ConnectionClosedOK: the connection closed normally (messages
            received before the close are returned first).
        :raises ConnectionClosedError: it closed with an error or was lost.
        :raises RuntimeError: another thread is already receiving.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._start_receiving()
        try:
            parts = self._partial
            while True:
                part = self._next_part(deadline)
                parts.append(part)
                if part.final:
                    break
            self._partial = []
        finally:
            self._recv_lock.release()
        if len(parts) == 1:
            return parts[0].data
        if isinstance(parts[0], TextMessage):
            return "".join([cast(str, p.data) for p in parts])
        return b"".join([cast(bytes, p.data) for p in parts])

    def recv_streaming(self) -> Generator[Data, None, None]:
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
            parts, self._partial = self._partial, []
            started = bool(parts)
            for part in parts:
                yield part.data
            while not finished:
                part = self._next_part(None)
                started = True
                finished = part.final
                yield part.data
        finally:
            if started and not finished:
                with self._lock:
                    self._skip_partial = True
            self._recv_lock.release()

    def __iter__(self) -> Iterator[Data]:
        """Iterate over messages until the connection closes.

        Ends silently on a normal close; raises :class:`ConnectionClosedError`
        otherwise.
        """
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    def _start_receiving(self) -> None:
        if not self._recv_lock.acquire(blocking=False):
            raise RuntimeError("another thread is already receiving on this WebSocket")

    def _next_part(self, deadline: float | None) -> _Part:
        """Take the next message part from the queue, waiting for one if needed."""
        with self._cond:
            while True:
                while not self._queue:
                    if self._finished:
                        raise self._closed_exception()
                    if deadline is None:
                        self._cond.wait()
                    else:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError("no message arrived before the timeout")
                        self._cond.wait(remaining)
                part = self._queue.popleft()
                self._cond.notify_all()  # the reader may wait for room
                if self._skip_partial:
                    # The remains of a message whose streaming was abandoned.
                    if part.final:
                        self._skip_partial = False
                    continue
                return part

    # -- sending ------------------------------------------------------------------

    def send(self, message: Data | bytearray | memoryview) -> None:
        """Send a whole message: ``str`` as text, ``bytes``-like as binary.

        Returns once the kernel has taken the message, so it blocks while the
        peer does not read. A message being sent with :meth:`send_fragments`
        by another thread is finished first.

        :raises ConnectionClosed: the connection is closing or closed.
        :raises TypeError: *message* is neither ``str`` nor bytes-like.
        """
        if type(message) is str:
            event: Event = TextMessage(message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = BinaryMessage(bytes(message))  # no copy for bytes itself
        else:
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        with self._message_lock:
            self._send_event(event)

    def send_fragments(self, fragments: Iterable[Data]) -> None:
        """Send one message in parts, from an iterable.

        Every part must be of the same type (``str``: a text message, bytes:
        binary); each is sent as a frame as soon as the iterable yields it, and
        an empty final frame ends the message. Other sends wait until the
        message is complete. If the iterable raises mid-message, the
        connection is closed with 1011, since the message can no longer be
        completed.
        """
        with self._message_lock:
            kind: type[TextMessage] | type[BinaryMessage] | None = None
            try:
                for part in fragments:
                    if isinstance(part, str):
                        this: type[TextMessage] | type[BinaryMessage] = TextMessage
                    elif isinstance(part, (bytes, bytearray, memoryview)):
                        this = BinaryMessage
                    else:
                        raise TypeError(
                            f"fragments must be str or bytes, not {type(part).__name__}"
                        )
                    if kind is not None and this is not kind:
                        raise TypeError("all fragments of a message must be str, or all bytes")
                    self._send_event(this(part, False))  # type: ignore[arg-type]
                    kind = this
            except BaseException as exc:
                if kind is not None and not isinstance(exc, ConnectionClosed):
                    self._fail(1011, "error while sending a fragmented message")
                raise
            if kind is not None:
                self._send_event(TextMessage("") if kind is TextMessage else BinaryMessage(b""))

    def ping(self, data: Data | None = None) -> PongWaiter:
        """Send a ping; return a :class:`PongWaiter` that is set when its pong arrives.

        A pong also answers every ping sent before the one it echoes (RFC 6455
        §5.5.3). *data* (at most 125 bytes; ``str`` is UTF-8 encoded) defaults
        to four random bytes not used by another pending ping. Usage::

            pong = ws.ping()
            pong.wait(timeout=10)
            print(pong.latency)

        :raises ConnectionClosed: the connection is closing or closed.
        :raises RuntimeError: a ping with the same data is already pending.
        """
        waiter = PongWaiter(time.monotonic())

        def prepare() -> Event:  # runs with _lock held, so the check holds when sent
            if data is None:
                payload = os.urandom(4)
                while payload in self._pings:  # pragma: no cover - 1 in 4 billion
                    payload = os.urandom(4)
            else:
                payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
                if payload in self._pings:
                    raise RuntimeError("a ping with the same data is already waiting for its pong")
            event = Ping(payload)  # checks the size before anything is registered
            waiter._sent_at = time.monotonic()
            self._pings[payload] = waiter
            return event

        self._send_event(prepare)
        return waiter

    def pong(self, data: Data = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat). Pings are answered on their own."""
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self._send_event(Pong(payload))

    def _send_event(self, event: Event | Callable[[], Event]) -> None:
        """Queue *event* in the core and write it (with anything queued before it).

        *event* may be a function that makes the event; it runs with the
        connection's lock held, once the connection is known to be open.
        """
        with self._write_lock:
            with self._lock:
                open_ = self._conn.state is _OPEN and not self._aborted
                if open_:
                    self._conn.send(event if isinstance(event, Event) else event())
                # Whoever holds the write lock writes everything queued, the
                # reader's answers included (it skips writing while we hold it).
                data = self._take_output()
            written = self._write_all(data)
        if not (open_ and written):
            raise self._wait_closed_exception()
        self._flush_pending()

    def _take_output(self) -> bytes:
        """Take the bytes to write: a flush's leftover, then the core's (``_lock`` held)."""
        self._dirty = False
        data = self._conn.data_to_send()
        if self._leftover:
            data, self._leftover = self._leftover + data, b""
        return data

    def _write_all(self, data: bytes) -> bool:
        """Write *data* and whatever the core queues meanwhile (``_write_lock`` held).

        Returns ``False`` when the socket failed (the connection is then aborted).
        """
        while data:
            try:
                self._sock.sendall(data)
            except OSError as exc:
                self._logger.debug("write failed: %r", exc)
                self._abort()
                return False
            with self._lock:
                data = self._take_output()
        return True

    def _flush_pending(self, only_if_writable: bool = False) -> bool:
        """Write what the core queued, unless another thread is writing.

        A writer that holds ``_write_lock`` takes the core's output again after
        each ``sendall`` and checks ``_dirty`` after releasing the lock, so
        nothing queued meanwhile is left behind; that is why the reader can
        skip a write instead of waiting behind a long ``sendall``.

        With *only_if_writable* (the reader's way) nothing is written unless
        the socket can take it now: a reader blocked in ``sendall`` to a peer
        that does not read would stop its clocks, and a dead peer would go
        unnoticed. The bytes are then kept for the next writer, and ``True``
        is returned so that the reader waits for the socket to be writable.
        """
        while True:
            if not self._write_lock.acquire(blocking=False):
                return False
            try:
                with self._lock:
                    if self._sock_closed:
                        return False
                    data = self._take_output()
                if data and only_if_writable and not self._writable():
                    with self._lock:
                        self._leftover = data + self._leftover
                    return True
                self._write_all(data)
            finally:
                self._write_lock.release()
            with self._lock:
                if not self._dirty:
                    return False

    def _writable(self) -> bool:
        with _new_selector() as selector:
            selector.register(self._sock, selectors.EVENT_WRITE)
            return bool(selector.select(0))

    # -- closing ------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the connection is closed.

        Sends a close frame with *code* and *reason* (unless a close is already
        under way), waits for the peer's reply and the end of the TCP
        connection, at most ``close_timeout`` seconds after which the socket
        is closed anyway. Safe to call more than once, from any thread.

        :raises LocalProtocolError: *code* or *reason* cannot be sent (e.g.
            1005, 1006, or a reason over 123 bytes).
        """
        event = Close(code, reason)  # checks the reason before anything is sent
        timer = None
        if self._close_timeout is not None and not self._closed.is_set():
            # A watchdog, because sendall() to a peer that does not read, and
            # the wait for its reply, can both block for ever.
            timer = threading.Timer(self._close_timeout, self._on_close_timeout)
            timer.daemon = True
            timer.start()
        try:
            self._start_close(event)
            self._closed.wait()
        finally:
            if timer is not None:
                timer.cancel()
        if threading.current_thread() is not self._reader:
            self._reader.join()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection is closed (the TCP connection included).

        Returns ``False`` if *timeout* expired first.
        """
        return self._closed.wait(timeout)

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start_close(self, event: Close) -> None:
        """Send a close frame now if the connection is open."""
        with self._write_lock:
            with self._lock:
                if self._conn.state is _OPEN and not self._aborted:
                    self._conn.send(event)
                    self._sent_close = (event.code, event.reason)
                data = self._take_output()
                # The peer's reply may be stuck behind messages the application
                # no longer reads: read on, dropping what does not fit.
                self._discard = True
                self._cond.notify_all()
            self._write_all(data)
        self._flush_pending()

    def _on_close_timeout(self) -> None:
        if not self._closed.is_set():
            self._logger.info("closing handshake timed out; closing the connection")
            self._abort()

    def _fail(self, code: int, reason: str) -> None:
        """Close at once with *code*, without waiting for the peer's reply.

        Called by the reader (keepalive) and by ``send_fragments``; the close
        frame is only written if the socket can take it without blocking,
        since a peer being failed may well not be reading.
        """
        with self._lock:
            if self._close_code is None and self._conn.state is _OPEN:
                self._close_code, self._close_reason = code, reason
            if self._conn.state is _OPEN and not self._aborted:
                self._conn.send(Close(code, reason))
                self._sent_close = (code, reason)
                self._dirty = True
        self._flush_pending(only_if_writable=True)
        self._abort()

    def _abort(self) -> None:
        """Stop everything: wake the reader and any writer; the reader closes the socket."""
        with self._cond:
            self._aborted = True
            self._discard = True
            self._cond.notify_all()
            if not self._sock_closed:
                _shutdown(self._sock)

    def _closed_exception(self) -> ConnectionClosed:
        code = self._close_code
        if code is not None:
            return ConnectionClosed.create(code, self._close_reason)
        if self._sent_close is not None:  # closing: our close frame says how
            return ConnectionClosed.create(*self._sent_close)
        return ConnectionClosedError(1006, "the connection was lost")

    def _wait_closed_exception(self) -> ConnectionClosed:
        """The exception for a send on a connection that is not open.

        A closing handshake under way ends within ``close_timeout`` (someone
        armed that clock); waiting for it gives the exception its real code.
        """
        self._closed.wait(self._close_timeout)
        with self._lock:
            return self._closed_exception()

    # -- the reader thread --------------------------------------------------------

    def _run(self) -> None:
        try:
            with _new_selector() as selector:
                selector.register(self._sock, selectors.EVENT_READ)
                self._read_loop(selector)
        except Exception:  # pragma: no cover - a bug; say so rather than hang
            self._logger.exception("the WebSocket reader failed")
        finally:
            self._finish()

    def _read_loop(self, selector: selectors.BaseSelector) -> None:
        sock = self._sock
        conn = self._conn
        writing = False  # the selector also waits for the socket to be writable
        while True:
            self._process()
            with self._lock:
                done = conn.should_close_transport or self._aborted
            if done:
                if not self._aborted:
                    self._final_flush()
                return
            stuck = self._flush_pending(only_if_writable=True)
            timeout = self._check_clocks()
            if self._aborted:
                continue
            # An SSL socket may hold decrypted bytes that poll() cannot see.
            pending = isinstance(sock, ssl_module.SSLSocket) and sock.pending()
            if not pending and (timeout is not None or stuck):
                if stuck != writing:
                    writing = stuck
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if stuck else 0)
                    selector.modify(sock, events)
                ready = selector.select(timeout)
                if not any(mask & selectors.EVENT_READ for _, mask in ready):
                    continue  # a clock is due, or the socket can take our bytes
            try:
                data = sock.recv(_RECV_SIZE)
            except OSError as exc:
                self._logger.debug("read failed: %r", exc)
                data = b""
            with self._lock:
                conn.receive_data(data)

    def _process(self) -> None:
        """Take events from the core until it needs more data."""
        conn = self._conn
        while True:
            with self._lock:
                event = conn.next_event()
                if event is None:
                    return
                cls = event.__class__
                if cls is not TextMessage and cls is not BinaryMessage:
                    # Pings and closes make the core queue an answer.
                    self._dirty = True
            if cls is TextMessage or cls is BinaryMessage:
                self._deliver(event)  # type: ignore[arg-type]
            elif cls is Pong:
                self._on_pong(event.payload)  # type: ignore[attr-defined]
            elif cls is Close:
                self._on_close(event)  # type: ignore[arg-type]
            # Ping: the core queued the pong already.

    def _deliver(self, part: _Part) -> None:
        """Queue a message part; wait for room while the queue is full."""
        limit = self._max_queue
        with self._cond:
            if limit is None or len(self._queue) < limit:
                self._queue.append(part)
                self._cond.notify_all()
                return
            if self._discard:
                return
        # Full: answer what is owed before waiting, since waiting stops reading.
        self._flush_pending(only_if_writable=True)
        # Resume well below the limit, so that reading is not toggled for
        # every message consumed.
        low_water = limit // 4
        with self._cond:
            while len(self._queue) > low_water and not self._discard:
                self._cond.wait()
            if len(self._queue) < limit:
                self._queue.append(part)
                self._cond.notify_all()
        # While the queue was full nothing was read, a pong included: the
        # keepalive clock restarts rather than blame the peer for our pause.
        if self._pong_deadline is not None and self._ping_timeout is not None:
            self._pong_deadline = max(self._pong_deadline, time.monotonic() + self._ping_timeout)

    def _on_pong(self, payload: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            if payload not in self._pings:
                return  # unsolicited, or answers a ping already settled
            # A pong answers its ping and every earlier one (dicts keep order).
            answered = []
            for key in list(self._pings):
                answered.append(self._pings.pop(key))
                if key == payload:
                    break
            self._latency = now - answered[-1]._sent_at
        for waiter in answered:
            waiter._resolve(now)

    def _on_close(self, event: Close) -> None:
        with self._lock:
            if self._close_code is None:
                self._close_code, self._close_reason = event.code, event.reason
        if event.failed:
            self._logger.info("connection failed: %d %s", event.code, event.reason)

    def _check_clocks(self) -> float | None:
        """Act on the clocks that are due; return seconds until the next one."""
        now = time.monotonic()
        with self._lock:
            state = self._conn.state
        if state is not _OPEN:
            # A closing handshake is under way, or a client waits for the
            # server to close TCP (RFC 6455 §7.1.1): not for ever.
            if self._close_timeout is None:
                return None
            if self._close_deadline is None:
                self._close_deadline = now + self._close_timeout
            remaining = self._close_deadline - now
            if remaining <= 0:
                self._logger.info("closing handshake timed out; closing the connection")
                self._abort()
                return None
            return remaining
        if self._ping_interval is None:
            return None
        keepalive = self._keepalive
        if keepalive is not None:
            if keepalive.is_set():
                self._keepalive = None
                self._pong_deadline = None
                self._ping_due = keepalive._sent_at + self._ping_interval
            elif self._pong_deadline is not None and now >= self._pong_deadline:
                self._logger.info("keepalive ping timed out; closing the connection")
                self._fail(1011, "keepalive ping timeout")
                return None
        if self._keepalive is None and self._ping_due is not None and now >= self._ping_due:
            self._send_keepalive(now)
        due = self._pong_deadline if self._keepalive is not None else self._ping_due
        return None if due is None else max(0.0, due - now)

    def _send_keepalive(self, now: float) -> None:
        waiter = PongWaiter(now)
        with self._lock:
            if self._conn.state is not _OPEN or self._aborted:
                return
            payload = os.urandom(4)
            while payload in self._pings:  # pragma: no cover - 1 in 4 billion
                payload = os.urandom(4)
            self._conn.send(Ping(payload))
            self._pings[payload] = waiter
            self._dirty = True
        self._keepalive = waiter
        self._ping_due = None
        if self._ping_timeout is not None:
            self._pong_deadline = now + self._ping_timeout
        self._flush_pending(only_if_writable=True)

    def _final_flush(self) -> None:
        """Write the last bytes (a close reply, say) before closing the socket.

        This one waits for the write lock, but not for ever: a peer that does
        not read gets ``close_timeout`` seconds.
        """
        timer = None
        if self._close_timeout is not None:
            timer = threading.Timer(self._close_timeout, self._abort)
            timer.daemon = True
            timer.start()
        try:
            with self._write_lock:
                with self._lock:
                    data = self._take_output()
                self._write_all(data)
        finally:
            if timer is not None:
                timer.cancel()

    def _finish(self) -> None:
        """Close the socket and wake everyone who waits (the reader's last act)."""
        with self._cond:
            self._discard = True
            if self._close_code is None:
                self._close_code = 1006
                self._close_reason = "the connection closed without a closing handshake"
            # Shut down first: it wakes a writer blocked in sendall, whose
            # write lock the close below waits for (so no thread is inside a
            # system call on the descriptor when it is released).
            _shutdown(self._sock)
        with self._write_lock, self._lock:
            self._sock.close()
            self._sock_closed = True
        with self._cond:
            self._finished = True
            self._cond.notify_all()
            pings = list(self._pings.values())
            self._pings.clear()
            error = self._closed_exception()
        for waiter in pings:
            waiter._abandon(error)
        self._logger.debug("connection closed: %d %s", self._close_code, self._close_reason)
        self._closed.set()

    def __repr__(self) -> str:
        role = "client" if self._conn.client else "server"
        return f"<WebSocket {role} {self._conn.state.name} {self._remote_address}>"


def _peername(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:  # pragma: no cover - the peer left already
        return None


# -- client -------------------------------------------------------------------------


def connect(
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
    """Open a WebSocket connection to *uri*; ``with connect(uri) as ws:`` closes it on exit.

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
        socket is closed anyway.
    :param ping_interval: seconds between keepalive pings (``None``: none).
    :param ping_timeout: seconds a keepalive ping waits for its pong before the
        connection is closed with 1011 (``None``: wait forever).
    :param max_message_size: the largest message accepted (1009 beyond).
    :param max_queue: received message parts held before reading stops.
    :param write_limit: accepted for symmetry with the asyncio adapter; there
        is no write buffer here, since :meth:`WebSocket.send` returns only
        once the kernel has taken every byte.
    :param logger: defaults to ``logging.getLogger("wsproto_lite.sync.client")``.
    :raises InvalidURI: *uri* is not a WebSocket URI.
    :raises InvalidHandshake: the server refused (``.status``, ``.headers``,
        ``.body``) or answered something invalid.
    :raises TimeoutError: *open_timeout* expired.
    :raises OSError: the TCP connection could not be made.
    """
    del write_limit  # see the docstring
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
    deadline = None if open_timeout is None else time.monotonic() + open_timeout
    try:
        sock = socket.create_connection((parsed.host, parsed.port), timeout=open_timeout)
    except TimeoutError:
        raise TimeoutError(
            f"timed out after {open_timeout} s while opening the connection to {uri}"
        ) from None
    try:
        _no_delay(sock)
        if ssl_context is not None:
            _set_deadline(sock, deadline)
            sock = ssl_context.wrap_socket(sock, server_hostname=parsed.host)
        response = _client_handshake(sock, conn, request, deadline)
        sock.settimeout(None)
    except TimeoutError:
        sock.close()
        raise TimeoutError(
            f"timed out after {open_timeout} s while opening the connection to {uri}"
        ) from None
    except BaseException:
        sock.close()
        raise
    return WebSocket(
        sock,
        conn,
        response=response,
        logger=logger or logging.getLogger("wsproto_lite.sync.client"),
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_queue=max_queue,
    )


def _client_handshake(
    sock: socket.socket, conn: Connection, request: Handshake, deadline: float | None
) -> Accept:
    """Send *request* and read the answer; return the server's Accept."""
    conn.send(request)
    _set_deadline(sock, deadline)
    sock.sendall(conn.data_to_send())
    reject: Reject | None = None
    body: list[bytes] = []
    size = 0
    while True:
        event = conn.next_event()
        if event is None:
            _set_deadline(sock, deadline)
            conn.receive_data(sock.recv(_RECV_SIZE))
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


# -- server -------------------------------------------------------------------------


class _Peer:
    """A connection being served: its socket until the handshake is done, then its ws."""

    __slots__ = ("accepted", "sock", "ws")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        # Set (under the server's lock) before the 101 is sent: from then on a
        # shutdown must close the connection with a close frame, not drop it.
        self.accepted = False
        self.ws: WebSocket | None = None


class Server:
    """A WebSocket server; created by :func:`serve`, listening already.

    Run it with :meth:`serve_forever` and stop it with :meth:`shutdown` from
    another thread; ``with serve(...) as server:`` shuts it down on exit.
    """

    def __init__(
        self,
        sockets: list[socket.socket],
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
        self._sockets = sockets
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
        self._lock = threading.Lock()
        self._peers: dict[threading.Thread, _Peer] = {}
        self._stopping = False
        self._serving: threading.Thread | None = None
        self._accept_done = threading.Event()
        self._accept_done.set()
        self._shutdown_done = threading.Event()
        # serve_forever() sleeps in poll(); shutdown() wakes it through this pair.
        self._wake_r, self._wake_w = socket.socketpair()

    # -- lifecycle ----------------------------------------------------------------

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        return tuple(self._sockets)

    @property
    def port(self) -> int:
        """The port of the first listening socket (useful with ``port=0``)."""
        return int(self._sockets[0].getsockname()[1])

    @property
    def connections(self) -> frozenset[WebSocket]:
        """The open connections (those whose handshake is done)."""
        with self._lock:
            return frozenset(p.ws for p in self._peers.values() if p.ws is not None)

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called (from another thread).

        Each connection is served in a thread of its own: the handshake, then
        the handler.
        """
        with self._lock:
            if self._stopping:
                raise RuntimeError("the server was shut down")
            if self._serving is not None:
                raise RuntimeError("serve_forever() is already running")
            self._serving = threading.current_thread()
            self._accept_done.clear()
        try:
            with _new_selector() as selector:
                for sock in self._sockets:
                    selector.register(sock, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while True:
                    events = selector.select()
                    # Checked after waking: shutdown() may have run meanwhile (in
                    # a signal handler of this very thread) and closed the sockets.
                    if self._stopping:
                        break
                    for key, _ in events:
                        if key.fileobj is not self._wake_r:
                            self._accept(cast(socket.socket, key.fileobj))
        finally:
            with self._lock:
                self._serving = None
            self._accept_done.set()

    def shutdown(self, code: int = 1001, reason: str = "going away") -> None:
        """Shut the server down gracefully and wait until it is done; thread-safe.

        Stops accepting connections, closes every open connection with *code*
        and *reason*, drops handshakes in progress, and waits up to
        ``close_timeout`` for the handlers to return. Handlers still running
        then have their connection aborted (a thread cannot be cancelled).
        Safe to call more than once.
        """
        with self._lock:
            first = not self._stopping
            self._stopping = True
            serving = self._serving
        if not first:
            self._shutdown_done.wait()
            return
        try:
            with contextlib.suppress(OSError):  # a full buffer: it is awake anyway
                self._wake_w.send(b"\0")
            if serving is not None and serving is not threading.current_thread():
                self._accept_done.wait()
            for sock in self._sockets:
                sock.close()
            self._close_connections(code, reason)
        finally:
            self._wake_r.close()
            self._wake_w.close()
            self._shutdown_done.set()

    def _close_connections(self, code: int, reason: str) -> None:
        with self._lock:
            peers = list(self._peers.items())
            for _, peer in peers:
                if not peer.accepted:
                    _shutdown(peer.sock)  # a handshake in progress: drop it
                # An accepted peer without its ws yet sees _stopping and
                # closes with 1001 itself (_serve).
        closers = []
        for _, peer in peers:
            if peer.ws is not None:
                # In parallel: each close may take up to close_timeout.
                closer = threading.Thread(target=peer.ws.close, args=(code, reason), daemon=True)
                closer.start()
                closers.append(closer)
        deadline = None if self._close_timeout is None else time.monotonic() + self._close_timeout
        me = threading.current_thread()
        for thread, _ in peers:
            if thread is not me:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        for thread, peer in peers:
            if thread.is_alive() and thread is not me:
                self.logger.warning("a connection handler is still running after shutdown")
                if peer.ws is not None:
                    peer.ws._abort()
        for closer in closers:
            closer.join()

    # -- connections --------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return  # another process or thread took it
        except OSError as exc:
            # E.g. too many open files: wait a little rather than spin.
            self.logger.error("accept() failed: %r", exc)
            time.sleep(0.1)
            return
        sock.setblocking(True)
        peer = _Peer(sock)
        thread = threading.Thread(target=self._serve, args=(peer,), daemon=True)
        with self._lock:
            if self._stopping:
                sock.close()
                return
            self._peers[thread] = peer
        thread.name = f"wsproto_lite handler {_peername(sock)}"
        thread.start()

    def _serve(self, peer: _Peer) -> None:
        try:
            ws = self._handshake(peer)
            if ws is None:
                return
            with self._lock:
                peer.ws = ws
                stopping = self._stopping
            if stopping:  # accepted just as the server was shutting down
                ws.close(1001, "going away")
                return
            try:
                self._handler(ws)
            except ConnectionClosed:
                pass  # the handler let the closing of the connection end it
            except Exception:
                self.logger.exception("connection handler failed")
                ws.close(1011, "internal error")
            else:
                ws.close(1000, "")
            ws.close()  # waits for the end, whatever the handler did
        except Exception:  # pragma: no cover - a bug; the thread must not die silently
            self.logger.exception("unexpected error while serving a connection")
        finally:
            with self._lock:
                del self._peers[threading.current_thread()]

    def _handshake(self, peer: _Peer) -> WebSocket | None:
        """Do TLS and the opening handshake within open_timeout; None if it failed."""
        sock = peer.sock
        address = _peername(sock)
        deadline = None if self._open_timeout is None else time.monotonic() + self._open_timeout
        try:
            _no_delay(sock)
            if self._ssl is not None:
                _set_deadline(sock, deadline)
                tls = self._ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                with self._lock:
                    # shutdown() must reach the socket that is in use now.
                    sock = peer.sock = tls
                if self._stopping:
                    raise OSError("the server is shutting down")
                tls.do_handshake()
            conn = Connection(
                Role.SERVER,
                extensions=self._extensions,
                max_message_size=self._max_message_size,
                stream=True,
            )
            while True:
                event = conn.next_event()
                if event is None:
                    _set_deadline(sock, deadline)
                    conn.receive_data(sock.recv(_RECV_SIZE))
                    continue
                if isinstance(event, (Handshake, HTTPRequest)):
                    answer = self._answer(conn, event)
                    if isinstance(answer, Accept):
                        with self._lock:
                            if self._stopping:
                                raise OSError("the server is shutting down")
                            peer.accepted = True
                    _set_deadline(sock, deadline)
                    sock.sendall(conn.data_to_send())
                    if isinstance(answer, Accept):
                        sock.settimeout(None)
                        return WebSocket(
                            sock,
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
                    sock.sendall(conn.data_to_send())  # the error response
                    break
        except TimeoutError:
            self.logger.info("opening handshake timed out (%s)", address)
        except OSError as exc:
            self.logger.debug("opening handshake failed (%s): %r", address, exc)
        sock.close()
        return None

    def _answer(self, conn: Connection, request: Handshake | HTTPRequest) -> Accept | Reject:
        """Ask process_request (or the default) and queue the answer in *conn*."""
        answer: Any = None
        if self._process_request is not None:
            try:
                answer = self._process_request(request)
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


def _listen(host: str | Sequence[str] | None, port: int | None) -> list[socket.socket]:
    """Bind and listen on every address of *host* (all interfaces when ``None``).

    With ``port=0`` the port the first socket gets is reused for the others,
    so that one port number reaches the server on every address.
    """
    hosts: list[str | None] = [host] if host is None or isinstance(host, str) else list(host)
    infos = []
    for name in hosts:
        infos.extend(
            socket.getaddrinfo(
                name or None, port or 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        )
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, type_, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, type_, proto)
            sockets.append(sock)
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # Each family gets its own socket, so no IPv4-mapped addresses.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if not port and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(128)
            # poll() says when to accept; accept() must not block if another
            # thread or process got there first.
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


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
    logger: _Logger | None = None,
) -> Server:
    """Create a WebSocket server, listening at once; run it with :meth:`Server.serve_forever`.

    :param handler: ``def handler(ws)``, called in a thread of its own for each
        connection after the handshake. The connection is closed with 1000
        when it returns and with 1011 when it raises (the exception is logged).
    :param host: the interface(s) to listen on (``None``: all).
    :param port: the port (``0``: any free port; see :attr:`Server.port`).
    :param process_request: called with each request, a
        :class:`~wsproto_lite.events.Handshake` or a plain
        :class:`~wsproto_lite.events.HTTPRequest`, in the connection's thread;
        returns an :class:`~wsproto_lite.events.Accept`, a
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
        block in ``sendall``; there is no write buffer to limit).
    :param logger: defaults to ``logging.getLogger("wsproto_lite.sync.server")``.
    """
    del write_limit  # see the docstring
    return Server(
        _listen(host, port),
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
        logger=logger or logging.getLogger("wsproto_lite.sync.server"),
    )
