"""``jobs.refresh_tokens``: Kuaishou shops are refreshed ahead of expiry, and a revoked,
expired or expiring authorization is flagged (alert ``shop_reauthorize``; the account
``needs_attention`` when syncing must stop), then cleared once re-authorized."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import responses
from sqlalchemy import select

from connectors.http import HttpAdapter
from connectors.kuaishou import Kuaishou, oauth
from hub.parties.accounts import save_config
from hub.models import Account, Alert
from jobs import refresh_tokens
from jobs.registry import default_jobs
from tests import factories as f

BASE = "https://ks.job.test"


def iso_in(**delta) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


@pytest.fixture(autouse=True)
def _fresh_token_state(monkeypatch):
    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(lambda s: None))  # no real waits
    oauth.reset_process_state()
    yield
    oauth.reset_process_state()


@pytest.fixture
def shop(app, database):
    """A linked Kuaishou shop whose tokens are fresh; returns its account id."""
    config = Kuaishou.validate_config({
        "app_key": "ks1", "app_secret": "app-secret", "sign_secret": "s", "api_base_url": BASE,
        "access_token": "AT1", "refresh_token": "RT1",
        "access_token_expires_at": iso_in(hours=40),
        "refresh_token_expires_at": iso_in(days=150)})
    with database.session() as s:
        m = f.merchant(s)
        account = Account(merchant_id=m.id, connector="kuaishou", kind="platform", name="ks",
                          config=config)
        s.add(account)
        s.flush()
        f.shop(s, m.id)  # a generic shop: not an OAuth connector, never looked at
        return account.id


def account(database, account_id) -> Account:
    with database.session(readonly=True) as s:
        return s.get(Account, account_id)


def alerts(database) -> list[Alert]:
    with database.session(readonly=True) as s:
        return list(s.scalars(select(Alert).where(Alert.kind == "shop_reauthorize")))


def run(app):
    return refresh_tokens.run(app, "test-worker")


def test_registered_with_the_other_jobs():
    assert "refresh_tokens" in {job.name for job in default_jobs()}


@responses.activate
def test_fresh_tokens_cost_no_call_and_raise_nothing(app, database, shop):
    assert run(app) == 0
    assert len(responses.calls) == 0 and alerts(database) == []
    assert account(database, shop).status == "active"


@responses.activate
def test_a_token_near_expiry_is_refreshed_and_persisted(app, database, shop):
    save_config(database, shop, {"access_token_expires_at": iso_in(minutes=20)})
    responses.post(f"{BASE}/oauth2/refresh_token", json={
        "result": 1, "access_token": "AT2", "refresh_token": "RT2", "expires_in": 172800,
        "refresh_token_expires_in": 200 * 86400})
    before = account(database, shop).config
    run(app)
    assert "refresh_token=RT1" in responses.calls[0].request.url
    after = account(database, shop).config
    assert (after["access_token"], after["refresh_token"]) == ("AT2", "RT2")
    assert after["refresh_token_expires_at"] == before["refresh_token_expires_at"]  # inherited
    run(app)  # fresh now
    assert len(responses.calls) == 1


@responses.activate
def test_a_lost_refresh_answer_changes_nothing(app, database, shop):
    save_config(database, shop, {"access_token_expires_at": iso_in(minutes=20)})
    responses.post(f"{BASE}/oauth2/refresh_token", status=503)
    run(app)
    stored = account(database, shop)
    assert stored.config["refresh_token"] == "RT1" and stored.status == "active"
    assert alerts(database) == []


@responses.activate
def test_a_revoked_refresh_flags_the_shop(app, database, shop):
    save_config(database, shop, {"access_token_expires_at": iso_in(minutes=20)})
    responses.post(f"{BASE}/oauth2/refresh_token", json={
        "result": 100200102, "error": "access_denied",
        "error_msg": "refreshToken.revokedAuthorization"})
    run(app)
    flagged = account(database, shop)
    assert flagged.status == "needs_attention"
    assert flagged.status_reason.startswith("re-authorize the shop: ")
    assert "revokedAuthorization" in flagged.config["reauthorize_reason"]
    [alert] = alerts(database)
    assert alert.severity == "critical" and alert.entity_id == shop
    calls = len(responses.calls)
    run(app)  # flagged: no call again, still one alert
    assert len(responses.calls) == calls and len(alerts(database)) == 1


def test_an_api_revocation_recorded_by_the_client_is_flagged(app, database, shop):
    save_config(database, shop, {"reauthorize_reason": "kuaishou: result=24 AUTHORIZATION_REVOKED"})
    with database.session() as s:  # what the poll job did when the API answered 24
        row = s.get(Account, shop)
        row.status, row.status_reason = "needs_attention", "poll orders: result=24"
    run(app)
    [alert] = alerts(database)
    assert "AUTHORIZATION_REVOKED" in alert.message
    assert account(database, shop).status_reason == "poll orders: result=24"  # kept


def test_the_180_day_limit_within_the_warning_window_warns_but_keeps_syncing(app, database,
                                                                             shop):
    save_config(database, shop, {"refresh_token_expires_at": iso_in(days=5)})
    run(app)
    [alert] = alerts(database)
    assert alert.severity == "warning" and "180-day" in alert.message
    assert account(database, shop).status == "active"


def test_past_the_180_days_the_shop_stops(app, database, shop):
    save_config(database, shop, {"refresh_token_expires_at": iso_in(days=-1),
                                 "access_token_expires_at": iso_in(minutes=-5)})
    run(app)
    assert account(database, shop).status == "needs_attention"
    assert alerts(database)[0].severity == "critical"


def test_re_authorization_resolves_the_alert(app, database, shop):
    save_config(database, shop, {"reauthorize_reason": "AUTHORIZATION_REVOKED"})
    run(app)
    assert account(database, shop).status == "needs_attention"
    # the linking callback stores the new grant and sets the shop active
    save_config(database, shop, {"reauthorize_reason": None, "access_token": "AT9",
                                 "refresh_token": "RT9", "refresh_token_expires_at":
                                 iso_in(days=180)})
    with database.session() as s:
        s.get(Account, shop).status = "active"
    oauth.reset_process_state()
    run(app)
    [alert] = alerts(database)
    assert alert.resolved_at is not None
