"""Common-model value types: what a mapper produces and ``hub.pipeline.sync`` applies.

Plain frozen dataclasses with no database behind them, so ``mappings/`` can build them
without importing anything else of the hub. Money is integer minor units; times are
timezone-aware UTC. ``flags`` carries notes such as unknown outside codes (kept raw
beside the normalised value, never a crash).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class OrderLineValues:
    sku: str
    quantity: int
    unit_price_minor: int
    total_minor: int
    platform_line_id: str | None = None
    platform_sku_id: str | None = None
    title: str = ""
    is_gift: bool = False


@dataclass(frozen=True)
class BuyerContact:
    """Platform ciphertext plus masked text; the hub never holds the plaintext."""

    name_cipher: str | None = None
    phone_cipher: str | None = None
    address_cipher: str | None = None
    name_masked: str | None = None
    phone_masked: str | None = None
    address_masked: str | None = None
    province_code: str | None = None
    city_code: str | None = None
    district_code: str | None = None


@dataclass(frozen=True)
class Waybill:
    """A parcel the platform says the order went out in: the hub's carrier code (or
    ``<platform>:<code>`` when unknown, flagged) and the number."""

    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class OrderValues:
    platform_order_id: str
    status: str
    raw_status: str | None
    currency: str
    total_minor: int
    paid_minor: int
    lines: tuple[OrderLineValues, ...]
    remote_updated_at: datetime | None = None
    shipping_fee_minor: int = 0
    placed_at: datetime | None = None
    paid_at: datetime | None = None
    ship_by: datetime | None = None
    do_not_ship_reasons: tuple[str, ...] = ()
    buyer: BuyerContact = field(default_factory=BuyerContact)
    buyer_note: str | None = None
    flags: tuple[str, ...] = ()
    waybills: tuple[Waybill, ...] = ()   # outbound parcels the platform reports

    entity = "order"
    # The record is the order's whole state: of two in one inbox batch only the newer is
    # applied. (A return record is not: it may name the buyer's parcel only once.)
    full_state = True

    @property
    def external_id(self) -> str:
        return self.platform_order_id


@dataclass(frozen=True)
class ReturnLineValues:
    sku: str
    quantity: int
    platform_line_id: str | None = None
    reason_code: str | None = None


@dataclass(frozen=True)
class ReturnValues:
    platform_return_id: str
    platform_order_id: str | None
    kind: str
    status: str
    raw_status: str | None
    refund_minor: int
    currency: str
    lines: tuple[ReturnLineValues, ...] = ()
    reason_code: str = "other"
    reason_text: str | None = None
    remote_updated_at: datetime | None = None
    requested_at: datetime | None = None
    respond_by: datetime | None = None
    buyer_ship_by: datetime | None = None
    flags: tuple[str, ...] = ()
    # The buyer's return parcel, when the record names it (both or neither): the hub's
    # carrier code and the waybill number. ``hub.domain.returns.flow`` registers it as a ``return``
    # shipment of the case; None = the record does not say (nothing is unregistered).
    return_carrier: str | None = None
    return_tracking_number: str | None = None
    buyer_photos: int = 0  # evidence pictures the buyer attached to the request
    buyer_ref: str | None = None  # the platform's pseudonymous buyer id (hashed when stored)

    entity = "return"

    @property
    def external_id(self) -> str:
        return self.platform_return_id


@dataclass(frozen=True)
class TrackingEventValues:
    occurred_at: datetime
    status: str
    raw_status: str | None
    description: str = ""
    location: str | None = None


@dataclass(frozen=True)
class TrackingValues:
    carrier: str
    tracking_number: str
    events: tuple[TrackingEventValues, ...]
    carrier_raw: str | None = None
    flags: tuple[str, ...] = ()
    # Courier mappers (mappings.tracking) fill these; None = the record does not say.
    # current_status: where this record's own events leave the parcel (by event time,
    #   through mappings.tracking.progress); apply it with the stored status as the start.
    # monitoring: the provider's tracking state (Kuaidi100 polling | shutdown | abort |
    #   updateall; 17TRACK tracking | stopped), kept apart from the parcel status.
    # interception: an interception's outcome (requested | succeeded | failed).
    current_status: str | None = None
    monitoring: str | None = None
    interception: str | None = None

    entity = "tracking"

    @property
    def external_id(self) -> str:
        return f"{self.carrier}:{self.tracking_number}"


FULFILMENT_UPDATE_STATUSES = ("accepted", "rejected", "shipped", "cancelled", "cancel_rejected")


@dataclass(frozen=True)
class FulfilmentUpdateValues:
    """A supplier channel's news about one fulfilment (applied by ``hub.domain.fulfilment.updates``).

    The fulfilment is named by ``fulfilment_id`` (the hub's id, when the channel echoes it)
    or by ``supplier_reference`` (the supplier's own id for it: a CJ order id, a Kuaishou
    dropshipping order code). ``status``: ``accepted | rejected | shipped`` (the order leg)
    or ``cancelled | cancel_rejected`` (the answer to a stop-ship request); ``shipped`` and
    ``cancel_rejected`` may carry the parcel's ``carrier`` (hub code) and
    ``tracking_number``; ``reason`` is the supplier's text for a rejection.
    """

    status: str
    occurred_at: datetime
    supplier_reference: str | None = None
    fulfilment_id: int | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    reason: str | None = None
    raw_status: str | None = None
    flags: tuple[str, ...] = ()

    entity = "fulfilment"

    @property
    def external_id(self) -> str:
        if self.supplier_reference:
            return self.supplier_reference
        return f"fulfilment:{self.fulfilment_id}"
