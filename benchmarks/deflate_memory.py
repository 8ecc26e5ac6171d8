"""permessage-deflate: compression ratio and speed against memory, per setting.

Usage::

    python benchmarks/deflate_memory.py            # the table (about a minute)
    python benchmarks/deflate_memory.py --quick

For each setting (window bits, zlib memory level) one connection's sender and
receiver (wsproto_lite's own ``PerMessageDeflateSession``, context takeover
on) carry the same stream of messages: JSON-like records and chat text of
1 B to 16 KiB, as an application sends them. Reported: the compression ratio
(bytes out / bytes in), the speed of compressing and decompressing (MB of
messages per second, one core), and the memory the two zlib contexts hold once
used (``tracemalloc``, which sees zlib's buffers). The last column is that
memory for 1,000 busy connections: what chooses a server's defaults. With
``release_contexts`` (the rows marked so) the contexts are dropped after each
message and the memory is the two windows of text kept between messages. See
``docs/guides/compression.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import tracemalloc

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's wsproto_lite

from wsproto_lite._frames import RSV1, Opcode  # noqa: E402
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflateSession  # noqa: E402

#: (window bits, memory level, release_contexts): zlib's defaults, websockets'
#: server defaults, ours for servers, and smaller ones.
SETTINGS = (
    (15, 8, False),
    (15, 8, True),
    (15, 5, False),
    (13, 6, False),
    (12, 8, False),
    (12, 5, False),
    (12, 5, True),
    (11, 4, False),
    (10, 3, False),
    (9, 1, False),
)


_WORDS = (
    "the a of to and in is it you that he was for on are with as I his they be at one have "
    "this from or had by hot word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many"
)


def corpus(count: int, seed: int = 1) -> list[bytes]:
    """Messages as applications send them: JSON records and chat lines, 1 B–16 KiB."""
    rng = random.Random(seed)
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    words = _WORDS.split()
    messages = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            record = {
                "id": i,
                "user": rng.choice(names),
                "ts": 1_700_000_000 + i,
                "price": round(rng.uniform(1, 1000), 2),
                "tags": rng.sample(words, 3),
                "items": [
                    {"sku": rng.randrange(10**6), "qty": rng.randrange(9)}
                    for _ in range(rng.randrange(1, 60))
                ],
            }
            data = json.dumps(record).encode()
        elif kind == 1:
            data = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 400))).encode()
        else:
            data = json.dumps({"op": "tick", "seq": i, "v": rng.random()}).encode()
        messages.append(data[: rng.randint(1, 16 << 10)])
    return messages


def measure(bits: int, mem_level: int, release: bool, messages: list[bytes]) -> dict[str, float]:
    def session() -> PerMessageDeflateSession:
        return PerMessageDeflateSession(
            outbound_max_window_bits=bits,
            inbound_max_window_bits=bits,
            mem_level=mem_level,
            min_size=0,
            release_contexts=release,
        )

    sender, receiver = session(), session()
    size_in = sum(map(len, messages))
    compressed = []
    start = time.perf_counter()
    for data in messages:
        sender.outbound_message(Opcode.BINARY, len(data), True)
        compressed.append(sender.outbound_data(data, True))
    compress_time = time.perf_counter() - start
    start = time.perf_counter()
    for payload, data in zip(compressed, messages, strict=True):
        receiver.inbound_frame(Opcode.BINARY, RSV1, starts_message=True)
        out = receiver.inbound_data(payload, True, 1 << 30)
        assert out == data
    decompress_time = time.perf_counter() - start
    # The memory of one used pair of contexts (a connection's both directions),
    # between two messages: with release_contexts, the two windows of text.
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tx, rx = session(), session()
    for data in messages[:50]:
        tx.outbound_message(Opcode.BINARY, len(data), True)
        payload = tx.outbound_data(data, True)
        rx.inbound_frame(Opcode.BINARY, RSV1, starts_message=True)
        rx.inbound_data(payload, True, 1 << 30)
    memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "ratio": sum(map(len, compressed)) / size_in,
        "compress_mb_s": size_in / compress_time / 1e6,
        "decompress_mb_s": size_in / decompress_time / 1e6,
        "memory": memory,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    messages = corpus(500 if args.quick else 5000)
    print(f"{len(messages):,} messages, {sum(map(len, messages)) / 1e6:.1f} MB")
    print(
        f"{'window bits':>11} {'memLevel':>8} {'release':>7} {'ratio':>6} {'compress':>9}"
        f" {'decompress':>10} {'memory':>8} {'× 1,000':>8}"
    )
    for bits, mem_level, release in SETTINGS:
        m = measure(bits, mem_level, release, messages)
        print(
            f"{bits:>11} {mem_level:>8} {'yes' if release else '':>7} {m['ratio']:>6.3f}"
            f" {m['compress_mb_s']:>6.0f} MB/s"
            f" {m['decompress_mb_s']:>5.0f} MB/s {m['memory'] / 1024:>5.0f} KiB"
            f" {m['memory'] * 1000 / 2**20:>5.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
