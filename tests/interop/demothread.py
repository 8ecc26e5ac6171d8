"""The demo server in a thread with its own event loop, for the browser tests.

``DemoThread`` serves :class:`wsproto_lite.demo.DemoServer` on a free port and
keeps what the server's terminal would show (the ``wsproto_lite.demo`` log at
INFO) in :attr:`DemoThread.log`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from wsproto_lite.demo import DemoConfig, DemoServer

__all__ = ["DemoThread"]


class _ListHandler(logging.Handler):
    def __init__(self, records: list[str]) -> None:
        super().__init__(logging.INFO)
        self.records = records
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_:
            self.records.append(record.getMessage())


class DemoThread:
    """``with DemoThread(config) as demo:`` serves on ``demo.port`` until the block ends.

    :param config: the demo's settings.
    :param background: an optional coroutine function run next to the server
        (given the thread), cancelled when the server stops.
    """

    def __init__(
        self,
        config: DemoConfig,
        background: Callable[[DemoThread], Awaitable[None]] | None = None,
    ) -> None:
        self.demo = DemoServer(config)
        self.port = 0
        self.error: BaseException | None = None
        #: The messages the demo logged (INFO and above), in order.
        self.log: list[str] = []
        self._background = background
        self._handler = _ListHandler(self.log)
        self._logger = logging.getLogger("wsproto_lite.demo")
        self._old_level = self._logger.level
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)

    def __enter__(self) -> DemoThread:
        self._logger.addHandler(self._handler)
        if not self._logger.isEnabledFor(logging.INFO):
            self._logger.setLevel(logging.INFO)
        self._thread.start()
        if not self._ready.wait(30) or not self.port:
            self.__exit__()
            raise AssertionError(f"the demo did not start: {self.error!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._old_level)
        if self.error is not None:
            raise self.error

    def lines(self) -> list[str]:
        """The log so far, split into lines (a handshake's headers are one message)."""
        with self._handler.lock_:
            return [line for message in self.log for line in message.splitlines()]

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported in __exit__
            self.error = exc
        finally:
            self._ready.set()
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with self.demo.serve("127.0.0.1", 0, close_timeout=5) as server:
            self.port = server.port
            self._ready.set()
            task = None
            if self._background is not None:
                task = asyncio.get_running_loop().create_task(self._background(self))
            await self._stop.wait()
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
