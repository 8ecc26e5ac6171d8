"""The supervisor of ``demo --workers N`` (wsproto_lite.demo.workers), with stand-in workers.

The workers here are tiny Python scripts that behave like demo workers (say
``READY``, serve the port, die), so these tests need neither Redis nor the
demo; ``tests/demo_redis/test_workers.py`` runs the real thing.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence

import pytest

from wsproto_lite.demo import workers
from wsproto_lite.demo.workers import HAS_REUSEPORT, Listener, Supervisor, reserve_port

#: A worker that listens (on its own SO_REUSEPORT socket, or the inherited one),
#: answers each connection with its pid, and stops on SIGTERM.
SERVE = """
import os, signal, socket, sys
port, fd = int(sys.argv[1]), int(sys.argv[2])
if fd >= 0:
    sock = socket.socket(fileno=fd)
else:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("READY", flush=True)
while True:
    conn, _ = sock.accept()
    conn.sendall(str(os.getpid()).encode())
    conn.close()
"""


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "RESTART_DELAY", 0.05)
    monkeypatch.setattr(workers, "START_TIMEOUT", 10.0)


def script(code: str) -> workers.WorkerCommand:
    def command(number: int, listener: Listener) -> Sequence[str]:
        fd = listener.inherited_fd
        return [sys.executable, "-c", code, str(listener.port), str(-1 if fd is None else fd)]

    return command


def pid_of_a_connection(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        return int(conn.recv(32))


def run_in_thread(supervisor: Supervisor) -> tuple[threading.Thread, list[int], list[Listener]]:
    """Run the supervisor in a thread (only the main thread gets signals: the
    test stops it with :meth:`Supervisor.stop`, as the signal handler does)."""
    status: list[int] = []
    ready: list[Listener] = []

    def target() -> None:
        status.append(supervisor.run(ready.append, handle_signals=False))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not ready:
        assert thread.is_alive(), f"the supervisor ended: {status}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return thread, status, ready


@pytest.mark.parametrize(
    "reuse_port",
    [
        pytest.param(
            True, marks=pytest.mark.skipif(not HAS_REUSEPORT, reason="no SO_REUSEPORT here")
        ),
        False,
    ],
)
def test_workers_share_the_port_and_a_dead_one_is_replaced(
    reuse_port: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wsproto_lite.demo")
    listener = reserve_port("127.0.0.1", 0, reuse_port=reuse_port)
    assert listener.reuse_port is reuse_port
    assert (listener.inherited_fd is None) is reuse_port
    supervisor = Supervisor(2, listener, script(SERVE), grace=5)
    thread, status, ready = run_in_thread(supervisor)
    assert ready == [listener]
    pids = {w.proc.pid for w in supervisor.workers.values()}
    assert len(pids) == 2
    seen = {pid_of_a_connection(listener.port) for _ in range(60)}
    assert seen <= pids
    if reuse_port:  # the kernel spreads connections over the sockets
        assert seen == pids
    # A worker that dies is replaced.
    victim = supervisor.workers[1].proc
    victim.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while supervisor.workers[1].proc is victim or not supervisor.workers[1].ready:
        assert time.monotonic() < deadline, "the worker was not replaced"
        time.sleep(0.02)
    assert f"worker #1 (pid {victim.pid}) was killed by signal 9" in caplog.text
    assert "worker #1 restarted" in caplog.text
    # SIGTERM stops every worker.
    supervisor.stop(signal.SIGTERM)
    thread.join(15)
    assert status == [0]
    assert all(w.proc.returncode == 0 for w in supervisor.workers.values())
    assert "all workers stopped" in caplog.text
    assert listener.sock.fileno() == -1  # the port is released


def test_a_worker_that_never_starts_stops_everything(caplog: pytest.LogCaptureFixture) -> None:
    listener = reserve_port("127.0.0.1", 0)
    supervisor = Supervisor(2, listener, script("import sys; sys.exit(3)"), grace=5)
    assert supervisor.run() == 1
    assert "worker(s) 1, 2 did not start; stopping" in caplog.text
    assert listener.sock.fileno() == -1  # released


def test_a_worker_that_keeps_dying_makes_the_supervisor_give_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener = reserve_port("127.0.0.1", 0)
    dies = "print('READY', flush=True); import sys; sys.exit(4)"
    supervisor = Supervisor(1, listener, script(dies), grace=5)
    assert supervisor.run() == 1
    assert "exited with status 4, the 3 time in a row" in caplog.text
    assert "giving up" in caplog.text


def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wsproto_lite.demo")
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('READY', flush=True); time.sleep(60)"
    )
    listener = reserve_port("127.0.0.1", 0)
    supervisor = Supervisor(1, listener, script(stubborn), grace=0.3)
    thread, status, _ = run_in_thread(supervisor)
    supervisor.stop(signal.SIGINT)
    thread.join(10)
    assert status == [130]
    assert supervisor.workers[1].proc.returncode == -signal.SIGKILL
    assert "did not stop within 0.3 s; killing it" in caplog.text


def test_a_port_in_use_is_refused_not_shared() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            reserve_port("127.0.0.1", busy.getsockname()[1])
    if HAS_REUSEPORT:  # nor the port of a running demo, whose workers listen with SO_REUSEPORT
        first = reserve_port("127.0.0.1", 0)
        with socket.socket() as worker:
            worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            worker.bind(("127.0.0.1", first.port))
            worker.listen()
            try:
                with pytest.raises(OSError):
                    reserve_port("127.0.0.1", first.port)
            finally:
                first.sock.close()


def test_bad_count() -> None:
    listener = reserve_port("127.0.0.1", 0)
    try:
        with pytest.raises(ValueError, match="at least one worker"):
            Supervisor(0, listener, script("pass"))
    finally:
        listener.sock.close()


# -- the command line's checks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2"], "--workers 2 needs --redis URL"),
        (["--redis", "http://127.0.0.1:6379"], "is not a redis://, rediss:// or unix:// URL"),
    ],
)
def test_demo_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from wsproto_lite.cli import EXIT_USAGE, main

    assert main(["demo", "--port", "0", *args]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_demo_redis_needs_the_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from wsproto_lite.cli import EXIT_USAGE, main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    assert main(["demo", "--redis", "redis://127.0.0.1:1/0"]) == EXIT_USAGE
    assert "pip install 'wsproto-lite[demo-redis]'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_demo_redis_expiry_must_be_positive(value: str) -> None:
    from wsproto_lite.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--redis-expiry", value])
    assert exit_info.value.code == 2


def test_cli_defaults_are_the_shared_state_s() -> None:
    from wsproto_lite import cli
    from wsproto_lite.demo import shared

    assert cli.DEFAULT_REDIS_PREFIX == shared.DEFAULT_PREFIX
    assert cli.DEFAULT_REDIS_EXPIRY == shared.DEFAULT_EXPIRY
