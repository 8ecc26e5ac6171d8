"""A Starlette application's WebSockets, served by uvicorn on wsproto_lite.

``python uvicorn_starlette.py`` starts uvicorn on a free port with
wsproto_lite's protocol class, talks to the chat endpoint with wsproto_lite's
asyncio client, prints what comes back, and stops the server.
``python uvicorn_starlette.py serve 8000`` only serves (then try
``new WebSocket("ws://127.0.0.1:8000/chat?name=you")`` in a browser's console).
"""

import asyncio
import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from wsproto_lite.adapters.asyncio import ConnectionClosed, connect
from wsproto_lite.integrations.uvicorn import WebSocketProtocol


async def chat(websocket: WebSocket) -> None:
    """Greet, echo in upper case, say goodbye with close code 4000 on "bye"."""
    name = websocket.query_params.get("name", "stranger")
    await websocket.accept()
    await websocket.send_text(f"hello, {name}")
    try:
        while True:
            text = await websocket.receive_text()
            if text == "bye":
                await websocket.close(code=4000, reason="see you")
                return
            await websocket.send_text(text.upper())
    except WebSocketDisconnect as exc:
        print(f"{name} left with code {exc.code}")


app = Starlette(routes=[WebSocketRoute("/chat", chat)])


async def main() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, ws=WebSocketProtocol, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)

    async with connect(f"ws://127.0.0.1:{port}/chat?name=ada") as ws:
        print(await ws.recv())  # hello, ada
        await ws.send("sans-i/o")
        print(await ws.recv())  # SANS-I/O
        await ws.send("bye")
        try:
            await ws.recv()
        except ConnectionClosed:
            print(f"closed by the server: {ws.close_code} {ws.close_reason}")  # 4000 see you

    server.should_exit = True
    await serving
    sock.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
        uvicorn.run(app, host="127.0.0.1", port=port, ws=WebSocketProtocol)
    else:
        asyncio.run(main())
