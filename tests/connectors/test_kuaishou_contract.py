"""The standard connector suite for ``kuaishou`` (快手小店), plus what differs from it.

Where the Kuaishou platform differs from the suite's generic model the test is
overridden here, with the reason:

* **no signature header**: a push is authentic when it decrypts with the app's message
  key to a JSON object (reference §4.2). The signature vectors are decryption vectors;
  a forged, damaged or foreign-key body is ``unparseable`` (400, quarantined), and
  headers play no part.
* **windows end at the run's start**: the list APIs answer time windows, so once a
  window's last page ("nomore") is stored the cursor is the window's *end* (the run's
  start, ``NOW``), not the newest record; mid-window it is the newest record seen
  (pages come oldest first). The pagination and overlap tests check exactly that.
* **errors are HTTP 200 with a result code**: the error cases are the platform's own
  answers (QPS, quota, revoked, signature, window, business codes).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from connectors.base import ConnectorError, ErrorClass, WebhookRejected
from connectors.kuaishou import Kuaishou
from connectors.kuaishou.crypto import encrypt_message
from connectors.kuaishou.webhooks import event_id
from tests.connector_suite import (STEP, T0, ConnectorSuite, ErrorResponse, SignatureVector,
                                   _next_run)

BASE = "https://ks.contract.test"
KEY = "AAECAwQFBgcICQoLDA0ODw=="
OTHER_KEY = "AQECAwQFBgcICQoLDA0ODw=="
NOW = T0 + timedelta(minutes=10)          # the shop's clock in these tests
NOW_MS = int(NOW.timestamp() * 1000)
DAY_MS = 86_400_000
PLAIN = ('{"eventId":"test_1","bizId":1,"event":"kwaishop_order_addOrder","info":"{\\"oid\\":1}",'
         '"createTime":1700000000000}')
CIPHER = ("D/hSC43L7HcHjvDVEb6Bv9TeGQNEY0cNKWOzy6cuTajbaFSPVELvrpYOoLCUq1Gvw4D2NcumTemwN2Wcsu1H1J+EOvP"
          "b7fAxn5RRTNj65VVnWBXPzglh1ozZwTDZF5GfAGzw9/9ZR5xcWeSO26DokdilL0jvUaGLZK5TdrDimOY=")
NO_ID = {"bizId": 2207300012345601, "event": "kwaishop_aftersales_updateRefund",
         "info": json.dumps({"orderId": 2607602240240301, "refundId": 2207300012345601})}
HEADERS = {"content-type": "text/plain;charset=utf-8"}


def _error(result, msg, **extra) -> ErrorResponse:
    return ErrorResponse(200, body=json.dumps({"result": result, "error_msg": msg, **extra},
                                              ensure_ascii=False))


def ok(data) -> dict:
    return {"result": 1, "error_msg": "", "data": data}


def sent_param(request) -> dict:
    raw = urlsplit(request.url).query if request.method == "GET" else (request.body or "")
    raw = raw.decode() if isinstance(raw, bytes) else raw
    form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    return json.loads(form.get("param") or "{}")


class TestKuaishouContract(ConnectorSuite):
    connector_cls = Kuaishou
    config = {"app_key": "ks_contract_app", "app_secret": "app-secret", "sign_secret": "sign",
              "message_key": KEY, "api_base_url": BASE, "access_token": "AT",
              "access_token_expires_at": "2999-01-01T00:00:00+00:00", "refresh_token": "RT",
              "refresh_token_expires_at": "2999-01-01T00:00:00+00:00", "backfill_days": 1,
              "order_window_days": 1, "refund_window_hours": 24, "qps_default": 1000}
    fixtures_dir = Path(__file__).resolve().parent.parent / "fixtures" / "kuaishou"
    poll_lookback = timedelta(minutes=5)
    signature_vectors = [
        SignatureVector("reference-vector", HEADERS, CIPHER.encode(), valid=True,
                        event_ids=("test_1",)),
        SignatureVector("wrapped-in-whitespace", {}, ("\r\n".join(
            CIPHER[i:i + 64] for i in range(0, len(CIPHER), 64)) + "\n").encode(), valid=True,
            event_ids=("test_1",)),
        SignatureVector("no-event-id-hashed", HEADERS, encrypt_message(NO_ID, KEY).encode(),
                        valid=True, event_ids=(event_id(NO_ID),)),
        SignatureVector("another-apps-key", HEADERS, encrypt_message(PLAIN, OTHER_KEY).encode(),
                        valid=False, reason="unparseable"),
        SignatureVector("plaintext-event", HEADERS, PLAIN.encode(), valid=False,
                        reason="unparseable"),
        SignatureVector("not-base64", HEADERS, b"this is not a message!", valid=False,
                        reason="unparseable"),
        SignatureVector("truncated-block", HEADERS, CIPHER[:-24].encode(), valid=False,
                        reason="unparseable"),
        SignatureVector("encrypted-non-json", HEADERS,
                        encrypt_message("hello, hub", KEY).encode(), valid=False,
                        reason="unparseable"),
        SignatureVector("encrypted-json-array", HEADERS,
                        encrypt_message('[{"event":"kwaishop_order_addOrder"}]', KEY).encode(),
                        valid=False, reason="unparseable"),
        SignatureVector("encrypted-without-event", HEADERS,
                        encrypt_message({"eventId": "e1", "bizId": 1}, KEY).encode(),
                        valid=False, reason="unparseable"),
    ]
    error_cases = [
        (ErrorClass.RETRY, ErrorResponse(503, body="busy")),
        (ErrorClass.RETRY, _error(2, "系统繁忙，请稍后重试")),
        (ErrorClass.RATE_LIMITED, ErrorResponse(429, {"Retry-After": "3600"})),
        (ErrorClass.RATE_LIMITED, _error(1017, "[1017] exceed quota limit,"
                                               "[apiId:1001;primaryUserId:2161524184]")),
        (ErrorClass.FAIL_CONFIG, _error(24, "AUTHORIZATION_REVOKED")),
        (ErrorClass.FAIL_CONFIG, _error(28, "签名校验失败")),
        (ErrorClass.FAIL_CONFIG, _error(26, "主账号不存在")),
        (ErrorClass.FAIL_DATA, _error(300004, "查询时间范围不能超过7天")),
        (ErrorClass.FAIL_DATA, ErrorResponse(400, body="bad request")),
    ]

    # -- OAuth linking (the token endpoint takes no redirect_uri) -------------------------------
    def expect_code_exchange(self, rsps, code, redirect_uri):
        rsps.get(f"{BASE}/oauth2/access_token", match=[matchers.query_param_matcher({
            "app_id": "ks_contract_app", "app_secret": "app-secret", "grant_type": "code",
            "code": code})],
            json={"result": 1, "access_token": "AT-new", "refresh_token": "RT-new",
                  "open_id": "open-contract", "expires_in": 172800,
                  "scopes": ["merchant_order"]})

    def expect_code_refusal(self, rsps, code, redirect_uri):
        rsps.get(f"{BASE}/oauth2/access_token",
                 json={"result": 100200105, "error": "invalid_grant", "error_msg": "code已使用"})

    def expect_after_sale_lists(self, rsps, platform_return_id):
        rsps.get(f"{BASE}/open/address/seller/list", json=ok({"sellerAddressInfoList": [
            {"addressId": 88001, "consignee": "杭州仓", "mobile": "0571-0000", "address":
             "浙江省杭州市余杭区仓前街道 1 号", "defaultAddress": False, "addressType": 2},
            {"addressId": 88002, "consignee": "广州仓", "address": "广东省广州市白云区 2 号",
             "defaultAddress": True, "addressType": 2},
            {"consignee": "no id"}]}))
        rsps.get(f"{BASE}/open/refund/reject/reason", json=ok({"rejectReasonList": [
            {"code": 1, "desc": "买家未退货", "tip": "", "requiredRejectDesc": False,
             "requiredRejectImage": False},
            {"code": 9, "desc": "其他", "tip": "请详细描述", "requiredRejectDesc": True,
             "requiredRejectImage": True}]}))

    # -- the shop's clock and API ---------------------------------------------------------------
    now_ms = NOW_MS

    @pytest.fixture
    def connector(self, slept):
        shop = self.connector_cls(self.context())
        shop.client.now_ms = lambda: self.now_ms  # a test moves it between runs
        return shop

    def make_record(self, stream, n, updated_at):
        ms = int(updated_at.timestamp() * 1000)
        if stream == "orders":
            return {"orderBaseInfo": {"oid": 3_000_000 + n, "status": 30, "totalFee": 1990 + n,
                                      "expressFee": 0, "createTime": ms - 60_000, "payTime": ms,
                                      "updateTime": ms, "validPromiseShipmentTimeStamp": ms + DAY_MS,
                                      "disableDeliveryReasonCode": [], "riskCode": 0},
                    "orderItemInfo": {"skuId": 77, "skuNick": "SKU-1", "num": 1, "price": 1990 + n,
                                      "itemTitle": "杯子"},
                    "orderAddress": {"encryptedConsignee": "#c#", "desensitiseConsignee": "张*",
                                     "encryptedMobile": "#m#", "desensitiseMobile": "138****5678",
                                     "encryptedAddress": "#a#", "desensitiseAddress": "浙江省****"}}
        return {"oid": 3_000_000 + n, "refundId": 5_000_000 + n, "handlingWay": 10,
                "negotiateStatus": 1, "refundFee": 500 + n, "skuNick": "SKU-1", "status": 10,
                "submitTime": ms - 60_000, "createTime": ms - 60_000, "updateTime": ms}

    def expect_page(self, rsps, stream, *, since, page, records=(), last=True, error=None):
        begin = self.now_ms - DAY_MS if since is None else int(since.timestamp() * 1000)
        end = min(begin + DAY_MS, self.now_ms)
        orders = stream == "orders"
        path = "/open/order/cursor/list" if orders else "/open/seller/order/refund/pcursor/list"
        key = "cursor" if orders else "pcursor"
        want = {"beginTime": begin, "endTime": end, "queryType": 2, "sort": 2,
                key: "" if page == 0 else f"{stream}-page-{page}"}
        if not orders:
            want["currentPage"] = page + 1

        def matches(request):
            got = sent_param(request)
            wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
            return (not wrong, f"param differs (got, wanted): {wrong}")

        if error is not None:
            rsps.add(responses.GET, BASE + path, status=error.status, headers=error.headers,
                     body=error.body, match=[matches])
            return
        nxt = "nomore" if last else f"{stream}-page-{page + 1}"
        data = ({"cursor": nxt, "orderList": list(records)} if orders else
                {"pcursor": nxt, "currentPage": page + 1, "refundOrderInfoList": list(records)})
        rsps.add(responses.GET, BASE + path, json=ok(data), match=[matches])

    def cursor_time(self, cursor):
        ms = cursor.get("since_ms")
        return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)

    # -- fixtures: a stored inbox body plus the platform's answers --------------------------------
    def fixture_event(self, path):
        case = json.loads(path.read_text(encoding="utf-8"))
        return case["event_type"], json.dumps(case["body"], ensure_ascii=False).encode()

    def normalise(self, connector, path):
        case = json.loads(path.read_text(encoding="utf-8"))
        with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
            for method, data in case["api"].items():
                rsps.add(responses.GET, BASE + "/" + method.replace(".", "/"), json=ok(data))
            return super().normalise(connector, path)

    # -- overridden: no signature header ---------------------------------------------------------
    def test_forged_body_is_rejected(self, connector):
        """A damaged or forged ciphertext never decrypts to a JSON object: quarantined."""
        for v in self._vectors(True):
            body = v.body.strip()
            middle = len(body) // 2
            flipped = b"B" if body[middle:middle + 1] == b"A" else b"A"  # still Base64
            for forged in (body[:middle] + flipped + body[middle + 1:], body[:-1] + b"<",
                           body[16:], b""):
                with pytest.raises(WebhookRejected) as exc:
                    self.verify(connector, v.headers, forged, v.now)
                assert (exc.value.reason, exc.value.status) == ("unparseable", 400), forged[:40]

    def test_missing_or_altered_signature_is_rejected(self, connector):
        """There is no signature header to remove: headers change nothing, the key does."""
        for v in self._vectors(True):
            for headers in ({}, {"x-kwai-sign": "forged"}, {"content-type": "application/json"}):
                events = self.verify(connector, headers, v.body, v.now)
                assert [e.external_event_id for e in events] == list(v.event_ids)
        foreign = self.connector_cls(self.context())
        foreign.config["message_key"] = OTHER_KEY
        for v in self._vectors(True):
            with pytest.raises(WebhookRejected) as exc:
                self.verify(foreign, v.headers, v.body, v.now)
            assert exc.value.reason == "unparseable"

    def test_heartbeat_is_acknowledged_and_stores_nothing(self, connector):
        encrypted = encrypt_message('{"test":true}', KEY).encode()
        for body in (b'{"test":true}', b' {"test": true}\n', encrypted):
            assert connector.verify_webhook({}, body) == []
        ack = connector.webhook_ack([])
        assert (ack.status, ack.body, ack.content_type) == (200, b'{"result":1}',
                                                            "application/json")

    def test_verifying_makes_no_call(self, connector):
        """The receiver answers within the platform's 3 s: verification is local only."""
        with responses.RequestsMock(assert_all_requests_are_fired=True):
            events = connector.verify_webhook(HEADERS, CIPHER.encode())
        assert json.loads(events[0].body)["eventId"] == "test_1"  # stored decrypted

    # -- overridden: windows end at the run's start ------------------------------------------
    def test_pagination_ends_at_the_last_page(self, connector, rsps, stream):
        st = self._stream(connector, stream)
        pages = [self._records(stream, 0, 2), self._records(stream, 2, 2),
                 self._records(stream, 4, 1)]
        self._serve(rsps, stream, pages)
        slices = list(st.read({}))
        assert len(rsps.calls) == 3  # "nomore" ends it: no fourth call
        assert [r.payload for s in slices for r in s.records] == [r for p in pages for r in p]
        marks = [self.cursor_time(s.cursor) for s in slices]
        # mid-window the newest record seen; the window's end only once it is done
        assert marks == [T0 + STEP, T0 + STEP * 3, NOW]
        assert [s.progress["done"] for s in slices] == [False, False, True]
        assert slices[-1].progress["percent"] == 100.0
        assert slices[-1].progress["backfill_to"] == NOW.isoformat()

    def test_overlap_is_reread_without_duplicates(self, connector, rsps, stream, app, database):
        """Run 2, ten minutes later, asks from run 1's window end minus the lookback
        (inclusive): a record read again unchanged is one inbox key, a newer version and
        a record committed late are new, and the bindings hold one row per record."""
        from sqlalchemy import func, select

        from hub.pipeline import sync
        from hub.models import Account, Binding, Merchant
        from jobs.poll import event_id as inbox_key

        st = self._stream(connector, stream)
        inside = self.make_record(stream, 3, NOW - timedelta(minutes=2))  # in the overlap
        run1_served = self._records(stream, 0, 3) + [inside]
        self.expect_page(rsps, stream, since=None, page=0, records=run1_served)
        slices = list(st.read({}))
        run1, cursor = [r for s in slices for r in s.records], slices[-1].cursor
        assert self.cursor_time(cursor) == NOW
        _next_run(rsps)

        later = NOW + timedelta(minutes=10)
        self.now_ms = int(later.timestamp() * 1000)
        run2_served = [inside,                                                   # unchanged
                       self.make_record(stream, 2, NOW - timedelta(minutes=1)),  # newer
                       self.make_record(stream, 7, NOW - timedelta(seconds=30)),  # late
                       self.make_record(stream, 8, later - timedelta(minutes=1))]  # new
        self.expect_page(rsps, stream, since=NOW - self.poll_lookback, page=0,
                         records=run2_served)
        slices = list(st.read(cursor))
        run2 = [r for s in slices for r in s.records]
        assert self.cursor_time(slices[-1].cursor) == later
        keys1, keys2 = {inbox_key(r) for r in run1}, {inbox_key(r) for r in run2}
        assert keys1 & keys2 == {inbox_key(run1[-1])}
        assert len(keys2 - keys1) == 3 and len(keys1 | keys2) == 7

        with database.session() as s:
            merchant = Merchant(name="suite")
            s.add(merchant)
            s.flush()
            account = Account(merchant_id=merchant.id, connector="kuaishou", kind="platform",
                              name="suite", config=connector.config)
            s.add(account)
            s.flush()
            outcomes = [sync.apply(s, account, connector.map_record(r)) for r in run1 + run2]
            assert outcomes.count("created") == 6  # records 0-3, 7, 8
            bound = s.scalar(select(func.count()).select_from(Binding)
                             .where(Binding.account_id == account.id))
            assert bound == 6

    # -- Kuaishou specifics ---------------------------------------------------------------------
    def test_qps_refusal_is_waited_out_in_place(self, connector, rsps, stream, slept):
        st = self._stream(connector, stream)
        self.expect_page(rsps, stream, since=None, page=0, error=_error(
            1016, "Exceed qps limit, KEY [apiId:1001;appkey:ks_contract_app], MAX_QPS [300.0]"))
        records = self._records(stream, 0, 1)
        self.expect_page(rsps, stream, since=None, page=0, records=records)
        assert [r.payload for s in st.read({}) for r in s.records] == records
        assert 1.0 in slept

    def test_rejected_token_is_refreshed_once_then_retried(self, connector, rsps, stream):
        st = self._stream(connector, stream)
        self.expect_page(rsps, stream, since=None, page=0, error=_error(25, "鉴权失败"))
        rsps.add(responses.POST, BASE + "/oauth2/refresh_token", json={
            "result": 1, "access_token": "AT2", "refresh_token": "RT2", "expires_in": 172800})
        records = self._records(stream, 0, 1)
        self.expect_page(rsps, stream, since=None, page=0, records=records)
        assert [r.payload for s in st.read({}) for r in s.records] == records
        assert connector.config["access_token"] == "AT2"
        assert connector.config["refresh_token"] == "RT2"

    def test_rejected_again_after_a_refresh_is_fail_config(self, connector, rsps, stream):
        st = self._stream(connector, stream)
        self.expect_page(rsps, stream, since=None, page=0, error=_error(25, "TOKEN过期"))
        rsps.add(responses.POST, BASE + "/oauth2/refresh_token", json={
            "result": 1, "access_token": "AT2", "refresh_token": "RT2", "expires_in": 172800})
        self.expect_page(rsps, stream, since=None, page=0, error=_error(25, "TOKEN过期"))
        with pytest.raises(ConnectorError) as exc:
            list(st.read({}))
        assert exc.value.error_class is ErrorClass.FAIL_CONFIG
