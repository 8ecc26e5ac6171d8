"""The opening handshake (RFC 6455 §4): the rules both roles share.

Pure functions (building the client's request, validating it on the server,
building the server's answer and validating it on the client, the fast
request parser) and :class:`HandshakeLayer`, the base of the two layers over
h11 that drive them: :mod:`~wsproto_lite._handshake_server` and
:mod:`~wsproto_lite._handshake_client`. Every validation failure is a
:class:`~wsproto_lite.RemoteProtocolError` carrying the HTTP status the server
answers with.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING

import h11

from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import _TOKEN_RE, Handshake, HandshakeFailed, Headers, _received_handshake
from ._states import Trigger
from .extensions import ExtensionSession, Params, parse_extension_header

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = [
    "GUID",
    "accept_key",
    "generate_key",
    "split_tokens",
]

#: The GUID of RFC 6455 §1.3, appended to the key before hashing.
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def generate_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str | bytes) -> str:
    """``Sec-WebSocket-Accept`` for *key*: base64(SHA-1(key + GUID)) (RFC 6455 §1.3)."""
    raw = key.encode("ascii") if isinstance(key, str) else key
    return base64.b64encode(hashlib.sha1(raw + GUID).digest()).decode("ascii")


def split_tokens(values: Iterable[str]) -> list[str]:
    """Split comma-separated header values into stripped, non-empty items."""
    out = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if item:
                out.append(item)
    return out


def to_h11_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Encode headers for h11 (ISO-8859-1, as HTTP/1.1 carries them).

    Events have already checked that every header is encodable.
    """
    return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]


def _has_token(values: Sequence[str], token: str) -> bool:
    return any(item.lower() == token for item in split_tokens(values))


#: Received headers: (name in lower case, value) as h11 (or parse_request_head) gives them.
RawHeaders = Sequence[tuple[bytes, bytes]]


class _HeaderTable:
    """Received headers decoded once, and looked up by name without a walk each time."""

    __slots__ = ("by_name", "pairs")

    def __init__(self, headers: RawHeaders) -> None:
        pairs = []
        by_name: dict[str, list[str]] = {}
        for raw_name, raw_value in headers:
            # Interned: the request's headers stay with the connection (the
            # Handshake event), and the same few names come with every one.
            name = sys.intern(raw_name.decode("latin-1"))
            value = raw_value.decode("latin-1")
            pairs.append((name, value))
            if name in by_name:
                by_name[name].append(value)
            else:
                by_name[name] = [value]
        #: Every header as ``(name, value)`` strings, in order.
        self.pairs: Headers = tuple(pairs)
        self.by_name = by_name

    def values(self, name: str) -> Sequence[str]:
        """The values of every header called *name* (lower case), in order."""
        return self.by_name.get(name, ())


# -- server side ---------------------------------------------------------------


def is_upgrade_request(headers: RawHeaders) -> bool:
    """Whether the request asks for an upgrade at all (has an ``Upgrade`` header).

    A request without one is plain HTTP (:class:`~wsproto_lite.HTTPRequest`).
    """
    return any(name == b"upgrade" for name, _ in headers)


def validate_request(
    method: bytes, target: bytes, http_version: bytes, headers: RawHeaders
) -> tuple[Handshake, str, list[tuple[str, Params]]]:
    """Check an upgrade request (RFC 6455 §4.2.1).

    Returns the event, the key and the extension offers (parsed, in order).

    Raises :class:`RemoteProtocolError` with ``status`` 400 for a malformed
    request and 426 for an unsupported version (the caller adds
    ``Sec-WebSocket-Version: 13`` to that answer, §4.2.2).
    """
    if method != b"GET":
        raise RemoteProtocolError(
            f"the method must be GET, not {method.decode('latin-1')}", status=400
        )
    if http_version != b"1.1":
        raise RemoteProtocolError("the request must be HTTP/1.1 or later", status=400)
    table = _HeaderTable(headers)
    if not _has_token(table.values("upgrade"), "websocket"):
        raise RemoteProtocolError("the Upgrade header must be 'websocket'", status=400)
    if not _has_token(table.values("connection"), "upgrade"):
        raise RemoteProtocolError("the Connection header must contain 'Upgrade'", status=400)
    # The version comes first (RFC 6455 §4.2.2, §4.4): a client speaking
    # another version may lack the other headers, and 426 with
    # Sec-WebSocket-Version: 13 is what tells it what it can fix.
    versions = table.values("sec-websocket-version")
    if not versions:
        raise RemoteProtocolError("the Sec-WebSocket-Version header is missing", status=400)
    if [v.strip() for v in versions] != ["13"]:
        raise RemoteProtocolError(
            f"unsupported WebSocket version {', '.join(versions)!r}; only 13 is supported",
            status=426,
        )
    hosts = table.values("host")
    if len(hosts) != 1 or not hosts[0]:
        raise RemoteProtocolError("the request must have exactly one Host header", status=400)
    keys = table.values("sec-websocket-key")
    if len(keys) != 1:
        raise RemoteProtocolError(
            "the request must have exactly one Sec-WebSocket-Key header", status=400
        )
    key = keys[0].strip()
    try:
        decoded = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        decoded = b""
    if len(decoded) != 16:
        raise RemoteProtocolError(
            "Sec-WebSocket-Key must be 16 bytes, base64-encoded (RFC 6455 §4.1)", status=400
        )
    try:
        offered = parse_extension_header(table.values("sec-websocket-extensions"))
    except ValueError as exc:
        raise RemoteProtocolError(
            f"malformed Sec-WebSocket-Extensions: {exc}", status=400
        ) from None
    subprotocols = split_tokens(table.values("sec-websocket-protocol"))
    for name in subprotocols:
        if not _TOKEN_RE.fullmatch(name):
            raise RemoteProtocolError(
                f"Sec-WebSocket-Protocol offers {name!r}, which is not a token", status=400
            )
    origins = table.values("origin")
    target_s = target.decode("latin-1")
    if not target_s.startswith("/"):
        # RFC 6455 §3/§4.1: the resource name is a path; the absolute form is for proxies.
        raise RemoteProtocolError(
            f"the request target must be a path, not {target_s!r}", status=400
        )
    # Everything Handshake checks is guaranteed by the HTTP parser (h11's, or
    # parse_request_head's stricter one) or the checks above, so the event is
    # built without checking it again (the fuzz targets hold this invariant:
    # nothing raises out of events()).
    event = _received_handshake(
        host=hosts[0],
        target=target_s,
        subprotocols=tuple(subprotocols),
        extensions=tuple(dict.fromkeys(name for name, _ in offered)),
        origin=origins[0] if origins else None,
        headers=table.pairs,
    )
    return event, key, offered


# A request head as h11 parses it, in the strict common case: the request line
# "GET <path> HTTP/1.1", header lines "name: value", CRLF line ends.
_REQUEST_LINE_RE = re.compile(rb"GET (/[\x21-\x7e]*) HTTP/1\.1")
#: RFC 9110 §5.5 field-content (visible ASCII or obs-text, inner SP/HTAB only).
_FIELD_VALUE = rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?"
_FIELD_NAME = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_HEADER_LINE_RE = re.compile(rb"(" + _FIELD_NAME + rb"):[ \t]*(" + _FIELD_VALUE + rb")[ \t]*")
_FIELD_NAME_RE = re.compile(_FIELD_NAME)
_FIELD_VALUE_RE = re.compile(_FIELD_VALUE)


def parse_request_head(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], int] | None:
    """Read a plain, complete ``GET`` request head at the start of *data*.

    Returns the target, the headers (names in lower case) and where the head
    ends; ``None`` for anything else, an incomplete head included.

    A fast path in front of h11 (which costs about 20 µs per request): it
    takes only heads that h11 parses to exactly these values without a
    complaint, a strict subset of HTTP/1.1 (CRLF line ends, no folded lines,
    no control characters, exactly one ``Host``, no ``Content-Length`` or
    ``Transfer-Encoding``: a body is h11's business). Everything else is left
    to h11, so what this declines changes nothing. The tests compare it with
    h11 on many requests.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end]
    lines = head.split(b"\r\n")
    # No CR or LF other than in the CRLFs split on (h11 would take a bare LF as
    # a line end, and refuses a CR elsewhere).
    if head.count(b"\n") != len(lines) - 1 or head.count(b"\r") != len(lines) - 1:
        return None
    request_line = _REQUEST_LINE_RE.fullmatch(lines[0])
    if request_line is None:
        return None
    headers = []
    hosts = 0
    for line in lines[1:]:
        field = _HEADER_LINE_RE.fullmatch(line)
        if field is None:
            return None
        name = field[1].lower()
        if name == b"host":
            hosts += 1
        elif name == b"content-length" or name == b"transfer-encoding":
            return None
        headers.append((name, field[2]))
    if hosts != 1:
        return None
    return request_line[1], headers, end + 4


def format_response_head(status_line: bytes, headers: Iterable[tuple[str, str]]) -> bytes | None:
    """The response head h11 writes for *headers*, or ``None`` to let h11 write it.

    Only for headers that h11 takes as they are, which is every header the
    handshake makes itself: a token name other than ``Host``,
    ``Content-Length`` and ``Transfer-Encoding`` (which h11 reorders or
    rewrites), and a plain value. Anything else goes to h11, with its checks
    and its error messages. *status_line* is e.g. ``b"HTTP/1.1 101
    Switching Protocols"``.
    """
    out = [status_line, b"\r\n"]
    for name, value in headers:
        raw_name = name.encode("latin-1")
        raw_value = value.encode("latin-1")
        if (
            not _FIELD_NAME_RE.fullmatch(raw_name)
            or not _FIELD_VALUE_RE.fullmatch(raw_value)
            or raw_name.lower() in (b"host", b"content-length", b"transfer-encoding")
        ):
            return None
        out += (raw_name, b": ", raw_value, b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


# -- both sides ----------------------------------------------------------------

#: The request headers the connection writes itself, from the Handshake's fields
#: and the protocol (RFC 6455 §4.1).
REQUEST_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "origin",
    }
)
#: The ``101`` response headers the connection writes itself (RFC 6455 §4.2.2).
RESPONSE_HEADERS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    }
)


def own_headers_checked(
    headers: Sequence[tuple[str, str]], written: frozenset[str], event: str
) -> Sequence[tuple[str, str]]:
    """*headers* of a sent :class:`Handshake` or :class:`Accept`, checked not to
    name a header the connection writes itself (*written*)."""
    for name, _ in headers:
        if name.lower() in written:
            raise LocalProtocolError(
                f"{event}.headers may not set {name!r}: the connection writes it"
                f" (from the {event}'s other fields)"
            )
    return headers


# -- client side ---------------------------------------------------------------


def build_request(event: Handshake, key: str, extension_offers: list[str]) -> h11.Request:
    """The client's upgrade request for *event* (RFC 6455 §4.1)."""
    headers: list[tuple[str, str]] = [
        ("Host", event.host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if event.origin is not None:
        headers.append(("Origin", event.origin))
    if event.subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(event.subprotocols)))
    if extension_offers:
        headers.append(("Sec-WebSocket-Extensions", ", ".join(extension_offers)))
    headers.extend(own_headers_checked(event.headers, REQUEST_HEADERS, "Handshake"))
    try:
        return h11.Request(method="GET", target=event.target, headers=to_h11_headers(headers))
    except h11.LocalProtocolError as exc:
        raise LocalProtocolError(f"invalid handshake request: {exc}") from None


def validate_response(
    response: h11.InformationalResponse, key: str, subprotocols: Sequence[str]
) -> tuple[str | None, list[tuple[str, Params]], Headers]:
    """Check a ``101`` response (RFC 6455 §4.1, the client's checks 1–6).

    Returns the chosen subprotocol, the accepted extensions (parsed) and the
    headers; the caller checks the extensions against its offers. Raises
    :class:`RemoteProtocolError` (``status`` set to the response's).
    """
    table = _HeaderTable(list(response.headers))
    status = response.status_code

    def fail(reason: str) -> RemoteProtocolError:
        return RemoteProtocolError(reason, status=status)

    if not _has_token(table.values("upgrade"), "websocket"):
        raise fail("the response's Upgrade header is not 'websocket'")
    if not _has_token(table.values("connection"), "upgrade"):
        raise fail("the response's Connection header does not contain 'Upgrade'")
    accepts = table.values("sec-websocket-accept")
    if len(accepts) != 1 or accepts[0].strip() != accept_key(key):
        raise fail("the response's Sec-WebSocket-Accept does not match the key sent")
    protocols = split_tokens(table.values("sec-websocket-protocol"))
    if len(protocols) > 1:
        raise fail("the server chose more than one subprotocol")
    chosen = protocols[0] if protocols else None
    if chosen is not None and chosen not in subprotocols:
        raise fail(f"the server chose subprotocol {chosen!r}, which was not offered")
    try:
        extensions = parse_extension_header(table.values("sec-websocket-extensions"))
    except ValueError as exc:
        raise fail(f"malformed Sec-WebSocket-Extensions in the response: {exc}") from None
    return chosen, extensions, table.pairs


def reason_phrase(status: int) -> str:
    """The standard reason phrase for *status* (``"Bad Request"`` for 400)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# -- the layers' common part ------------------------------------------------------


class HandshakeLayer:
    """What the server's and the client's handshake layers share: h11, the
    limits on a head, failing the handshake, and handing over to the frames.

    A layer lives while the connection is CONNECTING or REJECTING; the
    connection drops it (and h11 with its buffers) once the handshake
    succeeded.
    """

    def __init__(
        self, conn: Connection, role: type[h11.CLIENT] | type[h11.SERVER], max_size: int
    ) -> None:
        self._conn = conn
        self._h11 = h11.Connection(role, max_incomplete_event_size=max_size)
        # Server: where the request head read by parse_request_head ends in
        # h11's buffer, while h11 has not parsed it (see _h11_catch_up).
        self._h11_behind = 0

    def receive_data(self, data: bytes) -> None:
        """Give h11 bytes of the handshake (``b""``: end of stream)."""
        # h11 raises RuntimeError for data after EOF; ignored like all later input.
        with contextlib.suppress(RuntimeError):
            self._h11.receive_data(data)

    def _fail(self, reason: str, status: int | None) -> HandshakeFailed:
        self._conn._transition(Trigger.FAIL)
        self._conn._failed = True
        return HandshakeFailed(reason, status)

    def _head_problem(self, target: bytes, headers: Sequence[tuple[bytes, bytes]]) -> str:
        """Check a parsed request/response head against the handshake limits.

        h11 enforces ``max_incomplete_event_size`` only while a head is still
        incomplete; a head that arrives whole in one chunk is measured here.
        """
        conn = self._conn
        if len(headers) > conn.max_header_count:
            return f"too many headers (more than {conn.max_header_count})"
        size = len(target) + sum(len(n) + len(v) + 4 for n, v in headers)
        if size > conn.max_handshake_size:
            return f"the handshake is over the {conn.max_handshake_size}-byte limit"
        return ""

    def _open(self, sessions: list[ExtensionSession]) -> None:
        """The handshake succeeded: the bytes that followed it and the
        extension sessions go to the frame phase."""
        data, closed = self._h11.trailing_data
        if self._h11_behind:
            data = data[self._h11_behind :]  # what follows the request head
        self._conn._opened(sessions, bytes(data), closed)
