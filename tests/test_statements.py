"""Supplier statements (issue 14): built from the ledger, sent, answered, imported and
matched against the supplier's own file, disputes decided, the period closed and reopened,
late lines carried to the next period; on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from hub.core.errors import ApiError, Conflict
from hub.domain import ledger
from hub.domain.finance import disputes, imports, profiles, reconcile, statements
from hub.domain.finance.periods import Period
from hub.models import (
    AuditEntry, Fulfilment, LedgerEntry, ReconciliationItem, Statement, StatementLine,
    Supplier,
)
from tests import factories as f

HEADER = ["单据号", "订单号", "快递单号", "金额", "类型", "日期", "备注"]


def at(day: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, 4, tzinfo=timezone.utc)


@pytest.fixture
def books(app, database):
    """A supplier with three shipped fulfilments in November 2026 (goods payable ¥100,
    ¥200, ¥300) and a claim deduction of ¥50 on the first."""
    with database.session() as s:
        m = f.merchant(s)
        shop, sup = f.shop(s, m.id), f.supplier(s, m.id)
        rows = []
        for n, amount in enumerate((10000, 20000, 30000), 1):
            order = f.order(s, m.id, shop.id, supplier_id=sup.id)
            ful = s.scalar(select(Fulfilment).where(Fulfilment.order_id == order.id))
            ful.supplier_reference = f"S-{n}"
            parcel = f.shipment(s, m.id, order.id, fulfilment_id=ful.id,
                                tracking=f"SF{n:012d}")
            ledger.post(s, m.id, ledger.Counterparty("supplier", id=sup.id), "goods_payable",
                        amount, "CNY", ("fulfilment", ful.id), f"goods {n}", "test",
                        occurred_at=at(n + 1))
            rows.append({"ref": f"S-{n}", "order": order.platform_order_id,
                         "waybill": parcel.tracking_number, "amount": amount})
        ledger.post(s, m.id, ledger.Counterparty("supplier", id=sup.id), "claim_deduction",
                    -5000, "CNY", ("claim", 77), "claim 77", "test", occurred_at=at(20))
        ids = {"merchant": m.id, "supplier": sup.id, "rows": rows}
    return ids


def csv_file(rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def supplier_rows(books, **changes) -> list[list]:
    """The supplier's file agreeing with the hub; ``changes``: ref → amount in yuan, or
    None to leave the row out."""
    rows = [[r["ref"], r["order"], r["waybill"], f"{r['amount'] / 100:.2f}", "货款",
             "2026-11-05", ""] for r in books["rows"]]
    rows.append(["CLM-77", "", "", "50.00", "扣款", "2026-11-20", "索赔"])
    out = []
    for row in rows:
        if row[0] in changes:
            if changes[row[0]] is None:
                continue
            row[3] = changes[row[0]]
        out.append(row)
    return out


def built(database, books, period="2026-11") -> int:
    with database.session() as s:
        sup = s.get(Supplier, books["supplier"])
        made = statements.build(s, sup, period, "finance@test")
        return made[0].id


def sent(database, books) -> int:
    statement_id = built(database, books)
    with database.session() as s:
        statements.send(s, s.get(Statement, statement_id), "finance@test")
    return statement_id


def imported(database, books, data: bytes, **options) -> dict:
    with database.session() as s:
        return imports.import_file(s, s.get(Supplier, books["supplier"]), data, "bill.csv",
                                   "finance@test", **options)


def matched(database, statement_id) -> dict:
    with database.session() as s:
        return reconcile.run(s, s.get(Statement, statement_id), "finance@test").as_dict()


def test_a_statement_is_built_from_the_ledger_with_the_suppliers_keys(database, books):
    statement_id = built(database, books)
    with database.session(readonly=True) as s:
        st = s.get(Statement, statement_id)
        lines = list(s.scalars(select(StatementLine).where(
            StatementLine.statement_id == st.id).order_by(StatementLine.id)))
        assert (st.status, st.period, st.currency) == ("draft", "2026-11", "CNY")
        assert (st.opening_minor, st.payables_minor, st.deductions_minor,
                st.adjustments_minor, st.closing_minor) == (0, 60000, -5000, 0, 55000)
        assert [(x.document_ref, x.order_no, x.waybill, x.amount_minor) for x in lines] == [
            (r["ref"], r["order"], r["waybill"], r["amount"]) for r in books["rows"]
        ] + [("CLM-77", None, None, -5000)]
        assert st.starts_at == datetime(2026, 10, 31, 16, tzinfo=timezone.utc)  # China time


def test_rebuilding_a_draft_restates_it_and_a_sent_one_is_fixed(database, books):
    first = built(database, books)
    with database.session() as s:
        ledger.post(s, books["merchant"], ledger.Counterparty("supplier", id=books["supplier"]),
                    "goods_payable", 700, "CNY", ("fulfilment", 999), "more", "test",
                    occurred_at=at(25))
    assert built(database, books) == first
    with database.session() as s:
        st = s.get(Statement, first)
        assert st.closing_minor == 55700
        statements.send(s, st, "finance@test")
    with database.session() as s:
        ledger.post(s, books["merchant"], ledger.Counterparty("supplier", id=books["supplier"]),
                    "goods_payable", 900, "CNY", ("fulfilment", 998), "late", "test",
                    occurred_at=at(26))
    built(database, books)
    with database.session(readonly=True) as s:
        assert s.get(Statement, first).closing_minor == 55700  # sent: fixed
    december = built(database, books, "2026-12")
    with database.session(readonly=True) as s:
        st = s.get(Statement, december)
        late = s.scalars(select(StatementLine).where(StatementLine.statement_id == december))
        assert [(x.amount_minor, x.late) for x in late] == [(900, True)]
        assert (st.opening_minor, st.closing_minor) == (55700, 56600)


def test_the_next_period_opens_with_the_last_closing_even_a_draft_s(database, books):
    built(database, books)  # November, not sent
    with database.session() as s:
        ledger.post(s, books["merchant"], ledger.Counterparty("supplier", id=books["supplier"]),
                    "goods_payable", 400, "CNY", ("fulfilment", 997), "december", "test",
                    occurred_at=at(3, 12))
    december = built(database, books, "2026-12")
    with database.session(readonly=True) as s:
        st = s.get(Statement, december)
        assert (st.opening_minor, st.payables_minor, st.closing_minor) == (55000, 400, 55400)


def test_a_period_not_ended_is_not_sent_and_the_cycle_is_kept(database, books):
    with database.session() as s:
        sup = s.get(Supplier, books["supplier"])
        now = Period.containing(datetime.now(timezone.utc), "monthly")
        statement = statements.build(s, sup, now.key, "finance@test")[0]
        with pytest.raises(Conflict, match="has not ended"):
            statements.send(s, statement, "finance@test")
        statements.send(s, statement, "finance@test", early=True)  # an interim one
        assert statement.status == "sent"
        with pytest.raises(Conflict, match="has not ended"):  # nor closed, unless early
            statements.close(s, statement, "finance@test")
        with pytest.raises(ApiError, match="monthly"):
            statements.build(s, sup, "2026-11-H1", "finance@test")
        profiles.update(s, sup, "finance@test", cycle="semimonthly")
        assert [x.period for x in statements.build(s, sup, "2026-11-H1", "f")] == ["2026-11-H1"]


def test_an_agreeing_file_matches_every_line_and_the_period_closes(database, books):
    statement_id = sent(database, books)
    report = imported(database, books, csv_file(supplier_rows(books)))
    assert (report["rows_valid"] if "rows_valid" in report else len(report["rows"])) == 4
    summary = matched(database, statement_id)
    assert summary["lines"] == {"matched": 8}
    assert summary["open_disputes"] == 0
    with database.session() as s:
        st = s.get(Statement, statement_id)
        statements.confirm(s, st, "finance@test")
        statements.close(s, st, "finance@test")
        assert st.status == "closed"
    with database.session() as s, pytest.raises(Conflict, match="closed"):
        reconcile.run(s, s.get(Statement, statement_id), "finance@test")


def test_differences_are_written_off_or_disputed_and_matching_again_changes_nothing(
        database, books):
    statement_id = sent(database, books)
    rows = supplier_rows(books, **{"S-1": "100.50", "S-2": "230.00", "S-3": None})
    rows.append(["X-9", "", "", "12.00", "货款", "2026-11-09", ""])
    rows.append(rows[-1][:])  # the same row twice: a duplicate
    imported(database, books, csv_file(rows))
    first = matched(database, statement_id)
    assert first["lines"] == {"written_off": 2, "matched_with_difference": 2, "matched": 2,
                              "only_in_hub": 1, "only_in_supplier": 1, "duplicate": 1}
    assert first["written_off_minor"] == 50 and first["open_disputes"] == 4
    with database.session(readonly=True) as s:
        assert s.get(Statement, statement_id).status == "disputed"
        write_offs = s.scalars(select(LedgerEntry).where(
            LedgerEntry.document_kind == "reconciliation")).all()
        assert [(e.entry_type, e.amount_minor) for e in write_offs] == [("write_off", 50)]
        items = {i.outcome: i for i in s.scalars(select(ReconciliationItem))}
        assert "beyond the tolerance ¥1.00" in items["matched_with_difference"].why_en
        assert "超出容差" in items["matched_with_difference"].why_zh
        ids = sorted(i.id for i in s.scalars(select(ReconciliationItem)))
    again = matched(database, statement_id)
    assert again["lines"] == first["lines"] and again["written_off_minor"] == 50
    with database.session(readonly=True) as s:
        assert sorted(i.id for i in s.scalars(select(ReconciliationItem))) == ids
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.document_kind == "reconciliation")) == 1


def test_a_period_closes_only_when_every_dispute_is_decided(database, books):
    statement_id = sent(database, books)
    imported(database, books, csv_file(supplier_rows(books, **{"S-2": "230.00"})))
    matched(database, statement_id)
    with database.session() as s:
        st = s.get(Statement, statement_id)
        with pytest.raises(Conflict, match="open dispute"):
            statements.confirm(s, st, "finance@test")
        item = s.scalar(select(ReconciliationItem).where(ReconciliationItem.dispute == "open"))
        disputes.decide(s, item, "adjust", "finance@test", "the supplier's price was agreed")
        with pytest.raises(Conflict, match="no open dispute"):
            disputes.decide(s, item, "keep", "finance@test", "twice")
    with database.session() as s:
        st = s.get(Statement, statement_id)
        assert st.closing_minor == 55000 + 3000  # the supplier's figure taken, stated
        statements.confirm(s, st, "finance@test")
        statements.close(s, st, "finance@test")
    with database.session() as s:
        st = s.get(Statement, statement_id)
        with pytest.raises(ApiError, match="reason"):
            statements.reopen(s, st, "finance@test", "  ")
        statements.reopen(s, st, "finance@test", "the supplier found a missing credit note")
        assert st.status == "finance_confirmed"
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "statement.finance_confirmed",
                                                  AuditEntry.entity_id == statement_id)
                         .order_by(AuditEntry.id.desc()))
        assert audit.changes["reason"] == "the supplier found a missing credit note"


def test_a_statement_never_matched_nor_confirmed_does_not_close(database, books):
    statement_id = sent(database, books)
    with database.session() as s:
        st = s.get(Statement, statement_id)
        statements.confirm(s, st, "finance@test")
        with pytest.raises(Conflict, match="neither matched"):
            statements.close(s, st, "finance@test")


def test_the_supplier_confirms_or_disputes_lines(database, books):
    statement_id = sent(database, books)
    with database.session() as s:
        st = s.get(Statement, statement_id)
        line = s.scalar(select(StatementLine).where(StatementLine.document_ref == "S-2"))
        with pytest.raises(ApiError, match="no such line"):
            statements.answer(s, st, "supplier", [{"line_id": 10 ** 9, "reason": "x"}])
        statements.answer(s, st, "supplier", [{"line_id": line.id, "reason": "价格应为 190",
                                               "amount_minor": 19000}])
        assert st.status == "disputed"
        item = s.scalar(select(ReconciliationItem))
        assert (item.outcome, item.difference_minor, item.dispute) == (
            "supplier_dispute", -1000, "open")
        disputes.decide(s, item, "keep", "finance@test", "the contract price is 200")
        statements.confirm(s, st, "finance@test")
        statements.close(s, st, "finance@test")  # the other lines confirmed, one decided
        assert st.status == "closed"


def test_a_file_with_bad_rows_applies_nothing_unless_asked(database, books):
    statement_id = sent(database, books)
    rows = supplier_rows(books)
    rows.append(["S-9", "", "", "abc", "货款", "2026-11-05", ""])
    with pytest.raises(ApiError, match="invalid") as refused:
        imported(database, books, csv_file(rows))
    assert any("row 6" in text for text in refused.value.details["rows"])
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(StatementLine)) == 4
    report = imported(database, books, csv_file(rows), apply_valid=True,
                      columns={"memo": "备注"})
    assert report["statement_id"] == statement_id and not report["again"]
    assert imported(database, books, csv_file(rows), apply_valid=True)["again"]
    with database.session(readonly=True) as s:
        kept = profiles.profile_of(s, s.get(Supplier, books["supplier"])).columns
        assert kept == {"memo": "备注"}


def test_a_second_file_is_refused_once_the_first_was_decided_on(database, books):
    statement_id = sent(database, books)
    imported(database, books, csv_file(supplier_rows(books, **{"S-1": "100.50"})))
    matched(database, statement_id)  # a write-off posted
    with pytest.raises(Conflict, match="count them twice"):
        imported(database, books, csv_file(supplier_rows(books)))


def test_two_matches_racing_post_each_write_off_once(database, books):
    if not database.is_postgres:
        pytest.skip("a race of concurrent writers needs PostgreSQL")
    from tests.race import race

    statement_id = sent(database, books)
    imported(database, books, csv_file(supplier_rows(books, **{"S-1": "100.50"})))
    found = []

    def second():
        found.append(matched(database, statement_id))

    race(database, lambda s: found.append(
        reconcile.run(s, s.get(Statement, statement_id), "holder").as_dict()), second)
    assert [r["written_off_minor"] for r in found] == [50, 50]  # the second saw the first's
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.document_kind == "reconciliation")) == 1
        assert s.scalar(select(func.count()).select_from(ReconciliationItem)) == 4


def test_a_dispute_decided_twice_at_once_posts_once(database, books):
    if not database.is_postgres:
        pytest.skip("a race of concurrent writers needs PostgreSQL")
    from tests.race import race

    statement_id = sent(database, books)
    imported(database, books, csv_file(supplier_rows(books, **{"S-2": "230.00"})))
    matched(database, statement_id)
    with database.session(readonly=True) as s:
        item_id = s.scalar(select(ReconciliationItem.id).where(
            ReconciliationItem.dispute == "open"))
    refused = []

    def second():
        with database.session() as s:
            try:
                disputes.decide(s, s.get(ReconciliationItem, item_id), "adjust", "b", "b")
            except Conflict as e:
                refused.append(e)

    race(database, lambda s: disputes.decide(s, s.get(ReconciliationItem, item_id), "adjust",
                                             "a", "a"), second)
    assert len(refused) == 1
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.document_kind == "reconciliation")) == 1
        assert s.get(Statement, statement_id).closing_minor == 58000


def test_malformed_files_import_what_a_clerk_would_expect(database, books):
    """A GBK CSV with thousands separators and a negative in parentheses; an XLSX whose
    order number is merged over two lines, with an empty row and a formula left unsaved."""
    from openpyxl import Workbook

    from hub.models import SupplierFile, SupplierLine

    statement_id = sent(database, books)
    r = books["rows"]
    text = ("单据号,订单号,金额,类型,日期\n"
            f'{r[0]["ref"]},{r[0]["order"]},"1,000.00",货款,2026/11/2\n'
            f'X-1,{r[1]["order"]},(12.30),调整,2026年11月3日\n')
    report = imported(database, books, text.encode("gbk"))
    assert report["encoding"] == "gb18030" and report["statement_id"] == statement_id
    with database.session(readonly=True) as s:
        got = [(x.document_ref, x.amount_minor) for x in s.scalars(
            select(SupplierLine).order_by(SupplierLine.row_no))]
        assert got == [(r[0]["ref"], 100000), ("X-1", -1230)]

    book = Workbook()
    sheet = book.active
    sheet.append(["订单号", "快递单号", "金额(分)", "日期"])
    sheet.append([r[2]["order"], "SF9", 100, "2026-11-04"])
    sheet.append([None, "SF8", 200, "2026-11-04"])
    sheet.append([])
    sheet.append([r[0]["order"], "SF7", "=1+1", "2026-11-04"])
    sheet.merge_cells("A2:A3")
    out = io.BytesIO()
    book.save(out)
    with database.session() as s:
        with pytest.raises(ApiError, match="invalid"):
            imports.import_file(s, s.get(Supplier, books["supplier"]), out.getvalue(),
                                "bill.xlsx", "finance@test")
    with database.session() as s:
        report = imports.import_file(s, s.get(Supplier, books["supplier"]), out.getvalue(),
                                     "bill.xlsx", "finance@test", apply_valid=True)
    with database.session(readonly=True) as s:
        xlsx = s.get(SupplierFile, report["file_id"])
        assert (xlsx.rows_valid, xlsx.rows_invalid, xlsx.amount_unit) == (2, 1, "fen")
        lines = s.scalars(select(SupplierLine).where(SupplierLine.file_id == xlsx.id)
                          .order_by(SupplierLine.row_no))
        assert [(x.order_no, x.amount_minor) for x in lines] == [
            (r[2]["order"], 100), (r[2]["order"], 200)]


def test_a_line_disputed_on_the_channel_and_in_the_file_is_decided_once(database, books):
    statement_id = sent(database, books)
    with database.session() as s:
        st = s.get(Statement, statement_id)
        line = s.scalar(select(StatementLine).where(StatementLine.document_ref == "S-2"))
        statements.answer(s, st, "supplier", [{"line_id": line.id, "reason": "¥230",
                                               "amount_minor": 23000}])
        with pytest.raises(Conflict, match="answered already"):
            statements.answer(s, st, "supplier", [{"line_id": line.id, "reason": "again"}])
    imported(database, books, csv_file(supplier_rows(books, **{"S-2": "230.00"})))
    matched(database, statement_id)
    with database.session() as s:
        open_items = s.scalars(select(ReconciliationItem).where(
            ReconciliationItem.dispute == "open").order_by(ReconciliationItem.id)).all()
        assert [i.outcome for i in open_items] == ["supplier_dispute",
                                                   "matched_with_difference"]
        disputes.decide(s, open_items[0], "adjust", "finance@test", "agreed ¥230")
        assert (open_items[1].dispute, open_items[1].decision_note) == (
            "decided", f"settled with item {open_items[0].id}")
        assert s.get(Statement, statement_id).closing_minor == 58000  # once, not twice


def test_a_line_the_supplier_had_adjusted_is_not_written_off_again(database, books):
    statement_id = sent(database, books)
    with database.session() as s:
        line = s.scalar(select(StatementLine).where(StatementLine.document_ref == "S-1"))
        statements.answer(s, s.get(Statement, statement_id), "supplier",
                          [{"line_id": line.id, "reason": "+0.50", "amount_minor": 10050}])
        item = s.scalar(select(ReconciliationItem))
        disputes.decide(s, item, "adjust", "finance@test", "fine")
    imported(database, books, csv_file(supplier_rows(books, **{"S-1": "100.50"})))
    assert matched(database, statement_id)["open_disputes"] == 0
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.document_kind == "reconciliation")) == 1
        assert s.get(Statement, statement_id).closing_minor == 55050


def test_building_and_sending_at_once_keeps_the_totals_and_matching_its_time(database,
                                                                             books):
    with database.session() as s:
        [st] = statements.build(s, s.get(Supplier, books["supplier"]), "2026-11", "f")
        statements.send(s, st, "f")
        statement_id = st.id
    with database.session(readonly=True) as s:
        st = s.get(Statement, statement_id)
        assert (st.payables_minor, st.closing_minor) == (60000, 55000)
    imported(database, books, csv_file(supplier_rows(books, **{"S-2": "230.00"})))
    matched(database, statement_id)
    with database.session(readonly=True) as s:
        st = s.get(Statement, statement_id)
        assert st.status == "disputed" and st.matched_at is not None


def test_balances_run_on_and_periods_close_in_order(database, books):
    november = sent(database, books)
    with database.session() as s:
        ledger.post(s, books["merchant"], ledger.Counterparty("supplier", id=books["supplier"]),
                    "goods_payable", 400, "CNY", ("fulfilment", 997), "december", "test",
                    occurred_at=at(3, 12))
        [december] = statements.build(s, s.get(Supplier, books["supplier"]), "2026-12", "f")
        statements.send(s, december, "f", early=True)
        december_id = december.id
    imported(database, books, csv_file(supplier_rows(books, **{"S-2": "230.00"})))
    matched(database, november)
    with database.session() as s:
        item = s.scalar(select(ReconciliationItem).where(ReconciliationItem.dispute == "open"))
        disputes.decide(s, item, "adjust", "finance@test", "agreed")
    with database.session() as s:
        nov, dec = s.get(Statement, november), s.get(Statement, december_id)
        assert (nov.closing_minor, dec.opening_minor, dec.closing_minor) == (
            58000, 58000, 58400)
        with pytest.raises(Conflict, match="first"):
            statements.close(s, dec, "f", early=True)
        statements.confirm(s, nov, "f")
        statements.close(s, nov, "f")
    with database.session() as s:
        statements.answer(s, s.get(Statement, december_id), "supplier")  # it confirms
        statements.confirm(s, s.get(Statement, december_id), "f")
        statements.close(s, s.get(Statement, december_id), "f", early=True)
        with pytest.raises(Conflict, match="first"):
            statements.reopen(s, s.get(Statement, november), "f", "a credit note")


def test_a_later_draft_gives_back_the_lines_of_a_period_built_after_it(database, books):
    december = built(database, books, "2026-12")
    november = built(database, books, "2026-11")
    with database.session(readonly=True) as s:
        count = {sid: s.scalar(select(func.count()).select_from(StatementLine).where(
            StatementLine.statement_id == sid)) for sid in (november, december)}
        assert count == {november: 4, december: 0}
        dec = s.get(Statement, december)
        assert (dec.opening_minor, dec.closing_minor) == (55000, 55000)


def test_a_period_is_a_period_and_nothing_like_it(database, books):
    with database.session() as s:
        supplier = s.get(Supplier, books["supplier"])
        for key in ("2026-11\n", "２０２６-11", "0000-11", "9999-12", "2026-13"):
            with pytest.raises(ApiError, match="a period is"):
                statements.build(s, supplier, key, "f")


def test_a_row_settled_on_an_earlier_statement_is_kept_not_counted_twice(database, books):
    november = sent(database, books)
    imported(database, books, csv_file(supplier_rows(books)))
    matched(database, november)
    with database.session() as s:
        statements.confirm(s, s.get(Statement, november), "f")
        statements.close(s, s.get(Statement, november), "f")
        ledger.post(s, books["merchant"], ledger.Counterparty("supplier", id=books["supplier"]),
                    "goods_payable", 400, "CNY", ("fulfilment", 997), "december", "test",
                    occurred_at=at(3, 12))
        [december] = statements.build(s, s.get(Supplier, books["supplier"]), "2026-12", "f")
        statements.send(s, december, "f", early=True)
        december_id = december.id
    again = [["FUL-997", "", "", "4.00", "货款", "2026-12-03", ""],
             ["CLM-77", "", "", "50.00", "扣款", "2026-12-01", "索赔"]]  # November's, again
    imported(database, books, csv_file(again), period="2026-12")
    assert matched(database, december_id)["lines"] == {"matched": 2, "only_in_supplier": 1}
    with database.session() as s:
        item = s.scalar(select(ReconciliationItem).where(ReconciliationItem.dispute == "open"))
        assert f"on statement {november} (2026-11) already" in item.why_en
        assert f"已列入对账单 {november}（2026-11）" in item.why_zh
        with pytest.raises(Conflict, match="count it twice"):
            disputes.decide(s, item, "adjust", "f", "the supplier insists")
        disputes.decide(s, item, "keep", "f", "settled in November")
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.entry_type == "write_off")) == 0
