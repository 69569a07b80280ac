"""``hub.domain.tracking.shipments``: registering shipments subscribes them automatically, the delivery
result is recorded on the shipment (``MessageSettled`` subscribers), aborted subscriptions are
re-subscribed per Kuaidi100's rules (``jobs.resubscribe``), and interceptions are
requested, refused when they cannot be, and recorded when the push dies."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select

from hub import wiring
from hub.pipeline import events, outbox, sync
from hub.domain.tracking import shipments as tracking
from hub.core.db import utcnow
from hub.core.errors import Conflict
from hub.models import Alert, AuditEntry, OutboxMessage, Shipment
from jobs import deliver_outbox, resubscribe
from tests import factories as f
from tests.tracking_helpers import SALT, courier, values

BASE = "https://poll.k100.test"


@pytest.fixture
def world(app, database):
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        sup = f.supplier(s, m.id)
        order = f.order(s, m.id, shop.id, supplier_id=sup.id)
        return {"merchant_id": m.id, "order_id": order.id,
                "fulfilment_id": order.fulfilments[0].id, "shop_id": shop.id}


def register(s, w, number="SF1001", carrier="sf", var_dir=None, **kw):
    kw.setdefault("order_id", w["order_id"])
    kw.setdefault("fulfilment_id", w["fulfilment_id"])
    return tracking.register_shipment(s, merchant_id=w["merchant_id"], carrier=carrier,
                                      tracking_number=number, direction="outbound",
                                      var_dir=var_dir, **kw)


def messages(s, topic):
    return list(s.scalars(select(OutboxMessage).where(OutboxMessage.topic == topic)
                          .order_by(OutboxMessage.id)))


def open_alerts(s, kind):
    return list(s.scalars(select(Alert).where(Alert.kind == kind, Alert.resolved_at.is_(None))))


# -- registration --------------------------------------------------------------------------
def test_registering_subscribes_with_the_courier_account(database, world):
    with database.session() as s:
        account = courier(s, world["merchant_id"])
        shipment = register(s, world, number=" SF1001 ", carrier="SF")
        [message] = messages(s, "subscribe")
        assert (shipment.carrier, shipment.tracking_number) == ("sf", "SF1001")
        assert shipment.subscription_status == "requested"
        assert shipment.tracking_account_id == account.id == message.account_id
        assert message.payload == {"carrier": "sf", "tracking_number": "SF1001",
                                   "shipment_ref": str(shipment.id), "phone": "5678"}
        again = register(s, world, number="SF1001")                  # a repeated notice
        assert again.id == shipment.id and len(messages(s, "subscribe")) == 1


def test_carriers_without_the_phone_rule_send_no_phone(database, world):
    with database.session() as s:
        courier(s, world["merchant_id"])
        register(s, world, number="YT1", carrier="yto")
        assert "phone" not in messages(s, "subscribe")[0].payload


def test_sf_without_a_phone_cannot_be_subscribed(database, world):
    with database.session() as s:
        courier(s, world["merchant_id"])
        shipment = register(s, world, order_id=None, fulfilment_id=None)
        assert shipment.subscription_status == "failed"
        assert messages(s, "subscribe") == []
        assert len(open_alerts(s, "tracking_subscription_failed")) == 1


def test_no_courier_account_alerts_once_then_subscribes_when_one_exists(database, world):
    with database.session() as s:
        courier(s, world["merchant_id"], connector="aftership")      # webhooks only
        first = register(s, world, number="SF1")
        register(s, world, number="SF2")
        assert first.subscription_status == "none"
        [alert] = open_alerts(s, "no_courier_account")
        assert alert.message == "no courier account: tracking is not followed"
        assert alert.severity == "info"
        courier(s, world["merchant_id"])
        again = register(s, world, number="SF1")
        assert again.subscription_status == "requested"
        assert open_alerts(s, "no_courier_account") == []


def test_a_disabled_account_is_skipped_for_the_next_one(database, world):
    with database.session() as s:
        off = courier(s, world["merchant_id"], name="off")
        off.status = "disabled"
        on = courier(s, world["merchant_id"], connector="track17")
        shipment = register(s, world)
        assert shipment.tracking_account_id == on.id


def test_bad_arguments_are_refused(database, world):
    with database.session() as s:
        with pytest.raises(ValueError):
            register(s, world, number="")
        with pytest.raises(ValueError):
            tracking.register_shipment(s, merchant_id=world["merchant_id"], carrier="sf",
                                       tracking_number="X", direction="sideways", var_dir=None)


# -- the subscription's delivery result ----------------------------------------------------
def subscribe_answer(code="200", message="提交成功"):
    responses.add(responses.POST, f"{BASE}/poll",
                  json={"result": code == "200", "returnCode": code, "message": message})


@responses.activate
def test_a_delivered_subscription_is_subscribed(app, database, settings, world):
    subscribe_answer()
    with database.session() as s:
        account_id = courier(s, world["merchant_id"]).id
        shipment_id = register(s, world).id
    assert deliver_outbox.run(app, "w") == 1
    form = parse_qs(responses.calls[0].request.body)
    param = json.loads(form["param"][0])
    assert param["company"] == "shunfeng" and param["parameters"]["phone"] == "5678"
    assert param["parameters"]["salt"] == SALT
    assert param["parameters"]["callbackurl"] == \
        f"{settings.public_url}/webhooks/kuaidi100/{account_id}?shipment={shipment_id}"
    with database.session() as s:
        shipment = s.get(Shipment, shipment_id)
        assert shipment.subscription_status == "subscribed"
        assert shipment.subscribed_at is not None and shipment.subscription_count == 1


@responses.activate
def test_a_refused_subscription_is_failed_with_an_alert(app, database, world):
    subscribe_answer("700", "callbackurl 不是合法的 http(s) 地址")
    with database.session() as s:
        courier(s, world["merchant_id"])
        shipment_id = register(s, world).id
    deliver_outbox.run(app, "w")
    with database.session() as s:
        assert s.get(Shipment, shipment_id).subscription_status == "failed"
        [alert] = open_alerts(s, "tracking_subscription_failed")
        assert "700" in alert.message and alert.entity_id == shipment_id


def test_a_failing_result_hook_never_costs_the_others(database, world):
    calls = []

    def broken(session, event):
        message = event.message
        session.add(Alert(merchant_id=message.merchant_id, kind="half", entity="x",
                          message="must be rolled back"))
        session.flush()
        raise RuntimeError("boom")

    def fine(session, event):
        calls.append(event.message.id)

    events.subscribe(events.MessageSettled, broken, keys=("hook_test",))
    events.subscribe(events.MessageSettled, fine, keys=("hook_test",))
    try:
        with database.session() as s:
            account = courier(s, world["merchant_id"])
            message = outbox.enqueue(s, account, "hook_test", "shipment", 1, {}, "v1")
            message.status = "sent"
            outbox.settled(s, message)
            assert calls == [message.id]
            assert open_alerts(s, "half") == []
    finally:
        wiring.wire()


# -- monitoring and re-subscription --------------------------------------------------------
def subscribed(s, w, **kw):
    account = courier(s, w["merchant_id"])
    shipment = register(s, w, **kw)
    [message] = messages(s, "subscribe")
    message.status, message.sent_at = "sent", utcnow()
    tracking.on_subscribe_settled(s, events.MessageSettled(message))
    return account, shipment


def test_shutdown_ends_the_subscription(database, world):
    with database.session() as s:
        account, shipment = subscribed(s, world)
        sync.apply(s, account, values("SF1001", monitoring="shutdown"))
        assert shipment.subscription_status == "done"


def test_abort_resubscribes_after_thirty_minutes(app, database, world):
    with database.session() as s:
        account, shipment = subscribed(s, world)
        sync.apply(s, account, values("SF1001", monitoring="abort",
                                      flags=("monitoring_abort:no_records",)))
        after = shipment.resubscribe_after
        assert after is not None and timedelta(minutes=29) < after - utcnow() <= timedelta(minutes=30)
        assert tracking.resubscribe_due(s, utcnow() + timedelta(minutes=10), None) == 0
        assert tracking.resubscribe_due(s, utcnow() + timedelta(minutes=31), None) == 1
        assert shipment.subscription_status == "requested" and shipment.monitoring is None
        assert shipment.resubscribe_after is None
        assert [m.payload["tracking_number"] for m in messages(s, "subscribe")] == ["SF1001"] * 2
        assert "shipment.resubscribed" in s.scalars(select(AuditEntry.action)).all()


def test_the_job_resubscribes_what_is_due(app, database, world):
    with database.session() as s:
        account, shipment = subscribed(s, world)
        sync.apply(s, account, values("SF1001", monitoring="abort"))
        shipment.resubscribe_after = utcnow() - timedelta(minutes=1)
        shipment_id = shipment.id
    assert resubscribe.run(app, "w") == 1
    assert resubscribe.run(app, "w") == 0
    with database.session() as s:
        assert s.get(Shipment, shipment_id).subscription_status == "requested"


def test_resubscription_is_not_starved_by_shipments_still_waiting(app, database, world):
    """More aborted shipments still waiting than one batch never hide a due one: what is
    due is chosen in SQL, not after the LIMIT (issue 10, item 9)."""
    abort = values("X", monitoring="abort")
    with database.session() as s:
        later = utcnow() + timedelta(hours=2)
        for n in range(tracking.BATCH + 5):
            waiting = register(s, world, number=f"SF2{n:05d}")
            waiting.subscription_status, waiting.monitoring = "subscribed", "abort"
            tracking.after_monitoring(s, waiting, abort, later)       # due in 2.5 hours
        account, due = subscribed(s, world)                           # SF1001, the newest
        sync.apply(s, account, values("SF1001", monitoring="abort"))  # due in 30 minutes
        assert tracking.resubscribe_due(s, utcnow() + timedelta(minutes=31), None) == 1
        assert due.monitoring is None and due.subscription_status == "requested"


def test_a_fifth_subscription_in_a_month_gives_up_with_an_alert(database, world):
    with database.session() as s:
        account, shipment = subscribed(s, world)
        for n in range(3):
            m = outbox.enqueue(s, account, "subscribe", "shipment", shipment.id, {}, f"x{n}")
            m.status, m.sent_at = "sent", utcnow()
        sync.apply(s, account, values("SF1001", monitoring="abort"))
        assert shipment.subscription_status == "failed"
        assert shipment.resubscribe_after is None
        [alert] = open_alerts(s, "tracking_stopped")
        assert alert.entity_id == shipment.id


def test_an_abort_after_delivery_needs_no_new_subscription(database, world):
    with database.session() as s:
        account, shipment = subscribed(s, world)
        shipment.status = "delivered"
        sync.apply(s, account, values("SF1001", monitoring="abort"))
        assert shipment.subscription_status == "done"


# -- interception --------------------------------------------------------------------------
def test_an_interception_is_queued_and_audited(database, world):
    with database.session() as s:
        account, shipment = subscribed(s, world)
        message = tracking.request_interception(s, shipment, "return_to_sender", "cancelled",
                                                "user:1", None)
        assert (message.topic, message.account_id) == ("intercept", account.id)
        assert message.payload == {"carrier": "sf", "tracking_number": "SF1001",
                                   "intercept_type": "return_to_sender", "reason": "cancelled"}
        assert shipment.interception_status == "requested"
        entry = s.scalar(select(AuditEntry).where(
            AuditEntry.action == "shipment.interception_requested"))
        assert entry.actor == "user:1" and entry.changes["kind"] == "return_to_sender"
        with pytest.raises(Conflict):                                # already requested
            tracking.request_interception(s, shipment, "return_to_sender", "x", "user:1", None)


@pytest.mark.parametrize("status", ["delivered", "returned", "cancelled"])
def test_too_late_to_intercept(database, world, status):
    with database.session() as s:
        _, shipment = subscribed(s, world)
        shipment.status = status
        with pytest.raises(Conflict):
            tracking.request_interception(s, shipment, "return_to_sender", "x", "user:1", None)


def test_no_account_that_can_intercept(database, world):
    with database.session() as s:
        courier(s, world["merchant_id"], connector="track17")
        shipment = register(s, world)
        with pytest.raises(Conflict):
            tracking.request_interception(s, shipment, "return_to_sender", "x", "user:1", None)


@responses.activate
def test_a_dead_interception_push_is_failed_with_an_alert(app, database, world):
    responses.add(responses.POST, f"{BASE}/label/order",
                  json={"result": False, "returnCode": "400", "message": "运单不存在"})
    with database.session() as s:
        _, shipment = subscribed(s, world)
        tracking.request_interception(s, shipment, "return_to_sender", "x", "user:1", None)
        shipment_id = shipment.id
    deliver_outbox.run(app, "w")
    with database.session() as s:
        assert s.get(Shipment, shipment_id).interception_status == "failed"
        assert len(open_alerts(s, "interception_failed")) == 1
        failed = s.scalar(select(AuditEntry).where(
            AuditEntry.action == "shipment.interception_failed"))
        assert failed.changes["interception_status"] == ["requested", "failed"]
