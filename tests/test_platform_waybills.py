"""An order the platform reports as shipped keeps its waybill: Kuaishou's
``orderLogisticsInfo`` becomes an outbound shipment of the order, subscribed at the
courier like any other (issue 10, item 12)."""
from __future__ import annotations

from sqlalchemy import select

from hub.models import Account, Order, Shipment
from hub.pipeline import sync
from mappings.kuaishou import map_order
from tests import factories as f
from tests.mappings.kuaishou.helpers import load
from tests.supplier_helpers import fake_connectors, messages  # noqa: F401 (fixture)
from tests.tracking_helpers import courier


def shipped_order() -> dict:
    return load("order_shipped_detail.json")


def test_the_mapper_reads_the_waybills():
    values = map_order(shipped_order())
    assert [(w.carrier, w.tracking_number) for w in values.waybills] == [("sf", "SF1515601210470")]


def test_an_unknown_express_code_is_kept_and_flagged():
    payload = shipped_order()
    payload["orderLogisticsInfo"] = [{"expressNo": "XY123456789", "expressCode": 777}]
    values = map_order(payload)
    assert [(w.carrier, w.tracking_number) for w in values.waybills] == \
        [("kuaishou:777", "XY123456789")]
    assert "unknown_express_code:777" in values.flags


def test_a_platform_shipped_order_gets_a_subscribed_outbound_shipment(app, database,
                                                                      fake_connectors):
    with database.session() as s:
        merchant_id = f.merchant(s).id
        shop = f.shop(s, merchant_id)
        courier(s, merchant_id)
        sync.apply(s, s.get(Account, shop.id), map_order(shipped_order()))
        sync.apply(s, s.get(Account, shop.id), map_order(shipped_order()))   # again: once
    with database.session(readonly=True) as s:
        order = s.scalar(select(Order))
        [parcel] = s.scalars(select(Shipment)).all()
        assert (parcel.direction, parcel.carrier, parcel.tracking_number, parcel.order_id) == (
            "outbound", "sf", "SF1515601210470", order.id)
        assert parcel.subscription_status == "requested"
        assert [x.entity_id for x in messages(s, merchant_id, "subscribe")] == [parcel.id]
