"""Exports for finance, CSV or XLSX, Chinese or English headers, fixed column order, a
totals row.

    data = export(session, statement, what, fmt="csv", lang="zh")
    data = journal(session, merchant_id, month, fmt="csv", lang="zh")

``what``: ``statement`` (its lines: period, opening, each line, closing), ``match`` (every
item of the match with the supplier's file, by the file's row numbers), ``disputes`` (the
items with a dispute, open first, the lines the supplier disputed on its channel too). ``journal``:
every ledger entry the merchant booked in a month (``YYYY-MM``, the ledger's period: an
entry arriving after a month was closed in the books is booked in the next one), as
double-entry lines for the merchant's accounting system: per entry a debit and a credit
line with the account (``ACCOUNTS``), the counterparty and the document; an entry with a
negative amount swaps its sides.

Money in yuan with two decimals (exactly the fen: ``12.30``), plus the fen as an integer
column so nothing is lost to a spreadsheet's rounding; times in China time. CSV is UTF-8
with a BOM (Excel shows Chinese); every text cell is formula-safe (``hub.core.cells``); the
XLSX holds typed numbers (yuan as ``0.00``) and a bold header and totals row. The same
data gives the same CSV bytes.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.cells import safe_cell
from hub.core.china import china_time, yuan_text
from hub.core.errors import ApiError
from hub.domain import ledger
from hub.models import (
    LedgerEntry, ReconciliationItem, Statement, StatementLine, Supplier, SupplierLine,
)

FORMATS, LANGS, WHATS = ("csv", "xlsx"), ("zh", "en"), ("statement", "match", "disputes")
# (key, 中文, English, kind): kind text | money (fen → yuan beside fen) | int
STATEMENT = (("line_id", "明细号", "Line", "int"), ("occurred_at", "日期", "Date", "text"),
             ("entry_type", "类型", "Type", "text"),
             ("document_ref", "单据号", "Document ref", "text"),
             ("order_no", "订单号", "Order no.", "text"), ("waybill", "快递单号", "Waybill", "text"),
             ("amount", "金额", "Amount", "money"), ("late", "补记", "Late", "text"),
             ("answer", "供应商答复", "Supplier's answer", "text"),
             ("memo", "摘要", "Memo", "text"))
MATCH = (("item_id", "结果号", "Item", "int"), ("outcome", "结果", "Outcome", "text"),
         ("key", "配对依据", "Paired by", "text"), ("key_value", "单号", "Key", "text"),
         ("hub_lines", "系统明细", "Hub lines", "text"),
         ("supplier_rows", "供应商文件行号", "Rows of the supplier's file", "text"),
         ("hub", "系统金额", "Hub amount", "money"),
         ("supplier", "供应商金额", "Supplier amount", "money"),
         ("difference", "差额", "Difference", "money"), ("dispute", "争议", "Dispute", "text"),
         ("decision", "处理", "Decision", "text"), ("why", "说明", "Why", "text"))
JOURNAL = (("entry_id", "分录号", "Entry", "int"), ("date", "日期", "Date", "text"),
           ("period", "期间", "Period", "text"), ("account", "科目", "Account", "text"),
           ("debit", "借方", "Debit", "money"), ("credit", "贷方", "Credit", "money"),
           ("counterparty", "往来单位", "Counterparty", "text"),
           ("document", "单据", "Document", "text"), ("memo", "摘要", "Memo", "text"),
           ("entry_hash", "哈希", "Hash", "text"))
# entry type → (debit, credit) accounts, (中文, English), as booked in the type's own
# direction (``ledger.SIGNS``: a claim deduction is negative); the other direction swaps
# them. A correction is booked on the accounts of the entry it corrects.
ACCOUNTS = {
    "goods_payable": (("主营业务成本", "Cost of goods sold"), ("应付账款", "Accounts payable")),
    "claim_deduction": (("应付账款", "Accounts payable"), ("营业外收入-赔偿", "Compensation income")),
    "courier_compensation": (("其他应收款", "Other receivables"),
                             ("营业外收入-赔偿", "Compensation income")),
    "platform_penalty": (("营业外支出-罚款", "Penalties"), ("其他应付款", "Other payables")),
    "write_off": (("营业外支出-核销", "Write-offs"), ("应付账款", "Accounts payable")),
    # what the merchant bears itself (an unrecovered claim, its share of a liability)
    "borne": (("营业外支出-损失", "Losses borne"), ("待处理财产损溢", "Losses pending disposal")),
}
TOTAL = {"zh": "合计", "en": "Total"}


def export(session: Session, statement: Statement, what: str, fmt: str = "csv",
           lang: str = "zh") -> bytes:
    _check(fmt, lang, what=what)
    if what == "statement":
        lines = session.scalars(select(StatementLine).where(
            StatementLine.statement_id == statement.id).order_by(StatementLine.id))
        rows = [{"line_id": x.id, "occurred_at": china_time(x.occurred_at),
                 "entry_type": x.entry_type, "document_ref": x.document_ref,
                 "order_no": x.order_no, "waybill": x.waybill, "amount": x.amount_minor,
                 "late": "Y" if x.late else "", "answer": x.answer, "memo": x.memo}
                for x in lines]
        supplier = session.get(Supplier, statement.supplier_id)
        title = [f"{supplier.name} {statement.period} {statement.currency}",
                 f"{'期初' if lang == 'zh' else 'Opening'} {yuan_text(statement.opening_minor)}",
                 f"{'期末' if lang == 'zh' else 'Closing'} {yuan_text(statement.closing_minor)}"]
        return _write(STATEMENT, rows, fmt, lang, title)
    items = session.scalars(select(ReconciliationItem).where(
        ReconciliationItem.statement_id == statement.id).order_by(ReconciliationItem.id))
    if what == "disputes":
        items = sorted((i for i in items if i.dispute), key=lambda i: (i.dispute != "open", i.id))
    else:  # the match of the file; a line the supplier disputed on its channel is a dispute
        items = [i for i in items if i.outcome != "supplier_dispute"]
    row_no = dict(session.execute(select(SupplierLine.id, SupplierLine.row_no).where(
        SupplierLine.file_id.in_({i.file_id for i in items if i.file_id}))).all())
    rows = [{"item_id": i.id, "outcome": i.outcome, "key": i.key, "key_value": i.key_value,
             "hub_lines": " ".join(map(str, i.hub_line_ids)),
             "supplier_rows": " ".join(str(row_no.get(n, n)) for n in i.supplier_line_ids),
             "hub": i.hub_minor,
             "supplier": i.supplier_minor, "difference": i.difference_minor,
             "dispute": i.dispute, "decision": i.decision,
             "why": i.why_zh if lang == "zh" else i.why_en} for i in items]
    return _write(MATCH, rows, fmt, lang)


def journal(session: Session, merchant_id: int, month: str, fmt: str = "csv",
            lang: str = "zh") -> bytes:
    _check(fmt, lang)
    if not (isinstance(month, str) and ledger.PERIOD.match(month)):
        raise ApiError("a month is YYYY-MM", code="validation_error", status=422,
                       details={"period": ["YYYY-MM"]})
    e = LedgerEntry
    entries = session.scalars(select(e).where(e.merchant_id == merchant_id, e.period == month)
                              .order_by(e.occurred_at, e.id))
    entries = list(entries)
    names = dict(session.execute(select(Supplier.id, Supplier.name).where(
        Supplier.merchant_id == merchant_id)).all())
    corrected = _types_corrected(session, entries)
    at = 0 if lang == "zh" else 1
    rows = []
    for entry in entries:
        kind = corrected.get(entry.corrects_entry_id, "write_off") \
            if entry.entry_type == "correction" else entry.entry_type
        kind = "borne" if entry.counterparty_kind == "merchant" else kind
        debit, credit = ACCOUNTS.get(kind, ACCOUNTS["write_off"])
        if (entry.amount_minor < 0) != (ledger.SIGNS.get(kind, 1) < 0):
            debit, credit = credit, debit
        who = names.get(entry.counterparty_id, entry.counterparty_id) \
            if entry.counterparty_kind == "supplier" else entry.counterparty_ref
        common = {"entry_id": entry.id, "date": china_time(entry.occurred_at),
                  "period": entry.period,
                  "counterparty": f"{entry.counterparty_kind} {who or ''}".strip(),
                  "document": f"{entry.document_kind} {entry.document_id}",
                  "memo": entry.memo, "entry_hash": entry.entry_hash}
        amount = abs(entry.amount_minor)
        rows.append({**common, "account": debit[at], "debit": amount, "credit": None})
        rows.append({**common, "account": credit[at], "debit": None, "credit": amount})
    return _write(JOURNAL, rows, fmt, lang, [f"{month}"])


def _types_corrected(session: Session, entries: list) -> dict:
    """The entry type of each entry a correction among ``entries`` corrects."""
    ids = {e.corrects_entry_id for e in entries if e.corrects_entry_id}
    return dict(session.execute(select(LedgerEntry.id, LedgerEntry.entry_type).where(
        LedgerEntry.id.in_(ids))).all()) if ids else {}


def _check(fmt: str, lang: str, what: str = "statement") -> None:
    errors = {}
    if fmt not in FORMATS:
        errors["format"] = [f"one of {', '.join(FORMATS)}"]
    if lang not in LANGS:
        errors["lang"] = [f"one of {', '.join(LANGS)}"]
    if what not in WHATS:
        errors["what"] = [f"one of {', '.join(WHATS)}"]
    if errors:
        raise ApiError("unknown export", code="validation_error", status=422, details=errors)


def _header(columns, lang: str) -> list[str]:
    out = []
    for key, zh, en, kind in columns:
        label = zh if lang == "zh" else en
        out += [label, f"{label}({'分' if lang == 'zh' else 'fen'})"] if kind == "money" \
            else [label]
    return out


def _cells(columns, row: dict) -> list:
    out = []
    for key, _, _, kind in columns:
        value = row.get(key)
        if kind == "money":
            out += [None, None] if value is None else [yuan_text(value), value]
        else:
            out.append(value)
    return out


def _totals(columns, rows: list[dict], lang: str) -> list:
    totals = {key: sum(r.get(key) or 0 for r in rows) for key, _, _, kind in columns
              if kind == "money"}
    cells = _cells(columns, totals)
    cells[0] = f"{TOTAL[lang]} ({len(rows)})"
    return cells


def _write(columns, rows: list[dict], fmt: str, lang: str, title: list | None = None) -> bytes:
    header, body = _header(columns, lang), [_cells(columns, r) for r in rows]
    totals = _totals(columns, rows, lang)
    money_at = {n for n, (_, _, _, kind) in enumerate(_flat(columns)) if kind == "yuan"}
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        if title:
            writer.writerow([safe_cell(t) for t in title])
        writer.writerow(header)
        for cells in [*body, totals]:  # yuan are decimal text ("-31.94"), numbers to Excel
            writer.writerow(["" if c is None else c if n in money_at or not isinstance(c, str)
                             else safe_cell(c) for n, c in enumerate(cells)])
        return out.getvalue().encode("utf-8-sig")
    return _xlsx(money_at, header, body, totals, title)


def _xlsx(money_at, header, body, totals, title) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    book.properties.created = book.properties.modified = datetime(2000, 1, 1)
    if title:
        sheet.append([safe_cell(t) for t in title])
    sheet.append(header)
    for cells in [*body, totals]:
        sheet.append([_typed(c, n in money_at) for n, c in enumerate(cells)])
        for n in money_at:
            sheet.cell(sheet.max_row, n + 1).number_format = "0.00"
    bold = Font(bold=True)
    for cell in sheet[sheet.max_row - len(body) - 1] + sheet[sheet.max_row]:
        cell.font = bold
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _flat(columns):
    for key, zh, en, kind in columns:
        if kind == "money":
            yield key, zh, en, "yuan"
            yield key, zh, en, "fen"
        else:
            yield key, zh, en, kind


def _typed(value, is_yuan: bool):
    if is_yuan and isinstance(value, str):
        return Decimal(value)  # exact: 12.30, typed as a number
    return safe_cell(value) if isinstance(value, str) else value
