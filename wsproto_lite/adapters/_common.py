"""What every adapter shows its users the same way.

URIs and the client's request, and the WebSocket's read-only properties (the
options are declared in :mod:`._options`). Free of any I/O, like the session
(:mod:`._session`, which this module builds on and which does not import it),
so that the asyncio, trio and blocking adapters behave the same way and stay
small. The exceptions are in :mod:`._errors`.
"""

from __future__ import annotations

import inspect
import ssl as ssl_module
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

from .._connection import Role
from .._events import Accept, Handshake, HTTPRequest, Pong
from .._states import ConnectionState
from ._errors import ConnectionClosed, ConnectionClosedOK, InvalidURI
from ._options import Settings
from ._session import (
    Data,
    DataLike,
    Part,
    Session,
    fragment_event,
    join,
    last_fragment,
    pong_event,
)

__all__ = [
    "AsyncMessageParts",
    "AsyncWebSocketBase",
    "AwaitablePongWaiter",
    "MessageParts",
    "MessagePartsBase",
    "PongWaiterBase",
    "WebSocketBase",
    "WebSocketURI",
    "await_hook",
    "client_request",
    "client_session",
    "client_ssl",
    "open_timeout_error",
    "parse_uri",
]


@dataclass(frozen=True)
class WebSocketURI:
    """A parsed ``ws://`` / ``wss://`` URI (RFC 6455 §3)."""

    #: Whether TLS is used (``wss``).
    secure: bool
    #: The host name or address (IPv6 without brackets).
    host: str
    #: The port (80/443 by default).
    port: int
    #: The request target: path and query, at least ``/``.
    resource: str

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: the port is left out when it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_uri(uri: str) -> WebSocketURI:
    """Parse a WebSocket URI; raise :class:`InvalidURI` when it is not one.

    RFC 6455 §3: the scheme is ``ws`` or ``wss``, there is a host, and a
    fragment is not allowed. User information is refused rather than silently
    dropped.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidURI(f"{uri!r} is not a valid URI: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(f"{uri!r} is not a WebSocket URI: the scheme must be ws or wss")
    if not parts.hostname:
        raise InvalidURI(f"{uri!r} has no host")
    if parts.fragment:
        raise InvalidURI(f"{uri!r} has a fragment, which WebSocket URIs may not have")
    if parts.username is not None or parts.password is not None:
        raise InvalidURI(f"{uri!r} contains user information; send credentials in a header")
    secure = parts.scheme == "wss"
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return WebSocketURI(
        secure=secure,
        host=parts.hostname,
        port=port if port is not None else (443 if secure else 80),
        resource=resource,
    )


def client_request(
    uri: str,
    subprotocols: Sequence[str] | None,
    extra_headers: Sequence[tuple[str, str]] | Mapping[str, str] | None,
    origin: str | None,
) -> tuple[WebSocketURI, Handshake]:
    """The parsed *uri* and the handshake request a client sends to it.

    :raises InvalidURI: *uri* is not a ``ws://`` or ``wss://`` URI.
    """
    parsed = parse_uri(uri)
    headers = extra_headers.items() if isinstance(extra_headers, Mapping) else extra_headers
    request = Handshake(
        host=parsed.host_header,
        target=parsed.resource,
        subprotocols=tuple(subprotocols or ()),
        headers=tuple(headers or ()),
        origin=origin,
    )
    return parsed, request


def client_ssl(
    uri: WebSocketURI, ssl: ssl_module.SSLContext | bool | None
) -> ssl_module.SSLContext | None:
    """The TLS context for *uri*: *ssl*, or the system's default for ``wss://``.

    :raises ValueError: *ssl* contradicts the URI's scheme.
    """
    if not uri.secure:
        if ssl is not None and ssl is not False:
            raise ValueError("connect() got an ssl argument for a ws:// URI")
        return None
    if ssl is False:
        raise ValueError("connect() got ssl=False for a wss:// URI")
    return ssl if isinstance(ssl, ssl_module.SSLContext) else ssl_module.create_default_context()


def client_session(
    uri: str,
    subprotocols: Sequence[str] | None,
    extra_headers: Sequence[tuple[str, str]] | Mapping[str, str] | None,
    origin: str | None,
    ssl: ssl_module.SSLContext | bool | None,
    settings: Settings,
) -> tuple[WebSocketURI, ssl_module.SSLContext | None, Session]:
    """What a client needs before it connects: the parsed *uri*, its TLS
    context (:func:`client_ssl`) and a session with the request queued.

    :raises InvalidURI: *uri* is not a ``ws://`` or ``wss://`` URI.
    :raises ValueError: *ssl* contradicts the URI's scheme.
    """
    parsed, request = client_request(uri, subprotocols, extra_headers, origin)
    context = client_ssl(parsed, ssl)
    session = Session(Role.CLIENT, settings)
    session.conn.send(request)
    return parsed, context, session


def open_timeout_error(uri: WebSocketURI, timeout: float | None) -> TimeoutError:
    """What a client raises when ``open_timeout`` expired (the URI without its
    resource, which may carry a token)."""
    where = f"{'wss' if uri.secure else 'ws'}://{uri.host_header}"
    return TimeoutError(f"timed out after {timeout} s while opening the connection to {where}")


class PongWaiterBase:
    """What ``ping()`` returns in every adapter: set once the ping's pong
    arrives, or the connection closed first.

    :param event: an event of the adapter's library (``set()``, ``wait()``).
    """

    __slots__ = ("_error", "_event", "latency")

    def __init__(self, event: Any) -> None:
        self._event = event
        self._error: ConnectionClosed | None = None
        #: The round trip in seconds, once the pong arrived (``None`` before).
        self.latency: float | None = None

    def is_set(self) -> bool:
        """Whether the pong arrived."""
        return self.latency is not None

    def _settle(self, result: float | ConnectionClosed) -> None:
        if isinstance(result, ConnectionClosed):
            self._error = result
        else:
            self.latency = result
        self._event.set()

    def _result(self) -> float:
        if self._error is not None:
            raise self._error
        assert self.latency is not None
        return self.latency


class AwaitablePongWaiter(PongWaiterBase):
    """A :class:`PongWaiterBase` to await (asyncio, trio): the round trip in seconds.

    :raises ConnectionClosed: (when awaited) the connection closed before the
        pong came.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, float]:
        return self._wait().__await__()

    async def _wait(self) -> float:
        await self._event.wait()
        return self._result()


class WebSocketBase:
    """What the WebSocket of every adapter shows the same way."""

    __slots__ = ()  # each adapter's WebSocket has slots: a server holds many
    _session: Session
    _remote_address: Any
    _local_address: Any

    @property
    def request(self) -> Handshake | None:
        """The opening handshake's request (received by a server, sent by a client).

        ``.target`` is the path and query, ``.headers`` every header,
        ``.origin`` and ``.subprotocols`` the parsed values.
        """
        return self._session.conn.request

    @property
    def response(self) -> Accept:
        """The server's :class:`~wsproto_lite.Accept` (received by a client, sent
        by a server): ``.subprotocol``, ``.extensions``, ``.headers``.

        :raises RuntimeError: the opening handshake is not done (never for
            the WebSockets that ``connect()`` returns and handlers receive).
        """
        response = self._session.response
        if response is None:
            raise RuntimeError("the opening handshake is not done")
        return response

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the handshake, or ``None``."""
        return self._session.conn.subprotocol

    @property
    def extensions(self) -> tuple[str, ...]:
        """The extensions agreed in the handshake, as header elements."""
        return self._session.conn.negotiated_extensions

    @property
    def state(self) -> ConnectionState:
        """The connection's :class:`~wsproto_lite.ConnectionState`."""
        return self._session.conn.state

    @property
    def close_code(self) -> int | None:
        """The close code: the peer's, the one this side failed the connection
        with, or 1006 when the connection ended without a closing handshake.
        ``None`` while the connection is open."""
        return self._session.close_code

    @property
    def close_reason(self) -> str:
        """The close reason that goes with :attr:`close_code` (``""`` if none)."""
        return self._session.close_reason

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
        """The last round trip measured by a ping (keepalive included), in seconds."""
        return self._session.latency

    def __repr__(self) -> str:
        conn = self._session.conn
        role = "client" if conn.client else "server"
        return f"<{type(self).__name__} {role} {conn.state.name} {self._remote_address}>"


#: What an adapter's ``ping()`` returns: its own :class:`AwaitablePongWaiter`.
PongWaiter = TypeVar("PongWaiter", bound=AwaitablePongWaiter)


class AsyncWebSocketBase(WebSocketBase, Generic[PongWaiter]):
    """What the asyncio and trio WebSockets do the same way.

    Each adapter supplies its waiting and its transport: ``_next_part()``
    (the next message part: parse on, or wait for one), ``_send(queue)``
    (queue an event with *queue*, hand it to the transport, wait while the
    output is blocked), ``_fail()`` and its clock (``_now``), lock and
    :class:`AwaitablePongWaiter`.
    """

    # _recv_active: a task waits for a message or a part; _streaming: the
    # recv_streaming() iteration under way; _send_lock: keeps a fragmented
    # message whole (made by the first send_fragments()).
    __slots__ = ("_recv_active", "_send_lock", "_streaming")
    _recv_active: bool
    _send_lock: Any
    _streaming: AsyncMessageParts | None
    _now: Callable[[], float]
    _Lock: Callable[[], Any]
    _PongWaiter: Callable[[], PongWaiter]

    if TYPE_CHECKING:

        async def _next_part(self) -> Part: ...
        async def _send(self, queue: Callable[[], bool]) -> None: ...
        def _fail(self, code: int, reason: str) -> None: ...

    # -- receiving ----------------------------------------------------------------

    async def recv(self) -> Data:
        """Wait for the next message and return it whole (``str`` or ``bytes``).

        Cancelling ``recv()`` loses nothing: a message it had started to
        collect is delivered by the next call.

        :raises ConnectionClosedOK: the connection closed normally (messages
            received before the close are returned first).
        :raises ConnectionClosedError: it closed with an error or was lost.
        :raises RuntimeError: another task is already receiving.
        """
        session = self._session
        if session.queue and not self._recv_active and self._streaming is None:
            message = session.take_message(self._now())  # the fast path
            if message is not None:
                return message
        self._start_receiving()
        parts: list[Part] = []
        try:
            while True:
                part = await self._next_part()
                if part.final and not parts:
                    return part.data  # a whole message (the usual case)
                parts.append(part)
                if part.final:
                    return join(parts)
        except BaseException:
            self._session.put_back(parts)  # the next call gets the whole message
            raise
        finally:
            self._recv_active = False

    def recv_streaming(self) -> AsyncMessageParts:
        """Iterate over the parts of the next message as they arrive::

            async for part in ws.recv_streaming():
                sink.write(part)

        Parts are ``str`` for a text message (split on character boundaries)
        and ``bytes`` for a binary one; the iteration ends with the message.
        A large message therefore never needs to sit in memory whole (raise
        ``max_message_size``, or set it to ``None``, to receive one).

        If the iteration is left early (``break``), the next receive
        (``recv()``, iteration, or another ``recv_streaming()``) discards the
        rest of that message, and the abandoned iterator raises
        :exc:`RuntimeError` if it is used again; ``await parts.aclose()``
        discards the rest at once.

        :raises RuntimeError: another task is already receiving.
        """
        self._start_receiving()
        self._recv_active = False  # held only while a part is awaited
        stream = self._streaming = AsyncMessageParts(self)
        return stream

    def _start_receiving(self) -> None:
        if self._recv_active:
            raise RuntimeError("another task is already receiving on this WebSocket")
        if self._streaming is not None:
            # A recv_streaming() iteration was left before the end of its
            # message (no hook of the language says so): discard the rest.
            self._streaming.supersede()
        self._recv_active = True

    def _abandon_message(self) -> None:
        """Discard the rest of the message a ``recv_streaming()`` started."""
        self._session.abandon_message()

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

    # -- sending ------------------------------------------------------------------

    async def send_fragments(self, fragments: Iterable[DataLike] | AsyncIterable[DataLike]) -> None:
        """Send one message in parts, from a sync or async iterable.

        Every part must be of the same type (``str``: a text message, bytes:
        binary); each is sent as a frame as soon as the iterable yields it, and
        an empty final frame ends the message. An empty iterable sends nothing.
        Other sends wait until the message is complete. If the iterable raises
        (or the call is cancelled) mid-message, the connection is closed with
        1011, since the message can no longer be completed.
        """
        if self._send_lock is None:
            self._send_lock = self._Lock()
        async with self._send_lock:
            sent: list[Part] = []  # the first part, once it is queued
            self._session.sending_fragments = True  # (broadcast() may not slip in)
            try:
                if isinstance(fragments, AsyncIterable):
                    async for part in fragments:
                        await self._send_fragment(part, sent)
                else:
                    for part in fragments:
                        await self._send_fragment(part, sent)
                if sent:
                    # Queued at once, before any wait: from then on the message
                    # is whole, and a cancelled wait for the output fails nothing.
                    await self._send_one(last_fragment(sent.pop()))
            except BaseException as exc:
                if sent and not isinstance(exc, ConnectionClosed):
                    self._fail(1011, "error while sending a fragmented message")
                raise
            finally:
                self._session.sending_fragments = False

    async def _send_fragment(self, part: DataLike, sent: list[Part]) -> None:
        event = fragment_event(part, sent[0] if sent else None)
        if not sent:
            sent.append(event)  # (before the wait: a cancelled one fails the message)
        await self._send_one(event)

    async def _send_one(self, event: Part | Pong) -> None:
        await self._send(lambda: self._session.send(event))

    async def ping(self, data: DataLike | None = None) -> PongWaiter:
        """Send a ping; return a ``PongWaiter`` to await for the pong.

        Awaiting the waiter gives the round-trip time in seconds. A pong also
        answers every ping sent before the one it echoes (RFC 6455 §5.5.3).
        *data* (at most 125 bytes; ``str`` is UTF-8 encoded) defaults to four
        random bytes not used by another pending ping. Usage::

            pong = await ws.ping()
            latency = await pong

        :raises ConnectionClosed: the connection is closing or closed.
        :raises RuntimeError: a ping with the same data is already pending.
        """
        waiter = self._PongWaiter()
        await self._send(lambda: self._session.ping(data, self._now(), waiter._settle))
        return waiter

    async def pong(self, data: DataLike = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat). Pings are answered on their own.

        :raises ConnectionClosed: the connection is closing or closed.
        """
        await self._send_one(pong_event(data))


async def await_hook(
    hook: Callable[[Handshake | HTTPRequest], object] | None, request: Handshake | HTTPRequest
) -> tuple[object, Exception | None]:
    """What a server's ``process_request`` *hook* returned for *request*
    (awaited, if it is awaitable), or the exception it raised; for
    :meth:`Session.answer <._session.Session.answer>`."""
    if hook is None:
        return None, None
    try:
        result = hook(request)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        return None, exc
    return result, None


# The states of a recv_streaming() iteration (MessagePartsBase).
_RUNNING, _ENDED, _SUPERSEDED = "running", "ended", "superseded"


class MessagePartsBase:
    """What the iterators that ``recv_streaming()`` returns share.

    An iteration is *running* until its message ends (then it is *ended*,
    like an exhausted generator), until the application closes it (*ended*,
    the rest of a started message discarded), or until another receive takes
    over while it is left mid-message (*superseded*: the rest is discarded,
    and using the iterator again raises :exc:`RuntimeError`, so that nobody
    takes the first parts of a message for all of it).
    """

    __slots__ = ("_started", "_state", "_ws")

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._started = False  # a part was handed over
        self._state = _RUNNING

    def _check(self) -> bool:
        """Whether to go on: ``False`` once ended; raises once superseded."""
        if self._state is _RUNNING:
            return True
        if self._state is _SUPERSEDED:
            raise RuntimeError(
                "this recv_streaming() iteration was abandoned mid-message: "
                "another receive discarded the rest of the message"
            )
        return False

    def _took(self, part: Part) -> Data:
        """Hand over *part*; the iteration ends with the message's last."""
        self._started = True
        if part.final:
            self._state = _ENDED
            self._release()
        return part.data

    def _finish(self, state: str) -> None:
        """End a running iteration early, discarding the rest of its message."""
        if self._state is _RUNNING:
            self._state = state
            if self._started:
                self._ws._abandon_message()
        self._release()

    def _release(self) -> None:
        if self._ws._streaming is self:
            self._ws._streaming = None

    def _end(self) -> None:
        self._finish(_ENDED)

    def supersede(self) -> None:
        """Another receive takes over: discard the rest of a started message."""
        self._finish(_SUPERSEDED)


class AsyncMessageParts(MessagePartsBase):
    """The iterator that the asyncio and trio adapters' ``WebSocket.recv_streaming()`` returns."""

    __slots__ = ()

    def __aiter__(self) -> AsyncMessageParts:
        return self

    async def __anext__(self) -> Data:
        """The next part of the message.

        :raises StopAsyncIteration: the message ended, or :meth:`aclose` was called.
        :raises RuntimeError: another task is receiving, or another receive
            took over from this iteration.
        :raises ConnectionClosed: the connection closed before the next part.
        """
        ws = self._ws
        if not self._check():
            raise StopAsyncIteration
        if ws._recv_active:
            raise RuntimeError("another task is already receiving on this WebSocket")
        ws._recv_active = True
        try:
            part = await ws._next_part()
        except ConnectionClosed:
            self._end()
            raise
        finally:
            ws._recv_active = False
        return self._took(part)

    async def aclose(self) -> None:
        """End the iteration now, discarding the rest of a started message."""
        self._end()


class MessageParts(MessagePartsBase):
    """The iterator that the blocking adapter's ``WebSocket.recv_streaming()`` returns."""

    __slots__ = ()

    def __iter__(self) -> MessageParts:
        return self

    def __next__(self) -> Data:
        """The next part of the message (waits for it).

        :raises StopIteration: the message ended, or :meth:`close` was called.
        :raises RuntimeError: another thread is receiving, or another receive
            took over from this iteration.
        :raises ConnectionClosed: the connection closed before the next part.
        """
        ws = self._ws
        if not self._check():
            raise StopIteration
        if not ws._recv_lock.acquire(blocking=False):
            raise RuntimeError("another thread is already receiving on this WebSocket")
        try:
            if not self._check():  # another thread's receive took over meanwhile
                raise StopIteration
            with ws._cond:
                part = ws._next_part(None)
        except ConnectionClosed:
            self._end()
            raise
        finally:
            ws._recv_lock.release()
        return self._took(part)

    def close(self) -> None:
        """End the iteration now, discarding the rest of a started message."""
        ws = self._ws
        if not ws._recv_lock.acquire(blocking=False):
            raise RuntimeError("another thread is already receiving on this WebSocket")
        try:
            self._end()
        finally:
            ws._recv_lock.release()
