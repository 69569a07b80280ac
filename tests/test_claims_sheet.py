"""Compensation claims in the supplier sheet (``hub.domain.sheets.claims``): a sent claim is
exported as a ``claim`` row; importing accept (all or part, in yuan) or dispute (with a
reason) answers it through ``hub.domain.liability.claims``, once; a wrong claim, another
supplier's, an amount above the claim, a dispute without reason or an answer the claim no
longer allows are row errors, and then nothing of the sheet is applied."""
from __future__ import annotations

import csv
import io
import itertools

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from hub.domain.liability import claims
from hub.domain.returns import inspection as inspections
from hub.domain.sheets.claims import parse_yuan
from hub.domain.sheets.files import HEADERS, KEYS
from hub.models import (
    Account, Claim, LedgerEntry, LiabilityDecision, Merchant, Order, OutboxMessage, SkuMapping,
    Supplier,
)
from jobs import deliver_outbox
from tests import factories as f
from tests.test_inspection import make_case, w  # noqa: F401 (fixture)

COST = 1200
_seq = itertools.count(1)  # a SKU per case: a mapping is one per SKU


@pytest.fixture
def sw(w, database):  # noqa: F811
    """``w`` with the supplier on the spreadsheet channel, and a second supplier."""
    with database.session() as s:
        channel = Account(merchant_id=w["merchant_id"], connector="spreadsheet",
                          kind="supplier", name="sheets", config={})
        s.add(channel)
        s.flush()
        s.get(Supplier, w["supplier_id"]).channel_account_id = channel.id
        other = f.supplier(s, w["merchant_id"], "S2")
        return {**w, "channel_id": channel.id, "other_supplier_id": other.id}


def new_claim(database, w, supplier_id=None, send=True) -> int:
    """A quality return inspected ``damaged``, grade D: a decision and the supplier's claim
    for the goods at cost and the return freight; sent unless ``send`` is false."""
    with database.session() as s:
        sku = f"SKU-C{next(_seq)}"
        case = make_case(s, s.get(Merchant, w["merchant_id"]), s.get(Account, w["shop_id"]),
                         s.get(Supplier, supplier_id or w["supplier_id"]), sku=sku,
                         reason="quality.damaged")
        s.scalar(select(SkuMapping).where(SkuMapping.sku == sku)).unit_cost_minor = COST
        inspections.confirm_return_receipt(s, case, "supplier:1", "damaged", grade="D")
        claim = s.scalar(select(Claim).join(LiabilityDecision).where(
            LiabilityDecision.return_case_id == case.id))
        if send:
            claims.send(s, claim, "tester")
        return claim.id


def claim_of(database, claim_id) -> Claim:
    with database.session(readonly=True) as s:
        claim = s.get(Claim, claim_id)
        s.expunge(claim)
        return claim


def deductions(database) -> list[tuple]:
    with database.session(readonly=True) as s:
        return [tuple(x) for x in s.execute(
            select(LedgerEntry.counterparty_kind, LedgerEntry.counterparty_id,
                   LedgerEntry.document_id, LedgerEntry.amount_minor)
            .where(LedgerEntry.entry_type == "claim_deduction").order_by(LedgerEntry.id))]


def export(client, w, kind="xlsx"):
    resp = client.get(f"/api/v1/suppliers/{w['supplier_id']}/sheet.{kind}", headers=w["admin"])
    assert resp.status_code == 200
    return resp.data


def claim_rows(data: bytes) -> list[dict]:
    """The exported ``claim`` rows (make_case leaves its orders to dispatch, too)."""
    values = list(load_workbook(io.BytesIO(data))["answers"].iter_rows(values_only=True))
    keys = [str(h).split(" ")[0] for h in values[0]]
    return [row for row in (dict(zip(keys, r)) for r in values[1:])
            if row["section"] == "claim"]


def fill_claims(data: bytes, answers: dict) -> bytes:
    """``answers``: ``{claim_id: {column: value}}`` written into the exported sheet."""
    book = load_workbook(io.BytesIO(data))
    sheet = book["answers"]
    keys = [str(c.value).split(" ")[0] for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        values = dict(zip(keys, (c.value for c in row)))
        if values["section"] == "claim":
            for column, value in answers.get(int(values["claim_id"]), {}).items():
                row[keys.index(column)].value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_sheet(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([row.get(k, "") for k in KEYS])
    return out.getvalue().encode("utf-8-sig")


def upload(client, w, data: bytes, name="answers.xlsx", apply=None):
    url = f"/api/v1/suppliers/{w['supplier_id']}/sheet" + (f"?apply={apply}" if apply else "")
    return client.post(url, headers=w["admin"], data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


# -- export ---------------------------------------------------------------------------------------

def test_a_sent_claim_is_exported_with_its_row_and_its_notice_awaits_export(
        app, client, database, sw):
    claim_id = new_claim(database, sw)
    new_claim(database, sw, send=False)                    # a draft: not the supplier's yet
    new_claim(database, sw, supplier_id=sw["other_supplier_id"])
    claim = claim_of(database, claim_id)
    total = claim.amount_minor
    assert total > COST  # the goods at cost and the return freight
    [row] = claim_rows(export(client, sw))
    with database.session(readonly=True) as s:
        decision = s.get(LiabilityDecision, claim.decision_id)
        platform_order_id = s.get(Order, decision.order_id).platform_order_id
        event, case_id = decision.event, decision.return_case_id
    assert {k: row[k] for k in ("section", "claim_id", "return_case_id", "platform_order_id",
                                "status", "event", "amount", "amount_minor", "currency",
                                "answer_by")} == {
        "section": "claim", "claim_id": str(claim_id), "return_case_id": str(case_id),
        "platform_order_id": platform_order_id, "status": "sent", "event": event,
        "amount": f"{total // 100}.{total % 100:02d}", "amount_minor": str(total),
        "currency": "CNY", "answer_by": claim.answer_due_at.isoformat()}
    assert row["notice"] == claim.why_zh and "货款 ¥12.00" in row["notice"]
    assert row["answer"] is None and row["accepted_amount"] is None
    in_csv = [r for r in csv.DictReader(io.StringIO(export(client, sw, "csv").decode(
        "utf-8-sig"))) if r[HEADERS[0]] == "claim"]
    assert [(r["claim_id (索赔单号)"], r["amount (金额(元))"]) for r in in_csv] == [
        (str(claim_id), row["amount"])]

    while deliver_outbox.run(app, "test-worker"):
        pass
    with database.session(readonly=True) as s:
        notice = s.scalar(select(OutboxMessage).where(
            OutboxMessage.topic == "claim_notice", OutboxMessage.entity_id == claim_id))
        assert notice.status == "sent" and notice.account_id == sw["channel_id"]
        assert notice.result["data"] == {"awaiting_export": True, "topic": "claim_notice"}


# -- answers ----------------------------------------------------------------------------------------

def test_accepting_part_of_a_claim_from_the_sheet_deducts_it_once(app, client, database, sw):
    claim_id = new_claim(database, sw)
    while deliver_outbox.run(app, "test-worker"):
        pass
    filled = fill_claims(export(client, sw), {claim_id: {"answer": "同意",
                                                         "accepted_amount": "￥12.5"}})
    resp = upload(client, sw, filled)
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert report["counts"]["applied"] == 1
    *dispatches, row = report["results"]  # make_case's order is there to dispatch, too
    assert {x["outcome"] for x in dispatches} == {"skipped"} and "claim_id" not in dispatches[0]
    assert {k: row[k] for k in ("section", "claim_id", "action", "outcome", "errors")} == {
        "section": "claim", "claim_id": claim_id, "action": "claim_accept",
        "outcome": "applied", "errors": []}
    claim = claim_of(database, claim_id)
    assert (claim.status, claim.accepted_minor) == ("partly_accepted", 1250)
    assert claim.answered_by.startswith("token:")
    assert deductions(database) == [("supplier", sw["supplier_id"], claim_id, -1250)]
    with database.session(readonly=True) as s:
        notice = s.scalar(select(OutboxMessage).where(OutboxMessage.topic == "claim_notice"))
        assert notice.acknowledged_at is not None

    again = upload(client, sw, filled)  # the same answer again: nothing new
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["counts"]["unchanged"] == 1 and not again.get_json()["applied"]
    assert deductions(database) == [("supplier", sw["supplier_id"], claim_id, -1250)]
    assert claim_rows(export(client, sw)) == []  # answered: nothing left to answer


def test_a_dispute_with_a_reason_and_later_an_accept_of_all(app, client, database, sw):
    claim_id = new_claim(database, sw)
    total = claim_of(database, claim_id).amount_minor
    disputed = csv_sheet([{"section": "claim", "claim_id": claim_id, "answer": "申诉",
                           "reason": "包装完好 packed well"}])
    resp = upload(client, sw, disputed, name="a.csv")
    assert resp.status_code == 200, resp.get_json()
    claim = claim_of(database, claim_id)
    assert (claim.status, claim.dispute_reason) == ("disputed", "包装完好 packed well")
    assert deductions(database) == []
    again = upload(client, sw, disputed, name="a.csv")
    assert again.get_json()["counts"]["unchanged"] == 1

    [row] = claim_rows(export(client, sw))  # a disputed claim can still be accepted
    assert row["status"] == "disputed" and "packed well" in row["notice"]
    accepted = upload(client, sw, csv_sheet([{"section": "索赔", "claim_id": claim_id,
                                              "answer": "accept"}]), name="b.csv")
    assert accepted.status_code == 200, accepted.get_json()
    assert claim_of(database, claim_id).status == "accepted"
    assert deductions(database) == [("supplier", sw["supplier_id"], claim_id, -total)]
    stale = upload(client, sw, disputed, name="a.csv")  # the old dispute no longer fits
    assert stale.status_code == 422
    [error] = stale.get_json()["error"]["details"]["errors"]
    assert error == {"row": 2, "column": "answer", "message": f"claim {claim_id} is accepted: "
                     "it can no longer be disputed (export a fresh sheet)"}


# -- errors -----------------------------------------------------------------------------------------

def test_claim_rows_with_errors_are_reported_and_change_nothing(app, client, database, sw):
    ok, high, bare, done, odd, unknown, both = (new_claim(database, sw) for _ in range(7))
    theirs = new_claim(database, sw, supplier_id=sw["other_supplier_id"])
    draft = new_claim(database, sw, send=False)
    with database.session() as s:
        claims.answer(s, s.get(Claim, done), "accept", "supplier:1")
        code = s.get(Supplier, sw["supplier_id"]).code
    total = claim_of(database, high).amount_minor
    over = f"{(total + 1) // 100}.{(total + 1) % 100:02d}"
    booked = deductions(database)
    rows = [
        {"section": "claim", "claim_id": ok, "answer": "accept", "accepted_amount": "10"},  # 2
        {"section": "claim", "claim_id": 999999, "answer": "accept"},                      # 3
        {"section": "claim", "claim_id": theirs, "answer": "accept"},                      # 4
        {"section": "claim", "claim_id": high, "answer": "接受",
         "accepted_amount": over},                                                         # 5
        {"section": "claim", "claim_id": bare, "answer": "dispute"},                       # 6
        {"section": "claim", "claim_id": done, "answer": "拒绝", "reason": "no"},           # 7
        {"section": "claim", "claim_id": odd, "answer": "accept",
         "accepted_amount": "12.345"},                                                     # 8
        {"section": "claim", "claim_id": draft, "answer": "accept"},                       # 9
        {"section": "claim", "claim_id": unknown, "answer": "maybe"},                      # 10
        {"section": "claim", "claim_id": both, "answer": "dispute", "reason": "x",
         "accepted_amount": "5"},                                                          # 11
        {"section": "claim", "claim_id": ok},                                              # 12
    ]
    resp = upload(client, sw, csv_sheet(rows), name="a.csv")
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "sheet_has_errors" and "nothing was applied" in error["message"]
    said = {}
    for e in error["details"]["errors"]:
        said.setdefault(e["row"], []).append((e["column"], e["message"]))
    assert set(said) == {3, 4, 5, 6, 7, 8, 9, 10, 11}
    for row, claim_id in ((3, 999999), (4, theirs), (9, draft)):
        assert said[row] == [("claim_id", f"claim {claim_id} is not a claim to supplier {code}")]
    assert said[5] == [("accepted_amount", f"accepted_amount {over} must be above 0 and at "
                        f"most the {total // 100}.{total % 100:02d} claimed (to pay nothing, "
                        "answer dispute with a reason)")]
    assert said[6] == [("reason", "a dispute needs a reason")]
    assert said[7] == [("answer", f"claim {done} is accepted: it can no longer be disputed "
                        "(export a fresh sheet)")]
    assert said[8][0][0] == "accepted_amount" and "two decimals" in said[8][0][1]
    assert said[10] == [("answer", "answer 'maybe' is not one of accept, dispute")]
    assert said[11] == [("accepted_amount", "a dispute accepts no amount: leave it empty, or "
                         "answer accept")]
    outcomes = {r["row"]: r["outcome"] for r in error["details"]["results"]}
    assert outcomes[2] == "not_applied" and outcomes[12] == "skipped"
    assert [claim_of(database, x).status for x in (ok, high, bare, odd, unknown, both, theirs,
                                                    draft)] == ["sent"] * 7 + ["draft"]
    assert deductions(database) == booked

    valid = upload(client, sw, csv_sheet(rows), name="a.csv", apply="valid")
    assert valid.status_code == 200 and valid.get_json()["counts"]["applied"] == 1
    assert (claim_of(database, ok).status, claim_of(database, ok).accepted_minor) == (
        "partly_accepted", 1000)
    assert deductions(database) == booked + [("supplier", sw["supplier_id"], ok, -1000)]


def test_a_claim_answered_twice_in_one_sheet_is_an_error(app, client, database, sw):
    claim_id = new_claim(database, sw)
    resp = upload(client, sw, csv_sheet([
        {"section": "claim", "claim_id": claim_id, "answer": "accept"},
        {"section": "claim", "claim_id": claim_id, "answer": "dispute", "reason": "x"}]),
        name="a.csv")
    assert resp.status_code == 422
    assert {e["message"] for e in resp.get_json()["error"]["details"]["errors"]} == {
        f"claim {claim_id} is answered on rows 2, 3; answer it once"}
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.entry_type == "claim_deduction")) == 0


@pytest.mark.parametrize("text, fen", [
    ("12", 1200), ("12.5", 1250), ("0.01", 1), ("¥1,234.56", 123456), ("１２．５元", 1250),
    ("20.10", 2010),
])
def test_yuan_are_read_exactly_to_fen(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["12.345", "1e3", "-5", "12.", ".5", "1,23", "abc", "nan"])
def test_what_is_not_yuan_is_refused(text):
    with pytest.raises(ValueError):
        parse_yuan(text)
