"""Durable records of what came in, what must go out, and each try to send it.

* ``InboxEvent``: a verified webhook delivery or a polled record, stored raw before any
  processing; unique on ``(connector, account_id, external_event_id)`` so a duplicate
  delivery does nothing. Processed to ``processed | ignored | failed``.
* ``QuarantinedRequest``: a delivery that failed verification or parsing, kept for an
  operator to see; never processed.
* ``OutboxMessage``: a push to an outside party, written in the same transaction as the
  business change; its ``idempotency_key`` is deterministic and reused on every retry.
* ``DeliveryAttempt``: one try to send an outbox message.
* ``PollState``: the saved cursor of one poll stream of one account.

Work is claimed with leases (``lease_owner``, ``lease_expires_at``): a crashed worker's
rows become claimable again once the lease expires.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, BigId, utcnow
from hub.models.common import Code, Id, Tenant, fk

INBOX_STATUSES = ("received", "processed", "ignored", "failed")
OUTBOX_STATUSES = ("pending", "sent", "dead", "superseded", "cancelled")
ERROR_CLASSES = ("retry", "rate_limited", "refresh_token_then_retry", "fail_config", "fail_data")


class Leased:
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]


class InboxEvent(Tenant, Leased, Base):
    __tablename__ = "inbox_events"
    __preassigned_ids__ = False  # also inserted by Core statements (hub.core.ids)
    __table_args__ = (
        UniqueConstraint("connector", "account_id", "external_event_id"),
        Index("ix_inbox_events_due", "status", "next_attempt_at"),
    )

    id: Mapped[Id]
    connector: Mapped[Code]
    account_id: Mapped[int] = fk("accounts.id")
    external_event_id: Mapped[str] = mapped_column(String(191))
    event_type: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[Code] = mapped_column(default="webhook")  # webhook | poll
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[Code] = mapped_column(default="received")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    error_class: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)


class QuarantinedRequest(Base):
    """Not tenant-scoped: a forged request may name an account it does not own."""

    __tablename__ = "quarantined_requests"
    __preassigned_ids__ = False  # also inserted by Core statements (hub.core.ids)

    id: Mapped[Id]
    merchant_id: Mapped[int | None] = fk("merchants.id", nullable=True)
    account_id: Mapped[int | None] = fk("accounts.id", nullable=True)
    connector: Mapped[Code]
    reason: Mapped[Code]
    detail: Mapped[str] = mapped_column(String(1000), default="")
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    body_excerpt: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OutboxMessage(Tenant, Leased, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_entity", "account_id", "topic", "entity", "entity_id"),
        Index("ix_outbox_messages_order", "account_id", "entity", "entity_id", "status"),
    )

    id: Mapped[Id]
    account_id: Mapped[int] = fk("accounts.id")
    connector: Mapped[Code]
    topic: Mapped[Code]
    entity: Mapped[Code]
    entity_id: Mapped[int] = mapped_column(BigId)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[Code] = mapped_column(default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error_class: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    acknowledged_at: Mapped[datetime | None]  # the receiver confirmed it read the notice


class DeliveryAttempt(Tenant, Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[Id]
    outbox_message_id: Mapped[int] = fk("outbox_messages.id")
    attempt_no: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int] = mapped_column(default=0)
    status_code: Mapped[int | None]
    outcome: Mapped[Code]  # success or an error class
    error: Mapped[str | None] = mapped_column(String(1000))
    response_excerpt: Mapped[str | None] = mapped_column(String(2000))


class PollState(Tenant, Leased, Base):
    __tablename__ = "poll_states"
    __preassigned_ids__ = False  # also inserted by Core statements (hub.core.ids)
    __table_args__ = (UniqueConstraint("account_id", "stream"),)

    id: Mapped[Id]
    account_id: Mapped[int] = fk("accounts.id")
    stream: Mapped[Code]
    cursor: Mapped[dict] = mapped_column(JSON, default=dict)
    next_run_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_success_at: Mapped[datetime | None]
    last_error_class: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[dict] = mapped_column(JSON, default=dict)
