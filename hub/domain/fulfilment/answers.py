"""The supplier's answers to a dispatch, from every supplier channel (hub webhooks and
the supplier API, Kuaishou dropship, CJ, spreadsheets), each timestamped and audited:

* ``accept(session, fulfilment, actor, supplier_reference=None)``;
* ``reject(session, fulfilment, actor, reason)`` → alert ``fulfilment_rejected``;
* ``submit_tracking(session, fulfilment, carrier, tracking_number, actor, var_dir)`` →
  ``Shipment``: the number is validated first and the parcel recorded
  (``hub.domain.fulfilment.shipping``), and the fulfilment is ``shipped``. Tracking for a
  fulfilment under a stop-ship request is the supplier saying it already shipped:
  ``hub.domain.fulfilment.stopship`` takes it.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from hub.core.db import iso, utcnow
from hub.core.errors import ApiError, Conflict
from hub.domain.fulfilment import stopship
from hub.domain.fulfilment.shipping import outbound_shipment, record_shipment, validate_tracking
from hub.domain.fulfilment.states import FULFILMENT, SLA_ALERT, SLA_ANSWERED, late, move
from hub.models import Fulfilment, Shipment, alerts, audit


def _conflict(fulfilment: Fulfilment, what: str) -> Conflict:
    return Conflict(f"fulfilment {fulfilment.id} is {fulfilment.status}: cannot {what}",
                    details={"status": fulfilment.status})


def accept(session: Session, fulfilment: Fulfilment, actor: str,
           supplier_reference: str | None = None) -> Fulfilment:
    if fulfilment.status in ("accepted", "shipped"):
        if supplier_reference and not fulfilment.supplier_reference:
            fulfilment.supplier_reference = supplier_reference[:128]
        return fulfilment  # a repeated answer changes nothing
    now = utcnow()
    values = {"supplier_reference": supplier_reference[:128]} if supplier_reference else {}
    if not move(session, fulfilment, "accept", accepted_at=now, **values):
        if fulfilment.status in ("accepted", "shipped"):
            return fulfilment
        raise _conflict(fulfilment, "accept it")
    audit.record(session, fulfilment.merchant_id, actor, "fulfilment.accepted", "fulfilment",
                 fulfilment.id, {"accepted_at": iso(now),
                                 "supplier_reference": fulfilment.supplier_reference,
                                 "late": late(fulfilment.answer_due_at, now)})
    alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id,
                   why=SLA_ANSWERED)
    return fulfilment


def reject(session: Session, fulfilment: Fulfilment, actor: str, reason: str) -> Fulfilment:
    reason = (reason or "").strip()
    if not reason:
        raise ApiError("a reason is required to reject an order", code="validation_error",
                       status=422, details={"reason": ["required"]})
    if fulfilment.status == "rejected":
        return fulfilment
    now = utcnow()
    if not move(session, fulfilment, "reject", rejected_at=now, reject_reason=reason[:500]):
        if fulfilment.status == "rejected":
            return fulfilment
        raise _conflict(fulfilment, "reject it")
    audit.record(session, fulfilment.merchant_id, actor, "fulfilment.rejected", "fulfilment",
                 fulfilment.id, {"rejected_at": iso(now), "reason": fulfilment.reject_reason})
    alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id,
                   why=SLA_ANSWERED)
    order = fulfilment.order
    alerts.raise_alert(
        session, fulfilment.merchant_id, "fulfilment_rejected", "fulfilment", fulfilment.id,
        f"Supplier rejected order {order.platform_order_id}: {fulfilment.reject_reason}. "
        "Allocate it to another supplier or cancel it.",
        details={"order_id": order.id, "supplier_id": fulfilment.supplier_id,
                 "reason": fulfilment.reject_reason})
    return fulfilment


def submit_tracking(session: Session, fulfilment: Fulfilment, carrier, tracking_number,
                    actor: str, var_dir: Path | None = None) -> Shipment:
    code, number, existing = validate_tracking(session, fulfilment, carrier, tracking_number)
    if fulfilment.status in ("cancel_requested", "cancel_rejected"):
        stopship.answer_stop_ship(session, fulfilment, False, actor,  # shipped despite the stop
                                  reason="already_shipped", carrier=code,
                                  tracking_number=number, var_dir=var_dir)
        return outbound_shipment(session, fulfilment)
    if fulfilment.status == "shipped":
        current = outbound_shipment(session, fulfilment)
        if current is None:  # marked shipped by its channel without a number: take it
            return record_shipment(session, fulfilment, code, number, actor, var_dir)
        if (current.carrier, current.tracking_number) == (code, number):
            return current  # the same hand-back again
        raise Conflict(f"fulfilment {fulfilment.id} already shipped with {current.carrier} "
                       f"{current.tracking_number}; the merchant corrects a tracking number",
                       details={"status": "shipped"})
    if not FULFILMENT.can(fulfilment.status, "ship"):
        raise _conflict(fulfilment, "ship it")
    if not move(session, fulfilment, "ship"):
        # changed under us (e.g. a stop-ship request arrived): decide again on the new state
        return submit_tracking(session, fulfilment, code, number, actor, var_dir)
    if fulfilment.accepted_at is None:
        fulfilment.accepted_at = fulfilment.updated_at  # shipping is accepting
    shipment = record_shipment(session, fulfilment, code, number, actor, var_dir)
    alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id,
                   why=SLA_ANSWERED)
    return shipment

