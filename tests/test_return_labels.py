"""Prepaid return labels (issue 12, item 4): when the hub pays the return freight, the
platform's confirmed approval books one pickup on a courier account that can, the waybill
comes back in the push answer and becomes the case's tracked return shipment (and is in
the supplier's return notice); a dead booking and a missing courier are alerts; a
merchant books by hand through the API."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors.base import Connector, ConnectorError, ErrorClass, PushResult
from connectors.capabilities import ReturnLabel
from hub.domain import fulfilment as flow
from hub.domain.returns import labels
from hub.models import ReturnAddress
from hub.pipeline import outbox
from jobs import deliver_outbox
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    actions, apply, audit_of, fake_connectors, fulfilments, messages, open_alerts,
    order_values, return_values, shipments, the_case, world,
)


class LabelCourier(Connector):
    """A courier that tracks parcels and books return pickups: one waybill per booking,
    or the refusal in ``refuse``."""

    name, kind, title = "test_label_courier", "courier", "Test courier with return labels"
    capabilities = ("push", "return_label")
    booked: list = []
    refuse: str | None = None

    def push(self, topic, payload, idempotency_key):
        if topic != "return_label":
            return PushResult(status_code=200)
        if LabelCourier.refuse:
            raise ConnectorError(ErrorClass.FAIL_DATA, LabelCourier.refuse)
        LabelCourier.booked.append((payload, idempotency_key))
        number = f"YT{8_000_000_000_000 + len(LabelCourier.booked)}"
        label = ReturnLabel("yto", number, booking_id="B-1", pickup_code="4321",
                            pickup_from=f.T0 + timedelta(days=1),
                            pickup_until=f.T0 + timedelta(days=1, hours=9))
        return PushResult(external_id=number, status_code=200,
                          data={"return_label": label.data()})


@pytest.fixture
def courier(fake_connectors, monkeypatch):  # noqa: F811
    from connectors import registry
    monkeypatch.setitem(registry._cache, LabelCourier.name, LabelCourier)
    LabelCourier.booked, LabelCourier.refuse = [], None
    return LabelCourier


def a_world(database, courier_name="test_label_courier", *, address=True) -> dict:
    with database.session() as s:
        w = world(s, courier=courier_name)
        if address:
            s.add(ReturnAddress(merchant_id=w["merchant_id"], supplier_id=w["supplier_id"],
                                name="S1 退货仓", contact="王五", phone="0571-88880000",
                                address="浙江省杭州市余杭区仓前街道 1 号", is_default=True,
                                platform_address_id="ADDR-9"))
        for role in ("merchant_admin", "finance"):
            w[role] = f.token(s, w["merchant_id"], role)
    return w


def shipped_order(database, w, pid="P1"):
    """An order the supplier shipped, so its returns go back to the supplier."""
    apply(database, w["shop_id"], order_values(pid))
    with database.session() as s:
        x = [x for x in fulfilments(s, w["merchant_id"]) if x.order.platform_order_id == pid][0]
        flow.submit_tracking(s, x, "sf", f"SF12345678901{pid[-1]}", "supplier:1", None)


def returned(database, w, rid="R1", pid="P1", *, status="awaiting_return", hours=2,
             reason_code="quality.defect", **changes):
    """The return requested (the policy sets who pays), then ``status`` on the platform
    (with ``changes`` to the record, e.g. the buyer's own return waybill)."""
    apply(database, w["shop_id"], return_values(rid, pid, kind="return_refund",
                                                reason_code=reason_code))
    if status != "requested":
        apply(database, w["shop_id"], dataclasses.replace(return_values(
            rid, pid, kind="return_refund", status=status, reason_code=reason_code,
            updated=f.T0 + timedelta(hours=hours)), **changes))


def deliver(app) -> None:
    for _ in range(10):
        if deliver_outbox.run(app, "label-test") == 0:
            return
    raise AssertionError("the outbox kept finding messages")


@pytest.fixture
def w(app, database, courier):
    w = a_world(database)
    shipped_order(database, w)
    return w


# -- booked once, when the hub pays -------------------------------------------------------------

def test_a_return_the_hub_pays_for_gets_one_label_that_becomes_its_tracked_shipment(
        app, database, w):
    returned(database, w)
    returned(database, w, hours=3)                 # the platform says it again: nothing new
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        assert case.freight_payer == "liable_party"     # a defect: not the buyer's cost
        [booking] = messages(s, w["merchant_id"], "return_label")
        assert (booking.entity, booking.entity_id, booking.status) == (
            "return_case", case.id, "pending")
        payload = booking.payload
        assert payload["receiver"] == {"name": "王五", "phone": "0571-88880000",
                                       "address": "浙江省杭州市余杭区仓前街道 1 号"}
        sender = payload["sender"]
        assert (sender["name_cipher"], sender["phone_cipher"], sender["address_cipher"]) == (
            "NC", "PC", "AC")
        assert (sender["platform"], sender["platform_order_id"]) == ("test_shop", "P1")
        assert (payload["goods"], payload["count"]) == ("Item SKU-1", 1)
        assert actions(s, "return_case", case.id).count(
            "return_case.return_label_requested") == 1

    deliver(app)
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        [parcel] = [x for x in shipments(s, w["merchant_id"]) if x.direction == "return"]
        assert (parcel.carrier, parcel.tracking_number) == ("yto", "YT8000000000001")
        assert (parcel.return_case_id, parcel.subscription_status) == (case.id, "subscribed")
        booked = audit_of(s, "return_case", case.id, "return_case.return_label_booked")
        assert booked.changes["pickup_code"] == "4321"
        assert booked.changes["shipment_id"] == parcel.id
        notice = messages(s, w["merchant_id"], "return_notice")[-1]
        assert notice.payload["tracking"] == {"carrier": "yto",
                                              "tracking_number": "YT8000000000001"}
        assert not [a for a in open_alerts(s, w["merchant_id"])
                    if a.kind.startswith("return_label")]
    assert len(LabelCourier.booked) == 1


@pytest.mark.parametrize("payer, booked", [("buyer", False), ("platform", False),
                                           ("merchant", True), ("courier", True)])
def test_only_freight_the_hub_pays_is_booked(app, database, w, payer, booked):
    returned(database, w, status="requested", reason_code="buyer.changed_mind")
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        assert case.freight_payer == "buyer"        # the policy's answer for a changed mind
        case.freight_payer = payer                  # e.g. insured: the platform's (运费险)
    returned(database, w, reason_code="buyer.changed_mind")
    with database.session() as s:
        assert the_case(s, w["merchant_id"]).status == "awaiting_return"
        assert len(messages(s, w["merchant_id"], "return_label")) == int(booked)


def test_nothing_is_booked_before_the_platform_confirms_nor_for_the_buyers_own_parcel(
        app, database, w):
    returned(database, w, status="approved")
    shipped_order(database, w, "P2")
    returned(database, w, "R2", "P2", return_carrier="sf", return_tracking_number="SFBUYER1")
    with database.session() as s:
        assert messages(s, w["merchant_id"], "return_label") == []


# -- what goes wrong ----------------------------------------------------------------------------

def test_a_dead_booking_is_an_alert_in_the_couriers_words_and_can_be_booked_again(
        app, client, database, w):
    LabelCourier.refuse = "取件地址超区，无法上门"
    returned(database, w)
    deliver(app)
    with database.session() as s:
        case_id = the_case(s, w["merchant_id"]).id
        [alert] = open_alerts(s, w["merchant_id"], "return_label_failed")
        assert (alert.entity, alert.entity_id) == ("return_case", case_id)
        assert "取件地址超区" in alert.message
        assert [x for x in shipments(s, w["merchant_id"]) if x.direction == "return"] == []
    returned(database, w, hours=4)                  # a later webhook: still booked once
    with database.session() as s:
        assert len(messages(s, w["merchant_id"], "return_label")) == 1

    LabelCourier.refuse = None
    again = client.post(f"/api/v1/returns/{case_id}/return-label",
                        headers=f.bearer(w["merchant_admin"]), json={})
    assert again.status_code == 202, again.json
    deliver(app)
    with database.session() as s:
        assert not open_alerts(s, w["merchant_id"], "return_label_failed")
        assert [x.tracking_number for x in shipments(s, w["merchant_id"])
                if x.direction == "return"] == ["YT8000000000001"]
        first, second = messages(s, w["merchant_id"], "return_label")
        assert (first.status, second.status) == ("dead", "sent")
        outbox.settled(s, first)                   # the old booking's outcome, heard late
        assert not open_alerts(s, w["merchant_id"], "return_label_failed")


def test_no_capable_courier_is_one_alert(app, database, courier):
    w = a_world(database, "test_courier")          # tracks and intercepts, books nothing
    for n in (1, 2):
        shipped_order(database, w, f"P{n}")
        returned(database, w, f"R{n}", f"P{n}")
    with database.session() as s:
        [alert] = open_alerts(s, w["merchant_id"], "return_label_unavailable")
        assert (alert.entity, alert.entity_id) == ("merchant", w["merchant_id"])
        assert messages(s, w["merchant_id"], "return_label") == []


def test_a_case_a_courier_cannot_be_asked_for_is_an_alert(app, database, courier):
    w = a_world(database, address=False)
    shipped_order(database, w)
    returned(database, w)
    with database.session() as s:
        [alert] = open_alerts(s, w["merchant_id"], "return_label_failed")
        assert "return address" in alert.message
        assert messages(s, w["merchant_id"], "return_label") == []


def test_an_answer_without_a_waybill_is_an_alert(app, database, w, monkeypatch):
    monkeypatch.setattr(LabelCourier, "push", lambda self, topic, payload, key: PushResult(
        status_code=200, data={"return_label": {"carrier": "yto"}}))
    returned(database, w)
    deliver(app)
    with database.session() as s:
        case_id = the_case(s, w["merchant_id"]).id
        [alert] = open_alerts(s, w["merchant_id"], "return_label_failed")
        assert alert.entity_id == case_id and "waybill" in alert.message
        assert labels.live_label(s, the_case(s, w["merchant_id"])) is None


def test_a_waybill_after_the_buyer_shipped_their_own_is_not_a_second_parcel(app, database, w):
    returned(database, w)  # booked
    returned(database, w, status="return_in_transit", hours=3, return_carrier="sf",
             return_tracking_number="SFOWN0000001")  # the buyer sent it themselves meanwhile
    deliver(app)
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        parcels = [x.tracking_number for x in shipments(s, w["merchant_id"])
                   if x.direction == "return"]
        assert parcels == ["SFOWN0000001"]
        [alert] = open_alerts(s, w["merchant_id"], "return_label_failed")
        assert alert.entity_id == case.id and "cancel the pickup" in alert.message


# -- by hand ----------------------------------------------------------------------------------

def test_the_api_books_an_approved_return_once(app, client, database, w):
    returned(database, w, status="requested")
    with database.session() as s:
        case_id = the_case(s, w["merchant_id"]).id
    url, admin = f"/api/v1/returns/{case_id}/return-label", f.bearer(w["merchant_admin"])

    early = client.post(url, headers=admin, json={})
    assert early.status_code == 409 and "requested" in early.json["error"]["message"]
    apply(database, w["shop_id"], dataclasses.replace(
        return_values(kind="return_refund", status="approved",
                      updated=f.T0 + timedelta(hours=2))))
    assert client.post(url, headers=f.bearer(w["finance"]), json={}).status_code == 403
    bad = client.post(url, headers=admin, json={"carrier": "pigeon"})
    assert bad.status_code == 422 and "carrier" in bad.json["error"]["details"]
    with database.session() as s:
        assert messages(s, w["merchant_id"], "return_label") == []

    made = client.post(url, headers=admin, json={"carrier": "sf"})
    assert made.status_code == 202, made.json
    assert (made.json["return_case_id"], made.json["outbox_status"], made.json["connector"],
            made.json["carrier"]) == (case_id, "pending", "test_label_courier", "sf")
    live = client.post(url, headers=admin, json={})
    assert live.status_code == 409
    assert live.json["error"]["details"]["outbox_message_id"] == made.json["outbox_message_id"]
    deliver(app)
    assert client.post(url, headers=admin, json={}).status_code == 409   # issued: still live
    with database.session() as s:
        [booking] = messages(s, w["merchant_id"], "return_label")
        assert booking.payload["carrier"] == "sf"
        entry = audit_of(s, "return_case", case_id, "return_case.return_label_requested")
        assert entry.actor.startswith("token:") and entry.actor.endswith(":merchant_admin")

    other = a_world(database)
    assert client.post(url, headers=f.bearer(other["merchant_admin"]), json={}).status_code \
        == 404
