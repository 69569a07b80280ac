"""marshmallow 4 schemas for the REST API: what goes out, and what may come in.

Output schemas never include secrets (account config) or buyer ciphertext; buyer
contact leaves the hub masked only.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.core.db import MAX_ID, MAX_INT
from hub.domain.policy.document import DISPOSITIONS, GRADES
from hub.models.logistics import DIRECTIONS, SHIPMENT_STATUSES
from hub.models.orders import FULFILMENT_PURPOSES, FULFILMENT_STATUSES, ORDER_STATUSES
from hub.models.returns import RETURN_KINDS, RETURN_STATUSES
from hub.models.tenancy import ROLES
from hub.web.kit.fields import ContractTerms, Id, Integer, Money, RefId, Time, UtcTime
from hub.web.kit.pagination import PageArgs


class Out(Schema):
    class Meta:
        ordered = True


class OrderLineOut(Out):
    id = Id()
    platform_line_id = fields.String(allow_none=True)
    sku = fields.String()
    platform_sku_id = fields.String(allow_none=True)
    title = fields.String()
    quantity = Integer()
    unit_price_minor = Money()
    total_minor = Money()
    currency = fields.String()
    is_gift = fields.Boolean()


class FulfilmentOut(Out):
    id = Id()
    order_id = Id()
    supplier_id = Id()
    purpose = fields.String(metadata={"enum": list(FULFILMENT_PURPOSES)})
    return_case_id = Id(allow_none=True)
    status = fields.String(metadata={"enum": list(FULFILMENT_STATUSES)})
    supplier_reference = fields.String(allow_none=True)
    requested_at = Time(allow_none=True)
    answer_due_at = Time(allow_none=True)
    accepted_at = Time(allow_none=True)
    rejected_at = Time(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    shipped_at = Time(allow_none=True)
    cancel_requested_at = Time(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    cancel_answered_at = Time(allow_none=True)
    cancel_reject_reason = fields.String(allow_none=True)


class SameObject(fields.Nested):
    """A nested schema over the object itself (``buyer`` is a view of an order's columns);
    unlike a ``Function`` field it is documented in ``/openapi.json``."""

    def get_value(self, obj, attr, accessor=None, default=None):
        return obj


class BuyerOut(Out):
    name = fields.String(attribute="buyer_name_masked", allow_none=True)
    phone = fields.String(attribute="buyer_phone_masked", allow_none=True)
    address = fields.String(attribute="buyer_address_masked", allow_none=True)
    province_code = fields.String(allow_none=True)
    city_code = fields.String(allow_none=True)
    district_code = fields.String(allow_none=True)


class OrderOut(Out):
    id = Id()
    shop_account_id = Id()
    platform_order_id = fields.String()
    status = fields.String(metadata={"enum": list(ORDER_STATUSES)})
    raw_status = fields.String(allow_none=True)
    currency = fields.String()
    total_minor = Money()
    paid_minor = Money()
    shipping_fee_minor = Money()
    placed_at = Time(allow_none=True)
    paid_at = Time(allow_none=True)
    ship_by = Time(allow_none=True)
    do_not_ship = fields.Boolean()
    do_not_ship_reasons = fields.List(fields.String())
    buyer = SameObject(BuyerOut, metadata={"description": "masked buyer contact"})
    flags = fields.List(fields.String())
    lines = fields.List(fields.Nested(OrderLineOut))
    fulfilments = fields.List(fields.Nested(FulfilmentOut))
    created_at = Time()
    updated_at = Time()


class TrackingEventOut(Out):
    id = Id()
    occurred_at = Time()
    status = fields.String(metadata={"enum": list(SHIPMENT_STATUSES)})
    raw_status = fields.String(allow_none=True)
    description = fields.String()
    location = fields.String(allow_none=True)
    source = fields.String()


class ShipmentOut(Out):
    id = Id()
    direction = fields.String(metadata={"enum": list(DIRECTIONS)})
    order_id = Id(allow_none=True)
    fulfilment_id = Id(allow_none=True)
    return_case_id = Id(allow_none=True)
    carrier = fields.String()
    carrier_raw = fields.String(allow_none=True)
    tracking_number = fields.String()
    status = fields.String(metadata={"enum": list(SHIPMENT_STATUSES)})
    raw_status = fields.String(allow_none=True)
    last_event_at = Time(allow_none=True)
    shipped_at = Time(allow_none=True)
    delivered_at = Time(allow_none=True)
    interception_status = fields.String()
    subscription_status = fields.String()
    monitoring = fields.String(allow_none=True)
    flags = fields.List(fields.String())
    created_at = Time()
    updated_at = Time()


class ShipmentDetailOut(ShipmentOut):
    events = fields.List(fields.Nested(TrackingEventOut))


class ReturnLineOut(Out):
    id = Id()
    order_line_id = Id(allow_none=True)
    sku = fields.String()
    quantity = Integer()
    qty_received = Integer()
    qty_damaged = Integer()
    reason_code = fields.String(allow_none=True)


class ReturnCaseOut(Out):
    id = Id()
    shop_account_id = Id()
    order_id = Id(allow_none=True)
    platform_return_id = fields.String()
    kind = fields.String(metadata={"enum": list(RETURN_KINDS)})
    reason_code = fields.String()
    reason_text = fields.String(allow_none=True)
    reason_source = fields.String(allow_none=True, metadata={
        "enum": ["platform", "keyword", "model", "correction", "merchant"]})
    reason_confidence = Integer(allow_none=True, metadata={"description": "percent"})
    buyer_photos = Integer()
    freight_payer = fields.String(allow_none=True, metadata={
        "description": "who pays the return freight, by the policy in force"})
    status = fields.String(metadata={"enum": list(RETURN_STATUSES)})
    raw_status = fields.String(allow_none=True)
    refund_minor = Money()
    currency = fields.String()
    requested_at = Time(allow_none=True)
    respond_by = Time(allow_none=True)
    buyer_ship_by = Time(allow_none=True)
    receive_by = Time(allow_none=True)
    lines = fields.List(fields.Nested(ReturnLineOut))
    created_at = Time()
    updated_at = Time()


class SupplierOut(Out):
    id = Id()
    code = fields.String()
    name = fields.String()
    channel_account_id = Id(allow_none=True)
    sla_hours = Integer()
    contract_terms = fields.Dict()
    contact_email = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = Time()


class SupplierIn(Schema):
    code = fields.String(required=True, validate=validate.Length(1, 64))
    name = fields.String(required=True, validate=validate.Length(1, 255))
    channel_account_id = RefId(load_default=None, allow_none=True)
    sla_hours = Integer(load_default=24, validate=validate.Range(1, 24 * 30))
    contract_terms = ContractTerms(load_default=dict)
    contact_email = fields.Email(load_default=None, allow_none=True)
    active = fields.Boolean(load_default=True)


class SupplierPatch(Schema):
    name = fields.String(validate=validate.Length(1, 255))
    channel_account_id = RefId(allow_none=True)
    sla_hours = Integer(validate=validate.Range(1, 24 * 30))
    contract_terms = ContractTerms()
    contact_email = fields.Email(allow_none=True)
    active = fields.Boolean()


class SkuMappingOut(Out):
    id = Id()
    sku = fields.String()
    supplier_id = Id()
    supplier_sku = fields.String(allow_none=True)
    unit_cost_minor = Money()
    currency = fields.String()
    priority = Integer()
    active = fields.Boolean()


class SkuMappingIn(Schema):
    sku = fields.String(required=True, validate=validate.Length(1, 128))
    supplier_id = RefId(required=True)
    supplier_sku = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(max=128))
    unit_cost_minor = Integer(load_default=0, validate=validate.Range(0, MAX_ID))
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    priority = Integer(load_default=0, validate=validate.Range(-MAX_INT - 1, MAX_INT))
    active = fields.Boolean(load_default=True)


class AccountOut(Out):
    id = Id()
    connector = fields.String()
    kind = fields.String()
    name = fields.String()
    external_id = fields.String(allow_none=True)
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    webhook_path = fields.Function(lambda a: f"/webhooks/{a.connector}/{a.id}",
                                   metadata={"type": "string"})
    created_at = Time()


class AccountIn(Schema):
    connector = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 255))
    config = fields.Dict(load_default=dict)


class TokenOut(Out):
    id = Id()
    role = fields.String()
    supplier_id = Id(allow_none=True)
    name = fields.String()
    prefix = fields.String()
    created_at = Time()
    last_used_at = Time(allow_none=True)
    revoked_at = Time(allow_none=True)


class TokenCreatedOut(TokenOut):
    token = fields.String(metadata={"description": "shown once; store it now"})


class TokenIn(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    supplier_id = RefId(load_default=None, allow_none=True)
    name = fields.String(load_default="", validate=validate.Length(max=255))


class AuditOut(Out):
    id = Id()
    at = Time()
    actor = fields.String()
    action = fields.String()
    entity = fields.String()
    entity_id = Id(allow_none=True)
    changes = fields.Dict()


class MeOut(Out):
    merchant_id = Id()
    merchant_name = fields.String()
    role = fields.String()
    supplier_id = Id(allow_none=True)


class TimeRangeArgs(PageArgs):
    since = UtcTime(load_default=None,
                    metadata={"description": "on or after (ISO 8601 with offset)"})
    until = UtcTime(load_default=None, metadata={"description": "before (ISO 8601 with offset)"})
    updated_since = UtcTime(load_default=None)


class OrderListArgs(TimeRangeArgs):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    sku = fields.String()
    supplier_id = RefId()
    tracking_number = fields.String()
    shop_account_id = RefId()
    platform_order_id = fields.String()
    do_not_ship = fields.Boolean()


class ReturnListArgs(TimeRangeArgs):
    status = fields.String(validate=validate.OneOf(RETURN_STATUSES))
    kind = fields.String(validate=validate.OneOf(RETURN_KINDS))
    sku = fields.String()
    supplier_id = RefId()
    tracking_number = fields.String()
    order_id = RefId()


class ShipmentListArgs(TimeRangeArgs):
    status = fields.String(validate=validate.OneOf(SHIPMENT_STATUSES))
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
    carrier = fields.String()
    sku = fields.String()
    supplier_id = RefId()
    tracking_number = fields.String()
    order_id = RefId()
    return_case_id = RefId()


class SupplierListArgs(PageArgs):
    active = fields.Boolean()


class SkuMappingListArgs(PageArgs):
    sku = fields.String()
    supplier_id = RefId()


class AccountListArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf(("platform", "supplier", "courier")))
    connector = fields.String()


class AuditListArgs(PageArgs):
    entity = fields.String()
    entity_id = RefId()


class AlertOut(Out):
    id = Id()
    kind = fields.String()
    severity = fields.String()
    entity = fields.String()
    entity_id = Id(allow_none=True)
    supplier_id = Id(allow_none=True)
    message = fields.String()
    details = fields.Dict()
    created_at = Time()
    resolved_at = Time(allow_none=True)


class AlertListArgs(PageArgs):
    open = fields.Boolean(load_default=True, metadata={"description": "only unresolved"})
    kind = fields.String()


class InspectionOut(Out):
    """What the receiver recorded and what it gives (the merchant's view adds the
    disposition's why and the resale price: ``hub.web.api.inspections``)."""

    id = Id()
    return_case_id = Id()
    inspected_by = fields.String()
    received_at = Time()
    condition = fields.String()
    grade = fields.String(allow_none=True, metadata={"enum": list(GRADES)})
    scores = fields.Dict(keys=fields.String(), values=fields.Float(), allow_none=True,
                         metadata={"description": "dimension → 0..5"})
    disposition = fields.String(allow_none=True, metadata={"enum": list(DISPOSITIONS)})
    notes = fields.String(allow_none=True)
    photos = fields.List(fields.String(), metadata={"description": "SHA-256 of each photo"})
    barcode = fields.String(allow_none=True)
    serial = fields.String(allow_none=True)
    serial_matched = fields.Boolean(allow_none=True, metadata={
        "description": "whether the barcode is one of what was shipped; null: not scanned"})
    checklist = fields.Dict()
    repair_cost_minor = Money(allow_none=True)
