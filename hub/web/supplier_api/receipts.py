"""``POST /supplier/returns/<id>/receipt``: the supplier confirms a returned parcel arrived,
with its condition, notes, grade or scores, barcode or serial, checklist, repair cost and
photos → the inspection, graded with a suggested disposition, and the goods in the
supplier's returns stock (``supplier:<id>``; ``hub.domain.returns.inspection``).

The body, multipart or JSON with Base64 photos, and its limits: ``hub.web.kit.receipts``
(the merchant's warehouse posts the same). It is read with no database transaction
open, so a slow upload never holds a lock. Nothing is stored unless everything is valid. The domain returns the first inspection for the same receipt sent
again, and answers 409 for a return that expects no goods.

A receipt covers a return whose goods are all the supplier's (``ownership.foreign_lines``
is empty): a case whose lines span suppliers is seen by each with its own lines, but its
one parcel goes to one address and its receipt refunds the whole case, so no supplier
vouches for another's goods — 409, and the merchant confirms it (the courier's delivery
makes it ``received``; ``POST /returns/<id>/refund``).
"""
from __future__ import annotations

from hub.core.errors import Conflict
from hub.domain.fulfilment import ownership
from hub.domain.returns import inspection as inspections
from hub.models import ReturnCase
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.receipts import RECEIPT_UPLOAD, read_receipt, receipt_fields
from hub.web.kit.schemas import InspectionOut
from hub.web.kit.scope import get_visible
from hub.web.supplier_api.common import SUPPLIER, TAGS, commit, locked, var_dir
from hub.web.context import request_session

@bp.post("/supplier/returns/<int:return_id>/receipt")
@endpoint(roles=SUPPLIER, response=InspectionOut, upload=RECEIPT_UPLOAD,
          summary="Confirm a returned parcel arrived: condition, notes, grade or scores, "
                  "barcode, photos (multipart or JSON with Base64 photos)", tags=TAGS)
def supplier_return_receipt(return_id):
    session, who = request_session(), principal()
    case = get_visible(session, ReturnCase, return_id, who)  # 404 before reading the body
    if ownership.foreign_lines(session, case, who.supplier_id):
        raise Conflict(f"return case {return_id} also holds goods of another supplier: the "
                       "merchant confirms its receipt", details={"return_case_id": return_id})
    session.rollback()  # no transaction (no SQLite write lock) while the upload arrives
    data, photos = read_receipt()
    case = locked(ReturnCase, return_id)
    inspection = inspections.confirm_return_receipt(
        session, case, principal().actor, data["condition"], photos=photos, var_dir=var_dir(),
        location=f"supplier:{who.supplier_id}", **receipt_fields(data))
    commit()
    return inspection
