"""Broadcast: one message to every connected client, encoded once, never waiting.

``python broadcast.py`` starts a server on a free port, connects three clients,
broadcasts one message to all of them and prints what each received, then
what ``broadcast()`` reports (here: nobody skipped).
"""

import asyncio

from wsproto_lite.adapters.asyncio import broadcast, connect, serve


async def handler(ws):
    """Keep each connection open until its client leaves."""
    await ws.wait_closed()


async def main() -> None:
    async with serve(handler, "127.0.0.1", 0) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        clients = [await connect(uri) for _ in range(3)]
        while len(server.connections) < 3:  # the server's side of the last handshake
            await asyncio.sleep(0.01)

        result = broadcast(server.connections, "The server restarts at 02:00 UTC.")

        for number, ws in enumerate(clients, 1):
            print(f"client {number} received: {await ws.recv()}")
        print(f"sent to {result.sent} connections; skipped: {dict(result.skipped)}")
        for ws in clients:
            await ws.close()


if __name__ == "__main__":
    asyncio.run(main())
