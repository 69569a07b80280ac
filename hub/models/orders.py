"""Orders from shop platforms and their lines, and fulfilments (order ↔ supplier).

Buyer contact is stored only as the platform's ciphertext plus masked text and region
codes: the hub never holds plaintext names, phones or addresses (platforms forbid bulk
decryption). ``status`` is normalised; ``raw_status`` is the platform's own code.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.core.db import Base
from hub.models.common import Code, Currency, Id, Money, Tenant, Timestamps, fk

ORDER_STATUSES = (
    "pending_payment", "paid", "shipped", "delivered", "completed", "cancelled", "unknown",
)
FULFILMENT_PURPOSES = ("order", "exchange", "reship", "repair")
FULFILMENT_STATUSES = (
    "requested", "accepted", "rejected", "shipped",
    "cancel_requested", "cancelled", "cancel_rejected",
)


class Order(Tenant, Timestamps, Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("merchant_id", "shop_account_id", "platform_order_id"),
                      Index("ix_orders_changed", "merchant_id", "updated_at"))

    id: Mapped[Id]
    shop_account_id: Mapped[int] = fk("accounts.id")
    platform_order_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[Code] = mapped_column(index=True)
    raw_status: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[Currency]
    total_minor: Mapped[Money]
    paid_minor: Mapped[Money]
    shipping_fee_minor: Mapped[Money]
    placed_at: Mapped[datetime | None] = mapped_column(index=True)
    paid_at: Mapped[datetime | None]
    ship_by: Mapped[datetime | None]
    remote_updated_at: Mapped[datetime | None]
    do_not_ship: Mapped[bool] = mapped_column(default=False)
    do_not_ship_reasons: Mapped[list] = mapped_column(JSON, default=list)
    buyer_name_cipher: Mapped[str | None] = mapped_column(Text)
    buyer_phone_cipher: Mapped[str | None] = mapped_column(Text)
    buyer_address_cipher: Mapped[str | None] = mapped_column(Text)
    buyer_name_masked: Mapped[str | None] = mapped_column(String(64))
    buyer_phone_masked: Mapped[str | None] = mapped_column(String(32))
    buyer_address_masked: Mapped[str | None] = mapped_column(String(255))
    province_code: Mapped[str | None] = mapped_column(String(16))
    city_code: Mapped[str | None] = mapped_column(String(16))
    district_code: Mapped[str | None] = mapped_column(String(16))
    buyer_note: Mapped[str | None] = mapped_column(String(500))
    flags: Mapped[list] = mapped_column(JSON, default=list)  # e.g. unknown platform codes

    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    fulfilments: Mapped[list["Fulfilment"]] = relationship(
        back_populates="order", order_by="Fulfilment.id"
    )


class OrderLine(Tenant, Base):
    __tablename__ = "order_lines"

    id: Mapped[Id]
    order_id: Mapped[int] = fk("orders.id", ondelete="CASCADE")
    platform_line_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(128), index=True)
    platform_sku_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500), default="")
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price_minor: Mapped[Money]
    total_minor: Mapped[Money]
    currency: Mapped[Currency]
    is_gift: Mapped[bool] = mapped_column(default=False)

    order: Mapped[Order] = relationship(back_populates="lines")


class Fulfilment(Tenant, Timestamps, Base):
    """One supplier's part of an order, including the stop-ship leg.

    ``requested → accepted | rejected → shipped``; stop-ship: ``cancel_requested →
    cancelled | cancel_rejected`` (a supplier may already have shipped). Each step keeps
    its timestamp as evidence for liability decisions.
    """

    __tablename__ = "fulfilments"
    __table_args__ = (Index("ix_fulfilments_changed", "merchant_id", "updated_at"),)

    id: Mapped[Id]
    order_id: Mapped[int] = fk("orders.id")
    supplier_id: Mapped[int] = fk("suppliers.id")
    status: Mapped[Code] = mapped_column(default="requested", index=True)
    supplier_reference: Mapped[str | None] = mapped_column(String(128))
    requested_at: Mapped[datetime | None]
    answer_due_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    shipped_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    cancel_answer_due_at: Mapped[datetime | None]
    cancel_answered_at: Mapped[datetime | None]
    cancel_reject_reason: Mapped[str | None] = mapped_column(String(500))
    escalated_at: Mapped[datetime | None]  # an answer deadline passed; the merchant was told
    expected_return: Mapped[bool] = mapped_column(default=False)  # shipped, will come back
    # an after-sale's second dispatch: an exchange's replacement, a reship (补发), a
    # repaired item going back; ``order`` for the order's own
    purpose: Mapped[Code] = mapped_column(default="order")
    return_case_id: Mapped[int | None] = fk("return_cases.id", nullable=True)

    order: Mapped[Order] = relationship(back_populates="fulfilments")
    lines: Mapped[list["FulfilmentLine"]] = relationship(cascade="all, delete-orphan")


class FulfilmentLine(Tenant, Base):
    __tablename__ = "fulfilment_lines"

    id: Mapped[Id]
    fulfilment_id: Mapped[int] = fk("fulfilments.id", ondelete="CASCADE")
    order_line_id: Mapped[int] = fk("order_lines.id")
    # unused in code; it makes a flush insert order lines before the fulfilment lines
    # naming them (their ids are known before either is written: hub.core.ids)
    order_line: Mapped[OrderLine] = relationship()
    quantity: Mapped[int] = mapped_column(default=1)
