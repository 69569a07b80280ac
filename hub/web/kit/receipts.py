"""Reading a receipt of returned goods: the body the supplier API and the merchant's
warehouse both post (``hub.web.supplier_api.receipts``, ``hub.web.api.inspections``).

Two encodings, the same fields:

* ``multipart/form-data``: ``condition``, ``notes``, ``grade``, ``barcode``, ``serial``,
  ``repair_cost_minor``, ``scores`` and ``checklist`` (JSON objects as text; or, as an HTML
  form sends it, one ``checklist.<item>`` field each, ``true`` or ``false``, the first value
  of a name counting) and the files under ``photos`` (or ``photos[]``); an empty optional
  field is as if not sent;
* ``application/json``: the same keys, ``scores`` and ``checklist`` objects and ``photos``
  a list of Base64 strings (a ``data:image/...;base64,`` prefix is accepted).

Limits (``hub.domain.returns.inspection``): at most ``MAX_PHOTOS`` photos of at most
``MAX_PHOTO_BYTES`` each (413 above), each a JPEG, PNG or WebP image by its content (422
otherwise); the request may be up to ``MAX_RECEIPT_BYTES``. Read it with no database
transaction open, so a slow upload never holds a lock.
"""
from __future__ import annotations

import base64
import binascii

from flask import request
from marshmallow import RAISE, Schema, fields, validate

from connectors import bounded_json
from hub.core.db import MAX_ID
from hub.core.errors import ApiError
from hub.domain.returns.grading import DIMENSIONS
from hub.domain.returns.inspection import (
    CONDITIONS, GRADES, MAX_PHOTO_BYTES, MAX_PHOTOS, image_kind,
)
from hub.web.kit.fields import Integer

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
    serial = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 128),
                           metadata={"description": "the unit's serial number, kept as "
                                                    "evidence"})
    checklist = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                            load_default=dict, metadata={
                                "description": "item → true, false, a number or a short "
                                               "text (the merchant's API lists the items "
                                               "its policy asks for)"})
    scores = fields.Dict(keys=fields.String(validate=validate.OneOf(DIMENSIONS)),
                         values=fields.Float(validate=validate.Range(0, 5)),
                         load_default=None, allow_none=True, metadata={
                             "description": "0 to 5 in halves for each of "
                                            + ", ".join(DIMENSIONS) + "; they give the grade"})
    repair_cost_minor = Integer(load_default=None, allow_none=True,
                                validate=validate.Range(0, MAX_ID), metadata={
                                    "description": "what repairing the goods would cost "
                                                   "(fen)"})


MULTIPART_FIELDS = {
    "condition": {"type": "string", "enum": list(CONDITIONS)},
    "grade": {"type": "string", "enum": list(GRADES)}, "notes": {"type": "string"},
    "barcode": {"type": "string"}, "serial": {"type": "string"},
    "repair_cost_minor": {"type": "integer"},
    "scores": {"type": "string", "description": "a JSON object: " + ", ".join(DIMENSIONS)},
    "checklist": {"type": "string", "description": "a JSON object"},
    "photos": {"type": "array", "items": {"type": "string", "format": "binary"}}}
RECEIPT_UPLOAD = {  # documented in /openapi.json (read_receipt reads it)
    "multipart/form-data": {"type": "object", "required": ["condition"],
                            "properties": MULTIPART_FIELDS},
    "application/json": ReceiptIn}
JSON_TEXT_FIELDS = ("checklist", "scores")  # JSON objects as text in a multipart form


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(message, code="validation_error", status=422, details={field: [message]})


def _too_large(message: str) -> ApiError:
    return ApiError(message, code="payload_too_large", status=413,
                    details={"photos": [message]})


def _from_multipart(ignore: tuple) -> tuple[dict, list[bytes]]:
    form = {k: v for k, v in request.form.to_dict().items()
            if (v != "" or k == "condition") and k not in ignore}
    ticked = {k.partition(".")[2]: v for k, v in form.items() if k.startswith("checklist.")}
    if ticked:
        if "checklist" in form or not all(v in ("true", "false") for v in ticked.values()):
            raise _invalid("checklist", "checklist.<item> fields are true or false, without "
                                        "a checklist object beside them")
        form = {k: v for k, v in form.items() if not k.startswith("checklist.")}
        form["checklist"] = {k: v == "true" for k, v in ticked.items()}
    for name in JSON_TEXT_FIELDS:
        if isinstance(form.get(name), str):
            try:
                form[name] = bounded_json.loads(form[name])
            except ValueError:
                raise _invalid(name, f"{name} must be a JSON object") from None
    return form, read_photos()


def read_photos() -> list[bytes]:
    """The form's files under ``photos`` (or ``photos[]``): at most ``MAX_PHOTOS`` of at
    most ``MAX_PHOTO_BYTES`` each, read as they are (the caller checks they are images)."""
    uploads = request.files.getlist("photos") + request.files.getlist("photos[]")
    other = set(request.files) - {"photos", "photos[]"}
    if other:
        raise _invalid(sorted(other)[0], "photos go under the field name 'photos'")
    if len(uploads) > MAX_PHOTOS:
        raise _invalid("photos", f"at most {MAX_PHOTOS} photos at once")
    photos = []
    for n, upload in enumerate(uploads, 1):
        data = upload.stream.read(MAX_PHOTO_BYTES + 1)
        upload.close()  # a large one was spooled to a temporary file
        if len(data) > MAX_PHOTO_BYTES:
            raise _too_large(f"photo {n} is larger than {MAX_PHOTO_BYTES // MIB} MiB")
        if data:  # a form's empty file input sends one empty part
            photos.append(data)
    return photos


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


def read_receipt(schema: type[Schema] = ReceiptIn, ignore: tuple = ()
                 ) -> tuple[dict, list[bytes]]:
    """The fields (loaded by ``schema``) and photo bytes of the request, or an
    ``ApiError``; form fields named in ``ignore`` are not the receipt's (the console's
    CSRF token)."""
    request.max_content_length = MAX_RECEIPT_BYTES
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        values, photos = _from_multipart(ignore)
    elif mimetype == "application/json" or (not mimetype and request.content_length):
        values, photos = _from_json()
    elif not request.content_length:
        raise ApiError("a receipt body is required (multipart/form-data or JSON)",
                       code="invalid_json")
    else:
        raise ApiError(f"send multipart/form-data or application/json, not {mimetype}",
                       code="unsupported_media_type", status=415)
    fields_in = schema(unknown=RAISE).load(values)
    for n, photo in enumerate(photos, 1):
        if image_kind(photo) is None:
            raise _invalid("photos", f"photo {n} is not a JPEG, PNG or WebP image")
    return fields_in, photos


def receipt_fields(data: dict) -> dict:
    """The loaded fields as ``confirm_return_receipt`` takes them."""
    return {k: data[k] for k in ("notes", "grade", "barcode", "serial", "checklist", "scores",
                                 "repair_cost_minor")}
