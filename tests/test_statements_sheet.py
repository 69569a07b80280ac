"""Statements in the supplier sheet (``hub.domain.sheets.statements``): a sent statement is
exported as one ``statement`` row per line; importing answers it through
``hub.domain.finance.statements.answer`` once every line is answered (all confirm: confirmed;
else the disputed lines, with reason and amount, as disputes); a half-answered statement,
another supplier's statement, a line not of the statement or a bad answer are row errors,
and then nothing of the statement is applied; importing again changes nothing; a sheet
exported before the statement columns still imports."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from hub.core.errors import ApiError
from hub.domain import ledger
from hub.domain.finance import statements
from hub.domain.sheets import answers, files
from hub.domain.sheets.statements import parse_amount
from hub.models import (
    Account, Fulfilment, OutboxMessage, ReconciliationItem, Statement, StatementLine, Supplier,
)
from jobs import deliver_outbox
from tests import factories as f
from tests.test_statements import at, books, sent  # noqa: F401 (fixture)

ACTOR = "supplier:sheet"


@pytest.fixture
def sb(books, database):  # noqa: F811
    """``books`` with the supplier on the spreadsheet channel and November's statement
    sent: lines S-1 ¥100, S-2 ¥200, S-3 ¥300, CLM-77 −¥50."""
    with database.session() as s:
        channel = Account(merchant_id=books["merchant"], connector="spreadsheet",
                          kind="supplier", name="sheets", config={})
        s.add(channel)
        s.flush()
        s.get(Supplier, books["supplier"]).channel_account_id = channel.id
        channel_id = channel.id
    statement_id = sent(database, books)
    return {**books, "channel": channel_id, "statement": statement_id,
            "lines": lines_of(database, statement_id)}


def lines_of(database, statement_id) -> dict:
    with database.session(readonly=True) as s:
        return {x.document_ref: x.id for x in s.scalars(select(StatementLine).where(
            StatementLine.statement_id == statement_id).order_by(StatementLine.id))}


def post(database, sb, amount, day, month=11, supplier_id=None, document=999):
    with database.session() as s:
        ledger.post(s, sb["merchant"], ledger.Counterparty(
            "supplier", id=supplier_id or sb["supplier"]), "goods_payable", amount, "CNY",
            ("fulfilment", document), "more goods", "test", occurred_at=at(day, month))


def f_supplier(database, sb) -> int:
    with database.session() as s:
        return f.supplier(s, sb["merchant"]).id


def build(database, supplier_id, period, send=True) -> int:
    with database.session() as s:
        [made] = [x for x in statements.build(s, s.get(Supplier, supplier_id), period, "f")
                  if x.period == period]
        if send:
            statements.send(s, made, "finance@test", early=True)
        return made.id


def export(database, sb, kind="xlsx") -> bytes:
    with database.session(readonly=True) as s:
        rows = files.pending_rows(s, s.get(Supplier, sb["supplier"]))
        return files.to_xlsx(rows) if kind == "xlsx" else files.to_csv(rows)


def xlsx_rows(data: bytes, section="statement") -> list[dict]:
    values = list(load_workbook(io.BytesIO(data))["answers"].iter_rows(values_only=True))
    keys = [str(h).split(" ")[0] for h in values[0]]
    return [row for row in (dict(zip(keys, r)) for r in values[1:])
            if section is None or row["section"] == section]


def fill(data: bytes, answers_by_line: dict) -> bytes:
    """``answers_by_line``: ``{line_id: {column: value}}`` written into an exported XLSX."""
    book = load_workbook(io.BytesIO(data))
    sheet = book["answers"]
    keys = [str(c.value).split(" ")[0] for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        values = dict(zip(keys, (c.value for c in row)))
        if values["section"] == "statement":
            for column, value in answers_by_line.get(int(values["line_id"]), {}).items():
                row[keys.index(column)].value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_sheet(rows: list[dict], keys=files.KEYS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([files.HEADERS[files.KEYS.index(k)] for k in keys])
    for row in rows:
        writer.writerow([row.get(k, "") for k in keys])
    return out.getvalue().encode("utf-8-sig")


def rows_for(sb, answers_by_ref: dict, statement_id=None) -> list[dict]:
    return [{"section": "statement", "statement_id": statement_id or sb["statement"],
             "line_id": sb["lines"][ref], **answer} for ref, answer in answers_by_ref.items()]


def imported(database, sb, data: bytes, name="answers.xlsx", apply="all") -> dict:
    with database.session() as s:
        return answers.import_sheet(s, s.get(Supplier, sb["supplier"]), data, name, ACTOR,
                                    apply=apply)


def refused(database, sb, data: bytes, name="answers.csv") -> dict:
    with pytest.raises(ApiError) as e:
        imported(database, sb, data, name)
    assert e.value.status == 422 and e.value.code == "sheet_has_errors"
    assert "nothing was applied" in e.value.message
    return e.value.details


def said(report: dict) -> dict:
    out = {}
    for e in report["errors"]:
        out.setdefault(e["row"], []).append((e["column"], e["message"]))
    return out


def state(database, statement_id) -> tuple:
    """The statement's status and ``{document_ref: (answer, reason, amount)}``."""
    with database.session(readonly=True) as s:
        lines = s.scalars(select(StatementLine).where(
            StatementLine.statement_id == statement_id).order_by(StatementLine.id))
        return s.get(Statement, statement_id).status, {
            x.document_ref: (x.answer, x.answer_reason, x.answer_amount_minor) for x in lines}


def items(database) -> list[tuple]:
    with database.session(readonly=True) as s:
        return [(i.outcome, i.hub_line_ids, i.hub_minor, i.supplier_minor,
                 i.difference_minor, i.dispute)
                for i in s.scalars(select(ReconciliationItem).order_by(ReconciliationItem.id))]


ALL_CONFIRM = {"S-1": {"answer": "confirm"}, "S-2": {"answer": "确认"},
               "S-3": {"answer": "confirm"}, "CLM-77": {"answer": "confirm"}}


# -- export ----------------------------------------------------------------------------------------

def test_the_lines_of_a_sent_statement_are_exported_one_row_each(database, sb):
    post(database, sb, 700, 3, 12)
    build(database, sb["supplier"], "2026-12", send=False)   # a draft: not the supplier's yet
    other = f_supplier(database, sb)
    post(database, sb, 900, 4, supplier_id=other)
    build(database, other, "2026-11")                         # another supplier's
    data = export(database, sb)
    everything = xlsx_rows(data, section=None)
    assert [r["section"] for r in everything] == ["dispatch"] * 3 + ["statement"] * 4
    rows = everything[3:]
    assert [(r["statement_id"], r["line_id"], r["platform_order_id"], r["amount"],
             r["amount_minor"], r["currency"], r["status"]) for r in rows] == [
        (str(sb["statement"]), str(sb["lines"][x["ref"]]), x["order"],
         f"{x['amount'] // 100}.00", str(x["amount"]), "CNY", "sent") for x in sb["rows"]
    ] + [(str(sb["statement"]), str(sb["lines"]["CLM-77"]), None, "-50.00", "-5000", "CNY",
          "sent")]
    assert rows[0]["notice"] == ("对账期 period 2026-11; 货款 goods_payable; 单据 ref S-1; "
                                 "运单 waybill SF000000000001")
    assert rows[3]["notice"] == "对账期 period 2026-11; 索赔扣款 claim_deduction; 单据 ref CLM-77"
    assert all(r["answer"] is None and r["accepted_amount"] is None for r in rows)
    help_text = " ".join(r[0] for r in load_workbook(io.BytesIO(data))["help"].iter_rows(
        values_only=True))
    assert "statement (对账单)" in help_text and "-30.00" in help_text

    text = export(database, sb, "csv").decode("utf-8-sig")
    in_csv = [r for r in csv.DictReader(io.StringIO(text)) if r[files.HEADERS[0]] == "statement"]
    assert [(r["statement_id (对账单号)"], r["line_id (明细号)"], r["amount (金额(元))"],
             r["amount_minor (金额(分))"]) for r in in_csv] == [
        (r["statement_id"], r["line_id"], r["amount"], r["amount_minor"]) for r in rows]
    assert "'-50" not in text  # a plain negative number is no formula: written as it is


def test_a_late_line_says_so(database, sb):
    post(database, sb, 900, 26)  # November, after its statement was sent
    december = build(database, sb["supplier"], "2026-12")
    [row] = [r for r in xlsx_rows(export(database, sb)) if r["statement_id"] == str(december)]
    assert row["notice"].endswith("补记 late (2026-11-26)") and row["amount"] == "9.00"


# -- answers ---------------------------------------------------------------------------------------

def test_every_line_confirmed_confirms_the_statement_once(app, database, sb):
    while deliver_outbox.run(app, "test-worker"):
        pass
    filled = fill(export(database, sb), {sb["lines"][ref]: answer
                                         for ref, answer in ALL_CONFIRM.items()})
    report = imported(database, sb, filled)
    assert report["counts"] == {"applied": 4, "unchanged": 0, "skipped": 3, "error": 0,
                                "not_applied": 0}
    assert report["results"][3:] == [
        {"row": 5 + n, "section": "statement", "fulfilment_id": None, "return_case_id": None,
         "statement_id": sb["statement"], "line_id": line_id, "action": "statement_confirm",
         "outcome": "applied", "errors": []}
        for n, line_id in enumerate(sb["lines"].values())]
    status, lines = state(database, sb["statement"])
    assert status == "supplier_confirmed"
    assert set(lines.values()) == {("confirmed", None, None)}
    assert items(database) == []
    with database.session(readonly=True) as s:
        st = s.get(Statement, sb["statement"])
        answered = (st.answered_at, st.answered_by)
        notice = s.scalar(select(OutboxMessage).where(
            OutboxMessage.topic == "statement_notice", OutboxMessage.entity_id == st.id))
        assert answered[1] == ACTOR and notice.acknowledged_at is not None

    again = imported(database, sb, filled)  # the same sheet again: nothing new
    assert again["counts"]["unchanged"] == 4 and not again["applied"]
    with database.session(readonly=True) as s:
        st = s.get(Statement, sb["statement"])
        assert (st.status, st.answered_at, st.answered_by) == ("supplier_confirmed", *answered)
    assert xlsx_rows(export(database, sb)) == []  # answered: nothing left to answer


def test_a_disputed_line_opens_a_dispute_with_the_suppliers_amount(database, sb):
    rows = rows_for(sb, {"S-1": {"answer": "confirm"},
                         "S-2": {"answer": "dispute", "reason": "单价应为 190 元",
                                 "accepted_amount": "190.00"},
                         "S-3": {"answer": "confirm"},
                         "CLM-77": {"answer": "异议", "reason": "只应扣 30 元",
                                    "accepted_amount": "-30"}})
    report = imported(database, sb, csv_sheet(rows), "a.csv")
    assert report["counts"]["applied"] == 4
    assert [r["action"] for r in report["results"]] == [
        "statement_confirm", "statement_dispute", "statement_confirm", "statement_dispute"]
    status, lines = state(database, sb["statement"])
    assert status == "disputed"
    assert lines == {"S-1": ("confirmed", None, None),
                     "S-2": ("disputed", "单价应为 190 元", 19000),
                     "S-3": ("confirmed", None, None),
                     "CLM-77": ("disputed", "只应扣 30 元", -3000)}
    assert items(database) == [
        ("supplier_dispute", [sb["lines"]["S-2"]], 20000, 19000, -1000, "open"),
        ("supplier_dispute", [sb["lines"]["CLM-77"]], -5000, -3000, 2000, "open")]

    again = imported(database, sb, csv_sheet(rows), "a.csv")
    assert again["counts"]["unchanged"] == 4 and not again["applied"]
    assert len(items(database)) == 2 and xlsx_rows(export(database, sb)) == []
    rows[1]["reason"] = "另一个原因"  # a different answer to an answered statement
    report = refused(database, sb, csv_sheet(rows))
    assert said(report) == {3: [("answer", f"statement {sb['statement']} is disputed: export "
                                           "a fresh sheet")]}
    assert [r["outcome"] for r in report["results"]] == ["unchanged", "error", "unchanged",
                                                        "unchanged"]


def test_a_dispute_without_an_amount_says_the_line_should_not_be_there(database, sb):
    answered = {**ALL_CONFIRM, "S-3": {"answer": "dispute", "reason": "未发货 never shipped"}}
    imported(database, sb, csv_sheet(rows_for(sb, answered)), "a.csv")
    assert state(database, sb["statement"])[1]["S-3"] == (
        "disputed", "未发货 never shipped", None)
    assert items(database) == [
        ("supplier_dispute", [sb["lines"]["S-3"]], 30000, 0, -30000, "open")]


def test_a_statement_answered_on_the_api_meanwhile_is_not_answered_again(database, sb):
    with database.session() as s:
        statements.answer(s, s.get(Statement, sb["statement"]), "supplier:api")
    report = imported(database, sb, csv_sheet(rows_for(sb, ALL_CONFIRM)), "a.csv")
    assert report["counts"]["unchanged"] == 4 and not report["applied"]
    disputed = {**ALL_CONFIRM, "S-1": {"answer": "dispute", "reason": "x"}}
    report = refused(database, sb, csv_sheet(rows_for(sb, disputed)))
    assert said(report) == {2: [("answer", f"statement {sb['statement']} is "
                                           "supplier_confirmed: export a fresh sheet")]}
    assert state(database, sb["statement"])[0] == "supplier_confirmed" and items(database) == []


def test_a_statement_answered_between_check_and_apply_is_an_error_on_each_row(
        monkeypatch, database, sb):
    checked = answers.check_rows

    def then_answered(session, supplier, rows):  # the supplier API wins the race
        checks = checked(session, supplier, rows)
        statements.answer(session, session.get(Statement, sb["statement"]), "supplier:api")
        return checks

    monkeypatch.setattr(answers, "check_rows", then_answered)
    with database.session(readonly=True) as s:
        fulfilment_id = s.scalar(select(func.min(Fulfilment.id)).where(
            Fulfilment.supplier_id == sb["supplier"]))
    rows = [{"section": "dispatch", "fulfilment_id": fulfilment_id, "answer": "accept"},
            *rows_for(sb, {**ALL_CONFIRM, "S-2": {"answer": "dispute", "reason": "x"}})]
    report = imported(database, sb, csv_sheet(rows), "a.csv", apply="valid")
    assert [r["outcome"] for r in report["results"]] == ["applied"] + ["error"] * 4
    follow = [("answer", f"statement {sb['statement']} was not answered (row 3)")]
    assert said(report) == {3: [("answer", f"statement {sb['statement']} is "
                                           "supplier_confirmed: export a fresh sheet")],
                            4: follow, 5: follow, 6: follow}
    assert state(database, sb["statement"])[1]["S-2"] == ("confirmed", None, None)
    assert items(database) == []


# -- errors ----------------------------------------------------------------------------------------

def test_a_half_answered_statement_is_an_error_and_nothing_is_applied(database, sb):
    data = export(database, sb)
    [dispatch, *_] = xlsx_rows(data, "dispatch")
    filled = fill(data, {sb["lines"]["S-1"]: {"answer": "confirm"},
                         sb["lines"]["S-2"]: {"answer": "dispute", "reason": "x"}})
    book = load_workbook(io.BytesIO(filled))
    book["answers"].cell(2, files.KEYS.index("answer") + 1).value = "accept"  # a dispatch row
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(ApiError) as e:
        imported(database, sb, out.getvalue())
    report = e.value.details
    message = f"answer every line of statement {sb['statement']} (or none)"
    assert said(report) == {row: [("answer", message)] for row in (5, 6, 7, 8)}
    assert [r["outcome"] for r in report["results"]] == ["not_applied", "skipped", "skipped"] + [
        "error"] * 4
    assert state(database, sb["statement"])[0] == "sent" and items(database) == []

    valid = imported(database, sb, out.getvalue(), apply="valid")  # the dispatch row only
    assert valid["counts"]["applied"] == 1 and valid["counts"]["error"] == 4
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, int(dispatch["fulfilment_id"])).status == "accepted"
    status, lines = state(database, sb["statement"])
    assert status == "sent" and {x[0] for x in lines.values()} == {None}


def test_a_line_left_out_of_the_sheet_is_an_error(database, sb):
    confirmed = {ref: answer for ref, answer in ALL_CONFIRM.items() if ref != "S-3"}
    report = refused(database, sb, csv_sheet(rows_for(sb, confirmed)))
    message = (f"answer every line of statement {sb['statement']} (or none): line "
               f"{sb['lines']['S-3']} is not in the sheet (export a fresh sheet)")
    assert said(report) == {row: [("answer", message)] for row in (2, 3, 4)}
    assert state(database, sb["statement"])[0] == "sent"


def test_bad_answers_are_row_errors_and_the_statement_waits_for_all(database, sb):
    rows = rows_for(sb, {"S-1": {"answer": "dispute"},
                         "S-2": {"answer": "confirm", "accepted_amount": "5",
                                 "reason": "ok"},
                         "S-3": {"answer": "dispute", "reason": "r",
                                 "accepted_amount": "12.345"},
                         "CLM-77": {"answer": "dispute", "reason": "r",
                                    "accepted_amount": "30"}})
    report = refused(database, sb, csv_sheet(rows))
    assert said(report) == {
        2: [("reason", "a dispute needs a reason")],
        3: [("reason", "a confirmed line takes no reason: leave it empty, or answer dispute"),
            ("accepted_amount", "a confirmed line takes no accepted_amount: leave it empty, "
                                "or answer dispute")],
        4: [("accepted_amount", "accepted_amount '12.345' is not an amount in yuan with at "
                                "most two decimals, e.g. 12.50 (a deduction: -12.50)")],
        5: [("accepted_amount", f"accepted_amount 30: line {sb['lines']['CLM-77']} is -50.00; "
                                "the right amount has its sign, or is 0 (a deduction is "
                                "negative, e.g. -12.50)")]}

    one_bad = rows_for(sb, {**ALL_CONFIRM, "S-2": {"answer": "maybe"}})
    report = refused(database, sb, csv_sheet(one_bad))
    others = [("answer", f"statement {sb['statement']} has errors on row 3: none of its "
                         "lines is answered until they are fixed")]
    assert said(report) == {2: others, 3: [("answer", "answer 'maybe' is not one of confirm, "
                                                      "dispute")], 4: others, 5: others}
    twice = rows_for(sb, ALL_CONFIRM) + rows_for(sb, {"S-1": {"answer": "confirm"}})
    report = refused(database, sb, csv_sheet(twice))
    assert said(report)[2] == [("answer", f"line {sb['lines']['S-1']} of statement "
                                          f"{sb['statement']} is answered on rows 2, 6; answer "
                                          "it once")]
    assert state(database, sb["statement"])[0] == "sent" and items(database) == []


def test_another_suppliers_statement_a_draft_or_a_foreign_line_is_an_error(database, sb):
    other = f_supplier(database, sb)
    post(database, sb, 900, 4, supplier_id=other)
    theirs = build(database, other, "2026-11")
    [their_line] = lines_of(database, theirs).values()
    post(database, sb, 700, 3, 12)
    draft = build(database, sb["supplier"], "2026-12", send=False)
    [draft_line] = lines_of(database, draft).values()
    with database.session(readonly=True) as s:
        code = s.get(Supplier, sb["supplier"]).code
    rows = rows_for(sb, ALL_CONFIRM) + [
        {"section": "statement", "statement_id": theirs, "line_id": their_line,
         "answer": "confirm"},                                                         # 6
        {"section": "statement", "statement_id": sb["statement"], "line_id": their_line,
         "answer": "confirm"},                                                         # 7
        {"section": "statement", "statement_id": draft, "line_id": draft_line,
         "answer": "confirm"},                                                         # 8
        {"section": "对账单", "statement_id": 999999, "line_id": 1, "answer": "confirm"},  # 9
        {"section": "statement", "statement_id": sb["statement"], "answer": "confirm"}]  # 10
    report = refused(database, sb, csv_sheet(rows))
    errors = said(report)
    assert errors[6] == [("statement_id", f"statement {theirs} is not a statement to "
                                          f"supplier {code}")]
    assert errors[7] == [("line_id", f"line {their_line} is not a line of statement "
                                     f"{sb['statement']}")]
    assert errors[8] == [("statement_id", f"statement {draft} is not a statement to "
                                          f"supplier {code}")]
    assert errors[9] == [("statement_id", f"statement 999999 is not a statement to "
                                          f"supplier {code}")]
    assert errors[10] == [("line_id", f"line (none) is not a line of statement "
                                      f"{sb['statement']}")]
    assert all(m == [("answer", f"statement {sb['statement']} has errors on row 7, 10: none "
                                "of its lines is answered until they are fixed")]
               for m in (errors[2], errors[3], errors[4], errors[5]))
    assert [state(database, x)[0] for x in (sb["statement"], theirs, draft)] == [
        "sent", "sent", "draft"]


def test_apply_valid_answers_the_whole_statements_only(database, sb):
    post(database, sb, 900, 26)  # late: on December's statement
    december = build(database, sb["supplier"], "2026-12")
    [late_line] = lines_of(database, december).values()
    rows = rows_for(sb, {"S-1": {"answer": "confirm"}}) + [
        {"section": "statement", "statement_id": december, "line_id": late_line,
         "answer": "dispute", "reason": "不是我们的货"}]
    report = imported(database, sb, csv_sheet(rows), "a.csv", apply="valid")
    assert [r["outcome"] for r in report["results"]] == ["error", "applied"]
    assert state(database, sb["statement"])[0] == "sent"
    assert state(database, december) == ("disputed", {"FUL-999": (
        "disputed", "不是我们的货", None)})


# -- older sheets, amounts -------------------------------------------------------------------------

def test_a_sheet_exported_before_the_statement_columns_still_imports(database, sb):
    old_keys = [k for k in files.KEYS if k not in files.STATEMENT_KEYS]
    with database.session(readonly=True) as s:
        fulfilment_id = s.scalar(select(func.min(Fulfilment.id)).where(
            Fulfilment.supplier_id == sb["supplier"]))
    data = csv_sheet([{"section": "dispatch", "fulfilment_id": fulfilment_id,
                       "answer": "accept"}], keys=old_keys)
    report = imported(database, sb, data, "old.csv")
    assert report["counts"]["applied"] == 1
    assert "statement_id" not in report["results"][0]
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, fulfilment_id).status == "accepted"
    assert state(database, sb["statement"])[0] == "sent"


@pytest.mark.parametrize("text, fen", [
    ("-30", -3000), ("-12.5", -1250), ("\u221212.50", -1250), ("－5", -500), ("12", 1200),
    ("-0", 0), ("-¥1,234.56", -123456),
])
def test_a_disputed_amount_may_be_negative(text, fen):
    assert parse_amount(text) == fen


@pytest.mark.parametrize("text", ["--5", "-", "-12.345", "+5", "5-", "¥-5", ""])
def test_what_is_not_an_amount_is_refused(text):
    with pytest.raises(ValueError):
        parse_amount(text)
