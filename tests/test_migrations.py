"""Migrations build the schema the models describe, on a fresh database of each kind the
suite runs on; and the embedded SQLite runs in WAL mode with a busy timeout.

``test_upgrade_matches_the_models`` is the test that fails when a model changes without a
migration (``python -m hub.core.migrate revision "..."`` writes one).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from hub.web.app import create_app
from hub.core import migrate
from hub.core.config import Settings
from hub.core.db import Database
from hub.models import Base, Merchant
from tests.conftest import TEST_SECRET


def _postgres_fresh_url():
    """A new, empty PostgreSQL database beside the test one; dropped afterwards."""
    server = make_url(os.environ["HUB_TEST_DATABASE_URL"])
    name = f"hub_migrations_test_{os.getpid()}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


KINDS = ["sqlite"] + (["postgresql"] if os.environ.get("HUB_TEST_DATABASE_URL") else [])


@pytest.fixture(params=KINDS)
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        # a directory that does not exist yet: upgrade creates it
        yield f"sqlite:///{tmp_path / 'new' / 'hub.db'}"
    else:
        yield from _postgres_fresh_url()


def _tables(url) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(url) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _head() -> str:
    return ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def test_upgrade_matches_the_models(fresh_url):
    if fresh_url.startswith("sqlite:///"):
        assert not Path(fresh_url.removeprefix("sqlite:///")).parent.exists()
    else:
        assert _tables(fresh_url) == set()
    migrate.upgrade(fresh_url)
    assert _tables(fresh_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert _revision(fresh_url) == _head()
    assert migrate.pending_diffs(fresh_url, Base.metadata) == []


def test_upgrade_twice_is_a_no_op(fresh_url):
    migrate.upgrade(fresh_url)
    migrate.upgrade(fresh_url)
    assert _revision(fresh_url) == _head()
    assert migrate.pending_diffs(fresh_url, Base.metadata) == []


def test_downgrade_to_base_then_upgrade_again(fresh_url):
    migrate.upgrade(fresh_url)
    migrate.downgrade(fresh_url, "base")
    assert _tables(fresh_url) <= {"alembic_version"}
    assert _revision(fresh_url) is None
    migrate.upgrade(fresh_url)
    assert _revision(fresh_url) == _head()
    assert migrate.pending_diffs(fresh_url, Base.metadata) == []
    db = Database(fresh_url)  # and the schema is usable
    try:
        with db.session() as s:
            s.add(Merchant(name="after round trip"))
        with db.session(readonly=True) as s:
            assert s.scalars(select(Merchant.name)).all() == ["after round trip"]
    finally:
        db.dispose()


def test_drift_between_models_and_database_is_reported(fresh_url):
    migrate.upgrade(fresh_url)
    engine = create_engine(fresh_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE merchants ADD COLUMN nickname VARCHAR(20)"))
    engine.dispose()
    diffs = migrate.pending_diffs(fresh_url, Base.metadata)
    assert diffs and "nickname" in repr(diffs)

    settings = Settings.from_env(env="test", database_url=fresh_url, secret_key=TEST_SECRET,
                                 log_level="WARNING")
    app = create_app(settings)
    try:
        result = app.test_cli_runner().invoke(args=["db", "check", "--json"])
    finally:
        app.extensions["hub"].db.dispose()
    assert result.exit_code != 0
    assert "models and migrations differ" in json.loads(result.output)["error"]


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}", busy_timeout_ms=4321)
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 4321
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


def test_sqlite_readers_do_not_wait_for_a_writer(tmp_path):
    """WAL: a read-only session reads the last committed data while a write is open."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate.upgrade(url)
    db = Database(url, busy_timeout_ms=0)  # any wait would fail at once
    try:
        with db.session() as s:
            s.add(Merchant(name="committed"))
        with db.session() as writer:
            writer.add(Merchant(name="not yet committed"))
            writer.flush()  # holds the write lock (BEGIN IMMEDIATE)
            with db.session(readonly=True) as reader:
                assert reader.scalars(select(Merchant.name)).all() == ["committed"]
    finally:
        db.dispose()


def test_data_moves_with_the_resubscribe_and_open_alert_migration(fresh_url):
    """8ec26889ea68: a ``resubscribe_after:`` flag becomes the column; duplicate open
    alerts (possible before the unique index) are resolved, the newest kept open."""
    migrate.upgrade(fresh_url, "c1211beb3d57")
    engine = create_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO merchants (id, name, created_at) "
                              "VALUES (1, 'm', CURRENT_TIMESTAMP)"))
            for n in (1, 2):
                conn.execute(text(
                    "INSERT INTO alerts (merchant_id, kind, severity, entity, entity_id, "
                    "message, details, created_at) VALUES (1, 'parcel_problem', 'warning', "
                    f"'shipment', 7, 'copy {n}', '{{}}', CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO shipments (id, direction, carrier, tracking_number, status, "
                "interception_status, subscription_status, subscription_count, flags, "
                "merchant_id, created_at, updated_at) VALUES (1, 'outbound', 'sf', 'SF1', "
                "'pending', 'none', 'subscribed', 1, '[\"held_final:x\", "
                "\"resubscribe_after:2026-12-01T10:30:00+00:00\"]', 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"))
        migrate.upgrade(fresh_url)
        with engine.connect() as conn:
            open_rows = conn.execute(text("SELECT message FROM alerts "
                                          "WHERE resolved_at IS NULL")).scalars().all()
            due, flags = conn.execute(text("SELECT resubscribe_after, flags FROM shipments")).one()
        assert open_rows == ["copy 2"]
        assert str(due).startswith("2026-12-01 10:30:00") and "resubscribe_after" not in flags
    finally:
        engine.dispose()


def test_cases_already_there_get_a_buyer_page_token(fresh_url):
    """6c59d276f864: a case made before the buyer page gets its unguessable link too."""
    migrate.upgrade(fresh_url, "b2f0c4e1a901")
    engine = create_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO merchants (id, name, created_at) "
                              "VALUES (1, 'm', CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO accounts (id, connector, kind, name, config, status, "
                              "merchant_id, created_at, updated_at) VALUES (1, 'generic_shop', "
                              "'platform', 's', 'x', 'active', 1, CURRENT_TIMESTAMP, "
                              "CURRENT_TIMESTAMP)"))
            for n in (1, 2):
                conn.execute(text(
                    "INSERT INTO return_cases (id, shop_account_id, platform_return_id, kind, "
                    "reason_code, status, refund_minor, currency, flags, merchant_id, "
                    f"created_at, updated_at) VALUES ({n}, 1, 'R{n}', 'return_refund', "
                    "'other', 'requested', 100, 'CNY', '[]', 1, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"))
        migrate.upgrade(fresh_url)
        with engine.connect() as conn:
            tokens = conn.execute(text("SELECT public_token FROM return_cases")).scalars().all()
        assert len(set(tokens)) == 2 and all(len(t) >= 32 for t in tokens)
    finally:
        engine.dispose()
