"""A courier's tracking record (``TrackingValues``) applied to a shipment.

Events are stored once each (``dedupe_key``); the status moves through
``mappings.tracking.progress`` from the stored one over the new events in event-time
order, so late, repeated or out-of-order pushes never move a parcel backwards and a
final state is left only by a documented transition. Values with no events (an abort,
an interception result) still record monitoring and interception. A change publishes
``ShipmentTracked`` (tracking effects, return notices and stop-ship subscribe to it).
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from hub.core.db import memo, utcnow
from hub.models import Shipment, TrackingEvent, audit
from hub.pipeline.events import ShipmentTracked
from hub.pipeline.sync import locked
from hub.values import TrackingValues
from mappings.tracking import progress

MAX_SHIPMENT_FLAGS = 50


def event_key(occurred_at, raw_status, description) -> str:
    raw = f"{occurred_at.isoformat()}|{raw_status}|{description}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def shipment_for(session, account, v: TrackingValues) -> tuple[Shipment | None, str | None]:
    """The shipment ``v`` is about, row-locked on PostgreSQL, and the old carrier when it
    was found under the carrier a ``carrier_corrected:<old>-><new>`` flag names (the
    shipment is then corrected to ``v.carrier``). A carrier the mapper did not know
    (``unknown_carrier:`` flag) falls back to the tracking number alone when exactly one
    shipment of the merchant has it."""
    candidates = memo(session).get("shipments", {}).get((account.merchant_id, v.tracking_number))
    if candidates is None:
        candidates = _shipments(session, account.merchant_id, {v.tracking_number})

    def find(carrier=None):
        return [s for s in candidates if carrier is None or s.carrier == carrier][:2]

    found = find(v.carrier)
    if found:
        return found[0], None
    for flag in v.flags:
        if flag.startswith("carrier_corrected:"):
            old = flag.partition(":")[2].partition("->")[0]
            found = find(old) if old and old != v.carrier else []
            if found:
                shipment = found[0]
                shipment.carrier, shipment.carrier_raw = v.carrier, v.carrier_raw
                return shipment, old
    if not v.carrier or any(f.startswith("unknown_carrier:") for f in v.flags):
        found = find()
        if len(found) == 1:
            return found[0], None
    return None, None


def record_interception(session, account, shipment: Shipment, outcome: str | None):
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


def _shipments(session, merchant_id: int, numbers: set[str]) -> list[Shipment]:
    """The merchant's shipments with these tracking numbers, row-locked in id order on
    PostgreSQL (two workers never wait on each other in opposite orders)."""
    # ``+ 0``: without statistics SQLite's planner would walk every shipment of the
    # merchant by ``merchant_id``'s index instead of looking the numbers up
    return list(session.scalars(locked(session, select(Shipment).where(
        Shipment.merchant_id + 0 == merchant_id, Shipment.tracking_number.in_(numbers))
        .order_by(Shipment.id))))


def preload_shipments(session, account, values: list[TrackingValues]) -> None:
    """The shipments a batch of ``values`` names, and their events' keys: one query each,
    remembered for the transaction (``hub.core.db.memo``; ``register_shipment`` adds
    what it creates)."""
    numbers = {v.tracking_number for v in values}
    found = _shipments(session, account.merchant_id, numbers)
    by_number: dict = {(account.merchant_id, n): [] for n in numbers}
    for shipment in found:
        by_number[(account.merchant_id, shipment.tracking_number)].append(shipment)
    memo(session).setdefault("shipments", {}).update(by_number)
    keys: dict[int, set] = {shipment.id: set() for shipment in found}
    for shipment_id, key in session.execute(select(
            TrackingEvent.shipment_id, TrackingEvent.dedupe_key).where(
            TrackingEvent.shipment_id.in_(keys))):
        keys[shipment_id].add(key)
    memo(session).setdefault("tracking_keys", {}).update(keys)


def apply_tracking(session, account, v: TrackingValues):
    shipment, corrected = shipment_for(session, account, v)
    if shipment is None:
        return "ignored", None
    previous = shipment.status
    known = memo(session).setdefault("tracking_keys", {}).get(shipment.id)
    if known is None:
        known = set(session.scalars(select(TrackingEvent.dedupe_key).where(
            TrackingEvent.shipment_id == shipment.id)))
        memo(session)["tracking_keys"][shipment.id] = known
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
    interception = record_interception(session, account, shipment, v.interception)
    if not (new_events or corrected or monitoring_changed or interception):
        return "ignored", None
    return "updated", ShipmentTracked(account, shipment, v, previous, shipment.status,
                                      len(new_events), monitoring_changed, interception,
                                      corrected)
