"""The hub-side payloads of Kuaidi100 pushes, validated at the edge, and the builders the
hub calls to enqueue them (outbox topic → ``Kuaidi100.push``).

    subscription_payload("sf", "SF1234567890", shipment_ref="S-42", phone="138****5678")
    interception_payload("zto", "ZT123", "return_to_sender", reason="buyer cancelled")

``subscribe``: ``carrier`` (normalised code; empty with ``auto_detect`` to let Kuaidi100
detect it), ``tracking_number``, ``shipment_ref`` (the hub's own reference, echoed on
every push in the callback URL's query string), ``phone`` (full, masked or last 4 — only
the last 4 digits are ever sent, and only for carriers that need them: SF, ZTO, 丰网 —
``kuaidi100_phone`` in mappings/tracking/carriers.json),
``from`` / ``to`` (province-city-district text, optional).

``intercept``: ``carrier``, ``tracking_number``, ``intercept_type`` (``return_to_sender``
→ RETURN_SEND_ADDR, ``return_to_station`` → RETURN_SEND_STATION, ``modify_address`` →
MODIFY_ADDR with ``address {name, mobile, print_addr}``), ``reason``.

``return_label``: the hub's standard shape (``connectors.capabilities.standard_return_label``)
whose ``carrier``, when given, must have a Kuaidi100 code; ``pickup_window`` turns the
account's ``pickup_day`` / ``pickup_hours`` into the times Kuaidi100 is asked for.
"""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

from marshmallow import (
    EXCLUDE, Schema, ValidationError, fields, validate, validates, validates_schema,
)

from connectors.capabilities import ReturnLabelRequest, standard_return_label
from mappings.tracking.carriers import provider_code, requires_phone

CHINA = timezone(timedelta(hours=8))
PICKUP_DAYS = {"今天": 0, "明天": 1, "后天": 2}
HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")

INTERCEPT_TYPES = {"return_to_sender": "RETURN_SEND_ADDR",
                   "return_to_station": "RETURN_SEND_STATION",
                   "modify_address": "MODIFY_ADDR"}
_LAST4 = re.compile(r"(\d{4})$")


def last4(phone: str | None) -> str | None:
    """The last 4 digits of a full or masked phone (``138****5678`` → ``5678``), or None
    when it does not end in 4 digits."""
    if not phone:
        return None
    match = _LAST4.search(re.sub(r"[\s-]", "", str(phone)))
    return match.group(1) if match else None


class SubscribePayload(Schema):
    class Meta:
        unknown = EXCLUDE

    carrier = fields.String(load_default=None, allow_none=True)
    tracking_number = fields.String(required=True, validate=validate.Length(min=1, max=32))
    shipment_ref = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(max=128))
    phone = fields.String(load_default=None, allow_none=True)
    from_ = fields.String(data_key="from", load_default=None, allow_none=True)
    to = fields.String(load_default=None, allow_none=True)
    auto_detect = fields.Boolean(load_default=False)

    @validates_schema
    def _rules(self, data, **kwargs):
        if not data.get("carrier") and not data.get("auto_detect"):
            raise ValidationError("carrier is required unless auto_detect is true", "carrier")
        if requires_phone(data.get("carrier")) and last4(data.get("phone")) is None:
            raise ValidationError(f"{data['carrier']} needs the recipient's phone (full, "
                                  "masked or last 4 digits) to be tracked", "phone")


class Address(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1))
    mobile = fields.String(required=True, validate=validate.Length(min=4))
    print_addr = fields.String(required=True, validate=validate.Length(min=4))


class InterceptPayload(Schema):
    class Meta:
        unknown = EXCLUDE

    carrier = fields.String(required=True, validate=validate.Length(min=1))
    tracking_number = fields.String(required=True, validate=validate.Length(min=1, max=32))
    intercept_type = fields.String(required=True, validate=validate.OneOf(INTERCEPT_TYPES))
    reason = fields.String(load_default="", validate=validate.Length(max=200))
    address = fields.Nested(Address, load_default=None, allow_none=True)

    @validates_schema
    def _rules(self, data, **kwargs):
        if data["intercept_type"] == "modify_address" and not data.get("address"):
            raise ValidationError("modify_address needs address {name, mobile, print_addr}",
                                  "address")


def known_carrier(carrier: str | None) -> None:
    """A carrier Kuaidi100 has no code for is a ``ValidationError``."""
    if carrier and provider_code("kuaidi100", carrier) is None:
        raise ValidationError(f"carrier {carrier!r} has no Kuaidi100 code "
                              "(mappings/tracking/carriers.json)")


class LabelReceiver(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    phone = fields.String(required=True, validate=validate.Length(min=4, max=32))
    address = fields.String(required=True, validate=validate.Length(min=4, max=500))


class LabelSender(Schema):
    class Meta:
        unknown = EXCLUDE

    platform = fields.String(required=True, validate=validate.Length(min=1, max=64))
    platform_order_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name_cipher = fields.String(required=True, validate=validate.Length(min=1))
    phone_cipher = fields.String(required=True, validate=validate.Length(min=1))
    address_cipher = fields.String(required=True, validate=validate.Length(min=1))


class ReturnLabelPayload(Schema):
    class Meta:
        unknown = EXCLUDE

    reference = fields.String(required=True, validate=validate.Length(min=1, max=64))
    carrier = fields.String(load_default=None, allow_none=True)
    receiver = fields.Nested(LabelReceiver, required=True)
    sender = fields.Nested(LabelSender, required=True)
    goods = fields.String(required=True, validate=validate.Length(min=1, max=200))
    count = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1))

    @validates("carrier")
    def _carrier(self, value, **kwargs):
        known_carrier(value)


def return_label_payload(request: ReturnLabelRequest) -> dict:
    """A validated ``return_label`` outbox payload (raises ``ValidationError``)."""
    payload = standard_return_label(request)
    ReturnLabelPayload().load(payload)
    return payload


def pickup_hours(text: str) -> tuple[str, str]:
    """``"09:00-18:00"`` → ``("09:00", "18:00")``; ``ValueError`` unless HH:MM-HH:MM, start
    before end."""
    if not HOURS.match(text or ""):
        raise ValueError("pickup hours must be HH:MM-HH:MM")
    start, end = text.split("-")
    if start >= end:
        raise ValueError("the pickup window must start before it ends")
    return start, end


def pickup_window(day: str, hours: str, now: datetime) -> tuple[datetime, datetime]:
    """The pickup window asked for (``day`` 今天/明天/后天 in China time), in UTC."""
    date = now.astimezone(CHINA).date() + timedelta(days=PICKUP_DAYS[day])
    start, end = (datetime.combine(date, time.fromisoformat(x), CHINA).astimezone(timezone.utc)
                  for x in pickup_hours(hours))
    return start, end


def subscription_payload(carrier: str | None, tracking_number: str, *,
                         shipment_ref: str | None = None, phone: str | None = None,
                         from_: str | None = None, to: str | None = None,
                         auto_detect: bool = False) -> dict:
    """A validated ``subscribe`` outbox payload (raises ``ValidationError``)."""
    payload = {"carrier": carrier, "tracking_number": tracking_number,
               "shipment_ref": shipment_ref, "phone": phone, "from": from_, "to": to,
               "auto_detect": auto_detect}
    SubscribePayload().load(payload)
    return {k: v for k, v in payload.items() if v not in (None, False)}


def interception_payload(carrier: str, tracking_number: str, intercept_type: str, *,
                         reason: str = "", address: dict | None = None) -> dict:
    """A validated ``intercept`` outbox payload (raises ``ValidationError``)."""
    payload = {"carrier": carrier, "tracking_number": tracking_number,
               "intercept_type": intercept_type, "reason": reason, "address": address}
    InterceptPayload().load(payload)
    return {k: v for k, v in payload.items() if v is not None}
