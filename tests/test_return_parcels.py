"""The buyer's return waybill on a platform's return record (Kuaishou ``logisticsInfo``,
a generic shop's ``tracking``) becomes a ``return`` shipment of the case: registered,
subscribed with the courier, and carried by the supplier's return notice."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.base import AccountContext
from connectors.generic_shop import GenericShop
from hub.domain import fulfilment as flow
from hub.models import Account, ReturnCase
from mappings.kuaishou import map_refund
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, audit_of, courier_id, fake_connectors, fulfilments, messages, order_values,
    return_values, shipments, the_case, world,
)

KS_FIXTURES = Path(__file__).parent / "mappings" / "kuaishou" / "fixtures"
GS_FIXTURES = Path(__file__).parent / "fixtures" / "generic_shop"


@pytest.fixture
def w(app, database, fake_connectors):
    with database.session() as s:
        return world(s)


def shipped(database, w, pid="P1") -> None:
    apply(database, w["shop_id"], order_values(pid))
    with database.session() as s:
        [x] = [x for x in fulfilments(s, w["merchant_id"]) if x.order.platform_order_id == pid]
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)


def with_parcel(values, carrier="yto", number="YT7654321098765", *, status="return_in_transit",
                minutes=10):
    return dataclasses.replace(values, status=status, raw_status="40/2",
                               return_carrier=carrier, return_tracking_number=number,
                               remote_updated_at=values.remote_updated_at
                               + timedelta(minutes=minutes))


def return_parcels(s, merchant_id):
    return [x for x in shipments(s, merchant_id) if x.direction == "return"]


def test_the_return_waybill_is_registered_subscribed_and_announced(database, w):
    shipped(database, w)
    approved = return_values(kind="return_refund", status="approved")
    apply(database, w["shop_id"], approved)
    apply(database, w["shop_id"], with_parcel(approved))
    with database.session(readonly=True) as s:
        case = the_case(s, w["merchant_id"])
        [parcel] = return_parcels(s, w["merchant_id"])
        assert (parcel.carrier, parcel.tracking_number, parcel.return_case_id,
                parcel.order_id) == ("yto", "YT7654321098765", case.id, case.order_id)
        assert parcel.subscription_status == "requested"
        [subscribe] = [m for m in messages(s, w["merchant_id"], "subscribe")
                       if m.entity_id == parcel.id]
        assert subscribe.account_id == courier_id(s, w["merchant_id"])
        assert subscribe.payload["tracking_number"] == "YT7654321098765"
        assert audit_of(s, "shipment", parcel.id, "shipment.registered") is not None
        first, second = messages(s, w["merchant_id"], "return_notice")
        assert first.payload["tracking"] is None and first.status == "superseded"
        assert second.payload["tracking"] == {"carrier": "yto",
                                              "tracking_number": "YT7654321098765"}

    apply(database, w["shop_id"], with_parcel(approved, minutes=20))  # the same again
    with database.session(readonly=True) as s:
        assert len(return_parcels(s, w["merchant_id"])) == 1
        assert len(messages(s, w["merchant_id"], "subscribe")) == 2  # outbound + return
        assert len(messages(s, w["merchant_id"], "return_notice")) == 2


def test_the_first_notice_carries_a_waybill_known_at_once(database, w):
    shipped(database, w)
    apply(database, w["shop_id"], with_parcel(
        return_values(kind="return_refund"), "sf", "SF7777777777777", status="awaiting_return"))
    with database.session(readonly=True) as s:
        [notice] = messages(s, w["merchant_id"], "return_notice")
        assert notice.payload["tracking"] == {"carrier": "sf",
                                              "tracking_number": "SF7777777777777"}


def test_a_record_without_the_waybill_keeps_the_parcel(database, w):
    shipped(database, w)
    values = with_parcel(return_values(kind="return_refund"))
    apply(database, w["shop_id"], values)
    apply(database, w["shop_id"], dataclasses.replace(
        values, return_carrier=None, return_tracking_number=None,
        remote_updated_at=values.remote_updated_at + timedelta(minutes=1)))
    with database.session(readonly=True) as s:
        [parcel] = return_parcels(s, w["merchant_id"])
        assert parcel.return_case_id == the_case(s, w["merchant_id"]).id


def test_a_corrected_waybill_is_the_cases_latest_parcel(database, w):
    shipped(database, w)
    values = with_parcel(return_values(kind="return_refund"))
    apply(database, w["shop_id"], values)
    apply(database, w["shop_id"], with_parcel(values, "zto", "75123456789012", minutes=5))
    with database.session(readonly=True) as s:
        assert [x.tracking_number for x in return_parcels(s, w["merchant_id"])] == [
            "YT7654321098765", "75123456789012"]
        assert messages(s, w["merchant_id"], "return_notice")[-1].payload["tracking"] == {
            "carrier": "zto", "tracking_number": "75123456789012"}


def _kuaishou_refund(**changes) -> dict:
    payload = json.loads((KS_FIXTURES / "return_in_transit_detail.json").read_text("utf-8"))
    payload.update({"oid": "P1", "skuNick": "SKU-1", **changes})
    return payload


def test_a_kuaishou_refund_detail_brings_its_waybill(database, w):
    shipped(database, w)
    apply(database, w["shop_id"], map_refund(_kuaishou_refund()))
    with database.session(readonly=True) as s:
        case = the_case(s, w["merchant_id"], "2207300012345603")
        [parcel] = return_parcels(s, w["merchant_id"])
        assert (parcel.carrier, parcel.tracking_number, parcel.return_case_id) == (
            "yto", "YT7654321098765", case.id)
        assert case.status == "return_in_transit"


def test_an_unknown_express_code_is_flagged_and_still_registered(database, w):
    shipped(database, w)
    apply(database, w["shop_id"], map_refund(_kuaishou_refund(
        logisticsInfo={"expressNo": "XY0001112223", "expressCode": 777})))
    with database.session(readonly=True) as s:
        case = the_case(s, w["merchant_id"], "2207300012345603")
        assert "unknown_express_code:777" in case.flags
        [parcel] = return_parcels(s, w["merchant_id"])
        assert (parcel.carrier, parcel.tracking_number) == ("kuaishou:777", "XY0001112223")


def test_a_generic_shop_return_record_brings_its_tracking(database, w):
    with database.session() as s:
        shop = Account(merchant_id=w["merchant_id"], connector="generic_shop", kind="platform",
                       name="generic", config={"webhook_secret": f.WHSEC})
        s.add(shop)
        s.flush()
        shop_id = shop.id
    apply(database, shop_id, order_values("GS-100046"))
    connector = GenericShop(AccountContext(account_id=shop_id, merchant_id=w["merchant_id"],
                                           name="generic", config={"webhook_secret": f.WHSEC}))
    body = (GS_FIXTURES / "return_in_transit.json").read_bytes()
    [record] = connector.records_for_event("return.updated", body)
    apply(database, shop_id, connector.map_record(record))
    with database.session(readonly=True) as s:
        case = s.scalar(select(ReturnCase).where(ReturnCase.platform_return_id == "RT-9002"))
        [parcel] = return_parcels(s, w["merchant_id"])
        assert (parcel.carrier, parcel.tracking_number, parcel.return_case_id,
                parcel.order_id) == ("yto", "YT7654321098765", case.id, case.order_id)
        assert case.order_id is not None
