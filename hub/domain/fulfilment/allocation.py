"""Fulfilment: allocating orders to suppliers, and the supplier's answers to a dispatch.

**Allocation** runs in the transaction that changes an order (``OrderChanged``):
a ``paid`` order not held by a do-not-ship flag has each line not yet in a fulfilment
allocated by the merchant's SKU mapping — the active mapping to an active supplier with
the highest ``priority`` (ties: the oldest mapping) — and gets one ``Fulfilment`` per
supplier with its lines, ``requested_at = now``, ``answer_due_at = now + sla_hours``,
and an ``order_dispatch`` notice on the supplier's channel (``hub.domain.pushes.supplier_notices``).
It is idempotent: a line already in a fulfilment is never allocated again, so repeated
webhooks and polls change nothing. Alerts: ``order_held`` (with the do-not-ship reasons,
resolved and the order allocated when the flag clears; critical, naming the fulfilments,
when the flag arrives after allocation — they are not stopped automatically),
``sku_unmapped`` (resolved once every line is allocated), ``supplier_has_no_channel``.

**Answers** from the supplier channels (hub webhooks + supplier API, Kuaishou dropship,
CJ, spreadsheets), each timestamped and audited:

* ``accept(session, fulfilment, actor, supplier_reference=None)``;
* ``reject(session, fulfilment, actor, reason)`` → alert ``fulfilment_rejected``;
* ``submit_tracking(session, fulfilment, carrier, tracking_number, actor, var_dir)`` →
  ``Shipment``: the number is validated first (``validate_tracking``: a known carrier,
  the carrier's pattern from ``mappings/tracking/tracking_patterns.json``, not used by
  another order or a return of the merchant) and a failure raises ``ApiError`` 422
  ``invalid_tracking_number`` / ``tracking_number_reused`` having changed nothing. Then
  the shipment is registered with the courier (``hub.domain.tracking.shipments.register_shipment``), the
  fulfilment is ``shipped`` and the shipment is pushed to the platform through the outbox
  (``hub.domain.pushes.platform_actions.push_shipment``). Tracking for a fulfilment under a stop-ship
  request is the supplier saying it already shipped: ``hub.domain.fulfilment.stopship`` takes it.
"""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import alert_ops as alerts, audit
from hub.domain.pushes import platform_actions, supplier_notices
from hub.domain.tracking import shipments as tracking
from hub.core.db import utcnow
from hub.core.errors import ApiError, Conflict
from hub.models import (
    Alert, Fulfilment, FulfilmentLine, Order, Shipment, SkuMapping, Supplier,
)
from hub.domain.fulfilment.states import FULFILMENT, move
from hub.domain.pushes.supplier_notices import iso
from hub.pipeline.events import OrderChanged
from hub.core.wakeup import current_var_dir
from mappings.tracking.carriers import PROVIDERS, carriers, normalise
from mappings.tracking.codes import table

ACTOR = "hub:allocation"
SLA_ALERT = "supplier_sla_breached"


# -- allocation ----------------------------------------------------------------------------

def on_order_changed(session: Session, event: OrderChanged) -> None:
    handle_order(session, event.order)


def handle_order(session: Session, order: Order, var_dir: Path | None = None) -> list[Fulfilment]:
    """Allocate ``order`` if it is paid and not held; returns the fulfilments made."""
    if order.status != "paid":
        for kind in ("order_held", "sku_unmapped"):
            alerts.resolve(session, order.merchant_id, kind, "order", order.id)
        return []
    if order.do_not_ship:
        _hold(session, order)
        return []
    if alerts.resolve(session, order.merchant_id, "order_held", "order", order.id):
        audit.record(session, order.merchant_id, ACTOR, "order.released", "order", order.id,
                     {"released_at": iso(utcnow())})
    return allocate(session, order, var_dir=var_dir)


def _hold(session: Session, order: Order) -> None:
    """Keep the order visibly held. Lines already with a supplier (the flag came after
    allocation) are not stopped automatically: the alert names them, critical."""
    reasons = list(order.do_not_ship_reasons or []) or ["unspecified"]
    sent = [f.id for f in order.fulfilments if f.status in ("requested", "accepted")]
    is_new = not _open_alert(session, order, "order_held")
    message = (f"Order {order.platform_order_id} is held and will not be sent to a supplier: "
               f"{', '.join(reasons)}. It is allocated as soon as the hold clears.")
    if sent:
        message = (f"Order {order.platform_order_id} is held ({', '.join(reasons)}) but was "
                   "already sent to its supplier: contact the supplier to hold the parcel.")
    alerts.raise_alert(session, order.merchant_id, "order_held", "order", order.id, message,
                       severity="critical" if sent else "warning",
                       details={"platform_order_id": order.platform_order_id,
                                "reasons": reasons, "fulfilment_ids": sent})
    if is_new:
        audit.record(session, order.merchant_id, ACTOR, "order.held", "order", order.id,
                     {"reasons": reasons, "held_at": iso(utcnow()), "fulfilment_ids": sent})


def _open_alert(session: Session, order: Order, kind: str) -> bool:
    return session.scalar(select(Alert.id).where(
        Alert.merchant_id == order.merchant_id, Alert.kind == kind, Alert.entity == "order",
        Alert.entity_id == order.id, Alert.resolved_at.is_(None))) is not None


def _best_mappings(session: Session, merchant_id: int, skus: set[str]):
    """sku → (SkuMapping, Supplier): the highest priority active mapping, oldest first."""
    rows = session.execute(
        select(SkuMapping, Supplier).join(Supplier, Supplier.id == SkuMapping.supplier_id)
        .where(SkuMapping.merchant_id == merchant_id, SkuMapping.sku.in_(skus),
               SkuMapping.active.is_(True), Supplier.active.is_(True))
        .order_by(SkuMapping.priority.desc(), SkuMapping.id)).all()
    best: dict[str, tuple[SkuMapping, Supplier]] = {}
    for mapping, supplier in rows:
        best.setdefault(mapping.sku, (mapping, supplier))
    return best


def allocate(session: Session, order: Order, *, var_dir: Path | None = None,
             actor: str = ACTOR) -> list[Fulfilment]:
    """Allocate the lines of ``order`` not yet in any fulfilment (see the module doc)."""
    covered = set(session.scalars(
        select(FulfilmentLine.order_line_id).join(
            Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .where(Fulfilment.order_id == order.id)))
    pending = [line for line in order.lines if line.id not in covered]
    if not pending:
        alerts.resolve(session, order.merchant_id, "sku_unmapped", "order", order.id)
        return []
    best = _best_mappings(session, order.merchant_id, {line.sku for line in pending})
    groups: dict[int, tuple[Supplier, list]] = {}
    unmapped: list[str] = []
    for line in pending:
        if line.sku not in best:
            unmapped.append(line.sku)
            continue
        mapping, supplier = best[line.sku]
        groups.setdefault(supplier.id, (supplier, []))[1].append(line)
    made = []
    now = utcnow()
    for supplier, lines in groups.values():
        f = Fulfilment(merchant_id=order.merchant_id, order=order, supplier_id=supplier.id,
                       status="requested", requested_at=now,
                       answer_due_at=now + timedelta(hours=supplier.sla_hours))
        f.lines = [FulfilmentLine(merchant_id=order.merchant_id, order_line_id=line.id,
                                  quantity=line.quantity) for line in lines]
        session.add(f)
        session.flush()
        audit.record(session, order.merchant_id, actor, "fulfilment.requested", "fulfilment",
                     f.id, {"order_id": order.id, "supplier_id": supplier.id,
                            "lines": [{"order_line_id": x.id, "sku": x.sku,
                                       "quantity": x.quantity} for x in lines],
                            "requested_at": iso(now), "answer_due_at": iso(f.answer_due_at)})
        dispatch(session, f, var_dir=var_dir)
        made.append(f)
    if unmapped:
        alerts.raise_alert(
            session, order.merchant_id, "sku_unmapped", "order", order.id,
            f"Order {order.platform_order_id}: no active supplier mapping for "
            f"{', '.join(sorted(set(unmapped)))}. Add a SKU mapping; the lines are "
            "allocated on the order's next change.",
            details={"platform_order_id": order.platform_order_id,
                     "skus": sorted(set(unmapped))})
    else:
        alerts.resolve(session, order.merchant_id, "sku_unmapped", "order", order.id)
    return made


def dispatch_lines(session: Session, fulfilment: Fulfilment) -> list[dict]:
    order_lines = {line.id: line for line in fulfilment.order.lines}
    lines = [(order_lines[x.order_line_id], x.quantity) for x in fulfilment.lines
             if x.order_line_id in order_lines]
    supplier_skus = dict(session.execute(select(SkuMapping.sku, SkuMapping.supplier_sku).where(
        SkuMapping.merchant_id == fulfilment.merchant_id,
        SkuMapping.supplier_id == fulfilment.supplier_id,
        SkuMapping.sku.in_({line.sku for line, _ in lines}))).all())
    return [{"sku": line.sku, "supplier_sku": supplier_skus.get(line.sku), "title": line.title,
             "quantity": qty} for line, qty in lines]


def dispatch(session: Session, fulfilment: Fulfilment, *, var_dir: Path | None = None):
    """Queue (again: same key) the ``order_dispatch`` notice of a fulfilment."""
    supplier = session.get(Supplier, fulfilment.supplier_id)
    payload = supplier_notices.order_dispatch(fulfilment, fulfilment.order,
                                              dispatch_lines(session, fulfilment))
    return supplier_notices.send(
        session, supplier, supplier_notices.ORDER_DISPATCH, "fulfilment", fulfilment.id,
        payload, f"dispatch:{iso(fulfilment.requested_at)}", var_dir=var_dir)


# -- answers ---------------------------------------------------------------------------------

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
                                 "late": _late(fulfilment.answer_due_at, now)})
    alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id)
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
    alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id)
    order = fulfilment.order
    alerts.raise_alert(
        session, fulfilment.merchant_id, "fulfilment_rejected", "fulfilment", fulfilment.id,
        f"Supplier rejected order {order.platform_order_id}: {fulfilment.reject_reason}. "
        "Allocate it to another supplier or cancel it.",
        details={"order_id": order.id, "supplier_id": fulfilment.supplier_id,
                 "reason": fulfilment.reject_reason})
    return fulfilment


def _late(due, at) -> bool:
    return bool(due is not None and at > due)


# -- tracking numbers ------------------------------------------------------------------------

def normalise_carrier(raw) -> str | None:
    """A carrier as suppliers write it (``SF``, ``shunfeng``, ``顺丰速运``) → ``sf``, or None."""
    key = str(raw or "").strip().lower()
    if not key:
        return None
    known = carriers()
    if key in known:
        return key
    for provider in PROVIDERS:
        match = normalise(provider, key)
        if match.known:
            return match.carrier
    for code, row in known.items():
        if key in (str(row.get("name", "")).lower(), str(row.get("name_en", "")).lower()):
            return code
    return None


def _invalid(message: str, field: str) -> ApiError:
    return ApiError(message, code="invalid_tracking_number", status=422,
                    details={field: [message]})


def validate_tracking(session: Session, fulfilment: Fulfilment, carrier,
                      tracking_number) -> tuple[str, str, Shipment | None]:
    """``(carrier, number, existing shipment of this order or None)``, or ``ApiError`` 422."""
    code = normalise_carrier(carrier)
    if code is None:
        raise _invalid(f"unknown carrier {str(carrier or '')[:40]!r}; use one of "
                       f"{', '.join(carriers())}", "carrier")
    number = re.sub(r"[\s-]+", "", str(tracking_number or "")).upper()
    patterns = table("tracking_patterns.json")
    rule = patterns["carriers"].get(code, patterns["default"])
    if not re.fullmatch(rule["pattern"], number):
        raise _invalid(f"{number[:40] or 'an empty value'!r} is not a {code} tracking number "
                       f"(expected {rule['shape']})", "tracking_number")
    same = None
    for other in session.scalars(select(Shipment).where(
            Shipment.merchant_id == fulfilment.merchant_id, Shipment.tracking_number == number)):
        if (other.direction == "outbound" and other.order_id == fulfilment.order_id
                and other.carrier == code):
            same = other
            continue
        raise ApiError(
            f"tracking number {number} is already used by "
            + (f"another order (shipment {other.id})" if other.direction == "outbound"
               else f"a return (shipment {other.id})")
            + "; a waybill belongs to one parcel", code="tracking_number_reused", status=422,
            details={"tracking_number": [f"already used by shipment {other.id}"]})
    return code, number, same


def record_shipment(session: Session, fulfilment: Fulfilment, carrier: str, number: str,
                    actor: str, var_dir: Path | None = None) -> Shipment:
    """Register a validated outbound parcel, timestamp it, push it to the platform."""
    var_dir = current_var_dir(var_dir)
    shipment = tracking.register_shipment(
        session, merchant_id=fulfilment.merchant_id, carrier=carrier, tracking_number=number,
        direction="outbound", order_id=fulfilment.order_id, fulfilment_id=fulfilment.id,
        var_dir=var_dir)
    now = utcnow()
    fulfilment.shipped_at = fulfilment.shipped_at or now
    audit.record(session, fulfilment.merchant_id, actor, "fulfilment.tracking_submitted",
                 "fulfilment", fulfilment.id,
                 {"carrier": carrier, "tracking_number": number, "shipment_id": shipment.id,
                  "submitted_at": iso(now), "status": fulfilment.status})
    if fulfilment.order.status != "cancelled":  # a cancelled order cannot be shipped
        platform_actions.push_shipment(session, shipment, var_dir=var_dir)
    return shipment


def outbound_shipment(session: Session, fulfilment: Fulfilment) -> Shipment | None:
    return session.scalar(select(Shipment).where(
        Shipment.fulfilment_id == fulfilment.id, Shipment.direction == "outbound")
        .order_by(Shipment.id.desc()).limit(1))


def submit_tracking(session: Session, fulfilment: Fulfilment, carrier, tracking_number,
                    actor: str, var_dir: Path | None = None) -> Shipment:
    code, number, existing = validate_tracking(session, fulfilment, carrier, tracking_number)
    if fulfilment.status in ("cancel_requested", "cancel_rejected"):
        from hub.domain.fulfilment import stopship  # shipped despite (or before answering) a stop-ship request
        stopship.answer_stop_ship(session, fulfilment, False, actor,
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
    alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id)
    return shipment

