"""The webhook receiver's write path: a verified delivery's inbox rows, committed before
the receiver answers, at the least cost per delivery.

``write(db, rows, var_dir)`` takes a delivery's rows (``inbox.raw_rows``) and returns
only once they are committed; on any error it raises and nothing of them is
acknowledged. A duplicate of a stored event is skipped (``ON CONFLICT DO NOTHING``).

* PostgreSQL: one round trip per delivery. The rows go in as one INSERT that also
  queues the worker's wake-up (``pg_notify``, delivered on commit), in autocommit mode:
  the statement is its own transaction, committed (and flushed, with the default
  ``synchronous_commit``) before the server answers; over
  ``inbox.RAW_ROWS_PER_STATEMENT`` rows, one explicit transaction. The writer has a
  pool of its own, in autocommit mode and not pinged on checkout (the hub's pool pings
  every connection it hands out: two more round trips); a connection found broken
  instead is dropped with the rest of that pool and the write is tried once more,
  which is safe as the INSERT skips whatever is already stored.
* SQLite allows one writer at a time, and a writer that finds the lock taken sleeps in
  steps of 1, 2, 5, 10... ms. The threads of a process therefore queue on a lock of
  their own and commit as a group: whoever holds the lock writes every delivery waiting
  in the process, so one transaction (and any wait for another process's) is shared by
  up to one delivery per thread. A group is one INSERT in autocommit mode (over
  ``inbox.RAW_ROWS_PER_STATEMENT`` rows: one explicit transaction), on a connection of
  the process's own: the statement takes the write lock at once, as BEGIN IMMEDIATE
  would, and commits before it returns, all inside SQLite with the GIL released. When
  another process holds the lock, SQLite's own busy wait would sleep 1, 2, 5... ms
  between tries (about 10 % of writes under load, while every waiting thread waits);
  a statement refused with SQLITE_BUSY has written nothing, so the writer tries again
  itself after 50 µs, doubling up to 1 ms, until the engine's busy timeout
  (``hub.core.db.when_free``, which every hub write transaction on SQLite waits with). Each group
  written sends the worker one wake-up datagram.

  That connection never checkpoints the WAL itself (``wal_autocheckpoint=0``): a
  checkpoint fsyncs, which takes tens of ms on a busy disk, and would hold up every
  thread waiting for the lock. Instead the thread that wrote a group, once it has let
  go of the lock, checkpoints at most every ``CHECKPOINT_EVERY_S`` on a connection of
  its own: PASSIVE, which never blocks writers. Under steady writes that never catches
  up with the last commit, and SQLite only starts the WAL over once a checkpoint has
  (else the file grows without bound: gigabytes in a few minutes at full load); so past
  ``RESTART_WAL_FRAMES`` frames the PASSIVE checkpoint is followed by a RESTART one,
  which holds writers back while it copies the last frames and syncs (so the next write
  starts the WAL over), waiting at most ``RESTART_BUSY_TIMEOUT_MS`` for the writers and
  readers before it. The WAL file thus stays within about twice ``RESTART_WAL_FRAMES``
  pages. The other hub processes keep SQLite's automatic checkpoints.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy import create_engine

from hub.pipeline import inbox
from hub.core import wakeup
from hub.core.db import Database, when_free

CHECKPOINT_EVERY_S = 1.0
RESTART_WAL_FRAMES = 16384  # 64 MB of 4 KB pages
RESTART_BUSY_TIMEOUT_MS = 100
log = logging.getLogger(__name__)


def write(db: Database, rows: list[tuple], var_dir: Path) -> None:
    """Commit a delivery's rows (see the module docstring)."""
    if rows:
        _writer(db).write(rows, var_dir)


class _PostgresWriter:
    """One process's writes to one PostgreSQL database."""

    def __init__(self, db: Database):
        self.pid = os.getpid()
        self.engine = create_engine(db.engine.url, isolation_level="AUTOCOMMIT",
                                    pool_size=5, max_overflow=10)

    def write(self, rows: list[tuple], var_dir: Path) -> None:
        for attempt in (1, 2):
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                if len(rows) > inbox.RAW_ROWS_PER_STATEMENT:  # several statements
                    cursor.execute("BEGIN")
                    inbox.insert_raw(cursor, "postgresql", rows)
                    cursor.execute("COMMIT")
                else:  # one statement: its own transaction
                    inbox.insert_raw(cursor, "postgresql", rows)
                return
            except Exception:
                if not raw.dbapi_connection.broken or attempt == 2:
                    raise
                raw.invalidate()
                self.engine.dispose()  # its other connections are likely dead too
            finally:
                raw.close()  # back to the pool, an unfinished transaction rolled back

    def close(self) -> None:
        if self.pid == os.getpid():  # a forked child leaves its parent's connections be
            self.engine.dispose()


class _Waiting:
    """One delivery's rows waiting for a group commit."""

    __slots__ = ("rows", "done", "error")

    def __init__(self, rows: list[tuple]):
        self.rows, self.done, self.error = rows, False, None


class _SqliteWriter:
    """One process's writes to one SQLite database: the group commit."""

    def __init__(self, db: Database):
        self.engine = db.engine  # not db: the writer must not keep it alive
        self.pid = os.getpid()
        self.lock = threading.Lock()  # held by the thread writing a group
        self.waiting: list[_Waiting] = []
        self.waiting_lock = threading.Lock()
        self.conn = None  # the DBAPI connection groups are written on, under self.lock
        self.busy_timeout_s = 0.0  # the engine's, read from that connection
        self.checkpointing = threading.Lock()  # held by the thread checkpointing
        self.checkpoint_due = time.monotonic() + CHECKPOINT_EVERY_S
        self.checkpointer = None  # the DBAPI connection checkpoints run on

    def write(self, rows: list[tuple], var_dir: Path) -> None:
        mine = _Waiting(rows)
        with self.waiting_lock:
            self.waiting.append(mine)
        inserted = None  # stays None unless this thread writes the group
        with self.lock:
            if not mine.done:  # the previous writer did not take it: write all waiting
                with self.waiting_lock:
                    group, self.waiting = self.waiting, []
                inserted = self._commit(group)
        if mine.error is not None:  # written by another thread, and that write failed
            raise RuntimeError("the group commit holding this delivery failed") \
                from mine.error
        if inserted:
            wakeup.send_datagram("inbox", var_dir)
        if inserted is not None and time.monotonic() >= self.checkpoint_due:
            self._checkpoint()

    def _commit(self, group: list[_Waiting]) -> int:
        """Write and commit the group's rows; mark each delivery done (or failed)."""
        rows = [row for waiting in group for row in waiting.rows]
        try:
            conn = self._connection()
            cursor = conn.cursor()
            try:
                if len(rows) > inbox.RAW_ROWS_PER_STATEMENT:  # several statements
                    when_free(lambda: cursor.execute("BEGIN IMMEDIATE"), self.busy_timeout_s)
                    inserted = inbox.insert_raw(cursor, "sqlite", rows)
                    conn.commit()
                else:  # one statement: lock, write and commit at once
                    inserted = when_free(lambda: inbox.insert_raw(cursor, "sqlite", rows),
                                         self.busy_timeout_s)
            except BaseException:
                self.conn = None  # the next group opens a fresh connection
                try:
                    conn.rollback()  # what a failed transaction wrote, and its lock
                finally:
                    cursor.close()  # else close() would leave the connection open
                    conn.close()
                raise
        except BaseException as e:
            for waiting in group:
                waiting.done, waiting.error = True, e
            raise
        for waiting in group:
            waiting.done = True
        return inserted

    def _own_connection(self):
        fairy = self.engine.raw_connection()  # opened with the engine's pragmas
        fairy.detach()  # this writer's from now on: the pool opens others
        return fairy.dbapi_connection

    def _connection(self):
        if self.conn is None:
            conn = self._own_connection()
            (busy_timeout_ms,) = conn.execute("PRAGMA busy_timeout").fetchone()
            self.busy_timeout_s = busy_timeout_ms / 1000
            conn.execute("PRAGMA busy_timeout=0")  # when_free waits instead
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self.conn = conn
        return self.conn

    def close(self) -> None:
        if self.pid == os.getpid():  # as _PostgresWriter.close
            for conn in (self.conn, self.checkpointer):
                if conn is not None:
                    conn.close()

    def _checkpoint(self) -> None:
        """Checkpoint the WAL (see the module docstring), outside the group lock. The
        deliveries are committed whatever happens here: a failure is only logged."""
        if not self.checkpointing.acquire(blocking=False):
            return  # another thread is at it
        try:
            self.checkpoint_due = time.monotonic() + CHECKPOINT_EVERY_S
            if self.checkpointer is None:
                self.checkpointer = self._own_connection()
                self.checkpointer.execute(f"PRAGMA busy_timeout={RESTART_BUSY_TIMEOUT_MS}")
            _, frames, _ = self.checkpointer.execute(
                "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames > RESTART_WAL_FRAMES:
                self.checkpointer.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except Exception as e:
            log.warning("WAL checkpoint failed", extra={"error": repr(e)})
            if self.checkpointer is not None:
                self.checkpointer.close()
                self.checkpointer = None  # the next checkpoint opens a fresh one
        finally:
            self.checkpointing.release()


_writers: weakref.WeakKeyDictionary[Database, _PostgresWriter | _SqliteWriter] = \
    weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def _writer(db: Database) -> _PostgresWriter | _SqliteWriter:
    """The process's writer for ``db`` (a forked child makes its own)."""
    writer = _writers.get(db)
    if writer is None or writer.pid != os.getpid():
        with _writers_lock:
            writer = _writers.get(db)
            if writer is None or writer.pid != os.getpid():
                kind = _PostgresWriter if db.is_postgres else _SqliteWriter
                writer = _writers[db] = kind(db)
                weakref.finalize(db, writer.close)  # its connections go with the database
    return writer
