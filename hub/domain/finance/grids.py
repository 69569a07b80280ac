"""A spreadsheet a person uploaded, as a grid of cell values, read with care: the CSV's
text encoding (UTF-8, else GB18030 — GBK) and delimiter, an XLSX's size, zip and merged
cells bounded before openpyxl loads it, merged cells filled with their top-left value,
formulas found (a formula Excel saved no value for is reported, never computed).

    rows, encoding = csv_grid(data)
    rows, formulas, copies, epoch = xlsx_grid(data)
        # formulas: {(row, column)} without a value; copies: the cells a merge filled

A file that cannot be read as a whole is an ``ApiError`` (``bad``): too large (413), not a
workbook or a web page (415), corrupt (400), not text (422).
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from datetime import date

from hub.core.errors import ApiError

MAX_UNZIPPED, MAX_ZIP_ENTRIES = 200 * 2 ** 20, 1000
MAX_ROWS = 200_000
MAX_CELLS = 5_000_000  # an XLSX sheet's used area; all its merged ranges together
HEADER_SCAN = 20  # rows the header is looked for in
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]{1,3})(\d{1,7})'
                    rb'(?::([A-Z]{1,3})(\d{1,7}))?"')


def bad(message: str, status: int = 422, details=None) -> ApiError:
    codes = {400: "bad_request", 413: "payload_too_large", 415: "unsupported_media_type"}
    return ApiError(message, code=codes.get(status, "validation_error"), status=status,
                    details=details)


def csv_grid(data: bytes) -> tuple[list[list], str]:
    text = encoding = None
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves GBK, in GB18030
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None or "\x00" in text:
        raise bad("the file is neither XLSX nor CSV text in UTF-8 or GBK (save it as CSV "
                   "UTF-8) / 文件不是 XLSX，也不是 UTF-8 或 GBK 编码的 CSV")
    if re.match(r"\s*<", text) and re.search(r"<(html|table)\b", text[:4096], re.I):
        raise bad("the file is a web page, not CSV: open it in Excel and save it as .xlsx / "
                   "文件是网页格式：请用 Excel 另存为 .xlsx", 415)
    sample = text.splitlines()[:50]

    def score(delimiter: str) -> tuple[int, int]:  # the most rows of one width, widest
        counts = Counter(len(r) for r in csv.reader(sample, delimiter=delimiter) if len(r) > 1)
        return max(((n, width) for width, n in counts.items()), default=(0, 0))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""),
                               delimiter=max((",", "\t", ";"), key=score)))
    except csv.Error as e:
        raise bad(f"the CSV file could not be read: {e} / CSV 文件无法读取") from None
    return rows, "utf-8" if encoding == "utf-8-sig" else encoding


def _merged_area(archive: zipfile.ZipFile) -> int:
    """Cells in the merged ranges of all sheets: loading makes an object for each."""
    from openpyxl.utils import column_index_from_string as col
    total = 0
    for name in archive.namelist():
        if not re.fullmatch(r"xl/worksheets/[^/]+\.xml", name):
            continue
        with archive.open(name) as f:
            tail = b""
            while chunk := f.read(1 << 20):
                buf = tail + chunk
                cut = buf.rfind(b">") + 1  # a tag ends at its own ">"
                for m in _MERGE.finditer(buf, 0, cut):
                    total += (abs(col((m[3] or m[1]).decode()) - col(m[1].decode())) + 1) * (
                        abs(int(m[4] or m[2]) - int(m[2])) + 1)
                tail = buf[cut:][-4096:]
    return total


def _scan(sheet) -> tuple[set, int, int]:
    """Pass one, streaming, formulas not values: formula cells, used area, too many rows."""
    sheet.reset_dimensions()  # the cells, not the size the file claims
    formulas, last_row, last_col, seen, scan_end = set(), 0, 0, 0, 0
    for r, cells in enumerate(sheet.iter_rows(), 1):
        if used := [c for c, cell in enumerate(cells) if cell.value is not None]:
            formulas.update((r, c) for c in used if cells[c].data_type == "f")
            last_row, last_col, seen = r, max(last_col, used[-1] + 1), seen + 1
            scan_end = r if seen == HEADER_SCAN + 1 else scan_end  # the header is above it
            if scan_end and r - scan_end >= MAX_ROWS:
                raise bad(f"the file has more than {MAX_ROWS} rows / 行数过多", 413)
    return formulas, last_row, last_col


def xlsx_grid(data: bytes) -> tuple[list[list], set, set, date]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise bad("the XLSX file is corrupt: save it again and retry / XLSX 文件已损坏", 400)
    if "xl/workbook.xml" not in {e.filename for e in entries}:
        raise bad("the zip file is not an XLSX workbook / 文件不是 XLSX 工作簿", 415)
    if len(entries) > MAX_ZIP_ENTRIES or sum(e.file_size for e in entries) > MAX_UNZIPPED:
        raise bad("the XLSX file unpacks to too much data / 文件解压后过大", 413)
    from openpyxl import load_workbook
    try:
        if _merged_area(archive) > MAX_CELLS:
            raise bad("the XLSX file merges too many cells / 合并单元格过多", 413)
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        formulas, last_row, last_col = _scan(book.worksheets[0])
        book.close()
        if last_row * last_col > MAX_CELLS:
            raise bad("the sheet's used area is too large / 工作表使用区域过大", 413)
        book = load_workbook(io.BytesIO(data), data_only=True)  # whole: merged cells need it
        sheet = book.worksheets[0]
        grid = [list(r) for r in sheet.iter_rows(1, last_row, 1, last_col, True)] if last_row \
            else []
        copies = set()
        for rng in sheet.merged_cells.ranges:
            top = (rng.min_row, rng.min_col - 1)
            if top[0] > last_row or top[1] >= last_col:
                continue
            for r in range(rng.min_row, min(rng.max_row, last_row) + 1):
                for c in range(top[1], min(rng.max_col, last_col)):
                    grid[r - 1][c] = grid[top[0] - 1][top[1]]
                    copies.add((r, c))
                    if top in formulas:
                        formulas.add((r, c))
    except ApiError:
        raise
    except Exception as e:  # noqa: BLE001 (openpyxl raises many kinds on a broken file)
        raise bad(f"the XLSX file could not be read ({type(e).__name__}): save it again and "
                   "retry / XLSX 文件无法读取", 400) from None
    # a formula matters only where Excel saved no value
    return (grid, {(r, c) for r, c in formulas if grid[r - 1][c] is None},
            copies - {(rng.min_row, rng.min_col - 1) for rng in sheet.merged_cells.ranges},
            book.epoch.date())
