"""Supplier scope on an order split between suppliers X and Y (``tests/split_world.py``):
a supplier reads and answers its own fulfilments, its own parcels and the return lines of
its own fulfilments, in the API and in the sheet, and nothing of the other's. A return
whose lines span both is seen by each with its own lines only; its receipt is the
merchant's (409 to a supplier)."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from hub.models import Inspection, OutboxMessage, ReturnCase, ReturnLine
from tests import factories as f
from tests.split_world import split_world


@pytest.fixture
def w(app, database):
    with database.session() as s:
        return split_world(s)


def data(client, path, token):
    resp = client.get(path, headers=token)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]


def test_a_supplier_lists_its_own_parcels_and_the_returns_of_its_lines(client, w):
    x, y = w["X"], w["Y"]
    shipments = {s["id"] for s in data(client, "/api/v1/shipments", x["token"])}
    shared_parcel = {s["id"] for s in data(client, "/api/v1/shipments", w["admin"])
                     if s["return_case_id"] == w["shared"]}
    assert x["shipment"] in shipments and x["return_shipment"] in shipments
    assert shared_parcel <= shipments
    assert y["shipment"] not in shipments and y["return_shipment"] not in shipments
    for shipment_id in (y["shipment"], y["return_shipment"]):
        assert client.get(f"/api/v1/shipments/{shipment_id}",
                          headers=x["token"]).status_code == 404
    returns = {r["id"]: r for r in data(client, "/api/v1/returns", x["token"])}
    assert set(returns) == {w["shared"], x["return_case"]}
    assert client.get(f"/api/v1/returns/{y['return_case']}", headers=x["token"]).status_code == 404


def test_a_shared_return_and_a_split_order_show_a_supplier_only_its_own_lines(client, w):
    x = w["X"]
    case = client.get(f"/api/v1/returns/{w['shared']}", headers=x["token"]).get_json()
    assert [(line["sku"], line["order_line_id"]) for line in case["lines"]] == \
        [("SKU-X", x["order_line"])]
    order = client.get(f"/api/v1/orders/{w['order']}", headers=x["token"]).get_json()
    assert [line["sku"] for line in order["lines"]] == ["SKU-X"]
    assert [fl["id"] for fl in order["fulfilments"]] == [x["fulfilment"]]
    listed = {o["id"]: o for o in data(client, "/api/v1/orders", x["token"])}
    assert [line["sku"] for line in listed[w["order"]]["lines"]] == ["SKU-X"]
    # the merchant still sees everything
    full = client.get(f"/api/v1/returns/{w['shared']}", headers=w["admin"]).get_json()
    assert sorted(line["sku"] for line in full["lines"]) == ["SKU-X", "SKU-Y"]


@pytest.mark.parametrize("path", [
    "/api/v1/orders?supplier_id={y}", "/api/v1/orders?tracking_number={y_track}",
    "/api/v1/orders?sku=SKU-Y", "/api/v1/returns?supplier_id={y}", "/api/v1/returns?sku=SKU-Y",
    "/api/v1/returns?tracking_number={y_back}", "/api/v1/shipments?supplier_id={y}",
    "/api/v1/shipments?sku=SKU-Y", "/api/v1/shipments?tracking_number={y_track}",
])
def test_filters_tell_a_supplier_nothing_of_the_other(client, database, w, path):
    y = w["Y"]
    with database.session(readonly=True) as s:
        from hub.models import Shipment
        y_track = s.get(Shipment, y["shipment"]).tracking_number
        y_back = s.get(Shipment, y["return_shipment"]).tracking_number
    url = path.format(y=y["supplier_id"], y_track=y_track, y_back=y_back)
    assert data(client, url, w["X"]["token"]) == []
    assert data(client, url, w["admin"]) != []  # the filter itself matches for the merchant


def test_a_receipt_covers_only_a_return_whose_goods_are_all_the_suppliers(client, database,
                                                                          w):
    x, y = w["X"], w["Y"]
    url = "/api/v1/supplier/returns/{}/receipt"
    assert client.post(url.format(y["return_case"]), headers=x["token"],
                       json={"condition": "intact"}).status_code == 404
    resp = client.post(url.format(w["shared"]), headers=x["token"], json={"condition": "intact"})
    assert resp.status_code == 409, resp.get_json()
    assert "another supplier" in resp.get_json()["error"]["message"]
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0
        assert s.get(ReturnCase, w["shared"]).status == "return_in_transit"
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.topic == "return_receipt")) == 0
    resp = client.post(url.format(x["return_case"]), headers=x["token"],
                       json={"condition": "intact"})
    assert resp.status_code == 200, resp.get_json()
    with database.session(readonly=True) as s:
        assert s.get(ReturnCase, x["return_case"]).status == "received"
        assert s.get(ReturnCase, y["return_case"]).status == "return_in_transit"


def test_the_sole_supplier_of_an_order_still_sees_a_return_whose_lines_are_unmatched(
        client, database):
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        sup = f.supplier(s, m.id)
        order = f.order(s, m.id, shop.id, supplier_id=sup.id)
        case = f.return_case(s, m.id, shop.id, order)
        case.lines.append(ReturnLine(merchant_id=m.id, sku="GIFT-UNKNOWN", quantity=1))
        case.lines[0].order_line_id = None
        token = f.bearer(f.token(s, m.id, "supplier", sup.id))
        case_id = case.id
    got = client.get(f"/api/v1/returns/{case_id}", headers=token)
    assert got.status_code == 200
    assert sorted(line["sku"] for line in got.get_json()["lines"]) == ["GIFT-UNKNOWN", "SKU-1"]


# -- the sheet ----------------------------------------------------------------------------

def sheet_rows(client, w, side):
    resp = client.get(f"/api/v1/suppliers/{w[side]['supplier_id']}/sheet.csv",
                      headers=w[side]["token"])
    assert resp.status_code == 200
    reader = csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig")))
    header = [h.split(" ")[0] for h in next(reader)]
    return [dict(zip(header, r)) for r in reader]


def test_a_suppliers_sheet_lists_only_its_own_returns_and_lines(client, w):
    x = w["X"]
    returns = {int(r["return_case_id"]): r for r in sheet_rows(client, w, "X")
               if r["section"] == "return"}
    assert set(returns) == {w["shared"], x["return_case"]}
    assert returns[w["shared"]]["items"] == "SKU-X x1"
    assert int(returns[w["shared"]]["fulfilment_id"]) == x["fulfilment"]
    assert "merchant" in returns[w["shared"]]["notice"]  # who confirms its receipt


def _import(client, w, side, rows):
    from hub.domain.sheets.files import HEADERS, KEYS
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([row.get(k, "") for k in KEYS])
    return client.post(f"/api/v1/suppliers/{w[side]['supplier_id']}/sheet?apply=valid",
                       headers=w[side]["token"],
                       data=out.getvalue().encode("utf-8-sig"), content_type="text/csv")


def test_a_suppliers_sheet_accepts_only_its_own_rows(client, database, w):
    x, y = w["X"], w["Y"]
    received = {"section": "return", "answer": "received", "condition": "intact"}
    resp = _import(client, w, "X", [
        {**received, "return_case_id": y["return_case"], "fulfilment_id": x["fulfilment"]},
        {**received, "return_case_id": w["shared"], "fulfilment_id": x["fulfilment"]},
        {"section": "dispatch", "fulfilment_id": y["fulfilment"], "answer": "accept"},
    ])
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert report["counts"]["error"] == 3 and report["counts"]["applied"] == 0
    messages = {e["row"]: e["message"] for e in report["errors"]}
    assert "another supplier" in messages[3]
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0
    resp = _import(client, w, "X", [
        {**received, "return_case_id": x["return_case"], "fulfilment_id": x["fulfilment"]}])
    assert resp.get_json()["counts"]["applied"] == 1
