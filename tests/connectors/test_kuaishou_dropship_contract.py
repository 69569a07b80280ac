"""The standard connector suite for ``kuaishou_dropship`` (厂家代发): the ``allocations``
poll stream over ``open.dropshipping.order.list`` (29-minute windows, cursor paging to
"nomore"), Kuaishou's error classes, and recorded factory records → golden updates.

The connector's clock is frozen at ``NOW`` so a run covers exactly one window; the
records are ``allocateStatus`` 3 (allocated, no waybill yet), which map to no update, so
the suite's binding check ends after the inbox-key check (updates bind nothing)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses

from connectors.base import ErrorClass
from connectors.kuaishou import oauth
from connectors.kuaishou_dropship import KuaishouDropship
from connectors.kuaishou_dropship.streams import parse_cursor
from tests.connector_suite import T0, ConnectorSuite, ErrorResponse

BASE = "https://ks-dropship.test"
NOW = T0 + timedelta(minutes=10)
BACKFILL = timedelta(minutes=20)
WINDOW = timedelta(minutes=29)
CONFIG = {"app_key": "ks123", "sign_secret": "sign-secret", "access_token": "AT-1",
          "factory_code": "F001", "api_base_url": BASE, "backfill_minutes": 20,
          "lookback_s": 60, "qps_default": 1000}


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def form_of(request) -> dict:
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def list_matcher(begin: datetime, end: datetime, cursor: str):
    def match(request):
        form = form_of(request)
        if form.get("method") != "open.dropshipping.order.list":
            return False, f"method {form.get('method')}"
        param = json.loads(form.get("param") or "{}")
        want = {"beginTime": ms(begin), "endTime": ms(end), "cursor": cursor,
                "queryType": 2, "sort": 2}
        got = {k: param.get(k) for k in want}
        return got == want, f"param {got} != {want}"
    return match


class TestKuaishouDropshipContract(ConnectorSuite):
    connector_cls = KuaishouDropship
    config = CONFIG
    fixtures_dir = Path(__file__).resolve().parent.parent / "fixtures" / "kuaishou_dropship"
    poll_lookback = timedelta(seconds=60)
    error_cases = ConnectorSuite.error_cases + [
        (ErrorClass.FAIL_CONFIG, ErrorResponse(200, body='{"result":24,'
                                               '"error_msg":"AUTHORIZATION_REVOKED"}')),
        (ErrorClass.RATE_LIMITED, ErrorResponse(200, body='{"result":1017,"error_msg":'
                                                '"[1017] exceed quota limit"}')),
        (ErrorClass.FAIL_DATA, ErrorResponse(200, body='{"result":21,'
                                             '"error_msg":"order operation reject"}')),
        (ErrorClass.RETRY, ErrorResponse(200, body="<html>gateway</html>")),
    ]

    @pytest.fixture
    def connector(self, slept):
        oauth.reset_process_state()
        channel = self.connector_cls(self.context())
        channel.clock = lambda: NOW
        return channel

    def make_record(self, stream, n, updated_at):
        return {"allocateOrderCode": f"AOC{n:05d}", "dropshippingOrderCode": f"DSO{n:05d}",
                "oid": str(2607602240240000 + n), "allocateStatus": 3,
                "allocateTime": ms(T0), "updateTime": ms(updated_at)}

    def expect_page(self, rsps, stream, *, since, page, records=(), last=True, error=None):
        begin = since if since is not None else NOW - BACKFILL
        end = min(begin + WINDOW, NOW)
        match = [list_matcher(begin, end, "" if page == 0 else f"c{page}")]
        url = f"{BASE}/open/dropshipping/order/list"
        if error is not None:
            rsps.add(responses.POST, url, status=error.status, headers=error.headers,
                     body=error.body, match=match)
        else:
            rsps.add(responses.POST, url, match=match, json={"result": 1, "data": {
                "cursor": "nomore" if last else f"c{page + 1}", "orderList": list(records)}})

    def cursor_time(self, cursor):
        return parse_cursor(cursor)


@pytest.fixture
def no_sleep(monkeypatch):
    from connectors.http import HttpAdapter, TokenBucket

    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(lambda s: None))
    monkeypatch.setattr(TokenBucket, "sleep", staticmethod(lambda s: None))


def test_quiet_windows_move_the_cursor_on(no_sleep):
    """A run over more than one window saves the end of every completed window that is
    not the last, so hours without changes are not read again."""
    from connectors.base import AccountContext

    oauth.reset_process_state()
    channel = KuaishouDropship(AccountContext(account_id=4_400_001, merchant_id=1, name="x",
                                              config=KuaishouDropship.validate_config(CONFIG)))
    channel.clock = lambda: NOW
    saved = NOW - timedelta(minutes=50)
    begin = saved - timedelta(seconds=60)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        url = f"{BASE}/open/dropshipping/order/list"
        first_end = begin + WINDOW
        rsps.add(responses.POST, url, match=[list_matcher(begin, first_end, "")],
                 json={"result": 1, "data": {"cursor": "nomore", "orderList": []}})
        rsps.add(responses.POST, url, match=[list_matcher(first_end, NOW, "")],
                 json={"result": 1, "data": {"cursor": "nomore", "orderList": []}})
        stream = channel.streams()[0]
        slices = list(stream.read({"updated_since": saved.isoformat()}))
    assert [parse_cursor(s.cursor) for s in slices] == [first_end, first_end]


def test_a_cursor_older_than_60_days_starts_at_the_oldest_allowed_time(no_sleep):
    from connectors.base import AccountContext

    oauth.reset_process_state()
    channel = KuaishouDropship(AccountContext(account_id=4_400_002, merchant_id=1, name="x",
                                              config=KuaishouDropship.validate_config(CONFIG)))
    channel.clock = lambda: NOW
    oldest = NOW - timedelta(days=60) + timedelta(minutes=10)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{BASE}/open/dropshipping/order/list",
                 match=[list_matcher(oldest, oldest + WINDOW, "")],
                 json={"result": 1, "data": {"cursor": "nomore", "orderList": []}})
        first = next(iter(channel.streams()[0].read(
            {"updated_since": (NOW - timedelta(days=90)).isoformat()})))
    assert first.progress["gap"] is True
    assert parse_cursor(first.cursor) == oldest + WINDOW
    assert datetime.fromisoformat(first.progress["window_start"]) == oldest.astimezone(
        timezone.utc)
