"""Streaming: send a large message in parts, receive it in parts, never hold it whole.

A 64 MiB binary message goes from a client to a server through memory (a
ConnectionPair stands in for the network), in 1 MiB parts each way. Neither
side ever holds more than one part.
"""

import hashlib
from collections.abc import Iterable, Iterator

from wsproto_lite import BinaryMessage, Connection
from wsproto_lite.testing import ConnectionPair

PART = 1 << 20
TOTAL = 64 * PART


def produce() -> Iterator[bytes]:
    """The data to send: any iterable of bytes, e.g. a file read in blocks."""
    block = bytes(range(256)) * (PART // 256)
    for _ in range(TOTAL // PART):
        yield block


def send_in_parts(conn: Connection, parts: Iterable[bytes]) -> Iterator[bytes]:
    """Send one message in parts; yield the bytes to write after each part."""
    for part in parts:
        conn.send(BinaryMessage(part, final=False))  # a frame with FIN clear
        yield conn.data_to_send()
    conn.send(BinaryMessage(b"", final=True))  # an empty last frame ends the message
    yield conn.data_to_send()


def main() -> None:
    pair = ConnectionPair.open(
        stream=True,  # deliver messages in parts as they arrive
        max_message_size=None,  # no limit on the whole message...
        max_frame_size=2 * PART,  # ...but one on each frame
    )
    server = pair.server
    digest = hashlib.sha256()
    size = largest = 0
    complete = False
    for data in send_in_parts(pair.client, produce()):
        server.receive_data(data)  # in real life: what the socket delivered
        for event in server.events():
            assert isinstance(event, BinaryMessage)
            digest.update(event.data)  # consume the part, then forget it
            size += len(event.data)
            largest = max(largest, len(event.data))
            complete = event.final

    expected = hashlib.sha256()
    for block in produce():
        expected.update(block)
    assert complete and size == TOTAL and digest.digest() == expected.digest()
    print(f"received {size} bytes in parts of at most {largest} bytes")


if __name__ == "__main__":
    main()
