"""The decisions the hub makes by itself, as the evidence arrives (subscribers; the rest
are asked for through the API: a lost or damaged parcel the courier confirms, a fake
shipment, a penalty the platform levied).

* ``return_inspected``: a return whose goods were inspected is decided (reason, grade,
  condition, packaging); so is a refund-only case refunded for a fault (quality,
  fulfilment, shipping), whose goods never come back (``return_changed``).
* ``shipment_tracked``: an outbound parcel first picked up after the platform's ship-by
  time is a late shipment; an interception that succeeded is a stop-ship decided.
* ``expected_return``: a parcel that could not be stopped is a stop-ship decided.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from hub.domain.liability.decisions import decide
from hub.domain.reasons.taxonomy import family_of
from hub.models import Fulfilment, Order
from hub.pipeline.events import ExpectedReturn, ReturnChanged, ReturnInspected, ShipmentTracked

ACTOR = "hub:liability"
NOT_PICKED_UP = ("pending", "info_received", "unknown")
FAULTS = ("quality", "fulfilment", "shipping")


def on_return_inspected(session: Session, event: ReturnInspected) -> None:
    case = event.case
    if case.order_id is not None:
        decide(session, case.merchant_id, "return", case.id, ACTOR)


def on_return_changed(session: Session, event: ReturnChanged) -> None:
    case = event.case
    if (case.kind == "refund_only" and event.status == "refunded"
            and event.previous_status != "refunded" and case.order_id is not None
            and family_of(case.reason_code) in FAULTS):
        decide(session, case.merchant_id, "return", case.id, ACTOR)


def on_shipment_tracked(session: Session, event: ShipmentTracked) -> None:
    parcel = event.shipment
    if parcel.direction != "outbound" or parcel.fulfilment_id is None:
        return
    if event.interception == "succeeded":
        fulfilment = session.get(Fulfilment, parcel.fulfilment_id)
        if fulfilment.cancel_requested_at is not None:
            decide(session, parcel.merchant_id, "stop_ship", fulfilment.id, ACTOR)
    if (event.status_changed and event.previous_status in NOT_PICKED_UP
            and parcel.shipped_at is not None and parcel.order_id is not None):
        order = session.get(Order, parcel.order_id)
        if order.ship_by is not None and parcel.shipped_at > order.ship_by:
            decide(session, parcel.merchant_id, "late_shipment", parcel.fulfilment_id, ACTOR)


def on_expected_return(session: Session, event: ExpectedReturn) -> None:
    f = event.fulfilment
    decide(session, f.merchant_id, "stop_ship", f.id, ACTOR)
