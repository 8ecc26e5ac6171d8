"""The event vocabulary.

The same classes travel both ways: the application passes them to
:meth:`Connection.send <wsproto_lite.Connection.send>` and receives them from
:meth:`Connection.events <wsproto_lite.Connection.events>`. Every event is a
frozen, slotted dataclass that compares by value and checks its fields when it
is constructed: a bad value raises :class:`~wsproto_lite.LocalProtocolError`
at once, with no other consequence.

Headers are tuples of ``(name, value)`` string pairs; names are lower-case on
received events. Any sequence of pairs is accepted when constructing an event
and normalized to a tuple. The fields are typed as ``str`` pairs, which is what
events hold; ``bytes`` pairs (as ASGI carries them) are accepted at run time
too and decoded as ISO-8859-1, but typed code should decode them itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._close_codes import CloseCode
from ._errors import LocalProtocolError

__all__ = [
    "Accept",
    "BinaryMessage",
    "Close",
    "Event",
    "HTTPRequest",
    "Handshake",
    "HandshakeFailed",
    "Headers",
    "HeadersLike",
    "Message",
    "Ping",
    "Pong",
    "Reject",
    "RejectData",
    "TextMessage",
]

#: Headers as carried by events: ``(name, value)`` pairs in order.
Headers = tuple[tuple[str, str], ...]

#: The largest payload of a control frame (RFC 6455 §5.5).
MAX_CONTROL_PAYLOAD = 125
#: The longest close reason: 125 bytes minus the 2-byte code (RFC 6455 §5.5.1).
MAX_CLOSE_REASON = 123

_HeaderInput = Iterable[tuple[str | bytes, str | bytes]]

#: What event constructors accept for headers: any sequence of ``(name, value)``
#: ``str`` pairs (``bytes`` pairs at run time, see above). Events always store a
#: :data:`Headers` tuple of ``str`` pairs.
HeadersLike = Sequence[tuple[str, str]]


#: An RFC 7230 §3.2.6 token: subprotocol names (RFC 6455 §4.1) and extension
#: names and parameters (§9.1) must be tokens.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _text(value: str | bytes, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return value
    raise LocalProtocolError(f"{what} must be str or bytes, not {type(value).__name__}")


def _normalize_headers(headers: _HeaderInput) -> Headers:
    if isinstance(headers, (str, bytes)):
        raise LocalProtocolError("headers must be a sequence of (name, value) pairs")
    out = []
    for pair in headers:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise LocalProtocolError(f"headers must be (name, value) pairs, got {pair!r}") from None
        name_s = _text(name, "a header name")
        value_s = _text(value, "a header value")
        if not name_s or any(c in name_s for c in " \t\r\n:"):
            raise LocalProtocolError(f"invalid header name {name_s!r}")
        if any(c in value_s for c in "\r\n\x00"):
            raise LocalProtocolError(f"invalid header value {value_s!r} (CR, LF or NUL)")
        try:
            (name_s + value_s).encode("latin-1")
        except UnicodeEncodeError:
            raise LocalProtocolError(
                f"header {name_s!r} must be ISO-8859-1 text (encode other text first)"
            ) from None
        out.append((name_s, value_s))
    return tuple(out)


def _str_tuple(values: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise LocalProtocolError(f"{what} must be a sequence of strings, not one string")
    result = tuple(values)
    for v in result:
        if not isinstance(v, str) or not v:
            raise LocalProtocolError(f"{what} must be non-empty strings, got {v!r}")
    return result


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _body_bytes(event: Reject | RejectData, what: str) -> None:
    """Check a rejection's ``body``: ``bytes``, or a bytes-like object copied to it."""
    if isinstance(event.body, (bytearray, memoryview)):
        _set(event, "body", bytes(event.body))
    elif not isinstance(event.body, bytes):
        raise LocalProtocolError(f"{what}.body must be bytes")


class Event:
    """Base class of every event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Handshake(Event):
    """The opening handshake's request (RFC 6455 §4.1).

    A client sends it to open the connection; a server receives it and answers
    with :class:`Accept` or :class:`Reject`.

    :param host: the ``Host`` header.
    :param target: the request target (path and query), ``/`` by default.
    :param subprotocols: ``Sec-WebSocket-Protocol`` values, most preferred first.
    :param extensions: the names of the extensions offered. Sent: ``None``
        offers every extension the client's connection is configured with (the
        offers' parameters come from those :class:`~wsproto_lite.Extension`
        objects); a tuple of names offers only those. Received: the names the
        client offered, in order, each once (the offers themselves are in
        ``headers``, as ``sec-websocket-extensions``).
    :param headers: the request's header fields. Received: every one, in
        order, names in lower case. Sent: fields added to those the connection
        writes from the other fields and the protocol (``Host``, ``Upgrade``,
        ``Connection``, ``Sec-WebSocket-*``, ``Origin``); naming one of those
        raises :class:`~wsproto_lite.LocalProtocolError` when sent.
    :param origin: the ``Origin`` header (browsers always send one).
    """

    host: str
    target: str = "/"
    subprotocols: Sequence[str] = ()
    extensions: Sequence[str] | None = None
    headers: HeadersLike = ()
    origin: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise LocalProtocolError("Handshake.host must be a non-empty string")
        if not isinstance(self.target, str) or not self.target.startswith("/"):
            raise LocalProtocolError(f"Handshake.target must start with '/', got {self.target!r}")
        if not self.target.isascii() or any(c in self.target for c in " \r\n\x00\t"):
            raise LocalProtocolError(
                "Handshake.target must be ASCII without spaces or control characters"
                " (percent-encode the rest, RFC 3986)"
            )
        host_headers = [("Host", self.host)]
        if self.origin is not None:
            if not isinstance(self.origin, str):
                raise LocalProtocolError("Handshake.origin must be a string or None")
            host_headers.append(("Origin", self.origin))
        _normalize_headers(host_headers)  # the same rules as for any header value
        _set(self, "subprotocols", _str_tuple(self.subprotocols, "subprotocols"))
        for name in self.subprotocols:
            if not _TOKEN_RE.fullmatch(name):
                raise LocalProtocolError(f"subprotocol {name!r} is not a token (RFC 6455 §4.1)")
        if self.extensions is not None:
            _set(self, "extensions", _str_tuple(self.extensions, "extensions"))
        _set(self, "headers", _normalize_headers(self.headers))


@dataclass(frozen=True, slots=True)
class Accept(Event):
    """The server accepts the handshake (``101 Switching Protocols``).

    :param subprotocol: the chosen subprotocol; it must be one the client offered.
    :param extensions: the names of the extensions agreed. Sent: ``None``
        negotiates every extension the server's connection is configured with
        and the client offered; a tuple of names limits the negotiation to
        those. Received: the names the server accepted (their parameters are
        in ``headers`` and in :attr:`Connection.negotiated_extensions
        <wsproto_lite.Connection.negotiated_extensions>`).
    :param headers: the response's header fields. Received: every one, names
        in lower case. Sent: fields added to those the connection writes
        (``Upgrade``, ``Connection``, ``Sec-WebSocket-*``); naming one of those
        raises :class:`~wsproto_lite.LocalProtocolError` when sent.
    """

    subprotocol: str | None = None
    extensions: Sequence[str] | None = None
    headers: HeadersLike = ()

    def __post_init__(self) -> None:
        if self.subprotocol is not None and (
            not isinstance(self.subprotocol, str) or not self.subprotocol
        ):
            raise LocalProtocolError("Accept.subprotocol must be a non-empty string or None")
        if self.subprotocol is not None and not _TOKEN_RE.fullmatch(self.subprotocol):
            raise LocalProtocolError(
                f"subprotocol {self.subprotocol!r} is not a token (RFC 6455 §4.1)"
            )
        if self.extensions is not None:
            _set(self, "extensions", _str_tuple(self.extensions, "extensions"))
        _set(self, "headers", _normalize_headers(self.headers))


@dataclass(frozen=True, slots=True)
class Reject(Event):
    """An HTTP response other than 101: the handshake is refused, or a plain
    HTTP request is answered (e.g. ``200`` with a page).

    A server sends it in answer to :class:`Handshake`, :class:`HTTPRequest` or
    :class:`HandshakeFailed`; a client receives it. It carries the response's
    head and its whole body, or (``final=False``) the first part of a body that
    :class:`RejectData` events continue, sent and received alike.
    ``Content-Length`` is added when the body is sent whole; a streamed body
    uses chunked encoding unless the headers give a ``Content-Length``, which
    the parts must then fill exactly.

    :param status: the HTTP status code, 200–599.
    :param headers: the response headers.
    :param body: the whole body, or its first part when ``final`` is ``False``.
    :param final: ``False`` when :class:`RejectData` events follow.
    """

    status: int = 400
    headers: HeadersLike = ()
    body: bytes = b""
    final: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or not 200 <= self.status <= 599:
            raise LocalProtocolError(
                f"Reject.status must be an int in 200..599, got {self.status!r}"
            )
        _set(self, "headers", _normalize_headers(self.headers))
        _body_bytes(self, "Reject")


@dataclass(frozen=True, slots=True)
class RejectData(Event):
    """A later part of a rejection's body (after ``Reject(final=False)``).

    Sent by a server, received by a client, in order; the last part has
    ``final=True`` (it may be empty) and ends the response.

    :param body: this part of the body.
    :param final: whether this part ends the body.
    """

    body: bytes = b""
    final: bool = True

    def __post_init__(self) -> None:
        _body_bytes(self, "RejectData")


@dataclass(frozen=True, slots=True)
class HTTPRequest(Event):
    """A plain HTTP request (no ``Upgrade: websocket``) received by a server.

    Answer it with :meth:`Connection.send(Reject(...)) <wsproto_lite.Connection.send>`
    *before taking the next event*; otherwise the connection answers
    ``426 Upgrade Required`` on its own. Either way the connection then closes.
    A request body, if any, is not read.

    :param method: the request method (``GET``, ``HEAD``, ``POST``, …).
    :param target: the request target (path and query).
    :param headers: every header of the request, names in lower case.
    """

    method: str
    target: str
    headers: HeadersLike = ()

    def __post_init__(self) -> None:
        _set(self, "headers", _normalize_headers(self.headers))


@dataclass(frozen=True, slots=True)
class HandshakeFailed(Event):
    """The opening handshake failed because of the peer.

    Server side: the request was malformed (``status`` is the error status
    the connection answers with: 400, 426 or 431; 501 for a transfer coding
    HTTP/1.1 does not define). The application may answer it itself with a
    :class:`Reject` before it takes the next event (to set the body, say);
    otherwise the connection queues its own error response then (with
    :attr:`Connection.auto_response_headers
    <wsproto_lite.Connection.auto_response_headers>`) and is CLOSED. Also
    received, with ``status`` ``None`` and the connection CLOSED, when the
    client went away before a whole request arrived, or while its
    :class:`Handshake` or :class:`HTTPRequest` awaited the application's answer.

    Client side: the server's response was invalid (``status`` is the status
    it sent, or ``None`` when the response was not valid HTTP); the connection
    is CLOSED. Only ever received.

    :param reason: what was wrong, for logs.
    :param status: the HTTP status involved, if any.
    """

    reason: str
    status: int | None = None


class Message(Event):
    """Base class of :class:`TextMessage` and :class:`BinaryMessage`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, init=False)
class TextMessage(Message):
    """A text message, or a part of one.

    :param data: the text.
    :param final: ``False`` on every part of a fragmented message but the last.
        Received messages are whole (``final=True``) unless the connection
        streams (``Connection(stream=True)``). Sending ``final=False`` starts or
        continues a fragmented message.
    """

    data: str
    final: bool = True

    def __init__(self, data: str, final: bool = True) -> None:
        # Written out instead of generated: a frozen dataclass's __init__ sets
        # each field with object.__setattr__ and then calls __post_init__, which
        # doubles the cost of the event an application builds for every send.
        # (The slot setters are defined below the class.)
        if not isinstance(data, str):
            raise LocalProtocolError(
                f"TextMessage.data must be str, not {type(data).__name__}"
                " (use BinaryMessage for bytes)"
            )
        _set_text_data(self, data)
        _set_text_final(self, final)


@dataclass(frozen=True, slots=True, init=False)
class BinaryMessage(Message):
    """A binary message, or a part of one. ``data`` is always ``bytes``.

    :param data: the payload; a ``bytearray`` or ``memoryview`` is copied to
        ``bytes``.
    :param final: as for :class:`TextMessage`.
    """

    data: bytes
    final: bool = True

    def __init__(self, data: bytes, final: bool = True) -> None:
        # Written out, as TextMessage's.
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise LocalProtocolError(
                    f"BinaryMessage.data must be bytes, not {type(data).__name__}"
                    " (use TextMessage for str)"
                )
            data = bytes(data)
        _set_binary_data(self, data)
        _set_binary_final(self, final)


def _control_payload(obj: object, payload: object, what: str) -> None:
    if type(payload) is not bytes:
        if isinstance(payload, (bytearray, memoryview)):
            payload = bytes(payload)
            _set(obj, "payload", payload)
        else:
            raise LocalProtocolError(f"{what}.payload must be bytes")
    assert isinstance(payload, bytes)
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise LocalProtocolError(
            f"{what}.payload is {len(payload)} bytes;"
            " control frames carry at most 125 (RFC 6455 §5.5)"
        )


@dataclass(frozen=True, slots=True)
class Ping(Event):
    """A ping (RFC 6455 §5.5.2). Received pings are answered automatically.

    :param payload: up to 125 bytes, echoed in the pong.
    """

    payload: bytes = b""

    def __post_init__(self) -> None:
        _control_payload(self, self.payload, "Ping")


@dataclass(frozen=True, slots=True)
class Pong(Event):
    """A pong (RFC 6455 §5.5.3), in answer to a ping or unsolicited (a heartbeat).

    :param payload: up to 125 bytes.
    """

    payload: bytes = b""

    def __post_init__(self) -> None:
        _control_payload(self, self.payload, "Pong")


@dataclass(frozen=True, slots=True)
class Close(Event):
    """The closing of the connection (RFC 6455 §5.5.1, §7).

    Sent by the application to start the closing handshake. Received when the
    peer sent a close frame (the connection has already queued the reply that
    echoes its code), when the peer's reply to our close arrived, or when the
    connection *failed*.

    :param code: the status code. Sending requires a code that is valid on the
        wire (1000–1003, 1007–1014, 3000–4999). Received events may also carry
        1005 (the peer's close frame had no code) and 1006 (the transport closed
        without a closing handshake).
    :param reason: a UTF-8 reason of at most 123 bytes.
    :param failed: on a received event, ``True`` when the connection was failed
        (RFC 6455 §7.1.7): the peer broke the protocol and this side sent a close
        frame with ``code`` (1002, 1007, 1009, …) and ``reason``, or the
        transport closed without a closing handshake (1006). ``False`` when the
        peer closed cleanly. Always ``False`` when sending.
    """

    code: int = CloseCode.NORMAL_CLOSURE
    reason: str = ""
    failed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or not 1000 <= self.code <= 4999:
            raise LocalProtocolError(f"Close.code must be an int in 1000..4999, got {self.code!r}")
        # One type whoever made the event: a plain int (it still compares equal
        # to the CloseCode members, and its repr stays short).
        if type(self.code) is not int:
            _set(self, "code", int(self.code))
        if not isinstance(self.reason, str):
            raise LocalProtocolError("Close.reason must be a str")
        try:
            size = len(self.reason.encode("utf-8"))
        except UnicodeEncodeError:
            raise LocalProtocolError(
                "Close.reason must be valid text (it contains a lone surrogate)"
            ) from None
        if size > MAX_CLOSE_REASON:
            raise LocalProtocolError(
                "Close.reason must be at most 123 bytes of UTF-8 (RFC 6455 §5.5)"
            )


# -- events built by the parser -------------------------------------------------------
#
# The connection builds data and control events from payloads it has already
# checked: text is freshly decoded (valid) UTF-8, binary data and control payloads
# are ``bytes`` and control payloads at most 125 bytes long. The constructors
# would check all that again, for every message received: a TextMessage costs
# 210 ns that way against 175 ns from here (a dataclass-generated constructor,
# ``object.__setattr__`` per field because the classes are frozen, then
# ``__post_init__``, about 350 ns). These fill the slots directly instead.
# Events an application constructs always take the checking path; the result
# is the same object either way.

_new = object.__new__
_set_text_data = TextMessage.__dict__["data"].__set__
_set_text_final = TextMessage.__dict__["final"].__set__
_set_binary_data = BinaryMessage.__dict__["data"].__set__
_set_binary_final = BinaryMessage.__dict__["final"].__set__
_set_ping_payload = Ping.__dict__["payload"].__set__
_set_pong_payload = Pong.__dict__["payload"].__set__


def _received_text(data: str, final: bool = True) -> TextMessage:
    """A :class:`TextMessage` of text the parser decoded (not re-checked)."""
    event: TextMessage = _new(TextMessage)
    _set_text_data(event, data)
    _set_text_final(event, final)
    return event


def _received_binary(data: bytes, final: bool = True) -> BinaryMessage:
    """A :class:`BinaryMessage` of ``bytes`` from the parser (not re-checked)."""
    event: BinaryMessage = _new(BinaryMessage)
    _set_binary_data(event, data)
    _set_binary_final(event, final)
    return event


def _received_ping(payload: bytes) -> Ping:
    """A :class:`Ping` of a parsed control payload (``bytes``, ≤ 125 bytes)."""
    event: Ping = _new(Ping)
    _set_ping_payload(event, payload)
    return event


def _received_pong(payload: bytes) -> Pong:
    """A :class:`Pong` of a parsed control payload (``bytes``, ≤ 125 bytes)."""
    event: Pong = _new(Pong)
    _set_pong_payload(event, payload)
    return event


def _received_handshake(
    *,
    host: str,
    target: str,
    subprotocols: tuple[str, ...],
    extensions: tuple[str, ...],
    origin: str | None,
    headers: Headers,
) -> Handshake:
    """A :class:`Handshake` from a request that the HTTP parser and
    ``validate_request`` checked (not re-checked: normalizing its headers
    again is most of the event's cost)."""
    event: Handshake = _new(Handshake)
    _set(event, "host", host)
    _set(event, "target", target)
    _set(event, "subprotocols", subprotocols)
    _set(event, "extensions", extensions)
    _set(event, "headers", headers)
    _set(event, "origin", origin)
    return event
