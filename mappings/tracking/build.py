"""Shared assembly of ``TrackingValues`` for the provider mappers: dedupe the events,
order them newest last, run the status machine over them for ``current_status``, and
collect flags once each."""
from __future__ import annotations

from datetime import datetime, timezone

from hub.values import TrackingEventValues, TrackingValues
from mappings.tracking.carriers import CarrierMatch
from mappings.tracking.machine import progress


class MappingError(ValueError):
    """The payload is not a tracking record at all (no number...): a ``fail_data``."""


def unique(items) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return tuple(out)


def parse_iso(value) -> tuple[datetime | None, bool]:
    """An ISO 8601 time as aware UTC, and whether it had no offset (then taken as UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None, False
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, False
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc), True
    return parsed.astimezone(timezone.utc), False


def tracking_values(carrier: CarrierMatch, number: str, events: list[TrackingEventValues],
                    flags: list[str], *, monitoring: str | None = None,
                    interception: str | None = None) -> TrackingValues:
    seen: set[tuple] = set()
    kept: list[TrackingEventValues] = []
    for ev in sorted(events, key=lambda e: e.occurred_at):
        key = (ev.occurred_at, ev.raw_status, ev.description)
        if key not in seen:
            seen.add(key)
            kept.append(ev)
    current = None
    if kept:
        result = progress(None, kept)
        current = result.status if result.applied else None
        flags = [*flags, *result.flags]
    return TrackingValues(carrier=carrier.carrier, tracking_number=number, events=tuple(kept),
                          carrier_raw=carrier.raw or None,
                          flags=unique([carrier.flag, *flags]), current_status=current,
                          monitoring=monitoring, interception=interception)
