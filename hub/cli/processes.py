"""``hub run``: the embedded deployment in one command.

Migrates the database, then starts and supervises two processes:
  * gunicorn serving ``hub.web.wsgi:app`` (``HUB_WEB_WORKERS`` workers);
  * one ``hub scheduler`` process: the only APScheduler in the deployment, and
    the worker that drains the inbox and outbox.
The URL is printed once ``/healthz`` answers. Ctrl-C (or SIGTERM) stops both; if either
dies, the other is stopped too and ``hub run`` exits non-zero.

``hub run --sandbox`` (``make run``) also starts the three sandboxes as child processes,
supervised the same way, links them to a demo merchant and starts the platform's
scenario generator (``demo.sandbox_run``).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import entry_points

from hub.core import migrate
from hub.core.config import Settings


def sandbox_world():
    """What ``--sandbox`` starts beside the hub: the module behind the ``hub.sandbox`` entry
    point (``demo.sandbox_run``: ``commands``, ``hub_env``, ``wait_sandboxes``, ``link``,
    ``start_traffic``, ``banner``), so the hub imports nothing of the demo."""
    for entry in entry_points(group="hub.sandbox"):
        return entry.load()
    raise RuntimeError("no sandbox world is installed (entry point group hub.sandbox)")


def gunicorn_command(settings: Settings, app: str = "hub.web.wsgi:app") -> list[str]:
    """The web server command line ``hub run`` uses (the benchmarks reuse it). gevent
    workers: a slow client (a byte every few seconds) holds a cheap greenlet, not one of a
    few threads, so it cannot take the embedded server offline."""
    return [sys.executable, "-m", "gunicorn", "--bind", f"{settings.host}:{settings.port}",
            "--workers", str(settings.web_workers), "--worker-class", "gevent",
            "--worker-connections", "1000", "--graceful-timeout", "10",
            "--log-level", "warning", app]


def _commands(settings: Settings) -> dict[str, list[str]]:
    return {
        "web": gunicorn_command(settings),
        "worker": [sys.executable, "-m", "hub.cli", "scheduler"],
    }


def _wait_healthy(url: str, procs: dict, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs.values()):
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _stop(procs: dict) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 15
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()  # reaped before hub run exits: nothing left behind


def run_all(settings: Settings, sandbox: bool = False) -> int:
    migrate.upgrade(settings.database_url)
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = dict(os.environ, HUB_DATABASE_URL=settings.database_url)
    procs: dict[str, subprocess.Popen] = {}
    world = None
    if sandbox:
        sandbox_run = sandbox_world()
        sandbox_cmds, sandbox_urls = sandbox_run.commands(settings)
        env.update(sandbox_run.hub_env(settings))  # the hub may call the sandboxes
        procs.update({name: subprocess.Popen(cmd, env=env)
                      for name, cmd in sandbox_cmds.items()})
        try:
            if not sandbox_run.wait_sandboxes(sandbox_urls, procs):
                raise RuntimeError("the sandboxes did not start")
            world = sandbox_run.link(settings, sandbox_urls)
        except Exception as exc:
            print(f"setting up the sandboxes failed: {exc}; stopping", file=sys.stderr,
                  flush=True)
            _stop(procs)
            return 1
    procs.update({name: subprocess.Popen(cmd, env=env)
                  for name, cmd in _commands(settings).items()})
    url = f"http://{settings.host}:{settings.port}"
    if _wait_healthy(url, procs):
        print(f"Dropship Hub is running at {url}  (API docs: {url}/docs; Ctrl-C stops)",
              flush=True)
        if world is not None:
            try:
                scenario = sandbox_run.start_traffic(settings, sandbox_urls, world)
                print(sandbox_run.banner(settings, sandbox_urls, world, scenario), flush=True)
            except Exception as exc:
                print(f"starting the sandbox traffic failed: {exc}; stopping",
                      file=sys.stderr, flush=True)
                stopping = True
    else:
        print("the hub did not become healthy; stopping", file=sys.stderr, flush=True)
        stopping = True
    code = 1 if stopping else 0
    while not stopping:
        for name, p in procs.items():
            if p.poll() is not None:
                print(f"{name} process exited with code {p.returncode}; stopping",
                      file=sys.stderr, flush=True)
                stopping, code = True, p.returncode or 1
        time.sleep(0.3)
    _stop(procs)
    return code
