"""Waking the worker the moment there is work, instead of waiting for its next tick.

Writers call ``notify(session, "inbox")`` inside the transaction that adds the work:
* PostgreSQL: ``pg_notify`` — delivered to every listening worker on commit, and dropped
  with a rollback;
* SQLite (embedded mode): after commit, one datagram to the worker's Unix socket in
  ``HUB_VAR_DIR``, from one non-blocking socket per process (the webhook receiver's
  writer sends one per group of deliveries it commits). A worker that has not read its
  queue yet is already due to run: the kernel refuses the surplus (``EAGAIN``), which is
  dropped.
A worker runs a ``Listener`` that calls ``on_wake(channel)``. Wake-ups are only a
latency optimisation: a missed one costs at most one polling interval.
"""
from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Callable

from flask import current_app, has_app_context
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from hub.core.db import Database

PG_CHANNEL = "hub_wake"
log = logging.getLogger(__name__)


def socket_path(var_dir: Path) -> Path:
    return Path(var_dir) / "wake.sock"


def notify(session: Session, channel: str, var_dir: Path) -> None:
    if session.get_bind().dialect.name == "postgresql":
        pg_notify(session, channel)
        return
    event.listen(session, "after_commit", lambda _s: send_datagram(channel, var_dir), once=True)


def pg_notify(conn, channel: str) -> None:
    """PostgreSQL: queue the wake-up in ``conn``'s transaction (a Session or Connection)."""
    conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": PG_CHANNEL, "p": channel})


_sender: socket.socket | None = None
_sender_lock = threading.Lock()


@functools.lru_cache(maxsize=16)
def _address(var_dir: Path) -> str:
    return str(socket_path(var_dir))


def send_datagram(channel: str, var_dir: Path) -> None:
    """SQLite: wake the worker now — call it after the commit that added the work."""
    global _sender
    try:
        if _sender is None:
            with _sender_lock:  # one socket: a spare would be garbage, never closed
                if _sender is None:
                    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    sender.setblocking(False)
                    _sender = sender
        _sender.sendto(channel.encode(), _address(var_dir))
    except OSError:
        pass  # no worker listening here, or its queue is full: it finds the work anyway


class Listener:
    def __init__(self, db: Database, var_dir: Path, on_wake: Callable[[str], None]):
        self.db, self.var_dir, self.on_wake = db, Path(var_dir), on_wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        target = self._listen_pg if self.db.is_postgres else self._listen_socket
        self._thread = threading.Thread(target=target, name="wake-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _listen_socket(self) -> None:
        path = socket_path(self.var_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if path.exists():
                os.unlink(path)
            sock.bind(str(path))
            bound = os.stat(path).st_ino
        except OSError as e:
            log.warning("wake socket unavailable; relying on polling", extra={"error": str(e)})
            return
        sock.settimeout(0.5)
        try:
            while not self._stop.is_set():
                try:
                    data = sock.recv(64)
                except socket.timeout:
                    continue
                self.on_wake(data.decode(errors="replace"))
        finally:
            sock.close()
            try:  # unless a listener started since has bound the path to its own socket
                if os.stat(path).st_ino == bound:
                    os.unlink(path)
            except FileNotFoundError:
                pass

    def _listen_pg(self) -> None:
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {PG_CHANNEL}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self.on_wake(note.payload)
            except psycopg.Error as e:
                log.warning("wake listener lost its connection; retrying", extra={"error": str(e)})
                self._stop.wait(1)


def current_var_dir(var_dir: Path | None = None) -> Path | None:
    """``var_dir`` as given, else the running app's (so a commit can wake the worker);
    None outside an app, where the worker's polling tick is the backstop."""
    if var_dir is not None:
        return var_dir
    if has_app_context() and "hub" in current_app.extensions:
        return current_app.extensions["hub"].settings.var_dir
    return None
