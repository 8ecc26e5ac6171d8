"""Talk to the demo's RPC server from Python, with the asyncio adapter.

Starts the demo server in this process on a free port (``python -m wsproto_lite
demo`` does the same on port 4000), then makes a few calls as a client would.
"""

import asyncio
import itertools
import json

from wsproto_lite.adapters.asyncio import connect
from wsproto_lite.demo import DemoConfig, DemoServer

ids = itertools.count(1)


async def call(ws, method: str, *args):
    """Send one call and wait for its reply (pushes without an id are skipped)."""
    call_id = next(ids)
    await ws.send(json.dumps({"id": call_id, "method": method, "args": list(args)}))
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("id") == call_id:
            return reply


async def main() -> None:
    demo = DemoServer(DemoConfig(auth_delay=0.01))
    async with (
        demo.serve("127.0.0.1", 0) as server,
        connect(f"ws://127.0.0.1:{server.port}/ws") as ws,
    ):
        reply = await call(ws, "getUsers")
        print("before auth:", reply["error"]["message"])
        reply = await call(ws, "auth", "admin", "secret")
        print("auth:", reply["result"]["name"], "got a token")
        reply = await call(ws, "getUsers")
        print("users:", [user["login"] for user in reply["result"]])
        reply = await call(ws, "nope")
        print("error code:", reply["error"]["code"])


if __name__ == "__main__":
    asyncio.run(main())
