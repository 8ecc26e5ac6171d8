"""The server's opening handshake (RFC 6455 §4.2), a layer over h11.

:class:`ServerHandshake` owns h11 and every piece of handshake-phase state of a
server connection: it reads the request (a fast path for the usual upgrade
request, h11 for everything else), reports it as a :class:`~wsproto_lite.Handshake`,
an :class:`~wsproto_lite.HTTPRequest` or a :class:`~wsproto_lite.HandshakeFailed`,
waits for the application's answer, writes it, and hands the connection to the
frame phase after ``101``. It also writes the automatic responses: the error
response to a refused request and the 426 to a plain HTTP request left
unanswered, each when the application takes the next event without answering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h11

from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    Accept,
    Event,
    Handshake,
    HandshakeFailed,
    Headers,
    HTTPRequest,
    Reject,
    RejectData,
)
from ._handshake import (
    RESPONSE_HEADERS,
    HandshakeLayer,
    accept_key,
    format_response_head,
    is_upgrade_request,
    own_headers_checked,
    parse_request_head,
    reason_phrase,
    to_h11_headers,
    validate_request,
)
from ._states import ConnectionState, Trigger
from .extensions import ExtensionSession, Params, format_extension_header

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = ["ServerHandshake"]

_CONNECTING = ConnectionState.CONNECTING
_REJECTING = ConnectionState.REJECTING
_CLOSED = ConnectionState.CLOSED
# What awaits the application's answer (ServerHandshake._awaiting).
_HANDSHAKE, _HTTP, _FAILED = 1, 2, 3


class ServerHandshake(HandshakeLayer):
    """The handshake phase of a server :class:`~wsproto_lite.Connection`."""

    def __init__(self, conn: Connection, max_handshake_size: int) -> None:
        super().__init__(conn, h11.SERVER, max_handshake_size)
        self._key: str | None = None
        # The extension offers of the request (parsed), for Accept.
        self._offers: list[tuple[str, Params]] = []
        # What awaits the application's answer (_HANDSHAKE, _HTTP or _FAILED),
        # and for _FAILED the automatic response it gets otherwise.
        self._awaiting = 0
        self._auto_response: tuple[int, str, Headers] | None = None
        # What remains of a streamed Reject's declared Content-Length.
        self._reject_remaining: int | None = None
        self._head_request = False  # the request being answered is a HEAD
        # Whether to try parse_request_head on the first data, and (once it
        # succeeded) where the request head it read ends in h11's buffer: h11
        # has then not parsed the request yet (see _h11_catch_up).
        self._try_fast_request = True

    def next_event(self) -> Event | None:
        """The next event of the request, or ``None`` for more data (or while
        the application owes an answer to the last one)."""
        if self._awaiting:
            return self._unanswered()
        if self._conn._state is not ConnectionState.CONNECTING:
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
            return self._fail("the client closed the connection before the handshake", None)
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
        self._conn._failed = True
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
        elif self._conn._eof:
            self._awaiting = 0
            what = "handshake" if awaiting == _HANDSHAKE else "HTTP request"
            return self._fail(
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
        self._conn._transition(Trigger.SEND_REJECT)
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
        self._conn.request = event
        self._awaiting = _HANDSHAKE
        return event

    def _h11_catch_up(self) -> None:
        """Have h11 parse the request that _fast_request read, before using h11.

        It gets the same request from the same bytes (parse_request_head takes
        nothing h11 would read differently) and ends in the state the h11 path
        leaves it in.
        """
        if self._h11_behind:
            self._h11_behind = 0
            request = self._h11.next_event()
            end = self._h11.next_event()
            assert isinstance(request, h11.Request) and isinstance(end, h11.EndOfMessage)

    def _send_http_error(self, status: int, body: str, headers: Headers = ()) -> None:
        data = body.encode("utf-8")
        all_headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Connection", "close"),
            *headers,
            *self._conn._auto_response_headers,
        ]
        # h11 lets a server answer even a request it could not parse (its
        # documented contract after RemoteProtocolError).
        response = h11.Response(
            status_code=status,
            headers=to_h11_headers(all_headers),
            reason=reason_phrase(status).encode(),
        )
        self._conn._out.append(self._h11.send(response) or b"")
        if not self._head_request:  # a response to HEAD has no content (RFC 9110 §9.3.2)
            self._conn._out.append(self._h11.send(h11.Data(data=data)) or b"")
        self._conn._out.append(self._h11.send(h11.EndOfMessage()) or b"")

    def _check_answerable(self, what: str) -> None:
        if not self._awaiting:
            if self._conn._state is _CONNECTING:
                raise LocalProtocolError(
                    f"send {what} in answer to a received Handshake, HTTPRequest or"
                    " HandshakeFailed event"
                )
            if self._conn._state is _REJECTING:
                raise LocalProtocolError(
                    "a rejection is being streamed: send the rest of its body as RejectData"
                )
            if self._conn._state is _CLOSED and self._conn._failed:
                raise LocalProtocolError(
                    f"cannot send {what}: the client went away, or the request was"
                    " answered automatically (see the HandshakeFailed event)"
                )
            raise LocalProtocolError(f"cannot send {what} in state {self._conn._state.name}")

    def accept(self, event: Accept) -> None:
        """Queue the ``101`` for *event* and open the connection (RFC 6455 §4.2.2)."""
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
        assert self._conn.request is not None and self._key is not None
        offered_subprotocols = self._conn.request.subprotocols
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
        for ext in self._conn._extensions:
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
        self._conn._out.append(data)
        self._awaiting = 0
        self._conn.subprotocol = event.subprotocol
        self._conn.negotiated_extensions = tuple(accepted)
        self._conn._transition(Trigger.SEND_ACCEPT)
        self._open(sessions)

    def reject(self, event: Reject) -> None:
        """Queue the response head of *event* and its body (or first part)."""
        self._check_answerable("Reject")
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
            self._conn._out.append(
                self._h11.send(
                    h11.Response(
                        status_code=event.status,
                        headers=to_h11_headers(headers),
                        reason=reason_phrase(event.status).encode(),
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
        self._conn._transition(Trigger.SEND_REJECT if event.final else Trigger.SEND_REJECT_PART)

    def reject_data(self, event: RejectData) -> None:
        """Queue a later part of a streamed rejection's body."""
        if self._conn._state is not _REJECTING:
            raise LocalProtocolError(
                "RejectData continues a Reject sent with final=False; cannot send it in"
                f" state {self._conn._state.name}"
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
            self._conn._transition(Trigger.SEND_REJECT)

    def _send_body(self, body: bytes, final: bool) -> None:
        """Queue a part of a rejection's body, and its end if *final*."""
        # A response to HEAD carries no content (RFC 9110 §9.3.2); its
        # Content-Length still says how long the GET response would be.
        if body and not self._head_request:
            self._conn._out.append(self._h11.send(h11.Data(data=body)) or b"")
        if final:
            self._conn._out.append(self._h11.send(h11.EndOfMessage()) or b"")
