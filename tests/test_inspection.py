"""Inspection and grading (``hub.domain.returns.inspection``): scores give a grade at the
policy's thresholds, the grade a suggested disposition (with a discount price in fen and
the repair-cost boundary), a scanned barcode is checked against what was shipped, the
merchant overrides a disposition with a reason; inspections come from the supplier API,
the supplier sheet and the merchant's own warehouse (``hub.web.api.inspections``)."""
from __future__ import annotations

import base64
import copy
import hashlib
import io

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from hub.core.errors import ApiError, Conflict
from hub.domain import fulfilment
from hub.domain.policy import versions
from hub.domain.policy.document import DEFAULT
from hub.domain.returns import grading, inspection as inspections, stock
from hub.domain.sheets.files import HEADERS, KEYS
from hub.models import (
    Account, Alert, AuditEntry, Inspection, Merchant, Product, ReturnCase, StockMovement,
    Supplier,
)
from sandbox.supplier.parcels import photo_png
from tests import factories as f

PNG = photo_png(seed=3)
GRADING = copy.deepcopy(DEFAULT["grading"])


def scores(*values):
    return dict(zip(grading.DIMENSIONS, values))


def make_case(s, m, shop, sup, *, sku="SKU-1", qty=1, value=None, category="general",
              reason="quality.damaged", shipped=True, status="return_in_transit"):
    """A case of ``qty`` units of ``sku``, allocated to ``sup``; ``value`` catalogues it."""
    f.sku_mapping(s, m.id, sup.id, sku).supplier_sku = f"SUP-{sku}"
    order = f.order(s, m.id, shop.id, sku=sku, qty=qty)
    order.lines[0].platform_sku_id = f"PLAT-{sku}"
    [x] = fulfilment.allocate(s, order)
    x.shipped_at = f.T0 if shipped else None
    if value is not None:
        s.add(Product(merchant_id=m.id, sku=sku, category=category, value_minor=value))
    case = f.return_case(s, m.id, shop.id, order, status=status)
    case.reason_code = reason
    s.flush()
    return case


@pytest.fixture
def w(app, database):
    with database.session() as s:
        m = f.merchant(s)
        shop, sup = f.shop(s, m.id), f.supplier(s, m.id)
        return {"merchant_id": m.id, "shop_id": shop.id, "supplier_id": sup.id,
                "admin": f.bearer(f.token(s, m.id)),
                "operator": f.bearer(f.token(s, m.id, "operator")),
                "finance": f.bearer(f.token(s, m.id, "finance")),
                "supplier": f.bearer(f.token(s, m.id, "supplier", sup.id))}


def new_case(database, w, **kwargs) -> int:
    with database.session() as s:
        return make_case(s, s.get(Merchant, w["merchant_id"]), s.get(Account, w["shop_id"]),
                         s.get(Supplier, w["supplier_id"]), **kwargs).id


def receive(database, case_id, condition="intact", actor="supplier:1", **kwargs) -> Inspection:
    with database.session() as s:
        x = inspections.confirm_return_receipt(s, s.get(ReturnCase, case_id), actor, condition,
                                               **kwargs)
        s.flush()
        s.expunge(x)
        return x


# -- grade -------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, grade", [
    ((5, 5, 4, 4), "A"),            # 4.5, A's threshold itself
    ((5, 4.5, 4, 4), "B"),          # 4.375, just below it
    ((4, 4, 3, 3), "B"),            # 3.5
    ((4, 3.5, 3, 3), "C"),          # 3.375
    ((2, 2, 2, 2), "C"),            # 2.0
    ((2, 2, 2, 1.5), "D"),          # 1.875
    ((0, 0, 0, 0), "D"),
])
def test_scores_grade_at_the_thresholds_edges(values, grade):
    assert grading.grade_of(GRADING, "intact", None, scores(*values)) == grade
    assert grading.grade_of(GRADING, "intact", grade, scores(*values)) == grade


def test_a_wrong_or_empty_parcel_is_d_and_a_contradicting_grade_is_refused():
    assert grading.grade_of(GRADING, "wrong_item", None, scores(5, 5, 5, 5)) == "D"
    assert grading.grade_of(GRADING, "empty", None, None) == "D"
    assert grading.grade_of(GRADING, "damaged", "B", None) == "B"  # as given, as before
    assert grading.grade_of(GRADING, "intact", None, None) is None
    for condition, grade, given in (("wrong_item", "A", None), ("intact", "A", (4, 4, 3, 3))):
        with pytest.raises(ApiError) as refused:
            grading.grade_of(GRADING, condition, grade, given and scores(*given))
        assert refused.value.status == 422 and "grade" in refused.value.details


def test_the_policy_in_force_sets_the_thresholds_and_checklists(app, database, w):
    case_id = new_case(database, w, value=100, category="lamps")
    with database.session(readonly=True) as s:
        assert inspections.checklist_for(s, s.get(ReturnCase, case_id)) == [
            "packaging", "accessories", "appearance", "function"]  # the default's
    document = copy.deepcopy(DEFAULT)
    document["grading"]["thresholds"] = {"A": 5.0, "B": 4.0, "C": 3.0}
    document["categories"]["lamps"] = {"checklist": ["bulb", "cable", "packaging"]}
    with database.session() as s:
        version = versions.edit(s, w["merchant_id"], document, "user:1")
        versions.publish(s, w["merchant_id"], version.version, "user:1")
    with database.session(readonly=True) as s:
        assert inspections.checklist_for(s, s.get(ReturnCase, case_id)) == [
            "bulb", "cable", "packaging"]
    assert receive(database, case_id, scores=scores(5, 5, 4, 4)).grade == "B"


def test_a_return_without_a_fault_is_checked_for_what_it_must_come_back_with(app, database, w):
    mind = new_case(database, w, value=100, category="cosmetics", reason="buyer.changed_mind")
    fault = new_case(database, w, sku="SKU-2", value=100, category="cosmetics",
                     reason="quality.defect")
    with database.session(readonly=True) as s:
        assert inspections.checklist_for(s, s.get(ReturnCase, mind))[-1] == "unopened"
        assert "unopened" not in inspections.checklist_for(s, s.get(ReturnCase, fault))


@pytest.mark.parametrize("bad", [
    scores(5, 5, 5), {**scores(5, 5, 5, 5), "smell": 3}, scores(5, 5, 5, 4.3),
    scores(5, 5, 5, 6), scores(5, 5, 5, True), scores(5, 5, 5, "4"),
])
def test_bad_scores_are_a_422_that_changes_nothing(app, database, w, bad):
    case_id = new_case(database, w)
    with pytest.raises(ApiError) as refused:
        receive(database, case_id, scores=bad)
    assert refused.value.status == 422 and "scores" in refused.value.details
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0
        assert s.scalar(select(func.count()).select_from(StockMovement)) == 0
        assert s.get(ReturnCase, case_id).status == "return_in_transit"


# -- suggested disposition -------------------------------------------------------------------------

@pytest.mark.parametrize("case, receipt, disposition, price", [
    ({}, {"grade": "A"}, "restock", None),
    ({"value": 999, "qty": 2}, {"grade": "B"}, "discount", 1598),       # 1998 x 0.8 = 1598.4
    ({"value": 2001}, {"grade": "C"}, "discount", 1001),                # 1000.5 rounds up
    ({"value": 10000}, {"grade": "C", "repair_cost_minor": 2999}, "repair", None),
    ({"value": 10000}, {"grade": "C", "repair_cost_minor": 3000}, "discount", 5000),  # not below
    ({}, {"grade": "C", "repair_cost_minor": 1}, "discount", None),     # no catalogue value
    ({"reason": "quality.damaged"}, {"grade": "D"}, "return_to_supplier", None),
    ({"reason": "fulfilment.wrong_item"}, {"condition": "wrong_item"}, "return_to_supplier",
     None),
    ({"reason": "buyer.changed_mind"}, {"grade": "D"}, "scrap", None),
    ({"reason": "quality.damaged", "shipped": False}, {"grade": "D"}, "scrap", None),
    ({}, {}, "hold", None),
])
def test_each_grade_suggests_its_disposition(app, database, w, case, receipt, disposition,
                                             price):
    case_id = new_case(database, w, **case)
    x = receive(database, case_id, **{"condition": "intact", **receipt})
    assert (x.suggested_disposition, x.disposition, x.resale_price_minor) == (
        disposition, disposition, price)
    assert x.disposition_reason is None and x.disposition_by is None


# -- what was shipped ---------------------------------------------------------------------------

@pytest.mark.parametrize("barcode, matched", [
    ("SKU-1", True), (" plat-sku-1 ", True), ("SUP-SKU-1", True), ("6901234567892", True),
    ("6900000000001", False), (None, None),
])
def test_a_scanned_barcode_is_checked_against_what_was_shipped(app, database, w, barcode,
                                                                matched):
    case_id = new_case(database, w, value=100)
    with database.session() as s:  # the EAN printed on the goods, as the catalogue has it
        s.scalar(select(Product)).barcode = "6901234567892"
    x = receive(database, case_id, barcode=barcode, serial="SN-0042")
    assert x.serial_matched is matched and x.serial == "SN-0042"
    with database.session(readonly=True) as s:
        wrong = s.scalars(select(Alert).where(Alert.kind == "return_wrong_item")).all()
        assert [(a.entity, a.entity_id) for a in wrong] == (
            [("return_case", case_id)] if matched is False else [])
        if wrong:
            assert wrong[0].details["barcode"] == barcode
            assert "sup-sku-1" in wrong[0].details["shipped"]


def test_a_wrong_item_or_a_failed_condition_is_not_refunded_on_its_own(app, database, w):
    from hub.models import OutboxMessage

    wrong = new_case(database, w, reason="buyer.changed_mind")
    opened = new_case(database, w, sku="SKU-2", reason="buyer.changed_mind")
    with database.session() as s:
        for case_id in (wrong, opened):
            s.get(ReturnCase, case_id).kind = "return_refund"
    receive(database, wrong, barcode="6900000000001")
    receive(database, opened, checklist={"unopened": False})
    with database.session(readonly=True) as s:
        assert s.scalar(select(OutboxMessage.id).where(
            OutboxMessage.topic == "return_receipt")) is None
        told = {(a.kind, a.entity_id): a.message for a in s.scalars(select(Alert))}
        assert ("return_wrong_item", wrong) in told  # "check the goods before refunding"
        assert "failing unopened" in told[("return_needs_decision", opened)]


# -- override -------------------------------------------------------------------------------------

def test_the_merchant_overrides_a_disposition_with_a_reason(app, database, w):
    case_id = new_case(database, w, qty=2, value=5000)
    first = receive(database, case_id, scores=scores(4, 4, 3, 3))  # B: discount
    assert (first.grade, first.disposition, first.resale_price_minor) == ("B", "discount", 8000)
    with database.session() as s:
        x = s.get(Inspection, first.id)
        for disposition, reason in (("repair", ""), ("repair", "   "), ("melt", "no")):
            with pytest.raises(ApiError) as refused:
                inspections.override_disposition(s, x, disposition, reason, "user:1")
            assert refused.value.status == 422
    with database.session() as s:
        x = inspections.override_disposition(s, s.get(Inspection, first.id), "restock",
                                             "the scratch polishes out", "user:7")
        assert (x.disposition, x.suggested_disposition) == ("restock", "discount")
        assert (x.disposition_reason, x.disposition_by) == ("the scratch polishes out", "user:7")
    with database.session(readonly=True) as s:
        [entry] = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "inspection.disposition_overridden"))
        assert entry.changes["disposition"] == ["discount", "restock"]
        assert entry.changes["units_moved"] == 2
        assert stock.balances(s, w["merchant_id"]) == [
            {"location": "warehouse:main", "sku": "SKU-1", "grade": "B", "state": "restock",
             "quantity": 2}]


def test_only_the_latest_inspection_is_overridden(app, database, w):
    case_id = new_case(database, w)
    first = receive(database, case_id)
    receive(database, case_id, grade="A")
    with database.session() as s:
        with pytest.raises(Conflict):
            inspections.override_disposition(s, s.get(Inspection, first.id), "scrap", "old",
                                             "user:1")


# -- the supplier API ---------------------------------------------------------------------------

def test_the_supplier_api_takes_scores_serial_and_repair_cost(app, client, database, w):
    case_id = new_case(database, w, value=10000)
    resp = client.post(f"/api/v1/supplier/returns/{case_id}/receipt", headers=w["supplier"],
                       json={"condition": "damaged", "scores": scores(2, 2, 2.5, 2),
                             "serial": "SN-1", "barcode": "SUP-SKU-1",
                             "repair_cost_minor": 2000, "checklist": {"breakage": False},
                             "photos": [base64.b64encode(PNG).decode()]})
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert (got["grade"], got["disposition"], got["serial_matched"]) == ("C", "repair", True)
    assert got["scores"] == {"packaging": 2.0, "appearance": 2.0, "function": 2.5,
                             "completeness": 2.0}
    assert got["repair_cost_minor"] == 2000 and got["serial"] == "SN-1"
    assert "resale_price_minor" not in got  # the merchant's value stays the merchant's
    with database.session(readonly=True) as s:
        assert s.get(ReturnCase, case_id).status == "inspected"
        assert stock.balances(s, w["merchant_id"]) == [
            {"location": f"supplier:{w['supplier_id']}", "sku": "SKU-1", "grade": "C",
             "state": "repair", "quantity": 1}]


def test_the_supplier_api_refuses_scores_that_contradict_the_grade(app, client, database, w):
    case_id = new_case(database, w)
    for body in ({"condition": "intact", "grade": "A", "scores": scores(3, 3, 3, 3)},
                 {"condition": "intact", "scores": {"packaging": 3}},
                 {"condition": "intact", "repair_cost_minor": -1}):
        resp = client.post(f"/api/v1/supplier/returns/{case_id}/receipt",
                           headers=w["supplier"], json=body)
        assert resp.status_code == 422, resp.get_json()
        assert set(resp.get_json()["error"]["details"]) & {"grade", "scores",
                                                           "repair_cost_minor"}
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0


# -- the supplier sheet ------------------------------------------------------------------------

def sheet(rows: list[dict]) -> bytes:
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([row.get(k, "") for k in KEYS])
    return out.getvalue().encode("utf-8-sig")


def import_sheet(client, w, data: bytes):
    return client.post(f"/api/v1/suppliers/{w['supplier_id']}/sheet",
                       headers=w["admin"],
                       data={"file": (io.BytesIO(data), "answers.csv")},
                       content_type="multipart/form-data")


def test_the_sheet_takes_a_grade_scores_and_notes(app, client, database, w):
    a = new_case(database, w, sku="SKU-A", value=3000, status="approved")
    b = new_case(database, w, sku="SKU-B", status="approved")
    rows = [{"section": "return", "return_case_id": a, "answer": "received",
             "condition": "完好", "grade": "b", "notes": "外箱压痕 box dented"},
            {"section": "return", "return_case_id": b, "answer": "已收货", "condition": "intact",
             "scores": "5，5 / 4.5 5", "barcode": "nope-123"}]
    resp = import_sheet(client, w, sheet(rows))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["counts"]["applied"] == 2
    with database.session(readonly=True) as s:
        first = s.scalar(select(Inspection).where(Inspection.return_case_id == a))
        assert (first.grade, first.notes, first.disposition, first.resale_price_minor) == (
            "B", "外箱压痕 box dented", "discount", 2400)
        second = s.scalar(select(Inspection).where(Inspection.return_case_id == b))
        assert second.grade == "A" and second.scores == scores(5, 5, 4.5, 5)
        assert second.serial_matched is False
        assert {(r["location"], r["sku"], r["grade"]) for r in stock.balances(
            s, w["merchant_id"])} == {(f"supplier:{w['supplier_id']}", "SKU-A", "B"),
                                      (f"supplier:{w['supplier_id']}", "SKU-B", "A")}
    again = import_sheet(client, w, sheet(rows))
    assert again.status_code == 200 and again.get_json()["counts"]["unchanged"] == 2
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 2
        assert sum(r["quantity"] for r in stock.balances(s, w["merchant_id"])) == 2


@pytest.mark.parametrize("answer, column", [
    ({"grade": "E"}, "grade"), ({"scores": "5,5,5"}, "scores"),
    ({"scores": "5,5,5,4.2"}, "scores"), ({"grade": "A", "scores": "1,1,1,1"}, "grade"),
])
def test_a_bad_grade_or_score_in_the_sheet_is_a_row_error(app, client, database, w, answer,
                                                          column):
    case_id = new_case(database, w, status="approved")
    resp = import_sheet(client, w, sheet([{"section": "return", "return_case_id": case_id,
                                           "answer": "received", "condition": "intact",
                                           **answer}]))
    assert resp.status_code == 422
    assert [e["column"] for e in resp.get_json()["error"]["details"]["errors"]] == [column]
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0


# -- the merchant's warehouse ----------------------------------------------------------------------

def multipart(photos=(PNG,), **fields):
    values = MultiDict(fields)
    for n, photo in enumerate(photos):
        values.add("photos", FileStorage(io.BytesIO(photo), f"p{n}.png", "photos", "image/png"))
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def test_the_merchants_warehouse_inspects_through_the_api(app, client, database, w, settings):
    case_id = new_case(database, w, qty=3, value=1000, category="fragile",
                       reason="buyer.changed_mind")
    url = f"/api/v1/returns/{case_id}/inspection"
    resp = client.post(url, headers=w["operator"], **multipart(
        condition="used", scores='{"packaging": 3, "appearance": 4, "function": 4, '
                                 '"completeness": 3}', warehouse="sz-1", notes="开封",
        checklist='{"breakage": false, "packaging": "resealed"}', barcode="PLAT-SKU-1"))
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert (got["grade"], got["suggested_disposition"], got["disposition"]) == (
        "B", "discount", "discount")
    assert got["resale_price_minor"] == 2400 and got["serial_matched"] is True
    assert got["photos"] == [hashlib.sha256(PNG).hexdigest()]
    assert (settings.var_dir / "files" / got["photos"][0][:2] / got["photos"][0]).exists()
    again = client.post(url, headers=w["operator"], **multipart(
        condition="used", scores='{"packaging": 3, "appearance": 4, "function": 4, '
                                 '"completeness": 3}', warehouse="sz-1", notes="开封",
        checklist='{"breakage": false, "packaging": "resealed"}', barcode="PLAT-SKU-1"))
    assert again.status_code == 200 and again.get_json()["id"] == got["id"]

    listed = client.get(f"/api/v1/returns/{case_id}/inspections", headers=w["admin"])
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["checklist"] == [  # fragile, and a changed mind comes back as it went
        "packaging", "breakage", "accessories", "function", "original_packaging"]
    assert [x["id"] for x in body["inspections"]] == [got["id"]]

    override = client.post(f"/api/v1/inspections/{got['id']}/disposition", headers=w["admin"],
                           json={"disposition": "scrap", "reason": "glass cracked inside"})
    assert override.status_code == 200, override.get_json()
    changed = override.get_json()
    assert (changed["disposition"], changed["suggested_disposition"]) == ("scrap", "discount")
    assert changed["disposition_reason"] == "glass cracked inside"
    assert changed["disposition_by"].startswith("token:")
    stocked = client.get("/api/v1/returns-stock?location=warehouse:sz-1", headers=w["admin"])
    assert stocked.get_json()["balances"] == [
        {"location": "warehouse:sz-1", "sku": "SKU-1", "grade": "B", "state": "scrap",
         "quantity": 3}]


def test_the_override_api_needs_a_reason_and_changes_nothing_without(app, client, database, w):
    case_id = new_case(database, w)
    x = receive(database, case_id, grade="A", actor="user:1")
    for body in ({"disposition": "scrap"}, {"disposition": "scrap", "reason": ""},
                 {"disposition": "melt", "reason": "x"}):
        resp = client.post(f"/api/v1/inspections/{x.id}/disposition", headers=w["admin"],
                           json=body)
        assert resp.status_code == 422, resp.get_json()
    with database.session(readonly=True) as s:
        assert s.get(Inspection, x.id).disposition == "restock"
        assert stock.balances(s, w["merchant_id"])[0]["state"] == "restock"


def test_the_merchant_api_refuses_bad_input_and_other_callers(app, client, database, w):
    case_id = new_case(database, w)
    url = f"/api/v1/returns/{case_id}/inspection"
    for kwargs, field in (
            (multipart(condition="intact", warehouse="no/slash"), "warehouse"),
            (multipart(condition="intact", scores='{"packaging": 9}'), "scores"),
            (multipart(condition="intact", scores="{nope"), "scores"),
            ({"json": {"condition": "intact", "scores": scores(1, 1, 1, 1), "grade": "A"}},
             "grade")):
        resp = client.post(url, headers=w["admin"], **kwargs)
        assert resp.status_code == 422, resp.get_json()
        assert field in resp.get_json()["error"]["details"]
    assert client.post(url, headers=w["finance"], **multipart(condition="intact")
                       ).status_code == 403
    with database.session() as s:
        other = f.merchant(s, "Other")
        stranger = f.bearer(f.token(s, other.id))
    assert client.post(url, headers=stranger, **multipart(condition="intact")).status_code == 404
    assert client.get(f"/api/v1/returns/{case_id}/inspections", headers=stranger
                      ).status_code == 404
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0
        assert s.scalar(select(func.count()).select_from(StockMovement)) == 0
