"""A WebSocket echo server on a plain blocking socket, one client at a time.

Run it with ``python sansio_server.py [PORT]`` (port 0 picks a free one), then
connect with ``python sansio_client.py localhost PORT``.
"""

import socket
import sys

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Connection,
    Handshake,
    HTTPRequest,
    Reject,
    Role,
    TextMessage,
)


def handle(sock: socket.socket) -> None:
    """Serve one WebSocket connection until it is time to close the socket."""
    conn = Connection(Role.SERVER)
    while not conn.should_close_transport:
        data = sock.recv(65536)  # b"" when the peer closed its end
        conn.receive_data(data)
        for event in conn.events():
            if isinstance(event, Handshake):
                conn.send(Accept())
            elif isinstance(event, HTTPRequest):
                conn.send(Reject(200, [("Content-Type", "text/plain")], b"Try WebSocket.\n"))
            elif isinstance(event, (TextMessage, BinaryMessage)):
                conn.send(event)  # echo: the same event class goes both ways
            elif isinstance(event, Close):
                print("closed:", event.code, event.reason or "(no reason)")
        sock.sendall(conn.data_to_send())  # Accept, echoes, pongs, the close reply...
    # The loop ends when the connection says so; the caller closes the socket.


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    with socket.create_server(("127.0.0.1", port)) as server:
        print(f"listening on 127.0.0.1:{server.getsockname()[1]}", flush=True)
        while True:
            sock, _ = server.accept()
            with sock:  # closes the socket once handle() returns
                try:
                    handle(sock)
                except OSError as exc:  # e.g. the client reset the connection
                    print("connection lost:", exc)


if __name__ == "__main__":
    main()
