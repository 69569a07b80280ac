"""What the supplier API takes in and gives out (marshmallow 4).

Buyer contact is masked in every fulfilment view; a notice's ``payload`` is exactly what
its webhook carried (an ``order_dispatch`` includes the platform's buyer ciphertext, which
only the platform can decrypt for an authorised supplier).
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hub.models.orders import FULFILMENT_STATUSES
from hub.models.pipeline import OUTBOX_STATUSES
from hub.web.kit.fields import Id, Time
from hub.web.kit.pagination import PageArgs
from hub.web.kit.schemas import BuyerOut, FulfilmentOut, Out, SameObject


class NoticeListArgs(PageArgs):
    topic = fields.String(validate=validate.Length(1, 64),
                          metadata={"description": "order_dispatch, stop_ship, return_notice, "
                                                   "tracking_notice, claim_notice"})
    acknowledged = fields.Boolean(metadata={"description": "true: acknowledged only; false: "
                                                           "not yet acknowledged"})
    webhook_id = fields.String(validate=validate.Length(1, 128),
                               metadata={"description": "the webhook-id a delivery carried"})


class NoticeOut(Out):
    id = Id()
    webhook_id = fields.String(attribute="idempotency_key",
                               metadata={"description": "the webhook-id (and body id) of its "
                                                        "deliveries, the same on every retry"})
    topic = fields.String()
    entity = fields.String()
    entity_id = Id()
    status = fields.String(metadata={"enum": list(OUTBOX_STATUSES),
                                     "description": "the webhook's delivery state"})
    created_at = Time()
    sent_at = Time(allow_none=True)
    acknowledged_at = Time(allow_none=True)
    payload = fields.Dict(metadata={"description": "the notice, as its webhook's data"})


class FulfilmentListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(FULFILMENT_STATUSES))


class SupplierOrderOut(Out):
    platform_order_id = fields.String()
    status = fields.String()
    placed_at = Time(allow_none=True)
    paid_at = Time(allow_none=True)
    ship_by = Time(allow_none=True)
    note = fields.String(attribute="buyer_note", allow_none=True)
    buyer = SameObject(BuyerOut, metadata={"description": "masked buyer contact"})


class LineOut(Out):
    sku = fields.String()
    supplier_sku = fields.String(allow_none=True)
    title = fields.String()
    quantity = fields.Integer()


class ParcelOut(Out):
    shipment_id = Id(attribute="id")
    carrier = fields.String()
    tracking_number = fields.String()
    status = fields.String()


class SupplierFulfilmentOut(FulfilmentOut):
    cancel_answer_due_at = Time(allow_none=True)
    expected_return = fields.Boolean()
    order = fields.Nested(SupplierOrderOut)
    lines = fields.List(fields.Nested(LineOut), attribute="view_lines")
    shipment = fields.Nested(ParcelOut, attribute="view_shipment", allow_none=True,
                             metadata={"description": "the outbound parcel, once shipped"})


class AcceptIn(Schema):
    supplier_reference = fields.String(load_default=None, allow_none=True,
                                       validate=validate.Length(1, 128),
                                       metadata={"description": "your own order number"})


class RejectIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class TrackingIn(Schema):
    carrier = fields.String(required=True, validate=validate.Length(1, 64),
                            metadata={"description": "sf, zto, yto, sto, yunda, jd, ems, "
                                                     "chinapost, jitu, ..."})
    tracking_number = fields.String(required=True, validate=validate.Length(1, 64))


class TrackingCorrectionIn(TrackingIn):
    reason = fields.String(required=True, validate=validate.Length(1, 500), metadata={
        "description": "why the number handed back was wrong"})


class StopShipIn(Schema):
    accepted = fields.Boolean(required=True, metadata={
        "description": "true: the parcel will not ship; false: it already shipped"})
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 500))
    carrier = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    tracking_number = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Length(1, 64))

    @validates_schema
    def _tracking(self, data, **kwargs):
        if bool(data.get("carrier")) != bool(data.get("tracking_number")):
            raise ValidationError("give both carrier and tracking_number, or neither",
                                  "tracking_number")
        if data.get("accepted") and data.get("tracking_number"):
            raise ValidationError("an accepted stop-ship has no parcel; send tracking only "
                                  "when rejecting because it already shipped",
                                  "tracking_number")
