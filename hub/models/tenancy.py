"""Merchants (tenants), their API tokens, and the audit log of who changed what."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.core.db import Base, BigId, utcnow
from hub.models.common import Code, Id, Tenant, fk

ROLES = ("merchant_admin", "supplier", "finance", "operator")


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[Id]
    name: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def lock_merchant(session: Session, merchant_id: int) -> None:
    """One writer at a time of what a merchant numbers or counts (policy versions, the
    catalogue, the returns stock): its row locked to commit (PostgreSQL; SQLite writers
    are serial already)."""
    session.execute(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update())


class ApiToken(Tenant, Base):
    """A bearer token; only its SHA-256 is stored. Supplier tokens name one supplier."""

    __tablename__ = "api_tokens"

    id: Mapped[Id]
    role: Mapped[Code]
    supplier_id: Mapped[int | None] = fk("suppliers.id", nullable=True)
    name: Mapped[str] = mapped_column(default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]  # to within ``auth.LAST_USED_EVERY``
    expires_at: Mapped[datetime | None]  # None: until revoked
    revoked_at: Mapped[datetime | None]
    signed_out_at: Mapped[datetime | None]  # console sessions signed in before it are over


class AuditEntry(Tenant, Base):
    """Append-only: who (actor) did what (action) to which row, and the changed fields."""

    __tablename__ = "audit_log"

    id: Mapped[Id]
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[Code]
    entity: Mapped[Code]
    entity_id: Mapped[int | None] = mapped_column(BigId)
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
