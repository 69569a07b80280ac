"""Inspections in the merchant's own warehouse, the merchant's disposition, and the
returns stock (``hub.domain.returns.inspection``, ``hub.domain.returns.stock``).

* ``POST /returns/<id>/inspection`` — the supplier receipt's body, multipart or JSON with
  Base64 photos (``hub.web.kit.receipts``), plus ``warehouse`` (the code of the
  merchant's warehouse the goods are in, default ``main``): the inspection, graded with a
  suggested disposition, and the goods in the returns stock of ``warehouse:<code>``.
  409 for a case that expects no goods; the same inspection again is the first one.
* ``GET /returns/<id>/inspections`` — the checklist the policy in force asks for the case's
  categories, and every inspection of the case, newest first.
* ``POST /inspections/<id>/disposition`` — ``{disposition, reason}``: the merchant's
  override of the case's latest inspection (409 on an earlier one); the case's units in
  the returns stock move with it.
* ``GET /returns-stock`` — the units held by location, SKU, grade and state (filters
  ``location``, ``sku``).
* ``POST /returns-stock/moves`` — ``{location, sku, grade, from_state, to_state, quantity,
  reason}``: units move to another state, or leave the returns stock (``to_state`` null:
  restocked as sellable, sold at a discount, scrapped, back to the supplier). 409 when the
  balance holds fewer units; nothing is written.
* ``GET /returns-stock/reconciliation`` — every (case, SKU) whose received units differ
  from what the stock booked (none: ``balanced``).

Bad input is a 422 naming each field, with nothing written. For ``merchant_admin`` and
``operator`` tokens (``finance`` reads the stock and its reconciliation), scoped to the
token's merchant.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.core.db import MAX_INT
from hub.domain.policy.document import DISPOSITIONS, GRADES
from hub.domain.returns import inspection as inspections, stock
from hub.models import Inspection, ReturnCase
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id, Integer, Money, Time
from hub.web.kit.receipts import MULTIPART_FIELDS, ReceiptIn, read_receipt, receipt_fields
from hub.web.kit.schemas import InspectionOut, Out
from hub.web.kit.scope import get_visible, visible

STAFF = {"merchant_admin", "operator"}
READERS = STAFF | {"finance"}  # finance reconciles the returns stock
TAGS = ["returns"]
WAREHOUSE = validate.Regexp(r"^[A-Za-z0-9_.-]{1,54}$",
                            error="letters, digits, '.', '_' or '-', at most 54")
LOCATION = validate.Regexp(stock.LOCATION.pattern,
                           error="supplier:<id> or warehouse:<code>")


class WarehouseInspectionIn(ReceiptIn):
    warehouse = fields.String(load_default="main", validate=WAREHOUSE, metadata={
        "description": "the merchant's warehouse holding the goods (location "
                       "warehouse:<code>)"})


INSPECTION_UPLOAD = {
    "multipart/form-data": {"type": "object", "required": ["condition"], "properties": {
        **MULTIPART_FIELDS, "warehouse": {"type": "string", "default": "main"}}},
    "application/json": WarehouseInspectionIn}


class InspectionDetailOut(InspectionOut):
    suggested_disposition = fields.String(allow_none=True,
                                          metadata={"enum": list(DISPOSITIONS)})
    disposition_reason = fields.String(allow_none=True,
                                       metadata={"description": "why it was overridden"})
    disposition_by = fields.String(allow_none=True)
    resale_price_minor = Money(allow_none=True)  # the catalogue value x the grade's discount


class CaseInspectionsOut(Out):
    return_case_id = Id()
    checklist = fields.List(fields.String(), metadata={
        "description": "what the policy in force asks to check for the case's categories"})
    inspections = fields.List(fields.Nested(InspectionDetailOut))


class DispositionIn(Schema):
    disposition = fields.String(required=True, validate=validate.OneOf(DISPOSITIONS))
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class StockArgs(Schema):
    location = fields.String(validate=LOCATION)
    sku = fields.String(validate=validate.Length(1, 128))


class BalanceOut(Out):
    location = fields.String()
    sku = fields.String()
    grade = fields.String(allow_none=True, metadata={"enum": list(GRADES)})
    state = fields.String(metadata={"enum": list(DISPOSITIONS)})
    quantity = Integer()


class StockOut(Out):
    balances = fields.List(fields.Nested(BalanceOut))


class MoveIn(Schema):
    location = fields.String(required=True, validate=LOCATION)
    sku = fields.String(required=True, validate=validate.Length(1, 128))
    grade = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GRADES))
    from_state = fields.String(required=True, validate=validate.OneOf(DISPOSITIONS))
    to_state = fields.String(required=True, allow_none=True,
                             validate=validate.OneOf(DISPOSITIONS), metadata={
                                 "description": "null: the units leave the returns stock"})
    quantity = Integer(required=True, validate=validate.Range(1, MAX_INT))
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class MovementOut(Out):
    id = Id()
    location = fields.String()
    sku = fields.String()
    grade = fields.String(allow_none=True)
    from_state = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    quantity = Integer()
    return_case_id = Id(allow_none=True)
    inspection_id = Id(allow_none=True)
    actor = fields.String()
    reason = fields.String(allow_none=True)
    at = Time()


class DifferenceOut(Out):
    return_case_id = Id()
    sku = fields.String()
    received = Integer()
    booked = Integer()
    difference = Integer(metadata={"description": "received - booked"})


class ReconciliationOut(Out):
    balanced = fields.Boolean()
    differences = fields.List(fields.Nested(DifferenceOut))


@bp.post("/returns/<int:return_id>/inspection")
@endpoint(roles=STAFF, response=InspectionDetailOut, upload=INSPECTION_UPLOAD,
          summary="Inspect a returned parcel in the merchant's warehouse: condition, grade "
                  "or scores, barcode, photos (multipart or JSON with Base64 photos)",
          tags=TAGS)
def inspect_return(return_id):
    session, who = request_session(), principal()
    get_visible(session, ReturnCase, return_id, who)  # 404 before reading the body
    session.rollback()  # no transaction (no SQLite write lock) while the upload arrives
    data, photos = read_receipt(WarehouseInspectionIn)
    case = get_visible(session, ReturnCase, return_id, who)
    session.refresh(case, with_for_update=True)
    inspection = inspections.confirm_return_receipt(
        session, case, who.actor, data["condition"], photos=photos,
        var_dir=hub().settings.var_dir, location=stock.warehouse(data["warehouse"]),
        **receipt_fields(data))
    session.commit()
    return inspection


@bp.get("/returns/<int:return_id>/inspections")
@endpoint(roles=STAFF, response=CaseInspectionsOut,
          summary="A return's inspections, newest first, and the checklist its policy asks",
          tags=TAGS)
def list_inspections(return_id):
    session, who = request_session(), principal()
    case = get_visible(session, ReturnCase, return_id, who)
    found = session.scalars(visible(Inspection, who).where(Inspection.return_case_id == case.id)
                            .order_by(Inspection.id.desc()))
    return {"return_case_id": case.id, "checklist": inspections.checklist_for(session, case),
            "inspections": list(found)}


@bp.post("/inspections/<int:inspection_id>/disposition")
@endpoint(roles=STAFF, body=DispositionIn, response=InspectionDetailOut,
          summary="Override an inspection's disposition, with a reason", tags=TAGS)
def override_disposition(inspection_id, body):
    session, who = request_session(), principal()
    inspection = get_visible(session, Inspection, inspection_id, who)
    result = inspections.override_disposition(session, inspection, body["disposition"],
                                              body["reason"], who.actor)
    session.commit()
    return result


@bp.get("/returns-stock")
@endpoint(roles=READERS, query=StockArgs, response=StockOut,
          summary="The returns stock: units by location, SKU, grade and state", tags=TAGS)
def returns_stock(args):
    who = principal()
    return {"balances": stock.balances(request_session(), who.merchant_id,
                                       args.get("location"), args.get("sku"))}


@bp.post("/returns-stock/moves")
@endpoint(roles=STAFF, body=MoveIn, response=MovementOut, status=201,
          summary="Move returned units to another state, or out of the returns stock",
          tags=TAGS)
def move_stock(body):
    session, who = request_session(), principal()
    row = stock.move(session, who.merchant_id, body["location"], body["sku"], body["grade"],
                     body["from_state"], body["to_state"], body["quantity"], body["reason"],
                     who.actor)
    session.commit()
    return row


@bp.get("/returns-stock/reconciliation")
@endpoint(roles=READERS, response=ReconciliationOut,
          summary="Received units against the returns stock: every difference", tags=TAGS)
def reconciliation():
    differences = stock.reconcile(request_session(), principal().merchant_id)
    return {"balanced": not differences, "differences": differences}
