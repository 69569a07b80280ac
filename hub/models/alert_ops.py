"""Raising and resolving merchant alerts (``hub.models.Alert``).

    raise_alert(session, merchant_id, "shop_reauthorize", "account", account.id,
                "Kuaishou authorization expires in 5 days: re-authorize the shop")
    resolve(session, merchant_id, "shop_reauthorize", "account", account.id)

Both run in the caller's transaction. Raising an alert that is already open refreshes its
message and details instead of adding another.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.core.db import utcnow
from hub.models import Alert


def raise_alert(session: Session, merchant_id: int, kind: str, entity: str,
                entity_id: int | None, message: str, *, severity: str = "warning",
                details: dict | None = None, supplier_id: int | None = None) -> Alert:
    alert = session.scalar(select(Alert).where(
        Alert.merchant_id == merchant_id, Alert.kind == kind, Alert.entity == entity,
        Alert.entity_id == entity_id, Alert.resolved_at.is_(None)))
    if alert is None:
        alert = Alert(merchant_id=merchant_id, kind=kind, entity=entity, entity_id=entity_id)
        session.add(alert)
    alert.message, alert.severity = message[:1000], severity
    alert.details, alert.supplier_id = details or {}, supplier_id
    session.flush()
    return alert


def resolve(session: Session, merchant_id: int, kind: str, entity: str,
            entity_id: int | None) -> int:
    result = session.execute(
        update(Alert).where(Alert.merchant_id == merchant_id, Alert.kind == kind,
                            Alert.entity == entity, Alert.entity_id == entity_id,
                            Alert.resolved_at.is_(None))
        .values(resolved_at=utcnow()))
    return result.rowcount
