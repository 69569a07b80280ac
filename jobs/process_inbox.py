"""Processing the inbox: turn each stored event into common-model changes.

One batch (``run(app, owner)``):

1. ``claim`` up to ``BATCH`` events that are ``received`` and due, leased to ``owner``
   for ``settings.lease_seconds`` and renewed while the batch is worked (``kept``);
2. per event, outside any transaction: the connector turns the stored body into records
   (``records_for_event``, which may call the outside system for a thin trigger) and
   maps each (``map_record``). A ``refresh_token_then_retry`` here refreshes the token
   once and tries again at once — no database lock is held while it does;
3. per event, in its own transaction: re-check the lease is still ours (``FOR UPDATE``
   on PostgreSQL), ``hub.pipeline.sync.apply`` every value inside a savepoint, then mark the event
   ``processed`` (something was created or updated) or ``ignored`` (nothing applicable:
   an unknown parcel, an older update, an event type the connector does not handle),
   clear its error and release the lease.

Errors are data, recorded on the event with the lease released:

* ``retry`` / ``rate_limited`` / ``refresh_token_then_retry`` (and any unexpected
  exception, recorded as ``retry``) → stays ``received``, ``attempts + 1``, due again
  after ``retry_delay`` (exponential with jitter; never before a ``retry_after``), and
  ``failed`` once ``MAX_ATTEMPTS`` attempts were made;
* ``fail_config`` → ``failed``, and the account ``needs_attention`` with the reason;
* ``fail_data`` → ``failed``; so is a value the database cannot hold (a ``DataError``, an
  integer beyond 64 bits): retrying would never help.

A failed or ignored event is replayed by an operator (``hub.pipeline.inbox.replay``). Processing
is idempotent: bindings make a second run of the same event update nothing new.
"""
from __future__ import annotations

import logging
import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import DataError

from connectors.base import ConnectorError, ErrorClass
from hub.core.db import Database, utcnow
from hub.core.logs import scrub_text
from hub.models import Account, InboxEvent, audit
from hub.parties.accounts import connector_for
from hub.pipeline import sync
from jobs.claims import claim, kept, release

log = logging.getLogger(__name__)

BATCH = 50
MAX_ATTEMPTS = 8
BASE_DELAY_S = 10.0      # after the first failed attempt
FACTOR = 3.0             # 10 s, 30 s, 90 s, 4.5 min, 13.5 min, 40 min, 2 h (then failed)
MAX_DELAY_S = 6 * 3600.0
JITTER = 0.2             # ±20 %
ERROR_CHARS = 1000
ACTOR = "job:process_inbox"
APPLIED = ("created", "updated")


def retry_delay(attempts_made: int, retry_after: float | None = None,
                rand=random.random) -> float:
    """Seconds to wait after ``attempts_made`` failed attempts (1, 2, ...)."""
    base = min(MAX_DELAY_S, BASE_DELAY_S * FACTOR ** max(0, attempts_made - 1))
    delay = base * (1 - JITTER + 2 * JITTER * rand())
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


def run(app, owner: str) -> int:
    ctx = app.extensions["hub"]
    db, settings = ctx.db, ctx.settings
    now = utcnow()
    due = (InboxEvent.status == "received") & (InboxEvent.next_attempt_at <= now)
    ids = claim(db, InboxEvent, due, owner, settings.lease_seconds, BATCH)
    with kept(db, InboxEvent, ids, owner, settings.lease_seconds):
        for event_id in ids:
            try:
                process_event(db, event_id, owner, settings.public_url)
            except Exception:  # e.g. the database went away: the lease expires, it is retried
                log.exception("inbox event could not be processed",
                              extra={"inbox_event_id": event_id})
    return len(ids)


def _load(db: Database, event_id: int, owner: str):
    """A detached copy of our leased event and its account, or None when not ours."""
    with db.session(readonly=True) as s:
        event = s.scalar(select(InboxEvent).where(
            InboxEvent.id == event_id, InboxEvent.lease_owner == owner,
            InboxEvent.status == "received"))
        if event is None:
            return None
        account = s.get(Account, event.account_id)
        s.expunge_all()
        return event, account


def _values(connector, event: InboxEvent) -> list:
    """Records of the event, mapped; refreshes the token once if the connector asks."""
    for attempt in (1, 2):
        try:
            records = connector.records_for_event(event.event_type, event.body)
            mapped = (connector.map_record(record) for record in records)
            return [values for values in mapped if values is not None]
        except ConnectorError as e:
            if e.error_class is not ErrorClass.REFRESH_TOKEN_THEN_RETRY or attempt == 2:
                raise
        connector.refresh_token()  # a ConnectorError here is the attempt's outcome
    raise AssertionError("unreachable")  # pragma: no cover


def _unexpected(e: Exception, event_id: int, stage: str) -> ConnectorError:
    log.error("inbox event failed unexpectedly", exc_info=True,
              extra={"inbox_event_id": event_id, "stage": stage})
    return ConnectorError(ErrorClass.RETRY, f"unexpected {type(e).__name__} while {stage}: {e}")


def process_event(db: Database, event_id: int, owner: str, public_url: str = "") -> str | None:
    """Process one leased event; returns its new status, or None when it is not ours."""
    loaded = _load(db, event_id, owner)
    if loaded is None:
        return None
    event, account = loaded
    error, values = None, []
    try:
        values = _values(connector_for(db, account, public_url), event)
    except ConnectorError as e:
        error = e
    except Exception as e:  # noqa: BLE001 (any failure is data: retried, then failed)
        error = _unexpected(e, event_id, "reading records")
    with db.session() as s:
        stmt = select(InboxEvent).where(InboxEvent.id == event_id,
                                        InboxEvent.lease_owner == owner,
                                        InboxEvent.status == "received")
        if db.is_postgres:
            stmt = stmt.with_for_update()
        event = s.scalar(stmt)
        if event is None:
            log.warning("inbox lease lost before applying", extra={"inbox_event_id": event_id})
            return None
        account = s.get(Account, event.account_id)
        outcomes: list[str] = []
        if error is None:
            try:
                with s.begin_nested():
                    outcomes = [sync.apply(s, account, v) for v in values]
            except ConnectorError as e:
                error = e
            except (DataError, OverflowError) as e:  # a value the database cannot hold
                error = ConnectorError(ErrorClass.FAIL_DATA, f"the database refused a value: "
                                       f"{str(e).splitlines()[0][:300]}")
            except Exception as e:  # noqa: BLE001
                error = _unexpected(e, event_id, "applying records")
        if error is None:
            _succeed(event, outcomes)
        else:
            _fail(s, event, account, error)
        return event.status


def _succeed(event: InboxEvent, outcomes: list[str]) -> None:
    event.attempts += 1
    event.status = "processed" if any(o in APPLIED for o in outcomes) else "ignored"
    event.processed_at = utcnow()
    event.error_class = event.error_message = None
    release(event)


def _fail(s, event: InboxEvent, account: Account, error: ConnectorError) -> None:
    now = utcnow()
    cls = error.error_class
    event.attempts += 1
    event.error_class = cls.value
    event.error_message = scrub_text(str(error.message))[:ERROR_CHARS]
    release(event)
    if cls is ErrorClass.FAIL_CONFIG:
        event.status = "failed"
        reason = f"inbox event {event.id} failed: {event.error_message}"
        account.status, account.status_reason = "needs_attention", reason[:500]
        audit.record(s, event.merchant_id, ACTOR, "account.needs_attention", "account",
                     account.id, {"inbox_event_id": event.id, "error_class": cls.value})
    elif cls is ErrorClass.FAIL_DATA or event.attempts >= MAX_ATTEMPTS:
        event.status = "failed"
    else:
        delay = retry_delay(event.attempts, error.retry_after)
        event.next_attempt_at = now + timedelta(seconds=delay)
    if event.status == "failed":
        log.warning("inbox event failed", extra={
            "inbox_event_id": event.id, "error_class": cls.value, "attempts": event.attempts})
