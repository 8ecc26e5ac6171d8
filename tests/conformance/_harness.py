"""The fuzzer side of the conformance suite: raw frames in, raw frames out.

The *testee* is a :class:`~wsproto_lite.Connection` running the echo
application that the Autobahn|Testsuite's fuzzing peer expects: it answers each
event before it takes the next one (text and binary messages are echoed; pings,
pongs and the close reply are the connection's own business).

Everything that looks at the testee's output lives here and is independent of
the library: frames are built with :func:`frame` (any header bits, including
invalid ones), masked with :func:`mask`, and the testee's output is parsed by
:func:`parse_frames`, a small strict parser that also checks the sender's
obligations of RFC 6455 §5 (minimal length encoding, masking by role, control
frames unfragmented and at most 125 bytes, no reserved opcodes, close payload
layout). The opening handshake is spoken by hand as well.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Connection,
    ConnectionState,
    Event,
    Handshake,
    Ping,
    Pong,
    Role,
    TextMessage,
)

from .._wire import Frame, WireError, frame, parse_frames

# Opcodes (RFC 6455 §5.2), spelled out here rather than imported.
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: RSV values as the Autobahn cases number them: the three bits after FIN.
RSV1, RSV2, RSV3 = 4, 2, 1
#: The masking key of the frames this suite sends (any key would do).
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The RFC 6455 §1.3 example key and its accept value.
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

CHUNKINGS = ("segment", "frame", "byte")


# -- building frames ---------------------------------------------------------------


def close_payload(code: int | None = None, reason: bytes = b"") -> bytes:
    if code is None:
        return reason
    return code.to_bytes(2, "big") + reason


# -- parsing the testee's output -----------------------------------------------------


def messages_of(frames: Sequence[Frame]) -> list[tuple[str, Any]]:
    """Reassemble parsed frames into ``(kind, data)``; checks §5.4 fragmentation rules."""
    out: list[tuple[str, Any]] = []
    parts: list[bytes] = []
    kind: str | None = None
    closed = False
    for f in frames:
        if closed:
            raise WireError(f"{f} sent after the close frame (§5.5.1)")
        if f.opcode >= 8:
            name = {CLOSE: "close", PING: "ping", PONG: "pong"}[f.opcode]
            if f.opcode == CLOSE:
                closed = True
                if kind is not None:
                    # A close between fragments abandons the message (§5.4, §5.5.1).
                    out.append((f"partial {kind}", b"".join(parts)))
                    kind = None
            out.append((name, f.payload))
            continue
        if f.opcode == CONT:
            if kind is None:
                raise WireError("continuation frame without a message (§5.4)")
        else:
            if kind is not None:
                raise WireError("new message before the previous one ended (§5.4)")
            kind = "text" if f.opcode == TEXT else "binary"
        parts.append(f.payload)
        if f.fin:
            data = b"".join(parts)
            if kind == "text":
                try:
                    out.append(("text", data.decode("utf-8")))
                except UnicodeDecodeError:
                    raise WireError("text message is not UTF-8 (§8.1)") from None
            else:
                out.append(("binary", data))
            parts = []
            kind = None
    if kind is not None:
        raise WireError("the output ends inside a fragmented message")
    return out


# -- expectations about the output -----------------------------------------------------


@dataclass(frozen=True)
class Out:
    """An expected frame, compared field by field and, from a server, byte by byte."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0


def echo_text(data: str | bytes) -> Out:
    return Out(TEXT, data.encode("utf-8") if isinstance(data, str) else data)


def echo_binary(data: bytes) -> Out:
    return Out(BINARY, data)


def pong(payload: bytes = b"") -> Out:
    return Out(PONG, payload)


@dataclass(frozen=True)
class CloseOut:
    """An expected close frame with *code*; *reason* ``None`` accepts any reason."""

    code: int
    reason: bytes | None = None


# -- the handshake, by hand -----------------------------------------------------------


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def parse_head(data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Split an HTTP head: (start line, lower-cased headers, bytes after the head)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"incomplete HTTP head: {data[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return lines[0], headers, rest


def upgrade_request(key: str = SAMPLE_KEY, extensions: str | None = None) -> bytes:
    lines = [
        "GET /autobahn HTTP/1.1",
        "Host: 127.0.0.1:9001",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def check_101(data: bytes, key: str) -> dict[str, str]:
    status, headers, rest = parse_head(data)
    assert status.startswith("HTTP/1.1 101 "), status
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in [t.strip().lower() for t in headers["connection"].split(",")]
    assert headers["sec-websocket-accept"] == accept_for(key)
    assert rest == b"", "frames sent before anything was received"
    return headers


def parse_extension_params(value: str) -> dict[str, str | None]:
    """``permessage-deflate; a; b=9`` → ``{"a": None, "b": "9"}`` (one element only)."""
    name, *params = [p.strip() for p in value.split(";")]
    assert name == "permessage-deflate", value
    result: dict[str, str | None] = {}
    for p in params:
        k, eq, v = p.partition("=")
        assert k not in result, f"repeated parameter in {value!r}"
        result[k.strip()] = v.strip().strip('"') if eq else None
    return result


# -- the testee -----------------------------------------------------------------------


def respond(conn: Connection, event: Event) -> None:
    """The echo application: answer *event* before the next one is taken.

    With a streaming connection (``stream=True``) the parts of a message are
    echoed as they arrive, so the echo is itself a fragmented message.
    """
    if isinstance(event, (TextMessage, BinaryMessage)) and conn.state is ConnectionState.OPEN:
        conn.send(event)


class Testee:
    """A connection after a hand-made opening handshake, fed raw frames.

    *role* is the testee's role: ``"server"`` (the fuzzer is a client and masks
    its frames) or ``"client"``.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        role: str = "server",
        *,
        offer: str | None = None,
        answer: str | None = None,
        **kwargs: Any,
    ) -> None:
        assert role in ("server", "client")
        self.role = role
        self._offer = offer  # server testee: the request's Sec-WebSocket-Extensions
        self._answer = answer  # client testee: the response's Sec-WebSocket-Extensions
        self.is_server = role == "server"
        self.conn = Connection(Role.SERVER if self.is_server else Role.CLIENT, **kwargs)
        self.out = bytearray()
        self.events: list[Event] = []
        self._seen = 0
        self.response_headers: dict[str, str] = {}
        if self.is_server:
            self._server_handshake()
        else:
            self._client_handshake()

    def _server_handshake(self) -> None:
        conn = self.conn
        conn.receive_data(upgrade_request(extensions=self._offer))
        events = list(conn.events())
        assert len(events) == 1 and isinstance(events[0], Handshake), events
        conn.send(Accept())
        self.response_headers = check_101(conn.data_to_send(), SAMPLE_KEY)
        assert conn.state is ConnectionState.OPEN

    def _client_handshake(self) -> None:
        conn = self.conn
        conn.send(Handshake(host="127.0.0.1:9001", target="/autobahn"))
        request, headers, rest = parse_head(conn.data_to_send())
        assert request.startswith("GET /autobahn HTTP/1.1"), request
        assert rest == b""
        key = headers["sec-websocket-key"]
        assert len(base64.b64decode(key, validate=True)) == 16  # §4.1 item 7
        assert headers["sec-websocket-version"] == "13"
        response = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_for(key)}\r\n"
            + (f"Sec-WebSocket-Extensions: {self._answer}\r\n" if self._answer else "")
            + "\r\n"
        )
        conn.receive_data(response.encode("latin-1"))
        events = list(conn.events())
        assert len(events) == 1 and isinstance(events[0], Accept), events
        assert conn.state is ConnectionState.OPEN
        assert conn.data_to_send() == b""

    # -- the fuzzer's frames ---------------------------------------------------------

    @property
    def peer_masks(self) -> bool:
        """Frames sent to a server are masked (RFC 6455 §5.1)."""
        return self.is_server

    def frame(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
        kwargs.setdefault("masked", self.peer_masks)
        return frame(opcode, payload, **kwargs)

    def text(self, data: str | bytes, **kwargs: Any) -> bytes:
        payload = data.encode("utf-8") if isinstance(data, str) else data
        return self.frame(TEXT, payload, **kwargs)

    def binary(self, data: bytes, **kwargs: Any) -> bytes:
        return self.frame(BINARY, data, **kwargs)

    def cont(self, data: str | bytes, **kwargs: Any) -> bytes:
        payload = data.encode("utf-8") if isinstance(data, str) else data
        return self.frame(CONT, payload, **kwargs)

    def ping(self, payload: bytes = b"", **kwargs: Any) -> bytes:
        return self.frame(PING, payload, **kwargs)

    def pong(self, payload: bytes = b"", **kwargs: Any) -> bytes:
        return self.frame(PONG, payload, **kwargs)

    def close(self, code: int | None = 1000, reason: bytes = b"", **kwargs: Any) -> bytes:
        return self.frame(CLOSE, close_payload(code, reason), **kwargs)

    # -- driving ----------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Event]:
        """Deliver one TCP segment; the application answers every event it yields."""
        conn = self.conn
        conn.receive_data(data)
        new = []
        for event in conn.events():
            new.append(event)
            respond(conn, event)
        self.events.extend(new)
        self.out += conn.data_to_send()
        return new

    def send(self, frames: Sequence[bytes], chunking: str | int = "segment") -> None:
        """Deliver *frames* chopped as *chunking* says (see :func:`chop`)."""
        for chunk in chop(frames, chunking):
            self.feed(chunk)

    def eof(self) -> list[Event]:
        return self.feed(b"")

    # -- looking at the output ---------------------------------------------------------

    def frames(self) -> list[Frame]:
        """Every frame the testee sent since the handshake."""
        return parse_frames(bytes(self.out), masked=not self.is_server)

    def new_frames(self) -> list[Frame]:
        """The frames sent since the last call."""
        data = bytes(self.out[self._seen :])
        self._seen = len(self.out)
        return parse_frames(data, masked=not self.is_server)

    def expect(self, *expected: Out | CloseOut) -> list[Frame]:
        """Assert that the testee's whole output is exactly *expected*."""
        got = self.frames()
        assert len(got) == len(expected), f"expected {list(expected)}, got {got}"
        for g, e in zip(got, expected, strict=True):
            check_frame(g, e, server=self.is_server)
        return got

    # -- outcomes --------------------------------------------------------------------

    def close_normally(self) -> None:
        """The fuzzer ends an OK case: close 1000 and the exact echo of it."""
        assert self.conn.state is ConnectionState.OPEN, self.events
        before = len(self.frames())
        self.new_frames()
        self.feed(self.close(1000))
        got = self.new_frames()
        assert len(got) == 1, got
        check_frame(got[0], CloseOut(1000, b""), server=self.is_server)
        last = self.events[-1]
        assert last == Close(1000, ""), last
        self.assert_closed(failed=False)
        assert len(self.frames()) == before + 1

    def assert_closed(self, *, failed: bool) -> None:
        conn = self.conn
        assert conn.state is ConnectionState.CLOSED
        if self.is_server or failed:
            # RFC 6455 §7.1.1: the server closes TCP first; after a failure either side does.
            assert conn.should_close_transport
        else:
            # The client waits for the server to close TCP (§7.1.1) ...
            assert not conn.should_close_transport
            self.feed(b"")
            assert conn.should_close_transport
        # Anything more is ignored: no output, no events.
        n_out, n_events = len(self.out), len(self.events)
        self.feed(self.ping(b"after") + self.text("after") + self.close(1000))
        assert len(self.out) == n_out, "the testee sent something after closing"
        assert len(self.events) == n_events, self.events[n_events:]

    def assert_failed(self, code: int, *, before: Sequence[Out] | None = ()) -> None:
        """The testee failed the connection with *code*, after exactly *before*
        (``None``: whatever came before was checked by the caller)."""
        if before is None:
            check_frame(self.frames()[-1], CloseOut(code), server=self.is_server)
        else:
            self.expect(*before, CloseOut(code))
        last = self.events[-1]
        assert isinstance(last, Close) and last.failed and last.code == code, self.events
        self.assert_closed(failed=True)

    def received(self) -> list[tuple[str, Any]]:
        """The testee's output reassembled into messages (see :func:`messages_of`);
        close frames appear as ``("close", code)``."""
        out: list[tuple[str, Any]] = []
        for kind, data in messages_of(self.frames()):
            if kind == "close":
                out.append(("close", int.from_bytes(data[:2], "big") if data else None))
            else:
                out.append((kind, data))
        return out

    def messages(self) -> list[TextMessage | BinaryMessage]:
        return [e for e in self.events if isinstance(e, (TextMessage, BinaryMessage))]

    def controls(self) -> list[Event]:
        return [e for e in self.events if isinstance(e, (Ping, Pong))]


def check_frame(got: Frame, exp: Out | CloseOut, *, server: bool) -> None:
    if isinstance(exp, Out):
        assert (got.opcode, got.fin, got.rsv) == (exp.opcode, exp.fin, exp.rsv), (got, exp)
        assert got.payload == exp.payload, (got, exp)
        if server:  # unmasked: every byte is determined by the RFC
            assert got.raw == frame(
                exp.opcode, exp.payload, fin=exp.fin, rsv=exp.rsv, masked=False
            ), got.raw[:16]
        else:
            assert got.raw[:2] == frame(exp.opcode, exp.payload, fin=exp.fin, rsv=exp.rsv)[:2]
    else:
        assert (got.opcode, got.fin, got.rsv) == (CLOSE, True, 0), got
        assert got.code == exp.code, f"close code {got.code}, expected {exp.code} ({got})"
        if exp.reason is not None:
            assert got.payload == close_payload(exp.code, exp.reason), got
            if server:
                assert got.raw == frame(CLOSE, got.payload, masked=False)


def chop(frames: Sequence[bytes], chunking: str | int) -> list[bytes]:
    """``"segment"``: all at once; ``"frame"``: a frame per segment; ``"byte"``:
    one byte per segment; an int: segments of that many bytes."""
    if chunking == "segment":
        return [b"".join(frames)]
    if chunking == "frame":
        return list(frames)
    data = b"".join(frames)
    size = 1 if chunking == "byte" else int(chunking)
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- permessage-deflate, independently -------------------------------------------------

TAIL = b"\x00\x00\xff\xff"


class Inflater:
    """Decompresses one direction of a permessage-deflate connection by the RFC's
    rules (RFC 7692 §7.2.2): append ``00 00 ff ff``, inflate with the negotiated
    window; without context takeover, every message with a fresh window, which
    also proves that the sender did not refer to an earlier message."""

    def __init__(self, window_bits: int, no_context_takeover: bool) -> None:
        self.wbits = window_bits
        self.nct = no_context_takeover
        self._d: Any = None

    def message(self, payload: bytes) -> bytes:
        if self._d is None or self.nct:
            self._d = zlib.decompressobj(-self.wbits)
        out: bytes
        if self.wbits == 15:  # no distance can exceed 32 KiB in DEFLATE anyway
            out = self._d.decompress(payload + TAIL)
        else:
            # inflate resolves a back-reference into the output of the same
            # call without looking at the window; small output steps make
            # every longer reference go through the window, so that a
            # distance beyond 2**wbits fails ("invalid distance too far back").
            parts = []
            data = payload + TAIL
            while data:
                parts.append(self._d.decompress(data, 64))
                data = self._d.unconsumed_tail
            parts.append(self._d.decompress(b"", 64))
            while len(parts[-1]) == 64:
                parts.append(self._d.decompress(b"", 64))
            out = b"".join(parts)
        assert not self._d.unconsumed_tail
        assert not self._d.eof or not self._d.unused_data.strip(b"\x00"), "data after BFINAL"
        if self._d.eof:  # the sender ended the stream: the next message starts afresh
            self._d = None
        return out


class Deflater:
    """The fuzzer's own compressor (RFC 7692 §7.2.1), for frames sent to the testee."""

    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None:
        self.wbits = max(window_bits, 9)
        self.nct = no_context_takeover
        self._c: Any = None

    def message(self, data: bytes, *, final_block: bool = False) -> bytes:
        if self._c is None or self.nct:
            self._c = zlib.compressobj(6, zlib.DEFLATED, -self.wbits)
        if final_block:  # end the DEFLATE stream (BFINAL), §7.2.3.4
            out: bytes = self._c.compress(data) + self._c.flush(zlib.Z_FINISH)
            self._c = None
            return out
        out = self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]


def split(data: bytes, size: int) -> list[bytes]:
    """*data* in pieces of *size* bytes (one empty piece for empty data)."""
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def fragments(
    opcode: int, payload: bytes, size: int, *, masked: bool = True, rsv_first: int = 0
) -> list[bytes]:
    """A message as frames of *size* payload bytes each."""
    pieces = split(payload, size)
    last = len(pieces) - 1
    return [
        frame(
            opcode if i == 0 else CONT,
            p,
            fin=i == last,
            rsv=rsv_first if i == 0 else 0,
            masked=masked,
        )
        for i, p in enumerate(pieces)
    ]


def concat(items: Iterable[bytes]) -> bytes:
    return b"".join(items)


# -- UTF-8, independently (Unicode 15, Table 3-7: well-formed byte sequences) ------------

# For each lead byte: the allowed range of the 2nd byte, and how many
# continuation bytes (80..BF) follow that one.
_LEADS: dict[int, tuple[int, int, int]] = {}
for _b in range(0xC2, 0xE0):
    _LEADS[_b] = (0x80, 0xBF, 0)
_LEADS[0xE0] = (0xA0, 0xBF, 1)
for _b in range(0xE1, 0xED):
    _LEADS[_b] = (0x80, 0xBF, 1)
_LEADS[0xED] = (0x80, 0x9F, 1)
_LEADS[0xEE] = _LEADS[0xEF] = (0x80, 0xBF, 1)
_LEADS[0xF0] = (0x90, 0xBF, 2)
for _b in (0xF1, 0xF2, 0xF3):
    _LEADS[_b] = (0x80, 0xBF, 2)
_LEADS[0xF4] = (0x80, 0x8F, 2)


def utf8_error_at(data: bytes) -> int | None:
    """``None`` if *data* is well-formed UTF-8; otherwise the index of the first
    byte after which no continuation can make it valid (``len(data)`` when the
    data is only truncated: a valid prefix that ends inside a sequence)."""
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            i += 1
            continue
        if b not in _LEADS:
            return i
        lo, hi, more = _LEADS[b]
        if i + 1 >= n:
            return n
        if not lo <= data[i + 1] <= hi:
            return i + 1
        for j in range(i + 2, i + 2 + more):
            if j >= n:
                return n
            if not 0x80 <= data[j] <= 0xBF:
                return j
        i += 2 + more
    return None


# -- payloads ---------------------------------------------------------------------------


@functools.cache
def text_payload(size: int) -> bytes:
    """ASCII with 2-, 3- and 4-byte characters, cut to exactly *size* bytes of
    valid UTF-8 (chunk boundaries fall inside code points)."""
    unit = "BAsd7&jh23 κόσμε ✓ 🎉 ".encode()
    data = unit * (size // len(unit) + 1)
    cut = size
    while cut and (data[cut] & 0xC0) == 0x80:  # do not end inside a code point
        cut -= 1
    return data[:cut] + b"*" * (size - cut)


@functools.cache
def binary_payload(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def payload_for(opcode: int, size: int) -> bytes:
    return text_payload(size) if opcode == TEXT else binary_payload(size)


# -- permessage-deflate between our own client and server --------------------------------


def check_message_frames(frames: Sequence[Frame], opcode: int, *, compressed: bool) -> bytes:
    """One data message's frames: opcode on the first only, FIN on the last only,
    RSV1 on the first frame exactly when compressed (RFC 7692 §6: "the
    'Per-Message Compressed' bit ... MUST NOT [be set on] non-first fragments").
    Returns the concatenated payload."""
    assert frames, "no frames"
    assert frames[0].opcode == opcode, frames[0]
    assert all(f.opcode == CONT for f in frames[1:]), frames
    assert [f.fin for f in frames] == [False] * (len(frames) - 1) + [True], frames
    assert frames[0].rsv == (RSV1 if compressed else 0), frames[0]
    assert all(f.rsv == 0 for f in frames[1:]), frames
    payload = b"".join(f.payload for f in frames)
    if compressed:
        # §7.2.1: the sync flush's 00 00 ff ff is removed from the message's end.
        assert not payload.endswith(TAIL), "the 00 00 ff ff tail was not removed"
    return payload


class DeflatePair:
    """Our client and our server, permessage-deflate negotiated by a real
    handshake; the server runs the echo application. Everything that crosses
    the wire is parsed and decompressed by the harness as well (:class:`Inflater`
    with the *negotiated* windows), independently of the library."""

    def __init__(self, client_ext: Any, server_ext: Any, **kwargs: Any) -> None:
        self.client = Connection(Role.CLIENT, extensions=[client_ext], **kwargs)
        self.server = Connection(Role.SERVER, extensions=[server_ext], **kwargs)
        self.client.send(Handshake(host="127.0.0.1:9001", target="/"))
        request = self.client.data_to_send()
        _, req_headers, _ = parse_head(request)
        #: The client's offer, as sent.
        self.offer = parse_extension_params(req_headers["sec-websocket-extensions"])
        self.server.receive_data(request)
        events = list(self.server.events())
        assert len(events) == 1 and isinstance(events[0], Handshake), events
        self.server.send(Accept())
        response = self.server.data_to_send()
        headers = check_101(response, req_headers["sec-websocket-key"])
        #: The server's answer, as sent.
        self.agreed = parse_extension_params(headers["sec-websocket-extensions"])
        self.client.receive_data(response)
        events = list(self.client.events())
        assert len(events) == 1 and isinstance(events[0], Accept), events
        agreed = self.agreed
        self.server_bits = int(agreed.get("server_max_window_bits") or 15)
        self.client_bits = int(agreed.get("client_max_window_bits") or 15)
        self.server_nct = "server_no_context_takeover" in agreed
        self.client_nct = "client_no_context_takeover" in agreed
        self.c2s = Inflater(self.client_bits, self.client_nct)
        self.s2c = Inflater(self.server_bits, self.server_nct)

    def roundtrip(
        self, parts: Sequence[TextMessage | BinaryMessage], *, compressed: bool = True
    ) -> None:
        """The client sends *parts* (one message), the server echoes it whole."""
        opcode = TEXT if isinstance(parts[0], TextMessage) else BINARY
        data = b"".join(
            p.data.encode("utf-8") if isinstance(p, TextMessage) else p.data for p in parts
        )
        for p in parts:
            self.client.send(p)
        c2s = self.client.data_to_send()
        frames = parse_frames(c2s, masked=True)
        assert len(frames) == len(parts)
        payload = check_message_frames(frames, opcode, compressed=compressed)
        if compressed:
            assert self.c2s.message(payload) == data, "client → server: wrong compressed data"
        self.server.receive_data(c2s)
        got = []
        for event in self.server.events():
            got.append(event)
            respond(self.server, event)
        expected = TextMessage(data.decode("utf-8")) if opcode == TEXT else BinaryMessage(data)
        assert got == [expected], got[:1]
        s2c = self.server.data_to_send()
        frames = parse_frames(s2c, masked=False)
        payload = check_message_frames(frames, opcode, compressed=compressed)
        if compressed:
            assert self.s2c.message(payload) == data, "server → client: wrong compressed data"
        self.client.receive_data(s2c)
        assert list(self.client.events()) == [expected]

    def close(self) -> None:
        self.client.send(Close(1000))
        self.server.receive_data(self.client.data_to_send())
        assert list(self.server.events()) == [Close(1000, "")]
        self.client.receive_data(self.server.data_to_send())
        assert list(self.client.events()) == [Close(1000, "")]
        assert self.server.should_close_transport


def compressible_text(size: int, seed: int = 0) -> bytes:
    """JSON-like ASCII of exactly *size* bytes."""
    rnd = random.Random(seed)
    out = []
    n = 0
    i = 0
    while n < size:
        item = (
            f'{{"id":{i},"name":"user-{rnd.randrange(1000)}",'
            f'"score":{rnd.randrange(100000)},"tags":["a","b{rnd.randrange(10)}"]}},'
        )
        out.append(item)
        n += len(item)
        i += 1
    return "".join(out).encode()[:size]


def far_repeats(size: int, seed: int = 0) -> bytes:
    """Random blocks repeated 257–1000 bytes apart: matches a compressor would
    love, all beyond a 256-byte window (to catch window-size violations)."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        period = rnd.randrange(257, 1000)
        block = rnd.randbytes(period)
        out += block * 3
    return bytes(out[:size])
