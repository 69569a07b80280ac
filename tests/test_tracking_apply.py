"""Applying courier tracking to shipments (``hub.domain.tracking.records``): events once
each, the status machine over event time (late, repeated and out-of-order pushes never
move a parcel backwards; final states left only by documented transitions), monitoring
and interception results without events, carrier-code corrections."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hub import wiring
from hub.pipeline import events, sync
from hub.models import AuditEntry, Shipment, TrackingEvent
from mappings.tracking import kuaidi100 as k100_mapper
from tests import factories as f
from tests.tracking_helpers import courier, ev, values


@pytest.fixture(autouse=True)
def _app(app):
    """The app configures credential encryption (courier accounts store their config)."""
    return app


def setup(s, status="pending", carrier="sf", number="SF100"):
    m = f.merchant(s)
    account = courier(s, m.id)
    shipment = Shipment(merchant_id=m.id, carrier=carrier, tracking_number=number,
                        status=status, flags=[])
    s.add(shipment)
    s.flush()
    return account, shipment


def events_of(s, shipment):
    return list(s.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id == shipment.id)
                          .order_by(TrackingEvent.occurred_at)))


def test_events_move_the_status_and_are_stored_once(session):
    account, shipment = setup(session)
    push = values("SF100", ev(0, "picked_up", "103"), ev(60, "in_transit", "1002"))
    assert sync.apply(session, account, push) == "updated"
    assert (shipment.status, shipment.raw_status) == ("in_transit", "1002")
    assert sync.apply(session, account, push) == "ignored"          # the same history again
    assert len(events_of(session, shipment)) == 2
    full = values("SF100", ev(0, "picked_up", "103"), ev(60, "in_transit", "1002"),
                  ev(120, "out_for_delivery", "5"), ev(180, "delivered", "301"))
    assert sync.apply(session, account, full) == "updated"
    assert shipment.status == "delivered" and len(events_of(session, shipment)) == 4
    assert shipment.delivered_at == ev(180, "delivered").occurred_at
    assert shipment.last_event_at == ev(180, "delivered").occurred_at


def test_a_late_old_snapshot_never_moves_the_parcel_back(session):
    account, shipment = setup(session)
    sync.apply(session, account, values("SF100", ev(0, "picked_up"), ev(60, "in_transit"),
                                        ev(120, "out_for_delivery")))
    late = values("SF100", ev(0, "picked_up"), ev(30, "info_received", "102", "a scan we missed"))
    assert sync.apply(session, account, late) == "updated"          # stored as history ...
    assert shipment.status == "out_for_delivery"                    # ... but not applied
    assert len(events_of(session, shipment)) == 4


def test_out_of_order_pushes_end_on_the_newest_event(session):
    account, shipment = setup(session)
    sync.apply(session, account, values("SF100", ev(180, "delivered", "301")))
    sync.apply(session, account, values("SF100", ev(60, "in_transit"), ev(120, "out_for_delivery")))
    assert shipment.status == "delivered"
    assert [e.status for e in events_of(session, shipment)] == \
        ["in_transit", "out_for_delivery", "delivered"]


def test_final_states_are_left_only_by_documented_transitions(session):
    account, shipment = setup(session)
    sync.apply(session, account, values("SF100", ev(0, "delivered", "304")))
    sync.apply(session, account, values("SF100", ev(10, "in_transit", "0", "scan after delivery")))
    assert shipment.status == "delivered"
    assert "held_final:in_transit" in shipment.flags
    sync.apply(session, account, values("SF100", ev(20, "refused", "14")))
    assert shipment.status == "refused"                              # delivered -> refused
    sync.apply(session, account, values("SF100", ev(30, "returning", "6"), ev(40, "returned", "4")))
    assert shipment.status == "returned"
    sync.apply(session, account, values("SF100", ev(50, "out_for_delivery", "5")))
    assert shipment.status == "returned"


def test_an_abort_without_events_is_recorded(session):
    account, shipment = setup(session, status="in_transit")
    abort = values("SF100", monitoring="abort", flags=("monitoring_abort:no_records",))
    assert sync.apply(session, account, abort) == "updated"
    assert shipment.monitoring == "abort" and shipment.status == "in_transit"
    assert sync.apply(session, account, abort) == "ignored"          # nothing new


def test_interception_results_are_recorded_and_audited(session):
    account, shipment = setup(session, status="in_transit")
    shipment.interception_status = "requested"
    assert sync.apply(session, account, values("SF100", interception="failed")) == "updated"
    assert shipment.interception_status == "failed"
    assert sync.apply(session, account, values("SF100", interception="failed")) == "ignored"
    shipment.interception_status = "requested"                       # asked again
    ok = values("SF100", ev(90, "intercepted", "intercept:RETURN_SEND_ADDR", "拦截成功"),
                interception="succeeded")
    assert sync.apply(session, account, ok) == "updated"
    assert (shipment.interception_status, shipment.status) == ("succeeded", "intercepted")
    sync.apply(session, account, values("SF100", interception="failed"))   # late, contradicting
    assert shipment.interception_status == "succeeded"
    actions = list(session.scalars(select(AuditEntry.action).where(
        AuditEntry.entity == "shipment", AuditEntry.entity_id == shipment.id)
        .order_by(AuditEntry.id)))
    assert actions == ["shipment.interception_failed", "shipment.interception_succeeded"]


def test_carrier_correction_finds_the_shipment_under_its_old_carrier(session):
    account, shipment = setup(session, carrier="yto", number="ZT777")
    param = {"status": "abort", "message": "", "autoCheck": "1", "comOld": "yuantong",
             "comNew": "zhongtong",
             "lastResult": {"nu": "ZT777", "com": "yuantong", "state": "0", "data": [
                 {"time": "2026-11-02 10:00:00", "context": "已揽收", "statusCode": "103"}]}}
    v = k100_mapper.map_push(param)
    assert "carrier_corrected:yto->zto" in v.flags and v.carrier == "zto"
    assert sync.apply(session, account, v) == "updated"
    assert (shipment.carrier, shipment.status) == ("zto", "picked_up")
    later = values("ZT777", ev(600, "in_transit", "1002"), carrier="zto",
                   flags=("carrier_corrected:yto->zto",))
    assert sync.apply(session, account, later) == "updated"
    assert shipment.status == "in_transit"


def test_an_unknown_carrier_falls_back_to_the_tracking_number(session):
    account, shipment = setup(session, number="SF999")
    v = values("SF999", ev(0, "picked_up"), carrier="3011", flags=("unknown_carrier:3011",))
    assert sync.apply(session, account, v) == "updated"
    assert shipment.status == "picked_up" and shipment.carrier == "sf"


def test_an_unknown_parcel_is_ignored(session):
    account, _ = setup(session)
    assert sync.apply(session, account, values("NOPE", ev(0, "picked_up"))) == "ignored"


def test_subscribers_see_what_changed(session):
    account, shipment = setup(session)
    seen = []

    def spy(s, change):
        seen.append((change.previous_status, change.status, change.events_added,
                     change.interception))

    events.subscribe(events.ShipmentTracked, spy)
    try:
        sync.apply(session, account, values("SF100", ev(0, "picked_up"), ev(5, "in_transit")))
        sync.apply(session, account, values("SF100", interception="failed"))
    finally:
        wiring.wire()
    assert seen == [("pending", "in_transit", 2, None), ("in_transit", "in_transit", 0, "failed")]
