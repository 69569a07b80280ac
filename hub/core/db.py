"""Database access: engine, sessions, and the column types every model uses.

``Database(url)`` owns one engine and a session factory. Use ``with db.session() as s:``
in jobs and the CLI (commits on success, rolls back on error); web requests get one
session per request from ``hub.web.context.request_session()``.

SQLite is the embedded default and runs in WAL mode with a busy timeout, because the web
server and the worker write to it at the same time. PostgreSQL is the production database.
"""
from __future__ import annotations

import contextlib
import sqlite3
import time
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import (BigInteger, DateTime, Integer, MetaData, String, Text, create_engine,
                        event, select, type_coerce)
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from hub.core import crypto

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL; SQLite only auto-increments a plain INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")
MAX_ID = 2 ** 63 - 1  # the largest BigId (and the largest integer SQLite stores)
MAX_INT = 2 ** 31 - 1  # the largest plain Integer column value on PostgreSQL


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """An aware time as ISO 8601 (None stays None): how times are written in payloads and
    audit entries."""
    return None if value is None else value.isoformat()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the hub stores timezone-aware UTC only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class EncryptedJSON(TypeDecorator):
    """A JSON value stored only as ciphertext (see ``hub.core.crypto``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else crypto.encrypt_json(value)

    def process_result_value(self, value, dialect):
        return None if value is None else crypto.decrypt_json(value)


def rotate_secrets(conn, metadata: MetaData) -> int:
    """Re-encrypt every ``EncryptedJSON`` value under the current key; returns how many.

    Reads and writes the stored ciphertext as text, so values are never decrypted into
    objects (``crypto.rotate`` decrypts with any listed key and encrypts with the first).
    """
    count = 0
    for table in metadata.sorted_tables:
        for column in [c for c in table.columns if isinstance(c.type, EncryptedJSON)]:
            stored = type_coerce(column, Text)
            pk = list(table.primary_key.columns)
            for row in conn.execute(select(*pk, stored).where(column.is_not(None))).all():
                *key, token = row
                where = [c == v for c, v in zip(pk, key)]
                conn.execute(table.update().where(*where)
                             .values({column.name: type_coerce(crypto.rotate(token), Text)}))
                count += 1
    return count


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), str: String(255)}


def _sqlite_pragmas(busy_timeout_ms: int):
    def on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


BUSY_PAUSE_S, BUSY_MAX_PAUSE_S = 50e-6, 1e-3  # retrying a write lock another writer holds


def when_free(take_lock, timeout_s: float):
    """SQLite: call ``take_lock`` (a statement that starts by taking the write lock, on a
    connection whose own busy timeout is 0) until it gets the lock, retrying after 50 µs,
    doubling up to 1 ms, for at most ``timeout_s``. SQLite's own busy wait sleeps 1, 2,
    5, 10... up to 100 ms between tries, so a writer that commits and begins again at
    once would starve it; a writer that pauses ``BUSY_MAX_PAUSE_S`` between transactions
    lets every waiter in (``jobs.process_inbox`` does)."""
    pause, deadline = BUSY_PAUSE_S, time.monotonic() + timeout_s
    while True:
        try:
            return take_lock()
        except sqlite3.OperationalError as e:
            if (e.sqlite_errorcode or 0) & 0xFF != sqlite3.SQLITE_BUSY \
                    or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, BUSY_MAX_PAUSE_S)


def make_engine(url: str, busy_timeout_ms: int = 10000):
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_engine(
        url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
    )
    event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))

    @event.listens_for(engine, "connect")
    def _manual_begin(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # the "begin" listener below issues BEGIN

    # A deferred transaction that reads and then writes fails at once with "database is
    # locked" when another writer got in between; busy_timeout cannot help it. Writers
    # therefore take the write lock up front (BEGIN IMMEDIATE), waiting for it with
    # ``when_free`` rather than SQLite's sleeps; read-only sessions (``readonly=True``)
    # stay deferred so they never block anyone.
    @event.listens_for(engine, "begin")
    def _begin(conn):
        if conn.get_execution_options().get("hub_readonly", False):
            conn.exec_driver_sql("BEGIN")
            return
        sqlite_conn = conn.connection.driver_connection
        sqlite_conn.execute("PRAGMA busy_timeout = 0")
        try:
            when_free(lambda: sqlite_conn.execute("BEGIN IMMEDIATE"), busy_timeout_ms / 1000)
        finally:
            sqlite_conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")

    return engine


def memo(session: Session) -> dict:
    """A dict that lives as long as ``session``'s transaction: what this transaction has
    read or made, kept so it is not asked again. Emptied on commit and on any rollback
    (a savepoint's too), so nothing in it outlives what it describes."""
    return session.info.setdefault("hub_memo", {})


def mark_created(session: Session, entity: str, entity_id: int) -> None:
    """``entity`` ``entity_id`` (the names alerts and the outbox use: ``order``,
    ``fulfilment``...) was inserted by this transaction: nothing outside it refers to it
    yet, so no alert of it is open and no message of it is queued elsewhere."""
    memo(session).setdefault("created", set()).add((entity, entity_id))


def was_created(session: Session, entity: str, entity_id: int | None) -> bool:
    return (entity, entity_id) in memo(session).get("created", ())


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session, transaction) -> None:
    if transaction.parent is None:  # the transaction itself, not a savepoint, ended
        session.info.pop("hub_memo", None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_undone(session, _transaction) -> None:
    session.info.pop("hub_memo", None)


class Database:
    def __init__(self, url: str, busy_timeout_ms: int = 10000):
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = sessionmaker(
            self.engine.execution_options(hub_readonly=True), expire_on_commit=False
        )

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def session(self, readonly: bool = False) -> Iterator[Session]:
        s = (self.read_sessionmaker if readonly else self.sessionmaker)()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
