"""Seed inputs for the fuzz corpus: valid traffic the fuzzer mutates from."""

from __future__ import annotations

from pathlib import Path

from wsproto_lite import Connection, Handshake, Role
from wsproto_lite._frames import serialize_frame


def _chunked(data: bytes, size: int = 63) -> bytes:
    # targets._chunks reads a size byte before each chunk.
    out = bytearray()
    for i in range(0, len(data), size):
        part = data[i : i + size]
        out.append(len(part) - 1)
        out += part
    return bytes(out)


def _request() -> bytes:
    client = Connection(Role.CLIENT)
    client.send(
        Handshake(
            host="example.com",
            target="/chat",
            subprotocols=("chat",),
            extensions=None,
            origin="http://example.com",
        )
    )
    return client.data_to_send()


def _frames(mask: bool) -> bytes:
    return b"".join(
        [
            serialize_frame(1, b"Hello", mask=mask),
            serialize_frame(1, b"Hel", fin=False, mask=mask),
            serialize_frame(9, b"ping", mask=mask),
            serialize_frame(0, b"lo", mask=mask),
            serialize_frame(2, bytes(300), mask=mask),
            serialize_frame(8, b"\x03\xe8bye", mask=mask),
        ]
    )


def write_seeds(target: str, corpus: Path) -> None:
    """Write a few valid inputs for *target* into *corpus*."""
    seeds: list[bytes] = []
    if target == "server_handshake":
        seeds = [_chunked(_request()), _chunked(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")]
    elif target == "client_handshake":
        seeds = [b"\x00" + _chunked(b"\r\n" + _frames(False)), _chunked(b"HTTP/1.1 403 No\r\n\r\n")]
    elif target in ("server_frames", "server_frames_deflate"):
        seeds = [_chunked(_frames(True))]
    elif target == "client_frames":
        seeds = [_chunked(_frames(False))]
    elif target == "pair":
        seeds = [bytes([1, 0, 5]) + b"hello" + bytes([6, 10, 7, 10, 4, 0, 6, 3, 7, 3])]
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)
