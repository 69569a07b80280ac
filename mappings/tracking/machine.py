"""``StatusMachine``: a parcel's current status from its stored status and new events.

    result = progress(shipment.status, new_events, since=shipment.last_event_at)
    result.status, result.raw_status, result.at   # what to store
    result.held                                  # events that did not move it, and why

Couriers push full histories, re-push old ones and deliver late, so an event's own time
decides, never its arrival order:

1. Events are taken in event-time order; events with the same time in journey order
   (``vocabulary.RANK``), so "out for delivery" and "signed" stamped in one minute end
   on "signed".
2. An event **older than the current status** (``since``) is history only: it is
   stored by the caller but never moves the status (``held`` reason ``older``). At the
   same time as ``since`` only a further-along status moves it.
3. ``unknown`` events never move the status (``unknown_status``): the raw code is kept
   and flagged by the mapper.
4. Nothing moves a parcel back to ``pending`` (``regress_to_pending``).
5. A **final** state (``delivered``, ``returned``, ``cancelled``, ``expired``) is left
   only by a documented transition (``ESCAPES``), else the event is held (``final``):

   * ``delivered → refused | returning | returned`` — the recipient refused after a
     proxy/locker signature, or the carrier started a return;
   * ``expired → any real status`` — expired is soft: a new scan revives the parcel;
   * ``returned`` and ``cancelled`` are left by nothing but an interception.
6. ``intercepted`` is entered **from any state** — it is produced only from an
   interception request's success callback — and left by the physical events that
   follow (``returning → returned`` for a return, ``in_transit ...`` for a new address).

Non-final states move freely to any newer known status: ``returning → returned``,
``delivery_failed → out_for_delivery → delivered``, ``exception → in_transit``...
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from hub.values import TrackingEventValues
from mappings.tracking.vocabulary import FINAL, RANK, STATUSES, UNKNOWN

REAL = frozenset(STATUSES) - {"pending", UNKNOWN, "expired"}

# final state -> the statuses it may move to (besides "intercepted", always allowed)
ESCAPES: dict[str, frozenset[str]] = {
    "delivered": frozenset({"refused", "returning", "returned"}),
    "returned": frozenset(),
    "cancelled": frozenset(),
    "expired": REAL,
}


@dataclass(frozen=True)
class Progress:
    status: str
    raw_status: str | None
    at: datetime | None                # event time of the status (store as last_event_at)
    changed: bool                      # the status differs from the one passed in
    applied: tuple[TrackingEventValues, ...] = ()
    held: tuple[tuple[TrackingEventValues, str], ...] = ()

    @property
    def flags(self) -> tuple[str, ...]:
        """``held_<reason>:<status>`` for events kept out of the status, once each."""
        out: list[str] = []
        for event, reason in self.held:
            if reason in ("older", "same", "unknown_status"):
                continue                  # ordinary history / already flagged by the mapper
            flag = f"held_{reason}:{event.status}"
            if flag not in out:
                out.append(flag)
        return tuple(out)


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a naive value is taken as UTC (how the hub's database returns them)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else \
        value.astimezone(timezone.utc)


class StatusMachine:
    def __init__(self, escapes: dict[str, frozenset[str]] | None = None):
        self.escapes = ESCAPES if escapes is None else escapes

    def allowed(self, current: str, new: str) -> tuple[bool, str]:
        """Whether ``current → new`` is a legal move, and the rule that decided it."""
        if new == UNKNOWN or new not in RANK:
            return False, "unknown_status"
        if new == current:
            return True, "same"
        if new == "pending":
            return False, "regress_to_pending"
        if new == "intercepted":
            return True, "interception"
        if current in FINAL:
            return (new in self.escapes.get(current, frozenset())), "final"
        return True, "ok"

    def progress(self, current_status: str | None, events: Iterable[TrackingEventValues],
                 since: datetime | None = None, current_raw: str | None = None) -> Progress:
        start = current_status if current_status in RANK else "pending"
        status, raw, at = start, current_raw, utc(since)
        applied: list[TrackingEventValues] = []
        held: list[tuple[TrackingEventValues, str]] = []
        ordered = sorted(events, key=lambda e: (utc(e.occurred_at), RANK.get(e.status, -1)))
        for ev in ordered:
            when = utc(ev.occurred_at)
            if ev.status == UNKNOWN or ev.status not in RANK:
                held.append((ev, "unknown_status"))
                continue
            if at is not None and (when < at or (when == at and RANK[ev.status] < RANK[status])):
                held.append((ev, "older"))
                continue
            ok, reason = self.allowed(status, ev.status)
            if not ok:
                held.append((ev, reason))
                continue
            status, raw, at = ev.status, ev.raw_status, when
            applied.append(ev)
        return Progress(status, raw, at, status != start, tuple(applied), tuple(held))


_default = StatusMachine()


def progress(current_status: str | None, events: Iterable[TrackingEventValues],
             since: datetime | None = None, current_raw: str | None = None) -> Progress:
    """``StatusMachine().progress`` with the documented transitions."""
    return _default.progress(current_status, events, since, current_raw)
