"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
``HUB_TEST_DATABASE_URL`` is set (CI does both).

The schema is built once per session by the real migrations; after every test all rows
are deleted (the append-only ledger's too: ``triggers_lifted``), so tests may commit
freely and may use several threads or processes.
"""
from __future__ import annotations

import contextlib
import os

import pytest
from sqlalchemy import text

from connectors import outbound
from hub import wiring
from hub.web.app import create_app
from hub.core import migrate
from hub.core.config import Settings
from hub.core.db import Database
from hub.models import Base
from hub.parties import accounts

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# the tests' sandboxes and receivers listen on loopback, as the embedded mode's do
TEST_OUTBOUND_ALLOW = ("127.0.0.1", "::1", "localhost")


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("HUB_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'hub.db'}"


def reset_schema(url: str) -> None:
    """An empty database, then every migration."""
    db = Database(url)
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        else:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.dispose()
    migrate.upgrade(url)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = _database_url(tmp_path_factory)
    reset_schema(url)
    return url


@pytest.fixture(scope="session")
def settings(database_url, tmp_path_factory) -> Settings:
    return Settings.from_env(env="test", database_url=database_url, secret_key=TEST_SECRET,
                             var_dir=tmp_path_factory.mktemp("var"), log_level="WARNING",
                             outbound_allow=TEST_OUTBOUND_ALLOW)


@pytest.fixture(scope="session")
def database(settings) -> Database:
    db = Database(settings.database_url)
    yield db
    db.dispose()


@contextlib.contextmanager
def triggers_lifted(conn):
    """The tables' own triggers (the ledger's refuse UPDATE and DELETE) off within the
    block, in ``conn``'s transaction: on PostgreSQL disabled and enabled again, on SQLite
    dropped and created again from their stored SQL. DDL is transactional on both, so a
    block that fails rolls back with them in place."""
    if conn.dialect.name == "postgresql":
        tables = conn.exec_driver_sql("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger "
                                      "WHERE NOT tgisinternal").scalars().all()
        for name in tables:
            conn.exec_driver_sql(f"ALTER TABLE {name} DISABLE TRIGGER USER")
        yield
        for name in tables:
            conn.exec_driver_sql(f"ALTER TABLE {name} ENABLE TRIGGER USER")
    else:
        triggers = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master "
                                        "WHERE type = 'trigger'").all()
        for name, _ in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        yield
        for _, sql in triggers:
            conn.exec_driver_sql(sql)


def wipe(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        ledger = conn.execute(text("SELECT 1 FROM ledger_entries LIMIT 1")).first()
        # the append-only ledger's triggers are lifted only when it has rows to delete
        with triggers_lifted(conn) if ledger else contextlib.nullcontext():
            for name in tables:  # children first; on PostgreSQL far faster than TRUNCATE
                conn.execute(text(f"DELETE FROM {name}"))
        if db.is_postgres:  # ids start again at 1, as after TRUNCATE ... RESTART IDENTITY
            conn.execute(text(" UNION ALL ".join(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 1, false)"
                for name in tables)))
    accounts.forget_all()  # an account cached by an earlier test may have this one's id


@pytest.fixture(scope="session", autouse=True)
def _wired():
    """Every test runs with the hub's wiring, as every process does (``hub.wiring``)."""
    wiring.wire()


@pytest.fixture(autouse=True)
def _outbound_allow():
    """Every test may call local servers (``HUB_OUTBOUND_ALLOW``); the guard's own tests
    install a list of their own."""
    previous = outbound.configure(TEST_OUTBOUND_ALLOW)
    yield
    outbound.configure(previous)


@pytest.fixture(autouse=True)
def _clean_database(request):
    yield
    if "database" in request.fixturenames:
        wipe(request.getfixturevalue("database"))


@pytest.fixture
def app(settings, database):
    return create_app(settings, database)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(database):
    with database.session() as s:
        yield s
