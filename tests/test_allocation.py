"""Allocation of paid orders to suppliers (``hub.domain.fulfilment.allocation``): SKU mapping by priority,
held orders, unmapped SKUs, idempotency, the dispatch notice, the supplier's answers and
tracking hand-back with its validation."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.domain import fulfilment as flow
from hub.core.errors import ApiError, Conflict
from hub.models import Fulfilment, Shipment
from mappings.tracking.codes import table
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    actions, apply, audit_of, fake_connectors, fulfilments, mapping, messages, open_alerts,
    order_values, platform_messages, shipments, supplier, the_order, world,
)


@pytest.fixture
def w(app, database, fake_connectors):
    with database.session() as s:
        return world(s)


def test_a_paid_order_goes_to_the_highest_priority_active_mapping(app, database, w):
    with database.session() as s:
        mid = w["merchant_id"]
        low = supplier(s, mid, "LOW", sla_hours=48)
        high = supplier(s, mid, "HIGH", sla_hours=6)
        off = supplier(s, mid, "OFF")
        gone = supplier(s, mid, "GONE", active=False)
        mapping(s, mid, low.id, "TEA", priority=1)
        mapping(s, mid, high.id, "TEA", priority=5, supplier_sku="H-TEA")
        mapping(s, mid, off.id, "TEA", priority=9, active=False)
        mapping(s, mid, gone.id, "TEA", priority=9)
        mapping(s, mid, low.id, "CUP", priority=0)
        ids = {"low": low.id, "high": high.id}
    assert apply(database, w["shop_id"], order_values(lines=(("TEA", 2), ("CUP", 1)))) \
        == "created"

    with database.session(readonly=True) as s:
        order = the_order(s, w["merchant_id"])
        made = {x.supplier_id: x for x in fulfilments(s, w["merchant_id"])}
        assert set(made) == {ids["low"], ids["high"]}
        lines = {ln.id: ln.sku for ln in order.lines}
        high_f, low_f = made[ids["high"]], made[ids["low"]]
        assert [(lines[x.order_line_id], x.quantity) for x in high_f.lines] == [("TEA", 2)]
        assert [(lines[x.order_line_id], x.quantity) for x in low_f.lines] == [("CUP", 1)]
        for x, hours in ((high_f, 6), (low_f, 48)):
            assert x.status == "requested" and x.requested_at is not None
            assert x.answer_due_at == x.requested_at + timedelta(hours=hours)
            assert "fulfilment.requested" in actions(s, "fulfilment", x.id)
        sent = {m.entity_id: m for m in messages(s, w["merchant_id"], "order_dispatch")}
        assert set(sent) == {high_f.id, low_f.id}
        assert sent[high_f.id].payload == {
            "fulfilment_id": high_f.id,
            "answer_by": high_f.answer_due_at.isoformat(),
            "order": {
                "platform_order_id": "P1", "placed_at": order.placed_at.isoformat(),
                "paid_at": order.paid_at.isoformat(), "ship_by": order.ship_by.isoformat(),
                "note": "leave at the door",
                "buyer": {"name_masked": "张*", "phone_masked": "138****5678",
                          "address_masked": "北京市***", "province_code": "110000",
                          "city_code": "110100", "district_code": "110101",
                          "name_cipher": "NC", "phone_cipher": "PC", "address_cipher": "AC"},
            },
            "lines": [{"sku": "TEA", "supplier_sku": "H-TEA", "title": "Item TEA",
                       "quantity": 2}],
        }
        assert sent[high_f.id].entity == "fulfilment"
        assert sent[high_f.id].account_id == s.get(type(off), ids["high"]).channel_account_id


def test_allocation_happens_once_however_often_the_order_arrives(app, database, w):
    for minutes in (0, 0, 5):
        apply(database, w["shop_id"], order_values(updated=f.T0 + timedelta(minutes=minutes)))
    with database.session(readonly=True) as s:
        order = the_order(s, w["merchant_id"])
        assert flow.handle_order(s, order) == []
        assert len(fulfilments(s, w["merchant_id"])) == 1
        assert len(messages(s, w["merchant_id"], "order_dispatch")) == 1


def test_only_paid_orders_are_allocated(app, database, w):
    apply(database, w["shop_id"], order_values(status="pending_payment"))
    with database.session(readonly=True) as s:
        assert fulfilments(s, w["merchant_id"]) == []
    apply(database, w["shop_id"], order_values(updated=f.T0 + timedelta(minutes=1)))
    with database.session(readonly=True) as s:
        assert len(fulfilments(s, w["merchant_id"])) == 1


def test_a_held_order_stays_held_visibly_until_the_flag_clears(app, client, database, w):
    apply(database, w["shop_id"], order_values(hold=("risk_review", "group_buy_in_progress")))
    with database.session() as s:
        token = f.token(s, w["merchant_id"])
        order_id = the_order(s, w["merchant_id"]).id
        assert fulfilments(s, w["merchant_id"]) == []
        [held] = open_alerts(s, w["merchant_id"], "order_held")
        assert held.entity_id == order_id
        assert held.details["reasons"] == ["risk_review", "group_buy_in_progress"]
        assert "risk_review" in held.message
        assert "order.held" in actions(s, "order", order_id)
    resp = client.get("/api/v1/orders?do_not_ship=true", headers=f.bearer(token))
    assert [o["id"] for o in resp.get_json()["data"]] == [order_id]

    # the same hold again changes nothing; then the flag clears
    apply(database, w["shop_id"], order_values(hold=("risk_review",),
                                               updated=f.T0 + timedelta(minutes=1)))
    with database.session(readonly=True) as s:
        assert fulfilments(s, w["merchant_id"]) == []
        assert [a.details["reasons"] for a in open_alerts(s, w["merchant_id"], "order_held")] \
            == [["risk_review"]]
        assert actions(s, "order", order_id).count("order.held") == 1
    apply(database, w["shop_id"], order_values(updated=f.T0 + timedelta(minutes=2)))
    with database.session(readonly=True) as s:
        assert len(fulfilments(s, w["merchant_id"])) == 1
        assert open_alerts(s, w["merchant_id"], "order_held") == []
        assert "order.released" in actions(s, "order", order_id)
    resp = client.get("/api/v1/orders?do_not_ship=true", headers=f.bearer(token))
    assert resp.get_json()["data"] == []


def test_a_hold_after_allocation_is_critical_and_names_the_fulfilment(app, database, w):
    apply(database, w["shop_id"], order_values())
    apply(database, w["shop_id"], order_values(hold=("address_changed",),
                                               updated=f.T0 + timedelta(minutes=1)))
    with database.session(readonly=True) as s:
        [x] = fulfilments(s, w["merchant_id"])
        assert x.status == "requested"  # not stopped behind the merchant's back
        [held] = open_alerts(s, w["merchant_id"], "order_held")
        assert held.severity == "critical" and held.details["fulfilment_ids"] == [x.id]


def test_unmapped_skus_are_alerted_and_allocated_once_mapped(app, database, w):
    apply(database, w["shop_id"], order_values(lines=(("SKU-1", 1), ("NEW-1", 3))))
    with database.session() as s:
        [first] = fulfilments(s, w["merchant_id"])
        assert len(first.lines) == 1
        [alert] = open_alerts(s, w["merchant_id"], "sku_unmapped")
        assert alert.details["skus"] == ["NEW-1"]
        mapping(s, w["merchant_id"], w["supplier_id"], "NEW-1")
    apply(database, w["shop_id"], order_values(lines=(("SKU-1", 1), ("NEW-1", 3)),
                                               updated=f.T0 + timedelta(minutes=1)))
    with database.session(readonly=True) as s:
        first_again, second = fulfilments(s, w["merchant_id"])
        assert first_again.id == first.id and len(first_again.lines) == 1
        assert [x.quantity for x in second.lines] == [3]
        assert open_alerts(s, w["merchant_id"], "sku_unmapped") == []
        assert len(messages(s, w["merchant_id"], "order_dispatch")) == 2


def test_an_unmapped_line_stays_visible_when_the_rest_of_the_order_ships(app, database, w):
    """Issue 10, item 11: a gift with no supplier mapping is not dropped silently when the
    platform reports the order shipped; its alert stays open until someone decides."""
    lines = (("SKU-1", 1), ("GIFT-9", 1))
    apply(database, w["shop_id"], order_values(lines=lines))
    apply(database, w["shop_id"], order_values(lines=lines, status="shipped",
                                               updated=f.T0 + timedelta(minutes=5)))
    with database.session(readonly=True) as s:
        [alert] = open_alerts(s, w["merchant_id"], "sku_unmapped")
        assert alert.details["skus"] == ["GIFT-9"]


def test_no_alert_is_resolved_without_an_audit_entry_saying_why(app, database, w):
    lines = (("SKU-1", 1), ("NEW-1", 3))
    apply(database, w["shop_id"], order_values(lines=lines))
    with database.session() as s:
        [alert] = open_alerts(s, w["merchant_id"], "sku_unmapped")
        mapping(s, w["merchant_id"], w["supplier_id"], "NEW-1")
    apply(database, w["shop_id"], order_values(lines=lines, updated=f.T0 + timedelta(minutes=1)))
    with database.session(readonly=True) as s:
        assert open_alerts(s, w["merchant_id"], "sku_unmapped") == []
        entry = audit_of(s, "alert", alert.id, "alert.resolved")
        assert entry.changes["kind"] == "sku_unmapped"
        assert entry.changes["why"] == "every line of the order is allocated"


def test_a_cancelled_order_resolves_its_allocation_alerts_saying_so(app, database, w):
    lines = (("SKU-1", 1), ("NEW-1", 3))
    apply(database, w["shop_id"], order_values(lines=lines))
    with database.session(readonly=True) as s:
        [alert] = open_alerts(s, w["merchant_id"], "sku_unmapped")
    apply(database, w["shop_id"], order_values(lines=lines, status="cancelled",
                                               updated=f.T0 + timedelta(minutes=1)))
    with database.session(readonly=True) as s:
        assert open_alerts(s, w["merchant_id"], "sku_unmapped") == []
        assert audit_of(s, "alert", alert.id, "alert.resolved").changes["why"] == \
            "the order is cancelled"


def test_a_supplier_without_channel_is_alerted(app, database, fake_connectors):
    with database.session() as s:
        w = world(s, channel=False)
    apply(database, w["shop_id"], order_values())
    with database.session(readonly=True) as s:
        assert len(fulfilments(s, w["merchant_id"])) == 1
        assert messages(s, w["merchant_id"], "order_dispatch") == []
        [alert] = open_alerts(s, w["merchant_id"], "supplier_has_no_channel")
        assert alert.entity == "supplier" and alert.entity_id == w["supplier_id"]


# -- answers -----------------------------------------------------------------------------------

def _allocated(database, w, pid="P1"):
    apply(database, w["shop_id"], order_values(pid))
    with database.session(readonly=True) as s:
        return [x.id for x in fulfilments(s, w["merchant_id"])][-1]


def test_accept_is_timestamped_and_repeatable(app, database, w):
    fid = _allocated(database, w)
    with database.session() as s:
        x = flow.accept(s, s.get(Fulfilment, fid), "supplier:1", "SUP-REF-1")
        assert x.status == "accepted" and x.accepted_at is not None
    with database.session() as s:
        again = flow.accept(s, s.get(Fulfilment, fid), "supplier:1", "SUP-REF-2")
        assert again.supplier_reference == "SUP-REF-1"
        entry = audit_of(s, "fulfilment", fid, "fulfilment.accepted")
        assert entry.actor == "supplier:1" and entry.changes["late"] is False
        assert actions(s, "fulfilment", fid).count("fulfilment.accepted") == 1


def test_reject_needs_a_reason_and_alerts_the_merchant(app, database, w):
    fid = _allocated(database, w)
    with database.session() as s:
        with pytest.raises(ApiError) as e:
            flow.reject(s, s.get(Fulfilment, fid), "supplier:1", "  ")
        assert e.value.status == 422
    with database.session() as s:
        x = flow.reject(s, s.get(Fulfilment, fid), "supplier:1", "out of stock")
        assert (x.status, x.reject_reason) == ("rejected", "out of stock")
        assert x.rejected_at is not None
        [alert] = open_alerts(s, w["merchant_id"], "fulfilment_rejected")
        assert alert.entity_id == fid and "out of stock" in alert.message
    with database.session() as s:
        with pytest.raises(Conflict):
            flow.accept(s, s.get(Fulfilment, fid), "supplier:1")


# -- tracking hand-back ----------------------------------------------------------------------

def test_tracking_is_registered_marked_shipped_and_pushed(app, database, w):
    fid = _allocated(database, w)
    with database.session() as s:
        shipment = flow.submit_tracking(s, s.get(Fulfilment, fid), "顺丰速运",
                                        " sf 1234-5678-90123 ", "supplier:1", None)
        shipment_id = shipment.id
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert x.status == "shipped" and x.shipped_at is not None
        assert x.accepted_at is not None  # shipping is accepting
        [sh] = shipments(s, w["merchant_id"])
        assert (sh.id, sh.carrier, sh.tracking_number, sh.direction, sh.fulfilment_id,
                sh.order_id) == (shipment_id, "sf", "SF1234567890123", "outbound", fid,
                                 x.order_id)
        assert sh.subscription_status == "requested"  # the courier follows it
        assert [m.topic for m in messages(s, w["merchant_id"], "subscribe")] == ["subscribe"]
        entry = audit_of(s, "fulfilment", fid, "fulfilment.tracking_submitted")
        assert entry.changes["tracking_number"] == "SF1234567890123"
        assert platform_messages(s, w["merchant_id"]) == [
            ("shipment", "shipment", shipment_id,
             {"order_id": "P1", "carrier": "sf", "tracking_number": "SF1234567890123"})]

    with database.session() as s:  # the same hand-back again: same parcel, nothing new
        again = flow.submit_tracking(s, s.get(Fulfilment, fid), "shunfeng", "SF1234567890123",
                                     "supplier:1", None)
        assert again.id == shipment_id
        with pytest.raises(Conflict):
            flow.submit_tracking(s, s.get(Fulfilment, fid), "sf", "SF9999999999999",
                                 "supplier:1", None)
        assert len(platform_messages(s, w["merchant_id"])) == 1


@pytest.mark.parametrize("carrier, number, code, field", [
    ("sf", "12345", "invalid_tracking_number", "tracking_number"),
    ("sf", "YT1234567890123", "invalid_tracking_number", "tracking_number"),
    ("yto", "YT12345", "invalid_tracking_number", "tracking_number"),
    ("jd", "JD12", "invalid_tracking_number", "tracking_number"),
    ("pigeon-post", "SF1234567890123", "invalid_tracking_number", "carrier"),
    ("", "SF1234567890123", "invalid_tracking_number", "carrier"),
])
def test_a_bad_tracking_number_is_a_clear_422_and_changes_nothing(
        app, database, w, carrier, number, code, field):
    fid = _allocated(database, w)
    with database.session() as s:
        with pytest.raises(ApiError) as e:
            flow.submit_tracking(s, s.get(Fulfilment, fid), carrier, number, "supplier:1", None)
    assert (e.value.status, e.value.code) == (422, code)
    assert field in e.value.details and e.value.message
    _nothing_shipped(database, w, fid)


def _nothing_shipped(database, w, fid):
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert (x.status, x.shipped_at) == ("requested", None)
        assert shipments(s, w["merchant_id"]) == []
        assert messages(s, w["merchant_id"], "subscribe") == []
        assert "fulfilment.tracking_submitted" not in actions(s, "fulfilment", fid)
        assert platform_messages(s, w["merchant_id"]) == []


def test_a_tracking_number_of_another_order_is_refused(app, database, w):
    first = _allocated(database, w, "P1")
    second = _allocated(database, w, "P2")
    with database.session() as s:
        flow.submit_tracking(s, s.get(Fulfilment, first), "zto", "731234567890",
                             "supplier:1", None)
    with database.session() as s:
        with pytest.raises(ApiError) as e:
            flow.submit_tracking(s, s.get(Fulfilment, second), "zto", "731234567890",
                                 "supplier:1", None)
    assert (e.value.status, e.value.code) == (422, "tracking_number_reused")
    assert "another order" in e.value.message
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, second).status == "requested"
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
        assert len(platform_messages(s, w["merchant_id"])) == 1  # the first order's only


def test_every_pattern_example_is_valid_and_every_carrier_has_a_pattern():
    patterns = table("tracking_patterns.json")
    assert set(patterns["carriers"]) == set(table("carriers.json")["carriers"])
    import re
    for code, rule in patterns["carriers"].items():
        assert re.fullmatch(rule["pattern"], rule["example"]), code
        assert flow.normalise_carrier(code) == code


def test_carrier_aliases_are_normalised():
    assert flow.normalise_carrier("SF") == "sf"
    assert flow.normalise_carrier("zhongtong") == "zto"
    assert flow.normalise_carrier("J&T Express") == "jitu"
    assert flow.normalise_carrier("pigeon-post") is None

