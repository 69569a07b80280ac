"""Tracking numbers a supplier hands back: checked, then registered as the outbound
parcel of its fulfilment.

``validate_tracking`` wants a known carrier (``normalise_carrier``: ``SF``, ``shunfeng``,
``顺丰速运`` → ``sf``), the carrier's pattern from ``mappings/tracking/tracking_patterns.json``
and a number no other order or return of the merchant uses; a failure raises
``ApiError`` 422 ``invalid_tracking_number`` / ``tracking_number_reused``, having changed
nothing. ``record_shipment`` registers the parcel with the courier
(``hub.domain.tracking.shipments.register_shipment``) and pushes it to the platform
(``hub.domain.pushes.platform_actions.push_shipment``); ``correct_tracking`` replaces a
wrong one (the platform gets a tracking correction).
"""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.core.db import iso, utcnow
from hub.core.errors import ApiError, Conflict
from hub.core.wakeup import current_var_dir
from hub.domain.fulfilment import payables
from hub.domain.pushes import platform_actions
from hub.domain.tracking import shipments as tracking
from hub.models import Fulfilment, OutboxMessage, Shipment, audit
from mappings.tracking.carriers import PROVIDERS, carriers, normalise
from mappings.tracking.codes import table


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
    if fulfilment.shipped_at is None and fulfilment.purpose in (None, "order"):
        payables.goods_dispatched(session, fulfilment, actor)  # the goods left: owed
    fulfilment.shipped_at = fulfilment.shipped_at or now
    audit.record(session, fulfilment.merchant_id, actor, "fulfilment.tracking_submitted",
                 "fulfilment", fulfilment.id,
                 {"carrier": carrier, "tracking_number": number, "shipment_id": shipment.id,
                  "submitted_at": iso(now), "status": fulfilment.status})
    # a cancelled order cannot be shipped; an after-sale's second parcel is not the
    # order's shipment (the platform already has that)
    if fulfilment.order.status != "cancelled" and fulfilment.purpose in (None, "order"):
        platform_actions.push_shipment(session, shipment, var_dir=var_dir)
    return shipment


def outbound_shipment(session: Session, fulfilment: Fulfilment) -> Shipment | None:
    return session.scalar(select(Shipment).where(
        Shipment.fulfilment_id == fulfilment.id, Shipment.direction == "outbound")
        .order_by(Shipment.id.desc()).limit(1))


def correct_tracking(session: Session, fulfilment: Fulfilment, carrier, tracking_number,
                     actor: str, reason: str, var_dir: Path | None = None) -> Shipment:
    """Replace the waybill a supplier handed back by mistake. The new number is validated
    like any other and registered (the courier subscribes it); the wrong parcel is kept,
    with its events, as evidence but ``cancelled`` (final: nothing it reports moves the
    order again), its unsent platform push withdrawn; the platform gets a tracking
    correction naming the old number. The same correction again returns the shipment."""
    current = outbound_shipment(session, fulfilment)
    if current is None:
        raise Conflict(f"fulfilment {fulfilment.id} has no tracking number to correct: "
                       "hand it back instead", details={"status": fulfilment.status})
    code, number, same = validate_tracking(session, fulfilment, carrier, tracking_number)
    if same is not None:
        if same.id == current.id:
            return current
        raise Conflict(f"{code} {number} was replaced by {current.carrier} "
                       f"{current.tracking_number} earlier", details={"shipment_id": same.id})
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("say why the tracking number is corrected", "reason")
    var_dir = current_var_dir(var_dir)
    now = utcnow()
    current.status = "cancelled"
    current.flags = [*(current.flags or []), f"corrected_to:{code}:{number}"]
    session.execute(update(OutboxMessage).where(
        OutboxMessage.merchant_id == fulfilment.merchant_id,
        OutboxMessage.entity == "shipment", OutboxMessage.entity_id == current.id,
        OutboxMessage.status == "pending", OutboxMessage.lease_owner.is_(None))
        .values(status="superseded").execution_options(synchronize_session=False))
    shipment = tracking.register_shipment(
        session, merchant_id=fulfilment.merchant_id, carrier=code, tracking_number=number,
        direction="outbound", order_id=fulfilment.order_id, fulfilment_id=fulfilment.id,
        var_dir=var_dir)
    audit.record(session, fulfilment.merchant_id, actor, "shipment.tracking_corrected",
                 "fulfilment", fulfilment.id,
                 {"from": [current.carrier, current.tracking_number], "to": [code, number],
                  "reason": reason[:500], "old_shipment_id": current.id,
                  "shipment_id": shipment.id, "corrected_at": iso(now)})
    if fulfilment.order.status != "cancelled":
        platform_actions.push_shipment(session, shipment, var_dir=var_dir)
    return shipment
