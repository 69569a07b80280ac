"""The Kuaishou sandbox over real HTTP: signing, OAuth, gateway, orders, refunds, limits, push.

Every test starts its own simulator (``serve(port=0)``) so no state leaks between tests.
Push retry delays run with a small time factor (5 minutes -> a fraction of a second).
"""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.kuaishou import serve
from sandbox.kuaishou.signing import decrypt_message, encrypt_message, verify_sign

from .ks_helpers import MESSAGE_KEY, Platform, Receiver, wait_for

VECTOR_PARAM = ('{"orderViewStatus":1,"pageSize":50,"sort":1,"queryType":2,"beginTime":1700000000000,'
                '"endTime":1700086400000,"cpsType":0,"cursor":""}')
VECTOR = {"access_token": "token", "appkey": "ks123", "method": "open.order.cursor.list",
          "param": VECTOR_PARAM, "signMethod": "HMAC_SHA256", "timestamp": "1700086400123",
          "version": "1", "sign": "mB29QUHuu3bUDH0ynVb1RA7UyiPhi0HkVjtYzCOlNVY="}
MD5_VECTOR = {**VECTOR, "signMethod": "MD5", "sign": "8f67ad875a25da2aad3bf39ca6f079f6"}
AES_PLAIN = ('{"eventId":"test_1","bizId":1,"event":"kwaishop_order_addOrder",'
             '"info":"{\\"oid\\":1}","createTime":1700000000000}')
AES_CIPHER = ("D/hSC43L7HcHjvDVEb6Bv9TeGQNEY0cNKWOzy6cuTajbaFSPVELvrpYOoLCUq1Gvw4D2NcumTemwN2Wcsu1H"
              "1J+EOvPb7fAxn5RRTNj65VVnWBXPzglh1ozZwTDZF5GfAGzw9/9ZR5xcWeSO26DokdilL0jvUaGLZK5TdrDimOY=")
DAY = 86_400_000


@pytest.fixture
def server():
    srv, _ = serve(port=0, config={"pushTimeFactor": 0.0005})
    yield srv
    srv.stop()


@pytest.fixture
def ks(server):
    platform = Platform(server.base_url)
    yield platform
    platform.close()


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.close()


def window(ks, days_back=1):
    now = ks.now_ms()
    return now - days_back * DAY, now + 1000


# ---- signing --------------------------------------------------------------------------------
def test_verifier_accepts_reference_vectors_and_rejects_tampering():
    assert verify_sign(VECTOR, "sign-secret")
    assert verify_sign(MD5_VECTOR, "sign-secret")
    assert not verify_sign({**VECTOR, "param": VECTOR_PARAM.replace('"pageSize":50', '"pageSize":49')},
                           "sign-secret")
    assert not verify_sign({**VECTOR, "sign": VECTOR["sign"].lower()}, "sign-secret")
    assert not verify_sign({**MD5_VECTOR, "sign": MD5_VECTOR["sign"].upper()}, "sign-secret")
    assert not verify_sign(VECTOR, "other-secret")


def test_reference_vector_is_accepted_over_http(ks):
    ks.ctl("POST", "/apps", 201, appKey="ks123", signSecret="sign-secret")
    shop = ks.ctl("POST", "/shops", 201)
    ks.ctl("POST", f"/shops/{shop['sellerId']}/authorize", 200, appKey="ks123", accessToken="token")
    ks.ctl("POST", "/clock/set", 200, nowMs=1700086400123)
    for fields in (VECTOR, MD5_VECTOR):
        body = ks.send("open.order.cursor.list", fields).json()
        assert body["result"] == 1, body
        assert body["data"]["cursor"] == "nomore" and body["data"]["orderList"] == []
    tampered = {**VECTOR, "param": VECTOR_PARAM.replace('"sort":1', '"sort":2')}
    body = ks.send("open.order.cursor.list", tampered).json()
    assert body["result"] == 28 and body["error_msg"] == "签名校验失败"


def test_envelope_errors(ks):
    ks.setup()
    oid = ks.order(paid=True)["oid"]
    assert ks.call("open.order.detail", {"oid": oid}, sign_secret="wrong")["result"] == 28
    fields = ks.fields("open.order.detail", {"oid": oid})
    assert ks.send("open.order.detail", {k: v for k, v in fields.items() if k != "sign"}).json()["result"] == 100200100
    assert ks.send("open.order.detail", {**fields, "method": "open.order.cursor.list"}).json()["result"] == 100200100
    assert ks.call("open.order.detail", {"oid": oid}, app_key="ks-unknown")["result"] == 100200101
    stale = ks.call("open.order.detail", {"oid": oid}, timestamp=int(time.time() * 1000) - 3_600_000)
    assert stale["result"] == 27
    assert ks.send("open.order.detail", {**fields, "signMethod": "SHA1"}).json()["result"] == 27
    assert ks.send("open.order.detail", {**fields, "version": "2"}).json()["result"] == 100200100
    resp = ks.send("open.seller.order.goods.deliver", ks.fields("open.seller.order.goods.deliver", {}), verb="GET")
    assert resp.status_code == 405
    md5 = ks.call("open.order.detail", {"oid": oid}, sign_method="MD5")
    assert md5["result"] == 1 and md5["data"]["orderBaseInfo"]["oid"] == oid
    assert ks.call("open.order.detail", {"oid": oid}, verb="POST")["result"] == 1


# ---- OAuth ----------------------------------------------------------------------------------
def _authorize(ks, **extra) -> str:
    resp = ks.http.get(f"{ks.base}/oauth/authorize", allow_redirects=False, params={
        "app_id": ks.app_key, "redirect_uri": "https://hub.example/cb?x=1",
        "scope": "merchant_order,merchant_refund", "response_type": "code", "state": "s-42", **extra})
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["s-42"] and query["x"] == ["1"]
    return query["code"][0]


def _exchange(ks, code, grant_type="code"):
    return ks.http.get(f"{ks.base}/oauth2/access_token", params={
        "app_id": ks.app_key, "app_secret": ks.app_secret, "grant_type": grant_type, "code": code}).json()


def test_oauth_code_is_single_use_and_expires(ks):
    ks.setup()
    code = _authorize(ks)
    tokens = _exchange(ks, code)
    assert tokens["result"] == 1 and tokens["expires_in"] == 172800
    assert tokens["refresh_token_expires_in"] == 180 * 86400
    assert tokens["scopes"] == ["merchant_order", "merchant_refund"] and tokens["open_id"]
    assert _exchange(ks, code)["result"] == 100200105
    assert _exchange(ks, _authorize(ks), grant_type="authorization_code")["result"] == 100200104
    late = _authorize(ks)
    ks.advance(seconds=121)
    assert _exchange(ks, late) == {"result": 100200105, "error": "invalid_grant", "error_msg": "code已过期"}
    bad = ks.http.get(f"{ks.base}/oauth2/access_token", params={
        "app_id": ks.app_key, "app_secret": "nope", "grant_type": "code", "code": _authorize(ks)}).json()
    assert bad["result"] == 100200101 and bad["error"] == "unauthorized_client"
    assert ks.call("open.order.cursor.list", {}, token=tokens["access_token"])["result"] == 2001


def _refresh(ks, token, verb="POST"):
    params = {"grant_type": "refresh_token", "refresh_token": token, "app_id": ks.app_key,
              "app_secret": ks.app_secret}
    if verb == "POST":
        return ks.http.post(f"{ks.base}/oauth2/refresh_token", data=params).json()
    return ks.http.get(f"{ks.base}/oauth2/refresh_token", params=params).json()


def test_refresh_rotates_and_discards_after_five_minutes(ks):
    ks.setup()
    first = _refresh(ks, ks.refresh_token)
    assert first["result"] == 1 and first["refresh_token"] != ks.refresh_token
    ks.advance(minutes=4)
    again = _refresh(ks, ks.refresh_token, verb="GET")          # old one: still within 5 minutes
    assert again["result"] == 1 and again["refresh_token"] not in (ks.refresh_token, first["refresh_token"])
    ks.advance(minutes=1, seconds=1)
    assert _refresh(ks, ks.refresh_token) == {"result": 100200102, "error": "access_denied",
                                               "error_msg": "refreshToken.discarded"}
    ks.advance(days=10)
    later = _refresh(ks, first["refresh_token"])
    assert later["result"] == 1
    assert 169 * 86400 < later["refresh_token_expires_in"] < 170 * 86400   # inherited expiry
    # old and new access tokens are valid independently; each lives 48 h
    assert ks.call("open.order.detail", {"oid": 1}, token=later["access_token"])["result"] == 21
    assert ks.call("open.order.detail", {"oid": 1})["result"] == 25                # 10 days old
    ks.advance(hours=48)
    expired = ks.call("open.order.detail", {"oid": 1}, token=later["access_token"])
    assert expired["result"] == 25 and expired["error_msg"] == "TOKEN过期"
    ks.advance(days=171)
    assert _refresh(ks, later["refresh_token"])["error_msg"] == "invalid refresh_token"


def test_revocation(ks, receiver):
    ks.setup(push_url=receiver.url)
    ks.ctl("POST", f"/shops/{ks.seller_id}/revoke", 200, appKey=ks.app_key)
    body = ks.call("open.order.detail", {"oid": 1})
    assert (body["result"], body["error_msg"]) == (24, "AUTHORIZATION_REVOKED")
    assert _refresh(ks, ks.refresh_token)["error_msg"] == "refreshToken.revokedAuthorization"
    ks.order(paid=True)
    time.sleep(0.3)
    assert ks.ctl("GET", "/pushes", kind="event") == []
    tokens = _exchange(ks, _authorize(ks))                  # the merchant authorizes again
    assert ks.call("open.order.detail", {"oid": 1}, token=tokens["access_token"])["result"] == 21
    assert ks.call("open.order.detail", {"oid": 1})["result"] == 25


def test_scope_and_app_token(ks):
    ks.setup(scopes=["merchant_order"])
    body = ks.call("open.seller.order.refund.detail", {"refundId": 1})
    assert body["result"] == 22 and body["error_msg"] == "token中无scope权限"
    app_token = _exchange(ks, "", grant_type="client_credentials")["access_token"]
    body = ks.call("open.order.detail", {"oid": 1}, token=app_token)
    assert body["result"] == 26 and body["error_msg"] == "主账号不存在"


# ---- orders ---------------------------------------------------------------------------------
def test_cursor_paging_to_nomore(ks):
    ks.setup()
    created = [ks.order(paid=True)["oid"] for _ in range(7)]
    ks.order()                                               # unpaid: filtered by view status 3
    begin, end = window(ks)
    seen, cursor, pages = [], "", 0
    while cursor != "nomore":
        body = ks.call("open.order.cursor.list", {"orderViewStatus": 3, "pageSize": 3, "sort": 2,
                                                  "queryType": 1, "beginTime": begin, "endTime": end,
                                                  "cpsType": 0, "cursor": cursor})
        assert body["result"] == 1, body
        data = body["data"]
        assert (data["pageSize"], data["beginTime"], data["endTime"]) == (3, begin, end)
        seen += [o["orderBaseInfo"]["oid"] for o in data["orderList"]]
        cursor, pages = data["cursor"], pages + 1
    assert seen == created and pages == 3                    # 3 + 3 + 1, oldest first
    newest_first = ks.call("open.order.cursor.list", {"pageSize": 50, "beginTime": begin, "endTime": end,
                                                      "cursor": ""})["data"]
    assert [o["orderBaseInfo"]["oid"] for o in newest_first["orderList"]][:7] != created
    assert len(newest_first["orderList"]) == 8 and newest_first["cursor"] == "nomore"


def test_update_time_query_sees_changes(ks):
    ks.setup()
    old = ks.order(paid=True, createTime=ks.now_ms() - 3 * DAY)["oid"]
    begin, end = window(ks, days_back=1)
    by_create = ks.call("open.order.cursor.list", {"pageSize": 50, "queryType": 1, "beginTime": begin,
                                                   "endTime": end, "cursor": ""})["data"]["orderList"]
    assert by_create == []
    ks.ctl("POST", f"/orders/{old}/cancel", 200)
    by_update = ks.call("open.order.cursor.list", {"pageSize": 50, "queryType": 2, "beginTime": begin,
                                                   "endTime": end, "cursor": ""})["data"]["orderList"]
    assert [o["orderBaseInfo"]["status"] for o in by_update] == [80]


@pytest.mark.parametrize("shift, code", [
    (lambda now: (now - 1000, now - 2000), 300003),
    (lambda now: (now - 8 * DAY, now), 300004),
    (lambda now: (now - 91 * DAY, now - 90 * DAY - 1000), 300005),
])
def test_order_window_errors(ks, shift, code):
    ks.setup()
    begin, end = shift(ks.now_ms())
    body = ks.call("open.order.cursor.list", {"pageSize": 10, "beginTime": begin, "endTime": end, "cursor": ""})
    assert body["result"] == code and body["error_msg"]


def test_order_parameter_errors(ks):
    ks.setup()
    now = ks.now_ms()
    same = ks.call("open.order.cursor.list", {"pageSize": 10, "beginTime": now, "endTime": now, "cursor": ""})
    assert same == {**same, "result": 2001, "error_msg": "endTime无效", "code": "807000",
                    "msg": "业务处理失败", "sub_code": "2001", "sub_msg": "endTime无效"}
    too_big = ks.call("open.order.cursor.list", {"pageSize": 51, "beginTime": now - 1000, "endTime": now})
    assert too_big["result"] == 2001 and too_big["sub_msg"] == "pageSize无效"
    assert ks.call("open.order.detail", "not json")["result"] == 2001


def test_order_detail_shape(ks):
    ks.setup()
    a = ks.order(paid=True, item={"skuId": 11, "relSkuId": 22, "skuNick": "SUP-A-1", "num": 2, "price": 1990},
                 expressFee=500, discountFee=300, gift=True, remark="fast please")
    b = ks.order(paid=True)
    data = ks.call("open.order.detail", {"oid": a["oid"]})["data"]
    base, item = data["orderBaseInfo"], data["orderItemInfo"]
    assert isinstance(item, dict) and (item["skuId"], item["relSkuId"], item["skuNick"]) == (11, 22, "SUP-A-1")
    assert (item["num"], item["price"]) == (2, 1990)
    assert (base["totalFee"], base["expressFee"], base["discountFee"]) == (2 * 1990 + 500 - 300, 500, 300)
    assert base["status"] == 30 and base["payTime"] > 0 and base["remark"] == "fast please"
    assert base["validPromiseShipmentTimeStamp"] == base["payTime"] + 48 * 3600 * 1000
    assert len(data["subOrderInfo"]) == 1 and data["subOrderInfo"][0]["price"] == 0
    address = data["orderAddress"]
    other = ks.call("open.order.detail", {"oid": b["oid"]})["data"]["orderAddress"]
    assert address["encryptedMobile"] and address["encryptedMobile"] != other["encryptedMobile"]
    assert address["desensitiseMobile"] == "138****5678" and address["provinceCode"] == 330000
    assert "13812345678" not in json.dumps(data)
    ks.ctl("POST", "/shops", 201, sellerId=99)
    foreign = ks.order(sellerId=99, paid=True)["oid"]
    assert ks.call("open.order.detail", {"oid": foreign})["error_msg"] == "order operation reject"


def _deliver(ks, oid, express_no, code=4):
    return ks.call("open.seller.order.goods.deliver", {"orderId": oid, "expressNo": express_no,
                                                       "expressCode": code})


def test_deliver_validation(ks):
    ks.setup()
    oid = ks.order(paid=True)["oid"]
    wrong = _deliver(ks, oid, "YT1234567890123")
    assert wrong["result"] == 11 and "不匹配" in wrong["error_msg"]
    assert _deliver(ks, oid, "1234567890123", code=1)["result"] == 11          # carrier offline
    assert _deliver(ks, oid, "SF1515601210470")["result"] == 1
    assert ks.call("open.order.detail", {"oid": oid})["data"]["orderBaseInfo"]["status"] == 40
    assert _deliver(ks, oid, "SF1515601210471")["result"] == 11                # already shipped
    same_address = ks.order(paid=True)["oid"]
    elsewhere = ks.order(paid=True, address={"consignee": "李四", "mobile": "13900001111"})["oid"]
    reused = _deliver(ks, elsewhere, "SF1515601210470")
    assert reused["result"] == 11 and "地址" in reused["error_msg"]
    assert _deliver(ks, same_address, "SF1515601210470")["result"] == 1       # merged shipment
    for opts in ({"disableDeliveryReasonCode": [2]}, {"promiseTimeZero": True},
                 {"emptyEncryptedField": "mobile"}):
        held = ks.order(paid=True, **opts)["oid"]
        assert _deliver(ks, held, "SF1515601219999")["result"] == 11, opts
    assert _deliver(ks, ks.order()["oid"], "SF1515601218888")["result"] == 11   # unpaid
    delivered = ks.ctl("GET", "/actions", method="open.seller.order.goods.deliver", ok="true")
    assert [(a["oid"], a["param"]["expressNo"]) for a in delivered] == [
        (oid, "SF1515601210470"), (same_address, "SF1515601210470")]
    assert all(a["at"] and a["atMs"] for a in delivered)


def test_logistics_update(ks):
    ks.setup()
    oid = ks.order(paid=True)["oid"]
    assert _deliver(ks, oid, "SF1515601210470")["result"] == 1
    logistics = ks.call("open.order.detail", {"oid": oid})["data"]["orderLogisticsInfo"]
    body = ks.call("open.seller.order.logistics.update", {
        "orderId": oid, "expressCode": 9, "expressNo": "75123456789012", "logisticsId": logistics[0]["logisticsId"]})
    assert body["result"] == 1, body
    after = ks.call("open.order.detail", {"oid": oid})["data"]["orderLogisticsInfo"]
    assert (after[0]["expressNo"], after[0]["expressCode"]) == ("75123456789012", 9)
    bad = ks.call("open.seller.order.logistics.update", {"orderId": oid, "expressCode": 9, "expressNo": "SF1"})
    assert bad["result"] == 11


# ---- refunds --------------------------------------------------------------------------------
def _refund(ks, oid, **opts) -> dict:
    return ks.ctl("POST", f"/orders/{oid}/refunds", 201, **opts)


def _refund_detail(ks, refund_id) -> dict:
    return ks.call("open.seller.order.refund.detail", {"refundId": refund_id})["data"]


def test_refund_only_approve(ks):
    ks.setup()
    order = ks.order(paid=True, item={"price": 2500, "num": 2})
    refund = _refund(ks, order["oid"])
    rid = refund["refundId"]
    detail = _refund_detail(ks, rid)
    assert (detail["status"], detail["handlingWay"], detail["refundFee"], detail["negotiateStatus"]) == (10, 10, 5000, 1)
    assert ks.call("open.seller.order.refund.approve", {"refundId": rid, "refundAmount": 4999})["result"] == 2001
    assert ks.call("open.seller.order.refund.approve", {"refundId": rid, "refundAmount": 0})["result"] == 300009
    assert ks.call("open.seller.order.refund.approve", {"refundId": rid, "refundAmount": 5000,
                                                       "negotiateStatus": 3})["result"] == 300017
    assert ks.call("open.seller.order.refund.approve", {"refundId": rid, "refundAmount": 5000,
                                                       "status": 11})["result"] == 300014
    assert ks.call("open.seller.order.refund.approve", {"refundId": rid, "refundAmount": 5000})["result"] == 1
    assert _refund_detail(ks, rid)["status"] == 60
    assert ks.call("open.order.detail", {"oid": order["oid"]})["data"]["orderBaseInfo"]["status"] == 80
    assert ks.call("open.seller.order.refund.approve", {"refundId": rid, "refundAmount": 5000})["result"] == 300010


def test_return_flow_and_confirm_receipt(ks):
    ks.setup()
    oid = ks.order(paid=True)["oid"]
    _deliver(ks, oid, "SF1515601210470")
    rid = _refund(ks, oid, handlingWay=1)["refundId"]
    assert _refund_detail(ks, rid)["status"] == 11
    early = ks.call("open.seller.order.refund.confirm.receipt", {"refundId": rid})
    assert early["result"] == 300010
    body = ks.call("open.seller.order.refund.returngoods.approve", {"refundId": rid, "refundAmount": 9900})
    assert body["result"] == 1
    detail = _refund_detail(ks, rid)
    assert detail["status"] == 30 and detail["address"]
    ks.ctl("POST", f"/refunds/{rid}/return-shipment", 200, expressNo="YT1234567890123", expressCode=6)
    detail = _refund_detail(ks, rid)
    assert detail["status"] == 40 and detail["logisticsInfo"] == {"expressNo": "YT1234567890123", "expressCode": 6}
    assert ks.call("open.seller.order.refund.confirm.receipt", {"refundId": rid, "status": 40})["result"] == 1
    assert _refund_detail(ks, rid)["status"] == 60
    decisions = ks.ctl("GET", "/actions", refundId=rid, ok="true")
    assert [a["decision"] for a in decisions] == ["returngoods.approve", "confirm.receipt"]


def test_reject_uses_refund_version(ks):
    ks.setup()
    oid = ks.order(paid=True)["oid"]
    rid = _refund(ks, oid)["refundId"]
    reasons = ks.call("open.refund.reject.reason", {"refundId": rid})["data"]["rejectReasonList"]
    assert {"code", "desc", "tip", "requiredRejectDesc", "requiredRejectImage"} <= set(reasons[0])
    plain = next(r for r in reasons if not r["requiredRejectDesc"] and not r["requiredRejectImage"])
    needs_desc = next(r for r in reasons if r["requiredRejectDesc"])
    version = _refund_detail(ks, rid)["updateTime"]
    stale = ks.call("open.refund.reject", {"refundId": rid, "reasonCode": plain["code"], "refundVersion": version - 1})
    assert stale["result"] == 300014
    assert ks.call("open.refund.reject", {"refundId": rid, "reasonCode": needs_desc["code"],
                                          "refundVersion": version, "rejectImages": ["a.jpg"]})["result"] == 2001
    assert ks.call("open.refund.reject", {"refundId": rid, "reasonCode": plain["code"],
                                          "refundVersion": version})["result"] == 1
    detail = _refund_detail(ks, rid)
    assert detail["negotiateStatus"] == 3 and detail["updateTime"] > version
    assert detail["sellerDisagreeReason"] == plain["code"]
    again = ks.call("open.refund.reject", {"refundId": rid, "reasonCode": plain["code"],
                                           "refundVersion": detail["updateTime"]})
    assert again["result"] == 300016


def test_refund_lookup_errors(ks):
    ks.setup()
    assert ks.call("open.seller.order.refund.detail", {})["result"] == 300006
    assert ks.call("open.seller.order.refund.detail", {"refundId": 12345})["result"] == 300011
    ks.ctl("POST", "/shops", 201, sellerId=77)
    foreign = _refund(ks, ks.order(sellerId=77, paid=True)["oid"])["refundId"]
    assert ks.call("open.seller.order.refund.detail", {"refundId": foreign})["result"] == 300012
    rid = _refund(ks, ks.order(paid=True)["oid"])["refundId"]
    ks.ctl("POST", f"/refunds/{rid}/cancel", 200)
    assert ks.call("open.seller.order.refund.approve", {"refundId": rid, "refundAmount": 9900})["result"] == 300013
    exchange = _refund(ks, ks.order(paid=True)["oid"], handlingWay=3)["refundId"]
    assert ks.call("open.seller.order.refund.approve", {"refundId": exchange, "refundAmount": 0})["result"] == 300008
    assert ks.call("open.seller.order.refund.returngoods.approve",
                   {"refundId": exchange, "refundAmount": 0})["result"] == 1


def test_refund_list_paging_and_window(ks):
    ks.setup()
    ids = [_refund(ks, ks.order(paid=True)["oid"])["refundId"] for _ in range(5)]
    exchange = _refund(ks, ks.order(paid=True)["oid"], handlingWay=3)["refundId"]
    now = ks.now_ms()
    base = {"beginTime": now - DAY // 2, "endTime": now + 1000, "type": 9, "pageSize": 2,
            "currentPage": 1, "sort": 2, "queryType": 1}
    seen, cursor, page = [], "", 1
    while cursor != "nomore":
        data = ks.call("open.seller.order.refund.pcursor.list", {**base, "currentPage": page, "pcursor": cursor})["data"]
        if page == 1:
            assert data["totalPage"] == 3 and data["totalSize"] == 5
        seen += [r["refundId"] for r in data["refundOrderInfoList"]]
        cursor, page = data["pcursor"], page + 1
    assert seen == ids
    with_exchange = ks.call("open.seller.order.refund.pcursor.list", {
        **base, "pageSize": 100, "pcursor": "", "option": {"needExchange": True}})["data"]
    assert exchange in [r["refundId"] for r in with_exchange["refundOrderInfoList"]]
    too_wide = ks.call("open.seller.order.refund.pcursor.list", {**base, "beginTime": now - DAY - 1, "endTime": now})
    assert too_wide["result"] == 300019
    assert ks.call("open.seller.order.refund.pcursor.list", {**base, "pageSize": 101})["result"] == 2001


# ---- limits ---------------------------------------------------------------------------------
def test_qps_limits(ks):
    ks.setup()
    ks.ctl("PUT", "/config", 200, qps={"open.order.detail": [2, 100], "open.seller.order.refund.detail": [100, 1]})
    answers = [ks.call("open.order.detail", {"oid": 1}) for _ in range(3)]
    assert [a["result"] for a in answers[:2]] == [21, 21]
    assert answers[2]["result"] == 1016
    assert answers[2]["error_msg"] == (f"Exceed qps limit, KEY [apiId:open.order.detail;appkey:{ks.app_key}], "
                                       "MAX_QPS [2.0]")
    per_user = [ks.call("open.seller.order.refund.detail", {"refundId": 1}) for _ in range(2)]
    assert per_user[1]["error_msg"] == (f"Exceed qps limit, KEY [apiId:open.seller.order.refund.detail;"
                                        f"appkey:{ks.app_key};primaryUserId:{ks.seller_id}], MAX_QPS [1.0]")
    time.sleep(1.05)
    assert ks.call("open.order.detail", {"oid": 1})["result"] == 21


# ---- message push ---------------------------------------------------------------------------
def test_encryptor_reproduces_reference_vector():
    assert encrypt_message(AES_PLAIN, "AAECAwQFBgcICQoLDA0ODw==") == AES_CIPHER
    assert decrypt_message(AES_CIPHER, "AAECAwQFBgcICQoLDA0ODw==") == AES_PLAIN


def _decrypted(receiver) -> list[dict]:
    return [json.loads(decrypt_message(b, MESSAGE_KEY)) for b in receiver.bodies()]


def _events(receiver) -> list[dict]:
    return [m for m in _decrypted(receiver) if not m.get("test")]


def test_push_round_trip(ks, receiver):
    ks.setup(push_url=receiver.url)
    wait_for(lambda: receiver.hits)
    assert _decrypted(receiver)[0] == {"test": True}                     # heartbeat on saving the URL
    oid = ks.order(paid=True)["oid"]
    messages = wait_for(lambda: len(_events(receiver)) >= 2 and _events(receiver))
    assert {h["contentType"] for h in receiver.hits} == {"text/plain;charset=utf-8"}
    by_event = {m["event"]: m for m in messages}
    added = by_event["kwaishop_order_addOrder"]
    assert list(added) == ["eventId", "msgId", "bizId", "userId", "openId", "appKey", "event", "info",
                           "createTime", "updateTime"]
    assert (added["bizId"], added["userId"], added["appKey"]) == (oid, ks.seller_id, ks.app_key)
    assert isinstance(added["info"], str) and json.loads(added["info"])["oid"] == oid
    paid = json.loads(by_event["kwaishop_order_paySuccess"]["info"])
    assert paid == {"oid": oid, "sellerId": ks.seller_id, "status": 30, "updateTime": paid["updateTime"]}
    wait_for(lambda: all(p["state"] == "delivered" for p in ks.ctl("GET", "/pushes")))


def test_order_and_refund_event_payloads(ks, receiver):
    ks.setup(push_url=receiver.url)
    oid = ks.order(paid=True)["oid"]
    rid = _refund(ks, oid, handlingWay=10)["refundId"]
    ks.call("open.seller.order.refund.approve", {"refundId": rid, "refundAmount": 9900})
    wanted = {"kwaishop_aftersales_addRefund", "kwaishop_aftersales_updateRefund", "kwaishop_order_orderFail"}
    wait_for(lambda: wanted <= {m["event"] for m in _events(receiver)})
    events = {m["event"]: json.loads(m["info"]) for m in _events(receiver)}
    added = events["kwaishop_aftersales_addRefund"]
    assert "oid" not in added and (added["orderId"], added["refundId"], added["handlingWay"], added["status"]) == (
        oid, rid, 10, 10)
    assert events["kwaishop_aftersales_updateRefund"]["status"] == 60
    assert events["kwaishop_aftersales_updateRefund"]["updateTime"] >= added["createTime"]
    assert events["kwaishop_order_orderFail"]["status"] == 80


def test_retry_schedule_with_fast_time_factor(ks):
    receiver = Receiver(script=[(200, '{"result":1}', 0)], default=(500, "boom", 0))
    try:
        ks.setup(push_url=receiver.url)
        wait_for(lambda: receiver.hits)
        ks.order(push=True)
        wait_for(lambda: ks.ctl("GET", "/pushes", kind="event", state="failed"), timeout=15)
        push = ks.ctl("GET", "/pushes", kind="event")[0]
        assert len(push["attempts"]) == 6 and not any(a["ok"] for a in push["attempts"])
        assert push["attempts"][0]["error"] == "HTTP 500"
        times = [h["at"] for h in receiver.hits[1:]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        for gap, minutes in zip(gaps, [5, 10, 20, 30, 60]):
            assert minutes * 60 * 0.0005 * 0.9 <= gap < minutes * 60 * 0.0005 + 0.5, gaps
    finally:
        receiver.close()


def test_failed_acks_then_success(ks):
    receiver = Receiver(script=[(200, '{"result":1}', 0), (200, '{"result":0}', 0),
                                (200, '{"result":1}', 0.6), (503, "", 0)])
    try:
        ks.ctl("PUT", "/config", 200, pushTimeoutS=0.3)
        ks.setup(push_url=receiver.url)
        wait_for(lambda: receiver.hits)
        ks.order()
        wait_for(lambda: ks.ctl("GET", "/pushes", kind="event", state="delivered"), timeout=10)
        attempts = ks.ctl("GET", "/pushes", kind="event")[0]["attempts"]
        assert [a["ok"] for a in attempts] == [False, False, False, True]
        assert attempts[0]["error"] == 'the answer is not {"result":1}'
        assert "Timeout" in attempts[1]["error"] and attempts[2]["error"] == "HTTP 503"
    finally:
        receiver.close()


def test_advancing_the_clock_pulls_retries_forward(ks):
    receiver = Receiver(script=[(200, '{"result":1}', 0), (500, "", 0)])
    try:
        ks.ctl("PUT", "/config", 200, pushTimeFactor=0.02)             # first retry in 6 s
        ks.setup(push_url=receiver.url)
        wait_for(lambda: receiver.hits)
        ks.order()
        wait_for(lambda: ks.ctl("GET", "/pushes", kind="event", state="retrying"))
        started = time.monotonic()
        ks.advance(minutes=5)
        wait_for(lambda: ks.ctl("GET", "/pushes", kind="event", state="delivered"), timeout=5)
        assert time.monotonic() - started < 2
    finally:
        receiver.close()


def test_misbehaviour_drop_and_duplicate(ks, receiver):
    ks.setup(push_url=receiver.url)
    ks.ctl("PUT", f"/apps/{ks.app_key}/misbehaviour", 200, dropRate=1)
    ks.order()
    time.sleep(0.3)
    assert _events(receiver) == [] and ks.ctl("GET", "/pushes", kind="event")[0]["state"] == "dropped"
    ks.ctl("PUT", f"/apps/{ks.app_key}/misbehaviour", 200, duplicateRate=1)
    ks.order()
    wait_for(lambda: len(_events(receiver)) == 2)
    first, second = _events(receiver)
    assert first == second
    ks.ctl("PUT", f"/apps/{ks.app_key}/misbehaviour", 200, delaySeconds=0.5)
    started = time.monotonic()
    ks.order()
    wait_for(lambda: len(_events(receiver)) == 3)
    assert time.monotonic() - started >= 0.45


def test_heartbeat_failure_pauses_pushing(ks):
    receiver = Receiver(script=[(500, "", 0)])
    try:
        ks.ctl("PUT", "/config", 200, pauseOnHeartbeatFailure=True, pushTimeFactor=1)
        ks.setup(push_url=receiver.url)
        wait_for(lambda: ks.ctl("GET", f"/apps/{ks.app_key}")["pushPaused"])
        ks.order()
        wait_for(lambda: ks.ctl("GET", "/pushes", kind="event", state="held"))
        assert _events(receiver) == []
        ks.ctl("POST", f"/apps/{ks.app_key}/heartbeat", 200)
        wait_for(lambda: ks.ctl("GET", "/pushes", kind="event", state="delivered"))
        assert not ks.ctl("GET", f"/apps/{ks.app_key}")["pushPaused"]
    finally:
        receiver.close()


# ---- control API and runner -------------------------------------------------------------------
def test_read_back_and_reset(ks):
    ks.setup()
    oid = ks.order(paid=True, riskCode=10001)["oid"]
    _deliver(ks, oid, "SF1515601210470")
    rid = _refund(ks, oid, handlingWay=1)["refundId"]
    ks.call("open.seller.order.refund.returngoods.approve", {"refundId": rid, "refundAmount": 9900})
    shipped = ks.ctl("GET", "/deliveries")
    assert [(d["kind"], d["oid"], d["expressNo"], d["expressCode"]) for d in shipped] == [
        ("deliver", oid, "SF1515601210470", 4)]
    assert shipped[0]["warnings"] and shipped[0]["at"]
    decisions = ks.ctl("GET", "/refund-decisions", refundId=rid)
    assert [(d["decision"], d["refundAmount"]) for d in decisions] == [("returngoods.approve", 9900)]
    assert ks.ctl("POST", f"/orders/{oid}/cancel", 409)["error"]
    ks.ctl("POST", f"/orders/{oid}/receive", 200)
    assert ks.ctl("POST", f"/orders/{oid}/succeed", 200)["status"] == 70
    ks.ctl("POST", "/reset", 200)
    assert ks.ctl("GET", "/apps") == [] and ks.ctl("GET", "/actions") == []
    assert ks.ctl("GET", "/orders/1", 404)["error"]


@pytest.mark.slow
def test_runner_starts_a_server():
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.kuaishou", "--port", "0", "--demo"],
                            stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        base = first.split(" on ", 1)[1].split(" ", 1)[0]
        assert requests.get(f"{base}/_sandbox/health", timeout=5).json()["ok"] is True
        assert wait_for(lambda: requests.get(f"{base}/_sandbox/grants", timeout=5).json())
        apps = requests.get(f"{base}/_sandbox/apps", timeout=5).json()
        assert apps[0]["appKey"] == "ks_demo_app"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_sandbox_imports_nothing_of_the_hub():
    import ast
    import pathlib

    import sandbox.kuaishou as package
    forbidden = {"hub", "connectors", "mappings", "jobs"}
    for path in pathlib.Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not {n.split(".")[0] for n in names} & forbidden, (path.name, names)
