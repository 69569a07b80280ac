"""``GenericShopMapper``: pure functions from generic shop records (hub JSON v1) to the
common-model values in ``hub.values``. No I/O, no database, nothing of the hub but the
value types.

* The protocol speaks the hub's own vocabularies, so the status tables are identities
  over the known codes; a code outside them is kept raw beside ``"unknown"`` (returns,
  whose vocabulary has no ``unknown``: ``"requested"``) and flagged
  (``unknown_status:<code>``), never an error, so a shop adding a status does not stop
  the pipeline. A return ``kind`` is a closed list: an unknown one is bad data.
* A return's ``tracking {carrier, tracking_number}`` (the buyer's return parcel) becomes
  ``return_carrier`` (lower-cased; a code outside ``mappings/tracking/carriers.json`` is
  kept and flagged ``unknown_carrier:<code>``) and ``return_tracking_number``.
* Every timestamp is converted to UTC; amounts are integer minor units already.
* A record that does not validate raises ``MappingError`` with every problem in one
  clear line (the connector turns it into ``fail_data``).
"""
from __future__ import annotations

from datetime import datetime, timezone

from marshmallow import ValidationError

from hub.values import (
    BuyerContact, OrderLineValues, OrderValues, ReturnLineValues, ReturnValues,
    TrackingEventValues, TrackingValues,
)
from mappings.generic_shop.schemas import OrderSchema, ReturnSchema, TrackingSchema
from mappings.tracking.carriers import carriers as known_carriers

ORDER_STATUSES = ("pending_payment", "paid", "shipped", "delivered", "completed", "cancelled")
RETURN_STATUSES = ("requested", "approved", "rejected", "awaiting_return", "return_in_transit",
                   "received", "inspected", "refunded", "resolved", "closed")
RETURN_KINDS = ("refund_only", "return_refund", "exchange", "reship", "repair")
# the hub's normalised tracking vocabulary (DESIGN.md §5), "unknown" excluded
TRACKING_STATUSES = ("pending", "info_received", "picked_up", "in_transit", "in_customs",
                     "out_for_delivery", "available_for_pickup", "delivered",
                     "delivery_failed", "refused", "returning", "returned", "intercepted",
                     "exception", "expired", "cancelled")
UNKNOWN = "unknown"


class MappingError(ValueError):
    """The outside record is malformed; the message says what is wrong, field by field."""


def _flatten(messages, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            key = "" if key == "_schema" else str(key)  # the nested object itself
            out += _flatten(value, f"{prefix}.{key}".strip(".") if prefix else key)
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix or 'record'}: {' '.join(messages)}"]
    return [f"{prefix or 'record'}: {messages}"]


def _load(schema, entity: str, payload) -> dict:
    if not isinstance(payload, dict):
        raise MappingError(f"{entity} record must be a JSON object, got {type(payload).__name__}")
    try:
        return schema().load(payload)
    except ValidationError as e:
        ident = payload.get("id") or payload.get("tracking_number")
        label = f"{entity} {ident}" if isinstance(ident, (str, int)) else entity
        raise MappingError(f"{label} is invalid: " + "; ".join(_flatten(e.messages))) from None


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc)


def _status(code: str, known: tuple[str, ...], flag: str,
            fallback: str = UNKNOWN) -> tuple[str, tuple[str, ...]]:
    code = code.strip()
    if code in known:
        return code, ()
    return fallback, (f"{flag}:{code}",)


def map_order(payload, default_currency: str = "CNY") -> OrderValues:
    d = _load(OrderSchema, "order", payload)
    currency = d["currency"] or default_currency
    status, flags = _status(d["status"], ORDER_STATUSES, "unknown_status")
    lines = tuple(
        OrderLineValues(sku=ln["sku"], quantity=ln["quantity"],
                        unit_price_minor=ln["unit_price_minor"],
                        total_minor=(ln["total_minor"] if ln["total_minor"] is not None
                                     else ln["unit_price_minor"] * ln["quantity"]),
                        platform_line_id=ln["id"], title=ln["title"], is_gift=ln["is_gift"])
        for ln in d["lines"] or ())
    return OrderValues(
        platform_order_id=d["id"], status=status, raw_status=d["status"], currency=currency,
        total_minor=d["total_minor"], paid_minor=d["paid_minor"], lines=lines,
        remote_updated_at=utc(d["updated_at"]), shipping_fee_minor=d["shipping_fee_minor"],
        placed_at=utc(d["placed_at"]), paid_at=utc(d["paid_at"]), ship_by=utc(d["ship_by"]),
        do_not_ship_reasons=tuple(d["do_not_ship_reasons"] or ()),
        buyer=BuyerContact(**(d["buyer"] or {})), buyer_note=d["note"], flags=flags)


def map_return(payload, default_currency: str = "CNY") -> ReturnValues:
    d = _load(ReturnSchema, "return", payload)
    kind = d["kind"].strip()
    if kind not in RETURN_KINDS:
        raise MappingError(f"return {d['id']} is invalid: kind: {kind!r} is not one of "
                           f"{', '.join(RETURN_KINDS)}")
    # the return vocabulary has no "unknown": an unknown status reads as still "requested"
    # (as the Kuaishou mapper does), raw code kept and flagged
    status, flags = _status(d["status"], RETURN_STATUSES, "unknown_status", "requested")
    lines = tuple(ReturnLineValues(sku=ln["sku"], quantity=ln["quantity"],
                                   platform_line_id=ln["order_line_id"],
                                   reason_code=ln["reason_code"])
                  for ln in d["lines"] or ())
    carrier = number = None
    if d["tracking"]:
        raw = d["tracking"]["carrier"].strip()
        carrier, number = raw.lower(), d["tracking"]["tracking_number"].strip()
        if not (carrier and number):
            carrier = number = None
        elif carrier not in known_carriers():
            flags += (f"unknown_carrier:{raw}",)
    return ReturnValues(
        platform_return_id=d["id"], platform_order_id=d["order_id"], kind=kind, status=status,
        raw_status=d["status"], refund_minor=d["refund_minor"],
        currency=d["currency"] or default_currency, lines=lines,
        reason_code=d["reason_code"] or "other", reason_text=d["reason_text"],
        remote_updated_at=utc(d["updated_at"]), requested_at=utc(d["requested_at"]),
        respond_by=utc(d["respond_by"]), buyer_ship_by=utc(d["buyer_ship_by"]), flags=flags,
        return_carrier=carrier, return_tracking_number=number,
        buyer_photos=d["buyer_photos"], buyer_ref=d["buyer_id"])


def map_tracking(payload) -> TrackingValues:
    d = _load(TrackingSchema, "tracking", payload)
    carrier = d["carrier"].strip().lower()
    events, flags = [], []
    for ev in sorted(d["events"], key=lambda e: e["occurred_at"]):
        status, flag = _status(ev["status"], TRACKING_STATUSES, "unknown_tracking_status")
        flags += [f for f in flag if f not in flags]
        events.append(TrackingEventValues(
            occurred_at=utc(ev["occurred_at"]), status=status,
            raw_status=ev["raw_status"] or ev["status"], description=ev["description"],
            location=ev["location"]))
    return TrackingValues(carrier=carrier, tracking_number=d["tracking_number"].strip(),
                          events=tuple(events),
                          carrier_raw=d["carrier"] if d["carrier"] != carrier else None,
                          flags=tuple(flags))


MAPPERS = {"order": map_order, "return": map_return}


def map_record(entity: str, payload, default_currency: str = "CNY"):
    """The values for one record of ``entity`` (``order``, ``return`` or ``tracking``)."""
    if entity == "tracking":
        return map_tracking(payload)
    mapper = MAPPERS.get(entity)
    if mapper is None:
        raise MappingError(f"generic_shop has no mapping for {entity!r} records")
    return mapper(payload, default_currency)
