"""Workload 7: asyncio echo over loopback, round trips per second.

Each server runs in its own process (``python benchmarks/e2e.py --server
KIND``); the client, in the benchmark's process, is the same for all: a lean
``asyncio.Protocol`` that opens N connections, does the handshake by hand, then
sends pre-built masked 32-byte text frames and waits for each echo (checked
byte for byte) before sending the next, on every connection concurrently.

Servers:

* ``wsproto_lite``: ``wsproto_lite.adapters.asyncio.serve`` and an
  ``async for message in ws: await ws.send(message)`` handler, on the build
  this checkout has (``wsproto_lite.COMPILED``), and ``wsproto_lite[pure]``,
  the same with ``WSPROTO_LITE_NO_SPEEDUPS=1`` (all pure Python);
* ``wsproto_lite[trio]``: ``wsproto_lite.adapters.trio.serve`` and the same
  handler, under ``trio.run``;
* ``websockets``: ``websockets.asyncio.server.serve``, the same handler;
* ``aiohttp``: an ``aiohttp.web`` application whose handler does ``async for
  msg in ws`` and ``await ws.send_str(msg.data)`` (``send_bytes`` for binary);
* ``picows``: ``picows.ws_create_server`` with a listener whose ``on_ws_frame``
  echoes each data frame with ``transport.send`` (text decoded with
  ``get_payload_as_utf8_text`` and encoded again, as an application that wants
  ``str`` must; picows leaves fragments to the application, and these frames
  are whole) and answers a close frame;
* ``wsproto`` and ``wsproto_lite[raw]``: a bare ``asyncio.Protocol`` callback
  echo on each core (wsproto has no asyncio server), no task per connection:
  the fair comparison of the cores, and a bound on what an adapter costs.

Besides round trips per second (the client's view), the benchmark reports each
server's **CPU time per message** (echoed message: one received, one sent),
from the kernel's per-thread accounting of the server process
(``/proc/PID/task/*/schedstat``, nanoseconds) over the timed runs, and its
**idle memory per connection**: the growth of its resident set size
(``VmRSS``) when ``IDLE_CONNECTIONS`` more connections are open and idle after
their handshake, divided by their number. Both need Linux's ``/proc``.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's wsproto_lite
sys.path.insert(0, _HERE)

import _frames as fr  # noqa: E402
from _harness import Benchmark, Contender  # noqa: E402

SERVERS = (
    "wsproto_lite",
    "wsproto_lite[pure]",
    "wsproto_lite[trio]",
    "wsproto_lite[raw]",
    "wsproto",
    "websockets",
    "aiohttp",
    "picows",
)
MESSAGE_SIZE = 32
#: Connections opened (and left idle) to measure a server's memory per connection.
IDLE_CONNECTIONS = 200
#: Seconds to wait for any answer from a server before failing.
TIMEOUT = 20.0


# -- servers (run in a child process) ------------------------------------------------------


async def _echo_handler(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def _serve_wsproto_lite() -> None:
    from wsproto_lite.adapters.asyncio import serve

    async with serve(_echo_handler, "127.0.0.1", 0, ping_interval=None) as server:
        _ready(server.port)
        await server.serve_forever()


def _serve_trio() -> None:
    import functools

    import trio

    from wsproto_lite.adapters.trio import serve

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(serve, _echo_handler, "127.0.0.1", 0, ping_interval=None)
            )
            _ready(server.port)

    trio.run(main)


async def _serve_websockets() -> None:
    from websockets.asyncio.server import serve

    async with serve(_echo_handler, "127.0.0.1", 0, ping_interval=None) as server:
        _ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()


async def _serve_aiohttp() -> None:
    from aiohttp import WSMsgType, web

    async def handler(request: Any) -> Any:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/bench", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    _ready(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await asyncio.Event().wait()


async def _serve_picows() -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    text, binary, close = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CLOSE

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind is text:
                transport.send(text, frame.get_payload_as_utf8_text().encode())
            elif kind is binary:
                transport.send(binary, frame.get_payload_as_bytes())
            elif kind is close:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    server = await ws_create_server(lambda request: Echo(), "127.0.0.1", 0)
    _ready(server.sockets[0].getsockname()[1])
    await server.serve_forever()


class _WsprotoEcho(asyncio.Protocol):
    """wsproto: a bare callback echo (accept, echo whole messages, answer close)."""

    def connection_made(self, transport: Any) -> None:
        from wsproto import ConnectionType, WSConnection

        self.transport = transport
        self.ws = WSConnection(ConnectionType.SERVER)
        self.parts: list[Any] = []

    def data_received(self, data: bytes) -> None:
        from wsproto.events import (
            AcceptConnection,
            CloseConnection,
            Message,
            Ping,
            Request,
        )

        ws = self.ws
        ws.receive_data(data)
        out = []
        for event in ws.events():
            if isinstance(event, Message):
                self.parts.append(event.data)
                if event.message_finished:
                    payload = event.data[:0].join(self.parts)
                    self.parts = []
                    out.append(ws.send(type(event)(data=payload)))
            elif isinstance(event, Request):
                out.append(ws.send(AcceptConnection()))
            elif isinstance(event, Ping):
                out.append(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                out.append(ws.send(event.response()))
                self.transport.write(b"".join(out))
                self.transport.close()
                return
        if out:
            self.transport.write(b"".join(out))

    def eof_received(self) -> bool:
        return False


class _LiteEcho(asyncio.Protocol):
    """wsproto_lite: the same bare callback echo on the sans-I/O core."""

    def connection_made(self, transport: Any) -> None:
        from wsproto_lite import Connection, Role

        self.transport = transport
        self.conn = Connection(Role.SERVER)

    def data_received(self, data: bytes) -> None:
        from wsproto_lite import Accept, Handshake, Message

        conn = self.conn
        conn.receive_data(data)
        for event in conn.events():
            if isinstance(event, Message):
                conn.send(event)
            elif isinstance(event, Handshake):
                conn.send(Accept())
        out = conn.data_to_send()
        if out:
            self.transport.write(out)
        if conn.should_close_transport:
            self.transport.close()

    def eof_received(self) -> bool:
        self.conn.receive_data(b"")
        for _ in self.conn.events():
            pass
        return False


async def _serve_protocol(factory: Any) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    _ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def _ready(port: int) -> None:
    print(f"PORT {port}", flush=True)


def serve_main(kind: str) -> None:
    """Run the echo server *kind* until killed (child process)."""
    if kind == "wsproto_lite[trio]":
        _serve_trio()  # (trio runs its own loop)
        return
    runners: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
        "wsproto_lite": _serve_wsproto_lite,
        "wsproto_lite[pure]": _serve_wsproto_lite,  # (with WSPROTO_LITE_NO_SPEEDUPS=1)
        "websockets": _serve_websockets,
        "wsproto": lambda: _serve_protocol(_WsprotoEcho),
        "wsproto_lite[raw]": lambda: _serve_protocol(_LiteEcho),
        "aiohttp": _serve_aiohttp,
        "picows": _serve_picows,
    }
    asyncio.run(runners[kind]())


# -- the client ----------------------------------------------------------------------------


class _Client(asyncio.Protocol):
    """One connection: handshake by hand, then strict request/response echoes."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.want = 0
        self.waiter: asyncio.Future[bytes] | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.want == -1:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[: end + 4])
                del self.buf[: end + 4]
                waiter.set_result(head)
        elif len(self.buf) >= self.want:
            got = bytes(self.buf[: self.want])
            del self.buf[: self.want]
            waiter.set_result(got)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    async def _wait(self, want: int) -> bytes:
        self.want = want
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        self.data_received(b"")
        if not waiter.done():
            # A stuck server fails the benchmark instead of hanging it.
            handle = asyncio.get_running_loop().call_later(TIMEOUT, self._timeout, waiter)
            try:
                return await waiter
            finally:
                handle.cancel()
        return waiter.result()

    def _timeout(self, waiter: asyncio.Future[bytes]) -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError(f"no answer from the server in {TIMEOUT} s"))

    async def handshake(self) -> None:
        self.transport.write(fr.upgrade_request())
        head = await self._wait(-1)
        assert head.startswith(b"HTTP/1.1 101") and fr.WS_ACCEPT in head, head

    async def close(self) -> None:
        """The closing handshake (1000), then close the transport."""
        self.transport.write(fr.frame(0x8, (1000).to_bytes(2, "big")))
        head = await self._wait(2)
        assert head[0] == 0x88, f"expected a close frame, got {head!r}"
        if head[1] & 0x7F:
            await self._wait(head[1] & 0x7F)
        self.transport.close()

    async def echo(self, frames: Sequence[bytes], replies: Sequence[bytes], n: int) -> int:
        """*n* round trips; return how many replies matched."""
        ok = 0
        k = len(frames)
        write = self.transport.write
        for i in range(n):
            write(frames[i % k])
            reply = await self._wait(len(replies[i % k]))
            if reply == replies[i % k]:
                ok += 1
        return ok


def _messages() -> tuple[list[bytes], list[bytes]]:
    payloads = [f"{i:0{MESSAGE_SIZE}d}".encode() for i in range(64)]
    frames = [fr.frame(fr.TEXT, p) for p in payloads]
    replies = [fr.frame(fr.TEXT, p, key=None) for p in payloads]
    return frames, replies


class _ServerProcess:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        # stderr goes to a file, never a pipe nobody reads: a server that logs
        # enough would block on a full pipe and look like a hang.
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        env = dict(os.environ)
        if kind.endswith("[pure]"):  # the same source, all of it pure Python
            env["WSPROTO_LITE_NO_SPEEDUPS"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--server", kind],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{kind} server did not start: {line!r} {self.stderr()[-400:]}")
        self.port = int(line.split()[1])

    def cpu_ns(self) -> int:
        """CPU time the server process has used so far, in nanoseconds (Linux)."""
        total = 0
        for path in glob.glob(f"/proc/{self.proc.pid}/task/*/schedstat"):
            try:
                with open(path, encoding="ascii") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):  # a thread that just ended
                pass
        return total

    def rss_kib(self) -> int:
        """The server process's resident set size, in KiB (Linux)."""
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")  # pragma: no cover

    def stderr(self) -> str:
        """What the server wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


class E2E:
    """Builds the end-to-end benchmarks; owns the server processes and event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.servers: dict[str, _ServerProcess] = {}
        self.notes: list[str] = []
        for kind in SERVERS:
            try:
                self.servers[kind] = _ServerProcess(kind)
            except Exception as exc:  # a missing adapter or library: note and skip
                self.notes.append(f"{kind}: skipped ({str(exc).strip()[:200]})")
        self.frames, self.replies = _messages()
        #: Server CPU nanoseconds per round trip, per server kind, per benchmark.
        self.cpu: dict[tuple[int, str], list[float]] = {}
        self.idle_memory: dict[str, float] | None = None

    def measure_idle_memory(self) -> dict[str, float]:
        """KiB of server memory per idle open connection, per server kind."""
        if self.idle_memory is None:
            self.idle_memory = {}
            for kind, server in self.servers.items():
                before = server.rss_kib()
                clients = self.loop.run_until_complete(self._open(server.port, IDLE_CONNECTIONS))
                self.loop.run_until_complete(asyncio.sleep(0.2))  # let the server settle
                after = server.rss_kib()
                self.loop.run_until_complete(self._close_all(clients))
                self.idle_memory[kind] = (after - before) / IDLE_CONNECTIONS
        return self.idle_memory

    @staticmethod
    async def _close_all(clients: list[_Client]) -> None:
        await asyncio.gather(*(c.close() for c in clients))

    def close(self) -> None:
        """Stop the servers and the loop."""
        for server in self.servers.values():
            server.stop()
        self.loop.close()

    async def _open(self, port: int, n: int) -> list[_Client]:
        clients = []
        for _ in range(n):
            _, proto = await self.loop.create_connection(_Client, "127.0.0.1", port)
            clients.append(proto)
        await asyncio.gather(*(c.handshake() for c in clients))
        return clients

    def benchmark(self, connections: int, round_trips: int) -> Benchmark:
        """*connections* concurrent clients doing *round_trips* echoes in total."""
        per_conn = max(1, round_trips // connections)
        total = per_conn * connections
        contenders = []
        for kind, server in self.servers.items():

            def prepare(port: int = server.port, kind: str = kind) -> list[_Client]:
                try:
                    return self.loop.run_until_complete(self._open(port, connections))
                except Exception as exc:
                    raise RuntimeError(f"{kind}: could not open {connections} connections") from exc

            def run(
                clients: list[_Client], server: _ServerProcess = server, kind: str = kind
            ) -> tuple[int, list[_Client]]:
                async def go() -> int:
                    results = await asyncio.gather(
                        *(c.echo(self.frames, self.replies, per_conn) for c in clients)
                    )
                    return sum(results)

                cpu = server.cpu_ns()
                ok = self.loop.run_until_complete(go())
                cpu = server.cpu_ns() - cpu
                self.cpu.setdefault((connections, kind), []).append(cpu / total)
                return ok, clients

            def check(result: tuple[int, list[_Client]]) -> None:
                ok, clients = result

                async def close_all() -> None:
                    await asyncio.gather(*(c.close() for c in clients))

                self.loop.run_until_complete(close_all())
                assert ok == total, f"{ok} correct echoes out of {total}"

            name = "wsproto_lite[raw Protocol]" if kind == "wsproto_lite[raw]" else kind
            if kind == "wsproto":
                name = "wsproto"  # a raw Protocol too: the ratio baseline
            contenders.append(Contender(name, run, prepare, check))
        bench = Benchmark(
            f"7 asyncio echo {connections} conn",
            "rt/s",
            total,
            contenders,
            f"{total} round trips of {MESSAGE_SIZE}-byte text messages over loopback,"
            f" {connections} connection(s), servers in their own process",
        )
        bench.notes.append("wsproto and wsproto_lite[raw Protocol]: bare asyncio.Protocol echo")
        bench.notes.extend(self.notes)

        def finish() -> None:
            """Server CPU per message (the warm-up rounds included: every round
            is the same work) and, with 50 connections or more, memory."""
            memory = self.measure_idle_memory() if connections >= 50 else {}
            for kind in self.servers:
                samples = self.cpu.get((connections, kind))
                if not samples:
                    continue
                line = f"{kind}: server CPU {statistics.median(samples) / 1000:.1f} µs/message"
                if kind in memory:
                    line += f", idle memory {memory[kind]:.1f} KiB/connection"
                bench.notes.append(line)

        bench.finish = finish
        return bench


def main(argv: list[str] | None = None) -> int:
    """``--server KIND``: run one echo server (used by the benchmark)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=SERVERS, required=True)
    args = parser.parse_args(argv)
    serve_main(args.server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
