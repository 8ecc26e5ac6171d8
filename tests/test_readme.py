"""The README's examples run, so they cannot drift from the API."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from wsproto_lite import Close, Connection, Handshake, Role, TextMessage

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_starts_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    assert first_block is not None
    lines = [ln for ln in first_block.group(1).splitlines() if ln.strip()]
    assert "python3 -m wsproto_lite demo" in lines[0]
    test_command = lines[1].split("#")[0].strip().split(" && ")[-1]
    assert test_command == "python3 -m pytest --cov=wsproto_lite"
    # .ci/run runs exactly this command.
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == test_command


def test_sansio_server_example_echoes_over_a_real_socket() -> None:
    (code,) = [b for b in python_blocks() if "socket.create_server" in b]
    port = free_port()
    code = code.replace("8765", str(port))
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "the README server did not start"
                time.sleep(0.05)
        with sock:
            client = Connection(Role.CLIENT)
            client.send(Handshake(host=f"127.0.0.1:{port}", target="/"))
            sock.sendall(client.data_to_send())
            events: list[object] = []
            while not any(isinstance(e, TextMessage) for e in events):
                client.receive_data(sock.recv(65536))
                for event in client.events():
                    events.append(event)
                    if type(event).__name__ == "Accept":
                        client.send(TextMessage("hello, README"))
                        sock.sendall(client.data_to_send())
            assert TextMessage("hello, README") in events
            client.send(Close(1000, "done"))
            sock.sendall(client.data_to_send())
            closes: list[Close] = []
            while not closes:
                data = sock.recv(65536)
                client.receive_data(data)
                closes = [e for e in client.events() if isinstance(e, Close)]
            assert closes == [Close(1000, "")]
            # The server closes the TCP connection first (RFC 6455 §7.1.1).
            assert sock.recv(1) == b""
    finally:
        proc.kill()
        proc.wait()


def test_asyncio_example_runs_and_prints_the_echo() -> None:
    (code,) = [b for b in python_blocks() if "adapters.asyncio" in b]
    code = code.replace("8766", "0")  # any free port
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"
