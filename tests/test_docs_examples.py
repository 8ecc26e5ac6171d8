"""The documentation's code runs: every docs/examples/*.py and every doctest block.

* The socket examples (``sansio_server.py``, ``selectors_server.py``) are
  started as real processes on a free port and driven over loopback TCP by the
  sans-I/O client of ``sansio_client.py``, itself run both as a module and as a
  script.
* Every other ``docs/examples/*.py`` is run as a script and must exit 0.
* The ``{doctest}``/``{testcode}`` blocks of the Markdown pages are run here
  with the standard library's doctest, the way ``sphinx-build -b doctest``
  runs them, so the examples are checked by the plain test suite without
  Sphinx installed.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import os
import re
import select
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
TIMEOUT = 30

#: Examples that serve forever on a socket; each has a dedicated test below.
SERVER_EXAMPLES = {"sansio_server.py", "selectors_server.py"}
#: Examples that need a server to talk to; each has a dedicated test below.
CLIENT_EXAMPLES = {"sansio_client.py"}
SCRIPT_EXAMPLES = sorted(
    p.name for p in EXAMPLES.glob("*.py") if p.name not in SERVER_EXAMPLES | CLIENT_EXAMPLES
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _python(script: str, *args: str) -> list[str]:
    # -X dev and -W error: an unclosed socket or a deprecation fails the example.
    return [sys.executable, "-u", "-X", "dev", "-W", "error", str(EXAMPLES / script), *args]


def test_the_examples_are_all_covered() -> None:
    present = {p.name for p in EXAMPLES.glob("*.py")}
    assert present >= SERVER_EXAMPLES | CLIENT_EXAMPLES
    assert present == SERVER_EXAMPLES | CLIENT_EXAMPLES | set(SCRIPT_EXAMPLES)


@pytest.mark.parametrize("script", SCRIPT_EXAMPLES)
def test_script_example(script: str, tmp_path: Path) -> None:
    # Run elsewhere than docs/examples, so that nothing (a .hypothesis cache) lands there.
    result = subprocess.run(
        _python(script), env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr


# -- the socket examples ---------------------------------------------------------------


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.output = ""


@contextlib.contextmanager
def run_server(script: str) -> Iterator[Server]:
    """Start an example server on a free port; stop it and collect its output after."""
    with subprocess.Popen(
        _python(script, "0"),
        env=_env(),
        cwd=EXAMPLES,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
            assert ready, f"{script} did not start within {TIMEOUT}s"
            line = proc.stdout.readline()
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            assert match, f"unexpected first line from {script}: {line!r}"
            server = Server(proc, int(match.group(1)))
            yield server
            assert proc.poll() is None, f"{script} exited early:\n{proc.stdout.read()}"
        finally:
            proc.terminate()
            try:
                rest, _ = proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung example
                proc.kill()
                rest, _ = proc.communicate()
        server.output = rest
    assert "Traceback" not in server.output, server.output


def load_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_sansio_client", EXAMPLES / "sansio_client.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def http_get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return response


def test_sansio_server_echoes_pings_and_closes() -> None:
    from wsproto_lite import BinaryMessage, Close, Ping, Pong, TextMessage

    client = load_client()
    with run_server("sansio_server.py") as server:
        sock, conn = client.connect("127.0.0.1", server.port)
        conn.send(TextMessage("héllo"))
        conn.send(Ping(b"p"))
        conn.send(BinaryMessage(b"\x00\xff" * 40_000))
        sock.sendall(conn.data_to_send())
        assert client.next_event(sock, conn) == TextMessage("héllo")
        assert client.next_event(sock, conn) == Pong(b"p")
        assert client.next_event(sock, conn) == BinaryMessage(b"\x00\xff" * 40_000)
        reply = client.close(sock, conn, "bye")
        assert reply == Close(1000, "")
        assert sock.fileno() == -1
        # One connection at a time: the server takes the next one.
        assert http_get(server.port).startswith(b"HTTP/1.1 200 ")
    assert "closed: 1000 bye" in server.output


def test_sansio_server_survives_a_vanishing_client() -> None:
    client = load_client()
    with run_server("sansio_server.py") as server:
        sock, _ = client.connect("127.0.0.1", server.port)
        sock.close()  # no closing handshake
        assert b"Try WebSocket." in http_get(server.port)
    assert "closed: 1006" in server.output


def test_sansio_client_script() -> None:
    with run_server("sansio_server.py") as server:
        result = subprocess.run(
            _python("sansio_client.py", "127.0.0.1", str(server.port), "one", "two"),
            env=_env(),
            cwd=EXAMPLES,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "pong: are you there?",
        "received: one",
        "received: two",
        "closed: 1000",
    ]


def test_selectors_server_broadcasts() -> None:
    from wsproto_lite import Close, TextMessage

    client = load_client()
    with run_server("selectors_server.py") as server:
        a, conn_a = client.connect("127.0.0.1", server.port)
        b, conn_b = client.connect("127.0.0.1", server.port)
        conn_a.send(TextMessage("hi from a"))
        a.sendall(conn_a.data_to_send())
        assert client.next_event(a, conn_a) == TextMessage("hi from a")
        assert client.next_event(b, conn_b) == TextMessage("hi from a")
        # A plain HTTP request is left unanswered by the app: 426 from the core.
        assert http_get(server.port).startswith(b"HTTP/1.1 426 ")
        assert client.close(a, conn_a) == Close(1000, "")
        # b is still served, and sees only its own messages now.
        conn_b.send(TextMessage("anyone?"))
        b.sendall(conn_b.data_to_send())
        assert client.next_event(b, conn_b) == TextMessage("anyone?")
        b.close()  # without a closing handshake: the server must cope
        c, conn_c = client.connect("127.0.0.1", server.port)
        assert client.close(c, conn_c) == Close(1000, "")
    assert server.output.count("a client left") == 3
    assert "a client left: 1006" in server.output


# -- the doctest blocks of the Markdown pages ----------------------------------------------

_FENCE = re.compile(
    r"^(?P<indent>[ ]*)(?P<fence>```+|:::+)\{(?P<directive>doctest|testcode|testoutput|"
    r"testsetup|testcleanup)\}(?P<arg>[^\n]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ ]*$",
    re.MULTILINE | re.DOTALL,
)
_FLAGS = doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL | doctest.DONT_ACCEPT_TRUE_FOR_1


def _split_options(body: str) -> tuple[dict[str, str], str]:
    """MyST directive options: leading ``:name: value`` lines."""
    options = {}
    lines = body.splitlines(keepends=True)
    while lines and (m := re.match(r"^:([\w-]+):\s*(.*)$", lines[0].strip())):
        options[m.group(1)] = m.group(2)
        lines.pop(0)
    return options, "".join(lines)


def _flags(options: dict[str, str]) -> int:
    flags = _FLAGS
    for item in options.get("options", "").split(","):
        item = item.strip()
        if item:
            flag = doctest.OPTIONFLAGS_BY_NAME[item[1:]]
            flags = flags | flag if item[0] == "+" else flags & ~flag
    return flags


def _pages_with_doctests() -> list[Path]:
    return sorted(
        p for p in DOCS.rglob("*.md") if "_build" not in p.parts and _FENCE.search(p.read_text())
    )


def test_some_pages_have_doctests() -> None:
    assert len(_pages_with_doctests()) >= 5


@pytest.mark.parametrize("page", _pages_with_doctests(), ids=lambda p: str(p.relative_to(DOCS)))
def test_markdown_doctests(page: Path) -> None:
    text = page.read_text()
    namespaces: dict[str, dict[str, object]] = {}
    pending_code: dict[str, tuple[str, int]] = {}
    parser = doctest.DocTestParser()
    failures: list[str] = []
    for match in _FENCE.finditer(text):
        directive = match.group("directive")
        group = match.group("arg").strip() or "default"
        options, body = _split_options(textwrap.dedent(match.group("body")))
        if "skipif" in options:
            pytest.fail(f"{page}: :skipif: is not supported by this runner")
        line = text.count("\n", 0, match.start()) + 1
        globs = namespaces.setdefault(group, {"__name__": "__main__"})
        name = f"{page.relative_to(DOCS)}:{line}"
        if directive in ("testsetup", "testcleanup", "testcode"):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(body, name, "exec"), globs)
            if directive == "testcode":
                pending_code[group] = (out.getvalue(), _flags(options))
        elif directive == "testoutput":
            got, flags = pending_code.pop(group, ("", _FLAGS))
            checker = doctest.OutputChecker()
            if not checker.check_output(body, got, flags | _flags(options)):
                failures.append(f"{name}: expected {body!r}, got {got!r}")
        else:
            test = parser.get_doctest(body, globs, name, str(page), line)
            runner = doctest.DocTestRunner(optionflags=_flags(options))
            report = io.StringIO()
            runner.run(test, out=report.write, clear_globs=False)
            globs.update(test.globs)  # DocTest works on a copy; later blocks continue
            if runner.failures:
                failures.append(report.getvalue())
    assert not failures, "\n".join(failures)
