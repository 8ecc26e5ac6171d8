"""Instructions per connection of a broadcast and of a send() loop, under callgrind.

    python benchmarks/broadcast_instructions.py            # the table (needs valgrind)
    python benchmarks/broadcast_instructions.py --root DIR # another checkout's build

Timings of 10,000 connections on a shared machine move by tens of percent with
the load; instruction counts do not. For each row, the same program runs under
``valgrind --tool=callgrind`` twice, once doing the work once and once doing it
three times; half the difference, divided by the connection count, is the cost
of one connection, without the start-up, the imports and the set-up. The rows:

* ``core send() loop``: ``conn.send(event)`` and ``conn.data_to_send()`` on each
  of 1,000 open server :class:`~wsproto_lite.Connection` s (one event built once);
* ``core take_prepared()``: one ``PreparedMessage``, ``conn.take_prepared()`` on
  each (an older build without it: ``send_prepared()`` and ``data_to_send()``);
* ``core floor``: the pre-built frame appended once per connection;
* ``asyncio send() loop``: ``await ws.send(message)`` on 1,000 asyncio WebSockets
  whose transports count the writes and keep nothing;
* ``asyncio broadcast()``: ``broadcast(conns, message)`` on the same;
* ``asyncio floor``: ``ws._transport.write(frame)`` for each, nothing checked;
* ``trio send() loop``: ``await ws.send(message)`` on 1,000 idle trio WebSockets
  over ``socket.socketpair()`` sockets (``trio.SocketStream``), until every
  writer task has written and parked, and then ended (the writer's idle time is
  cut to 20 ms, so a round ends quickly: an idle connection has no writer task,
  as in a real server between broadcasts);
* ``trio broadcast()``: ``broadcast(conns, message)`` on the same, with the
  same waits;
* ``trio floor``: ``os.write(fd, frame)`` to each socket, nothing checked.

The kernel's share (the system calls themselves) is not counted: callgrind
counts the instructions of the process in user space. The message is a
200-byte text. ``PYTHONHASHSEED=0`` keeps runs identical.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
CONNECTIONS = 1000
MESSAGE = "x" * 200
ROWS = {
    "core-loop": "core send() loop",
    "core-broadcast": "core take_prepared()",
    "core-floor": "core floor",
    "asyncio-loop": "asyncio send() loop",
    "asyncio-broadcast": "asyncio broadcast()",
    "asyncio-floor": "asyncio floor",
    "trio-loop": "trio send() loop",
    "trio-broadcast": "trio broadcast()",
    "trio-floor": "trio floor",
}
#: The trio writer task's idle time in the trio rows (instead of 1 s).
WRITER_IDLE = 0.02


class _Transport:
    """An asyncio transport that takes everything at once and keeps nothing."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _workload(row: str) -> Any:
    """Build the connections of *row*; return the function that does its work once."""
    sys.path.insert(0, _HERE)
    import _frames as fr

    from wsproto_lite import Accept, Connection, PreparedMessage, Role, TextMessage

    if row.startswith("core"):
        conns = []
        for _ in range(CONNECTIONS):
            conn = Connection(Role.SERVER)
            conn.receive_data(fr.upgrade_request(None))
            list(conn.events())
            conn.send(Accept())
            conn.data_to_send()
            conns.append(conn)

        def core() -> None:
            out: list[bytes] = []
            if row == "core-loop":
                event = TextMessage(MESSAGE)
                for conn in conns:
                    conn.send(event)
                    out.append(conn.data_to_send())
                return
            prepared = PreparedMessage(TextMessage(MESSAGE))
            if row == "core-floor":
                frame = prepared.frame
                for _ in conns:
                    out.append(frame)
            elif hasattr(Connection, "take_prepared"):
                for conn in conns:
                    out.append(conn.take_prepared(prepared))
            else:  # a build from before take_prepared()
                for conn in conns:
                    conn.send_prepared(prepared)
                    out.append(conn.data_to_send())

        return core

    from wsproto_lite.adapters._options import Settings
    from wsproto_lite.adapters._session import Session
    from wsproto_lite.adapters.asyncio import WebSocket, broadcast

    loop = asyncio.new_event_loop()
    settings = Settings.create("bench.server", {"compression": False, "ping_interval": None})

    async def open_all() -> list[WebSocket]:
        out = []
        for _ in range(CONNECTIONS):
            ws = WebSocket(Session(Role.SERVER, settings))
            ws._connection_made(_Transport())  # type: ignore[arg-type]
            ws._data_received(fr.upgrade_request(None))
            assert ws._session.answer(None)
            ws._process()
            out.append(ws)
        return out

    conns = loop.run_until_complete(open_all())

    async def send_loop() -> None:
        for ws in conns:
            await ws.send(MESSAGE)

    def adapter() -> None:
        if row == "asyncio-loop":
            loop.run_until_complete(send_loop())
        elif row == "asyncio-floor":
            frame = PreparedMessage(TextMessage(MESSAGE)).frame
            for ws in conns:
                ws._transport.write(frame)  # type: ignore[union-attr]
        else:
            assert broadcast(conns, MESSAGE).sent == CONNECTIONS

    return adapter


def _trio_child(row: str, times: int) -> None:
    """The trio rows: the connections, the warm-up and the rounds in one trio run."""
    import gc
    import socket

    import trio
    import trio.testing

    sys.path.insert(0, _HERE)
    import _frames as fr

    from wsproto_lite import PreparedMessage, Role, TextMessage
    from wsproto_lite.adapters import trio as tri
    from wsproto_lite.adapters._options import Settings
    from wsproto_lite.adapters._session import Session

    tri._WRITER_IDLE = WRITER_IDLE  # type: ignore[attr-defined]
    settings = Settings.create("bench.server", {"compression": False, "ping_interval": None})
    peers = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            conns = []
            for _ in range(CONNECTIONS):
                ours, theirs = socket.socketpair()
                peers.append(theirs)
                stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
                session = Session(Role.SERVER, settings)
                session.receive_data(fr.upgrade_request(None))
                session.process(trio.current_time())
                assert session.answer(None)
                session.take_output()  # the 101: not written
                ws = tri.WebSocket(stream, session)
                ws._start(nursery)
                conns.append(ws)
            fds = [ws._stream.socket.fileno() for ws in conns]
            frame = PreparedMessage(TextMessage(MESSAGE)).frame

            async def once() -> None:
                if row == "trio-loop":
                    for ws in conns:
                        await ws.send(MESSAGE)
                elif row == "trio-floor":
                    for fd in fds:
                        os.write(fd, frame)
                else:
                    assert tri.broadcast(conns, MESSAGE).sent == CONNECTIONS
                await trio.testing.wait_all_tasks_blocked()
                while any(ws._writer is not None for ws in conns):
                    await trio.sleep(WRITER_IDLE)
                assert not any(ws._session.output_size for ws in conns)

            await trio.testing.wait_all_tasks_blocked()
            await once()  # warm-up
            gc.collect()
            gc.disable()
            for _ in range(times):
                await once()
            for ws in conns:
                ws._abort()
            nursery.cancel_scope.cancel()

    trio.run(main)


def _child(row: str, times: int) -> None:
    import gc

    if row.startswith("trio"):
        _trio_child(row, times)
        return
    once = _workload(row)
    once()  # warm-up
    gc.collect()
    gc.disable()
    for _ in range(times):
        once()


def _instructions(root: str, row: str, times: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": root}
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, os.path.abspath(__file__), "--child", row, str(times)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    match = re.search(r"Collected : (\d+)", proc.stderr)
    assert match, proc.stderr[-2000:]
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    """Print the instructions per connection of every row."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.dirname(_HERE), help="the checkout to measure")
    parser.add_argument(
        "--rows", help=f"comma-separated rows to measure (default: all of {', '.join(ROWS)})"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    wanted = args.rows.split(",") if args.rows else list(ROWS)
    unknown = set(wanted) - set(ROWS)
    if unknown:
        parser.error(f"unknown row(s): {', '.join(sorted(unknown))}")
    for row in wanted:
        label = ROWS[row]
        once = _instructions(args.root, row, 1)
        thrice = _instructions(args.root, row, 3)
        print(f"{label:<24} {(thrice - once) / 2 / CONNECTIONS:>9,.0f} instructions/connection")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
