"""Fake shipments (虚假发货): a waybill the supplier reported that no courier scanned
within the terms' ``fake_after_hours`` is decided by the ``supplier_sla`` job's sweep
(``hub.domain.liability.triggers.sweep_fake_shipments``): the supplier pays the
platform's penalty and the goods."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hub.core.db import utcnow
from hub.domain import fulfilment as flow
from hub.domain.liability.triggers import sweep_fake_shipments
from hub.domain.policy import versions
from hub.domain.policy.document import DEFAULT
from hub.models import Account, Claim, Fulfilment, LiabilityDecision, Shipment, SkuMapping
from hub.pipeline import sync
from hub.values import TrackingEventValues, TrackingValues
from tests import factories as f
from tests.test_inspection import w  # noqa: F401 (fixture)


def reported(database, w, number):  # noqa: F811
    with database.session() as s:
        if s.scalar(select(SkuMapping.id)) is None:
            f.sku_mapping(s, w["merchant_id"], w["supplier_id"]).unit_cost_minor = 3000
        order = f.order(s, w["merchant_id"], w["shop_id"], price=5000)
        [x] = flow.allocate(s, order)
        flow.accept(s, x, "supplier:1")
        flow.submit_tracking(s, x, "sf", number, "supplier:1")
        return x.id


def decided(database):
    with database.session() as s:
        return [(d.event, d.fulfilment_id, d.rule, d.total_minor)
                for d in s.scalars(select(LiabilityDecision))]


def test_a_waybill_never_scanned_is_a_fake_shipment_after_the_terms_hours(database,
                                                                         w):  # noqa: F811
    fid = reported(database, w, "SF1000000000991")
    now = utcnow()
    with database.session() as s:
        assert sweep_fake_shipments(s, now + timedelta(hours=47)) == 0  # 48 by default
        assert sweep_fake_shipments(s, now + timedelta(hours=49)) == 1
    assert decided(database) == [("fake_shipment", fid, "fake_shipment_reported",
                                  2000 + 3000)]  # the penalty and the goods at cost
    with database.session() as s:
        assert sweep_fake_shipments(s, now + timedelta(hours=100)) == 0  # decided once
        [claim] = s.scalars(select(Claim))
        assert claim.supplier_id == w["supplier_id"] and claim.amount_minor == 5000


def test_a_scanned_waybill_is_not_fake_and_the_terms_set_the_hours(database, w):  # noqa: F811
    scanned = reported(database, w, "SF1000000000992")
    quiet = reported(database, w, "SF1000000000993")
    with database.session() as s:
        courier = f.shop(s, w["merchant_id"])  # any account: the record names the parcel
        s.get(Account, courier.id).kind = "courier"
        number = s.scalar(select(Shipment.tracking_number).where(
            Shipment.fulfilment_id == scanned))
        sync.apply(s, s.get(Account, courier.id), TrackingValues(
            carrier="sf", tracking_number=number, events=(TrackingEventValues(
                occurred_at=utcnow(), status="picked_up", raw_status="1"),)))
        draft = versions.edit(s, w["merchant_id"], {**DEFAULT, "liability": {
            "fake_after_hours": 72}}, "tester")
        versions.publish(s, w["merchant_id"], draft.version, "tester")
    now = utcnow()
    with database.session() as s:
        assert sweep_fake_shipments(s, now + timedelta(hours=60)) == 0
        assert sweep_fake_shipments(s, now + timedelta(hours=73)) == 1
    assert [x[1] for x in decided(database)] == [quiet]
    with database.session() as s:
        assert s.get(Fulfilment, scanned).status == "shipped"


def test_a_corrected_waybill_a_cancelled_order_or_a_stop_is_not_a_fake_shipment(database,
                                                                                w):  # noqa: F811
    corrected = reported(database, w, "SF1000000000994")
    cancelled = reported(database, w, "SF1000000000995")
    with database.session() as s:
        x = s.get(Fulfilment, corrected)
        flow.correct_tracking(s, x, "sf", "SF1000000000996", "merchant", "wrong label")
        courier = f.shop(s, w["merchant_id"])
        s.get(Account, courier.id).kind = "courier"
        sync.apply(s, s.get(Account, courier.id), TrackingValues(
            carrier="sf", tracking_number="SF1000000000996", events=(TrackingEventValues(
                occurred_at=utcnow(), status="picked_up", raw_status="1"),)))
        s.get(Fulfilment, cancelled).order.status = "cancelled"
    with database.session() as s:
        assert sweep_fake_shipments(s, utcnow() + timedelta(hours=49)) == 0
    assert decided(database) == []
