"""Workload 8: one message to 10,000 idle connections, broadcast() against a send() loop.

Two levels, each contender side by side in one run:

* ``broadcast_core``: the sans-I/O boundary. 10,000 server
  :class:`~wsproto_lite.Connection` s, each with its bytes taken after the
  send as a transport would (appended to a list): a loop of
  ``conn.send(event)`` and ``conn.data_to_send()`` (one event built once, sent
  on every connection) against ``PreparedMessage`` + ``conn.take_prepared()``
  (the two calls in one). No sockets: this is what the library itself costs
  per connection. The reference row ``frame only`` appends the pre-built
  frame for each connection without touching it: the loop's own cost, the
  floor of any per-connection loop in Python.
* ``broadcast_adapter`` (and ``_16k``, ``_deflate``): 10,000 asyncio
  WebSockets on stub transports that keep nothing: a loop of ``await
  ws.send(message)`` against ``broadcast(conns, message)``. The reference row
  ``transport.write() only`` writes a pre-built frame to each transport and
  checks nothing: the floor for a broadcast that touches each connection.
* ``broadcast_10k`` and ``broadcast_10k_deflate``: real loopback sockets. The
  server (``wsproto_lite.adapters.asyncio.serve``) runs in the benchmark's
  process and holds 10,000 idle connections; the clients run in a child
  process (``python benchmarks/broadcast.py --clients N --port P``), a lean
  ``asyncio.Protocol`` per connection that does the handshake by hand, parses
  every frame (inflating compressed ones with its own context) and reports,
  per connection, how many messages arrived and the last one. Timed: ``for ws
  in conns: await ws.send(message)`` against ``broadcast(conns, message)``,
  from the call until the last byte is handed to the kernel (``transport.write``
  sends at once when the buffer is empty). The check, untimed, waits until
  every client has the message. In the ``_deflate`` variant the clients offer
  permessage-deflate, as browsers do, and the server accepts it (the default):
  the ``send()`` loop then compresses the message for every connection, the
  broadcast sends the shared frame uncompressed, and ``broadcast(...,
  compress=True)`` compresses per connection like the loop.

Each socket workload needs 2 × 10,000 file descriptors, split over two
processes; a smaller ``RLIMIT_NOFILE`` scales the connection count down (and the
table says so).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's wsproto_lite
sys.path.insert(0, _HERE)

import _frames as fr  # noqa: E402
import _peers as peers  # noqa: E402
from _harness import Benchmark, Contender  # noqa: E402

CONNECTIONS = 10_000
#: Seconds to wait for the clients (connecting, or receiving a round) before failing.
TIMEOUT = 60.0
DEFLATE = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"


def notification(i: int, size: int = 200) -> str:
    """A JSON notification of exactly *size* bytes (at least 160), different every
    round (so a stale one fails the check)."""
    params = {"from": "admin", "seq": i, "text": f"Maintenance window #{i} starts at 02:00 UTC."}
    message = json.dumps({"jsonrpc": "2.0", "method": "broadcast", "params": params})
    hosts = " ".join(f"db-{k:04d}" for k in range(size // 8 + 1))
    params["affected"] = hosts[: max(0, size - len(message) - len(', "affected": ""'))]
    return json.dumps({"jsonrpc": "2.0", "method": "broadcast", "params": params})


def _fd_budget() -> int:
    """Connections the server process can hold: its RLIMIT_NOFILE, less a margin."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # pragma: no cover
            pass
    return soft - 200


# -- the sans-I/O boundary ----------------------------------------------------------------


def core_benchmark(scale: float, deflate: bool = False) -> Benchmark | str:
    """10,000 core connections: a send() loop against send_prepared()."""
    if not peers.lite_available():
        return "broadcast_core: skipped (wsproto_lite not importable)"
    from wsproto_lite import Connection, PreparedMessage, Role, TextMessage
    from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

    n = max(100, int(CONNECTIONS * scale))
    conns = [peers.lite_server(deflate=deflate) for _ in range(n)]
    # A client for the last connection checks each round's frame end to end.
    checker = Connection(
        Role.CLIENT,
        handshake=False,
        extension_sessions=[PerMessageDeflate().finalize([])] if deflate else [],
    )
    rounds = iter(range(1_000_000))

    def prepare() -> str:
        return notification(next(rounds))

    def run_loop(message: str) -> tuple[str, list[bytes]]:
        event = TextMessage(message)
        out: list[bytes] = []
        append = out.append
        for conn in conns:
            conn.send(event)
            append(conn.data_to_send())
        return message, out

    def run_prepared(message: str) -> tuple[str, list[bytes]]:
        prepared = PreparedMessage(TextMessage(message))
        out: list[bytes] = []
        append = out.append
        for conn in conns:
            append(conn.take_prepared(prepared))
        return message, out

    def run_floor(message: str) -> tuple[str, list[bytes]]:
        frame = PreparedMessage(TextMessage(message)).frame
        out: list[bytes] = []
        append = out.append
        for _ in conns:
            append(frame)
        return message, out

    def check(result: tuple[str, list[bytes]]) -> None:
        message, out = result
        assert len(out) == n, f"{len(out)} frames for {n} connections"
        checker.receive_data(out[-1])
        events = list(checker.events())
        assert events == [TextMessage(message)], f"the last connection got {events!r}"

    suffix = ", permessage-deflate" if deflate else ""
    bench = Benchmark(
        f"8 broadcast core {n} conn{' deflate' if deflate else ''}",
        "conn/s",
        n,
        [
            Contender("send() loop", run_loop, prepare, check),
            Contender("take_prepared()", run_prepared, prepare, check),
            Contender("frame only (floor)", run_floor, prepare, check),
        ],
        f"one 200-byte JSON text to {n} server Connections (sans-I/O{suffix}), bytes"
        " taken per connection",
        baseline="send() loop",
    )
    bench.notes.append("frame only: the same frame appended per connection, no library")
    if deflate:
        bench.notes.append("send() loop compresses per connection; take_prepared() does not")
    return bench


# -- the asyncio adapter on stub transports ----------------------------------------------


class _StubTransport:
    """Stands in for an asyncio transport that never pushes back.

    Like a kernel that copied the bytes, it keeps none of them (keeping 10,000
    distinct 16 KiB frames alive would time the memory allocator instead),
    except with *keep*, on the connection whose frames the check decodes.
    """

    def __init__(self, keep: bool = False) -> None:
        self.writes = 0
        self.written: list[bytes] = []
        self.keep = keep

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.keep:
            self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0  # the kernel took everything

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:  # pragma: no cover - an idle peer sends nothing
        pass

    def resume_reading(self) -> None:  # pragma: no cover
        pass


def adapter_benchmark(scale: float, *, deflate: bool = False, size: int = 200) -> Benchmark | str:
    """10,000 asyncio WebSockets on stub transports: everything but the kernel."""
    if not peers.lite_available():
        return "broadcast_adapter: skipped (wsproto_lite not importable)"
    from wsproto_lite import Connection, Role, TextMessage
    from wsproto_lite.adapters._session import Session, Settings
    from wsproto_lite.adapters.asyncio import WebSocket, broadcast, serve
    from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

    n = max(100, int(CONNECTIONS * scale))
    loop = asyncio.new_event_loop()
    # serve()'s own settings: its defaults (compression accepted when offered).
    server = serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, ping_interval=None)
    settings: Settings = server._settings

    async def open_all() -> list[Any]:
        out = []
        for i in range(n):
            ws = WebSocket(Session(Role.SERVER, settings))
            transport = _StubTransport(keep=i == n - 1)
            ws._connection_made(transport)  # type: ignore[arg-type]
            ws._data_received(fr.upgrade_request(DEFLATE if deflate else None))
            assert ws._session.answer(None)
            ws._process()
            assert transport.writes == 1
            assert bool(ws.extensions) is deflate
            transport.writes = 0
            out.append((ws, transport))
        return out

    pairs = loop.run_until_complete(open_all())
    conns = [ws for ws, _ in pairs]
    checker = Connection(
        Role.CLIENT,
        handshake=False,
        extension_sessions=[PerMessageDeflate().finalize([])] if deflate else [],
        max_message_size=None,
    )
    rounds = iter(range(1_000_000))

    def prepare() -> str:
        for _, transport in pairs:
            transport.writes = 0
            transport.written.clear()
        return notification(next(rounds), size)

    async def send_loop(message: str) -> int:
        for ws in conns:
            await ws.send(message)
        return n

    async def call_broadcast(message: str) -> int:
        return broadcast(conns, message).sent

    transports = [transport for _, transport in pairs]

    def run_floor(message: str) -> tuple[str, int]:
        frame = fr.frame(fr.TEXT, message.encode(), key=None)
        for transport in transports:
            transport.write(frame)
        return message, n

    def check(result: tuple[str, int]) -> None:
        message, sent = result
        assert sent == n, f"sent to {sent} of {n}"
        assert all(t.writes == 1 for _, t in pairs), "a connection got no frame, or two"
        checker.receive_data(pairs[-1][1].written[0])
        events = list(checker.events())
        assert events == [TextMessage(message)], f"the last connection got {events!r}"

    what = f"{size // 1024} KiB" if size >= 1024 else f"{size}-byte"
    bench = Benchmark(
        f"8 broadcast asyncio {n} stub{' deflate' if deflate else ''}"
        f"{' ' + what if size != 200 else ''}",
        "conn/s",
        n,
        [
            Contender(
                "send() loop",
                lambda m: (m, loop.run_until_complete(send_loop(m))),
                prepare,
                check,
            ),
            Contender(
                "broadcast()",
                lambda m: (m, loop.run_until_complete(call_broadcast(m))),
                prepare,
                check,
            ),
            Contender("transport.write() only (floor)", run_floor, prepare, check),
        ],
        f"one {what} JSON text to {n} asyncio WebSockets whose transports only keep"
        " the bytes: the library's whole cost per connection, without the kernel's"
        f"{' (permessage-deflate negotiated)' if deflate else ''}",
        baseline="send() loop",
    )
    bench.notes.append("transport.write() only: a pre-built frame to each transport, no checks")
    if deflate:
        bench.notes.append("send() loop compresses per connection; broadcast() does not")
    return bench


# -- real sockets: the clients (child process) ---------------------------------------------


class _Peer(asyncio.Protocol):
    """One idle client: handshake by hand, then parse and count every frame."""

    def __init__(self, deflate: bool, ready: asyncio.Future[None]) -> None:
        self.deflate = deflate
        self.ready = ready
        self.buf = b""
        self.open = False
        self.count = 0
        self.last = b""
        self.error: str | None = None
        self.inflater = zlib.decompressobj(-15) if deflate else None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(fr.upgrade_request(DEFLATE if self.deflate else None))

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head, buf = buf[: end + 4], buf[end + 4 :]
            ok = head.startswith(b"HTTP/1.1 101") and fr.WS_ACCEPT in head
            if self.deflate:
                ok = ok and b"permessage-deflate" in head
            if not ok:
                self.fail(f"bad handshake response {head[:200]!r}")
                return
            self.open = True
            if not self.ready.done():
                self.ready.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            if size < start + n:
                break
            payload = buf[start : start + n]
            pos = start + n
            if b1 & 0x80 or not b0 & 0x80 or b0 & 0x0F not in (1, 2):
                self.fail(f"unexpected frame header {b0:#x} {b1:#x}")
                return
            if b0 & 0x40:
                if self.inflater is None:
                    self.fail("a compressed frame without permessage-deflate")
                    return
                payload = self.inflater.decompress(payload + _TAIL)
            self.count += 1
            self.last = payload
        self.buf = buf[pos:]

    def fail(self, why: str) -> None:
        self.error = why
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(why))
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None and not self.open:
            self.fail("the server closed the connection during the handshake")


async def _clients_main(port: int, n: int, deflate: bool) -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(256)
    clients: list[_Peer] = []

    async def one() -> None:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            _, peer = await loop.create_connection(lambda: _Peer(deflate, ready), "127.0.0.1", port)
            clients.append(peer)
            await ready

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), TIMEOUT)
    print(f"READY {len(clients)}", flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        words = line.split()
        if not words or words[0] == "QUIT":
            break
        want = int(words[1])  # STATUS <messages expected per connection>
        deadline = loop.time() + TIMEOUT
        while min(c.count for c in clients) < want and loop.time() < deadline:
            if any(c.error for c in clients):
                break
            await asyncio.sleep(0.002)
        errors = [c.error for c in clients if c.error]
        lasts = {c.last for c in clients}
        digest = hashlib.sha256(next(iter(lasts))).hexdigest() if len(lasts) == 1 else "-"
        counts = [c.count for c in clients]
        print(
            f"STATUS {min(counts)} {max(counts)} {len(lasts)} {digest} {len(errors)}"
            f" {(errors or [''])[0]!r}",
            flush=True,
        )
    for c in clients:
        c.transport.abort()


# -- real sockets: the server (benchmark process) ------------------------------------------


def write_floor(
    fds: list[int], prepare: Callable[[], str]
) -> tuple[Callable[[], tuple[str, bytes]], Callable[[tuple[str, bytes]], tuple[str, int]]]:
    """A reference row's prepare and run: no library, one ``os.write()`` of a
    pre-built frame (built here, independently) per descriptor in *fds*."""

    def prepare_raw() -> tuple[str, bytes]:
        message = prepare()
        return message, fr.frame(fr.TEXT, message.encode(), key=None)

    def run_raw(state: tuple[str, bytes]) -> tuple[str, int]:
        message, frame = state
        write = os.write
        for fd in fds:
            write(fd, frame)
        return message, len(fds)

    return prepare_raw, run_raw


def check_clients(clients: Any, n: int) -> Callable[[tuple[str, int]], None]:
    """The check of a row whose *n* clients run in the child process of
    ``broadcast.py --clients`` (*clients* has its ``status()`` and counts the
    ``expected`` messages): every client got every message, the last one right."""

    def check(result: tuple[str, int]) -> None:
        message, sent = result
        assert sent == n, f"sent to {sent} of {n}"
        clients.expected += 1
        low, high, distinct, digest, error = clients.status()
        assert error == "''", f"a client failed: {error}"
        assert low == high == clients.expected, (
            f"clients have {low}..{high} messages, expected {clients.expected}"
        )
        want = hashlib.sha256(message.encode()).hexdigest()
        assert distinct == 1 and digest == want, "a client's last message is wrong"

    return check


class SocketBroadcast:
    """N idle connections to an in-process asyncio server, the clients in a child."""

    def __init__(self, n: int, deflate: bool) -> None:
        from wsproto_lite.adapters.asyncio import serve

        self.n = n
        self.deflate = deflate
        self.loop = asyncio.new_event_loop()
        self.expected = 0  # messages each client should have by now
        self.limited = False  # fewer connections than asked: the fd limit

        async def park(ws: Any) -> None:
            await ws.wait_closed()

        self.server = self.loop.run_until_complete(
            serve(park, "127.0.0.1", 0, ping_interval=None, backlog=4096).start()
        )
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--clients", str(n)]
            + ["--port", str(self.server.port)]
            + (["--deflate"] if deflate else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        try:
            line = self._read_line()
            if not line.startswith("READY "):
                raise RuntimeError(f"the clients did not start: {line!r} {self._stderr()[-400:]}")
            while len(self.server.connections) < n:  # the last handshakes' tasks
                self.loop.run_until_complete(asyncio.sleep(0.01))
            self.conns = list(self.server.connections)
            assert all(ws.state.name == "OPEN" for ws in self.conns)
            if deflate:
                assert all(ws.extensions for ws in self.conns), "deflate was not negotiated"
        except BaseException:
            self.close()
            raise

    def _stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def _read_line(self) -> str:
        """A line from the clients, running the server's loop meanwhile."""
        assert self.proc.stdout is not None
        reading = self.loop.run_in_executor(None, self.proc.stdout.readline)
        return self.loop.run_until_complete(asyncio.wait_for(reading, TIMEOUT + 10))

    def status(self) -> tuple[int, int, int, str, str]:
        """Wait until every client has ``expected`` messages: (min, max, distinct, sha, error)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"STATUS {self.expected}\n")
        self.proc.stdin.flush()
        words = self._read_line().strip().split(maxsplit=6)
        assert words[0] == "STATUS", words
        return int(words[1]), int(words[2]), int(words[3]), words[4], words[6]

    def close(self) -> None:
        """Stop the clients and the server."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write("QUIT\n")
                self.proc.stdin.flush()
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.log.close()

        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        self.loop.run_until_complete(stop())
        self.loop.close()

    def benchmark(self) -> Benchmark:
        from wsproto_lite.adapters.asyncio import broadcast

        conns, loop, n = self.conns, self.loop, self.n
        rounds = iter(range(1_000_000))

        def prepare() -> str:
            return notification(next(rounds))

        async def send_loop(message: str) -> int:
            for ws in conns:
                await ws.send(message)
            return n

        async def call_broadcast(message: str, compress: bool) -> int:
            result = broadcast(conns, message, compress=compress)
            assert result.all_sent, f"skipped: {set(result.skipped.values())}"
            return result.sent

        def run_loop(message: str) -> tuple[str, int]:
            return message, loop.run_until_complete(send_loop(message))

        def run_broadcast(message: str) -> tuple[str, int]:
            return message, loop.run_until_complete(call_broadcast(message, False))

        def run_broadcast_compress(message: str) -> tuple[str, int]:
            return message, loop.run_until_complete(call_broadcast(message, True))

        # The reference row: the kernel's share alone (the transports' buffers are empty).
        fds = [ws._transport.get_extra_info("socket").fileno() for ws in conns]
        prepare_raw, run_raw = write_floor(fds, prepare)
        check = check_clients(self, n)

        contenders = [
            Contender("send() loop", run_loop, prepare, check),
            Contender("broadcast()", run_broadcast, prepare, check),
        ]
        if self.deflate:
            contenders.append(
                Contender("broadcast(compress=True)", run_broadcast_compress, prepare, check)
            )
        contenders.append(Contender("os.write() loop (kernel)", run_raw, prepare_raw, check))
        what = "permessage-deflate negotiated" if self.deflate else "no extension"
        bench = Benchmark(
            f"8 broadcast {n} sockets{' deflate' if self.deflate else ''}",
            "conn/s",
            n,
            contenders,
            f"one 200-byte JSON text to {n} idle loopback connections ({what}),"
            " asyncio server in this process, clients in a child process",
            baseline="send() loop",
        )
        bench.notes.append("os.write() loop: the kernel's share alone, no library (a reference)")
        if self.limited:
            bench.notes.append(f"{n} connections, not more: RLIMIT_NOFILE is too low")
        if self.deflate:
            bench.notes.append(
                "send() loop: compressed per connection; broadcast(): one uncompressed frame"
            )
        return bench


def socket_builders(
    scale: float, holder: dict[str, object]
) -> list[tuple[str, Callable[[], Benchmark | str]]]:
    """``broadcast_10k`` and ``broadcast_10k_deflate``: one set of sockets at a time
    (*holder* keeps the current one; building the next closes it)."""

    def make(deflate: bool) -> Callable[[], Benchmark | str]:
        def build() -> Benchmark | str:
            current = holder.pop("broadcast", None)
            if current is not None:
                current.close()  # type: ignore[attr-defined]
            if not peers.lite_available():
                return "broadcast sockets: skipped (wsproto_lite not importable)"
            wanted = max(100, int(CONNECTIONS * scale))
            n = min(wanted, _fd_budget())
            if n < 100:
                return "broadcast sockets: skipped (RLIMIT_NOFILE below 300)"
            bench = SocketBroadcast(n, deflate)
            bench.limited = n < wanted
            holder["broadcast"] = bench
            return bench.benchmark()

        return build

    return [("broadcast_10k", make(False)), ("broadcast_10k_deflate", make(True))]


def main(argv: list[str] | None = None) -> int:
    """``--clients N --port P [--deflate]``: the clients' process (used by the benchmark)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deflate", action="store_true")
    args = parser.parse_args(argv)
    _fd_budget()
    asyncio.run(_clients_main(args.port, args.clients, args.deflate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
