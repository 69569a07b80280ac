"""Reading a supplier's own statement (对账单) file: hub.domain.finance.files."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from hub.core.errors import ApiError
from hub.domain.finance import files, grids

HEAD_ZH = ["单据号", "订单号", "SKU", "快递单号", "类型", "金额(元)", "日期", "备注"]


def csv_bytes(rows, encoding="utf-8-sig", delimiter=",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows, merges=()) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for rng in merges:
        sheet.merge_cells(rng)
    book.create_sheet("other").append(["ignored"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def amounts(values, header="金额", **kw):
    data = csv_bytes([["订单号", header]] + [[f"SO{i}", v] for i, v in enumerate(values)])
    parsed = files.read(data, "s.csv", **kw)
    by_row = {r.row_no: r.amount_minor for r in parsed.rows}
    by_row.update({e.row_no: e.message for e in parsed.errors})
    return [by_row[n] for n in range(2, len(values) + 2)], parsed


def refused(data, filename="s.csv", **kw) -> ApiError:
    with pytest.raises(ApiError) as e:
        files.read(data, filename, **kw)
    return e.value


# -- headers -----------------------------------------------------------------------------------

def test_chinese_headers_are_recognised_and_a_row_read():
    data = csv_bytes([HEAD_ZH, ["D1", "SO1", "SKU-9", "SF123", "货款", "1,234.50", "2026-11-03",
                                "  十一月  "]])
    parsed = files.read(data, "对账单.csv")
    assert parsed.format == "csv" and parsed.encoding == "utf-8" and parsed.header_row == 1
    assert parsed.columns == dict(zip(files.FIELDS, HEAD_ZH))
    assert parsed.amount_unit == "yuan" and parsed.errors == [] and parsed.skipped == 0
    assert parsed.rows == [files.Row(2, "D1", "SO1", "SKU-9", "SF123", "payable", 123450,
                                     date(2026, 11, 3), "十一月")]


def test_english_and_bilingual_headers_are_recognised():
    assert files.recognise(["Order No.", "Tracking Number", "Amount (yuan)", "Type", "Date",
                            "Remark", "Doc No", "Line No"]) == {
        "order_no": "Order No.", "waybill": "Tracking Number", "amount": "Amount (yuan)",
        "kind": "Type", "date": "Date", "memo": "Remark", "document_ref": "Doc No",
        "line_ref": "Line No"}
    assert files.recognise(["订单号/Order No", "结算金额", "商品名称"]) == {
        "order_no": "订单号/Order No", "amount": "结算金额"}
    assert files.recognise(["单价", "数量", "商品名称"]) == {}


def test_a_title_row_above_the_header_is_skipped():
    data = csv_bytes([["XX工厂2026年11月对账单"], [], ["订单号", "金额"], ["SO1", "12"]])
    parsed = files.read(data, "s.csv")
    assert parsed.header_row == 3 and parsed.rows[0].row_no == 4
    assert parsed.rows[0].amount_minor == 1200 and parsed.skipped == 0


def test_the_kept_columns_mapping_wins_over_recognition():
    data = csv_bytes([["订单号", "客户单号", "金额", "结算价", "备注"],
                      ["X1", "SO1", "99", "12.5", "m"]])
    parsed = files.read(data, "s.csv", columns={"order_no": "客户单号", "amount": " 结算价 "})
    assert parsed.columns == {"order_no": "客户单号", "amount": "结算价", "memo": "备注"}
    assert (parsed.rows[0].order_no, parsed.rows[0].amount_minor) == ("SO1", 1250)


def test_a_mapped_header_the_file_lacks_or_a_wrong_field_is_422():
    data = csv_bytes([["订单号", "金额"], ["SO1", "1"]])
    e = refused(data, columns={"order_no": "客户单号"})
    assert e.status == 422 and "客户单号" in e.message
    assert e.details["missing"] == {"order_no": "客户单号"}
    e = refused(data, columns={"amount": "结算价"})  # no row qualifies without it
    assert e.status == 422 and "结算价" in e.message
    e = refused(data, columns={"price": "金额"})
    assert e.status == 422 and e.details == {"columns": ["price"]}


def test_no_header_row_is_422_naming_what_was_seen():
    e = refused(csv_bytes([["商品", "数量"], ["杯子", "2"]]))
    assert (e.status, e.code) == (422, "validation_error")
    assert e.details["columns"] == ["商品", "数量"] and "amount" in e.details["needed"]


# -- amounts, kinds, dates, keys -------------------------------------------------------------

def test_amounts_are_exact_in_yuan():
    got, _ = amounts(["1,234.50", "1234.5", "(12.30)", "（12.30）", "¥5", "￥12", "RMB 12.00",
                      "１２.５", "-12.30", "0.01", "12.300", "12.345", "12.30-", "", "0", "abc",
                      "1,23.00", "(-5)", "99999999999999999"])
    assert got[:11] == [123450, 123450, -1230, -1230, 500, 1200, 1200, 1250, -1230, 1, 1230]
    assert got[11] == "amount has more than 2 decimals / 金额超过两位小数"
    assert got[12] == got[15] == got[16] == got[17] == "amount is not a number / 金额不是数字"
    assert got[13] == "amount is missing / 金额为空"
    assert got[14] == "amount is zero / 金额为零"
    assert got[18] == "amount is too large / 金额过大"


@pytest.mark.parametrize("header", ["金额(分)", "金额（分）", "amount_fen", "Amount (fen)",
                                    "amount_minor"])
def test_a_fen_column_is_whole_fen(header):
    got, parsed = amounts(["1234", "-5", "12.5", "1,000"], header=header)
    assert parsed.amount_unit == "fen"
    assert got == [1234, -5, "amount in fen must be a whole number / 金额（分）必须是整数", 1000]


def test_the_amount_unit_argument_overrides_the_header():
    got, parsed = amounts(["1234"], header="金额(元)", amount_unit="fen")
    assert (parsed.amount_unit, got) == ("fen", [1234])
    assert refused(csv_bytes([["订单号", "金额"]]), amount_unit="cents").status == 422


def test_kinds_and_the_sign_of_a_deduction():
    data = csv_bytes([["订单号", "类型", "金额"], ["SO1", "扣款", "100"], ["SO2", "质量扣款", "-3"],
                      ["SO3", "货款", "-7"], ["SO4", "Refund", "2"], ["SO5", "货款调整", "-1"],
                      ["SO6", "", "4"], ["SO7", "运费", "5"]])
    parsed = files.read(data, "s.csv")
    assert [(r.kind, r.amount_minor) for r in parsed.rows] == [
        ("deduction", -10000), ("deduction", -300), ("payable", -700), ("deduction", -200),
        ("adjustment", -100), (None, 400)]
    [error] = parsed.errors
    assert (error.row_no, error.column) == (8, "kind") and "运费" in error.message


def test_dates_in_every_written_form():
    forms = ["2026-11-03", "2026/11/3", "2026.11.03", "20261103", "2026年11月3日",
             "2026-11-03 12:00:00", "2026/11/3 8:05", "2026年11月3日 08:05", "46329", ""]
    bad = ["2026-13-01", "03/11/2026", "2026-11-03 25:00", "2026-11/03", "明天"]
    data = csv_bytes([["订单号", "金额", "发货日期"]] + [["SO", "1", f] for f in forms + bad])
    parsed = files.read(data, "s.csv")
    assert [r.occurred_on for r in parsed.rows] == [date(2026, 11, 3)] * 9 + [None]
    assert [e.row_no for e in parsed.errors] == list(range(12, 17))
    assert {e.column for e in parsed.errors} == {"date"}


def test_xlsx_dates_datetimes_and_serials():
    data = xlsx_bytes([["订单号", "金额", "日期"], ["SO1", 1, datetime(2026, 11, 3, 12, 30)],
                       ["SO2", 1, date(2026, 11, 4)], ["SO3", 1, 46329], ["SO4", 1, 12]])
    parsed = files.read(data, "s.xlsx")
    assert parsed.format == "xlsx" and parsed.encoding is None
    assert [r.occurred_on for r in parsed.rows] == [date(2026, 11, 3), date(2026, 11, 4),
                                                    date(2026, 11, 3)]
    assert [(e.row_no, e.column) for e in parsed.errors] == [(5, "date")]


def test_xlsx_amounts_numbers_exact():
    data = xlsx_bytes([["订单号", "金额"], ["SO1", 12.3], ["SO2", 3 * 4.1], ["SO3", 12.345],
                       ["SO4", 7], ["SO5", "8.50"], ["SO6", True]])
    parsed = files.read(data, "s.xlsx")
    assert [r.amount_minor for r in parsed.rows] == [1230, 1230, 700, 850]
    assert [(e.row_no, e.message) for e in parsed.errors] == [
        (4, "amount has more than 2 decimals / 金额超过两位小数"),
        (7, "amount is not a number / 金额不是数字")]


def test_a_number_typed_order_number_becomes_its_digits():
    data = xlsx_bytes([["订单号", "金额"], [2611030001234, 1], [2611030001235.0, 1], [12.5, 1],
                       [1.5e16, 1]])
    parsed = files.read(data, "s.xlsx")
    assert [r.order_no for r in parsed.rows] == ["2611030001234", "2611030001235"]
    assert [(e.row_no, e.column) for e in parsed.errors] == [(4, "order_no"), (5, "order_no")]


def test_keys_as_excel_leaves_them_in_csv():
    data = csv_bytes([["订单号", "金额"], ['="2611030001234"', "1"], ["'2611030001235", "1"],
                      ["2.61103E+12", "1"], ["x" * 129, "1"]])
    parsed = files.read(data, "s.csv")
    assert [r.order_no for r in parsed.rows] == ["2611030001234", "2611030001235"]
    assert "scientific notation" in parsed.errors[0].message
    assert "128" in parsed.errors[1].message


def test_a_row_without_a_key_and_a_long_memo_are_errors():
    data = csv_bytes([["订单号", "快递单号", "金额", "备注"], ["", "", "5", ""],
                      ["SO1", "", "5", "m" * 501], ["", "", "abc", ""]])
    parsed = files.read(data, "s.csv")
    assert parsed.rows == []
    assert [(e.row_no, e.column, e.message) for e in parsed.errors] == [
        (2, None, files.NO_KEY),
        (3, "memo", "memo is longer than 500 characters / 备注超过500个字符"),
        (4, "amount", "amount is not a number / 金额不是数字"), (4, None, files.NO_KEY)]


def test_bad_rows_are_reported_while_good_rows_are_kept():
    data = csv_bytes([["11月对账单"], HEAD_ZH,
                      ["D1", "SO1", "", "", "货款", "10", "2026-11-01", ""],
                      ["D2", "SO2", "", "", "???", "x", "soon", ""],
                      ["D3", "SO3", "", "", "", "20", "", ""]])
    parsed = files.read(data, "s.csv")
    assert [r.row_no for r in parsed.rows] == [3, 5]
    assert [(e.row_no, e.column) for e in parsed.errors] == [(4, "kind"), (4, "amount"),
                                                              (4, "date")]
    json.dumps(parsed.as_dict())
    assert parsed.as_dict()["rows"][0]["occurred_on"] == "2026-11-01"


def test_empty_and_totals_rows_are_skipped_and_counted():
    data = csv_bytes([["订单号", "备注", "金额"], ["SO1", "", "1"], ["", "", ""], ["SO2", "", "2"],
                      ["合计：", "", "3"], ["", "Grand Total", "3"], ["SO3", "合计", "4"], [], []])
    parsed = files.read(data, "s.csv")
    assert [r.order_no for r in parsed.rows] == ["SO1", "SO2", "SO3"]
    assert parsed.errors == [] and parsed.skipped == 3  # the trailing empty lines are no rows


# -- file formats ----------------------------------------------------------------------------

def test_a_gbk_csv_is_read_as_gb18030():
    text = "订单号,金额,备注\r\nSO1,12.50,质量问题扣款\r\n"
    parsed = files.read(text.encode("gbk"), "对账单.csv")
    assert parsed.encoding == "gb18030" and parsed.rows[0].memo == "质量问题扣款"


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_the_delimiter_is_sniffed_and_quoted_fields_work(delimiter):
    data = csv_bytes([["标题, 含逗号"], ["订单号", "金额", "备注"], ["SO1", "1,234.50", "a, b"],
                      ["SO2", "2", "c"]], delimiter=delimiter)
    parsed = files.read(data, "s.txt")
    assert [(r.amount_minor, r.memo) for r in parsed.rows] == [(123450, "a, b"), (200, "c")]
    parsed = files.read(csv_bytes([["订单号", "金额", "备注"], ["SO1", "1,234.50", "a, b"]]), "x")
    assert (parsed.rows[0].amount_minor, parsed.rows[0].memo) == (123450, "a, b")


@pytest.mark.parametrize("data", [b"\xff\xfe\x00\x01", b"\x81\x20\xff\xff\x80garbage",
                                  b"ok,\x00\x00\x00", b""])
def test_undecodable_or_empty_bytes_are_422(data):
    assert refused(data).status == 422


def test_xlsx_merged_order_numbers_fill_down():
    data = xlsx_bytes([["11月对账单"], ["订单号", "SKU", "金额"], ["SO1", "A", 1], [None, "B", 2],
                       [None, "C", 3], ["SO2", "D", 4]], merges=["A3:A5", "A1:C1"])
    parsed = files.read(data, "s.xlsx")
    assert parsed.header_row == 2
    assert [(r.row_no, r.order_no, r.line_ref) for r in parsed.rows] == [
        (3, "SO1", "A"), (4, "SO1", "B"), (5, "SO1", "C"), (6, "SO2", "D")]


def test_a_formula_without_a_saved_value_is_a_row_error():
    data = xlsx_bytes([["订单号", "金额", "备注"], ["SO1", "=2*5", "=A2"], ["SO2", 5, None]])
    parsed = files.read(data, "s.xlsx")
    assert [r.order_no for r in parsed.rows] == ["SO2"]
    assert [(e.row_no, e.column, e.message) for e in parsed.errors] == [
        (2, "amount", files.FORMULA), (2, "memo", files.FORMULA)]


def test_legacy_xls_and_other_files_are_415():
    assert refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "a.xls").status == 415
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "hi")
    assert refused(out.getvalue(), "a.zip").status == 415
    assert refused(b"order,amount\n", "a.xlsx").status == 415
    assert refused(b"<html><table><tr><td>1</td></tr></table></html>", "a.xls").status == 415
    assert refused(b"PK\x03\x04broken", "a.xlsx").status == 400


def test_oversized_files_are_413(monkeypatch):
    data = csv_bytes([["订单号", "金额"]] + [[f"SO{i}", "1"] for i in range(5)])
    monkeypatch.setattr(files, "MAX_BYTES", len(data) - 1)
    assert refused(data).status == 413
    monkeypatch.setattr(files, "MAX_BYTES", 10 ** 6)
    monkeypatch.setattr(files, "MAX_ROWS", 4)
    e = refused(data)
    assert (e.status, e.code) == (413, "payload_too_large")
    assert refused(xlsx_bytes([["订单号", "金额"]] + [[f"SO{i}", 1] for i in range(30)]),
                   "s.xlsx").status == 413
    monkeypatch.setattr(files, "MAX_ROWS", 100)
    assert len(files.read(data, "s.csv").rows) == 5


def test_a_merged_cell_bomb_is_413_before_loading(monkeypatch):
    data = xlsx_bytes([["订单号", "金额"], ["SO1", 1]], merges=["C1:Z200"])
    assert len(files.read(data, "s.xlsx").rows) == 1
    monkeypatch.setattr(grids, "MAX_CELLS", 24 * 200 - 1)
    assert refused(data, "s.xlsx").status == 413


def test_too_many_xlsx_rows_are_refused_before_the_whole_load(monkeypatch):
    import openpyxl
    loads, load = [], openpyxl.load_workbook
    monkeypatch.setattr(openpyxl, "load_workbook",
                        lambda *a, **kw: loads.append(kw.get("read_only")) or load(*a, **kw))
    data = xlsx_bytes([["订单号", "金额"]] + [[f"SO{i}", 1] for i in range(40)])
    monkeypatch.setattr(grids, "MAX_ROWS", 10)
    assert refused(data, "s.xlsx").status == 413 and loads == [True]


def test_an_amount_merged_over_rows_is_an_error_on_each_not_counted_twice():
    data = xlsx_bytes([["订单号", "商品编码", "金额"], ["SO1", "A", 30], ["SO1", "B", None]],
                      merges=["C2:C3", "A2:A3"])
    parsed = files.read(data, "s.xlsx")
    assert [r.order_no for r in parsed.rows] == ["SO1"]  # the top row keeps its amount
    assert [(e.row_no, e.column) for e in parsed.errors] == [(3, "amount")]


@pytest.mark.parametrize("columns", [["amount"], "amount", 5])
def test_columns_that_are_not_an_object_are_a_422(columns):
    with pytest.raises(ApiError) as e:
        files.read(csv_bytes([["订单号", "金额"], ["SO1", "1"]]), "s.csv", columns=columns)
    assert e.value.status == 422
