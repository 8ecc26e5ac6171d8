"""The sans-I/O :class:`Connection`: bytes in, events out, bytes to write back.

A façade over the layers, which it routes to by state::

    receive_data() -> [handshake layer (h11) | FrameReader] -> events()
    send(event)    -> [handshake layer (h11) | FrameWriter] -> data_to_send()

The handshake layers (:mod:`~wsproto_lite._handshake_server`,
:mod:`~wsproto_lite._handshake_client`) own h11 and every handshake-phase
rule; the reader (:mod:`~wsproto_lite._reader`) owns the inbound frames, their
limits and the message assembler; the writer (:mod:`~wsproto_lite._writer`)
frames what is sent. The connection owns the state (moved only through
:mod:`~wsproto_lite._states`'s table), the one outbound buffer, the
automatic replies of the frame phase (pong, the close echo, the close frame
that fails a connection) and :attr:`Connection.should_close_transport`.

Parsing is lazy: :meth:`Connection.receive_data` only buffers, and
:meth:`Connection.events` parses one event each time the application asks for
the next. Replies the application sends while handling an event are therefore
queued before anything a later frame of the same chunk causes (RFC 6455 is
strict about this order, and so is the Autobahn suite).
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Final, NoReturn, SupportsIndex, overload

from ._close_codes import CloseCode, is_valid_on_wire
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    MAX_CLOSE_REASON,
    Accept,
    BinaryMessage,
    Close,
    Event,
    Handshake,
    Headers,
    HeadersLike,
    Ping,
    Pong,
    Reject,
    RejectData,
    TextMessage,
    _normalize_headers,
)
from ._frames import Opcode
from ._handshake_client import ClientHandshake
from ._handshake_server import ServerHandshake
from ._prepared import PreparedMessage
from ._reader import FrameReader, iter_events
from ._role import Role
from ._states import ConnectionState, Trigger, next_state
from ._writer import FrameWriter
from .extensions import Extension, ExtensionSession

__all__ = ["Connection", "Role"]

# Enum members are looked up through their class on every access (30-70 ns for
# ConnectionState.OPEN on CPython 3.11): the hot paths use these module
# constants instead. (Final: a compiled build reads them, and the event
# classes below, as constants rather than looking each up in the module's
# globals at every use.)
_CONNECTING: Final = ConnectionState.CONNECTING
_REJECTING: Final = ConnectionState.REJECTING
_OPEN: Final = ConnectionState.OPEN
_CLOSING: Final = ConnectionState.CLOSING
_CLOSED: Final = ConnectionState.CLOSED
_PING: Final = Opcode.PING
_PONG: Final = Opcode.PONG
_TEXT_MESSAGE: Final = TextMessage
_DATA_EVENTS: Final = (TextMessage, BinaryMessage)
_PING_EVENT: Final = Ping
_CLOSE_EVENT: Final = Close
_PREPARED: Final = PreparedMessage

#: Headers of an automatic response that the connection sets itself.
_AUTO_RESPONSE_OWN = frozenset(
    {"content-type", "content-length", "connection", "transfer-encoding"}
)


def _not_prepared(method: str, prepared: object) -> NoReturn:
    raise LocalProtocolError(f"{method}() takes a PreparedMessage, not {type(prepared).__name__}")


def _check_limit(name: str, value: SupportsIndex | None) -> int | None:
    # (Typed SupportsIndex rather than int: a compiled build checks an int
    # argument's type itself, with a TypeError, where this check must raise
    # LocalProtocolError. So any integer, e.g. numpy's, is taken.)
    if value is None:
        return None
    try:
        limit = operator.index(value)
    except TypeError:
        limit = -1
    if limit < 0:
        raise LocalProtocolError(f"{name} must be a non-negative int or None")
    return limit


def _check_auto_response_headers(value: HeadersLike) -> Headers:
    headers = _normalize_headers(value)
    for name, _ in headers:
        if name.lower() in _AUTO_RESPONSE_OWN:
            raise LocalProtocolError(
                f"auto_response_headers may not set {name!r}: the connection sets it"
            )
    return headers


def _trim_reason(reason: str) -> str:
    data = reason.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON:
        return reason
    return data[:MAX_CLOSE_REASON].decode("utf-8", "ignore")


class Connection:
    """One WebSocket connection, client or server, without any I/O.

    :param role: :attr:`Role.CLIENT` or :attr:`Role.SERVER`.
    :param extensions: extensions this end supports, e.g.
        ``[PerMessageDeflate()]``. A client offers them in its handshake; a
        server negotiates them when it sends :class:`~wsproto_lite.Accept`.
    :param max_message_size: the largest message accepted, in bytes (after
        decompression); larger ones fail the connection with 1009 as soon as
        the frame header announces them. ``None`` for no limit.
    :param max_frame_size: the largest frame payload accepted (1009 beyond);
        ``None`` (the default) leaves only the message limit.
    :param max_handshake_size: the largest HTTP request/response head, in
        bytes; beyond it a server answers 431.
    :param max_header_count: the most headers accepted in the handshake
        (431 beyond).
    :param stream: deliver messages in parts as they arrive
        (``final=False`` … ``final=True``) instead of whole.
    :param handshake: ``False`` creates the connection already OPEN, with no
        HTTP handshake: for WebSocket over HTTP/2 (RFC 8441) or a framework
        that did the handshake itself.
    :param extension_sessions: in handshake-less mode, the sessions of the
        extensions that were negotiated elsewhere.
    :param auto_response_headers: headers added to the HTTP responses a server
        writes on its own (see :attr:`auto_response_headers`).
    """

    _auto_response_headers: Headers

    def __init__(
        self,
        role: Role,
        *,
        extensions: Sequence[Extension] = (),
        max_message_size: SupportsIndex | None = 1 << 20,
        max_frame_size: SupportsIndex | None = None,
        max_handshake_size: int = 1 << 16,
        max_header_count: int = 128,
        stream: bool = False,
        handshake: bool = True,
        extension_sessions: Sequence[ExtensionSession] = (),
        auto_response_headers: HeadersLike = (),
    ) -> None:
        if not isinstance(role, Role):
            raise LocalProtocolError(f"role must be Role.CLIENT or Role.SERVER, not {role!r}")
        message_limit = _check_limit("max_message_size", max_message_size)
        frame_limit = _check_limit("max_frame_size", max_frame_size)
        if max_handshake_size < 256:
            raise LocalProtocolError("max_handshake_size must be at least 256 bytes")
        if extension_sessions and handshake:
            raise LocalProtocolError("extension_sessions only apply with handshake=False")
        for ext in extensions:
            if not isinstance(ext, Extension):
                raise LocalProtocolError(f"{ext!r} is not an Extension")
        #: This end's :class:`Role`.
        self.role = role
        #: ``True`` for the client end (a shortcut for ``role is Role.CLIENT``).
        self.client = role is Role.CLIENT
        #: The most headers accepted in the handshake (431 beyond).
        self.max_header_count = max_header_count
        #: The largest handshake head accepted, in bytes (431 beyond).
        self.max_handshake_size = max_handshake_size
        self._auto_response_headers = _check_auto_response_headers(auto_response_headers)
        self._extensions = list(extensions)
        #: The subprotocol agreed in the handshake, if any.
        self.subprotocol: str | None = None
        #: The handshake request (received by a server, sent by a client).
        self.request: Handshake | None = None
        #: The extensions agreed in the handshake, as ``Sec-WebSocket-Extensions``
        #: elements with their parameters (``"permessage-deflate;
        #: client_max_window_bits=12"``), in the order they apply.
        self.negotiated_extensions: tuple[str, ...] = ()
        self._state = _CONNECTING if handshake else _OPEN
        self._out: list[bytes] = []
        self._eof = False  # the peer's end of stream was reached
        self._failed = False
        self._close_received = False
        # The handshake layer while CONNECTING or REJECTING, then None.
        self._handshake: ServerHandshake | ClientHandshake | None = None
        if handshake:
            layer = ClientHandshake if self.client else ServerHandshake
            self._handshake = layer(self, max_handshake_size)
        self._reader = FrameReader(
            client=self.client,
            stream=stream,
            max_message_size=message_limit,
            max_frame_size=frame_limit,
        )
        self._writer = FrameWriter(self.client)
        if extension_sessions:
            self._reader.set_sessions(list(extension_sessions))
            self._writer.set_sessions(list(extension_sessions))

    # -- public properties ------------------------------------------------------

    @property
    def max_message_size(self) -> int | None:
        """The largest message accepted (bytes, after decompression); ``None``: no limit.

        May be changed at any time; it applies from the next frame header on.
        """
        return self._reader.max_message_size

    @max_message_size.setter
    def max_message_size(self, value: SupportsIndex | None) -> None:
        self._reader.max_message_size = _check_limit("max_message_size", value)

    @property
    def max_frame_size(self) -> int | None:
        """The largest frame payload accepted; ``None``: only the message limit applies."""
        return self._reader.max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: SupportsIndex | None) -> None:
        self._reader.max_frame_size = _check_limit("max_frame_size", value)

    @property
    def auto_response_headers(self) -> Headers:
        """Headers added to the HTTP responses a server writes on its own.

        Those are the error responses to requests it refuses (400, 426, 431,
        501; see :class:`~wsproto_lite.HandshakeFailed`) and the 426 to a
        plain HTTP request the application left unanswered. Typically
        ``Server`` and ``Date``: an embedder with a clock may set this before
        each :meth:`events` call. The connection sets ``Content-Type``,
        ``Content-Length`` and ``Connection`` itself; naming one of those here
        raises :class:`~wsproto_lite.LocalProtocolError`.
        """
        return self._auto_response_headers

    @auto_response_headers.setter
    def auto_response_headers(self, value: HeadersLike) -> None:
        self._auto_response_headers = _check_auto_response_headers(value)

    @property
    def state(self) -> ConnectionState:
        """The current :class:`~wsproto_lite.ConnectionState`."""
        return self._state

    @property
    def should_close_transport(self) -> bool:
        """Whether the application should now close the TCP connection.

        True once the connection is CLOSED and this side is the one to close
        the transport: the server after any close (RFC 6455 §7.1.1: the server
        closes TCP first), either side when the connection failed, the
        handshake was refused, or the peer's end of the stream was reached. A
        client after a clean closing handshake waits for the server to close
        (an adapter closes anyway after a timeout). Write out
        :meth:`data_to_send` first.
        """
        if self._state is not _CLOSED:
            return False
        return not self.client or self._failed or self._eof or not self._close_received

    # -- input --------------------------------------------------------------------

    # Two overloads for the type checker; the implementation takes any object
    # and checks it itself (a compiled build would otherwise reject a str with
    # a TypeError before the LocalProtocolError of the check below).
    @overload
    def receive_data(self, data: bytes) -> None: ...
    @overload
    def receive_data(self, data: bytearray | memoryview) -> None: ...
    def receive_data(self, data: object) -> None:
        """Buffer bytes received from the peer; ``b""`` means end of stream.

        Nothing is parsed here (see :meth:`events`), and nothing is raised for
        anything the peer sent. Data after end of stream, or once the
        connection is CLOSED, is ignored on purpose.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise LocalProtocolError(
                f"receive_data() takes bytes, not {type(data).__name__} (encode text first)"
            )
        if self._eof:
            return
        if not data:
            self._eof = True
            if self._handshake is not None:
                self._handshake.receive_data(b"")
            return
        if self._state is _CLOSED:
            return
        if self._handshake is not None:
            self._handshake.receive_data(bytes(data))
            return
        self._reader.feed(data)

    def events(self) -> Iterator[Event]:
        """Yield the events of the data received so far, parsing lazily.

        Each event is parsed when it is asked for, so the application's
        answer to one event (sent before it takes the next) is queued before
        whatever a later frame causes. Peer errors end as a
        :class:`~wsproto_lite.Close` (``failed=True``) or a
        :class:`~wsproto_lite.HandshakeFailed` event; nothing is raised.
        Any other exception out of here is a bug.
        """
        return iter_events(self._reader, self._next_event)

    def next_event(self) -> Event | None:
        """Parse and return the next event, or ``None`` when more data is needed."""
        return self._next_event()

    def _next_event(self) -> Event | None:
        state = self._state
        if state is _OPEN or state is _CLOSING:
            try:
                event = self._reader.next_event()
            except RemoteProtocolError as exc:
                return self._fail(exc)
            if event is None:
                if self._eof and self._state is not _CLOSED:
                    return self._on_eof()
                return None
            if isinstance(event, _PING_EVENT):
                # RFC 6455 §5.5.2: answer with a pong carrying the same payload, as
                # soon as practical; still allowed while CLOSING (§5.5.1 only stops data).
                self._out.append(self._writer.control(_PONG, event.payload))
            elif isinstance(event, _CLOSE_EVENT):
                self._close_received_now(event.code)
            return event
        if state is _CONNECTING or state is _REJECTING:
            assert self._handshake is not None  # dropped once the handshake succeeded
            return self._handshake.next_event()
        return None

    def _needs_data(self) -> bool:
        """Whether :meth:`next_event` would return ``None`` until more data
        arrives: the connection is OPEN or CLOSING, its input has not ended,
        and everything received was parsed. (For the adapters' driver, which
        then need not ask again; ``False`` whenever that is not certain.)"""
        state = self._state
        return (state is _OPEN or state is _CLOSING) and not self._eof and self._reader.needs_data()

    # -- output -------------------------------------------------------------------

    @property
    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` would return anything (it is not consumed)."""
        return bool(self._out)

    def data_to_send(self) -> bytes:
        """Return (and forget) every byte queued for the peer, in order."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        self._out = []
        return data

    def send(self, event: Event, *, compress: bool = True) -> None:
        """Queue *event* for the peer; get the bytes from :meth:`data_to_send`.

        :param compress: ``False`` sends a data message untransformed by
            extensions (e.g. a payload that is already compressed).
        :raises LocalProtocolError: when the event cannot be sent now (the
            message says why and what to do instead). Nothing is queued then,
            and the state does not change. Any other exception is a bug.
        """
        if isinstance(event, _DATA_EVENTS):
            # (The per-message path, written out here rather than in a method:
            # a call is a fifth of it in pure Python.)
            if self._state is not _OPEN:
                self._cannot_send_message()
            if isinstance(event, _TEXT_MESSAGE):
                try:
                    payload = event.data.encode("utf-8")
                except UnicodeEncodeError:
                    raise LocalProtocolError(
                        "TextMessage.data must be valid text: it contains a lone surrogate,"
                        " which UTF-8 cannot encode (RFC 6455 §5.6)"
                    ) from None
                self._out.append(self._writer.message(True, payload, event.final, compress))
            else:
                self._out.append(self._writer.message(False, event.data, event.final, compress))
        elif isinstance(event, (Ping, Pong)):
            if self._state is not _OPEN and self._state is not _CLOSING:
                raise LocalProtocolError(
                    f"cannot send {type(event).__name__} in state {self._state.name}"
                )
            opcode = _PING if isinstance(event, Ping) else _PONG
            self._out.append(self._writer.control(opcode, event.payload))
        elif isinstance(event, Close):
            self._send_close(event)
        elif isinstance(event, Handshake):
            self._client_layer("the Handshake", "receives the Handshake").send_request(event)
        elif isinstance(event, Accept):
            self._server_layer("Accept").accept(event)
        elif isinstance(event, Reject):
            self._server_layer("Reject").reject(event)
        elif isinstance(event, RejectData):
            self._server_layer("RejectData").reject_data(event)
        elif isinstance(event, Event):
            raise LocalProtocolError(f"{type(event).__name__} events are only ever received")
        else:
            raise LocalProtocolError(f"send() takes an Event, not {type(event).__name__}")

    # *prepared* is typed ``object``: the method checks it itself (a compiled
    # build would otherwise reject anything else with a TypeError before the
    # LocalProtocolError of the check, PreparedMessage being compiled too).
    def send_prepared(self, prepared: object) -> None:
        """Queue a message framed once by :class:`~wsproto_lite.PreparedMessage`.

        The fast path of a broadcast: the frame's ``bytes`` object is queued as
        it is, so one encoding serves any number of server connections. The
        frame goes out uncompressed even where permessage-deflate was
        negotiated, which RFC 7692 §6 allows (RSV1 clear: not compressed);
        use :meth:`send` to compress per connection.

        :param prepared: a :class:`~wsproto_lite.PreparedMessage`.
        :raises LocalProtocolError: (nothing is queued then) the connection is
            not OPEN; this is a client connection, whose frames must be masked
            (RFC 6455 §5.3); a fragmented message is being sent (its frames
            may not be interleaved, §5.4); or a negotiated extension insists
            on transforming the message (never permessage-deflate).
        """
        if type(prepared) is not _PREPARED and not isinstance(prepared, _PREPARED):
            _not_prepared("send_prepared", prepared)
        if self._state is not _OPEN:
            self._cannot_send_message()
        self._out.append(self._writer.prepared(prepared))

    def take_prepared(self, prepared: object) -> bytes:
        """:meth:`send_prepared` and :meth:`data_to_send` in one call: queue the
        shared frame and return every byte queued, in order.

        The fast path of a broadcast that writes at once: when nothing else is
        queued (the usual case), the result is the frame's ``bytes`` object
        itself and nothing is queued or copied; otherwise it is what was queued
        (a pong, say) followed by the frame.

        :param prepared: a :class:`~wsproto_lite.PreparedMessage`.
        :raises LocalProtocolError: as :meth:`send_prepared`, for the same
            reasons; nothing is queued or taken then.
        """
        if type(prepared) is not _PREPARED and not isinstance(prepared, _PREPARED):
            _not_prepared("take_prepared", prepared)
        if self._state is not _OPEN:
            self._cannot_send_message()
        frame = self._writer.prepared(prepared)
        out = self._out
        if not out:
            return frame
        out.append(frame)
        self._out = []
        return b"".join(out)

    def _client_layer(self, what: str, server_does: str) -> ClientHandshake:
        if not self.client:
            raise LocalProtocolError(f"a server {server_does}; it answers with Accept or Reject")
        if not isinstance(self._handshake, ClientHandshake):
            raise LocalProtocolError(f"{what} was already sent (or not used: handshake=False)")
        return self._handshake

    def _server_layer(self, what: str) -> ServerHandshake:
        if self.client:
            raise LocalProtocolError(f"a client receives {what}; it does not send it")
        if not isinstance(self._handshake, ServerHandshake):
            raise LocalProtocolError(f"cannot send {what} in state {self._state.name}")
        return self._handshake

    def _transition(self, trigger: Trigger) -> None:
        new = next_state(self._state, trigger)
        # Every caller checks the state first and raises its own, more helpful
        # LocalProtocolError; reaching a missing transition here is a bug.
        assert new is not None, (self._state, trigger)
        self._state = new

    def _opened(self, sessions: list[ExtensionSession], data: bytes, closed: bool) -> None:
        """The handshake succeeded (the layer calls this): the frame phase
        takes the negotiated extensions and the bytes that followed the
        handshake, and the layer with h11 and its buffers goes."""
        self._handshake = None
        self._reader.set_sessions(sessions)
        self._writer.set_sessions(sessions)
        if data:
            self._reader.feed(data)
        if closed:
            self._eof = True

    # -- sending data -------------------------------------------------------------

    def _cannot_send_message(self) -> NoReturn:
        if self._state is _CLOSING:
            raise LocalProtocolError("cannot send a message after sending Close (RFC 6455 §5.5.1)")
        raise LocalProtocolError(f"cannot send a message in state {self._state.name}")

    def _send_close(self, event: Close) -> None:
        if self._state is not _OPEN:
            if self._state is _CLOSED and self._close_received:
                raise LocalProtocolError(
                    "the peer closed the connection and the reply was sent automatically;"
                    " nothing more to send"
                )
            if self._state is _CLOSING:
                raise LocalProtocolError("Close was already sent; wait for the peer's reply")
            raise LocalProtocolError(f"cannot send Close in state {self._state.name}")
        if event.failed:
            raise LocalProtocolError("Close(failed=True) is only ever received")
        if not is_valid_on_wire(event.code):
            raise LocalProtocolError(
                f"close code {event.code} may not be sent (RFC 6455 §7.4): use 1000-1003,"
                " 1007-1014 or 3000-4999"
            )
        self._out.append(self._writer.close(event.code, event.reason))
        self._transition(Trigger.SEND_CLOSE)

    # -- what the frame phase does on its own -----------------------------------------

    def _close_received_now(self, code: int) -> None:
        """The peer's close frame arrived (RFC 6455 §5.5.1, §7.1.5)."""
        self._close_received = True
        if self._state is _OPEN:
            # Echo the code (1000 when none was given), RFC 6455 §5.5.1.
            reply = CloseCode.NORMAL_CLOSURE if code == CloseCode.NO_STATUS_RCVD else code
            self._out.append(self._writer.close(reply, ""))
        self._transition(Trigger.RECV_CLOSE)
        # Anything after the close frame is ignored (RFC 6455 §5.5.1).
        self._reader.discard()

    def _fail(self, exc: RemoteProtocolError) -> Close:
        """Fail the connection (RFC 6455 §7.1.7): queue a close frame, stop reading."""
        code = exc.code if exc.code is not None else CloseCode.PROTOCOL_ERROR
        reason = _trim_reason(exc.message)
        if self._state is _OPEN:
            self._out.append(self._writer.close(code, reason))
        self._transition(Trigger.FAIL)
        self._failed = True
        self._reader.discard()
        return Close(code, reason, failed=True)

    def _on_eof(self) -> Close:
        # The transport ended without a closing handshake (RFC 6455 §7.1.5: 1006).
        self._transition(Trigger.EOF)
        self._failed = True
        return Close(
            CloseCode.ABNORMAL_CLOSURE, "the connection closed without a close frame", failed=True
        )

    def __repr__(self) -> str:
        return f"<Connection {self.role.value} {self._state.name}>"
