"""Supplier sheets: what a supplier must answer, as XLSX or CSV, and reading a filled one.

    rows = pending_rows(session, supplier)  # dispatches, stop-ships, returns, claims, statements
    data = to_xlsx(rows) | to_csv(rows)     # bytes to download
    table = read_sheet(data, filename)      # [{"_row": 2, "section": ...}, ...]

One table, one row per thing to answer (the ``section`` column says which), the same
columns in both formats (``COLUMNS``; the header cell is ``key (中文)``). The sheet is
built from the current state, so exporting again is always safe:

* ``dispatch`` — fulfilments of the supplier that are ``requested`` or ``accepted``:
  answer ``accept`` / ``reject`` (+ ``reason``), and/or ``carrier`` + ``tracking_number``
  once shipped;
* ``stop_ship`` — fulfilments under a stop-ship request (``cancel_requested``): answer
  ``accepted`` (it will not leave) or ``rejected`` (already shipped: ``carrier`` +
  ``tracking_number``);
* ``return`` — return cases on their way back to the supplier (``hub.domain.returns.flow``)
  that hold lines of its shipped fulfilments, listing those lines only
  (``hub.domain.fulfilment.ownership``): answer ``received`` with the ``condition``, the
  inspection (``grade`` A–D, or ``scores``: four numbers 0–5 for packaging, appearance,
  function and completeness, which give the grade; the scanned ``barcode``) and
  ``notes`` — except on a case that also holds another supplier's goods (its notice says
  so), whose receipt is the merchant's. Photos are uploaded through the supplier API;
* ``claim`` — the supplier's open compensation claims (``sent``, ``acknowledged``,
  ``disputed``: ``hub.domain.sheets.claims``), with the amount in yuan and fen and why in
  Chinese: answer ``accept`` (all, or ``accepted_amount`` yuan of it) or ``dispute`` with
  a ``reason``;
* ``statement`` — one row per line of the supplier's statements awaiting its answer
  (``sent``: ``hub.domain.sheets.statements``), with ``statement_id``, ``line_id``, the
  amount in yuan and fen: answer every line of a statement (or none) ``confirm`` or
  ``dispute`` with a ``reason`` and, if it likes, the right amount (``accepted_amount``).

Buyer details are the masked texts only. Cells an export writes are plain text, never
formulas: a value starting with ``= + - @`` is prefixed with ``'`` (CSV injection) unless it
is a plain number (a negative amount), and the XLSX cells are typed as strings. CSV is UTF-8
with a BOM, so Excel shows Chinese text.

``read_sheet`` refuses, as ``ApiError`` 4xx with nothing read: a file over
``MAX_BYTES`` (413), a file that is neither XLSX nor CSV or a legacy ``.xls`` (415), a
corrupt or oversized zip (400 / 413), a formula anywhere (422), a header row that is not
this sheet's (422, with the missing and unknown columns), more than ``MAX_ROWS`` rows
(413). Answering the rows is ``hub.domain.sheets.answers``.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from hub.core.cells import safe_cell
from hub.core.errors import ApiError
from hub.domain import fulfilment
from hub.domain.fulfilment import ownership
from hub.domain.returns.flow import return_shipment
from hub.domain.sheets.claims import claim_rows
from hub.domain.sheets.statements import statement_rows
from hub.models import Fulfilment, Order, ReturnCase, Supplier

COLUMNS = (
    ("section", "类型"), ("fulfilment_id", "履约单号"), ("return_case_id", "售后单号"),
    ("claim_id", "索赔单号"), ("statement_id", "对账单号"), ("line_id", "明细号"),
    ("platform_order_id", "平台订单号"), ("status", "状态"),
    ("answer_by", "回复截止"), ("ship_by", "最晚发货"), ("items", "商品"), ("notice", "说明"),
    ("buyer", "收件人(脱敏)"), ("return_tracking", "退回运单"), ("event", "索赔事件"),
    ("amount", "金额(元)"), ("amount_minor", "金额(分)"), ("currency", "币种"),
    ("answer", "回复"), ("reason", "原因"), ("accepted_amount", "同意金额(元)"),
    ("carrier", "快递公司"), ("tracking_number", "运单号"), ("condition", "货品状况"),
    ("grade", "等级"), ("scores", "评分 包装/外观/功能/完整"), ("barcode", "条码"),
    ("notes", "备注"),
)
KEYS = tuple(key for key, _ in COLUMNS)
ANSWER_KEYS = ("answer", "reason", "accepted_amount", "carrier", "tracking_number",
               "condition", "grade", "scores", "barcode", "notes")
INSPECTION_KEYS = ("grade", "scores", "barcode")  # a sheet exported before them still reads
CLAIM_KEYS = ("claim_id", "accepted_amount")      # so does one exported before claims
STATEMENT_KEYS = ("statement_id", "line_id")      # and one exported before statements
REQUIRED_KEYS = ("section", "fulfilment_id", "return_case_id") + tuple(
    k for k in ANSWER_KEYS if k not in INSPECTION_KEYS + CLAIM_KEYS + STATEMENT_KEYS)
HEADERS = tuple(f"{key} ({label})" for key, label in COLUMNS)
SHEET_NAME = "answers"
MAX_BYTES = 1024 * 1024
MAX_UNZIPPED = 40 * 1024 * 1024
MAX_ZIP_ENTRIES = 500
MAX_ROWS = 5000
RETURN_KINDS = ("return_refund", "exchange")
RETURN_STATUSES = ("approved", "awaiting_return", "return_in_transit")
NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # no formula: written as it is
SHARED_NOTICE = "(also holds another supplier's goods: the merchant confirms its receipt)"
HELP = (
    "How to answer / 填写说明",
    "Fill in only the columns answer, reason, accepted_amount, carrier, tracking_number, "
    "condition, grade, scores, barcode, notes; keep the other columns and the header row as "
    "they are. 只填写 answer、reason、accepted_amount、carrier、tracking_number、condition、"
    "grade、scores、barcode、notes 列，其余列和表头请勿修改。",
    "dispatch (发货): answer accept | reject (reject needs a reason); once shipped fill in "
    "carrier (e.g. sf, zto, 顺丰速运) and tracking_number. 接单填 accept，拒单填 reject 并写原因；"
    "发货后填写快递公司和运单号。",
    "stop_ship (停发): answer accepted (not shipped, it will not leave) | rejected (already "
    "shipped: fill in carrier and tracking_number). 未发货填 accepted；已发货填 rejected 并填写运单。",
    "return (退货): answer received with condition intact | damaged | missing_parts | "
    "wrong_item | empty | used; grade A-D, or scores: four numbers 0-5 (halves allowed) for "
    "packaging, appearance, function, completeness, e.g. 5,4.5,5,5; the barcode scanned; "
    "notes. Photos: upload them through the supplier API. 收到退货填 received，并填写货品状况；"
    "等级 A-D，或评分：包装/外观/功能/完整 四项 0-5 分（可半分），如 5,4.5,5,5；扫描的条码；备注。"
    "照片请通过供应商接口上传。",
    "claim (索赔): answer accept to pay it: all of it (leave accepted_amount empty) or part of "
    "it (accepted_amount in yuan, at most two decimals, e.g. 12.50); or dispute with a reason. "
    "A disputed claim can still be accepted later. 同意赔付填 accept（全额则 accepted_amount "
    "留空，部分同意则填写金额，单位元，最多两位小数）；有异议填 dispute 并写明原因。",
    "statement (对账单): one row per line of a statement; answer every line of a statement, "
    "or none: confirm if it is right; dispute with a reason, and in accepted_amount the amount "
    "in yuan you say is right (empty: the line should not be there; a deduction is negative, "
    "e.g. -30.00). 对账单每行为一条明细，同一对账单的明细须全部回复（或全部留空）：无误填 confirm；"
    "有异议填 dispute 并写明原因，accepted_amount 填您认为正确的金额（元；留空表示该明细不应计入；"
    "扣款为负数，如 -30.00）。",
    "Leave a row's answer empty to answer it later. Each tracking number may appear once. "
    "Importing the same sheet again changes nothing. 暂不回复的行留空即可；运单号不可重复。",
)


# -- building the rows -------------------------------------------------------------------------

def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _buyer(order: Order) -> str:
    region = "/".join(x for x in (order.province_code, order.city_code, order.district_code) if x)
    parts = [order.buyer_name_masked, order.buyer_phone_masked, order.buyer_address_masked,
             f"({region})" if region else None]
    return " ".join(p for p in parts if p)


def _items(session: Session, f: Fulfilment) -> str:

    return "; ".join(x["sku"] + (f" / {x['supplier_sku']}" if x["supplier_sku"] else "")
                     + (f" {x['title']}" if x["title"] else "") + f" x{x['quantity']}"
                     for x in fulfilment.dispatch_lines(session, f))


def pending_rows(session: Session, supplier: Supplier) -> list[dict]:
    """Every row the supplier has to answer now, dispatches first (by deadline), then
    returns, claims and statements."""

    fulfilments = list(session.scalars(
        select(Fulfilment).where(Fulfilment.merchant_id == supplier.merchant_id,
                                 Fulfilment.supplier_id == supplier.id,
                                 Fulfilment.status.in_(("requested", "accepted",
                                                        "cancel_requested")))
        .options(selectinload(Fulfilment.order).selectinload(Order.lines),
                 selectinload(Fulfilment.lines))
        .order_by(Fulfilment.id)))
    rows = []
    for f in sorted(fulfilments, key=lambda f: (f.status == "cancel_requested",
                                                f.cancel_answer_due_at or f.answer_due_at
                                                or f.requested_at or datetime.max, f.id)):
        stop = f.status == "cancel_requested"
        order = f.order
        rows.append({
            "section": "stop_ship" if stop else "dispatch", "fulfilment_id": f.id,
            "platform_order_id": order.platform_order_id, "status": f.status,
            "answer_by": _iso(f.cancel_answer_due_at if stop else f.answer_due_at),
            "ship_by": _iso(order.ship_by), "items": _items(session, f),
            "notice": (f.cancel_reason or "") if stop else (order.buyer_note or ""),
            "buyer": _buyer(order)})
    if (supplier.contract_terms or {}).get("receives_returns", True):
        rows += _return_rows(session, supplier)
    return rows + claim_rows(session, supplier) + statement_rows(session, supplier)


def _return_rows(session: Session, supplier: Supplier) -> list[dict]:
    """The supplier's returns on their way back, each with its own lines only
    (``ownership``); one that also holds another supplier's goods says the merchant
    confirms its receipt."""
    shipped = {}
    for f in session.scalars(select(Fulfilment).where(
            Fulfilment.merchant_id == supplier.merchant_id,
            Fulfilment.supplier_id == supplier.id, Fulfilment.shipped_at.is_not(None))
            .order_by(Fulfilment.id)):
        shipped.setdefault(f.order_id, f)
    cases = session.scalars(select(ReturnCase).where(
        ReturnCase.merchant_id == supplier.merchant_id,
        ReturnCase.id.in_(ownership.return_cases(supplier.id)),
        ReturnCase.order_id.in_(list(shipped) or [0]), ReturnCase.kind.in_(RETURN_KINDS),
        ReturnCase.status.in_(RETURN_STATUSES)).order_by(ReturnCase.id))
    rows = []
    for case in cases:
        f = shipped[case.order_id]
        foreign = {x.id for x in ownership.foreign_lines(session, case, supplier.id)}
        parcel = return_shipment(session, case)
        notice = [case.kind, case.reason_code, case.reason_text,
                  SHARED_NOTICE if foreign else None]
        rows.append({
            "section": "return", "fulfilment_id": f.id, "return_case_id": case.id,
            "platform_order_id": f.order.platform_order_id, "status": case.status,
            "items": "; ".join(f"{x.sku} x{x.quantity}" for x in case.lines
                               if x.id not in foreign),
            "notice": " ".join(x for x in notice if x),
            "return_tracking": f"{parcel.carrier} {parcel.tracking_number}" if parcel else ""})
    return rows


# -- writing -------------------------------------------------------------------------------------

def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text if NUMBER.match(text) else safe_cell(text)


def to_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key in KEYS])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[dict]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = SHEET_NAME
    fill = PatternFill("solid", fgColor="FFF2CC")
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append([_cell(row.get(key)) for key in KEYS])
    for cells in sheet.iter_rows(min_row=1, max_row=sheet.max_row):
        for cell in cells:
            cell.data_type = "s"  # text, never a formula
            cell.number_format = "@"
    for n, key in enumerate(KEYS, 1):
        letter = get_column_letter(n)
        sheet.column_dimensions[letter].width = 28 if key in ("items", "buyer", "notice") else 18
        sheet.cell(1, n).font = Font(bold=True)
        if key in ANSWER_KEYS:
            sheet.cell(1, n).fill = fill
    answers = DataValidation(type="list", allow_blank=True,
                             formula1='"accept,reject,accepted,rejected,received,dispute,confirm"')
    conditions = DataValidation(type="list", allow_blank=True,
                                formula1='"intact,damaged,missing_parts,wrong_item,empty,used"')
    grades = DataValidation(type="list", allow_blank=True, formula1='"A,B,C,D"')
    last = max(sheet.max_row, 2) + 200
    for validation, key in ((answers, "answer"), (conditions, "condition"), (grades, "grade")):
        letter = get_column_letter(KEYS.index(key) + 1)
        validation.add(f"{letter}2:{letter}{last}")
        sheet.add_data_validation(validation)
    sheet.freeze_panes = "B2"
    help_sheet = book.create_sheet("help")
    for line in HELP:
        help_sheet.append([line])
    help_sheet.column_dimensions["A"].width = 120
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- reading -------------------------------------------------------------------------------------

def _bad(message: str, status: int = 400, code: str = "bad_sheet", details=None) -> ApiError:
    return ApiError(message, code=code, status=status, details=details)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        text = text[1:]  # our own escape, written by the export
    return text


def _header_key(cell: str) -> str:
    return re.split(r"[\s(（]", cell.strip(), maxsplit=1)[0].lower() if cell.strip() else ""


def kind_of(data: bytes, filename: str | None = None) -> str:
    if data[:4] == b"PK\x03\x04":
        return "xlsx"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise _bad("this is a legacy Excel .xls file: save it as .xlsx (or CSV) and import "
                   "that", 415, "unsupported_media_type")
    if b"\x00" in data[:4096]:
        raise _bad("the file is neither an XLSX workbook nor a CSV text file", 415,
                   "unsupported_media_type")
    return "csv"


def _xlsx_cells(data: bytes) -> list[list]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _bad("the XLSX file is corrupt (not a readable zip): save it again and retry")
    names = {e.filename for e in entries}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise _bad("the zip file is not an XLSX workbook", 415, "unsupported_media_type")
    if len(entries) > MAX_ZIP_ENTRIES or sum(e.file_size for e in entries) > MAX_UNZIPPED:
        raise _bad("the XLSX file unpacks to too much data", 413, "payload_too_large")
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        sheet = book[SHEET_NAME] if SHEET_NAME in book.sheetnames else book.worksheets[0]
        rows = []
        for cells in sheet.iter_rows():
            if len(rows) > MAX_ROWS + 1:
                raise _bad(f"the sheet has more than {MAX_ROWS} rows", 413, "payload_too_large")
            for cell in cells:
                if getattr(cell, "data_type", None) == "f":
                    raise _bad(f"cell {cell.coordinate} holds a formula: paste values only "
                               "(Paste special → Values) and import again", 422, "formula_in_sheet")
            rows.append([getattr(cell, "value", None) for cell in cells])
        book.close()
    except ApiError:
        raise
    except Exception as e:  # noqa: BLE001 (openpyxl raises many kinds on a broken file)
        raise _bad(f"the XLSX file could not be read ({type(e).__name__}): save it again "
                   "and retry") from None
    return rows


def _csv_cells(data: bytes) -> list[list]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves GB18030
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover (gb18030 decodes nearly anything)
        raise _bad("the CSV file is not UTF-8 or GB18030 text", 415, "unsupported_media_type")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise _bad(f"the CSV file could not be read: {e}") from None
    for r, cells in enumerate(rows, 1):
        for c, value in enumerate(cells, 1):
            if value.strip().startswith("="):
                raise _bad(f"row {r}, column {c} holds a formula ({value[:30]!r}): export "
                           "values only and import again", 422, "formula_in_sheet")
    return rows


def read_sheet(data: bytes, filename: str | None = None) -> tuple[str, list[dict]]:
    """``(format, rows)``; each row maps the column keys to text, plus ``_row``."""
    if len(data) > MAX_BYTES:
        raise _bad(f"the file is larger than {MAX_BYTES // 1024} KB", 413, "payload_too_large")
    if not data.strip():
        raise _bad("the file is empty", 422, "bad_sheet")
    kind = kind_of(data, filename)
    cells = _xlsx_cells(data) if kind == "xlsx" else _csv_cells(data)
    if len(cells) > MAX_ROWS + 1:
        raise _bad(f"the sheet has more than {MAX_ROWS} rows", 413, "payload_too_large")
    start = next((i for i, row in enumerate(cells) if any(_text(v) for v in row)), None)
    if start is None:
        raise _bad("the sheet has no header row", 422)
    header = [_header_key(_text(v)) for v in cells[start]]
    named = [h for h in header if h]
    unknown = sorted({h for h in named if h not in KEYS})
    missing = [k for k in REQUIRED_KEYS if k not in named]
    repeated = sorted({h for h in named if named.count(h) > 1})
    if unknown or missing or repeated:
        raise _bad("the header row is not this sheet's: export a fresh sheet and copy your "
                   "answers into it", 422, "wrong_headers",
                   {"missing": missing, "unknown": unknown, "repeated": repeated,
                    "expected": list(HEADERS)})
    rows = []
    for offset, values in enumerate(cells[start + 1:], start + 2):
        row = {key: _text(values[i]) if i < len(values) else ""
               for i, key in enumerate(header) if key}
        extra = [_text(v) for i, v in enumerate(values) if i >= len(header) or not header[i]]
        if not any(row.values()) and not any(extra):
            continue
        row["_row"] = offset
        row["_extra"] = any(extra)
        rows.append(row)
    return kind, rows
