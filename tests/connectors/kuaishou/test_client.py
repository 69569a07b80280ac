"""KuaishouClient: envelope, verbs, form encoding, QPS budgets and error classes."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests
import responses

from connectors import http
from connectors.base import ConnectorError, ErrorClass
from connectors.kuaishou import signing
from connectors.kuaishou.client import (
    DAY_MS, KuaishouClient, StaticTokens, api_path, verb_for,
)
from connectors.kuaishou.errors import KuaishouError, RefundChanged, classify_payload
from tests.connectors.kuaishou.conftest import BASE, CONFIG, next_account_id, sent_form

NOW = 1700086400123
VECTOR_PARAM = {"orderViewStatus": 1, "pageSize": 50, "sort": 1, "queryType": 2,
                "beginTime": 1700000000000, "endTime": 1700086400000, "cpsType": 0, "cursor": ""}


def ok(data=None):
    return {"result": 1, "error_msg": "", "data": data, "requestId": "1"}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def client(tokens=None, **config) -> KuaishouClient:
    return KuaishouClient({**CONFIG, **config}, next_account_id(), tokens or StaticTokens("token"),
                          now_ms=lambda: NOW)


class SwitchingTokens:
    """Hands out ``old`` until refreshed, then ``new``; counts refreshes."""

    def __init__(self):
        self.current, self.refreshes, self.rejected = "old", 0, []

    def access_token(self):
        return self.current

    def refresh(self, rejected=None):
        self.refreshes += 1
        self.rejected.append(rejected)
        self.current = "new"
        return self.current


# -- envelope, verbs, encoding ------------------------------------------------------------------
def test_method_name_becomes_the_path():
    assert api_path("open.order.cursor.list") == "/open/order/cursor/list"
    assert api_path("open.seller.order.refund.pcursor.list") == "/open/seller/order/refund/pcursor/list"


@pytest.mark.parametrize("method,verb", [
    ("open.order.cursor.list", "GET"), ("open.order.detail", "GET"),
    ("open.seller.order.refund.pcursor.list", "GET"), ("open.seller.order.refund.detail", "GET"),
    ("open.refund.reject.reason", "GET"), ("open.seller.order.goods.deliver", "POST"),
    ("open.seller.order.logistics.update", "POST"), ("open.seller.order.refund.approve", "POST"),
    ("open.seller.order.refund.returngoods.approve", "POST"),
    ("open.seller.order.refund.confirm.receipt", "POST"), ("open.refund.reject", "POST"),
    ("open.order.decrypt.batch", "POST"),
])
def test_verb_table(method, verb):
    assert verb_for(method) == verb


def test_get_carries_the_signed_envelope_in_the_query(rsps, slept):
    rsps.get(f"{BASE}/open/order/cursor/list", json=ok({"cursor": "nomore", "orderList": []}))
    data = client().list_orders(VECTOR_PARAM["beginTime"], VECTOR_PARAM["endTime"])
    assert data == {"cursor": "nomore", "orderList": []}
    request = rsps.calls[0].request
    assert request.method == "GET" and not request.body
    form = sent_form(request)
    assert form == {"method": "open.order.cursor.list", "appkey": "ks123", "access_token": "token",
                    "version": "1", "param": signing.dump_param(VECTOR_PARAM),
                    "timestamp": str(NOW), "signMethod": "HMAC_SHA256",
                    "sign": "mB29QUHuu3bUDH0ynVb1RA7UyiPhi0HkVjtYzCOlNVY="}


def test_md5_accounts_sign_with_md5(rsps, slept):
    rsps.get(f"{BASE}/open/order/cursor/list", json=ok({"cursor": "nomore"}))
    client(sign_method="MD5").list_orders(VECTOR_PARAM["beginTime"], VECTOR_PARAM["endTime"])
    form = sent_form(rsps.calls[0].request)
    assert form["signMethod"] == "MD5" and form["sign"] == "8f67ad875a25da2aad3bf39ca6f079f6"


def test_post_is_form_encoded_with_everything_in_the_body(rsps, slept):
    rsps.post(f"{BASE}/open/seller/order/goods/deliver", json=ok())
    client().deliver("2607602240240301", " SF1515601210470 ", 4)
    request = rsps.calls[0].request
    assert request.method == "POST" and not urlsplit(request.url).query
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = sent_form(request)
    assert json.loads(form["param"]) == {"orderId": 2607602240240301,
                                         "expressNo": "SF1515601210470", "expressCode": 4}
    assert set(form) == {"method", "appkey", "access_token", "version", "param", "timestamp",
                         "signMethod", "sign"}
    assert form["sign"] == signing.compute_sign(form, "sign-secret")


def test_the_param_sent_is_the_param_signed_byte_for_byte(rsps, slept):
    rsps.post(f"{BASE}/open/refund/reject", json=ok())
    client().reject_refund(123, 7, "商品已发出，请拒收后申请", 1700000000001, images=["u1"])
    form = sent_form(rsps.calls[0].request)
    assert form["param"] == ('{"refundId":123,"reasonCode":7,"refundVersion":1700000000001,'
                             '"rejectDesc":"商品已发出，请拒收后申请","rejectImages":["u1"]}')
    assert form["sign"] == signing.compute_sign(form, "sign-secret")


def test_action_params(rsps, slept):
    for path in ("seller/order/refund/approve", "seller/order/refund/returngoods/approve",
                 "seller/order/refund/confirm/receipt", "seller/order/logistics/update"):
        rsps.post(f"{BASE}/open/{path}", json=ok())
    rsps.get(f"{BASE}/open/refund/reject/reason", json=ok({"reasonList": [{"code": 7}]}))
    c = client()
    c.approve_refund(5, 1990, handling_way=10)
    c.approve_return(5, 0, address_id=88)
    c.confirm_receipt(5, status=40)
    c.update_logistics(9, "YT1234567890123", 6, logistics_id=3)
    assert c.reject_reasons(5) == [{"code": 7}]
    params = [json.loads(sent_form(call.request)["param"]) for call in rsps.calls]
    assert params[:4] == [
        {"refundId": 5, "refundAmount": 1990, "refundHandingWay": 10},
        {"refundId": 5, "refundAmount": 0, "addressId": 88},
        {"refundId": 5, "status": 40},
        {"orderId": 9, "expressCode": 6, "expressNo": "YT1234567890123", "logisticsId": 3}]


@pytest.mark.parametrize("amount", [19.9, "1990", -1, True])
def test_amounts_must_be_integer_fen(amount):
    with pytest.raises(KuaishouError) as exc:
        client().approve_refund(5, amount)
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_ids_must_be_numeric():
    with pytest.raises(KuaishouError) as exc:
        client().fetch_order("ks-123")
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_each_attempt_is_signed_afresh(rsps, slept):
    times = iter([NOW, NOW + 700])
    c = KuaishouClient(CONFIG, next_account_id(), StaticTokens("token"), now_ms=lambda: next(times))
    rsps.get(f"{BASE}/open/order/detail", status=503)
    rsps.get(f"{BASE}/open/order/detail", json=ok({"orderBaseInfo": {"oid": 1}}))
    assert c.fetch_order(1) == {"orderBaseInfo": {"oid": 1}}
    first, second = (sent_form(call.request) for call in rsps.calls)
    assert (first["timestamp"], second["timestamp"]) == (str(NOW), str(NOW + 700))
    assert first["sign"] != second["sign"]


# -- pagination and windows ----------------------------------------------------------------------
def test_iter_orders_follows_the_cursor_to_nomore(rsps, slept):
    rsps.get(f"{BASE}/open/order/cursor/list", json=ok({"cursor": "157_1", "orderList": [{"a": 1}]}))
    rsps.get(f"{BASE}/open/order/cursor/list", json=ok({"cursor": "nomore", "orderList": [{"a": 2}]}))
    pages = list(client().iter_orders(NOW - DAY_MS, NOW - 1000))
    assert pages == [([{"a": 1}], "157_1"), ([{"a": 2}], "nomore")]
    cursors = [json.loads(sent_form(c.request)["param"])["cursor"] for c in rsps.calls]
    assert cursors == ["", "157_1"]


def test_iter_refunds_sends_pcursor_and_pages(rsps, slept):
    rsps.get(f"{BASE}/open/seller/order/refund/pcursor/list",
             json=ok({"pcursor": "p2", "refundOrderInfoList": [{"refundId": 1}], "totalPage": 2}))
    rsps.get(f"{BASE}/open/seller/order/refund/pcursor/list",
             json=ok({"pcursor": "nomore", "refundOrderInfoList": []}))
    pages = list(client().iter_refunds(NOW - 3_600_000, NOW))
    assert [p[1] for p in pages] == ["p2", "nomore"]
    params = [json.loads(sent_form(c.request)["param"]) for c in rsps.calls]
    assert [(p["pcursor"], p["currentPage"]) for p in params] == [("", 1), ("p2", 2)]
    assert params[0]["option"] == {"needExchange": True} and params[0]["queryType"] == 2


def test_a_stuck_cursor_is_not_followed_forever(rsps, slept):
    rsps.get(f"{BASE}/open/order/cursor/list", json=ok({"cursor": "c1", "orderList": []}))
    rsps.get(f"{BASE}/open/order/cursor/list", json=ok({"cursor": "c1", "orderList": []}))
    with pytest.raises(KuaishouError) as exc:
        list(client().iter_orders(NOW - DAY_MS, NOW))
    assert exc.value.error_class is ErrorClass.RETRY


@pytest.mark.parametrize("begin,end,maker", [
    (NOW - 8 * DAY_MS, NOW, "orders"),            # > 7 days
    (NOW, NOW, "orders"),                          # end == begin
    (NOW - 91 * DAY_MS, NOW - 90 * DAY_MS, "orders"),  # before 90 days
    (NOW - DAY_MS - 1, NOW, "refunds"),            # > 1 day
])
def test_bad_windows_fail_locally_without_a_call(rsps, begin, end, maker):
    c = client()
    call = c.list_orders if maker == "orders" else c.list_refunds
    with pytest.raises(KuaishouError) as exc:
        call(begin, end)
    assert exc.value.error_class is ErrorClass.FAIL_DATA
    assert not rsps.calls


def test_earliest_begin_is_inside_the_90_days():
    c = client()
    c.check_window(c.earliest_begin_ms(), c.earliest_begin_ms() + DAY_MS, 7 * DAY_MS)


# -- budgets ---------------------------------------------------------------------------------------
def test_qps_budgets_are_per_app_and_per_shop_per_method(rsps, slept):
    rsps.get(f"{BASE}/open/order/cursor/list", json=ok({"cursor": "nomore"}))
    rsps.get(f"{BASE}/open/seller/order/refund/detail", json=ok({}))
    c = client()
    c.list_orders(NOW - DAY_MS, NOW)
    c.fetch_refund(77)
    buckets = http._buckets
    assert buckets["kuaishou:app:ks123:open.order.cursor.list"].rate == 300
    assert buckets[f"kuaishou:shop:{c.account_id}:open.order.cursor.list"].rate == 300
    assert buckets["kuaishou:app:ks123:open.seller.order.refund.detail"].rate == 10
    assert buckets[f"kuaishou:shop:{c.account_id}:open.seller.order.refund.detail"].rate == 10


def test_qps_overrides_default_and_fraction():
    c = client(qps_default=4, qps_overrides={"open.order.detail": 50}, qps_fraction=0.5)
    assert c.qps_for("open.order.detail") == (25, 25)
    assert c.qps_for("open.seller.order.refund.detail") == (2, 2)
    assert c.qps_for("open.order.decrypt.batch") == (50, 50)
    keys = [b for b in c.buckets_for("open.order.detail")]
    assert keys[0] is http.budget_for("kuaishou:app:ks123:open.order.detail", 25)


def test_every_attempt_takes_from_both_buckets(rsps, slept, monkeypatch):
    taken = []
    c = client()
    monkeypatch.setattr(c, "buckets_for", lambda m: [type("B", (), {
        "acquire": lambda self, m=m: taken.append(m)})()] * 2)
    rsps.get(f"{BASE}/open/order/detail", status=502)
    rsps.get(f"{BASE}/open/order/detail", json=ok({}))
    c.fetch_order(1)
    assert taken == ["open.order.detail"] * 4


# -- error classes ----------------------------------------------------------------------------------
CASES = [
    # (name, http status, body, class, extra checks)
    ("qps", 200, {"result": 1016, "error_msg": "Exceed qps limit, KEY [apiId:1;appkey:ks123], "
                  "MAX_QPS [300.0]"}, ErrorClass.RATE_LIMITED, {"retry_after": 1.0}),
    ("quota-app", 200, {"result": 9999, "error_msg": "Exceed quota limit, KEY [appkey:ks123]"},
     ErrorClass.RATE_LIMITED, {"retry_after": 600.0}),
    ("quota-1017", 200, {"result": 1017, "error_msg": "[1017] exceed quota limit,[apiId:5;"
                         "primaryUserId:9]"}, ErrorClass.RATE_LIMITED, {"retry_after": 600.0}),
    ("http-429", 429, None, ErrorClass.RATE_LIMITED, {}),
    ("revoked", 200, {"result": 24, "error_msg": "AUTHORIZATION_REVOKED"}, ErrorClass.FAIL_CONFIG,
     {"reauthorize": True}),
    ("oauth-revoked", 200, {"result": 100200102, "error": "access_denied",
                            "error_msg": "refreshToken.revokedAuthorization"},
     ErrorClass.FAIL_CONFIG, {"reauthorize": True}),
    ("discarded", 200, {"result": 100200102, "error": "access_denied",
                        "error_msg": "refreshToken.discarded"}, ErrorClass.FAIL_CONFIG,
     {"reauthorize": True}),
    ("no-scope", 200, {"result": 22, "error_msg": "token中无scope权限"}, ErrorClass.FAIL_CONFIG,
     {"reauthorize": True}),
    ("no-main-account", 200, {"result": 26, "data": None, "error_msg": "主账号不存在"},
     ErrorClass.FAIL_CONFIG, {}),
    ("bad-sign", 200, {"result": 28, "error_msg": "签名校验失败"}, ErrorClass.FAIL_CONFIG, {}),
    ("bad-timestamp", 200, {"result": 27, "error_msg": "timestamp无效: 与服务器时间相差过大"},
     ErrorClass.FAIL_CONFIG, {}),
    ("bad-app", 200, {"result": 100200101, "error": "unauthorized_client"}, ErrorClass.FAIL_CONFIG, {}),
    ("token-expired", 200, {"result": 25, "error_msg": "TOKEN过期"},
     ErrorClass.REFRESH_TOKEN_THEN_RETRY, {}),
    ("auth-failed", 200, {"result": 25, "error_msg": "鉴权失败"}, ErrorClass.REFRESH_TOKEN_THEN_RETRY, {}),
    ("access-token-invalid", 200, {"result": 25, "error_msg": "access_token is invalid"},
     ErrorClass.REFRESH_TOKEN_THEN_RETRY, {}),
    ("refund-updated", 200, {"result": 300014, "error_msg": "退款单状态已更新，请刷新重试"},
     ErrorClass.RETRY, {"reread": True}),
    ("negotiate-changed", 200, {"result": 300017, "error_msg": "协商状态已改变"}, ErrorClass.RETRY,
     {"reread": True}),
    ("shipment-blocked", 200, {"result": 11, "error_msg": "运单号与快递公司不匹配"},
     ErrorClass.FAIL_DATA, {"message_has": "运单号与快递公司不匹配"}),
    ("window-order", 200, {"result": 300003, "error_msg": "结束时间要晚于开始时间"}, ErrorClass.FAIL_DATA, {}),
    ("window-7d", 200, {"result": 300004, "error_msg": "查询范围不能大于7天"}, ErrorClass.FAIL_DATA, {}),
    ("window-90d", 200, {"result": 300005, "error_msg": "只能查询最近90天内的订单"}, ErrorClass.FAIL_DATA, {}),
    ("window-limit", 200, {"result": 300019, "error_msg": "时间范围超限"}, ErrorClass.FAIL_DATA, {}),
    ("param-invalid", 200, {"result": 2001, "code": "807000", "msg": "业务处理失败",
                            "sub_code": "2001", "sub_msg": "endTime无效"}, ErrorClass.FAIL_DATA, {}),
    ("order-reject", 200, {"result": 21, "error_msg": "order operation reject"}, ErrorClass.FAIL_DATA, {}),
    ("status-not-allowed", 200, {"result": 300018, "error_msg": "当前退款状态不可操作"},
     ErrorClass.FAIL_DATA, {}),
    ("http-503", 503, None, ErrorClass.RETRY, {}),
    ("http-502-json", 502, {"message": "bad gateway"}, ErrorClass.RETRY, {}),
    ("html-200", 200, "<html>gateway</html>", ErrorClass.RETRY, {}),
    ("oauth-server-error", 200, {"result": 100200500, "error": "server_error"}, ErrorClass.RETRY, {}),
    ("busy", 200, {"result": 50, "error_msg": "系统繁忙，请稍后重试"}, ErrorClass.RETRY, {}),
    ("success", 200, {"result": 1, "data": {}}, None, {}),
]


@pytest.mark.parametrize("name,status,body,cls,extra", CASES, ids=[c[0] for c in CASES])
def test_classification_table(name, status, body, cls, extra):
    payload = body if isinstance(body, dict) else None
    verdict = classify_payload(status, payload)
    assert verdict.error_class is cls
    for key in ("retry_after", "reauthorize", "reread"):
        if key in extra:
            assert getattr(verdict, key) == extra[key]
    if "message_has" in extra:
        assert extra["message_has"] in verdict.message


def test_every_error_class_is_in_the_table():
    assert {c[3] for c in CASES} >= set(ErrorClass)


def _serve(rsps, status, body, method="GET", path="/open/order/detail", times=1):
    kwargs = {"status": status}
    if isinstance(body, dict):
        kwargs["json"] = body
    elif body is not None:
        kwargs["body"] = body
    for _ in range(times):
        rsps.add(method, f"{BASE}{path}", **kwargs)


@pytest.mark.parametrize("name,status,body,cls,extra",
                         [c for c in CASES if c[3] in (ErrorClass.FAIL_DATA, ErrorClass.FAIL_CONFIG)],
                         ids=[c[0] for c in CASES if c[3] in (ErrorClass.FAIL_DATA, ErrorClass.FAIL_CONFIG)])
def test_failures_are_raised_after_one_call_with_the_raw_payload(rsps, slept, name, status, body,
                                                                 cls, extra):
    _serve(rsps, status, body)
    with pytest.raises(KuaishouError) as exc:
        client().fetch_order(1)
    err = exc.value
    assert err.error_class is cls and len(rsps.calls) == 1
    assert err.payload == body and json.loads(err.response_excerpt) == body
    assert err.reauthorize is bool(extra.get("reauthorize"))
    assert "sign-secret" not in err.message and "access_token=" not in err.message


def test_window_errors_from_the_platform_are_never_retried(rsps, slept):
    _serve(rsps, 200, {"result": 300004, "error_msg": "查询范围不能大于7天"},
           path="/open/order/cursor/list")
    with pytest.raises(KuaishouError) as exc:
        client().list_orders(NOW - DAY_MS, NOW)
    assert exc.value.error_class is ErrorClass.FAIL_DATA and len(rsps.calls) == 1 and not slept


def test_rate_limits_are_waited_out_in_place(rsps, slept):
    _serve(rsps, 200, {"result": 1016, "error_msg": "Exceed qps limit, KEY [apiId:1;appkey:ks123]"})
    _serve(rsps, 200, ok({"orderBaseInfo": {"oid": 1}}))
    assert client().fetch_order(1) == {"orderBaseInfo": {"oid": 1}}
    assert slept == [1.0]


def test_a_quota_is_handed_back_to_the_job(rsps, slept):
    _serve(rsps, 200, {"result": 1017, "error_msg": "[1017] exceed quota limit,[apiId:5]"})
    with pytest.raises(ConnectorError) as exc:
        client().fetch_order(1)
    assert exc.value.error_class is ErrorClass.RATE_LIMITED and exc.value.retry_after == 600
    assert len(rsps.calls) == 1 and not slept


def test_transient_reads_are_retried(rsps, slept):
    _serve(rsps, 503, "busy")
    rsps.get(f"{BASE}/open/order/detail", body=requests.ConnectionError("reset"))
    _serve(rsps, 200, ok({"ok": True}))
    assert client().fetch_order(1) == {"ok": True}
    assert len(rsps.calls) == 3 and len(slept) == 2


def test_transient_reads_give_up_as_retry(rsps, slept):
    _serve(rsps, 503, "busy", times=4)
    with pytest.raises(ConnectorError) as exc:
        client().fetch_order(1)
    assert exc.value.error_class is ErrorClass.RETRY and len(rsps.calls) == 4


@pytest.mark.parametrize("failure", ["timeout", "503"])
def test_an_ambiguous_write_is_not_repeated_in_place(rsps, slept, failure):
    if failure == "timeout":
        rsps.post(f"{BASE}/open/seller/order/goods/deliver", body=requests.ReadTimeout("slow"))
    else:
        _serve(rsps, 503, "busy", method="POST", path="/open/seller/order/goods/deliver")
    with pytest.raises(KuaishouError) as exc:
        client().deliver(1, "SF1515601210470", 4)
    assert exc.value.error_class is ErrorClass.RETRY and exc.value.ambiguous
    assert len(rsps.calls) == 1


def test_refund_changed_asks_for_a_reread_without_retrying_in_place(rsps, slept):
    _serve(rsps, 200, {"result": 300014, "error_msg": "退款单状态已更新，请刷新重试"},
           method="POST", path="/open/seller/order/refund/approve")
    with pytest.raises(RefundChanged) as exc:
        client().approve_refund(5, 100)
    assert exc.value.reread and exc.value.error_class is ErrorClass.RETRY
    assert exc.value.error_class.retryable and len(rsps.calls) == 1 and not slept


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(rsps, slept):
    tokens = SwitchingTokens()
    _serve(rsps, 200, {"result": 25, "error_msg": "TOKEN过期"})
    _serve(rsps, 200, ok({"done": 1}))
    assert client(tokens).fetch_order(1) == {"done": 1}
    assert tokens.refreshes == 1 and tokens.rejected == ["old"]
    assert [sent_form(c.request)["access_token"] for c in rsps.calls] == ["old", "new"]


def test_a_token_still_rejected_after_refresh_is_fail_config(rsps, slept):
    tokens = SwitchingTokens()
    _serve(rsps, 200, {"result": 25, "error_msg": "鉴权失败"}, times=2)
    with pytest.raises(KuaishouError) as exc:
        client(tokens).fetch_order(1)
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG and exc.value.reauthorize
    assert tokens.refreshes == 1 and len(rsps.calls) == 2


def test_a_static_token_cannot_be_refreshed(rsps, slept):
    _serve(rsps, 200, {"result": 25, "error_msg": "TOKEN过期"})
    with pytest.raises(ConnectorError) as exc:
        client().fetch_order(1)
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG
