"""A supplier's own monthly statement (对账单), CSV or XLSX, read into checked rows.

    parsed = read(data, "11月对账单.xlsx")                  # Parsed: rows, errors, skipped
    parsed = read(data, name, columns={"amount": "结算价"}, amount_unit="fen")

Pure: bytes in, ``Parsed`` out. The header row is the first of the first 20 non-empty rows
naming the amount and one of document_ref / order_no / waybill (title rows above are skipped):
by ``columns`` (the supplier's kept mapping, field → header text) for the fields it names, by
``HEADERS`` for the others. Headers compare NFKC, lower-case, without spaces, punctuation or
a bracketed unit; a fen header (``金额(分)``, ``amount_fen``) makes the amounts fen, any other
yuan, unless ``amount_unit`` says. Amounts are exact signed fen, > 0 the merchant owes; a
``deduction`` written positive is negated. The file becomes a grid of cells in ``grids``
(XLSX: the first sheet, saved formula values — a formula without one is a row error —,
merged cells filled with their top-left value).

A bad row never raises: all its problems are ``RowError``s (row numbers as a spreadsheet shows
them, ``"english / 中文"``) and it is left out of ``rows``; empty and totals rows (合计, total)
are ``skipped``. ``ApiError`` is for a bad file: too large, unzipping or merging to too much,
over ``MAX_ROWS`` rows (413); a legacy or encrypted ``.xls``, no workbook, a web page (415);
no UTF-8 or GB18030 text, no header row, a bad ``columns`` entry (422); a corrupt XLSX (400).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from hub.core.errors import ApiError
from hub.domain.finance.grids import HEADER_SCAN, MAX_ROWS, bad as _bad, csv_grid, xlsx_grid

FIELDS = ("document_ref", "order_no", "line_ref", "waybill", "kind", "amount", "date", "memo")
KINDS = ("payable", "deduction", "adjustment")
KEY_FIELDS = ("document_ref", "order_no", "waybill")  # a row names at least one
ZH = {"document_ref": "单据号", "order_no": "订单号", "line_ref": "商品编码", "waybill": "快递单号",
      "kind": "类型", "amount": "金额", "date": "日期", "memo": "备注"}
MAX_BYTES = 20 * 2 ** 20
MAX_KEY, MAX_MEMO, MAX_MINOR = 128, 500, 2 ** 53
FORMULA = ("a formula without a saved value: open and save the file in Excel / "
           "公式没有保存的值：请用 Excel 打开并保存后重新导入")
MERGED_AMOUNT = ("the amount is merged over several rows: give each row its own amount / "
                 "金额单元格跨行合并：请为每行填写各自的金额")
NO_KEY = "the row names no document, order or waybill / 该行没有单据号、订单号或快递单号"
_UNIT = re.compile(r"[(\[【][^()\[\]【】]*[)\]】]$")
_FEN_UNIT = re.compile(r"(?:^|[(\[【/])(?:分|fen|cents?|minor)[)\]】]?$")
_AMOUNT = re.compile(r"([-+−]?)(?:¥|rmb|cny)?([-+−]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?元?")
_NAN = ("is not a number", "不是数字")
_TOO_LARGE = ("is too large", "过大")
_TIME = r"(?:{}(\d{{1,2}}):(\d{{2}})(?::(\d{{2}})(?:\.\d+)?)?)?"
_DATES = (re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME.format("[ t]")),
          re.compile(r"(\d{4})年()(\d{1,2})月(\d{1,2})日?" + _TIME.format(" ?")),
          re.compile(r"(\d{4})()(\d{2})(\d{2})()()()"))
_NOT_DATE = ("is not a date (e.g. 2026-11-03)", "无法识别（例如 2026-11-03）")

def _norm(text) -> str:
    """NFKC, lower-case, no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text)).lower())


def _base(text) -> str:
    """How headers, kinds and totals words compare: no bracketed unit, no punctuation."""
    return re.sub(r"[_\-.#:*]", "", _UNIT.sub("", _norm(text)))


_HEADER_TEXTS = {  # in preference
    "document_ref": "单据号|单据编号|对账单明细号|明细号|明细单号|售后单号|索赔单号|赔付单号|扣款单号|"
                    "业务单号|流水号|document ref|document no|document id|doc no|reference|ref",
    "order_no": "平台订单号|订单号|订单编号|客户订单号|外部订单号|原始订单号|网店订单号|order no|"
                "order number|order id|order",
    "line_ref": "sku|sku编码|商品sku|商品编码|规格编码|商家编码|货号|行号|line ref|line no",
    "waybill": "快递单号|运单号|物流单号|快递号|运单编号|tracking number|tracking no|tracking|"
               "waybill|waybill no",
    "kind": "类型|费用类型|款项类型|单据类型|业务类型|收支类型|type|kind|category",
    "amount": "金额|结算金额|应付金额|应收金额|对账金额|本期金额|金额分|amount|amount fen|"
              "amount minor|amount yuan",
    "date": "日期|发货日期|业务日期|单据日期|对账日期|发货时间|业务时间|date|ship date|business date",
    "memo": "备注|说明|摘要|memo|note|notes|remark|remarks|description",
}
HEADERS: dict[str, tuple[str, ...]] = {
    f: tuple(dict.fromkeys(map(_base, texts.split("|")))) for f, texts in _HEADER_TEXTS.items()}
_FEN_NAMES = {"amountfen", "amountminor", "金额分"}
_KIND_WORDS = (  # a word in the cell decides, in this order: "货款调整" is an adjustment
    ("adjustment", "调整|补差|差额|adjustment|writeoff"),
    ("deduction", "扣款|索赔|赔付|赔偿|罚款|退款|deduction|claim|compensation|penalty|refund"),
    ("payable", "货款|应付|发货|代发|采购|payable|goods"))
_TOTALS = {"合计", "总计", "小计", "total", "totals", "subtotal", "grandtotal"}


@dataclass(frozen=True)
class Row:
    row_no: int
    document_ref: str | None
    order_no: str | None
    line_ref: str | None
    waybill: str | None
    kind: str | None
    amount_minor: int
    occurred_on: date | None
    memo: str | None


@dataclass(frozen=True)
class RowError:
    row_no: int
    column: str | None  # a field, None for the whole row
    message: str


@dataclass(frozen=True)
class Parsed:
    format: str  # csv | xlsx
    encoding: str | None  # utf-8 | gb18030 for CSV
    header_row: int
    columns: dict[str, str]
    amount_unit: str  # yuan | fen
    rows: list[Row]
    errors: list[RowError]
    skipped: int

    def as_dict(self) -> dict:
        out = asdict(self)
        for row in out["rows"]:
            row["occurred_on"] = row["occurred_on"] and row["occurred_on"].isoformat()
        return out


# -- headers -----------------------------------------------------------------------------------

def _resolve(headers: list[str], mapped: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """field → column (mapped fields first, then recognised ones), and the mapped fields whose
    header is not there. A bilingual header ("订单号/Order No") matches by either part."""
    norms = [_norm(h) for h in headers]
    index = {f: norms.index(_norm(h)) for f, h in mapped.items() if _norm(h) in norms}
    keys = [[_base(h)] + [_base(p) for p in re.split(r"[/|\n]", h)] for h in headers]
    for f in FIELDS:
        free = [i for i, h in enumerate(norms) if h and i not in index.values()]
        at = next((i for alias in HEADERS[f] for i in free if alias in keys[i]), None)
        if f not in mapped and at is not None:
            index[f] = at
    return index, [f for f in mapped if f not in index]


def recognise(headers: list[str]) -> dict[str, str]:
    """field → header, by ``HEADERS``; a header serves one field at most."""
    return {f: headers[i] for f, i in _resolve([_plain(h) for h in headers], {})[0].items()}


def _no_column(mapped: dict[str, str], missing: list[str], headers: list[str]) -> ApiError:
    return _bad("the file has no column " + ", ".join(f"{mapped[f]!r} (for {f})" for f in missing)
                + " / 文件中没有映射的列", details={"columns": headers,
                                           "missing": {f: mapped[f] for f in missing}})


def _find_header(grid: list[list], mapped: dict[str, str]) -> tuple[int, dict[str, int]]:
    seen = []
    for pos, values in enumerate(grid):
        if not any(map(_plain, values)):
            continue
        headers = [_plain(v) for v in values]
        index, missing = _resolve(headers, mapped)
        if "amount" in index and any(f in index for f in KEY_FIELDS):
            if missing:
                raise _no_column(mapped, missing, [h for h in headers if h])
            return pos, index
        seen.append((len(index), -pos, [h for h in headers if h], missing))
        if len(seen) == HEADER_SCAN:
            break
    if not seen:
        raise _bad("the file is empty / 文件是空的")
    headers = max(seen)[2]
    if absent := [f for f in mapped if all(f in s[3] for s in seen)]:
        raise _no_column(mapped, absent, headers)
    raise _bad("no header row: the columns seen are " + (", ".join(headers) or "none") + "; an "
               "amount column and an order number, document number or waybill column are "
               "needed / 未找到表头：需要金额列，以及订单号、单据号或快递单号列",
               details={"columns": headers, "needed": ["amount", "document_ref|order_no|waybill"]})


# -- cells: each parser gives (value, None) or (None, (english, 中文) problem) ----------------

def _plain(value) -> str:
    """A cell as text ("" when blank): whole floats without ".0", dates ISO."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return "" if value is None else str(value).strip()


def _key(value):
    if isinstance(value, (bool, datetime, date, time, timedelta)):
        return None, ("is not text or a number", "不是文本或数字")
    if isinstance(value, float) and not value.is_integer():
        return None, ("is a decimal number, not an id", "是小数，不是编号")
    if isinstance(value, float) and abs(value) >= 1e15:
        return None, ("is a number of more than 15 digits: Excel lost digits; format the "
                      "column as text", "以数字保存超过15位，Excel 已丢失数字：请把该列设为文本")
    text = _plain(value)
    if m := re.fullmatch(r'="(.*)"', text, re.S):  # Excel's keep-as-text tricks
        text = m[1].strip()
    elif text.startswith("'"):
        text = text[1:].strip()
    if re.fullmatch(r"\d+(\.\d+)?[eE]\+?\d+", text):
        return None, ("is in scientific notation: its digits are lost; format the column as "
                      "text", "是科学计数法，数字已丢失：请把该列设为文本")
    if len(text) > MAX_KEY:
        return None, (f"is longer than {MAX_KEY} characters", f"超过{MAX_KEY}个字符")
    return text or None, None


def _memo(value):
    if len(text := _plain(value)) > MAX_MEMO:
        return None, (f"is longer than {MAX_MEMO} characters", f"超过{MAX_MEMO}个字符")
    return text or None, None


def _amount(value, unit: str):
    if not _plain(value):
        return None, ("is missing", "为空")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None, _NAN
    if isinstance(value, float):  # a cached value, exactly as Excel shows it (15 digits)
        value = format(Decimal(f"{value:.15g}"), "f")
    text = _norm(value)
    negative = len(text) > 2 and text[0] + text[-1] == "()"
    m = _AMOUNT.fullmatch(text[1:-1] if negative else text)
    if not m or (m[1] and m[2]) or (negative and (m[1] or m[2])):
        return None, _NAN
    whole, frac = m[3].replace(",", ""), (m[4] or "").rstrip("0")
    if len(whole.lstrip("0")) > 18:
        return None, _TOO_LARGE
    if unit == "fen" and frac:
        return None, ("in fen must be a whole number", "（分）必须是整数")
    if len(frac) > 2:
        return None, ("has more than 2 decimals", "超过两位小数")
    minor = int(whole) if unit == "fen" else int(whole) * 100 + int(frac.ljust(2, "0"))
    minor = -minor if negative or set(m[1] + m[2]) & {"-", "−"} else minor
    if minor == 0:
        return None, ("is zero", "为零")
    return (None, _TOO_LARGE) if abs(minor) > MAX_MINOR else (minor, None)


def _kind(value):
    if not _plain(value):
        return None, None
    text = _base(value)
    for kind, words in _KIND_WORDS:
        if text == kind or any(w in text for w in words.split("|")):
            return kind, None
    shown = str(value).strip()[:40]
    return None, (f"{shown!r} is not payable, deduction or adjustment",
                  f"“{shown}”无法识别（应为货款、扣款或调整）")


def _date(value, epoch: date):
    if not _plain(value):
        return None, None
    if isinstance(value, (datetime, date)):
        return (value.date() if isinstance(value, datetime) else value), None
    if isinstance(value, str) and re.fullmatch(r"\d{5}(\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 20000 <= value < 80001:  # an Excel serial day number
            return epoch + timedelta(days=int(value)), None
    elif isinstance(value, str):
        text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value).strip().lower())
        for m in filter(None, (form.fullmatch(text) for form in _DATES)):
            y, mo, d, h, mi, s = (int(g or 0) for i, g in enumerate(m.groups()) if i != 1)
            try:
                day = date(y, mo, d)
            except ValueError:
                break
            return (day, None) if h < 24 and mi < 60 and s < 60 else (None, _NOT_DATE)
    return None, _NOT_DATE


def _totals(values, index: dict[str, int]) -> bool:
    """A 合计 / total row: such a word in a cell, and no key but that word."""
    words = [isinstance(v, str) and len(v) < 20 and _base(v) in _TOTALS for v in values]
    keys = [index[f] for f in KEY_FIELDS if f in index and index[f] < len(values)]
    return any(words) and all(not _plain(values[i]) or words[i] for i in keys)


def _row(row_no: int, values: list, index: dict[str, int], unit: str, epoch: date,
         flagged: dict) -> tuple[Row | None, list[RowError]]:
    got, errors = {}, []
    parse = {"kind": _kind, "amount": lambda v: _amount(v, unit), "date": lambda v: _date(v, epoch),
             "memo": _memo}
    for f in FIELDS:
        at = index.get(f)
        if (row_no, at) in flagged:
            errors.append(RowError(row_no, f, flagged[row_no, at]))
            continue
        got[f], problem = parse.get(f, _key)(values[at] if at is not None and at < len(values)
                                             else None)
        if problem:
            errors.append(RowError(row_no, f, f"{f} {problem[0]} / {ZH[f]}{problem[1]}"))
    if not any(got.get(f) for f in KEY_FIELDS) and all(e.column not in KEY_FIELDS
                                                         for e in errors):
        errors.append(RowError(row_no, None, NO_KEY))
    if errors:
        return None, errors
    minor = -got["amount"] if got["kind"] == "deduction" and got["amount"] > 0 else got["amount"]
    return Row(row_no, got["document_ref"], got["order_no"], got["line_ref"], got["waybill"],
               got["kind"], minor, got["date"], got["memo"]), []  # 扣款 100: supplier owes 100


def read(data: bytes, filename: str, columns: dict[str, str] | None = None,
         amount_unit: str | None = None) -> Parsed:
    """The statement's valid rows and every problem of the others (see the module doc)."""
    if len(data) > MAX_BYTES:
        raise _bad(f"the file is larger than {MAX_BYTES // 2 ** 20} MB / 文件过大", 413)
    if not isinstance(columns, (dict, type(None))):
        raise _bad("columns is an object of field → header", details={"columns": ["an object"]})
    mapped = dict(columns or {})
    if wrong := [f for f, h in mapped.items()
                 if f not in FIELDS or not isinstance(h, str) or not h.strip()]:
        raise _bad(f"columns: {', '.join(map(str, wrong))} is not a field with a header; the "
                   "fields are " + ", ".join(FIELDS), details={"columns": wrong})
    if amount_unit not in (None, "yuan", "fen"):
        raise _bad("amount_unit is yuan or fen", details={"amount_unit": amount_unit})
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise _bad("this is a legacy .xls (or password-protected) workbook: save it as .xlsx "
                   "without a password / 请另存为无密码的 .xlsx 文件", 415)
    if data[:4] == b"PK\x03\x04":
        fmt, encoding, (grid, formulas, copies, epoch) = "xlsx", None, xlsx_grid(data)
    elif (filename or "").lower().endswith((".xlsx", ".xlsm")) or data[:5] == b"%PDF-":
        raise _bad("the file is not an XLSX workbook or CSV text / 文件不是 XLSX 或 CSV", 415)
    else:  # an ".xls" may well be text: what many shop systems export
        fmt, formulas, copies, epoch = "csv", set(), set(), date(1899, 12, 30)
        grid, encoding = csv_grid(data)
    at, index = _find_header(grid, mapped)
    end = len(grid)
    while end > at + 1 and not any(map(_plain, grid[end - 1])):
        end -= 1  # trailing empty (formatted) rows are no rows
    if end - at - 1 > MAX_ROWS:
        raise _bad(f"the file has more than {MAX_ROWS} rows / 行数过多", 413)
    headers = [_plain(v) for v in grid[at]]
    head = headers[index["amount"]]
    unit = amount_unit or ("fen" if _FEN_UNIT.search(_norm(head)) or _base(head) in _FEN_NAMES
                           else "yuan")
    flagged = {cell: FORMULA for cell in formulas}  # an amount merged over rows is not
    flagged.update({(r, c): MERGED_AMOUNT for r, c in copies if c == index["amount"]})  # each's
    rows, errors, skipped = [], [], 0
    for pos in range(at + 1, end):
        if not any(map(_plain, grid[pos])) or _totals(grid[pos], index):
            skipped += 1
            continue
        row, problems = _row(pos + 1, grid[pos], index, unit, epoch, flagged)
        rows += [row] if row else []
        errors += problems
    return Parsed(fmt, encoding, at + 1, {f: headers[i] for f, i in index.items()}, unit, rows,
                  errors, skipped)
