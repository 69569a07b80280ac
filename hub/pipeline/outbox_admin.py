"""Operator actions on the outbox: replay dead messages, cancel unsent ones.

The outbox's states: ``pending`` (due at ``next_attempt_at``; being sent while leased) →
``sent``, or ``dead`` once retries are exhausted or the receiver refused it for good
(``fail_config`` / ``fail_data``); ``superseded`` when a newer message for the same entity
replaced it before it was sent; ``cancelled`` by an operator.

* ``replay(session, message, actor)``: ``dead`` → ``pending``, due now, attempt count
  reset, the SAME idempotency key (a receiver that did process an earlier try drops it);
* ``cancel(session, message, actor)``: ``pending`` or ``dead`` → ``cancelled``; refused
  while a worker holds a live lease on it (the push may be on the wire);
* ``replay_all_dead(session, actor, merchant_id)``.

Each action raises ``hub.core.errors.Conflict`` when the state does not allow it, and is
audited. The REST endpoints are ``hub.web.api.outbox_ops``; the CLI group ``hub outbox`` is
``hub.cli.outbox``.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.db import utcnow
from hub.core.errors import Conflict
from hub.models import OutboxMessage, audit
from hub.pipeline.outbox import wake_delivery


def _release(message: OutboxMessage) -> None:
    message.lease_owner = None
    message.lease_expires_at = None


def replay(session: Session, message: OutboxMessage, actor: str,
           var_dir: Path | None = None) -> OutboxMessage:
    if message.status != "dead":
        raise Conflict(f"outbox message {message.id} is {message.status}; only dead messages "
                       "can be replayed")
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = utcnow()
    _release(message)
    audit.record(session, message.merchant_id, actor, "outbox.replayed", "outbox_message",
                 message.id, {"idempotency_key": message.idempotency_key})
    if var_dir is not None:
        wake_delivery(session, var_dir)
    return message


def cancel(session: Session, message: OutboxMessage, actor: str) -> OutboxMessage:
    if message.status not in ("pending", "dead"):
        raise Conflict(f"outbox message {message.id} is {message.status}; only pending or "
                       "dead messages can be cancelled")
    if message.status == "pending" and message.lease_owner and message.lease_expires_at \
            and message.lease_expires_at > utcnow():
        raise Conflict(f"outbox message {message.id} is being delivered right now; "
                       "try again in a minute")
    previous = message.status
    message.status = "cancelled"
    _release(message)
    audit.record(session, message.merchant_id, actor, "outbox.cancelled", "outbox_message",
                 message.id, {"previous_status": previous})
    return message


def replay_all_dead(session: Session, actor: str, merchant_id: int | None = None,
                    var_dir: Path | None = None) -> list[int]:
    stmt = select(OutboxMessage).where(OutboxMessage.status == "dead")
    if merchant_id is not None:
        stmt = stmt.where(OutboxMessage.merchant_id == merchant_id)
    replayed = [replay(session, m, actor).id
                for m in session.scalars(stmt.order_by(OutboxMessage.id))]
    if replayed and var_dir is not None:
        wake_delivery(session, var_dir)
    return replayed

