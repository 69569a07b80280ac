"""Shipments (outbound to the buyer, or a buyer's return) and their tracking events.

Statuses use one normalised vocabulary across couriers (``SHIPMENT_STATUSES``); the
courier's own code is kept beside it. Events are unique per shipment on ``dedupe_key``,
so full-history pushes and replays add nothing twice.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.core.db import Base
from hub.models.common import Code, Id, Tenant, Timestamps, fk

SHIPMENT_STATUSES = (
    "pending", "info_received", "picked_up", "in_transit", "in_customs", "out_for_delivery",
    "available_for_pickup", "delivered", "delivery_failed", "refused", "returning",
    "returned", "intercepted", "exception", "expired", "cancelled", "unknown",
)
DIRECTIONS = ("outbound", "return")
INTERCEPTION_STATUSES = ("none", "requested", "succeeded", "failed")
SUBSCRIPTION_STATUSES = ("none", "requested", "subscribed", "failed", "done")


class Shipment(Tenant, Timestamps, Base):
    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("merchant_id", "carrier", "tracking_number"),)

    id: Mapped[Id]
    direction: Mapped[Code] = mapped_column(default="outbound")
    order_id: Mapped[int | None] = fk("orders.id", nullable=True)
    fulfilment_id: Mapped[int | None] = fk("fulfilments.id", nullable=True)
    return_case_id: Mapped[int | None] = fk("return_cases.id", nullable=True)
    carrier: Mapped[Code]
    carrier_raw: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[Code] = mapped_column(default="pending", index=True)
    raw_status: Mapped[str | None] = mapped_column(String(64))
    last_event_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    interception_status: Mapped[Code] = mapped_column(default="none")
    # courier tracking subscription: which courier account follows it, and its state
    tracking_account_id: Mapped[int | None] = fk("accounts.id", nullable=True)
    subscription_status: Mapped[Code] = mapped_column(default="none")
    monitoring: Mapped[str | None] = mapped_column(String(32))
    subscribed_at: Mapped[datetime | None]
    subscription_count: Mapped[int] = mapped_column(default=0)
    # when an aborted subscription is due to be made again (Kuaidi100: 30 min after)
    resubscribe_after: Mapped[datetime | None] = mapped_column(index=True)
    flags: Mapped[list] = mapped_column(JSON, default=list)

    events: Mapped[list["TrackingEvent"]] = relationship(
        back_populates="shipment", order_by="TrackingEvent.occurred_at"
    )


class TrackingEvent(Tenant, Base):
    __tablename__ = "tracking_events"
    __table_args__ = (UniqueConstraint("shipment_id", "dedupe_key"),)

    id: Mapped[Id]
    shipment_id: Mapped[int] = fk("shipments.id")
    occurred_at: Mapped[datetime]
    status: Mapped[Code]
    raw_status: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(1000), default="")
    location: Mapped[str | None]
    source: Mapped[Code]
    dedupe_key: Mapped[str] = mapped_column(String(128))

    shipment: Mapped[Shipment] = relationship(back_populates="events")
