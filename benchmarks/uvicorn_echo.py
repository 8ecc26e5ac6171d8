"""Workload 8: echo through uvicorn, one WebSocket protocol class against another.

The same ASGI echo application (``receive`` a message, ``send`` it back) runs
in uvicorn with each ``ws`` protocol class, every server in its own process
(``python benchmarks/uvicorn_echo.py --server KIND``), with uvicorn's
httptools HTTP protocol, the asyncio loop, no keepalive pings and no
compression (the client does not offer it):

* ``wsproto_lite``: :class:`wsproto_lite.integrations.uvicorn.WebSocketProtocol`;
* ``websockets-sansio``: uvicorn's ``WebSocketsSansIOProtocol`` (on websockets'
  sans-I/O layer);
* ``wsproto``: uvicorn's ``WSProtocol`` (on wsproto).

The client is workload 7's (``e2e.py``): a lean ``asyncio.Protocol`` that does
the handshake by hand and sends pre-built masked 32-byte text frames, waiting
for each echo (checked byte for byte) before the next, on every connection at
once. Besides round trips per second, the table's notes give the **server's
CPU time per message** (user + system, of the whole server process, over the
timed run divided by the round trips): the application's own ``GET /cpu``
answers ``time.process_time()`` before and after each run.

Usage::

    python benchmarks/uvicorn_echo.py              # both workloads, 5 rounds
    python benchmarks/run.py --only uvicorn_1,uvicorn_50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's wsproto_lite
sys.path.insert(0, _HERE)

from _harness import Benchmark, Contender, print_table, run_benchmark  # noqa: E402
from e2e import MESSAGE_SIZE, _Client, _messages  # noqa: E402

#: ``KIND: uvicorn's ws option`` (an import string).
SERVERS = {
    "wsproto_lite": "wsproto_lite.integrations.uvicorn:WebSocketProtocol",
    "websockets-sansio": "websockets-sansio",
    "wsproto": "wsproto",
}


# -- the servers (child processes) ---------------------------------------------------------


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo every WebSocket message; ``GET /cpu`` answers this process's CPU time."""
    if scope["type"] == "http":
        body = repr(time.process_time()).encode()
        headers = [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            await send(message | {"type": "websocket.send"})
        elif kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        else:
            return


def serve_main(kind: str) -> None:
    """Run uvicorn with the *kind* protocol class until killed (child process)."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        echo_app,
        ws=SERVERS[kind],
        http="httptools",
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws_ping_interval=None,
        ws_max_size=1 << 20,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        await task

    asyncio.run(main())


class _ServerProcess:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--server", kind],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.proc.kill()
            self.proc.wait()
            self.log.seek(0)
            raise RuntimeError(f"{kind} server did not start: {line!r} {self.log.read()[-400:]}")
        self.port = int(line.split()[1])

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


async def _cpu_time(port: int) -> float:
    """The server process's CPU seconds so far (its ``GET /cpu``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /cpu HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return float(body)


# -- the benchmark -------------------------------------------------------------------------


class UvicornEcho:
    """Builds the uvicorn benchmarks; owns the server processes and event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.servers: dict[str, _ServerProcess] = {}
        self.notes: list[str] = []
        for kind in SERVERS:
            try:
                self.servers[kind] = _ServerProcess(kind)
            except Exception as exc:  # a missing library: note and skip
                self.notes.append(f"{kind}: skipped ({str(exc).strip()[:200]})")
        self.frames, self.replies = _messages()

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
        cpu: dict[str, list[float]] = {kind: [] for kind in self.servers}
        bench = Benchmark(
            f"8 uvicorn echo {connections} conn",
            "msg/s",
            total,
            [],
            f"{total} round trips of {MESSAGE_SIZE}-byte text messages through uvicorn"
            f" (httptools, asyncio loop), {connections} connection(s)",
        )
        bench.notes.extend(self.notes)
        note_at = len(bench.notes)
        bench.notes.append("server CPU per message: (not measured yet)")

        def cpu_note() -> str:
            parts = [
                f"{kind} {statistics.median(samples) * 1e6 / total:.1f}"
                for kind, samples in cpu.items()
                if samples
            ]
            return "server CPU µs per message (median): " + ", ".join(parts)

        for kind, server in self.servers.items():

            def prepare(port: int = server.port, kind: str = kind) -> tuple[list[_Client], float]:
                try:
                    clients = self.loop.run_until_complete(self._open(port, connections))
                except Exception as exc:
                    raise RuntimeError(f"{kind}: could not open {connections} connections") from exc
                return clients, self.loop.run_until_complete(_cpu_time(port))

            def run(state: tuple[list[_Client], float]) -> tuple[int, list[_Client], float]:
                clients, cpu_before = state

                async def go() -> int:
                    results = await asyncio.gather(
                        *(c.echo(self.frames, self.replies, per_conn) for c in clients)
                    )
                    return sum(results)

                return self.loop.run_until_complete(go()), clients, cpu_before

            def check(
                result: tuple[int, list[_Client], float], port: int = server.port, kind: str = kind
            ) -> None:
                ok, clients, cpu_before = result
                cpu[kind].append(self.loop.run_until_complete(_cpu_time(port)) - cpu_before)
                bench.notes[note_at] = cpu_note()

                async def close_all() -> None:
                    await asyncio.gather(*(c.close() for c in clients))

                self.loop.run_until_complete(close_all())
                assert ok == total, f"{ok} correct echoes out of {total}"

            bench.contenders.append(Contender(kind, run, prepare, check))
        return bench


def main(argv: list[str] | None = None) -> int:
    """``--server KIND`` runs one server; otherwise run both workloads and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=sorted(SERVERS))
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (1)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the round trips")
    args = parser.parse_args(argv)
    if args.server:
        serve_main(args.server)
        return 0
    echo = UvicornEcho()
    try:
        done = []
        for connections, round_trips in ((1, 10_000), (50, 20_000)):
            if args.quick:
                round_trips //= 10
            bench = echo.benchmark(connections, round_trips)
            results = run_benchmark(bench, warmup=args.warmup, repeat=args.repeat)
            done.append((bench, results))
        print_table(done)
    finally:
        echo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
