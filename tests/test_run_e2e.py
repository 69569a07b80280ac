"""``hub run`` end to end, as a user starts it: a real process serving real HTTP on the
embedded SQLite default, with exactly one scheduler beside gunicorn, and nothing left
running after Ctrl-C. (It ignores ``HUB_TEST_DATABASE_URL``: the default is the point.)"""
from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

START_TIMEOUT = 60
STOP_TIMEOUT = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) from /proc, or None once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the name may contain spaces
    return int(fields[1]), fields[0]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) and st[0] == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] != "Z"  # a zombie has exited, only not yet reaped


@pytest.fixture
def hub_run(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_PORT=str(port), HUB_VAR_DIR=str(tmp_path / "var"), HUB_WEB_WORKERS="1",
               HUB_HOST="127.0.0.1", HUB_LOG_LEVEL="WARNING")
    stderr = open(tmp_path / "stderr.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=stderr, text=True,
                            start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield {"proc": proc, "port": port, "lines": lines, "var": tmp_path / "var",
               "stderr": lambda: (tmp_path / "stderr.log").read_text()}
    finally:
        if proc.poll() is None:  # the test failed half-way: leave nothing behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        proc.stdout.close()
        stderr.close()


def wait_for_url(run) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = run["lines"].get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            pytest.fail(f"hub run exited before serving:\n{run['stderr']()}")
        if "running at http://" in line:
            return line.split("running at ", 1)[1].split()[0]
    pytest.fail(f"hub run printed no URL within {START_TIMEOUT}s:\n{run['stderr']()}")


def test_hub_run_serves_and_stops_cleanly_on_ctrl_c(hub_run):
    proc = hub_run["proc"]
    url = wait_for_url(hub_run)
    assert url == f"http://127.0.0.1:{hub_run['port']}"

    health = requests.get(f"{url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    spec = requests.get(f"{url}/openapi.json", timeout=5)
    assert spec.status_code == 200 and "/api/v1/orders" in spec.json()["paths"]
    denied = requests.get(f"{url}/api/v1/orders", timeout=5)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "unauthorized"
    assert (hub_run["var"] / "hub.db").is_file()  # the embedded default, under HUB_VAR_DIR

    kids = {pid: _cmdline(pid) for pid in children(proc.pid)}
    assert len(kids) == 2, kids
    masters = [pid for pid, cmd in kids.items() if "gunicorn" in cmd]
    schedulers = [pid for pid, cmd in kids.items() if "hub.cli scheduler" in cmd]
    assert len(masters) == 1 and len(schedulers) == 1, kids
    everyone = descendants(proc.pid)
    assert [pid for pid in everyone if "scheduler" in _cmdline(pid)] == schedulers
    assert len(children(masters[0])) == 1  # HUB_WEB_WORKERS=1

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=STOP_TIMEOUT) == 0, hub_run["stderr"]()
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(alive(pid) for pid in everyone) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: _cmdline(pid) for pid in everyone if alive(pid)}
    assert not left, f"orphans after Ctrl-C: {left}"
    assert "Traceback" not in hub_run["stderr"]()
