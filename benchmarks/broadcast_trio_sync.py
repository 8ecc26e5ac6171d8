"""Workload 8 for the trio and blocking adapters: one message to 10,000 idle
connections, ``broadcast()`` against a ``send()`` loop, side by side in one run.

* ``broadcast_trio_socketpair``: trio WebSockets, each over one end of a
  ``socket.socketpair()`` (AF_UNIX) wrapped as a :class:`trio.SocketStream`,
  as a server's accepted TCP stream is; the benchmark holds the other ends
  and reads them in the check. A local socket's write is a short system call,
  so this row shows the library's cost better than loopback TCP does. The
  connections are idle: before each timed run, every writer task has ended
  (a connection's writer ends after 1 s without output), as between the
  broadcasts of a real server. Timed: ``for ws in conns: await ws.send(m)``
  and ``broadcast(conns, m)``, each until every byte has been handed to the
  kernel and every task is blocked again
  (:func:`trio.testing.wait_all_tasks_blocked`). The reference row
  ``os.write() loop`` writes a pre-built frame to each socket: the kernel's
  share and the loop's own cost, no library.
* ``broadcast_trio_stub``: the same on stub streams whose ``send_all`` keeps
  nothing (a checkpoint, as trio's streams make): what a stream that is not
  a plain socket (TLS, or another stream) costs, where ``broadcast()`` hands
  the frame to each connection's writer task.
* ``broadcast_trio_10k``: real loopback TCP: a ``trio`` server in this process
  (in a thread of its own, which the timed calls reach with
  :func:`trio.from_thread.run`) and the clients of ``broadcast.py`` in a child
  process, which parse every frame and report what they got.
* ``broadcast_sync_socketpair``: blocking WebSockets over socketpairs, served
  by one I/O thread: ``for ws in conns: ws.send(m)`` against
  ``broadcast(conns, m)``, from the benchmark's thread, each until it returns
  (by then, what the sockets take is written).

Every socketpair row holds both ends in this process: 2 file descriptors per
connection, so a ``RLIMIT_NOFILE`` of 20,000 gives 9,900 connections, not
10,000 (the table says so).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's wsproto_lite
sys.path.insert(0, _HERE)

import _frames as fr  # noqa: E402
import _peers as peers  # noqa: E402
from _harness import Benchmark, Contender  # noqa: E402
from broadcast import (  # noqa: E402
    CONNECTIONS,
    TIMEOUT,
    _fd_budget,
    check_clients,
    notification,
    write_floor,
)


def _count(scale: float, fds_per_connection: int) -> tuple[int, bool]:
    """Connections for *scale*, within the fd budget; and whether it was cut."""
    wanted = max(100, int(CONNECTIONS * scale))
    if not fds_per_connection:
        return wanted, False
    n = min(wanted, _fd_budget() // fds_per_connection)
    return n, n < wanted


def _trio_available() -> bool:
    try:
        import trio  # noqa: F401
    except ImportError:
        return False
    return peers.lite_available()


class TrioHost:
    """A trio run in a thread of its own, holding connections between timed calls."""

    def __init__(self) -> None:
        import trio

        self._trio = trio
        ready = threading.Event()
        self.nursery: Any = None
        self.token: Any = None
        self._stop: Any = None
        self._error: BaseException | None = None

        async def main() -> None:
            self._stop = trio.Event()
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                self.token = trio.lowlevel.current_trio_token()
                ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()

        def thread() -> None:
            try:
                trio.run(main)
            except BaseException as exc:  # pragma: no cover - reported by close()
                self._error = exc
                ready.set()

        self.thread = threading.Thread(target=thread, name="trio host", daemon=True)
        self.thread.start()
        ready.wait(TIMEOUT)
        if self.token is None:  # pragma: no cover
            raise RuntimeError(f"the trio host did not start: {self._error!r}")

    def run(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``afn(*args)`` in the trio thread; return its result."""
        return self._trio.from_thread.run(afn, *args, trio_token=self.token)

    def close(self) -> None:
        """Stop the trio run."""
        self._trio.from_thread.run_sync(self._stop.set, trio_token=self.token)
        self.thread.join(TIMEOUT)


class _StubStream:
    """A trio stream whose ``send_all`` keeps nothing, like a kernel that copied it
    (built on first use: it subclasses :class:`trio.abc.Stream`)."""

    cls: Any = None

    @classmethod
    def make(cls) -> Any:
        if cls.cls is None:
            import trio

            class StubStream(trio.abc.Stream):
                def __init__(self) -> None:
                    self.writes = 0
                    self.last = b""

                async def send_all(self, data: Any) -> None:
                    await trio.lowlevel.checkpoint()
                    self.writes += 1
                    self.last = bytes(data)

                async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover
                    await trio.lowlevel.checkpoint()

                async def receive_some(self, max_bytes: int | None = None) -> bytes:
                    await trio.sleep_forever()
                    raise AssertionError("unreachable")  # pragma: no cover

                async def aclose(self) -> None:
                    await trio.lowlevel.checkpoint()

            cls.cls = StubStream
        return cls.cls()


def _drain(sock: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


class TrioLocal:
    """*n* idle trio server WebSockets over socketpairs (or stub streams)."""

    def __init__(self, n: int, stub: bool) -> None:
        self.n = n
        self.stub = stub
        self.host = TrioHost()
        self.peers: list[socket.socket] = []
        try:
            self.conns = self.host.run(self._open)
        except BaseException:
            self.close()
            raise

    async def _open(self) -> list[Any]:
        import trio

        from wsproto_lite import Role
        from wsproto_lite.adapters import trio as tri
        from wsproto_lite.adapters._options import Settings
        from wsproto_lite.adapters._session import Session

        settings = Settings.create("bench.server", {"compression": False, "ping_interval": None})
        conns = []
        for _ in range(self.n):
            if self.stub:
                stream = _StubStream.make()
            else:
                ours, theirs = socket.socketpair()
                theirs.setblocking(False)
                self.peers.append(theirs)
                stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
            session = Session(Role.SERVER, settings)
            session.receive_data(fr.upgrade_request(None))
            session.process(trio.current_time())
            assert session.answer(None)
            assert session.take_output().startswith(b"HTTP/1.1 101 ")
            ws = tri.WebSocket(stream, session)
            ws._start(self.host.nursery)
            conns.append(ws)
        return conns

    async def _idle(self) -> None:
        """Until every writer task has ended (idle connections hold none)."""
        import trio

        while any(ws._writer is not None for ws in self.conns):
            await trio.sleep(0.1)

    def close(self) -> None:
        async def stop() -> None:
            for ws in getattr(self, "conns", []):
                ws._abort()

        self.host.run(stop)
        self.host.close()
        for sock in self.peers:
            sock.close()

    def benchmark(self, limited: bool) -> Benchmark:
        import trio
        import trio.testing

        from wsproto_lite.adapters import trio as tri

        conns, n = self.conns, self.n
        rounds = iter(range(1_000_000))
        fds = [] if self.stub else [ws._stream.socket.fileno() for ws in conns]

        def prepare() -> str:
            self.host.run(self._idle)
            return notification(next(rounds))

        async def send_loop(message: str) -> int:
            for ws in conns:
                await ws.send(message)
            await trio.testing.wait_all_tasks_blocked()
            return n

        async def call_broadcast(message: str) -> int:
            sent = tri.broadcast(conns, message).sent
            await trio.testing.wait_all_tasks_blocked()
            return sent

        def run_loop(message: str) -> tuple[str, int]:
            return message, self.host.run(send_loop, message)

        def run_broadcast(message: str) -> tuple[str, int]:
            return message, self.host.run(call_broadcast, message)

        prepare_raw, run_raw = write_floor(fds, prepare)

        def check(result: tuple[str, int]) -> None:
            message, sent = result
            assert sent == n, f"sent to {sent} of {n}"
            want = fr.frame(fr.TEXT, message.encode(), key=None)
            assert not any(ws._session.output_size for ws in conns), "output left"
            if self.stub:
                streams = [ws._stream for ws in conns]
                assert all(s.writes == 1 for s in streams), "a connection got no frame, or two"
                assert all(s.last == want for s in streams), "a connection got another frame"
                for s in streams:
                    s.writes = 0
            else:
                got = [_drain(sock) for sock in self.peers]
                assert all(g == want for g in got), "a connection got another frame, or none"

        contenders = [
            Contender("send() loop", run_loop, prepare, check),
            Contender("broadcast()", run_broadcast, prepare, check),
        ]
        if not self.stub:
            contenders.append(Contender("os.write() loop (floor)", run_raw, prepare_raw, check))
        what = "stub streams" if self.stub else "socketpairs"
        bench = Benchmark(
            f"8 broadcast trio {n} {'stub' if self.stub else 'socketpair'}",
            "conn/s",
            n,
            contenders,
            f"one 200-byte JSON text to {n} idle trio WebSockets over {what}",
            baseline="send() loop",
        )
        if self.stub:
            bench.notes.append(
                "stub streams: not sockets, so broadcast() hands the frame to writers"
            )
        else:
            bench.notes.append("os.write() loop: the pre-built frame to each socket, no library")
        if limited:
            bench.notes.append(f"{n} connections, not more: RLIMIT_NOFILE is too low")
        return bench


class TrioSockets:
    """*n* idle connections to a trio server in this process, the clients in a child."""

    def __init__(self, n: int) -> None:
        from wsproto_lite.adapters import trio as tri

        self.n = n
        self.host = TrioHost()
        self.expected = 0
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self.proc: subprocess.Popen[str] | None = None

        async def park(ws: Any) -> None:
            await ws.wait_closed()

        async def start() -> Any:
            return await self.host.nursery.start(
                lambda task_status: tri.serve(
                    park, "127.0.0.1", 0, task_status=task_status, ping_interval=None
                )
            )

        try:
            self.server = self.host.run(start)
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, os.path.join(_HERE, "broadcast.py")),
                    *("--clients", str(n), "--port", str(self.server.port)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log,
                text=True,
            )
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if not line.startswith("READY "):
                self.log.seek(0)
                raise RuntimeError(f"the clients did not start: {line!r} {self.log.read()[-400:]}")

            async def all_open() -> list[Any]:
                import trio

                while len(self.server.connections) < n:
                    await trio.sleep(0.01)
                return list(self.server.connections)

            self.conns = self.host.run(all_open)
        except BaseException:
            self.close()
            raise

    def status(self) -> tuple[int, int, int, str, str]:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"STATUS {self.expected}\n")
        self.proc.stdin.flush()
        words = self.proc.stdout.readline().strip().split(maxsplit=6)
        assert words[0] == "STATUS", words
        return int(words[1]), int(words[2]), int(words[3]), words[4], words[6]

    def close(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            assert proc.stdin is not None
            try:
                proc.stdin.write("QUIT\n")
                proc.stdin.flush()
                proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
                proc.kill()
                proc.wait()
        if proc is not None:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        self.log.close()

        async def stop() -> None:
            for ws in getattr(self, "conns", []):
                ws._abort()

        self.host.run(stop)
        self.host.close()

    def benchmark(self, limited: bool) -> Benchmark:

        import trio
        import trio.testing

        from wsproto_lite.adapters import trio as tri

        conns, n = self.conns, self.n
        rounds = iter(range(1_000_000))

        async def idle() -> None:
            while any(ws._writer is not None for ws in conns):
                await trio.sleep(0.1)

        def prepare() -> str:
            self.host.run(idle)
            return notification(next(rounds))

        async def send_loop(message: str) -> int:
            for ws in conns:
                await ws.send(message)
            await trio.testing.wait_all_tasks_blocked()
            return n

        async def call_broadcast(message: str) -> int:
            result = tri.broadcast(conns, message)
            assert result.all_sent, f"skipped: {set(result.skipped.values())}"
            await trio.testing.wait_all_tasks_blocked()
            return result.sent

        fds = [ws._stream.socket.fileno() for ws in conns]
        prepare_raw, run_raw = write_floor(fds, prepare)
        check = check_clients(self, n)

        bench = Benchmark(
            f"8 broadcast trio {n} sockets",
            "conn/s",
            n,
            [
                Contender(
                    "send() loop", lambda m: (m, self.host.run(send_loop, m)), prepare, check
                ),
                Contender(
                    "broadcast()", lambda m: (m, self.host.run(call_broadcast, m)), prepare, check
                ),
                Contender("os.write() loop (kernel)", run_raw, prepare_raw, check),
            ],
            f"one 200-byte JSON text to {n} idle loopback TCP connections, trio server in"
            " this process, clients in a child process",
            baseline="send() loop",
        )
        bench.notes.append("os.write() loop: the kernel's share alone, no library (a reference)")
        if limited:
            bench.notes.append(f"{n} connections, not more: RLIMIT_NOFILE is too low")
        return bench


class SyncLocal:
    """*n* blocking server WebSockets over socketpairs, one I/O thread."""

    def __init__(self, n: int) -> None:
        from wsproto_lite import Role
        from wsproto_lite.adapters import _io_thread
        from wsproto_lite.adapters import sync as syn
        from wsproto_lite.adapters._options import Settings
        from wsproto_lite.adapters._session import Session

        self.n = n
        self.loop = _io_thread.Loop("bench I/O", linger=True)
        self.loop.start()
        settings = Settings.create("bench.server", {"compression": False, "ping_interval": None})
        self.peers: list[socket.socket] = []
        self.conns: list[Any] = []
        now = syn._now
        for _ in range(n):
            ours, theirs = socket.socketpair()
            theirs.setblocking(False)
            self.peers.append(theirs)
            session = Session(Role.SERVER, settings)
            session.receive_data(fr.upgrade_request(None))
            session.process(now())
            assert session.answer(None)
            assert session.take_output().startswith(b"HTTP/1.1 101 ")
            ws = syn.WebSocket(ours, session, self.loop)
            self.loop.call(ws._attach)
            self.conns.append(ws)

    def close(self) -> None:
        for ws in self.conns:
            ws._abort()
        for ws in self.conns:
            ws.wait_closed(TIMEOUT)
        self.loop.stop()
        for sock in self.peers:
            sock.close()

    def benchmark(self, limited: bool) -> Benchmark:
        from wsproto_lite.adapters import sync as syn

        conns, n = self.conns, self.n
        rounds = iter(range(1_000_000))
        fds = [ws._sock.fileno() for ws in conns]

        def prepare() -> str:
            return notification(next(rounds))

        def written() -> None:
            """Until the I/O thread has handed every byte to the kernel (only it
            writes: send() and broadcast() return once the bytes are queued)."""
            for ws in conns:
                while True:
                    with ws._lock:
                        if not (ws._session.output_size or ws._pending):
                            break
                    time.sleep(0.0005)

        def run_loop(message: str) -> tuple[str, int]:
            for ws in conns:
                ws.send(message)
            written()
            return message, n

        def run_broadcast(message: str) -> tuple[str, int]:
            sent = syn.broadcast(conns, message).sent
            written()
            return message, sent

        prepare_raw, run_raw = write_floor(fds, prepare)

        def check(result: tuple[str, int]) -> None:
            message, sent = result
            assert sent == n, f"sent to {sent} of {n}"
            want = fr.frame(fr.TEXT, message.encode(), key=None)
            got = [_drain(sock) for sock in self.peers]
            assert all(g == want for g in got), "a connection got another frame, or none"

        bench = Benchmark(
            f"8 broadcast sync {n} socketpair",
            "conn/s",
            n,
            [
                Contender("send() loop", run_loop, prepare, check),
                Contender("broadcast()", run_broadcast, prepare, check),
                Contender("os.write() loop (floor)", run_raw, prepare_raw, check),
            ],
            f"one 200-byte JSON text to {n} idle blocking WebSockets over socketpairs,"
            " sent from the benchmark's thread",
            baseline="send() loop",
        )
        bench.notes.append("os.write() loop: the pre-built frame to each socket, no library")
        if limited:
            bench.notes.append(f"{n} connections, not more: RLIMIT_NOFILE is too low")
        return bench


def builders(
    scale: float, holder: dict[str, object]
) -> list[tuple[str, Callable[[], Benchmark | str]]]:
    """The rows of this module; one set of connections at a time (*holder*
    keeps the current one; building the next closes it)."""

    def make(name: str, fds: int, build: Callable[[int], Any]) -> Callable[[], Benchmark | str]:
        def bench() -> Benchmark | str:
            current = holder.pop("broadcast", None)
            if current is not None:
                current.close()  # type: ignore[attr-defined]
            if not (_trio_available() if "trio" in name else peers.lite_available()):
                return f"{name}: skipped (trio or wsproto_lite not importable)"
            n, limited = _count(scale, fds)
            if n < 100:
                return f"{name}: skipped (RLIMIT_NOFILE too low)"
            conns = build(n)
            holder["broadcast"] = conns
            return conns.benchmark(limited)  # type: ignore[no-any-return]

        return bench

    return [
        ("broadcast_trio_socketpair", make("trio socketpair", 2, lambda n: TrioLocal(n, False))),
        ("broadcast_trio_stub", make("trio stub", 0, lambda n: TrioLocal(n, True))),
        ("broadcast_trio_10k", make("trio sockets", 1, TrioSockets)),
        ("broadcast_sync_socketpair", make("sync socketpair", 2, SyncLocal)),
    ]
