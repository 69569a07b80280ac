"""The webhook receiver's write path (``hub.pipeline.inbox_writer``): rows committed before the
call returns, nothing of a failed transaction kept, and on SQLite a group commit per
process whose every delivery is answered only after the commit that holds it."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import Text, cast, func, select, text

from connectors.base import WebhookEvent
from hub.pipeline import inbox, inbox_writer
from hub.models import InboxEvent
from tests import factories as f

HEADERS = {"content-type": "application/json", "webhook-signature": "***"}


@pytest.fixture
def shop(app, database):  # the app configures the key that encrypts account configs
    with database.session() as s:
        return f.shop(s, f.merchant(s).id)


def rows_for(database, shop, *ids):
    dialect = "postgresql" if database.is_postgres else "sqlite"
    events = [WebhookEvent(i, "order.updated", b'{"n": 1}') for i in ids]
    return inbox.raw_rows(dialect, shop, events, headers=HEADERS)


def stored(database) -> list[str]:
    with database.session() as s:
        return list(s.scalars(select(InboxEvent.external_event_id).order_by(InboxEvent.id)))


@pytest.fixture
def sqlite_only(database):
    if database.is_postgres:
        pytest.skip("SQLite's group commit")


def test_raw_rows_store_what_the_core_insert_stores(database, shop, settings):
    with database.session() as s:
        inbox.insert(s.connection(), shop, [WebhookEvent("core", "order.updated", b"{}")],
                     headers=HEADERS)
    inbox_writer.write(database, rows_for(database, shop, "raw"), settings.var_dir)
    with database.session() as s:
        core, raw = s.scalars(select(InboxEvent).order_by(InboxEvent.id)).all()
        as_text = s.execute(select(cast(InboxEvent.received_at, Text),
                                   cast(InboxEvent.next_attempt_at, Text),
                                   cast(InboxEvent.headers, Text))
                            .order_by(InboxEvent.id)).all()
    for column in InboxEvent.__table__.columns:
        if column.name not in ("id", "external_event_id", "body", "received_at",
                               "next_attempt_at"):
            assert getattr(raw, column.key) == getattr(core, column.key), column.name
    assert raw.received_at.tzinfo is not None and raw.received_at == raw.next_attempt_at
    assert 0 <= (raw.received_at - core.received_at).total_seconds() < 60
    (core_at, core_due, core_headers), (raw_at, raw_due, raw_headers) = as_text
    if database.engine.dialect.name == "sqlite":  # stored as text: one format for both
        assert len(raw_at) == len(core_at) and len(raw_due) == len(core_due)
    assert raw_headers == core_headers


def test_a_duplicate_is_skipped(database, shop, settings):
    inbox_writer.write(database, rows_for(database, shop, "a", "a", "b"), settings.var_dir)
    inbox_writer.write(database, rows_for(database, shop, "b", "c"), settings.var_dir)
    assert stored(database) == ["a", "b", "c"]


def test_a_failed_transaction_keeps_nothing_it_wrote(database, shop, settings, monkeypatch):
    """Over ``RAW_ROWS_PER_STATEMENT`` rows take several statements in one transaction
    (as does every PostgreSQL write): a failure after writing rolls all of it back."""
    ids = [f"e{i}" for i in range(inbox.RAW_ROWS_PER_STATEMENT + 2)]
    real_insert = inbox.insert_raw

    def write_then_fail(*args):
        assert real_insert(*args) == len(ids)
        raise RuntimeError("failed before the commit")

    monkeypatch.setattr(inbox, "insert_raw", write_then_fail)
    with pytest.raises(RuntimeError):
        inbox_writer.write(database, rows_for(database, shop, *ids), settings.var_dir)
    assert stored(database) == []
    monkeypatch.undo()
    inbox_writer.write(database, rows_for(database, shop, "after"), settings.var_dir)
    assert stored(database) == ["after"]


def test_a_bad_row_fails_the_whole_write(database, shop, settings):
    rows = rows_for(database, shop, *[f"e{i}" for i in range(60)], None)  # NOT NULL
    with pytest.raises(Exception):
        inbox_writer.write(database, rows, settings.var_dir)
    assert stored(database) == []


def test_deliveries_waiting_in_the_process_are_committed_together(
        database, shop, settings, sqlite_only):
    writer = inbox_writer._writer(database)
    other = inbox_writer._Waiting(rows_for(database, shop, "other"))
    writer.waiting.append(other)  # another thread's delivery, waiting for the lock
    inbox_writer.write(database, rows_for(database, shop, "mine"), settings.var_dir)
    assert (other.done, other.error) == (True, None)
    assert sorted(stored(database)) == ["mine", "other"]


def _follower(database, shop, settings):
    """A thread whose delivery waits while this thread holds the group lock."""
    writer = inbox_writer._writer(database)
    outcome = []

    def deliver():
        try:
            inbox_writer.write(database, rows_for(database, shop, "follower"),
                               settings.var_dir)
            outcome.append("committed")
        except RuntimeError as e:
            outcome.append(e)

    thread = threading.Thread(target=deliver)
    return writer, thread, outcome


def test_a_delivery_written_by_another_thread_returns_after_that_commit(
        database, shop, settings, sqlite_only):
    writer, thread, outcome = _follower(database, shop, settings)
    with writer.lock:  # this thread is writing a group
        thread.start()
        deadline = time.monotonic() + 5
        while not writer.waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert outcome == [] and stored(database) == []  # not answered before the commit
        group, writer.waiting = writer.waiting, []
        writer._commit(group)
    thread.join(5)
    assert outcome == ["committed"] and stored(database) == ["follower"]


def test_every_delivery_of_a_failed_group_fails(database, shop, settings, sqlite_only,
                                                monkeypatch):
    writer, thread, outcome = _follower(database, shop, settings)
    monkeypatch.setattr(inbox, "insert_raw", lambda *a: 1 / 0)
    with writer.lock:
        thread.start()
        deadline = time.monotonic() + 5
        while not writer.waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        group, writer.waiting = writer.waiting, []
        with pytest.raises(ZeroDivisionError):
            writer._commit(group)
    thread.join(5)
    [error] = outcome
    assert isinstance(error, RuntimeError) and isinstance(error.__cause__, ZeroDivisionError)
    assert stored(database) == []


def test_the_writer_checkpoints_outside_the_group_lock(database, shop, settings,
                                                       sqlite_only, monkeypatch):
    writer = inbox_writer._writer(database)
    inbox_writer.write(database, rows_for(database, shop, "a"), settings.var_dir)
    assert writer.conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    checkpoints = []
    real_checkpoint = writer._checkpoint

    def checkpoint():
        checkpoints.append(writer.lock.locked())
        real_checkpoint()

    monkeypatch.setattr(writer, "_checkpoint", checkpoint)
    writer.checkpoint_due = 0.0
    inbox_writer.write(database, rows_for(database, shop, "b"), settings.var_dir)
    assert checkpoints == [False]
    assert writer.checkpoint_due > time.monotonic()
    inbox_writer.write(database, rows_for(database, shop, "c"), settings.var_dir)
    assert checkpoints == [False]  # not due again yet


def test_a_failed_checkpoint_does_not_fail_the_delivery(database, shop, settings,
                                                        sqlite_only, caplog):
    class Broken:
        def execute(self, *args):
            raise sqlite3.OperationalError("disk trouble")

        def close(self):
            pass

    writer = inbox_writer._writer(database)
    writer.checkpointer, writer.checkpoint_due = Broken(), 0.0
    inbox_writer.write(database, rows_for(database, shop, "a"), settings.var_dir)
    assert stored(database) == ["a"]
    assert "WAL checkpoint failed" in caplog.text
    assert writer.checkpointer is None  # the next checkpoint opens a fresh connection


def test_a_long_wal_is_started_over(database, shop, settings, sqlite_only, monkeypatch):
    """Under steady writes PASSIVE checkpoints never let the WAL start over: past
    ``RESTART_WAL_FRAMES`` frames a RESTART checkpoint follows, so that the next write
    does."""
    writer = inbox_writer._writer(database)
    inbox_writer.write(database, rows_for(database, shop, "first"), settings.var_dir)
    writer.checkpoint_due = 0.0
    inbox_writer.write(database, rows_for(database, shop, "opens"), settings.var_dir)
    real = writer.checkpointer
    ran = []

    class Recording:
        def execute(self, sql):
            ran.append(sql.split("(")[1].rstrip(")"))
            return real.execute(sql)

        def close(self):
            real.close()

    writer.checkpointer = Recording()
    for bound, expected in ((10_000, ["PASSIVE"]), (0, ["PASSIVE", "RESTART"])):
        ran.clear()
        monkeypatch.setattr(inbox_writer, "RESTART_WAL_FRAMES", bound)
        writer.checkpoint_due = 0.0
        inbox_writer.write(database, rows_for(database, shop, f"past {bound}"),
                           settings.var_dir)
        assert ran == expected
    assert len(stored(database)) == 4


def test_the_count_of_new_rows_is_per_statement(database, shop):
    with database.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        dialect = "postgresql" if database.is_postgres else "sqlite"
        cursor = raw.cursor()
        assert inbox.insert_raw(cursor, dialect, rows_for(database, shop, "x", "y")) == 2
        assert inbox.insert_raw(cursor, dialect, rows_for(database, shop, "x", "z")) == 1
        raw.commit()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == 3


def test_a_broken_postgres_connection_is_replaced(database, shop, settings):
    if not database.is_postgres:
        pytest.skip("PostgreSQL's writer pool")
    writer = inbox_writer._writer(database)
    writer.engine.dispose()  # one connection from here on: the one killed below
    inbox_writer.write(database, rows_for(database, shop, "a"), settings.var_dir)
    raw = writer.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    finally:
        raw.close()
    with database.engine.begin() as conn:  # as a server restart would
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    inbox_writer.write(database, rows_for(database, shop, "b"), settings.var_dir)
    assert stored(database) == ["a", "b"]
