"""The command line: ``python -m wsproto_lite`` (or ``wsproto-lite``).

Subcommands:

- ``demo``: the RPC server of the tutorial "Implementing a WebSocket server from
  scratch in Node.js", with its web page (:mod:`wsproto_lite.demo`);
- ``echo``: an echo server on any of the adapters (for conformance and interop tests);
- ``connect``: an interactive client: lines typed become text messages;
- ``hash-password``: a password hash for a ``demo --users`` file.

Exit codes: 0 success, 1 failure (connection refused, handshake rejected,
connection closed with an error), 2 bad usage (including a bad URL), 130
interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import getpass
import http
import importlib.util
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from ._close_codes import NORMAL_CLOSE_CODES
from .adapters import (  # the public names (the CLI is a program on the public API)
    ConnectionClosed,
    InvalidHandshake,
    InvalidURI,
    WebSocketURI,
    parse_uri,
)

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

#: Everything went well.
EXIT_OK = 0
#: The connection failed, was refused or rejected, or closed with an error.
EXIT_FAILURE = 1
#: Bad usage: unknown option, bad URL, unreadable configuration.
EXIT_USAGE = 2
#: Interrupted (Ctrl-C).
EXIT_INTERRUPTED = 130

#: The echo server's default message size limit: Autobahn's largest cases are 16 MiB.
ECHO_MAX_SIZE = 64 << 20
#: The demo's default message size limit: its calls are small.
DEMO_MAX_SIZE = 64 << 10
#: ``demo --redis-prefix`` and ``--redis-expiry`` by default (the same as
#: :mod:`wsproto_lite.demo.shared`'s, not imported from there to keep the CLI's start quick).
DEFAULT_REDIS_PREFIX = "wsproto_lite:demo:"
DEFAULT_REDIS_EXPIRY = 10.0
#: ``connect``: after the end of input, close once the server was quiet this long (s).
LINGER = 2.0
#: ``connect``: after the end of input, close after this long (s) in any case.
LINGER_MAX = 10.0
#: ``connect``: the most of a rejection's body shown (characters).
BODY_SHOWN = 2000

_log = logging.getLogger("wsproto_lite.cli")


class _Fatal(Exception):
    """An error that ends the command: printed as ``error: …`` on stderr."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


# -- helpers ------------------------------------------------------------------------


def _setup_logging(verbosity: int, process: str = "") -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    who = f"[{process}] " if process else ""
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s {who}%(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _announce(message: str) -> None:
    """A status line on stderr, whatever the logging level (tests read it)."""
    print(message, file=sys.stderr, flush=True)


def _url(host: str | None, port: int, scheme: str = "ws") -> str:
    shown = host or "0.0.0.0"
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


def _listen_error(exc: OSError, host: str | None, port: int) -> _Fatal:
    reason = exc.strerror or str(exc)
    return _Fatal(f"cannot listen on {host or '*'}:{port}: {reason}")


def _run_async(main: Callable[[], Any]) -> int:
    """Run a coroutine function; SIGTERM shuts down as gracefully as Ctrl-C."""

    async def runner() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        terminated = []

        def terminate() -> None:
            terminated.append(True)
            task.cancel()

        # Not on Windows; there SIGTERM simply ends the process.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return int(await main())
        except asyncio.CancelledError:
            if terminated:
                return EXIT_OK  # SIGTERM: a requested, graceful stop
            raise  # Ctrl-C: asyncio.run() turns this into KeyboardInterrupt

    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


# -- demo ---------------------------------------------------------------------------


def _demo_config(args: argparse.Namespace) -> tuple[Any, bool]:
    """The demo's settings from the options, and whether the secret came from the environment."""
    from .demo import ConfigError, DemoConfig, load_users
    from .demo.config import secret_from_env

    try:
        users = load_users(args.users) if args.users else None
        secret, from_env = secret_from_env()
        config = DemoConfig(
            users=users,
            secret=secret,
            token_ttl=args.token_ttl,
            auth_delay=args.auth_delay,
            max_message_size=args.max_size,
            allowed_origins=tuple(args.allow_origin),
            compression=not args.no_compression,
        )
    except (ConfigError, ValueError) as exc:
        raise _Fatal(str(exc), EXIT_USAGE) from None
    return config, from_env


def _demo_warnings(args: argparse.Namespace, config: Any, from_env: bool) -> None:
    from .demo.config import SECRET_ENV

    demo_log = logging.getLogger("wsproto_lite.demo")
    if args.users is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        demo_log.warning(
            "listening on %s with the public demo login admin/secret: use --users", args.host
        )
    if not from_env:
        demo_log.warning(
            "%s is not set: tokens are signed with a random key and die with the server",
            SECRET_ENV,
        )


def _check_redis_option(args: argparse.Namespace) -> None:
    if args.workers > 1 and args.redis is None:
        raise _Fatal(
            f"--workers {args.workers} needs --redis URL: without a shared store each worker"
            " would list only its own users and broadcast to its own clients",
            EXIT_USAGE,
        )
    if args.redis is None:
        return
    if urlsplit(args.redis).scheme not in ("redis", "rediss", "unix"):
        raise _Fatal(
            f"--redis {args.redis!r} is not a redis://, rediss:// or unix:// URL", EXIT_USAGE
        )
    if importlib.util.find_spec("redis") is None:
        raise _Fatal(
            "--redis needs the redis package: pip install 'wsproto-lite[demo-redis]'",
            EXIT_USAGE,
        )


def _demo_hub(args: argparse.Namespace) -> Any:
    """The demo's hub: in memory, or shared through Redis with ``--redis``."""
    from .demo.hub import LocalHub

    if args.redis is None:
        return LocalHub()
    from .demo.redis_hub import RedisHub
    from .demo.shared import RedisState

    try:
        state = RedisState(args.redis, prefix=args.redis_prefix, expiry=args.redis_expiry)
    except (RuntimeError, ValueError) as exc:
        raise _Fatal(str(exc), EXIT_USAGE) from None
    return RedisHub(state)


def _cmd_demo(args: argparse.Namespace) -> int:
    _check_redis_option(args)
    if args.worker is not None:
        return _demo_worker(args)
    if args.workers > 1:
        return _demo_supervisor(args)
    _setup_logging(1 + args.verbose - args.quiet)
    from .demo import run

    config, from_env = _demo_config(args)
    _demo_warnings(args, config, from_env)
    hub = _demo_hub(args)

    def listening(server: Any) -> None:
        url = _url(args.host, server.port)
        page = _url(args.host, server.port, "http")
        _announce(f"listening on {url} (open {page}/ in a browser)")

    async def main() -> int:
        try:
            await run(config, args.host, args.port, on_listening=listening, hub=hub)
        except OSError as exc:
            raise _listen_error(exc, args.host, args.port) from None
        return EXIT_OK

    return _run_async(main)


def _demo_supervisor(args: argparse.Namespace) -> int:
    """``demo --workers N``: start N workers on one port, watch them, stop them."""
    from .demo.config import SECRET_ENV
    from .demo.workers import HAS_REUSEPORT, NO_REUSEPORT_ENV, Listener, Supervisor, reserve_port

    if sys.platform == "win32":  # pragma: no cover - no SO_REUSEPORT, no inherited sockets
        raise _Fatal("--workers above 1 needs a POSIX system (Linux, macOS, BSD)", EXIT_USAGE)
    _setup_logging(1 + args.verbose - args.quiet, "supervisor")
    config, from_env = _demo_config(args)  # a bad users file fails here, once
    _demo_warnings(args, config, from_env)
    env = dict(os.environ)
    if not from_env:
        # One random key for all the workers: a token from one is good on the others.
        env[SECRET_ENV] = secrets.token_urlsafe(32)
    # The shared-socket mode of platforms without SO_REUSEPORT, on demand (to try it).
    reuse_port = HAS_REUSEPORT and not os.environ.get(NO_REUSEPORT_ENV)
    try:
        listener = reserve_port(args.host, args.port, reuse_port=reuse_port)
    except OSError as exc:
        raise _listen_error(exc, args.host, args.port) from None

    def command(number: int, listener: Listener) -> list[str]:
        argv = [sys.executable, "-m", "wsproto_lite", *args.argv]
        argv += ["--port", str(listener.port), "--worker", str(number)]
        if listener.inherited_fd is not None:
            argv += ["--listen-fd", str(listener.inherited_fd)]
        return argv

    def ready(listener: Listener) -> None:
        url = _url(args.host, listener.port)
        page = _url(args.host, listener.port, "http")
        _announce(f"listening on {url} (open {page}/ in a browser) with {args.workers} workers")

    supervisor = Supervisor(args.workers, listener, command, env=env)
    return supervisor.run(ready)


class _EndWatcher(asyncio.Protocol):
    """Sets *event* when the pipe it reads ends."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def connection_lost(self, exc: Exception | None) -> None:
        self.event.set()


def _demo_worker(args: argparse.Namespace) -> int:
    """One worker of ``demo --workers N`` (started by the supervisor, not by hand).

    It ignores Ctrl-C (the supervisor turns it into SIGTERM for every worker),
    says ``READY`` on stdout once it listens, and stops gracefully on SIGTERM or
    when its stdin closes (the supervisor is gone).
    """
    from .demo import run

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _setup_logging(1 + args.verbose - args.quiet, f"worker {args.worker}")
    config, _ = _demo_config(args)
    hub = _demo_hub(args)
    if args.listen_fd is not None:
        where: dict[str, Any] = {"sock": socket.socket(fileno=args.listen_fd)}
        host, port = None, None
    else:
        where = {"reuse_port": True}
        host, port = args.host, args.port

    def listening(server: Any) -> None:
        print("READY", flush=True)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        orphaned = asyncio.Event()
        # The supervisor holds our stdin: its end means the supervisor is gone.
        stdin, _ = await loop.connect_read_pipe(lambda: _EndWatcher(orphaned), sys.stdin)
        serving = asyncio.create_task(
            run(config, host, port, on_listening=listening, hub=hub, **where)
        )
        watching = asyncio.create_task(orphaned.wait())
        try:
            await asyncio.wait([serving, watching], return_when=asyncio.FIRST_COMPLETED)
            if orphaned.is_set():
                logging.getLogger("wsproto_lite.demo").warning("the supervisor is gone; stopping")
        finally:
            watching.cancel()
            stdin.close()
            if not serving.done():
                serving.cancel()  # a graceful shutdown (serve_forever closes the server)
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        return EXIT_OK

    return _run_async(main)


# -- echo ---------------------------------------------------------------------------


def _echo_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "compression": not args.no_compression,
        "max_message_size": args.max_size,
    }


def _echo_asyncio(args: argparse.Namespace) -> int:
    from .adapters.asyncio import WebSocket, serve

    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> int:
        try:
            server = await serve(echo, args.host, args.port, **_echo_options(args)).start()
        except OSError as exc:
            raise _listen_error(exc, args.host, args.port) from None
        _announce(f"listening on {_url(args.host, server.port)}")
        await server.serve_forever()
        return EXIT_OK

    return _run_async(main)


def _echo_trio(args: argparse.Namespace) -> int:
    try:
        import trio

        from .adapters import trio as trio_adapter
    except ImportError as exc:
        raise _Fatal(f"the trio adapter is not available: {exc}") from None

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    outcome: dict[str, Any] = {}

    async def main() -> None:
        # Both signals stop the server gracefully (trio would otherwise raise
        # KeyboardInterrupt wherever it lands); the status tells them apart.
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                serve = functools.partial(
                    trio_adapter.serve, echo, args.host, args.port, **_echo_options(args)
                )
                try:
                    server = await nursery.start(serve)
                except OSError as exc:
                    outcome["error"] = exc
                    return
                _announce(f"listening on {_url(args.host, server.port)}")
                async for signum in signals:
                    outcome["signal"] = signum
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)
    if "error" in outcome:
        raise _listen_error(outcome["error"], args.host, args.port)
    return EXIT_INTERRUPTED if outcome.get("signal") == signal.SIGINT else EXIT_OK


def _echo_sync(args: argparse.Namespace) -> int:
    from .adapters import sync as sync_adapter  # (the standard library only)

    def echo(ws: Any) -> None:
        for message in ws:
            ws.send(message)

    try:
        server = sync_adapter.serve(echo, args.host, args.port, **_echo_options(args))
    except OSError as exc:
        raise _listen_error(exc, args.host, args.port) from None

    class Stop(Exception):
        pass

    def stop(signum: int, frame: Any) -> None:
        raise Stop

    signal.signal(signal.SIGTERM, stop)
    try:
        # Leaving the block shuts the server down gracefully (1001 to every client).
        with server:
            _announce(f"listening on {_url(args.host, server.port)}")
            server.serve_forever()
    except Stop:
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK  # pragma: no cover - serve_forever() only returns after shutdown()


def _cmd_echo(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose - args.quiet)
    runner = {"asyncio": _echo_asyncio, "trio": _echo_trio, "sync": _echo_sync}[args.adapter]
    return runner(args)


# -- connect ------------------------------------------------------------------------


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME:VALUE, got {text!r}")
    return name.strip(), value.strip()


def _start_stdin_reader(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Read stdin lines in a daemon thread (so the event loop never blocks on it).

    The thread reads the file descriptor with :func:`os.read`, not through
    ``sys.stdin``: a daemon thread blocked inside a buffered stream holds its
    lock, and the interpreter aborts ("could not acquire lock … at interpreter
    shutdown") if the connection ends while the thread still waits for input.
    """

    def put(item: str | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the client is done
            raise SystemExit from None

    def line_text(line: bytes) -> str:
        if line.endswith(b"\n"):  # one line terminator, LF or CRLF
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        return line.decode("utf-8", "replace")

    def read() -> None:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            put(None)  # no usable stdin: nothing to send
            return
        pending = b""
        try:
            while chunk := os.read(fd, 65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    put(line_text(line + b"\n"))
        except OSError:
            pass  # stdin closed or unreadable: treat as end of input
        if pending:
            put(line_text(pending))
        put(None)

    threading.Thread(target=read, name="stdin", daemon=True).start()


def _show(message: str | bytes) -> None:
    if isinstance(message, str):
        print(message, flush=True)
    else:
        preview = message[:64].hex()
        more = "…" if len(message) > 64 else ""
        print(f"[binary, {len(message)} bytes] {preview}{more}", flush=True)


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _body_text(headers: Sequence[tuple[str, str]], body: bytes) -> str:
    """A rejection's body as shown on the terminal: text indented, anything else summed up."""
    if not body:
        return ""
    content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type and not (media_type.startswith("text/") or media_type.endswith(("json", "xml"))):
        return f"  [{len(body)} bytes of {_printable(media_type)}]"
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        text = body.decode(charset, "replace")
    except LookupError:
        text = body.decode("utf-8", "replace")
    shown = text[:BODY_SHOWN].strip()
    lines = [f"  {_printable(line)}" for line in shown.splitlines()]
    if len(text) > BODY_SHOWN:
        lines.append(f"  … ({len(body)} bytes in all)")
    return "\n".join(lines)


def _handshake_error(exc: InvalidHandshake) -> _Fatal:
    if exc.status is None:
        return _Fatal(f"handshake failed: {exc}")
    try:
        phrase = http.HTTPStatus(exc.status).phrase
    except ValueError:
        phrase = ""
    message = f"server rejected the handshake: {exc.status} {phrase}".rstrip()
    body = _body_text(exc.headers, exc.body)
    return _Fatal(f"{message}\n{body}" if body else message)


async def _connect(args: argparse.Namespace, uri: WebSocketURI) -> int:
    from .adapters.asyncio import connect

    where = f"{uri.host}:{uri.port}"
    try:
        ws = await connect(
            args.url,
            subprotocols=args.subprotocol or None,
            extra_headers=args.header or None,
            origin=args.origin,
            compression=not args.no_compression,
            open_timeout=args.timeout,
            max_message_size=args.max_size,
        )
    except ConnectionRefusedError:
        raise _Fatal(f"connection refused: {where}") from None
    except InvalidHandshake as exc:
        raise _handshake_error(exc) from None
    except TimeoutError:
        raise _Fatal(f"timed out after {args.timeout} s connecting to {args.url}") from None
    except OSError as exc:
        raise _Fatal(f"cannot connect to {where}: {exc.strerror or exc}") from None
    details = [f"subprotocol {ws.subprotocol}"] if ws.subprotocol else []
    details += [f"extensions {', '.join(ws.extensions)}"] if ws.extensions else []
    suffix = f" ({'; '.join(details)})" if details else ""
    _announce(f"connected to {args.url}{suffix}; Ctrl-D closes")

    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    _start_stdin_reader(loop, lines)
    received = asyncio.Event()

    async def receive() -> None:
        try:
            async for message in ws:
                received.set()
                _show(message)
        except ConnectionClosed:
            pass

    async def pump() -> None:
        while (line := await lines.get()) is not None:
            try:
                await ws.send(line)
            except ConnectionClosed:
                return
        # End of input: the answers to what was sent may still be on their way
        # (``printf 'auth…\nwhoami…\n' | … connect`` must print both). Close once
        # the server has been quiet for --linger seconds, and after --linger-max
        # seconds in any case (a server that never stops talking).
        deadline = loop.time() + args.linger_max
        while (remaining := deadline - loop.time()) > 0:
            received.clear()
            try:
                await asyncio.wait_for(received.wait(), min(args.linger, remaining))
            except asyncio.TimeoutError:
                break
        await ws.close(1000)

    reader = loop.create_task(receive())
    writer = loop.create_task(pump())
    try:
        await reader
    except asyncio.CancelledError:  # Ctrl-C or SIGTERM: leave politely
        writer.cancel()
        await asyncio.shield(ws.close(1001, "client going away"))
        raise
    finally:
        writer.cancel()
    await ws.wait_closed()
    code, reason = ws.close_code, ws.close_reason
    if code in NORMAL_CLOSE_CODES:  # exit status 0
        _announce(f"connection closed: {code} {reason}".rstrip())
        return EXIT_OK
    raise _Fatal(f"connection closed: {code} {reason}".rstrip())


def _cmd_connect(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    try:
        uri = parse_uri(args.url)
    except InvalidURI as exc:
        raise _Fatal(str(exc), EXIT_USAGE) from None
    sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    return _run_async(lambda: _connect(args, uri))


# -- hash-password ------------------------------------------------------------------


def _cmd_hash_password(args: argparse.Namespace) -> int:
    from .demo.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise _Fatal("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise _Fatal("empty password", EXIT_USAGE)
    print(hash_password(password))
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative: {text}")
        return value

    return convert


def _more_than_zero(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text}")
    return value


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _add_verbosity(parser: argparse.ArgumentParser, quiet: bool = True) -> None:
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (repeat for debug)"
    )
    if quiet:
        parser.add_argument("-q", "--quiet", action="count", default=0, help="log less")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m wsproto_lite``."""
    parser = argparse.ArgumentParser(
        prog="wsproto-lite",
        description="wsproto_lite: a sans-I/O WebSocket library — demo server, echo server"
        " and interactive client.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="the tutorial's RPC server, with a web page",
        description="The server of the tutorial 'Implementing a WebSocket server from scratch"
        " in Node.js', on wsproto_lite (the docs' 'The demo' page maps its steps): JSON calls"
        " over WebSocket (auth, getUsers, whoami, broadcast, sleep), pings, and a page to try"
        " them at http://HOST:PORT/ (use that page's console for the tutorial's console"
        " steps). The handshake headers and the messages that are not calls are logged."
        " Default user: admin / secret. The token signing key comes from"
        " WSPROTO_LITE_DEMO_SECRET (at least 32 bytes), else it is random.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    demo.add_argument("--port", type=_port, default=4000, help="port (default: %(default)s)")
    demo.add_argument(
        "--users",
        metavar="FILE",
        help='JSON users file: a list [{"login": …, "password" or "password_hash": …}, …],'
        ' or {"users": [that list]}',
    )
    demo.add_argument(
        "--token-ttl",
        type=_positive(float),
        default=3600.0,
        metavar="SECONDS",
        help="token lifetime (default: %(default)s)",
    )
    demo.add_argument(
        "--auth-delay",
        type=_positive(float),
        default=0.5,
        metavar="SECONDS",
        help="how long auth takes on purpose (default: %(default)s)",
    )
    demo.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accept browsers from this origin only (repeatable; default: any)",
    )
    demo.add_argument(
        "--max-size",
        type=_at_least_one,
        default=DEMO_MAX_SIZE,
        metavar="BYTES",
        help="largest message accepted (after decompression); a bigger one closes the"
        " connection with 1009 (default: %(default)s)",
    )
    demo.add_argument("--no-compression", action="store_true", help="disable permessage-deflate")
    demo.add_argument(
        "--workers",
        type=_at_least_one,
        default=1,
        metavar="N",
        help="serve with N processes on the same port (SO_REUSEPORT where available);"
        " more than 1 needs --redis (default: %(default)s)",
    )
    demo.add_argument(
        "--redis",
        metavar="URL",
        help="share the users online and the broadcasts with other workers and hosts"
        " through Redis (redis://[:password@]host[:port][/db]; needs"
        " pip install 'wsproto-lite[demo-redis]')",
    )
    demo.add_argument(
        "--redis-prefix",
        default=DEFAULT_REDIS_PREFIX,
        metavar="PREFIX",
        help="of the demo's Redis keys and channel (default: %(default)s)",
    )
    demo.add_argument(
        "--redis-expiry",
        type=_more_than_zero,
        default=DEFAULT_REDIS_EXPIRY,
        metavar="SECONDS",
        help="a worker that stops refreshing its entry (it crashed) drops out of getUsers"
        " after this long (default: %(default)s)",
    )
    # Internal: this process is worker K of a supervisor (see demo/workers.py).
    demo.add_argument("--worker", type=_at_least_one, help=argparse.SUPPRESS)
    demo.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    _add_verbosity(demo)

    echo = commands.add_parser(
        "echo",
        help="an echo server (for conformance and interop tests)",
        description="Echo every text and binary message unchanged. Prints"
        " 'listening on ws://HOST:PORT' on stderr once ready (use --port 0 for any free port).",
    )
    echo.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    echo.add_argument("--port", type=_port, default=8765, help="port (default: %(default)s)")
    echo.add_argument(
        "--adapter",
        choices=("asyncio", "trio", "sync"),
        default="asyncio",
        help="the I/O adapter (default: %(default)s)",
    )
    echo.add_argument("--no-compression", action="store_true", help="disable permessage-deflate")
    echo.add_argument(
        "--max-size",
        type=_positive(int),
        default=ECHO_MAX_SIZE,
        metavar="BYTES",
        help="largest message accepted (default: %(default)s)",
    )
    _add_verbosity(echo)

    connect = commands.add_parser(
        "connect",
        help="an interactive client",
        description="Connect to URL; each line read from stdin is sent as a text message and"
        " each message received is printed on stdout (binary ones in hex). At the end of"
        " input (Ctrl-D, or the end of a pipe) the client waits for answers until the server"
        " has been quiet for --linger seconds (--linger-max at most), closes with 1000 and"
        " exits 0. Status lines go to stderr; a rejected handshake shows the server's answer.",
    )
    connect.add_argument("url", metavar="URL", help="ws:// or wss:// URL")
    connect.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="offer this subprotocol (repeatable)",
    )
    connect.add_argument(
        "--header",
        action="append",
        type=_parse_header,
        default=[],
        metavar="NAME:VALUE",
        help="add a header to the handshake request (repeatable)",
    )
    connect.add_argument("--origin", help="send this Origin header")
    connect.add_argument("--no-compression", action="store_true", help="do not offer deflate")
    connect.add_argument(
        "--timeout",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="opening timeout (default: %(default)s)",
    )
    connect.add_argument(
        "--linger",
        type=_positive(float),
        default=LINGER,
        metavar="SECONDS",
        help="after the end of input, close once nothing arrived for this long"
        " (default: %(default)s)",
    )
    connect.add_argument(
        "--linger-max",
        type=_positive(float),
        default=LINGER_MAX,
        metavar="SECONDS",
        help="after the end of input, close after this long in any case (default: %(default)s)",
    )
    connect.add_argument(
        "--max-size",
        type=_positive(int),
        default=ECHO_MAX_SIZE,
        metavar="BYTES",
        help="largest message accepted (default: %(default)s)",
    )
    _add_verbosity(connect, quiet=False)

    commands.add_parser(
        "hash-password",
        help="hash a password for a demo --users file",
        description="Read a password (prompted on a terminal, else the first line of stdin)"
        " and print its salted scrypt hash, for the 'password_hash' field of a users file.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    #: The command line as given (``demo --workers`` starts its workers with it).
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "echo":
            return _cmd_echo(args)
        if args.command == "connect":
            return _cmd_connect(args)
        return _cmd_hash_password(args)
    except _Fatal as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return exc.status
