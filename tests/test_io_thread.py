"""The blocking adapter's I/O thread (``wsproto_lite.adapters._io_thread``): its timers.

The loop's timers are driven by hand here (:meth:`Loop.timer` and
:meth:`Loop.expire` with plain numbers as times), without starting its thread
and without sockets; the connections are stand-ins that record their ticks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto_lite.adapters._io_thread import Loop


class FakeLink:
    """A connection as the loop sees it; a tick may set the next timer."""

    def __init__(self, loop: Loop, ticks: list[tuple[FakeLink, float]]) -> None:
        self._sock: Any = None
        self._timer_at: float | None = None
        self._lock = threading.Lock()
        self.loop = loop
        self.ticks = ticks
        self.then: list[float] = []  # timers to set from the ticks, in turn
        self.now = 0.0  # what expire() was called with

    def _tick(self) -> None:
        self.ticks.append((self, self.now))
        if self.then:
            self.loop.timer(self, self.then.pop(0))

    def _ready(self, mask: int) -> None:  # pragma: no cover - no sockets here
        raise AssertionError("no socket events without sockets")

    def _close_transport(self) -> None:  # pragma: no cover - never closed here
        raise AssertionError("not closed here")


@pytest.fixture
def loop() -> Iterator[Loop]:
    loop = Loop("test loop", linger=True)
    yield loop
    loop.start()  # (it stops at once, and closes its selector and wake-up sockets)
    loop.stop()


def test_a_timer_set_as_the_heap_is_pruned_is_kept(loop: Loop) -> None:
    # One connection's deadline moves on and on (a slow reader that takes a
    # little at a time): its replaced timers pile up until the heap is pruned.
    # The timer of a connection that arrives just then must survive the prune
    # (it was dropped: a slowloris client then outlived open_timeout).
    ticks: list[tuple[FakeLink, float]] = []
    links = [FakeLink(loop, ticks) for _ in range(10)]
    for link in links:
        loop.attach(link)
    busy = links[0]
    for i in range(Loop._prune_above):
        loop.timer(busy, 100.0 + i)
    assert len(loop._timers) == Loop._prune_above  # not pruned yet
    new = FakeLink(loop, ticks)
    loop.attach(new)
    loop.timer(new, 1.0)  # one more entry: the heap is pruned
    assert len(loop._timers) == 2  # the two live timers, nothing else
    loop.expire(50.0)
    assert ticks == [(new, 0.0)]
    loop.expire(1000.0)
    assert [link for link, _ in ticks] == [new, busy]
    assert busy._timer_at is None and new._timer_at is None
    loop.expire(10_000.0)
    assert len(ticks) == 2  # each timer fired once; the replaced ones never


def test_replaced_and_cleared_timers_do_not_fire(loop: Loop) -> None:
    ticks: list[tuple[FakeLink, float]] = []
    a, b, c = (FakeLink(loop, ticks) for _ in range(3))
    for link in (a, b, c):
        loop.attach(link)
    loop.timer(a, 5.0)
    loop.timer(a, 2.0)  # earlier
    loop.timer(b, 1.0)
    loop.timer(b, 3.0)  # later
    loop.timer(c, 4.0)
    loop.timer(c, None)  # cleared
    loop.timer(a, 2.0)  # the same again: nothing changes
    loop.expire(1.5)
    assert ticks == []
    loop.expire(10.0)
    assert [link for link, _ in ticks] == [a, b]
    loop.timer(c, 20.0)
    loop.detach(c, 0)  # a closed connection's timer is gone with it
    loop.expire(30.0)
    assert [link for link, _ in ticks] == [a, b]


def test_a_tick_may_set_a_due_timer_and_prune_the_heap(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Loop, "_prune_above", 0)  # pruned past four entries a connection
    ticks: list[tuple[FakeLink, float]] = []
    a, b, c = (FakeLink(loop, ticks) for _ in range(3))
    for link in (a, b, c):
        loop.attach(link)
    a.then = [1.5, 2.5]
    loop.timer(a, 1.0)
    for i in range(10):
        loop.timer(b, 20.0 + i)
    loop.timer(b, 2.0)
    assert len(loop._timers) == 12  # not pruned yet: 4 × 3 connections
    loop.detach(c, 0)
    # a's tick at 1.0 sets 1.5, which prunes the heap (12 > 4 × 2 entries);
    # 1.5 is due as well, and so is the 2.5 it sets: all in the same call.
    loop.expire(3.0)
    assert [link for link, _ in ticks] == [a, a, b, a]
    assert loop._timers == []


# A step: (connection, timer) to set a timer (None: clear it), or
# (connection, "detach"), or (None, time) to expire the timers due at *time*.
_times = st.integers(0, 40).map(float)
_steps = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 5), st.one_of(st.none(), _times)),
        st.tuples(st.integers(0, 5), st.just("detach")),
        st.tuples(st.none(), _times),
    ),
    max_size=120,
)


class ArmingLink(FakeLink):
    """Knows its timer (the loop clears ``_timer_at`` before the tick), and its
    ticks set the next one *then* after the time of expire()."""

    def __init__(self, loop: Loop, ticks: list[tuple[FakeLink, float]]) -> None:
        super().__init__(loop, ticks)
        self.armed: float | None = None

    def arm(self, when: float | None) -> None:
        self.loop.timer(self, when)
        self.armed = when

    def _tick(self) -> None:
        assert self.armed is not None
        self.ticks.append((self, self.armed))
        self.armed = None
        if self.then:
            self.arm(self.now + self.then.pop(0))


@given(
    steps=_steps,
    then=st.lists(st.lists(st.integers(1, 10).map(float), max_size=3), min_size=6, max_size=6),
    prune_above=st.sampled_from([0, 4, 64]),
)
def test_timers_fire_once_each_in_order_whatever_the_pruning(
    steps: list[tuple[int | None, Any]], then: list[list[float]], prune_above: int
) -> None:
    # Against a model: each connection has at most one timer, the latest one
    # set; expire(now) ticks each connection whose timer is due, once, in the
    # order of their times; a tick may set the next timer (pushing to the heap,
    # and pruning it, while expire() runs).
    loop = Loop("test loop", linger=True)
    loop._prune_above = prune_above
    try:
        ticks: list[tuple[FakeLink, float]] = []
        links = [ArmingLink(loop, ticks) for _ in range(6)]
        for link, delays in zip(links, then, strict=True):
            loop.attach(link)
            link.then = list(delays)
        model_then = {link: list(delays) for link, delays in zip(links, then, strict=True)}
        armed: dict[FakeLink, float] = {}
        attached = set(links)
        clock = 0.0
        for index, value in steps:
            if index is None:
                clock = max(clock, value)
                due = sorted(
                    ((link, when) for link, when in armed.items() if when <= clock),
                    key=lambda item: item[1],
                )
                for link, _ in due:
                    del armed[link]
                    if model_then[link]:
                        armed[link] = clock + model_then[link].pop(0)
                for link in links:
                    link.now = clock
                del ticks[:]
                loop.expire(clock)
                by_link = lambda item: id(item[0])  # noqa: E731
                assert sorted(ticks, key=by_link) == sorted(due, key=by_link)  # each, once
                assert [when for _, when in ticks] == [when for _, when in due]  # in order
            else:
                link = links[index]
                if value == "detach":
                    loop.detach(link, 0)
                    link.armed = None
                    attached.discard(link)
                    armed.pop(link, None)
                elif link in attached:
                    pushed = value is not None and value != link._timer_at
                    link.arm(value)
                    if value is None:
                        armed.pop(link, None)
                    else:
                        armed[link] = value
                    if pushed:  # pruned as soon as it has too many entries
                        assert len(loop._timers) <= max(prune_above, 4 * len(loop._links))
            # Every timer set is in the heap, and nothing else is live there.
            assert {t[2] for t in loop._timers if t[2]._timer_at == t[0]} == set(armed)
            assert {link: link._timer_at for link in links} == {
                link: armed.get(link) for link in links
            }
    finally:
        loop.start()
        loop.stop()
