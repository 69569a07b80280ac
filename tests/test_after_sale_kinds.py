"""Every kind of after-sale has a flow (issue 12, item 7): an exchange's replacement (on
receipt, or on approval by policy), a reship by the merchant's decision, a repair that
goes to the supplier and comes back — each a second dispatch, tracked."""
from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.domain import fulfilment as flow
from hub.domain.policy import versions
from hub.domain.policy.document import DEFAULT
from hub.models import Fulfilment, Shipment, SkuMapping
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, courier_id, fake_connectors, fulfilments, messages, open_alerts, order_values,
    platform_messages, return_values, the_case, tracking_values, world,
)


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        w["token"] = f.token(s, w["merchant_id"], "merchant_admin")
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
    return w


def second(s, w) -> list[Fulfilment]:
    return [x for x in fulfilments(s, w["merchant_id"]) if x.purpose != "order"]


def parcel_back(database, w, kind):
    """The buyer's parcel of a ``kind`` case, delivered to the supplier."""
    apply(database, w["shop_id"], dataclasses.replace(
        return_values(kind=kind, status="awaiting_return"),
        return_carrier="sf", return_tracking_number="SFBACK1"))
    with database.session(readonly=True) as s:
        courier = courier_id(s, w["merchant_id"])
    apply(database, courier, tracking_values("SFBACK1", status="delivered"))


def test_an_exchange_is_sent_once_its_goods_are_back(database, w, fake_connectors):  # noqa: F811
    apply(database, w["shop_id"], return_values(kind="exchange", status="awaiting_return"))
    with database.session(readonly=True) as s:
        assert second(s, w) == []  # the default policy waits for the goods
    parcel_back(database, w, "exchange")
    with database.session(readonly=True) as s:
        [x] = second(s, w)
        case = the_case(s, w["merchant_id"])
        assert (x.purpose, x.return_case_id, x.supplier_id, x.status) == (
            "exchange", case.id, w["supplier_id"], "requested")
        assert [(line.quantity) for line in x.lines] == [1]
        notice = [m.payload for m in messages(s, w["merchant_id"], "order_dispatch")
                  if m.payload.get("purpose")]
        assert [(n["purpose"], n["return_case_id"]) for n in notice] == [("exchange", case.id)]


def test_an_exchange_is_sent_on_approval_when_the_policy_says(database, w):
    with database.session() as s:
        row = versions.edit(s, w["merchant_id"], {**copy.deepcopy(DEFAULT),
                                                  "exchange_dispatch": "on_approval"}, "user:1")
        versions.publish(s, w["merchant_id"], row.version, "user:1")
    apply(database, w["shop_id"], return_values(kind="exchange", status="awaiting_return"))
    apply(database, w["shop_id"], return_values(  # a later record: nothing sent twice
        kind="exchange", status="return_in_transit", updated=f.T0 + timedelta(hours=3)))
    with database.session(readonly=True) as s:
        assert [x.purpose for x in second(s, w)] == ["exchange"]


def test_a_repair_goes_to_the_supplier_and_comes_back_tracked(database, w, fake_connectors):  # noqa: F811,E501
    parcel_back(database, w, "repair")
    with database.session() as s:
        assert messages(s, w["merchant_id"], "return_notice")  # the supplier was told
        [x] = second(s, w)
        assert x.purpose == "repair"
        flow.submit_tracking(s, x, "sf", "SF9876543210987", "supplier:1", None)
    with database.session(readonly=True) as s:
        parcel = s.scalar(select(Shipment).where(Shipment.tracking_number == "SF9876543210987"))
        assert (parcel.direction, parcel.fulfilment_id) == ("outbound", x.id)
        # the order's own shipment was pushed once; the repaired item's is not the order's
        assert [m[0] for m in platform_messages(s, w["merchant_id"])].count("shipment") == 1


def test_a_reship_is_the_merchants_decision_through_the_api(client, database, w):
    apply(database, w["shop_id"], return_values(kind="reship", reason_code="shipping.lost"))
    with database.session(readonly=True) as s:
        case_id = the_case(s, w["merchant_id"]).id
        assert second(s, w) == []
    h = f.bearer(w["token"])
    first = client.post(f"/api/v1/returns/{case_id}/dispatch", headers=h)
    assert first.status_code == 202, first.json
    assert (first.json["purpose"], first.json["return_case_id"]) == ("reship", case_id)
    again = client.post(f"/api/v1/returns/{case_id}/dispatch", headers=h)
    assert again.json["id"] == first.json["id"]
    with database.session(readonly=True) as s:
        assert len(second(s, w)) == 1


def test_a_refund_sends_nothing_again(client, database, w):
    apply(database, w["shop_id"], return_values(kind="refund_only"))
    with database.session(readonly=True) as s:
        case_id = the_case(s, w["merchant_id"]).id
    answer = client.post(f"/api/v1/returns/{case_id}/dispatch", headers=f.bearer(w["token"]))
    assert answer.status_code == 409 and "sends nothing again" in answer.json["error"]["message"]


def test_no_supplier_for_the_goods_is_an_alert_not_a_lost_exchange(database, w):
    with database.session() as s:
        for mapping in s.scalars(select(SkuMapping)):
            mapping.active = False
        [x] = fulfilments(s, w["merchant_id"])
        x.shipped_at = None  # as if the order's own supplier never shipped it
    parcel_back(database, w, "exchange")
    with database.session(readonly=True) as s:
        assert second(s, w) == []
        [alert] = open_alerts(s, w["merchant_id"], "after_sale_undispatched")
        assert "SKU mapping" in alert.message


def test_a_reship_the_policy_approves_is_dispatched_at_once(database, w):
    with database.session() as s:
        row = versions.edit(s, w["merchant_id"], {**copy.deepcopy(DEFAULT), "auto_review": [
            {"name": "lost_parcels", "outcome": "approve", "kinds": ["reship"]}]}, "user:1")
        versions.publish(s, w["merchant_id"], row.version, "user:1")
    apply(database, w["shop_id"], return_values(kind="reship", reason_code="shipping.lost"))
    with database.session(readonly=True) as s:
        [x] = second(s, w)
        assert x.purpose == "reship" and x.status == "requested"
