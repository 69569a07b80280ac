"""Polling: reading each account's poll streams from their saved cursors into the inbox.

Polling is the backstop for webhooks (platforms deliver at least once, sometimes not at
all). One batch (``run(app, owner)``):

1. ``ensure_poll_states``: a ``PollState`` row for every stream of every active account
   whose connector offers streams (checked at most every ``ENSURE_EVERY_S`` per app);
2. ``claim`` up to ``BATCH`` due states (``next_run_at <= now``) of active accounts,
   leased to ``owner`` for ``settings.lease_seconds``;
3. per state: run the stream from its saved cursor. For each completed slice, in ONE
   transaction: store every record as an ``InboxEvent`` (``source="poll"``, type
   ``<entity>.updated``, id ``poll:<entity>:<external_id>:<updated_at>``, body
   ``{"type": ..., "data": payload}``; a record already stored is skipped), save the
   slice's cursor and progress, renew the lease, and wake the inbox worker.

Outcomes: success → ``next_run_at = now + stream.interval_s``, errors cleared. A
``ConnectorError`` → ``last_error_class`` / ``last_error`` recorded and ``next_run_at``
backed off (``rate_limited`` with a Retry-After: exactly that long); ``fail_config`` also
puts the account in ``needs_attention``; ``refresh_token_then_retry`` refreshes the token
and runs again at once. In every case the cursor stays at the last completed slice, so
the next run resumes there (minus the connector's overlap). ``progress`` shows how far a
run (a backfill, when it started without a cursor) has got.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from datetime import timedelta

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite

from connectors.base import ConnectorError, ErrorClass, Record, Slice, WebhookEvent
from hub.core.db import Database, utcnow
from hub.core.logs import scrub_text
from hub.models import Account, PollState, audit
from hub.parties.accounts import connector_for
from hub.pipeline import inbox
from jobs.claims import claim, kept, release

log = logging.getLogger(__name__)

BATCH = 10
ENSURE_EVERY_S = 30.0
BASE_DELAY_S = 30.0
MAX_DELAY_S = 1800.0
JITTER = 0.2
MAX_EVENT_ID = 191  # inbox_events.external_event_id
ACTOR = "job:poll"
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


# -- keys and bodies -----------------------------------------------------------------------
def event_id(record: Record) -> str:
    """``poll:<entity>:<external_id>:<updated_at iso>``: one inbox event per record version.
    A record without ``updated_at`` is keyed by a hash of its content instead."""
    if record.updated_at is not None:
        version = record.updated_at.isoformat()
    else:
        canonical = json.dumps(record.payload, sort_keys=True, ensure_ascii=False, default=str)
        version = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    key = f"poll:{record.entity}:{record.external_id}:{version}"
    if len(key) > MAX_EVENT_ID:
        key = f"poll:{record.entity}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def event_body(record: Record) -> bytes:
    return json.dumps({"type": f"{record.entity}.updated", "data": record.payload},
                      ensure_ascii=False, separators=(",", ":")).encode()


def retry_delay(attempts: int, rand=random.random) -> float:
    """30 s doubling per consecutive failure up to 30 min, ±20 %."""
    base = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** max(0, min(attempts - 1, 30)))
    return base * (1 - JITTER + 2 * JITTER * rand())


# -- the batch -----------------------------------------------------------------------------
def run(app, owner: str) -> int:
    hub = app.extensions["hub"]
    state = app.extensions.setdefault("hub.poll", {"ensured_at": None})
    if state["ensured_at"] is None or time.monotonic() - state["ensured_at"] >= ENSURE_EVERY_S:
        ensure_poll_states(hub.db)
        state["ensured_at"] = time.monotonic()
    active = select(Account.id).where(Account.status == "active")
    ids = claim(hub.db, PollState,
                and_(PollState.next_run_at <= utcnow(), PollState.account_id.in_(active)),
                owner, hub.settings.lease_seconds, BATCH)
    with kept(hub.db, PollState, ids, owner, hub.settings.lease_seconds):
        for state_id in ids:
            poll_one(hub.db, hub.settings, state_id, owner)
    return len(ids)


def ensure_poll_states(db: Database, account_ids: list[int] | None = None) -> int:
    """Create the missing ``PollState`` rows (of ``account_ids`` only, when given; new rows
    are due at once); returns how many were new."""
    with db.session(readonly=True) as s:
        active = select(Account).where(Account.status == "active")
        if account_ids is not None:
            active = active.where(Account.id.in_(account_ids))
        accounts = list(s.scalars(active.order_by(Account.id)))
        existing = {tuple(row) for row in
                    s.execute(select(PollState.account_id, PollState.stream))}
    rows = []
    for account in accounts:
        try:
            names = [stream.name for stream in connector_for(db, account).streams()]
        except Exception as e:  # an unknown or broken connector must not stop the others
            log.warning("cannot list poll streams", extra={
                "account_id": account.id, "connector": account.connector, "error": repr(e)})
            continue
        rows += [{"merchant_id": account.merchant_id, "account_id": account.id,
                  "stream": name, "cursor": {}, "progress": {}, "next_run_at": utcnow(),
                  "attempts": 0}
                 for name in dict.fromkeys(names) if (account.id, name) not in existing]
    if not rows:
        return 0
    with db.session() as s:
        insert = _INSERTS[s.get_bind().dialect.name]
        result = s.execute(insert(PollState).values(rows)
                           .on_conflict_do_nothing(index_elements=["account_id", "stream"]))
        return max(result.rowcount or 0, 0)


# -- one stream of one account -------------------------------------------------------------
def _held(s, db: Database, state_id: int, owner: str) -> PollState | None:
    stmt = select(PollState).where(PollState.id == state_id, PollState.lease_owner == owner)
    if db.is_postgres:
        stmt = stmt.with_for_update()
    return s.scalar(stmt)


def poll_one(db: Database, settings, state_id: int, owner: str) -> str:
    """Run one claimed stream; answers ``success``, an error class, or ``skipped``."""
    with db.session() as s:
        state = _held(s, db, state_id, owner)
        if state is None:
            return "skipped"  # the lease expired and another worker took it
        account = s.get(Account, state.account_id)
        if account.status != "active":
            release(state)
            return "skipped"
        name, cursor = state.stream, dict(state.cursor or {})
        state.lease_expires_at = utcnow() + timedelta(seconds=settings.lease_seconds)
    run_info = {"run_started_at": utcnow().isoformat(), "backfill": not cursor,
                "slices": 0, "records": 0, "new_events": 0}
    connector = None
    try:
        connector = connector_for(db, account, settings.public_url)
        stream = next((st for st in connector.streams() if st.name == name), None)
        if stream is None:
            _park(db, state_id, owner, f"the connector no longer offers stream {name!r}")
            return "skipped"
        for slc in stream.read(cursor):
            if not _store_slice(db, settings, state_id, owner, account, slc, run_info):
                return "skipped"
    except ConnectorError as e:
        return _fail(db, state_id, owner, e, connector)
    except Exception as e:  # a bug in a connector: recorded and retried, never fatal
        log.exception("poll failed unexpectedly", extra={"poll_state_id": state_id})
        return _fail(db, state_id, owner,
                     ConnectorError(ErrorClass.RETRY, f"unexpected {type(e).__name__}: {e}"),
                     connector)
    _succeed(db, state_id, owner, stream.interval_s, run_info)
    return "success"


def _store_slice(db, settings, state_id, owner, account, slc: Slice, run_info: dict) -> bool:
    """Records, cursor and progress of one slice in one transaction; False if the lease
    was lost (another worker now runs this stream)."""
    events = {}
    for record in slc.records:
        key = event_id(record)
        events.setdefault(key, WebhookEvent(key, f"{record.entity}.updated", event_body(record)))
    with db.session() as s:
        state = _held(s, db, state_id, owner)
        if state is None:
            log.warning("poll lease lost mid-stream", extra={"poll_state_id": state_id})
            return False
        new = inbox.store(s, account, list(events.values()), var_dir=settings.var_dir,
                          source="poll")
        run_info["slices"] += 1
        run_info["records"] += len(slc.records)
        run_info["new_events"] += new
        state.cursor = dict(slc.cursor)
        state.progress = {**slc.progress, **run_info, "complete": False}
        state.lease_expires_at = utcnow() + timedelta(seconds=settings.lease_seconds)
    return True


def _succeed(db, state_id, owner, interval_s: float, run_info: dict) -> None:
    with db.session() as s:
        state = _held(s, db, state_id, owner)
        if state is None:
            return
        now = utcnow()
        state.attempts = 0
        state.last_error_class = state.last_error = None
        state.last_success_at = now
        state.next_run_at = now + timedelta(seconds=interval_s)
        state.progress = {**(state.progress or {}), **run_info, "complete": True,
                          "finished_at": now.isoformat()}
        release(state)


def _park(db, state_id, owner, reason: str) -> None:
    with db.session() as s:
        state = _held(s, db, state_id, owner)
        if state is not None:
            state.last_error = reason
            state.next_run_at = utcnow() + timedelta(seconds=MAX_DELAY_S)
            release(state)


def _fail(db, state_id, owner, error: ConnectorError, connector) -> str:
    immediate = False
    if error.error_class is ErrorClass.REFRESH_TOKEN_THEN_RETRY and connector is not None:
        try:
            connector.refresh_token()
            immediate = True
        except ConnectorError as e:
            error = ConnectorError(e.error_class, f"{error.message}; token refresh failed: "
                                   f"{e.message}", retry_after=e.retry_after)
        except Exception as e:
            log.exception("token refresh failed unexpectedly")
            error = ConnectorError(ErrorClass.RETRY, f"token refresh failed: {e!r}")
    with db.session() as s:
        state = _held(s, db, state_id, owner)
        if state is None:
            return error.error_class.value
        now = utcnow()
        state.attempts += 1
        state.last_error_class = error.error_class.value
        state.last_error = scrub_text(error.message)[:1000]
        if immediate:
            delay = 0.0
        elif error.error_class is ErrorClass.RATE_LIMITED and error.retry_after is not None:
            delay = error.retry_after
        else:
            delay = retry_delay(state.attempts)
        state.next_run_at = now + timedelta(seconds=delay)
        if error.error_class is ErrorClass.FAIL_CONFIG:
            account = s.get(Account, state.account_id)
            account.status = "needs_attention"
            account.status_reason = f"poll {state.stream}: {state.last_error}"[:500]
            audit.record(s, state.merchant_id, ACTOR, "account.needs_attention", "account",
                         account.id, {"poll_stream": state.stream,
                                      "error_class": error.error_class.value})
        release(state)
        log.warning("poll failed", extra={"poll_state_id": state_id, "stream": state.stream,
                                          "error_class": error.error_class.value,
                                          "retry_in_s": round(delay, 1)})
    return error.error_class.value


# -- one account now, in the foreground (``hub sync``) --------------------------------------
def claim_account(db: Database, account_id: int, owner: str, lease_s: float,
                  streams: list[str] | None = None) -> tuple[list[int], list[str]]:
    """Claim the poll states of one account now, due or not (missing ones are created
    first): answers the claimed ids (run each with ``poll_one``) and the names of the
    streams another worker holds at the moment."""
    ensure_poll_states(db, account_ids=[account_id])
    mine = PollState.account_id == account_id
    if streams is not None:
        mine = and_(mine, PollState.stream.in_(streams))
    ids = claim(db, PollState, mine, owner, lease_s, limit=100)
    with db.session(readonly=True) as s:
        busy = list(s.scalars(select(PollState.stream).where(mine, PollState.id.not_in(ids))
                              .order_by(PollState.id)))
    return ids, busy
