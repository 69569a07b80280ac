"""Kuaishou poll streams: the windows asked for (size, order, 90-day limit), the cursor
after each slice and after a failure, and the backfill progress the hub stores."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import responses

from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.kuaishou import Kuaishou
from connectors.kuaishou.streams import LOOKBACK_MS
from tests.connectors.kuaishou.conftest import BASE, CONFIG, next_account_id, sent_form

NOW = 1_793_520_000_000            # 2026-11-01T08:00:00Z
DAY, HOUR = 86_400_000, 3_600_000
ORDERS = f"{BASE}/open/order/cursor/list"
REFUNDS = f"{BASE}/open/seller/order/refund/pcursor/list"
PROGRESS_KEYS = {"backfill_from", "backfill_to", "position", "percent", "done", "window_from",
                 "window_to"}


def shop(**config) -> Kuaishou:
    loaded = Kuaishou.validate_config({**CONFIG, "access_token": "AT",
                                       "access_token_expires_at": "2999-01-01T00:00:00+00:00",
                                       **config})
    connector = Kuaishou(AccountContext(next_account_id(), 1, "shop", loaded))
    connector.client.now_ms = lambda: NOW
    return connector


def stream(connector, name):
    return next(s for s in connector.streams() if s.name == name)


def ok(data) -> dict:
    return {"result": 1, "error_msg": "", "data": data}


def order(oid, updated):
    return {"orderBaseInfo": {"oid": oid, "status": 30, "updateTime": updated},
            "orderItemInfo": {"skuId": 1, "skuNick": "S", "num": 1, "price": 100},
            "orderAddress": {}}


def windows(rsps) -> list[tuple[int, int, str]]:
    out = []
    for call in rsps.calls:
        p = json.loads(sent_form(call.request)["param"])
        out.append((p["beginTime"], p["endTime"], p.get("cursor", p.get("pcursor"))))
    return out


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


@pytest.fixture
def rsps(slept):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def test_a_first_run_backfills_in_windows_of_at_most_the_configured_days(rsps):
    connector = shop(backfill_days=20, order_window_days=7)
    for _ in range(3):
        rsps.get(ORDERS, json=ok({"cursor": "nomore", "orderList": []}))
    slices = list(stream(connector, "orders").read({}))
    begin = NOW - 20 * DAY
    assert windows(rsps) == [(begin, begin + 7 * DAY, ""), (begin + 7 * DAY, begin + 14 * DAY, ""),
                             (begin + 14 * DAY, NOW, "")]
    assert [json.loads(sent_form(c.request)["param"])["queryType"] for c in rsps.calls] == [2] * 3
    assert [s.progress["percent"] for s in slices] == [35.0, 70.0, 100.0]
    assert all(set(s.progress) == PROGRESS_KEYS for s in slices)
    assert slices[-1].progress == {"backfill_from": iso(begin), "backfill_to": iso(NOW),
                                   "position": iso(NOW), "percent": 100.0, "done": True,
                                   "window_from": iso(begin + 14 * DAY), "window_to": iso(NOW)}
    assert slices[-1].cursor == {"since_ms": NOW, "backfill": {"from": begin, "to": NOW}}


def test_the_backfill_never_starts_before_the_90_day_limit(rsps):
    connector = shop(backfill_days=90, order_window_days=7)
    for _ in range(13):
        rsps.get(ORDERS, json=ok({"cursor": "nomore", "orderList": []}))
    list(stream(connector, "orders").read({}))
    asked = windows(rsps)
    assert asked[0][0] == connector.client.earliest_begin_ms() > NOW - 90 * DAY
    assert all(0 < end - begin <= 7 * DAY for begin, end, _ in asked)
    assert all(a[1] == b[0] for a, b in zip(asked, asked[1:]))  # contiguous, nothing skipped
    assert asked[-1][1] == NOW


def test_refunds_are_read_in_hour_windows_by_default(rsps):
    connector = shop(backfill_days=1)
    for _ in range(24):
        rsps.get(REFUNDS, json=ok({"pcursor": "nomore", "refundOrderInfoList": []}))
    list(stream(connector, "returns").read({}))
    asked = windows(rsps)
    assert len(asked) == 24 and all(end - begin == HOUR for begin, end, _ in asked)


def test_a_failure_mid_window_resumes_inside_that_window(rsps):
    connector = shop(backfill_days=3, order_window_days=1)
    begin = NOW - 3 * DAY
    rsps.get(ORDERS, json=ok({"cursor": "nomore", "orderList": [order(1, begin + HOUR)]}))
    rsps.get(ORDERS, json=ok({"cursor": "c1", "orderList": [order(2, begin + DAY + HOUR)]}))
    rsps.get(ORDERS, json={"result": 2, "error_msg": "系统繁忙"}, status=503)
    saved = {}
    with pytest.raises(ConnectorError) as exc:
        for s in stream(connector, "orders").read({}):
            saved = s.cursor
    assert exc.value.error_class is ErrorClass.RETRY
    # window 1 done (its end), window 2 only up to its newest record: never its end
    assert saved == {"since_ms": begin + DAY + HOUR, "backfill": {"from": begin, "to": NOW}}
    rsps.reset()
    for _ in range(2):
        rsps.get(ORDERS, json=ok({"cursor": "nomore", "orderList": []}))
    slices = list(stream(connector, "orders").read(saved))
    resume = begin + DAY + HOUR - LOOKBACK_MS
    assert windows(rsps) == [(resume, resume + DAY, ""), (resume + DAY, NOW, "")]
    assert slices[0].progress["backfill_from"] == iso(begin)  # the same backfill, resumed
    assert slices[-1].progress["done"] is True


def test_an_incremental_run_asks_from_the_mark_minus_the_lookback(rsps):
    connector = shop()
    since = NOW - 2 * HOUR
    rsps.get(ORDERS, json=ok({"cursor": "nomore", "orderList": []}))
    slices = list(stream(connector, "orders").read(
        {"since_ms": since, "backfill": {"from": since - 90 * DAY, "to": since}}))
    assert windows(rsps) == [(since - LOOKBACK_MS, NOW, "")]
    assert slices[0].progress["done"] is True and slices[0].cursor["since_ms"] == NOW


def test_a_cursor_older_than_90_days_restarts_at_the_limit_with_a_gap(rsps):
    connector = shop(order_window_days=7)
    old = NOW - 120 * DAY
    for _ in range(13):
        rsps.get(ORDERS, json=ok({"cursor": "nomore", "orderList": []}))
    slices = list(stream(connector, "orders").read({"since_ms": old}))
    assert windows(rsps)[0][0] == connector.client.earliest_begin_ms()
    assert all(s.progress.get("gap") for s in slices)


def test_a_record_without_id_is_passed_on_and_does_not_move_the_mark(rsps):
    connector = shop(backfill_days=1, order_window_days=1)
    rsps.get(ORDERS, json=ok({"cursor": "c1", "orderList": [
        {"orderBaseInfo": {"updateTime": NOW - 10}}, order(5, NOW - DAY + 1000)]}))
    rsps.get(ORDERS, json=ok({"cursor": "nomore", "orderList": []}))
    slices = list(stream(connector, "orders").read({}))
    assert [r.external_id for r in slices[0].records] == ["", "5"]
    assert slices[0].cursor["since_ms"] == NOW - DAY + 1000


def test_an_unreadable_cursor_is_fail_data():
    with pytest.raises(ConnectorError) as exc:
        list(stream(shop(), "orders").read({"since_ms": "yesterday"}))
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_no_streams_without_tokens():
    assert shop(access_token=None, access_token_expires_at=None).streams() == []
    assert [s.name for s in shop().streams()] == ["orders", "returns"]
    assert {s.interval_s for s in shop(poll_interval_s=60).streams()} == {60.0}
