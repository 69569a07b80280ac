"""Courier operations on a shipment: ask the courier to intercept it.

* ``POST /shipments/<id>/intercept`` — body ``{"kind": "return_to_sender" |
  "modify_address", "reason", "address"?: {"name", "mobile", "print_addr"}}`` (the
  address only, and then required, for ``modify_address``). Queues an ``intercept`` push
  on the merchant's courier account and answers 202 with the shipment
  (``interception_status`` ``requested``) and the outbox message id. 409 when an
  interception is already requested or succeeded, the parcel is delivered, returned or
  cancelled, or no courier account can intercept. The courier's answer comes later by
  callback and is recorded on the shipment (``succeeded`` | ``failed``, audited; a
  failure raises the alert ``interception_failed``).

For ``merchant_admin`` and ``operator`` tokens, scoped to the token's merchant. The rules
are ``hub.domain.tracking.shipments.request_interception``.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hub.domain.tracking import shipments as tracking
from hub.models import Shipment
from hub.models.logistics import INTERCEPTION_STATUSES, SUBSCRIPTION_STATUSES
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp, schemas as s
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id
from hub.web.kit.scope import get_visible

STAFF = {"merchant_admin", "operator"}


class AddressIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    mobile = fields.String(required=True, validate=validate.Length(min=4, max=32))
    print_addr = fields.String(required=True, validate=validate.Length(min=4, max=255))


class InterceptIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(tracking.INTERCEPT_KINDS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))
    address = fields.Nested(AddressIn, load_default=None)

    @validates_schema
    def _address(self, data, **kwargs):
        if data.get("kind") == "modify_address" and not data.get("address"):
            raise ValidationError("modify_address needs an address", "address")
        if data.get("kind") == "return_to_sender" and data.get("address"):
            raise ValidationError("only modify_address takes an address", "address")


class InterceptionOut(s.ShipmentOut):
    interception_status = fields.String(metadata={"enum": list(INTERCEPTION_STATUSES)})
    subscription_status = fields.String(metadata={"enum": list(SUBSCRIPTION_STATUSES)})
    tracking_account_id = Id(allow_none=True)
    outbox_message_id = Id(metadata={"description": "the queued intercept push"})


class _Answer:
    def __init__(self, shipment: Shipment, message_id: int):
        self._shipment, self.outbox_message_id = shipment, message_id

    def __getattr__(self, name):
        return getattr(self._shipment, name)


@bp.post("/shipments/<int:shipment_id>/intercept")
@endpoint(roles=STAFF, body=InterceptIn, response=InterceptionOut, status=202,
          summary="Ask the courier to intercept a parcel (return to sender or new address)",
          tags=["shipments"])
def intercept_shipment(shipment_id, body):
    who, session = principal(), request_session()
    shipment = get_visible(session, Shipment, shipment_id, who)
    session.refresh(shipment, with_for_update=True)
    message = tracking.request_interception(session, shipment, body["kind"], body["reason"],
                                            who.actor, hub().settings.var_dir,
                                            address=body.get("address"))
    session.commit()
    return _Answer(shipment, message.id)
