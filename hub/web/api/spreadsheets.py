"""Supplier sheets over the API (``hub.domain.sheets.files``, ``hub.domain.sheets.answers``).

* ``GET  /api/v1/suppliers/<id>/sheet.xlsx`` and ``.../sheet.csv`` — what the supplier has
  to answer now (dispatches, stop-ships, returns, claims), as a download;
* ``POST /api/v1/suppliers/<id>/sheet?apply=all|valid`` — import a filled-in sheet, sent as
  ``multipart/form-data`` field ``file`` (or as the raw body with an XLSX/CSV content
  type). Every row is checked; ``all`` (default) applies nothing if any row has an error
  (422 ``sheet_has_errors``, the per-row report in ``details``), ``valid`` applies the
  rows without errors and reports the others. Importing the same sheet again changes
  nothing.

Roles: ``merchant_admin`` and ``operator`` for any supplier of their merchant; a
``supplier`` token for its own supplier only (another id answers 404).
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from flask import Response, request
from marshmallow import Schema, fields, validate
from sqlalchemy.exc import IntegrityError

from hub.domain.sheets import files as spreadsheets
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.scope import get_visible
from hub.core.errors import ApiError, Conflict
from hub.models import Supplier
from hub.domain.sheets.answers import MODES, import_sheet
from hub.web.context import hub, request_session

ROLES = {"merchant_admin", "operator", "supplier"}
TAGS = ["supplier sheets"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MULTIPART_OVERHEAD = 64 * 1024
RAW_TYPES = (XLSX, "text/csv", "application/csv", "application/octet-stream",
             "application/vnd.ms-excel")


class SheetImportArgs(Schema):
    apply = fields.String(load_default="all", validate=validate.OneOf(MODES),
                          metadata={"description": "all: nothing unless every row is valid; "
                                    "valid: apply the rows without errors"})


class SheetImportOut(Schema):
    supplier_id = fields.Integer()
    format = fields.String(metadata={"description": "xlsx or csv"})
    apply = fields.String()
    rows = fields.Integer(metadata={"description": "rows read (blank rows not counted)"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "applied, unchanged, skipped, error, "
                                   "not_applied"})
    applied = fields.Boolean(metadata={"description": "something was applied"})
    errors = fields.List(fields.Dict(), metadata={"description": "[{row, column, message}]"})
    results = fields.List(fields.Dict(), metadata={
        "description": "per row: row, section, fulfilment_id, return_case_id, action, "
                       "outcome, errors"})


def _supplier(supplier_id: int) -> Supplier:
    return get_visible(request_session(), Supplier, supplier_id, principal())


BINARY = {"type": "string", "format": "binary"}
SHEET_UPLOAD = {"multipart/form-data": {"type": "object", "required": ["file"],
                                        "properties": {"file": BINARY}},
                XLSX: BINARY, "text/csv": BINARY}


def attachment(name: str) -> str:
    """``Content-Disposition`` for a download named ``name`` in any script (RFC 6266): an
    ASCII ``filename`` for old clients, the exact name UTF-8 encoded in ``filename*``."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\/' else "_"
                       for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _download(supplier_id: int, kind: str) -> Response:
    return sheet_download(request_session(), _supplier(supplier_id), kind)


def sheet_download(session, supplier, kind: str) -> Response:
    """The supplier's sheet of what it has to answer now, as a download (the console's too)."""
    rows = spreadsheets.pending_rows(session, supplier)
    data = spreadsheets.to_xlsx(rows) if kind == "xlsx" else spreadsheets.to_csv(rows)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    name = f"supplier-{supplier.code}-{stamp}.{kind}"
    mimetype = XLSX if kind == "xlsx" else "text/csv; charset=utf-8"
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = attachment(name)
    response.headers["X-Sheet-Rows"] = str(len(rows))
    return response


@bp.get("/suppliers/<int:supplier_id>/sheet.xlsx")
@endpoint(roles=ROLES, produces=XLSX,
          summary="Download the supplier's pending dispatches, stop-ships and "
                               "returns as XLSX (answer columns to fill in)", tags=TAGS)
def supplier_sheet_xlsx(supplier_id):
    return _download(supplier_id, "xlsx")


@bp.get("/suppliers/<int:supplier_id>/sheet.csv")
@endpoint(roles=ROLES, produces="text/csv", summary="The same sheet as CSV (UTF-8 with BOM)",
          tags=TAGS)
def supplier_sheet_csv(supplier_id):
    return _download(supplier_id, "csv")


def read_upload(max_bytes: int, what: str = "the sheet") -> tuple[bytes, str | None]:
    """The uploaded file and its name: the ``multipart/form-data`` field ``file``, or a raw
    XLSX/CSV body (no name); refused (413) before parsing when over ``max_bytes``."""
    if (request.content_length or 0) > max_bytes + MULTIPART_OVERHEAD:
        raise ApiError(f"the file is larger than {max_bytes // 1024} KB",
                       code="payload_too_large", status=413)
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(f"send {what} as the multipart/form-data field 'file'",
                           code="bad_request", details={"file": ["required"]})
        try:
            return upload.read(max_bytes + 1), upload.filename
        finally:
            upload.close()  # a large upload is spooled to a temporary file
    if request.mimetype in RAW_TYPES:
        return request.get_data(cache=False), None
    if not request.content_length:
        raise ApiError(f"send {what} as the multipart/form-data field 'file'",
                       code="bad_request", details={"file": ["required"]})
    raise ApiError(f"send {what} as multipart/form-data (field 'file'), not "
                   f"{request.mimetype or 'an unknown type'}", code="unsupported_media_type",
                   status=415)


@bp.post("/suppliers/<int:supplier_id>/sheet")
@endpoint(roles=ROLES, query=SheetImportArgs, response=SheetImportOut, upload=SHEET_UPLOAD,
          summary="Import a filled-in supplier sheet (multipart field 'file', XLSX or CSV)",
          tags=TAGS)
def supplier_sheet_import(supplier_id, args):
    supplier = _supplier(supplier_id)
    data, filename = read_upload(spreadsheets.MAX_BYTES)
    session = request_session()
    report = import_sheet(session, supplier, data, filename, principal().actor,
                          hub().settings.var_dir, args["apply"])
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("a record changed at the same time; import the sheet again") from None
    return report

