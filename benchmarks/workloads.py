"""The workloads of ``benchmarks/run.py``: inputs built once, contenders per library.

Each builder returns a :class:`~_harness.Benchmark`, or ``None`` (with the
reason) when it cannot run here. Inputs are made outside the timed region with
``_frames`` (own serializer, fixed masking key), so every library parses the
same bytes.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import _frames as fr
import _peers as peers
from _harness import Benchmark, Contender


@dataclass
class Peer:
    """One row of the tables: a library (or a build of ours) and its loops.

    A missing loop means the library has no such API (e.g. aiohttp's handshake
    belongs to its web server): the row is left out of that workload, with a note.
    """

    name: str
    server: Callable[..., Any] | None = None  # (deflate=, max_size=) -> state
    client: Callable[..., Any] | None = None  # (max_size=) -> state
    #: The server side's sending half, when it is not the same object as ``server``'s.
    sender: Callable[[], Any] | None = None
    receive: Callable[[Any, Sequence[bytes]], tuple[int, Any]] | None = None
    send_text: Callable[[Any, Sequence[str]], tuple[int, Any]] | None = None
    send_binary: Callable[[Any, Sequence[bytes]], tuple[int, Any]] | None = None
    handshakes: Callable[[bytes, int], tuple[int, Any]] | None = None
    deflate: bool = True
    notes: list[str] = field(default_factory=list)


def _lite_peer(name: str, lib: Any) -> Peer:
    p = functools.partial
    return Peer(
        name,
        server=p(peers.lite_server, lib=lib),
        client=p(peers.lite_client, lib=lib),
        receive=p(peers.lite_receive, lib=lib),
        send_text=p(peers.lite_send_text, lib=lib),
        send_binary=p(peers.lite_send_binary, lib=lib),
        handshakes=p(peers.lite_handshakes, lib=lib),
    )


@functools.cache
def all_peers() -> tuple[list[Peer], list[str]]:
    """The rows available here, in table order, and a note per missing one.

    ``wsproto_lite`` is the build this checkout has (compiled core and C masking
    when they were built: see ``wsproto_lite.COMPILED``); ``wsproto_lite[pure]``
    is a second copy of the same source loaded entirely as pure Python (only
    when the first has anything compiled). ``websockets[pure]`` is websockets
    with its C masking swapped for its pure-Python one.
    """
    import wsproto_lite

    rows = [_lite_peer("wsproto_lite", wsproto_lite)]
    missing = []
    if wsproto_lite.COMPILED:
        rows.append(_lite_peer("wsproto_lite[pure]", peers.load_pure_lite()))
    if peers.wsproto_available():
        rows.append(
            Peer(
                "wsproto",
                # (wsproto has no size limit to set)
                server=lambda deflate=False, max_size=None: peers.wsproto_server(deflate=deflate),
                client=lambda max_size=None: peers.wsproto_client(),
                receive=peers.wsproto_receive,
                send_text=peers.wsproto_send_text,
                send_binary=peers.wsproto_send_binary,
                handshakes=peers.wsproto_handshakes,
            )
        )
    else:
        missing.append("wsproto is not installed (pip install wsproto): no baseline, no ratios")
    if peers.websockets_available():
        rows.append(
            Peer(
                "websockets",
                server=peers.websockets_server,
                client=peers.websockets_client,
                receive=peers.websockets_receive,
                send_text=peers.websockets_send_text,
                send_binary=peers.websockets_send_binary,
                handshakes=peers.websockets_handshakes,
            )
        )
        if peers.websockets_speedups_available():
            rows.append(
                Peer(
                    "websockets[pure]",
                    server=peers.websockets_server,
                    client=peers.websockets_client,
                    receive=peers.websockets_pure(peers.websockets_receive),
                    send_text=peers.websockets_pure(peers.websockets_send_text),
                    send_binary=peers.websockets_pure(peers.websockets_send_binary),
                    handshakes=peers.websockets_pure(peers.websockets_handshakes),
                )
            )
    else:
        missing.append("websockets is not installed (pip install websockets)")
    if peers.aiohttp_available():
        rows.append(
            Peer(
                "aiohttp",
                server=peers.aiohttp_server,
                sender=peers.aiohttp_writer,
                client=lambda max_size=None: peers.aiohttp_writer(client=True),
                receive=peers.aiohttp_receive,
                send_text=peers.aiohttp_send_text,
                send_binary=peers.aiohttp_send_binary,
                notes=["aiohttp: no handshake row (its handshake is its web server's)"],
            )
        )
    else:
        missing.append("aiohttp is not installed (pip install aiohttp): its rows are skipped")
    if peers.picows_available():
        rows.append(
            Peer(
                "picows",
                server=peers.picows_server,
                client=peers.picows_client,
                receive=peers.picows_receive,
                send_text=peers.picows_send_text,
                send_binary=peers.picows_send_binary,
                deflate=False,
                notes=[
                    "picows: no permessage-deflate, no handshake row (its own HTTP parser"
                    " runs only inside its asyncio protocol)"
                ],
            )
        )
    else:
        missing.append("picows is not installed (pip install picows): its rows are skipped")
    return rows, missing


def _check_messages(count: int, expect_count: int, last: Any, expect_last: Any) -> None:
    assert count == expect_count, f"{count} messages, expected {expect_count}"
    assert last == expect_last, "the last message's payload is wrong"


def _bench(name: str, unit: str, work: float, rows: list[Contender], description: str) -> Benchmark:
    """A benchmark with the notes of the peers missing here or lacking the workload."""
    peers_here, missing = all_peers()
    bench = Benchmark(name, unit, work, rows, description)
    names = {c.name for c in rows}
    for peer in peers_here:
        if peer.name not in names:
            bench.notes.extend(n for n in peer.notes if n not in bench.notes)
    bench.notes.extend(missing)
    return bench


def _receive_contenders(
    chunks: Sequence[bytes],
    count: int,
    last: Any,
    *,
    deflate: bool = False,
    max_size: int | None = 1 << 20,
    copy_row: bool = False,
) -> list[Contender]:
    """A server of every peer receiving *chunks*."""

    def check(result: tuple[int, Any]) -> None:
        _check_messages(result[0], count, result[1], last)

    rows: list[Contender] = []
    for peer in all_peers()[0]:
        if peer.receive is None or peer.server is None or (deflate and not peer.deflate):
            continue
        receive, server = peer.receive, peer.server
        rows.append(
            Contender(
                peer.name,
                functools.partial(lambda st, r: r(st, chunks), r=receive),
                functools.partial(server, deflate=deflate, max_size=max_size),
                check,
            )
        )
    if copy_row:
        rows.append(_copy_contender(chunks))
    return rows


def _copy_contender(pieces: Sequence[bytes]) -> Contender:
    """Reference row: ``bytes(bytearray(piece))`` of each piece: plain memory copies."""
    total = sum(len(p) for p in pieces)

    def run(_: Any) -> tuple[int, Any]:
        n = 0
        out = b""
        for piece in pieces:
            out = bytes(bytearray(piece))
            n += len(out)
        return n, out

    def check(result: tuple[int, Any]) -> None:
        assert result[0] == total and result[1] == pieces[-1]

    return Contender("copy (reference)", run, check=check)


# -- 1. small text frames -----------------------------------------------------------------


def recv_small_text(scale: float) -> Benchmark:
    """Workload 1: a server receives masked 16-byte text frames in 64 KiB chunks."""
    n = max(1000, int(100_000 * scale))
    messages = [f"{i:016d}" for i in range(n)]
    data = fr.stream(fr.frame(fr.TEXT, m.encode()) for m in messages)
    chunks = fr.chunked(data)
    return _bench(
        f"1 recv text 16 B x{n}",
        "msg/s",
        n,
        _receive_contenders(chunks, n, messages[-1]),
        f"server receives {n} masked 16-byte text frames fed in 64 KiB chunks",
    )


# -- 2. large binary frames ---------------------------------------------------------------


def _binary_payloads(n: int, size: int) -> list[bytes]:
    base = random.Random(size).randbytes(size)
    return [i.to_bytes(4, "big") + base[4:] for i in range(n)]


def recv_large_binary(scale: float, size: int, count: int) -> Benchmark:
    """Workload 2: a server receives masked binary frames of *size* bytes, 64 KiB chunks."""
    n = max(2, int(count * scale))
    payloads = _binary_payloads(n, size)
    data = fr.stream(fr.frame(fr.BINARY, p) for p in payloads)
    chunks = fr.chunked(data)
    label = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
    bench = _bench(
        f"2 recv binary {label} x{n}",
        "MB/s",
        n * size / 1e6,
        _receive_contenders(chunks, n, payloads[-1], max_size=None, copy_row=True),
        f"server receives {n} masked {label} binary frames fed in 64 KiB chunks"
        " (size limits raised for all)",
    )
    bench.notes.append("copy (reference) = bytes(bytearray(chunk)) of every 64 KiB input chunk")
    return bench


# -- 3. fragmented text -----------------------------------------------------------------


def _utf8_text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    alphabet = "abcdefghij klmnopqrst uvwxyz éèàüöß ∑∂πΩ 漢字かな 🙂🚀"
    out = []
    length = 0
    while length < size:
        ch = rng.choice(alphabet)
        b = len(ch.encode())
        if length + b > size:
            ch, b = "x" * (size - length), size - length
        out.append(ch)
        length += b
    return "".join(out)


def recv_fragmented_text(scale: float) -> Benchmark:
    """Workload 3: 1 KiB UTF-8 text messages, each in 8 masked fragments of 128 bytes."""
    n = max(500, int(20_000 * scale))
    texts = [_utf8_text(1024, i) for i in range(64)]
    messages = [texts[i % 64] for i in range(n)]
    frames = []
    for m in messages:
        raw = m.encode()
        assert len(raw) == 1024
        for k in range(8):
            opcode = fr.TEXT if k == 0 else fr.CONTINUATION
            frames.append(fr.frame(opcode, raw[k * 128 : (k + 1) * 128], fin=k == 7))
    chunks = fr.chunked(fr.stream(frames))
    return _bench(
        f"3 recv text 1 KiB/8 frags x{n}",
        "msg/s",
        n,
        _receive_contenders(chunks, n, messages[-1]),
        f"server receives {n} UTF-8 text messages of 1 KiB, each in 8 fragments"
        " (fragments split multi-byte characters)",
    )


# -- 4. sending -------------------------------------------------------------------------


def _send_contenders(
    payloads: Sequence[Any], check: Callable[[Any], None], *, text: bool, client: bool
) -> list[Contender]:
    rows = []
    for peer in all_peers()[0]:
        send = peer.send_text if text else peer.send_binary
        make = peer.client if client else (peer.sender or peer.server)
        if send is None or make is None:
            continue
        prepare = functools.partial(make, max_size=None) if client else make
        rows.append(
            Contender(
                peer.name,
                functools.partial(lambda st, f: f(st, payloads), f=send),
                prepare,
                check,
            )
        )
    return rows


def send_small_text(scale: float) -> Benchmark:
    """Workload 4a: a server sends 16-byte text messages (data_to_send after each)."""
    n = max(1000, int(100_000 * scale))
    messages = [f"{i:016d}" for i in range(n)]
    expect_total = n * 18
    expect_last = fr.frame(fr.TEXT, messages[-1].encode(), key=None)

    def check(result: tuple[int, Any]) -> None:
        assert result[0] == expect_total, f"{result[0]} bytes, expected {expect_total}"
        assert bytes(result[1]) == expect_last, "the last frame is wrong"

    return _bench(
        f"4 send text 16 B x{n} (server)",
        "msg/s",
        n,
        _send_contenders(messages, check, text=True, client=False),
        f"server sends {n} 16-byte text messages, taking the bytes after each",
    )


def send_large_binary(scale: float) -> Benchmark:
    """Workload 4b: a client sends 64 KiB binary messages (masked with a fresh key each)."""
    n = max(20, int(2_000 * scale))
    size = 1 << 16
    payloads = _binary_payloads(n, size)
    expect_total = n * (size + 14)

    def check(result: tuple[int, Any]) -> None:
        assert result[0] == expect_total, f"{result[0]} bytes, expected {expect_total}"
        opcode, payload = fr.unmask_frame(bytes(result[1]))
        assert opcode == fr.BINARY and payload == payloads[-1], "the last frame is wrong"

    rows = _send_contenders(payloads, check, text=False, client=True)
    rows.append(_copy_contender(payloads))
    bench = _bench(
        f"4 send binary 64 KiB x{n} (client)",
        "MB/s",
        n * size / 1e6,
        rows,
        f"client sends {n} binary messages of 64 KiB (masking), taking the bytes after each",
    )
    bench.notes.append("copy (reference) = bytes(bytearray(payload)) of every message")
    return bench


# -- 5. permessage-deflate --------------------------------------------------------------


def _json_messages(n: int) -> list[str]:
    rng = random.Random(5)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    out = []
    for i in range(n):
        doc: dict[str, Any] = {"id": i, "type": rng.choice(words), "items": []}
        while True:
            doc["items"].append(
                {
                    "name": rng.choice(words) + "-" + rng.choice(words),
                    "price": round(rng.uniform(0, 1000), 2),
                    "tags": rng.sample(words, 3),
                    "active": rng.random() < 0.5,
                }
            )
            text = json.dumps(doc)
            if len(text) >= 1000:
                break
        out.append(text)
    return out


def recv_deflate(scale: float) -> Benchmark | str:
    """Workload 5: compressed ~1 KiB JSON text messages (context takeover, 15-bit window)."""
    n = max(500, int(10_000 * scale))
    messages = _json_messages(n)
    deflater = fr.Deflater()
    data = fr.stream(fr.frame(fr.TEXT, deflater.message(m.encode()), rsv1=True) for m in messages)
    chunks = fr.chunked(data)
    ratio = len(data) / sum(len(m) for m in messages)
    bench = _bench(
        f"5 recv deflate JSON ~1 KiB x{n}",
        "msg/s",
        n,
        _receive_contenders(chunks, n, messages[-1], deflate=True),
        f"server receives {n} permessage-deflate JSON messages of ~1 KiB",
    )
    bench.notes.append(f"compressed to {ratio:.0%} of the text (context takeover)")
    return bench


# -- 6. handshakes ----------------------------------------------------------------------


def handshakes(scale: float) -> Benchmark:
    """Workload 6: server handshakes, request bytes in, response bytes out."""
    n = max(500, int(10_000 * scale))
    request = fr.upgrade_request()

    def check(result: tuple[int, Any]) -> None:
        assert result[0] == n, f"{result[0]} handshakes, expected {n}"
        out = bytes(result[1])
        assert out.startswith(b"HTTP/1.1 101") and fr.WS_ACCEPT in out, out[:200]

    rows = [
        Contender(
            peer.name, functools.partial(lambda _, f: f(request, n), f=peer.handshakes), check=check
        )
        for peer in all_peers()[0]
        if peer.handshakes is not None
    ]
    return _bench(
        f"6 server handshakes x{n}",
        "hs/s",
        n,
        rows,
        f"{n} server handshakes: new connection, request bytes in, 101 response bytes out",
    )


def all_benchmarks(scale: float) -> list[tuple[str, Callable[[], Benchmark | str]]]:
    """(name, builder) of every in-process workload; builders run lazily."""
    return [
        ("recv_small", lambda: recv_small_text(scale)),
        ("recv_64k", lambda: recv_large_binary(scale, 1 << 16, 2000)),
        ("recv_4m", lambda: recv_large_binary(scale, 4 << 20, 20)),
        ("recv_fragmented", lambda: recv_fragmented_text(scale)),
        ("send_small", lambda: send_small_text(scale)),
        ("send_64k_client", lambda: send_large_binary(scale)),
        ("recv_deflate", lambda: recv_deflate(scale)),
        ("handshake", lambda: handshakes(scale)),
    ]
