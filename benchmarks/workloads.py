"""The workloads of ``benchmarks/run.py``: inputs built once, contenders per library.

Each builder returns a :class:`~_harness.Benchmark`, or ``None`` (with the
reason) when it cannot run here. Inputs are made outside the timed region with
``_frames`` (own serializer, fixed masking key), so every library parses the
same bytes.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import _frames as fr
import _peers as peers
from _harness import Benchmark, Contender

#: Rows in every benchmark, in this order (a missing library is left out).
LIBRARIES = ("wsproto_lite", "wsproto", "websockets")


def _available() -> dict[str, bool]:
    return {
        "wsproto_lite": peers.lite_available(),
        "wsproto": peers.wsproto_available(),
        "websockets": peers.websockets_available(),
    }


@contextlib.contextmanager
def pure_masking() -> Iterator[None]:
    """Make wsproto_lite use its pure-Python masking for the duration."""
    from wsproto_lite import _mask

    # Every masking function a module imported, swapped for its pure twin.
    pure = {
        "apply_mask": _mask.apply_mask_python,
        "apply_mask_slice": _mask.apply_mask_slice_python,
        "apply_mask_join": _mask.apply_mask_join_python,
        "mask_frame": _mask.mask_frame_python,
    }
    patched = []
    for name, module in list(sys.modules.items()):
        if (name == "wsproto_lite" or name.startswith("wsproto_lite.")) and name != (
            "wsproto_lite._mask"
        ):
            for attr, replacement in pure.items():
                current = getattr(module, attr, None)
                if current is not None and current is getattr(_mask, attr):
                    patched.append((module, attr, current))
                    setattr(module, attr, replacement)
    try:
        yield
    finally:
        for module, attr, original in patched:
            setattr(module, attr, original)


def _speedups_active() -> bool:
    try:
        from wsproto_lite import _frames as frames
    except ImportError:  # pragma: no cover
        return False
    return bool(getattr(frames, "SPEEDUPS", False))


def _check_messages(count: int, expect_count: int, last: Any, expect_last: Any) -> None:
    assert count == expect_count, f"{count} messages, expected {expect_count}"
    assert last == expect_last, "the last message's payload is wrong"


def _receive_contenders(
    chunks: Sequence[bytes],
    count: int,
    last: Any,
    *,
    deflate: bool = False,
    max_size: int | None = 1 << 20,
    pure_row: bool = False,
    copy_row: bool = False,
) -> list[Contender]:
    """wsproto_lite, wsproto and websockets servers receiving *chunks*."""
    have = _available()

    def check(result: tuple[int, Any]) -> None:
        _check_messages(result[0], count, result[1], last)

    rows: list[Contender] = []
    if have["wsproto_lite"]:
        rows.append(
            Contender(
                "wsproto_lite",
                lambda conn: peers.lite_receive(conn, chunks),
                lambda: peers.lite_server(deflate=deflate, max_size=max_size),
                check,
            )
        )
        if pure_row and _speedups_active():

            def run_pure(conn: Any) -> tuple[int, Any]:
                with pure_masking():
                    return peers.lite_receive(conn, chunks)

            rows.append(
                Contender(
                    "wsproto_lite[pure]",
                    run_pure,
                    lambda: peers.lite_server(deflate=deflate, max_size=max_size),
                    check,
                )
            )
    if have["wsproto"]:
        rows.append(
            Contender(
                "wsproto",
                lambda ws: peers.wsproto_receive(ws, chunks),
                lambda: peers.wsproto_server(deflate=deflate),
                check,
            )
        )
    if have["websockets"]:
        rows.append(
            Contender(
                "websockets",
                lambda proto: peers.websockets_receive(proto, chunks),
                lambda: peers.websockets_server(deflate=deflate, max_size=max_size),
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
    return Benchmark(
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
    bench = Benchmark(
        f"2 recv binary {label} x{n}",
        "MB/s",
        n * size / 1e6,
        _receive_contenders(chunks, n, payloads[-1], max_size=None, pure_row=True, copy_row=True),
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
    return Benchmark(
        f"3 recv text 1 KiB/8 frags x{n}",
        "msg/s",
        n,
        _receive_contenders(chunks, n, messages[-1]),
        f"server receives {n} UTF-8 text messages of 1 KiB, each in 8 fragments"
        " (fragments split multi-byte characters)",
    )


# -- 4. sending -------------------------------------------------------------------------


def send_small_text(scale: float) -> Benchmark:
    """Workload 4a: a server sends 16-byte text messages (data_to_send after each)."""
    n = max(1000, int(100_000 * scale))
    messages = [f"{i:016d}" for i in range(n)]
    expect_total = n * 18
    expect_last = fr.frame(fr.TEXT, messages[-1].encode(), key=None)

    def check(result: tuple[int, Any]) -> None:
        assert result[0] == expect_total, f"{result[0]} bytes, expected {expect_total}"
        assert bytes(result[1]) == expect_last, "the last frame is wrong"

    have = _available()
    rows = []
    if have["wsproto_lite"]:
        rows.append(
            Contender(
                "wsproto_lite",
                lambda c: peers.lite_send_text(c, messages),
                peers.lite_server,
                check,
            )
        )
    if have["wsproto"]:
        rows.append(
            Contender(
                "wsproto",
                lambda c: peers.wsproto_send_text(c, messages),
                peers.wsproto_server,
                check,
            )
        )
    if have["websockets"]:
        rows.append(
            Contender(
                "websockets",
                lambda c: peers.websockets_send_text(c, messages),
                peers.websockets_server,
                check,
            )
        )
    return Benchmark(
        f"4 send text 16 B x{n} (server)",
        "msg/s",
        n,
        rows,
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

    have = _available()
    rows = []
    if have["wsproto_lite"]:
        rows.append(
            Contender(
                "wsproto_lite",
                lambda c: peers.lite_send_binary(c, payloads),
                lambda: peers.lite_client(max_size=None),
                check,
            )
        )
        if _speedups_active():

            def run_pure(c: Any) -> tuple[int, Any]:
                with pure_masking():
                    return peers.lite_send_binary(c, payloads)

            rows.append(
                Contender(
                    "wsproto_lite[pure]",
                    run_pure,
                    lambda: peers.lite_client(max_size=None),
                    check,
                )
            )
    if have["wsproto"]:
        rows.append(
            Contender(
                "wsproto",
                lambda c: peers.wsproto_send_binary(c, payloads),
                peers.wsproto_client,
                check,
            )
        )
    if have["websockets"]:
        rows.append(
            Contender(
                "websockets",
                lambda c: peers.websockets_send_binary(c, payloads),
                lambda: peers.websockets_client(max_size=None),
                check,
            )
        )
    copy = _copy_contender(payloads)
    rows.append(copy)
    bench = Benchmark(
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
    if not peers.lite_deflate_available():
        return "5 recv deflate: skipped, wsproto_lite/extensions/permessage_deflate.py is missing"
    n = max(500, int(10_000 * scale))
    messages = _json_messages(n)
    deflater = fr.Deflater()
    data = fr.stream(fr.frame(fr.TEXT, deflater.message(m.encode()), rsv1=True) for m in messages)
    chunks = fr.chunked(data)
    ratio = len(data) / sum(len(m) for m in messages)
    bench = Benchmark(
        f"5 recv deflate JSON ~1 KiB x{n}",
        "msg/s",
        n,
        _receive_contenders(chunks, n, messages[-1], deflate=True),
        f"server receives {n} permessage-deflate JSON messages of ~1 KiB",
    )
    bench.notes.append(f"compressed to {ratio:.0%} of the text (context takeover)")
    return bench


# -- 6. handshakes ----------------------------------------------------------------------


def _runner(
    fn: Callable[[bytes, int], tuple[int, Any]], request: bytes, n: int
) -> Callable[[Any], tuple[int, Any]]:
    return lambda _: fn(request, n)


def handshakes(scale: float) -> Benchmark:
    """Workload 6: server handshakes, request bytes in, response bytes out."""
    n = max(500, int(10_000 * scale))
    request = fr.upgrade_request()

    def check(result: tuple[int, Any]) -> None:
        assert result[0] == n, f"{result[0]} handshakes, expected {n}"
        out = bytes(result[1])
        assert out.startswith(b"HTTP/1.1 101") and fr.WS_ACCEPT in out, out[:200]

    have = _available()
    fns: dict[str, Callable[[bytes, int], tuple[int, Any]]] = {}
    if have["wsproto_lite"]:
        fns["wsproto_lite"] = peers.lite_handshakes
    if have["wsproto"]:
        fns["wsproto"] = peers.wsproto_handshakes
    if have["websockets"]:
        fns["websockets"] = peers.websockets_handshakes
    rows = [Contender(name, _runner(fn, request, n), check=check) for name, fn in fns.items()]
    return Benchmark(
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
