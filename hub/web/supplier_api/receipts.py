"""``POST /supplier/returns/<id>/receipt``: the supplier confirms a returned parcel arrived,
with its condition, notes, grade, barcode, checklist and photos → the inspection.

Two encodings, the same fields:

* ``multipart/form-data``: ``condition``, ``notes``, ``grade``, ``barcode``, ``checklist``
  (a JSON object as text) and the files under ``photos`` (or ``photos[]``);
* ``application/json``: the same keys, ``checklist`` an object and ``photos`` a list of
  Base64 strings (a ``data:image/...;base64,`` prefix is accepted).

Limits (``hub.domain.returns.flow``): at most ``MAX_PHOTOS`` photos of at most ``MAX_PHOTO_BYTES``
each (413 above), each a JPEG, PNG or WebP image by its content (422 otherwise); the
request may be up to ``MAX_RECEIPT_BYTES``. The body is read with no database transaction
open, so a slow upload never holds a lock. Nothing is stored unless everything is valid.
The domain returns the first inspection for the same receipt sent again, and answers 409
for a return that expects no goods.

A receipt covers a return whose goods are all the supplier's (``ownership.foreign_lines``
is empty): a case whose lines span suppliers is seen by each with its own lines, but its
one parcel goes to one address and its receipt refunds the whole case, so no supplier
vouches for another's goods — 409, and the merchant confirms it (the courier's delivery
makes it ``received``; ``POST /returns/<id>/refund``).
"""
from __future__ import annotations

import base64
import binascii

from flask import request
from marshmallow import RAISE, Schema, fields, validate

from connectors import bounded_json
from hub.domain.returns import flow as returns_flow
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.scope import get_visible
from hub.core.errors import ApiError, Conflict
from hub.domain.fulfilment import ownership
from hub.models import ReturnCase
from hub.domain.returns.flow import CONDITIONS, GRADES, MAX_PHOTO_BYTES, MAX_PHOTOS, image_kind
from hub.web.supplier_api import schemas as s
from hub.web.supplier_api.common import SUPPLIER, TAGS, commit, locked, var_dir
from hub.web.context import request_session

# every photo at its largest as Base64 JSON, with room for the other fields
MAX_RECEIPT_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES * 4 // 3 + 1024 * 1024
MIB = 1024 * 1024


class ReceiptIn(Schema):
    condition = fields.String(required=True, validate=validate.OneOf(CONDITIONS))
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    grade = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(GRADES),
                          metadata={"description": "A resellable ... D scrap"})
    barcode = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(1, 128))
    checklist = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                            load_default=dict)


RECEIPT_UPLOAD = {  # documented in /openapi.json (read_receipt reads it)
    "multipart/form-data": {"type": "object", "required": ["condition"], "properties": {
        "condition": {"type": "string", "enum": list(CONDITIONS)},
        "grade": {"type": "string", "enum": list(GRADES)}, "notes": {"type": "string"},
        "barcode": {"type": "string"}, "checklist": {"type": "string",
                                                     "description": "a JSON object"},
        "photos": {"type": "array", "items": {"type": "string", "format": "binary"}}}},
    "application/json": ReceiptIn}


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(message, code="validation_error", status=422, details={field: [message]})


def _too_large(message: str) -> ApiError:
    return ApiError(message, code="payload_too_large", status=413,
                    details={"photos": [message]})


def _from_multipart() -> tuple[dict, list[bytes]]:
    form = request.form.to_dict()
    if "checklist" in form:
        try:
            form["checklist"] = bounded_json.loads(form["checklist"])
        except ValueError:
            raise _invalid("checklist", "checklist must be a JSON object") from None
    uploads = request.files.getlist("photos") + request.files.getlist("photos[]")
    other = set(request.files) - {"photos", "photos[]"}
    if other:
        raise _invalid(sorted(other)[0], "photos go under the field name 'photos'")
    if len(uploads) > MAX_PHOTOS:
        raise _invalid("photos", f"at most {MAX_PHOTOS} photos per receipt")
    photos = []
    for n, upload in enumerate(uploads, 1):
        data = upload.stream.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise _too_large(f"photo {n} is larger than {MAX_PHOTO_BYTES // MIB} MiB")
        photos.append(data)
    return form, photos


def _from_json() -> tuple[dict, list[bytes]]:
    try:
        data = bounded_json.loads(request.get_data())
    except ValueError:  # not JSON, not UTF-8, or nested too deep
        raise ApiError("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object", code="invalid_json")
    encoded = data.pop("photos", None) or []
    if not isinstance(encoded, list) or not all(isinstance(x, str) for x in encoded):
        raise _invalid("photos", "photos must be a list of Base64 strings")
    if len(encoded) > MAX_PHOTOS:
        raise _invalid("photos", f"at most {MAX_PHOTOS} photos per receipt")
    photos = []
    for n, text in enumerate(encoded, 1):
        if text.startswith("data:"):
            text = text.partition(",")[2]
        if len(text) > (MAX_PHOTO_BYTES * 4) // 3 + 8:
            raise _too_large(f"photo {n} is larger than {MAX_PHOTO_BYTES // MIB} MiB")
        try:
            raw = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("photos", f"photo {n} is not valid Base64") from None
        if len(raw) > MAX_PHOTO_BYTES:
            raise _too_large(f"photo {n} is larger than {MAX_PHOTO_BYTES // MIB} MiB")
        photos.append(raw)
    return data, photos


def read_receipt() -> tuple[dict, list[bytes]]:
    """The validated fields and photo bytes of the request, or an ``ApiError``."""
    request.max_content_length = MAX_RECEIPT_BYTES
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        values, photos = _from_multipart()
    elif mimetype == "application/json" or (not mimetype and request.content_length):
        values, photos = _from_json()
    elif not request.content_length:
        raise ApiError("a receipt body is required (multipart/form-data or JSON)",
                       code="invalid_json")
    else:
        raise ApiError(f"send multipart/form-data or application/json, not {mimetype}",
                       code="unsupported_media_type", status=415)
    fields_in = ReceiptIn(unknown=RAISE).load(values)
    for n, photo in enumerate(photos, 1):
        if image_kind(photo) is None:
            raise _invalid("photos", f"photo {n} is not a JPEG, PNG or WebP image")
    return fields_in, photos


@bp.post("/supplier/returns/<int:return_id>/receipt")
@endpoint(roles=SUPPLIER, response=s.InspectionOut, upload=RECEIPT_UPLOAD,
          summary="Confirm a returned parcel arrived: condition, notes, grade, photos "
                  "(multipart or JSON with Base64 photos)", tags=TAGS)
def supplier_return_receipt(return_id):
    session, who = request_session(), principal()
    case = get_visible(session, ReturnCase, return_id, who)  # 404 before reading the body
    if ownership.foreign_lines(session, case, who.supplier_id):
        raise Conflict(f"return case {return_id} also holds goods of another supplier: the "
                       "merchant confirms its receipt", details={"return_case_id": return_id})
    session.rollback()  # no transaction (no SQLite write lock) while the upload arrives
    data, photos = read_receipt()
    case = locked(ReturnCase, return_id)
    inspection = returns_flow.confirm_return_receipt(
        session, case, principal().actor, data["condition"], notes=data["notes"],
        grade=data["grade"], photos=photos, barcode=data["barcode"],
        checklist=data["checklist"], var_dir=var_dir())
    commit()
    return inspection
