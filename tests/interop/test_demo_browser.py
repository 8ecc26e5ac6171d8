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
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nodepeer
import pytest
from demothread import DemoThread

from wsproto_lite.adapters.asyncio import connect
from wsproto_lite.demo import DemoConfig, jwt

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
SECRET = b"browser-test-secret-0123456789abcdef"
PUSH_TEXT = "hello from python"


async def push_when_someone_logs_in(thread: DemoThread) -> None:
    """Once a client authenticates, a Python client logs in and broadcasts
    :data:`PUSH_TEXT`, so the page has a push from someone else to show."""
    while not any(session.authenticated for session in thread.demo.clients):
        await asyncio.sleep(0.05)
    async with connect(f"ws://127.0.0.1:{thread.port}/ws") as ws:
        await ws.send(json.dumps({"id": 1, "method": "auth", "args": ["admin", "secret"]}))
        assert "result" in json.loads(await ws.recv())
        await ws.send(json.dumps({"id": 2, "method": "broadcast", "args": [PUSH_TEXT]}))
        while "id" not in json.loads(await ws.recv()):
            pass  # our own push arrives before the reply


@pytest.fixture
def demo(require_peer: Callable[[str | None], None]) -> Iterator[DemoThread]:
    require_peer(nodepeer.node_missing_reason(browser=True))  # skip, or fail on CI
    config = DemoConfig(secret=SECRET, auth_delay=0.2)
    with DemoThread(config, background=push_when_someone_logs_in) as thread:
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
    # The sign-in form comes filled with the demo's user, and says so.
    assert result["prefilled"] == ["admin", "secret"]
    assert result["credentials"] == "The demo's user is admin with the password secret."
    assert result["status"] == "authenticated as admin"
    assert result["wrong"]["error"]["code"] == -32002
    # The page shows who is logged in, the token it got (its expiry in 24-hour
    # local time, like the log, with the date when that is another day than
    # today) and the users list.
    match = re.fullmatch(
        r"token \(expires ((?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d)\): (\S+)", result["token"]
    )
    assert match is not None, result["token"]
    claims = jwt.decode(match.group(2), SECRET)
    assert claims["sub"] == "admin"
    expires = time.localtime(claims["exp"])
    same_day = time.strftime("%Y-%m-%d", expires) == time.strftime("%Y-%m-%d")
    assert match.group(1) == time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", expires)
    assert result["users"] == [{"login": "admin", "online": True}]
    # Replies matched by id although they came back out of order.
    first, second = (int(text.split("#")[1]) for text in result["race"])
    assert first == second + 1
    assert result["parseError"]["error"]["code"] == -32700
    assert result["whoami"]["result"]["login"] == "admin"
    # A raw note: the page says no reply comes, the server's terminal shows it.
    assert result["noteInfo"] == "not a call: the server prints it and sends no reply"
    assert any(
        re.fullmatch(r'client #\d+: message \{"message": "from the page"\}', line)
        for line in demo.lines()
    )
    # Raw calls without an id: their replies, in order, are matched to them.
    assert result["unnumbered"][-2:] == ["sleep", "whoami"]

    log = result["log"]
    pushes = [entry["text"] for entry in log if entry["kind"] == "push"]
    assert f"admin: {PUSH_TEXT}" in pushes
    assert "admin: hello from the browser" in pushes
    # The password was sent but never shown.
    sent = [entry["text"] for entry in log if entry["kind"] == "sent"]
    assert any('"args":["admin","•••"]' in text for text in sent)
    assert not any("secret" in entry["text"] for entry in log)
