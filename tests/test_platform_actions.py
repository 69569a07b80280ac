"""``hub.domain.pushes.platform_actions``: which outbox message each business decision queues on a
Kuaishou shop and on a hub-JSON (generic) shop, idempotently; and the alert raised when
the platform refuses a tracking number (through ``jobs.deliver_outbox`` and the
``MessageSettled`` subscriber)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from connectors.base import ConnectorError, ErrorClass, PushResult
from connectors.kuaishou import Kuaishou
from hub.domain.pushes import platform_actions as pa
from hub.models import Account, Alert, Fulfilment, OutboxMessage, Shipment
from jobs import deliver_outbox
from tests import factories as f

KS_CONFIG = {"app_key": "ks1", "app_secret": "s", "sign_secret": "s", "access_token": "AT"}


@pytest.fixture
def world(app, database):  # the app configures credential encryption
    with database.session() as s:
        m = f.merchant(s)
        ks = Account(merchant_id=m.id, connector="kuaishou", kind="platform", name="ks",
                     config=Kuaishou.validate_config(KS_CONFIG))
        s.add(ks)
        s.flush()
        generic = f.pushing_shop(s, m.id, "http://shop.test")
        supplier = f.supplier(s, m.id)
        ids = {"merchant": m.id, "ks": ks.id, "generic": generic.id, "supplier": supplier.id}
        for name in ("ks", "generic"):
            order = f.order(s, m.id, ids[name], supplier_id=supplier.id)
            order.platform_order_id = "2607602240240301" if name == "ks" else "GS-1"
            shipment = f.shipment(s, m.id, order.id, tracking="SF1234567890123",
                                  fulfilment_id=order.fulfilments[0].id) if name == "ks" else \
                f.shipment(s, m.id, order.id, tracking="SF1234567890999")
            case = f.return_case(s, m.id, ids[name], order, kind="refund_only")
            case.platform_return_id = "2207300012345601" if name == "ks" else "RT-1"
            ids[f"{name}_shipment"], ids[f"{name}_case"] = shipment.id, case.id
        return ids


def messages(session, account_id) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.account_id == account_id).order_by(OutboxMessage.id)))


def test_kuaishou_topics_and_payloads(session, world):
    from hub.models import ReturnCase
    shipment = session.get(Shipment, world["ks_shipment"])
    case = session.get(ReturnCase, world["ks_case"])
    pa.push_shipment(session, shipment)
    pa.approve_refund(session, case)
    pa.approve_return(session, case, 880011)
    pa.confirm_return_receipt(session, case)
    pa.reject_refund(session, case, 3, "已协商")
    got = [(m.topic, m.entity, m.payload) for m in messages(session, world["ks"])]
    assert got == [
        ("shipment", "shipment", {"order_id": "2607602240240301", "carrier": "sf",
                                  "tracking_number": "SF1234567890123"}),
        ("refund_approve", "return_case", {"refund_id": "2207300012345601",
                                           "amount_minor": case.refund_minor}),
        ("return_approve", "return_case", {"refund_id": "2207300012345601",
                                           "address_id": "880011",
                                           "amount_minor": case.refund_minor}),
        ("return_receipt", "return_case", {"refund_id": "2207300012345601"}),
        ("refund_reject", "return_case", {"refund_id": "2207300012345601", "reason_code": 3,
                                          "desc": "已协商"}),
    ]


def test_the_same_decision_twice_queues_one_message(session, world):
    from hub.models import ReturnCase
    case = session.get(ReturnCase, world["ks_case"])
    first, again = pa.approve_refund(session, case), pa.approve_refund(session, case)
    assert first.id == again.id and len(messages(session, world["ks"])) == 1


def test_a_changed_number_after_the_shipment_was_sent_is_a_correction(session, world):
    shipment = session.get(Shipment, world["ks_shipment"])
    first = pa.push_shipment(session, shipment)
    assert pa.push_shipment(session, shipment).id == first.id
    first.status = "sent"
    assert pa.push_shipment(session, shipment).id == first.id  # the platform has it
    shipment.carrier, shipment.tracking_number = "yto", "YT1234567890123"
    correction = pa.push_shipment(session, shipment)
    assert correction.topic == "tracking_correction"
    assert correction.payload == {"order_id": "2607602240240301", "carrier": "yto",
                                  "tracking_number": "YT1234567890123",
                                  "previous_tracking_number": "SF1234567890123"}


def test_a_changed_number_before_sending_supersedes_the_pending_message(session, world):
    shipment = session.get(Shipment, world["ks_shipment"])
    first = pa.push_shipment(session, shipment)
    shipment.tracking_number = "SF1234567890777"
    second = pa.push_shipment(session, shipment)
    assert second.topic == "shipment" and second.id != first.id
    session.refresh(first)
    assert first.status == "superseded"


def test_generic_shops_get_the_hub_json_topics_and_no_receipt(session, world):
    from hub.models import ReturnCase
    shipment = session.get(Shipment, world["generic_shipment"])
    case = session.get(ReturnCase, world["generic_case"])
    assert pa.push_shipment(session, shipment).topic == "shipment"
    approve = pa.approve_refund(session, case)
    assert (approve.topic, approve.payload) == ("return_decision", {
        "return_id": "RT-1", "decision": "approve", "reason": None})
    assert pa.approve_return(session, case, "ignored").id == approve.id  # same decision
    assert pa.confirm_return_receipt(session, case) is None
    reject = pa.reject_refund(session, case, 3, "damaged by the buyer")
    assert reject.payload == {"return_id": "RT-1", "decision": "reject",
                              "reason": "damaged by the buyer"}


def test_nothing_is_queued_for_a_return_shipment_or_a_shop_that_cannot_push(session, world):
    shipment = session.get(Shipment, world["ks_shipment"])
    shipment.direction = "return"
    assert pa.push_shipment(session, shipment) is None
    courier = Account(merchant_id=world["merchant"], connector="kuaidi100", kind="courier",
                      name="k100", config={})
    assert pa.topics_for(courier) == ()


# -- the platform refuses the tracking number ----------------------------------------------
def _refused(self, topic, payload, key):
    error = ConnectorError(ErrorClass.FAIL_DATA, "Kuaishou blocked the shipment (11): 运单号不匹配")
    error.details = {"reason": "tracking_rejected", "platform_code": 11,
                     "platform_message": "运单号不匹配"}
    raise error


def _deliver(app, database):
    return deliver_outbox.run(app, "test-worker")


def test_a_refused_tracking_number_alerts_merchant_and_supplier(app, database, world,
                                                                monkeypatch):
    monkeypatch.setattr(Kuaishou, "push", _refused)
    with database.session() as s:
        message_id = pa.push_shipment(s, s.get(Shipment, world["ks_shipment"])).id
    assert _deliver(app, database) == 1
    with database.session(readonly=True) as s:
        message = s.get(OutboxMessage, message_id)
        assert message.status == "dead"
        assert message.result == {"error": {"reason": "tracking_rejected", "platform_code": 11,
                                            "platform_message": "运单号不匹配"}}
        [alert] = s.scalars(select(Alert).where(Alert.kind == "platform_rejected_tracking"))
        fulfilment = s.scalar(select(Fulfilment).where(Fulfilment.supplier_id ==
                                                       world["supplier"]))
        assert (alert.entity, alert.entity_id) == ("shipment", world["ks_shipment"])
        assert alert.supplier_id == fulfilment.supplier_id == world["supplier"]
        assert "SF1234567890123" in alert.message and "运单号不匹配" in alert.message
        assert alert.severity == "critical" and alert.resolved_at is None

    # the supplier corrects the number; the corrected shipment goes through: resolved
    monkeypatch.setattr(Kuaishou, "push", lambda self, topic, payload, key: PushResult(
        external_id=payload["order_id"], status_code=200, data={"outcome": "done"}))
    with database.session() as s:
        shipment = s.get(Shipment, world["ks_shipment"])
        shipment.tracking_number = "SF1234567890456"
        pa.push_shipment(s, shipment)
    _deliver(app, database)
    with database.session(readonly=True) as s:
        alert = s.scalar(select(Alert).where(Alert.kind == "platform_rejected_tracking"))
        assert alert.resolved_at is not None


def test_other_dead_shipments_raise_no_tracking_alert(app, database, world, monkeypatch):
    def offline(self, topic, payload, key):
        raise ConnectorError(ErrorClass.FAIL_DATA, "order 1 is in status 80")

    monkeypatch.setattr(Kuaishou, "push", offline)
    with database.session() as s:
        pa.push_shipment(s, s.get(Shipment, world["ks_shipment"]))
    _deliver(app, database)
    with database.session(readonly=True) as s:
        assert s.scalars(select(Alert).where(Alert.kind == "platform_rejected_tracking")).all() == []
        assert s.scalar(select(OutboxMessage.result)) is None
