"""CJdropshipping transport, driven by ``responses``: tokens, error classes, creating the
order, stop-ship by cancelling before payment (else answering rejected), and disputes as
the claim channel with ``businessDisputeId`` as the idempotency key."""
from __future__ import annotations

import itertools
import json

import pytest
import requests
import responses
from responses import matchers

from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.cj import CJ
from connectors.cj.client import classify_answer
from connectors.cj.webhooks import records_for_event
from connectors.http import HttpAdapter, TokenBucket

API = "https://cj.test/api2.0/v1"
CONFIG = {"api_key": "CJ-api-key-0001", "open_id": "1200345678901234567",
          "access_token": "AT-cj", "access_token_expires_at": "2099-01-01T00:00:00+00:00",
          "api_base_url": API, "qps": 100}
_ids = itertools.count(4_600_000)


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(lambda s: None))
    monkeypatch.setattr(TokenBucket, "sleep", staticmethod(lambda s: None))


def make(**config):
    saved: list[dict] = []
    ctx = AccountContext(account_id=next(_ids), merchant_id=1, name="cj",
                         config=CJ.validate_config({**CONFIG, **config}),
                         save_config=saved.append)
    channel = CJ(ctx)
    channel.saved = saved
    return channel


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def ok(data=None):
    return {"code": 200, "result": True, "message": "Success", "data": data,
            "requestId": "req-1"}


def refused(code=1600100, message="Param error"):
    return {"code": code, "result": False, "message": message, "data": None,
            "requestId": "req-2"}


def body(call) -> dict:
    return json.loads(call.request.body)


# -- tokens ---------------------------------------------------------------------------------------

def test_a_first_call_gets_a_token_with_the_api_key_and_stores_the_open_id(rsps):
    channel = make(access_token=None, access_token_expires_at=None, open_id=None)
    rsps.add(responses.POST, f"{API}/authentication/getAccessToken",
             match=[matchers.json_params_matcher({"apiKey": "CJ-api-key-0001"})],
             json=ok({"openId": 1200345678901234567, "accessToken": "AT-new",
                      "accessTokenExpiryDate": "2026-11-16T09:16:33+08:00",
                      "refreshToken": "RT-new",
                      "refreshTokenExpiryDate": "2027-05-01T09:16:33+08:00",
                      "createDate": "2026-11-01T09:16:33+08:00"}))
    rsps.add(responses.GET, f"{API}/shopping/order/getOrderDetail",
             match=[matchers.header_matcher({"CJ-Access-Token": "AT-new"}),
                    matchers.query_param_matcher({"orderId": "CJ1"})],
             json=ok({"orderStatus": "CANCELLED"}))
    channel.push("stop_ship", {"fulfilment_id": 1, "supplier_reference": "CJ1"}, "k")
    assert channel.saved[0]["access_token"] == "AT-new"
    assert channel.saved[0]["open_id"] == "1200345678901234567"
    assert channel.saved[0]["access_token_expires_at"] == "2026-11-16T01:16:33+00:00"
    assert channel.config["refresh_token"] == "RT-new"


def test_an_expired_token_is_refreshed_with_the_refresh_token(rsps):
    channel = make(access_token="AT-old", access_token_expires_at="2020-01-01T00:00:00+00:00",
                   refresh_token="RT-1", refresh_token_expires_at="2099-01-01T00:00:00+00:00")
    rsps.add(responses.POST, f"{API}/authentication/refreshAccessToken",
             match=[matchers.json_params_matcher({"refreshToken": "RT-1"})],
             json=ok({"accessToken": "AT-2", "accessTokenExpiryDate": "2099-01-01T00:00:00Z",
                      "refreshToken": "RT-2"}))
    rsps.add(responses.GET, f"{API}/shopping/order/getOrderDetail",
             match=[matchers.header_matcher({"CJ-Access-Token": "AT-2"})],
             json=ok({"orderStatus": "CANCELLED"}))
    channel.push("stop_ship", {"fulfilment_id": 1, "supplier_reference": "CJ1"}, "k")
    assert channel.saved[-1]["refresh_token"] == "RT-2"


def test_a_rejected_token_is_renewed_once_then_it_is_fail_config(rsps):
    channel = make(refresh_token="RT-1")
    detail = f"{API}/shopping/order/getOrderDetail"
    rsps.add(responses.GET, detail, match=[matchers.header_matcher({"CJ-Access-Token": "AT-cj"})],
             json=refused(1600001, "Invalid access token"))
    rsps.add(responses.POST, f"{API}/authentication/refreshAccessToken",
             json=ok({"accessToken": "AT-2", "accessTokenExpiryDate": "2099-01-01T00:00:00Z"}))
    rsps.add(responses.GET, detail, match=[matchers.header_matcher({"CJ-Access-Token": "AT-2"})],
             json=refused(1600001, "Invalid access token"))
    with pytest.raises(ConnectorError) as exc:
        channel.push("stop_ship", {"fulfilment_id": 1, "supplier_reference": "CJ1"}, "k")
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG and "API key" in exc.value.message


def test_get_access_token_too_often_waits_five_minutes(rsps):
    channel = make(access_token=None, access_token_expires_at=None)
    rsps.add(responses.POST, f"{API}/authentication/getAccessToken",
             json=refused(1600200, "Too much request, QPS limit"))
    with pytest.raises(ConnectorError) as exc:
        channel.push("stop_ship", {"fulfilment_id": 1, "supplier_reference": "CJ1"}, "k")
    assert exc.value.error_class is ErrorClass.RATE_LIMITED and exc.value.retry_after == 300


@pytest.mark.parametrize("status,payload,expected", [
    (200, ok({}), None),
    (200, refused(), ErrorClass.FAIL_DATA),
    (200, refused(1600002, "Order not found"), ErrorClass.FAIL_DATA),
    (200, refused(1600200, "Too many requests"), ErrorClass.RATE_LIMITED),
    (429, None, ErrorClass.RATE_LIMITED),
    (200, refused(1600001, "Access token is expired"), ErrorClass.REFRESH_TOKEN_THEN_RETRY),
    (401, None, ErrorClass.REFRESH_TOKEN_THEN_RETRY),
    (200, refused(1600003, "Invalid API key"), ErrorClass.FAIL_CONFIG),
    (200, refused(1600001, "Invalid API key or access token"),
     ErrorClass.REFRESH_TOKEN_THEN_RETRY),
    (403, None, ErrorClass.FAIL_CONFIG),
    (503, None, ErrorClass.RETRY),
    (200, None, ErrorClass.RETRY),                       # a 2xx that is not JSON
    (200, refused(1600000, "System busy"), ErrorClass.RETRY),
    (400, None, ErrorClass.FAIL_DATA),
])
def test_error_classes(status, payload, expected):
    assert classify_answer(status, payload, "/shopping/order/createOrderV2") is expected


def test_a_refused_token_endpoint_is_fail_config_not_a_refresh_loop():
    assert classify_answer(200, refused(1600001, "Invalid token"),
                           "/api2.0/v1/authentication/refreshAccessToken") is ErrorClass.FAIL_CONFIG


# -- order_dispatch -------------------------------------------------------------------------------

def dispatch_payload(lines=None):
    return {"fulfilment_id": 41, "answer_by": "2026-11-02T08:00:00+00:00",
            "order": {"platform_order_id": "2607602240240301", "note": "gift wrap",
                      "placed_at": None, "paid_at": None, "ship_by": None,
                      "buyer": {"name_masked": "张*", "phone_masked": "138****5678",
                                "address_masked": "北京市朝阳区***", "province_code": "110000",
                                "city_code": "110100", "district_code": "110105",
                                "name_cipher": "#n#", "phone_cipher": "#p#",
                                "address_cipher": "#a#"}},
            "lines": lines or [{"sku": "SKU-1", "supplier_sku": "VID-AAA", "title": "Scarf",
                                "quantity": 2},
                               {"sku": "SKU-2", "supplier_sku": "VID-BBB", "title": "Hat",
                                "quantity": 1}]}


def test_dispatch_creates_the_order_with_the_mapped_variants(rsps):
    rsps.add(responses.POST, f"{API}/shopping/order/createOrderV2",
             match=[matchers.header_matcher({"CJ-Access-Token": "AT-cj"})],
             json=ok({"orderId": "CJPO2611010001", "orderNumber": "HUB-F41",
                      "orderStatus": "CREATED"}))
    result = make().push("order_dispatch", dispatch_payload(), "k")
    sent = body(rsps.calls[0])
    assert sent["orderNumber"] == "HUB-F41" and sent["payType"] == 3
    assert sent["products"] == [{"vid": "VID-AAA", "quantity": 2, "storeLineItemId": "41-1"},
                                {"vid": "VID-BBB", "quantity": 1, "storeLineItemId": "41-2"}]
    assert sent["shippingCustomerName"] == "张*"
    assert (sent["shippingProvince"], sent["shippingCity"], sent["shippingCounty"]) == \
        ("北京市", "北京市", "朝阳区")  # names, as CJ expects, never the region codes
    assert "#n#" not in json.dumps(sent)  # ciphertext never leaves for CJ
    assert sent["logisticName"] == "CJPacket Ordinary" and "2607602240240301" in sent["remark"]
    assert result.external_id == "CJPO2611010001"
    assert result.data["supplier_reference"] == "CJPO2611010001"
    assert result.data["fulfilment_update"] == {"status": "accepted"}


def with_buyer(address, province, city, district):
    payload = dispatch_payload()
    payload["order"]["buyer"].update(address_masked=address, province_code=province,
                                     city_code=city, district_code=district)
    return payload


@pytest.mark.parametrize("buyer,names", [
    (("浙江省杭州市西湖区****", "330000", "330100", "330106"), ("浙江省", "杭州市", "西湖区")),
    (("上海市上海市浦东新区***", "310000", "310100", "310115"), ("上海市", "上海市", "浦东新区")),
    (("吉林 延边朝鲜族自治州 延吉市 ***", "220000", "222400", "222401"),
     ("吉林省", "延边朝鲜族自治州", "延吉市")),
    (("内蒙古锡林郭勒盟锡林浩特市**", "150000", "152500", "152502"),
     ("内蒙古自治区", "锡林郭勒盟", "锡林浩特市")),
    (("广东省广州市白云区***", None, None, None), ("广东省", "广州市", "白云区")),
])
def test_dispatch_sends_the_region_names_cj_expects(rsps, buyer, names):
    rsps.add(responses.POST, f"{API}/shopping/order/createOrderV2", json=ok({"orderId": "C1"}))
    result = make().push("order_dispatch", with_buyer(*buyer), "k")
    sent = body(rsps.calls[0])
    assert (sent["shippingProvince"], sent["shippingCity"], sent["shippingCounty"]) == names
    assert "flags" not in result.data


def test_a_region_it_cannot_name_is_sent_empty_and_flagged_never_as_a_code(rsps):
    rsps.add(responses.POST, f"{API}/shopping/order/createOrderV2", json=ok({"orderId": "C1"}))
    result = make().push("order_dispatch", with_buyer("浙江省****", "990000", "990100",
                                                      "990101"), "k")
    sent = body(rsps.calls[0])
    assert (sent["shippingProvince"], sent["shippingCity"], sent["shippingCounty"]) == \
        ("", "", "")
    assert result.data["flags"] == ["cj_region_unnamed:province=990000",
                                    "cj_region_unnamed:city=990100",
                                    "cj_region_unnamed:county=990101"]
    assert "complete the address in CJ" in result.response_excerpt


def test_a_line_without_a_cj_variant_is_fail_data_and_nothing_is_sent(rsps):
    with pytest.raises(ConnectorError) as exc:
        make().push("order_dispatch", dispatch_payload(
            [{"sku": "SKU-9", "supplier_sku": None, "title": "", "quantity": 1}]), "k")
    assert exc.value.error_class is ErrorClass.FAIL_DATA and "SKU-9" in exc.value.message
    assert not rsps.calls


def test_a_repeated_dispatch_refused_as_duplicate_counts_as_done(rsps):
    rsps.add(responses.POST, f"{API}/shopping/order/createOrderV2",
             json=refused(1603002, "orderNumber already exists"))
    result = make().push("order_dispatch", dispatch_payload(), "k")
    assert "supplier_reference" not in result.data  # it comes with the ORDER webhook
    assert result.data["fulfilment_update"] == {"status": "accepted"}


def test_a_dispatch_without_an_answer_is_retried_by_the_outbox(rsps):
    rsps.add(responses.POST, f"{API}/shopping/order/createOrderV2",
             body=requests.ConnectionError("reset"))
    with pytest.raises(ConnectorError) as exc:
        make().push("order_dispatch", dispatch_payload(), "k")
    assert exc.value.error_class is ErrorClass.RETRY and len(rsps.calls) == 1


# -- stop_ship ------------------------------------------------------------------------------------

def detail(rsps, status, **extra):
    rsps.add(responses.GET, f"{API}/shopping/order/getOrderDetail",
             match=[matchers.query_param_matcher({"orderId": "CJ1"})],
             json=ok({"orderId": "CJ1", "orderStatus": status, **extra}))


def stop(channel=None):
    return (channel or make()).push(
        "stop_ship", {"fulfilment_id": 41, "platform_order_id": "P1", "reason": "refund",
                      "answer_by": None, "supplier_reference": "CJ1"}, "k")


@pytest.mark.parametrize("status", ["CREATED", "IN_CART", "UNPAID"])
def test_an_unpaid_order_is_deleted_and_the_stop_ship_accepted(rsps, status):
    detail(rsps, status)
    rsps.add(responses.DELETE, f"{API}/shopping/order/deleteOrder",
             match=[matchers.query_param_matcher({"orderId": "CJ1"})], json=ok(True))
    result = stop()
    assert result.data["fulfilment_update"] == {"status": "cancelled", "reason": "refund"}


def test_a_paid_order_answers_rejected_already_paid(rsps):
    detail(rsps, "UNSHIPPED")
    update = stop().data["fulfilment_update"]
    assert update == {"status": "cancel_rejected", "reason": "already paid/processing at CJ"}
    assert len(rsps.calls) == 1  # nothing deleted


def test_a_shipped_order_answers_rejected_with_its_tracking(rsps):
    detail(rsps, "SHIPPED", logisticName="SF Express", trackNumber="SF1234567890123")
    assert stop().data["fulfilment_update"] == {
        "status": "cancel_rejected", "reason": "already shipped", "carrier": "sf",
        "tracking_number": "SF1234567890123"}


def test_an_order_cancelled_at_cj_answers_accepted(rsps):
    detail(rsps, "CANCELLED")
    assert stop().data["fulfilment_update"]["status"] == "cancelled"


def test_a_delete_refused_because_it_was_paid_meanwhile_answers_rejected(rsps):
    detail(rsps, "UNPAID")
    rsps.add(responses.DELETE, f"{API}/shopping/order/deleteOrder",
             json=refused(1603100, "Order status does not allow deletion"))
    detail(rsps, "UNSHIPPED")
    assert stop().data["fulfilment_update"]["status"] == "cancel_rejected"


def test_a_stop_ship_without_the_cj_order_id_is_fail_data(rsps):
    with pytest.raises(ConnectorError) as exc:
        make().push("stop_ship", {"fulfilment_id": 41, "platform_order_id": "P1"}, "k")
    assert exc.value.error_class is ErrorClass.FAIL_DATA
    assert "supplier_reference" in exc.value.message


# -- claims (disputes) -------------------------------------------------------------------------------

def claim_payload(**extra):
    return {"claim_id": "77", "fulfilment_id": 41, "supplier_reference": "CJ1",
            "reason": "damaged", "expect": "refund", "message": "arrived broken",
            "image_urls": ["https://img.example.test/1.jpg"],
            "lines": [{"supplier_sku": "VID-AAA", "quantity": 1}], **extra}


def dispute_flow(rsps, create=None):
    rsps.add(responses.GET, f"{API}/disputes/disputeProducts",
             match=[matchers.query_param_matcher({"orderId": "CJ1"})],
             json=ok([{"lineItemId": "L-1", "cjVariantId": "VID-AAA", "quantity": 2,
                       "price": "3.50", "canChoose": True, "supplierName": "CJ"},
                      {"lineItemId": "L-2", "cjVariantId": "VID-BBB", "quantity": 1,
                       "price": "1.00", "canChoose": False}]))
    rsps.add(responses.POST, f"{API}/disputes/disputeConfirmInfo",
             match=[matchers.json_params_matcher({"orderId": "CJ1", "productInfoList": [
                 {"lineItemId": "L-1", "quantity": 1, "price": "3.50"}]})],
             json=ok({"maxAmount": "3.50", "expectResultOptionList": ["1", "2"],
                      "disputeReasonList": [{"disputeReasonId": 5, "reasonName": "Wrong item"},
                                            {"disputeReasonId": 7,
                                             "reasonName": "Damaged on arrival"}]}))
    if create is not None:
        rsps.add(responses.POST, f"{API}/disputes/create", json=create)


def test_a_claim_becomes_a_dispute_keyed_by_business_dispute_id(rsps):
    dispute_flow(rsps, ok(True))
    result = make().push("claim", claim_payload(), "k")
    sent = body(rsps.calls[2])
    assert sent["businessDisputeId"] == "HUB-Fclaim-77" == result.external_id
    assert (sent["orderId"], sent["disputeReasonId"], sent["expectType"]) == ("CJ1", "7", 1)
    assert sent["productInfoList"] == [{"lineItemId": "L-1", "quantity": 1, "price": "3.50"}]
    assert result.data["max_amount"] == "3.50"


def test_a_repeated_claim_refused_as_existing_counts_as_done(rsps):
    dispute_flow(rsps, refused(1600100, "businessDisputeId already exists"))
    result = make().push("claim_notice", claim_payload(), "k")
    assert result.data["existing"] is True and result.external_id == "HUB-Fclaim-77"


def test_a_claim_reason_cj_does_not_offer_is_fail_data_naming_the_choices(rsps):
    dispute_flow(rsps)
    with pytest.raises(ConnectorError) as exc:
        make().push("claim", claim_payload(reason="lost in transit"), "k")
    assert exc.value.error_class is ErrorClass.FAIL_DATA
    assert "Damaged on arrival" in exc.value.message


def test_dispute_products_are_matched_on_cj_variant_id(rsps):
    """The real disputeProducts answer names the variant ``cjVariantId``."""
    rsps.add(responses.GET, f"{API}/disputes/disputeProducts",
             json=ok([{"lineItemId": "L-1", "cjVariantId": "VID-AAA", "quantity": 2,
                       "price": "3.50", "canChoose": True},
                      {"lineItemId": "L-2", "cjVariantId": "VID-BBB", "quantity": 1,
                       "price": "1.00", "canChoose": True}]))
    rsps.add(responses.POST, f"{API}/disputes/disputeConfirmInfo",
             match=[matchers.json_params_matcher({"orderId": "CJ1", "productInfoList": [
                 {"lineItemId": "L-2", "quantity": 1, "price": "1.00"}]})],
             json=ok({"disputeReasonList": [{"disputeReasonId": 7,
                                             "reasonName": "Damaged on arrival"}]}))
    rsps.add(responses.POST, f"{API}/disputes/create", json=ok(True))
    make().push("claim", claim_payload(lines=[{"supplier_sku": "VID-BBB", "quantity": 1}]), "k")
    assert body(rsps.calls[2])["productInfoList"] == [
        {"lineItemId": "L-2", "quantity": 1, "price": "1.00"}]


def test_a_claim_for_more_than_was_ordered_is_fail_data(rsps):
    rsps.add(responses.GET, f"{API}/disputes/disputeProducts",
             json=ok([{"lineItemId": "L-1", "cjVariantId": "VID-AAA", "quantity": 1,
                      "price": "3.50"}]))
    with pytest.raises(ConnectorError) as exc:
        make().push("claim", claim_payload(lines=[{"supplier_sku": "VID-AAA", "quantity": 3}]),
                    "k")
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_return_notices_are_not_forwarded():
    assert make().push("return_notice", {}, "k").data["forwarded"] is False


def test_messages_other_than_order_and_logistics_are_stored_and_ignored():
    product = json.dumps({"messageId": "m1", "type": "PRODUCT", "messageType": "UPDATE",
                          "params": {"pid": "X"}}).encode()
    assert records_for_event("product.update", product) == []


def test_a_withdrawn_claim_opens_no_dispute(rsps):
    result = make().push("claim_notice", claim_payload(status="withdrawn"), "k")
    assert result.data["forwarded"] is False and "dispute centre" in result.data["why"]
    assert len(rsps.calls) == 0


def test_claimed_lines_without_a_cj_id_are_left_out(rsps):
    rsps.add(responses.GET, f"{API}/disputes/disputeProducts",
             json=ok([{"lineItemId": "L-1", "cjVariantId": "VID-AAA", "quantity": 1,
                       "price": "3.50", "canChoose": True}]))
    rsps.add(responses.POST, f"{API}/disputes/disputeConfirmInfo", json=ok({
        "disputeReasonList": [{"disputeReasonId": 7, "reasonName": "Damaged on arrival"}]}))
    rsps.add(responses.POST, f"{API}/disputes/create", json=ok(True))
    make().push("claim", claim_payload(lines=[{"sku": "SKU-1", "supplier_sku": None,
                                               "quantity": 1}]), "k")
    sent = body(rsps.calls[-1])  # none of CJ's: every disputable line
    assert [x["lineItemId"] for x in sent["productInfoList"]] == ["L-1"]
