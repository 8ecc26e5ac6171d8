"""Everything the adapters share that is neither I/O nor time.

An adapter (asyncio, trio, blocking sockets) moves bytes between its transport
and a :class:`Session`, runs its tasks or threads, and owns the clocks: where a
time matters (a pong's round trip, keepalive) it passes the current time in.
What to do with the events of the core is decided here, once for all three.

Received messages and the order of replies
    The core parses lazily, one event at a time, so that an application which
    answers each message before asking for the next one gets its answer queued
    before whatever a later frame causes: the reply to a close frame, say
    (RFC 6455 §5.5.1; Autobahn 7.1.1 accepts no other order). A session keeps
    that promise over a transport. It stops taking events from the core as
    soon as a message (or a streamed part of one) waits for the application;
    once the application has taken it, the session goes on when the
    application asks for the next one, or after :data:`ANSWER_TIME` if it does
    not (an idle application must still answer pings and closes). Bytes that
    arrive meanwhile wait unparsed in the core; beyond ``max_queue`` × 64 KiB
    the adapter stops reading its transport, so that TCP slows the peer down.
    Pings are answered whenever parsing runs.

Output and a peer that does not read
    Everything the core queues for the peer (the application's messages, the
    automatic pongs and close replies, a server's answer) moves into the
    session's output, which the adapter takes with :meth:`Session.take_output`
    and writes; it tells the session how many of those bytes its transport
    still holds (:meth:`Session.transport_holds`). Once the output held in
    both places passes ``write_limit`` it is *blocked* until it falls to a
    quarter of ``write_limit``: senders wait, and the pongs owed meanwhile are
    not queued but kept as one, the pong of the latest ping (RFC 6455 §5.5.3
    allows answering only the most recent one), sent once the output moves
    again. Reading goes on: what it brings is bounded by ``max_queue`` (see
    above), and a peer that stopped reading because its own output is blocked
    (a WebSocket peer like this one) must not be stopped in turn, or the two
    would wait for each other for ever. So a peer that never reads, whatever
    it sends, makes a connection hold at most ``write_limit``, one pong and
    one close reply, besides what the application itself sends. A peer that
    takes nothing at all for ``close_timeout`` while the output is blocked is
    failed (1011) and the transport aborted.

Clocks
    :meth:`Session.tick` runs every clock of the connection at the time it is
    given and says when to call it again: the opening timeout, keepalive, the
    answer time, the output that does not move and the closing timeout.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from .._connection import Connection, Role
from .._errors import LocalProtocolError
from .._events import (
    Accept,
    BinaryMessage,
    Close,
    Event,
    Handshake,
    HandshakeFailed,
    HTTPRequest,
    Ping,
    Pong,
    Reject,
    RejectData,
    TextMessage,
)
from .._states import ConnectionState
from ._errors import ConnectionClosed, ConnectionClosedError, InvalidHandshake
from ._options import Logger, Settings

#: A message: ``str`` for text, ``bytes`` for binary.
Data = str | bytes
#: What may be sent: ``str`` for text, any bytes-like object for binary.
DataLike = str | bytes | bytearray | memoryview
Part = TextMessage | BinaryMessage
#: Called once with a ping's round trip in seconds, or with the exception that
#: says why its pong will never come.
Settle = Callable[[float | ConnectionClosed], None]

#: ``max_queue`` counts in these: the bytes held for an application that does
#: not read are at most ``max_queue`` × 64 KiB (one typical read each).
QUEUE_UNIT = 1 << 16
#: Seconds an application that took a message has to answer it before the
#: events that follow are parsed anyway (see the module's docstring).
ANSWER_TIME = 0.5
#: The most of a rejection's body a client keeps for ``InvalidHandshake.body``.
MAX_REJECT_BODY = 1 << 16
_OPEN = ConnectionState.OPEN
_CONNECTING = ConnectionState.CONNECTING


def default_answer(
    request: Handshake | HTTPRequest, subprotocols: Sequence[str] | None
) -> Accept | Reject:
    """How a server answers when the application's hook does not decide.

    A WebSocket handshake is accepted with the first of the server's
    *subprotocols* that the client offered (none when there is no match); a
    plain HTTP request gets ``426 Upgrade Required``.
    """
    if isinstance(request, HTTPRequest):
        return Reject(
            426,
            [("Upgrade", "websocket"), ("Content-Type", "text/plain; charset=utf-8")],
            b"This service requires the WebSocket protocol.\n",
        )
    chosen = None
    if subprotocols:
        for name in subprotocols:
            if name in request.subprotocols:
                chosen = name
                break
    return Accept(subprotocol=chosen)


def internal_error() -> Reject:
    """The answer when the server's hook failed: ``500 Internal Server Error``."""
    return Reject(500, [("Content-Type", "text/plain")], b"Internal Server Error\n")


def handler_ended(logger: Logger, error: BaseException | None) -> tuple[int, str]:
    """The close code and reason once a server's handler returned or raised *error*.

    :class:`ConnectionClosed` is usually the connection closing, not an error.
    """
    if error is None or isinstance(error, ConnectionClosed):
        return 1000, ""
    logger.error("connection handler failed", exc_info=error)
    return 1011, "internal error"


def call_hook(
    hook: Callable[[Handshake | HTTPRequest], object] | None, request: Handshake | HTTPRequest
) -> tuple[object, Exception | None]:
    """What a server's ``process_request`` *hook* returned for *request*, or the
    exception it raised: the arguments of :meth:`Session.answer`."""
    if hook is None:
        return None, None
    try:
        return hook(request), None
    except Exception as exc:
        return None, exc


def call_handler(handler: Callable[[Any], object], ws: object, logger: Logger) -> tuple[int, str]:
    """Run a blocking server's *handler* on *ws*: the close code and reason it
    ended with (:func:`handler_ended`: 1000, or 1011 if it raised)."""
    try:
        handler(ws)
    except Exception as exc:
        return handler_ended(logger, exc)
    return 1000, ""


def join(parts: Sequence[Part]) -> Data:
    """The message made of *parts* (those of one message, in order)."""
    if len(parts) == 1:
        return parts[0].data
    if isinstance(parts[0], TextMessage):
        return "".join([p.data for p in parts])  # type: ignore[misc]
    return b"".join([p.data for p in parts])  # type: ignore[misc]


def message_event(message: object) -> Part:
    """The event that sends *message* whole.

    :raises TypeError: *message* is neither ``str`` nor bytes-like.
    """
    if type(message) is str:
        return TextMessage(message)
    if isinstance(message, (bytes, bytearray, memoryview)):
        return BinaryMessage(message)  # type: ignore[arg-type]  # copied to bytes
    raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")


def fragment_event(part: object, first: Part | None) -> Part:
    """The event that sends *part* of a fragmented message (*first*: its first part).

    :raises TypeError: *part* is neither ``str`` nor bytes-like, or not of the
        same kind as the message's first part.
    """
    if isinstance(part, str):
        event: Part = TextMessage(part, False)
    elif isinstance(part, (bytes, bytearray, memoryview)):
        event = BinaryMessage(part, False)  # type: ignore[arg-type]
    else:
        raise TypeError(f"fragments must be str or bytes, not {type(part).__name__}")
    if first is not None and type(event) is not type(first):
        raise TypeError("all fragments of a message must be str, or all bytes")
    return event


def pong_event(data: DataLike) -> Pong:
    """The unsolicited pong that carries *data* (``str`` is UTF-8 encoded)."""
    return Pong(data.encode("utf-8") if isinstance(data, str) else bytes(data))


def last_fragment(first: Part) -> Part:
    """The empty final frame that ends the fragmented message begun with *first*."""
    return TextMessage("") if isinstance(first, TextMessage) else BinaryMessage(b"")


class Session:
    """The state of one connection that is neither I/O nor time.

    It owns the :class:`~wsproto_lite.Connection` and the received message
    parts, pending pings, the keepalive clock's decisions, the handshake's
    outcome and how the connection closed. Adapters call it with their lock
    held, if they have one; it never blocks.

    :param role: client or server.
    :param settings: the options.
    """

    # Slots: one per connection, and a server may hold many thousands.
    __slots__ = (
        "_blocked", "_close_deadline", "_close_now", "_dropping", "_eof", "_failure",
        "_held", "_high", "_high_water", "_low", "_moved_at", "_open_deadline", "_out",
        "_out_size", "_ping_due", "_pings", "_pong", "_pong_deadline", "_reject",
        "_reject_body", "_reject_done", "_sent_close", "_skip", "_taken_at", "_unparsed",
        "aborted", "close_code", "close_reason", "closing", "conn", "latency", "logger",
        "must_abort", "open_timed_out", "pending_request", "queue", "response", "sending_fragments",
        "settings",
    )  # fmt: skip

    def __init__(self, role: Role, settings: Settings) -> None:
        self.settings = settings
        self.logger = settings.logger
        #: The sans-I/O core, streaming message parts.
        self.conn = Connection(
            role, extensions=settings.extensions, max_message_size=settings.max_message_size,
            stream=True,
        )  # fmt: skip
        limit = settings.max_queue
        self._high_water = None if limit is None else limit * QUEUE_UNIT
        #: Message parts received, waiting for the application.
        #: (A list: it holds a part or two, and a deque starts with a 64-slot block.)
        self.queue: list[Part] = []
        self._taken_at: float | None = None  # the application took a part, may be answering
        self._unparsed = 0  # bytes fed since the core last needed more (an upper bound)
        self._eof = False
        self._skip = False  # the rest of a message the application abandoned is dropped
        self._dropping = False  # closing, and the queue overflowed
        #: This side sent its close frame (or gave up): parsing goes on past
        #: unread messages, so that the peer's reply is read.
        self.closing = False
        #: The transport is closed or being torn down: nothing more is sent.
        self.aborted = False
        #: A fragmented message is being sent (the adapter's send_fragments()):
        #: a broadcast may not slip a message into it (RFC 6455 §5.4).
        self.sending_fragments = False
        #: Server: the request that waits for its answer.
        self.pending_request: Handshake | HTTPRequest | None = None
        #: The server's :class:`~wsproto_lite.Accept` (received or sent).
        self.response: Accept | None = None
        self._reject: Reject | None = None
        self._reject_body: list[bytes] = []
        self._reject_done = False
        self._failure: HandshakeFailed | None = None
        self._pings: dict[bytes, tuple[float, Settle]] = {}
        #: The last round trip measured by a ping, in seconds.
        self.latency = 0.0
        self._ping_due: float | None = None
        self._pong_deadline: float | None = None
        #: The close code once known (the peer's, ours on failure, or 1006).
        self.close_code: int | None = None
        #: The close reason that goes with :attr:`close_code`.
        self.close_reason = ""
        self._sent_close: tuple[int, str] | None = None
        # -- output (see the module's docstring)
        # Taken from the core, not yet taken by the adapter (a memoryview: the
        # part of a shared frame that a socket did not take, see unwritten()).
        self._out: list[bytes | memoryview] = []
        self._out_size = 0
        self._held = 0  # taken by the adapter, not yet handed to the kernel
        self._high = settings.write_limit
        self._low = settings.write_limit // 4
        self._blocked = False
        self._moved_at: float | None = None  # when blocked output last moved
        self._pong: bytes | None = None  # the pong held back while blocked
        # -- clocks
        self._open_deadline: float | None = None
        self._close_deadline: float | None = None
        self._close_now = False  # failed: close once the output is written
        #: A clock expired (opening, closing, output that does not move): the
        #: adapter aborts the transport now.
        self.must_abort = False
        #: The opening handshake timed out (a client raises :class:`TimeoutError`).
        self.open_timed_out = False

    @property
    def is_open(self) -> bool:
        """Whether messages may be sent."""
        return self.conn.state is _OPEN and not self.aborted

    def send(self, event: Event) -> bool:
        """Queue *event* in the core if the connection is open; return whether it was."""
        if not self.is_open:
            return False
        self.conn.send(event)
        self._pull()
        return True

    # -- output ---------------------------------------------------------------------

    def _pull(self) -> None:
        """Move what the core queued into the output."""
        conn = self.conn
        if conn.has_data_to_send:
            data = conn.data_to_send()
            self._out.append(data)
            self._out_size += len(data)
            if not self._blocked and self._out_size + self._held > self._high:
                self._blocked = True

    @property
    def has_output(self) -> bool:
        """Whether :meth:`take_output` would return anything."""
        return bool(self._out) or self.conn.has_data_to_send

    def take_output(self) -> bytes | memoryview:
        """Everything to write now, in order; the adapter owns it from here.

        Report what the transport still holds with :meth:`transport_holds`.
        """
        self._pull()
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        self._out = []
        self._out_size = 0
        return data

    def unwritten(self, data: bytes | memoryview) -> None:
        """Output the adapter took (:meth:`take_output`, or the core's own
        :meth:`~wsproto_lite.Connection.take_prepared`) and could not write,
        all or part of it: it goes first, before anything queued since, and
        counts towards ``write_limit`` as output waiting to be taken.

        A memoryview is kept as it is, not copied: the rest of a broadcast's
        shared frame stays one object for every connection that holds some.
        """
        if data:
            self._out.insert(0, data)
            self._out_size += len(data)
            if not self._blocked and self._out_size + self._held > self._high:
                self._blocked = True

    def transport_holds(self, held: int, now: float) -> None:
        """The transport still holds *held* bytes of what it took, at *now*.

        Less than last time means that the peer is reading.
        """
        if held < self._held:
            self._moved_at = now
        self._held = held
        backlog = held + self._out_size
        if self._blocked:
            if backlog <= self._low:
                self._blocked = False
                self._moved_at = None
                pong = self._pong
                if pong is not None:  # the peer reads again: the latest ping's pong
                    self._pong = None
                    self._out.append(pong)
                    self._out_size += len(pong)
        elif backlog > self._high:
            self._blocked = True
            self._moved_at = now

    def written(self, held: int, clock: Callable[[], float]) -> None:
        """:meth:`transport_holds` after a write, reading *clock* only when that
        can matter: not when the transport took everything and held nothing
        before, with the output not blocked (the usual case)."""
        if held or self._held or self._blocked:
            self.transport_holds(held, clock())

    @property
    def output_size(self) -> int:
        """Bytes waiting to be written: in the core, the session and the transport."""
        self._pull()
        return self._out_size + self._held

    @property
    def held_bytes(self) -> int:
        """Bytes held for this connection: output not written yet (here, in the
        core and in the transport, a pong held back included), input not
        parsed yet, and message parts the application has not taken."""
        pong = self._pong
        return (
            self.output_size
            + (len(pong) if pong is not None else 0)
            + self._unparsed
            + sum(len(part.data) for part in self.queue)
        )

    @property
    def output_blocked(self) -> bool:
        """Whether more than ``write_limit`` bytes wait to be written (then a
        quarter of it at most, since this last became true).

        While it is true senders wait, and pongs are held back (one at most).
        """
        return self._blocked

    # -- receiving ------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Hand the core bytes from the transport (``b""``: end of input)."""
        self.conn.receive_data(data)
        if data:
            self._unparsed += len(data)
        else:
            self._eof = True

    @property
    def reading_paused(self) -> bool:
        """Whether the adapter should stop reading its transport for now.

        True after the end of input, while a server's request waits for its
        answer, and while more than ``max_queue`` × 64 KiB wait unparsed behind
        a message the application has not taken.
        """
        water = self._high_water
        return (
            self._eof
            or self.pending_request is not None
            or (water is not None and self._unparsed > water)
        )

    @property
    def resume_at(self) -> float | None:
        """When parsing goes on by itself if the application does not ask first.

        ``None`` unless bytes wait unparsed behind a message the application
        took: the adapter then calls :meth:`process` at that time.
        """
        taken = self._taken_at
        if taken is None or self.queue or not self._unparsed or self.closing or self._eof:
            return None
        return taken + ANSWER_TIME

    @property
    def has_unparsed(self) -> bool:
        """Whether bytes wait in the core that parsing on could turn into events."""
        return self._unparsed > 0

    @property
    def pong_may_be_hidden(self) -> bool:
        """Whether a pong may wait unparsed behind a message the application holds up.

        The keepalive then neither pings nor gives up: the peer is evidently
        alive, and the delay is the application's.
        """
        return (bool(self.queue) or self._taken_at is not None) and self._unparsed > 0

    def process(self, now: float) -> bool:
        """Take events from the core as far as the application lets it.

        Parsing stops at a message part the application has not taken yet, and
        for :data:`ANSWER_TIME` after it took one unless it asks for more,
        and at a server's request until it is answered. *now* times the
        pongs. Returns whether receivers should look again: a part, a close
        or a handshake outcome arrived.
        """
        conn = self.conn
        woke = False
        self._pull()  # (so that what the core queues below is this step's)
        while self.pending_request is None:
            if not (self.closing or self._eof):  # (then no answer could be overtaken)
                taken = self._taken_at
                if self.queue or (taken is not None and now < taken + ANSWER_TIME):
                    # The application is answering what it took. When every
                    # byte was parsed, there is nothing to come back for.
                    if conn._needs_data():
                        self._unparsed = 0
                    break
            event = conn.next_event()
            if event is None:
                self._unparsed = 0
                break
            cls = event.__class__
            if cls is TextMessage or cls is BinaryMessage:
                woke = self._deliver(event) or woke  # type: ignore[arg-type]
            elif cls is Pong:
                self._on_pong(event.payload, now)  # type: ignore[attr-defined]
            elif cls is Close:
                self._on_close(event)  # type: ignore[arg-type]
                woke = True
            elif cls is Ping:
                if self._blocked:  # its pong (all the core queued): held back
                    self._pong = conn.data_to_send()
                else:
                    self._pull()
            else:
                self._on_handshake_event(event)
                woke = True
        self._pull()
        return woke

    def _deliver(self, part: Part) -> bool:
        if self.closing:
            # Read on for the peer's close reply; keep what fits in max_queue
            # and drop every later message (never a message in part).
            limit = self.settings.max_queue
            if self._dropping or (limit is not None and len(self.queue) >= limit):
                self._dropping = True
                return False
        self.queue.append(part)
        return True

    def take_part(self, now: float) -> Part | None:
        """The next message part for the application, taken at *now*, or ``None``.

        ``None`` means that the application asks for more: parsing may go on
        (call :meth:`process`).
        """
        queue = self.queue
        while queue:
            part = queue.pop(0)
            if not self._skip:
                self._taken_at = now
                return part
            if part.final:  # the end of an abandoned message
                self._skip = False
        self._taken_at = None
        return None

    def take_message(self, now: float) -> Data | None:
        """A whole message if one waits at the head of the queue (the fast path)."""
        queue = self.queue
        if queue and queue[0].final and not self._skip:
            self._taken_at = now
            return queue.pop(0).data
        return None

    def put_back(self, parts: Sequence[Part]) -> None:
        """Return *parts* taken by a receive that was cancelled: the next one gets them."""
        self.queue[:0] = parts

    def abandon_message(self) -> None:
        """The application stopped reading a message it had started: drop the rest."""
        self._skip = True

    # -- handshake ------------------------------------------------------------------

    def _on_handshake_event(self, event: Event) -> None:
        if isinstance(event, (Handshake, HTTPRequest)):
            self.pending_request = event
        elif isinstance(event, Accept):
            self.response = event
        elif isinstance(event, (Reject, RejectData)):
            if isinstance(event, Reject):
                self._reject = event
            if sum(map(len, self._reject_body)) < MAX_REJECT_BODY:
                self._reject_body.append(event.body)
            self._reject_done = event.final
        elif isinstance(event, HandshakeFailed):
            self._failure = event
            if not self.conn.client:
                self.logger.info("invalid opening handshake: %s", event.reason)

    @property
    def handshake_done(self) -> bool:
        """Whether the handshake has an outcome (for a server: a request to answer)."""
        return (
            self.response is not None
            or self.pending_request is not None
            or self._reject_done
            or self._failure is not None
        )

    def client_result(self) -> Accept:
        """The server's Accept; otherwise raise what went wrong.

        :raises InvalidHandshake: the server refused, answered something
            invalid, or the connection closed first.
        """
        if self.response is not None:
            return self.response
        reject = self._reject
        if reject is not None and self._reject_done:
            raise InvalidHandshake(
                f"the server rejected the WebSocket connection: HTTP {reject.status}",
                reject.status,
                reject.headers,
                b"".join(self._reject_body)[:MAX_REJECT_BODY],
            )
        if self._failure is not None:
            reason, status = self._failure.reason, self._failure.status
            raise InvalidHandshake(f"invalid handshake response: {reason}", status)
        raise InvalidHandshake("the connection closed during the opening handshake")

    def answer(self, result: object, error: Exception | None = None) -> bool:
        """Server: answer the pending request; return whether it was accepted.

        *result* is what ``process_request`` returned and *error* what it
        raised, if it did: either gets ``500`` (logged), ``None`` the default
        answer (:func:`default_answer`).
        """
        request = self.pending_request
        assert request is not None, "no request to answer"
        if error is not None:
            self.logger.error("process_request failed", exc_info=error)
            answer: Accept | Reject = internal_error()
        elif result is None:
            answer = default_answer(request, self.settings.subprotocols)
        elif isinstance(result, (Accept, Reject)):
            answer = result
        else:
            self.logger.error("process_request returned %r, not Accept/Reject/None", result)
            answer = internal_error()
        try:
            self.conn.send(answer)
        except LocalProtocolError:
            # E.g. Accept for a plain HTTP request, or an unoffered subprotocol.
            self.logger.exception("process_request returned an answer that cannot be sent")
            answer = internal_error()
            self.conn.send(answer)
        self.pending_request = None
        if isinstance(answer, Accept):
            self.response = answer
            self._pull()
            return True
        if not answer.final:
            self.conn.send(RejectData(final=True))  # one answer: end its body
        self._pull()
        method = request.method if isinstance(request, HTTPRequest) else "GET"
        self.logger.info("answered %s %s with HTTP %d", method, request.target, answer.status)
        return False

    # -- pings and keepalive --------------------------------------------------------

    def _new_payload(self) -> bytes:
        payload = os.urandom(4)
        while payload in self._pings:  # pragma: no cover - 1 in 4 billion
            payload = os.urandom(4)
        return payload

    def ping(self, data: DataLike | None, now: float, settle: Settle) -> bool:
        """Queue a ping sent at *now*; its pong calls *settle*. ``False`` if not open.

        *data* (``str`` is UTF-8 encoded) defaults to four random bytes that no
        other pending ping uses.

        :raises RuntimeError: a ping with the same data is already pending.
        :raises LocalProtocolError: *data* is over 125 bytes.
        """
        if data is None:
            payload = self._new_payload()
        else:
            payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            if payload in self._pings:
                raise RuntimeError("a ping with the same data is already waiting for its pong")
        if not self.is_open:
            return False
        self.conn.send(Ping(payload))
        self._pull()
        self._pings[payload] = (now, settle)
        return True

    def _on_pong(self, payload: bytes, now: float) -> None:
        pings = self._pings
        if payload not in pings:
            return  # unsolicited, or answers a ping already settled
        # A pong answers its ping and every earlier one (RFC 6455 §5.5.3; dicts keep order).
        for key in list(pings):
            sent, settle = pings.pop(key)
            settle(now - sent)
            if key == payload:
                self.latency = now - sent
                return

    def _keepalive_settled(self, result: float | ConnectionClosed) -> None:
        self._pong_deadline = None

    def keepalive(self, now: float) -> tuple[bool, float | None]:
        """Run the keepalive clock at *now*: ``(expired, when to call again)``.

        Queues a ping when one is due. When a pong is later than
        ``ping_timeout``, fails the connection with 1011 and returns
        ``expired``: the adapter then writes what it can and closes. ``None``
        as the time means never (keepalive off, or the connection closing).
        """
        interval, timeout = self.settings.ping_interval, self.settings.ping_timeout
        if interval is None or not self.is_open:
            return False, None
        hidden = self.pong_may_be_hidden
        due = self._ping_due
        if due is None:
            due = self._ping_due = now + interval
        deadline = self._pong_deadline
        if deadline is not None:  # our last ping waits for its pong
            if hidden and timeout is not None:
                deadline = self._pong_deadline = max(deadline, now + timeout)
            if now >= deadline:
                self.logger.info("keepalive ping timed out; closing the connection")
                self.fail(1011, "keepalive ping timeout")
                return True, None
            return False, deadline if now >= due else min(due, deadline)
        if now >= due:
            if not hidden:
                self.ping(None, now, self._keepalive_settled)
                if timeout is not None:
                    self._pong_deadline = now + timeout
            due = self._ping_due = now + interval
        return False, due if self._pong_deadline is None else min(due, self._pong_deadline)

    # -- clocks ---------------------------------------------------------------------

    def start_clock(self, now: float) -> None:
        """The transport exists from *now*: the opening timeout starts."""
        timeout = self.settings.open_timeout
        if timeout is not None and self.conn.state is _CONNECTING:
            self._open_deadline = now + timeout

    def tick(self, now: float) -> tuple[bool, float | None]:
        """Run every clock of the connection at *now*: ``(woke, when to call again)``.

        *woke*: parsing went on by itself (the answer time passed), and
        receivers should look again. The opening and closing timeouts and an
        output that does not move for ``close_timeout`` set
        :attr:`must_abort`; a keepalive timeout fails the connection (1011)
        and asks for the transport to be closed. Keepalive pings and close
        frames are queued here: write the output afterwards. ``None`` as the
        time means that no clock runs.
        """
        if self.aborted or self.must_abort:
            return False, None
        woke = False
        due: list[float] = []
        resume = self.resume_at
        if resume is not None and now >= resume:
            woke = self.process(now)
            resume = self.resume_at
        if resume is not None:
            due.append(resume)
        state = self.conn.state
        timeout = self.settings.close_timeout
        deadline = self._open_deadline
        if deadline is not None:
            if state is not _CONNECTING:
                self._open_deadline = None
            elif now >= deadline:
                self.logger.info("opening handshake timed out")
                self.open_timed_out = self.must_abort = True
                return woke, None
            else:
                due.append(deadline)
        if state is _OPEN:
            expired, wake_at = self.keepalive(now)
            if expired and self._blocked:
                # The close frame would wait behind output the peer does not
                # take: a peer that answers nothing is not waited for.
                self.must_abort = True
                return woke, None
            if wake_at is not None:
                due.append(wake_at)
        if timeout is not None:
            if self._blocked and self.is_open:
                moved = self._moved_at
                if moved is None:
                    moved = self._moved_at = now
                if now >= moved + timeout:
                    self.logger.info("the peer read nothing for %s s; failing it", timeout)
                    self.fail(1011, "the peer does not read")
                    self.must_abort = True
                    return woke, None
                due.append(moved + timeout)
            if self.closing or (state is not _OPEN and state is not _CONNECTING):
                # A closing handshake is under way, a failed connection or a
                # refused handshake is being written out, or a client waits
                # for the server to close TCP (RFC 6455 §7.1.1): not for ever.
                deadline = self._close_deadline
                if deadline is None:
                    deadline = self._close_deadline = now + timeout
                if now >= deadline:
                    self.logger.info("closing handshake timed out; closing the connection")
                    self.must_abort = True
                    return woke, None
                due.append(deadline)
        return woke, min(due) if due else None

    # -- closing --------------------------------------------------------------------

    def start_close(self, code: int, reason: str) -> None:
        """Queue a close frame if the connection is open; from now on read on for the reply.

        :raises LocalProtocolError: *code* or *reason* cannot be sent.
        """
        event = Close(code, reason)
        if self.is_open:
            self.conn.send(event)
            self._pull()
            self._sent_close = (code, reason)
        self.closing = True

    def fail(self, code: int, reason: str) -> None:
        """Close at once with *code*: it becomes :attr:`close_code` if the
        connection was open, and a close frame is queued; the adapter writes
        what it can and closes the transport (:attr:`should_close_transport`)."""
        if self.is_open:
            self.conn.send(Close(code, reason))
            self._pull()
            self._sent_close = (code, reason)
            if self.close_code is None:
                self.close_code, self.close_reason = code, reason
        self.closing = self._close_now = True

    @property
    def failed(self) -> bool:
        """Whether this side failed the connection (:meth:`fail`)."""
        return self._close_now

    @property
    def should_close_transport(self) -> bool:
        """Whether the adapter should close the transport once the output is written.

        The core says so (RFC 6455 §7.1.1: the server closes TCP first; a
        failed connection, a refused handshake, the end of input), or this
        side failed the connection (:meth:`fail`). The closing timeout of
        :meth:`tick` bounds the writing.
        """
        return self._close_now or self.conn.should_close_transport

    def _on_close(self, event: Close) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = event.code, event.reason
        if event.failed:
            self.logger.info("connection failed: %d %s", event.code, event.reason)

    def closed_exception(self) -> ConnectionClosed:
        """What ``recv()``/``send()`` raise once the connection is not open."""
        if self.close_code is not None:
            return ConnectionClosed.create(self.close_code, self.close_reason)
        if self._sent_close is not None:  # closing: our close frame says how
            return ConnectionClosed.create(*self._sent_close)
        return ConnectionClosedError(1006, "the connection was lost")

    def transport_closed(self) -> None:
        """The transport is closed: settle the close code and every pending ping."""
        self.aborted = self.closing = True
        self._out, self._out_size, self._held, self._blocked = [], 0, 0, False
        self._pong = None
        if self.close_code is None:
            self.close_code = 1006
            self.close_reason = "the connection closed without a closing handshake"
        error = self.closed_exception()
        pings, self._pings = self._pings, {}
        for _, settle in pings.values():
            settle(error)
        self.logger.debug("connection closed: %d %s", self.close_code, self.close_reason)
