"""Blocking WebSocket clients and servers: plain sockets and threads.

The adapter moves bytes between sockets and the sans-I/O session of each
connection, which decides everything else (what to write, when to stop
reading, when to close, the next deadline). A server::

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
    All the sockets of a server are read and written by one *I/O thread*,
    without blocking (a selector); it runs the clocks of every connection
    (opening and closing timeouts, keepalive) and writes the automatic
    replies (pongs, close replies). Each connection's ``process_request``
    and handler run in a thread of its own, started when the request has
    arrived: a server runs one thread per connection, plus the I/O thread
    and the one in :meth:`Server.serve_forever`. A client connection has an
    I/O thread of its own besides the application's.

    A received message waits for the application, and what follows it is
    parsed when the application asks for the next one (in the application's
    thread, then), so that its answer goes out before, say, the reply to a
    close frame that came next. Meanwhile up to ``max_queue`` × 64 KiB of
    bytes wait unparsed, then the I/O thread stops reading that socket, so
    TCP slows down a peer that sends faster than the application reads.

    :meth:`WebSocket.send` frames (and compresses) the message in the
    caller's thread and hands the bytes to the I/O thread, the only one
    that writes; it returns once at most ``write_limit`` bytes wait to be
    written. A peer that does not read therefore blocks its senders instead
    of growing the process's memory; reading from it goes on (bounded by
    ``max_queue``), and the pongs owed meanwhile are kept as one. If it
    takes nothing for ``close_timeout`` it is failed (1011).

Scale
    A connection costs one thread: about 16 KiB of resident memory (the
    stack pages it touches, which the kernel backs on demand, and the
    interpreter's state for the thread), plus the session. The stack size is
    the interpreter's (:func:`threading.stack_size`); a smaller one reserves
    less address space but saves no memory (measured: the same 16–17 KiB per
    thread with 8 MiB, 256 KiB and 64 KiB stacks). glibc's malloc keeps a
    cache of freed blocks in each thread, so the I/O thread does all the
    writing: the bytes of a write are freed there, not left in a thousand
    handler threads' caches (under the load suite, 1,000 connections × 100
    messages, that brought the server's peak from 112 to 98–99 MiB, below
    the ``websockets`` server's 106 MiB). A few thousand connections
    per process work (closing 2,000 at once is part of the load suite in
    ``benchmarks/load.py``); beyond that, the threads' scheduling and the
    GIL dominate, and the asyncio or trio adapter is the better choice.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl as ssl_module
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from .._connection import Role
from .._events import Accept, Close, Event, Handshake, HTTPRequest, Reject
from .._prepared import PreparedMessage
from . import _broadcast, _common, _io_thread, _session
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

# TLS: plaintext is encrypted this much at a time, as the socket takes the
# ciphertext, so that a large message is not held twice.
_TLS_CHUNK = 1 << 16
_RECV_SIZE = _io_thread.RECV_SIZE
_READ = _io_thread.READ
_WRITE = _io_thread.WRITE
_now = _io_thread.clock
_Loop = _io_thread.Loop


class PongWaiter(_common.PongWaiterBase):
    """What :meth:`WebSocket.ping` returns: wait for the ping's pong.

    The blocking counterpart of the asyncio and trio adapters' awaitable::

        pong = ws.ping()
        if pong.wait(timeout=5):
            print(f"latency: {pong.latency:.3f} s")
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(threading.Event())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the pong; ``True`` once it arrived, ``False`` on timeout.

        :raises ConnectionClosed: the connection closed before the pong came.
        """
        if not self._event.wait(timeout):
            return False
        self._result()
        return True


class WebSocket(_common.WebSocketBase):
    """An open WebSocket connection, on either side; safe to share between threads.

    Servers pass one to their handler; :func:`connect` returns one. Messages
    are ``str`` (text) or ``bytes`` (binary). Use it as a context manager to
    close it on exit.

    Not meant to be instantiated directly.
    """

    __slots__ = (
        "__weakref__", "_broken", "_cond", "_conn", "_deadline", "_eof", "_finished",
        "_local_address", "_lock", "_loop", "_mask", "_message_lock", "_on_closed",
        "_on_request", "_pending", "_pending_size", "_plain", "_plain_size",
        "_posted", "_recv_lock", "_remote_address", "_session", "_sock", "_streaming",
        "_timer_at", "_tls", "_was_blocked",
    )  # fmt: skip

    def __init__(
        self,
        sock: socket.socket,
        session: Session,
        loop: _Loop,
        tls: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        on_request: Callable[[WebSocket], None] | None = None,
        on_closed: Callable[[WebSocket], None] | None = None,
    ) -> None:
        sock.setblocking(False)  # (served by *loop* once ``loop.call(ws._attach)``)
        _io_thread.no_delay(sock)
        self._sock = sock
        self._session = session
        self._conn = session.conn
        self._loop = loop
        # Read once: a closed socket no longer knows its addresses.
        self._remote_address = _io_thread.peername(sock)
        self._local_address = sock.getsockname()
        self._on_request = on_request
        self._on_closed = on_closed
        # Lock order: _message_lock, then _lock (then the server's lock).
        # _lock guards the session and every field below; its condition
        # wakes receivers, senders waiting for the output to drain, and
        # those waiting for the end.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._message_lock = threading.Lock()  # one message (or fragment series) at a time
        self._recv_lock = threading.Lock()  # one receiver at a time
        self._streaming: _common.MessageParts | None = None  # the current recv_streaming()
        self._finished = False  # the socket is closed (then _cond is notified)
        # The transport: bytes for the socket (ciphertext with TLS), and
        # with TLS the plaintext not encrypted yet.
        # (Lists: they hold a piece or two, and a deque starts with a 64-slot block.)
        self._pending: list[memoryview] = []
        self._pending_size = 0
        self._plain: list[memoryview] = []
        self._plain_size = 0
        self._broken = False  # the socket failed: nothing more can be written
        self._eof = False
        self._was_blocked = False
        self._tls = None
        if tls is not None:
            self._tls = _io_thread.MemoryTLS(tls, server_hostname, session.logger)
        # Owned by the I/O thread (under _lock).
        self._mask = 0
        self._timer_at: float | None = None
        self._deadline: float | None = None
        self._posted = False  # a _refresh() is on its way to the I/O thread

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
        deadline = None if timeout is None else _now() + timeout
        self._start_receiving()
        parts: list[Part] = []
        try:
            with self._cond:
                try:
                    while not parts or not parts[-1].final:
                        parts.append(self._next_part(deadline))
                except BaseException:
                    self._session.put_back(parts)  # the next call gets the whole message
                    raise
        finally:
            self._recv_lock.release()
        return _session.join(parts)

    def recv_streaming(self) -> _common.MessageParts:
        """Iterate over the parts of the next message as they arrive::

            for part in ws.recv_streaming():
                sink.write(part)

        Parts are ``str`` for a text message (split on character boundaries)
        and ``bytes`` for a binary one; the iteration ends with the message,
        which therefore never sits in memory whole (raise ``max_message_size``,
        or set it to ``None``, to receive a large one). Left early, the next
        receive discards the rest (:class:`~wsproto_lite.adapters.MessageParts`).

        :raises RuntimeError: another thread is already receiving.
        """
        self._start_receiving()
        try:
            stream = self._streaming = _common.MessageParts(self)
        finally:
            self._recv_lock.release()  # held only while a part is awaited
        return stream

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
        if self._streaming is not None:
            # A recv_streaming() iteration was left before the end of its
            # message (no hook of the language says so): discard the rest.
            self._streaming.supersede()

    def _abandon_message(self) -> None:
        """Discard the rest of the message a ``recv_streaming()`` started."""
        with self._lock:
            self._session.abandon_message()

    def _next_part(self, deadline: float | None) -> Part:
        """Take the next message part, parsing on or waiting for one (``_cond`` held)."""
        session = self._session
        while True:
            now = _now()
            part = session.take_part(now)
            if part is not None:
                return part
            if session.has_unparsed and not self._finished:  # it asks for more: parse on
                woke = session.process(now)
                self._step(now)
                if woke:
                    continue
            if self._finished:
                raise session.closed_exception()
            remaining = None if deadline is None else deadline - now
            if remaining is not None and remaining <= 0:
                raise TimeoutError("no message arrived before the timeout")
            self._cond.wait(remaining)

    # -- sending ------------------------------------------------------------------

    def send(self, message: Data | bytearray | memoryview) -> None:
        """Send a whole message: ``str`` as text, ``bytes``-like as binary.

        Returns once at most ``write_limit`` bytes wait to be written, so it
        blocks while the peer does not read. A message being sent with
        :meth:`send_fragments` by another thread is finished first.

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
            self._session.sending_fragments = True  # (broadcast() may not slip in)
            try:
                for part in fragments:
                    event = _session.fragment_event(part, first)
                    first = first or event  # (before the wait: an interrupted one fails it)
                    self._send_event(event)
                if first is not None:
                    self._send_event(_session.last_fragment(first))
            except BaseException as exc:
                if first is not None and not isinstance(exc, ConnectionClosed):
                    self._fail(1011, "error while sending a fragmented message")
                raise
            finally:
                self._session.sending_fragments = False

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
        self._send(lambda: self._session.ping(data, _now(), waiter._settle))
        return waiter

    def pong(self, data: Data = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat). Pings are answered on their own."""
        self._send_event(_session.pong_event(data))

    def _send_event(self, event: Event) -> None:
        self._send(lambda: self._session.send(event))

    def _send(self, queue: Callable[[], bool]) -> None:
        """Queue an event with *queue* (``False``: the connection is not open),
        have the I/O thread write it, and wait while the output is blocked."""
        session = self._session
        with self._cond:
            if not queue():
                # A closing handshake under way ends within close_timeout;
                # waiting for it gives the exception its real code.
                self._cond.wait_for(lambda: self._finished, session.settings.close_timeout)
                raise session.closed_exception()
            self._step(_now())
            waited = False
            while session.output_blocked and not self._finished:
                waited = True
                self._cond.wait()
            if self._broken or (waited and self._finished):  # it may never have left
                raise session.closed_exception()

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
        with self._cond:
            if not self._finished:
                self._session.start_close(code, reason)
                now = _now()
                # Parse on past unread messages: the peer's reply may wait behind them.
                self._session.process(now)
                self._step(now)
            self._cond.wait_for(lambda: self._finished)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection is closed (the TCP connection included).

        Returns ``False`` if *timeout* expired first.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._finished, timeout)

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _fail(self, code: int, reason: str) -> None:
        """Close at once with *code*: write what the peer takes, then close."""
        with self._cond:
            self._session.fail(code, reason)
            self._step(_now())

    def _abort(self) -> None:
        """Close the socket at once (in the I/O thread)."""
        with self._cond:
            if not self._finished:
                self._session.must_abort = True
                self._step(_now())

    # -- the transport (under _lock) -----------------------------------------------

    def _step(self, now: float) -> None:
        """Act on the session after anything happened to it: run its clocks; in
        the I/O thread, write its output and watch the socket as it should,
        and from any other thread, hand the I/O thread what that needs."""
        if self._finished:
            return
        session = self._session
        # Only the I/O thread writes: the bytes written, and the temporary
        # buffers of a write, are then freed in that one thread. Freed in the
        # handlers' threads, glibc's malloc would keep them in a per-thread
        # cache each (up to 7 blocks of each size to 1 KiB): under the load
        # suite, 112 MiB at the peak instead of 98 (docs/adapters/sync.md).
        here = threading.current_thread() is self._loop.thread
        if here and (self._pending or self._plain or session.has_output):
            self._write(now)
        woke, self._deadline = session.tick(now)
        if here and session.has_output:
            self._write(now)  # a keepalive ping, or the close frame of a failure
        blocked = session.output_blocked
        if self._was_blocked and not blocked:
            woke = True  # the peer read: the senders go on
            if here and session.has_output:
                self._write(now)  # the pong held back
        self._was_blocked = blocked
        if woke:
            self._cond.notify_all()
        if here:
            self._apply()
        elif not self._posted and (session.has_output or self._loop_must_look()):
            self._posted = True
            self._loop.call(self._refresh)

    def _wanted(self) -> int:
        """The socket events to wait for."""
        mask = _WRITE if self._pending else 0
        if not self._eof and not self._session.reading_paused:
            mask |= _READ
        return mask

    def _must_close(self) -> bool:
        session = self._session
        return (
            session.must_abort
            or self._broken
            or (session.should_close_transport and not self._pending and not self._plain)
        )

    def _loop_must_look(self) -> bool:
        deadline = self._deadline
        return (
            self._must_close()
            or self._wanted() != self._mask
            or (deadline is not None and (self._timer_at is None or deadline < self._timer_at))
        )

    def _apply(self) -> None:
        """In the I/O thread: close the socket, or set what to watch and the timer."""
        if self._must_close():
            self._close_transport()
            return
        mask = self._wanted()
        if mask != self._mask:
            self._loop.interest(self, self._mask, mask)
            self._mask = mask
        self._loop.timer(self, self._deadline)

    def _write(self, now: float) -> None:
        """Take the session's output and write what the socket takes now."""
        data = self._session.take_output()
        if data:
            view = memoryview(data)
            if self._tls is None:
                self._pending.append(view)
                self._pending_size += len(data)
            else:
                self._plain.append(view)
                self._plain_size += len(data)
        while not self._broken:
            if self._plain and self._tls and self._tls.ready:
                self._encrypt()
            if not self._pending or not self._send_pending():
                break
        self._session.transport_holds(self._pending_size + self._plain_size, now)

    def _send_pending(self) -> bool:
        """Send what the socket takes; whether all of it was taken."""
        pending, sock = self._pending, self._sock
        while pending:
            view = pending[0]
            try:
                sent = sock.send(view)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                self._session.logger.debug("write failed: %r", exc)
                self._broken = True
                return False
            self._pending_size -= sent
            if sent < len(view):
                pending[0] = view[sent:]
                return False
            pending.pop(0)
        return True

    def _encrypt(self) -> None:
        """Encrypt queued plaintext while little ciphertext waits."""
        tls, plain = self._tls, self._plain
        assert tls is not None
        while plain and self._pending_size < _TLS_CHUNK:
            view = plain.pop(0)
            piece, rest = view[:_TLS_CHUNK], view[_TLS_CHUNK:]
            try:
                tls.write(piece)
            except ssl_module.SSLWantReadError:  # pragma: no cover - renegotiation
                plain.insert(0, view)
                return
            except ssl_module.SSLError as exc:
                self._session.logger.debug("TLS write failed: %r", exc)
                self._broken = True
                return
            self._plain_size -= len(piece)
            if rest:
                plain.insert(0, rest)
            self._tls_flush()

    def _tls_flush(self) -> None:
        """Queue what TLS has to write; once it failed, nothing more is written."""
        assert self._tls is not None
        data = self._tls.take()
        if data:
            self._pending.append(memoryview(data))
            self._pending_size += len(data)
        if self._tls.error is not None:
            self._broken = True

    def _receive(self) -> tuple[bytes, bool]:
        """Read once: ``(data, end of input)``."""
        buffer = self._loop.buffer
        try:
            # Into the I/O thread's buffer, then copied at its size: recv(n)
            # would allocate n bytes for every read and shrink them, which
            # leaves the heap fragmented under load.
            size = self._sock.recv_into(buffer)
            data = bytes(memoryview(buffer)[:size]) if size else b""
        except (BlockingIOError, InterruptedError):
            return b"", False
        except OSError as exc:
            self._session.logger.debug("read failed: %r", exc)
            return b"", True
        if self._tls is None:
            return data, not data
        data, eof = self._tls.receive(data)
        self._tls_flush()  # the handshake's, or e.g. TLS 1.3 post-handshake messages
        return data, eof

    # -- the I/O thread's entry points -------------------------------------------------

    def _attach(self) -> None:
        with self._lock:
            self._loop.attach(self)
            if self._tls is not None and not self._tls.server_side:
                self._tls.handshake()  # the client speaks first
                self._tls_flush()
            self._step(_now())

    def _ready(self, mask: int) -> None:
        """The socket is readable or writable (*mask*)."""
        with self._lock:
            now = _now()
            session = self._session
            if mask & _READ:
                data, eof = self._receive()
                if data:
                    session.receive_data(data)
                if eof:
                    self._eof = True
                    session.receive_data(b"")
                if (data or eof) and session.process(now):
                    self._cond.notify_all()
                if session.pending_request is not None and self._on_request is not None:
                    on_request, self._on_request = self._on_request, None
                    on_request(self)
            self._step(now)  # writes what waits, if the socket is writable

    def _tick(self) -> None:
        with self._lock:
            self._step(_now())

    def _refresh(self) -> None:
        with self._lock:
            self._posted = False
            if not self._finished:
                self._step(_now())

    def _close_transport(self) -> None:
        """In the I/O thread: close the socket and wake everyone who waits."""
        if self._finished:
            return
        self._loop.detach(self, self._mask)
        self._mask = 0
        self._sock.close()
        self._finished = True
        self._pending.clear()
        self._plain.clear()
        self._pending_size = self._plain_size = 0
        self._session.transport_closed()
        self._cond.notify_all()
        if self._on_closed is not None:
            self._on_closed(self)


# -- broadcast ----------------------------------------------------------------------


def broadcast(
    connections: Iterable[WebSocket],
    message: Data | bytearray | memoryview,
    *,
    compress: bool = False,
) -> BroadcastResult[WebSocket]:
    """Send *message* to every connection that can take it now; never wait.

    The message is encoded and framed once, and the same bytes are handed to
    every open connection with at most ``write_limit`` bytes waiting to be
    written (its I/O thread writes them). A connection that cannot take it
    now is skipped, not waited for, and reported with the reason; the others
    are unaffected::

        result = broadcast(server.connections, "news")
        for ws, reason in result.skipped.items():
            log.warning("%s missed the news: %s", ws.remote_address, reason.value)

    Safe from any thread. Each connection that takes the message receives it
    whole, after whatever was sent on it before.

    :param connections: :class:`WebSocket` s of this adapter (e.g.
        :attr:`Server.connections`), any iterable.
    :param message: ``str`` for a text message, bytes-like for binary.
    :param compress: where permessage-deflate was negotiated, compress the
        message for each such connection (one zlib run per connection).
        By default (``False``) those connections get the shared frame
        uncompressed, as RFC 7692 §6 allows.
    :returns: a :class:`BroadcastResult`: how many connections took the
        message, and which were skipped, with their :class:`SkipReason`
        (``NOT_OPEN``: closing or closed; ``BUSY``: more than ``write_limit``
        bytes already wait to be written; ``FRAGMENTING``: a
        :meth:`WebSocket.send_fragments` is under way).
    :raises TypeError: *message* is neither ``str`` nor bytes-like, or one of
        *connections* is not a blocking :class:`WebSocket` (nothing is sent).
    :raises LocalProtocolError: *message* is text that UTF-8 cannot encode
        (nothing is sent).
    """
    return _broadcast.broadcast(connections, message, compress, WebSocket, "blocking", _hand_over)


def _hand_over(ws: WebSocket, prepared: PreparedMessage, compress: bool) -> SkipReason | None:
    with ws._lock:
        if ws._finished:
            return SkipReason.NOT_OPEN
        reason = _broadcast.offer(ws._session, prepared, compress)
        if reason is None:
            ws._step(_now())  # the I/O thread writes it
        return reason


# -- client -------------------------------------------------------------------------


def connect(
    uri: str,
    *,
    subprotocols: Sequence[str] | None = None,
    extra_headers: Sequence[tuple[str, str]] | dict[str, str] | None = None,
    origin: str | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    **options: Unpack[Options],
) -> WebSocket:
    """Open a WebSocket connection to *uri*; ``with connect(uri) as ws:`` closes it on exit.

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
    :raises OSError: the TCP connection could not be made (:class:`ssl.SSLError`:
        the TLS handshake failed).
    """
    settings = Settings.create("sync.client", options)
    parsed, ssl_context, session = _common.client_session(
        uri, subprotocols, extra_headers, origin, ssl, settings
    )
    session.start_clock(_now())
    too_slow = _common.open_timeout_error(parsed, settings.open_timeout)
    try:
        sock = socket.create_connection((parsed.host, parsed.port), settings.open_timeout)
    except TimeoutError:
        raise too_slow from None
    loop = _Loop(f"wsproto_lite client {uri}", linger=False)
    ws = WebSocket(sock, session, loop, ssl_context, parsed.host if ssl_context else None)
    loop.call(ws._attach)
    loop.start()
    with ws._cond:
        ws._cond.wait_for(lambda: session.handshake_done or ws._finished)
    try:
        if ws._tls is not None and ws._tls.error is not None:
            raise ws._tls.error
        if session.open_timed_out:
            raise too_slow
        session.client_result()
    except BaseException:
        ws._abort()
        ws.wait_closed()
        raise
    return ws


# -- server -------------------------------------------------------------------------


class _Peer:
    """A connection being served: its ws, then the thread of its handler."""

    __slots__ = ("accepted", "thread", "ws")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.thread: threading.Thread | None = None
        # Set (under the server's lock) before the 101 is sent: from then on a
        # shutdown must close the connection with a close frame, not drop it.
        self.accepted = False


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
        self._peers: dict[WebSocket, _Peer] = {}
        self._loop: _Loop | None = None
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
        """The connections whose handshake is done, until they are closed (the
        same in every adapter: handshakes in progress are not included)."""
        with self._lock:
            return frozenset(p.ws for p in self._peers.values() if p.accepted)

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called (from another thread).

        Each connection is read and written by the server's I/O thread; its
        ``process_request`` and handler run in a thread of its own.
        """
        with self._lock:
            if self._stopping:
                raise RuntimeError("the server was shut down")
            if self._serving is not None:
                raise RuntimeError("serve_forever() is already running")
            self._serving = threading.current_thread()
            self._accept_done.clear()
            if self._loop is None:
                self._loop = _Loop(f"wsproto_lite server {self.port}", linger=True)
                self._loop.start()
        try:
            with _io_thread.new_selector() as selector:
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

    def close(self, code: int = 1001, reason: str = "going away") -> None:
        """Start a graceful shutdown (in a thread of its own) and return at once;
        :meth:`wait_closed` waits for its end. Thread-safe.

        The same as the other adapters' ``close()``; :meth:`shutdown` does it
        and waits.
        """
        with self._lock:
            if self._stopping:
                return
        threading.Thread(target=self.shutdown, args=(code, reason), daemon=True).start()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the server is shut down; ``False`` if *timeout* expired first."""
        return self._shutdown_done.wait(timeout)

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
            if self._loop is not None:
                self._loop.stop()
            self._shutdown_done.set()

    def _close_connections(self, code: int, reason: str) -> None:
        with self._lock:
            peers = list(self._peers.values())
        now = _now()
        for peer in peers:
            ws = peer.ws
            with ws._cond:
                if not peer.accepted:
                    ws._session.must_abort = True  # a handshake in progress: drop it
                elif ws._session.is_open:
                    ws._session.start_close(code, reason)
                    ws._session.process(now)
                ws._step(now)
        timeout = self._settings.close_timeout
        deadline = None if timeout is None else _now() + timeout
        me = threading.current_thread()
        for peer in peers:
            thread = peer.thread
            if thread is not None and thread is not me:
                thread.join(None if deadline is None else max(0.0, deadline - _now()))
        for peer in peers:
            thread = peer.thread
            if thread is not None and thread.is_alive() and thread is not me:
                self.logger.warning("a connection handler is still running after shutdown")
            peer.ws._abort()
        for peer in peers:
            peer.ws.wait_closed()

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
        session = Session(Role.SERVER, self._settings)
        session.start_clock(_now())
        with self._lock:
            loop = self._loop
            if self._stopping or loop is None:
                sock.close()
                return
            ws = WebSocket(sock, session, loop, self._ssl, None, self._on_request, self._on_closed)
            self._peers[ws] = _Peer(ws)
        loop.call(ws._attach)

    def _on_request(self, ws: WebSocket) -> None:
        """In the I/O thread: the request arrived; answer and serve it in a thread."""
        if ws._session.must_abort:
            return  # dropped (the server is shutting down)
        thread = threading.Thread(
            target=self._serve, args=(ws,), name=f"wsproto_lite handler {ws._remote_address}"
        )
        thread.daemon = True
        with self._lock:
            peer = self._peers[ws]
            peer.thread = thread
        thread.start()

    def _on_closed(self, ws: WebSocket) -> None:
        """In the I/O thread: the socket is closed; forget a connection without a thread."""
        with self._lock:
            peer = self._peers.get(ws)
            if peer is not None and peer.thread is None:
                del self._peers[ws]

    def _serve(self, ws: WebSocket) -> None:
        try:
            accepted = self._answer(ws)
            if not accepted:
                ws.wait_closed()  # the answer is written, then the socket closed
                return
            ws.close(*_session.call_handler(self._handler, ws, self.logger))  # waits for the end
        except Exception:  # pragma: no cover - a bug; the thread must not die silently
            self.logger.exception("unexpected error while serving a connection")
            ws._abort()
        finally:
            with self._lock:
                del self._peers[ws]

    def _answer(self, ws: WebSocket) -> bool:
        """Run ``process_request`` and answer the request; whether it was accepted."""
        session = ws._session
        request = session.pending_request
        assert request is not None
        result, error = _session.call_hook(self._process_request, request)
        with ws._cond:
            if ws._finished or session.must_abort:  # the client left, or it took too long
                return False
            accepted = session.answer(result, error)
            if accepted:
                with self._lock:
                    if self._stopping:  # drop it, as a handshake in progress
                        session.must_abort = True
                        accepted = False
                    else:
                        self._peers[ws].accepted = True
            now = _now()
            if accepted and session.process(now):  # what followed the request
                ws._cond.notify_all()
            ws._step(now)
        return accepted


def serve(
    handler: Handler,
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    process_request: ProcessRequest | None = None,
    subprotocols: Sequence[str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    **options: Unpack[Options],
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
    :param ssl: an :class:`ssl.SSLContext` to serve ``wss://``.
    :param options: the :class:`~wsproto_lite.adapters.Options` (``open_timeout=``,
        ``max_message_size=``…), the same in every adapter.
    """
    settings = Settings.create("sync.server", options, subprotocols)
    return Server(_io_thread.listen(host, port), handler, process_request, ssl, settings)
