"""Finance in the console (issue 15): a clerk builds and sends a supplier's statement,
imports the supplier's file, matches it, decides the disputes, confirms and closes the
period, and downloads every export; only the finance role reopens."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from hub.models import ReconciliationItem, Statement
from tests import factories as f
from tests.console_helpers import CSRF, csrf, html, sign_in
from tests.test_statements import books, csv_file, supplier_rows  # noqa: F401 (fixture)


@pytest.fixture
def clerk(app, books, database):
    with database.session() as s:
        login = f.user(s, books["merchant"], "finance")
    client = app.test_client()
    assert sign_in(client, login).headers["Location"] == "/console/finance"
    return client


def post(client, path, page, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client, page)})


def built(clerk, books) -> int:
    made = post(clerk, "/console/finance/statements", "/console/finance",
                supplier_id=books["supplier"], period="2026-11")
    assert made.status_code == 303, html(made)
    return int(re.search(r"/statements/(\d+)", made.headers["Location"]).group(1))


def test_a_month_end_from_build_to_close_in_the_console(clerk, books, database):
    statement_id = built(clerk, books)
    page = f"/console/finance/statements/{statement_id}"
    assert "¥550.00" in html(clerk.get(page))  # 600 payable − 50 deducted
    assert post(clerk, f"{page}/send", page).status_code == 303  # November has ended
    bad = clerk.post(f"{page}/import", content_type="multipart/form-data", data={
        "csrf_token": csrf(clerk, page),
        "file": (io.BytesIO(csv_file([["S-1", "", "", "abc", "货款", "2026-11-05", ""]])),
                 "bill.csv")})
    assert bad.status_code == 422 and 'id="import-errors"' in html(bad)
    good = clerk.post(f"{page}/import", content_type="multipart/form-data", data={
        "csrf_token": csrf(clerk, page),
        "file": (io.BytesIO(csv_file(supplier_rows(books, **{"S-2": "230.00"}))), "bill.csv")})
    assert good.status_code == 200 and "4 row(s) imported" in html(good)
    assert post(clerk, f"{page}/match", page).status_code == 303
    shown = html(clerk.get(page))
    assert 'data-outcome="matched_with_difference"' in shown and "1 to decide" in shown
    with database.session(readonly=True) as s:
        item_id = s.scalar(select(ReconciliationItem.id).where(
            ReconciliationItem.dispute == "open"))
    early = post(clerk, f"{page}/close", page)
    assert early.status_code == 409 and 'id="statement-error"' in html(early)
    assert post(clerk, f"/console/finance/items/{item_id}/decide", page, decision="keep",
                note="the contract price stands").status_code == 303
    assert post(clerk, f"{page}/confirm", page).status_code == 303
    assert post(clerk, f"{page}/close", page).status_code == 303
    with database.session(readonly=True) as s:
        assert s.get(Statement, statement_id).status == "closed"
    sheet = clerk.get(f"{page}/export?what=match&format=xlsx&lang=zh")
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert sheet.mimetype.endswith("spreadsheetml.sheet") and rows[0][0] == "结果号"
    journal = clerk.get("/console/finance/journal?period=2026-11&format=csv&lang=en")
    assert journal.mimetype == "text/csv" and "Cost of goods sold" in journal.get_data(
        as_text=True)
    reopened = post(clerk, f"{page}/reopen", page, reason="a credit note arrived")
    assert reopened.status_code == 303
    with database.session(readonly=True) as s:
        st = s.get(Statement, statement_id)
        assert (st.status, st.reopen_reason) == ("finance_confirmed", "a credit note arrived")


def test_the_finance_home_lists_balances_claims_and_statements(clerk, books):
    statement_id = built(clerk, books)
    page = html(clerk.get("/console/finance?period=2026-11"))
    assert f'data-statement-id="{statement_id}"' in page and "¥550.00" in page
    assert "/console/finance/journal?period=2026-11" in page
    bad = clerk.get("/console/finance?period=November")
    assert bad.status_code == 422 and "YYYY-MM" in html(bad)


def test_only_finance_reopens_and_other_staff_see_no_finance(app, books, database, clerk):
    statement_id = built(clerk, books)
    with database.session() as s:
        admin, operator = (f.user(s, books["merchant"], role)
                           for role in ("merchant_admin", "operator"))
    boss = app.test_client()
    sign_in(boss, admin)
    page = f"/console/finance/statements/{statement_id}"
    assert boss.get(page).status_code == 200
    assert post(boss, f"{page}/reopen", page, reason="x").status_code == 403
    ops = app.test_client()
    sign_in(ops, operator)
    assert ops.get("/console/finance").status_code == 403
    other = app.test_client()
    with database.session() as s:
        stranger = f.user(s, f.merchant(s, "Other").id, "finance")
    sign_in(other, stranger)
    assert other.get(page).status_code == 404
    token = CSRF.search(html(other.get("/console/finance"))).group(1)
    assert other.post("/console/finance/statements", data={
        "csrf_token": token, "supplier_id": books["supplier"], "period": "2026-11"}
    ).status_code == 404
