"""Blocking WebSocket clients and servers: plain sockets and threads.

The adapter moves bytes between a socket and a :class:`~wsproto_lite.Connection`
and owns time: the opening and closing timeouts and the keepalive pings. Every
protocol decision is the core's, and what the three adapters share lives in
one sans-I/O session. A server::

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
    connection's clocks (keepalive, closing timeout) and feeds the sans-I/O
    core. A received message waits for the application, and what follows it
    is parsed when the application asks for the next one (by the application's
    own thread, then), so that its answer goes out before, say, the reply to a
    close frame that came next. Meanwhile the reader keeps up to
    ``max_queue`` × 64 KiB of bytes, then stops reading, so TCP slows down a
    peer that sends faster than the application reads.

    Application threads write their own messages: :meth:`WebSocket.send`
    returns once the kernel has taken every byte (``sendall``), so a peer that
    does not read blocks the sender instead of growing its memory. The reader
    never waits behind such a write: the answers the core queues for it
    (pongs, close replies) are sent by whichever thread writes next.

    A server runs each handler in a thread of its own.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import ssl as ssl_module
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import Any, cast

from .._connection import Role
from .._events import Accept, Close, Event, Handshake, HTTPRequest, Pong, Reject
from .._states import ConnectionState
from ..extensions.base import Extension
from . import _common, _session
from ._common import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
)
from ._session import Logger, Part, Session, Settings

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

_OPEN = ConnectionState.OPEN
# One recv() per 64 KiB: large enough for throughput, small enough that a
# streamed message part stays small.
_RECV_SIZE = 1 << 16


def _new_selector() -> selectors.BaseSelector:
    # poll() needs no extra file descriptor (unlike epoll) and has no
    # FD_SETSIZE limit (unlike select); one socket per selector is its best case.
    if hasattr(selectors, "PollSelector"):
        return selectors.PollSelector()
    return selectors.SelectSelector()  # pragma: no cover - Windows


def _shutdown(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    """Wake every thread blocked on *sock* (recv, sendall) by shutting it down.

    The plain socket's ``shutdown`` is called even for an ``SSLSocket``, whose
    own ``shutdown`` drops its SSL object under the feet of a thread still
    reading through it.
    """
    with contextlib.suppress(OSError):  # not connected any more, or already closed
        socket.socket.shutdown(sock, how)


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


def _peername(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:  # pragma: no cover - the peer left already
        return None


def _handshake_io(sock: socket.socket, session: Session, deadline: float | None) -> None:
    """Write what the core queued, then read until the handshake has an outcome."""
    _set_deadline(sock, deadline)
    sock.sendall(session.conn.data_to_send())
    while True:
        session.process(time.monotonic())
        if session.handshake_done:
            return
        _set_deadline(sock, deadline)
        session.receive_data(sock.recv(_RECV_SIZE))


class PongWaiter:
    """What :meth:`WebSocket.ping` returns: wait for the ping's pong.

    The blocking counterpart of the asyncio adapter's awaitable::

        pong = ws.ping()
        if pong.wait(timeout=5):
            print(f"latency: {pong.latency:.3f} s")
    """

    __slots__ = ("_error", "_event", "latency")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._error: ConnectionClosed | None = None
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

    def _settle(self, result: float | ConnectionClosed) -> None:
        if isinstance(result, ConnectionClosed):
            self._error = result
        else:
            self.latency = result
        self._event.set()


class WebSocket(_common.WebSocketBase):
    """An open WebSocket connection, on either side; safe to share between threads.

    Servers pass one to their handler; :func:`connect` returns one. Messages
    are ``str`` (text) or ``bytes`` (binary). Use it as a context manager to
    close it on exit.

    Not meant to be instantiated directly.
    """

    def __init__(self, sock: socket.socket, session: Session) -> None:
        self._sock = sock
        self._session = session
        self._conn = session.conn
        self._close_timeout = session.settings.close_timeout
        # Read once: a closed socket no longer knows its addresses.
        self._remote_address = _peername(sock)
        self._local_address = sock.getsockname()

        # Lock order: _message_lock, then _write_lock, then _lock. _lock guards
        # the session and every field below; it is never held during I/O.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._write_lock = threading.Lock()  # one writer at a time, in order
        self._message_lock = threading.Lock()  # one message (or fragment series) at a time
        self._recv_lock = threading.Lock()  # one receiver at a time
        self._partial: list[Part] = []  # parts of a message a timed-out recv() took
        self._finished = False  # the reader is done and the socket closed
        self._sock_closed = False
        self._closed = threading.Event()
        self._close_deadline: float | None = None  # owned by the reader thread

        self._reader = threading.Thread(
            target=self._run, name=f"wsproto_lite reader {self._remote_address}", daemon=True
        )
        self._reader.start()

    @property
    def response(self) -> Accept:
        """The server's :class:`~wsproto_lite.Accept` (received or sent)."""
        assert self._session.response is not None
        return self._session.response

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
        return _session.join(parts)

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
                    self._session.abandon_message()
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

    def _next_part(self, deadline: float | None) -> Part:
        """Take the next message part, parsing on or waiting for one if needed."""
        session = self._session
        while True:
            with self._cond:
                part = session.take_part(time.monotonic())
                if part is not None:
                    return part
            if session.has_unparsed and self._parse_here():  # it asks for more: parse on
                continue
            with self._cond:
                if session.queue:
                    continue  # the reader delivered one meanwhile
                if self._finished:
                    raise session.closed_exception()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no message arrived before the timeout")
                self._cond.wait(remaining)

    def _parse_here(self) -> bool:
        """Parse in this thread, and hand the reader what it must act on.

        Returns whether a part (or the close) arrived.
        """
        session, conn = self._session, self._conn
        with self._cond:
            if self._finished:
                return False
            paused, state = session.reading_paused, conn.state
            woke = session.process(time.monotonic())
            ended = conn.state is not state and conn.state is ConnectionState.CLOSED
            if ended or (paused and not session.reading_paused):
                self._cond.notify_all()  # a paused reader waits on the condition
        if ended:
            # The reader must close the socket (or wait for the server to),
            # but it may sleep in poll(): the read side, which nothing needs
            # any more, is shut down to wake it.
            _shutdown(self._sock, socket.SHUT_RD)
        self._flush_pending(only_if_writable=True)
        return woke

    # -- sending ------------------------------------------------------------------

    def send(self, message: Data | bytearray | memoryview) -> None:
        """Send a whole message: ``str`` as text, ``bytes``-like as binary.

        Returns once the kernel has taken the message, so it blocks while the
        peer does not read. A message being sent with :meth:`send_fragments`
        by another thread is finished first.

        :raises ConnectionClosed: the connection is closing or closed.
        :raises TypeError: *message* is neither ``str`` nor bytes-like.
        """
        event = _session.message_event(message)
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
            first: Part | None = None
            try:
                for part in fragments:
                    event = _session.fragment_event(part, first)
                    self._send_event(event)
                    first = first or event
            except BaseException as exc:
                if first is not None and not isinstance(exc, ConnectionClosed):
                    self._fail(1011, "error while sending a fragmented message")
                raise
            if first is not None:
                self._send_event(_session.last_fragment(first))

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
        waiter = PongWaiter()
        self._send(lambda: self._session.ping(data, time.monotonic(), waiter._settle))
        return waiter

    def pong(self, data: Data = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat). Pings are answered on their own."""
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self._send_event(Pong(payload))

    def _send_event(self, event: Event) -> None:
        self._send(lambda: self._session.send(event))

    def _send(self, queue: Callable[[], bool]) -> None:
        """Queue an event in the core with *queue* (``False``: the connection is
        not open) and write it, with anything queued before it."""
        with self._write_lock:
            with self._lock:
                queued = queue()
                # Whoever holds the write lock writes everything queued, the
                # reader's answers included (it skips writing while we hold it).
                data = self._conn.data_to_send()
            written = self._write_all(data)
        if not (queued and written):
            # A closing handshake under way ends within close_timeout (someone
            # armed that clock); waiting for it gives the exception its real code.
            self._closed.wait(self._close_timeout)
            with self._lock:
                raise self._session.closed_exception()
        self._flush_pending()

    def _write_all(self, data: bytes) -> bool:
        """Write *data* and whatever the core queues meanwhile (``_write_lock`` held).

        Returns ``False`` when the socket failed (the connection is then aborted).
        """
        while data:
            try:
                self._sock.sendall(data)
            except OSError as exc:
                self._session.logger.debug("write failed: %r", exc)
                self._abort()
                return False
            with self._lock:
                data = self._conn.data_to_send()
        return True

    def _flush_pending(self, only_if_writable: bool = False) -> bool:
        """Write what the core queued, unless another thread is writing.

        A writer that holds ``_write_lock`` takes the core's output again after
        each ``sendall``, and looks once more after releasing the lock, so
        nothing queued meanwhile is left behind; that is why the reader can
        skip a write instead of waiting behind a long ``sendall``.

        With *only_if_writable* (the reader's way) nothing is written unless
        the socket can take it now: a reader blocked in ``sendall`` to a peer
        that does not read would stop its clocks, and a dead peer would go
        unnoticed. The bytes then stay in the core for the next writer, and
        ``True`` is returned so that the reader waits for the socket to be
        writable.
        """
        conn = self._conn
        while conn.has_data_to_send:
            if not self._write_lock.acquire(blocking=False):
                return False
            try:
                if self._sock_closed:
                    return False
                if only_if_writable and not self._writable():
                    return True
                with self._lock:
                    data = conn.data_to_send()
                self._write_all(data)
            finally:
                self._write_lock.release()
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
        Messages received before the close can still be read with
        :meth:`recv`; those that arrive after the first ``max_queue`` ones are
        dropped rather than holding up the peer's reply.

        :raises LocalProtocolError: *code* or *reason* cannot be sent (e.g.
            1005, 1006, or a reason over 123 bytes).
        """
        Close(code, reason)  # checks the reason before anything is sent
        timer = None
        if self._close_timeout is not None and not self._closed.is_set():
            # A watchdog, because sendall() to a peer that does not read, and
            # the wait for its reply, can both block for ever.
            timer = threading.Timer(self._close_timeout, self._on_close_timeout)
            timer.daemon = True
            timer.start()
        try:
            with self._write_lock:
                with self._lock:
                    self._session.start_close(code, reason)
                    data = self._conn.data_to_send()
                self._write_all(data)
            # Parse on past unread messages: the peer's reply may wait behind them.
            self._parse_here()
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

    def _on_close_timeout(self) -> None:
        if not self._closed.is_set():
            self._session.logger.info("closing handshake timed out; closing the connection")
            self._abort()

    def _fail(self, code: int, reason: str) -> None:
        """Close at once with *code*, without waiting for the peer's reply.

        Called by the reader (keepalive) and by ``send_fragments``; the close
        frame is only written if the socket can take it without blocking,
        since a peer being failed may well not be reading.
        """
        with self._lock:
            self._session.fail(code, reason)
        self._flush_pending(only_if_writable=True)
        self._abort()

    def _abort(self) -> None:
        """Stop everything: wake the reader and any writer; the reader closes the socket."""
        with self._cond:
            self._session.aborted = self._session.closing = True
            self._cond.notify_all()
            if not self._sock_closed:
                _shutdown(self._sock)

    # -- the reader thread --------------------------------------------------------

    def _run(self) -> None:
        try:
            with _new_selector() as selector:
                selector.register(self._sock, selectors.EVENT_READ)
                self._read_loop(selector)
        except Exception:  # pragma: no cover - a bug; say so rather than hang
            self._session.logger.exception("the WebSocket reader failed")
        finally:
            self._finish()

    def _read_loop(self, selector: selectors.BaseSelector) -> None:
        sock, session, conn = self._sock, self._session, self._conn
        writing = False  # the selector also waits for the socket to be writable
        while True:
            with self._cond:
                if session.process(time.monotonic()):
                    self._cond.notify_all()
                done = conn.should_close_transport or session.aborted
                paused = session.reading_paused
                resume_at = session.resume_at
            if done:
                if not session.aborted:
                    self._final_flush()
                return
            timeout = self._check_clocks(resume_at)
            stuck = self._flush_pending(only_if_writable=True)
            if session.aborted:
                continue
            if paused:
                # Wait for the application: it wakes us when it has parsed on.
                with self._cond:
                    if session.reading_paused and not session.aborted:
                        self._cond.wait(timeout)
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
                session.logger.debug("read failed: %r", exc)
                data = b""
            with self._lock:
                session.receive_data(data)

    def _check_clocks(self, resume_at: float | None) -> float | None:
        """Act on the clocks that are due; return seconds until the next one."""
        now = time.monotonic()
        with self._lock:
            state = self._conn.state
            expired, due = self._session.keepalive(now) if state is _OPEN else (False, None)
        if expired:
            self._fail(1011, "keepalive ping timeout")
            return None
        if state is not _OPEN and self._close_timeout is not None:
            # A closing handshake is under way, or a client waits for the
            # server to close TCP (RFC 6455 §7.1.1): not for ever.
            if self._close_deadline is None:
                self._close_deadline = now + self._close_timeout
            if now >= self._close_deadline:
                self._on_close_timeout()
                return None
            due = self._close_deadline
        if resume_at is not None:
            due = resume_at if due is None else min(due, resume_at)
        return None if due is None else max(0.0, due - now)

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
                    data = self._conn.data_to_send()
                self._write_all(data)
        finally:
            if timer is not None:
                timer.cancel()

    def _finish(self) -> None:
        """Close the socket and wake everyone who waits (the reader's last act)."""
        with self._cond:
            self._session.closing = True
            # Shut down first: it wakes a writer blocked in sendall, whose
            # write lock the close below waits for (so no thread is inside a
            # system call on the descriptor when it is released).
            _shutdown(self._sock)
        with self._write_lock, self._lock:
            self._sock.close()
            self._sock_closed = True
        with self._cond:
            self._finished = True
            self._session.transport_closed()
            self._cond.notify_all()
        self._closed.set()


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
    logger: Logger | None = None,
) -> WebSocket:
    """Open a WebSocket connection to *uri*; ``with connect(uri) as ws:`` closes it on exit.

    :param uri: a ``ws://`` or ``wss://`` URI.
    :param subprotocols: subprotocols to offer, most preferred first.
    :param extra_headers: headers added to the handshake request.
    :param origin: the ``Origin`` header.
    {options}
    :raises InvalidURI: *uri* is not a WebSocket URI.
    :raises InvalidHandshake: the server refused (``.status``, ``.headers``,
        ``.body``) or answered something invalid.
    :raises TimeoutError: *open_timeout* expired.
    :raises OSError: the TCP connection could not be made.
    """
    settings = Settings.create("sync.client", locals())  # the arguments, by name
    parsed, request = _common.client_request(uri, subprotocols, extra_headers, origin)
    ssl_context = _common.client_ssl(parsed, ssl)
    session = Session(Role.CLIENT, settings)
    session.conn.send(request)
    deadline = None if open_timeout is None else time.monotonic() + open_timeout
    too_slow = f"timed out after {open_timeout} s while opening the connection to {uri}"
    try:
        sock = socket.create_connection((parsed.host, parsed.port), timeout=open_timeout)
    except TimeoutError:
        raise TimeoutError(too_slow) from None
    try:
        _no_delay(sock)
        if ssl_context is not None:
            _set_deadline(sock, deadline)
            sock = ssl_context.wrap_socket(sock, server_hostname=parsed.host)
        _handshake_io(sock, session, deadline)
        session.client_result()
        sock.settimeout(None)
    except TimeoutError:
        sock.close()
        raise TimeoutError(too_slow) from None
    except BaseException:
        sock.close()
        raise
    return WebSocket(sock, session)


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
        process_request: ProcessRequest | None,
        ssl: ssl_module.SSLContext | None,
        settings: Settings,
    ) -> None:
        self._sockets = sockets
        self._handler = handler
        self._process_request = process_request
        self._ssl = ssl
        self._settings = settings
        #: The server's logger.
        self.logger = settings.logger
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
        timeout = self._settings.close_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
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
            error = None
            try:
                self._handler(ws)
            except Exception as exc:
                error = exc
            ws.close(*_session.handler_ended(self.logger, error))  # waits for the end
        except Exception:  # pragma: no cover - a bug; the thread must not die silently
            self.logger.exception("unexpected error while serving a connection")
        finally:
            with self._lock:
                del self._peers[threading.current_thread()]

    def _handshake(self, peer: _Peer) -> WebSocket | None:
        """Do TLS and the opening handshake within open_timeout; None if it failed."""
        sock = peer.sock
        address = _peername(sock)
        timeout = self._settings.open_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
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
            session = Session(Role.SERVER, self._settings)
            _handshake_io(sock, session, deadline)
            request = session.pending_request
            accepted = False
            if request is not None:  # else the core answered (400, 426, 431)
                result, error = None, None
                if self._process_request is not None:
                    try:
                        result = self._process_request(request)
                    except Exception as exc:
                        error = exc
                accepted = session.answer(result, error)
                if accepted:
                    with self._lock:
                        if self._stopping:
                            raise OSError("the server is shutting down")
                        peer.accepted = True
            _set_deadline(sock, deadline)
            sock.sendall(session.conn.data_to_send())
            if accepted:
                sock.settimeout(None)
                return WebSocket(sock, session)
        except TimeoutError:
            self.logger.info("opening handshake timed out (%s)", address)
        except OSError as exc:
            self.logger.debug("opening handshake failed (%s): %r", address, exc)
        sock.close()
        return None


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
    logger: Logger | None = None,
) -> Server:
    """Create a WebSocket server, listening at once; run it with :meth:`Server.serve_forever`.

    :param handler: ``def handler(ws)``, called in a thread of its own for each
        connection after the handshake. The connection is closed with 1000
        when it returns and with 1011 when it raises (the exception is logged).
    :param host: the interface(s) to listen on (``None``: all).
    :param port: the port (``0``: any free port; see :attr:`Server.port`).
    :param process_request: called with each request, a
        :class:`~wsproto_lite.Handshake` or a plain
        :class:`~wsproto_lite.HTTPRequest`, in the connection's thread;
        returns an :class:`~wsproto_lite.Accept`, a
        :class:`~wsproto_lite.Reject` (e.g. 403, or 200 with a page), or
        ``None`` for the default: accept a handshake with the first matching
        subprotocol, answer 426 to plain HTTP.
    :param subprotocols: subprotocols this server speaks, preferred first.
    {options}
    """
    settings = Settings.create("sync.server", locals())  # the arguments, by name
    return Server(_listen(host, port), handler, process_request, ssl, settings)


_common.document(connect, "sync", "client", hands_to="kernel")
_common.document(serve, "sync", "server", hands_to="kernel")
