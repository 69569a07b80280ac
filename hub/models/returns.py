"""Return cases (after-sales) and their lines.

Receiving goods, deciding the resolution and moving money are separate steps: the
normalised ``status`` walks ``requested → approved | rejected → awaiting_return →
return_in_transit → received → inspected → refunded | resolved | closed`` while the
platform's own status stays in ``raw_status``. ``reason_code`` is hierarchical
(``quality.damaged``); ``reason_text`` is what the buyer wrote.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.core.db import Base, utcnow
from hub.models.common import Code, Currency, Id, Money, Tenant, Timestamps, fk

RETURN_KINDS = ("refund_only", "return_refund", "exchange", "reship", "repair")
RETURN_STATUSES = (
    "requested", "approved", "rejected", "awaiting_return", "return_in_transit", "received",
    "inspected", "refunded", "resolved", "closed",
)


class ReturnCase(Tenant, Timestamps, Base):
    __tablename__ = "return_cases"
    __table_args__ = (UniqueConstraint("merchant_id", "shop_account_id", "platform_return_id"),
                      Index("ix_return_cases_changed", "merchant_id", "updated_at"))

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
    # where the reason came from (platform | keyword | model | correction | merchant) and
    # the classifier's confidence in percent (hub.domain.reasons)
    reason_source: Mapped[str | None] = mapped_column(String(16))
    reason_confidence: Mapped[int | None]
    buyer_photos: Mapped[int] = mapped_column(default=0)  # evidence pictures on the request
    buyer_ref: Mapped[str | None] = mapped_column(String(64), index=True)  # hashed buyer id
    freight_payer: Mapped[str | None] = mapped_column(String(32))  # the policy's answer
    return_address_id: Mapped[int | None] = fk("return_addresses.id", nullable=True,
                                               index=False)
    public_token: Mapped[str | None] = mapped_column(String(64), unique=True)  # buyer page

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
    disposition: Mapped[str | None] = mapped_column(String(32))  # policy.document.DISPOSITIONS
    notes: Mapped[str | None] = mapped_column(String(2000))
    photos: Mapped[list] = mapped_column(JSON, default=list)  # sha256 hex of each file
    barcode: Mapped[str | None] = mapped_column(String(128))
    checklist: Mapped[dict] = mapped_column(JSON, default=dict)
    scores: Mapped[dict | None] = mapped_column(JSON, default=dict)  # dimension -> 0..5
    serial: Mapped[str | None] = mapped_column(String(128))
    serial_matched: Mapped[bool | None]  # against what was shipped; None: not checked
    suggested_disposition: Mapped[str | None] = mapped_column(String(32))
    disposition_reason: Mapped[str | None] = mapped_column(String(500))  # an override's why
    disposition_by: Mapped[str | None] = mapped_column(String(128))
    resale_price_minor: Mapped[int | None] = mapped_column(BigInteger)
    repair_cost_minor: Mapped[int | None] = mapped_column(BigInteger)


class ReturnAddress(Tenant, Timestamps, Base):
    """Where returned goods go: a supplier's or the merchant's warehouse, with the shop
    platform's id for it (``platform_address_id``, synced from the platform's address
    list where it has one) so an approval can name it."""

    __tablename__ = "return_addresses"

    id: Mapped[Id]
    shop_account_id: Mapped[int | None] = fk("accounts.id", nullable=True)
    supplier_id: Mapped[int | None] = fk("suppliers.id", nullable=True)
    warehouse: Mapped[str | None] = mapped_column(String(64))  # the merchant's own
    platform_address_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    contact: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(500))
    is_default: Mapped[bool] = mapped_column(default=False)
    source: Mapped[Code] = mapped_column(default="manual")  # manual | platform
    active: Mapped[bool] = mapped_column(default=True)


class ReasonCorrection(Tenant, Base):
    """A merchant's correction of a case's reason; the normalised text is what later
    cases with the same words are matched on (``hub.domain.reasons``)."""

    __tablename__ = "reason_corrections"

    id: Mapped[Id]
    return_case_id: Mapped[int] = fk("return_cases.id")
    text_key: Mapped[str] = mapped_column(String(1000))
    from_code: Mapped[str] = mapped_column(String(128))
    to_code: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StockMovement(Tenant, Base):
    """Returned goods entering or moving within the returns stock of a location.

    ``from_state`` None is a receipt into the returns stock; ``to_state`` None a unit
    leaving it (to sellable stock, sold at a discount, scrapped, back to the supplier).
    A location's stock is the sum of its movements: append-only, so it reconciles."""

    __tablename__ = "stock_movements"

    id: Mapped[Id]
    location: Mapped[str] = mapped_column(String(64), index=True)  # supplier:3 | warehouse:x
    sku: Mapped[str] = mapped_column(String(128))
    grade: Mapped[str | None] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[int]
    return_case_id: Mapped[int | None] = fk("return_cases.id", nullable=True)
    inspection_id: Mapped[int | None] = fk("inspections.id", nullable=True, index=False)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(default=utcnow)

