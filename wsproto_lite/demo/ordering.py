"""The order of one connection's calls and of its replies.

Every call of a connection runs in its own task, so a slow call (``sleep``)
never holds up a fast one. Two rules keep that from surprising a client that
sends several calls back to back without waiting for replies (the tutorial's
step 6: ``auth`` with a wrong password, ``auth`` with the right one,
``getUsers``):

- **Dependencies** (:class:`Turns`). A call that changes who the connection is
  signed in as (``auth``, ``authToken``) is a *barrier*: it starts once every
  earlier call of the connection has started, and every later call starts only
  once it has finished. So ``getUsers`` sent right after ``auth`` sees the
  login, and calls between two barriers run concurrently.
- **Replies without an id** (:class:`OrderedReplies`). Replies that carry no
  usable id (``"id": null``; pongs to pings without an id) are sent in the
  order of the messages they answer, so a client that sends no ids can match
  them by position. Replies to calls with an id go out as soon as each call
  finishes, in any order: they are matched by id.

Both are per connection and in memory; nothing here is shared between
connections.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["OrderedReplies", "ReplySlot", "Turn", "Turns"]


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Turn:
    """One call's place among its connection's calls (from :meth:`Turns.take`).

    ``async with turn:`` around running the call: entering waits until the call
    may start; leaving lets the calls that wait for this one go on.

    A call must read the state it depends on (``session.authenticated``) before
    its first ``await`` inside the block: the next calls start from the next
    turn of the event loop on.
    """

    __slots__ = ("_after", "_done", "barrier")

    def __init__(
        self, after: asyncio.Future[None] | None, done: asyncio.Future[None], barrier: bool
    ) -> None:
        self._after = after
        self._done = done
        #: Whether later calls wait for this one to finish (not only to start).
        self.barrier = barrier

    async def __aenter__(self) -> None:
        try:
            if self._after is not None and not self._after.done():
                # shield: cancelling this call must not cancel the future that
                # the calls after it wait on.
                await asyncio.shield(self._after)
        except BaseException:
            _settle(self._done)
            raise
        if not self.barrier:
            _settle(self._done)

    async def __aexit__(self, *exc_info: object) -> None:
        _settle(self._done)


class Turns:
    """The dependency rule of one connection's calls (see the module docstring).

    :meth:`take` must be called in the order the calls arrive.
    """

    def __init__(self) -> None:
        self._last: asyncio.Future[None] | None = None

    def take(self, barrier: bool) -> Turn:
        """The next call's turn; *barrier*: later calls wait until it has finished."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        turn = Turn(self._last, done, barrier)
        self._last = done
        return turn


class ReplySlot:
    """A reply's place in :class:`OrderedReplies` (from :meth:`OrderedReplies.reserve`)."""

    __slots__ = ("filled", "text")

    def __init__(self) -> None:
        #: Whether the reply is known (``text`` ``None``: there is none to send).
        self.filled = False
        #: The reply.
        self.text: str | None = None


class OrderedReplies:
    """Replies without an id, sent in the order of the messages they answer.

    :param send: sends one text message; returns ``False`` once the connection
        is closed (then the replies still waiting are dropped).
    :param limit: how many replies may wait for their turn. The connection's
        reader calls :meth:`wait_for_room` before it reserves a slot, so a
        client that sends many id-less messages while an earlier one is slow
        is no longer read from (TCP backpressure) instead of making the server
        hold an unbounded queue.
    """

    def __init__(self, send: Callable[[str], Awaitable[bool]], limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._send = send
        self._limit = limit
        self._slots: deque[ReplySlot] = deque()
        self._sending = False
        self._closed = False
        self._room = asyncio.Event()

    def __len__(self) -> int:
        """How many replies are reserved and not sent yet."""
        return len(self._slots)

    async def wait_for_room(self) -> None:
        """Return once a slot may be reserved (at once, unless :attr:`limit` are waiting)."""
        while len(self._slots) >= self._limit and not self._closed:
            self._room.clear()
            await self._room.wait()

    def reserve(self) -> ReplySlot:
        """The next reply's place: call in the order the messages arrived."""
        slot = ReplySlot()
        self._slots.append(slot)
        return slot

    def cancel(self, slot: ReplySlot) -> None:
        """*slot* gets no reply (its call was cancelled); the replies after it may go."""
        slot.filled = True

    async def deliver(self, slot: ReplySlot, text: str | None) -> None:
        """Fill *slot* with *text* (``None``: no reply after all) and send every
        reply whose turn has come.

        Returns once they are sent, or at once if another task is sending: that
        task sends this reply too when its turn comes.
        """
        slot.text = text
        slot.filled = True
        if self._sending:
            return
        self._sending = True
        try:
            while self._slots and self._slots[0].filled:
                head = self._slots.popleft()
                self._room.set()
                if head.text is not None and not self._closed and not await self._send(head.text):
                    self._closed = True  # the connection is gone: nothing more to send
        finally:
            self._sending = False
