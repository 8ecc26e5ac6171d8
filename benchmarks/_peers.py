"""Each library's normal public API, for a connection past its opening handshake.

For every library there are the same pieces: a server (or client) made ready
with that library's own handshake (untimed), a receive loop that feeds socket
chunks and collects whole messages the way an application does, a send loop
that queues messages and takes the bytes to write, and a handshake loop.
The loops return ``(count, sample)`` so that the harness can check them.

What "whole message" means is the same for all: a ``str`` for text (UTF-8
validated) and the payload for binary. wsproto hands out partial messages
when a frame is split across reads, so its loop joins parts until
``message_finished``; websockets' sans-I/O layer hands out frames, so its loop
joins fragments and decodes text the way its own asyncio layer does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from _frames import upgrade_request

Receive = Callable[[Any, Sequence[bytes]], tuple[int, Any]]
Send = Callable[[Any, Sequence[Any]], tuple[int, Any]]

# -- wsproto_lite ----------------------------------------------------------------------


def lite_available() -> bool:
    """Whether wsproto_lite imports."""
    try:
        import wsproto_lite  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return True


def lite_deflate_available() -> bool:
    """Whether wsproto_lite's permessage-deflate extension exists yet."""
    try:
        from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate  # noqa: F401
    except ImportError:
        return False
    return True


def lite_server(*, deflate: bool = False, max_size: int | None = 1 << 20) -> Any:
    """A wsproto_lite server connection, OPEN after its handshake."""
    from wsproto_lite import Accept, Connection, ConnectionState, Handshake, Role

    extensions = []
    if deflate:
        from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

        extensions.append(PerMessageDeflate())
    conn = Connection(Role.SERVER, extensions=extensions, max_message_size=max_size)
    conn.receive_data(upgrade_request("permessage-deflate" if deflate else None))
    event = conn.next_event()
    assert isinstance(event, Handshake), event
    conn.send(Accept())
    response = conn.data_to_send()
    _check_response(response, deflate)
    assert conn.state is ConnectionState.OPEN
    return conn


def lite_client(*, max_size: int | None = 1 << 20) -> Any:
    """A wsproto_lite client connection, OPEN after a handshake with a wsproto_lite server."""
    from wsproto_lite import Accept, Connection, ConnectionState, Handshake, Role

    client = Connection(Role.CLIENT, max_message_size=max_size)
    server = Connection(Role.SERVER)
    client.send(Handshake(host="localhost", target="/bench"))
    server.receive_data(client.data_to_send())
    assert isinstance(server.next_event(), Handshake)
    server.send(Accept())
    client.receive_data(server.data_to_send())
    assert isinstance(client.next_event(), Accept)
    assert client.state is ConnectionState.OPEN
    return client


def lite_receive(conn: Any, chunks: Sequence[bytes]) -> tuple[int, Any]:
    """Feed *chunks*; count whole messages, keep the last one's data."""
    from wsproto_lite import Message

    count = 0
    last = None
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if isinstance(event, Message):
                count += 1
                last = event.data  # type: ignore[attr-defined]
            else:
                raise AssertionError(f"unexpected {event!r}")
        conn.data_to_send()  # an application writes back whatever was queued
    return count, last


def lite_send_text(conn: Any, messages: Sequence[str]) -> tuple[int, Any]:
    """Send every message; return the bytes written in total and the last write."""
    from wsproto_lite import TextMessage

    total = 0
    out = b""
    for message in messages:
        conn.send(TextMessage(message))
        out = conn.data_to_send()
        total += len(out)
    return total, out


def lite_send_binary(conn: Any, messages: Sequence[bytes]) -> tuple[int, Any]:
    """Binary version of :func:`lite_send_text`."""
    from wsproto_lite import BinaryMessage

    total = 0
    out = b""
    for message in messages:
        conn.send(BinaryMessage(message))
        out = conn.data_to_send()
        total += len(out)
    return total, out


def lite_handshakes(request: bytes, n: int) -> tuple[int, Any]:
    """*n* server handshakes: request bytes in, response bytes out."""
    from wsproto_lite import Accept, Connection, Handshake, Role

    out = b""
    count = 0
    for _ in range(n):
        conn = Connection(Role.SERVER)
        conn.receive_data(request)
        event = conn.next_event()
        if isinstance(event, Handshake):
            conn.send(Accept())
            out = conn.data_to_send()
            count += 1
    return count, out


# -- wsproto ---------------------------------------------------------------------------


def wsproto_available() -> bool:
    """Whether wsproto imports."""
    try:
        import wsproto  # noqa: F401
    except ImportError:
        return False
    return True


def wsproto_server(*, deflate: bool = False) -> Any:
    """A wsproto server (WSConnection, H11 handshake), OPEN. It has no size limit."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.connection import ConnectionState
    from wsproto.events import AcceptConnection, Request
    from wsproto.extensions import PerMessageDeflate

    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(upgrade_request("permessage-deflate" if deflate else None))
    event = next(ws.events())
    assert isinstance(event, Request), event
    extensions = [PerMessageDeflate()] if deflate else []
    response = ws.send(AcceptConnection(extensions=extensions))  # type: ignore[arg-type]
    _check_response(response, deflate)
    assert ws.state is ConnectionState.OPEN
    return ws


def wsproto_client() -> Any:
    """A wsproto client, OPEN after a handshake with a wsproto server."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.connection import ConnectionState
    from wsproto.events import AcceptConnection, Request

    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="localhost", target="/bench")))
    assert isinstance(next(server.events()), Request)
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    assert client.state is ConnectionState.OPEN
    return client


def wsproto_receive(ws: Any, chunks: Sequence[bytes]) -> tuple[int, Any]:
    """Feed *chunks*; join partial messages until ``message_finished``."""
    from wsproto.events import Message

    count = 0
    last = None
    parts: list[Any] = []
    for chunk in chunks:
        ws.receive_data(chunk)
        for event in ws.events():
            if isinstance(event, Message):
                if event.message_finished:
                    if parts:
                        parts.append(event.data)
                        data = event.data[:0].join(parts)
                        parts = []
                    else:
                        data = event.data
                    count += 1
                    last = data
                else:
                    parts.append(event.data)
            else:
                raise AssertionError(f"unexpected {event!r}")
    return count, last


def wsproto_send_text(ws: Any, messages: Sequence[str]) -> tuple[int, Any]:
    """Send every message (wsproto returns the bytes from ``send``)."""
    from wsproto.events import TextMessage

    total = 0
    out = b""
    for message in messages:
        out = ws.send(TextMessage(data=message))
        total += len(out)
    return total, out


def wsproto_send_binary(ws: Any, messages: Sequence[bytes]) -> tuple[int, Any]:
    """Binary version of :func:`wsproto_send_text`."""
    from wsproto.events import BytesMessage

    total = 0
    out = b""
    for message in messages:
        out = ws.send(BytesMessage(data=message))
        total += len(out)
    return total, out


def wsproto_handshakes(request: bytes, n: int) -> tuple[int, Any]:
    """*n* server handshakes with wsproto."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    out = b""
    count = 0
    for _ in range(n):
        ws = WSConnection(ConnectionType.SERVER)
        ws.receive_data(request)
        event = next(ws.events())
        if isinstance(event, Request):
            out = ws.send(AcceptConnection())
            count += 1
    return count, out


# -- websockets (sans-I/O) --------------------------------------------------------------


def websockets_available() -> bool:
    """Whether websockets (with its sans-I/O ServerProtocol) imports."""
    try:
        from websockets.server import ServerProtocol  # noqa: F401
    except ImportError:
        return False
    return True


def websockets_server(*, deflate: bool = False, max_size: int | None = 1 << 20) -> Any:
    """A websockets ``ServerProtocol``, OPEN after its handshake."""
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.http11 import Request
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    extensions = [ServerPerMessageDeflateFactory()] if deflate else None
    proto = ServerProtocol(extensions=extensions, max_size=max_size)
    proto.receive_data(upgrade_request("permessage-deflate" if deflate else None))
    [request] = proto.events_received()
    assert isinstance(request, Request)
    proto.send_response(proto.accept(request))
    _check_response(b"".join(proto.data_to_send()), deflate)
    assert proto.state is State.OPEN
    return proto


def websockets_client(*, max_size: int | None = 1 << 20) -> Any:
    """A websockets ``ClientProtocol``, OPEN after a handshake with its ServerProtocol."""
    from websockets.client import ClientProtocol
    from websockets.http11 import Request, Response
    from websockets.protocol import State
    from websockets.server import ServerProtocol
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://localhost/bench"), max_size=max_size)
    client.send_request(client.connect())
    server = ServerProtocol()
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert client.state is State.OPEN
    return client


def websockets_receive(proto: Any, chunks: Sequence[bytes]) -> tuple[int, Any]:
    """Feed *chunks*; frames become messages (fragments joined, text decoded)."""
    from websockets.frames import Opcode

    op_text, op_binary, op_cont = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
    count = 0
    last = None
    parts: list[Any] = []
    text = False
    for chunk in chunks:
        proto.receive_data(chunk)
        for frame in proto.events_received():
            op = frame.opcode
            if op is op_cont:
                parts.append(frame.data)
                if frame.fin:
                    data = b"".join(parts)
                    parts = []
                    count += 1
                    last = data.decode() if text else data
            elif op is op_text or op is op_binary:
                if frame.fin:
                    count += 1
                    last = frame.data.decode() if op is op_text else frame.data
                else:
                    text = op is op_text
                    parts = [frame.data]
            else:
                raise AssertionError(f"unexpected {frame!r}")
        proto.data_to_send()
    return count, last


def websockets_send_text(proto: Any, messages: Sequence[str]) -> tuple[int, Any]:
    """Send every message: ``send_text`` takes bytes, then ``data_to_send()``."""
    total = 0
    out: list[bytes] = []
    for message in messages:
        proto.send_text(message.encode())
        out = proto.data_to_send()
        for data in out:
            total += len(data)
    return total, b"".join(out)


def websockets_send_binary(proto: Any, messages: Sequence[bytes]) -> tuple[int, Any]:
    """Binary version of :func:`websockets_send_text`."""
    total = 0
    out: list[bytes] = []
    for message in messages:
        proto.send_binary(message)
        out = proto.data_to_send()
        for data in out:
            total += len(data)
    return total, b"".join(out)


def websockets_handshakes(request: bytes, n: int) -> tuple[int, Any]:
    """*n* server handshakes with websockets' ``ServerProtocol``."""
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    out = b""
    count = 0
    for _ in range(n):
        proto = ServerProtocol()
        proto.receive_data(request)
        [event] = proto.events_received()
        if isinstance(event, Request):
            proto.send_response(proto.accept(event))
            out = b"".join(proto.data_to_send())
            count += 1
    return count, out


# -- shared -----------------------------------------------------------------------------


def _check_response(response: bytes, deflate: bool) -> None:
    from _frames import WS_ACCEPT

    assert response.startswith(b"HTTP/1.1 101"), response[:100]
    assert WS_ACCEPT in response, response
    head = response.lower()
    if deflate:
        # The generated input uses context takeover and a 15-bit window: the
        # server must not have asked the client for anything else.
        assert b"permessage-deflate" in head, response
        assert b"client_no_context_takeover" not in head, response
        assert b"client_max_window_bits" not in head, response
    else:
        assert b"sec-websocket-extensions" not in head, response
