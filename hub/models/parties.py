"""The outside parties a merchant works with.

An ``Account`` is one configured account on one outside system (OCA's *backend*): a linked
shop (kind ``platform``), a supplier channel (``supplier``) or a courier account
(``courier``). Its config, credentials included, is encrypted at rest.
A ``Supplier`` is the business partner (SLA, contract terms) reached through a channel
account; ``SkuMapping`` says which supplier ships which SKU.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, BigId, EncryptedJSON
from hub.models.common import Code, Currency, Id, Money, Tenant, Timestamps, fk

ACCOUNT_KINDS = ("platform", "supplier", "courier")
ACCOUNT_STATUSES = ("active", "needs_attention", "disabled")


class Account(Tenant, Timestamps, Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("merchant_id", "connector", "name"),)

    id: Mapped[Id]
    connector: Mapped[Code]
    kind: Mapped[Code]
    name: Mapped[str]
    external_id: Mapped[str | None]  # the shop id / open id on the outside system
    config: Mapped[dict] = mapped_column(EncryptedJSON, default=dict)
    status: Mapped[Code] = mapped_column(default="active")
    status_reason: Mapped[str | None] = mapped_column(String(500))


class Supplier(Tenant, Timestamps, Base):
    __tablename__ = "suppliers"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)

    id: Mapped[Id]
    code: Mapped[Code]
    name: Mapped[str]
    channel_account_id: Mapped[int | None] = fk("accounts.id", nullable=True)
    sla_hours: Mapped[int] = mapped_column(default=24)
    contract_terms: Mapped[dict] = mapped_column(JSON, default=dict)
    contact_email: Mapped[str | None]
    active: Mapped[bool] = mapped_column(default=True)


class SkuMapping(Tenant, Timestamps, Base):
    __tablename__ = "sku_mappings"
    __table_args__ = (UniqueConstraint("merchant_id", "sku", "supplier_id"),)

    id: Mapped[Id]
    sku: Mapped[str] = mapped_column(String(128), index=True)
    supplier_id: Mapped[int] = fk("suppliers.id")
    supplier_sku: Mapped[str | None] = mapped_column(String(128))
    unit_cost_minor: Mapped[Money]
    currency: Mapped[Currency]
    priority: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class Binding(Tenant, Base):
    """``(connector, account, entity, external_id)`` → internal id, unique.

    The unique constraint is the last defence against duplicates: a violation under a
    race becomes a retry, never a second record. ``remote_updated_at`` is the newest
    remote version applied, so an older update arriving late is skipped.
    """

    __tablename__ = "bindings"
    __table_args__ = (UniqueConstraint("connector", "account_id", "entity", "external_id"),)

    id: Mapped[Id]
    connector: Mapped[Code]
    account_id: Mapped[int] = fk("accounts.id")
    entity: Mapped[Code]
    external_id: Mapped[str] = mapped_column(String(128))
    internal_id: Mapped[int] = mapped_column(BigId)
    remote_updated_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]
