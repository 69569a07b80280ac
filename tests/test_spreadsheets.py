"""Supplier sheets (``hub.domain.sheets.files``, ``hub.domain.sheets.answers``, the API and the CLI):
export → fill in → import updates the fulfilments; re-importing changes nothing; every
row is checked and reported by number; a sheet with errors applies nothing unless
``apply=valid``; bad files are clear 4xx errors that change nothing."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from hub.domain import fulfilment as flow
from hub.models import (
    Account, AuditEntry, Fulfilment, Inspection, ReturnCase, Shipment, Supplier,
)
from hub.domain.sheets.files import HEADERS, KEYS
from jobs import deliver_outbox
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, fake_connectors, fulfilments, mapping, messages, order_values, return_values,
    supplier,
    world,
)


@pytest.fixture
def w(app, database, fake_connectors):
    with database.session() as s:
        w = world(s)
        channel = Account(merchant_id=w["merchant_id"], connector="spreadsheet",
                          kind="supplier", name="sheets", config={})
        s.add(channel)
        s.flush()
        sup = s.get(Supplier, w["supplier_id"])
        sup.channel_account_id = channel.id
        other = supplier(s, w["merchant_id"], "S2", channel=False)
        w.update(channel_id=channel.id, other_supplier_id=other.id,
                 admin=f.token(s, w["merchant_id"]),
                 supplier_token=f.token(s, w["merchant_id"], "supplier", sup.id),
                 other_token=f.token(s, w["merchant_id"], "supplier", other.id),
                 finance=f.token(s, w["merchant_id"], "finance"))
    for pid in ("P1", "P2", "P3"):
        apply(database, w["shop_id"], order_values(pid))
    with database.session(readonly=True) as s:
        w["fids"] = [x.id for x in fulfilments(s, w["merchant_id"])]
    return w


def export(client, w, kind="xlsx", token=None, supplier_id=None):
    resp = client.get(f"/api/v1/suppliers/{supplier_id or w['supplier_id']}/sheet.{kind}",
                      headers=f.bearer(token or w["admin"]))
    return resp


def rows_of_xlsx(data: bytes) -> list[dict]:
    sheet = load_workbook(io.BytesIO(data))["answers"]
    values = list(sheet.iter_rows(values_only=True))
    keys = [str(h).split(" ")[0] for h in values[0]]
    return [dict(zip(keys, r)) for r in values[1:]]


def fill_xlsx(data: bytes, answers: dict) -> bytes:
    """``answers``: ``{(section, id): {column: value}}`` written into the exported sheet."""
    book = load_workbook(io.BytesIO(data))
    sheet = book["answers"]
    keys = [str(c.value).split(" ")[0] for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        values = dict(zip(keys, (c.value for c in row)))
        ident = values["return_case_id"] if values["section"] == "return" else values[
            "fulfilment_id"]
        for column, value in answers.get((values["section"], int(ident)), {}).items():
            row[keys.index(column)].value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_sheet(rows: list[dict], header=HEADERS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(k, "") for k in KEYS])
    return out.getvalue().encode("utf-8-sig")


def upload(client, w, data: bytes, name="answers.xlsx", apply=None, token=None):
    url = f"/api/v1/suppliers/{w['supplier_id']}/sheet" + (f"?apply={apply}" if apply else "")
    return client.post(url, headers=f.bearer(token or w["admin"]),
                       data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def statuses(database, w) -> list[str]:
    with database.session(readonly=True) as s:
        return [s.get(Fulfilment, fid).status for fid in w["fids"]]


# -- round trips ---------------------------------------------------------------------------------

def test_export_fill_import_updates_the_fulfilments_and_a_reimport_changes_nothing(
        app, client, database, w):
    p1, p2, p3 = w["fids"]
    resp = export(client, w)
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in resp.headers["Content-Disposition"]
    exported = rows_of_xlsx(resp.data)
    assert [(r["section"], r["fulfilment_id"]) for r in exported] == [
        ("dispatch", str(p1)), ("dispatch", str(p2)), ("dispatch", str(p3))]
    assert exported[0]["items"] == "SKU-1 Item SKU-1 x1" and exported[0]["buyer"].startswith("张*")
    filled = fill_xlsx(resp.data, {
        ("dispatch", p1): {"answer": "accept"},
        ("dispatch", p2): {"answer": "接单", "carrier": "顺丰速运",
                           "tracking_number": "sf 1234-5678-90123"},
        ("dispatch", p3): {"answer": "reject", "reason": "缺货 out of stock"}})
    answer = upload(client, w, filled)
    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    assert report["counts"] == {"applied": 3, "unchanged": 0, "skipped": 0, "error": 0,
                                "not_applied": 0}
    assert statuses(database, w) == ["accepted", "shipped", "rejected"]
    with database.session(readonly=True) as s:
        parcel = s.scalar(select(Shipment).where(Shipment.fulfilment_id == p2))
        assert (parcel.carrier, parcel.tracking_number) == ("sf", "SF1234567890123")
        assert s.get(Fulfilment, p3).reject_reason == "缺货 out of stock"
        audits = s.scalar(select(func.count()).select_from(AuditEntry))

    again = upload(client, w, filled)
    assert again.status_code == 200
    assert again.get_json()["counts"]["unchanged"] == 3 and not again.get_json()["applied"]
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
    assert [r["section"] for r in rows_of_xlsx(export(client, w).data)] == ["dispatch"]


def test_csv_round_trip_with_bom_and_chinese_text(app, client, database, w):
    p1 = w["fids"][0]
    resp = export(client, w, "csv")
    assert resp.status_code == 200 and resp.data.startswith(b"\xef\xbb\xbf")
    text = resp.data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert "履约单号" in text and len(rows) == 3
    rows[0][HEADERS[KEYS.index("answer")]] = "accept"
    rows[1][HEADERS[KEYS.index("carrier")]] = "zto"
    rows[1][HEADERS[KEYS.index("tracking_number")]] = "731234567890123"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(HEADERS))
    writer.writeheader()
    writer.writerows(rows)
    answer = upload(client, w, out.getvalue().encode("gb18030"), name="answers.csv")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["format"] == "csv"
    assert statuses(database, w)[:2] == ["accepted", "shipped"] and p1


def test_stop_ships_and_returns_are_answered_from_the_sheet(app, client, database, w):
    p1, p2, p3 = w["fids"]
    with database.session() as s:
        flow.submit_tracking(s, s.get(Fulfilment, p3), "sf", "SF1234567890999", "supplier", None)
    apply(database, w["shop_id"], return_values("R1", "P1"))            # stop P1
    apply(database, w["shop_id"], return_values("R2", "P2"))            # stop P2
    apply(database, w["shop_id"], order_values("P3", status="delivered",
                                               updated=f.T0 + timedelta(days=3)))
    apply(database, w["shop_id"], return_values("R3", "P3", kind="return_refund",
                                                status="approved"))
    data = export(client, w).data
    sections = [(r["section"], r["status"]) for r in rows_of_xlsx(data)]
    assert sections == [("stop_ship", "cancel_requested"), ("stop_ship", "cancel_requested"),
                        ("return", "approved")]
    [case_id] = [r["return_case_id"] for r in rows_of_xlsx(data) if r["section"] == "return"]
    filled = fill_xlsx(data, {
        ("stop_ship", p1): {"answer": "accepted"},
        ("stop_ship", p2): {"answer": "rejected", "carrier": "zto",
                            "tracking_number": "731234567890123"},
        ("return", int(case_id)): {"answer": "received", "condition": "破损",
                                   "notes": "box crushed"}})
    answer = upload(client, w, filled)
    assert answer.status_code == 200, answer.get_json()
    assert statuses(database, w)[:2] == ["cancelled", "cancel_rejected"]
    with database.session(readonly=True) as s:
        inspection = s.scalar(select(Inspection))
        assert (inspection.condition, inspection.notes) == ("damaged", "box crushed")
        intercepted = s.scalar(select(Shipment).where(Shipment.fulfilment_id == p2))
        assert intercepted.interception_status == "requested"


# -- per-row errors ----------------------------------------------------------------------------------

def test_every_row_is_checked_and_a_sheet_with_errors_applies_nothing(app, client, database, w):
    p1, p2, p3 = w["fids"]
    with database.session() as s:
        mapping(s, w["merchant_id"], w["other_supplier_id"], "SKU-X")
    apply(database, w["shop_id"], order_values("X1", lines=(("SKU-X", 1),)))
    with database.session(readonly=True) as s:
        stranger = fulfilments(s, w["merchant_id"])[-1].id
    sheet = csv_sheet([
        {"section": "dispatch", "fulfilment_id": p1, "answer": "accept"},              # row 2
        {"section": "dispatch", "fulfilment_id": p2, "carrier": "sf",
         "tracking_number": "SF1234567890123"},                                         # row 3
        {"section": "dispatch", "fulfilment_id": p3, "carrier": "sf",
         "tracking_number": "SF1234567890123"},                                         # row 4
        {"section": "dispatch", "fulfilment_id": stranger, "answer": "accept"},        # row 5
        {"section": "dispatch", "fulfilment_id": p1, "answer": "maybe"},               # row 6
        {"section": "dispatch", "fulfilment_id": 999999, "answer": "reject"},          # row 7
        {"section": "dispatch", "fulfilment_id": p3, "carrier": "dhl",
         "tracking_number": "7.31235E+14"},                                             # row 8
        {"section": "dispatch", "fulfilment_id": p2},                                   # row 9
    ])
    answer = upload(client, w, sheet, name="a.csv")
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "sheet_has_errors" and "nothing was applied" in error["message"]
    by_row = {}
    for e in error["details"]["errors"]:
        by_row.setdefault(e["row"], []).append((e["column"], e["message"]))
    assert set(by_row) == {3, 4, 5, 6, 7, 8}
    assert any("rows 3, 4" in m for _, m in by_row[3]) and by_row[4][0][0] == "tracking_number"
    assert "not an order of supplier S1" in by_row[5][0][1]
    assert by_row[6][0][0] == "answer" and "'maybe'" in by_row[6][0][1]
    assert [c for c, _ in by_row[7]] == ["fulfilment_id"]
    assert any(c == "carrier" or "scientific" in m for c, m in by_row[8])
    outcomes = {r["row"]: r["outcome"] for r in error["details"]["results"]}
    assert outcomes[2] == "not_applied" and outcomes[9] == "skipped"
    assert statuses(database, w) == ["requested"] * 3

    valid = upload(client, w, sheet, name="a.csv", apply="valid")
    assert valid.status_code == 200
    assert valid.get_json()["counts"]["applied"] == 1
    assert statuses(database, w) == ["accepted", "requested", "requested"]


def test_answers_that_no_longer_fit_the_record_are_row_errors(app, client, database, w):
    p1, p2, _ = w["fids"]
    with database.session() as s:
        flow.reject(s, s.get(Fulfilment, p1), "merchant", "cancelled by us")
    sheet = csv_sheet([
        {"section": "dispatch", "fulfilment_id": p1, "answer": "accept"},
        {"section": "dispatch", "fulfilment_id": p2, "answer": "reject"},
        {"section": "stop_ship", "fulfilment_id": p2, "answer": "accepted"},
    ])
    details = upload(client, w, sheet, name="x.csv").get_json()["error"]["details"]
    said: dict[int, list[str]] = {}
    for e in details["errors"]:
        said.setdefault(e["row"], []).append(e["message"])
    assert said[2] == [f"fulfilment {p1} is rejected: it can no longer be accepted "
                       "(export a fresh sheet)"]
    assert said[3] == ["a rejection needs a reason",
                       f"fulfilment {p2} is answered on rows 3, 4; answer it once"]
    assert said[4] == [f"fulfilment {p2} is requested: the stop-ship was answered already "
                       "or never asked", f"fulfilment {p2} is answered on rows 3, 4; "
                       "answer it once"]


# -- bad files -----------------------------------------------------------------------------------------

def _xlsx_with(cell_value) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "answers"
    sheet.append(list(HEADERS))
    sheet.append(["dispatch", "1", "", "", "", "", "", "", "", "", "", cell_value])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _zip(names) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in names:
            z.writestr(name, "x")
    return out.getvalue()


@pytest.mark.parametrize("data,name,status,code", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a.png", 415, "unsupported_media_type"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.xls", 415, "unsupported_media_type"),
    (b"PK\x03\x04 this is not really a zip", "a.xlsx", 400, "bad_sheet"),
    (_zip(["hello.txt"]), "a.xlsx", 415, "unsupported_media_type"),
    (_xlsx_with("=1+1"), "a.xlsx", 422, "formula_in_sheet"),
    (csv_sheet([{"section": "dispatch", "fulfilment_id": "1",
                 "answer": '=HYPERLINK("http://x","accept")'}]), "a.csv", 422,
     "formula_in_sheet"),
    (b"name,answer\nx,accept\n", "a.csv", 422, "wrong_headers"),
    (b"   \n", "a.csv", 422, "bad_sheet"),
])
def test_bad_files_are_clear_4xx_errors_and_change_nothing(app, client, database, w, data, name,
                                                           status, code):
    answer = upload(client, w, data, name=name)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"]["code"] == code
    assert statuses(database, w) == ["requested"] * 3


def test_an_oversize_file_is_413_before_it_is_read(app, client, database, w):
    # sent as the raw body: the test client would spool a large multipart body to a
    # temporary file it never closes
    answer = client.post(f"/api/v1/suppliers/{w['supplier_id']}/sheet",
                         headers=f.bearer(w["admin"]), data=b"x" * (1024 * 1024 + 10),
                         content_type="text/csv")
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "payload_too_large"
    assert statuses(database, w) == ["requested"] * 3


def test_wrong_headers_name_what_is_missing(app, client, w):
    details = upload(client, w, b"section,fulfilment_id,answer\n", name="a.csv").get_json()[
        "error"]["details"]
    assert "tracking_number" in details["missing"] and details["expected"] == list(HEADERS)


def test_no_file_is_a_400(app, client, w):
    answer = client.post(f"/api/v1/suppliers/{w['supplier_id']}/sheet",
                         headers=f.bearer(w["admin"]), data={"other": "x"},
                         content_type="multipart/form-data")
    assert answer.status_code == 400 and answer.get_json()["error"]["details"]["file"]


# -- who may, and what is written ------------------------------------------------------------------

def test_supplier_tokens_reach_only_their_own_sheet(app, client, database, w):
    assert export(client, w, token=w["supplier_token"]).status_code == 200
    assert export(client, w, token=w["other_token"]).status_code == 404
    assert export(client, w, token=w["finance"]).status_code == 403
    sheet = csv_sheet([{"section": "dispatch", "fulfilment_id": w["fids"][0],
                        "answer": "accept"}])
    assert upload(client, w, sheet, name="a.csv", token=w["other_token"]).status_code == 404
    done = upload(client, w, sheet, name="a.csv", token=w["supplier_token"])
    assert done.status_code == 200 and statuses(database, w)[0] == "accepted"
    with database.session(readonly=True) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "fulfilment.accepted"))
        assert entry.actor.endswith(":supplier")


def test_exported_cells_are_never_formulas(app, client, database, w):
    apply(database, w["shop_id"], order_values("P9"))
    with database.session() as s:
        from hub.models import Order
        order = s.scalar(select(Order).where(Order.platform_order_id == "P9"))
        order.buyer_note = '=HYPERLINK("http://evil.test","click")'
    csv_text = export(client, w, "csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text
    sheet = load_workbook(io.BytesIO(export(client, w).data))["answers"]
    assert all(c.data_type == "s" for row in sheet.iter_rows(min_row=2) for c in row
               if c.value is not None)


def test_the_spreadsheet_channel_marks_notices_as_awaiting_export(app, database, w):
    while deliver_outbox.run(app, "test-worker"):
        pass
    with database.session(readonly=True) as s:
        sent = messages(s, w["merchant_id"], "order_dispatch")
        assert [m.status for m in sent] == ["sent"] * 3
        assert sent[0].result["data"] == {"awaiting_export": True, "topic": "order_dispatch"}


def test_importing_acknowledges_the_notices_it_answers(app, client, database, w):
    while deliver_outbox.run(app, "test-worker"):
        pass
    sheet = csv_sheet([{"section": "dispatch", "fulfilment_id": w["fids"][0],
                        "answer": "accept"}])
    assert upload(client, w, sheet, name="a.csv").status_code == 200
    with database.session(readonly=True) as s:
        acked = [m.acknowledged_at is not None for m in messages(s, w["merchant_id"],
                                                                 "order_dispatch")]
    assert acked == [True, False, False]


def test_cli_export_and_import(app, database, w, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "s1.xlsx"
    done = runner.invoke(args=["suppliers", "export", str(w["supplier_id"]), "--format", "xlsx",
                               "--out", str(out), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["rows"] == 3
    filled = tmp_path / "filled.xlsx"
    filled.write_bytes(fill_xlsx(out.read_bytes(), {
        ("dispatch", w["fids"][0]): {"answer": "accept"},
        ("dispatch", w["fids"][1]): {"answer": "reject"}}))           # no reason: an error
    failed = runner.invoke(args=["suppliers", "import", str(w["supplier_id"]), str(filled)])
    assert failed.exit_code == 1 and "needs a reason" in failed.output
    assert statuses(database, w) == ["requested"] * 3
    partial = runner.invoke(args=["suppliers", "import", str(w["supplier_id"]), str(filled),
                                  "--apply-valid", "--json"])
    assert partial.exit_code == 1  # errors remain, and say so
    assert json.loads(partial.output)["counts"]["applied"] == 1
    assert statuses(database, w) == ["accepted", "requested", "requested"]
    missing = runner.invoke(args=["suppliers", "export", "999999", "--out", str(out)])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_a_return_the_courier_delivered_is_graded_from_the_sheet(app, client, database, w):
    apply(database, w["shop_id"], order_values("P3", status="delivered",
                                               updated=f.T0 + timedelta(days=3)))
    apply(database, w["shop_id"], return_values("R3", "P3", kind="return_refund",
                                                status="approved"))
    with database.session() as s:  # the return parcel's delivery scan: received, no receipt
        case = s.scalar(select(ReturnCase))
        case.status, case_id = "received", case.id
    sheet = csv_sheet([{"section": "return", "return_case_id": case_id, "answer": "received",
                        "condition": "intact", "grade": "A"}])
    answer = upload(client, w, sheet, name="a.csv")
    assert answer.status_code == 200, answer.get_json()
    with database.session(readonly=True) as s:
        assert s.scalar(select(Inspection.grade)) == "A"
        assert s.get(ReturnCase, case_id).status == "inspected"
    again = upload(client, w, sheet, name="a.csv")  # the same row again: nothing new
    assert again.status_code == 200
    with database.session(readonly=True) as s:
        assert len(s.scalars(select(Inspection)).all()) == 1
