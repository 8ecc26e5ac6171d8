"""The blocking adapter: a real client and server on 127.0.0.1, plus raw-socket peers.

Raw peers (a server that never answers, a peer that goes silent after the
handshake) are built from the sans-I/O core on plain sockets, so that each
timeout is tested against a peer that really misbehaves. The helpers at the
top are shared with ``test_adapter_trio.py``.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wsproto_lite import Accept, Connection, Handshake, HTTPRequest, Reject, Role
from wsproto_lite.adapters.sync import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    Server,
    WebSocket,
    connect,
    serve,
)

from ._flood import SLACK, flooding, watch

# Short clocks keep the suite quick; each test that measures one sets its own.
FAST: dict[str, Any] = {"open_timeout": 2.0, "close_timeout": 2.0, "ping_interval": None}

# -- helpers shared with the trio tests ----------------------------------------------


class SilentServer:
    """A TCP server that accepts and then never writes (or, with ``handshake=True``,
    completes the WebSocket handshake and then neither reads nor writes)."""

    def __init__(self, handshake: bool) -> None:
        self.handshake = handshake
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                sock, _ = self.listener.accept()
                self.accepted.append(sock)
                if self.handshake:
                    conn = Connection(Role.SERVER)
                    while True:
                        conn.receive_data(sock.recv(65536))
                        event = conn.next_event()
                        if isinstance(event, Handshake):
                            conn.send(Accept())
                            sock.sendall(conn.data_to_send())
                            break
                self.ready.set()

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(5)
        for sock in self.accepted:
            sock.close()


@contextlib.contextmanager
def silent_server(handshake: bool) -> Iterator[SilentServer]:
    server = SilentServer(handshake)
    try:
        yield server
    finally:
        server.close()


def raw_client(port: int, path: str = "/") -> socket.socket:
    """A client socket that has completed the handshake and will not read again."""
    sock = socket.create_connection(("127.0.0.1", port))
    conn = Connection(Role.CLIENT)
    conn.send(Handshake(host=f"127.0.0.1:{port}", target=path))
    sock.sendall(conn.data_to_send())
    while True:
        data = sock.recv(65536)
        assert data, "the server closed during the handshake"
        conn.receive_data(data)
        event = conn.next_event()
        if event is not None:
            assert isinstance(event, Accept), event
            return sock


def read_until_eof(sock: socket.socket, timeout: float) -> float:
    """Read and drop everything until the peer closes; return how long it took."""
    start = time.monotonic()
    sock.settimeout(timeout)
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(65536):
            pass
    return time.monotonic() - start


def http_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP GET (no upgrade), as a browser would send to the page URL."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now (openssl CLI or cryptography)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _make_cert_cryptography(cert, key)
    except ImportError:
        if shutil.which("openssl") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("neither the cryptography package nor openssl is available")
            pytest.skip("neither the cryptography package nor openssl is available")
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key), "-out", str(cert), "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return cert, key


def _make_cert_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import importlib
    import ipaddress

    # Imported by name: an optional dependency, without type stubs here.
    x509: Any = importlib.import_module("cryptography.x509")
    hashes: Any = importlib.import_module("cryptography.hazmat.primitives.hashes")
    serialization: Any = importlib.import_module("cryptography.hazmat.primitives.serialization")
    ec: Any = importlib.import_module("cryptography.hazmat.primitives.asymmetric.ec")
    NameOID = x509.oid.NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def tls_contexts(files: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting the self-signed certificate)."""
    cert, key = files
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


# -- sync helpers ---------------------------------------------------------------------


@contextlib.contextmanager
def running(handler: Callable[[WebSocket], Any], **kwargs: Any) -> Iterator[Server]:
    """A sync server on 127.0.0.1, serving in a thread; shut down on exit."""
    options = {**FAST, **kwargs}
    server = serve(handler, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(5)
        assert not thread.is_alive()


def uri(server: Server, path: str = "/") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def echo(ws: WebSocket) -> None:
    for message in ws:
        ws.send(message)


# -- messages -------------------------------------------------------------------------


def test_text_and_binary_echo() -> None:
    with running(echo) as server, connect(uri(server), **FAST) as ws:
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
        ws.send(bytearray(b"ba"))
        assert ws.recv() == b"ba"
        ws.send("")
        assert ws.recv() == ""
        assert ws.extensions == (
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        )  # the server's defaults
        assert ws.remote_address[1] == server.port
        assert ws.local_address[0] == "127.0.0.1"
        assert ws.request is not None and ws.request.target == "/"
        with pytest.raises(TypeError):
            ws.send(42)  # type: ignore[arg-type]
    assert ws.close_code == 1000


def test_compressed_and_uncompressed() -> None:
    text = "wsproto_lite " * 5000
    with running(echo) as server:
        with connect(uri(server), **FAST) as ws:
            ws.send(text)
            assert ws.recv() == text
        with connect(uri(server), compression=False, **FAST) as ws:
            assert ws.extensions == ()
            ws.send(text)
            assert ws.recv() == text


def test_released_deflate_contexts_keep_the_history() -> None:
    handlers: list[WebSocket] = []

    def keep(ws: WebSocket) -> None:
        handlers.append(ws)
        echo(ws)

    text = "".join(f"line {i}: the same words again; " for i in range(60))
    with running(keep) as server, connect(uri(server), **FAST) as ws:
        for i in range(20):  # each refers back to the ones before it
            ws.send(text[i:])
            assert ws.recv() == text[i:]
        # Between messages the server holds no zlib context, only the windows.
        (deflate,) = handlers[0]._session.conn._writer._sessions
        deflater = deflate._deflater  # type: ignore[attr-defined]
        inflater = deflate._inflater  # type: ignore[attr-defined]
        assert deflater.compressor is None and inflater.decompressor is None
        assert 0 < len(deflater.history) <= 4096


def test_large_message_with_raised_limit() -> None:
    data = os.urandom(16 << 20)
    options: dict[str, Any] = {"max_message_size": 32 << 20, "compression": False}
    with running(echo, **options) as server, connect(uri(server), **FAST, **options) as ws:
        ws.send(data)
        assert ws.recv() == data


def test_message_over_the_limit_closes_with_1009() -> None:
    with running(echo, max_message_size=1000) as server, connect(uri(server), **FAST) as ws:
        ws.send(b"x" * 1001)
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv()
    assert info.value.code == 1009


def test_fragments_in_and_out() -> None:
    seen: list[list[str | bytes]] = []

    def handler(ws: WebSocket) -> None:
        parts = list(ws.recv_streaming())
        seen.append(parts)
        ws.send_fragments(parts)
        ws.send_fragments(iter([b"a", b"b"]))

    with running(handler) as server, connect(uri(server), **FAST) as ws:
        ws.send_fragments(["un ", "deux ", "trois"])
        assert ws.recv() == "un deux trois"
        assert ws.recv() == b"ab"
        with pytest.raises(TypeError):
            ws.send_fragments([1])  # type: ignore[list-item]
    # Each fragment arrived as a part of its own (and the empty final frame ended it).
    assert "".join(map(str, seen[0])) == "un deux trois"
    assert len(seen[0]) >= 3


def test_mixed_fragments_fail_the_connection() -> None:
    with running(echo) as server, connect(uri(server), **FAST) as ws:
        with pytest.raises(TypeError):
            ws.send_fragments(["text", b"bytes"])
        assert ws.wait_closed(5)
    assert ws.close_code == 1011


def test_abandoned_streaming_discards_the_rest() -> None:
    def handler(ws: WebSocket) -> None:
        ws.send_fragments([b"1", b"2", b"3"])
        ws.send("next")
        ws.recv()

    with running(handler) as server, connect(uri(server), **FAST) as ws:
        parts = ws.recv_streaming()
        assert next(parts) == b"1"
        parts.close()
        with pytest.raises(StopIteration):
            next(parts)
        assert ws.recv() == "next"


def test_recv_timeout_keeps_partial_message() -> None:
    go = threading.Event()

    def handler(ws: WebSocket) -> None:
        def slow() -> Iterator[str]:
            yield "first "
            go.wait(5)
            yield "second"

        ws.send_fragments(slow())
        ws.recv()

    with running(handler) as server, connect(uri(server), **FAST) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)
        go.set()
        assert ws.recv(timeout=5) == "first second"


def test_recv_streaming_continues_what_a_timed_out_recv_took() -> None:
    go = threading.Event()

    def handler(ws: WebSocket) -> None:
        def slow() -> Iterator[bytes]:
            yield b"first "
            go.wait(5)
            yield b"second"

        ws.send_fragments(slow())
        ws.recv()

    with running(handler) as server, connect(uri(server), **FAST) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)  # it took b"first ", and gives it back
        go.set()
        parts = list(ws.recv_streaming())
        assert parts[0] == b"first " and b"".join(parts) == b"first second"


def fragments_then_next(ws: WebSocket) -> None:
    """Send a message in three parts, then "next", then "after", when told to."""
    assert ws.recv() == "go"
    ws.send_fragments([b"a", b"b", b"c"])
    ws.send("next")
    ws.send("after")
    ws.recv()


def test_recv_streaming_left_with_break_then_recv() -> None:
    with running(fragments_then_next) as server, connect(uri(server), **FAST) as ws:
        ws.send("go")
        parts = ws.recv_streaming()
        for part in parts:  # (still referenced: no finalizer discards the rest)
            assert part == b"a"
            break
        assert ws.recv() == "next"


def test_recv_streaming_superseded_by_a_receive_mid_message() -> None:
    with running(fragments_then_next) as server, connect(uri(server), **FAST) as ws:
        ws.send("go")
        parts = ws.recv_streaming()
        assert next(parts) == b"a"
        assert ws.recv() == "next"  # b"b" and b"c" are discarded
        with pytest.raises(RuntimeError, match="abandoned mid-message"):
            next(parts)
        unused = ws.recv_streaming()  # never iterated: nothing to discard
        assert ws.recv() == "after"
        with pytest.raises(RuntimeError, match="abandoned"):
            next(unused)


def test_one_receiver_at_a_time() -> None:
    with running(fragments_then_next) as server, connect(uri(server), **FAST) as ws:
        parts = ws.recv_streaming()
        got: list[object] = []
        waiting = threading.Thread(target=lambda: got.append(next(parts)))
        waiting.start()
        time.sleep(0.05)
        with pytest.raises(RuntimeError, match="already receiving"):
            ws.recv()
        with pytest.raises(RuntimeError, match="already receiving"):
            ws.recv_streaming()
        with pytest.raises(RuntimeError, match="already receiving"):
            parts.close()
        ws.send("go")
        waiting.join(5)
        assert got == [b"a"]  # the refused calls changed nothing
        assert b"".join(parts) == b"bc"  # (parts as they came)
        assert ws.recv() == "next"


# -- ping, pong, subprotocols -------------------------------------------------------------


def test_ping_pong() -> None:
    with running(echo) as server, connect(uri(server), **FAST) as ws:
        pong = ws.ping()
        assert pong.wait(5)
        assert pong.latency is not None and pong.latency >= 0
        assert ws.latency == pong.latency
        first, second = ws.ping(b"a"), ws.ping("b")
        assert second.wait(5) and first.wait(5)
        ws.pong(b"unsolicited")  # the server ignores it
        ws.send("still fine")
        assert ws.recv() == "still fine"
    # A pending ping learns that the connection closed.
    with silent_server(handshake=True) as silent:
        ws = connect(f"ws://127.0.0.1:{silent.port}/", **{**FAST, "close_timeout": 0.2})
        pong = ws.ping(b"same")
        with pytest.raises(RuntimeError):
            ws.ping(b"same")  # its pong could not be told apart
        assert not pong.wait(0.05)
        ws.close()
        with pytest.raises(ConnectionClosed):
            pong.wait(5)


def test_subprotocol_negotiation() -> None:
    def handler(ws: WebSocket) -> None:
        ws.send(ws.subprotocol or "none")

    with running(handler, subprotocols=["chat.v2", "chat.v1"]) as server:
        with connect(uri(server), subprotocols=["chat.v1", "chat.v2"], **FAST) as ws:
            assert ws.subprotocol == "chat.v2"
            assert ws.recv() == "chat.v2"
        with connect(uri(server), subprotocols=["other"], **FAST) as ws:
            assert ws.subprotocol is None
            assert ws.recv() == "none"


# -- closing --------------------------------------------------------------------------


def test_close_from_client() -> None:
    seen: list[ConnectionClosed] = []

    def handler(ws: WebSocket) -> None:
        try:
            ws.recv()
        except ConnectionClosed as exc:
            seen.append(exc)
            assert ws.wait_closed(5)
            assert (ws.close_code, ws.close_reason) == (4001, "done here")

    with running(handler) as server:
        ws = connect(uri(server), **FAST)
        ws.close(4001, "done here")
        assert (ws.close_code, ws.close_reason) == (4001, "")  # the server echoes the code
        with pytest.raises(ConnectionClosedError):
            ws.send("late")
        ws.close()  # twice is fine
    assert isinstance(seen[0], ConnectionClosedError)
    assert (seen[0].code, seen[0].reason) == (4001, "done here")


def test_close_from_server() -> None:
    def handler(ws: WebSocket) -> None:
        ws.send("bye")
        ws.close(1000, "see you")

    with running(handler) as server, connect(uri(server), **FAST) as ws:
        assert list(ws) == ["bye"]  # iteration ends quietly on a normal close
        with pytest.raises(ConnectionClosedOK) as info:
            ws.recv()
        assert (info.value.code, info.value.reason) == (1000, "see you")
        assert ws.wait_closed(5)
        assert (ws.close_code, ws.close_reason) == (1000, "see you")


def test_both_sides_closing_at_once_is_quick() -> None:
    # Regression: a close() holding the write lock must also write the reply
    # the reader queued for the peer's close frame.
    server_side: list[tuple[int | None, float]] = []

    def handler(ws: WebSocket) -> None:
        ws.send("x")
        start = time.monotonic()
        ws.close()
        server_side.append((ws.close_code, time.monotonic() - start))

    with running(handler) as server:
        with connect(uri(server), **FAST) as ws:
            assert ws.recv() == "x"
        assert ws.close_code == 1000
        deadline = time.monotonic() + 5
        while not server_side and time.monotonic() < deadline:
            time.sleep(0.01)
    code, took = server_side[0]
    assert code == 1000 and took < 1


def test_iteration_raises_on_error_close() -> None:
    def handler(ws: WebSocket) -> None:
        ws.close(4000, "custom")

    with running(handler) as server, connect(uri(server), **FAST) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            list(ws)
        assert info.value.code == 4000


def test_invalid_close_code_is_refused_locally() -> None:
    with running(echo) as server, connect(uri(server), **FAST) as ws:
        with pytest.raises(Exception, match="1005"):
            ws.close(1005)
        ws.send("still open")
        assert ws.recv() == "still open"


# -- timeouts and keepalive -------------------------------------------------------------


def test_open_timeout_client() -> None:
    with silent_server(handshake=False) as silent:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=r"timed out after 0\.3 s"):
            connect(f"ws://127.0.0.1:{silent.port}/", open_timeout=0.3)
        assert time.monotonic() - start < 2


def test_open_timeout_server() -> None:
    with running(echo, open_timeout=0.3) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        with sock:
            assert read_until_eof(sock, 5) < 2  # dropped without a word


def test_close_timeout_client() -> None:
    with silent_server(handshake=True) as silent:
        ws = connect(f"ws://127.0.0.1:{silent.port}/", **{**FAST, "close_timeout": 0.3})
        start = time.monotonic()
        ws.close()
        assert 0.25 < time.monotonic() - start < 2
        assert ws.close_code == 1006
        with pytest.raises(ConnectionClosedError):
            ws.recv()


def test_close_timeout_server() -> None:
    closed = threading.Event()

    def handler(ws: WebSocket) -> None:
        try:
            ws.close()
        finally:
            closed.set()

    with running(handler, close_timeout=0.3) as server:
        sock = raw_client(server.port)
        with sock:
            start = time.monotonic()
            assert closed.wait(5)
            assert 0.25 < time.monotonic() - start < 2
            read_until_eof(sock, 5)


def test_keepalive_timeout_client() -> None:
    with silent_server(handshake=True) as silent:
        ws = connect(
            f"ws://127.0.0.1:{silent.port}/",
            ping_interval=0.1,
            ping_timeout=0.2,
            close_timeout=1,
        )
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=5)
        assert info.value.code == 1011
        assert ws.close_code == 1011
        assert ws.close_reason == "keepalive ping timeout"


def test_keepalive_timeout_server() -> None:
    seen: list[ConnectionClosed] = []
    done = threading.Event()

    def handler(ws: WebSocket) -> None:
        try:
            ws.recv()
        except ConnectionClosed as exc:
            seen.append(exc)
        done.set()

    options: dict[str, Any] = {"ping_interval": 0.1, "ping_timeout": 0.2}
    with running(handler, **options) as server, raw_client(server.port):
        assert done.wait(5)
    assert seen[0].code == 1011


def test_keepalive_catches_a_dead_peer_while_a_send_is_blocked() -> None:
    # The peer neither reads nor answers: once the socket buffers are full the
    # send blocks, and only the keepalive can end it (with 1011).
    chunk = b"\x00" * 65536
    with silent_server(handshake=True) as silent:
        ws = connect(
            f"ws://127.0.0.1:{silent.port}/",
            compression=False,
            ping_interval=0.5,  # the first ping comes once the send is blocked already
            ping_timeout=0.3,
            close_timeout=1,
        )
        start = time.monotonic()
        with pytest.raises(ConnectionClosedError) as info:
            while time.monotonic() - start < 10:
                ws.send(chunk)
        assert info.value.code == 1011
        assert ws.close_code == 1011


def test_keepalive_keeps_a_live_connection() -> None:
    options: dict[str, Any] = {**FAST, "ping_interval": 0.05, "ping_timeout": 0.5}
    with running(echo, **options) as server, connect(uri(server), **options) as ws:
        time.sleep(0.4)
        ws.send("alive")
        assert ws.recv() == "alive"
        assert ws.latency > 0  # the keepalive measured it


# -- the server -------------------------------------------------------------------------


def test_handler_exception_closes_1011_and_server_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(ws: WebSocket) -> None:
        if ws.recv() == "boom":
            raise ValueError("boom")
        ws.send("ok")

    with caplog.at_level(logging.ERROR, "wsproto_lite.sync.server"), running(handler) as server:
        with connect(uri(server), **FAST) as ws:
            ws.send("boom")
            with pytest.raises(ConnectionClosedError) as info:
                ws.recv()
            assert info.value.code == 1011
        with connect(uri(server), **FAST) as ws:
            ws.send("fine")
            assert ws.recv() == "ok"
    assert "connection handler failed" in caplog.text


def test_process_request_rejects_and_serves_a_page() -> None:
    def process_request(request: Handshake | HTTPRequest) -> Accept | Reject | None:
        if isinstance(request, HTTPRequest):
            if request.target == "/health":
                return Reject(200, [("Content-Type", "text/plain")], b"OK\n")
            return None  # 426
        if dict(request.headers).get("authorization") != "Bearer good":
            return Reject(403, [("X-Why", "token")], b"forbidden\n")
        return None

    with running(echo, process_request=process_request) as server:
        with pytest.raises(InvalidHandshake) as info:
            connect(uri(server), extra_headers={"Authorization": "Bearer bad"}, **FAST)
        assert info.value.status == 403
        assert ("x-why", "token") in info.value.headers
        assert info.value.body == b"forbidden\n"
        with connect(uri(server), extra_headers=[("Authorization", "Bearer good")], **FAST) as ws:
            ws.send("in")
            assert ws.recv() == "in"
        assert http_get(server.port, "/health")[::2] == (200, b"OK\n")
        status, headers, _ = http_get(server.port, "/")
        assert status == 426
        assert headers["Upgrade"] == "websocket"


def test_plain_get_gets_426() -> None:
    with running(echo) as server:
        status, headers, body = http_get(server.port, "/")
    assert status == 426
    assert headers["Upgrade"] == "websocket"
    assert b"WebSocket" in body


def test_process_request_errors_give_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Handshake | HTTPRequest) -> Accept | Reject | None:
        raise RuntimeError("oops")

    with (
        caplog.at_level(logging.ERROR),
        running(echo, process_request=broken) as server,
        pytest.raises(InvalidHandshake) as info,
    ):
        connect(uri(server), **FAST)
    assert info.value.status == 500
    assert "process_request failed" in caplog.text


def test_graceful_shutdown_closes_with_1001() -> None:
    with running(echo) as server:
        ws = connect(uri(server), **FAST)
        ws.send("before")
        assert ws.recv() == "before"
        assert len(server.connections) == 1
        start = time.monotonic()
        server.shutdown()
        assert time.monotonic() - start < 1.5
        with pytest.raises(ConnectionClosedOK) as info:
            ws.recv()
        assert (info.value.code, info.value.reason) == (1001, "going away")
        ws.close()
        with pytest.raises(OSError):
            connect(uri(server), **FAST)


def test_shutdown_right_after_the_handshake_still_sends_1001() -> None:
    # Regression: a connection accepted just before shutdown (its 101 sent,
    # its handler not started) was dropped like a handshake in progress.
    for _ in range(5):
        with running(echo) as server, connect(uri(server), **FAST) as ws:
            server.shutdown()
            with pytest.raises(ConnectionClosedOK) as info:
                ws.recv(timeout=5)
            assert info.value.code == 1001


def test_shutdown_drops_handshakes_in_progress() -> None:
    server = serve(echo, "127.0.0.1", 0, **FAST)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sock = socket.create_connection(("127.0.0.1", server.port))
    with sock:
        time.sleep(0.1)  # accepted, waiting for the request
        server.shutdown()
        thread.join(5)
        assert read_until_eof(sock, 5) < 1


def test_slow_reader_keeps_memory_bounded() -> None:
    chunk = b"\x00" * 65536
    total = 400  # 25 MiB: far more than the socket buffers hold
    sent = [0]
    finished = threading.Event()

    def handler(ws: WebSocket) -> None:
        for _ in range(total):
            ws.send(chunk)
            sent[0] += 1
        finished.set()
        ws.recv()

    options: dict[str, Any] = {"compression": False, "max_queue": 4}
    with running(handler, **options) as server, connect(uri(server), **FAST, **options) as ws:
        time.sleep(0.5)
        # The sender is blocked: the reader stopped reading once max_queue × 64 KiB waited.
        assert not finished.is_set()
        assert sent[0] < total
        # One message waits for the application; at most max_queue × 64 KiB
        # (plus one read) wait behind it, unparsed.
        assert len(ws._session.queue) <= 1 and ws._session.reading_paused
        assert ws._session._unparsed <= 5 * 65536
        for _ in range(total):
            assert ws.recv(timeout=5) == chunk
        assert finished.wait(5)
        ws.send("done")


def test_both_sides_flooding_each_other_do_not_deadlock() -> None:
    # Both applications write faster than the peer reads, with pings flying:
    # a reader that waited behind its own side's blocked sendall() to write a
    # pong would stop reading, and the two peers would block each other.
    chunk = b"\x01" * (256 << 10)
    count = 40  # 10 MiB each way: more than the socket buffers hold

    def flood(ws: WebSocket) -> None:
        got: list[bytes | str] = []
        reader = threading.Thread(target=lambda: got.extend(ws.recv() for _ in range(count)))
        reader.start()
        for _ in range(count):
            ws.send(chunk)
            ws.ping()
        reader.join(10)
        assert len(got) == count

    options: dict[str, Any] = {"compression": False, "max_queue": 2}
    with running(flood, **options) as server, connect(uri(server), **FAST, **options) as ws:
        client = threading.Thread(target=flood, args=(ws,), daemon=True)
        client.start()
        client.join(20)
        if client.is_alive():  # deadlocked: unblock everything, then fail
            for each in (ws, *server.connections):
                each._abort()
            pytest.fail("the two peers deadlocked")


def test_paused_reader_is_not_blamed_by_keepalive() -> None:
    # While the queue is full nothing is read, pongs included: the keepalive
    # of the paused side must not call that a dead peer.
    chunk = b"\x00" * 65536
    total = 200

    def handler(ws: WebSocket) -> None:
        for _ in range(total):
            ws.send(chunk)
        ws.recv()

    client_options: dict[str, Any] = {
        **FAST,
        "compression": False,
        "max_queue": 2,
        "ping_interval": 0.05,
        "ping_timeout": 0.1,
    }
    with running(handler, compression=False) as server:
        with connect(uri(server), **client_options) as ws:
            time.sleep(0.5)
            for _ in range(total):
                assert ws.recv(timeout=5) == chunk
            ws.send("done")
        assert ws.close_code == 1000


def test_tls(tls_files: tuple[Path, Path]) -> None:
    server_ctx, client_ctx = tls_contexts(tls_files)
    with running(echo, ssl=server_ctx) as server:
        with connect(f"wss://127.0.0.1:{server.port}/", ssl=client_ctx, **FAST) as ws:
            ws.send("secret")
            assert ws.recv() == "secret"
            ws.send(b"x" * 200_000)
            assert ws.recv() == b"x" * 200_000
        # A client that does not trust the certificate fails the TLS handshake.
        with pytest.raises(ssl.SSLError):
            connect(f"wss://127.0.0.1:{server.port}/", **FAST)


# -- client arguments -------------------------------------------------------------------


def test_bad_uris() -> None:
    with pytest.raises(InvalidURI):
        connect("http://example.com/")
    with pytest.raises(InvalidURI):
        connect("ws://user:pw@example.com/")
    with pytest.raises(ValueError, match="ssl"):
        connect("ws://127.0.0.1:1/", ssl=ssl.create_default_context())


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        connect(f"ws://127.0.0.1:{port}/", **FAST)


def test_request_details_reach_the_handler() -> None:
    def handler(ws: WebSocket) -> None:
        assert ws.request is not None
        headers = dict(ws.request.headers)
        ws.send(f"{ws.request.target} {ws.request.origin} {headers['x-custom']}")

    with (
        running(handler) as server,
        connect(
            uri(server, "/room?id=7"), origin="https://example.com", extra_headers={"X-Custom": "1"}
        ) as ws,
    ):
        assert ws.recv() == "/room?id=7 https://example.com 1"


# -- a peer that does not read ----------------------------------------------------------

LIMIT_OPTIONS: dict[str, Any] = {"ping_interval": None, "compression": False}


def held(ws: WebSocket) -> int:
    """What the session holds, read under its lock: the I/O thread changes it
    (reading it unlocked races with that thread's own accounting)."""
    with ws._lock:
        return ws._session.held_bytes


def test_a_ping_flood_from_a_peer_that_never_reads_holds_at_most_write_limit() -> None:
    """Each ping is owed a pong; a peer that sends them and reads none must not
    make the server hold more than write_limit (one pong is kept, the latest)."""

    def idle(ws: WebSocket) -> None:
        ws.wait_closed()

    options = {**LIMIT_OPTIONS, "close_timeout": 60, "write_limit": 1 << 16}
    with running(idle, **options) as server, flooding(server.port) as flooder:
        time.sleep(0.2)
        (ws,) = server.connections
        samples = watch(lambda: held(ws), 2.0)
        # Without the bound, the pongs of these pings would all be held.
        assert flooder.sent > 2 << 20, flooder.sent
        assert max(samples) <= (1 << 16) + SLACK, samples
        ws._abort()


def test_sending_100_mb_while_the_peer_floods_pings_and_never_reads() -> None:
    size = 100_000_000
    started = threading.Event()
    outcome: list[BaseException] = []

    def send_big(ws: WebSocket) -> None:
        started.set()
        try:
            ws.send(bytes(size))
        except ConnectionClosed as exc:
            outcome.append(exc)

    options = {**LIMIT_OPTIONS, "close_timeout": 60}
    with running(send_big, **options) as server, flooding(server.port) as flooder:
        assert started.wait(5)
        (ws,) = server.connections
        before = flooder.sent
        samples = watch(lambda: held(ws), 2.0)
        assert flooder.sent - before > 2 << 20  # the server kept reading
        assert max(samples) <= size + 10 + (1 << 16) + SLACK, samples
        assert samples[-1] <= samples[len(samples) // 2] + SLACK  # no growth
        ws._abort()
    assert isinstance(outcome[0], ConnectionClosedError)  # the message never left whole


def test_a_peer_that_reads_nothing_for_close_timeout_is_failed_with_1011() -> None:
    outcome: list[ConnectionClosed] = []
    done = threading.Event()

    def receiver(ws: WebSocket) -> None:
        try:
            ws.recv()
        except ConnectionClosed as exc:
            outcome.append(exc)
        done.set()

    with running(receiver, **LIMIT_OPTIONS, close_timeout=0.5) as server, flooding(server.port):
        start = time.monotonic()
        assert done.wait(10), "the server never gave up on a peer that reads nothing"
        took = time.monotonic() - start
    assert (outcome[0].code, outcome[0].reason) == (1011, "the peer does not read")
    assert 0.4 < took < 5


# -- many connections -----------------------------------------------------------------------


def test_closing_300_idle_connections_at_once_is_quick() -> None:
    """A shutdown closes every connection within close_timeout: no thread per
    close (the I/O thread writes every close frame and reads every reply)."""
    count = 300
    options = {"ping_interval": None, "close_timeout": 5.0, "compression": False}
    with running(echo, **options) as server:
        clients = [raw_client(server.port) for _ in range(count)]
        deadline = time.monotonic() + 10
        while len(server.connections) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(server.connections) == count
        closed = threading.Event()
        start = time.monotonic()

        def shutdown() -> None:
            server.shutdown()
            closed.set()

        # Each client answers the close frame, as a peer does, then waits for EOF.
        threading.Thread(target=shutdown, daemon=True).start()
        for sock in clients:
            sock.settimeout(5)
            data = b""
            while len(data) < 2 or len(data) < 2 + (data[1] & 0x7F):
                chunk = sock.recv(256)
                assert chunk, "closed before the close frame"
                data += chunk
            assert data[0] == 0x88 and data[2:4] == (1001).to_bytes(2, "big")
            sock.sendall(_masked_close(1001))
        assert closed.wait(5)
        took = time.monotonic() - start
        for sock in clients:
            assert read_until_eof(sock, 5) < 5
            sock.close()
    assert took < options["close_timeout"], took
    print(f"closed {count} connections in {took:.2f} s")


def _masked_close(code: int) -> bytes:
    key = b"\x00\x00\x00\x00"
    return bytes((0x88, 0x82)) + key + code.to_bytes(2, "big")


def test_server_close_returns_at_once_and_wait_closed_waits() -> None:
    server = serve(echo, "127.0.0.1", 0, **FAST)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with connect(uri(server), **FAST) as ws:
        ws.send("before")
        assert ws.recv() == "before"
        assert not server.wait_closed(0)
        server.close(4000, "maintenance")
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=5)
        assert (info.value.code, info.value.reason) == (4000, "maintenance")
    assert server.wait_closed(5)
    thread.join(5)
    assert not thread.is_alive()
    server.close()  # again: nothing more happens
    server.shutdown()
