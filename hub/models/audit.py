"""Who changed what: ``record()`` appends an ``AuditEntry`` in the caller's transaction."""
from __future__ import annotations

from sqlalchemy.orm import Session

from hub.models.tenancy import AuditEntry


def record(session: Session, merchant_id: int, actor: str, action: str, entity: str,
           entity_id: int | None = None, changes: dict | None = None) -> AuditEntry:
    entry = AuditEntry(merchant_id=merchant_id, actor=actor, action=action, entity=entity,
                       entity_id=entity_id, changes=changes or {})
    session.add(entry)
    return entry
