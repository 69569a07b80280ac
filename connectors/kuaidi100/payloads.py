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
"""
from __future__ import annotations

import re

from marshmallow import (
    EXCLUDE, Schema, ValidationError, fields, validate, validates_schema,
)

from mappings.tracking.carriers import requires_phone

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
