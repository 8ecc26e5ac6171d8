"""The exceptions of the adapters: one base, :class:`WebSocketError`."""

from __future__ import annotations

from collections.abc import Sequence

from .._close_codes import NORMAL_CLOSE_CODES

__all__ = [
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidURI",
    "WebSocketError",
]


class WebSocketError(Exception):
    """The base of every exception the adapters raise on their own.

    ``except WebSocketError`` catches a refused or failed handshake, an
    invalid URI and a closed connection alike. (Timeouts raise the built-in
    :class:`TimeoutError`, and network failures :class:`OSError`, as the
    standard library does; misuse raises :class:`~wsproto_lite.LocalProtocolError`,
    ``TypeError`` or ``RuntimeError``.)
    """


class InvalidURI(WebSocketError, ValueError):
    """The URI given to ``connect()`` is not a valid ``ws://`` or ``wss://`` URI."""


class InvalidHandshake(WebSocketError):
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


class ConnectionClosed(WebSocketError):
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
        return self.code in NORMAL_CLOSE_CODES

    @classmethod
    def create(cls, code: int, reason: str = "") -> ConnectionClosed:
        """The right subclass for *code*: :class:`ConnectionClosedOK` or ``…Error``."""
        if code in NORMAL_CLOSE_CODES:
            return ConnectionClosedOK(code, reason)
        return ConnectionClosedError(code, reason)


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally (1000, 1001 or 1005)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or without a closing handshake."""
