"""Generic shop poll streams beyond the standard suite: the signpost, endless pagination,
records without a usable id or time, unreadable cursors, and when there are no streams."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import responses
from responses import matchers

from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.generic_shop import GenericShop
from connectors.generic_shop.client import GenericShopClient
from connectors.generic_shop.streams import ShopStream, parse_time
from connectors.http import HttpAdapter, TokenBucket
from tests.factories import WHSEC

BASE = "https://shop.example.test"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(lambda s: None))
    monkeypatch.setattr(TokenBucket, "sleep", staticmethod(lambda s: None))


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def shop(**config) -> GenericShop:
    cfg = GenericShop.validate_config({"webhook_secret": WHSEC, "qps": 1000, **config})
    return GenericShop(AccountContext(account_id=777, merchant_id=1, name="s", config=cfg))


def stream(name="orders") -> ShopStream:
    return ShopStream(GenericShopClient(shop(base_url=BASE).ctx), name, now=lambda: NOW)


def page(rsps, data, next_cursor=None, params=None):
    rsps.add(responses.GET, f"{BASE}/hub/orders", json={"data": data, "next_cursor": next_cursor},
             match=[matchers.query_param_matcher(params or {})])


def test_no_base_url_means_no_streams():
    assert shop().streams() == []
    streams = shop(base_url=BASE, poll_interval_s=120).streams()
    assert [(s.name, s.interval_s) for s in streams] == [("orders", 120.0), ("returns", 120.0)]


def test_a_future_updated_at_does_not_move_the_cursor_past_the_run_start(rsps):
    page(rsps, [{"id": "A", "updated_at": "2026-11-01T11:00:00Z"},
                {"id": "B", "updated_at": "2099-01-01T00:00:00Z"}])
    [slc] = list(stream().read({}))
    assert [r.external_id for r in slc.records] == ["A", "B"]  # the record itself is kept
    assert parse_time(slc.cursor["updated_since"]) == NOW


def test_records_without_id_or_time_pass_through_but_never_move_the_cursor(rsps):
    page(rsps, [{"id": "A", "updated_at": "2026-11-01T10:00:00+08:00"},
                {"updated_at": "2026-11-01T11:30:00Z"},
                {"id": "C", "updated_at": "yesterday"},
                {"id": True, "updated_at": "2026-11-01T11:40:00Z"}])
    [slc] = list(stream().read({}))
    assert [(r.external_id, r.updated_at) for r in slc.records] == [
        ("A", datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)), ("", parse_time(
            "2026-11-01T11:30:00Z")), ("C", None), ("", parse_time("2026-11-01T11:40:00Z"))]
    assert slc.cursor == {"updated_since": "2026-11-01T02:00:00+00:00"}


def test_an_empty_first_page_keeps_the_saved_cursor(rsps):
    saved = {"updated_since": "2026-11-01T02:00:00+00:00"}
    page(rsps, [], params={"updated_since": "2026-11-01T01:59:00+00:00"})
    [slc] = list(stream().read(saved))
    assert slc.records == [] and slc.cursor == saved


def test_a_repeated_next_cursor_is_fail_data_not_an_endless_loop(rsps):
    page(rsps, [{"id": "A", "updated_at": "2026-11-01T10:00:00Z"}], next_cursor="same")
    page(rsps, [], next_cursor="same", params={"cursor": "same"})
    read = stream().read({})
    first = next(read)
    with pytest.raises(ConnectorError) as exc:
        list(read)
    assert exc.value.error_class is ErrorClass.FAIL_DATA and "repeats" in exc.value.message
    assert first.cursor == {"updated_since": "2026-11-01T10:00:00+00:00"}


@pytest.mark.parametrize("body", [{"data": [1, 2]}, {"data": None}, [], {"next_cursor": "x"},
                                  {"data": [], "next_cursor": {"a": 1}}])
def test_a_page_of_the_wrong_shape_is_fail_data(rsps, body):
    rsps.add(responses.GET, f"{BASE}/hub/orders", json=body)
    with pytest.raises(ConnectorError) as exc:
        list(stream().read({}))
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_an_unreadable_saved_cursor_is_fail_data():
    with pytest.raises(ConnectorError) as exc:
        list(stream().read({"updated_since": "not a time"}))
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_lookback_is_subtracted_from_the_saved_cursor():
    saved, since = stream().start({"updated_since": "2026-11-01T10:00:00+08:00"})
    assert saved == datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)
    assert saved - since == timedelta(seconds=60)
    assert stream().start({}) == (None, None)
