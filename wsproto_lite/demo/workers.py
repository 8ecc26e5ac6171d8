"""``demo --workers N``: N worker processes serving one port.

The supervisor (this module, in the process the user started) reserves the
port, starts N workers (``python -m wsproto_lite demo ... --worker K``), and
then only watches them:

- **One port, N processes.** Where the platform has ``SO_REUSEPORT`` (Linux,
  the BSDs, macOS), every worker listens on its own socket bound to the same
  port and the kernel spreads the connections (on Linux, evenly, by a hash of
  the addresses). The supervisor keeps a bound, non-listening socket with the
  same option, so the port stays reserved while workers come and go.
  Elsewhere, the supervisor listens itself and the workers inherit the socket
  and accept from it.
- **Readiness.** A worker says ``READY`` on its stdout once it listens; the
  supervisor announces the server after all N did.
- **Crashes.** A worker that exits on its own is logged and replaced after a
  second; one that keeps dying within seconds of its start makes the
  supervisor give up (exit status 1) instead of looping.
- **Shutdown.** Ctrl-C (SIGINT) or SIGTERM: every worker gets SIGTERM and
  shuts down gracefully (its clients get ``1001 going away``); stragglers are
  killed after the grace period. Workers ignore SIGINT themselves, so one
  Ctrl-C is one orderly shutdown, and they watch their stdin: if the
  supervisor dies, even by SIGKILL, its end of the pipe closes and they stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

__all__ = ["HAS_REUSEPORT", "NO_REUSEPORT_ENV", "Listener", "Supervisor", "reserve_port"]

logger = logging.getLogger("wsproto_lite.demo")

#: Whether this platform lets several sockets listen on one port.
HAS_REUSEPORT = hasattr(socket, "SO_REUSEPORT") and sys.platform != "win32"
#: Set (to anything), the supervisor uses the shared-socket mode even where
#: ``SO_REUSEPORT`` exists: to try the mode of the platforms that lack it.
NO_REUSEPORT_ENV = "WSPROTO_LITE_DEMO_NO_REUSEPORT"
#: Seconds a worker may take to start listening.
START_TIMEOUT = 30.0
#: A worker that dies within this many seconds of its start counts as failing to start.
QUICK_DEATH = 5.0
#: Consecutive quick deaths of one worker after which the supervisor gives up.
MAX_QUICK_DEATHS = 3
#: Seconds before a crashed worker is replaced.
RESTART_DELAY = 1.0


@dataclass
class Listener:
    """The port the workers share, held by the supervisor."""

    #: The socket: bound (``SO_REUSEPORT``) or listening (inherited by the workers).
    sock: socket.socket
    #: The port, resolved when 0 was asked for.
    port: int
    #: ``True``: each worker binds its own socket with ``SO_REUSEPORT``;
    #: ``False``: the workers accept on :attr:`sock`, whose descriptor they inherit.
    reuse_port: bool

    @property
    def inherited_fd(self) -> int | None:
        """The descriptor workers accept on, when they share the supervisor's socket."""
        return None if self.reuse_port else self.sock.fileno()


def reserve_port(host: str | None, port: int, *, reuse_port: bool = HAS_REUSEPORT) -> Listener:
    """Reserve *port* on *host* for the workers (0: any free port).

    The port is first bound without ``SO_REUSEPORT``, so that a port where
    something listens (another demo started with ``--workers``, say) is
    refused rather than silently shared with it.

    :raises OSError: the port cannot be bound (in use, no permission…).
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        port = int(probe.getsockname()[1])
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        bound = (address[0], port, *address[2:])
        sock.bind(bound)
        if not reuse_port:
            sock.listen(1024)
            sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return Listener(sock, port, reuse_port)


#: Builds a worker's command line: (worker number, listener) -> argv.
WorkerCommand = Callable[[int, Listener], Sequence[str]]


@dataclass
class _Worker:
    number: int
    proc: subprocess.Popen[bytes]
    started: float
    quick_deaths: int = 0
    ready: bool = False
    _buffer: bytes = field(default=b"", repr=False)


class Supervisor:
    """Starts, watches and stops the workers.

    :param count: how many workers.
    :param listener: the reserved port (see :func:`reserve_port`).
    :param command: the command line of worker K (1…count).
    :param env: the workers' environment (default: this process's).
    :param grace: seconds the workers have to shut down gracefully before
        they are killed.
    """

    def __init__(
        self,
        count: int,
        listener: Listener,
        command: WorkerCommand,
        *,
        env: Mapping[str, str] | None = None,
        grace: float = 15.0,
    ) -> None:
        if count < 1:
            raise ValueError("at least one worker")
        self.count = count
        self.listener = listener
        self.command = command
        self.grace = grace
        self.env = dict(env) if env is not None else None
        self.workers: dict[int, _Worker] = {}
        self._stop = threading.Event()
        self._stop_signal: int | None = None

    # -- starting ---------------------------------------------------------------

    def _spawn(self, number: int, quick_deaths: int = 0) -> _Worker:
        fds = () if self.listener.inherited_fd is None else (self.listener.inherited_fd,)
        proc = subprocess.Popen(
            list(self.command(number, self.listener)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=fds,
            env=self.env,
        )
        worker = _Worker(number, proc, time.monotonic(), quick_deaths)
        self.workers[number] = worker
        return worker

    def _wait_ready(self, workers: Sequence[_Worker], timeout: float) -> list[_Worker]:
        """Wait for each worker's ``READY`` line; return those that died or timed out."""
        pending = {w.proc.stdout: w for w in workers if w.proc.stdout is not None}
        failed: list[_Worker] = []
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for stream, worker in pending.items():
                selector.register(stream, selectors.EVENT_READ, worker)
            while pending and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for key, _ in selector.select(min(remaining, 0.2)):
                    worker = key.data
                    ready: IO[bytes] = key.fileobj  # type: ignore[assignment]
                    chunk = os.read(ready.fileno(), 256)
                    worker._buffer += chunk
                    if b"READY" in worker._buffer or not chunk:
                        selector.unregister(ready)
                        del pending[ready]
                        worker.ready = bool(chunk)
                        if not chunk:
                            failed.append(worker)
        failed.extend(pending.values())
        return failed

    # -- running ----------------------------------------------------------------

    def run(
        self, on_ready: Callable[[Listener], None] | None = None, *, handle_signals: bool = True
    ) -> int:
        """Run the workers until SIGINT/SIGTERM (or :meth:`stop`); return the exit status.

        0 after SIGTERM, 130 after Ctrl-C, 1 when the workers cannot start or
        keep dying. The workers are stopped and the port released on return.

        :param on_ready: called once every worker listens.
        :param handle_signals: catch SIGINT and SIGTERM (only the main thread may).
        """
        previous = {}
        if handle_signals:
            previous = {
                sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
            }
        try:
            return self._run(on_ready)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._shutdown()
            self.listener.sock.close()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Make :meth:`run` stop the workers and return, as if *signum* arrived."""
        if self._stop_signal is None:
            self._stop_signal = signum
        self._stop.set()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop(signum)

    def _run(self, on_ready: Callable[[Listener], None] | None) -> int:
        mode = "SO_REUSEPORT" if self.listener.reuse_port else "a shared listening socket"
        started = [self._spawn(number) for number in range(1, self.count + 1)]
        failed = self._wait_ready(started, START_TIMEOUT)
        if self._stop.is_set():
            return self._exit_status()
        if failed:
            numbers = ", ".join(str(w.number) for w in sorted(failed, key=lambda w: w.number))
            logger.error("worker(s) %s did not start; stopping", numbers)
            return 1
        logger.info(
            "%d workers serve port %d (%s): %s",
            self.count,
            self.listener.port,
            mode,
            ", ".join(f"#{w.number} pid {w.proc.pid}" for w in started),
        )
        if on_ready is not None:
            on_ready(self.listener)
        while not self._stop.wait(0.2):
            for worker in list(self.workers.values()):
                status = worker.proc.poll()
                if status is None:
                    continue
                if not self._replace(worker, status):
                    return 1
        return self._exit_status()

    def _replace(self, worker: _Worker, status: int) -> bool:
        """A worker exited on its own: log it and start another; ``False``: give up."""
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        lived = time.monotonic() - worker.started
        quick = worker.quick_deaths + 1 if lived < QUICK_DEATH else 0
        _close_pipes(worker.proc)
        if quick >= MAX_QUICK_DEATHS:
            logger.error(
                "worker #%d (pid %d) %s, the %d time in a row within %g s of its start; giving up",
                worker.number,
                worker.proc.pid,
                how,
                quick,
                QUICK_DEATH,
            )
            return False
        logger.error(
            "worker #%d (pid %d) %s after %.1f s; starting another in %g s",
            worker.number,
            worker.proc.pid,
            how,
            lived,
            RESTART_DELAY,
        )
        if self._stop.wait(RESTART_DELAY):
            return True
        new = self._spawn(worker.number, quick)
        if self._wait_ready([new], START_TIMEOUT) and not self._stop.is_set():
            logger.error("the new worker #%d (pid %d) did not start", new.number, new.proc.pid)
            new.proc.kill()
            new.proc.wait()
            return self._replace(new, new.proc.returncode)
        logger.info("worker #%d restarted (pid %d)", new.number, new.proc.pid)
        return True

    def _exit_status(self) -> int:
        return 130 if self._stop_signal == signal.SIGINT else 0

    # -- stopping ---------------------------------------------------------------

    def _shutdown(self) -> None:
        """SIGTERM every worker; kill those still running after the grace period."""
        running = [w for w in self.workers.values() if w.proc.poll() is None]
        if running:
            logger.info("stopping %d worker(s)", len(running))
        for worker in running:
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for worker in running:
            try:
                worker.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning(
                    "worker #%d (pid %d) did not stop within %g s; killing it",
                    worker.number,
                    worker.proc.pid,
                    self.grace,
                )
                worker.proc.kill()
                worker.proc.wait()
        for worker in self.workers.values():
            _close_pipes(worker.proc)
        if running:
            logger.info("all workers stopped")


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
