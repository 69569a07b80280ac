"""The decisions the hub makes by itself, as the evidence arrives (subscribers; the rest
are asked for through the API: a lost or damaged parcel the courier confirms, a fake
shipment, a penalty the platform levied).

* ``return_inspected``: a return whose goods were inspected is decided (reason, grade,
  condition, packaging); so is a refund-only case refunded for a fault (quality,
  fulfilment, shipping), whose goods never come back (``return_changed``).
* ``shipment_tracked``: an outbound parcel whose first courier scan (``facts.first_scan``)
  came after the platform's ship-by time is a late shipment; an interception that
  succeeded is a stop-ship decided.
* ``expected_return``: a parcel that could not be stopped is a stop-ship decided.
* ``sweep_fake_shipments`` (the ``supplier_sla`` job): a waybill the supplier reported
  that no courier scanned within the terms' ``fake_after_hours`` is a fake shipment.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, cast, exists, literal, select
from sqlalchemy.orm import Session

from hub.domain.liability.decisions import decide
from hub.domain.liability.facts import NOT_PICKED_UP, first_scan, terms_for
from hub.domain.policy.liability import MIN_FAKE_AFTER_HOURS
from hub.domain.reasons.taxonomy import family_of
from hub.models import Fulfilment, LiabilityDecision, Order, Shipment, Supplier
from hub.pipeline.events import ExpectedReturn, ReturnChanged, ReturnInspected, ShipmentTracked

ACTOR = "hub:liability"
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
            and event.status not in NOT_PICKED_UP and parcel.order_id is not None):
        # the first scan is in this record: the parcel had none before it
        scans = [e.occurred_at for e in event.values.events if e.status not in NOT_PICKED_UP]
        order = session.get(Order, parcel.order_id)
        if order.ship_by is not None and scans and min(scans) > order.ship_by:
            fulfilment = session.get(Fulfilment, parcel.fulfilment_id)
            if fulfilment.purpose == "order":  # not an after-sale's second dispatch
                decide(session, parcel.merchant_id, "late_shipment", fulfilment.id, ACTOR)


def sweep_fake_shipments(session: Session, now: datetime, limit: int = 100) -> int:
    """Waybills a supplier reported that no courier has scanned ``fake_after_hours``
    later (the terms'; at least a day): fake shipments, decided once each."""
    f, p = Fulfilment, Shipment
    decided = select(LiabilityDecision.id).where(
        LiabilityDecision.merchant_id == f.merchant_id,
        LiabilityDecision.event == "fake_shipment",
        LiabilityDecision.subject == literal("fulfilment:") + cast(f.id, String))
    rows = session.execute(
        select(f, p).join(p, (p.fulfilment_id == f.id) & (p.direction == "outbound"))
        .where(f.shipped_at < now - timedelta(hours=MIN_FAKE_AFTER_HOURS),
               p.status.in_(NOT_PICKED_UP), ~exists(decided))
        .order_by(f.id).limit(limit)).all()
    done = 0
    for fulfilment, parcel in rows:
        terms = terms_for(session, fulfilment.merchant_id,
                          session.get(Supplier, fulfilment.supplier_id))[0]
        if fulfilment.shipped_at < now - timedelta(hours=terms.fake_after_hours) \
                and first_scan(session, parcel) is None:
            decide(session, fulfilment.merchant_id, "fake_shipment", fulfilment.id, ACTOR)
            done += 1
    return done


def on_expected_return(session: Session, event: ExpectedReturn) -> None:
    f = event.fulfilment
    decide(session, f.merchant_id, "stop_ship", f.id, ACTOR)
