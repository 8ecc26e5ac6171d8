"""The command line (``python -m wsproto_lite``), run as subprocesses."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import queue
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from wsproto_lite.adapters.asyncio import ConnectionClosed, WebSocket, connect, serve
from wsproto_lite.demo import verify_password

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ["asyncio", "sync", "trio"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["WSPROTO_LITE_DEMO_SECRET"] = "test-secret-" + "x" * 32
    return env


def cli(*args: str, stdin: str = "", timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run ``python -m wsproto_lite ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "wsproto_lite", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        cwd=ROOT,
        env=_env(),
    )


def _skip_missing_adapter(adapter: str) -> None:
    if importlib.util.find_spec(f"wsproto_lite.adapters.{adapter}") is None:
        pytest.skip(f"wsproto_lite.adapters.{adapter} does not exist yet")
    if adapter == "trio" and importlib.util.find_spec("trio") is None:
        pytest.skip("trio is not installed")


@contextmanager
def server(
    *args: str, timeout: float = 15
) -> Iterator[tuple[str, list[str], subprocess.Popen[bytes]]]:
    """Start a server subcommand on port 0; yield its URL, (later) its stderr lines, the process.

    On exit the server gets SIGTERM and must stop cleanly (exit status 0).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsproto_lite", *args, "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_env(),
    )
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        url = None
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stderr, selectors.EVENT_READ)
            while url is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise AssertionError(f"no 'listening on' line: {buffer!r}")
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    raise AssertionError(f"the server exited: {buffer!r}")
                buffer += chunk
                match = re.search(rb"listening on (ws://127\.0\.0\.1:\d+)", buffer)
                if match:
                    url = match.group(1).decode()
        yield url, lines, proc
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=timeout)[1]
        lines += (buffer + rest).decode("utf-8", "replace").splitlines()
        assert proc.returncode == 0, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- --help -----------------------------------------------------------------------------


def test_demo_help_names_the_tutorial() -> None:
    text = " ".join(cli("demo", "--help").stdout.split())
    assert "'Implementing a WebSocket server from scratch in Node.js'" in text
    assert "--max-size BYTES" in text and "(default: 65536)" in text
    assert "Default user: admin / secret" in text


@pytest.mark.parametrize("command", [[], ["demo"], ["echo"], ["connect"], ["hash-password"]])
def test_help(command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: wsproto-lite")
    assert result.stderr == ""


def test_help_mentions_every_subcommand() -> None:
    text = cli("--help").stdout
    for command in ("demo", "echo", "connect", "hash-password"):
        assert command in text


def test_no_command_is_a_usage_error() -> None:
    result = cli()
    assert result.returncode == 2
    assert "usage:" in result.stderr and "required" in result.stderr


def test_unknown_option_is_a_usage_error() -> None:
    result = cli("echo", "--adapter", "twisted")
    assert result.returncode == 2
    assert "invalid choice: 'twisted'" in result.stderr


def test_version() -> None:
    from wsproto_lite import __version__

    assert cli("--version").stdout.strip() == f"wsproto-lite {__version__}"


# -- echo + connect ---------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_echo_and_connect_through_a_pipe(adapter: str) -> None:
    _skip_missing_adapter(adapter)
    with server("echo", "--adapter", adapter) as (url, _, _):
        result = cli("connect", url, "--linger", "0.3", stdin="hi\r\nhéllo wörld ✓\n\nlast")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\nhéllo wörld ✓\n\nlast\n"
    assert f"connected to {url}" in result.stderr
    assert "connection closed: 1000" in result.stderr


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_connect_without_linger_still_prints_the_echo(adapter: str) -> None:
    """``printf 'hi\n' | … connect URL --linger 0``: the client closes right after
    sending, so "hi" and its close frame reach the server together; the server
    must echo "hi" before it answers the close. Ten times, since it was a race."""
    _skip_missing_adapter(adapter)
    with server("echo", "--adapter", adapter) as (url, _, _):
        for _ in range(10):
            result = cli("connect", url, "--linger", "0", stdin="hi\n")
            assert result.returncode == 0, result.stderr
            assert result.stdout == "hi\n"


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_echo_server_echoes_text_and_binary_unchanged(adapter: str) -> None:
    _skip_missing_adapter(adapter)
    big = bytes(range(256)) * (9 * 1024)  # 2.25 MiB: above the default 1 MiB limit

    async def check(url: str) -> None:
        async with connect(url, max_message_size=None) as ws:
            messages: list[str | bytes] = ["", "text ✓", b"", b"\x00\xffbinary", big, big.hex()]
            for message in messages:
                await ws.send(message)
                echo = await ws.recv()
                assert type(echo) is type(message) and echo == message

    with server("echo", "--adapter", adapter, "--no-compression") as (url, _, _):
        asyncio.run(asyncio.wait_for(check(url), 30))


def test_connect_sends_headers_and_subprotocols() -> None:
    with server("demo", "-vv", "--auth-delay", "0") as (url, lines, _):
        result = cli(
            "connect",
            url + "/ws",
            "--header",
            "X-Test: 42",
            "--subprotocol",
            "chat",
            "--linger",
            "0.3",
            stdin='{"id": 1, "method": "whoami"}\n',
        )
        assert result.returncode == 0, result.stderr
        reply = json.loads(result.stdout)
        assert reply["id"] == 1 and reply["result"]["authenticated"] is False
    log = "\n".join(lines)
    assert "x-test: 42" in log
    assert "sec-websocket-protocol: chat" in log


def test_connect_prints_binary_messages_in_hex(capsys: pytest.CaptureFixture[str]) -> None:
    from wsproto_lite.cli import _show

    _show(b"\x00\x01hi")
    _show(bytes(100))
    _show("text\nwith a newline")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[binary, 4 bytes] 00016869"
    assert lines[1] == "[binary, 100 bytes] " + "00" * 64 + "…"
    assert lines[2:] == ["text", "with a newline"]


def test_connect_exits_1_when_the_server_closes_with_an_error() -> None:
    with server("demo") as (url, _, _):
        result = cli("connect", url, stdin="x" * (70 * 1024) + "\n")
    assert result.returncode == 1
    assert "error: connection closed: 1009" in result.stderr


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/", "not a WebSocket URI"),
        ("ws://", "has no host"),
        ("ws://127.0.0.1:99999/", "not a valid URI"),
        ("ws://host/#fragment", "fragment"),
        ("nonsense", "not a WebSocket URI"),
    ],
)
def test_connect_bad_url(url: str, message: str) -> None:
    result = cli("connect", url)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.startswith("wsproto-lite: error: ")


def test_connect_bad_header() -> None:
    result = cli("connect", "ws://127.0.0.1/", "--header", "no-colon")
    assert result.returncode == 2
    assert "expected NAME:VALUE" in result.stderr


def test_connect_refused() -> None:
    port = free_port()
    result = cli("connect", f"ws://127.0.0.1:{port}/")
    assert result.returncode == 1
    assert result.stderr.strip() == f"wsproto-lite: error: connection refused: 127.0.0.1:{port}"


def test_connect_rejected() -> None:
    with server("demo", "--allow-origin", "http://good.example") as (url, _, _):
        refused = cli("connect", url + "/ws", "--origin", "http://evil.example")
        missing = cli("connect", url + "/nowhere")
    assert refused.returncode == 1
    assert "server rejected the handshake: 403 Forbidden" in refused.stderr
    assert missing.returncode == 1
    # The server's own words follow.
    assert missing.stderr.splitlines()[-2:] == [
        "wsproto-lite: error: server rejected the handshake: 404 Not Found",
        "  Not Found: connect to / or /ws",
    ]
    assert refused.stderr.splitlines()[-1] == "  Forbidden: this origin is not allowed"


def test_rejection_bodies_are_shown_safely() -> None:
    from wsproto_lite.cli import _body_text

    text = [("Content-Type", "text/plain; charset=latin-1")]
    assert _body_text(text, b"caf\xe9\r\n\x1b[31mred\n") == "  café\n  \\u001b[31mred"
    assert _body_text([], b"") == ""
    assert _body_text([("content-type", "image/png")], b"\x89PNG") == "  [4 bytes of image/png]"
    assert _body_text([("Content-Type", "application/json")], b'{"a": 1}') == '  {"a": 1}'
    long = _body_text([], b"y" * 5000).splitlines()
    assert long == ["  " + "y" * 2000, "  … (5000 bytes in all)"]
    assert _body_text([("Content-Type", "text/html; charset=nope")], b"<p>x</p>") == "  <p>x</p>"


def test_connect_to_something_that_is_not_websocket() -> None:
    """A server that answers, but not with HTTP: a handshake error, exit 1."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "wsproto_lite", "connect", f"ws://127.0.0.1:{port}/"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=_env(),
        )
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert stderr.startswith("wsproto-lite: error: handshake failed")


def test_listen_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("echo", "--port", str(port))
    assert result.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.stderr


# -- demo and hash-password ---------------------------------------------------------------


def test_demo_serves_the_page_and_the_rpc() -> None:
    with server("demo", "--auth-delay", "0") as (url, lines, _):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200 OK\r\n")
        calls = [
            {"id": 1, "method": "auth", "args": ["admin", "secret"]},
            {"id": 2, "method": "getUsers"},
        ]
        result = cli(
            "connect",
            url + "/ws",
            "--linger",
            "0.5",
            stdin="".join(json.dumps(c) + "\n" for c in calls),
        )
    assert result.returncode == 0, result.stderr
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    # getUsers, sent while auth was running, waited for it.
    assert [r["id"] for r in replies] == [1, 2]
    assert replies[0]["result"]["login"] == "admin"
    assert replies[1]["result"][0]["online"] == 1
    assert any(f"(open http://127.0.0.1:{port}/ in a browser)" in line for line in lines)


def test_piped_input_gets_every_reply_with_the_default_options() -> None:
    """``printf 'auth…\nwhoami…\n' | … connect URL``: auth takes 0.5 s on purpose;
    the client waits for the server to be quiet before it closes."""
    stdin = '{"method": "auth", "args": ["admin", "secret"]}\n{"method": "whoami"}\n'
    with server("demo") as (url, _, _):
        result = cli("connect", url, stdin=stdin)
    assert result.returncode == 0, result.stderr
    auth, whoami = [json.loads(line) for line in result.stdout.splitlines()]
    assert auth["id"] is None and auth["result"]["login"] == "admin"
    assert whoami["result"]["authenticated"] is True


def test_connect_waits_for_quiet_but_not_forever() -> None:
    """A server that never stops talking: the client closes after --linger-max."""

    async def chatter(ws: WebSocket) -> None:
        while True:
            await ws.send("tick")
            await asyncio.sleep(0.1)

    with _thread_server(chatter) as url:
        started = time.monotonic()
        result = cli("connect", url, "--linger", "0.5", "--linger-max", "1.5")
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("tick") >= 10
    assert 1.5 <= elapsed < 6


def test_connect_closes_once_the_server_is_quiet() -> None:
    """Answers 0.6 s apart, 2.4 s in all, arrive with --linger 1.2; the client then leaves."""

    async def slow_echo(ws: WebSocket) -> None:
        async for message in ws:
            for n in range(4):
                await asyncio.sleep(0.6)
                await ws.send(f"{message} {n}")

    with _thread_server(slow_echo) as url:
        started = time.monotonic()
        result = cli("connect", url, "--linger", "1.2", stdin="hi\n")
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi 0\nhi 1\nhi 2\nhi 3\n"
    assert elapsed < 10


@contextmanager
def _thread_server(handler: Any) -> Iterator[str]:
    """Our asyncio server with *handler*, in a thread; yields its URL."""
    ready: queue.Queue[int] = queue.Queue()
    stop: list[asyncio.Event] = []
    loop = asyncio.new_event_loop()

    async def main() -> None:
        stop.append(asyncio.Event())
        async with serve(handler, "127.0.0.1", 0, close_timeout=1) as srv:
            ready.put(srv.port)
            await stop[0].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{ready.get(timeout=10)}/"
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        loop.close()


def test_connect_leaves_cleanly_while_stdin_is_still_open() -> None:
    """The server closes while the client still waits for input: exit 1 with the
    reason, not an interpreter abort (a daemon thread blocked in sys.stdin)."""
    with server("demo", "--max-size", "1000") as (url, _, _):
        proc = subprocess.Popen(
            [sys.executable, "-m", "wsproto_lite", "connect", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=_env(),
        )
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(b"x" * 2000 + b"\n")
        proc.stdin.flush()
        try:
            proc.wait(timeout=20)  # stdin stays open (communicate() would close it)
            stderr = proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    text = stderr.decode()
    assert proc.returncode == 1, text
    assert "Fatal Python error" not in text
    assert text.splitlines()[-1] == (
        "wsproto-lite: error: connection closed: 1009 message of at least 1001 bytes"
        " exceeds the 1000-byte limit"
    )


@pytest.mark.parametrize("compression", [True, False])
def test_demo_max_size(compression: bool) -> None:
    """--max-size sets the demo's message limit; the close reason is the same with
    and without compression."""
    options = [] if compression else ["--no-compression"]
    with server("demo", "--max-size", "1000") as (url, _, _):
        fits = cli("connect", url, *options, "--linger", "0.3", stdin=json.dumps({"m": "x" * 980}))
        big = cli("connect", url, *options, stdin="x" * 1001 + "\n")
    assert fits.returncode == 0, fits.stderr
    assert ("extensions permessage-deflate" in fits.stderr) is compression
    assert big.returncode == 1
    assert big.stderr.splitlines()[-1] == (
        "wsproto-lite: error: connection closed: 1009 message of at least 1001 bytes"
        " exceeds the 1000-byte limit"
    )


def test_demo_terminal_shows_the_tutorial_steps() -> None:
    """At the default verbosity, the server's terminal shows the handshake headers
    (step 2) and a message that is not a call (step 4); a ping gets its pong (step 5)."""
    stdin = '{"message":"Hello World"}\n{"ping":"Hello World"}\n'
    with server("demo") as (url, lines, _):
        result = cli("connect", url, "--linger", "0.5", "--header", "X-Step: 2", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"pong":"Hello World"}\n'
    log = "\n".join(lines)
    assert re.search(
        r"INFO +wsproto_lite\.demo: handshake request GET /, headers:\n    host: ", log
    )
    assert "\n    x-step: 2\n" in log
    assert re.search(r'client #\d+: message \{"message":"Hello World"\}\n', log)
    assert re.search(r"client #\d+ disconnected \(1000\); 0 connected$", log, re.M)


@pytest.mark.parametrize("bare", [False, True])
def test_demo_users_file(tmp_path: Path, bare: bool) -> None:
    users = tmp_path / "users.json"
    entries = [{"login": "ann", "password": "pw"}]
    users.write_text(json.dumps(entries if bare else {"users": entries}))
    with server("demo", "--users", str(users), "--auth-delay", "0") as (url, _, _):
        result = cli(
            "connect",
            url,
            "--linger",
            "0.3",
            stdin='{"id": 1, "method": "auth", "args": ["ann", "pw"]}\n'
            '{"id": 2, "method": "auth", "args": ["admin", "secret"]}\n',
        )
    replies = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert replies[1]["result"]["login"] == "ann"
    assert replies[2]["error"]["code"] == -32002


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "/nonexistent/users.json"], "cannot read"),
        (["--port", "70000"], "port out of range"),
        (["--token-ttl", "-1"], "must not be negative"),
        (["--max-size", "0"], "must be at least 1"),
        (["--users", "/dev/null"], "not valid JSON"),
    ],
)
def test_demo_usage_errors(args: list[str], message: str) -> None:
    result = cli("demo", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_demo_short_secret_is_refused() -> None:
    env = _env()
    env["WSPROTO_LITE_DEMO_SECRET"] = "short"
    result = subprocess.run(
        [sys.executable, "-m", "wsproto_lite", "demo", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 2
    assert "at least 32 bytes" in result.stderr


def test_hash_password() -> None:
    result = cli("hash-password", stdin="correct horse\n")
    assert result.returncode == 0
    encoded = result.stdout.strip()
    assert verify_password("correct horse", encoded)
    assert cli("hash-password", stdin="\n").returncode == 2


def test_sigterm_closes_clients_with_1001() -> None:
    """SIGTERM shuts the server down gracefully: clients get 1001, the exit status is 0."""

    async def check(url: str, proc: subprocess.Popen[bytes]) -> None:
        async with connect(url + "/ws") as ws:
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.code == 1001

    with server("demo") as (url, _, proc):
        asyncio.run(check(url, proc))
        assert proc.wait(10) == 0
