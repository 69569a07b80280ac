"""Stop-ship (``hub.domain.fulfilment.stopship``): a refund or cancellation before delivery stops the
supplier at once; accepted → cancelled and the refund approved; rejected or already
shipped → the courier intercepts; interception failed → an expected return. Every step is
timestamped and audited, and repeated webhooks change nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub.domain import fulfilment as flow
from hub.core.errors import ApiError, Conflict
from hub.models import Account, Fulfilment, Order, OutboxMessage, Shipment
from hub.pipeline.outbox import settled
from jobs import deliver_outbox
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    actions, apply, audit_of, courier_id, fake_connectors, fulfilments, mapping, messages,
    open_alerts, order_values, platform_messages, return_values, shipments, supplier,
    the_case, tracking_values, world,
)

LATER = f.T0 + timedelta(hours=2)


@pytest.fixture
def w(app, database, fake_connectors):
    with database.session() as s:
        return world(s, sla_hours=24, terms={"stop_ship_sla_hours": 2})


def allocated(database, w, pid="P1", lines=(("SKU-1", 1),), accept=True) -> int:
    apply(database, w["shop_id"], order_values(pid, lines=lines))
    with database.session() as s:
        fid = [x.id for x in fulfilments(s, w["merchant_id"])][-1]
        if accept:
            flow.accept(s, s.get(Fulfilment, fid), "supplier:1")
    return fid


def shipped(database, w, number="SF1234567890123", pid="P1") -> tuple[int, int]:
    fid = allocated(database, w, pid)
    with database.session() as s:
        shipment = flow.submit_tracking(s, s.get(Fulfilment, fid), "sf", number, "supplier:1",
                                        None)
        return fid, shipment.id


def refund(database, w, *, kind="refund_only", status="requested", rid="R1", pid="P1",
           lines=(("SKU-1", 1),), at=None):
    return apply(database, w["shop_id"], return_values(rid, pid, kind=kind, status=status,
                                                       lines=lines, updated=at))


def test_refund_before_shipment_stops_then_approves_the_refund(app, database, w):
    fid = allocated(database, w)
    refund(database, w)
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert (x.status, x.cancel_reason) == ("cancel_requested", "refund_requested")
        assert x.cancel_answer_due_at == x.cancel_requested_at + timedelta(hours=2)
        [notice] = messages(s, w["merchant_id"], "stop_ship")
        assert (notice.entity, notice.entity_id, notice.account_id) == (
            "fulfilment", fid, w["channel_id"])
        assert notice.payload == {"fulfilment_id": fid, "platform_order_id": "P1",
                                  "supplier_reference": x.supplier_reference,
                                  "reason": "refund_requested",
                                  "answer_by": x.cancel_answer_due_at.isoformat()}
        entry = audit_of(s, "fulfilment", fid, "fulfilment.stop_ship_requested")
        assert entry.changes["answer_due_at"] == x.cancel_answer_due_at.isoformat()
        assert platform_messages(s, w["merchant_id"]) == []  # nothing approved yet

    refund(database, w)                                   # the same webhook again
    refund(database, w, at=LATER)                         # and a newer copy of it
    with database.session() as s:
        assert len(messages(s, w["merchant_id"], "stop_ship")) == 1
        flow.answer_stop_ship(s, s.get(Fulfilment, fid), True, "supplier:1")
    with database.session() as s:
        x = s.get(Fulfilment, fid)
        assert x.status == "cancelled"
        assert x.requested_at <= x.accepted_at <= x.cancel_requested_at <= x.cancel_answered_at
        case = the_case(s, w["merchant_id"])
        assert platform_messages(s, w["merchant_id"]) == [
            ("refund_approve", "return_case", case.id, {"refund_id": "R1", "amount_minor": 1990})]
        assert actions(s, "fulfilment", fid) == [
            "fulfilment.requested", "fulfilment.accepted", "fulfilment.stop_ship_requested",
            "fulfilment.stop_ship_accepted"]
        assert actions(s, "return_case", case.id) == ["return_case.refund_approval_requested"]
        assert flow.answer_stop_ship(s, x, True, "supplier:1") is x  # repeated: no-op
    refund(database, w, at=LATER + timedelta(minutes=1))
    with database.session(readonly=True) as s:
        assert len(platform_messages(s, w["merchant_id"])) == 1
        assert actions(s, "fulfilment", fid).count("fulfilment.stop_ship_accepted") == 1


def test_the_stop_ship_request_is_delivered_to_the_supplier_channel(app, database, w,
                                                                  fake_connectors):
    apply(database, w["shop_id"], order_values())
    while deliver_outbox.run(app, "test-worker"):   # the dispatch reaches the supplier
        pass
    refund(database, w)
    while deliver_outbox.run(app, "test-worker"):
        pass
    with database.session(readonly=True) as s:
        [fid] = [x.id for x in fulfilments(s, w["merchant_id"])]
    assert [(topic, payload["fulfilment_id"]) for topic, payload, _ in fake_connectors.sent] \
        == [("order_dispatch", fid), ("stop_ship", fid)]


def test_a_cancelled_order_is_stopped_without_a_refund_to_approve(app, database, w):
    fid = allocated(database, w, accept=False)
    apply(database, w["shop_id"], order_values(status="cancelled", updated=LATER))
    with database.session() as s:
        x = s.get(Fulfilment, fid)
        assert (x.status, x.cancel_reason) == ("cancel_requested", "order_cancelled")
        flow.answer_stop_ship(s, x, True, "supplier:1")
        assert x.status == "cancelled" and x.cancel_answered_at is not None
        assert platform_messages(s, w["merchant_id"]) == []
        with pytest.raises(Conflict):
            flow.accept(s, x, "supplier:1")


def test_refund_after_shipment_intercepts_and_a_failed_interception_comes_back(
        app, database, w):
    fid, sid = shipped(database, w)
    refund(database, w)
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert (x.status, x.cancel_reason) == ("shipped", "refund_requested")
        assert x.cancel_requested_at is not None and x.cancel_answer_due_at is None
        assert messages(s, w["merchant_id"], "stop_ship") == []  # not asked: it shipped
        assert s.get(Shipment, sid).interception_status == "requested"
        [intercept] = messages(s, w["merchant_id"], "intercept")
        assert (intercept.entity, intercept.entity_id) == ("shipment", sid)
        assert intercept.account_id == courier_id(s, w["merchant_id"])
        entry = audit_of(s, "fulfilment", fid, "fulfilment.interception_requested")
        assert entry.changes["tracking_number"] == "SF1234567890123"

    for _ in range(2):  # the courier reports the failure (twice)
        apply(database, courier_id_of(database, w), tracking_values("SF1234567890123",
                                                                  interception="failed"))
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert x.expected_return is True
        [alert] = open_alerts(s, w["merchant_id"], "stop_ship_failed")
        assert alert.entity_id == fid and alert.severity == "critical"
        case = the_case(s, w["merchant_id"])
        [notice] = messages(s, w["merchant_id"], "return_notice")
        assert (notice.entity, notice.entity_id, notice.account_id) == (
            "return_case", case.id, w["channel_id"])
        assert notice.payload == {
            "return_case_id": case.id, "fulfilment_id": fid, "platform_order_id": "P1",
            "kind": "refund_only", "reason_code": "buyer.changed_mind",
            "reason_text": "changed my mind", "lines": [{"sku": "SKU-1", "quantity": 1}],
            "tracking": None, "expected_return": True}
        entry = audit_of(s, "fulfilment", fid, "fulfilment.expected_return")
        assert entry.changes["cause"] == "interception_failed"
        assert actions(s, "fulfilment", fid).count("fulfilment.expected_return") == 1


def courier_id_of(database, w) -> int:
    with database.session(readonly=True) as s:
        return courier_id(s, w["merchant_id"])


def test_rejected_with_tracking_intercepts_and_delivery_makes_an_expected_return(
        app, database, w):
    fid = allocated(database, w)
    refund(database, w)
    with database.session() as s:
        flow.answer_stop_ship(s, s.get(Fulfilment, fid), False, "supplier:1",
                                  reason="left the warehouse at 9:00", carrier="zto",
                                  tracking_number="731234567890")
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert (x.status, x.cancel_reject_reason) == ("cancel_rejected",
                                                       "left the warehouse at 9:00")
        assert x.cancel_answered_at is not None and x.shipped_at is not None
        [parcel] = shipments(s, w["merchant_id"])
        assert (parcel.carrier, parcel.tracking_number, parcel.fulfilment_id) == (
            "zto", "731234567890", fid)
        assert parcel.interception_status == "requested"
        assert actions(s, "fulfilment", fid)[-3:] == [
            "fulfilment.stop_ship_rejected", "fulfilment.tracking_submitted",
            "fulfilment.interception_requested"]
        assert [m[0] for m in platform_messages(s, w["merchant_id"])] == ["shipment"]
    with database.session() as s:  # the same answer again changes nothing
        flow.answer_stop_ship(s, s.get(Fulfilment, fid), False, "supplier:1",
                                  carrier="zto", tracking_number="731234567890")
        assert len(messages(s, w["merchant_id"], "intercept")) == 1

    apply(database, courier_id_of(database, w),
          tracking_values("731234567890", carrier="zto", status="delivered"))
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, fid).expected_return is True
        entry = audit_of(s, "fulfilment", fid, "fulfilment.expected_return")
        assert entry.changes["cause"] == "delivered_despite_stop"
        [notice] = messages(s, w["merchant_id"], "return_notice")
        assert notice.payload["expected_return"] is True


def test_a_bad_tracking_number_in_a_rejection_changes_nothing(app, database, w):
    fid = allocated(database, w)
    refund(database, w)
    with database.session() as s:
        with pytest.raises(ApiError) as e:
            flow.answer_stop_ship(s, s.get(Fulfilment, fid), False, "supplier:1",
                                      carrier="sf", tracking_number="12")
    assert (e.value.status, e.value.code) == (422, "invalid_tracking_number")
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert (x.status, x.cancel_answered_at) == ("cancel_requested", None)
        assert shipments(s, w["merchant_id"]) == []


def test_tracking_handed_back_under_a_stop_ship_request_is_a_rejection(app, database, w):
    fid = allocated(database, w)
    refund(database, w)
    with database.session() as s:
        shipment = flow.submit_tracking(s, s.get(Fulfilment, fid), "yto", "YT1234567890123",
                                        "supplier:1", None)
        assert shipment.fulfilment_id == fid and shipment.interception_status == "requested"
        x = s.get(Fulfilment, fid)
        assert (x.status, x.cancel_reject_reason) == ("cancel_rejected", "already_shipped")


def test_a_rejection_without_tracking_is_alerted_until_the_tracking_comes(app, database, w):
    fid = allocated(database, w)
    refund(database, w)
    with database.session() as s:
        flow.answer_stop_ship(s, s.get(Fulfilment, fid), False, "supplier:1")
        [alert] = open_alerts(s, w["merchant_id"], "stop_ship_no_tracking")
        assert alert.supplier_id == w["supplier_id"]
    with database.session() as s:
        flow.submit_tracking(s, s.get(Fulfilment, fid), "sf", "SF1234567890123",
                             "supplier:1", None)
    with database.session(readonly=True) as s:
        assert open_alerts(s, w["merchant_id"], "stop_ship_no_tracking") == []
        assert len(messages(s, w["merchant_id"], "intercept")) == 1


def test_a_return_refund_waits_for_the_merchant(app, database, w):
    fid = allocated(database, w)
    refund(database, w, kind="return_refund")
    with database.session() as s:
        flow.answer_stop_ship(s, s.get(Fulfilment, fid), True, "supplier:1")
        assert platform_messages(s, w["merchant_id"]) == []
        [alert] = open_alerts(s, w["merchant_id"], "refund_needs_decision")
        assert alert.entity_id == the_case(s, w["merchant_id"]).id


def test_the_shop_can_turn_automatic_approval_off(app, database, w):
    with database.session() as s:
        s.get(Account, w["shop_id"]).config = {"auto_approve_refund_on_stop": False}
    fid = allocated(database, w)
    refund(database, w)
    with database.session() as s:
        flow.answer_stop_ship(s, s.get(Fulfilment, fid), True, "supplier:1")
        assert platform_messages(s, w["merchant_id"]) == []
        assert len(open_alerts(s, w["merchant_id"], "refund_needs_decision")) == 1


def test_a_refund_on_a_stopped_order_is_approved_when_it_arrives(app, database, w):
    fid = allocated(database, w)
    apply(database, w["shop_id"], order_values(status="cancelled", updated=LATER))
    with database.session() as s:
        flow.answer_stop_ship(s, s.get(Fulfilment, fid), True, "supplier:1")
    refund(database, w)
    refund(database, w, at=LATER)
    with database.session(readonly=True) as s:
        assert [m[0] for m in platform_messages(s, w["merchant_id"])] == ["refund_approve"]


def test_a_refund_for_an_order_the_supplier_rejected_is_approved(app, database, w):
    fid = allocated(database, w, accept=False)
    with database.session() as s:
        flow.reject(s, s.get(Fulfilment, fid), "supplier:1", "out of stock")
    refund(database, w)
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, fid).status == "rejected"  # nothing to stop
        assert messages(s, w["merchant_id"], "stop_ship") == []
        assert [m[0] for m in platform_messages(s, w["merchant_id"])] == ["refund_approve"]


def test_a_delivered_order_is_not_stopped(app, database, w):
    fid = allocated(database, w)
    with database.session() as s:
        s.execute(update(Order).values(status="delivered"))
    refund(database, w)
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert (x.status, x.cancel_requested_at) == ("accepted", None)
        assert messages(s, w["merchant_id"], "stop_ship") == []


def test_only_the_supplier_of_the_refunded_line_is_stopped(app, database, w):
    with database.session() as s:
        other = supplier(s, w["merchant_id"], "S2")
        mapping(s, w["merchant_id"], other.id, "CUP")
    allocated(database, w, lines=(("SKU-1", 1), ("CUP", 1)), accept=False)
    refund(database, w, lines=(("CUP", 1),))
    with database.session() as s:
        by_supplier = {x.supplier_id: x for x in fulfilments(s, w["merchant_id"])}
        mine, theirs = by_supplier[w["supplier_id"]], by_supplier[other.id]
        assert (mine.status, theirs.status) == ("requested", "cancel_requested")
        flow.answer_stop_ship(s, theirs, True, "supplier:2")
        assert [m[0] for m in platform_messages(s, w["merchant_id"])] == ["refund_approve"]


def test_no_courier_that_intercepts_is_alerted(app, database, fake_connectors):
    with database.session() as s:
        w = world(s, courier="test_courier_track_only")
    fid, sid = shipped(database, w)
    refund(database, w)
    with database.session(readonly=True) as s:
        [alert] = open_alerts(s, w["merchant_id"], "interception_unavailable")
        assert alert.entity_id == fid and alert.severity == "critical"
        assert s.get(Shipment, sid).interception_status == "none"
        assert "fulfilment.interception_unavailable" in actions(s, "fulfilment", fid)


def test_a_dead_interception_push_is_a_failed_interception(app, database, w):
    fid, sid = shipped(database, w)
    refund(database, w)
    with database.session() as s:
        message = s.scalar(select(OutboxMessage).where(OutboxMessage.topic == "intercept"))
        message.status, message.last_error_class = "dead", "fail_data"
        message.last_error = "the courier refused: already out for delivery"
        settled(s, message)
    with database.session(readonly=True) as s:
        assert s.get(Shipment, sid).interception_status == "failed"
        assert s.get(Fulfilment, fid).expected_return is True
        assert len(messages(s, w["merchant_id"], "return_notice")) == 1


def test_a_stop_ship_answer_without_a_request_is_a_conflict(app, database, w):
    fid = allocated(database, w)
    with database.session() as s:
        for accepted in (True, False):
            with pytest.raises(Conflict):
                flow.answer_stop_ship(s, s.get(Fulfilment, fid), accepted, "supplier:1")
        assert s.get(Fulfilment, fid).status == "accepted"
