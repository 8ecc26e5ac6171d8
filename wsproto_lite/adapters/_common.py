"""What every adapter shows its users the same way.

URIs and the client's request, and the WebSocket's read-only properties (the
options are declared in :mod:`._options`). Free of any I/O, like the session
(:mod:`._session`, which this module builds on and which does not import it),
so that the asyncio, trio and blocking adapters behave the same way and stay
small. The exceptions are in :mod:`._errors`.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .._events import Accept, Handshake
from .._states import ConnectionState
from ._errors import ConnectionClosed, InvalidURI
from ._session import Session

__all__ = [
    "AwaitablePongWaiter",
    "PongWaiterBase",
    "WebSocketBase",
    "WebSocketURI",
    "client_request",
    "client_ssl",
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
