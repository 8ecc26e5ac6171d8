"""The adapters' shared session (``wsproto_lite.adapters._session``), without sockets.

A server :class:`Session` talks to a client :class:`~wsproto_lite.Connection`
in memory; times are plain numbers passed in, as the adapters pass theirs.
The helpers of ``_common`` that every adapter uses are tested here too.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wsproto_lite import (
    Accept,
    BinaryMessage,
    Close,
    Connection,
    Handshake,
    HTTPRequest,
    Ping,
    Pong,
    Reject,
    RejectData,
    Role,
    TextMessage,
)
from wsproto_lite._errors import LocalProtocolError
from wsproto_lite._states import ConnectionState
from wsproto_lite.adapters import WebSocketError, _common
from wsproto_lite.adapters._common import parse_uri
from wsproto_lite.adapters._errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
)
from wsproto_lite.adapters._io_thread import MemoryTLS
from wsproto_lite.adapters._options import DEFAULTS, SERVER_DEFLATE, Options, Settings
from wsproto_lite.adapters._session import (
    ANSWER_TIME,
    MAX_REJECT_BODY,
    QUEUE_UNIT,
    Part,
    Session,
    call_handler,
    call_hook,
    fragment_event,
    handler_ended,
    join,
    last_fragment,
    message_event,
    pong_event,
)
from wsproto_lite.extensions.permessage_deflate import PerMessageDeflate

from .test_adapter_sync import tls_contexts
from .test_adapter_sync import tls_files as tls_files  # a fixture


def settings(
    side: str = "server", subprotocols: list[str] | None = None, **options: Any
) -> Settings:
    """The settings of *options*; compression off unless asked (plain frames)."""
    return Settings.create(f"test.{side}", {"compression": False, **options}, subprotocols)


def open_pair(**options: Any) -> tuple[Session, Connection]:
    """A server session past the handshake, and the client core talking to it."""
    session = Session(Role.SERVER, settings(**options))
    client = Connection(Role.CLIENT)
    client.send(Handshake(host="example.com"))
    session.receive_data(client.data_to_send())
    assert session.process(0.0)
    assert session.handshake_done and session.reading_paused  # until it is answered
    assert session.answer(None)
    assert not session.reading_paused
    client.receive_data(session.take_output())
    session.transport_holds(0, 0.0)  # as a transport says once it wrote it
    assert isinstance(client.next_event(), Accept)
    return session, client


def from_client(client: Connection, *events: Any) -> bytes:
    for event in events:
        client.send(event)
    return client.data_to_send()


def to_client(session: Session, client: Connection) -> list[Any]:
    client.receive_data(session.take_output())
    session.transport_holds(0, session.latency)  # written (the time does not matter)
    return list(client.events())


def take(session: Session, now: float) -> Any:
    """What a receiving application gets next: parse on until a part comes."""
    while (part := session.take_part(now)) is None:
        assert session.process(now), "nothing to take"
    return part


# -- options ----------------------------------------------------------------------------


def test_settings_apply_defaults() -> None:
    plain = settings("client", subprotocols=["chat"])
    assert plain.extensions == ()
    assert plain.subprotocols == ()  # a client offers them; it does not answer with them
    assert plain.logger.name == "wsproto_lite.test.client"
    assert settings(subprotocols=["chat"]).subprotocols == ("chat",)
    assert settings(compression=True).extensions == (SERVER_DEFLATE,)
    assert SERVER_DEFLATE.server_max_window_bits == SERVER_DEFLATE.client_max_window_bits == 12
    assert SERVER_DEFLATE.mem_level == 5
    client = settings("client", compression=True).extensions
    assert [type(e) for e in client] == [PerMessageDeflate]
    assert client[0].server_max_window_bits is None  # a client takes what the server says
    tuned = PerMessageDeflate(server_no_context_takeover=True)
    assert settings(compression=True, extensions=[tuned]).extensions == (tuned,)
    logger = logging.getLogger("mine")
    assert settings(logger=logger).logger is logger


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("open_timeout", -1),
        ("close_timeout", "10"),
        ("ping_timeout", True),
        ("ping_interval", 0),
        ("max_queue", 0),
        ("max_queue", 1.5),
        ("max_message_size", -1),
        ("write_limit", None),
    ],
)
def test_settings_refuse_bad_values(key: str, value: Any) -> None:
    with pytest.raises(ValueError, match=key):
        settings(**{key: value})


# -- the order of replies -----------------------------------------------------------------


def test_a_waiting_message_holds_back_the_close_reply() -> None:
    """Autobahn 7.1.1 in one segment: the echo goes out before the close reply."""
    session, client = open_pair()
    session.receive_data(from_client(client, TextMessage("hi"), Close(1000)))
    assert session.process(0.0)
    assert [p.data for p in session.queue] == ["hi"]
    # The close frame is not parsed: nothing is answered yet.
    assert session.conn.state is ConnectionState.OPEN
    assert not session.has_output
    assert session.take_part(0.0) == TextMessage("hi")
    # Taken, but the application has not asked for more: still held.
    assert not session.process(0.1)
    assert session.resume_at == ANSWER_TIME
    assert session.send(TextMessage("hi"))  # the application's answer
    assert session.take_part(0.2) is None  # it asks for more
    assert session.resume_at is None
    assert session.process(0.2)  # the close
    assert session.conn.state is ConnectionState.CLOSED
    assert session.close_code == 1000
    assert to_client(session, client) == [TextMessage("hi"), Close(1000)]
    assert not session.send(TextMessage("late"))


def test_a_message_that_ends_the_input_leaves_nothing_unparsed() -> None:
    """The driver need not parse again for the next message when the core has
    parsed every byte it was given (the usual request/response case)."""
    session, client = open_pair()
    session.receive_data(from_client(client, TextMessage("one")))
    assert session.process(0.0)
    assert not session.has_unparsed and session.resume_at is None
    assert session.take_part(0.0) == TextMessage("one")
    assert session.take_part(0.0) is None  # asks for more: nothing to parse on
    # Two messages in one chunk: the second waits unparsed behind the first.
    session.receive_data(from_client(client, TextMessage("two"), TextMessage("three")))
    assert session.process(1.0)
    assert session.has_unparsed
    assert session.take_part(1.0) == TextMessage("two")
    assert session.resume_at == 1.0 + ANSWER_TIME
    assert session.take_part(1.0) is None
    assert session.process(1.0)
    assert not session.has_unparsed
    assert session.take_part(1.0) == TextMessage("three")


def test_written_reads_the_clock_only_when_it_matters() -> None:
    session, _client = open_pair(write_limit=100)
    times: list[float] = []

    def clock() -> float:
        times.append(1.0)
        return 1.0

    session.written(0, clock)  # all taken, nothing held before: nothing to note
    assert times == [] and session.output_size == 0
    session.written(500, clock)  # held back: over write_limit, blocked since now
    assert times == [1.0] and session.output_blocked and session.output_size == 500
    session.written(0, clock)  # the peer read it all: unblocked
    assert times == [1.0, 1.0] and not session.output_blocked
    session.written(0, clock)
    assert len(times) == 2


def test_an_idle_application_still_answers_after_answer_time() -> None:
    session, client = open_pair()
    session.receive_data(from_client(client, TextMessage("one")))
    session.process(0.0)
    assert session.take_part(1.0) == TextMessage("one")
    session.receive_data(from_client(client, Ping(b"?"), Close(1001)))
    assert not session.process(1.0 + ANSWER_TIME / 2)
    assert session.pong_may_be_hidden
    assert session.resume_at == 1.0 + ANSWER_TIME
    assert session.process(1.0 + ANSWER_TIME)
    assert to_client(session, client) == [Pong(b"?"), Close(1001)]


def test_pings_are_answered_whenever_parsing_runs() -> None:
    session, client = open_pair()
    session.receive_data(from_client(client, Ping(b"1"), TextMessage("x"), Ping(b"2")))
    session.process(0.0)
    assert to_client(session, client) == [Pong(b"1")]  # the second waits behind "x"
    assert take(session, 0.0) == TextMessage("x")
    assert session.take_part(0.0) is None
    session.process(0.0)
    assert to_client(session, client) == [Pong(b"2")]


def test_reading_pauses_beyond_max_queue_units_of_unparsed_bytes() -> None:
    session, client = open_pair(max_queue=1)
    session.receive_data(from_client(client, BinaryMessage(b"first")))
    session.process(0.0)
    assert not session.reading_paused
    chunk = from_client(client, *[BinaryMessage(bytes(1000)) for _ in range(70)])
    assert len(chunk) > QUEUE_UNIT
    session.receive_data(chunk)
    assert not session.process(0.0)
    assert session.reading_paused and session.pong_may_be_hidden
    assert take(session, 0.0) == BinaryMessage(b"first")
    for _ in range(70):
        assert take(session, 0.0) == BinaryMessage(bytes(1000))
    assert session.take_part(0.0) is None
    assert not session.process(0.0)  # the core needs more: everything was parsed
    assert not session.reading_paused and not session.pong_may_be_hidden


def test_max_queue_none_never_pauses() -> None:
    session, client = open_pair(max_queue=None)
    session.receive_data(from_client(client, BinaryMessage(b"first")))
    session.process(0.0)
    session.receive_data(from_client(client, BinaryMessage(bytes(1 << 20))))
    assert not session.reading_paused


def test_closing_reads_past_unread_messages_and_keeps_max_queue() -> None:
    session, client = open_pair(max_queue=2)
    session.receive_data(from_client(client, *[TextMessage(str(i)) for i in range(5)]))
    session.process(0.0)
    assert len(session.queue) == 1
    session.start_close(1000, "bye")
    client.receive_data(session.take_output())
    assert list(client.events()) == [Close(1000, "bye")]  # the client replies on its own
    session.receive_data(client.data_to_send())
    assert session.process(0.0)
    assert session.conn.state is ConnectionState.CLOSED
    # Two kept (max_queue), the rest dropped: the reply was not held up.
    assert [p.data for p in session.queue] == ["0", "1"]
    assert session.close_code == 1000


def test_end_of_input_parses_everything() -> None:
    session, client = open_pair(max_queue=1)
    session.receive_data(from_client(client, *[TextMessage(str(i)) for i in range(3)]))
    session.process(0.0)
    session.receive_data(b"")
    assert session.reading_paused  # nothing more to read
    assert session.process(0.0)
    assert [p.data for p in session.queue] == ["0", "1", "2"]
    assert session.close_code == 1006


def test_abandoned_message_is_skipped() -> None:
    session, client = open_pair()
    data = from_client(
        client, TextMessage("a", False), TextMessage("b", False), TextMessage("c"), TextMessage("n")
    )
    session.receive_data(data)
    session.process(0.0)
    first = take(session, 0.0)
    assert first.data == "a" and not first.final
    session.abandon_message()
    assert take(session, 0.0) == TextMessage("n")


def test_put_back_and_take_message() -> None:
    session, client = open_pair()
    session.receive_data(from_client(client, BinaryMessage(b"a", False), BinaryMessage(b"b")))
    session.process(0.0)
    assert session.take_message(0.0) is None  # not whole
    parts = [take(session, 0.0), take(session, 0.0)]
    session.put_back(parts)
    assert list(session.queue) == parts
    assert join([session.take_part(0.0), session.take_part(0.0)]) == b"ab"  # type: ignore[list-item]
    session.receive_data(from_client(client, TextMessage("whole")))
    session.take_part(0.0)
    session.process(0.0)
    assert session.take_message(0.0) == "whole"


# -- pings and keepalive ------------------------------------------------------------------


def test_a_pong_answers_earlier_pings_and_measures_latency() -> None:
    session, client = open_pair()
    results: list[Any] = []
    assert session.ping(b"1", 1.0, results.append)
    assert session.ping("2", 2.0, results.append)
    with pytest.raises(RuntimeError):
        session.ping(b"1", 3.0, results.append)
    with pytest.raises(LocalProtocolError):
        session.ping(bytes(126), 3.0, results.append)
    assert to_client(session, client) == [Ping(b"1"), Ping(b"2")]
    session.receive_data(from_client(client, Pong(b"unsolicited"), Pong(b"2")))
    session.process(2.5)
    assert results == [1.5, 0.5]
    assert session.latency == 0.5
    assert session.ping(None, 3.0, results.append)  # four random bytes
    session.transport_closed()
    assert isinstance(results[-1], ConnectionClosedError) and results[-1].code == 1006
    assert not session.ping(None, 4.0, results.append)  # not open any more


def test_keepalive_pings_and_times_out() -> None:
    session, client = open_pair(ping_interval=10.0, ping_timeout=5.0)
    assert session.keepalive(0.0) == (False, 10.0)
    assert session.keepalive(10.0) == (False, 15.0)
    (ping,) = to_client(session, client)
    assert isinstance(ping, Ping)
    session.receive_data(from_client(client, Pong(ping.payload)))
    session.process(11.0)
    assert session.keepalive(11.0) == (False, 20.0)
    assert session.keepalive(20.0) == (False, 25.0)  # the next one
    to_client(session, client)
    assert session.keepalive(25.0) == (True, None)
    assert session.close_code == 1011
    assert to_client(session, client) == [Close(1011, "keepalive ping timeout")]
    assert session.keepalive(30.0) == (False, None)


def test_keepalive_does_not_blame_the_peer_for_an_application_that_does_not_read() -> None:
    session, client = open_pair(ping_interval=10.0, ping_timeout=5.0)
    session.keepalive(0.0)
    session.keepalive(10.0)
    (ping,) = to_client(session, client)
    client.data_to_send()  # (the client's own automatic pong: sent below, later)
    # A message the application does not read, and the pong behind it.
    session.receive_data(from_client(client, TextMessage("unread"), Pong(ping.payload)))
    session.process(11.0)
    assert session.pong_may_be_hidden
    assert session.keepalive(15.0) == (False, 20.0)  # not expired: the deadline moved
    assert session.keepalive(30.0) == (False, 35.0)
    assert take(session, 31.0) == TextMessage("unread")
    assert session.take_part(31.0) is None
    session.process(31.0)  # the pong, at last
    # Its interval is over: the next ping goes at once.
    assert session.keepalive(31.0) == (False, 36.0)
    assert [type(e) for e in to_client(session, client)] == [Ping]


def test_keepalive_without_timeout_only_pings() -> None:
    session, client = open_pair(ping_interval=1.0, ping_timeout=None)
    assert session.keepalive(0.0) == (False, 1.0)
    assert session.keepalive(1.0) == (False, 2.0)
    assert session.keepalive(2.0) == (False, 3.0)
    assert len(to_client(session, client)) == 2
    assert Session(Role.SERVER, settings(ping_interval=None)).keepalive(0.0) == (False, None)


# -- closing ------------------------------------------------------------------------------


def test_close_bookkeeping() -> None:
    session, client = open_pair()
    session.start_close(4000, "bye")
    error = session.closed_exception()  # closing: our close frame says how
    assert isinstance(error, ConnectionClosedError) and (error.code, error.reason) == (4000, "bye")
    assert to_client(session, client) == [Close(4000, "bye")]
    session.start_close(1000, "")  # again: nothing more is sent
    assert not session.has_output
    session.receive_data(client.data_to_send())
    session.process(0.0)
    assert (session.close_code, session.close_reason) == (4000, "")  # the code is echoed
    with pytest.raises(LocalProtocolError):
        open_pair()[0].start_close(1005, "")

    session, client = open_pair()
    session.fail(1011, "internal error")
    assert (session.close_code, session.close_reason) == (1011, "internal error")
    assert to_client(session, client) == [Close(1011, "internal error")]
    session.transport_closed()
    assert session.close_code == 1011 and session.aborted

    session, client = open_pair()
    session.transport_closed()
    error = session.closed_exception()
    assert isinstance(error, ConnectionClosedError) and error.code == 1006
    lost = Session(Role.CLIENT, settings("client")).closed_exception()
    assert lost.code == 1006 and lost.reason == "the connection was lost"


def test_a_failed_connection_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    session, _ = open_pair()
    session.receive_data(b"\x81\x05hello")  # unmasked: the client broke the protocol
    with caplog.at_level(logging.INFO, "wsproto_lite.test.server"):
        session.process(0.0)
    assert session.close_code == 1002
    assert isinstance(session.closed_exception(), ConnectionClosedError)
    assert any(
        r.levelno == logging.INFO and r.getMessage().startswith("connection failed: 1002")
        for r in caplog.records
    )


@pytest.mark.parametrize(("code", "ok"), [(1000, True), (1001, True), (1005, True), (1011, False)])
def test_closed_exception_class(code: int, ok: bool) -> None:
    session = Session(Role.CLIENT, settings("client"))
    session.close_code = code
    error = session.closed_exception()
    assert isinstance(error, ConnectionClosedOK if ok else ConnectionClosedError)


# -- the handshake ------------------------------------------------------------------------


def client_session() -> tuple[Session, Connection]:
    session = Session(Role.CLIENT, settings("client"))
    session.conn.send(Handshake(host="example.com"))
    server = Connection(Role.SERVER)
    server.receive_data(session.take_output())
    assert isinstance(server.next_event(), Handshake)
    return session, server


def test_client_result() -> None:
    session, server = client_session()
    assert not session.handshake_done
    with pytest.raises(InvalidHandshake, match="closed during the opening handshake"):
        session.client_result()
    server.send(Accept())
    session.receive_data(server.data_to_send())
    session.process(0.0)
    assert session.handshake_done
    assert isinstance(session.client_result(), Accept)
    assert session.client_result() is session.response

    session, server = client_session()
    server.send(Reject(403, [("X-Why", "token")], b"x" * MAX_REJECT_BODY, final=False))
    server.send(RejectData(b"more", final=True))
    session.receive_data(server.data_to_send())
    session.process(0.0)
    with pytest.raises(InvalidHandshake) as info:
        session.client_result()
    assert info.value.status == 403 and ("x-why", "token") in info.value.headers
    assert info.value.body == b"x" * MAX_REJECT_BODY  # what is kept of the body

    session, _ = client_session()
    session.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")  # no accept key
    session.process(0.0)
    with pytest.raises(InvalidHandshake, match="invalid handshake response"):
        session.client_result()


def server_session(**options: Any) -> tuple[Session, Connection]:
    session = Session(Role.SERVER, settings(**options))
    client = Connection(Role.CLIENT)
    return session, client


def ask(session: Session, client: Connection, request: Handshake | None) -> None:
    if request is None:
        session.receive_data(b"GET /page HTTP/1.1\r\nHost: example.com\r\n\r\n")
    else:
        session.receive_data(from_client(client, request))
    session.process(0.0)
    assert session.pending_request is not None


def test_server_default_answers() -> None:
    session, client = server_session(subprotocols=["chat.v2", "chat.v1"])
    ask(session, client, Handshake(host="example.com", subprotocols=["chat.v1", "chat.v2"]))
    assert session.answer(None)
    assert session.response is not None and session.response.subprotocol == "chat.v2"
    assert session.pending_request is None and not session.reading_paused

    session, client = server_session()
    ask(session, client, None)
    assert isinstance(session.pending_request, HTTPRequest)
    assert not session.answer(None)
    assert session.take_output().startswith(b"HTTP/1.1 426 ")


def test_server_answers_what_the_hook_returned(caplog: pytest.LogCaptureFixture) -> None:
    def answered(result: object, error: Exception | None = None, *, http: bool = False) -> bytes:
        session, client = server_session()
        ask(session, client, None if http else Handshake(host="example.com"))
        session.answer(result, error)
        assert session.conn.state is not ConnectionState.CONNECTING
        return session.take_output()

    with caplog.at_level(logging.INFO, "wsproto_lite.test.server"):
        assert answered(Reject(403, body=b"no")).startswith(b"HTTP/1.1 403 ")
        assert "answered GET / with HTTP 403" in caplog.text
        # A streamed body is ended: the answer is complete.
        assert answered(Reject(200, body=b"page", final=False), http=True).endswith(b"0\r\n\r\n")
        assert answered(None, RuntimeError("oops")).startswith(b"HTTP/1.1 500 ")
        assert "process_request failed" in caplog.text
        assert answered("yes").startswith(b"HTTP/1.1 500 ")
        assert "not Accept/Reject/None" in caplog.text
        assert answered(Accept(), http=True).startswith(b"HTTP/1.1 500 ")
        assert "cannot be sent" in caplog.text


def test_an_invalid_request_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    session, _ = server_session()
    session.receive_data(b"garbage\r\n\r\n")
    with caplog.at_level(logging.INFO, "wsproto_lite.test.server"):
        session.process(0.0)
    assert session.handshake_done and session.pending_request is None
    assert "invalid opening handshake" in caplog.text
    assert session.conn.should_close_transport


# -- helpers ------------------------------------------------------------------------------


def test_message_events() -> None:
    assert message_event("t") == TextMessage("t")
    for data in (b"b", bytearray(b"b"), memoryview(b"b")):
        assert message_event(data) == BinaryMessage(b"b")
    with pytest.raises(TypeError, match="send"):
        message_event(42)
    first = fragment_event("a", None)
    assert first == TextMessage("a", False)
    assert fragment_event("b", first) == TextMessage("b", False)
    with pytest.raises(TypeError, match="all fragments"):
        fragment_event(b"c", first)
    with pytest.raises(TypeError, match="fragments must be"):
        fragment_event(1, None)
    assert last_fragment(first) == TextMessage("")
    assert last_fragment(BinaryMessage(b"", False)) == BinaryMessage(b"")
    assert join([TextMessage("a", False), TextMessage("b")]) == "ab"
    assert join([BinaryMessage(b"x")]) == b"x"


def test_handler_ended(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.handler")
    assert handler_ended(logger, None) == (1000, "")
    assert handler_ended(logger, ConnectionClosed(1001)) == (1000, "")
    with caplog.at_level(logging.ERROR, "test.handler"):
        assert handler_ended(logger, ValueError("boom")) == (1011, "internal error")
    assert "connection handler failed" in caplog.text and "ValueError: boom" in caplog.text


def test_client_request_and_ssl() -> None:
    uri, request = _common.client_request(
        "wss://example.com:8443/chat?room=1", ["chat"], {"X-Token": "t"}, "https://example.com"
    )
    assert (uri.host, uri.port, uri.secure) == ("example.com", 8443, True)
    assert request.host == "example.com:8443" and request.target == "/chat?room=1"
    assert request.headers == (("X-Token", "t"),) and request.subprotocols == ("chat",)
    assert _common.client_request("ws://h/", None, [("A", "b")], None)[1].headers == (("A", "b"),)
    with pytest.raises(InvalidURI):
        _common.client_request("http://example.com/", None, None, None)
    plain, secure = parse_uri("ws://h/"), parse_uri("wss://h/")
    assert _common.client_ssl(plain, None) is None
    assert _common.client_ssl(plain, False) is None
    assert isinstance(_common.client_ssl(secure, None), ssl.SSLContext)
    context = ssl.create_default_context()
    assert _common.client_ssl(secure, context) is context
    with pytest.raises(ValueError, match="ssl"):
        _common.client_ssl(plain, True)
    with pytest.raises(ValueError, match="ssl=False"):
        _common.client_ssl(secure, False)


def test_the_options_are_declared_once_with_a_default_and_a_docstring_each() -> None:
    assert set(DEFAULTS) == set(Options.__annotations__)
    defaults = Settings.create("test.server", {})
    assert defaults.open_timeout == defaults.close_timeout == 10.0
    assert (defaults.ping_interval, defaults.ping_timeout) == (20.0, 20.0)
    assert (defaults.max_message_size, defaults.max_queue) == (1 << 20, 16)
    assert defaults.write_limit == 1 << 16 and defaults.extensions == (SERVER_DEFLATE,)
    with pytest.raises(TypeError, match="serve\\(\\) got an unexpected keyword argument 'timeout'"):
        Settings.create("test.server", {"timeout": 1})
    with pytest.raises(TypeError, match="connect\\(\\)"):
        Settings.create("test.client", {"max_size": 1})
    ours, others = Settings.split({"open_timeout": 1, "backlog": 5})
    assert (ours, others) == ({"open_timeout": 1}, {"backlog": 5})
    # Every adapter takes them by keyword, and refuses what is not one.
    from wsproto_lite.adapters import sync

    with pytest.raises(TypeError, match="unexpected keyword argument 'max_size'"):
        sync.connect("ws://127.0.0.1:1/", max_size=1)  # type: ignore[call-arg]


# -- output: write_limit, the pong held back, a peer that reads nothing ---------------------


def test_output_is_blocked_above_write_limit_until_a_quarter_of_it() -> None:
    session, client = open_pair(write_limit=1000)
    assert not session.output_blocked and session.output_size == 0
    assert session.send(BinaryMessage(bytes(900)))
    assert session.output_size == 904 and not session.output_blocked
    data = session.take_output()
    assert len(data) == 904
    session.transport_holds(904, 1.0)  # the transport took it all, wrote nothing yet
    assert not session.output_blocked
    assert session.send(BinaryMessage(bytes(200)))
    assert session.output_blocked  # 904 + 204 > 1000
    assert session.output_size == 1108
    data += session.take_output()
    session.transport_holds(904 + 204, 2.0)
    session.transport_holds(300, 3.0)  # still over a quarter (250)
    assert session.output_blocked
    session.transport_holds(250, 4.0)
    assert not session.output_blocked
    assert session.output_size == 250
    # What the output held is what the client gets, in order.
    assert session.take_output() == b""
    client.receive_data(data)
    assert [len(e.data) for e in client.events()] == [900, 200]


def test_while_blocked_only_the_latest_pong_is_kept() -> None:
    """RFC 6455 §5.5.3: an endpoint MAY answer only the most recent of several pings."""
    session, client = open_pair(write_limit=100)
    assert session.send(BinaryMessage(bytes(200)))
    session.transport_holds(len(session.take_output()), 0.0)  # nothing written yet
    assert session.output_blocked
    pings = [Ping(b"%d" % i) for i in range(1000)]
    session.receive_data(from_client(client, *pings))
    session.process(1.0)
    assert not session.has_output  # no pong queued: one held back
    assert session.held_bytes == 204 + 5  # the message, and the pong of ping 999
    session.transport_holds(0, 2.0)  # the peer read everything
    assert not session.output_blocked
    client.receive_data(session.take_output())
    assert list(client.events()) == [Pong(b"999")]


def test_pongs_are_queued_as_usual_while_the_output_moves() -> None:
    session, client = open_pair(write_limit=1000)
    session.receive_data(from_client(client, Ping(b"a"), Ping(b"b")))
    session.process(0.0)
    assert to_client(session, client) == [Pong(b"a"), Pong(b"b")]


def test_reading_goes_on_while_the_output_is_blocked() -> None:
    # A peer that stopped reading because its own output is blocked must not
    # be stopped in turn: messages are still parsed and delivered.
    session, client = open_pair(write_limit=10)
    assert session.send(TextMessage("x" * 100))
    session.transport_holds(len(session.take_output()), 0.0)
    assert session.output_blocked and not session.reading_paused
    session.receive_data(from_client(client, TextMessage("in")))
    assert session.process(0.0)
    assert take(session, 0.0) == TextMessage("in")


def test_a_peer_that_takes_nothing_for_close_timeout_is_failed() -> None:
    session, _ = open_pair(write_limit=100, close_timeout=5.0, ping_interval=None)
    assert session.tick(0.0) == (False, None)  # no clock runs
    assert session.send(BinaryMessage(bytes(1000)))
    session.transport_holds(len(session.take_output()), 1.0)
    assert session.tick(1.0) == (False, 6.0)  # the output's clock
    session.transport_holds(900, 4.0)  # the peer read a little: the clock restarts
    assert session.tick(4.0) == (False, 9.0)
    assert not session.must_abort
    assert session.tick(9.0) == (False, None)
    assert session.must_abort
    assert (session.close_code, session.close_reason) == (1011, "the peer does not read")
    assert session.failed and session.should_close_transport
    assert session.tick(10.0) == (False, None)  # nothing more to do


def test_the_output_clock_stops_once_the_peer_reads() -> None:
    session, _ = open_pair(write_limit=100, close_timeout=5.0, ping_interval=None)
    assert session.send(BinaryMessage(bytes(1000)))
    session.transport_holds(len(session.take_output()), 0.0)
    assert session.tick(0.0) == (False, 5.0)
    session.transport_holds(0, 3.0)
    assert session.tick(3.0) == (False, None)
    assert session.tick(100.0) == (False, None) and not session.must_abort


def test_a_keepalive_timeout_behind_blocked_output_aborts_at_once() -> None:
    session, client = open_pair(write_limit=100, ping_interval=1.0, ping_timeout=1.0)
    assert session.tick(0.0) == (False, 1.0)
    assert session.tick(1.0) == (False, 2.0)  # a ping, then its pong's deadline
    to_client(session, client)
    assert session.send(BinaryMessage(bytes(1000)))
    session.transport_holds(len(session.take_output()), 1.5)
    assert session.tick(2.0) == (False, None)
    assert session.must_abort and session.close_code == 1011


def test_a_keepalive_timeout_asks_to_write_the_close_frame_then_close() -> None:
    session, client = open_pair(ping_interval=1.0, ping_timeout=1.0, close_timeout=3.0)
    session.tick(0.0)
    session.tick(1.0)
    to_client(session, client)
    assert session.tick(2.0) == (False, 5.0)  # failed: the closing timeout runs
    assert session.should_close_transport and not session.must_abort
    assert to_client(session, client) == [Close(1011, "keepalive ping timeout")]
    assert session.tick(5.0) == (False, None) and session.must_abort


# -- the other clocks ---------------------------------------------------------------------


def test_the_opening_timeout() -> None:
    session = Session(Role.SERVER, settings(open_timeout=2.0))
    session.start_clock(10.0)
    assert session.tick(10.0) == (False, 12.0)
    assert session.tick(12.0) == (False, None)
    assert session.must_abort and session.open_timed_out
    done = Session(Role.SERVER, settings(open_timeout=2.0, ping_interval=None))
    done.start_clock(0.0)
    client = Connection(Role.CLIENT)
    client.send(Handshake(host="example.com"))
    done.receive_data(client.data_to_send())
    done.process(1.0)
    assert done.tick(1.0) == (False, 2.0)  # the request waits for its answer: still
    done.answer(None)
    assert done.tick(1.5) == (False, None)  # OPEN: the opening timeout is over
    assert done.tick(5.0) == (False, None) and not done.must_abort
    never = Session(Role.SERVER, settings(open_timeout=None))
    never.start_clock(0.0)
    assert never.tick(100.0) == (False, None)


def test_the_closing_timeout() -> None:
    session, client = open_pair(close_timeout=3.0, ping_interval=None)
    session.start_close(1000, "bye")
    assert session.tick(1.0) == (False, 4.0)
    assert session.tick(3.9) == (False, 4.0)
    assert session.tick(4.0) == (False, None) and session.must_abort
    # A peer that answers in time ends it before.
    session, client = open_pair(close_timeout=3.0, ping_interval=None)
    session.start_close(1000, "bye")
    assert session.tick(1.0) == (False, 4.0)
    client.receive_data(session.take_output())
    client.next_event()
    session.receive_data(client.data_to_send())  # the client's reply
    session.process(2.0)
    assert session.should_close_transport  # the server closes TCP first
    assert session.tick(2.0) == (False, 4.0)  # (the transport bounds its writing)
    # Without a closing timeout, nothing times out.
    session, _ = open_pair(close_timeout=None, ping_interval=None)
    session.start_close(1000, "")
    assert session.tick(1000.0) == (False, None)


def test_the_answer_time_runs_on_the_clock() -> None:
    session, client = open_pair(ping_interval=None)
    session.receive_data(from_client(client, TextMessage("one"), Ping(b"p")))
    assert take(session, 0.0) == TextMessage("one")
    assert session.tick(0.1) == (False, 0.5)  # the application may still answer
    assert session.tick(0.5) == (False, None)  # it did not: the ping is answered
    assert to_client(session, client) == [Pong(b"p")]


def test_no_clock_runs_once_the_transport_is_gone() -> None:
    session, _ = open_pair(ping_interval=1.0, close_timeout=1.0)
    session.transport_closed()
    assert session.tick(0.0) == (False, None)
    assert session.output_size == 0 and not session.output_blocked


def test_the_adapters_exceptions_share_one_base() -> None:
    for error in (
        ConnectionClosed.create(1000),
        ConnectionClosed.create(1011),
        InvalidHandshake("refused", 403),
        InvalidURI("not a WebSocket URI"),
    ):
        assert isinstance(error, WebSocketError)
    assert issubclass(InvalidURI, ValueError)  # as before: a bad argument
    from wsproto_lite.adapters import asyncio, sync, trio

    for adapter in (asyncio, sync, trio):
        assert adapter.WebSocketError is WebSocketError
        assert adapter.ConnectionClosed is ConnectionClosed


# -- what asyncio and trio share (AsyncWebSocketBase), with an in-memory "adapter" --------


class MemoryWebSocket(_common.AsyncWebSocketBase[_common.AwaitablePongWaiter]):
    """The shared async WebSocket over a session and nothing else: parts come
    when the test feeds the session, output is collected, and "waiting" is
    one turn of the event loop."""

    __slots__ = ("_local_address", "_remote_address", "_session", "failed", "stall", "written")
    _Lock = asyncio.Lock
    _PongWaiter = staticmethod(lambda: _common.AwaitablePongWaiter(asyncio.Event()))
    _streaming = None
    _now = staticmethod(lambda: 5.0)

    def __init__(self, session: Session) -> None:
        self._session = session
        self._remote_address = self._local_address = None
        self._recv_active = False
        self._send_lock = None
        self.failed: tuple[int, str] | None = None
        self.written: list[bytes] = []
        #: Sends wait for ever once this many writes were made (output blocked).
        self.stall: int | None = None

    async def _next_part(self) -> Part:
        session = self._session
        for _ in range(100):  # (a bug here must fail the test, not hang it)
            part = session.take_part(self._now())
            if part is not None:
                return part
            if not session.process(self._now()):
                if session.aborted or session.close_code is not None:
                    raise session.closed_exception()
                await asyncio.sleep(0)
        raise AssertionError("no part came")

    async def _send(self, queue: Callable[[], bool]) -> None:
        if not queue():
            raise self._session.closed_exception()
        self.written.append(self._session.take_output())
        await asyncio.sleep(0)
        if self.stall is not None and len(self.written) >= self.stall:
            await asyncio.Event().wait()  # the peer does not read

    def _fail(self, code: int, reason: str) -> None:
        self.failed = (code, reason)
        self._session.fail(code, reason)
        self.written.append(self._session.take_output())  # the close frame


def memory_ws() -> tuple[MemoryWebSocket, Connection]:
    session, client = open_pair()
    return MemoryWebSocket(session), client


def written_events(ws: MemoryWebSocket, client: Connection) -> list[Any]:
    data = b"".join(ws.written)
    ws.written.clear()
    if data:  # (b"" would be the end of input)
        client.receive_data(data)
    return list(client.events())


def test_recv_collects_a_message_and_a_cancelled_recv_loses_nothing() -> None:
    async def main() -> None:
        ws, client = memory_ws()
        session = ws._session
        session.receive_data(from_client(client, TextMessage("whole")))
        session.process(0.0)
        assert await ws.recv() == "whole"  # the fast path: no waiting
        session.receive_data(from_client(client, TextMessage("a", False)))
        task = asyncio.create_task(ws.recv())
        for _ in range(5):
            await asyncio.sleep(0)  # it took "a" and waits for the rest
        assert ws._recv_active and not session.queue
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not ws._recv_active and session.queue == [TextMessage("a", False)]
        session.receive_data(from_client(client, TextMessage("b")))
        assert await ws.recv() == "ab"
        ws._recv_active = True  # another task receives
        with pytest.raises(RuntimeError, match="already receiving"):
            await ws.recv()
        ws._recv_active = False
        session.receive_data(from_client(client, BinaryMessage(b"x"), Close(1000, "bye")))
        assert [message async for message in ws] == [b"x"]  # ends on a normal close
        ws2, client2 = memory_ws()
        ws2._session.receive_data(from_client(client2, Close(1011, "oops")))
        with pytest.raises(ConnectionClosedError):
            async for _ in ws2:
                pass

    asyncio.run(main())


def test_send_fragments_frames_one_message_and_fails_it_if_cut_short() -> None:
    async def main() -> None:
        ws, client = memory_ws()
        session = ws._session
        seen: list[bool] = []

        async def parts() -> Any:
            for part in (b"1", b"2"):
                seen.append(session.sending_fragments)  # broadcast() may not slip in
                yield part

        await ws.send_fragments(parts())
        assert seen == [True, True] and not session.sending_fragments
        assert len(ws.written) == 3  # a frame each as it came, then the final one
        assert written_events(ws, client) == [BinaryMessage(b"12")]
        await ws.send_fragments([])  # nothing at all
        assert written_events(ws, client) == []
        with pytest.raises(TypeError, match="all fragments"):
            await ws.send_fragments(["text", b"bytes"])
        assert ws.failed == (1011, "error while sending a fragmented message")
        assert len(ws.written) == 2  # "text", then the close frame of the failure
        assert written_events(ws, client) == [
            Close(1011, "error while sending a fragmented message")
        ]
        assert not session.sending_fragments
        with pytest.raises(ConnectionClosedError):
            await ws.send_fragments(["after"])

        ws, client = memory_ws()
        with pytest.raises(TypeError, match="fragments must be"):
            await ws.send_fragments([42])  # type: ignore[list-item]  # nothing sent: no failure
        assert ws.failed is None and written_events(ws, client) == []

    asyncio.run(main())


def test_send_fragments_cancelled_mid_message_fails_it_but_not_once_whole() -> None:
    async def cancelled_after(ws: MemoryWebSocket, writes: int, parts: list[bytes]) -> None:
        ws.stall = writes
        task = asyncio.create_task(ws.send_fragments(parts))
        while len(ws.written) < writes:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not ws._session.sending_fragments and not ws._send_lock.locked()

    async def main() -> None:
        ws, client = memory_ws()
        await cancelled_after(ws, 1, [b"1", b"2"])  # waiting after the first part
        assert ws.failed == (1011, "error while sending a fragmented message")
        ws, client = memory_ws()
        await cancelled_after(ws, 3, [b"1", b"2"])  # waiting after the final frame
        assert ws.failed is None and ws._session.is_open
        assert written_events(ws, client) == [BinaryMessage(b"12")]

    asyncio.run(main())


def test_ping_and_pong_through_the_shared_base() -> None:
    async def main() -> None:
        ws, client = memory_ws()
        session = ws._session
        waiter = await ws.ping(b"p")
        await ws.pong("heartbeat")
        assert written_events(ws, client) == [Ping(b"p"), Pong(b"heartbeat")]
        assert not waiter.is_set()
        session.receive_data(from_client(client, Pong(b"p")))
        session.process(7.0)  # sent at 5.0 (the adapter's clock)
        assert await waiter == 2.0 and ws.latency == 2.0
        waiter = await ws.ping()
        session.transport_closed()
        with pytest.raises(ConnectionClosedError):
            await waiter
        with pytest.raises(ConnectionClosedError):
            await ws.ping()
        with pytest.raises(ConnectionClosedError):
            await ws.pong()

    asyncio.run(main())


def test_process_request_and_the_handler_run_the_same_way_everywhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = Handshake(host="example.com")
    accept = Accept()

    async def later(_: object) -> Accept:
        await asyncio.sleep(0)
        return accept

    def fails(_: object) -> None:
        raise ValueError("boom")

    async def fails_later(_: object) -> None:
        raise ValueError("later")

    assert call_hook(None, request) == (None, None)
    assert call_hook(lambda r: accept, request) == (accept, None)
    result, error = call_hook(fails, request)
    assert result is None and isinstance(error, ValueError)
    assert asyncio.run(_common.await_hook(None, request)) == (None, None)
    assert asyncio.run(_common.await_hook(lambda r: accept, request)) == (accept, None)
    assert asyncio.run(_common.await_hook(later, request)) == (accept, None)
    for hook in (fails, fails_later):
        result, error = asyncio.run(_common.await_hook(hook, request))
        assert result is None and isinstance(error, ValueError)

    logger = logging.getLogger("test.handler")

    def closed(ws: object) -> None:
        raise ConnectionClosedOK(1000)

    with caplog.at_level(logging.ERROR, "test.handler"):
        assert call_handler(lambda ws: None, None, logger) == (1000, "")
        assert call_handler(closed, None, logger) == (1000, "")
        assert caplog.text == ""
        assert call_handler(fails, None, logger) == (1011, "internal error")
        assert "ValueError: boom" in caplog.text


def test_a_client_session_and_its_timeout() -> None:
    parsed, context, session = _common.client_session(
        "ws://example.com/chat?token=secret", ["chat"], None, None, None, settings("client")
    )
    assert context is None and parsed.resource == "/chat?token=secret"
    assert session.conn.client and session.has_output
    request = session.take_output()
    assert request.startswith(b"GET /chat?token=secret HTTP/1.1\r\n")
    assert b"\r\nsec-websocket-protocol: chat\r\n" in request.lower()
    with pytest.raises(InvalidURI):
        _common.client_session("http://x/", None, None, None, None, settings("client"))
    error = _common.open_timeout_error(parse_uri("wss://example.com:8443/?token=secret"), 2.5)
    assert isinstance(error, TimeoutError)
    assert str(error) == (
        "timed out after 2.5 s while opening the connection to wss://example.com:8443"
    )


def test_pong_event() -> None:
    assert pong_event("é") == Pong("é".encode())
    assert pong_event(memoryview(b"m")) == Pong(b"m")
    assert pong_event(b"") == Pong(b"")


# -- the blocking adapter's TLS over memory buffers --------------------------------------


def shuttle(a: MemoryTLS, b: MemoryTLS) -> list[tuple[bytes, bool]]:
    """Carry what each side has to write to the other until neither has any:
    what *b*, then *a*, decrypted meanwhile."""
    got = []
    for _ in range(20):
        out = a.take()
        if out:
            got.append(b.receive(out))
        back = b.take()
        if back:
            got.append(a.receive(back))
        if not out and not back:
            return got
    raise AssertionError("the two ends never settled")


def test_memory_tls_carries_a_handshake_and_data_without_sockets(
    tls_files: tuple[Path, Path],
) -> None:
    server_ctx, client_ctx = tls_contexts(tls_files)
    logger = logging.getLogger("test.tls")
    client = MemoryTLS(client_ctx, "127.0.0.1", logger)
    server = MemoryTLS(server_ctx, None, logger)
    assert server.server_side and not client.server_side
    assert not client.ready and client.take() == b""
    client.handshake()  # the client speaks first
    assert not client.ready and client.error is None
    assert all(received == (b"", False) for received in shuttle(client, server))
    assert client.ready and server.ready and client.error is server.error is None
    client.write(memoryview(b"hello"))
    client.write(memoryview(b" world"))
    assert [plain for plain, _ in shuttle(client, server) if plain] == [b"hello world"]
    assert server.receive(b"") == (b"", True)  # the socket's end of input
    # A client that does not trust the certificate: the handshake fails, and
    # the error is what connect() raises.
    untrusting = MemoryTLS(ssl.create_default_context(), "127.0.0.1", logger)
    server = MemoryTLS(server_ctx, None, logger)
    untrusting.handshake()
    received = shuttle(untrusting, server)
    assert received[-1] == (b"", True)  # the client's end: its alert went to the server
    assert isinstance(untrusting.error, ssl.SSLCertVerificationError) and not untrusting.ready
    assert untrusting.receive(b"more")[1]  # failed: the input is over
