"""The decisions the hub makes by itself, as the evidence arrives (subscribers; the rest
are asked for through the API: a lost or damaged parcel the courier confirms, a penalty
the platform levied).

* ``return_inspected``: a return whose goods were graded is decided (reason, grade,
  condition, packaging); so is a refund-only case refunded for a fault (quality,
  fulfilment, shipping), whose goods never come back (``return_changed``).
* ``shipment_tracked``: an outbound parcel whose first courier scan (in the record that
  moved it past ``facts.NOT_PICKED_UP``) came after the platform's ship-by time is a late
  shipment; an interception that succeeded is a stop-ship decided.
* ``expected_return``: a parcel that could not be stopped is a stop-ship decided.
* ``sweep_fake_shipments`` (the ``supplier_sla`` job): a waybill the supplier reported
  that no courier scanned within the terms' ``fake_after_hours`` is a fake shipment.

A loss another decision prices already is left alone (``decisions.RELATED``), logged.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import String, cast, exists, literal, select
from sqlalchemy.orm import Session

from hub.core.errors import Conflict
from hub.domain.liability.decisions import decide
from hub.domain.liability.facts import NOT_PICKED_UP, terms_for
from hub.domain.policy.liability import MAX_FAKE_AFTER_HOURS, MIN_FAKE_AFTER_HOURS
from hub.domain.reasons.taxonomy import family_of
from hub.models import Fulfilment, LiabilityDecision, Order, Shipment, Supplier, TrackingEvent
from hub.pipeline.events import ExpectedReturn, ReturnChanged, ReturnInspected, ShipmentTracked

log = logging.getLogger(__name__)
ACTOR = "hub:liability"
FAULTS = ("quality", "fulfilment", "shipping")


def on_return_inspected(session: Session, event: ReturnInspected) -> None:
    case = event.case
    if case.order_id is not None and event.inspection.grade is not None:  # graded
        _decide(session, case.merchant_id, "return", case.id)


def on_return_changed(session: Session, event: ReturnChanged) -> None:
    case = event.case
    if (case.kind == "refund_only" and event.status == "refunded"
            and event.previous_status != "refunded" and case.order_id is not None
            and family_of(case.reason_code) in FAULTS):
        _decide(session, case.merchant_id, "return", case.id)


def on_shipment_tracked(session: Session, event: ShipmentTracked) -> None:
    parcel = event.shipment
    if parcel.direction != "outbound" or parcel.fulfilment_id is None:
        return
    if event.interception == "succeeded":
        fulfilment = session.get(Fulfilment, parcel.fulfilment_id)
        if fulfilment.cancel_requested_at is not None:
            _decide(session, parcel.merchant_id, "stop_ship", fulfilment.id)
    if (event.status_changed and event.previous_status in NOT_PICKED_UP
            and event.status not in NOT_PICKED_UP and parcel.order_id is not None):
        # the first scan is in this record: the parcel had none before it
        scans = [e.occurred_at for e in event.values.events if e.status not in NOT_PICKED_UP]
        order = session.get(Order, parcel.order_id)
        if order.ship_by is not None and scans and min(scans) > order.ship_by:
            fulfilment = session.get(Fulfilment, parcel.fulfilment_id)
            if fulfilment.purpose == "order":  # not an after-sale's second dispatch
                _decide(session, parcel.merchant_id, "late_shipment", fulfilment.id)


def sweep_fake_shipments(session: Session, now: datetime, limit: int = 100) -> int:
    """Waybills a supplier reported that no courier has scanned ``fake_after_hours``
    later (the terms'; one day to a month): fake shipments, decided once each. Only an
    order's own dispatch, shipped, not being stopped, of an order not cancelled; a parcel
    replaced by a corrected waybill (``cancelled``) does not count."""
    f, p, t = Fulfilment, Shipment, TrackingEvent
    parcels = (p.fulfilment_id == f.id, p.direction == "outbound", p.status != "cancelled")
    scanned = select(t.id).join(p, p.id == t.shipment_id).where(
        *parcels, t.status.not_in(NOT_PICKED_UP))
    decided = select(LiabilityDecision.id).where(
        LiabilityDecision.merchant_id == f.merchant_id,
        LiabilityDecision.event == "fake_shipment",
        LiabilityDecision.subject == literal("fulfilment:") + cast(f.id, String))
    candidates = session.scalars(
        select(f).join(Order, Order.id == f.order_id)
        .where(f.status == "shipped", f.purpose == "order", f.cancel_requested_at.is_(None),
               Order.status != "cancelled",
               f.shipped_at.between(now - timedelta(hours=MAX_FAKE_AFTER_HOURS),
                                    now - timedelta(hours=MIN_FAKE_AFTER_HOURS)),
               exists(select(p.id).where(*parcels)), ~exists(scanned), ~exists(decided))
        .order_by(f.shipped_at).execution_options(yield_per=200))
    done = 0
    for fulfilment in candidates:
        terms = terms_for(session, fulfilment.merchant_id,
                          session.get(Supplier, fulfilment.supplier_id))[0]
        if fulfilment.shipped_at < now - timedelta(hours=terms.fake_after_hours):
            done += _decide(session, fulfilment.merchant_id, "fake_shipment", fulfilment.id)
        if done >= limit:
            break
    return done


def _decide(session: Session, merchant_id: int, event: str, subject_id: int) -> bool:
    """Decide, unless another decision prices this loss already (then nothing is written)."""
    try:
        decide(session, merchant_id, event, subject_id, ACTOR)
    except Conflict as e:
        log.info("not decided", extra={"event": event, "subject_id": subject_id,
                                        "why": e.message})
        return False
    return True


def on_expected_return(session: Session, event: ExpectedReturn) -> None:
    f = event.fulfilment
    _decide(session, f.merchant_id, "stop_ship", f.id)
