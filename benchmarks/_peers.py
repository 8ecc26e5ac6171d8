"""Each library's normal public API, for a connection past its opening handshake.

For every library there are the same pieces: a server (or client) made ready
with that library's own handshake (untimed), a receive loop that feeds socket
chunks and collects whole messages the way an application does, a send loop
that queues messages and takes the bytes to write, and a handshake loop.
The loops return ``(count, sample)`` so that the harness can check them.

What "whole message" means is the same for all: a ``str`` for text (UTF-8
validated) and the payload for binary. wsproto hands out partial messages
when a frame is split across reads, so its loop joins parts until
``message_finished``; websockets' sans-I/O layer hands out frames, so its loop
joins fragments and decodes text the way its own asyncio layer does.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from _frames import upgrade_request

Receive = Callable[[Any, Sequence[bytes]], tuple[int, Any]]
Send = Callable[[Any, Sequence[Any]], tuple[int, Any]]

# -- wsproto_lite ----------------------------------------------------------------------


def lite_available() -> bool:
    """Whether wsproto_lite imports."""
    try:
        import wsproto_lite  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return True


def _lite(lib: ModuleType | None) -> Any:
    if lib is None:
        import wsproto_lite

        return wsproto_lite
    return lib


def lite_server(
    *, deflate: bool = False, max_size: int | None = 1 << 20, lib: ModuleType | None = None
) -> Any:
    """A wsproto_lite server connection, OPEN after its handshake (*lib*: which
    copy of the package, see :func:`load_pure_lite`)."""
    w = _lite(lib)
    extensions = []
    if deflate:
        pmd = importlib.import_module(w.__name__ + ".extensions.permessage_deflate")
        extensions.append(pmd.PerMessageDeflate())
    conn = w.Connection(w.Role.SERVER, extensions=extensions, max_message_size=max_size)
    conn.receive_data(upgrade_request("permessage-deflate" if deflate else None))
    event = conn.next_event()
    assert isinstance(event, w.Handshake), event
    conn.send(w.Accept())
    response = conn.data_to_send()
    _check_response(response, deflate)
    assert conn.state is w.ConnectionState.OPEN
    return conn


def lite_client(*, max_size: int | None = 1 << 20, lib: ModuleType | None = None) -> Any:
    """A wsproto_lite client connection, OPEN after a handshake with a wsproto_lite server."""
    w = _lite(lib)
    client = w.Connection(w.Role.CLIENT, max_message_size=max_size)
    server = w.Connection(w.Role.SERVER)
    client.send(w.Handshake(host="localhost", target="/bench"))
    server.receive_data(client.data_to_send())
    assert isinstance(server.next_event(), w.Handshake)
    server.send(w.Accept())
    client.receive_data(server.data_to_send())
    assert isinstance(client.next_event(), w.Accept)
    assert client.state is w.ConnectionState.OPEN
    return client


def lite_receive(
    conn: Any, chunks: Sequence[bytes], lib: ModuleType | None = None
) -> tuple[int, Any]:
    """Feed *chunks*; count whole messages, keep the last one's data."""
    Message = _lite(lib).Message

    count = 0
    last = None
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if isinstance(event, Message):
                count += 1
                last = event.data  # type: ignore[attr-defined]
            else:
                raise AssertionError(f"unexpected {event!r}")
        conn.data_to_send()  # an application writes back whatever was queued
    return count, last


def lite_send_text(
    conn: Any, messages: Sequence[str], lib: ModuleType | None = None
) -> tuple[int, Any]:
    """Send every message; return the bytes written in total and the last write."""
    TextMessage = _lite(lib).TextMessage

    total = 0
    out = b""
    for message in messages:
        conn.send(TextMessage(message))
        out = conn.data_to_send()
        total += len(out)
    return total, out


def lite_send_binary(
    conn: Any, messages: Sequence[bytes], lib: ModuleType | None = None
) -> tuple[int, Any]:
    """Binary version of :func:`lite_send_text`."""
    BinaryMessage = _lite(lib).BinaryMessage

    total = 0
    out = b""
    for message in messages:
        conn.send(BinaryMessage(message))
        out = conn.data_to_send()
        total += len(out)
    return total, out


def lite_handshakes(request: bytes, n: int, lib: ModuleType | None = None) -> tuple[int, Any]:
    """*n* server handshakes: request bytes in, response bytes out."""
    w = _lite(lib)
    Accept, Connection, Handshake, Role = w.Accept, w.Connection, w.Handshake, w.Role

    out = b""
    count = 0
    for _ in range(n):
        conn = Connection(Role.SERVER)
        conn.receive_data(request)
        event = conn.next_event()
        if isinstance(event, Handshake):
            conn.send(Accept())
            out = conn.data_to_send()
            count += 1
    return count, out


def load_pure_lite(alias: str = "wsproto_lite_pure") -> ModuleType:
    """A second copy of wsproto_lite, entirely pure Python, importable as *alias*.

    The same source files as ``wsproto_lite`` (this checkout's), imported
    under another package name with ``WSPROTO_LITE_NO_SPEEDUPS=1`` in force:
    the core modules load from their ``.py`` files even when a compiled build
    sits beside them, and masking is the pure-Python one. Both copies live
    side by side in one process, so the benchmarks can interleave the
    compiled and the pure build. Each copy has its own classes (events of one
    are not those of the other).
    """
    if alias in sys.modules:
        return sys.modules[alias]
    import wsproto_lite

    directory = os.path.dirname(os.path.abspath(wsproto_lite.__file__))
    spec = importlib.util.spec_from_file_location(
        alias, os.path.join(directory, "__init__.py"), submodule_search_locations=[directory]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = os.environ.get("WSPROTO_LITE_NO_SPEEDUPS")
    os.environ["WSPROTO_LITE_NO_SPEEDUPS"] = "1"
    sys.modules[alias] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[alias]
        raise
    finally:
        if saved is None:
            del os.environ["WSPROTO_LITE_NO_SPEEDUPS"]
        else:
            os.environ["WSPROTO_LITE_NO_SPEEDUPS"] = saved
    assert module.COMPILED == (), module.COMPILED
    return module


# -- wsproto ---------------------------------------------------------------------------


def wsproto_available() -> bool:
    """Whether wsproto imports."""
    try:
        import wsproto  # noqa: F401
    except ImportError:
        return False
    return True


def wsproto_server(*, deflate: bool = False) -> Any:
    """A wsproto server (WSConnection, H11 handshake), OPEN. It has no size limit."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.connection import ConnectionState
    from wsproto.events import AcceptConnection, Request
    from wsproto.extensions import PerMessageDeflate

    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(upgrade_request("permessage-deflate" if deflate else None))
    event = next(ws.events())
    assert isinstance(event, Request), event
    extensions = [PerMessageDeflate()] if deflate else []
    response = ws.send(AcceptConnection(extensions=extensions))  # type: ignore[arg-type]
    _check_response(response, deflate)
    assert ws.state is ConnectionState.OPEN
    return ws


def wsproto_client() -> Any:
    """A wsproto client, OPEN after a handshake with a wsproto server."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.connection import ConnectionState
    from wsproto.events import AcceptConnection, Request

    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="localhost", target="/bench")))
    assert isinstance(next(server.events()), Request)
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    assert client.state is ConnectionState.OPEN
    return client


def wsproto_receive(ws: Any, chunks: Sequence[bytes]) -> tuple[int, Any]:
    """Feed *chunks*; join partial messages until ``message_finished``."""
    from wsproto.events import Message

    count = 0
    last = None
    parts: list[Any] = []
    for chunk in chunks:
        ws.receive_data(chunk)
        for event in ws.events():
            if isinstance(event, Message):
                if event.message_finished:
                    if parts:
                        parts.append(event.data)
                        data = event.data[:0].join(parts)
                        parts = []
                    else:
                        data = event.data
                    count += 1
                    last = data
                else:
                    parts.append(event.data)
            else:
                raise AssertionError(f"unexpected {event!r}")
    return count, last


def wsproto_send_text(ws: Any, messages: Sequence[str]) -> tuple[int, Any]:
    """Send every message (wsproto returns the bytes from ``send``)."""
    from wsproto.events import TextMessage

    total = 0
    out = b""
    for message in messages:
        out = ws.send(TextMessage(data=message))
        total += len(out)
    return total, out


def wsproto_send_binary(ws: Any, messages: Sequence[bytes]) -> tuple[int, Any]:
    """Binary version of :func:`wsproto_send_text`."""
    from wsproto.events import BytesMessage

    total = 0
    out = b""
    for message in messages:
        out = ws.send(BytesMessage(data=message))
        total += len(out)
    return total, out


def wsproto_handshakes(request: bytes, n: int) -> tuple[int, Any]:
    """*n* server handshakes with wsproto."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    out = b""
    count = 0
    for _ in range(n):
        ws = WSConnection(ConnectionType.SERVER)
        ws.receive_data(request)
        event = next(ws.events())
        if isinstance(event, Request):
            out = ws.send(AcceptConnection())
            count += 1
    return count, out


# -- websockets (sans-I/O) --------------------------------------------------------------


def websockets_available() -> bool:
    """Whether websockets (with its sans-I/O ServerProtocol) imports."""
    try:
        from websockets.server import ServerProtocol  # noqa: F401
    except ImportError:
        return False
    return True


def websockets_speedups_available() -> bool:
    """Whether websockets' C masking (``websockets.speedups``) is built."""
    try:
        import websockets.speedups  # noqa: F401
    except ImportError:
        return False
    return True


def websockets_pure(fn: Callable[..., tuple[int, Any]]) -> Callable[..., tuple[int, Any]]:
    """*fn* with websockets' C masking swapped for its pure-Python one while it runs."""

    def run(*args: Any) -> tuple[int, Any]:
        import websockets.frames
        import websockets.utils

        fast = websockets.frames.apply_mask
        websockets.frames.apply_mask = websockets.utils.apply_mask
        try:
            return fn(*args)
        finally:
            websockets.frames.apply_mask = fast

    return run


def websockets_server(*, deflate: bool = False, max_size: int | None = 1 << 20) -> Any:
    """A websockets ``ServerProtocol``, OPEN after its handshake."""
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.http11 import Request
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    extensions = [ServerPerMessageDeflateFactory()] if deflate else None
    proto = ServerProtocol(extensions=extensions, max_size=max_size)
    proto.receive_data(upgrade_request("permessage-deflate" if deflate else None))
    [request] = proto.events_received()
    assert isinstance(request, Request)
    proto.send_response(proto.accept(request))
    _check_response(b"".join(proto.data_to_send()), deflate)
    assert proto.state is State.OPEN
    return proto


def websockets_client(*, max_size: int | None = 1 << 20) -> Any:
    """A websockets ``ClientProtocol``, OPEN after a handshake with its ServerProtocol."""
    from websockets.client import ClientProtocol
    from websockets.http11 import Request, Response
    from websockets.protocol import State
    from websockets.server import ServerProtocol
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://localhost/bench"), max_size=max_size)
    client.send_request(client.connect())
    server = ServerProtocol()
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert client.state is State.OPEN
    return client


def websockets_receive(proto: Any, chunks: Sequence[bytes]) -> tuple[int, Any]:
    """Feed *chunks*; frames become messages (fragments joined, text decoded)."""
    from websockets.frames import Opcode

    op_text, op_binary, op_cont = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
    count = 0
    last = None
    parts: list[Any] = []
    text = False
    for chunk in chunks:
        proto.receive_data(chunk)
        for frame in proto.events_received():
            op = frame.opcode
            if op is op_cont:
                parts.append(frame.data)
                if frame.fin:
                    data = b"".join(parts)
                    parts = []
                    count += 1
                    last = data.decode() if text else data
            elif op is op_text or op is op_binary:
                if frame.fin:
                    count += 1
                    last = frame.data.decode() if op is op_text else frame.data
                else:
                    text = op is op_text
                    parts = [frame.data]
            else:
                raise AssertionError(f"unexpected {frame!r}")
        proto.data_to_send()
    return count, last


def websockets_send_text(proto: Any, messages: Sequence[str]) -> tuple[int, Any]:
    """Send every message: ``send_text`` takes bytes, then ``data_to_send()``."""
    total = 0
    out: list[bytes] = []
    for message in messages:
        proto.send_text(message.encode())
        out = proto.data_to_send()
        for data in out:
            total += len(data)
    return total, b"".join(out)


def websockets_send_binary(proto: Any, messages: Sequence[bytes]) -> tuple[int, Any]:
    """Binary version of :func:`websockets_send_text`."""
    total = 0
    out: list[bytes] = []
    for message in messages:
        proto.send_binary(message)
        out = proto.data_to_send()
        for data in out:
            total += len(data)
    return total, b"".join(out)


def websockets_handshakes(request: bytes, n: int) -> tuple[int, Any]:
    """*n* server handshakes with websockets' ``ServerProtocol``."""
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    out = b""
    count = 0
    for _ in range(n):
        proto = ServerProtocol()
        proto.receive_data(request)
        [event] = proto.events_received()
        if isinstance(event, Request):
            proto.send_response(proto.accept(event))
            out = b"".join(proto.data_to_send())
            count += 1
    return count, out


# -- aiohttp (its reader and writer, without the web server around them) -----------------
#
# aiohttp has no sans-I/O connection object; its WebSocket core is a reader that
# parses bytes into a queue of messages (Cython-compiled, from the same source as
# its pure-Python twin) and a writer that frames messages onto a transport. The
# handshake is the web server's, so there is no handshake workload for it. Driven
# here as its WebSocketResponse drives them, minus the asyncio plumbing:
#
# * receive: ``reader.feed_data(chunk)``, then every queued message is taken with
#   ``await queue.read()`` (what an application's ``await ws.receive()`` ends in),
#   driven with ``coro.send(None)``: a message is there, so it never suspends. The
#   queue has aiohttp's default limit (64 KiB of messages): past it the reader
#   stalls and a later read resumes it, as in a real server. Text is decoded (and
#   UTF-8 checked) by the reader once per message, fragments joined: nothing is
#   checked per fragment.
# * send: ``await writer.send_frame(payload, opcode)`` is a coroutine that does not
#   suspend when nothing is compressed; it is driven with ``coro.send(None)``. It
#   writes each frame to the transport (here a list's ``append``). The
#   application encodes text to bytes itself (``ws.send_str`` does the same).


def aiohttp_available() -> bool:
    """Whether aiohttp's WebSocket reader and writer import."""
    try:
        from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader  # noqa: F401
        from aiohttp._websocket.writer import WebSocketWriter  # noqa: F401
    except ImportError:
        return False
    return True


class _FlowControl:
    """The bits of aiohttp's protocol object the reader's queue and the writer use."""

    def __init__(self) -> None:
        self._reading_paused = False
        self._paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False

    async def _drain_helper(self) -> None:  # never paused here
        pass


class _CollectingTransport:
    """An asyncio transport that keeps what is written (for the writers).

    ``write`` is the list's own ``append`` (no Python frame per write): the
    cheapest transport there can be, so the writers' own cost is what is timed.
    """

    def __init__(self, sock: Any = None) -> None:
        self.written: list[Any] = []
        self.write = self.written.append
        self.writelines = self.written.extend
        self._sock = sock

    def take(self) -> list[Any]:
        out = self.written[:]
        self.written.clear()
        return out

    def sent(self) -> tuple[int, bytes]:
        """The bytes written since the last call, and the last write (then forgotten)."""
        written = self.written
        total = sum(len(data) for data in written)
        last = bytes(written[-1]) if written else b""
        written.clear()
        return total, last

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        if name in ("peername", "sockname"):
            return ("127.0.0.1", 0)
        return default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


_LOOP: Any = None


def _loop() -> Any:
    """One event loop, never run for long: some objects need one to exist."""
    global _LOOP
    if _LOOP is None:
        import asyncio

        _LOOP = asyncio.new_event_loop()
    return _LOOP


def aiohttp_server(*, deflate: bool = False, max_size: int | None = 1 << 20) -> Any:
    """aiohttp's reader with its queue (default 64 KiB limit), as a server's."""
    from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

    queue = WebSocketDataQueue(_FlowControl(), 2**16, loop=_loop())  # type: ignore[arg-type]
    # aiohttp's max_msg_size 0 means no limit.
    reader = WebSocketReader(queue, max_size or 0, compress=deflate, decode_text=True)
    return reader, queue


def aiohttp_receive(state: Any, chunks: Sequence[bytes]) -> tuple[int, Any]:
    """Feed *chunks*; take every message from the queue after each."""
    from aiohttp import WSMsgType

    text, binary = WSMsgType.TEXT, WSMsgType.BINARY
    reader, queue = state
    read = queue.read
    feed = reader.feed_data
    count = 0
    last = None
    for chunk in chunks:
        feed(chunk)
        while queue._buffer:
            coro = read()
            try:
                coro.send(None)
            except StopIteration as done:
                msg = done.value
            else:  # pragma: no cover - a message is there: read() does not wait
                raise AssertionError("read() suspended")
            if msg.type is text or msg.type is binary:
                count += 1
                last = msg.data
            else:
                raise AssertionError(f"unexpected {msg!r}")
    if queue.exception() is not None:
        raise AssertionError(f"reader failed: {queue.exception()!r}")
    return count, last


def aiohttp_writer(*, client: bool = False) -> Any:
    """aiohttp's writer over a collecting transport (masked for a client)."""
    from aiohttp._websocket.writer import WebSocketWriter

    async def make() -> Any:  # it creates an asyncio.Lock
        return WebSocketWriter(
            _FlowControl(),  # type: ignore[arg-type]
            _CollectingTransport(),  # type: ignore[arg-type]
            use_mask=client,
        )

    return _loop().run_until_complete(make())


def _aiohttp_send(writer: Any, payloads: Sequence[Any], opcode: int) -> tuple[int, Any]:
    transport = writer.transport
    send_frame = writer.send_frame
    text = opcode == 0x1
    for payload in payloads:
        coro = send_frame(payload.encode() if text else payload, opcode)
        try:
            coro.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - it never suspends uncompressed
            raise AssertionError("send_frame suspended")
    # (Every frame is one write: the last write is the last frame.)
    return transport.sent()


def aiohttp_send_text(writer: Any, messages: Sequence[str]) -> tuple[int, Any]:
    """Send every message: encode, ``send_frame``; take the transport's writes."""
    return _aiohttp_send(writer, messages, 0x1)


def aiohttp_send_binary(writer: Any, messages: Sequence[bytes]) -> tuple[int, Any]:
    """Binary version of :func:`aiohttp_send_text`."""
    return _aiohttp_send(writer, messages, 0x2)


# -- picows (its protocol object fed as asyncio feeds it) -------------------------------
#
# picows is written in Cython around an asyncio BufferedProtocol (WSProtocol) and a
# transport wrapper (WSTransport); its sans-I/O-ish core is that protocol fed by
# hand: ``get_buffer()``, copy the chunk in, ``buffer_updated(n)`` (what asyncio
# does after ``recv_into``). It hands every *frame* to the listener's
# ``on_ws_frame`` (a Python method call per frame) and leaves fragments to the
# application: the listener here joins them and decodes text once per message
# (``get_payload_as_utf8_text`` for a whole frame), as an application must. Its
# handshake goes through its own HTTP parser (driven in the untimed setup). Sending
# is ``WSTransport.send(WSMsgType.TEXT, payload)``, which writes the frame to the
# asyncio transport (here a list's ``append``). It has no permessage-deflate and
# no message size limit (only a frame size limit).


def picows_available() -> bool:
    """Whether picows imports."""
    try:
        import picows  # noqa: F401
    except ImportError:
        return False
    return True


_SOCKETS: list[Any] = []


def _picows_protocol(*, client: bool, max_frame_size: int) -> tuple[Any, Any, Any]:
    """A picows WSProtocol after its handshake: (protocol, listener, transport)."""
    import logging
    import socket

    from picows import WSListener, WSMsgType
    from picows.picows import WSAutoPingStrategy, WSProtocol

    text, binary, cont = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION

    class Collect(WSListener):  # type: ignore[misc]
        """Whole messages out of frames: fragments joined, text decoded."""

        def __init__(self) -> None:
            self.count = 0
            self.last: Any = None
            self.parts: list[bytes] = []
            self.text = False

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            op = frame.msg_type
            if op is cont:
                self.parts.append(frame.get_payload_as_bytes())
                if frame.fin:
                    data = b"".join(self.parts)
                    self.parts = []
                    self.count += 1
                    self.last = data.decode() if self.text else data
            elif op is text or op is binary:
                if frame.fin:
                    self.count += 1
                    self.last = (
                        frame.get_payload_as_utf8_text()
                        if op is text
                        else frame.get_payload_as_bytes()
                    )
                else:
                    self.text = op is text
                    self.parts = [frame.get_payload_as_bytes()]
            else:
                raise AssertionError(f"unexpected {frame}")

    listener = Collect()
    # picows asks the transport for its socket (to set TCP options): an
    # unconnected TCP socket, never used for I/O.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _SOCKETS.append(sock)
    transport = _CollectingTransport(sock)

    async def make() -> Any:
        proto = WSProtocol(
            "localhost:80" if client else None,
            "/bench" if client else None,
            client,
            lambda *args: listener,
            logging.getLogger("bench.picows"),
            True,  # disconnect_on_exception
            None,  # no handshake timeout
            False,  # no auto ping
            10.0,
            10.0,
            WSAutoPingStrategy.PING_WHEN_IDLE,
            True,  # auto pong
            max_frame_size,
            None,  # extra headers
            16 * 1024,  # picows' default initial read buffer
        )
        proto.connection_made(transport)
        return proto

    proto = _loop().run_until_complete(make())
    if client:
        request = b"".join(transport.take())
        key = request.split(b"Sec-WebSocket-Key: ", 1)[1].split(b"\r\n", 1)[0]
        from wsproto_lite import accept_key

        _picows_feed(
            proto,
            [
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept_key(key.decode()).encode()
                + b"\r\n\r\n"
            ],
        )
    else:
        _picows_feed(proto, [upgrade_request()])
        _check_response(b"".join(transport.take()), False)
    assert proto.transport is not None and proto.listener is listener
    return proto, listener, transport


def _picows_feed(proto: Any, chunks: Sequence[bytes]) -> None:
    get_buffer = proto.get_buffer
    updated = proto.buffer_updated
    for chunk in chunks:
        # As asyncio's recv_into: as much as the offered buffer takes, per read.
        pos = 0
        size = len(chunk)
        while pos < size:
            buf = get_buffer(-1)
            n = min(len(buf), size - pos)
            buf[:n] = chunk[pos : pos + n]
            updated(n)
            pos += n


def picows_server(*, deflate: bool = False, max_size: int | None = 1 << 20) -> Any:
    """A picows server protocol past its handshake (no deflate: it has none)."""
    assert not deflate
    return _picows_protocol(client=False, max_frame_size=max_size or (1 << 62))


def picows_client(*, max_size: int | None = 1 << 20) -> Any:
    """A picows client protocol past its handshake."""
    return _picows_protocol(client=True, max_frame_size=max_size or (1 << 62))


def picows_receive(state: Any, chunks: Sequence[bytes]) -> tuple[int, Any]:
    """Feed *chunks* as asyncio would; the listener counts whole messages."""
    proto, listener, transport = state
    _picows_feed(proto, chunks)
    transport.take()
    return listener.count, listener.last


def _picows_send(state: Any, messages: Sequence[Any], text: bool) -> tuple[int, Any]:
    from picows import WSMsgType

    proto, _, transport = state
    send = proto.transport.send
    kind = WSMsgType.TEXT if text else WSMsgType.BINARY
    for message in messages:
        send(kind, message.encode() if text else message)
    # (Every frame is one write: the last write is the last frame.)
    return transport.sent()


def picows_send_text(state: Any, messages: Sequence[str]) -> tuple[int, Any]:
    """Send every message: encode, ``WSTransport.send`` (which writes the frame)."""
    return _picows_send(state, messages, True)


def picows_send_binary(state: Any, messages: Sequence[bytes]) -> tuple[int, Any]:
    """Binary version of :func:`picows_send_text`."""
    return _picows_send(state, messages, False)


# -- shared -----------------------------------------------------------------------------


def _check_response(response: bytes, deflate: bool) -> None:
    from _frames import WS_ACCEPT

    assert response.startswith(b"HTTP/1.1 101"), response[:100]
    assert WS_ACCEPT in response, response
    head = response.lower()
    if deflate:
        # The generated input uses context takeover and a 15-bit window: the
        # server must not have asked the client for anything else.
        assert b"permessage-deflate" in head, response
        assert b"client_no_context_takeover" not in head, response
        assert b"client_max_window_bits" not in head, response
    else:
        assert b"sec-websocket-extensions" not in head, response
