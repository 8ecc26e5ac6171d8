"""The load and fault suite: each adapter's server, and the websockets server, under load.

Usage::

    python benchmarks/load.py                      # everything, full size (~20 min)
    python benchmarks/load.py --quick              # the short version (~1 min per server)
    python benchmarks/load.py --servers sync,trio --checks idle,close
    python benchmarks/load.py --json out.json

Each server runs in a process of its own (``python benchmarks/load.py --serve
KIND``) on loopback, with the same handlers chosen by the request's path:
``/echo`` echoes, ``/idle`` waits for the end, ``/big`` sends one large
message then waits. Keepalive is off, every other option is the server's
default (permessage-deflate accepted, ``close_timeout`` 10 s). The clients
are independent of the server under test: the ``websockets`` package for
the load, raw sockets that speak the handshake by hand for the rest.

Checks (``--checks`` names):

``load``
    N connections × M messages (1 B–16 KiB, text and binary, the client
    offers permessage-deflate), all at once: messages lost or corrupted,
    and the server's peak RSS (``VmHWM``).
``idle``, ``idle_deflate``
    N idle connections: the server's RSS per connection, without and with
    permessage-deflate negotiated.
``close``
    N idle connections, then SIGTERM: the server closes them all with 1001
    (each client answers the close frame); how long until every one ended,
    or how many are still open after ``close_timeout`` and a margin.
``ping_flood``
    A client floods pings and never reads: the server's RSS growth, over
    the whole flood and over its second half.
``send_flood``
    The same while the server sends one large message to that client.
``faults``
    Resets in the middle of the handshake, of a message and of the close,
    slowloris clients, garbage before and after the handshake: the server
    stays up, drops each in time, logs no traceback, and still serves; then
    SIGTERM with 100 clients: every client gets 1001 and the server exits 0.

One line per check and server as it runs, and a table at the end.
``tests/test_load.py`` runs the short version of the checks on the three
adapters in CI and asserts their outcome; ``tox -e load`` runs this.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path.insert(0, _ROOT)  # this checkout's wsproto_lite

SERVERS = ("asyncio", "trio", "sync", "websockets")
CHECKS = ("load", "idle", "idle_deflate", "close", "ping_flood", "send_flood", "faults")
KIB, MIB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class Sizes:
    """How big each check is."""

    load_connections: int = 1000
    load_messages: int = 100
    idle: int = 10_000
    close: int = 2000
    flood_seconds: float = 20.0
    big: int = 100_000_000
    sigterm_clients: int = 100
    open_timeout: float = 10.0
    close_timeout: float = 10.0


FULL = Sizes()
QUICK = Sizes(
    load_connections=50,
    load_messages=20,
    idle=300,
    close=300,
    # close_timeout and 3 s more: the server first fills the socket buffers
    # (slower on a busy machine), then gives the peer close_timeout.
    flood_seconds=6.0,
    big=20_000_000,
    sigterm_clients=20,
    open_timeout=2.0,
    close_timeout=3.0,
)


# -- the servers (each in a child process) ------------------------------------------------


def _serve(kind: str, open_timeout: float, close_timeout: float, big: int) -> None:
    """Run server *kind* until SIGTERM, then shut it down gracefully and exit 0."""
    options: dict[str, Any] = {
        "ping_interval": None,
        "open_timeout": open_timeout,
        "close_timeout": close_timeout,
    }

    def ready(port: int) -> None:
        print(f"PORT {port}", flush=True)

    if kind == "sync":
        from wsproto_lite.adapters.sync import serve as sync_serve

        def sync_handler(ws: Any) -> None:
            path = ws.request.target
            if path == "/echo":
                for message in ws:
                    ws.send(message)
            elif path == "/big":
                ws.send(bytes(big))
                ws.wait_closed()
            else:
                ws.wait_closed()

        class Stop(Exception):
            pass

        def stop(signum: int, frame: Any) -> None:
            raise Stop

        server = sync_serve(sync_handler, "127.0.0.1", 0, **options)
        signal.signal(signal.SIGTERM, stop)
        with contextlib.suppress(Stop), server:
            ready(server.port)
            server.serve_forever()
        return

    async def handler(ws: Any) -> None:
        request = ws.request
        path = request.path if kind == "websockets" else request.target
        if path == "/echo":
            async for message in ws:
                await ws.send(message)
        elif path == "/big":
            await ws.send(bytes(big))
            await ws.wait_closed()
        else:
            await ws.wait_closed()

    if kind == "trio":
        import trio

        from wsproto_lite.adapters.trio import serve as trio_serve

        async def trio_main() -> None:
            with trio.open_signal_receiver(signal.SIGTERM) as signals:
                async with trio.open_nursery() as nursery:
                    server = await nursery.start(
                        lambda task_status: trio_serve(
                            handler, "127.0.0.1", 0, task_status=task_status, **options
                        )
                    )
                    ready(server.port)
                    async for _ in signals:
                        nursery.cancel_scope.cancel()
                        break

        trio.run(trio_main)
        return

    if kind == "websockets":
        from websockets.exceptions import ConnectionClosed

        async def ws_handler(ws: Any) -> None:
            # A client that leaves is not an error (our adapters say the same).
            with contextlib.suppress(ConnectionClosed):
                await plain_handler(ws)

        plain_handler, handler = handler, ws_handler

    async def main() -> None:
        if kind == "asyncio":
            from wsproto_lite.adapters.asyncio import serve as aio_serve

            server: Any = await aio_serve(handler, "127.0.0.1", 0, backlog=4096, **options)
            port = server.port
        else:
            from websockets.asyncio.server import serve as ws_serve

            server = await ws_serve(handler, "127.0.0.1", 0, backlog=4096, **options)
            port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
        ready(port)
        await stopped.wait()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


class ServerProcess:
    """A server in a child process: its port, its memory, SIGTERM."""

    def __init__(self, kind: str, sizes: Sizes) -> None:
        self.kind = kind
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--serve",
                kind,
                "--open-timeout",
                str(sizes.open_timeout),
                "--close-timeout",
                str(sizes.close_timeout),
                "--big",
                str(sizes.big),
            ],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cwd=_ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the {kind} server did not start: {line!r} {self.errors()}")
        self.port = int(line.split()[1])

    def status(self, name: str) -> int:
        """A ``/proc/PID/status`` figure in bytes (``VmRSS``, ``VmHWM``)."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * KIB
        raise KeyError(name)

    def rss(self) -> int:
        return self.status("VmRSS")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def errors(self) -> str:
        """What the server wrote to stderr."""
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def terminate(self, timeout: float) -> int | None:
        """SIGTERM; the exit code, or None if it did not exit within *timeout*."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.stderr.close()


@contextlib.contextmanager
def server(kind: str, sizes: Sizes) -> Iterator[ServerProcess]:
    process = ServerProcess(kind, sizes)
    try:
        yield process
    finally:
        process.close()


# -- raw clients ------------------------------------------------------------------------

KEY = b"\x37\xfa\x21\x3d"


def masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client's frame (RFC 6455 §5.2), masked with :data:`KEY`."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((b0, 0x80 | 126)) + struct.pack("!H", n)
    else:
        head = bytes((b0, 0x80 | 127)) + struct.pack("!Q", n)
    stream = (KEY * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + KEY + (body if n else b"")


PING = masked(0x9, b"p" * 125)
CLOSE_1000 = masked(0x8, struct.pack("!H", 1000))


def request(port: int, path: str, deflate: bool = False) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra if deflate else ''}\r\n"
    ).encode()


def read_head(sock: socket.socket) -> bytes:
    """The response head, read a byte at a time (nothing after it is consumed)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"closed during the handshake: {head!r}")
        head += chunk
    return head


def open_raw(
    port: int, path: str, deflate: bool = False, rcvbuf: int | None = None
) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request(port, path, deflate))
    head = read_head(sock)
    if not head.startswith(b"HTTP/1.1 101 "):
        raise ConnectionError(head.decode("latin-1").splitlines()[0])
    if deflate and b"permessage-deflate" not in head.lower():
        raise ConnectionError("permessage-deflate was not negotiated")
    return sock


def open_many(port: int, path: str, count: int, deflate: bool = False) -> list[socket.socket]:
    """*count* connections whose handshake is done, opened 100 at a time."""
    socks: list[socket.socket] = []
    try:
        while len(socks) < count:
            batch = []
            for _ in range(min(100, count - len(socks))):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.settimeout(60)
                sock.connect(("127.0.0.1", port))
                sock.sendall(request(port, path, deflate))
                batch.append(sock)
            for sock in batch:
                socks.append(sock)
                head = read_head(sock)
                if not head.startswith(b"HTTP/1.1 101 "):
                    raise ConnectionError(head.decode("latin-1").splitlines()[0])
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def reset(sock: socket.socket) -> None:
    """Close *sock* with a TCP RST (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def server_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The whole frames at the start of *buf* (opcode, payload), and the rest."""
    frames = []
    pos = 0
    while len(buf) - pos >= 2:
        n, head = buf[pos + 1] & 0x7F, 2
        if n == 126:
            if len(buf) - pos < 4:
                break
            n, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
        elif n == 127:
            if len(buf) - pos < 10:
                break
            n, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
        if len(buf) - pos < head + n:
            break
        frames.append((buf[pos] & 0x0F, buf[pos + head : pos + head + n]))
        pos += head + n
    return frames, buf[pos:]


def answer_closes(socks: list[socket.socket], timeout: float) -> tuple[list[float], list[int]]:
    """Answer each server's close frame and wait for its EOF, all at once.

    Returns the seconds until each connection ended (from the call) and the
    close codes received; connections still open after *timeout* are left out.
    """
    start = time.monotonic()
    ended: list[float] = []
    codes: list[int] = []
    buffers: dict[socket.socket, bytes] = {}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            buffers[sock] = b""
        while buffers and time.monotonic() - start < timeout:
            for key, _ in selector.select(0.1):
                sock = cast(socket.socket, key.fileobj)
                try:
                    data = sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    frames, buffers[sock] = server_frames(buffers[sock] + data)
                    for opcode, payload in frames:
                        if opcode == 0x8:
                            codes.append(struct.unpack("!H", payload[:2])[0] if payload else 1005)
                            with contextlib.suppress(OSError):
                                sock.send(masked(0x8, payload[:2]))
                    continue
                ended.append(time.monotonic() - start)
                selector.unregister(sock)
                del buffers[sock]
    return ended, codes


class PingFlood:
    """One connection that floods *data* from a thread and never reads."""

    def __init__(self, port: int, path: str, data: bytes = PING * 512) -> None:
        self.sock = open_raw(port, path, rcvbuf=4096)
        self.sock.settimeout(None)
        self.data = data
        self.sent = 0
        self.ended: float | None = None  # when the server gave up on us
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.sock.sendall(self.data)
                self.sent += len(self.data)
        except OSError:
            if not self._stop.is_set():
                self.ended = time.monotonic() - self.started

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self.sock.close()


# -- checks -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one check found on one server: a short text, whether it passed, figures."""

    text: str
    ok: bool
    figures: dict[str, Any] = field(default_factory=dict)


def _payload(rng: random.Random, n: int) -> str | bytes:
    size = rng.randint(1, 16 * KIB)
    if n % 2:
        return rng.randbytes(size)
    words = ("alpha", "beta", "gamma", "delta", "ε", "ζ", "{", "}", '"', ":", " ")
    text = "".join(rng.choice(words) for _ in range(size // 4 + 1))
    return text[:size]


def check_load(kind: str, sizes: Sizes) -> Outcome:
    """N connections × M messages at once through a websockets client."""
    from websockets.asyncio.client import connect

    conns, messages = sizes.load_connections, sizes.load_messages
    stats = {"ok": 0, "corrupted": 0, "failed_connections": 0}

    failures: collections.Counter[str] = collections.Counter()  # why connections failed

    async def client(port: int, n: int, opened: asyncio.Semaphore) -> None:
        rng = random.Random(n)
        stage = "handshake"
        try:
            async with opened:
                ws = await connect(
                    f"ws://127.0.0.1:{port}/echo",
                    ping_interval=None,
                    open_timeout=60,
                    close_timeout=30,
                    max_size=None,
                )
            stage = "messages"
            try:
                for i in range(messages):
                    payload = _payload(rng, i)
                    await ws.send(payload)
                    if await ws.recv() == payload:
                        stats["ok"] += 1
                    else:
                        stats["corrupted"] += 1
                stage = "close"
            finally:
                await ws.close()
        except Exception as exc:
            stats["failed_connections"] += 1
            failures[f"{stage}: {type(exc).__name__}: {str(exc)[:80]}"] += 1

    async def run(port: int) -> float:
        opened = asyncio.Semaphore(100)  # handshakes in flight at once
        start = time.monotonic()
        await asyncio.gather(*(client(port, n, opened) for n in range(conns)))
        return time.monotonic() - start

    with server(kind, sizes) as proc:
        took = asyncio.run(run(proc.port))
        peak = proc.status("VmHWM")
    lost = conns * messages - stats["ok"] - stats["corrupted"]
    ok = lost == 0 and stats["corrupted"] == 0
    text = f"lost {lost}, corrupted {stats['corrupted']}; peak RSS {peak / MIB:.0f} MiB"
    text += f" ({took:.0f} s)"
    if failures:  # say why, so that a loss can be told from a busy machine's timeout
        text += "; failed connections: " + "; ".join(
            f"{count} × {why}" for why, count in failures.most_common(3)
        )
    return Outcome(
        text,
        ok,
        {
            "lost": lost,
            "corrupted": stats["corrupted"],
            "peak_rss": peak,
            "seconds": took,
            "failed_connections": dict(failures),
        },
    )


def check_idle(kind: str, sizes: Sizes, deflate: bool = False) -> Outcome:
    """The server's RSS per idle connection."""
    count = sizes.idle
    with server(kind, sizes) as proc:
        warm = open_many(proc.port, "/idle", 20, deflate)  # code paths and threads warmed up
        time.sleep(0.5)
        before = proc.rss()
        socks = open_many(proc.port, "/idle", count, deflate)
        time.sleep(1.0)
        after = proc.rss()
        for sock in socks + warm:
            sock.close()
    per = (after - before) / count
    return Outcome(
        f"{per / KIB:.1f} KiB per connection ({count:,})",
        True,
        {"per_connection": per, "connections": count},
    )


def check_close(kind: str, sizes: Sizes) -> Outcome:
    """N idle connections, SIGTERM: how long until all of them ended."""
    count = sizes.close
    with server(kind, sizes) as proc:
        socks = open_many(proc.port, "/idle", count)
        time.sleep(0.5)
        proc.proc.send_signal(signal.SIGTERM)
        limit = sizes.close_timeout + 5
        ended, codes = answer_closes(socks, limit)
        for sock in socks:
            sock.close()
        exit_code = proc.proc.wait(30)
    still = count - len(ended)
    ok = still == 0 and max(ended, default=0) <= sizes.close_timeout and exit_code == 0
    text = (
        f"all {count:,} in {max(ended):.1f} s"
        if not still
        else f"{still:,} of {count:,} still open after {limit:.0f} s"
    )
    going_away = sum(code == 1001 for code in codes)
    return Outcome(
        f"{text}; {going_away:,} got 1001; exit {exit_code}",
        ok,
        {"still_open": still, "seconds": max(ended, default=None), "exit": exit_code},
    )


def _flood(kind: str, sizes: Sizes, path: str) -> Outcome:
    seconds = sizes.flood_seconds
    with server(kind, sizes) as proc:
        time.sleep(0.3)
        start_rss = proc.rss()
        flood = PingFlood(proc.port, path)
        samples: list[tuple[float, int]] = []
        try:
            while time.monotonic() - flood.started < seconds and proc.alive():
                samples.append((time.monotonic() - flood.started, proc.rss()))
                time.sleep(0.1)
        finally:
            flood.stop()
        ended = flood.ended
    # Measured while the flood lasts (until the end, or until the server
    # drops the connection, which frees what it held), from 1 s in (a large
    # message is queued by then).
    until = seconds if ended is None else ended
    start = min(1.0, until / 4)
    after = [rss for t, rss in samples if start <= t <= until] or [start_rss]
    half = [rss for t, rss in samples if start + (until - start) / 2 <= t <= until] or after[-1:]
    growth, second_half = after[-1] - after[0], half[-1] - half[0]
    ok = second_half < 4 * MIB
    text = f"{growth / MIB:+.1f} MiB (second half {second_half / MIB:+.1f} MiB)"
    if ended is not None:
        text += f"; the server dropped the flood after {ended:.1f} s"
    return Outcome(
        text,
        ok,
        {
            "growth": growth,
            "second_half": second_half,
            "sent": flood.sent,
            "dropped_after": ended,
            "start_rss": start_rss,
        },
    )


def check_ping_flood(kind: str, sizes: Sizes) -> Outcome:
    """A client floods pings and never reads."""
    return _flood(kind, sizes, "/idle")


def check_send_flood(kind: str, sizes: Sizes) -> Outcome:
    """The server sends a large message while the client floods pings and never reads."""
    return _flood(kind, sizes, "/big")


def _echo_works(port: int) -> bool:
    try:
        with open_raw(port, "/echo") as sock:
            sock.sendall(masked(0x1, b"still here"))
            data = b""
            while len(data) < 12:
                chunk = sock.recv(64)
                if not chunk:
                    return False
                data += chunk
            return data[:12] == b"\x81\x0astill here"
    except OSError:
        return False


def _ends_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes *sock* within *seconds* (what it sends is dropped)."""
    sock.settimeout(seconds)
    start = time.monotonic()
    try:
        while sock.recv(65536):
            if time.monotonic() - start > seconds:
                return False
    except TimeoutError:
        return False
    except OSError:
        pass
    return True


def check_faults(kind: str, sizes: Sizes) -> Outcome:
    """Resets, slowloris, garbage; then SIGTERM with clients connected."""
    problems: list[str] = []
    rng = random.Random(7)
    grace = sizes.open_timeout + 3
    with server(kind, sizes) as proc:
        port = proc.port
        for _ in range(10):  # RST in the middle of the handshake
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(request(port, "/echo")[:40])
            reset(sock)
        for _ in range(10):  # RST in the middle of a message
            sock = open_raw(port, "/echo")
            sock.sendall(masked(0x2, bytes(5000))[:1000])
            reset(sock)
        for _ in range(10):  # RST right after a close frame
            sock = open_raw(port, "/echo")
            sock.sendall(CLOSE_1000)
            reset(sock)
        for _ in range(10):  # RST while the server writes a large message
            sock = open_raw(port, "/big")
            time.sleep(0.01)
            reset(sock)
        slow = []
        for _ in range(20):  # slowloris: the request one byte at a time, never finished
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"G")
            slow.append(sock)
        garbage = []
        for _ in range(10):  # garbage instead of a request
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(rng.randbytes(4096))
            garbage.append(sock)
        after = []
        for _ in range(10):  # garbage after the handshake
            sock = open_raw(port, "/echo")
            sock.sendall(rng.randbytes(4096))
            after.append(sock)
        deadline = time.monotonic() + grace
        for sock in slow:
            with contextlib.suppress(OSError):
                sock.sendall(b"E")
        if not all(_ends_within(s, max(0.1, deadline - time.monotonic())) for s in slow):
            problems.append("slowloris not dropped in time")
        if not all(_ends_within(s, 5) for s in garbage):
            problems.append("garbage request not dropped")
        if not all(_ends_within(s, sizes.close_timeout + 3) for s in after):
            problems.append("garbage after the handshake not closed")
        for sock in slow + garbage + after:
            sock.close()
        if not proc.alive():
            problems.append("the server died")
        elif not _echo_works(port):
            problems.append("no echo afterwards")
        # SIGTERM with clients connected (each says something first).
        clients = open_many(port, "/echo", sizes.sigterm_clients)
        for sock in clients:
            sock.sendall(masked(0x1, b"hi"))
        time.sleep(0.5)
        start = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        ended, codes = answer_closes(clients, sizes.close_timeout + 5)
        for sock in clients:
            sock.close()
        try:
            exit_code: int | None = proc.proc.wait(sizes.close_timeout + 5)
        except subprocess.TimeoutExpired:
            exit_code = None
        took = time.monotonic() - start
        if len(ended) < len(clients) or codes.count(1001) < len(clients):
            problems.append(
                f"SIGTERM: {len(ended)} of {len(clients)} ended, {codes.count(1001)} got 1001"
            )
        if exit_code != 0:
            problems.append(f"SIGTERM: exit code {exit_code}")
        errors = proc.errors()
        if "Traceback" in errors:
            problems.append("a traceback in the server's log")
    text = "all clean" if not problems else "; ".join(problems)
    return Outcome(
        text + f" (SIGTERM with {len(clients)} clients: {took:.1f} s)",
        not problems,
        {"problems": problems, "stderr": errors[-2000:]},
    )


RUNNERS: dict[str, Callable[[str, Sizes], Outcome]] = {
    "load": check_load,
    "idle": check_idle,
    "idle_deflate": lambda kind, sizes: check_idle(kind, sizes, deflate=True),
    "close": check_close,
    "ping_flood": check_ping_flood,
    "send_flood": check_send_flood,
    "faults": check_faults,
}

TITLES = {
    "load": "{c:,} connections × {m} messages: lost/corrupted, peak RSS",
    "idle": "{i:,} idle connections: RSS per connection",
    "idle_deflate": "the same with permessage-deflate",
    "close": "close {x:,} idle connections at once (SIGTERM)",
    "ping_flood": "a client floods pings, never reads ({s:.0f} s)",
    "send_flood": "the server sends {b} MB while the client floods pings",
    "faults": "RST, slowloris, garbage, SIGTERM with clients",
}


def title(check: str, sizes: Sizes) -> str:
    return TITLES[check].format(
        c=sizes.load_connections,
        m=sizes.load_messages,
        i=sizes.idle,
        x=sizes.close,
        s=sizes.flood_seconds,
        b=sizes.big // 1_000_000,
    )


def run_check(check: str, kind: str, sizes: Sizes) -> Outcome:
    """Run one check on one server; an exception becomes a failed outcome."""
    try:
        return RUNNERS[check](kind, sizes)
    except Exception as exc:
        return Outcome(f"error: {type(exc).__name__}: {exc}", False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short version")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--checks", default=",".join(CHECKS))
    parser.add_argument("--json", help="write the outcomes to this file")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--open-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--close-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--big", type=int, default=FULL.big, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.open_timeout, args.close_timeout, args.big)
        return 0
    sizes = QUICK if args.quick else FULL
    servers = [s for s in args.servers.split(",") if s]
    checks = [c for c in args.checks.split(",") if c]
    for name in servers + checks:
        if name not in SERVERS + CHECKS:
            parser.error(f"unknown server or check: {name}")
    results: dict[str, dict[str, Outcome]] = {}
    for check in checks:
        for kind in servers:
            outcome = run_check(check, kind, sizes)
            results.setdefault(check, {})[kind] = outcome
            mark = "ok  " if outcome.ok else "FAIL"
            print(f"{mark} {check:<13} {kind:<11} {outcome.text}", flush=True)
    print()
    width = max(len(title(c, sizes)) for c in checks)
    print(f"{'check':<{width}} | " + " | ".join(servers))
    for check in checks:
        cells = [results[check][kind].text for kind in servers]
        print(f"{title(check, sizes):<{width}} | " + " | ".join(cells))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {
                    check: {kind: vars(outcome) for kind, outcome in row.items()}
                    for check, row in results.items()
                },
                out,
                indent=2,
                default=str,
            )
    ours = ("asyncio", "trio", "sync")
    failed = [
        (check, kind)
        for check, row in results.items()
        for kind, outcome in row.items()
        if kind in ours and not outcome.ok
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
