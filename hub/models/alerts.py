"""Alerts: what a merchant must see and act on (re-authorize a shop, a supplier missed its
answer deadline, the platform rejected a tracking number...).

Raised by the hub with ``hub.models.alert_ops.raise_alert``; one open alert per (kind, entity), so a
condition that persists does not pile up duplicates. Resolved when the cause clears or a
person closes it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, BigId, utcnow
from hub.models.common import Code, Id, Tenant

SEVERITIES = ("info", "warning", "critical")


class Alert(Tenant, Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "merchant_id", "kind", "entity", "entity_id",
                            "resolved_at"),)

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
