"""Alerts: what a merchant must see and act on (re-authorize a shop, a supplier missed its
answer deadline, the platform rejected a tracking number...).

Raised with ``raise_alert`` and cleared with ``resolve`` (below), in the caller's
transaction; one open alert per (kind, entity), so a
condition that persists does not pile up duplicates. Resolved when the cause clears or a
person closes it. ``resolve`` asks the database only when an alert may be open: not for
an entity this transaction created (``hub.core.db.mark_created``) nor a subject it
already resolved.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.core.db import Base, BigId, memo, utcnow, was_created
from hub.core.errors import Conflict
from hub.models import audit
from hub.models.common import Code, Id, Tenant

SEVERITIES = ("info", "warning", "critical")


class Alert(Tenant, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_open", "merchant_id", "kind", "entity", "entity_id", "resolved_at"),
        # one open alert per subject, whatever races (a NULL entity_id is not compared)
        Index("uq_alerts_open_subject", "merchant_id", "kind", "entity", "entity_id",
              unique=True, postgresql_where=text("resolved_at IS NULL"),
              sqlite_where=text("resolved_at IS NULL")),
    )

    id: Mapped[Id]
    kind: Mapped[Code]
    severity: Mapped[Code] = mapped_column(default="warning")
    entity: Mapped[Code]
    entity_id: Mapped[int | None] = mapped_column(BigId)
    supplier_id: Mapped[int | None] = mapped_column(BigId)  # when a supplier should see it
    message: Mapped[str] = mapped_column(String(1000))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[datetime | None]


def _known(session: Session) -> dict[str, set]:
    """Subjects this transaction resolved (``closed``) and raised (``raised``)."""
    return memo(session).setdefault("alerts", {"closed": set(), "raised": set()})


def raise_alert(session: Session, merchant_id: int, kind: str, entity: str,
                entity_id: int | None, message: str, *, severity: str = "warning",
                details: dict | None = None, supplier_id: int | None = None) -> Alert:
    subject = (merchant_id, kind, entity, entity_id)
    raised = _known(session)["raised"]
    first_here = subject not in raised
    raised.add(subject)

    def open_one():
        return session.scalar(select(Alert).where(
            Alert.merchant_id == merchant_id, Alert.kind == kind, Alert.entity == entity,
            Alert.entity_id == entity_id, Alert.resolved_at.is_(None)))

    def new_one():
        alert = Alert(merchant_id=merchant_id, kind=kind, entity=entity, entity_id=entity_id,
                      message=message[:1000])
        session.add(alert)
        return alert

    if first_here and was_created(session, entity, entity_id):
        alert = new_one()  # no other transaction sees the entity: none of it is open
    else:
        alert = open_one()
        if alert is None:
            try:
                with session.begin_nested():
                    alert = new_one()
            except IntegrityError:  # another transaction opened it meanwhile: that one
                alert = open_one()
    alert.message, alert.severity = message[:1000], severity
    alert.details, alert.supplier_id = details or {}, supplier_id
    return alert


def resolve(session: Session, merchant_id: int, kind: str, entity: str,
            entity_id: int | None, *, why: str, actor: str = "hub") -> int:
    """Resolve the open alert of this subject, if any, with an audit entry saying ``why``
    (no alert is resolved silently); the number resolved (0 or 1)."""
    known, subject = _known(session), (merchant_id, kind, entity, entity_id)
    if subject not in known["raised"] and (
            subject in known["closed"] or was_created(session, entity, entity_id)):
        return 0
    resolved = session.scalars(
        update(Alert).where(Alert.merchant_id == merchant_id, Alert.kind == kind,
                            Alert.entity == entity, Alert.entity_id == entity_id,
                            Alert.resolved_at.is_(None))
        .values(resolved_at=utcnow()).returning(Alert.id)
        .execution_options(synchronize_session=False)).all()
    known["raised"].discard(subject)
    known["closed"].add(subject)
    for alert_id in resolved:
        audit.record(session, merchant_id, actor, "alert.resolved", "alert", alert_id,
                     {"kind": kind, "entity": entity, "entity_id": entity_id, "why": why})
    return len(resolved)


def handled(session: Session, alert: Alert, actor: str) -> Alert:
    """A person marks an open alert as handled (audited); a resolved one is a 409."""
    if alert.resolved_at is not None:
        raise Conflict(f"alert {alert.id} is already resolved")
    alert.resolved_at = utcnow()
    audit.record(session, alert.merchant_id, actor, "alert.resolved", "alert", alert.id,
                 {"kind": alert.kind, "entity": alert.entity, "entity_id": alert.entity_id,
                  "why": "marked as handled"})
    return alert
