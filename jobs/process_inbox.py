"""Processing the inbox: turn stored events into common-model changes, a batch at a time.

One batch (``run(app, owner)``):

1. ``claim`` up to ``BATCH`` events that are ``received`` and due (earliest due first),
   leased to ``owner``
   for ``settings.lease_seconds`` and renewed while the batch is worked (``kept``);
2. outside any transaction: each event's connector turns the stored body into records
   (``records_for_event``, which may call the outside system for a thin trigger) and
   maps each (``map_record``; mappers are pure). A ``refresh_token_then_retry`` here
   refreshes the token once and tries again at once — no database lock is held;
3. full-state values (``full_state``: an order record) for the same entity collapse to
   the newest: it is applied once, where the entity first appears, and every event that
   carried a version of it gets that outcome;
4. slices, each one transaction: fence the batch (our lease, still ``received``: one
   statement, ``FOR UPDATE`` in id order on PostgreSQL), read what the values need with
   one query per kind (``hub.pipeline.sync.preload``: bindings, shipments and their
   events' keys), ``hub.pipeline.sync.apply`` the values without savepoints (rows get their ids
   when added, ``hub.core.ids``, and go in at one flush), write every event's outcome in
   one statement. A slice ends after ``SLICE_S`` (on SQLite the webhook receiver waits
   for the write lock that long at most) and commits; on SQLite the next one begins
   after a pause in which every writer waiting for the lock gets it
   (``hub.core.db.when_free``);
5. when anything in a slice raises, its transaction is undone and the events it had
   applied are applied again one by one, each in its own transaction with its values in
   a savepoint: only the bad event is retried or failed, and it spends only its own
   attempt. The rest of the batch goes on in slices.

An event becomes ``processed`` (something was created or updated) or ``ignored``
(nothing applicable: an unknown parcel, an older update, an event type the connector does
not handle), its error cleared and its lease released. Errors are data, recorded on the
event with the lease released:

* ``retry`` / ``rate_limited`` / ``refresh_token_then_retry`` (and any unexpected
  exception, recorded as ``retry``) → stays ``received``, ``attempts + 1``, due again
  after ``retry_delay`` (exponential with jitter; never before a ``retry_after``), and
  ``failed`` once ``MAX_ATTEMPTS`` attempts were made;
* ``fail_config`` → ``failed``, and the account ``needs_attention`` with the reason;
* ``fail_data`` → ``failed``; so is a value the database cannot hold (a ``DataError``, an
  integer beyond 64 bits): retrying would never help.

A failed or ignored event is replayed by an operator (``hub.pipeline.inbox.replay``).
Processing is idempotent: bindings make a second run of the same event update nothing
new, and an event's outcome commits with what it applied.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import defer

from connectors.base import ConnectorError, ErrorClass
from hub.core.crypto import SecretsUnavailable
from hub.core.db import BUSY_MAX_PAUSE_S, Database, utcnow
from hub.core.logs import scrub_text
from hub.models import Account, InboxEvent, audit
from hub.parties.accounts import connector_for
from hub.pipeline import sync
from jobs.claims import claim, kept

log = logging.getLogger(__name__)

BATCH = 100
# How long one transaction applies events before it commits and the next begins: on SQLite
# a writer holds the database lock, so the webhook receiver's insert waits at most this.
SLICE_S = {"sqlite": 0.02, "postgresql": 0.5}
MAX_ATTEMPTS = 8
BASE_DELAY_S = 10.0      # after the first failed attempt
FACTOR = 3.0             # 10 s, 30 s, 90 s, 4.5 min, 13.5 min, 40 min, 2 h (then failed)
MAX_DELAY_S = 6 * 3600.0
JITTER = 0.2             # ±20 %
ERROR_CHARS = 1000
ACTOR = "job:process_inbox"
APPLIED = ("created", "updated")
_OUTCOME = ("status", "attempts", "processed_at", "next_attempt_at", "error_class",
            "error_message", "lease_owner", "lease_expires_at")


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
    # by due time, as the (status, next_attempt_at) index holds them: a backlog of any size
    # is not sorted again for every batch
    ids = claim(db, InboxEvent, due, owner, settings.lease_seconds, BATCH,
                order=(InboxEvent.next_attempt_at, InboxEvent.id))
    if not ids:
        return 0
    with kept(db, InboxEvent, ids, owner, settings.lease_seconds):
        try:
            process_batch(db, ids, owner, settings.public_url)
        except Exception:  # e.g. the database went away: the leases expire, it is retried
            log.exception("inbox batch could not be processed",
                          extra={"inbox_event_ids": ids[:20]})
    return len(ids)


@dataclass
class Work:
    """One leased event: its detached row and account (None: it could not be read), and
    what mapping made of it."""

    event: InboxEvent
    account: Account | None
    values: list = field(default_factory=list)
    error: ConnectorError | None = None


def process_batch(db: Database, ids: list[int], owner: str, public_url: str = "") -> None:
    """Map the leased events ``ids`` outside any transaction, then apply them in slices."""
    works = _load(db, ids, owner)
    connectors: dict[int, object] = {}
    for work in works:
        account = work.account
        if account is None:
            continue
        try:
            connector = connectors.get(account.id) or connector_for(db, account, public_url)
            connectors[account.id] = connector
            work.values = _values(connector, work.event)
        except ConnectorError as e:
            work.error = e
        except Exception as e:  # noqa: BLE001 (any failure is data: retried, then failed)
            work.error = _unexpected(e, work.event.id, "reading records")
    _collapse(works)
    applied: dict[int, str] = {}  # id(values) → its committed outcome
    while works:
        done, failed = _apply_slice(db, works, owner, applied)
        for work in works[done:done + failed]:
            _apply_alone(db, work, owner, applied)
        works = works[done + failed:]
        if works and not db.is_postgres:  # let a writer waiting for SQLite's lock in
            time.sleep(2 * BUSY_MAX_PAUSE_S)


def _load(db: Database, ids: list[int], owner: str) -> list[Work]:
    """Detached copies of the events in ``ids`` still leased to ``owner``, with accounts.
    An account whose secrets cannot be read (the key was changed) fails only its own
    events, each retried."""
    with db.session(readonly=True) as s:
        events = list(s.scalars(select(InboxEvent).where(
            InboxEvent.id.in_(ids), InboxEvent.lease_owner == owner,
            InboxEvent.status == "received").order_by(InboxEvent.id)))
        accounts, unreadable = {}, {}
        for account_id in {e.account_id for e in events}:
            try:
                accounts[account_id] = s.get(Account, account_id)
            except SecretsUnavailable as e:
                unreadable[account_id] = ConnectorError(ErrorClass.RETRY, str(e))
        s.expunge_all()
    return [Work(e, accounts.get(e.account_id), error=unreadable.get(e.account_id))
            for e in events]


def _collapse(works: list[Work]) -> None:
    """Every full-state value becomes the newest one for its entity (ties: the later), so
    it is applied once and each event that carried a version shares its outcome."""
    newest: dict[tuple, object] = {}
    for work in works:
        for v in work.values:
            if getattr(v, "full_state", False):
                key = (work.event.account_id, type(v), v.external_id)
                known = newest.get(key)
                if known is None or not _older(v, known):
                    newest[key] = v
    for work in works:
        work.values = [newest[(work.event.account_id, type(v), v.external_id)]
                       if getattr(v, "full_state", False) else v for v in work.values]


def _older(a, b) -> bool:
    return bool(a.remote_updated_at and b.remote_updated_at
                and a.remote_updated_at < b.remote_updated_at)


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


def _fenced(s, db: Database, works: list[Work], owner: str) -> set[int]:
    """Which of ``works``' events are still ours and ``received``, locked in id order on
    PostgreSQL (two workers never wait on each other's rows in opposite orders)."""
    stmt = select(InboxEvent.id).where(
        InboxEvent.id.in_([w.event.id for w in works]), InboxEvent.lease_owner == owner,
        InboxEvent.status == "received").order_by(InboxEvent.id)
    fenced = set(s.scalars(stmt.with_for_update() if db.is_postgres else stmt))
    for work in works:
        if work.event.id not in fenced:
            log.warning("inbox lease lost before applying",
                        extra={"inbox_event_id": work.event.id})
    return fenced


def _apply_values(s, account: Account, work: Work, applied: dict, *, savepoint: bool):
    outcomes = []
    for v in work.values:
        if id(v) not in applied:
            applied[id(v)] = sync.apply(s, account, v, savepoint=savepoint)
        outcomes.append(applied[id(v)])
    return outcomes


def _apply_slice(db: Database, works: list[Work], owner: str,
                 applied: dict) -> tuple[int, int]:
    """Apply ``works`` in one transaction, without savepoints, until ``SLICE_S`` has
    passed; answers ``(done, failed)``: ``done`` works committed, then ``failed`` works to
    apply one by one (``_apply_alone``) because something raised and all was undone."""
    started, budget = time.monotonic(), SLICE_S[db.engine.dialect.name]
    attempted, outcomes, mine = 0, [], dict(applied)
    try:
        with db.session() as s:
            fenced = _fenced(s, db, works, owner)
            accounts = {i: _account(s, i) for i in {w.event.account_id for w in works}}
            for account in accounts.values():
                sync.preload(s, account, [
                    v for w in works if w.event.account_id == account.id for v in w.values])
            for work in works:
                attempted += 1
                if work.event.id in fenced:
                    account = accounts[work.event.account_id]
                    outcomes.append((work, account, work.error or _apply_values(
                        s, account, work, mine, savepoint=False)))
                if time.monotonic() - started > budget:
                    break
            _record(s, outcomes)
    except Exception:  # noqa: BLE001 (each event again on its own: only a bad one fails)
        log.info("inbox slice undone; its events are applied one by one", exc_info=True)
        return 0, attempted
    applied.update(mine)
    return attempted, 0


def _apply_alone(db: Database, work: Work, owner: str, applied: dict) -> None:
    """Apply one event in its own transaction, its values in a savepoint: an error is
    recorded on the event (retried or failed), never on the others."""
    mine = dict(applied)
    with db.session() as s:
        if work.event.id not in _fenced(s, db, [work], owner):
            return
        account = _account(s, work.event.account_id)
        outcome = work.error
        if outcome is None:
            try:
                with s.begin_nested():
                    outcome = _apply_values(s, account, work, mine, savepoint=True)
            except ConnectorError as e:
                outcome = e
            except (DataError, OverflowError) as e:  # a value the database cannot hold
                outcome = ConnectorError(ErrorClass.FAIL_DATA, "the database refused a "
                                         f"value: {str(e).splitlines()[0][:300]}")
            except Exception as e:  # noqa: BLE001
                outcome = _unexpected(e, work.event.id, "applying records")
        _record(s, [(work, account, outcome)])
    if not isinstance(outcome, ConnectorError):
        applied.update(mine)


def _account(s, account_id: int) -> Account:
    """The account without its config: applying never reads it (and an account whose
    secrets cannot be read still records its events' errors)."""
    return s.get(Account, account_id, options=[defer(Account.config)])


def _record(s, outcomes: list[tuple[Work, Account, "list[str] | ConnectorError"]]) -> None:
    """Write each event's outcome (a list of what its values did, or its error) in one
    statement, with the lease released. The detached rows are left as they were: an
    undone transaction leaves nothing behind."""
    rows = []
    for work, account, outcome in outcomes:
        row = SimpleNamespace(id=work.event.id, merchant_id=work.event.merchant_id,
                              **{c: getattr(work.event, c) for c in _OUTCOME})
        if isinstance(outcome, ConnectorError):
            _fail(s, row, account, outcome)
        else:
            _succeed(row, outcome)
        rows.append({"id": row.id, **{c: getattr(row, c) for c in _OUTCOME}})
    if rows:
        s.execute(update(InboxEvent), rows)


def _succeed(event, outcomes: list[str]) -> None:
    event.attempts += 1
    event.status = "processed" if any(o in APPLIED for o in outcomes) else "ignored"
    event.processed_at = utcnow()
    event.error_class = event.error_message = None
    event.lease_owner = event.lease_expires_at = None


def _fail(s, event, account: Account, error: ConnectorError) -> None:
    now = utcnow()
    cls = error.error_class
    event.attempts += 1
    event.error_class = cls.value
    event.error_message = scrub_text(str(error.message))[:ERROR_CHARS]
    event.lease_owner = event.lease_expires_at = None
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
