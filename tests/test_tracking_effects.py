"""``hub.domain.tracking.effects``: what a tracking change does to the order or return case,
the merchant's alerts and the supplier's ``tracking_notice`` (only to a channel whose
connector declares that capability)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.pipeline import sync
from hub.domain.tracking import shipments as tracking
from hub.models import Alert, Fulfilment, Order, OutboxMessage, ReturnCase
from jobs import deliver_outbox
from tests import factories as f
from tests.tracking_helpers import PUSHED, channel, courier, ev, notice_channel, values  # noqa: F401


@pytest.fixture
def world(app, database, notice_channel):  # noqa: F811 (the fixture)
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        sup = f.supplier(s, m.id)
        channel(s, m.id, sup)
        order = f.order(s, m.id, shop.id, supplier_id=sup.id)
        case = f.return_case(s, m.id, shop.id, order, status="awaiting_return")
        account = courier(s, m.id)
        out = tracking.register_shipment(s, merchant_id=m.id, carrier="sf",
                                         tracking_number="SF-OUT", direction="outbound",
                                         order_id=order.id,
                                         fulfilment_id=order.fulfilments[0].id, var_dir=None)
        back = tracking.register_shipment(s, merchant_id=m.id, carrier="yto",
                                          tracking_number="YT-BACK", direction="return",
                                          return_case_id=case.id, var_dir=None)
        return {"merchant_id": m.id, "account_id": account.id, "order_id": order.id,
                "fulfilment_id": order.fulfilments[0].id, "case_id": case.id,
                "supplier_id": sup.id, "out": out.id, "back": back.id}


def apply(database, w, v):
    from hub.models import Account
    with database.session() as s:
        return sync.apply(s, s.get(Account, w["account_id"]), v)


def notices(database):
    with database.session(readonly=True) as s:
        return [(m.payload["kind"], m.payload["tracking_number"]) for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "tracking_notice")
            .order_by(OutboxMessage.id))]


def alerts(database, kind):
    with database.session(readonly=True) as s:
        return list(s.scalars(select(Alert).where(Alert.kind == kind,
                                                  Alert.resolved_at.is_(None))))


def test_outbound_delivery_delivers_the_order_and_tells_the_supplier(app, database, world):
    apply(database, world, values("SF-OUT", ev(0, "picked_up"), ev(60, "in_transit")))
    assert notices(database) == []
    apply(database, world, values("SF-OUT", ev(120, "delivered", "301")))
    with database.session(readonly=True) as s:
        assert s.get(Order, world["order_id"]).status == "delivered"
    assert notices(database) == [("delivered", "SF-OUT")]
    apply(database, world, values("SF-OUT", ev(120, "delivered", "301"), ev(121, "delivered",
                                                                             "304")))
    assert notices(database) == [("delivered", "SF-OUT")]          # status unchanged: no new one
    deliver_outbox.run(app, "w")
    [pushed] = [p for p in PUSHED if p["topic"] == "tracking_notice"]
    assert pushed["payload"]["fulfilment_id"] == world["fulfilment_id"]
    assert pushed["payload"]["status"] == "delivered"


def test_an_order_the_platform_moved_further_is_left_alone(database, world):
    with database.session() as s:
        s.get(Order, world["order_id"]).status = "completed"
    apply(database, world, values("SF-OUT", ev(0, "delivered")))
    with database.session(readonly=True) as s:
        assert s.get(Order, world["order_id"]).status == "completed"


def test_a_refusal_expects_the_return_and_alerts(database, world):
    apply(database, world, values("SF-OUT", ev(0, "out_for_delivery"), ev(10, "refused", "14")))
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, world["fulfilment_id"]).expected_return is True
    [alert] = alerts(database, "parcel_returning")
    assert alert.supplier_id == world["supplier_id"] and "refused" in alert.message
    apply(database, world, values("SF-OUT", ev(20, "returning", "6"), ev(30, "returned", "4")))
    assert len(alerts(database, "parcel_returning")) == 1          # one open alert, refreshed
    assert [k for k, _ in notices(database)] == ["refused", "returned"]


def test_a_return_interception_expects_the_return(database, world):
    apply(database, world, values("SF-OUT", ev(0, "in_transit")))
    apply(database, world, values("SF-OUT", ev(5, "intercepted", "intercept:RETURN_SEND_ADDR"),
                                  interception="succeeded"))
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, world["fulfilment_id"]).expected_return is True


def test_a_return_parcel_moves_the_return_case(database, world):
    apply(database, world, values("YT-BACK", ev(0, "info_received", "101"), carrier="yto"))
    with database.session(readonly=True) as s:
        assert s.get(ReturnCase, world["case_id"]).status == "awaiting_return"
    apply(database, world, values("YT-BACK", ev(10, "picked_up", "103"), carrier="yto"))
    with database.session(readonly=True) as s:
        assert s.get(ReturnCase, world["case_id"]).status == "return_in_transit"
    apply(database, world, values("YT-BACK", ev(20, "in_transit"), ev(90, "delivered"),
                                  carrier="yto"))
    with database.session(readonly=True) as s:
        assert s.get(ReturnCase, world["case_id"]).status == "received"
    assert notices(database) == [("return_picked_up", "YT-BACK"), ("return_delivered", "YT-BACK")]


def test_problems_alert_and_clear(database, world):
    apply(database, world, values("SF-OUT", ev(0, "in_transit"), ev(10, "exception", "202",
                                                                    "超时未更新")))
    [alert] = alerts(database, "parcel_problem")
    assert "exception" in alert.message and "超时未更新" in alert.message
    apply(database, world, values("SF-OUT", ev(20, "in_transit", "0")))
    assert alerts(database, "parcel_problem") == []


def test_a_failed_interception_alerts(database, world):
    apply(database, world, values("SF-OUT", ev(0, "out_for_delivery")))
    apply(database, world, values("SF-OUT", interception="failed"))
    [alert] = alerts(database, "interception_failed")
    assert "out_for_delivery" in alert.message


def test_no_notice_to_a_channel_without_the_capability(database, world):
    with database.session() as s:
        from hub.models import Supplier
        sup = s.get(Supplier, world["supplier_id"])
        channel(s, world["merchant_id"], sup, connector="generic_shop")
    apply(database, world, values("SF-OUT", ev(0, "delivered")))
    assert notices(database) == []
