"""The demo's page in headless Chromium: a person's session, clicked through.

Needs node, ``tests/interop/node/node_modules`` and Chromium (``bash
tests/interop/install.sh``); skipped without them, except with ``CI=true``
where a missing tool is a failure (``conftest.py``). Set ``WSPROTO_LITE_SCREENSHOT=path.png`` to
keep a screenshot of the page at the end of the session.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nodepeer
import pytest

from wsproto_lite.adapters.asyncio import connect
from wsproto_lite.demo import DemoConfig, DemoServer, jwt

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
SECRET = b"browser-test-secret-0123456789abcdef"
PUSH_TEXT = "hello from python"


class DemoThread:
    """The demo server in a thread with its own event loop.

    Once a client authenticates, a Python client logs in and broadcasts
    :data:`PUSH_TEXT`, so the page has a push from someone else to show.
    """

    def __init__(self) -> None:
        self.demo = DemoServer(DemoConfig(secret=SECRET, auth_delay=0.2))
        self.port = 0
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)

    def __enter__(self) -> DemoThread:
        self._thread.start()
        if not self._ready.wait(30) or not self.port:
            raise AssertionError(f"the demo did not start: {self.error!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported in __exit__
            self.error = exc
        finally:
            self._ready.set()
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with self.demo.serve("127.0.0.1", 0, close_timeout=5) as server:
            self.port = server.port
            self._ready.set()
            pusher = asyncio.get_running_loop().create_task(self._push_when_someone_logs_in())
            await self._stop.wait()
            pusher.cancel()

    async def _push_when_someone_logs_in(self) -> None:
        while not any(session.authenticated for session in self.demo.clients):
            await asyncio.sleep(0.05)
        async with connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
            await ws.send(json.dumps({"id": 1, "method": "auth", "args": ["admin", "secret"]}))
            assert "result" in json.loads(await ws.recv())
            await ws.send(json.dumps({"id": 2, "method": "broadcast", "args": [PUSH_TEXT]}))
            while "id" not in json.loads(await ws.recv()):
                pass  # our own push arrives before the reply


@pytest.fixture
def demo(require_peer: Callable[[str | None], None]) -> Iterator[DemoThread]:
    require_peer(nodepeer.node_missing_reason(browser=True))  # skip, or fail on CI
    with DemoThread() as thread:
        yield thread


def test_a_session_in_the_browser(demo: DemoThread, tmp_path: Path) -> None:
    screenshot = os.environ.get("WSPROTO_LITE_SCREENSHOT") or tmp_path / "demo.png"
    result: Any = nodepeer.run_browser_page(
        f"http://127.0.0.1:{demo.port}/",
        HERE / "demo_page.js",
        screenshot=screenshot,
        timeout=120,
        args=[PUSH_TEXT],
        viewport=(1280, 900),
    )
    assert Path(screenshot).stat().st_size > 10_000  # the page rendered

    assert result["connected"] == "connected"
    assert result["wrong"]["error"]["code"] == -32002
    # The page shows who is logged in, the token it got and the users list.
    assert result["status"] == "authenticated as admin"
    token = result["token"].rsplit(" ", 1)[-1]
    assert jwt.decode(token, SECRET)["sub"] == "admin"
    assert result["users"] == [{"login": "admin", "online": True}]
    # Replies matched by id although they came back out of order.
    first, second = (int(text.split("#")[1]) for text in result["race"])
    assert first == second + 1
    assert result["parseError"]["error"]["code"] == -32700
    assert result["whoami"]["result"]["login"] == "admin"

    log = result["log"]
    pushes = [entry["text"] for entry in log if entry["kind"] == "push"]
    assert f"admin: {PUSH_TEXT}" in pushes
    assert "admin: hello from the browser" in pushes
    # The password was sent but never shown.
    sent = [entry["text"] for entry in log if entry["kind"] == "sent"]
    assert any('"args":["admin","•••"]' in text for text in sent)
    assert not any("secret" in entry["text"] for entry in log)
