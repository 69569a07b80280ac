"""The durable inbox: what came in, stored raw before any processing.

An ``InboxEvent`` moves ``received → processed | ignored | failed`` (``jobs.process_inbox``
does the moving); a ``received`` event waits until ``next_attempt_at``. This module holds
the two writes everyone shares:

* ``store(session, account, events, source=..., headers=...)``: one
  ``INSERT ... ON CONFLICT DO NOTHING`` on ``(connector, account_id, external_event_id)``
  for a batch of ``WebhookEvent``s, plus a wake-up for the worker when something new
  went in. Answers how many rows were new: a redelivery inserts nothing and changes
  nothing. Used by polling (``source="poll"``); the webhook receiver uses ``insert``,
  the same statement on a Core connection, and wakes the worker itself.
* ``replay(session, event, actor)``: a ``failed`` or ``ignored`` event back to
  ``received``, due now, attempts reset, audited. Used by the API and the CLI.

``safe_headers`` is the only way headers are stored: credentials dropped, secret-looking
values scrubbed.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.base import WebhookEvent
from hub import audit, logs, wakeup
from hub.db import utcnow
from hub.errors import Conflict
from hub.models import Account, InboxEvent

REPLAYABLE = ("failed", "ignored")
DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
MAX_HEADER_VALUE = 1000
_UNIQUE = ["connector", "account_id", "external_event_id"]


def _insert_statement(insert):
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: built once, compiled once (the
    receiver is benchmarked; an ORM insert with literal values compiles every time)."""
    table = InboxEvent.__table__
    return (insert(table).on_conflict_do_nothing(index_elements=_UNIQUE)
            .returning(table.c.id))


_INSERTS = {"postgresql": _insert_statement(postgresql.insert),
            "sqlite": _insert_statement(sqlite.insert)}


def safe_headers(headers) -> dict[str, str]:
    """Lower-cased headers without credentials, secret-looking values scrubbed."""
    kept = {}
    for name, value in headers.items():
        key = name.lower()
        if key in DROPPED_HEADERS:
            continue
        kept[key] = str(value)[:MAX_HEADER_VALUE]
    return logs.scrub(kept)


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
