"""Approving works out of the box (issue 12, item 3): return addresses kept per supplier
and warehouse, synced from the platform's list; the platform's rejection reasons; the
instructions a buyer is told."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from connectors import registry
from connectors.base import ConnectorError, ErrorClass
from connectors.capabilities import PlatformAddress, RejectReason
from hub.domain import fulfilment as flow
from hub.models import Account, ReturnAddress
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    PushingShop, apply, fake_connectors, fulfilments, order_values, platform_messages,
    return_values, the_case, world,
)

LISTED = [PlatformAddress("88001", "杭州仓", "浙江省杭州市余杭区 1 号", "王仓管", "0571-1"),
          PlatformAddress("88002", "广州仓", "广东省广州市白云区 2 号", is_default=True)]


class ListingShop(PushingShop):
    name = "test_listing_shop"
    capabilities = ("push", "after_sale_lists")
    listed: list = LISTED
    failing = False

    def return_addresses(self):
        if ListingShop.failing:
            raise ConnectorError(ErrorClass.RETRY, "gateway timeout access_token=SECRET123")
        return list(ListingShop.listed)

    def reject_reasons(self, platform_return_id):
        return [RejectReason("1", "买家未退货"), RejectReason("9", "其他", "请描述", True, True)]


@pytest.fixture
def w(app, database, fake_connectors, monkeypatch):  # noqa: F811
    monkeypatch.setitem(registry._cache, ListingShop.name, ListingShop)
    ListingShop.listed, ListingShop.failing = LISTED, False
    with database.session() as s:
        w = world(s)
        s.get(Account, w["shop_id"]).connector = ListingShop.name
        w["token"] = f.token(s, w["merchant_id"], "merchant_admin")
        other = f.merchant(s, "Other")
        w["other_supplier"] = f.supplier(s, other.id).id
    w["h"] = f.bearer(w["token"])
    return w


def shipped_return(database, w):
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
    apply(database, w["shop_id"], return_values(kind="return_refund"))
    with database.session(readonly=True) as s:
        return the_case(s, w["merchant_id"]).id


def test_the_platforms_addresses_are_kept_and_assigned_then_used_by_an_approval(
        client, database, w):
    case_id = shipped_return(database, w)
    synced = client.post(f"/api/v1/shops/{w['shop_id']}/return-addresses/sync", headers=w["h"])
    assert synced.status_code == 200, synced.json
    assert [(a["platform_address_id"], a["is_default"], a["source"])
            for a in synced.json["data"]] == [("88001", False, "platform"),
                                              ("88002", True, "platform")]
    hangzhou = synced.json["data"][0]["id"]
    refused = client.post(f"/api/v1/returns/{case_id}/approve", headers=w["h"], json={})
    assert refused.status_code == 422 and "return-addresses" in refused.json["error"]["message"]

    assigned = client.patch(f"/api/v1/return-addresses/{hangzhou}", headers=w["h"],
                            json={"supplier_id": w["supplier_id"]})
    assert assigned.status_code == 200 and assigned.json["supplier_id"] == w["supplier_id"]
    approved = client.post(f"/api/v1/returns/{case_id}/approve", headers=w["h"], json={})
    assert approved.status_code == 202, approved.json
    assert (approved.json["address_id"], approved.json["address_source"]) == (
        "88001", "return_address")
    with database.session(readonly=True) as s:
        assert the_case(s, w["merchant_id"]).return_address_id == hangzhou
        [push] = [m for m in platform_messages(s, w["merchant_id"]) if m[0] == "return_approve"]
        assert push[3]["address_id"] == "88001"
    told = client.get(f"/api/v1/returns/{case_id}/instructions", headers=w["h"]).json
    assert told["address"]["address"].startswith("浙江省杭州市") and "原包装" in told["zh"]


def test_a_sync_updates_deactivates_and_keeps_the_merchants_assignment(client, database, w):
    first = client.post(f"/api/v1/shops/{w['shop_id']}/return-addresses/sync",
                        headers=w["h"]).json["data"]
    client.patch(f"/api/v1/return-addresses/{first[1]['id']}", headers=w["h"],
                 json={"warehouse": "main"})
    ListingShop.listed = [PlatformAddress("88002", "广州新仓", "广东省广州市黄埔区 3 号")]
    again = client.post(f"/api/v1/shops/{w['shop_id']}/return-addresses/sync",
                        headers=w["h"]).json["data"]
    assert [(a["platform_address_id"], a["active"], a["warehouse"], a["name"])
            for a in again] == [("88001", False, None, "杭州仓"),
                                ("88002", True, "main", "广州新仓")]


def test_a_platform_that_fails_is_a_502_without_secrets_and_nothing_changes(
        client, database, w):
    ListingShop.failing = True
    answer = client.post(f"/api/v1/shops/{w['shop_id']}/return-addresses/sync", headers=w["h"])
    assert answer.status_code == 502 and "SECRET123" not in answer.get_data(as_text=True)
    with database.session(readonly=True) as s:
        assert s.scalar(select(ReturnAddress.id)) is None


def test_a_shop_without_lists_is_a_409(client, database, w):
    with database.session() as s:
        s.get(Account, w["shop_id"]).connector = PushingShop.name
    answer = client.post(f"/api/v1/shops/{w['shop_id']}/return-addresses/sync", headers=w["h"])
    assert answer.status_code == 409 and "by hand" in answer.json["error"]["message"]


def test_the_platforms_reject_reasons_for_a_case(client, database, w):
    case_id = shipped_return(database, w)
    got = client.get(f"/api/v1/returns/{case_id}/reject-reasons", headers=w["h"])
    assert got.status_code == 200
    assert [(r["code"], r["needs_description"]) for r in got.json["data"]] == [
        ("1", False), ("9", True)]


def test_addresses_by_hand_are_checked(client, database, w):
    base = {"name": "自有仓", "address": "上海市浦东新区 9 号", "platform_address_id": "77"}
    foreign = client.post("/api/v1/return-addresses", headers=w["h"],
                          json={**base, "supplier_id": w["other_supplier"]})
    assert foreign.status_code == 404
    both = client.post("/api/v1/return-addresses", headers=w["h"],
                       json={**base, "supplier_id": w["supplier_id"], "warehouse": "main"})
    assert both.status_code == 422
    made = client.post("/api/v1/return-addresses", headers=w["h"],
                       json={**base, "warehouse": "main", "is_default": True})
    assert made.status_code == 201 and made.json["source"] == "manual"
    with database.session(readonly=True) as s:
        assert s.scalar(select(ReturnAddress.warehouse)) == "main"


def test_the_merchants_own_warehouse_receives_when_no_supplier_does(client, database, w):
    apply(database, w["shop_id"], order_values())  # never shipped by a supplier
    apply(database, w["shop_id"], return_values(kind="return_refund"))
    client.post("/api/v1/return-addresses", headers=w["h"], json={
        "name": "自有仓", "address": "上海市浦东新区 9 号", "platform_address_id": "77",
        "warehouse": "main"})
    with database.session(readonly=True) as s:
        case_id = the_case(s, w["merchant_id"]).id
    approved = client.post(f"/api/v1/returns/{case_id}/approve", headers=w["h"], json={})
    assert (approved.json["address_id"], approved.json["address_source"]) == (
        "77", "return_address")


def test_an_approval_tells_the_buyer_how_to_pack_where_the_platform_takes_a_message(
        client, database, w):
    case_id = shipped_return(database, w)
    client.put("/api/v1/products/SKU-1", headers=w["h"], json={"category": "fragile"})
    client.post("/api/v1/return-addresses", headers=w["h"], json={
        "name": "工厂仓", "address": "浙江省义乌市 8 号", "contact": "李仓管",
        "supplier_id": w["supplier_id"]})
    with database.session() as s:  # a hub JSON shop: its decision carries a message
        s.get(Account, w["shop_id"]).connector = "generic_shop"
    approved = client.post(f"/api/v1/returns/{case_id}/approve", headers=w["h"], json={})
    assert approved.status_code == 202, approved.json
    with database.session(readonly=True) as s:
        [payload] = [m[3] for m in platform_messages(s, w["merchant_id"])
                     if m[0] == "return_decision"]
    assert payload["decision"] == "approve"
    told = payload["instructions"]
    assert "气泡膜" in told and "bubble wrap" in told  # the fragile category's packing
    assert "李仓管 浙江省义乌市 8 号" in told and "Send it to" in told


def test_suppliers_that_shipped_one_case_with_different_addresses_name_none(database, w):
    from hub.domain.returns import instructions
    from hub.models import ReturnCase

    case_id = shipped_return(database, w)
    with database.session() as s:
        other = f.supplier(s, w["merchant_id"], "S2")
        s.add_all([ReturnAddress(merchant_id=w["merchant_id"], supplier_id=w["supplier_id"],
                                 name="a", address="杭州 1 号", platform_address_id="1"),
                   ReturnAddress(merchant_id=w["merchant_id"], supplier_id=other.id,
                                 name="b", address="广州 2 号", platform_address_id="2")])
        s.flush()
        case = s.get(ReturnCase, case_id)
        assert instructions.address_for(s, case).platform_address_id == "1"
        [x] = fulfilments(s, w["merchant_id"])
        second = flow_copy(s, x, other.id)
        assert second.shipped_at is not None
        assert instructions.address_for(s, case) is None  # one parcel: no single address


def flow_copy(s, fulfilment, supplier_id):
    """A second supplier that shipped part of the same goods."""
    from hub.models import Fulfilment, FulfilmentLine

    twin = Fulfilment(merchant_id=fulfilment.merchant_id, order_id=fulfilment.order_id,
                      supplier_id=supplier_id, status="shipped", shipped_at=fulfilment.shipped_at)
    twin.lines = [FulfilmentLine(merchant_id=fulfilment.merchant_id,
                                 order_line_id=fulfilment.lines[0].order_line_id, quantity=1)]
    s.add(twin)
    s.flush()
    s.expire_all()
    return twin
