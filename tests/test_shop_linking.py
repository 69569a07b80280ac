"""Linking a Kuaishou shop by OAuth against the sandbox platform over real HTTP: the API
answers the authorize URL, the callback verifies the signed state (tampered, expired and
replayed states change nothing), exchanges the code (refused, expired and unreachable
exchanges are friendly errors), stores the grant encrypted, and a re-authorization
updates the same account instead of adding another."""
from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, text

from connectors.http import HttpAdapter
from hub.parties import linking
from hub.parties.accounts import connector_for
from hub.models.alerts import raise_alert
from hub.core.db import utcnow
from hub.models import Account, Alert, AuditEntry, PollState
from tests import factories as f
from tests.factories import bearer
from tests.linking_helpers import callback, link, sandbox, start, world  # noqa: F401

KS = "kuaishou"


def account(database, account_id) -> Account | None:
    with database.session(readonly=True) as s:
        return s.get(Account, account_id)


def kuaishou_accounts(database) -> list[Account]:
    with database.session(readonly=True) as s:
        return list(s.scalars(select(Account).where(Account.connector == KS)
                              .order_by(Account.id)))


def actions(database, account_id) -> list[str]:
    with database.session(readonly=True) as s:
        return list(s.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == account_id)
                              .order_by(AuditEntry.id)))


def page_text(resp) -> str:
    body = resp.get_data(as_text=True)
    assert "Traceback" not in body and resp.mimetype == "text/html"
    return body


# -- starting ------------------------------------------------------------------------------
def test_link_answers_the_authorize_url_and_keeps_a_pending_account(client, world, database,
                                                                   sandbox, settings):
    started = start(client, world)
    url = urlsplit(started["authorize_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{sandbox.base}/oauth/authorize"
    assert query["app_id"] == world["app"]["appKey"]
    assert query["redirect_uri"] == settings.public_url + "/oauth/kuaishou/callback"
    assert query["redirect_uri"] == started["redirect_uri"]
    assert query["scope"] == ("merchant_order,merchant_refund,merchant_logistics,"
                              "merchant_item,merchant_user")
    assert query["response_type"] == "code" and len(query["state"]) > 40
    pending = account(database, started["account_id"])
    assert (pending.status, pending.kind, pending.name) == ("linking", "platform", "Tea shop")
    assert pending.config["app_secret"] == world["app"]["appSecret"]
    assert pending.config["access_token"] is None and pending.external_id is None
    with database.engine.connect() as conn:  # encrypted at rest
        raw = conn.execute(text("SELECT config FROM accounts WHERE id = :id"),
                           {"id": pending.id}).scalar()
    assert world["app"]["appSecret"] not in raw and world["app"]["signSecret"] not in raw
    assert actions(database, pending.id) == ["account.link_started"]


def test_scopes_chosen_are_sent(client, world):
    started = start(client, world, scopes=["merchant_order", "merchant_refund"])
    assert "scope=merchant_order%2Cmerchant_refund&" in started["authorize_url"]


@pytest.mark.parametrize("change, field", [
    ({"app_secret": None}, "app_secret"),
    ({"message_key": "not base64!"}, "message_key"),
    ({"sign_method": "SHA1"}, "sign_method"),
    ({"api_base_url": "not a url"}, "api_base_url"),
    ({"access_token": "x"}, "access_token"),  # tokens come from the platform only
])
def test_invalid_credentials_are_422_and_store_nothing(client, world, database, change, field):
    body = {"name": "Tea shop", **world["credentials"], **change}
    body = {k: v for k, v in body.items() if v is not None}
    resp = client.post("/api/v1/shops/kuaishou/link", json=body, headers=bearer(world["admin"]))
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["error"]["details"]
    assert kuaishou_accounts(database) == []


def test_only_merchant_admins_start_links(client, world, database):
    resp = client.post("/api/v1/shops/kuaishou/link", json={"name": "x", **world["credentials"]},
                       headers=bearer(world["operator"]))
    assert resp.status_code == 403
    assert client.post("/api/v1/shops/kuaishou/link", json={}).status_code == 401
    assert kuaishou_accounts(database) == []


def test_a_name_in_use_is_a_conflict_but_a_pending_link_is_replaced(client, sandbox, world,
                                                                   database):
    first = start(client, world)
    again = start(client, world)  # the same name while pending: same account, new state
    assert again["account_id"] == first["account_id"]
    old = sandbox.approve(first["authorize_url"])
    assert callback(client, old).status_code == 400  # the replaced state no longer works
    assert callback(client, sandbox.approve(again["authorize_url"])).status_code == 200
    resp = client.post("/api/v1/shops/kuaishou/link", json={"name": "Tea shop",
                       **world["credentials"]}, headers=bearer(world["admin"]))
    assert resp.status_code == 409
    assert len(kuaishou_accounts(database)) == 1


# -- the callback ----------------------------------------------------------------------------
def test_callback_stores_the_grant_and_activates_the_shop(client, sandbox, world, database):
    started = start(client, world)
    before = utcnow()
    page = callback(client, sandbox.approve(started["authorize_url"]))
    assert page.status_code == 200
    body = page_text(page)
    target = f"/console/shops/{started['account_id']}?linked=new"
    assert f'http-equiv="refresh" content="0;url={target}"' in body and f'href="{target}"' in body
    shop = account(database, started["account_id"])
    assert shop.status == "active" and shop.status_reason is None
    assert shop.external_id == world["shop"]["openId"] == shop.config["open_id"]
    cfg = shop.config
    assert cfg["access_token"] and cfg["refresh_token"] and "link" not in cfg
    access_until = linking.utcnow().fromisoformat(cfg["access_token_expires_at"])
    refresh_until = linking.utcnow().fromisoformat(cfg["refresh_token_expires_at"])
    assert before + timedelta(hours=47) < access_until < before + timedelta(hours=49)
    assert before + timedelta(days=179) < refresh_until < before + timedelta(days=181)
    assert cfg["scopes"] == ["merchant_order", "merchant_refund", "merchant_logistics",
                             "merchant_item", "merchant_user"]
    with database.engine.connect() as conn:
        raw = conn.execute(text("SELECT config FROM accounts WHERE id = :id"),
                           {"id": shop.id}).scalar()
    assert cfg["access_token"] not in raw and cfg["refresh_token"] not in raw
    assert actions(database, shop.id) == ["account.link_started", "account.linked"]
    with database.session(readonly=True) as s:
        linked = s.scalar(select(AuditEntry).where(AuditEntry.action == "account.linked"))
        states = list(s.scalars(select(PollState).where(PollState.account_id == shop.id)))
    assert linked.actor.startswith("token:") and linked.changes["open_id"] == shop.external_id
    assert cfg["access_token"] not in str(linked.changes)
    # The backfill starts at the worker's next poll: every stream the connector offers has
    # its poll state, due now.
    offered = {st.name for st in connector_for(database, shop).streams()}
    assert {st.stream for st in states} == offered
    assert all(st.next_run_at <= utcnow() and st.cursor == {} for st in states)


def test_a_tampered_state_changes_nothing(client, sandbox, world, database, settings):
    started = start(client, world)
    query = sandbox.approve(started["authorize_url"])
    payload, stamp, sig = query["state"].split(".")
    forged = f"{payload}.{stamp}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    other_key = linking.URLSafeTimedSerializer("another-key", salt="hub.link.kuaishou")
    foreign = other_key.dumps({"m": world["merchant_id"], "a": started["account_id"], "n": "x"})
    for state in (forged, foreign, "garbage", ""):
        resp = callback(client, {**query, "state": state})
        assert resp.status_code == 400
        assert "not valid" in page_text(resp) or "Missing state" in page_text(resp)
    assert account(database, started["account_id"]).status == "linking"
    assert actions(database, started["account_id"]) == ["account.link_started"]
    # the genuine answer still completes
    assert callback(client, query).status_code == 200


def test_an_expired_state_changes_nothing(client, sandbox, world, database, monkeypatch):
    monkeypatch.setattr(linking, "clock", lambda: time.time() - linking.STATE_MAX_AGE_S - 5)
    started = start(client, world)
    monkeypatch.setattr(linking, "clock", time.time)
    resp = callback(client, sandbox.approve(started["authorize_url"]))
    assert resp.status_code == 400 and "expired" in page_text(resp)
    pending = account(database, started["account_id"])
    assert pending.status == "linking" and pending.config["link"]["nonce"]
    assert pending.config["access_token"] is None


def test_a_replayed_callback_changes_nothing(client, sandbox, world, database):
    started = start(client, world)
    query = sandbox.approve(started["authorize_url"])
    assert callback(client, query).status_code == 200
    tokens = account(database, started["account_id"]).config["access_token"]
    replay = callback(client, query)
    assert replay.status_code == 400 and "already used" in page_text(replay)
    assert account(database, started["account_id"]).config["access_token"] == tokens
    assert actions(database, started["account_id"]).count("account.linked") == 1


def test_a_refused_code_is_a_friendly_400_and_consumes_the_state(client, sandbox, world,
                                                                 database):
    started = start(client, world)
    query = sandbox.approve(started["authorize_url"])
    resp = callback(client, {**query, "code": "not-a-code"})
    assert resp.status_code == 400 and "refused" in page_text(resp)
    assert "/console/shops/link" in page_text(resp)  # a way to start again
    pending = account(database, started["account_id"])
    assert pending.status == "linking" and "code exchange failed" in pending.status_reason
    assert actions(database, pending.id)[-1] == "account.link_failed"
    assert callback(client, query).status_code == 400  # the state was single use


def test_an_expired_code_is_refused(client, sandbox, world, database):
    started = start(client, world)
    query = sandbox.approve(started["authorize_url"])
    sandbox.ctl("POST", "/clock/advance", minutes=3)  # codes live 2 minutes
    resp = callback(client, query)
    assert resp.status_code == 400 and "refused" in page_text(resp)
    assert account(database, started["account_id"]).status == "linking"


def test_an_unreachable_platform_is_a_502_page(client, sandbox, world, database, monkeypatch):
    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(lambda s: None))
    started = start(client, world, api_base_url="http://127.0.0.1:9")  # nothing listens
    resp = callback(client, sandbox.approve(started["authorize_url"]))
    assert resp.status_code == 502 and "could not be reached" in page_text(resp)
    assert account(database, started["account_id"]).status == "linking"


def test_a_declined_authorization_is_a_400(client, sandbox, world, database):
    started = start(client, world)
    state = parse_qs(urlsplit(started["authorize_url"]).query)["state"][0]
    resp = callback(client, {"state": state, "error": "access_denied"})
    assert resp.status_code == 400 and "access_denied" in page_text(resp)
    assert account(database, started["account_id"]).status == "linking"


# -- re-authorization ------------------------------------------------------------------------
def test_reauthorizing_updates_the_same_account_and_resolves_the_alert(client, sandbox, world,
                                                                      database):
    shop_id = link(client, sandbox, world)
    sandbox.ctl("POST", f"/shops/{world['shop']['sellerId']}/revoke",
                appKey=world["app"]["appKey"])
    with database.session() as s:  # what the hub does when the platform says "revoked"
        shop = s.get(Account, shop_id)
        old = dict(shop.config)
        shop.config = {**shop.config, "reauthorize_reason": "AUTHORIZATION_REVOKED"}
        shop.status, shop.status_reason = "needs_attention", "re-authorize the shop"
        raise_alert(s, shop.merchant_id, "shop_reauthorize", "account", shop.id,
                    "Re-authorize the Kuaishou shop")
    resp = client.post(f"/api/v1/shops/kuaishou/{shop_id}/reauthorize",
                       headers=bearer(world["admin"]))
    assert resp.status_code == 201
    started = resp.get_json()
    assert started["account_id"] != shop_id  # the pending link lives beside the shop
    page = callback(client, sandbox.approve(started["authorize_url"]))
    assert page.status_code == 200
    assert f"/console/shops/{shop_id}?linked=renewed" in page_text(page)
    accounts = kuaishou_accounts(database)
    assert [a.id for a in accounts] == [shop_id]  # no duplicate, the pending link removed
    shop = accounts[0]
    assert shop.status == "active" and shop.config["reauthorize_reason"] is None
    assert shop.config["access_token"] != old["access_token"]
    assert shop.config["refresh_token"] != old["refresh_token"]
    with database.session(readonly=True) as s:
        alert = s.scalar(select(Alert).where(Alert.kind == "shop_reauthorize"))
    assert alert.resolved_at is not None
    assert actions(database, shop_id)[-1] == "account.reauthorized"


def test_linking_an_already_linked_shop_updates_it(client, sandbox, world, database):
    shop_id = link(client, sandbox, world, name="Tea shop")
    before = account(database, shop_id).config["access_token"]
    started = start(client, world, name="Tea shop again")
    page = callback(client, sandbox.approve(started["authorize_url"]))
    assert page.status_code == 200 and "re-authorized" in page_text(page)
    accounts = kuaishou_accounts(database)
    assert [(a.id, a.name) for a in accounts] == [(shop_id, "Tea shop")]
    assert accounts[0].config["access_token"] != before


def test_reauthorizing_as_another_shop_changes_nothing(client, sandbox, world, database):
    shop_id = link(client, sandbox, world)
    before = account(database, shop_id).config
    other = sandbox.shop()
    started = client.post(f"/api/v1/shops/kuaishou/{shop_id}/reauthorize",
                          headers=bearer(world["admin"])).get_json()
    query = sandbox.approve(started["authorize_url"], seller_id=other["sellerId"])
    resp = callback(client, query)
    assert resp.status_code == 400 and "different shop" in page_text(resp)
    assert account(database, shop_id).config == before


def test_reauthorize_is_scoped_to_the_merchant(client, sandbox, world, database, session):
    shop_id = link(client, sandbox, world)
    stranger = f.merchant(session, "Other")
    token = f.token(session, stranger.id)
    session.commit()
    resp = client.post(f"/api/v1/shops/kuaishou/{shop_id}/reauthorize", headers=bearer(token))
    assert resp.status_code == 404
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Account)) == 1


# -- operators: existing credentials through the CLI -----------------------------------------
def test_accounts_add_registers_a_kuaishou_shop_with_existing_tokens(app, database, session):
    import json

    m = f.merchant(session)
    session.commit()
    config = {"app_key": "ks_demo_app", "app_secret": "demo-app-secret",
              "sign_secret": "demo-sign-secret", "message_key": "AAECAwQFBgcICQoLDA0ODw==",
              "sign_method": "MD5", "api_base_url": "http://127.0.0.1:8091",
              "access_token": "access-token-1", "refresh_token": "refresh-token-1",
              "access_token_expires_at": "2026-11-03T00:00:00+00:00",
              "refresh_token_expires_at": "2027-05-01T00:00:00+00:00",
              "open_id": "open-1", "scopes": ["merchant_order", "merchant_refund"]}
    result = app.test_cli_runner().invoke(args=[
        "accounts", "add", KS, "--merchant", str(m.id), "--name", "Demo shop",
        "--config", json.dumps(config), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["webhook_url"].endswith(f"/webhooks/kuaishou/{out['id']}")
    assert "demo-app-secret" not in result.output and "access-token-1" not in result.output
    shop = account(database, out["id"])
    assert shop.status == "active" and shop.kind == "platform"
    assert {k: shop.config[k] for k in config} == config
    bad = app.test_cli_runner().invoke(args=[
        "accounts", "add", KS, "--merchant", str(m.id), "--name", "Broken",
        "--config", json.dumps({"app_key": "k"}), "--json"])
    assert bad.exit_code != 0 and "app_secret" in bad.stdout
