"""Tests of wsproto_lite._states: the transition table is consistent, and the
Connection follows it."""

from __future__ import annotations

from collections import deque

import pytest

from wsproto_lite import Accept, Close, Connection, Handshake, Reject, RejectData, Role
from wsproto_lite._states import TRANSITIONS, ConnectionState, Trigger, next_state
from wsproto_lite.testing import ConnectionPair

S = ConnectionState
T = Trigger


def reachable(start: ConnectionState) -> set[ConnectionState]:
    seen = {start}
    todo = deque([start])
    while todo:
        state = todo.popleft()
        for (src, _), dst in TRANSITIONS.items():
            if src is state and dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return seen


def test_every_state_reachable_from_connecting() -> None:
    assert reachable(S.CONNECTING) == set(S)


def test_every_state_reaches_closed() -> None:
    for state in S:
        assert S.CLOSED in reachable(state)


def test_closed_is_terminal_except_eof() -> None:
    from_closed = {trigger: dst for (src, trigger), dst in TRANSITIONS.items() if src is S.CLOSED}
    assert from_closed == {T.EOF: S.CLOSED}
    assert reachable(S.CLOSED) == {S.CLOSED}


@pytest.mark.parametrize("state", [s for s in S if s is not S.CLOSED])
@pytest.mark.parametrize("trigger", [T.FAIL, T.EOF])
def test_peer_triggers_defined_everywhere(state: ConnectionState, trigger: Trigger) -> None:
    assert next_state(state, trigger) is S.CLOSED


def test_open_only_through_accept() -> None:
    into_open = {(src, trig) for (src, trig), dst in TRANSITIONS.items() if dst is S.OPEN}
    assert into_open == {(S.CONNECTING, T.SEND_ACCEPT), (S.CONNECTING, T.RECV_ACCEPT)}


def test_closing_only_by_sending_close_when_open() -> None:
    into_closing = {(src, trig) for (src, trig), dst in TRANSITIONS.items() if dst is S.CLOSING}
    assert into_closing == {(S.OPEN, T.SEND_CLOSE)}


def test_close_rules() -> None:
    assert next_state(S.OPEN, T.RECV_CLOSE) is S.CLOSED
    assert next_state(S.CLOSING, T.RECV_CLOSE) is S.CLOSED
    assert next_state(S.CLOSING, T.SEND_CLOSE) is None
    assert next_state(S.CONNECTING, T.SEND_CLOSE) is None
    assert next_state(S.CLOSED, T.SEND_CLOSE) is None


def test_rejecting_rules() -> None:
    for prefix in ("SEND", "RECV"):
        part, whole = T[f"{prefix}_REJECT_PART"], T[f"{prefix}_REJECT"]
        assert next_state(S.CONNECTING, part) is S.REJECTING
        assert next_state(S.REJECTING, part) is S.REJECTING
        assert next_state(S.CONNECTING, whole) is S.CLOSED
        assert next_state(S.REJECTING, whole) is S.CLOSED
        assert next_state(S.OPEN, whole) is None


def test_table_entries_are_well_typed() -> None:
    for (src, trigger), dst in TRANSITIONS.items():
        assert isinstance(src, S) and isinstance(trigger, T) and isinstance(dst, S)


#: The state machine as the RFC describes it, written out independently of the
#: module's table: for each state, the triggers allowed and where they lead
#: (RFC 6455 §4: the handshake; §7.1: closing and failing; HTTP's rejection).
SPEC = {
    S.CONNECTING: {
        T.SEND_ACCEPT: S.OPEN,
        T.RECV_ACCEPT: S.OPEN,
        T.SEND_REJECT_PART: S.REJECTING,
        T.RECV_REJECT_PART: S.REJECTING,
        T.SEND_REJECT: S.CLOSED,
        T.RECV_REJECT: S.CLOSED,
        T.FAIL: S.CLOSED,
        T.EOF: S.CLOSED,
    },
    S.REJECTING: {
        T.SEND_REJECT_PART: S.REJECTING,
        T.RECV_REJECT_PART: S.REJECTING,
        T.SEND_REJECT: S.CLOSED,
        T.RECV_REJECT: S.CLOSED,
        T.FAIL: S.CLOSED,
        T.EOF: S.CLOSED,
    },
    S.OPEN: {T.SEND_CLOSE: S.CLOSING, T.RECV_CLOSE: S.CLOSED, T.FAIL: S.CLOSED, T.EOF: S.CLOSED},
    S.CLOSING: {T.RECV_CLOSE: S.CLOSED, T.FAIL: S.CLOSED, T.EOF: S.CLOSED},
    S.CLOSED: {T.EOF: S.CLOSED},
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("trigger", list(T))
def test_next_state_follows_the_spec(state: ConnectionState, trigger: Trigger) -> None:
    assert next_state(state, trigger) is SPEC[state].get(trigger)


def test_every_trigger_is_used() -> None:
    assert {trigger for _, trigger in TRANSITIONS} == set(T)


# -- the connection walks the table ------------------------------------------------------------


def test_connection_walks_connecting_open_closing_closed() -> None:
    pair = ConnectionPair()
    assert pair.client.state is S.CONNECTING and pair.server.state is S.CONNECTING
    pair.client.send(Handshake(host="h"))
    pair.deliver_to_server()
    assert pair.server.state is S.CONNECTING
    pair.server.send(Accept())
    assert pair.server.state is S.OPEN
    pair.deliver_to_client()
    assert pair.client.state is S.OPEN
    pair.client.send(Close())
    assert pair.client.state is S.CLOSING
    pair.deliver_to_server()
    assert pair.server.state is S.CLOSED
    pair.deliver_to_client()
    assert pair.client.state is S.CLOSED


def test_connection_walks_rejecting() -> None:
    pair = ConnectionPair()
    pair.client.send(Handshake(host="h"))
    pair.deliver_to_server()
    pair.server.send(Reject(403, body=b"a", final=False))
    assert pair.server.state is S.REJECTING
    pair.server.send(RejectData(b"b", final=False))
    assert pair.server.state is S.REJECTING
    client_states = []
    pair.deliver_to_client(on_event=lambda _: client_states.append(pair.client.state))
    assert client_states == [S.REJECTING, S.REJECTING]
    pair.server.send(RejectData(b"c"))
    assert pair.server.state is S.CLOSED
    pair.deliver_to_client()
    assert pair.client.state is S.CLOSED


def test_connection_state_is_read_only() -> None:
    conn = Connection(Role.SERVER)
    with pytest.raises(AttributeError):
        conn.state = S.OPEN  # type: ignore[misc]
