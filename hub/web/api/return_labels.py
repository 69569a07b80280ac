"""A prepaid return label asked for by hand (``hub.domain.returns.labels``).

* ``POST /returns/<id>/return-label`` — body ``{"carrier"?}`` (the hub's carrier code;
  default: the courier account's own choice). Books a prepaid return waybill / courier
  pickup (上门取件) for an approved return (``approved`` or ``awaiting_return``) on the
  merchant's courier account that declares ``return_label``, whoever pays the freight.
  Answers 202 with the queued push; the waybill comes back with the courier's answer and
  becomes the case's tracked return shipment. 409 with the reason when the case is not
  approved, a label is live (queued, or issued), its goods already have a return waybill,
  or no label can be booked (no capable courier account, no return address...).

For ``merchant_admin`` and ``operator`` tokens, scoped to the token's merchant.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.domain.returns import labels
from hub.models import Account, ReturnCase
from hub.models.pipeline import OUTBOX_STATUSES
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id
from hub.web.kit.schemas import Out
from hub.web.kit.scope import get_visible
from mappings.tracking.carriers import carriers

STAFF = {"merchant_admin", "operator"}
TAGS = ["returns"]


class ReturnLabelIn(Schema):
    carrier = fields.String(load_default=None, allow_none=True,
                            validate=validate.OneOf(sorted(carriers())), metadata={
                                "description": "the hub's carrier code wanted (e.g. yto); "
                                               "default: the courier account's choice"})


class ReturnLabelOut(Out):
    return_case_id = Id()
    outbox_message_id = Id()
    outbox_status = fields.String(metadata={"enum": list(OUTBOX_STATUSES)})
    courier_account_id = Id()
    connector = fields.String()
    carrier = fields.String(allow_none=True)


@bp.post("/returns/<int:return_id>/return-label")
@endpoint(roles=STAFF, body=ReturnLabelIn, response=ReturnLabelOut, status=202,
          summary="Book a prepaid return waybill / courier pickup for an approved return",
          tags=TAGS)
def book_return_label(return_id, body):
    who, session = principal(), request_session()
    case = get_visible(session, ReturnCase, return_id, who)
    session.refresh(case, with_for_update=True)   # two requests are taken one by one
    message = labels.request_label(session, case, who.actor, body.get("carrier"),
                                   var_dir=hub().settings.var_dir)
    session.commit()
    return {"return_case_id": case.id, "outbox_message_id": message.id,
            "outbox_status": message.status, "courier_account_id": message.account_id,
            "connector": session.get(Account, message.account_id).connector,
            "carrier": body.get("carrier")}
