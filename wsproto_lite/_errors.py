"""Exceptions.

The error contract (see the "Failure model" docs page):

* :class:`LocalProtocolError` is raised by :meth:`Connection.send` and by event
  constructors when *the application* misuses the API. Nothing was queued and the
  connection's state is unchanged, so the application may carry on.
* :class:`RemoteProtocolError` describes a violation by *the peer*. It is never
  raised out of :meth:`Connection.receive_data` or :meth:`Connection.events`:
  the connection turns it into a close frame (or an HTTP error response during
  the handshake) and reports it through a :class:`~wsproto_lite.Close`
  or :class:`~wsproto_lite.HandshakeFailed` event. Extensions raise it to
  fail the connection with a given close code.
"""

from __future__ import annotations

from ._close_codes import CloseCode

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base class of the errors of this package.

    :param message: what went wrong, written for a person.
    :param code: the close code that goes with the error, when there is one.
    :param status: the HTTP status that goes with the error during the opening
        handshake, when there is one.
    """

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        #: The close code for this error (``None`` when it has none).
        self.code = code
        #: The HTTP status for this error during the handshake (``None`` when it has none).
        self.status = status

    @property
    def message(self) -> str:
        """The human-readable description given at construction."""
        return str(self.args[0])


class LocalProtocolError(ProtocolError):
    """The application asked for something the protocol or the API forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol; carries the close code to fail with.

    :param message: the reason, also used as the close frame's reason (trimmed
        to fit 123 bytes).
    :param code: the close code to send; defaults to 1002 (protocol error).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = CloseCode.PROTOCOL_ERROR,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
