"""``AfterShipMapper``: an AfterShip Tracking object (a webhook's ``msg``) →
``TrackingValues``. Pure: no I/O.

Each checkpoint maps by its ``subtag`` (beats ``tag``). The tracking's own ``tag`` /
``subtag`` is its current status; when it says more than the newest checkpoint (e.g.
``Expired``, or ``Exception_011`` set without a new scan) and the object has an
``updated_at``, it becomes one more event at that time, so the status machine sees it.
``checkpoint_time`` is usually local time without an offset: it is taken as UTC and the
values are flagged ``naive_time`` (ordering within a parcel is unaffected).
"""
from __future__ import annotations

from hub.values import TrackingEventValues, TrackingValues
from mappings.tracking import codes
from mappings.tracking.build import MappingError, parse_iso, tracking_values
from mappings.tracking.carriers import normalise


def _location(cp: dict) -> str | None:
    if cp.get("location"):
        return str(cp["location"])
    parts = [cp.get(k) for k in ("city", "state", "country_name", "country_region_name")]
    text = ", ".join(str(p) for p in parts if p)
    return text or None


def map_tracking(msg: dict) -> TrackingValues:
    if not isinstance(msg, dict):
        raise MappingError("AfterShip msg must be a JSON object")
    number = str(msg.get("tracking_number") or "").strip()
    if not number:
        raise MappingError("AfterShip tracking has no tracking_number")
    carrier = normalise("aftership", msg.get("slug"))
    flags: list[str] = []
    events: list[TrackingEventValues] = []
    checkpoints = msg.get("checkpoints") or []
    if not isinstance(checkpoints, list):
        raise MappingError("AfterShip checkpoints must be a list")
    for cp in checkpoints:
        if not isinstance(cp, dict):
            flags.append("bad_event")
            continue
        when, naive = parse_iso(cp.get("checkpoint_time"))
        if when is None:
            flags.append("bad_event_time")
            continue
        if naive:
            flags.append("naive_time")
        match = codes.aftership(cp.get("tag"), cp.get("subtag"))
        if match is None:
            status, raw = "in_transit", None
            flags.append("uncoded_events")
        else:
            status, raw = match.status, match.raw
            flags.extend(match.flags)
        events.append(TrackingEventValues(occurred_at=when, status=status, raw_status=raw,
                                          description=str(cp.get("message") or "")[:1000],
                                          location=_location(cp)))
    current = codes.aftership(msg.get("tag"), msg.get("subtag"))
    if current is not None:
        flags.extend(current.flags)
        newest = max(events, key=lambda e: e.occurred_at) if events else None
        updated, _ = parse_iso(msg.get("updated_at"))
        if (updated is not None and current.status != "pending"
                and (newest is None or (current.raw != newest.raw_status
                                        and updated > newest.occurred_at))):
            text = str(msg.get("subtag_message") or current.raw)
            events.append(TrackingEventValues(occurred_at=updated, status=current.status,
                                              raw_status=current.raw, description=text[:1000]))
    return tracking_values(carrier, number, events, flags)
