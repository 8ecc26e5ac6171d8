"""Drive the independent Node/Chromium WebSocket peers in ``tests/interop/node``.

Each Node script prints one JSON result line on stdout; these helpers run
them as subprocesses with timeouts and raise ``AssertionError`` (with the
script's stderr) when a script fails. Install the peers with
``bash tests/interop/install.sh``.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "CHROMIUM",
    "NODE_DIR",
    "browser_available",
    "node_available",
    "node_missing_reason",
    "run_browser_client",
    "run_browser_page",
    "run_ws_client",
    "start_ws_echo_server",
]

NODE_DIR = Path(__file__).resolve().parent / "node"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))

# Seconds the Node scripts' own timeout is kept below ours, so that normally
# the script reports the timeout itself (and closes Chromium) before we kill it.
_INTERNAL_TIMEOUT_MARGIN = 15.0
# Seconds a script gets to exit after SIGTERM before it is killed.
_TERM_GRACE = 10.0


def _node() -> str | None:
    return shutil.which("node")


def node_missing_reason(browser: bool = False) -> str | None:
    """Why the Node peers (and with ``browser``, Chromium) cannot run, or None."""
    if _node() is None:
        return "node is not on PATH"
    modules = NODE_DIR / "node_modules"
    needed = ["ws", "playwright-core"] if browser else ["ws"]
    for package in needed:
        if not (modules / package / "package.json").is_file():
            return f"{modules / package} is missing (run bash tests/interop/install.sh)"
    if browser and not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


def node_available(browser: bool = False) -> bool:
    """True when node and node_modules are present (and Chromium, with ``browser``)."""
    return node_missing_reason(browser) is None


def browser_available() -> bool:
    """True when the Chromium-based peers can run."""
    return node_available(browser=True)


def _script(name: str) -> str:
    return str(NODE_DIR / name)


def _internal_timeout(timeout: float) -> str:
    return str(max(5, int(timeout - _INTERNAL_TIMEOUT_MARGIN)))


def _sizes_arg(sizes: Sequence[int] | None) -> list[str]:
    if sizes is None:
        return []
    return ["--sizes", ",".join(str(int(n)) for n in sizes)]


def _stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=_TERM_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _run(cmd: Sequence[str], timeout: float) -> Any:
    """Run a Node script; return its parsed JSON result line or raise AssertionError."""
    where = " ".join(cmd)
    proc = subprocess.Popen(
        cmd,
        cwd=NODE_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    started = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        stdout, stderr = proc.communicate()
        raise AssertionError(
            f"{where}: no result after {timeout} s\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ) from None
    except BaseException:
        _stop(proc)
        raise
    elapsed = time.monotonic() - started
    lines = [line for line in stdout.splitlines() if line.strip()]
    result: Any = None
    parse_error = "no output"
    if lines:
        try:
            result = json.loads(lines[-1])
            parse_error = ""
        except json.JSONDecodeError as exc:
            parse_error = f"last line is not JSON: {exc}"
    if proc.returncode != 0 or parse_error:
        raise AssertionError(
            f"{where}: exit code {proc.returncode} after {elapsed:.1f} s"
            f"{' (' + parse_error + ')' if parse_error else ''}\n"
            f"stdout:\n{stdout}\nstderr:\n{stderr}"
        )
    return result


def _check_ok(result: Any, cmd: Sequence[str]) -> dict[str, Any]:
    if not isinstance(result, dict) or result.get("ok") is not True:
        raise AssertionError(f"{' '.join(cmd)}: unexpected result {result!r}")
    return result


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    """Read one line from a pipe, giving up after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while not buf.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                raise TimeoutError(f"no line within {timeout} s")
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    return buf


@contextmanager
def start_ws_echo_server(
    compression: bool = True,
    *,
    host: str = "127.0.0.1",
    deflate: Mapping[str, Any] | None = None,
    verbose: bool = False,
    startup_timeout: float = 30.0,
) -> Iterator[int]:
    """Run ``ws_echo_server.js`` on a free port; yield the port, stop it on exit.

    ``deflate`` adds ``ws`` perMessageDeflate options (e.g.
    ``{"serverNoContextTakeover": True}``); ``verbose`` logs each message to
    the server's stderr, which is shown if startup fails.
    """
    cmd = [_node() or "node", _script("ws_echo_server.js"), "--port", "0", "--host", host]
    cmd.append("--exit-on-stdin-close")
    if not compression:
        cmd.append("--no-compression")
    if deflate is not None:
        cmd += ["--deflate", json.dumps(dict(deflate))]
    if verbose:
        cmd.append("--verbose")
    with tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(
            cmd,
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,  # closing it also stops the server
            stdout=subprocess.PIPE,
            stderr=errfile,
        )
        assert proc.stdout is not None and proc.stdin is not None
        try:
            line = b""
            try:
                line = _read_line(proc.stdout, startup_timeout)
                port = int(json.loads(line)["listening"])
            except (TimeoutError, ValueError, KeyError, TypeError) as exc:
                _stop(proc)
                errfile.seek(0)
                stderr = errfile.read().decode("utf-8", "replace")
                stdout = (line + proc.stdout.read()).decode("utf-8", "replace")
                raise AssertionError(
                    f"{' '.join(cmd)}: did not start ({exc!r}); exit code {proc.returncode}\n"
                    f"stdout:\n{stdout}\nstderr:\n{stderr}"
                ) from None
            yield port
        finally:
            proc.stdin.close()
            _stop(proc)
            proc.stdout.close()


def run_ws_client(
    url: str,
    compression: bool = True,
    sizes: Sequence[int] | None = None,
    timeout: float = 120,
    *,
    protocols: Sequence[str] = (),
    deflate: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``ws_client.js`` against ``url``; return its result (``ok`` is True).

    Keys: ok, messages, close_code, close_reason, extensions (the server's
    Sec-WebSocket-Extensions header), protocol.
    """
    cmd = [_node() or "node", _script("ws_client.js"), "--url", url]
    cmd += ["--timeout", _internal_timeout(timeout), *_sizes_arg(sizes)]
    if not compression:
        cmd.append("--no-compression")
    if protocols:
        cmd += ["--protocols", ",".join(protocols)]
    if deflate is not None:
        cmd += ["--deflate", json.dumps(dict(deflate))]
    return _check_ok(_run(cmd, timeout), cmd)


def run_browser_client(
    url: str,
    sizes: Sequence[int] | None = None,
    timeout: float = 180,
    *,
    protocols: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``browser_client.js`` (Chromium's WebSocket) against ``url``.

    Keys: ok, messages, close_code, close_reason, was_clean, extensions,
    protocol, browser_version, launch_ms, total_ms.
    """
    cmd = [_node() or "node", _script("browser_client.js"), "--url", url]
    cmd += ["--timeout", _internal_timeout(timeout), *_sizes_arg(sizes)]
    if protocols:
        cmd += ["--protocols", ",".join(protocols)]
    return _check_ok(_run(cmd, timeout), cmd)


def run_browser_page(
    url: str,
    script_path: str | os.PathLike[str],
    screenshot: str | os.PathLike[str] | None = None,
    timeout: float = 180,
    *,
    args: Sequence[str] = (),
    wait_until: str | None = None,
    viewport: tuple[int, int] | None = None,
    chromium_args: Sequence[str] = (),
) -> Any:
    """Load ``url`` in Chromium, run the async function in ``script_path``; return its value.

    ``args`` reach the script as ``ctx.args``; ``screenshot`` is a PNG path
    written after the script ran; ``chromium_args`` are extra command-line
    switches for Chromium (e.g. ``--host-rules=MAP localhost:4000 127.0.0.1:PORT``).
    """
    cmd = [_node() or "node", _script("browser_page.js"), "--url", url]
    cmd += ["--script", str(Path(script_path).resolve())]
    cmd += ["--timeout", _internal_timeout(timeout)]
    if screenshot is not None:
        cmd += ["--screenshot", str(Path(screenshot).resolve())]
    if wait_until is not None:
        cmd += ["--wait-until", wait_until]
    if viewport is not None:
        cmd += ["--viewport", f"{viewport[0]}x{viewport[1]}"]
    for value in args:
        cmd += ["--arg", value]
    for switch in chromium_args:
        cmd += ["--chromium-arg", switch]
    return _run(cmd, timeout)
