"""Delivering the outbox: send each due message through its account's connector.

One batch (``run(app, owner)``):

1. ``claim`` up to ``BATCH`` messages that are ``pending`` and due, leased to ``owner``
   for ``settings.lease_seconds`` (``HUB_LEASE_SECONDS``, default 60);
2. per message, in a short transaction: re-check the lease is still ours and renew it
   (a slow batch never sends on a lease another worker may already hold), and supersede
   the message instead of sending it when a newer one for the same entity exists;
3. ``connector.push(topic, payload, idempotency_key)`` outside any transaction;
4. in one transaction: append a ``DeliveryAttempt``, apply the outcome, release the lease,
   and, once the message is ``sent`` or ``dead``, publish ``MessageSettled``
   for its subscribers (e.g. a tracking subscription's result is recorded on its shipment). A
   ``ConnectorError`` may carry ``details`` (a dict, e.g. ``{"reason":
   "tracking_rejected"}``): a dead message keeps it as ``result = {"error": details}`` for
   those hooks.

Outcomes by error class: success → ``sent``; ``retry`` / ``rate_limited`` (and any
unexpected exception) → stays ``pending``, due again after ``retry_delay`` (exponential
with ±20 % jitter, never before Retry-After), ``dead`` once ``settings.outbox_max_attempts``
attempts were made; ``refresh_token_then_retry`` → ``connector.refresh_token()`` and one
more try at once (refused again: retried on the schedule); ``fail_config`` → ``dead`` and
the account ``needs_attention`` with the reason; ``fail_data`` → ``dead``. Dead messages
are replayed by an operator (``hub.pipeline.outbox_admin``), with the same idempotency key.

Delivery is at least once: a worker that dies after the HTTP call but before its commit
leaves the message pending under a lease that expires, and another worker sends it again
with the same ``Idempotency-Key``, which the receiver uses to drop the duplicate.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from connectors.base import ConnectorError, ErrorClass
from hub.core.db import Database, utcnow
from hub.core.logs import scrub_text
from hub.models import Account, DeliveryAttempt, OutboxMessage, audit
from hub.parties.accounts import connector_for
from hub.pipeline import outbox
from jobs.claims import claim, kept, release

log = logging.getLogger(__name__)

BATCH = 10
BASE_DELAY_S = 30.0      # delay after the first failed attempt
FACTOR = 2.5             # each further delay is 2.5 times the previous one
MAX_DELAY_S = 12 * 3600.0
JITTER = 0.2             # ±20 %
EXCERPT_CHARS = 500
ERROR_CHARS = 1000
ACTOR = "job:deliver_outbox"


def retry_delay(attempts_made: int, retry_after: float | None = None,
                rand=random.random) -> float:
    """Seconds to wait after ``attempts_made`` failed attempts (1, 2, ...).

    30 s, 75 s, 3 min, 8 min, 20 min, 49 min, 2 h, 5 h, 12.7 h (each ±20 %): with the
    default 10 attempts a message is declared dead about 21 hours after its first try.
    A Retry-After the receiver asked for is a floor.
    """
    base = min(MAX_DELAY_S, BASE_DELAY_S * FACTOR ** max(0, attempts_made - 1))
    delay = base * (1 - JITTER + 2 * JITTER * rand())
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


@dataclass
class Try:
    """The result of one push: ``outcome`` is ``success`` or an ``ErrorClass`` value."""

    started_at: datetime
    duration_ms: int
    outcome: str
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    result: dict = field(default_factory=dict)


def _cap(text: str | None, limit: int) -> str | None:
    return None if text is None else scrub_text(str(text))[:limit]


def _push_once(connector, message: dict) -> Try:
    started, t0 = utcnow(), time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - t0) * 1000)

    try:
        res = connector.push(message["topic"], message["payload"], message["key"])
    except ConnectorError as e:
        details = getattr(e, "details", None)  # optional structured reason, e.g. for alerts
        return Try(started, elapsed(), e.error_class.value, e.status_code,
                   _cap(e.message, ERROR_CHARS), _cap(e.response_excerpt, EXCERPT_CHARS),
                   e.retry_after, {"error": dict(details)} if isinstance(details, dict) else {})
    except Exception as e:  # an unexpected failure is treated as transient
        log.exception("push failed unexpectedly", extra={"outbox_message_id": message["id"]})
        return Try(started, elapsed(), ErrorClass.RETRY.value, None,
                   _cap(f"unexpected {type(e).__name__}: {e}", ERROR_CHARS))
    return Try(started, elapsed(), "success", res.status_code, None,
               _cap(res.response_excerpt, EXCERPT_CHARS),
               result={"external_id": res.external_id, "status_code": res.status_code,
                       "data": res.data})


def _refresh(connector, first: Try) -> bool:
    """Refresh the token; when that fails, its error becomes the attempt's outcome."""
    try:
        connector.refresh_token()
        return True
    except ConnectorError as e:
        outcome, message = e.error_class, e.message
    except Exception as e:
        log.exception("token refresh failed unexpectedly")
        outcome, message = ErrorClass.RETRY, f"{type(e).__name__}: {e}"
    first.outcome = outcome.value
    first.error = _cap(f"{first.error}; token refresh failed: {message}", ERROR_CHARS)
    return False


def _begin(db: Database, message_id: int, owner: str, lease_s: int, public_url: str):
    """Re-check and renew our lease; ``(message dict, connector)`` or None to skip."""
    now = utcnow()
    with db.session() as s:
        stmt = select(OutboxMessage).where(
            OutboxMessage.id == message_id, OutboxMessage.lease_owner == owner,
            OutboxMessage.status == "pending", OutboxMessage.lease_expires_at > now)
        if db.is_postgres:
            stmt = stmt.with_for_update()
        m = s.scalar(stmt)
        if m is None:
            return None  # the lease expired and another worker took it, or an operator acted
        newer = s.scalar(select(OutboxMessage.id).where(
            OutboxMessage.account_id == m.account_id, OutboxMessage.topic == m.topic,
            OutboxMessage.entity == m.entity, OutboxMessage.entity_id == m.entity_id,
            OutboxMessage.id > m.id, OutboxMessage.status.in_(("pending", "sent"))).limit(1))
        if newer is not None:
            m.status = "superseded"
            release(m)
            return None
        m.lease_expires_at = now + timedelta(seconds=lease_s)
        account = s.get(Account, m.account_id)
        connector = connector_for(db, account, public_url)
        return ({"id": m.id, "topic": m.topic, "payload": m.payload,
                 "key": m.idempotency_key}, connector)


def _add_attempt(s, m: OutboxMessage, t: Try) -> None:
    """Log one try. ``attempt_no`` numbers every try of the message, across replays;
    ``m.attempts`` counts the tries since it was queued or last replayed."""
    m.attempts += 1
    logged = s.scalar(select(func.count()).select_from(DeliveryAttempt)
                      .where(DeliveryAttempt.outbox_message_id == m.id))
    s.add(DeliveryAttempt(merchant_id=m.merchant_id, outbox_message_id=m.id,
                          attempt_no=logged + 1, started_at=t.started_at,
                          duration_ms=t.duration_ms, status_code=t.status_code,
                          outcome=t.outcome, error=t.error, response_excerpt=t.excerpt))


def _apply(s, m: OutboxMessage, t: Try, max_attempts: int) -> None:
    now = utcnow()
    if t.outcome == "success":
        m.status, m.sent_at, m.result = "sent", now, t.result
        m.last_error_class = m.last_error = None
        return
    m.last_error_class, m.last_error = t.outcome, t.error
    if t.outcome == ErrorClass.FAIL_CONFIG.value:
        m.status = "dead"
        account = s.get(Account, m.account_id)
        reason = f"outbox message {m.id} ({m.topic}) failed: {t.error or 'fail_config'}"
        account.status, account.status_reason = "needs_attention", reason[:500]
        audit.record(s, m.merchant_id, ACTOR, "account.needs_attention", "account",
                     account.id, {"outbox_message_id": m.id, "error_class": t.outcome})
    elif t.outcome == ErrorClass.FAIL_DATA.value or m.attempts >= max_attempts:
        m.status = "dead"
    else:
        m.next_attempt_at = now + timedelta(seconds=retry_delay(m.attempts, t.retry_after))
    if m.status == "dead":
        m.result = t.result or m.result  # a connector's ``details``: {"error": {...}}
        log.warning("outbox message is dead", extra={
            "outbox_message_id": m.id, "topic": m.topic, "error_class": t.outcome,
            "attempts": m.attempts})


def _finish(db: Database, message_id: int, owner: str, tries: list[Try],
            max_attempts: int) -> str | None:
    """Record the attempts and the outcome, and release the lease, in one transaction."""
    with db.session() as s:
        stmt = select(OutboxMessage).where(OutboxMessage.id == message_id)
        if db.is_postgres:
            stmt = stmt.with_for_update()
        m = s.scalar(stmt)
        if m is None:
            return None
        for t in tries:
            _add_attempt(s, m, t)
        if m.lease_owner != owner or m.status != "pending":
            # our lease was lost mid-call: the attempt is logged, the new holder decides
            log.warning("outbox lease lost during a push", extra={"outbox_message_id": m.id})
            return m.status
        _apply(s, m, tries[-1], max_attempts)
        release(m)
        if m.status in ("sent", "dead"):
            outbox.settled(s, m)  # subscribers (MessageSettled) see the outcome
        return m.status


def deliver_one(db: Database, message_id: int, owner: str, *, lease_s: int,
                max_attempts: int, public_url: str = "") -> str | None:
    """Send one claimed message; its new status, or None when it was not ours to send."""
    try:
        begun = _begin(db, message_id, owner, lease_s, public_url)
    except Exception as e:  # e.g. the connector is no longer installed: try again later
        log.exception("could not prepare an outbox message",
                      extra={"outbox_message_id": message_id})
        error = _cap(f"could not prepare the push: {type(e).__name__}: {e}", ERROR_CHARS)
        return _finish(db, message_id, owner,
                       [Try(utcnow(), 0, ErrorClass.RETRY.value, error=error)], max_attempts)
    if begun is None:
        return None
    message, connector = begun
    tries = [_push_once(connector, message)]
    if tries[0].outcome == ErrorClass.REFRESH_TOKEN_THEN_RETRY.value \
            and _refresh(connector, tries[0]):
        tries.append(_push_once(connector, message))  # still refused: retried later
    return _finish(db, message_id, owner, tries, max_attempts)


def due():
    """Pending, due, and not behind an earlier unsent message of another topic about the
    same entity on the same account: messages about one entity reach the receiver in
    order (a stop-ship never overtakes the dispatch it stops, even while that waits out a
    retry). An earlier one of the same topic is replaced by the later, not waited for."""
    earlier = aliased(OutboxMessage)
    waiting = select(earlier.id).where(
        earlier.account_id == OutboxMessage.account_id, earlier.entity == OutboxMessage.entity,
        earlier.entity_id == OutboxMessage.entity_id, earlier.status == "pending",
        earlier.topic != OutboxMessage.topic, earlier.id < OutboxMessage.id)
    return and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= utcnow(),
                ~waiting.exists())


def run(app, owner: str) -> int:
    """One batch: claim due messages and deliver each. Returns how many were claimed."""
    hub = app.extensions["hub"]
    settings, db = hub.settings, hub.db
    ids = claim(db, OutboxMessage, due(), owner, settings.lease_seconds, BATCH)
    with kept(db, OutboxMessage, ids, owner, settings.lease_seconds):
        for message_id in ids:
            deliver_one(db, message_id, owner, lease_s=settings.lease_seconds,
                        max_attempts=settings.outbox_max_attempts,
                        public_url=settings.public_url)
    return len(ids)
