"""Kuaishou pushes: each topic re-reads the remote record, skips what is already done,
refuses what the remote no longer allows, writes otherwise; 300014/300017 and lost write
answers are re-read and decided again; result 11 keeps the platform's reason."""
from __future__ import annotations

import json

import pytest
import requests
import responses

from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.kuaishou import Kuaishou
from tests.connectors.kuaishou.conftest import BASE, CONFIG, next_account_id, sent_form

OID, REFUND_ID = 2607602240240301, 2207300012345601
DETAIL = f"{BASE}/open/order/detail"
REFUND = f"{BASE}/open/seller/order/refund/detail"


def shop() -> Kuaishou:
    loaded = Kuaishou.validate_config({**CONFIG, "access_token": "AT",
                                       "access_token_expires_at": "2999-01-01T00:00:00+00:00"})
    return Kuaishou(AccountContext(next_account_id(), 1, "shop", loaded))


def ok(data=None) -> dict:
    return {"result": 1, "error_msg": "", "data": data}


def order(status: int, logistics=()) -> dict:
    return {"orderBaseInfo": {"oid": OID, "status": status, "updateTime": 1740816120000},
            "orderItemInfo": {"skuId": 1, "num": 1}, "orderLogisticsInfo": list(logistics)}


def refund(status: int, negotiate: int = 1, way: int = 10, fee: int = 5980,
           update: int = 1740927600000, **extra) -> dict:
    return {"refundId": REFUND_ID, "oid": OID, "status": status, "negotiateStatus": negotiate,
            "handlingWay": way, "refundFee": fee, "updateTime": update, **extra}


def param(call) -> dict:
    return json.loads(sent_form(call.request)["param"])


@pytest.fixture
def rsps(slept):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def push(topic, payload):
    return shop().push(topic, payload, "key-1")


SHIP = {"order_id": str(OID), "carrier": "sf", "tracking_number": "SF1234567890123"}


# -- shipment --------------------------------------------------------------------------------
def test_shipment_reads_then_delivers_with_the_integer_express_code(rsps):
    rsps.get(DETAIL, json=ok(order(30)))
    rsps.post(f"{BASE}/open/seller/order/goods/deliver", json=ok())
    result = push("shipment", SHIP)
    assert param(rsps.calls[0]) == {"oid": OID}
    assert param(rsps.calls[1]) == {"orderId": OID, "expressNo": "SF1234567890123",
                                    "expressCode": 4}
    assert result.data["outcome"] == "done" and result.external_id == str(OID)


def test_shipment_already_on_the_order_is_not_sent_again(rsps):
    rsps.get(DETAIL, json=ok(order(40, [{"expressNo": "SF1234567890123", "expressCode": 4,
                                         "logisticsId": 9}])))
    result = push("shipment", SHIP)
    assert result.data["outcome"] == "already_done" and len(rsps.calls) == 1


@pytest.mark.parametrize("remote,needle", [
    (order(40, [{"expressNo": "YT1", "expressCode": 6}]), "tracking_correction"),
    (order(80), "cannot be shipped"), (order(10), "cannot be shipped")])
def test_shipment_the_order_no_longer_allows_is_fail_data(rsps, remote, needle):
    rsps.get(DETAIL, json=ok(remote))
    with pytest.raises(ConnectorError) as exc:
        push("shipment", SHIP)
    assert exc.value.error_class is ErrorClass.FAIL_DATA and needle in exc.value.message


def test_shipment_blocked_by_the_platform_keeps_its_reason_for_the_alert(rsps):
    rsps.get(DETAIL, json=ok(order(30)))
    rsps.post(f"{BASE}/open/seller/order/goods/deliver",
              json={"result": 11, "error_msg": "运单号SF1234567890123已被其他商家使用"})
    with pytest.raises(ConnectorError) as exc:
        push("shipment", SHIP)
    assert exc.value.error_class is ErrorClass.FAIL_DATA
    assert "已被其他商家使用" in exc.value.message
    assert exc.value.details == {"reason": "tracking_rejected", "platform_code": 11,
                                 "platform_message": "运单号SF1234567890123已被其他商家使用"}


def test_an_unknown_carrier_is_fail_data_before_any_call(rsps):
    with pytest.raises(ConnectorError) as exc:
        push("shipment", {**SHIP, "carrier": "pigeon-post"})
    assert exc.value.error_class is ErrorClass.FAIL_DATA and exc.value.details["reason"] == \
        "unknown_carrier"


def test_a_lost_deliver_answer_is_re_read_and_found_done(rsps):
    rsps.get(DETAIL, json=ok(order(30)))
    rsps.post(f"{BASE}/open/seller/order/goods/deliver", body=requests.ConnectionError("reset"))
    rsps.get(DETAIL, json=ok(order(40, [{"expressNo": "SF1234567890123", "expressCode": 4}])))
    assert push("shipment", SHIP).data["outcome"] == "already_done"


def test_tracking_correction_updates_the_waybill_it_replaces(rsps):
    rsps.get(DETAIL, json=ok(order(40, [{"expressNo": "YT100", "expressCode": 6,
                                         "logisticsId": 71},
                                        {"expressNo": "YT200", "expressCode": 6,
                                         "logisticsId": 72}])))
    rsps.post(f"{BASE}/open/seller/order/logistics/update", json=ok())
    push("tracking_correction", {**SHIP, "previous_tracking_number": "YT200"})
    assert param(rsps.calls[1]) == {"orderId": OID, "expressCode": 4,
                                    "expressNo": "SF1234567890123", "logisticsId": 72}


def test_tracking_correction_of_an_unshipped_order_is_fail_data(rsps):
    rsps.get(DETAIL, json=ok(order(30)))
    with pytest.raises(ConnectorError) as exc:
        push("tracking_correction", SHIP)
    assert exc.value.error_class is ErrorClass.FAIL_DATA


# -- refunds --------------------------------------------------------------------------------
def test_refund_approve_sends_the_refunds_amount_and_the_state_it_read(rsps):
    rsps.get(REFUND, json=ok(refund(10)))
    rsps.post(f"{BASE}/open/seller/order/refund/approve", json=ok())
    push("refund_approve", {"refund_id": str(REFUND_ID), "amount_minor": 5980})
    assert param(rsps.calls[1]) == {"refundId": REFUND_ID, "refundAmount": 5980, "status": 10,
                                    "negotiateStatus": 1}


@pytest.mark.parametrize("remote,outcome", [
    (refund(60, 2), "already_done"), (refund(50, 2), "already_done"),
    (refund(70), "fail_data"), (refund(11, way=1), "fail_data"), (refund(10, fee=100), "fail_data"),
])
def test_refund_approve_decides_on_the_remote_state(rsps, remote, outcome):
    rsps.get(REFUND, json=ok(remote))
    if outcome == "already_done":
        assert push("refund_approve", {"refund_id": REFUND_ID, "amount_minor": 5980}) \
            .data["outcome"] == outcome
        return
    with pytest.raises(ConnectorError) as exc:
        push("refund_approve", {"refund_id": REFUND_ID, "amount_minor": 5980})
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_a_refund_that_changed_is_re_read_and_decided_again(rsps):
    rsps.get(REFUND, json=ok(refund(10)))
    rsps.post(f"{BASE}/open/seller/order/refund/approve",
              json={"result": 300017, "error_msg": "协商状态已变更"})
    rsps.get(REFUND, json=ok(refund(10, negotiate=3, update=1740927700000)))
    rsps.post(f"{BASE}/open/seller/order/refund/approve", json=ok())
    push("refund_approve", {"refund_id": REFUND_ID})
    assert param(rsps.calls[3])["negotiateStatus"] == 3


def test_a_refund_that_keeps_changing_is_retried_later(rsps):
    for n in range(3):
        rsps.get(REFUND, json=ok(refund(10, update=1740927600000 + n)))
        rsps.post(f"{BASE}/open/refund/reject", json={"result": 300014, "error_msg": "退款单已更新"})
    with pytest.raises(ConnectorError) as exc:
        push("refund_reject", {"refund_id": REFUND_ID, "reason_code": 3, "desc": "x"})
    assert exc.value.error_class is ErrorClass.RETRY
    assert [param(c)["refundVersion"] for c in rsps.calls if c.request.method == "POST"] == \
        [1740927600000, 1740927600001, 1740927600002]


def test_refund_reject_uses_the_current_update_time_as_version(rsps):
    rsps.get(REFUND, json=ok(refund(10, update=1740999999999)))
    rsps.post(f"{BASE}/open/refund/reject", json=ok())
    result = push("refund_reject", {"refund_id": REFUND_ID, "reason_code": 3,
                                    "desc": "已协商", "images": ["https://img/1.jpg"]})
    assert param(rsps.calls[1]) == {"refundId": REFUND_ID, "reasonCode": 3,
                                    "refundVersion": 1740999999999, "rejectDesc": "已协商",
                                    "rejectImages": ["https://img/1.jpg"]}
    assert result.data["outcome"] == "done"


@pytest.mark.parametrize("remote,outcome", [
    (refund(10, negotiate=3, sellerDisagreeReason=3), "already_done"),
    (refund(60, 2), "fail_data"), (refund(21), "fail_data")])
def test_refund_reject_decides_on_the_remote_state(rsps, remote, outcome):
    rsps.get(REFUND, json=ok(remote))
    payload = {"refund_id": REFUND_ID, "reason_code": 3}
    if outcome == "already_done":
        assert push("refund_reject", payload).data["outcome"] == outcome
        return
    with pytest.raises(ConnectorError) as exc:
        push("refund_reject", payload)
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_return_approve_sends_the_receivers_address(rsps):
    rsps.get(REFUND, json=ok(refund(11, way=1)))
    rsps.post(f"{BASE}/open/seller/order/refund/returngoods/approve", json=ok())
    push("return_approve", {"refund_id": REFUND_ID, "address_id": "880011", "amount_minor": 5980})
    assert param(rsps.calls[1]) == {"refundId": REFUND_ID, "refundAmount": 5980,
                                    "addressId": 880011}


def test_an_exchange_is_approved_for_zero(rsps):
    rsps.get(REFUND, json=ok(refund(11, way=3, fee=0)))
    rsps.post(f"{BASE}/open/seller/order/refund/returngoods/approve", json=ok())
    push("return_approve", {"refund_id": REFUND_ID, "amount_minor": 5980})
    assert param(rsps.calls[1])["refundAmount"] == 0


@pytest.mark.parametrize("remote,outcome", [(refund(30, 2, way=1), "already_done"),
                                            (refund(10), "fail_data")])
def test_return_approve_decides_on_the_remote_state(rsps, remote, outcome):
    rsps.get(REFUND, json=ok(remote))
    if outcome == "already_done":
        assert push("return_approve", {"refund_id": REFUND_ID}).data["outcome"] == outcome
        return
    with pytest.raises(ConnectorError) as exc:
        push("return_approve", {"refund_id": REFUND_ID})
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_return_receipt_confirms_in_the_status_it_read(rsps):
    rsps.get(REFUND, json=ok(refund(40, 2, way=1)))
    rsps.post(f"{BASE}/open/seller/order/refund/confirm/receipt", json=ok())
    push("return_receipt", {"refund_id": REFUND_ID})
    assert param(rsps.calls[1]) == {"refundId": REFUND_ID, "status": 40}


def test_return_receipt_with_a_freight_claim_needs_a_decision(rsps):
    claim = {"returnFreightAmount": 800, "returnFreightStatus": 10}
    rsps.get(REFUND, json=ok(refund(40, 2, way=1, returnFreightInfo=claim)))
    with pytest.raises(ConnectorError) as exc:
        push("return_receipt", {"refund_id": REFUND_ID})
    assert exc.value.error_class is ErrorClass.FAIL_DATA and "return_freight" in exc.value.message
    rsps.get(REFUND, json=ok(refund(40, 2, way=1, returnFreightInfo=claim)))
    rsps.post(f"{BASE}/open/seller/order/refund/confirm/receipt", json=ok())
    push("return_receipt", {"refund_id": REFUND_ID, "return_freight": {"advice": 1}})
    assert param(rsps.calls[-1]) == {"refundId": REFUND_ID, "status": 40,
                                     "returnFreightHandlingAdvice": 1, "returnFreightAmount": 800}


@pytest.mark.parametrize("remote,outcome", [(refund(60, 2, way=1), "already_done"),
                                            (refund(11, way=1), "fail_data")])
def test_return_receipt_decides_on_the_remote_state(rsps, remote, outcome):
    rsps.get(REFUND, json=ok(remote))
    if outcome == "already_done":
        assert push("return_receipt", {"refund_id": REFUND_ID}).data["outcome"] == outcome
        return
    with pytest.raises(ConnectorError) as exc:
        push("return_receipt", {"refund_id": REFUND_ID})
    assert exc.value.error_class is ErrorClass.FAIL_DATA


# -- the envelope of a push ------------------------------------------------------------------
def test_an_unknown_topic_is_fail_config():
    with pytest.raises(ConnectorError) as exc:
        push("return_decision", {})
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG


@pytest.mark.parametrize("topic,payload", [
    ("shipment", {"order_id": "P12", "carrier": "sf", "tracking_number": "SF1"}),
    ("shipment", {"order_id": str(OID), "carrier": "sf"}),
    ("refund_approve", {"refund_id": "abc"}), ("refund_reject", {"refund_id": REFUND_ID}),
])
def test_a_malformed_payload_is_fail_data_before_any_call(rsps, topic, payload):
    with pytest.raises(ConnectorError) as exc:
        push(topic, payload)
    assert exc.value.error_class is ErrorClass.FAIL_DATA
