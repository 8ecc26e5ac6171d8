"""A raw-socket peer that floods a server and never reads, for the adapters' tests.

It opens a WebSocket by hand (its receive buffer made small first, so that
the server's output backs up after a few KiB), then writes one frame over
and over from a thread of its own until stopped, and reads nothing. What it
sends is counted, so that a test can tell that the flood really happened.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

from ._wire import PING, frame

#: A ping with the largest payload a control frame may carry (RFC 6455 §5.5).
PING_FRAME = frame(PING, b"p" * 125)
#: Slack over ``write_limit`` that a session may hold for a peer that does
#: not read: the pong that crossed the limit, the one held back, a close
#: frame, and one read (64 KiB) not parsed yet.
SLACK = 512 + (1 << 16)


class Flooder:
    """Connect to ``127.0.0.1:port``, finish the handshake, then flood *data*."""

    def __init__(self, port: int, data: bytes = PING_FRAME * 512) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Set before connecting: the window the server sees stays small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        sock.settimeout(5)
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)  # one byte at a time: nothing after the head is read
            assert chunk, "the server closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101 "), head
        sock.settimeout(None)
        self.sock = sock
        self.sent = 0
        self.error: OSError | None = None
        self._data = data
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.sock.sendall(self._data)
                self.sent += len(self._data)
        except OSError as exc:  # the server gave up on us
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self.sock.close()


@contextlib.contextmanager
def flooding(port: int, data: bytes = PING_FRAME * 512) -> Iterator[Flooder]:
    flooder = Flooder(port, data)
    flooder.start()
    try:
        yield flooder
    finally:
        flooder.stop()


def watch(held: Callable[[], int], seconds: float, every: float = 0.05) -> list[int]:
    """Sample *held* (bytes a server holds for a connection) for *seconds*."""
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(held())
        time.sleep(every)
    return samples
