"""The transactional outbox: every push to an outside party is first a row.

``enqueue()`` is called inside the business transaction that causes the push, so the
change and the message commit together or not at all. The idempotency key is derived from
what the message *is* (account, topic, entity, version), never random, so every retry
and every replay sends the same key and the receiver can drop duplicates. A newer message
for the same account, topic and entity supersedes an older one not yet sent.

Pass ``var_dir`` (``settings.var_dir``) so a worker is woken on commit and sends the
message at once instead of on its next polling tick (``hub.core.wakeup``). Delivery itself is
``jobs.deliver_outbox``; replay and cancel are ``hub.pipeline.outbox_admin``.

Domain code that must learn how a push ended subscribes to ``MessageSettled`` for its
topics (``hub.pipeline.events``): the delivery job publishes it when a message becomes
``sent`` (``message.result`` = ``{"external_id", "status_code", "data"}``, ``data`` being
the connector's ``PushResult.data``) or ``dead`` (``message.last_error_class`` /
``last_error``), in the transaction that records the outcome (``settled``).
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.core.db import memo, utcnow, was_created
from hub.core.wakeup import notify
from hub.models import Account, OutboxMessage
from hub.pipeline import events

log = logging.getLogger(__name__)


def idempotency_key(account_id: int, topic: str, entity: str, entity_id: int,
                    version: str) -> str:
    raw = f"{account_id}|{topic}|{entity}|{entity_id}|{version}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def enqueue(session: Session, account: Account, topic: str, entity: str, entity_id: int,
            payload: dict, version: str, var_dir: Path | None = None) -> OutboxMessage:
    """Queue a push; ``version`` names this state of the entity (e.g. its updated time).

    Enqueuing the same (account, topic, entity, version) twice returns the first message.
    For an entity this transaction created (``hub.core.db.mark_created``) nothing is asked
    of the database: no other transaction can have queued anything for it.
    """
    key = idempotency_key(account.id, topic, entity, entity_id, version)
    queued = memo(session).setdefault("outbox", {})  # key → message, this transaction's
    if key in queued:
        return queued[key]
    if was_created(session, entity, entity_id):  # only this transaction can have queued any
        for m in queued.values():
            if (m.account_id, m.topic, m.entity, m.entity_id) == (
                    account.id, topic, entity, entity_id) and m.status == "pending":
                m.status = "superseded"
    else:
        existing = session.scalar(select(OutboxMessage)
                                  .where(OutboxMessage.idempotency_key == key))
        if existing is not None:
            return existing
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.account_id == account.id, OutboxMessage.topic == topic,
                   OutboxMessage.entity == entity, OutboxMessage.entity_id == entity_id,
                   OutboxMessage.status == "pending", OutboxMessage.lease_owner.is_(None))
            .values(status="superseded")
        )
    message = OutboxMessage(merchant_id=account.merchant_id, account_id=account.id,
                            connector=account.connector, topic=topic, entity=entity,
                            entity_id=entity_id, payload=payload, idempotency_key=key,
                            status="pending", next_attempt_at=utcnow())
    session.add(message)
    queued[key] = message
    if var_dir is not None:
        wake_delivery(session, var_dir)
    return message


def wake_delivery(session: Session, var_dir: Path) -> None:
    """Wake a worker's delivery job when this transaction commits (dropped on rollback)."""
    notify(session, "outbox", var_dir)


def settled(session: Session, message: OutboxMessage) -> None:
    """Publish ``MessageSettled`` (the delivery job calls this once the message is
    ``sent`` or ``dead``). Each subscriber runs in a savepoint: one that raises is logged
    and undone, and never costs the delivery record or the other subscribers."""
    event = events.MessageSettled(message)
    for handler in events.handlers(event):
        try:
            with session.begin_nested():
                handler(session, event)
        except Exception:  # noqa: BLE001 (the outcome is recorded whatever a hook does)
            log.exception("outbox result subscriber failed", extra={
                "outbox_message_id": message.id, "topic": message.topic})
