"""Return cases (after-sales) and their lines.

Receiving goods, deciding the resolution and moving money are separate steps: the
normalised ``status`` walks ``requested → approved | rejected → awaiting_return →
return_in_transit → received → inspected → refunded | resolved | closed`` while the
platform's own status stays in ``raw_status``. ``reason_code`` is hierarchical
(``quality.damaged``); ``reason_text`` is what the buyer wrote.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.core.db import Base
from hub.models.common import Code, Currency, Id, Money, Tenant, Timestamps, fk

RETURN_KINDS = ("refund_only", "return_refund", "exchange", "reship", "repair")
RETURN_STATUSES = (
    "requested", "approved", "rejected", "awaiting_return", "return_in_transit", "received",
    "inspected", "refunded", "resolved", "closed",
)


class ReturnCase(Tenant, Timestamps, Base):
    __tablename__ = "return_cases"
    __table_args__ = (UniqueConstraint("merchant_id", "shop_account_id", "platform_return_id"),)

    id: Mapped[Id]
    shop_account_id: Mapped[int] = fk("accounts.id")
    order_id: Mapped[int | None] = fk("orders.id", nullable=True)
    platform_return_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[Code]
    reason_code: Mapped[str] = mapped_column(String(128), default="other")
    reason_text: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[Code] = mapped_column(index=True)
    raw_status: Mapped[str | None] = mapped_column(String(64))
    refund_minor: Mapped[Money]
    currency: Mapped[Currency]
    requested_at: Mapped[datetime | None] = mapped_column(index=True)
    respond_by: Mapped[datetime | None]
    buyer_ship_by: Mapped[datetime | None]
    receive_by: Mapped[datetime | None]
    remote_updated_at: Mapped[datetime | None]
    flags: Mapped[list] = mapped_column(JSON, default=list)  # e.g. unknown platform codes

    lines: Mapped[list["ReturnLine"]] = relationship(
        order_by="ReturnLine.id", cascade="all, delete-orphan"
    )


class ReturnLine(Tenant, Base):
    __tablename__ = "return_lines"

    id: Mapped[Id]
    return_case_id: Mapped[int] = fk("return_cases.id", ondelete="CASCADE")
    order_line_id: Mapped[int | None] = fk("order_lines.id", nullable=True)
    sku: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(default=1)
    qty_received: Mapped[int] = mapped_column(default=0)
    qty_damaged: Mapped[int] = mapped_column(default=0)
    reason_code: Mapped[str | None] = mapped_column(String(128))


class Inspection(Tenant, Base):
    """Receipt and grading of returned goods, by the supplier or the merchant's warehouse.

    Photos are stored as content hashes (the files live under ``HUB_VAR_DIR/files``), so
    the same photo uploaded twice is one file and evidence cannot be swapped silently.
    """

    __tablename__ = "inspections"

    id: Mapped[Id]
    return_case_id: Mapped[int] = fk("return_cases.id")
    inspected_by: Mapped[str] = mapped_column(String(128))  # actor, e.g. supplier:3
    received_at: Mapped[datetime]
    condition: Mapped[Code]  # intact | damaged | missing_parts | wrong_item | empty | used
    grade: Mapped[str | None] = mapped_column(String(16))  # A (resellable) .. D (scrap)
    disposition: Mapped[str | None] = mapped_column(String(32))  # restock | refurbish | scrap
    notes: Mapped[str | None] = mapped_column(String(2000))
    photos: Mapped[list] = mapped_column(JSON, default=list)  # sha256 hex of each file
    barcode: Mapped[str | None] = mapped_column(String(128))
    checklist: Mapped[dict] = mapped_column(JSON, default=dict)

