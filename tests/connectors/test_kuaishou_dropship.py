"""Kuaishou 厂家代发 pushes, driven by ``responses``: allocating an order to the factory
(finding its 代发 order first), cancelling the allocation as the stop-ship, the answers
that come back in ``PushResult.data``, and the signed envelope of every call."""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
import requests
import responses

from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.http import HttpAdapter, TokenBucket
from connectors.kuaishou import oauth
from connectors.kuaishou.signing import compute_sign
from connectors.kuaishou_dropship import KuaishouDropship
from connectors.kuaishou_dropship.api import CANCEL_ALLOCATION

BASE = "https://ks-dropship.test"
NOW = datetime(2026, 11, 3, 8, 0, tzinfo=timezone.utc)
PAID = datetime(2026, 11, 1, 8, 1, tzinfo=timezone.utc)
CONFIG = {"app_key": "ks123", "sign_secret": "sign-secret", "access_token": "AT-1",
          "factory_code": "F001", "api_base_url": BASE, "qps_default": 1000}
_ids = itertools.count(4_500_000)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(lambda s: None))
    monkeypatch.setattr(TokenBucket, "sleep", staticmethod(lambda s: None))
    oauth.reset_process_state()


@pytest.fixture
def channel():
    c = KuaishouDropship(AccountContext(account_id=next(_ids), merchant_id=1, name="factory",
                                        config=KuaishouDropship.validate_config(CONFIG)))
    c.clock = lambda: NOW
    return c


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def form(call) -> dict:
    body = call.request.body
    body = body.decode() if isinstance(body, bytes) else body
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def param(call) -> dict:
    return json.loads(form(call)["param"])


def api(rsps, method: str, data=None, *, result=1, error_msg=None, body=None):
    def match(request):
        sent = form(type("C", (), {"request": request}))
        return sent.get("method") == method, f"method {sent.get('method')} != {method}"
    payload = {"result": result, "data": data}
    if error_msg:
        payload["error_msg"] = error_msg
    url = f"{BASE}/{method.replace('.', '/')}"
    if isinstance(body, Exception):
        rsps.add(responses.POST, url, body=body, match=[match])
    else:
        rsps.add(responses.POST, url, json=payload, match=[match])


def dispatch_payload(fid=11, oid="2607602240240301"):
    return {"fulfilment_id": fid, "answer_by": "2026-11-02T08:01:00+00:00",
            "order": {"platform_order_id": oid, "placed_at": "2026-11-01T08:00:00+00:00",
                      "paid_at": PAID.isoformat(), "ship_by": None, "note": None,
                      "buyer": {"name_masked": "张*"}},
            "lines": [{"sku": "SKU-1", "supplier_sku": None, "title": "围巾", "quantity": 1}]}


def merchant_item(code="DS100", oid="2607602240240301", status=1, factory=None, **extra):
    item = {"dropshippingOrderCode": code, "oid": oid, "dropshippingStatus": status, **extra}
    if factory:
        item["factoryCode"] = factory
    return item


# -- order_dispatch -------------------------------------------------------------------------------

def test_dispatch_finds_the_dropship_order_and_allocates_it(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list",
        {"cursor": "nomore", "dropshippingOrderList": [
            merchant_item("DS099", oid="999"), merchant_item("DS100")]})
    api(rsps, "open.dropshipping.order.batch.allocate", {})
    result = channel.push("order_dispatch", dispatch_payload(), "key-1")
    assert result.external_id == "DS100"
    assert result.data["supplier_reference"] == "DS100"
    assert result.data["fulfilment_update"] == {"status": "accepted"}
    look, allocate = rsps.calls
    assert param(look)["beginTime"] == int((PAID - timedelta(days=1)).timestamp() * 1000)
    assert param(look)["endTime"] == int(NOW.timestamp() * 1000)
    assert param(allocate) == {"dropshippingOrderCodeList": ["DS100"], "factoryCode": "F001"}


def test_every_call_is_signed_over_the_exact_param_sent(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list",
        {"cursor": "nomore", "list": [merchant_item()]})
    api(rsps, "open.dropshipping.order.batch.allocate", {})
    channel.push("order_dispatch", dispatch_payload(), "key-1")
    for call in rsps.calls:
        sent = form(call)
        assert sent["appkey"] == "ks123" and sent["access_token"] == "AT-1"
        assert sent["signMethod"] == "HMAC_SHA256" and sent["version"] == "1"
        assert sent["sign"] == compute_sign(sent, "sign-secret", "HMAC_SHA256")
    assert compute_sign({**form(rsps.calls[1]), "param": '{"x":1}'}, "sign-secret") \
        != form(rsps.calls[1])["sign"]


def test_a_repeated_dispatch_finds_it_allocated_to_us_and_allocates_nothing(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list",
        {"cursor": "nomore", "list": [merchant_item(status=3, factory="F001")]})
    result = channel.push("order_dispatch", dispatch_payload(), "key-1")
    assert result.data["supplier_reference"] == "DS100" and len(rsps.calls) == 1


def test_an_order_allocated_to_another_factory_is_fail_data(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list",
        {"cursor": "nomore", "list": [merchant_item(status=3, factory="F777")]})
    with pytest.raises(ConnectorError) as exc:
        channel.push("order_dispatch", dispatch_payload(), "key-1")
    assert exc.value.error_class is ErrorClass.FAIL_DATA and "F777" in exc.value.message


def test_no_dropship_order_yet_is_retried_later(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list", {"cursor": "p2", "list": []})
    api(rsps, "open.dropshipping.order.merchant.list", {"cursor": "nomore", "list": []})
    with pytest.raises(ConnectorError) as exc:
        channel.push("order_dispatch", dispatch_payload(), "key-1")
    assert exc.value.error_class is ErrorClass.RETRY
    assert param(rsps.calls[1])["cursor"] == "p2"


def test_an_allocation_without_an_answer_is_not_repeated_in_place(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list", {"cursor": "nomore",
                                                        "list": [merchant_item()]})
    api(rsps, "open.dropshipping.order.batch.allocate", body=requests.ConnectionError("reset"))
    with pytest.raises(ConnectorError) as exc:
        channel.push("order_dispatch", dispatch_payload(), "key-1")
    assert exc.value.error_class is ErrorClass.RETRY  # the outbox tries again, re-reading first
    assert len(rsps.calls) == 2


def test_a_refused_allocation_is_fail_data_with_the_platform_message(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list", {"cursor": "nomore",
                                                        "list": [merchant_item()]})
    api(rsps, "open.dropshipping.order.batch.allocate", None, result=21,
        error_msg="代发关系不存在")
    with pytest.raises(ConnectorError) as exc:
        channel.push("order_dispatch", dispatch_payload(), "key-1")
    assert exc.value.error_class is ErrorClass.FAIL_DATA and "代发关系不存在" in exc.value.message


# -- stop_ship ----------------------------------------------------------------------------------

def stop_payload(reference="DS100"):
    payload = {"fulfilment_id": 11, "platform_order_id": "2607602240240301",
               "reason": "refund_requested", "answer_by": "2026-11-03T10:00:00+00:00"}
    if reference:
        payload["supplier_reference"] = reference
    return payload


def test_stop_ship_cancels_the_allocation(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.detail", merchant_item(status=3))
    api(rsps, CANCEL_ALLOCATION, {})
    result = channel.push("stop_ship", stop_payload(), "key-2")
    assert result.data["fulfilment_update"] == {"status": "cancelled",
                                                "reason": "refund_requested"}
    assert param(rsps.calls[0]) == {"dropshippingOrderCode": "DS100"}
    assert param(rsps.calls[1]) == {"dropshippingOrderCodeList": ["DS100"],
                                    "cancelAllocateReason": "refund_requested"}


def test_stop_ship_after_the_waybill_came_back_is_rejected_with_the_tracking(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.detail",
        merchant_item(status=4, expressCompanyCode="ZTO", waybillCode="731234567890123"))
    result = channel.push("stop_ship", stop_payload(), "key-2")
    assert result.data["fulfilment_update"] == {
        "status": "cancel_rejected", "reason": "already shipped", "carrier": "zto",
        "tracking_number": "731234567890123"}
    assert len(rsps.calls) == 1  # no cancel attempted


def test_a_cancel_refused_because_the_factory_shipped_is_rejected_already_shipped(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.detail", merchant_item(status=3))
    api(rsps, CANCEL_ALLOCATION, None, result=21, error_msg="厂家已发货，不可取消分配")
    api(rsps, "open.dropshipping.order.merchant.detail", merchant_item(status=3))
    result = channel.push("stop_ship", stop_payload(), "key-2")
    update = result.data["fulfilment_update"]
    assert update["status"] == "cancel_rejected" and update["reason"].startswith("already shipped")


def test_a_cancel_refused_while_the_waybill_arrives_answers_with_the_waybill(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.detail", merchant_item(status=3))
    api(rsps, CANCEL_ALLOCATION, None, result=21, error_msg="状态已变更")
    api(rsps, "open.dropshipping.order.merchant.detail",
        merchant_item(status=4, expressCompanyCode="SF", waybillCode="SF1234567890123"))
    update = channel.push("stop_ship", stop_payload(), "key-2").data["fulfilment_update"]
    assert (update["status"], update["carrier"], update["tracking_number"]) == (
        "cancel_rejected", "sf", "SF1234567890123")


def test_any_other_refusal_stays_an_error(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.detail", merchant_item(status=3))
    api(rsps, CANCEL_ALLOCATION, None, result=21, error_msg="参数错误")
    api(rsps, "open.dropshipping.order.merchant.detail", merchant_item(status=3))
    with pytest.raises(ConnectorError) as exc:
        channel.push("stop_ship", stop_payload(), "key-2")
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_an_already_cancelled_allocation_answers_cancelled(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.detail", merchant_item(status=2))
    result = channel.push("stop_ship", stop_payload(), "key-2")
    assert result.data["fulfilment_update"]["status"] == "cancelled" and len(rsps.calls) == 1


def test_a_stop_ship_without_reference_looks_up_this_factorys_allocation(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list",
        {"cursor": "nomore", "list": [merchant_item("DS555", status=3, factory="F001")]})
    api(rsps, "open.dropshipping.order.merchant.detail", merchant_item("DS555", status=3))
    api(rsps, CANCEL_ALLOCATION, {})
    result = channel.push("stop_ship", stop_payload(reference=None), "key-2")
    assert result.data["supplier_reference"] == "DS555"
    looked = param(rsps.calls[0])
    assert looked["factoryCode"] == "F001"
    assert looked["endTime"] - looked["beginTime"] == 29 * 86_400_000


def test_a_stop_ship_for_an_order_never_allocated_here_is_fail_data(channel, rsps):
    api(rsps, "open.dropshipping.order.merchant.list", {"cursor": "nomore", "list": []})
    with pytest.raises(ConnectorError) as exc:
        channel.push("stop_ship", stop_payload(reference=None), "key-2")
    assert exc.value.error_class is ErrorClass.FAIL_DATA and "nothing to cancel" in exc.value.message


# -- other topics and payloads -----------------------------------------------------------------------

def test_return_notices_are_not_forwarded_and_say_why(channel):
    result = channel.push("return_notice", {"return_case_id": 3}, "key-3")
    assert result.data["forwarded"] is False and "after-sale" in result.data["why"]


def test_claim_notices_are_not_forwarded_and_point_at_the_supplier_api(channel, rsps):
    """厂家代发 has no claims call: nothing is sent to Kuaishou, and the factory answers on
    the hub's supplier API (the hub records the claim ``not_forwarded``)."""
    result = channel.push("claim_notice", {"claim_id": "9", "status": "sent",
                                           "amount_minor": 2000}, "claim:9")
    assert result.data["forwarded"] is False and result.external_id is None
    assert "/api/v1/supplier/claims" in result.data["why"] and len(rsps.calls) == 0


@pytest.mark.parametrize("topic,payload", [
    ("shipment", {}), ("order_dispatch", {"fulfilment_id": 1}),
    ("stop_ship", {"fulfilment_id": "x", "platform_order_id": "1"}),
])
def test_unknown_topics_and_bad_payloads_are_fail_data(channel, topic, payload):
    with pytest.raises(ConnectorError) as exc:
        channel.push(topic, payload, "key")
    assert exc.value.error_class is ErrorClass.FAIL_DATA
