"""The durable inbox: what came in, stored raw before any processing.

An ``InboxEvent`` moves ``received → processed | ignored | failed`` (``jobs.process_inbox``
does the moving); a ``received`` event waits until ``next_attempt_at``. This module holds
the two writes everyone shares:

* ``store(session, account, events, source=..., headers=...)``: one
  ``INSERT ... ON CONFLICT DO NOTHING`` on ``(connector, account_id, external_event_id)``
  for a batch of ``WebhookEvent``s, plus a wake-up for the worker when something new
  went in. Answers how many rows were new: a redelivery inserts nothing and changes
  nothing. Used by polling (``source="poll"``). ``insert`` is the same statement on a
  Core connection. The webhook receiver's writer (``hub.pipeline.inbox_writer``) uses
  ``raw_rows`` + ``insert_raw``, the same rows and conflict rule as driver SQL on a
  DBAPI cursor, and wakes the worker itself.
* ``replay(session, event, actor)``: a ``failed`` or ``ignored`` event back to
  ``received``, due now, attempts reset, audited. Used by the API and the CLI.

``safe_headers`` is the only way headers are stored: credentials dropped, secret-looking
values scrubbed (``logs.scrub_header``). ``QuarantineLimiter`` bounds how many rejected
deliveries the receiver writes to ``quarantined_requests``; ``prune_quarantine`` deletes
those older than ``HUB_QUARANTINE_RETENTION_DAYS`` (``jobs.prune_quarantine``).
"""
from __future__ import annotations

import functools
import ipaddress
import json
import threading
import time
from collections import deque
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.base import WebhookEvent
from hub.models import audit
from hub.core import logs, wakeup
from hub.core.db import utcnow
from hub.core.errors import Conflict
from hub.models import Account, InboxEvent, QuarantinedRequest

REPLAYABLE = ("failed", "ignored")
DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
MAX_HEADER_VALUE = 1000
_UNIQUE = ["connector", "account_id", "external_event_id"]


def _insert_statement(insert):
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: built once, compiled once (an
    ORM insert with literal values compiles every time)."""
    table = InboxEvent.__table__
    return (insert(table).on_conflict_do_nothing(index_elements=_UNIQUE)
            .returning(table.c.id))


_INSERTS = {"postgresql": _insert_statement(postgresql.insert),
            "sqlite": _insert_statement(sqlite.insert)}


def safe_headers(headers) -> dict[str, str]:
    """Lower-cased headers without credentials, secret-looking values scrubbed (what
    ``logs.scrub`` makes of the dict, value by value, memoised)."""
    kept = {}
    for name, value in headers.items():
        key = name.lower()
        if key not in DROPPED_HEADERS:
            kept[key] = logs.scrub_header(key, str(value)[:MAX_HEADER_VALUE])
    return kept


def store(session: Session, account: Account, events: list[WebhookEvent], *, var_dir: Path,
          source: str = "webhook", headers: dict | None = None) -> int:
    """Insert the events not stored yet and wake the worker if any was new (on commit);
    returns how many were new. Call in a transaction."""
    inserted = insert(session.connection(), account, events, source=source, headers=headers)
    if inserted:
        wakeup.notify(session, "inbox", var_dir)
    return inserted


def insert(conn, account: Account, events: list[WebhookEvent], *, source: str = "webhook",
           headers: dict | None = None) -> int:
    """``store`` without the wake-up, on a Core ``Connection`` (the receiver's fast path)."""
    if not events:
        return 0
    now = utcnow()
    rows = [{"merchant_id": account.merchant_id, "connector": account.connector,
             "account_id": account.id, "external_event_id": ev.external_event_id,
             "event_type": ev.event_type, "source": source, "headers": headers or {},
             "body": ev.body, "received_at": now, "status": "received",
             "next_attempt_at": now, "attempts": 0}
            for ev in events]
    statement = _INSERTS[conn.dialect.name]
    # RETURNING gives only the rows inserted: a duplicate returns nothing
    return sum(len(conn.execute(statement, row).all()) for row in rows)


# ``insert_raw``: the columns ``insert`` writes, as driver SQL. SQLite and psycopg both
# take these values as they are, except the JSON headers (text) and, on SQLite, the
# timestamps (naive UTC text, as ``hub.core.db.UTCDateTime`` stores them).
_RAW_COLUMNS = ("merchant_id", "connector", "account_id", "external_event_id", "event_type",
                "source", "headers", "body", "received_at", "status", "next_attempt_at",
                "attempts")
RAW_ROWS_PER_STATEMENT = 50  # 600 parameters: within every SQLite's limit


@functools.lru_cache(maxsize=64)
def _raw_sql(dialect: str, rows: int) -> str:
    columns = ", ".join(_RAW_COLUMNS)
    mark = "?" if dialect == "sqlite" else "%s"
    one = ", ".join(f"{mark}::json" if c == "headers" and dialect != "sqlite" else mark
                    for c in _RAW_COLUMNS)
    sql = (f"INSERT INTO {InboxEvent.__tablename__} ({columns}) VALUES "
           + ", ".join(f"({one})" for _ in range(rows))
           + f" ON CONFLICT ({', '.join(_UNIQUE)}) DO NOTHING")
    if dialect == "sqlite":
        return sql  # the cursor's rowcount is the number of rows inserted
    # pg_notify in the same statement: queued with the insert, sent on commit, once per
    # transaction however many rows are new (PostgreSQL folds identical notifications);
    # one result row per row inserted
    return f"WITH new AS ({sql} RETURNING id) SELECT id, pg_notify(%s, %s) FROM new"


def raw_rows(dialect: str, account: Account, events: list[WebhookEvent], *, headers: dict,
             source: str = "webhook") -> list[tuple]:
    """The rows ``insert_raw`` writes for a delivery's events (``dialect``: ``sqlite`` or
    ``postgresql``): the columns ``insert`` writes, as the driver takes them."""
    now = utcnow()
    stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds") \
        if dialect == "sqlite" else now
    header_json = json.dumps(headers)
    return [(account.merchant_id, account.connector, account.id, ev.external_event_id,
             ev.event_type, source, header_json, ev.body, stamp, "received", stamp, 0)
            for ev in events]


def insert_raw(cursor, dialect: str, rows: list[tuple]) -> int:
    """``insert`` on a DBAPI cursor, without SQLAlchemy's per-statement work: the webhook
    receiver's hot path. One statement per ``RAW_ROWS_PER_STATEMENT`` rows, in the
    caller's transaction (in autocommit mode a lone statement is its own transaction).
    On PostgreSQL the statement also queues the worker's wake-up when a row is new
    (``pg_notify``, sent on commit); on SQLite the caller sends it after committing.
    Returns how many rows were new."""
    inserted = 0
    for start in range(0, len(rows), RAW_ROWS_PER_STATEMENT):
        chunk = rows[start:start + RAW_ROWS_PER_STATEMENT]
        params = [value for row in chunk for value in row]
        if dialect != "sqlite":
            params += (wakeup.PG_CHANNEL, "inbox")
        cursor.execute(_raw_sql(dialect, len(chunk)), params)
        inserted += cursor.rowcount  # rows inserted: a duplicate is not one
    return inserted


def replay(session: Session, event: InboxEvent, actor: str, *, var_dir: Path) -> InboxEvent:
    """Queue a finished event again (``failed`` or ``ignored`` only; else ``Conflict``)."""
    if event.status not in REPLAYABLE:
        raise Conflict(f"inbox event {event.id} is {event.status}; only "
                       f"{' or '.join(REPLAYABLE)} events can be replayed",
                       details={"status": event.status})
    previous = event.status
    event.status = "received"
    event.next_attempt_at = utcnow()
    event.attempts = 0
    event.processed_at = None
    event.error_class = event.error_message = None
    event.lease_owner = event.lease_expires_at = None
    audit.record(session, event.merchant_id, actor, "inbox_event.replayed", "inbox_event",
                 event.id, {"from_status": previous})
    wakeup.notify(session, "inbox", var_dir)
    return event


# -- the quarantine ------------------------------------------------------------------------
class QuarantineLimiter:
    """Whether a rejected delivery may be written to the quarantine: at most ``per_source``
    a minute from one client address (an IPv6 /64 counts as one) and ``per_account`` a
    minute for one webhook URL, over a sliding window. What is not written is answered
    the same way. In-process: each web worker process counts for itself (the embedded
    mode runs ``HUB_WEB_WORKERS`` of them), which bounds the rows all the same; past
    ``MAX_KEYS`` addresses and URLs the idle ones are forgotten, then all of them."""

    PER_SOURCE, PER_ACCOUNT, WINDOW_S, MAX_KEYS = 30, 120, 60.0, 10_000

    def __init__(self, per_source: int = PER_SOURCE, per_account: int = PER_ACCOUNT,
                 window_s: float = WINDOW_S, clock=time.monotonic):
        self.limits = {"source": per_source, "account": per_account}
        self.window_s, self.clock = window_s, clock
        self._hits: dict[tuple[str, str], deque] = {}
        self._lock = threading.Lock()

    def allow(self, source: str | None, account: str) -> bool:
        """Count one write for ``source`` (the client address) and ``account`` (the URL's
        connector and account id), or refuse it when either is over its limit."""
        now = self.clock()
        keys = (("source", _source_key(source)), ("account", account))
        with self._lock:
            if len(self._hits) > self.MAX_KEYS:
                self._forget_idle(now)
            windows = []
            for key in keys:
                hits = self._hits.setdefault(key, deque())
                while hits and now - hits[0] >= self.window_s:
                    hits.popleft()
                if len(hits) >= self.limits[key[0]]:
                    return False
                windows.append(hits)
            for hits in windows:
                hits.append(now)
            return True

    def _forget_idle(self, now: float) -> None:
        self._hits = {k: v for k, v in self._hits.items()
                      if v and now - v[-1] < self.window_s}
        if len(self._hits) > self.MAX_KEYS:
            self._hits = {}


def _source_key(address: str | None) -> str:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return (address or "")[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def prune_quarantine(session: Session, retention_days: int, batch: int = 1000) -> int:
    """Delete up to ``batch`` quarantined requests older than ``retention_days``; returns
    how many went."""
    cutoff = utcnow() - timedelta(days=retention_days)
    ids = select(QuarantinedRequest.id).where(QuarantinedRequest.received_at < cutoff) \
        .order_by(QuarantinedRequest.id).limit(batch)
    ids = list(session.scalars(ids))
    if ids:
        session.execute(delete(QuarantinedRequest).where(QuarantinedRequest.id.in_(ids)))
    return len(ids)
