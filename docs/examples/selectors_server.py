"""A WebSocket chat room on a hand-written event loop (``selectors``).

Every text message a client sends goes to every connected client. One thread,
non-blocking sockets, any number of clients. Run ``python selectors_server.py
[PORT]`` (port 0 picks a free one) and connect several ``sansio_client.py``.
"""

import selectors
import socket
import sys

from wsproto_lite import (
    Accept,
    Close,
    Connection,
    ConnectionState,
    Handshake,
    HTTPRequest,
    Role,
    TextMessage,
)

#: Stop reading from a client whose unsent output passes this (backpressure).
HIGH_WATER = 1 << 20


class Client:
    """A socket, its Connection, and the bytes the socket has not taken yet."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = Connection(Role.SERVER)
        self.outgoing = bytearray()


class ChatServer:
    def __init__(self, listener: socket.socket) -> None:
        self.selector = selectors.DefaultSelector()
        self.clients: set[Client] = set()
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, None)

    def run(self) -> None:
        while True:
            for key, mask in self.selector.select():
                if key.data is None:  # the listening socket: a new client
                    self.accept(key.fileobj)  # type: ignore[arg-type]
                    continue
                client = key.data
                if mask & selectors.EVENT_READ:
                    self.on_readable(client)
                if mask & selectors.EVENT_WRITE and client in self.clients:
                    self.on_writable(client)

    def accept(self, listener: socket.socket) -> None:
        sock, _ = listener.accept()
        sock.setblocking(False)
        client = Client(sock)
        self.clients.add(client)
        self.selector.register(sock, selectors.EVENT_READ, client)

    def on_readable(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except ConnectionError:
            data = b""  # a reset is an end of stream too
        client.conn.receive_data(data)
        for event in client.conn.events():
            if isinstance(event, Handshake):
                client.conn.send(Accept())
            elif isinstance(event, HTTPRequest):
                pass  # not answering: the connection answers 426 Upgrade Required
            elif isinstance(event, TextMessage):
                self.broadcast(event)
            elif isinstance(event, Close):
                print("a client left:", event.code, flush=True)
        self.flush(client)

    def broadcast(self, message: TextMessage) -> None:
        for other in self.clients:
            if other.conn.state is ConnectionState.OPEN:
                other.conn.send(message)
                self.flush(other)

    def on_writable(self, client: Client) -> None:
        try:
            sent = client.sock.send(client.outgoing)
        except ConnectionError:
            self.drop(client)
            return
        del client.outgoing[:sent]
        self.update(client)

    def flush(self, client: Client) -> None:
        """Move the Connection's output to the client's buffer; let the loop write it."""
        client.outgoing += client.conn.data_to_send()
        self.update(client)

    def update(self, client: Client) -> None:
        """Close the socket when it is time; otherwise wait for what the client needs."""
        if client.conn.should_close_transport and not client.outgoing:
            self.drop(client)
            return
        mask = 0
        if client.outgoing:
            mask |= selectors.EVENT_WRITE
        if len(client.outgoing) < HIGH_WATER and client.conn.state is not ConnectionState.CLOSED:
            mask |= selectors.EVENT_READ
        if mask:
            self.selector.modify(client.sock, mask, client)

    def drop(self, client: Client) -> None:
        self.clients.discard(client)
        self.selector.unregister(client.sock)
        client.sock.close()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    listener = socket.create_server(("127.0.0.1", port))
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    ChatServer(listener).run()


if __name__ == "__main__":
    main()
