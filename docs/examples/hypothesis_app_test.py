"""Testing a WebSocket application with hypothesis and wsproto_lite.testing.

The application under test is sans-I/O too: it reacts to events by sending
events. A ConnectionPair plays the network, so the tests need no sockets, and
hypothesis generates the traffic, including how the bytes are chunked.

Run it as a script, or collect it with pytest.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from wsproto_lite import BinaryMessage, Close, ConnectionState, Event, TextMessage
from wsproto_lite.testing import ConnectionPair, messages


class ShoutingEcho:
    """The application: echoes text in capitals; binary data ends the connection."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def on_event(self, event: Event) -> None:
        if self.conn.state is not ConnectionState.OPEN:
            return  # closing: the peer's late messages get no answer
        if isinstance(event, TextMessage):
            self.conn.send(TextMessage(event.data.upper()))
        elif isinstance(event, BinaryMessage):
            self.conn.send(Close(1003, "text only"))


class NaiveShoutingEcho(ShoutingEcho):
    """The same without the state check: hypothesis finds what goes wrong."""

    def on_event(self, event: Event) -> None:
        if isinstance(event, TextMessage):
            self.conn.send(TextMessage(event.data.upper()))
        elif isinstance(event, BinaryMessage):
            self.conn.send(Close(1003, "text only"))


def expected_replies(sent: list) -> list:
    replies = []
    for message in sent:
        if isinstance(message, BinaryMessage):
            replies.append(Close(1003, "text only"))
            break
        replies.append(TextMessage(message.data.upper()))
    return replies


def check(app_class, sent, chunk_size) -> None:
    pair = ConnectionPair.open(chunk_size=chunk_size)
    app = app_class(pair.server)
    for message in sent:
        pair.client.send(message)
    pair.deliver_to_server(on_event=app.on_event)  # the app answers as events are parsed
    assert pair.deliver_to_client() == expected_replies(sent)


# database=None: an example should not leave a .hypothesis directory behind.
@settings(database=None, max_examples=200)
@given(st.lists(messages(max_size=100), max_size=8), st.integers(1, 64))
def test_shouting_echo(sent, chunk_size) -> None:
    check(ShoutingEcho, sent, chunk_size)


@settings(database=None, max_examples=200, derandomize=True)
@given(st.lists(messages(max_size=100), max_size=8), st.integers(1, 64))
def test_naive_shouting_echo(sent, chunk_size) -> None:
    check(NaiveShoutingEcho, sent, chunk_size)


if __name__ == "__main__":
    test_shouting_echo()
    print("ShoutingEcho: no counterexample")
    try:
        test_naive_shouting_echo()
    except Exception as exc:  # the error of the smallest example (a group if several)
        for error in getattr(exc, "exceptions", [exc]):
            print(f"NaiveShoutingEcho: {type(error).__name__}: {error}")
    else:
        raise SystemExit("hypothesis should have found the bug in NaiveShoutingEcho")
