"""The embedded server stays up under slow clients (slowloris: a byte every 2 s): many
more of them than it has threads, and a normal request still answers at once (issue 10,
item 22). A real server on loopback, bounded in clients and time."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from hub.cli.processes import gunicorn_command
from hub.core import migrate
from hub.core.config import Settings

SLOW_CLIENTS = 24
DRIP_S = 2.0
STAY_S = 8.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(url: str, timeout: float) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(url + "/healthz", timeout=timeout) as resp:
        assert resp.status == 200
    return time.monotonic() - started


def drip(port: int, stop: threading.Event) -> None:
    """Open a request and send it one byte every ``DRIP_S`` until told to stop."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            head = b"POST /webhooks/generic_shop/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 999\r\n"
            for byte in head:
                if stop.wait(DRIP_S):
                    return
                sock.sendall(bytes([byte]))
    except OSError:
        pass  # the server hung up on us: that is allowed


@pytest.mark.slow
def test_slow_clients_do_not_take_the_server_offline(tmp_path):
    port = free_port()
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_PORT=str(port), HUB_VAR_DIR=str(var), HUB_HOST="127.0.0.1",
               HUB_LOG_LEVEL="WARNING")
    settings = Settings.from_env(port=port, var_dir=var, host="127.0.0.1")
    migrate.upgrade(settings.database_url)
    server = subprocess.Popen(gunicorn_command(settings), env=env, cwd=tmp_path,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                healthz(url, 1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        clients = [threading.Thread(target=drip, args=(port, stop), daemon=True)
                   for _ in range(SLOW_CLIENTS)]
        for c in clients:
            c.start()
        time.sleep(STAY_S / 2)                 # every slow client is connected and dripping
        assert healthz(url, 5) < 1.0
        time.sleep(STAY_S / 2)
        assert healthz(url, 5) < 1.0
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=20)
