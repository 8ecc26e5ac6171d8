"""What every adapter shares: URIs, exceptions, the default handshake answer.

Kept free of any I/O so that the asyncio, trio and blocking adapters behave the
same way and stay small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..close_codes import CloseCode
from ..events import Accept, Handshake, HTTPRequest, Reject

__all__ = [
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidURI",
    "WebSocketURI",
    "default_answer",
    "parse_uri",
]


class InvalidURI(ValueError):
    """The URI given to ``connect()`` is not a valid ``ws://`` or ``wss://`` URI."""


class InvalidHandshake(Exception):
    """The opening handshake did not succeed (client side).

    :param message: what happened.
    :param status: the HTTP status the server answered with, if it answered.
    :param headers: the response headers, if any.
    :param body: the response body, if any.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        #: The HTTP status of the server's answer (``None`` if it sent none).
        self.status = status
        #: The headers of the server's answer.
        self.headers = tuple(headers)
        #: The body of the server's answer.
        self.body = body


class ConnectionClosed(Exception):
    """The connection is closed: raised by ``recv()``/``send()`` afterwards.

    :param code: the close code received from the peer, or 1006 when the
        connection ended without a closing handshake.
    :param reason: the close reason.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        #: The close code.
        self.code = code
        #: The close reason.
        self.reason = reason

    @property
    def ok(self) -> bool:
        """Whether the close was normal (1000, 1001, or 1005: no code given)."""
        return self.code in (
            CloseCode.NORMAL_CLOSURE,
            CloseCode.GOING_AWAY,
            CloseCode.NO_STATUS_RCVD,
        )

    @classmethod
    def create(cls, code: int, reason: str = "") -> ConnectionClosed:
        """The right subclass for *code*: :class:`ConnectionClosedOK` or ``…Error``."""
        if code in (CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD):
            return ConnectionClosedOK(code, reason)
        return ConnectionClosedError(code, reason)


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally (1000, 1001 or 1005)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or without a closing handshake."""


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


def default_answer(
    request: Handshake | HTTPRequest, subprotocols: Sequence[str] | None
) -> Accept | Reject:
    """How a server answers when the application's hook does not decide.

    A WebSocket handshake is accepted with the first of the server's
    *subprotocols* that the client offered (none when there is no match); a
    plain HTTP request gets ``426 Upgrade Required``.
    """
    if isinstance(request, HTTPRequest):
        return Reject(
            426,
            [("Upgrade", "websocket"), ("Content-Type", "text/plain; charset=utf-8")],
            b"This service requires the WebSocket protocol.\n",
        )
    chosen = None
    if subprotocols:
        for name in subprotocols:
            if name in request.subprotocols:
                chosen = name
                break
    return Accept(subprotocol=chosen)
