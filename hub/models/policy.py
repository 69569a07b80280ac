"""The merchant's return policy, its versions, and what it decided.

A policy is a document (``hub.domain.policy.document`` validates it) kept as numbered,
immutable versions per merchant: editing writes a new ``draft``; publishing makes it the
one in force (``published``) and retires the one before. ``PolicyDecision`` is every
verdict a version gave on a case: the rule that fired and why, in Chinese and English.

``Product`` is the merchant's catalogue entry for a SKU: its category (what the policy's
windows, exclusions, instructions and checklists are chosen by), its resale value and the
barcode printed on the goods (what an inspector scans).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, utcnow
from hub.models.common import Code, Currency, Id, Money, Tenant, fk

POLICY_STATUSES = ("draft", "published", "retired")


class ReturnPolicy(Tenant, Base):
    __tablename__ = "return_policies"
    __table_args__ = (UniqueConstraint("merchant_id", "version"),)

    id: Mapped[Id]
    version: Mapped[int]
    status: Mapped[Code] = mapped_column(default="draft", index=True)
    document: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(128))
    published_at: Mapped[datetime | None]


class PolicyDecision(Tenant, Base):
    __tablename__ = "policy_decisions"

    id: Mapped[Id]
    return_case_id: Mapped[int] = fk("return_cases.id")
    policy_version: Mapped[int]
    rule: Mapped[Code]
    outcome: Mapped[Code]  # approve | manual | fast_refund
    why_zh: Mapped[str] = mapped_column(String(500))
    why_en: Mapped[str] = mapped_column(String(500))
    freight_payer: Mapped[str | None] = mapped_column(String(32))
    acted: Mapped[bool] = mapped_column(default=False)  # the hub pushed the decision
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(Tenant, Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("merchant_id", "sku"),)

    id: Mapped[Id]
    sku: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(64), default="general")
    name: Mapped[str | None] = mapped_column(String(255))
    value_minor: Mapped[Money]
    currency: Mapped[Currency]
    serialised: Mapped[bool] = mapped_column(default=False)
    barcode: Mapped[str | None] = mapped_column(String(64))  # EAN/UPC on the goods
