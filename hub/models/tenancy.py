"""Merchants (tenants), the people who sign in to the console and their sessions, API
tokens for machines, and the audit log of who changed what."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.core.db import Base, BigId, EncryptedJSON, utcnow
from hub.models.common import Code, Id, Tenant, fk

ROLES = ("merchant_admin", "supplier", "finance", "operator")
USER_STATUSES = ("invited", "active", "disabled")


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[Id]
    name: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the zone pages show times in (the migration fills the rows there were)
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")


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


class User(Tenant, Base):
    """A person who signs in to the console (``hub.parties.users``): one role, a supplier
    user bound to one supplier. Invited first (only the invitation's SHA-256 is kept), then
    active with an Argon2id password hash and, optionally, a TOTP secret (encrypted)."""

    __tablename__ = "users"

    id: Mapped[Id]
    login: Mapped[str] = mapped_column(String(64), unique=True)  # lower case, across merchants
    name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[Code]
    supplier_id: Mapped[int | None] = fk("suppliers.id", nullable=True)
    status: Mapped[Code] = mapped_column(default="invited")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp: Mapped[dict | None] = mapped_column(EncryptedJSON)  # {"secret", "confirmed"}
    locale: Mapped[str | None] = mapped_column(String(8))  # zh | en; None: the browser's
    invite_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    last_sign_in_at: Mapped[datetime | None]
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]  # after too many failed sign-ins in a row


class UserSession(Tenant, Base):
    """A console session: its cookie holds the secret, the row its SHA-256; it ends on
    sign-out, when the user is disabled or changes its password, or when it expires."""

    __tablename__ = "user_sessions"

    id: Mapped[Id]
    user_id: Mapped[int] = fk("users.id")
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


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
