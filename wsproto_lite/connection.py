"""The sans-I/O :class:`Connection`: bytes in, events out, bytes to write back.

Data flows one way through this module::

    receive_data() -> [h11 handshake | frame parser] -> extensions -> messages -> events()
    send(event)    -> [h11 handshake | frame serializer] <- extensions -> data_to_send()

Parsing is lazy: :meth:`Connection.receive_data` only buffers, and
:meth:`Connection.events` parses one event each time the application asks for
the next. Replies the application sends while handling an event are therefore
queued before anything a later frame of the same chunk causes (RFC 6455 is
strict about this order, and so is the Autobahn suite).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator, Sequence
from enum import Enum

import h11

from ._mask import apply_mask_join, apply_mask_slice
from ._prepared import PreparedMessage
from .close_codes import CloseCode, is_valid_on_wire
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    MAX_CLOSE_REASON,
    Accept,
    BinaryMessage,
    Close,
    Event,
    Handshake,
    HandshakeFailed,
    Headers,
    HeadersLike,
    HTTPRequest,
    Ping,
    Pong,
    Reject,
    RejectData,
    TextMessage,
    _normalize_headers,
    _received_binary,
    _received_ping,
    _received_pong,
    _received_text,
)
from .extensions.base import Extension, ExtensionSession, Params
from .frames import FIN, MASK_BIT, Opcode, serialize_frame
from .handshake import (
    RESPONSE_HEADERS,
    accept_key,
    build_request,
    format_extension_header,
    format_response_head,
    generate_key,
    is_upgrade_request,
    own_headers_checked,
    parse_request_head,
    to_h11_headers,
    validate_request,
    validate_response,
)
from .messages import MessageAssembler, invalid_utf8
from .states import ConnectionState, Trigger, next_state

__all__ = ["Connection", "Role"]

_unpack_H = struct.Struct("!H").unpack_from
_unpack_Q = struct.Struct("!Q").unpack_from

_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)
#: Output bound per extension call when no message limit applies (streaming).
_EXT_CHUNK = 1 << 16

# Enum members are looked up through their class on every access (30-70 ns for
# ConnectionState.OPEN or Opcode.TEXT on CPython 3.11) and Opcode(n) goes through
# EnumType.__call__ (0.7 µs): the hot paths use these module constants instead.
_CONNECTING = ConnectionState.CONNECTING
_REJECTING = ConnectionState.REJECTING
_OPEN = ConnectionState.OPEN
_CLOSING = ConnectionState.CLOSING
_CLOSED = ConnectionState.CLOSED
_CONTINUATION, _TEXT, _BINARY = Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY
_CLOSE, _PING, _PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG
_OPCODE_BY_VALUE = {int(op): op for op in Opcode}

# What awaits the application's answer on a server (Connection._awaiting).
_HANDSHAKE, _HTTP, _FAILED = 1, 2, 3
#: Headers of an automatic response that the connection sets itself.
_AUTO_RESPONSE_OWN = frozenset(
    {"content-type", "content-length", "connection", "transfer-encoding"}
)

#: Gathered pieces of at least this size are kept as views of the input chunk
#: rather than copied: a view costs ~150 ns and 184 bytes, a copy of 1 KiB as much.
_GATHER_VIEW_MIN = 1024


class Role(Enum):
    """Which end of the connection this is."""

    #: Sends the handshake request; masks its frames (RFC 6455 §5.3).
    CLIENT = "client"
    #: Answers the handshake; its frames are unmasked.
    SERVER = "server"


def _protocol_error(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(reason, code=CloseCode.PROTOCOL_ERROR)


def _check_limit(name: str, value: int | None) -> int | None:
    if value is not None and (not isinstance(value, int) or value < 0):
        raise LocalProtocolError(f"{name} must be a non-negative int or None")
    return value


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
        server negotiates them when it sends :class:`~wsproto_lite.events.Accept`.
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
        max_message_size: int | None = 1 << 20,
        max_frame_size: int | None = None,
        max_handshake_size: int = 1 << 16,
        max_header_count: int = 128,
        stream: bool = False,
        handshake: bool = True,
        extension_sessions: Sequence[ExtensionSession] = (),
        auto_response_headers: HeadersLike = (),
    ) -> None:
        if not isinstance(role, Role):
            raise LocalProtocolError(f"role must be Role.CLIENT or Role.SERVER, not {role!r}")
        _check_limit("max_message_size", max_message_size)
        _check_limit("max_frame_size", max_frame_size)
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
        self._max_message_size = max_message_size
        self._max_frame_size = max_frame_size
        #: The most headers accepted in the handshake (431 beyond).
        self.max_header_count = max_header_count
        #: The largest handshake head accepted, in bytes (431 beyond).
        self.max_handshake_size = max_handshake_size
        self._extensions = list(extensions)
        self._sessions: list[ExtensionSession] = list(extension_sessions)
        self._rsv_allowed = 0
        for session in self._sessions:
            self._rsv_allowed |= session.rsv_mask
        self._stream = stream
        self._state = _CONNECTING if handshake else _OPEN
        self._out: list[bytes] = []
        #: The subprotocol agreed in the handshake, if any.
        self.subprotocol: str | None = None
        #: The handshake request (received by a server, sent by a client).
        self.request: Handshake | None = None
        #: The extensions agreed in the handshake, as ``Sec-WebSocket-Extensions``
        #: elements with their parameters (``"permessage-deflate;
        #: client_max_window_bits=12"``), in the order they apply.
        self.negotiated_extensions: tuple[str, ...] = ()
        # Server: the extension offers of the request (parsed), for Accept.
        self._offers: list[tuple[str, Params]] = []

        # Handshake phase (h11).
        self._h11: h11.Connection | None = None
        if handshake:
            self._h11 = h11.Connection(
                h11.CLIENT if self.client else h11.SERVER,
                max_incomplete_event_size=max_handshake_size,
            )
        self._key: str | None = None
        self._auto_response_headers: Headers = ()
        self.auto_response_headers = auto_response_headers
        # Server: what awaits the application's answer (_HANDSHAKE, _HTTP or
        # _FAILED), and for _FAILED the automatic response it gets otherwise.
        self._awaiting: int = 0
        self._auto_response: tuple[int, str, Headers] | None = None
        # Server: what remains of a streamed Reject's declared Content-Length.
        self._reject_remaining: int | None = None
        self._head_request = False  # server: the request being answered is a HEAD
        # Server: whether to try parse_request_head on the first data, and (once
        # it succeeded) where the request head it read ends in h11's buffer:
        # h11 has then not parsed the request yet (see _h11_catch_up).
        self._try_fast_request = handshake and not self.client
        self._h11_behind = 0
        self._handshake_sent = False  # client
        self._response: h11.Response | None = None  # client: a rejection in progress
        self._held: object = None  # client: an h11 event read ahead while rejecting

        # Frame phase.
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._frame_active = False
        self._opcode = 0
        self._fin = False
        self._remaining = 0
        self._mask_key: bytes | None = None
        self._mask_offset = 0
        # The pieces of a binary frame arriving in several reads (see _enter_frame).
        self._gather: list[bytes | memoryview] | None = None
        self._control = b""
        self._assembler = MessageAssembler(stream)
        self._in_message = False
        self._transforming = False  # the message in progress goes through extensions
        self._draining = False  # an extension still holds output for the message
        self._draining_final = False
        self._out_message: Opcode | None = None  # a fragmented message being sent
        self._out_rsv = 0
        self._out_transform = False
        # The fast paths (see _fast_frame) take frames no larger than every limit.
        self._mask_expected = 0 if self.client else MASK_BIT
        self._fast_limit = 0
        self._update_fast_limit()
        self._failed = False
        self._close_received = False

    # -- public properties ------------------------------------------------------

    @property
    def max_message_size(self) -> int | None:
        """The largest message accepted (bytes, after decompression); ``None``: no limit.

        May be changed at any time; it applies from the next frame header on.
        """
        return self._max_message_size

    @max_message_size.setter
    def max_message_size(self, value: int | None) -> None:
        self._max_message_size = _check_limit("max_message_size", value)
        self._update_fast_limit()

    @property
    def max_frame_size(self) -> int | None:
        """The largest frame payload accepted; ``None``: only the message limit applies."""
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: int | None) -> None:
        self._max_frame_size = _check_limit("max_frame_size", value)
        self._update_fast_limit()

    def _update_fast_limit(self) -> None:
        # The fast path takes frames no larger than every limit (see _fast_frame).
        limits = [x for x in (self._max_message_size, self._max_frame_size) if x is not None]
        self._fast_limit = min(limits) if limits else 1 << 63

    @property
    def auto_response_headers(self) -> Headers:
        """Headers added to the HTTP responses a server writes on its own.

        Those are the error responses to requests it refuses (400, 426, 431,
        501; see :class:`~wsproto_lite.events.HandshakeFailed`) and the 426 to a
        plain HTTP request the application left unanswered. Typically
        ``Server`` and ``Date``: an embedder with a clock may set this before
        each :meth:`events` call. The connection sets ``Content-Type``,
        ``Content-Length`` and ``Connection`` itself; naming one of those here
        raises :class:`~wsproto_lite.errors.LocalProtocolError`.
        """
        return self._auto_response_headers

    @auto_response_headers.setter
    def auto_response_headers(self, value: HeadersLike) -> None:
        headers = _normalize_headers(value)
        for name, _ in headers:
            if name.lower() in _AUTO_RESPONSE_OWN:
                raise LocalProtocolError(
                    f"auto_response_headers may not set {name!r}: the connection sets it"
                )
        self._auto_response_headers = headers

    @property
    def state(self) -> ConnectionState:
        """The current :class:`~wsproto_lite.states.ConnectionState`."""
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

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes received from the peer; ``b""`` means end of stream.

        Nothing is parsed here (see :meth:`events`), and nothing is raised for
        anything the peer sent. Data after end of stream, or once the
        connection is CLOSED, is ignored on purpose.
        """
        if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
            raise LocalProtocolError(
                f"receive_data() takes bytes, not {type(data).__name__} (encode text first)"
            )
        if self._eof:
            return
        if not data:
            self._eof = True
            if self._h11 is not None and self._state is not _OPEN and self._state is not _CLOSING:
                self._h11_receive(b"")
            return
        if self._state is _CLOSED:
            return
        if self._h11 is not None and self._state in (_CONNECTING, _REJECTING):
            self._h11_receive(bytes(data))
            return
        buf = self._buf
        if self._pos >= len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
        else:
            self._buf = buf[self._pos :] + data
        self._pos = 0

    def _h11_receive(self, data: bytes) -> None:
        assert self._h11 is not None
        # h11 raises RuntimeError for data after EOF; ignored like all later input.
        with contextlib.suppress(RuntimeError):
            self._h11.receive_data(data)

    def events(self) -> Iterator[Event]:
        """Yield the events of the data received so far, parsing lazily.

        Each event is parsed when it is asked for, so the application's
        answer to one event (sent before it takes the next) is queued before
        whatever a later frame causes. Peer errors end as a
        :class:`~wsproto_lite.events.Close` (``failed=True``) or a
        :class:`~wsproto_lite.events.HandshakeFailed` event; nothing is raised.
        """
        while True:
            if (
                not self._sessions
                and not self._frame_active
                and not self._in_message
                and (self._state is _OPEN or self._state is _CLOSING)
            ):
                # The fast path for consecutive small, ordinary messages: whole
                # text or binary frames with a 7-bit length, the right mask bit,
                # no RSV bits and valid text, taken in a loop over the buffer
                # without the calls of _next_event (written out here rather than
                # in a generator of its own, which would cost one per call). It
                # stops at the first frame that is anything else, even invalid
                # text, and leaves it to the general path (which reaches the same
                # verdict or reports the error); and after a yield that let the
                # application touch the parser (it called receive_data() or
                # next_event(): _buf or _pos moved).
                buf = self._buf
                pos = self._pos
                size = len(buf)
                masked = self._mask_expected
                header = 6 if masked else 2
                while size - pos >= 2:
                    b0 = buf[pos]
                    if b0 != 0x81 and b0 != 0x82:  # FIN + TEXT or BINARY, no RSV bits
                        break
                    b1 = buf[pos + 1]
                    n = b1 & 0x7F
                    if (b1 & 0x80) != masked or n > 125 or n > self._fast_limit:
                        break
                    start = pos + header
                    end = start + n
                    if end > size:
                        break
                    if masked:
                        payload = apply_mask_slice(buf, start, end, buf[start - 4 : start])
                    else:
                        payload = buf[start:end]
                    if b0 == 0x82:
                        message: Event = _received_binary(payload)
                    else:
                        try:
                            message = _received_text(payload.decode("utf-8"))
                        except UnicodeDecodeError:
                            break
                    self._pos = pos = end
                    yield message
                    if self._buf is not buf or self._pos != end:
                        break
            event = self._next_event()
            if event is None:
                return
            yield event

    def next_event(self) -> Event | None:
        """Parse and return the next event, or ``None`` when more data is needed."""
        return self._next_event()

    def _next_event(self) -> Event | None:
        state = self._state
        if state is _OPEN or state is _CLOSING:
            try:
                event = self._next_frame_event()
            except RemoteProtocolError as exc:
                return self._fail(exc)
            if event is None:
                if self._pos >= len(self._buf):
                    # Everything was parsed: drop the consumed chunk now rather than
                    # at the next receive_data(), so an idle connection holds no
                    # big input buffer after a big message.
                    self._buf = b""
                    self._pos = 0
                if self._eof and self._state is not _CLOSED:
                    return self._on_eof()
            return event
        if state is _CONNECTING or state is _REJECTING:
            assert self._h11 is not None  # only handshake=False lacks h11, and it starts OPEN
            if self.client:
                return self._next_client_handshake_event()
            return self._next_server_handshake_event()
        return None

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
            message says why and what to do instead). Nothing is queued then.
        """
        if isinstance(event, (TextMessage, BinaryMessage)):
            self._send_message(event, compress)
        elif isinstance(event, (Ping, Pong)):
            if self._state not in (_OPEN, _CLOSING):
                raise LocalProtocolError(
                    f"cannot send {type(event).__name__} in state {self._state.name}"
                )
            opcode = _PING if isinstance(event, Ping) else _PONG
            self._out.append(serialize_frame(opcode, event.payload, mask=self.client))
        elif isinstance(event, Close):
            self._send_close(event)
        elif isinstance(event, Handshake):
            self._send_handshake(event)
        elif isinstance(event, Accept):
            self._send_accept(event)
        elif isinstance(event, Reject):
            self._send_reject(event)
        elif isinstance(event, RejectData):
            self._send_reject_data(event)
        elif isinstance(event, Event):
            raise LocalProtocolError(f"{type(event).__name__} events are only ever received")
        else:
            raise LocalProtocolError(f"send() takes an Event, not {type(event).__name__}")

    def send_prepared(self, prepared: PreparedMessage) -> None:
        """Queue a message framed once by :class:`~wsproto_lite.PreparedMessage`.

        The fast path of a broadcast: the frame's ``bytes`` object is queued as
        it is, so one encoding serves any number of server connections. The
        frame goes out uncompressed even where permessage-deflate was
        negotiated, which RFC 7692 §6 allows (RSV1 clear: not compressed);
        use :meth:`send` to compress per connection.

        :raises LocalProtocolError: (nothing is queued then) this is a client
            connection, whose frames must be masked (RFC 6455 §5.3); the
            connection is not OPEN; a fragmented message is being sent (its
            frames may not be interleaved, §5.4); or a negotiated extension
            insists on transforming the message (never permessage-deflate).
        """
        if (
            self._state is _OPEN
            and self._out_message is None
            and not self._sessions
            and not self.client
            and type(prepared) is PreparedMessage
        ):  # the common case of a broadcast, in as few steps as possible
            self._out.append(prepared.frame)
            return
        if not isinstance(prepared, PreparedMessage):
            raise LocalProtocolError(
                f"send_prepared() takes a PreparedMessage, not {type(prepared).__name__}"
            )
        if self.client:
            raise LocalProtocolError(
                "a prepared message is unmasked, and a client masks every frame"
                " (RFC 6455 §5.3): use send()"
            )
        if self._state is not _OPEN:
            if self._state is _CLOSING:
                raise LocalProtocolError(
                    "cannot send a message after sending Close (RFC 6455 §5.5.1)"
                )
            raise LocalProtocolError(f"cannot send a message in state {self._state.name}")
        if self._out_message is not None:
            raise LocalProtocolError(
                f"a fragmented {self._out_message.name.lower()} message is in progress;"
                " finish it (final=True) before sending another message (RFC 6455 §5.4)"
            )
        for session in self._sessions:
            if session.outbound_message(prepared.opcode, prepared.size, False):
                raise LocalProtocolError(
                    f"the negotiated extension {type(session).__name__} transforms every"
                    " message, which a prepared frame cannot be: use send()"
                )
        self._out.append(prepared.frame)

    def _transition(self, trigger: Trigger) -> None:
        new = next_state(self._state, trigger)
        # Every caller checks the state first and raises its own, more helpful
        # LocalProtocolError; reaching a missing transition here is a bug.
        assert new is not None, (self._state, trigger)
        self._state = new

    # -- sending data -------------------------------------------------------------

    def _send_message(self, event: TextMessage | BinaryMessage, compress: bool) -> None:
        if self._state is not _OPEN:
            if self._state is _CLOSING:
                raise LocalProtocolError(
                    "cannot send a message after sending Close (RFC 6455 §5.5.1)"
                )
            raise LocalProtocolError(f"cannot send a message in state {self._state.name}")
        if isinstance(event, TextMessage):
            try:
                payload = event.data.encode("utf-8")
            except UnicodeEncodeError:
                raise LocalProtocolError(
                    "TextMessage.data must be valid text: it contains a lone surrogate,"
                    " which UTF-8 cannot encode (RFC 6455 §5.6)"
                ) from None
            kind = _TEXT
        else:
            payload = event.data
            kind = _BINARY
        if self._out_message is None:
            opcode = kind
            rsv = 0
            transform = False
            if self._sessions:
                size_hint = len(payload) if event.final else None
                for session in self._sessions:
                    bits = session.outbound_message(kind, size_hint, compress)
                    rsv |= bits
                transform = rsv != 0
            if not event.final:
                self._out_message = kind
                self._out_rsv = rsv
                self._out_transform = transform
        else:
            if kind is not self._out_message:
                raise LocalProtocolError(
                    f"a fragmented {self._out_message.name.lower()} message is in progress;"
                    " finish it (final=True) before sending another kind of message"
                )
            opcode = _CONTINUATION
            rsv = 0
            transform = self._out_transform
            if event.final:
                self._out_message = None
        if transform:
            for session in self._sessions:
                payload = session.outbound_data(payload, event.final)
        self._out.append(
            serialize_frame(opcode, payload, fin=event.final, rsv=rsv, mask=self.client)
        )

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
        self._queue_close(event.code, event.reason)
        self._transition(Trigger.SEND_CLOSE)

    def _queue_close(self, code: int, reason: str) -> None:
        payload = code.to_bytes(2, "big") + reason.encode("utf-8")
        self._out.append(serialize_frame(_CLOSE, payload, mask=self.client))

    # -- the handshake: client ------------------------------------------------------

    def _send_handshake(self, event: Handshake) -> None:
        if not self.client:
            raise LocalProtocolError(
                "a server receives the Handshake; it answers with Accept or Reject"
            )
        if self._h11 is None or self._handshake_sent:
            raise LocalProtocolError(
                "the handshake was already sent (or not used: handshake=False)"
            )
        offers: list[str] = []
        for ext in self._extensions:
            if event.extensions is None or ext.name in event.extensions:
                offers.extend(format_extension_header(ext.name, p) for p in ext.offer())
        key = generate_key()
        request = build_request(event, key, offers)
        self._key = key
        self._out.append(self._h11.send(request) or b"")
        self._out.append(self._h11.send(h11.EndOfMessage()) or b"")
        self._handshake_sent = True
        self.request = event

    def _next_client_handshake_event(self) -> Event | None:
        assert self._h11 is not None
        if not self._handshake_sent:
            return None
        while True:
            if self._held is not None:
                h11_event, self._held = self._held, None
            else:
                try:
                    h11_event = self._h11.next_event()
                except h11.RemoteProtocolError as exc:
                    return self._handshake_failed(f"invalid HTTP response: {exc}", None)
            if h11_event is h11.NEED_DATA:
                # (At end of stream h11 raises RemoteProtocolError instead.)
                return None
            if isinstance(h11_event, h11.InformationalResponse):
                if h11_event.status_code != 101:
                    continue  # 100 Continue and the like: not for us
                return self._client_accept(h11_event)
            if isinstance(h11_event, h11.Response):
                if not 200 <= h11_event.status_code <= 599:
                    return self._handshake_failed(
                        f"invalid HTTP status {h11_event.status_code}", h11_event.status_code
                    )
                problem = self._head_problem(b"", h11_event.headers)
                if problem:
                    return self._handshake_failed(problem, h11_event.status_code)
                self._response = h11_event
                continue
            if isinstance(h11_event, h11.Data):
                # Read one event ahead so that a body arriving whole gives one Reject.
                try:
                    following = self._h11.next_event()
                except h11.RemoteProtocolError as exc:
                    return self._handshake_failed(f"invalid HTTP response: {exc}", None)
                final = isinstance(following, h11.EndOfMessage)
                if not final:
                    self._held = following
                return self._reject_part(bytes(h11_event.data), final)
            # h11 reports end of stream before a complete response as an error
            # (above), and the connection is CLOSED once the response ends.
            assert isinstance(h11_event, h11.EndOfMessage), h11_event
            return self._reject_part(b"", True)

    def _reject_part(self, body: bytes, final: bool) -> Reject | RejectData:
        """The rejection's head with the first part of its body, or a later part."""
        response = self._response
        assert response is not None
        first = self._state is _CONNECTING
        self._transition(Trigger.RECV_REJECT if final else Trigger.RECV_REJECT_PART)
        if not first:
            return RejectData(body, final)
        headers = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in response.headers)
        return Reject(response.status_code, headers, body, final)

    def _client_accept(self, response: h11.InformationalResponse) -> Event:
        assert self._h11 is not None and self._key is not None and self.request is not None
        problem = self._head_problem(b"", response.headers)
        if problem:
            return self._handshake_failed(problem, 101)
        try:
            subprotocol, accepted, headers = validate_response(
                response, self._key, self.request.subprotocols
            )
            sessions = []
            seen = set()
            for name, params in accepted:
                ext = next((e for e in self._extensions if e.name == name), None)
                offered = ext is not None and (
                    self.request.extensions is None or name in self.request.extensions
                )
                if ext is None or not offered or name in seen:
                    raise RemoteProtocolError(
                        f"the server accepted extension {name!r}, which was not offered"
                        + (" (or twice)" if name in seen else ""),
                        status=101,
                    )
                seen.add(name)
                sessions.append(ext.finalize(params))
        except RemoteProtocolError as exc:
            return self._handshake_failed(exc.message, 101)
        self._install_sessions(sessions)
        self.subprotocol = subprotocol
        self.negotiated_extensions = tuple(format_extension_header(n, p) for n, p in accepted)
        self._transition(Trigger.RECV_ACCEPT)
        self._take_trailing_data()
        return Accept(
            subprotocol=subprotocol,
            extensions=tuple(name for name, _ in accepted),
            headers=headers,
        )

    def _handshake_failed(self, reason: str, status: int | None) -> HandshakeFailed:
        self._transition(Trigger.FAIL)
        self._failed = True
        return HandshakeFailed(reason, status)

    def _take_trailing_data(self) -> None:
        """Move bytes that followed the handshake into the frame parser."""
        assert self._h11 is not None
        data, closed = self._h11.trailing_data
        if self._h11_behind:
            data = data[self._h11_behind :]  # what follows the request head
        self._buf = bytes(data)
        self._pos = 0
        if closed:
            self._eof = True
        # The HTTP phase is over: h11 and its buffers are not needed any more.
        self._h11 = None

    def _install_sessions(self, sessions: list[ExtensionSession]) -> None:
        self._sessions = sessions
        self._rsv_allowed = 0
        for session in sessions:
            self._rsv_allowed |= session.rsv_mask

    # -- the handshake: server ------------------------------------------------------

    def _next_server_handshake_event(self) -> Event | None:
        assert self._h11 is not None
        if self._awaiting:
            return self._unanswered()
        if self._state is _REJECTING:
            return None
        if self._try_fast_request:
            data = self._h11.trailing_data[0]  # (what h11 has received so far)
            if data:
                # Tried once, on the first data: a request that comes in parts,
                # or anything unusual, is h11's from then on.
                self._try_fast_request = False
                fast = self._fast_request(data)
                if fast is not None:
                    return fast
        try:
            h11_event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            return self._request_failed(
                f"invalid HTTP request: {exc}", exc.error_status_hint, f"Bad request: {exc}\n"
            )
        if h11_event is h11.NEED_DATA:
            # (At end of stream h11 raises RemoteProtocolError or says ConnectionClosed.)
            return None
        if isinstance(h11_event, h11.ConnectionClosed):
            return self._handshake_failed(
                "the client closed the connection before the handshake", None
            )
        assert isinstance(h11_event, h11.Request), h11_event  # h11's server-side invariant
        # (Walking h11's Headers goes through __getitem__ per item: once is enough.)
        headers = list(h11_event.headers)
        self._head_request = h11_event.method == b"HEAD"
        problem = self._head_problem(h11_event.target, headers)
        if problem:
            return self._request_failed(problem, 431, f"{problem}.\n")
        if not is_upgrade_request(headers):
            self._awaiting = _HTTP
            return HTTPRequest(
                method=h11_event.method.decode("latin-1"),
                target=h11_event.target.decode("latin-1"),
                headers=tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in headers),
            )
        try:
            event, key, offers = validate_request(
                h11_event.method, h11_event.target, h11_event.http_version, headers
            )
            # h11 reports the end of a body-less request at once; an upgrade
            # request with a body is not something RFC 6455 allows.
            if not isinstance(self._h11.next_event(), h11.EndOfMessage):
                raise RemoteProtocolError("an upgrade request must not have a body", status=400)
        except RemoteProtocolError as exc:
            status = exc.status or 400
            extra = (("Sec-WebSocket-Version", "13"),) if status == 426 else ()
            return self._request_failed(exc.message, status, f"{exc.message}\n", extra)
        except h11.RemoteProtocolError as exc:
            return self._request_failed(
                f"invalid HTTP request: {exc}", 400, f"Bad request: {exc}\n"
            )
        return self._handshake_received(event, key, offers)

    def _request_failed(
        self, reason: str, status: int, body: str, headers: Headers = ()
    ) -> HandshakeFailed:
        """Report a request this server refuses; the error response waits.

        The application may answer the :class:`HandshakeFailed` with its own
        :class:`Reject` before it takes the next event; otherwise
        :meth:`_unanswered` sends this response.
        """
        self._awaiting = _FAILED
        self._auto_response = (status, body, headers)
        self._failed = True
        return HandshakeFailed(reason, status)

    def _unanswered(self) -> Event | None:
        """The next event while the application owes an answer (server side).

        A peer that went away gets no answer: the application is told
        (:class:`HandshakeFailed` with no status). A plain HTTP request the
        application did not answer gets 426 (RFC 6455 §4.2.2 style) and a
        refused request its error response, once the application takes the
        next event without answering.
        """
        awaiting = self._awaiting
        if awaiting == _FAILED:
            assert self._auto_response is not None
            status, body, headers = self._auto_response
            self._send_http_error(status, body, headers)
        elif self._eof:
            self._awaiting = 0
            what = "handshake" if awaiting == _HANDSHAKE else "HTTP request"
            return self._handshake_failed(
                f"the client closed the connection before its {what} was answered", None
            )
        elif awaiting == _HTTP:
            self._send_http_error(
                426,
                "This service requires the WebSocket protocol.\n",
                (("Upgrade", "websocket"),),
            )
        else:
            return None  # the application must send Accept or Reject first
        self._awaiting = 0
        self._auto_response = None
        self._transition(Trigger.SEND_REJECT)
        return None

    def _fast_request(self, data: bytes) -> Handshake | None:
        """The usual upgrade request without h11 parsing it (about 20 µs).

        ``None`` unless the request is complete and plain (parse_request_head)
        and passes every check the h11 path makes: h11 then parses it when (if
        ever) it is needed, see _h11_catch_up, and any request that would get an
        error response goes through h11 from the start, as before.
        """
        head = parse_request_head(data)
        if head is None:
            return None
        target, headers, end = head
        if self._head_problem(target, headers) or not is_upgrade_request(headers):
            return None
        try:
            event, key, offers = validate_request(b"GET", target, b"1.1", headers)
        except RemoteProtocolError:
            return None
        self._h11_behind = end
        return self._handshake_received(event, key, offers)

    def _handshake_received(
        self, event: Handshake, key: str, offers: list[tuple[str, Params]]
    ) -> Handshake:
        self._key = key
        self._offers = offers
        self.request = event
        self._awaiting = _HANDSHAKE
        return event

    def _h11_catch_up(self) -> None:
        """Have h11 parse the request that _fast_request read, before using h11.

        It gets the same request from the same bytes (parse_request_head takes
        nothing h11 would read differently) and ends in the state the h11 path
        leaves it in.
        """
        if self._h11_behind:
            assert self._h11 is not None
            self._h11_behind = 0
            request = self._h11.next_event()
            end = self._h11.next_event()
            assert isinstance(request, h11.Request) and isinstance(end, h11.EndOfMessage)

    def _head_problem(self, target: bytes, headers: Sequence[tuple[bytes, bytes]]) -> str:
        """Check a parsed request/response head against the handshake limits.

        h11 enforces ``max_incomplete_event_size`` only while a head is still
        incomplete; a head that arrives whole in one chunk is measured here.
        """
        if len(headers) > self.max_header_count:
            return f"too many headers (more than {self.max_header_count})"
        size = len(target) + sum(len(n) + len(v) + 4 for n, v in headers)
        if size > self.max_handshake_size:
            return f"the handshake is over the {self.max_handshake_size}-byte limit"
        return ""

    def _send_http_error(self, status: int, body: str, headers: Headers = ()) -> None:
        assert self._h11 is not None
        data = body.encode("utf-8")
        all_headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Connection", "close"),
            *headers,
            *self._auto_response_headers,
        ]
        # h11 lets a server answer even a request it could not parse (its
        # documented contract after RemoteProtocolError).
        response = h11.Response(
            status_code=status,
            headers=to_h11_headers(all_headers),
            reason=_reason_phrase(status).encode(),
        )
        self._out.append(self._h11.send(response) or b"")
        if not self._head_request:  # a response to HEAD has no content (RFC 9110 §9.3.2)
            self._out.append(self._h11.send(h11.Data(data=data)) or b"")
        self._out.append(self._h11.send(h11.EndOfMessage()) or b"")

    def _check_answerable(self, what: str) -> None:
        if self.client:
            raise LocalProtocolError(f"a client receives {what}; it does not send it")
        if not self._awaiting:
            if self._state is _CONNECTING:
                raise LocalProtocolError(
                    f"send {what} in answer to a received Handshake, HTTPRequest or"
                    " HandshakeFailed event"
                )
            if self._state is _REJECTING:
                raise LocalProtocolError(
                    "a rejection is being streamed: send the rest of its body as RejectData"
                )
            if self._state is _CLOSED and self._failed and self._h11 is not None:
                raise LocalProtocolError(
                    f"cannot send {what}: the client went away, or the request was"
                    " answered automatically (see the HandshakeFailed event)"
                )
            raise LocalProtocolError(f"cannot send {what} in state {self._state.name}")

    def _send_accept(self, event: Accept) -> None:
        self._check_answerable("Accept")
        if self._awaiting == _HTTP:
            raise LocalProtocolError(
                "a plain HTTP request cannot be accepted as a WebSocket; answer it with Reject"
            )
        if self._awaiting == _FAILED:
            raise LocalProtocolError(
                "the handshake request was invalid (see the HandshakeFailed event): answer"
                " it with Reject, or take the next event to send the automatic response"
            )
        assert self._h11 is not None and self.request is not None and self._key is not None
        offered_subprotocols = self.request.subprotocols
        if event.subprotocol is not None and event.subprotocol not in offered_subprotocols:
            raise LocalProtocolError(
                f"subprotocol {event.subprotocol!r} was not offered by the client"
                f" (offered: {', '.join(offered_subprotocols) or 'none'})"
            )
        own_headers_checked(event.headers, RESPONSE_HEADERS, "Accept")
        headers: list[tuple[str, str]] = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(self._key)),
        ]
        if event.subprotocol is not None:
            headers.append(("Sec-WebSocket-Protocol", event.subprotocol))
        sessions: list[ExtensionSession] = []
        accepted: list[str] = []
        for ext in self._extensions:
            if event.extensions is not None and ext.name not in event.extensions:
                continue
            offers = [params for name, params in self._offers if name == ext.name]
            if not offers:
                continue
            result = ext.accept(offers)
            if result is not None:
                params, session = result
                accepted.append(format_extension_header(ext.name, params))
                sessions.append(session)
        if accepted:
            headers.append(("Sec-WebSocket-Extensions", ", ".join(accepted)))
        headers.extend(event.headers)
        # h11 is dropped right after this response: unless a header needs its
        # checks, write it as h11 would.
        data = format_response_head(b"HTTP/1.1 101 Switching Protocols", headers)
        if data is None:
            self._h11_catch_up()
            try:
                data = self._h11.send(
                    h11.InformationalResponse(
                        status_code=101,
                        headers=to_h11_headers(headers),
                        reason=b"Switching Protocols",
                    )
                )
            except h11.LocalProtocolError as exc:
                raise LocalProtocolError(f"invalid Accept: {exc}") from None
        self._out.append(data)
        self._awaiting = 0
        self._install_sessions(sessions)
        self.subprotocol = event.subprotocol
        self.negotiated_extensions = tuple(accepted)
        self._transition(Trigger.SEND_ACCEPT)
        self._take_trailing_data()

    def _send_reject(self, event: Reject) -> None:
        self._check_answerable("Reject")
        assert self._h11 is not None
        headers = list(event.headers)
        names = {n.lower() for n, _ in headers}
        body_size = len(event.body)
        # Every rule h11 would enforce is checked first, so that a refused
        # Reject changes nothing (h11 itself would be left in its ERROR state).
        lengths = {v.strip() for n, v in headers if n.lower() == "content-length"}
        declared: int | None = None
        if lengths:
            value = lengths.pop()
            if lengths or not (value.isascii() and value.isdigit()):
                raise LocalProtocolError(
                    f"Reject has an invalid Content-Length {value!r}; leave it out and it"
                    " is set for you"
                )
            declared = int(value)
            if declared < body_size or (event.final and declared != body_size):
                raise LocalProtocolError(
                    f"Reject has Content-Length {declared} but a body of {body_size}"
                    " bytes; leave Content-Length out and it is set for you"
                )
        codings = {v.strip().lower() for n, v in headers if n.lower() == "transfer-encoding"}
        if codings - {"chunked"} or (codings and declared is not None):
            raise LocalProtocolError(
                "Reject supports only Transfer-Encoding: chunked, without Content-Length"
                " (or leave both out: a body sent whole gets Content-Length, a streamed"
                " one chunked encoding)"
            )
        if event.final and declared is None and not codings:
            headers.append(("Content-Length", str(body_size)))
        if "connection" not in names:
            headers.append(("Connection", "close"))
        self._h11_catch_up()
        try:
            self._out.append(
                self._h11.send(
                    h11.Response(
                        status_code=event.status,
                        headers=to_h11_headers(headers),
                        reason=_reason_phrase(event.status).encode(),
                    )
                )
                or b""
            )
            self._send_body(event.body, event.final)
        except h11.LocalProtocolError as exc:  # pragma: no cover - defensive, see below
            # The checks above and the event's own refuse everything h11 would; this
            # keeps a future h11 rule from escaping as a foreign exception type.
            raise LocalProtocolError(f"invalid Reject: {exc}") from None
        self._awaiting = 0
        self._auto_response = None
        if not event.final:
            self._reject_remaining = None if declared is None else declared - body_size
        self._transition(Trigger.SEND_REJECT if event.final else Trigger.SEND_REJECT_PART)

    def _send_reject_data(self, event: RejectData) -> None:
        if self.client:
            raise LocalProtocolError("a client receives RejectData; it does not send it")
        if self._state is not _REJECTING:
            raise LocalProtocolError(
                "RejectData continues a Reject sent with final=False; cannot send it in"
                f" state {self._state.name}"
            )
        size = len(event.body)
        remaining = self._reject_remaining
        if remaining is not None and (size > remaining or (event.final and size < remaining)):
            raise LocalProtocolError(
                f"the rejection's Content-Length leaves {remaining} bytes for the body;"
                f" a{' final' if event.final else ''} part of {size} bytes does not fit"
            )
        try:
            self._send_body(event.body, event.final)
        except h11.LocalProtocolError as exc:  # pragma: no cover - defensive, as above
            raise LocalProtocolError(f"invalid RejectData: {exc}") from None
        if remaining is not None:
            self._reject_remaining = remaining - size
        if event.final:
            self._transition(Trigger.SEND_REJECT)

    def _send_body(self, body: bytes, final: bool) -> None:
        """Queue a part of a rejection's body, and its end if *final*."""
        assert self._h11 is not None
        # A response to HEAD carries no content (RFC 9110 §9.3.2); its
        # Content-Length still says how long the GET response would be.
        if body and not self._head_request:
            self._out.append(self._h11.send(h11.Data(data=body)) or b"")
        if final:
            self._out.append(self._h11.send(h11.EndOfMessage()) or b"")

    # -- frames in ------------------------------------------------------------------

    def _fail(self, exc: RemoteProtocolError) -> Close:
        """Fail the connection (RFC 6455 §7.1.7): queue a close frame, stop reading."""
        code = exc.code if exc.code is not None else CloseCode.PROTOCOL_ERROR
        reason = _trim_reason(exc.message)
        if self._state is _OPEN:
            self._queue_close(code, reason)
        self._state = next_state(self._state, Trigger.FAIL) or _CLOSED
        self._failed = True
        self._buf = b""
        self._pos = 0
        self._gather = None
        return Close(code, reason, failed=True)

    def _on_eof(self) -> Close:
        # The transport ended without a closing handshake (RFC 6455 §7.1.5: 1006).
        self._transition(Trigger.EOF)
        self._failed = True
        return Close(
            CloseCode.ABNORMAL_CLOSURE, "the connection closed without a close frame", failed=True
        )

    def _fast_frame(self) -> Event | None:
        """The common cases in one step: a whole data frame is in the buffer and
        nothing else is in progress.

        With no extension negotiated, an unfragmented text or binary frame
        becomes its event directly, and a fragment (the start or a
        continuation of a message) goes straight to the assembler, which
        returns the event when the message is complete. With extensions, an
        unfragmented message goes to them as on the general path (see
        :meth:`_extension_message`). The fast path took the frame when
        ``_pos`` moved: a fragment that ends no message, or a message whose
        decompressed output is still being drained, returns ``None`` as well.
        An ordinary frame that is not all here yet is entered as the current
        frame (its header needs no second look) for the general path to read.

        Nothing is taken when anything is unusual (a control frame, RSV bits no
        extension claims, a continuation out of place, a wrong mask bit, a
        non-minimal length, a size over a limit): the general path then parses
        the same bytes and applies every rule. So this function decides
        nothing on its own except "this frame is ordinary". (Invalid text in
        a fragment fails in the assembler exactly as on the general path,
        which would feed it the same whole payload.)
        """
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            return None
        b0 = buf[pos]
        opcode = b0 & 0x0F
        if opcode > 2 or (opcode == 0) != self._in_message or b0 & 0x70 & ~self._rsv_allowed:
            return None
        sessions = self._sessions
        if sessions and not (opcode and b0 & FIN):
            return None  # with extensions, only unfragmented messages
        b1 = buf[pos + 1]
        if (b1 & 0x80) != self._mask_expected:
            return None
        n = b1 & 0x7F
        if n < 126:
            header = 2
        elif n == 126:
            if avail < 4:
                return None
            n = (buf[pos + 2] << 8) | buf[pos + 3]
            if n < 126:
                return None
            header = 4
        else:
            if avail < 10:
                return None
            n = _unpack_Q(buf, pos + 2)[0]
            if n < 0x10000 or n >> 63:
                return None
            header = 10
        if n > self._fast_limit:
            return None
        assembler = self._assembler
        if opcode == 0:
            limit = self._max_message_size
            if limit is not None and assembler.size + n > limit:
                return None
        start = pos + header + (4 if self._mask_expected else 0)
        if start > len(buf):
            return None  # the masking key is not complete
        end = start + n
        if end > len(buf):
            if not sessions:  # (the extensions see the header on the general path)
                self._enter_frame(opcode, bool(b0 & FIN), n, start, self._mask_expected)
            return None
        if self._mask_expected:
            payload = apply_mask_slice(buf, start, end, buf[start - 4 : start])
        else:
            payload = buf[start:end]
        self._pos = end
        if sessions:
            return self._extension_message(opcode, b0 & 0x70, payload)
        if b0 == 0x82:
            return _received_binary(payload)
        if b0 == 0x81:
            try:
                return _received_text(payload.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise invalid_utf8(exc.reason) from None
        # A fragment: what _parse_header and _data_payload do for it.
        if opcode:
            self._in_message = True
            assembler.start(opcode == 1)
        if b0 & FIN:
            self._in_message = False
        elif not payload:
            return None  # an empty fragment adds nothing (and ends nothing)
        return assembler.feed(payload, not self._in_message)

    def _extension_message(self, opcode: int, rsv: int, payload: bytes) -> Event | None:
        """A whole unfragmented message with extensions negotiated: what
        _parse_header, _data_payload and _drain_extensions do for it.

        (The frame and message limits were checked against the frame's length;
        a transformed message is checked again once decompressed.)
        """
        transforms = False
        kind = _OPCODE_BY_VALUE[opcode]
        for session in self._sessions:
            if session.inbound_frame(kind, rsv & session.rsv_mask, starts_message=True):
                transforms = True
        self._transforming = transforms
        self._assembler.start(opcode == 1)
        if transforms:
            self._in_message = True
            return self._drain_extensions(payload, True)
        return self._assembler.feed(payload, True)

    def _next_frame_event(self) -> Event | None:
        """Parse until one event is ready or the buffer runs dry."""
        while True:
            if not self._frame_active and not self._draining:
                pos = self._pos
                event = self._fast_frame()
                if event is not None:
                    return event
                if self._pos != pos:
                    continue  # the frame was taken (or entered) without an event yet
            if self._draining:
                event = self._drain_extensions(b"", self._draining_final)
                if event is not None:
                    return event
                if self._draining:
                    continue
                if not self._frame_active:
                    continue
            if not self._frame_active:
                if not self._parse_header():
                    return None
                if self._remaining == 0 and not (self._opcode & 0x8):
                    # An empty data frame: no payload to wait for.
                    event = self._data_payload(b"")
                    if event is not None:
                        return event
                    continue
            buf = self._buf
            pos = self._pos
            avail = len(buf) - pos
            if self._opcode & 0x8:
                n = self._remaining
                if avail < n:
                    return None
                self._pos = pos + n
                if self._mask_key is not None:
                    payload = apply_mask_slice(buf, pos, pos + n, self._mask_key)
                else:
                    payload = buf[pos : pos + n]
                self._frame_active = False
                return self._control_frame(payload)
            if avail == 0:
                return None
            n = self._remaining if self._remaining <= avail else avail
            self._pos = pos + n
            self._remaining -= n
            key = self._mask_key
            gather = self._gather
            if gather is not None:
                # Keep the piece as it is (a view, unless it is small enough
                # to copy for nothing) and unmask them all into one bytes
                # object once the frame is complete: one copy of the payload
                # instead of one per piece and another to join them.
                if n >= _GATHER_VIEW_MIN:
                    gather.append(memoryview(buf)[pos : pos + n])
                else:
                    gather.append(buf[pos : pos + n])
                if self._remaining:
                    return None  # (n was all there is)
                self._gather = None
                chunk = b"".join(gather) if key is None else apply_mask_join(gather, key)
            elif key is not None:
                offset = self._mask_offset
                if offset:
                    key = key[offset:] + key[:offset]
                chunk = apply_mask_slice(buf, pos, pos + n, key)
                self._mask_offset = (offset + n) & 3
            else:
                chunk = buf[pos : pos + n]
            event = self._data_payload(chunk)
            if event is not None:
                return event

    def _parse_header(self) -> bool:
        """Read and check the next frame header (RFC 6455 §5.2); False if incomplete."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            return False
        b0 = buf[pos]
        b1 = buf[pos + 1]
        opcode = b0 & 0x0F
        fin = bool(b0 & FIN)
        rsv = b0 & 0x70
        masked = b1 & MASK_BIT
        length = b1 & 0x7F
        # Everything checkable from the first two bytes is checked now, so a
        # bad frame fails fast even if its length bytes never arrive.
        if opcode not in _KNOWN_OPCODES:
            raise _protocol_error(f"reserved opcode {opcode:#x}")
        if rsv & ~self._rsv_allowed:
            raise _protocol_error("reserved bits set without a negotiated extension")
        is_control = opcode >= 0x8
        if is_control:
            if not fin:
                raise _protocol_error("fragmented control frame (RFC 6455 §5.5)")
            if length > 125:
                raise _protocol_error("control frame payload over 125 bytes (RFC 6455 §5.5)")
        elif opcode == 0:
            if not self._in_message:
                raise _protocol_error("continuation frame without a message to continue")
        elif self._in_message:
            raise _protocol_error("new data frame while a fragmented message is in progress")
        if self.client:
            if masked:
                raise _protocol_error("the server masked a frame (RFC 6455 §5.1)")
        elif not masked:
            raise _protocol_error("the client sent an unmasked frame (RFC 6455 §5.1)")
        header_len = 2
        if length == 126:
            header_len = 4
        elif length == 127:
            header_len = 10
        if masked:
            header_len += 4
        if avail < header_len:
            return False
        if length == 126:
            length = _unpack_H(buf, pos + 2)[0]
            if length < 126:
                raise _protocol_error("non-minimal 16-bit frame length (RFC 6455 §5.2)")
        elif length == 127:
            length = _unpack_Q(buf, pos + 2)[0]
            if length >> 63:
                raise _protocol_error("frame length with the most significant bit set")
            if length < 0x10000:
                raise _protocol_error("non-minimal 64-bit frame length (RFC 6455 §5.2)")
        if self._sessions:
            transforms = False
            for session in self._sessions:
                if session.inbound_frame(
                    _OPCODE_BY_VALUE[opcode],
                    rsv & session.rsv_mask,
                    starts_message=opcode in (1, 2),
                ):
                    transforms = True
            if opcode in (1, 2):
                self._transforming = transforms
        if not is_control:
            limit = self._max_frame_size
            if limit is not None and length > limit:
                raise RemoteProtocolError(
                    f"frame of {length} bytes exceeds the {limit}-byte limit",
                    code=CloseCode.MESSAGE_TOO_BIG,
                )
            if opcode != 0 and not self._sessions:
                self._transforming = False
            limit = self._max_message_size
            if limit is not None and not self._transforming:
                # (A new message starts empty.)
                total = (self._assembler.size if opcode == 0 else 0) + length
                if total > limit:
                    raise RemoteProtocolError(
                        f"message of at least {total} bytes exceeds the {limit}-byte limit",
                        code=CloseCode.MESSAGE_TOO_BIG,
                    )
        self._enter_frame(opcode, fin, length, pos + header_len, masked)
        return True

    def _enter_frame(self, opcode: int, fin: bool, length: int, start: int, masked: int) -> None:
        """Make the frame whose header was checked (by _parse_header, or by
        _fast_frame for an ordinary frame not yet complete) the current one.

        Its payload starts at *start*, after the masking key if *masked*.
        """
        buf = self._buf
        self._pos = start
        self._opcode = opcode
        self._fin = fin
        self._remaining = length
        self._mask_key = buf[start - 4 : start] if masked else None
        self._mask_offset = 0
        self._frame_active = True
        if opcode & 0x8:
            return
        if opcode:
            self._in_message = True
            self._assembler.start(opcode == 1)
        if start + length > len(buf) and not (
            self._stream or self._transforming or self._assembler.is_text
        ):
            # Binary payload that is not all here yet is gathered as it arrives
            # (see _next_frame_event). Only for whole binary messages: text is
            # validated as it arrives, and streamed or transformed pieces go
            # on at once.
            self._gather = []

    def _data_payload(self, chunk: bytes) -> Event | None:
        """Route a piece of a data frame's payload to the message assembler."""
        frame_done = self._remaining == 0
        final = frame_done and self._fin
        if frame_done:
            self._frame_active = False
        if self._transforming:
            return self._drain_extensions(chunk, final)
        if not chunk and not final:
            return None
        if final:
            self._in_message = False
        return self._assembler.feed(chunk, final)

    def _drain_extensions(self, chunk: bytes, final: bool) -> Event | None:
        """Feed *chunk* through the extensions with a bounded output size."""
        limit = self._max_message_size
        if limit is None:
            max_length = _EXT_CHUNK
        else:
            max_length = limit - self._assembler.size + 1
            if self._stream and max_length > _EXT_CHUNK:
                max_length = _EXT_CHUNK
        data = chunk
        for session in reversed(self._sessions):
            data = session.inbound_data(data, final, max_length)
        more = len(data) >= max_length
        if limit is not None and self._assembler.size + len(data) > limit:
            raise RemoteProtocolError(
                f"message exceeds the {limit}-byte limit once decompressed",
                code=CloseCode.MESSAGE_TOO_BIG,
            )
        self._draining = more
        self._draining_final = final
        done = final and not more
        if done:
            self._in_message = False
        if not data and not done:
            return None
        return self._assembler.feed(data, done)

    def _control_frame(self, payload: bytes) -> Event:
        opcode = self._opcode
        if opcode == _PING:
            # RFC 6455 §5.5.2: answer with a pong carrying the same payload, as
            # soon as practical; still allowed while CLOSING (§5.5.1 only stops data).
            self._out.append(serialize_frame(_PONG, payload, mask=self.client))
            return _received_ping(payload)
        if opcode == _PONG:
            return _received_pong(payload)
        return self._close_frame(payload)

    def _close_frame(self, payload: bytes) -> Close:
        # RFC 6455 §5.5.1 / §7.1.5: an optional 2-byte code, then a UTF-8 reason.
        if len(payload) == 1:
            raise _protocol_error("close frame with a 1-byte payload")
        if payload:
            code = int.from_bytes(payload[:2], "big")
            if not is_valid_on_wire(code):
                raise _protocol_error(f"invalid close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise invalid_utf8("in the close reason") from None
        else:
            code, reason = CloseCode.NO_STATUS_RCVD, ""
        self._close_received = True
        if self._state is _OPEN:
            # Echo the code (1000 when none was given), RFC 6455 §5.5.1.
            reply = CloseCode.NORMAL_CLOSURE if code == CloseCode.NO_STATUS_RCVD else code
            self._queue_close(reply, "")
        self._transition(Trigger.RECV_CLOSE)
        # Anything after the close frame is ignored (RFC 6455 §5.5.1).
        self._buf = b""
        self._pos = 0
        return Close(code, reason)

    def __repr__(self) -> str:
        return f"<Connection {self.role.value} {self._state.name}>"


def _reason_phrase(status: int) -> str:
    """The standard reason phrase for *status* (``"Bad Request"`` for 400)."""
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
