"""A Starlette application's WebSockets, served by uvicorn with our protocol
class, used from headless Chromium.

The page (served by the same application) opens a WebSocket with a
subprotocol, sends text, binary and a large compressible text, checks each
echo, then asks the server to close (4001, "done") and records the close event
Chromium reports; a second socket is closed by the page (1000, "bye"), which
the application must see. Needs node, ``tests/interop/node/node_modules`` and
Chromium (``bash tests/interop/install.sh``); skipped without them, except
with ``CI=true`` (``conftest.py``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nodepeer
import pytest

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>uvicorn + wsproto_lite</title></head>
<body><h1>WebSocket through uvicorn</h1><pre id="log"></pre>
<script>
const log = (line) => { document.getElementById('log').textContent += line + '\\n'; };
const url = `ws://${location.host}/ws?name=chromium`;
function open(protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    const incoming = [];
    let waiting = null;
    ws.onmessage = (event) => {
      if (!waiting) { incoming.push(event.data); return; }
      const w = waiting;
      waiting = null;
      w(event.data);
    };
    ws.next = () => incoming.length ? Promise.resolve(incoming.shift())
                                    : new Promise((r) => { waiting = r; });
    ws.closed = new Promise((r) => {
      ws.onclose = (e) => r({code: e.code, reason: e.reason, wasClean: e.wasClean});
    });
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('WebSocket error'));
  });
}
async function main() {
  const ws = await open(['chat.v1']);
  const result = {protocol: ws.protocol, extensions: ws.extensions, echoes: []};
  ws.send('héllo');
  result.echoes.push(await ws.next());
  ws.send(new Uint8Array([0, 1, 2, 255]).buffer);
  const binary = await ws.next();
  result.echoes.push(Array.from(new Uint8Array(binary)));
  const big = 'compress me '.repeat(20000);
  ws.send(big);
  result.bigEcho = (await ws.next()) === big;
  ws.send('close please');
  result.serverClose = await ws.closed;
  log('server closed: ' + JSON.stringify(result.serverClose));

  const second = await open(['chat.v1']);
  second.close(1000, 'bye');
  result.clientClose = await second.closed;
  log('we closed: ' + JSON.stringify(result.clientClose));
  return result;
}
main().then((r) => { window.result = r; }, (e) => { window.result = {error: String(e)}; });
</script></body></html>
"""


def make_app(disconnects: list[dict[str, Any]]) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def echo(websocket: WebSocket) -> None:
        assert websocket.query_params["name"] == "chromium"
        assert websocket.headers["origin"].startswith("http://127.0.0.1:")
        await websocket.accept(subprotocol="chat.v1")
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(message["code"], message.get("reason"))
                if message.get("text") == "close please":
                    await websocket.close(code=4001, reason="done")
                    return
                if message.get("text") is not None:
                    await websocket.send_text(message["text"])
                else:
                    await websocket.send_bytes(message["bytes"])
        except WebSocketDisconnect as exc:
            disconnects.append({"code": exc.code, "reason": exc.reason})

    return Starlette(routes=[Route("/", page), WebSocketRoute("/ws", echo)])


class UvicornThread:
    """uvicorn, with our protocol class, in a thread with its own event loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from wsproto_lite.integrations.uvicorn import WebSocketProtocol

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, ws=WebSocketProtocol, lifespan="off", log_config=None, timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)

    def __enter__(self) -> UvicornThread:
        self._thread.start()
        for _ in range(300):
            if self.server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not self.server.started:
            raise AssertionError(f"uvicorn did not start: {self.error!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self._thread.join(30)
        self.sock.close()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # reported in __exit__
            self.error = exc


@pytest.fixture
def served(require_peer: Callable[[str | None], None]) -> Iterator[tuple[int, list[Any]]]:
    require_peer(nodepeer.node_missing_reason(browser=True))  # skip, or fail on CI
    disconnects: list[dict[str, Any]] = []
    with UvicornThread(make_app(disconnects)) as thread:
        yield thread.port, disconnects


def test_chromium_talks_to_a_starlette_app_through_uvicorn(
    served: tuple[int, list[Any]], tmp_path: Path
) -> None:
    port, disconnects = served
    result: Any = nodepeer.run_browser_page(
        f"http://127.0.0.1:{port}/",
        HERE / "uvicorn_page.js",
        screenshot=tmp_path / "uvicorn.png",
        timeout=90,
    )
    assert "error" not in result, result
    assert result["protocol"] == "chat.v1"
    assert result["extensions"].startswith("permessage-deflate")
    assert result["echoes"] == ["héllo", [0, 1, 2, 255]]
    assert result["bigEcho"] is True
    assert result["serverClose"] == {"code": 4001, "reason": "done", "wasClean": True}
    # (The server's reply echoes the code, without a reason.)
    assert result["clientClose"] == {"code": 1000, "reason": "", "wasClean": True}
    for _ in range(100):  # the application sees the page's close
        if disconnects:
            break
        threading.Event().wait(0.05)
    assert disconnects == [{"code": 1000, "reason": "bye"}]
