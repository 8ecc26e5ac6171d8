"""Tests of the opening handshake (RFC 6455 §4): wsproto_lite._handshake and the
handshake phase of Connection, client and server, at the byte and event level."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Connection,
    ConnectionState,
    Extension,
    ExtensionSession,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    LocalProtocolError,
    Opcode,
    Ping,
    Reject,
    RejectData,
    RemoteProtocolError,
    Role,
    TextMessage,
    accept_key,
)
from wsproto_lite._frames import serialize_frame
from wsproto_lite._handshake import (
    GUID,
    format_response_head,
    generate_key,
    parse_request_head,
    split_tokens,
)
from wsproto_lite.extensions import Params, format_extension_header, parse_extension_header
from wsproto_lite.testing import ConnectionPair

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
CLOSED = ConnectionState.CLOSED


# -- helpers -----------------------------------------------------------------------


def parse_head(data: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """Split an HTTP message into its start line, its headers (names lower-cased), its body."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no end of head in {data!r}"
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return lines[0], headers, body


def header(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n == name]


BASE_HEADERS = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", RFC_KEY),
    ("Sec-WebSocket-Version", "13"),
]


def request(
    *,
    line: str = "GET /chat HTTP/1.1",
    drop: tuple[str, ...] = (),
    replace: dict[str, str] | None = None,
    add: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
) -> bytes:
    """An upgrade request: the RFC's example, edited."""
    replace = replace or {}
    lines = [line]
    for name, value in BASE_HEADERS:
        if name in drop:
            continue
        lines.append(f"{name}: {replace.get(name, value)}")
    lines.extend(f"{n}: {v}" for n, v in add)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def server_receiving(data: bytes, **kwargs: object) -> Connection:
    server = Connection(Role.SERVER, **kwargs)  # type: ignore[arg-type]
    server.receive_data(data)
    return server


def assert_server_fails(data: bytes | list[bytes], status: int, **kwargs: object) -> bytes:
    """Feed *data* to a server; check it fails with *status*; return the response."""
    server = Connection(Role.SERVER, **kwargs)  # type: ignore[arg-type]
    for chunk in data if isinstance(data, list) else [data]:
        server.receive_data(chunk)
    events = list(server.events())
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, HandshakeFailed)
    assert event.status == status
    assert event.reason
    assert server.state is CLOSED
    assert server.should_close_transport
    out = server.data_to_send()
    start, headers, body = parse_head(out)
    assert start.startswith(f"HTTP/1.1 {status} ")
    assert header(headers, "connection") == ["close"]
    assert int(header(headers, "content-length")[0]) == len(body)
    # Nothing more happens: later input is ignored, no second response.
    server.receive_data(request())
    assert list(server.events()) == []
    assert server.data_to_send() == b""
    return out


def without_headers(event: object) -> object:
    """A received Handshake or Accept without its headers, to compare the rest."""
    if isinstance(event, (Handshake, Accept)):
        return dataclasses.replace(event, headers=())
    return event


def client_sent() -> tuple[Connection, str]:
    """A client that has sent its request; returns it and its key."""
    client = Connection(Role.CLIENT)
    client.send(Handshake(host="server.example.com", target="/chat", subprotocols=("chat",)))
    _, headers, _ = parse_head(client.data_to_send())
    return client, header(headers, "sec-websocket-key")[0]


def response_101(key: str, *, drop: tuple[str, ...] = (), add: tuple[str, ...] = ()) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols"]
    for name, value in [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]:
        if name not in drop:
            lines.append(f"{name}: {value}")
    lines.extend(add)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class NamedSession(ExtensionSession):
    """A session that claims RSV1 and transforms nothing."""

    rsv_mask = 0x40

    def inbound_frame(self, opcode: Opcode, rsv: int, *, starts_message: bool) -> bool:
        return False

    def inbound_data(self, data: bytes, final: bool, max_length: int) -> bytes:
        return data  # pragma: no cover - never transforms

    def outbound_message(self, opcode: Opcode, size_hint: int | None, transform: bool) -> int:
        return 0

    def outbound_data(self, data: bytes, final: bool) -> bytes:
        return data  # pragma: no cover - never transforms


class NamedExtension(Extension):
    """An extension that negotiates by name: offers ``params``, accepts the first offer."""

    def __init__(self, name: str, offers: list[Params] | None = None, refuse: bool = False):
        self.name = name
        self._offers = offers if offers is not None else [[]]
        self._refuse = refuse
        self.accepted_offers: list[list[Params]] = []
        self.finalized: list[Params] = []

    def offer(self) -> list[Params]:
        return self._offers

    def accept(self, offers: list[Params]) -> tuple[Params, ExtensionSession] | None:
        self.accepted_offers.append(offers)
        if self._refuse:
            return None
        return offers[0], NamedSession()

    def finalize(self, params: Params) -> ExtensionSession:
        if ("bad", None) in params:
            raise RemoteProtocolError("the server sent 'bad'")
        self.finalized.append(params)
        return NamedSession()


# -- accept key (RFC 6455 §1.3, §4.2.2) --------------------------------------------------


def test_accept_key_rfc_example() -> None:
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    assert accept_key(RFC_KEY.encode()) == RFC_ACCEPT


def test_guid() -> None:
    assert GUID == b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.mark.parametrize("key", ["AAAAAAAAAAAAAAAAAAAAAA==", "x3JJHMbDL1EzLkh9GBhXDw==", "abc"])
def test_accept_key_definition(key: str) -> None:
    expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    assert accept_key(key) == expected


def test_generate_key_is_fresh_16_bytes() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16
        assert len(key) == 24


# -- header helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([""], []),
        (["chat"], ["chat"]),
        (["chat, superchat"], ["chat", "superchat"]),
        (["a,b", "c"], ["a", "b", "c"]),
        ([" a ,, b ,"], ["a", "b"]),
    ],
)
def test_split_tokens(values: list[str], expected: list[str]) -> None:
    assert split_tokens(values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([""], []),
        (["foo"], [("foo", [])]),
        (["foo; bar"], [("foo", [("bar", None)])]),
        (["foo; bar=1"], [("foo", [("bar", "1")])]),
        (["foo;bar=1;baz"], [("foo", [("bar", "1"), ("baz", None)])]),
        (["  foo ;  a = 1 ; b "], [("foo", [("a", "1"), ("b", None)])]),
        (['foo; a="10"'], [("foo", [("a", "10")])]),
        (['foo; a="x\\yz"'], [("foo", [("a", "xyz")])]),
        (["foo, bar"], [("foo", []), ("bar", [])]),
        (["foo,, bar,"], [("foo", []), ("bar", [])]),
        (["foo; a=1", "foo; b"], [("foo", [("a", "1")]), ("foo", [("b", None)])]),
        (
            [
                "permessage-deflate; client_max_window_bits,"
                " permessage-deflate; server_max_window_bits=10; client_no_context_takeover"
            ],
            [
                ("permessage-deflate", [("client_max_window_bits", None)]),
                (
                    "permessage-deflate",
                    [("server_max_window_bits", "10"), ("client_no_context_takeover", None)],
                ),
            ],
        ),
        # Duplicates are kept for the extension to judge (RFC 7692 §7).
        (["foo; a=1; a=2"], [("foo", [("a", "1"), ("a", "2")])]),
    ],
)
def test_parse_extension_header(values: list[str], expected: list) -> None:
    assert parse_extension_header(values) == expected


@pytest.mark.parametrize(
    "value",
    [
        "foo bar",
        '"foo"',
        "foo;",
        "foo; ;a",
        "foo; =1",
        "foo; a=",
        "foo; a=b c",
        "foo; a=@",
        'foo; a="1,2"',
        'foo; a="un terminated',
        'foo; a="x\\"y"',
        "fo(o",
        "foo; a b=1",
        "; a",
    ],
)
def test_parse_extension_header_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        parse_extension_header([value])


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("foo", [], "foo"),
        ("foo", [("a", None)], "foo; a"),
        ("foo", [("a", None), ("b", "1")], "foo; a; b=1"),
        (
            "permessage-deflate",
            [("server_max_window_bits", "10")],
            "permessage-deflate; server_max_window_bits=10",
        ),
    ],
)
def test_format_extension_header(name: str, params: Params, expected: str) -> None:
    assert format_extension_header(name, params) == expected
    assert parse_extension_header([expected]) == [(name, params)]


# -- client request ----------------------------------------------------------------------


def test_client_request_has_every_required_header() -> None:
    client = Connection(Role.CLIENT)
    assert client.state is ConnectionState.CONNECTING
    client.send(Handshake(host="server.example.com", target="/chat?x=1"))
    start, headers, body = parse_head(client.data_to_send())
    assert start == "GET /chat?x=1 HTTP/1.1"
    assert body == b""
    assert header(headers, "host") == ["server.example.com"]
    assert header(headers, "upgrade") == ["websocket"]
    assert header(headers, "connection") == ["Upgrade"]
    assert header(headers, "sec-websocket-version") == ["13"]
    (key,) = header(headers, "sec-websocket-key")
    assert len(base64.b64decode(key, validate=True)) == 16
    for absent in ("sec-websocket-protocol", "sec-websocket-extensions", "origin"):
        assert header(headers, absent) == []
    assert client.state is ConnectionState.CONNECTING
    assert client.request == Handshake(host="server.example.com", target="/chat?x=1")


def test_client_key_is_fresh_each_time() -> None:
    keys = set()
    for _ in range(40):
        client = Connection(Role.CLIENT)
        client.send(Handshake(host="h"))
        _, headers, _ = parse_head(client.data_to_send())
        keys.add(header(headers, "sec-websocket-key")[0])
    assert len(keys) == 40


def test_client_request_optional_headers() -> None:
    client = Connection(Role.CLIENT, extensions=[NamedExtension("x-a", [[("p", "1")], []])])
    client.send(
        Handshake(
            host="example.com:8080",
            target="/",
            subprotocols=("chat", "superchat"),
            origin="http://example.com",
            headers=[("X-Token", "abc"), (b"X-Bytes", b"v")],
        )
    )
    data = client.data_to_send()
    start, headers, _ = parse_head(data)
    assert start == "GET / HTTP/1.1"
    assert header(headers, "host") == ["example.com:8080"]
    assert header(headers, "sec-websocket-protocol") == ["chat, superchat"]
    assert header(headers, "origin") == ["http://example.com"]
    assert header(headers, "sec-websocket-extensions") == ["x-a; p=1, x-a"]
    assert header(headers, "x-token") == ["abc"]
    assert header(headers, "x-bytes") == ["v"]


@pytest.mark.parametrize(
    ("configured", "requested", "expected"),
    [
        (["x-a", "x-b"], None, "x-a, x-b"),
        (["x-a", "x-b"], ("x-b",), "x-b"),
        (["x-a", "x-b"], (), None),
        ([], None, None),
    ],
)
def test_client_extension_offers(
    configured: list[str], requested: tuple[str, ...] | None, expected: str | None
) -> None:
    client = Connection(Role.CLIENT, extensions=[NamedExtension(n) for n in configured])
    client.send(Handshake(host="h", extensions=requested))
    _, headers, _ = parse_head(client.data_to_send())
    assert header(headers, "sec-websocket-extensions") == ([expected] if expected else [])


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "SEC-WEBSOCKET-VERSION",
        "Origin",  # even when the field is not set: it would mean two things
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
    ],
)
def test_client_headers_may_not_override_protocol_headers(name: str) -> None:
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError, match=r"Handshake\.headers may not set"):
        client.send(Handshake(host="h", headers=[(name, "x")]))
    assert client.data_to_send() == b""
    # Nothing was sent: a correct handshake may follow.
    client.send(Handshake(host="h"))
    assert client.data_to_send().startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": "h\r\nX-Injected: 1"},
        {"host": "h", "headers": [("X(bad)", "v")]},
        {"host": "h", "headers": [("X-Name", "a\r\nb")]},
        # RFC 6455 §4.1: subprotocol names are tokens.
        {"host": "h", "subprotocols": ("a b",)},
        {"host": "h", "subprotocols": ("a,b",)},
        {"host": "h", "subprotocols": ("",)},
        # Non-ASCII cannot go on the wire as-is: the application must encode it.
        {"host": "h", "target": "/caf\u00e9"},
        {"host": "h\u20ac"},
        {"host": "h", "origin": "http://\u20ac.example"},
        {"host": "h", "headers": [("X-Name", "\u00e9\u20ac")]},
    ],
    ids=[
        "crlf-host",
        "bad-header-name",
        "crlf-header-value",
        "space-in-subprotocol",
        "comma-in-subprotocol",
        "empty-subprotocol",
        "non-ascii-target",
        "non-latin1-host",
        "non-latin1-origin",
        "non-latin1-header",
    ],
)
def test_client_invalid_request_is_a_local_error(kwargs: dict) -> None:
    """Either the event refuses the value or send() does; nothing else is raised."""
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send(Handshake(**kwargs))
    assert client.data_to_send() == b""
    assert client.state is ConnectionState.CONNECTING
    client.send(Handshake(host="h"))
    assert client.data_to_send().startswith(b"GET / HTTP/1.1\r\n")


def test_client_cannot_send_handshake_twice() -> None:
    client = Connection(Role.CLIENT)
    client.send(Handshake(host="h"))
    with pytest.raises(LocalProtocolError):
        client.send(Handshake(host="h"))


def test_client_cannot_send_accept_or_reject() -> None:
    client, _ = client_sent()
    for event in (Accept(), Reject(403)):
        with pytest.raises(LocalProtocolError):
            client.send(event)
    assert client.data_to_send() == b""


def test_server_cannot_send_handshake() -> None:
    with pytest.raises(LocalProtocolError):
        Connection(Role.SERVER).send(Handshake(host="h"))


@pytest.mark.parametrize("event", [TextMessage("x"), BinaryMessage(b"x"), Ping(), Close()])
@pytest.mark.parametrize("role", [Role.CLIENT, Role.SERVER])
def test_nothing_but_handshake_events_while_connecting(role: Role, event: object) -> None:
    conn = Connection(role)
    with pytest.raises(LocalProtocolError):
        conn.send(event)  # type: ignore[arg-type]
    assert conn.data_to_send() == b""


def test_client_events_before_sending_are_empty() -> None:
    client = Connection(Role.CLIENT)
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    assert list(client.events()) == []


# -- server: valid requests ----------------------------------------------------------------


def test_server_receives_rfc_example() -> None:
    data = request(
        add=[
            ("Origin", "http://example.com"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("Sec-WebSocket-Extensions", "x-a; p=1, x-b"),
            ("Cookie", "a=b"),
            ("User-Agent", "test"),
        ]
    )
    server = server_receiving(data)
    events = list(server.events())
    assert events == [
        Handshake(
            host="server.example.com",
            target="/chat",
            subprotocols=("chat", "superchat"),
            extensions=("x-a", "x-b"),
            headers=(
                ("host", "server.example.com"),
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-key", RFC_KEY),
                ("sec-websocket-version", "13"),
                ("origin", "http://example.com"),
                ("sec-websocket-protocol", "chat, superchat"),
                ("sec-websocket-extensions", "x-a; p=1, x-b"),
                ("cookie", "a=b"),
                ("user-agent", "test"),
            ),
            origin="http://example.com",
        )
    ]
    event = events[0]
    assert server.request == event
    assert server.state is ConnectionState.CONNECTING
    # Nothing is answered until the application decides.
    assert server.data_to_send() == b""
    assert list(server.events()) == []


def test_server_accept_exact_bytes() -> None:
    server = server_receiving(request())
    assert isinstance(server.next_event(), Handshake)
    server.send(Accept())
    assert server.data_to_send() == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode() + b"\r\n\r\n"
    )
    assert server.state is ConnectionState.OPEN
    assert server.subprotocol is None
    assert server.negotiated_extensions == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Upgrade", "WebSocket"),
        ("Upgrade", "websocket, foo"),
        ("Connection", "keep-alive, Upgrade"),
        ("Connection", "upgrade"),
        ("Sec-WebSocket-Version", " 13 "),
    ],
)
def test_server_accepts_header_variants(name: str, value: str) -> None:
    server = server_receiving(request(replace={name: value}))
    assert isinstance(server.next_event(), Handshake)
    server.send(Accept())
    assert server.data_to_send().startswith(b"HTTP/1.1 101 ")


def test_server_request_in_one_byte_chunks() -> None:
    data = request(add=[("Sec-WebSocket-Protocol", "chat")])
    server = Connection(Role.SERVER)
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
        events = list(server.events())
        if i < len(data) - 1:
            assert events == []
    assert [without_headers(e) for e in events] == [
        Handshake(host="server.example.com", target="/chat", subprotocols=("chat",), extensions=())
    ]


def test_server_accept_with_subprotocol_and_headers() -> None:
    server = server_receiving(request(add=[("Sec-WebSocket-Protocol", "chat, superchat")]))
    server.next_event()
    server.send(Accept(subprotocol="superchat", headers=[("X-Server", "1")]))
    start, headers, _ = parse_head(server.data_to_send())
    assert start == "HTTP/1.1 101 Switching Protocols"
    assert header(headers, "sec-websocket-protocol") == ["superchat"]
    assert header(headers, "x-server") == ["1"]
    assert server.subprotocol == "superchat"


def test_server_accept_subprotocol_not_offered() -> None:
    server = server_receiving(request(add=[("Sec-WebSocket-Protocol", "chat")]))
    server.next_event()
    with pytest.raises(LocalProtocolError):
        server.send(Accept(subprotocol="superchat"))
    assert server.data_to_send() == b""
    assert server.state is ConnectionState.CONNECTING
    # The application can still answer properly.
    server.send(Accept(subprotocol="chat"))
    assert server.state is ConnectionState.OPEN


@pytest.mark.parametrize(
    "name",
    [
        "Upgrade",
        "connection",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
    ],
)
def test_server_accept_headers_may_not_override(name: str) -> None:
    server = server_receiving(request())
    server.next_event()
    with pytest.raises(LocalProtocolError, match=r"Accept\.headers may not set"):
        server.send(Accept(headers=[(name, "x")]))
    assert server.data_to_send() == b""
    assert server.state is ConnectionState.CONNECTING


def test_server_accept_invalid_header_is_local_error() -> None:
    server = server_receiving(request())
    server.next_event()
    with pytest.raises(LocalProtocolError):
        server.send(Accept(headers=[("X(bad)", "x")]))
    assert server.data_to_send() == b""


def test_server_cannot_accept_before_a_request() -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(LocalProtocolError):
        server.send(Accept())
    with pytest.raises(LocalProtocolError):
        server.send(Reject(403))
    assert server.data_to_send() == b""


def test_server_cannot_accept_twice() -> None:
    server = server_receiving(request())
    server.next_event()
    server.send(Accept())
    for event in (Accept(), Reject(500)):
        with pytest.raises(LocalProtocolError):
            server.send(event)


def test_server_reject_after_handshake() -> None:
    server = server_receiving(request())
    server.next_event()
    server.send(Reject(403, [("Content-Type", "text/plain")], b"go away"))
    assert server.data_to_send() == (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
        b"Connection: close\r\n\r\ngo away"
    )
    assert server.state is CLOSED
    assert server.should_close_transport


def test_server_streamed_reject() -> None:
    server = server_receiving(request())
    server.next_event()
    server.send(Reject(503, body=b"a", final=False))
    assert server.state is ConnectionState.REJECTING
    with pytest.raises(LocalProtocolError, match="RejectData"):
        server.send(Reject(503, body=b"b"))  # a second head
    server.send(RejectData(b""))  # an empty part... with final=True ends it
    assert server.state is CLOSED
    assert server.data_to_send() == (
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
    )
    with pytest.raises(LocalProtocolError):
        server.send(RejectData(b"late"))


def test_reject_data_only_continues_a_streamed_reject() -> None:
    server = server_receiving(request())
    with pytest.raises(LocalProtocolError, match="state CONNECTING"):
        server.send(RejectData(b"x"))
    server.next_event()
    server.send(Accept())
    with pytest.raises(LocalProtocolError, match="state OPEN"):
        server.send(RejectData(b"x"))
    client, _ = client_sent()
    with pytest.raises(LocalProtocolError, match="a client receives RejectData"):
        client.send(RejectData(b"x"))


@pytest.mark.parametrize("head", [b"", b"abc"])
def test_streamed_reject_longer_than_content_length_is_refused_and_changes_nothing(
    head: bytes,
) -> None:
    # The embedding gap: h11's error escaped and left the connection stuck.
    server = server_receiving(request())
    server.next_event()
    server.send(Reject(404, [("Content-Length", "5")], head, final=False))
    sent = server.data_to_send()
    assert sent.startswith(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n")
    with pytest.raises(LocalProtocolError, match="Content-Length"):
        server.send(RejectData(b"123456", final=False))
    with pytest.raises(LocalProtocolError, match="Content-Length"):
        server.send(RejectData(b"1", final=True))  # too short to end it
    assert server.data_to_send() == b""
    assert server.state is ConnectionState.REJECTING
    rest = b"12345"[len(head) :]
    server.send(RejectData(rest[:1], final=False))
    server.send(RejectData(rest[1:], final=True))
    assert server.data_to_send() == rest
    assert server.state is CLOSED
    assert server.should_close_transport


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Length", "x")],
        [("Content-Length", "²")],
        [("Content-Length", "1"), ("Content-Length", "2")],
        [("Content-Length", "1"), ("Transfer-Encoding", "chunked")],
    ],
)
def test_reject_with_invalid_framing_headers_is_refused(headers: list[tuple[str, str]]) -> None:
    server = server_receiving(request())
    server.next_event()
    with pytest.raises(LocalProtocolError):
        server.send(Reject(400, headers, b"", final=False))
    assert server.data_to_send() == b""
    server.send(Reject(400))  # still answerable
    assert server.data_to_send().startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_server_streamed_reject_many_parts_reach_client() -> None:
    pair = ConnectionPair()
    pair.client.send(Handshake(host="h"))
    pair.deliver_to_server()
    pair.server.send(Reject(404, [("X-A", "b")], b"one ", final=False))
    pair.server.send(RejectData(b"two ", final=False))
    pair.server.send(RejectData(b"three", final=True))
    events = pair.deliver_to_client()
    head = events[0]
    assert isinstance(head, Reject)
    assert (head.status, head.final) == (404, False)
    assert ("x-a", "b") in head.headers
    assert all(isinstance(e, RejectData) for e in events[1:])
    assert b"".join(e.body for e in events) == b"one two three"  # type: ignore[attr-defined]
    assert [e.final for e in events][-1] is True  # type: ignore[attr-defined]
    assert all(not e.final for e in events[:-1])  # type: ignore[attr-defined]
    assert pair.client.state is CLOSED


def test_server_reject_with_connection_header_keeps_it() -> None:
    server = server_receiving(request())
    server.next_event()
    server.send(Reject(400, [("Connection", "close"), ("Content-Length", "0")]))
    _, headers, _ = parse_head(server.data_to_send())
    assert header(headers, "connection") == ["close"]
    assert header(headers, "content-length") == ["0"]


def test_server_reject_invalid_header_is_local_error() -> None:
    server = server_receiving(request())
    server.next_event()
    with pytest.raises(LocalProtocolError):
        server.send(Reject(400, [("Bad Name", "x")]))


# -- server: malformed requests ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (request(line="POST /chat HTTP/1.1"), 400),
        (request(line="PUT /chat HTTP/1.1", add=[("Content-Length", "0")]), 400),
        (request(line="GET /chat HTTP/1.0"), 400),
        (request(drop=("Host",)), 400),
        (request(add=[("Host", "other.example.com")]), 400),
        (request(drop=("Sec-WebSocket-Key",)), 400),
        (request(add=[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]), 400),
        (request(replace={"Sec-WebSocket-Key": base64.b64encode(b"x" * 15).decode()}), 400),
        (request(replace={"Sec-WebSocket-Key": base64.b64encode(b"x" * 17).decode()}), 400),
        (request(replace={"Sec-WebSocket-Key": "not base64 at all!!!!!=="}), 400),
        (request(replace={"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}), 400),
        (request(replace={"Sec-WebSocket-Key": "\u00e9" * 24}), 400),
        (request(replace={"Sec-WebSocket-Key": ""}), 400),
        (request(drop=("Connection",)), 400),
        (request(replace={"Connection": "keep-alive"}), 400),
        (request(replace={"Upgrade": "h2c"}), 400),
        (request(replace={"Upgrade": ""}), 400),
        (request(replace={"Host": ""}), 400),
        (request(add=[("Sec-WebSocket-Protocol", "chat, a b")]), 400),
        (request(add=[("Sec-WebSocket-Protocol", "a/b")]), 400),
        (
            request(add=[("Transfer-Encoding", "chunked")]) + b"zz\r\nnot a chunk\r\n",
            400,
        ),
        (request(drop=("Sec-WebSocket-Version",)), 400),
        (request(add=[("Sec-WebSocket-Extensions", "foo bar")]), 400),
        (request(add=[("Sec-WebSocket-Extensions", 'x; a="unterminated')]), 400),
        (request(add=[("Content-Length", "5")]) + b"hello", 400),
        (b"\x00\x01\x02garbage\r\n\r\n", 400),
        (b"GET /chat\r\n\r\n", 400),
        (b"GET /chat HTTP/1.1\r\nHost server.example.com\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400),
    ],
    ids=[
        "post",
        "put",
        "http-1.0",
        "no-host",
        "two-hosts",
        "no-key",
        "two-keys",
        "key-15-bytes",
        "key-17-bytes",
        "key-not-base64",
        "key-unpadded",
        "key-non-ascii",
        "key-empty",
        "no-connection",
        "connection-without-upgrade",
        "upgrade-h2c",
        "upgrade-empty",
        "empty-host",
        "subprotocol-with-space",
        "subprotocol-with-slash",
        "bad-chunked-body",
        "no-version",
        "bad-extensions",
        "unterminated-extension",
        "body",
        "garbage",
        "http-0.9",
        "header-without-colon",
        "tls-client-hello",
    ],
)
def test_server_malformed_request(data: bytes, status: int) -> None:
    assert_server_fails(data, status)


@pytest.mark.parametrize("version", ["8", "12", "14", "13, 8", "abc"])
def test_server_wrong_version_is_426(version: str) -> None:
    out = assert_server_fails(request(replace={"Sec-WebSocket-Version": version}), 426)
    _, headers, _ = parse_head(out)
    assert header(headers, "sec-websocket-version") == ["13"]


def test_server_two_version_headers_is_426() -> None:
    out = assert_server_fails(request(add=[("Sec-WebSocket-Version", "8")]), 426)
    _, headers, _ = parse_head(out)
    assert header(headers, "sec-websocket-version") == ["13"]


@pytest.mark.parametrize("chunked", [False, True])
def test_server_request_over_64_kib_is_431(chunked: bool) -> None:
    data = request(add=[("X-Big", "a" * 70_000)])
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)] if chunked else [data]
    assert_server_fails(chunks, 431)


def test_server_request_under_limit_is_fine() -> None:
    server = server_receiving(request(add=[("X-Big", "a" * 60_000)]))
    assert isinstance(server.next_event(), Handshake)


def test_server_endless_head_is_431_before_it_ends() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(b"GET /chat HTTP/1.1\r\nX-Big: ")
    assert list(server.events()) == []
    for _ in range(20):
        server.receive_data(b"a" * 4096)
    events = list(server.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert events[0].status == 431  # type: ignore[attr-defined]


def test_server_handshake_size_is_configurable() -> None:
    assert_server_fails(request(add=[("X-Big", "a" * 300)]), 431, max_handshake_size=256)


def test_server_too_many_headers_is_431() -> None:
    headers = [(f"X-H{i}", "v") for i in range(200)]
    assert_server_fails(request(add=headers), 431)


def test_server_header_count_is_configurable() -> None:
    data = request(add=[(f"X-H{i}", "v") for i in range(10)])
    assert_server_fails(data, 431, max_header_count=10)
    server = server_receiving(data, max_header_count=15)
    assert isinstance(server.next_event(), Handshake)


def test_server_absolute_form_target_never_raises() -> None:
    """RFC 7230 §5.3.2: a server must accept the absolute form. Whatever the
    outcome, peer input must not raise out of events()."""
    server = server_receiving(request(line="GET http://server.example.com/chat HTTP/1.1"))
    events = list(server.events())
    assert len(events) == 1
    if isinstance(events[0], HandshakeFailed):
        assert events[0].status == 400
        assert server.data_to_send().startswith(b"HTTP/1.1 400 ")
    else:
        assert isinstance(events[0], Handshake)


def test_server_eof_before_any_request() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(b"")
    events = list(server.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert events[0].status is None  # type: ignore[attr-defined]
    assert server.state is CLOSED
    assert server.should_close_transport
    assert server.data_to_send() == b""
    assert list(server.events()) == []


def test_server_eof_in_the_middle_of_a_request() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(b"GET /chat HTTP/1.1\r\nHost: x\r\n")
    assert list(server.events()) == []
    server.receive_data(b"")
    events = list(server.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert server.state is CLOSED
    assert server.should_close_transport
    status = events[0].status  # type: ignore[attr-defined]
    out = server.data_to_send()
    # Answering the half-closed client is optional; if it is answered, with 400.
    assert status in (None, 400)
    assert out == b"" if status is None else out.startswith(b"HTTP/1.1 400 ")
    assert list(server.events()) == []


@pytest.mark.parametrize(
    ("data", "what"),
    [(request(), "handshake"), (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP request")],
)
def test_server_eof_while_app_decides_is_reported(data: bytes, what: str) -> None:
    # An ASGI application answers from another task, seconds later: the
    # peer's hang-up in between is an event, and answering later is refused.
    server = server_receiving(data)
    assert isinstance(server.next_event(), (Handshake, HTTPRequest))
    server.receive_data(b"")
    events = list(server.events())
    assert events == [
        HandshakeFailed(f"the client closed the connection before its {what} was answered")
    ]
    assert server.state is CLOSED
    assert server.should_close_transport
    for answer in (Accept(), Reject(403)):
        with pytest.raises(LocalProtocolError, match="went away"):
            server.send(answer)
    assert server.data_to_send() == b""
    assert list(server.events()) == []


def test_server_eof_after_answer_is_the_usual_1006() -> None:
    server = server_receiving(request())
    assert isinstance(server.next_event(), Handshake)
    server.send(Accept())
    server.receive_data(b"")
    events = list(server.events())
    assert [(type(e), getattr(e, "code", None)) for e in events] == [(Close, 1006)]


def test_server_eof_before_the_app_takes_the_handshake_still_delivers_it() -> None:
    # Nothing fully received is lost: the request comes first, then the hang-up.
    server = server_receiving(request())
    server.receive_data(b"")
    events = list(server.events())
    assert [type(e) for e in events] == [Handshake, HandshakeFailed]


# -- server: plain HTTP ------------------------------------------------------------------------


def test_plain_http_request_answered_with_200() -> None:
    server = server_receiving(
        b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n"
    )
    event = server.next_event()
    assert event == HTTPRequest(
        method="GET",
        target="/index.html",
        headers=(("host", "example.com"), ("accept", "text/html")),
    )
    server.send(Reject(200, [("Content-Type", "text/html")], b"<h1>hi</h1>"))
    assert server.data_to_send() == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n"
        b"Connection: close\r\n\r\n<h1>hi</h1>"
    )
    assert server.state is CLOSED
    assert server.should_close_transport
    assert server.next_event() is None
    assert server.data_to_send() == b""


def test_plain_http_request_unanswered_gets_426() -> None:
    server = server_receiving(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    events = list(server.events())  # asking for the next event means "not answering"
    assert [type(e) for e in events] == [HTTPRequest]
    out = server.data_to_send()
    start, headers, body = parse_head(out)
    assert start == "HTTP/1.1 426 Upgrade Required"
    assert header(headers, "upgrade") == ["websocket"]
    assert header(headers, "connection") == ["close"]
    assert int(header(headers, "content-length")[0]) == len(body)
    assert server.state is CLOSED
    assert server.should_close_transport
    with pytest.raises(LocalProtocolError):
        server.send(Reject(200))


def test_plain_http_request_cannot_be_accepted() -> None:
    server = server_receiving(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert isinstance(server.next_event(), HTTPRequest)
    with pytest.raises(LocalProtocolError):
        server.send(Accept())
    assert server.data_to_send() == b""
    server.send(Reject(404))
    assert server.data_to_send().startswith(b"HTTP/1.1 404 Not Found\r\n")


@pytest.mark.parametrize(
    ("data", "method", "target"),
    [
        (b"POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", "POST", "/api"),
        (b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*"),
        (b"GET / HTTP/1.0\r\n\r\n", "GET", "/"),
    ],
)
def test_plain_http_request_methods(data: bytes, method: str, target: str) -> None:
    server = server_receiving(data)
    event = server.next_event()
    assert isinstance(event, HTTPRequest)
    assert (event.method, event.target) == (method, target)
    server.send(Reject(405, body=b"no"))
    out = server.data_to_send()
    assert out.startswith(b"HTTP/1.1 405 ")
    assert out.endswith(b"\r\n\r\nno")
    assert server.state is CLOSED


def test_plain_http_head_request_answer_with_body() -> None:
    """RFC 9110 §9.3.2: no content in a response to HEAD. Either the body is
    dropped, or the mistake is a LocalProtocolError with nothing queued and
    the connection still able to answer (the error contract)."""
    server = server_receiving(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert isinstance(server.next_event(), HTTPRequest)
    try:
        server.send(Reject(405, body=b"no"))
    except LocalProtocolError:
        assert server.data_to_send() == b""
        assert server.state is ConnectionState.CONNECTING
        server.send(Reject(405))
    out = server.data_to_send()
    assert out.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert out.endswith(b"\r\n\r\n")
    assert server.state is CLOSED


def test_plain_http_streamed_answer() -> None:
    server = server_receiving(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
    server.next_event()
    server.send(Reject(200, body=b"part1", final=False))
    assert server.state is ConnectionState.REJECTING
    assert list(server.events()) == []
    server.send(RejectData(b"part2"))
    assert server.state is CLOSED
    out = server.data_to_send()
    assert out.endswith(b"5\r\npart1\r\n5\r\npart2\r\n0\r\n\r\n")


# -- client: response validation -------------------------------------------------------------


def test_client_accepts_valid_response() -> None:
    client, key = client_sent()
    client.receive_data(response_101(key, add=("Sec-WebSocket-Protocol: chat", "X-Server: yes")))
    events = list(client.events())
    (accept,) = events
    assert isinstance(accept, Accept)
    assert (accept.subprotocol, accept.extensions) == ("chat", ())
    assert accept.headers == (
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-accept", accept_key(key)),
        ("sec-websocket-protocol", "chat"),
        ("x-server", "yes"),
    )
    assert client.state is ConnectionState.OPEN
    assert client.subprotocol == "chat"
    assert not client.should_close_transport


def test_client_response_in_one_byte_chunks() -> None:
    client, key = client_sent()
    data = response_101(key)
    for i in range(len(data)):
        client.receive_data(data[i : i + 1])
        events = list(client.events())
        if i < len(data) - 1:
            assert events == []
    assert [without_headers(e) for e in events] == [Accept(extensions=())]


def test_client_ignores_interim_responses() -> None:
    client, key = client_sent()
    client.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n" + response_101(key))
    assert [type(e) for e in client.events()] == [Accept]


@pytest.mark.parametrize(
    "response",
    [
        lambda key: response_101("AAAAAAAAAAAAAAAAAAAAAA=="),
        lambda key: response_101(key, drop=("Sec-WebSocket-Accept",)),
        lambda key: response_101(key, add=(f"Sec-WebSocket-Accept: {accept_key(key)}",)),
        lambda key: response_101(key, drop=("Upgrade",)),
        lambda key: response_101(key, drop=("Connection",)),
        lambda key: response_101(key, drop=("Upgrade",), add=("Upgrade: h2c",)),
        lambda key: response_101(key, drop=("Connection",), add=("Connection: keep-alive",)),
        lambda key: response_101(key, add=("Sec-WebSocket-Protocol: superchat",)),
        lambda key: response_101(key, add=("Sec-WebSocket-Protocol: chat, superchat",)),
        lambda key: response_101(key, add=("Sec-WebSocket-Extensions: x-unknown",)),
        lambda key: response_101(key, add=("Sec-WebSocket-Extensions: bad ext",)),
    ],
    ids=[
        "wrong-accept",
        "no-accept",
        "two-accepts",
        "no-upgrade",
        "no-connection",
        "upgrade-h2c",
        "connection-keep-alive",
        "subprotocol-not-offered",
        "two-subprotocols",
        "unknown-extension",
        "malformed-extension",
    ],
)
def test_client_rejects_invalid_101(response: object) -> None:
    client, key = client_sent()
    client.receive_data(response(key))  # type: ignore[operator]
    events = list(client.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert events[0].status == 101  # type: ignore[attr-defined]
    assert client.state is CLOSED
    assert client.should_close_transport
    assert client.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        client.send(TextMessage("x"))


def test_client_too_many_headers_in_101() -> None:
    client = Connection(Role.CLIENT, max_header_count=5)
    client.send(Handshake(host="h"))
    _, headers, _ = parse_head(client.data_to_send())
    key = header(headers, "sec-websocket-key")[0]
    client.receive_data(response_101(key, add=tuple(f"X-{i}: v" for i in range(5))))
    events = list(client.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert client.state is CLOSED


@pytest.mark.parametrize(
    "data",
    [b"garbage\r\n\r\n", b"HTTP/1.1 abc Nope\r\n\r\n", b"\x00\x01\x02\x03\r\n\r\n"],
)
def test_client_invalid_http_response(data: bytes) -> None:
    client, _ = client_sent()
    client.receive_data(data)
    events = list(client.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert events[0].status is None  # type: ignore[attr-defined]
    assert client.state is CLOSED


@pytest.mark.parametrize("data", [b"", b"HTTP/1.1 101 Switching"])
def test_client_eof_during_handshake(data: bytes) -> None:
    client, _ = client_sent()
    if data:
        client.receive_data(data)
        assert list(client.events()) == []
    client.receive_data(b"")
    events = list(client.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert client.state is CLOSED
    assert client.should_close_transport
    assert list(client.events()) == []


def test_client_eof_before_sending() -> None:
    client = Connection(Role.CLIENT)
    client.receive_data(b"")
    assert list(client.events()) == []


# -- client: rejections ------------------------------------------------------------------------


def test_client_reject_whole_body() -> None:
    client, _ = client_sent()
    client.receive_data(
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ngo away"
    )
    events = list(client.events())
    assert events == [
        Reject(403, (("content-type", "text/plain"), ("content-length", "7")), b"go away", True)
    ]
    assert client.state is CLOSED
    assert client.should_close_transport


def test_client_reject_empty_body() -> None:
    client, _ = client_sent()
    client.receive_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert list(client.events()) == [Reject(404, (("content-length", "0"),), b"", True)]
    assert client.state is CLOSED


def test_client_reject_chunked_body_in_parts() -> None:
    client, _ = client_sent()
    client.receive_data(
        b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    events = list(client.events())
    assert events == [
        Reject(500, (("transfer-encoding", "chunked"),), b"hello", False),
        RejectData(b" world", True),
    ]
    assert client.state is CLOSED


def test_client_reject_body_across_receive_calls() -> None:
    client, _ = client_sent()
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n01234")
    first = list(client.events())
    assert first == [Reject(403, (("content-length", "10"),), b"01234", False)]
    assert client.state is ConnectionState.REJECTING
    assert not client.should_close_transport
    client.receive_data(b"567")
    client.receive_data(b"89")
    rest = list(client.events())
    assert all(isinstance(e, RejectData) for e in rest)
    assert b"".join(e.body for e in rest) == b"56789"  # type: ignore[attr-defined]
    assert rest[-1].final and not any(e.final for e in rest[:-1])  # type: ignore[attr-defined]
    assert client.state is CLOSED


def test_client_reject_head_split_from_body() -> None:
    client, _ = client_sent()
    client.receive_data(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\n")
    assert list(client.events()) == []  # the head alone gives nothing yet... or a part
    client.receive_data(b"abc")
    events = list(client.events())
    assert b"".join(e.body for e in events) == b"abc"  # type: ignore[attr-defined]
    assert events[-1].final  # type: ignore[attr-defined]
    assert events[0].status == 401  # type: ignore[attr-defined]


def test_client_reject_body_until_eof() -> None:
    client, _ = client_sent()
    client.receive_data(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\npartial")
    events = list(client.events())
    assert [(e.body, e.final) for e in events] == [(b"partial", False)]  # type: ignore[attr-defined]
    client.receive_data(b" body")
    client.receive_data(b"")
    events = list(client.events())
    assert b"".join(e.body for e in events) == b" body"  # type: ignore[attr-defined]
    assert events[-1].final  # type: ignore[attr-defined]
    assert client.state is CLOSED


def test_client_reject_truncated_by_eof() -> None:
    client, _ = client_sent()
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n01234")
    list(client.events())
    client.receive_data(b"")
    events = list(client.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert client.state is CLOSED


@pytest.mark.parametrize("status", [600, 999])
def test_client_out_of_range_status_never_raises(status: int) -> None:
    """Peer input never raises: a status outside 100..599 (RFC 9110 §15) is an
    invalid response, reported as HandshakeFailed (or a Reject)."""
    client, _ = client_sent()
    client.receive_data(f"HTTP/1.1 {status} Weird\r\nContent-Length: 0\r\n\r\n".encode())
    events = list(client.events())
    assert len(events) == 1
    assert isinstance(events[0], (HandshakeFailed, Reject))
    assert client.state is CLOSED


# -- bytes after the handshake are not lost -------------------------------------------------


def test_client_frames_in_same_chunk_as_101() -> None:
    client, key = client_sent()
    frames = (
        serialize_frame(Opcode.TEXT, b"hello")
        + serialize_frame(Opcode.PING, b"p")
        + serialize_frame(Opcode.BINARY, b"\x00\x01")
    )
    client.receive_data(response_101(key) + frames)
    events = [without_headers(e) for e in client.events()]
    assert events == [
        Accept(extensions=()),
        TextMessage("hello"),
        Ping(b"p"),
        BinaryMessage(b"\x00\x01"),
    ]


def test_client_frames_in_later_chunk_before_events_are_read() -> None:
    client, key = client_sent()
    client.receive_data(response_101(key))
    client.receive_data(serialize_frame(Opcode.TEXT, b"hi"))
    assert [without_headers(e) for e in client.events()] == [
        Accept(extensions=()),
        TextMessage("hi"),
    ]


def test_client_frames_and_eof_with_101() -> None:
    client, key = client_sent()
    client.receive_data(response_101(key) + serialize_frame(Opcode.TEXT, b"bye"))
    client.receive_data(b"")
    events = [without_headers(e) for e in client.events()]
    assert events[:2] == [Accept(extensions=()), TextMessage("bye")]
    assert events[2] == Close(1006, events[2].reason, failed=True)  # type: ignore[attr-defined]
    assert client.state is CLOSED


def test_client_close_frame_with_101() -> None:
    client, key = client_sent()
    client.receive_data(response_101(key) + serialize_frame(Opcode.CLOSE, b"\x03\xe8"))
    events = [without_headers(e) for e in client.events()]
    assert events == [Accept(extensions=()), Close(1000, "")]
    assert client.state is CLOSED


def masked(opcode: Opcode, payload: bytes) -> bytes:
    return serialize_frame(opcode, payload, mask=True)


def test_server_frames_in_same_chunk_as_request() -> None:
    server = server_receiving(request() + masked(Opcode.TEXT, b"early") + masked(Opcode.PING, b"x"))
    assert isinstance(server.next_event(), Handshake)
    assert server.next_event() is None  # waits for the answer
    server.send(Accept())
    response = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 101 ")
    assert list(server.events()) == [TextMessage("early"), Ping(b"x")]
    assert server.data_to_send() == serialize_frame(Opcode.PONG, b"x")


def test_server_frames_arriving_before_accept() -> None:
    server = server_receiving(request())
    assert isinstance(server.next_event(), Handshake)
    server.receive_data(masked(Opcode.TEXT, b"one"))
    server.receive_data(masked(Opcode.TEXT, b"two"))
    assert list(server.events()) == []
    server.send(Accept())
    assert list(server.events()) == [TextMessage("one"), TextMessage("two")]


def test_server_bad_frame_after_request_fails_after_accept() -> None:
    server = server_receiving(request() + serialize_frame(Opcode.TEXT, b"unmasked"))
    server.next_event()
    server.send(Accept())
    server.data_to_send()
    events = list(server.events())
    assert events == [Close(1002, events[0].reason, failed=True)]  # type: ignore[attr-defined]
    assert (
        server.data_to_send()[:4]
        == b"\x88" + bytes([2 + len(events[0].reason.encode())]) + b"\x03\xea"
    )  # type: ignore[attr-defined]


# -- extension negotiation ------------------------------------------------------------------


def test_extension_negotiation_round_trip() -> None:
    ext_client = NamedExtension("x-a", [[("p", "1")], []])
    ext_server = NamedExtension("x-a")
    pair = ConnectionPair(
        Connection(Role.CLIENT, extensions=[ext_client]),
        Connection(Role.SERVER, extensions=[ext_server, NamedExtension("x-unused")]),
    )
    pair.client.send(Handshake(host="h"))
    (handshake,) = pair.deliver_to_server()
    assert isinstance(handshake, Handshake)
    assert handshake.extensions == ("x-a",)  # the names offered, each once
    assert ("sec-websocket-extensions", "x-a; p=1, x-a") in handshake.headers
    pair.server.send(Accept())
    assert ext_server.accepted_offers == [[[("p", "1")], []]]
    assert pair.server.negotiated_extensions == ("x-a; p=1",)
    (accept,) = pair.deliver_to_client()
    assert without_headers(accept) == Accept(extensions=("x-a",))
    assert ext_client.finalized == [[("p", "1")]]
    assert pair.client.negotiated_extensions == ("x-a; p=1",)


def test_server_declines_extensions() -> None:
    pair = ConnectionPair(
        Connection(Role.CLIENT, extensions=[NamedExtension("x-a")]),
        Connection(Role.SERVER, extensions=[NamedExtension("x-a", refuse=True)]),
    )
    pair.client.send(Handshake(host="h"))
    pair.deliver_to_server()
    pair.server.send(Accept())
    _, headers, _ = parse_head(pair.server.data_to_send())
    assert header(headers, "sec-websocket-extensions") == []


def test_server_accept_limits_extensions() -> None:
    server = Connection(Role.SERVER, extensions=[NamedExtension("x-a"), NamedExtension("x-b")])
    server.receive_data(request(add=[("Sec-WebSocket-Extensions", "x-a, x-b")]))
    server.next_event()
    server.send(Accept(extensions=("x-b",)))
    _, headers, _ = parse_head(server.data_to_send())
    assert header(headers, "sec-websocket-extensions") == ["x-b"]
    assert server.negotiated_extensions == ("x-b",)


@pytest.mark.parametrize(
    ("offered", "accepted_header"),
    [
        (["x-a"], "x-b"),  # not offered
        (["x-a"], "x-a, x-a"),  # accepted twice
        (["x-a"], "x-a; bad"),  # finalize refuses
        ([], "x-a"),  # nothing offered
    ],
)
def test_client_rejects_bad_extension_answers(offered: list[str], accepted_header: str) -> None:
    client = Connection(
        Role.CLIENT, extensions=[NamedExtension(n) for n in offered] + [NamedExtension("x-b")]
    )
    client.send(Handshake(host="h", extensions=tuple(offered)))
    _, headers, _ = parse_head(client.data_to_send())
    key = header(headers, "sec-websocket-key")[0]
    client.receive_data(response_101(key, add=(f"Sec-WebSocket-Extensions: {accepted_header}",)))
    events = list(client.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert events[0].status == 101  # type: ignore[attr-defined]
    assert client.state is CLOSED


# -- the ConnectionPair helper ------------------------------------------------------------------


def test_connection_pair_open() -> None:
    pair = ConnectionPair.open(
        handshake=Handshake(host="h", subprotocols=("a", "b")), accept=Accept(subprotocol="b")
    )
    assert pair.client.state is ConnectionState.OPEN
    assert pair.server.state is ConnectionState.OPEN
    assert pair.client.subprotocol == pair.server.subprotocol == "b"


def test_client_too_many_headers_in_rejection() -> None:
    client = Connection(Role.CLIENT, max_header_count=3)
    client.send(Handshake(host="h"))
    client.data_to_send()
    client.receive_data(
        b"HTTP/1.1 403 Forbidden\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n"
    )
    events = list(client.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert events[0].status == 403  # type: ignore[attr-defined]
    assert client.state is CLOSED


def test_client_rejection_with_broken_chunked_body() -> None:
    client, _ = client_sent()
    client.receive_data(
        b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
    )
    events = list(client.events())
    assert isinstance(events[-1], HandshakeFailed)
    assert all(isinstance(e, Reject) for e in events[:-1])
    assert client.state is CLOSED
    assert client.should_close_transport


@pytest.mark.parametrize(("status", "phrase"), [(299, "Error"), (418, "I'm a Teapot")])
def test_reject_reason_phrase(status: int, phrase: str) -> None:
    server = server_receiving(request())
    server.next_event()
    server.send(Reject(status))
    start, _, _ = parse_head(server.data_to_send())
    assert start.lower() == f"HTTP/1.1 {status} {phrase}".lower()


def _server_with_plain_request() -> Connection:
    server = Connection(Role.SERVER)
    server.receive_data(b"GET /page HTTP/1.1\r\nHost: example.com\r\n\r\n")
    events = server.events()
    assert isinstance(next(events), HTTPRequest)
    return server


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Length", "3")],  # the body has 5 bytes
        [("Content-Length", "5"), ("Content-Length", "6")],
        [("Transfer-Encoding", "gzip")],
        [("Transfer-Encoding", "chunked, gzip")],
    ],
)
def test_reject_with_inconsistent_framing_headers_is_refused_before_queuing(
    headers: list[tuple[str, str]],
) -> None:
    server = _server_with_plain_request()
    with pytest.raises(LocalProtocolError):
        server.send(Reject(200, headers, b"hello"))
    # Nothing was queued and the application can still answer properly.
    assert server.data_to_send() == b""
    server.send(Reject(200, [("Content-Type", "text/plain")], b"hello"))
    response = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 5\r\n" in response.lower()
    assert response.endswith(b"\r\n\r\nhello")


def test_reject_with_explicit_matching_content_length_is_sent_as_is() -> None:
    server = _server_with_plain_request()
    server.send(Reject(200, [("Content-Length", "5")], b"hello"))
    response = server.data_to_send()
    assert response.lower().count(b"content-length") == 1
    assert response.endswith(b"hello")


# -- the fast request parser and response writer say what h11 says ------------------------
#
# A server parses a plain upgrade request that arrives whole with
# parse_request_head instead of h11, and writes its 101 response itself. Both
# must agree with h11 byte for byte whenever they take a request or a response
# (everything else goes to h11): checked here on hand-picked cases and on
# generated ones, and at the connection level against a server that gets the
# same bytes in two reads (which always goes through h11).


def h11_parse(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], bytes] | None:
    """(target, headers, what follows) as h11 reads a request with no body, else None."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    try:
        request_event = conn.next_event()
        end = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(request_event, h11.Request) or not isinstance(end, h11.EndOfMessage):
        return None
    if request_event.method != b"GET" or request_event.http_version != b"1.1":
        return None
    headers = [(bytes(n), bytes(v)) for n, v in request_event.headers]
    return bytes(request_event.target), headers, conn.trailing_data[0]


def check_like_h11(data: bytes) -> bool:
    """parse_request_head agrees with h11 on *data*, if it takes it at all."""
    fast = parse_request_head(data)
    if fast is None:
        return False
    target, headers, end = fast
    assert h11_parse(data) == (target, headers, data[end:]), data
    return True


FAST_REQUESTS = [
    request(),
    request(line="GET / HTTP/1.1"),
    request(line="GET /a/b?c=d&e=%20#f HTTP/1.1"),
    request(add=[("X-Empty", ""), ("X-Spaces", "a  b\tc"), ("X-Latin", "caf\xe9")]),
    request(replace={"Host": "  padded  \t"}),
    request(add=[("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "superchat")]),
    request() + b"\x81\x85frames after the head",
]
DECLINED_REQUESTS = [
    request()[:-1],  # incomplete
    b"\r\n" + request(),  # a leading empty line
    request(line="POST /chat HTTP/1.1"),
    request(line="get /chat HTTP/1.1"),
    request(line="GET /chat HTTP/1.0"),
    request(line="GET http://example.com/chat HTTP/1.1"),
    request(line="GET /chat  HTTP/1.1"),
    request(drop=("Host",)),
    request(add=[("Host", "again")]),
    request(add=[("Content-Length", "0")]),
    request(add=[("Transfer-Encoding", "chunked")]),
    request(add=[("X-Control", "a\x01b")]),
    request(add=[("X-Nul", "a\x00b")]),
    request(add=[("X-Vtab", "a\x0bb")]),
    request(add=[("X(bad)", "x")]),
    request(add=[("", "no name")]),
    request().replace(b"Upgrade: websocket\r\n", b"Upgrade: websocket\r\n folded\r\n"),
    request().replace(b"Upgrade: websocket\r\n", b"Upgrade: websocket\n"),
    request().replace(b"Upgrade: websocket\r\n", b"Upgrade: web\rsocket\r\n"),
    request().replace(b"Upgrade:", b"Upgrade :"),
]


@pytest.mark.parametrize("data", FAST_REQUESTS)
def test_fast_parser_takes_plain_requests_as_h11_does(data: bytes) -> None:
    assert check_like_h11(data)


@pytest.mark.parametrize("data", DECLINED_REQUESTS)
def test_fast_parser_leaves_the_rest_to_h11(data: bytes) -> None:
    assert parse_request_head(data) is None


header_byte = st.sampled_from(b'aZ09-_:;, \t\r\n\x00\x01\x0b\x7f\x80\xe9\xff/="')


@settings(max_examples=300, deadline=None, database=None)
@given(
    target=st.binary(max_size=12),
    lines=st.lists(
        st.tuples(st.binary(max_size=8), st.lists(header_byte, max_size=10)), max_size=4
    ),
)
def test_fast_parser_agrees_with_h11_on_generated_heads(
    target: bytes, lines: list[tuple[bytes, list[int]]]
) -> None:
    head = [b"GET /" + target + b" HTTP/1.1", b"Host: h"]
    head += [name + b":" + bytes(value) for name, value in lines]
    check_like_h11(b"\r\n".join(head) + b"\r\n\r\n")


RESPONSE_HEADERS = [
    [("Upgrade", "websocket"), ("Connection", "Upgrade")],
    [("X-Empty", ""), ("X-Inner", "a \t b"), ("X-Latin", "caf\xe9"), ("set-COOKIE", "a=b; c")],
    [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=15")],
]
H11_RESPONSE_HEADERS = [
    [("X(bad)", "x")],
    [("X-Lead", " x")],
    [("X-Control", "a\x01b")],
    [("Host", "moved first by h11")],
    [("Content-Length", "0, 0")],
    [("Transfer-Encoding", "Chunked")],
]


@pytest.mark.parametrize("headers", RESPONSE_HEADERS)
def test_fast_response_head_is_what_h11_writes(headers: list[tuple[str, str]]) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(request())
    conn.next_event()
    conn.next_event()
    expected = conn.send(
        h11.InformationalResponse(
            status_code=101,
            headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
            reason=b"Switching Protocols",
        )
    )
    assert format_response_head(b"HTTP/1.1 101 Switching Protocols", headers) == expected


@pytest.mark.parametrize("headers", H11_RESPONSE_HEADERS)
def test_fast_response_head_leaves_the_rest_to_h11(headers: list[tuple[str, str]]) -> None:
    assert format_response_head(b"HTTP/1.1 101 Switching Protocols", headers) is None


def server_outcome(pieces: list[bytes], answer: object, more: bytes) -> list[object]:
    """What a server does with *pieces*, answering a Handshake with *answer*."""
    server = Connection(Role.SERVER)
    seen: list[object] = []
    for piece in pieces:
        server.receive_data(piece)
        for event in server.events():
            seen.append(event)
            if isinstance(event, Handshake) and answer is not None:
                try:
                    server.send(answer)  # type: ignore[arg-type]
                except LocalProtocolError as exc:
                    seen.append(f"LocalProtocolError: {exc}")
    server.receive_data(more)
    seen.extend(server.events())
    seen += [server.data_to_send(), server.state, server.request, server.subprotocol]
    return seen


ANSWERS = [
    None,
    Accept(),
    Accept(subprotocol="chat", headers=[("X-Server", "1")]),
    Accept(headers=[("X(bad)", "x")]),
    Accept(headers=[("Content-Length", "0")]),
    Reject(403, body=b"no"),
    Reject(200, body=b"part", final=False),
]


@pytest.mark.parametrize("answer", ANSWERS, ids=repr)
@pytest.mark.parametrize(
    "data",
    [
        *FAST_REQUESTS,
        request(add=[("Sec-WebSocket-Protocol", "chat")]) + serialize_frame(1, b"hi", mask=True),
        request(replace={"Sec-WebSocket-Key": "short"}),
        request(replace={"Sec-WebSocket-Version": "8"}),
        request(drop=("Upgrade",)),
        request(add=[("X-Many", "x")] * 130),
    ],
)
@pytest.mark.parametrize("more", [b"", serialize_frame(2, b"later", mask=True)])
def test_fast_handshake_changes_nothing(data: bytes, answer: object, more: bytes) -> None:
    # Whole, a request takes the fast path when it can; cut after its first
    # byte, never (the fast path is only tried on the first data).
    assert server_outcome([data], answer, more) == server_outcome(
        [data[:1], data[1:]], answer, more
    )


def test_fast_handshake_then_accept_after_a_refused_one() -> None:
    """h11 refused an Accept's header (constructing its event, so its state is
    unchanged): a second Accept is written the same with or without h11."""
    outputs = []
    for pieces in ([request()], [request()[:1], request()[1:]]):
        server = Connection(Role.SERVER)
        for piece in pieces:
            server.receive_data(piece)
        assert isinstance(server.next_event(), Handshake)
        with pytest.raises(LocalProtocolError, match="invalid Accept"):
            server.send(Accept(headers=[("X(bad)", "x")]))
        server.send(Accept(headers=[("X-Good", "x")]))
        assert server.state is ConnectionState.OPEN
        outputs.append(server.data_to_send())
    assert outputs[0] == outputs[1]


def test_fast_handshake_is_not_tried_before_data() -> None:
    server = Connection(Role.SERVER)
    assert server.next_event() is None
    server.receive_data(request())
    assert isinstance(server.next_event(), Handshake)
    server.send(Accept())
    assert server.data_to_send().startswith(b"HTTP/1.1 101 ")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 426),  # unanswered plain request
        (b"HEAD / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 400),
        (b"HEAD / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431),  # over 3
    ],
)
def test_automatic_error_response_to_head_has_no_body(request_bytes: bytes, status: int) -> None:
    # Found by the fuzzer: h11 refuses content in a response to HEAD.
    server = Connection(Role.SERVER, max_header_count=3)
    server.receive_data(request_bytes)
    events = list(server.events())  # never raises
    assert events == [] or isinstance(events[-1], (HTTPRequest, HandshakeFailed))
    list(server.events())  # the unanswered HTTPRequest gets its 426 here
    response = server.data_to_send()
    assert response.startswith(f"HTTP/1.1 {status} ".encode())
    assert response.endswith(b"\r\n\r\n")  # head only: no body
    assert server.state is ConnectionState.CLOSED


# -- server: adapting the automatic error responses ------------------------------------------


def test_version_is_checked_before_the_key() -> None:
    # RFC 6455 §4.2.2/§4.4: a client of another version learns what to fix.
    data = request(replace={"Sec-WebSocket-Version": "11"}, drop=("Sec-WebSocket-Key",))
    out = assert_server_fails(data, 426)
    _, headers, _ = parse_head(out)
    assert header(headers, "sec-websocket-version") == ["13"]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (request(drop=("Sec-WebSocket-Key",)), 400),
        (request(replace={"Sec-WebSocket-Version": "8"}), 426),
        (request(add=[("X-Big", "a" * 70_000)]), 431),
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 426),  # an unanswered plain request
    ],
)
def test_auto_response_headers_are_added_to_automatic_responses(data: bytes, status: int) -> None:
    server = Connection(Role.SERVER, auto_response_headers=[("Server", "test/1"), ("Date", "then")])
    server.auto_response_headers = [("Server", "test/1"), ("Date", "now")]  # e.g. per call
    server.receive_data(data)
    list(server.events())
    start, headers, _ = parse_head(server.data_to_send())
    assert start.startswith(f"HTTP/1.1 {status} ")
    assert header(headers, "server") == ["test/1"]
    assert header(headers, "date") == ["now"]


def test_auto_response_headers_do_not_touch_the_applications_answers() -> None:
    server = Connection(Role.SERVER, auto_response_headers=[("Server", "test/1")])
    server.receive_data(request())
    server.next_event()
    server.send(Accept())
    assert b"Server" not in server.data_to_send()


@pytest.mark.parametrize("name", ["Content-Length", "connection", "Content-Type"])
def test_auto_response_headers_cannot_set_what_the_connection_sets(name: str) -> None:
    with pytest.raises(LocalProtocolError, match=name):
        Connection(Role.SERVER, auto_response_headers=[(name, "1")])
    server = Connection(Role.SERVER, auto_response_headers=[("Server", "a")])
    with pytest.raises(LocalProtocolError):
        server.auto_response_headers = [(name, "1")]
    with pytest.raises(LocalProtocolError):
        server.auto_response_headers = [("Bad Name", "1")]
    assert server.auto_response_headers == (("Server", "a"),)


def test_application_answers_a_failed_handshake_itself() -> None:
    server = server_receiving(request(replace={"Sec-WebSocket-Version": "8"}))
    event = server.next_event()
    assert event == HandshakeFailed("unsupported WebSocket version '8'; only 13 is supported", 426)
    assert server.data_to_send() == b""  # the automatic answer waits for the next event
    assert server.state is ConnectionState.CONNECTING
    with pytest.raises(LocalProtocolError, match="answer it with Reject"):
        server.send(Accept())
    server.send(Reject(426, [("Sec-WebSocket-Version", "13"), ("Server", "me")], b"use version 13"))
    assert server.data_to_send() == (
        b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nServer: me\r\n"
        b"Content-Length: 14\r\nConnection: close\r\n\r\nuse version 13"
    )
    assert server.state is CLOSED
    assert server.should_close_transport
    assert list(server.events()) == []
    assert server.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        server.send(Reject(400))


def test_application_answers_an_unparsable_request_itself() -> None:
    server = server_receiving(b"\x00garbage\r\n\r\n")
    event = server.next_event()
    assert isinstance(event, HandshakeFailed) and event.status == 400
    server.send(Reject(400, body=b"nope", final=False))
    server.send(RejectData(b"!"))
    # (h11 could not read the request's version: the body is delimited by
    # closing the connection, as for HTTP/1.0.)
    assert server.data_to_send() == (b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nnope!")
    assert server.state is CLOSED


def test_a_failed_handshake_is_answered_even_if_the_client_left() -> None:
    server = server_receiving(request(drop=("Sec-WebSocket-Key",)))
    server.receive_data(b"")
    events = list(server.events())
    assert [type(e) for e in events] == [HandshakeFailed]
    assert server.data_to_send().startswith(b"HTTP/1.1 400 ")
    assert server.should_close_transport
