"""The tutorial's browser-console steps against the demo, verbatim.

The tutorial the demo comes from (docs/demo.md, "Where it comes from") tries
each step from a browser console: step 2 connects, and the server's terminal
shows the handshake request's headers; step 4 sends ``{"message": "Hello
World"}`` and the terminal shows it; step 5 adds a listener and sends a ping,
and the console shows the ``pong``; step 6 sends ``auth`` with a wrong
password, ``auth`` with the right one and ``getUsers`` back to back, without
ids, and the console shows: refused, accepted, the users, in that order.

* In headless Chromium: the snippets, read from docs/demo.md (and the
  quickstart's from docs/quickstart.md) so the docs cannot drift, are pasted
  into the console of the demo's page, opened as http://127.0.0.1:4000/ as a
  newcomer would. Chromium reaches the test's server (on a free port) under
  that name and port through ``--host-rules``; the page, its CSP, its origin
  and the snippets are exactly what the newcomer gets.
* With an independent client, the ``websockets`` package, sending what
  ``JSON.stringify`` sends.

Both check the server's log lines and the replies, in order. Needs node,
``tests/interop/node/node_modules`` and Chromium for the first (``bash
tests/interop/install.sh``); skipped without them, except with ``CI=true``
where a missing tool is a failure (``conftest.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nodepeer
import pytest
from demothread import DemoThread

from wsproto_lite.demo import DemoConfig, jwt

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs"
SECRET = b"tutorial-test-secret-0123456789abcdef"
#: The tutorial's port, which its snippets name.
TUTORIAL_PORT = 4000
Require = Callable[[str | None], None]


def snippet(page: str, name: str) -> str:
    """The code block ``:name: NAME`` of docs/PAGE, as the reader copies it."""
    text = (DOCS / page).read_text(encoding="utf-8")
    match = re.search(rf"```{{code-block}} js\n:name: {re.escape(name)}\n\n(.*?)```", text, re.S)
    assert match is not None, f"no code block named {name} in docs/{page}"
    return match.group(1).strip()


def tutorial_snippets() -> dict[str, str]:
    names = {"2": "2", "4": "4", "5-listener": "5-listener", "5": "5", "6": "6"}
    snippets = {key: snippet("demo.md", f"tutorial-step-{name}") for key, name in names.items()}
    snippets["quickstart"] = snippet("quickstart.md", "quickstart-console")
    return snippets


def test_the_snippets_are_the_tutorials() -> None:
    """docs/demo.md holds the tutorial's snippets (TUTORIAL-NOTES), unchanged."""
    snippets = tutorial_snippets()
    assert snippets["2"] == "const ws = new WebSocket('ws://localhost:4000');"
    assert snippets["4"] == "ws.send(JSON.stringify({ message: 'Hello World' }));"
    assert snippets["5-listener"] == (
        "ws.addEventListener('message', ({ data }) => { console.log(JSON.parse(data)) });"
    )
    assert snippets["5"] == "ws.send(JSON.stringify({ ping: 'Hello World' }));"
    assert snippets["6"].splitlines() == [
        "ws.send(JSON.stringify({ method: 'auth', args: ['admin', 'wrong'] }));",
        "ws.send(JSON.stringify({ method: 'auth', args: ['admin', 'secret'] }));",
        "ws.send(JSON.stringify({ method: 'getUsers' }));",
    ]
    # The quickstart sends newcomers to the demo page's own console.
    quickstart = " ".join((DOCS / "quickstart.md").read_text(encoding="utf-8").split())
    assert "the console of **the demo's page itself**" in quickstart
    assert "`about:blank` included" in quickstart


@pytest.fixture
def demo() -> Iterator[DemoThread]:
    # The default auth delay: auth is slower than getUsers, as in the tutorial.
    with DemoThread(DemoConfig(secret=SECRET)) as thread:
        yield thread


def check_server_terminal(lines: list[str], host: str, origin: str | None) -> None:
    """Steps 2 and 4 as the server's terminal shows them (the demo's log)."""
    start = lines.index("handshake request GET /, headers:")
    headers = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        headers.append(line.strip())
    assert f"host: {host}" in headers
    assert "upgrade: websocket" in headers
    assert "sec-websocket-version: 13" in headers
    assert any(re.fullmatch(r"sec-websocket-key: [A-Za-z0-9+/]{22}==", h) for h in headers)
    assert any(h.lower().startswith("connection: ") and "upgrade" in h.lower() for h in headers)
    if origin is not None:
        assert f"origin: {origin}" in headers
    assert any(
        re.fullmatch(r"client #\d+ connected from 127\.0\.0\.1:\d+; \d+ connected", line)
        for line in lines[start:]
    )
    notes = [line for line in lines if re.fullmatch(r"client #\d+: message .*", line)]
    assert [note.split(": message ", 1)[1] for note in notes] == ['{"message":"Hello World"}']
    assert any(re.fullmatch(r'client #\d+: ping \{"ping":"Hello World"\}', line) for line in lines)


def check_replies(replies: list[Any]) -> None:
    """Steps 5 and 6 as the console shows them."""
    pong, refused, accepted, users = replies
    assert pong == {"pong": "Hello World"}
    assert refused == {"id": None, "error": {"code": -32002, "message": "wrong login or password"}}
    assert accepted["id"] is None
    result = accepted["result"]
    assert (result["login"], result["name"]) == ("admin", "Administrator")
    assert jwt.decode(result["token"], SECRET)["sub"] == "admin"
    assert users == {
        "id": None,
        "result": [{"login": "admin", "name": "Administrator", "online": 1}],
    }


def test_the_tutorial_in_chromium(require_peer: Require, demo: DemoThread) -> None:
    require_peer(nodepeer.node_missing_reason(browser=True))  # skip, or fail on CI
    here = f"127.0.0.1:{demo.port}"
    rules = f"MAP localhost:{TUTORIAL_PORT} {here}, MAP 127.0.0.1:{TUTORIAL_PORT} {here}"
    result = nodepeer.run_browser_page(
        f"http://127.0.0.1:{TUTORIAL_PORT}/",
        HERE / "demo_tutorial.js",
        args=[json.dumps(tutorial_snippets())],
        chromium_args=[f"--host-rules={rules}"],
        timeout=120,
    )
    assert result["pageUrl"] == "http://127.0.0.1:4000/"
    assert result["readyState"] == 1, "the console's WebSocket did not open"
    assert result["url"] == "ws://localhost:4000/"
    shown = result["tutorial"]
    # Only the replies: no error (a CSP violation, a failed connection) either.
    assert [entry["type"] for entry in shown] == ["log"] * 4, shown
    check_replies([entry["values"][0] for entry in shown])
    check_server_terminal(demo.lines(), "localhost:4000", origin="http://127.0.0.1:4000")
    # The quickstart's snippet, from the same page, gets its auth reply.
    print("QS", result["quickstart"])
    (entry,) = result["quickstart"]
    assert entry["type"] == "log", entry
    reply = json.loads(entry["values"][0])
    assert reply["id"] == 1 and reply["result"]["login"] == "admin"


def websockets_missing() -> str | None:
    try:
        import websockets.asyncio.client  # noqa: F401  (the API of websockets >= 13)
    except ImportError:
        return "the websockets package (>= 13) is not installed"
    return None


def js_stringify(value: Any) -> str:
    """What the browser's ``JSON.stringify`` sends for these plain objects."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_the_tutorial_with_the_websockets_package(require_peer: Require, demo: DemoThread) -> None:
    require_peer(websockets_missing())
    from websockets.asyncio.client import connect as ws_connect

    async def session() -> list[Any]:
        # Through "localhost", as the tutorial: the Host header says so.
        async with ws_connect(f"ws://localhost:{demo.port}") as ws:
            await ws.send(js_stringify({"message": "Hello World"}))  # step 4
            await ws.send(js_stringify({"ping": "Hello World"}))  # step 5
            replies = [json.loads(await ws.recv())]
            for call in (  # step 6, back to back
                {"method": "auth", "args": ["admin", "wrong"]},
                {"method": "auth", "args": ["admin", "secret"]},
                {"method": "getUsers"},
            ):
                await ws.send(js_stringify(call))
            replies += [json.loads(await ws.recv()) for _ in range(3)]
            with pytest.raises(TimeoutError):  # and nothing more
                await asyncio.wait_for(ws.recv(), 0.3)
            return replies

    replies = asyncio.run(asyncio.wait_for(session(), 30))
    check_replies(replies)
    check_server_terminal(demo.lines(), f"localhost:{demo.port}", origin=None)
