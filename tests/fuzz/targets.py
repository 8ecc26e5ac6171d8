"""Fuzz targets: each takes arbitrary bytes and checks the core's contract.

The only invariant is the error contract: whatever the bytes, the core yields
events of documented types and never raises (the application's own misuse,
``LocalProtocolError``, is allowed where a target calls ``send``). Any other
exception is a bug. Used by ``run.py`` under atheris (coverage-guided) and by
``tests/test_fuzz.py`` (saved crashers and seeds as regression tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Connection,
    ConnectionState,
    Event,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    LocalProtocolError,
    Ping,
    Pong,
    Reject,
    RejectData,
    Role,
    TextMessage,
    accept_key,
)

_RECEIVED_TYPES = (
    Accept,
    BinaryMessage,
    Close,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    Ping,
    Pong,
    Reject,
    RejectData,
    TextMessage,
)


def _deflate_sessions() -> list[object]:
    try:
        from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate
    except ImportError:  # pragma: no cover - the extension ships with the package
        return []
    result = PerMessageDeflate().accept([[]])
    assert result is not None
    return [result[1]]


def _chunks(data: bytes) -> Iterator[bytes]:
    """Split *data* into chunks whose sizes come from the data itself."""
    i = 0
    while i < len(data):
        size = data[i] % 64 + 1
        yield data[i + 1 : i + 1 + size]
        i += 1 + size


def _drain(conn: Connection, on_event: Callable[[Event], None] | None = None) -> list[Event]:
    events = []
    for event in conn.events():
        assert isinstance(event, _RECEIVED_TYPES), event
        events.append(event)
        if on_event is not None:
            on_event(event)
    if any(isinstance(e, (HandshakeFailed,)) for e in events):
        assert conn.state is ConnectionState.CLOSED
    for event in events:
        if isinstance(event, Close) and event.failed:
            assert conn.state is ConnectionState.CLOSED
    return events


def server_handshake(data: bytes) -> None:
    """Arbitrary bytes as the start of an HTTP request to a server."""
    conn = Connection(Role.SERVER, max_handshake_size=4096)

    def answer(event: Event) -> None:
        if isinstance(event, Handshake):
            conn.send(Accept(subprotocol=event.subprotocols[0] if event.subprotocols else None))
        elif isinstance(event, HTTPRequest) and event.target == "/page":
            conn.send(Reject(200, [("Content-Type", "text/plain")], b"page"))

    for chunk in _chunks(data):
        conn.receive_data(chunk)
        _drain(conn, answer)
        conn.data_to_send()
    conn.receive_data(b"")
    _drain(conn, answer)


_CLIENT_KEY_PREFIX = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"


def client_handshake(data: bytes) -> None:
    """Arbitrary bytes as a server's response, half of the time after a valid 101 head."""
    conn = Connection(Role.CLIENT)
    conn.send(Handshake(host="example.com", target="/", subprotocols=("chat",)))
    conn.data_to_send()
    if data[:1] == b"\x00":
        # Splice a valid accept key in, so the fuzzer reaches the frame phase.
        key = conn._handshake._key  # type: ignore[union-attr]
        assert key is not None
        head = (
            _CLIENT_KEY_PREFIX
            + b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_key(key).encode()
            + b"\r\n"
        )
        data = head + data[1:]
    for chunk in _chunks(data):
        conn.receive_data(chunk)
        _drain(conn)
    conn.receive_data(b"")
    _drain(conn)


def _frames(data: bytes, role: Role, deflate: bool) -> None:
    conn = Connection(
        role,
        handshake=False,
        max_message_size=1 << 16,
        extension_sessions=_deflate_sessions() if deflate else (),  # type: ignore[arg-type]
    )

    def echo(event: Event) -> None:
        if isinstance(event, (TextMessage, BinaryMessage)) and conn.state is ConnectionState.OPEN:
            conn.send(event)

    for chunk in _chunks(data):
        conn.receive_data(chunk)
        _drain(conn, echo)
        conn.data_to_send()
    conn.receive_data(b"")
    _drain(conn, echo)
    # End of stream always ends the connection, whatever came before.
    assert conn.state is ConnectionState.CLOSED, conn.state


def server_frames(data: bytes) -> None:
    """Arbitrary bytes to an OPEN server, no extension."""
    _frames(data, Role.SERVER, deflate=False)


def server_frames_deflate(data: bytes) -> None:
    """Arbitrary bytes to an OPEN server with permessage-deflate negotiated."""
    _frames(data, Role.SERVER, deflate=True)


def client_frames(data: bytes) -> None:
    """Arbitrary bytes to an OPEN client."""
    _frames(data, Role.CLIENT, deflate=False)


def pair(data: bytes) -> None:
    """A client/server pair driven by operations decoded from *data*.

    Checks that what one side sends arrives at the other, in order, and that
    both reach CLOSED consistently; misuse (``LocalProtocolError``) is allowed.
    """
    deflate = bool(data[:1]) and data[0] & 1
    sessions: list[object] = _deflate_sessions() if deflate else []
    client_sessions: list[object] = []
    if deflate:
        from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

        client_sessions = [PerMessageDeflate().finalize([])]
    client = Connection(
        Role.CLIENT,
        handshake=False,
        extension_sessions=client_sessions,  # type: ignore[arg-type]
    )
    server = Connection(
        Role.SERVER,
        handshake=False,
        extension_sessions=sessions,  # type: ignore[arg-type]
    )
    sent: dict[int, list[object]] = {0: [], 1: []}
    got: dict[int, list[object]] = {0: [], 1: []}
    ends = (client, server)
    i = 1
    while i + 2 <= len(data):
        op, arg = data[i], data[i + 1]
        i += 2
        side = op & 1
        conn = ends[side]
        kind = (op >> 1) % 6
        try:
            if kind == 0:
                payload = data[i : i + arg]
                i += arg
                event: Event = (
                    TextMessage(payload.decode("latin-1"), bool(op & 0x80))
                    if op & 0x40
                    else BinaryMessage(payload, bool(op & 0x80))
                )
                conn.send(event)
                sent[side].append(event)
            elif kind == 1:
                conn.send(Ping(bytes([arg]) * (arg % 126)))
            elif kind == 2:
                conn.send(Close(1000 + arg % 4 if arg % 4 != 3 else 4000, "x" * (arg % 10)))
            else:
                other = ends[1 - side]
                data_out = conn.data_to_send()
                for start in range(0, len(data_out), arg + 1):
                    other.receive_data(data_out[start : start + arg + 1])
                for ev in _drain(other):
                    if isinstance(ev, (TextMessage, BinaryMessage)):
                        got[1 - side].append(ev)
                    assert not (isinstance(ev, Close) and ev.failed and ev.code != 1006), ev
        except LocalProtocolError:
            pass
    # Whatever was delivered arrived intact and in order (a prefix of what was sent,
    # reassembled): compare the concatenated payloads per direction.
    for side in (0, 1):
        sent_data = b"".join(_payload(m) for m in sent[side])
        got_data = b"".join(_payload(m) for m in got[1 - side])
        assert sent_data.startswith(got_data), (side, sent_data[:50], got_data[:50])


def _payload(message: object) -> bytes:
    data = message.data  # type: ignore[attr-defined]
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


#: Every target by name, for run.py and the regression test.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "server_handshake": server_handshake,
    "client_handshake": client_handshake,
    "server_frames": server_frames,
    "server_frames_deflate": server_frames_deflate,
    "client_frames": client_frames,
    "pair": pair,
}
