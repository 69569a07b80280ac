"""Applying mapped values to the common model, idempotently, through bindings.

``apply(session, account, values)`` upserts one order, return case or set of tracking
events and answers what it did: ``created``, ``updated``, ``skipped_older`` (the stored
record is newer: an old update arriving late changes nothing) or ``ignored``.
Bindings ``(connector, account, entity, external_id)`` are unique: when two workers race
to create the same record, one insert fails and ``apply`` raises a retryable
``ConnectorError`` — the event is retried and then finds the binding. Call it inside a
savepoint (``session.begin_nested()``) when other work shares the transaction.

Domain rules (allocation, stop-ship, ...) subscribe with ``@on_change("order")`` and run
in the same transaction, so anything they enqueue commits with the change. Tracking
listeners (``@on_change("tracking")``, e.g. ``hub.domain.tracking.shipments``) get the shipment and read
what this record changed with ``tracking_change(shipment)``; return listeners
(``@on_change("return")``, e.g. ``hub.domain.returns.flow``, which registers the buyer's return
parcel) read the applied values with ``return_change(case)``.

**A return case never goes backwards.** The normalised statuses are ordered by how far
the goods and the decision have got (DESIGN.md §5)::

    requested < approved = rejected < awaiting_return < return_in_transit
              < received < inspected < refunded = resolved = closed

``return_in_transit``, ``received`` and ``inspected`` are progress the hub may record
itself (the return parcel's tracking, the supplier's receipt) before the platform's own
update about an earlier step is processed. When the stored status is one of them and
the incoming one ranks lower, the stored status is kept — ``raw_status`` (the platform's
own status) and every other field are still updated, and the kept status is audited
(``return_case.status_kept``) when the platform's raw status changed. Decisions always
apply whatever the stored progress: ``rejected`` (a request or a receipt refused),
``closed``, ``refunded`` and ``resolved``. A stored status outside that progress (e.g.
``rejected`` → ``requested`` when the buyer changes a refused request) is the
platform's to change. Older records are still dropped by ``remote_updated_at``.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.base import ConnectorError, ErrorClass
from hub.models import audit
from hub.core.db import utcnow
from hub.models import (
    Account, Binding, Order, OrderLine, ReturnCase, ReturnLine, Shipment, TrackingEvent,
)
from hub.domain.fulfilment.updates import apply_update as _apply_fulfilment_update
from hub.values import FulfilmentUpdateValues, OrderValues, ReturnValues, TrackingValues
from mappings.tracking import progress

_listeners: dict[str, list[Callable]] = defaultdict(list)


def on_change(entity: str):
    """Register ``fn(session, account, row, outcome)`` to run after ``entity`` changes."""
    def register(fn):
        _listeners[entity].append(fn)
        return fn
    return register


def _binding(session: Session, account: Account, entity: str, external_id: str):
    stmt = select(Binding).where(Binding.connector == account.connector,
                                 Binding.account_id == account.id, Binding.entity == entity,
                                 Binding.external_id == external_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _bind(session, account, entity, external_id, internal_id, remote_updated_at):
    session.add(Binding(merchant_id=account.merchant_id, connector=account.connector,
                        account_id=account.id, entity=entity, external_id=external_id,
                        internal_id=internal_id, remote_updated_at=remote_updated_at,
                        synced_at=utcnow()))


def apply(session: Session, account: Account, values) -> str:
    handler = {OrderValues: _apply_order, ReturnValues: _apply_return,
               TrackingValues: _apply_tracking,
               FulfilmentUpdateValues: _apply_fulfilment_update}.get(type(values))
    if handler is None:
        raise ConnectorError(ErrorClass.FAIL_DATA, f"cannot apply {type(values).__name__}")
    try:
        with session.begin_nested():
            outcome, row = handler(session, account, values)
    except IntegrityError:
        raise ConnectorError(ErrorClass.RETRY, f"concurrent write to {values.entity} "
                             f"{values.external_id}; retrying") from None
    if row is not None and outcome in ("created", "updated"):
        for listener in _listeners[values.entity]:
            listener(session, account, row, outcome)
    return outcome


def _upsert(session, account, values, model, fields: dict, merge=None):
    """Shared binding logic: returns (outcome, row) with fields set on the row.
    ``merge(row, fields) -> fields`` adjusts what is set on an existing row."""
    binding = _binding(session, account, values.entity, values.external_id)
    remote = values.remote_updated_at
    if binding is not None:
        if remote and binding.remote_updated_at and remote < binding.remote_updated_at:
            return "skipped_older", None
        row = session.get(model, binding.internal_id)
        if merge is not None:
            fields = merge(row, fields)
        for key, value in fields.items():
            setattr(row, key, value)
        binding.remote_updated_at = remote or binding.remote_updated_at
        binding.synced_at = utcnow()
        return "updated", row
    row = model(merchant_id=account.merchant_id, **fields)
    session.add(row)
    session.flush()
    _bind(session, account, values.entity, values.external_id, row.id, remote)
    session.flush()
    return "created", row


def _apply_order(session, account, v: OrderValues):
    b = v.buyer
    fields = dict(
        shop_account_id=account.id, platform_order_id=v.platform_order_id, status=v.status,
        raw_status=v.raw_status, currency=v.currency, total_minor=v.total_minor,
        paid_minor=v.paid_minor, shipping_fee_minor=v.shipping_fee_minor, placed_at=v.placed_at,
        paid_at=v.paid_at, ship_by=v.ship_by, remote_updated_at=v.remote_updated_at,
        do_not_ship=bool(v.do_not_ship_reasons), do_not_ship_reasons=list(v.do_not_ship_reasons),
        buyer_name_cipher=b.name_cipher, buyer_phone_cipher=b.phone_cipher,
        buyer_address_cipher=b.address_cipher, buyer_name_masked=b.name_masked,
        buyer_phone_masked=b.phone_masked, buyer_address_masked=b.address_masked,
        province_code=b.province_code, city_code=b.city_code, district_code=b.district_code,
        buyer_note=v.buyer_note, flags=list(v.flags))
    outcome, order = _upsert(session, account, v, Order, fields)
    if order is None:
        return outcome, None
    existing = {(line.platform_line_id or line.sku): line for line in order.lines}
    for lv in v.lines:
        line = existing.get(lv.platform_line_id or lv.sku)
        if line is None:
            line = OrderLine(merchant_id=account.merchant_id, currency=v.currency)
            order.lines.append(line)
        for key in ("sku", "quantity", "unit_price_minor", "total_minor", "platform_line_id",
                    "platform_sku_id", "title", "is_gift"):
            setattr(line, key, getattr(lv, key))
    session.flush()
    return outcome, order


RETURN_RANK = {"requested": 0, "approved": 1, "rejected": 1, "awaiting_return": 2,
               "return_in_transit": 3, "received": 4, "inspected": 5,
               "refunded": 6, "resolved": 6, "closed": 6}
HUB_PROGRESS = ("return_in_transit", "received", "inspected")  # the hub may record these
RETURN_DECISIONS = ("rejected", "closed", "refunded", "resolved")  # always applied


def return_status(stored: str | None, incoming: str) -> str:
    """The status a return case keeps when the platform says ``incoming`` (module doc)."""
    if (stored in HUB_PROGRESS and incoming not in RETURN_DECISIONS
            and RETURN_RANK.get(incoming, 0) < RETURN_RANK[stored]):
        return stored
    return incoming


@dataclass(frozen=True)
class ReturnChange:
    """What one applied return record did, for ``on_change("return")`` listeners:
    ``return_change(case)`` inside the listener. ``previous_status`` is None for a new
    case; ``status_kept`` says the platform's status was not applied (``values.status``)
    because the hub had recorded further progress."""

    values: ReturnValues
    previous_status: str | None
    status: str

    @property
    def status_kept(self) -> bool:
        return self.status != self.values.status


def return_change(case: ReturnCase) -> ReturnChange | None:
    """The change the return record being applied made to ``case`` (listeners)."""
    return getattr(case, "_hub_return_change", None)


def _apply_return(session, account, v: ReturnValues):
    order = None
    if v.platform_order_id:
        order = session.scalar(select(Order).where(
            Order.merchant_id == account.merchant_id, Order.shop_account_id == account.id,
            Order.platform_order_id == v.platform_order_id))
    fields = dict(
        shop_account_id=account.id, order_id=order.id if order else None,
        platform_return_id=v.platform_return_id, kind=v.kind, reason_code=v.reason_code,
        reason_text=v.reason_text, status=v.status, raw_status=v.raw_status,
        refund_minor=v.refund_minor, currency=v.currency, requested_at=v.requested_at,
        respond_by=v.respond_by, buyer_ship_by=v.buyer_ship_by,
        remote_updated_at=v.remote_updated_at, flags=list(v.flags))
    before: dict = {}

    def keep_progress(case, fields):
        before.update(status=case.status, raw_status=case.raw_status)
        return {**fields, "status": return_status(case.status, v.status)}

    outcome, case = _upsert(session, account, v, ReturnCase, fields, keep_progress)
    if case is None:
        return outcome, None
    case._hub_return_change = ReturnChange(v, before.get("status"), case.status)
    if case.status != v.status and before.get("raw_status") != v.raw_status:
        audit.record(session, case.merchant_id, f"connector:{account.connector}:{account.id}",
                     "return_case.status_kept", "return_case", case.id,
                     {"status": case.status, "platform_status": v.status,
                      "raw_status": [before.get("raw_status"), v.raw_status]})
    order_lines = {}
    if order is not None:
        for line in order.lines:
            order_lines.setdefault(line.platform_line_id, line)
            order_lines.setdefault(line.sku, line)
    existing = {line.sku: line for line in case.lines}
    for lv in v.lines:
        line = existing.get(lv.sku)
        if line is None:
            line = ReturnLine(merchant_id=account.merchant_id, sku=lv.sku)
            case.lines.append(line)
        match = order_lines.get(lv.platform_line_id) or order_lines.get(lv.sku)
        line.order_line_id = match.id if match else None
        line.quantity, line.reason_code = lv.quantity, lv.reason_code
    session.flush()
    return outcome, case


def event_key(occurred_at, raw_status, description) -> str:
    raw = f"{occurred_at.isoformat()}|{raw_status}|{description}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class TrackingChange:
    """What one applied tracking record changed, for ``on_change("tracking")`` listeners:
    ``tracking_change(shipment)`` inside the listener. ``interception`` is the outcome
    this record recorded (``succeeded`` | ``failed``), else None; ``carrier_corrected``
    the carrier the shipment had before a carrier-code correction, else None."""

    values: TrackingValues
    previous_status: str
    status: str
    events_added: int
    monitoring_changed: bool = False
    interception: str | None = None
    carrier_corrected: str | None = None

    @property
    def status_changed(self) -> bool:
        return self.previous_status != self.status


def tracking_change(shipment: Shipment) -> TrackingChange | None:
    """The change the tracking record being applied made to ``shipment`` (listeners)."""
    return getattr(shipment, "_hub_tracking_change", None)


def _shipment_for(session, account, v: TrackingValues) -> tuple[Shipment | None, str | None]:
    """The shipment ``v`` is about, row-locked on PostgreSQL, and the old carrier when it
    was found under the carrier a ``carrier_corrected:<old>-><new>`` flag names (the
    shipment is then corrected to ``v.carrier``). A carrier the mapper did not know
    (``unknown_carrier:`` flag) falls back to the tracking number alone when exactly one
    shipment of the merchant has it."""
    def find(*conditions):
        stmt = select(Shipment).where(Shipment.merchant_id == account.merchant_id,
                                      Shipment.tracking_number == v.tracking_number,
                                      *conditions)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return list(session.scalars(stmt.limit(2)))

    found = find(Shipment.carrier == v.carrier)
    if found:
        return found[0], None
    for flag in v.flags:
        if flag.startswith("carrier_corrected:"):
            old = flag.partition(":")[2].partition("->")[0]
            found = find(Shipment.carrier == old) if old and old != v.carrier else []
            if found:
                shipment = found[0]
                shipment.carrier, shipment.carrier_raw = v.carrier, v.carrier_raw
                return shipment, old
    if not v.carrier or any(f.startswith("unknown_carrier:") for f in v.flags):
        found = find()
        if len(found) == 1:
            return found[0], None
    return None, None


def _record_interception(session, account, shipment: Shipment, outcome: str | None):
    """Record an interception result (``succeeded`` | ``failed``) with an audit entry (its
    time); a success is final, and a repeat of the recorded outcome changes nothing."""
    if outcome not in ("succeeded", "failed") or shipment.interception_status == outcome \
            or shipment.interception_status == "succeeded":
        return None
    before = shipment.interception_status
    shipment.interception_status = outcome
    audit.record(session, shipment.merchant_id, f"connector:{account.connector}:{account.id}",
                 f"shipment.interception_{outcome}", "shipment", shipment.id,
                 {"interception_status": [before, outcome], "recorded_at": utcnow().isoformat()})
    return outcome


MAX_SHIPMENT_FLAGS = 50


def _apply_tracking(session, account, v: TrackingValues):
    """Events are stored once each (``dedupe_key``); the status moves through
    ``mappings.tracking.progress`` from the stored one over the new events in event-time
    order, so late, repeated or out-of-order pushes never move a parcel backwards and a
    final state is left only by a documented transition. Values with no events (an
    abort, an interception result) still record monitoring and interception."""
    shipment, corrected = _shipment_for(session, account, v)
    if shipment is None:
        return "ignored", None
    previous = shipment.status
    known = set(session.scalars(select(TrackingEvent.dedupe_key).where(
        TrackingEvent.shipment_id == shipment.id)))
    new_events = []
    for ev in v.events:
        key = event_key(ev.occurred_at, ev.raw_status, ev.description)
        if key in known:
            continue
        known.add(key)
        new_events.append(ev)
        session.add(TrackingEvent(merchant_id=account.merchant_id, shipment_id=shipment.id,
                                  occurred_at=ev.occurred_at, status=ev.status,
                                  raw_status=ev.raw_status, description=ev.description,
                                  location=ev.location, source=account.connector,
                                  dedupe_key=key))
    step = progress(shipment.status, new_events, since=shipment.last_event_at,
                    current_raw=shipment.raw_status)
    if step.applied:
        shipment.status, shipment.raw_status, shipment.last_event_at = \
            step.status, step.raw_status, step.at
        if step.status == "delivered" and step.changed:
            shipment.delivered_at = step.at
    flags = list(shipment.flags or [])
    for flag in (*v.flags, *step.flags):
        if flag not in flags and len(flags) < MAX_SHIPMENT_FLAGS:
            flags.append(flag)
    if flags != list(shipment.flags or []):
        shipment.flags = flags
    monitoring = v.monitoring[:32] if v.monitoring else None
    monitoring_changed = monitoring is not None and monitoring != shipment.monitoring
    if monitoring is not None:
        shipment.monitoring = monitoring
    interception = _record_interception(session, account, shipment, v.interception)
    if not (new_events or corrected or monitoring_changed or interception):
        return "ignored", None
    shipment._hub_tracking_change = TrackingChange(
        v, previous, shipment.status, len(new_events), monitoring_changed, interception,
        corrected)
    session.flush()
    return "updated", shipment
