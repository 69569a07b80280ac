"""``Track17Mapper``: a 17TRACK v2 webhook ``data`` object → ``TrackingValues``. Pure.

Events come from ``track_info.tracking.providers[].events[]`` (merged, deduplicated by
time + description). An event's status is its ``sub_status`` (beats the main status),
else its milestone ``stage``; the newest event also takes ``track_info.latest_status``.
An event with neither is ``in_transit`` (flagged ``uncoded_events``): 17TRACK leaves most
intermediate scans without a code. ``TRACKING_STOPPED`` sets monitoring ``stopped``.
"""
from __future__ import annotations

from hub.values import TrackingEventValues, TrackingValues
from mappings.tracking import codes
from mappings.tracking.build import MappingError, parse_iso, tracking_values
from mappings.tracking.carriers import normalise

MONITORING = {"TRACKING_UPDATED": "tracking", "TRACKING_STOPPED": "stopped"}


def _when(ev: dict):
    when, _ = parse_iso(ev.get("time_utc"))
    if when is None:
        when, _ = parse_iso(ev.get("time_iso"))
    return when


def map_tracking(data: dict, event: str | None = None) -> TrackingValues:
    if not isinstance(data, dict):
        raise MappingError("17TRACK data must be a JSON object")
    number = str(data.get("number") or "").strip()
    if not number:
        raise MappingError("17TRACK data has no number")
    carrier = normalise("track17", data.get("carrier"))
    info = data.get("track_info") or {}
    if not isinstance(info, dict):
        raise MappingError("17TRACK track_info must be a JSON object")
    latest = info.get("latest_status") or {}
    latest_event = info.get("latest_event") or {}
    flags: list[str] = []
    raw_events: list[dict] = []
    providers = ((info.get("tracking") or {}).get("providers")) or []
    for provider in providers if isinstance(providers, list) else []:
        if isinstance(provider, dict) and isinstance(provider.get("events"), list):
            raw_events += [e for e in provider["events"] if isinstance(e, dict)]
    if not raw_events and isinstance(latest_event, dict) and latest_event.get("time_utc"):
        raw_events = [latest_event]
    timed = [(when, ev) for ev in raw_events if (when := _when(ev)) is not None]
    if len(timed) < len(raw_events):
        flags.append("bad_event_time")
    newest_at = max((w for w, _ in timed), default=None)
    events: list[TrackingEventValues] = []
    for when, ev in timed:
        is_latest = when == newest_at
        match = codes.track17(None, ev.get("sub_status"), ev.get("stage"))
        own_code = match is not None and match.known and match.raw == ev.get("sub_status")
        if is_latest and not own_code and isinstance(latest, dict) and latest.get("status"):
            top = codes.track17(latest.get("status"), latest.get("sub_status"))
            if top is not None and (top.known or match is None):
                match = top     # the parcel-level status describes the newest event
        if match is None:
            status, raw = "in_transit", None
            flags.append("uncoded_events")
        else:
            status, raw = match.status, match.raw
            flags.extend(match.flags)
        events.append(TrackingEventValues(occurred_at=when, status=status, raw_status=raw,
                                          description=str(ev.get("description") or "")[:1000],
                                          location=str(ev["location"]) if ev.get("location")
                                          else None))
    if isinstance(latest, dict) and latest.get("status"):
        top = codes.track17(latest.get("status"), latest.get("sub_status"))
        if top is not None:
            flags.extend(top.flags)
    monitoring = MONITORING.get(event) if event else None
    if event and monitoring is None:
        flags.append(f"unknown_event:track17:{event}")
    return tracking_values(carrier, number, events, flags, monitoring=monitoring)
