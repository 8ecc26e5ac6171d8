"""Property tests (hypothesis): round trips under arbitrary chunking, arbitrary
input gives only documented outcomes, and a stateful client/server pair."""

from __future__ import annotations

from collections.abc import Iterator

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Connection,
    ConnectionState,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    LocalProtocolError,
    Ping,
    Pong,
    Reject,
    Role,
    TextMessage,
)
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate
from wsproto_lite.testing import ConnectionPair, fragment, messages

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

OPEN, CLOSING, CLOSED = ConnectionState.OPEN, ConnectionState.CLOSING, ConnectionState.CLOSED


MAX_PIECES = 3000


def chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """Cut *data* into pieces of the given sizes, cycling through them (sizes
    are scaled up for large data, to keep the number of pieces bounded)."""
    floor = len(data) // MAX_PIECES
    sizes = [max(size, floor) for size in sizes]
    pos = 0
    i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        i += 1


# -- (1) round trip -----------------------------------------------------------------------------

# Big messages: a unit drawn by hypothesis (so a failure shrinks to the
# smallest unit and count) repeated up to a size that crosses every length
# encoding and the limits (a 7-, 16- and 64-bit length; several reads).
big_text = st.builds(
    lambda unit, n: unit * n,
    st.text(st.sampled_from("ab\u00e9\u20ac\U0001f600\u4e16"), min_size=1, max_size=5),
    st.integers(0, 40_000),
)
big_binary = st.builds(
    lambda unit, n: unit * n, st.binary(min_size=1, max_size=7), st.integers(0, 45_000)
)
message = st.one_of(
    st.text(max_size=40).map(TextMessage),
    st.binary(max_size=200).map(BinaryMessage),
    big_text.map(TextMessage),
    big_binary.map(BinaryMessage),
)


chunk_sizes = st.lists(st.one_of(st.integers(1, 8), st.integers(9, 70_000)), min_size=1, max_size=8)


@st.composite
def plans(draw: st.DrawFn) -> list[tuple[str, object]]:
    """A sequence of sends: whole or fragmented messages, pings between parts."""
    plan: list[tuple[str, object]] = []
    for msg in draw(st.lists(message, max_size=6)):
        data = msg.data
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
        parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        for i, part in enumerate(parts):
            plan.append(("send", type(msg)(part, final=i == len(parts) - 1)))
            if draw(st.booleans()) and draw(st.booleans()):
                plan.append(("send", Ping(draw(st.binary(max_size=125)))))
        plan.append(("expect", msg))
    if draw(st.booleans()):
        plan.append(("send", Ping(draw(st.binary(max_size=10)))))
    return plan


def one_way(
    sender: Connection, receiver: Connection, plan: list[tuple[str, object]], sizes: list[int]
) -> None:
    expected_messages = [item for kind, item in plan if kind == "expect"]
    pings = [item.payload for kind, item in plan if kind == "send" and isinstance(item, Ping)]
    for kind, item in plan:
        if kind == "send":
            sender.send(item)  # type: ignore[arg-type]
    data = sender.data_to_send()
    received = []
    for chunk in chunks(data, sizes):
        receiver.receive_data(chunk)
        received.extend(receiver.events())
    assert [e for e in received if not isinstance(e, Ping)] == expected_messages
    assert [e.payload for e in received if isinstance(e, Ping)] == pings
    # The automatic pongs go back, in order.
    back = receiver.data_to_send()
    for chunk in chunks(back, sizes[::-1]):
        sender.receive_data(chunk)
    pongs = list(sender.events())
    assert pongs == [Pong(p) for p in pings]


@SETTINGS
@given(
    plan_c=plans(),
    plan_s=plans(),
    sizes=chunk_sizes,
)
def test_round_trip_any_chunking(plan_c: list, plan_s: list, sizes: list[int]) -> None:
    pair = ConnectionPair.open()
    one_way(pair.client, pair.server, plan_c, sizes)
    one_way(pair.server, pair.client, plan_s, sizes)
    assert pair.client.state is OPEN and pair.server.state is OPEN


@SETTINGS
@given(plan=plans(), sizes=chunk_sizes)
def test_round_trip_is_chunking_independent_when_streaming(plan: list, sizes: list[int]) -> None:
    """Streamed parts, joined, give the same messages whatever the chunking."""
    pair = ConnectionPair.open(stream=True)
    expected = [m for k, m in plan if k == "expect"]
    for kind, item in plan:
        if kind == "send":
            pair.client.send(item)  # type: ignore[arg-type]
    data = pair.client.data_to_send()
    messages: list[object] = []
    parts: list = []
    for chunk in chunks(data, sizes):
        pair.server.receive_data(chunk)
        for event in pair.server.events():
            if isinstance(event, (TextMessage, BinaryMessage)):
                parts.append(event.data)
                if event.final:
                    joined = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
                    messages.append(type(event)(joined))
                    parts = []
    assert messages == expected
    assert parts == []


@SETTINGS
@given(
    msgs=st.lists(messages(max_size=300), max_size=5),
    sizes=st.lists(st.integers(0, 100), max_size=4),
    chunk=st.integers(1, 50),
)
def test_fragment_helper_round_trip(msgs: list, sizes: list[int], chunk: int) -> None:
    pair = ConnectionPair.open(chunk_size=chunk)
    for msg in msgs:
        parts = fragment(msg, sizes)
        assert parts[-1].final and not any(p.final for p in parts[:-1])
        for part in parts:
            pair.server.send(part)
    assert pair.deliver_to_client() == msgs


# -- (2) arbitrary input → documented outcomes only -------------------------------------------

FRAME_EVENTS = (TextMessage, BinaryMessage, Ping, Pong, Close)


@st.composite
def frame_soup(draw: st.DrawFn, masked: bool) -> bytes:
    """Frames that are mostly well-formed, with random header bits: they get
    further into the parser than random bytes do."""
    out = b""
    for _ in range(draw(st.integers(0, 6))):
        b0 = draw(
            st.one_of(
                st.sampled_from([0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A]),
                st.integers(0, 255),
            )
        )
        payload = draw(
            st.one_of(
                st.binary(max_size=130),
                st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
                st.sampled_from([b"\x03\xe8", b"\x03\xe8ok", b"\x03", b"\x00\x00", b"\x0f\xa0"]),
            )
        )
        n = len(payload)
        mask_bit = 0x80 if draw(st.booleans()) == masked or draw(st.booleans()) else 0
        head = bytes([b0])
        if n < 126 and not draw(st.booleans()):
            head += bytes([mask_bit | n])
        elif draw(st.booleans()):
            head += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
        if mask_bit:
            key = draw(st.binary(min_size=4, max_size=4))
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        out += head + payload
    return out


def check_documented(conn: Connection, data: bytes, sizes: list[int], eof: bool) -> None:
    """Feed *data*; every event is of a documented type; nothing raises."""
    events = []
    pieces = list(chunks(data, sizes)) + ([b""] if eof else [])
    for piece in pieces:
        conn.receive_data(piece)
        # Parsing terminates: a bounded number of events per call.
        for count, event in enumerate(conn.events()):
            assert count <= len(data) + 2
            events.append(event)
    closed_at = None
    for i, event in enumerate(events):
        assert isinstance(event, FRAME_EVENTS), event
        if isinstance(event, Close):
            closed_at = i
            break
    if closed_at is not None:
        assert closed_at == len(events) - 1, "events after a Close"
        close = events[closed_at]
        # This side never sent a close: any Close event ends the connection.
        assert conn.state is CLOSED
        if close.failed:
            assert conn.should_close_transport
            assert close.code in (1002, 1006, 1007, 1009)
    elif eof:
        raise AssertionError("end of input without a Close event")
    # What went back, read by an independent peer: a pong per ping, in order,
    # then the close frame the Close event implies (the echo of the peer's
    # code, 1000 for none; or the failure's code and reason; nothing for 1006).
    peer_role = Role.SERVER if conn.client else Role.CLIENT
    peer = Connection(peer_role, handshake=False, max_message_size=None)
    out = conn.data_to_send()
    if out:  # (b"" would mean end of stream)
        peer.receive_data(out)
    got = [
        (type(e).__name__, getattr(e, "payload", getattr(e, "code", None))) for e in peer.events()
    ]
    expected: list[tuple[str, object]] = [
        ("Pong", e.payload) for e in events if isinstance(e, Ping)
    ]
    if closed_at is not None:
        close = events[closed_at]
        if close.code != 1006:
            expected.append(("Close", 1000 if close.code == 1005 else close.code))
    assert got == expected
    # Whatever happened, later input is harmless, and after a Close it is ignored.
    conn.receive_data(b"\x81\x05hello")
    later = list(conn.events())
    if closed_at is not None:
        assert later == []
        assert conn.data_to_send() == b""


@SETTINGS
@given(
    data=st.one_of(st.binary(max_size=400), frame_soup(masked=True)),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=5),
    eof=st.booleans(),
)
def test_arbitrary_bytes_to_server(data: bytes, sizes: list[int], eof: bool) -> None:
    pair = ConnectionPair.open()
    check_documented(pair.server, data, sizes, eof)


@SETTINGS
@given(
    data=st.one_of(st.binary(max_size=400), frame_soup(masked=False)),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=5),
    eof=st.booleans(),
    stream=st.booleans(),
)
def test_arbitrary_bytes_to_client(data: bytes, sizes: list[int], eof: bool, stream: bool) -> None:
    pair = ConnectionPair.open(stream=stream, max_message_size=300)
    check_documented(pair.client, data, sizes, eof)


request_soup = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"GET /chat HTTP/1.1\r\n",
                b"POST / HTTP/1.0\r\n",
                b"GET http://h/ HTTP/1.1\r\n",
                b"Host: h\r\n",
                b"Upgrade: websocket\r\n",
                b"Connection: Upgrade\r\n",
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                b"Sec-WebSocket-Version: 13\r\n",
                b"Sec-WebSocket-Version: 8\r\n",
                b"Sec-WebSocket-Protocol: a, b c\r\n",
                b'Sec-WebSocket-Extensions: x; y="z"\r\n',
                b"Content-Length: 3\r\n",
                b"Transfer-Encoding: chunked\r\n",
                b"\r\n",
                b"\x81\x85abcd\x00\x00\x00\x00\x00",
            ]
        ),
        st.binary(max_size=20),
    ),
    max_size=12,
).map(b"".join)


def parse_response(data: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Parse the response a server wrote with an independent HTTP client (h11's)."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "h")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    event = client.next_event()
    assert isinstance(event, (h11.Response, h11.InformationalResponse)), (event, data)
    return event.status_code, list(event.headers)


@SETTINGS
@given(
    data=request_soup,
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=5),
    eof=st.booleans(),
    answer=st.sampled_from(["accept", "reject", "none"]),
)
def test_arbitrary_bytes_to_server_handshake(
    data: bytes, sizes: list[int], eof: bool, answer: str
) -> None:
    """Any request bytes: documented events only, and exactly the answer that
    was due, as a valid HTTP response (101 for an accepted handshake, the
    application's status, or the automatic error/426)."""
    server = Connection(Role.SERVER)
    pieces = list(chunks(data, sizes)) + ([b""] if eof else [])
    events: list[object] = []
    expected: int | None = None  # the status of the response due
    for piece in pieces:
        server.receive_data(piece)
        for event in server.events():
            assert isinstance(event, (Handshake, HTTPRequest, HandshakeFailed, *FRAME_EVENTS))
            events.append(event)
            if isinstance(event, Handshake):
                if answer == "accept":
                    server.send(Accept())  # a valid request can always be accepted
                    expected = 101
                elif answer == "reject":
                    server.send(Reject(403))
                    expected = 403
            elif isinstance(event, HTTPRequest):
                with pytest.raises(LocalProtocolError):
                    server.send(Accept())  # misuse, and nothing changes
                assert server.state is ConnectionState.CONNECTING
                if answer == "reject":
                    server.send(Reject(403))
                    expected = 403
                else:
                    expected = 426  # answered automatically at the next event
            elif isinstance(event, HandshakeFailed) and event.status is not None:
                expected = event.status  # answered automatically at the next event
    out = server.data_to_send()
    failed = [e for e in events if isinstance(e, HandshakeFailed)]
    if expected is None:
        assert out == b""
        assert server.state is (CLOSED if failed else ConnectionState.CONNECTING)
        return
    status, _ = parse_response(out)
    assert status == expected
    if failed or status != 101:
        assert server.state is CLOSED
        assert server.should_close_transport
    # Input after the answer changes nothing more on the wire.
    server.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    list(server.events())
    if status != 101:
        assert server.data_to_send() == b""


def _outcome(
    role: Role, pieces: list[bytes], fast: bool, **kwargs: object
) -> tuple[list[object], list[object], ConnectionState]:
    """The events of *pieces*, what the connection wrote back as a peer sees it
    (a client masks with random keys, so its bytes are compared parsed), and
    the state it ends in."""
    conn = Connection(role, handshake=False, **kwargs)  # type: ignore[arg-type]
    conn._reader.fast = fast
    events: list[object] = []
    for piece in pieces:
        conn.receive_data(piece)
        events.extend(conn.events())
    peer = Connection(Role.SERVER if role is Role.CLIENT else Role.CLIENT, handshake=False)
    peer.receive_data(conn.data_to_send())
    return events, list(peer.events()), conn.state


@SETTINGS
@given(
    data=st.one_of(frame_soup(masked=True), frame_soup(masked=False)),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=5),
    client=st.booleans(),
    stream=st.booleans(),
    limit=st.sampled_from([None, 0, 3, 100, 130, 1 << 20]),
    frame_limit=st.sampled_from([None, 0, 2, 125, 126, 1 << 16]),
    deflate=st.booleans(),
    eof=st.booleans(),
)
def test_fast_paths_change_nothing(
    data: bytes,
    sizes: list[int],
    client: bool,
    stream: bool,
    limit: int | None,
    frame_limit: int | None,
    deflate: bool,
    eof: bool,
) -> None:
    """The same input gives the same events, the same replies and the same end
    state with the reader's fast paths switched on as with the general path
    alone (with and without an extension negotiated)."""
    role = Role.CLIENT if client else Role.SERVER
    pieces = list(chunks(data, sizes)) + ([b""] if eof else [])

    def outcome(fast: bool) -> tuple[list[object], list[object], ConnectionState]:
        sessions = []
        if deflate:
            accepted = PerMessageDeflate().accept([[]])
            assert accepted is not None
            sessions = [accepted[1]]
        return _outcome(
            role,
            pieces,
            fast,
            stream=stream,
            max_message_size=limit,
            max_frame_size=frame_limit,
            extension_sessions=sessions,
        )

    assert outcome(True) == outcome(False)


# -- (3) a stateful client/server pair ------------------------------------------------------------

SIDES = ("client", "server")


def other(side: str) -> str:
    return "server" if side == "client" else "client"


texts = st.one_of(st.text(max_size=30), st.just("\u20ac" * 40_000))
binaries = st.one_of(st.binary(max_size=60), st.just(b"\x00\xff" * 40_000))


class PairMachine(RuleBasedStateMachine):
    """A client and a server exchanging messages, pings and closes, with the
    bytes delivered in random pieces in either direction."""

    @initialize()
    def setup(self) -> None:
        self.pair = ConnectionPair.open()
        self.conn = {"client": self.pair.client, "server": self.pair.server}
        self.wire = {"client": b"", "server": b""}  # bytes sent by a side, not yet delivered
        self.sent: dict[str, list[object]] = {"client": [], "server": []}  # complete messages
        self.parts: dict[str, list] = {"client": [], "server": []}  # a fragmented send
        self.fragmenting: dict[str, type | None] = {"client": None, "server": None}
        self.received: dict[str, list[object]] = {"client": [], "server": []}
        self.pings_sent: dict[str, list[bytes]] = {"client": [], "server": []}
        self.pings_received: dict[str, list[bytes]] = {"client": [], "server": []}
        self.pongs_received: dict[str, list[bytes]] = {"client": [], "server": []}
        self.close_sent: dict[str, tuple[int, str] | None] = {"client": None, "server": None}
        self.close_received: dict[str, Close | None] = {"client": None, "server": None}

    def collect(self, side: str) -> None:
        self.wire[side] += self.conn[side].data_to_send()

    def is_open(self, side: str) -> bool:
        return self.conn[side].state is OPEN

    # -- sending

    def _send_message(self, side: str, cls: type, data: object, final: bool) -> None:
        conn = self.conn[side]
        if self.fragmenting[side] not in (None, cls):
            return  # interleaving is refused (tested elsewhere)
        conn.send(cls(data, final=final))
        self.parts[side].append(data)
        if final:
            joined = "".join(self.parts[side]) if cls is TextMessage else b"".join(self.parts[side])
            self.sent[side].append(cls(joined))
            self.parts[side] = []
            self.fragmenting[side] = None
        else:
            self.fragmenting[side] = cls
        self.collect(side)

    @rule(side=st.sampled_from(SIDES), data=texts, final=st.booleans())
    def send_text(self, side: str, data: str, final: bool) -> None:
        if self.is_open(side):
            self._send_message(side, TextMessage, data, final)

    @rule(side=st.sampled_from(SIDES), data=binaries, final=st.booleans())
    def send_binary(self, side: str, data: bytes, final: bool) -> None:
        if self.is_open(side):
            self._send_message(side, BinaryMessage, data, final)

    @rule(side=st.sampled_from(SIDES), payload=st.binary(max_size=125))
    def send_ping(self, side: str, payload: bytes) -> None:
        if self.conn[side].state in (OPEN, CLOSING):
            self.conn[side].send(Ping(payload))
            self.pings_sent[side].append(payload)
            self.collect(side)

    @rule(
        side=st.sampled_from(SIDES),
        code=st.sampled_from([1000, 1001, 1003, 1008, 1011, 3000, 4999]),
        reason=st.text(max_size=10),
    )
    def send_close(self, side: str, code: int, reason: str) -> None:
        if self.is_open(side):
            self.conn[side].send(Close(code, reason))
            self.close_sent[side] = (code, reason)
            assert self.conn[side].state is CLOSING
            self.collect(side)

    # -- delivering

    @precondition(lambda self: self.wire["client"] or self.wire["server"])
    @rule(side=st.sampled_from(SIDES), size=st.integers(1, 100_000))
    def deliver(self, side: str, size: int) -> None:
        self._deliver(side, size)

    def _deliver(self, side: str, size: int) -> None:
        """Move up to *size* bytes sent by *side* to the other side."""
        data, self.wire[side] = self.wire[side][:size], self.wire[side][size:]
        if not data:
            return  # b"" would mean end of stream
        receiver = other(side)
        conn = self.conn[receiver]
        was_closed = conn.state is CLOSED
        conn.receive_data(data)
        events = list(conn.events())
        if was_closed:
            assert events == [], "events after CLOSED"
        for i, event in enumerate(events):
            assert self.close_received[receiver] is None, "an event after Close"
            if isinstance(event, (TextMessage, BinaryMessage)):
                self.received[receiver].append(event)
            elif isinstance(event, Ping):
                self.pings_received[receiver].append(event.payload)
            elif isinstance(event, Pong):
                self.pongs_received[receiver].append(event.payload)
            else:
                assert isinstance(event, Close), event
                assert not event.failed, event
                assert i == len(events) - 1
                self.close_received[receiver] = event
                assert conn.state is CLOSED
                if self.close_sent[receiver] is None:
                    # Its reply echoes the code (RFC 6455 §5.5.1).
                    self.close_sent[receiver] = (event.code, "")
                expected = self.close_sent[side]
                assert expected is not None
                assert (event.code, event.reason) == expected
        self.collect(receiver)

    # -- invariants

    @invariant()
    def messages_in_order_exactly_once(self) -> None:
        if not hasattr(self, "pair"):
            return
        for side in SIDES:
            got = self.received[other(side)]
            assert got == self.sent[side][: len(got)]

    @invariant()
    def pings_and_pongs_in_order(self) -> None:
        if not hasattr(self, "pair"):
            return
        for side in SIDES:
            pings = self.pings_received[other(side)]
            assert pings == self.pings_sent[side][: len(pings)]
            pongs = self.pongs_received[side]
            assert pongs == pings[: len(pongs)]

    @invariant()
    def states_consistent(self) -> None:
        if not hasattr(self, "pair"):
            return
        for side in SIDES:
            state = self.conn[side].state
            sent, received = self.close_sent[side], self.close_received[side]
            if received is not None:
                assert state is CLOSED
            elif sent is not None:
                assert state is CLOSING
            else:
                assert state is OPEN
            assert not self.conn[side].should_close_transport or state is CLOSED

    def teardown(self) -> None:
        if not hasattr(self, "pair"):
            return
        # Deliver everything, both ways, until the wires are quiet.
        for _ in range(6):
            for side in SIDES:
                if self.wire[side]:
                    self._deliver(side, len(self.wire[side]))
        for side in SIDES:
            assert self.wire[side] == b""
            assert self.received[other(side)] == self.sent[side]
        if self.close_sent["client"] or self.close_sent["server"]:
            # A close handshake was started: it completes on both sides.
            for side in SIDES:
                assert self.conn[side].state is CLOSED
                assert self.close_received[side] is not None
            assert self.pair.server.should_close_transport
            assert not self.pair.client.should_close_transport


PairMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestPairMachine = PairMachine.TestCase
