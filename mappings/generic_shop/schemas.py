"""Edge validation of generic shop records (hub JSON v1, see
``connectors/generic_shop/README.md``): marshmallow schemas that load an outside payload
into plain, typed dicts before anything is mapped.

Unknown fields are dropped (``unknown=EXCLUDE``; the raw payload stays in the inbox),
amounts must be integers in minor units, and timestamps must be ISO 8601 *with* an offset
(a naive time is ambiguous and rejected). Statuses are loaded as free text here: whether
one is known is the mapper's business, and an unknown one is kept raw, never an error.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

Minor = dict(strict=True)  # integer minor units: 19.9 or "1990" are errors, not guesses


class Ident(fields.Field):
    """An outside id: a non-empty string, or an integer taken as its decimal text."""

    default_error_messages = {"invalid": "Not a valid id (a non-empty string or an integer)."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.make_error("invalid")
        text = str(value).strip()
        if not text or len(text) > 64:
            raise self.make_error("invalid")
        return text


def Time(**kw):  # noqa: N802 (reads as a field type)
    return fields.AwareDateTime(format="iso", **kw)


def OptionalTime():  # noqa: N802
    return Time(load_default=None, allow_none=True)


def Text(max_len: int, min_len: int | None = None, **kw):  # noqa: N802
    return fields.String(validate=validate.Length(min=min_len, max=max_len), **kw)


def OptionalText(max_len: int):  # noqa: N802
    return Text(max_len, load_default=None, allow_none=True)


Currency = dict(validate=validate.Regexp(r"^[A-Z]{3}$"), load_default=None, allow_none=True)


class Edge(Schema):
    class Meta:
        unknown = EXCLUDE


class BuyerSchema(Edge):
    name_cipher = OptionalText(4000)
    phone_cipher = OptionalText(4000)
    address_cipher = OptionalText(4000)
    name_masked = OptionalText(64)
    phone_masked = OptionalText(32)
    address_masked = OptionalText(255)
    province_code = OptionalText(16)
    city_code = OptionalText(16)
    district_code = OptionalText(16)


class OrderLineSchema(Edge):
    id = Ident(load_default=None, allow_none=True)
    sku = Text(128, 1, required=True)
    title = Text(500, load_default="")
    quantity = fields.Integer(required=True, validate=validate.Range(min=1), **Minor)
    unit_price_minor = fields.Integer(required=True, validate=validate.Range(min=0), **Minor)
    total_minor = fields.Integer(load_default=None, allow_none=True,
                                 validate=validate.Range(min=0), **Minor)
    is_gift = fields.Boolean(load_default=False)


class OrderSchema(Edge):
    id = Ident(required=True)
    status = Text(64, 1, required=True)
    updated_at = Time(required=True)
    currency = fields.String(**Currency)
    total_minor = fields.Integer(required=True, validate=validate.Range(min=0), **Minor)
    paid_minor = fields.Integer(load_default=0, validate=validate.Range(min=0), **Minor)
    shipping_fee_minor = fields.Integer(load_default=0, validate=validate.Range(min=0), **Minor)
    placed_at = OptionalTime()
    paid_at = OptionalTime()
    ship_by = OptionalTime()
    do_not_ship_reasons = fields.List(Text(255), load_default=None, allow_none=True)
    buyer = fields.Nested(BuyerSchema, load_default=None, allow_none=True)
    note = OptionalText(500)
    lines = fields.List(fields.Nested(OrderLineSchema), load_default=None, allow_none=True)


class ReturnLineSchema(Edge):
    sku = Text(128, 1, required=True)
    quantity = fields.Integer(required=True, validate=validate.Range(min=1), **Minor)
    order_line_id = Ident(load_default=None, allow_none=True)
    reason_code = OptionalText(128)


class ReturnTrackingSchema(Edge):
    """The buyer's return parcel: the hub's carrier code and the waybill number."""

    carrier = Text(64, 1, required=True)
    tracking_number = Text(64, 1, required=True)


class ReturnSchema(Edge):
    id = Ident(required=True)
    order_id = Ident(load_default=None, allow_none=True)
    kind = Text(64, 1, required=True)
    status = Text(64, 1, required=True)
    updated_at = Time(required=True)
    requested_at = OptionalTime()
    respond_by = OptionalTime()
    buyer_ship_by = OptionalTime()
    refund_minor = fields.Integer(load_default=0, validate=validate.Range(min=0), **Minor)
    currency = fields.String(**Currency)
    reason_code = Text(128, load_default=None, allow_none=True)
    reason_text = OptionalText(1000)
    lines = fields.List(fields.Nested(ReturnLineSchema), load_default=None, allow_none=True)
    tracking = fields.Nested(ReturnTrackingSchema, load_default=None, allow_none=True)
    buyer_photos = fields.Integer(load_default=0, validate=validate.Range(0, 100), **Minor)
    buyer_id = Text(64, load_default=None, allow_none=True)


class TrackingEventSchema(Edge):
    occurred_at = Time(required=True)
    status = Text(64, 1, required=True)
    raw_status = OptionalText(64)
    description = Text(1000, load_default="")
    location = OptionalText(255)


class TrackingSchema(Edge):
    carrier = Text(64, 1, required=True)
    tracking_number = Text(64, 1, required=True)
    events = fields.List(fields.Nested(TrackingEventSchema), required=True)
