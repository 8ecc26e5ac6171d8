"""Embedding wsproto_lite in a framework: the glue between transport callbacks and a Connection.

Many servers and event loops hand a protocol object callbacks such as
``data_received(data)`` and ``eof_received()``, and give it a transport with
``write(data)`` and ``close()``. This is all the glue a WebSocket endpoint needs
on such a framework. The script runs it against an in-memory transport and a
client Connection.
"""

from collections.abc import Callable

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Connection,
    ConnectionState,
    Event,
    Handshake,
    HTTPRequest,
    LocalProtocolError,
    Ping,
    Reject,
    Role,
    TextMessage,
)


class WebSocketProtocol:
    """One server-side WebSocket connection hosted by a callback-style framework.

    The framework calls :meth:`data_received` and :meth:`eof_received`; the
    application reacts to events in *on_event* and may call :meth:`send` at any
    time (from the same thread or task: a Connection is not thread-safe).
    """

    def __init__(self, transport, on_event: Callable[["WebSocketProtocol", Event], None]) -> None:
        self.transport = transport
        self.on_event = on_event
        self.conn = Connection(Role.SERVER)
        self.closed = False

    # -- called by the framework -------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._process()

    def eof_received(self) -> None:
        self.conn.receive_data(b"")  # end of stream is data too
        self._process()

    def connection_lost(self) -> None:
        """The transport failed (a reset, a write error): same as end of stream."""
        if not self.closed:
            self.eof_received()

    # -- called by the application -----------------------------------------------

    def send(self, event: Event) -> None:
        """Send now; raises LocalProtocolError if the state does not allow it."""
        self.conn.send(event)
        self._flush()

    # -- the glue ------------------------------------------------------------------

    def _process(self) -> None:
        for event in self.conn.events():  # each event is answered before the next is parsed
            try:
                self.on_event(self, event)
            except LocalProtocolError:
                raise  # a bug in the application: let it show
            except Exception:
                # The application failed: tell the peer (1011) rather than vanish.
                if self.conn.state is ConnectionState.OPEN:
                    self.conn.send(Close(1011, "internal error"))
                break
        self._flush()

    def _flush(self) -> None:
        data = self.conn.data_to_send()  # the app's events and the automatic replies
        if data and not self.closed:
            self.transport.write(data)
        if self.conn.should_close_transport and not self.closed:
            self.closed = True
            self.transport.close()


# -- an application, a transport and a client to try it ---------------------------------


def app(ws: WebSocketProtocol, event: Event) -> None:
    if isinstance(event, Handshake):
        ws.send(Accept() if event.target == "/echo" else Reject(404))
    elif isinstance(event, HTTPRequest):
        ws.send(Reject(200, [("Content-Type", "text/plain")], b"WebSocket endpoint: /echo\n"))
    elif isinstance(event, (TextMessage, BinaryMessage)):
        if event.data in ("crash", b"crash"):
            raise RuntimeError("the application broke")
        ws.send(event)


class MemoryTransport:
    """What a framework would provide; here it just collects what is written."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.is_closed = False

    def write(self, data: bytes) -> None:
        assert not self.is_closed, "write after close"
        self.written += data

    def close(self) -> None:
        self.is_closed = True

    def take(self) -> bytes:
        data = bytes(self.written)
        self.written.clear()
        return data


def exchange(client: Connection, transport: MemoryTransport, ws: WebSocketProtocol) -> list:
    """Move the client's bytes to the server, and the server's answer back."""
    ws.data_received(client.data_to_send())
    client.receive_data(transport.take())
    return list(client.events())


def main() -> None:
    # A normal session.
    transport = MemoryTransport()
    ws = WebSocketProtocol(transport, app)
    client = Connection(Role.CLIENT)
    client.send(Handshake(host="example.com", target="/echo"))
    assert isinstance(exchange(client, transport, ws)[0], Accept)
    client.send(TextMessage("hello"))
    client.send(Ping(b"1"))
    events = exchange(client, transport, ws)
    assert [type(e).__name__ for e in events] == ["TextMessage", "Pong"], events
    client.send(Close(1000))
    assert exchange(client, transport, ws) == [Close(1000, "")]
    assert transport.is_closed  # the server closes TCP first
    print("normal session: ok")

    # The application raises: the peer gets 1011, and the transport is closed.
    transport = MemoryTransport()
    ws = WebSocketProtocol(transport, app)
    client = Connection(Role.CLIENT)
    client.send(Handshake(host="example.com", target="/echo"))
    exchange(client, transport, ws)
    client.send(TextMessage("crash"))
    assert exchange(client, transport, ws) == [Close(1011, "internal error")]
    ws.data_received(client.data_to_send())  # the client's close reply
    assert transport.is_closed
    print("application error: ok")

    # The peer vanishes: the framework reports end of stream.
    transport = MemoryTransport()
    ws = WebSocketProtocol(transport, app)
    client = Connection(Role.CLIENT)
    client.send(Handshake(host="example.com", target="/echo"))
    exchange(client, transport, ws)
    ws.connection_lost()
    assert transport.is_closed and ws.conn.state is ConnectionState.CLOSED
    print("lost connection: ok")


if __name__ == "__main__":
    main()
