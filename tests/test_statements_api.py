"""Finance over HTTP and the shell (issue 14): the statement API for finance, the supplier's
statement API, the exports, the journal, and ``hub statements``."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from hub.domain import ledger
from hub.models import LedgerEntry, Statement, StatementLine
from tests import factories as f
from tests.test_statements import at, books, csv_file, supplier_rows  # noqa: F401 (fixture)

API = "/api/v1"


@pytest.fixture
def tokens(database, books):  # noqa: F811 (the fixture)
    with database.session() as s:
        return {role: f.bearer(f.token(s, books["merchant"], role,
                                       books["supplier"] if role == "supplier" else None))
                for role in ("merchant_admin", "finance", "operator", "supplier")}


def build_and_send(client, tokens, books) -> int:
    made = client.post(f"{API}/statements", headers=tokens["finance"],
                       json={"supplier_id": books["supplier"], "period": "2026-11"})
    assert made.status_code == 201, made.get_json()
    statement_id = made.get_json()["data"][0]["id"]
    sent = client.post(f"{API}/statements/{statement_id}/send", headers=tokens["finance"])
    assert sent.status_code == 200 and sent.get_json()["status"] == "sent"
    return statement_id


def upload(client, tokens, statement_id, data: bytes, query="") -> dict:
    resp = client.post(f"{API}/statements/{statement_id}/import{query}",
                       headers=tokens["finance"], content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), "对账单.csv")})
    return resp


def test_finance_reconciles_a_period_over_http(client, database, books, tokens):
    statement_id = build_and_send(client, tokens, books)
    assert client.get(f"{API}/statements/{statement_id}",
                      headers=tokens["operator"]).status_code == 403
    rows = supplier_rows(books, **{"S-2": "230.00"})
    bad = rows + [["S-9", "", "", "(1,2a)", "货款", "2026-11-05", ""]]
    refused = upload(client, tokens, statement_id, csv_file(bad))
    assert refused.status_code == 422 and "row 6" in refused.get_json()["error"]["details"]["rows"][0]
    done = upload(client, tokens, statement_id, csv_file(rows))
    assert done.status_code == 200 and len(done.get_json()["rows"]) == 4

    result = client.post(f"{API}/statements/{statement_id}/match", headers=tokens["finance"])
    body = result.get_json()
    assert body["lines"] == {"matched": 6, "matched_with_difference": 2}
    assert (body["hub_minor"], body["supplier_minor"], body["difference_minor"]) == (
        55000, 58000, 3000)
    queue = client.get(f"{API}/statements/{statement_id}/items?dispute=open",
                       headers=tokens["finance"]).get_json()["data"]
    assert [i["key_value"] for i in queue] == ["S-2"]
    assert "超出容差" in queue[0]["why_zh"]
    refused = client.post(f"{API}/statements/{statement_id}/confirm", headers=tokens["finance"])
    assert refused.status_code == 409
    decided = client.post(f"{API}/reconciliation-items/{queue[0]['id']}/decide",
                          headers=tokens["finance"],
                          json={"decision": "keep", "note": "contract price ¥200"})
    assert decided.get_json()["dispute"] == "decided"
    for step in ("confirm", "close"):
        resp = client.post(f"{API}/statements/{statement_id}/{step}", headers=tokens["finance"])
        assert resp.status_code == 200, resp.get_json()
    reopen = f"{API}/statements/{statement_id}/reopen"
    assert client.post(reopen, headers=tokens["merchant_admin"],
                       json={"reason": "x"}).status_code == 403
    assert client.post(reopen, headers=tokens["finance"], json={}).status_code == 422
    assert client.post(reopen, headers=tokens["finance"],
                       json={"reason": "credit note found"}).get_json()["status"] == \
        "finance_confirmed"


def test_exports_have_fixed_columns_both_languages_and_totals(client, database, books, tokens):
    statement_id = build_and_send(client, tokens, books)
    upload(client, tokens, statement_id, csv_file(supplier_rows(books, **{"S-1": "100.50"})))
    client.post(f"{API}/statements/{statement_id}/match", headers=tokens["finance"])
    got = client.get(f"{API}/statements/{statement_id}/export?what=statement&lang=zh",
                     headers=tokens["finance"])
    assert got.mimetype == "text/csv" and got.data.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(got.data.decode("utf-8-sig"))))
    assert table[1][:8] == ["明细号", "日期", "类型", "单据号", "订单号", "快递单号", "金额", "金额(分)"]
    assert table[-1][0].startswith("合计") and table[-1][6:8] == ["550.50", "55050"]
    assert ["-50.00", "-5000"] in [r[6:8] for r in table]  # a number to Excel, not '-50.00
    english = client.get(f"{API}/statements/{statement_id}/export?what=match&lang=en"
                         f"&format=xlsx", headers=tokens["finance"])
    sheet = load_workbook(io.BytesIO(english.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Item", "Outcome", "Paired by")
    assert rows[-1][0].startswith("Total") and rows[-1][-5:-3] == (pytest.approx(0.5), 50)
    with database.session() as s:  # a loss the merchant bears itself
        ledger.post(s, books["merchant"], ledger.Counterparty("merchant"), "write_off", 1200,
                    "CNY", ("claim", 78), "claim 78 not recovered", "test",
                    occurred_at=at(25))
    journal = client.get(f"{API}/journal?period=2026-11&lang=en", headers=tokens["finance"])
    lines = list(csv.reader(io.StringIO(journal.data.decode("utf-8-sig"))))
    borne = [(r[3], r[4], r[6]) for r in lines[2:-1] if r[9] == "claim 78"]
    assert borne == [("Losses borne", "12.00", ""), ("Losses pending disposal", "", "12.00")]
    debit = [r for r in lines[2:-1] if r[3] == "Cost of goods sold"]
    assert len(debit) == 3 and lines[-1][4] == lines[-1][6]  # debits equal credits
    claim = [(r[3], r[4], r[6]) for r in lines[2:-1] if r[9] == "claim 77"]
    assert claim == [("Accounts payable", "50.00", ""), ("Compensation income", "", "50.00")]


def test_the_supplier_sees_its_sent_statements_and_disputes_a_line(client, database, books,
                                                                   tokens):
    with database.session() as s:
        draft_only = f.statement(s, s.get(f.Supplier, books["supplier"]), "2026-10")[0]
    assert client.get(f"{API}/supplier/statements", headers=tokens["supplier"]).get_json()[
        "data"][0]["id"] == draft_only.id
    statement_id = build_and_send(client, tokens, books)
    lines = client.get(f"{API}/supplier/statements/{statement_id}/lines",
                       headers=tokens["supplier"]).get_json()["data"]
    line = next(x for x in lines if x["document_ref"] == "S-3")
    resp = client.post(f"{API}/supplier/statements/{statement_id}/dispute",
                       headers=tokens["supplier"],
                       json={"lines": [{"line_id": line["id"], "reason": "退货已扣",
                                        "amount_minor": 0}]})
    assert resp.status_code == 200 and resp.get_json()["status"] == "disputed"
    queue = client.get(f"{API}/statements/{statement_id}/items",
                       headers=tokens["finance"]).get_json()["data"]
    assert [(i["outcome"], i["difference_minor"]) for i in queue] == [
        ("supplier_dispute", -30000)]
    client.post(f"{API}/reconciliation-items/{queue[0]['id']}/decide",
                headers=tokens["finance"],
                json={"decision": "adjust", "note": "internal: not worth fighting"})
    seen = client.get(f"{API}/supplier/statements/{statement_id}/lines?limit=200",
                      headers=tokens["supplier"]).get_data(as_text=True)
    assert "not worth fighting" not in seen and "adjusted to the supplier's figure" in seen
    with database.session(readonly=True) as s:
        assert s.get(Statement, statement_id).closing_minor == 25000
        entry = s.scalar(select(LedgerEntry).where(
            LedgerEntry.document_kind == "reconciliation"))
        assert (entry.entry_type, entry.amount_minor) == ("write_off", -30000)
    exported = client.get(f"{API}/supplier/statements/{statement_id}/export?lang=en",
                          headers=tokens["supplier"])
    assert b"Document ref" in exported.data


def test_bad_input_is_a_clear_error(client, database, books, tokens):
    made = client.post(f"{API}/statements", headers=tokens["finance"],
                       json={"supplier_id": books["supplier"], "period": "2026-11\n"})
    assert made.status_code == 422
    statement_id = build_and_send(client, tokens, books)
    for columns in ('["a"]', "5", '"amount"', "{"):
        resp = upload(client, tokens, statement_id, csv_file(supplier_rows(books)),
                      f"?columns={columns}")
        assert resp.status_code == 422, (columns, resp.get_json())
    too_long = client.post(f"{API}/statements/{statement_id}/reopen", headers=tokens["finance"],
                           json={"reason": "x" * 501})
    assert too_long.status_code == 422
    reopened = client.get(f"{API}/supplier/statements/{statement_id}",
                          headers=tokens["supplier"]).get_json()
    assert "reopen_reason" not in reopened


def test_an_item_s_evidence_holds_its_claims_packs(client, database, books, tokens):
    statement_id = build_and_send(client, tokens, books)
    upload(client, tokens, statement_id, csv_file(supplier_rows(books, **{"CLM-77": None})))
    client.post(f"{API}/statements/{statement_id}/match", headers=tokens["finance"])
    [item] = client.get(f"{API}/statements/{statement_id}/items?outcome=only_in_hub",
                        headers=tokens["finance"]).get_json()["data"]
    got = client.get(f"{API}/reconciliation-items/{item['id']}/evidence",
                     headers=tokens["finance"])
    archive = zipfile.ZipFile(io.BytesIO(got.data))
    assert json.loads(archive.read("item.json"))["outcome"] == "only_in_hub"


def test_the_cli_imports_and_matches(app, database, books, tmp_path):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["statements", "build", str(books["supplier"]), "2026-11",
                              "--json"])
    statement_id = json.loads(out.output)[0]["id"]
    assert runner.invoke(args=["statements", "send", str(statement_id)]).exit_code == 0
    path = tmp_path / "bill.csv"
    rows = supplier_rows(books) + [["S-9", "", "", "1.2.3", "货款", "2026-11-05", ""]]
    path.write_bytes(csv_file(rows))
    refused = runner.invoke(args=["statements", "import", str(books["supplier"]), str(path)])
    assert refused.exit_code == 1 and "row 6" in refused.output
    applied = runner.invoke(args=["statements", "import", str(books["supplier"]), str(path),
                                  "--apply-valid", "--json"])
    assert json.loads(applied.output)["statement_id"] == statement_id
    matched = runner.invoke(args=["statements", "match", str(statement_id), "--json"])
    result = json.loads(matched.output)
    assert result["lines"] == {"matched": 8} and len(result["items"]) == 4
    again = runner.invoke(args=["statements", "match", str(statement_id)])
    assert "matched 8" in again.output
    with database.session(readonly=True) as s:
        assert s.scalar(select(StatementLine.id).where(
            StatementLine.document_kind == "reconciliation")) is None
    out = tmp_path / "match.xlsx"
    wrote = runner.invoke(args=["statements", "export", str(statement_id), "--what", "match",
                                "--format", "xlsx", "--lang", "en", "--out", str(out)])
    assert wrote.exit_code == 0 and load_workbook(out).active["A1"].value == "Item"
    journal = tmp_path / "journal.csv"
    runner.invoke(args=["statements", "journal", "--merchant", str(books["merchant"]),
                        "2026-11", "--out", str(journal)])
    assert journal.read_text(encoding="utf-8-sig").splitlines()[1].startswith("分录号,日期")
