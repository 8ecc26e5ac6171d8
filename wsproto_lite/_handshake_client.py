"""The client's opening handshake (RFC 6455 §4.1), a layer over h11.

:class:`ClientHandshake` owns h11 and every piece of handshake-phase state of
a client connection: it writes the request, reads the response, and hands the
connection to the frame phase when a valid ``101`` arrives, or reports the
rejection (:class:`~wsproto_lite.Reject` and :class:`~wsproto_lite.RejectData`)
or the failure (:class:`~wsproto_lite.HandshakeFailed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h11

from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import Accept, Event, Handshake, Reject, RejectData
from ._handshake import HandshakeLayer, build_request, generate_key, validate_response
from ._states import ConnectionState, Trigger
from .extensions import ExtensionSession, format_extension_header

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = ["ClientHandshake"]


class ClientHandshake(HandshakeLayer):
    """The handshake phase of a client :class:`~wsproto_lite.Connection`."""

    def __init__(self, conn: Connection, max_handshake_size: int) -> None:
        super().__init__(conn, h11.CLIENT, max_handshake_size)
        self._key: str | None = None
        self._sent = False
        self._response: h11.Response | None = None  # a rejection in progress
        self._held: object = None  # an h11 event read ahead while rejecting

    def send_request(self, event: Handshake) -> None:
        """Queue the upgrade request for *event*."""
        if self._sent:
            raise LocalProtocolError("the handshake was already sent")
        conn = self._conn
        offers: list[str] = []
        for ext in conn._extensions:
            if event.extensions is None or ext.name in event.extensions:
                offers.extend(format_extension_header(ext.name, p) for p in ext.offer())
        key = generate_key()
        request = build_request(event, key, offers)
        self._key = key
        conn._out.append(self._h11.send(request) or b"")
        conn._out.append(self._h11.send(h11.EndOfMessage()) or b"")
        self._sent = True
        conn.request = event

    def next_event(self) -> Event | None:
        """The next event of the server's response, or ``None`` for more data."""
        if not self._sent:
            return None
        while True:
            if self._held is not None:
                h11_event, self._held = self._held, None
            else:
                try:
                    h11_event = self._h11.next_event()
                except h11.RemoteProtocolError as exc:
                    return self._fail(f"invalid HTTP response: {exc}", None)
            if h11_event is h11.NEED_DATA:
                # (At end of stream h11 raises RemoteProtocolError instead.)
                return None
            if isinstance(h11_event, h11.InformationalResponse):
                if h11_event.status_code != 101:
                    continue  # 100 Continue and the like: not for us
                return self._accepted(h11_event)
            if isinstance(h11_event, h11.Response):
                if not 200 <= h11_event.status_code <= 599:
                    return self._fail(
                        f"invalid HTTP status {h11_event.status_code}", h11_event.status_code
                    )
                problem = self._head_problem(b"", h11_event.headers)
                if problem:
                    return self._fail(problem, h11_event.status_code)
                self._response = h11_event
                continue
            if isinstance(h11_event, h11.Data):
                # Read one event ahead so that a body arriving whole gives one Reject.
                try:
                    following = self._h11.next_event()
                except h11.RemoteProtocolError as exc:
                    return self._fail(f"invalid HTTP response: {exc}", None)
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
        conn = self._conn
        first = conn._state is ConnectionState.CONNECTING
        conn._transition(Trigger.RECV_REJECT if final else Trigger.RECV_REJECT_PART)
        if not first:
            return RejectData(body, final)
        headers = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in response.headers)
        return Reject(response.status_code, headers, body, final)

    def _accepted(self, response: h11.InformationalResponse) -> Event:
        """Check a ``101`` (RFC 6455 §4.1) and its extensions; open the connection."""
        conn = self._conn
        request = conn.request
        assert self._key is not None and request is not None
        problem = self._head_problem(b"", response.headers)
        if problem:
            return self._fail(problem, 101)
        try:
            subprotocol, accepted, headers = validate_response(
                response, self._key, request.subprotocols
            )
            sessions: list[ExtensionSession] = []
            seen = set()
            for name, params in accepted:
                ext = next((e for e in conn._extensions if e.name == name), None)
                offered = ext is not None and (
                    request.extensions is None or name in request.extensions
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
            return self._fail(exc.message, 101)
        conn.subprotocol = subprotocol
        conn.negotiated_extensions = tuple(format_extension_header(n, p) for n, p in accepted)
        conn._transition(Trigger.RECV_ACCEPT)
        self._open(sessions)
        return Accept(
            subprotocol=subprotocol,
            extensions=tuple(name for name, _ in accepted),
            headers=headers,
        )
