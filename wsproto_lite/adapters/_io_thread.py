"""The blocking adapter's I/O thread and sockets (:mod:`.sync`).

One thread (:class:`Loop`) reads and writes the sockets of many connections
without blocking (a selector) and runs their clocks; the connections'
application threads hand it calls. Nothing here knows WebSocket: a
connection is a :class:`Link`, which the blocking WebSocket is.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ._options import Logger

__all__ = [
    "READ", "RECV_SIZE", "WRITE", "Link", "Loop", "MemoryTLS", "clock", "listen", "new_selector",
    "no_delay", "peername",
]  # fmt: skip

# One recv() per 64 KiB: large enough for throughput, small enough that a
# streamed message part stays small, and that one connection does not keep
# the I/O thread from the others.
RECV_SIZE = 1 << 16
READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
clock = time.monotonic


class Link(Protocol):
    """A connection served by a :class:`Loop` (the blocking WebSocket)."""

    _sock: socket.socket
    _timer_at: float | None  # when the loop calls _tick() (owned by the loop)
    _lock: threading.Lock

    def _ready(self, mask: int) -> None: ...  # the socket is readable or writable
    def _tick(self) -> None: ...  # the timer expired
    def _close_transport(self) -> None: ...  # close the socket, wake all (_lock held)


def new_selector() -> selectors.BaseSelector:
    # poll() needs no extra file descriptor (unlike epoll) and has no
    # FD_SETSIZE limit (unlike select): the best for a few sockets.
    if hasattr(selectors, "PollSelector"):
        return selectors.PollSelector()
    return selectors.SelectSelector()  # pragma: no cover - Windows


def no_delay(sock: socket.socket) -> None:
    # WebSocket messages are written whole; Nagle's algorithm would only delay
    # the small ones (and the pongs) behind an unacknowledged segment.
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # platform dependent
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def peername(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:  # pragma: no cover - the peer left already
        return None


class Loop:
    """An I/O thread: a selector over the sockets of its connections, and their clocks.

    Other threads never touch the selector or the timers: they hand the loop
    calls (:meth:`call`), which it runs between two waits.

    :param name: the thread's name.
    :param linger: keep running without connections until :meth:`stop` (a
        server's); otherwise the thread ends with its last connection.
    """

    #: The timer heap is pruned of replaced timers once it holds more entries
    #: than this, and four times the connections.
    _prune_above = 64

    def __init__(self, name: str, linger: bool) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, READ)
        self._calls: deque[Callable[[], None]] = deque()
        self._woken = False
        # (when, order, connection), a heap; an entry whose connection's
        # _timer_at is no longer *when* was replaced and is skipped.
        self._timers: list[tuple[float, int, Link]] = []
        self._order = itertools.count()
        self._links: set[Link] = set()
        self._linger = linger
        self._stopping = False
        #: What the connections read into (one at a time: this thread).
        self.buffer = bytearray(RECV_SIZE)
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread (calls made before it runs are kept)."""
        self.thread.start()

    def call(self, function: Callable[[], None]) -> None:
        """Run *function* in the I/O thread soon; thread-safe."""
        self._calls.append(function)
        if not self._woken:
            self._woken = True
            with contextlib.suppress(OSError):  # a full pipe: it is awake anyway
                self._wake_w.send(b"\0")

    def stop(self) -> None:
        """Stop the thread (its connections are closed already) and wait for it."""
        self._stopping = True
        self.call(lambda: None)
        if threading.current_thread() is not self.thread:
            self._done.wait()

    # -- for the connections (in the I/O thread) --------------------------------------

    def attach(self, ws: Link) -> None:
        self._links.add(ws)

    def interest(self, ws: Link, old: int, new: int) -> None:
        """Watch *ws*'s socket for *new* events (0: none) instead of *old*."""
        if not old:
            self._selector.register(ws._sock, new, ws)
        elif not new:
            self._selector.unregister(ws._sock)
        else:
            self._selector.modify(ws._sock, new, ws)

    def timer(self, ws: Link, when: float | None) -> None:
        """Call ``ws._tick()`` at *when* (``None``: never); replaces the last timer."""
        # Set before the heap is pruned below: the prune keeps the entries
        # that match their connection's _timer_at, and this one must be kept.
        previous, ws._timer_at = ws._timer_at, when
        if when is None or when == previous:
            return
        timers = self._timers
        heapq.heappush(timers, (when, next(self._order), ws))
        if len(timers) > self._prune_above and len(timers) > 4 * len(self._links):
            # Mostly replaced timers: keep the heap as small as the connections.
            timers[:] = [t for t in timers if t[2]._timer_at == t[0]]
            heapq.heapify(timers)

    def expire(self, now: float) -> None:
        """Call ``_tick()`` on every connection whose timer is due at *now*."""
        timers = self._timers  # (a _tick() may push to it, or prune it in place)
        while timers and timers[0][0] <= now:
            when, _, ws = heapq.heappop(timers)
            if ws._timer_at == when:  # (else replaced by a later one)
                ws._timer_at = None
                ws._tick()

    def detach(self, ws: Link, mask: int) -> None:
        if mask:
            self._selector.unregister(ws._sock)
        ws._timer_at = None
        self._links.discard(ws)

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        selector = self._selector
        try:
            while not self._stopping and (self._linger or self._links or self._calls):
                timeout: float | None = None
                if self._calls:
                    timeout = 0
                elif self._timers:
                    timeout = max(0.0, self._timers[0][0] - clock())
                for key, mask in selector.select(timeout):
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            while self._wake_r.recv(4096):
                                pass
                        # Cleared after reading: a caller that sets it from now
                        # on sends a byte that the next select() sees, and one
                        # that saw it set has its call run below.
                        self._woken = False
                    else:
                        key.data._ready(mask)
                calls = self._calls
                while calls:
                    calls.popleft()()
                self.expire(clock())
        except Exception:  # pragma: no cover - a bug; say so rather than hang
            import logging

            logging.getLogger("wsproto_lite.sync").exception("the I/O thread failed")
            for ws in list(self._links):
                with ws._lock:
                    ws._close_transport()
        finally:
            selector.close()
            self._wake_r.close()
            self._wake_w.close()
            self._done.set()


def listen(host: str | Sequence[str] | None, port: int | None) -> list[socket.socket]:
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
            sock.listen(1024)
            # poll() says when to accept; accept() must not block if another
            # thread or process got there first.
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class MemoryTLS:
    """TLS over memory buffers: the I/O thread reads and writes the socket
    itself, without blocking, and passes the ciphertext through here.

    :param context: the TLS context.
    :param server_hostname: the server's name (a client), or ``None`` (a server).
    :param logger: where failures are logged (at debug level).
    """

    __slots__ = ("_in", "_obj", "_out", "error", "logger", "ready")

    def __init__(
        self, context: ssl.SSLContext, server_hostname: str | None, logger: Logger
    ) -> None:
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._obj = context.wrap_bio(
            self._in, self._out, server_side=server_hostname is None,
            server_hostname=server_hostname,
        )  # fmt: skip
        self.logger = logger
        #: The handshake is done: plaintext may be written.
        self.ready = False
        #: Why the handshake failed (what a client's connect() raises).
        self.error: Exception | None = None

    @property
    def server_side(self) -> bool:
        """Whether this is the server's end."""
        return self._obj.server_side

    def take(self) -> bytes:
        """The ciphertext to write to the socket now (``b""``: none)."""
        return self._out.read()

    def handshake(self) -> None:
        """Run the handshake on: it is done once :attr:`ready`, failed once :attr:`error`."""
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return
        except (ssl.SSLError, OSError) as exc:
            self.logger.debug("TLS handshake failed: %r", exc)
            self.error = exc
            return
        self.ready = True

    def write(self, data: memoryview) -> None:
        """Encrypt *data* (:meth:`take` gives the ciphertext).

        :raises ssl.SSLWantReadError: renegotiation: try again after reading.
        :raises ssl.SSLError: TLS failed.
        """
        self._obj.write(data)

    def receive(self, data: bytes) -> tuple[bytes, bool]:
        """Ciphertext from the socket in (``b""``: its end), plaintext out:
        ``(plaintext, end of input)``. Runs the handshake on until it is done."""
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()
        if not self.ready:
            self.handshake()
            if not self.ready:
                return b"", not data or self.error is not None
        chunks = []
        eof = False
        try:
            while True:
                chunk = self._obj.read(RECV_SIZE)
                if not chunk:
                    eof = True
                    break
                chunks.append(chunk)
        except ssl.SSLWantReadError:
            eof = not data
        except ssl.SSLZeroReturnError:
            eof = True
        except ssl.SSLError as exc:
            self.logger.debug("TLS read failed: %r", exc)
            eof = True
        return b"".join(chunks), eof
