"""Kuaishou OAuth: authorize URL, code exchange, rotating refresh tokens with an inherited
absolute expiry, single-flight refresh, lost responses, revocation and status."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.kuaishou.client import KuaishouClient
from connectors.kuaishou.errors import KuaishouError
from connectors.kuaishou.oauth import (
    OAuthClient, TokenManager, authorization_status, authorize_url,
)
from tests.connectors.kuaishou.conftest import BASE, CONFIG, next_account_id, sent_form

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
REFRESH_URL = f"{BASE}/oauth2/refresh_token"


class Store:
    """The account row: ``save`` merges atomically (as hub.parties.accounts.save_config does)."""

    def __init__(self, config: dict, log: list | None = None, fail: bool = False):
        self.config = dict(config)
        self.log = log if log is not None else []
        self.fail = fail
        self.lock = threading.Lock()

    def save(self, updates: dict) -> None:
        if self.fail:
            raise RuntimeError("database is down")
        with self.lock:
            self.config.update(updates)
            self.log.append(("saved", dict(updates)))

    def reload(self) -> dict:
        with self.lock:
            return dict(self.config)


def tokens_config(**over) -> dict:
    base = {**CONFIG, "access_token": "AT1", "refresh_token": "RT1",
            "access_token_expires_at": (T0 + timedelta(minutes=5)).isoformat(),
            "refresh_token_expires_at": (T0 + timedelta(days=170)).isoformat(),
            "scopes": ["merchant_order"], "reauthorize_reason": None}
    return {**base, **over}


def manager(store: Store, account_id: int | None = None, *, clock=lambda: T0, margin_s=600,
            reload=True) -> TokenManager:
    ctx = AccountContext(account_id=account_id or next_account_id(), merchant_id=1, name="shop",
                         config=dict(store.config),
                         save_config=lambda u: (store.save(u)))
    return TokenManager(ctx, OAuthClient(ctx.config), margin_s=margin_s, clock=clock,
                        reload=store.reload if reload else None)


def grant(n: int, **extra) -> dict:
    return {"result": 1, "access_token": f"AT{n}", "refresh_token": f"RT{n}",
            "expires_in": 172800, "refresh_token_expires_in": 150 * 86400,
            "scopes": ["merchant_order", "merchant_refund"], **extra}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def refresh_query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


# -- authorize URL and code exchange ---------------------------------------------------------------
def test_authorize_url():
    url = authorize_url("https://open.ks.test/", "ks123", "https://hub.test/oauth/kuaishou",
                        ["merchant_order", "merchant_refund"], "st-1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "open.ks.test", "/oauth/authorize")
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "app_id": "ks123", "redirect_uri": "https://hub.test/oauth/kuaishou",
        "scope": "merchant_order,merchant_refund", "response_type": "code", "state": "st-1"}


def test_code_exchange_stores_the_grant(rsps):
    rsps.get(f"{BASE}/oauth2/access_token", match=[matchers.query_param_matcher({
        "app_id": "ks123", "app_secret": "app-secret", "grant_type": "code", "code": "C0DE"})],
        json={"result": 1, "access_token": "AT1", "refresh_token": "RT1", "open_id": "op-1",
              "expires_in": 172800, "scopes": ["merchant_order", "merchant_refund"]})
    store = Store({**CONFIG, "reauthorize_reason": "revoked earlier"})
    updates = manager(store).authorize("C0DE")
    assert store.config["access_token"] == "AT1" and store.config["refresh_token"] == "RT1"
    assert store.config["access_token_expires_at"] == (T0 + timedelta(hours=48)).isoformat()
    assert store.config["refresh_token_expires_at"] == (T0 + timedelta(days=180)).isoformat()
    assert store.config["scopes"] == ["merchant_order", "merchant_refund"]
    assert store.config["open_id"] == "op-1" and store.config["reauthorize_reason"] is None
    assert updates == {k: store.config[k] for k in updates}


def test_a_bad_code_is_fail_data(rsps):
    rsps.get(f"{BASE}/oauth2/access_token",
             json={"result": 100200105, "error": "invalid_grant", "error_msg": "code已使用"})
    with pytest.raises(KuaishouError) as exc:
        manager(Store(CONFIG)).authorize("used")
    assert exc.value.error_class is ErrorClass.FAIL_DATA


# -- refresh ----------------------------------------------------------------------------------------
def test_a_fresh_token_is_used_without_any_call(rsps):
    store = Store(tokens_config(access_token_expires_at=(T0 + timedelta(hours=40)).isoformat()))
    assert manager(store).access_token() == "AT1"


def test_refresh_ahead_of_expiry_rotates_and_persists(rsps, slept):
    rsps.post(REFRESH_URL, json=grant(2), match=[matchers.query_param_matcher({
        "app_id": "ks123", "app_secret": "app-secret", "grant_type": "refresh_token",
        "refresh_token": "RT1"})])
    store = Store(tokens_config())
    assert manager(store).access_token() == "AT2"
    assert store.config["refresh_token"] == "RT2" and store.config["access_token"] == "AT2"
    assert store.config["access_token_expires_at"] == (T0 + timedelta(hours=48)).isoformat()
    assert store.config["scopes"] == ["merchant_order", "merchant_refund"]


def test_the_next_refresh_uses_the_rotated_token(rsps, slept):
    rsps.post(REFRESH_URL, json=grant(2))
    rsps.post(REFRESH_URL, json=grant(3))
    store = Store(tokens_config())
    now = [T0]
    tm = manager(store, clock=lambda: now[0])
    assert tm.access_token() == "AT2"
    now[0] = T0 + timedelta(hours=47, minutes=55)
    assert tm.access_token() == "AT3"
    assert [refresh_query(c)["refresh_token"] for c in rsps.calls] == ["RT1", "RT2"]
    assert store.config["refresh_token"] == "RT3"


def test_the_absolute_expiry_is_inherited_never_extended(rsps, slept):
    first = T0 + timedelta(days=170)
    rsps.post(REFRESH_URL, json=grant(2, refresh_token_expires_in=400 * 86400))
    rsps.post(REFRESH_URL, json=grant(3, refresh_token_expires_in=None))
    store = Store(tokens_config(refresh_token_expires_at=first.isoformat()))
    now = [T0]
    tm = manager(store, clock=lambda: now[0])
    tm.access_token()
    assert store.config["refresh_token_expires_at"] == first.isoformat()
    now[0] = T0 + timedelta(days=2)
    tm.access_token()
    assert store.config["refresh_token_expires_at"] == first.isoformat()


def test_a_missing_stored_expiry_is_taken_from_the_answer(rsps, slept):
    rsps.post(REFRESH_URL, json=grant(2, refresh_token_expires_in=100 * 86400))
    store = Store(tokens_config(refresh_token_expires_at=None))
    manager(store).access_token()
    assert store.config["refresh_token_expires_at"] == (T0 + timedelta(days=100)).isoformat()


def test_after_the_180_days_no_refresh_is_tried(rsps):
    store = Store(tokens_config(refresh_token_expires_at=(T0 - timedelta(seconds=1)).isoformat(),
                                access_token_expires_at=(T0 - timedelta(hours=1)).isoformat()))
    with pytest.raises(ConnectorError) as exc:
        manager(store).access_token()
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG and "re-authorize" in exc.value.message


def test_no_refresh_token_is_fail_config(rsps):
    store = Store(tokens_config(refresh_token=None, access_token=None))
    with pytest.raises(ConnectorError) as exc:
        manager(store).access_token()
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG


# -- single flight -------------------------------------------------------------------------------
def _slow_refresh(rsps, calls: list, delay=0.05):
    def callback(request):
        calls.append(refresh_query_from(request.url)["refresh_token"])
        time.sleep(delay)
        n = len(calls) + 1
        return 200, {}, json.dumps(grant(n))
    rsps.add_callback(responses.POST, REFRESH_URL, callback=callback)


def refresh_query_from(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("shared_instance", [True, False], ids=["one-manager", "manager-per-thread"])
def test_concurrent_callers_cause_exactly_one_refresh(rsps, slept, shared_instance):
    calls: list = []
    _slow_refresh(rsps, calls)
    store = Store(tokens_config(access_token_expires_at=(T0 - timedelta(minutes=1)).isoformat()))
    account = next_account_id()
    one = manager(store, account)
    results, errors = [], []
    barrier = threading.Barrier(8)

    def worker():
        tm = one if shared_instance else manager(store, account)
        barrier.wait()
        try:
            results.append(tm.access_token())
        except Exception as e:  # pragma: no cover (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert calls == ["RT1"]
    assert results == ["AT2"] * 8
    assert store.config["refresh_token"] == "RT2"


def test_a_rejection_after_someone_else_refreshed_uses_their_token(rsps, slept):
    rsps.post(REFRESH_URL, json=grant(2))
    store = Store(tokens_config(access_token_expires_at=None))
    account = next_account_id()
    a, b = manager(store, account), manager(store, account)
    assert a.refresh(rejected="AT1") == "AT2"
    assert b.refresh(rejected="AT1") == "AT2"   # no second call: responses would fail
    assert len(rsps.calls) == 1


# -- lost responses ---------------------------------------------------------------------------
def test_a_lost_refresh_response_is_retried_with_the_stored_token(rsps, slept):
    rsps.post(REFRESH_URL, body=requests.ReadTimeout("answer lost"))
    rsps.post(REFRESH_URL, json=grant(3))
    store = Store(tokens_config(access_token_expires_at=(T0 - timedelta(minutes=1)).isoformat()))
    assert manager(store).access_token() == "AT3"
    assert [refresh_query(c)["refresh_token"] for c in rsps.calls] == ["RT1", "RT1"]
    assert store.config["refresh_token"] == "RT3" and store.config["reauthorize_reason"] is None


def test_a_refresh_that_keeps_timing_out_does_not_brick_the_shop(rsps, slept):
    for _ in range(4):
        rsps.post(REFRESH_URL, body=requests.ReadTimeout("answer lost"))
    store = Store(tokens_config(access_token_expires_at=(T0 - timedelta(minutes=1)).isoformat()))
    account = next_account_id()
    with pytest.raises(ConnectorError) as exc:
        manager(store, account).access_token()
    assert exc.value.error_class is ErrorClass.RETRY
    assert store.config["refresh_token"] == "RT1" and not store.config["reauthorize_reason"]
    assert authorization_status(store.config, T0) == "ok"
    rsps.reset()
    rsps.post(REFRESH_URL, json=grant(5))      # the platform still honours RT1 (5 minutes)
    assert manager(store, account).access_token() == "AT5"
    assert refresh_query(rsps.calls[0])["refresh_token"] == "RT1"


def test_a_failed_early_refresh_falls_back_to_the_still_valid_token(rsps, slept):
    for _ in range(4):
        rsps.post(REFRESH_URL, status=503)
    store = Store(tokens_config())  # expires in 5 minutes, inside the 10-minute margin
    assert manager(store).access_token() == "AT1"


def test_a_refresh_that_cannot_be_stored_is_not_used(rsps, slept):
    rsps.post(REFRESH_URL, json=grant(2))
    store = Store(tokens_config(access_token_expires_at=(T0 - timedelta(minutes=1)).isoformat()),
                  fail=True)
    with pytest.raises(ConnectorError) as exc:
        manager(store).access_token()
    assert exc.value.error_class is ErrorClass.RETRY
    assert store.config["refresh_token"] == "RT1"


def test_the_new_refresh_token_is_stored_before_the_new_access_token_is_used(rsps, slept):
    log: list = []
    store = Store(tokens_config(access_token_expires_at=None), log)
    rsps.post(REFRESH_URL, json=grant(2))

    def api(request):
        token = sent_form(request)["access_token"]
        log.append(("api", token))
        if token == "AT1":
            return 200, {}, json.dumps({"result": 25, "error_msg": "TOKEN过期"})
        return 200, {}, json.dumps({"result": 1, "data": {"ok": True}})
    rsps.add_callback(responses.GET, f"{BASE}/open/order/detail", callback=api)
    tm = manager(store)
    client = KuaishouClient(tm.ctx.config, tm.ctx.account_id, tm)
    assert client.fetch_order(1) == {"ok": True}
    assert [e[0] for e in log] == ["api", "saved", "api"]
    assert log[1][1]["refresh_token"] == "RT2" and log[2] == ("api", "AT2")


# -- revocation and status --------------------------------------------------------------------------
@pytest.mark.parametrize("message", ["refreshToken.revokedAuthorization", "refreshToken.discarded",
                                     "invalid refresh_token"])
def test_a_revoked_refresh_is_fail_config_and_shown_as_revoked(rsps, slept, message):
    rsps.post(REFRESH_URL, json={"result": 100200102, "error": "access_denied",
                                 "error_msg": message})
    store = Store(tokens_config(access_token_expires_at=(T0 - timedelta(minutes=1)).isoformat()))
    tm = manager(store)
    with pytest.raises(KuaishouError) as exc:
        tm.access_token()
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG and exc.value.reauthorize
    assert "re-authorize" in exc.value.message and "app-secret" not in exc.value.message
    assert "RT1" not in exc.value.message
    assert authorization_status(store.config, T0) == "revoked"
    with pytest.raises(ConnectorError) as again:  # no further call: responses would fail
        tm.access_token()
    assert again.value.error_class is ErrorClass.FAIL_CONFIG and len(rsps.calls) == 1


def test_a_token_rotated_by_another_process_is_used_without_a_call(rsps):
    store = Store(tokens_config(access_token_expires_at=(T0 - timedelta(minutes=1)).isoformat()))
    tm = manager(store)
    store.config.update(access_token="AT7", refresh_token="RT7",  # another process refreshed
                        access_token_expires_at=(T0 + timedelta(hours=48)).isoformat())
    assert tm.access_token() == "AT7" and tm.ctx.config["refresh_token"] == "RT7"


@pytest.mark.parametrize("theirs_fresh", [True, False], ids=["adopt-theirs", "refresh-theirs"])
def test_discarded_in_a_race_with_another_process_recovers_from_the_store(rsps, slept,
                                                                          theirs_fresh):
    rsps.post(REFRESH_URL, json={"result": 100200102, "error": "access_denied",
                                 "error_msg": "refreshToken.discarded"})
    if not theirs_fresh:
        rsps.post(REFRESH_URL, json=grant(4))
    store = Store(tokens_config(access_token_expires_at=(T0 - timedelta(minutes=2)).isoformat()))
    stale = store.reload()
    reads = iter([stale])             # our first read predates the other process's commit
    tm = manager(store, reload=False)
    tm.reload = lambda: next(reads, None) or store.reload()
    expiry = T0 + (timedelta(hours=48) if theirs_fresh else -timedelta(minutes=1))
    store.config.update(refresh_token="RT3", access_token="AT3",
                        access_token_expires_at=expiry.isoformat())
    assert tm.refresh(rejected="AT1") == ("AT3" if theirs_fresh else "AT4")
    sent = [refresh_query(c)["refresh_token"] for c in rsps.calls]
    assert sent == (["RT1"] if theirs_fresh else ["RT1", "RT3"])
    assert not store.config["reauthorize_reason"]


def test_an_api_answer_24_marks_the_shop_revoked(rsps, slept):
    rsps.get(f"{BASE}/open/order/detail", json={"result": 24, "error_msg": "AUTHORIZATION_REVOKED"})
    store = Store(tokens_config(access_token_expires_at=(T0 + timedelta(hours=40)).isoformat()))
    tm = manager(store)
    client = KuaishouClient(tm.ctx.config, tm.ctx.account_id, tm)
    with pytest.raises(KuaishouError) as exc:
        client.fetch_order(1)
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG and exc.value.reauthorize
    assert authorization_status(store.config, T0) == "revoked"
    with pytest.raises(ConnectorError):
        client.fetch_order(1)           # refused locally until the merchant re-authorizes
    assert len(rsps.calls) == 1


def test_reauthorizing_clears_revoked(rsps, slept):
    rsps.get(f"{BASE}/oauth2/access_token", json=grant(9))
    store = Store(tokens_config(reauthorize_reason="AUTHORIZATION_REVOKED"))
    tm = manager(store)
    tm.authorize("C0DE")
    assert authorization_status(store.config, T0) == "ok" and tm.access_token() == "AT9"


@pytest.mark.parametrize("config,status", [
    ({"refresh_token": "RT", "refresh_token_expires_at": (T0 + timedelta(days=100)).isoformat()}, "ok"),
    ({"refresh_token": "RT", "refresh_token_expires_at": (T0 + timedelta(days=13)).isoformat()}, "expiring"),
    ({"refresh_token": "RT", "refresh_token_expires_at": (T0 - timedelta(days=1)).isoformat(),
      "access_token": "AT", "access_token_expires_at": (T0 + timedelta(hours=3)).isoformat()}, "expiring"),
    ({"refresh_token": "RT", "refresh_token_expires_at": (T0 - timedelta(days=1)).isoformat(),
      "access_token": "AT", "access_token_expires_at": (T0 - timedelta(hours=3)).isoformat()}, "expired"),
    ({}, "expired"),
    ({"refresh_token": "RT", "reauthorize_reason": "AUTHORIZATION_REVOKED"}, "revoked"),
    ({"refresh_token": "RT"}, "ok"),
    ({"refresh_token": "RT", "refresh_token_expires_at": (T0 + timedelta(days=20)).isoformat(),
      "reauthorize_warning_days": 30}, "expiring"),
], ids=["ok", "expiring", "expired-refresh-live-access", "expired", "never", "revoked",
        "no-expiry-known", "custom-window"])
def test_authorization_status(config, status):
    assert authorization_status(config, T0) == status
