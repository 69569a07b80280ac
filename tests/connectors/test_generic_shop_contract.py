"""The standard connector suite for ``generic_shop`` (hub JSON over Standard Webhooks)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import responses
from responses import matchers

from connectors.base import ErrorClass
from connectors.generic_shop import GenericShop
from connectors.generic_shop.streams import parse_time
from tests.connector_suite import ConnectorSuite, ErrorResponse, SignatureVector
from tests.factories import WHSEC

BASE_URL = "https://shop.example.test/api"
API_KEY = "gs-api-key-0001"
ORDER_BODY = (b'{"type":"order.updated","data":{"id":"GS-1","status":"paid",'
              b'"updated_at":"2026-11-01T16:05:00+08:00","total_minor":1990}}')
RETURN_BODY = ('{"type":"return.updated","data":{"id":"RT-9","order_id":"GS-1",'
               '"kind":"refund_only","status":"requested","updated_at":"2026-11-02T09:00:00Z",'
               '"reason_text":"尺码不合适"}}').encode()
OTHER_SECRET = "whsec_YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZyE="
AT = 1793520000  # 2026-11-01T08:00:00Z, the clock the vectors are verified at


def _headers(msg_id, ts, sig):
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


class TestGenericShopContract(ConnectorSuite):
    connector_cls = GenericShop
    config = {"webhook_secret": WHSEC, "base_url": BASE_URL, "api_key": API_KEY,
              "qps": 1000}
    fixtures_dir = Path(__file__).resolve().parent.parent / "fixtures" / "generic_shop"
    poll_lookback = timedelta(seconds=60)
    error_cases = ConnectorSuite.error_cases + [
        (ErrorClass.FAIL_DATA, ErrorResponse(200, body="<html>maintenance</html>")),
        (ErrorClass.FAIL_DATA, ErrorResponse(200, body='{"data": {"not": "a list"}}')),
        (ErrorClass.FAIL_CONFIG, ErrorResponse(301, {"Location": "https://elsewhere.test/"})),
    ]
    signature_vectors = [
        SignatureVector("order", _headers(
            "evt_2kq9CJ1mC0", AT, "v1,0mgmTG84Ds4RfdMnE09mOeKxxnj5iPv16Pe1Ch+Fi9w="),
            ORDER_BODY, valid=True, now=AT + 10, event_ids=("evt_2kq9CJ1mC0",)),
        SignatureVector("return-utf8", _headers(
            "evt_ret_000001", AT + 90000, "v1,hJbJ3obFOMGXLoWkml2q98Ko1CXjxfz/iNkeC1zdx1Q="),
            RETURN_BODY, valid=True, now=AT + 90000, event_ids=("evt_ret_000001",)),
        SignatureVector("rotated-secret-listed-first", _headers(
            "evt_2kq9CJ1mC0", AT, "v1,ljfGgFPuN5YG/WehBSTQwSmxyXiABM6w9E51NFVhZBs= "
            "v1,0mgmTG84Ds4RfdMnE09mOeKxxnj5iPv16Pe1Ch+Fi9w="),
            ORDER_BODY, valid=True, now=AT),
        SignatureVector("signed-with-another-secret", _headers(
            "evt_2kq9CJ1mC0", AT, "v1,ljfGgFPuN5YG/WehBSTQwSmxyXiABM6w9E51NFVhZBs="),
            ORDER_BODY, valid=False, now=AT, reason="bad_signature"),
        SignatureVector("stale-timestamp", _headers(
            "evt_2kq9CJ1mC0", AT, "v1,0mgmTG84Ds4RfdMnE09mOeKxxnj5iPv16Pe1Ch+Fi9w="),
            ORDER_BODY, valid=False, now=AT + 301, reason="bad_signature"),
        SignatureVector("future-timestamp", _headers(
            "evt_2kq9CJ1mC0", AT, "v1,0mgmTG84Ds4RfdMnE09mOeKxxnj5iPv16Pe1Ch+Fi9w="),
            ORDER_BODY, valid=False, now=AT - 301, reason="bad_signature"),
        SignatureVector("unknown-version-only", _headers(
            "evt_2kq9CJ1mC0", AT, "v2,0mgmTG84Ds4RfdMnE09mOeKxxnj5iPv16Pe1Ch+Fi9w="),
            ORDER_BODY, valid=False, now=AT, reason="bad_signature"),
        # the Standard Webhooks specification's own vector: correctly signed, but not the
        # hub envelope, so it is unparseable rather than forged
        SignatureVector("spec-vector-not-an-envelope", _headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
            b'{"test": 2432232314}', valid=False, now=1614265330, reason="unparseable"),
    ]

    def make_record(self, stream, n, updated_at):
        stamp = updated_at.astimezone(timezone(timedelta(hours=8))).isoformat()
        if stream == "orders":
            return {"id": f"GS-{n}", "status": "paid", "updated_at": stamp, "currency": "CNY",
                    "total_minor": 1990 + n, "paid_minor": 1990 + n,
                    "lines": [{"id": "L1", "sku": "SKU-1", "quantity": 1,
                               "unit_price_minor": 1990 + n}]}
        return {"id": f"RT-{n}", "order_id": f"GS-{n}", "kind": "refund_only",
                "status": "requested", "updated_at": stamp, "refund_minor": 500 + n,
                "lines": [{"sku": "SKU-1", "quantity": 1}]}

    def expect_page(self, rsps, stream, *, since, page, records=(), last=True, error=None):
        params = {}
        if since is not None:
            params["updated_since"] = since.astimezone(timezone.utc).isoformat()
        if page:
            params["cursor"] = f"page-{page}"
        match = [matchers.query_param_matcher(params),
                 matchers.header_matcher({"Authorization": f"Bearer {API_KEY}"})]
        url = f"{BASE_URL}/hub/{stream}"
        if error is not None:
            rsps.add(responses.GET, url, status=error.status, headers=error.headers,
                     body=error.body, match=match)
        else:
            rsps.add(responses.GET, url, match=match, json={
                "data": list(records), "next_cursor": None if last else f"page-{page + 1}"})

    def cursor_time(self, cursor) -> datetime | None:
        return parse_time(cursor.get("updated_since"))
