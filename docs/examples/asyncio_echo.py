"""An echo server and a client on asyncio, in one script.

``python asyncio_echo.py`` starts the server on a free port, connects to it,
sends two messages and prints the echoes. ``python asyncio_echo.py serve 8765``
only serves, for other clients (a browser: ``new WebSocket("ws://127.0.0.1:8765/")``).
"""

import asyncio
import sys

from wsproto_lite.adapters.asyncio import connect, serve


async def echo(ws):
    """The server's handler: called once per connection, which closes when it returns."""
    async for message in ws:  # str for text, bytes for binary; ends when the peer closes
        await ws.send(message)


async def client(port: int) -> None:
    async with connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send("Hello, world!")
        print(await ws.recv())
        await ws.send(b"\x00\x01\x02")
        print(await ws.recv())
    # Leaving the block ran the closing handshake.


async def main() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        await client(server.port)


async def serve_forever(port: int) -> None:
    async with serve(echo, "127.0.0.1", port) as server:
        print(f"listening on 127.0.0.1:{server.port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(serve_forever(int(sys.argv[2]) if len(sys.argv) > 2 else 8765))
    else:
        asyncio.run(main())
