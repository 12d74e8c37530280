"""``dronewatch demo``: the README's run command serves the dashboard, signs in, stops cleanly."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dronewatch.cli.serve import listen_socket


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_demo_serves_signs_in_and_stops(stop_with: signal.Signals, free_port: Callable[..., int]) -> None:
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "dronewatch.cli", "demo", "--port", str(port), "--speed", "10"],
                            stderr=subprocess.PIPE, text=True)
    assert demo.stderr is not None
    said = ""
    while "sign in as demo / " not in said:
        line = demo.stderr.readline()
        assert line, f"demo stopped early: {said}"
        said += line
    password = re.search(r"sign in as demo / (\S+)", said).group(1)  # type: ignore[union-attr]
    database = Path(re.search(r"sqlite:///(\S+)", said).group(1))  # type: ignore[union-attr]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert "dronewatch" in client.get("/").text
        assert client.post("/api/login", json={"name": "demo", "password": password}).status_code == 200
        assert client.get("/api/sites").json() == [{"id": "demo"}]
    demo.send_signal(stop_with)
    assert demo.wait(20) == 0
    assert "dronewatch stopped" in demo.stderr.read()
    assert not database.parent.exists()  # the temporary data directory is gone


def test_a_taken_port_stops_the_demo_at_once_with_the_port_named(free_port: Callable[..., int]) -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        demo = subprocess.run([sys.executable, "-m", "dronewatch.cli", "demo", "--port", str(port)],
                              check=False, capture_output=True, text=True, timeout=60)
    assert demo.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: another program is using that port" in demo.stderr
    assert "--port" in demo.stderr and "Traceback" not in demo.stderr


def test_dev_py_names_an_unknown_command() -> None:
    done = subprocess.run([sys.executable, str(Path(__file__).parents[3] / "dev.py"), "tset"], check=False,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown command 'tset'" in done.stderr


def test_connections_to_the_services_socket_send_at_once(free_port: Callable[..., int]) -> None:
    """asyncio turns Nagle's algorithm off (TCP_NODELAY) only on connections whose listening socket names TCP as
    its protocol; without it a WebSocket frame waited ~40 ms for the client's delayed acknowledgement."""
    async def accepted_nodelay() -> int:
        found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listen_socket("127.0.0.1", free_port()))
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(found, 5)
        writer.close()
        server.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0
