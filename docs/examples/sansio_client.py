"""A WebSocket client on a plain blocking socket, driving the Connection by hand.

Run ``python sansio_client.py HOST PORT [MESSAGE ...]`` against one of the
example servers: it sends each message, prints the replies, pings, and closes.
"""

import socket
import sys

from wsproto_lite import (
    Accept,
    Close,
    Connection,
    ConnectionState,
    Event,
    Handshake,
    Ping,
    Pong,
    Role,
    TextMessage,
)


def next_event(sock: socket.socket, conn: Connection) -> Event:
    """Return the next event, reading from the socket as long as it takes."""
    while (event := conn.next_event()) is None:
        if conn.state is ConnectionState.CLOSED:
            raise ConnectionError("the connection is closed")
        conn.receive_data(sock.recv(65536))  # b"" (end of stream) is data too
    sock.sendall(conn.data_to_send())  # automatic replies: a pong, the close reply
    return event


def connect(host: str, port: int, target: str = "/") -> tuple[socket.socket, Connection]:
    """Open a TCP connection and do the opening handshake."""
    sock = socket.create_connection((host, port), timeout=10)
    conn = Connection(Role.CLIENT)
    conn.send(Handshake(host=f"{host}:{port}", target=target))
    sock.sendall(conn.data_to_send())
    event = next_event(sock, conn)
    if not isinstance(event, Accept):  # a Reject or a HandshakeFailed
        sock.close()
        raise ConnectionError(f"the server refused the handshake: {event}")
    return sock, conn


def close(sock: socket.socket, conn: Connection, reason: str = "") -> Close | None:
    """Run the closing handshake, wait for the server to close TCP, close the socket."""
    conn.send(Close(1000, reason))
    sock.sendall(conn.data_to_send())
    reply = None
    while not conn.should_close_transport:
        conn.receive_data(sock.recv(65536))
        for event in conn.events():  # messages still in flight, then the close reply
            if isinstance(event, Close):
                reply = event
    sock.close()
    return reply


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    texts = sys.argv[3:] or ["Hello, world!"]
    sock, conn = connect(host, port)
    conn.send(Ping(b"are you there?"))
    for text in texts:
        conn.send(TextMessage(text))
    sock.sendall(conn.data_to_send())
    replies = 0
    while replies < len(texts):
        event = next_event(sock, conn)
        if isinstance(event, TextMessage):
            print("received:", event.data)
            replies += 1
        elif isinstance(event, Pong):
            print("pong:", event.payload.decode())
        elif isinstance(event, Close):
            print("the server closed the connection:", event.code, event.reason)
            sock.close()
            return
    reply = close(sock, conn, "bye")
    print("closed:", reply.code if reply else "without a reply")


if __name__ == "__main__":
    main()
