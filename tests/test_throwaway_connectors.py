"""Connectors plug in without edits to ``hub/`` or ``jobs/``: a throw-away platform that links
by OAuth and a throw-away courier (``tests/plugins/throwaway/``, written only against
``connectors.base``) are built and installed for real (``pip install --target``) and found
through the ``hub.connectors`` entry points. Against the real app (Flask test client) and
the real jobs (``jobs.poll``, ``jobs.process_inbox``, ``jobs.deliver_outbox``), with their
remotes faked by ``responses``, the shop links by OAuth (API and console), is polled,
takes webhooks and gets pushes (a shipment, a refund decision); the courier gets the
parcel's subscription in its own shape and calls back with tracking.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlalchemy import select

from connectors import registry
from hub.models import Account, OutboxMessage, Shipment, SkuMapping, Supplier
from jobs import deliver_outbox, poll, process_inbox, refresh_tokens
from tests import factories as f
from tests.console_helpers import CSRF, sign_in
from tests.factories import bearer
from tests.plugin_helpers import on_path, pip_install

PLUGINS = Path(__file__).resolve().parent / "plugins"
MODULES = ("throwaway_shop", "throwaway_courier")
SHOP, COURIER = "throwaway_shop", "throwaway_courier"
SHOP_URL, COURIER_URL = "https://shop.throwaway.test", "https://courier.throwaway.test"
WEBHOOK_SECRET, COURIER_TOKEN = "shop-webhook-secret", "courier-token"
CREDENTIALS = {"client_id": "cid-1", "client_secret": "csecret-1", "base_url": SHOP_URL,
               "webhook_secret": WEBHOOK_SECRET}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    src = tmp_path_factory.mktemp("throwaway_src")
    for path in [*(PLUGINS / "throwaway").iterdir(), PLUGINS / "tinybuild.py"]:
        if path.is_file():
            shutil.copy(path, src / path.name)
    return pip_install(src, tmp_path_factory.mktemp("throwaway_site"))


@pytest.fixture
def installed(plugin_site):
    with on_path(plugin_site, MODULES):
        yield plugin_site


class Remotes:
    """The platform's and the courier's servers: what they were sent, what they answer."""

    def __init__(self, rsps):
        self.sent: dict[str, list] = defaultdict(list)
        self.orders: list[dict] = []
        rsps.add_callback("POST", f"{SHOP_URL}/token", self._token)
        rsps.add_callback("GET", f"{SHOP_URL}/orders", self._orders)
        rsps.add_callback("POST", re.compile(re.escape(SHOP_URL) + r"/(shipments|after-sales/.+)"),
                          self._record)
        rsps.add_callback("POST", f"{COURIER_URL}/subscriptions", self._record)

    def _token(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        self.sent["/token"].append(form)
        if form.get("code") != "GOOD-CODE" or form.get("client_secret") != "csecret-1":
            return 400, {}, json.dumps({"error": "invalid_grant"})
        return 200, {}, json.dumps({"access_token": "AT-1", "refresh_token": "RT-1",
                                    "expires_in": 7200, "shop_id": "SHOP-77"})

    def _orders(self, request):
        assert request.headers["Authorization"] == "Bearer AT-1"
        return 200, {}, json.dumps({"orders": self.orders})

    def _record(self, request):
        url = urlsplit(request.url)
        self.sent[url.path].append({"body": json.loads(request.body),
                                    "key": request.headers.get("Idempotency-Key")})
        return 200, {}, json.dumps({"id": f"R{len(self.sent[url.path])}"})


@pytest.fixture
def remotes():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield Remotes(rsps)


def order(pid: str, sku: str) -> dict:
    return {"id": pid, "status": "paid", "updated_at": "2026-11-01T08:00:00+00:00",
            "currency": "CNY", "total_minor": 1990, "paid_minor": 1990,
            "buyer": {"name_masked": "张*", "phone_masked": "138****5678"},
            "lines": [{"id": "L1", "sku": sku, "quantity": 1, "unit_price_minor": 1990}]}


def signed(secret: str, body: dict) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    return raw, {"x-throwaway-signature": hmac.new(secret.encode(), raw,
                                                   hashlib.sha256).hexdigest()}


def run_jobs(app) -> None:
    """Until nothing is left: process the inbox, deliver the outbox."""
    for _ in range(5):
        if not (process_inbox.run(app, "w1") + deliver_outbox.run(app, "w1")):
            return


@pytest.fixture
def world(session):
    m = f.merchant(session)
    supplier = Supplier(merchant_id=m.id, code="SUP", name="Supplier")
    session.add(supplier)
    session.flush()
    session.add(SkuMapping(merchant_id=m.id, sku="SKU-1", supplier_id=supplier.id))
    ids = {"merchant": m.id, "admin": f.token(session, m.id),
           "supplier": f.token(session, m.id, "supplier", supplier.id),
           "admin_login": f.user(session, m.id)}
    session.commit()
    return ids


def link_shop(client, world, settings, path=f"/api/v1/shops/{SHOP}/link") -> int:
    """Start a link (or a re-authorization) and come back with the platform's code."""
    body = {"name": "Plugin shop", **CREDENTIALS} if path.endswith("/link") else None
    resp = client.post(path, json=body, headers=bearer(world["admin"]))
    assert resp.status_code == 201, resp.get_json()
    started = resp.get_json()
    callback = f"{settings.public_url}/oauth/{SHOP}/callback"
    url = urlsplit(started["authorize_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{SHOP_URL}/authorize"
    assert query["redirect_uri"] == started["redirect_uri"] == callback
    # the merchant approves on the platform, which sends the browser back to the hub
    page = client.get(urlsplit(callback).path, headers={"Accept-Language": "en"},
                      query_string={"code": "GOOD-CODE", "state": query["state"]})
    assert page.status_code == 200, page.get_data(as_text=True)
    return page.get_data(as_text=True)


def test_a_plugin_shop_and_courier_link_poll_take_webhooks_and_pushes(
        installed, app, client, database, settings, world, remotes):
    # -- linking by OAuth ---------------------------------------------------------------------
    assert "Shop linked" in link_shop(client, world, settings)
    assert remotes.sent["/token"][0]["redirect_uri"].endswith(f"/oauth/{SHOP}/callback")
    with database.session(readonly=True) as s:
        shop = s.scalar(select(Account).where(Account.connector == SHOP))
        shop_id = shop.id
        assert (shop.status, shop.kind, shop.external_id) == ("active", "platform", "SHOP-77")
        assert shop.config["access_token"] == "AT-1" and shop.config["client_id"] == "cid-1"
    sync = client.get(f"/api/v1/accounts/{shop_id}/sync", headers=bearer(world["admin"]))
    assert sync.get_json()["authorization"] == "ok"  # the authorization_status capability
    assert refresh_tokens.due_accounts(database) == [shop_id]  # the oauth capability
    assert refresh_tokens.check_account(database, shop_id) == "ok"
    # re-authorizing renews that account (same shop id from the platform), adding none
    page = link_shop(client, world, settings, f"/api/v1/shops/{SHOP}/{shop_id}/reauthorize")
    assert f"/console/shops/{shop_id}?linked=renewed" in page
    with database.session(readonly=True) as s:
        assert list(s.scalars(select(Account.id).where(Account.connector == SHOP))) == [shop_id]

    # -- the courier ----------------------------------------------------------------------
    resp = client.post("/api/v1/accounts", headers=bearer(world["admin"]), json={
        "connector": COURIER, "name": "Plugin courier",
        "config": {"api_url": COURIER_URL, "api_key": "k-1", "webhook_token": COURIER_TOKEN}})
    assert resp.status_code == 201, resp.get_json()
    courier_id = resp.get_json()["id"]

    # -- polling: the link created the shop's poll state, due now --------------------------
    remotes.orders = [order("TS-1", "SKU-1"), order("TS-2", "SKU-UNMAPPED")]
    assert poll.run(app, "w1") == 1
    run_jobs(app)
    orders = client.get("/api/v1/orders", headers=bearer(world["admin"])).get_json()["data"]
    assert sorted(o["platform_order_id"] for o in orders) == ["TS-1", "TS-2"]

    # -- the supplier ships TS-1: the courier subscribes it, the platform gets the shipment --
    supplier = bearer(world["supplier"])
    [fulfilment] = client.get("/api/v1/supplier/fulfilments", headers=supplier).get_json()["data"]
    assert client.post(f"/api/v1/supplier/fulfilments/{fulfilment['id']}/accept",
                       json={"supplier_reference": "SR-1"}, headers=supplier).status_code == 200
    resp = client.post(f"/api/v1/supplier/fulfilments/{fulfilment['id']}/tracking",
                       json={"carrier": "yto", "tracking_number": "YT9001002003004"}, headers=supplier)
    assert resp.status_code in (200, 201), resp.get_json()
    run_jobs(app)
    [subscription] = remotes.sent["/subscriptions"]
    assert subscription["body"]["waybill"] == "YT9001002003004"          # the courier's own shape
    assert subscription["body"]["carrier_code"] == "YTO"
    assert subscription["body"]["callback_url"].endswith(f"/webhooks/{COURIER}/{courier_id}")
    [shipped] = remotes.sent["/shipments"]
    assert shipped["body"] == {"order_id": "TS-1", "carrier": "yto",
                               "tracking_number": "YT9001002003004"} and shipped["key"]
    with database.session(readonly=True) as s:
        shipment = s.scalar(select(Shipment).where(Shipment.tracking_number == "YT9001002003004"))
        assert (shipment.subscription_status, shipment.tracking_account_id) == \
            ("subscribed", courier_id)

    # -- the courier calls back with tracking ----------------------------------------------
    tracking = {"event_id": "trk-1", "waybill": "YT9001002003004", "carrier_code": "YTO", "events": [
        {"occurred_at": "2026-11-02T08:00:00+00:00", "status": "in_transit",
         "description": "已揽收"},
        {"occurred_at": "2026-11-03T09:00:00+00:00", "status": "delivered",
         "description": "已签收"}]}
    url = f"/webhooks/{COURIER}/{courier_id}"
    assert client.post(url, data=json.dumps(tracking),
                       headers={"x-token": "wrong"}).status_code == 401
    assert client.post(url, data=json.dumps(tracking),
                       headers={"x-token": COURIER_TOKEN}).status_code == 200
    run_jobs(app)
    with database.session(readonly=True) as s:
        assert s.get(Shipment, shipment.id).status == "delivered"

    # -- a webhook from the shop: a refund request for TS-2, approved, pushed back ----------
    refund = {"id": "RT-9", "order_id": "TS-2", "kind": "refund_only", "status": "requested",
              "updated_at": "2026-11-02T09:00:00+00:00", "refund_minor": 1990}
    body, headers = signed(WEBHOOK_SECRET, {"id": "evt-1", "type": "return.updated",
                                            "data": refund})
    url = f"/webhooks/{SHOP}/{shop_id}"
    assert client.post(url, data=body, headers={**headers, "x-throwaway-signature": "00"}) \
        .status_code == 401
    assert client.post(url, data=body, headers=headers).status_code == 200
    run_jobs(app)
    returns = client.get("/api/v1/returns", headers=bearer(world["admin"])).get_json()["data"]
    [case] = [r for r in returns if r["platform_return_id"] == "RT-9"]
    resp = client.post(f"/api/v1/returns/{case['id']}/approve", json={},
                       headers=bearer(world["admin"]))
    assert resp.status_code == 202, resp.get_json()
    run_jobs(app)
    [decision] = remotes.sent["/after-sales/RT-9/decision"]
    assert decision["body"] == {"verdict": "approve", "amount_minor": 1990, "address": None,
                                "note": None}
    with database.session(readonly=True) as s:
        statuses = {m.topic: m.status for m in s.scalars(select(OutboxMessage))}
    assert statuses == {"subscribe": "sent", "shipment": "sent", "refund_approve": "sent"}


def test_the_plugin_shop_is_linked_from_the_console_and_documented(installed, app, client,
                                                                  world, remotes):
    assert sign_in(client, world["admin_login"]).status_code == 303
    shops = client.get("/console/shops").get_data(as_text=True)
    assert f'href="/console/shops/link/{SHOP}">Link a Throw-away shop</a>' in shops
    form = client.get(f"/console/shops/link/{SHOP}").get_data(as_text=True)
    for name in ("name", "client_id", "client_secret", "base_url", "webhook_secret"):
        assert f'id="f-{name}"' in form
    assert 'type="password"' in form and 'value="orders"' in form  # secret; scope choices
    csrf = CSRF.search(form).group(1)
    resp = client.post(f"/console/shops/link/{SHOP}", data={
        "name": "Console shop", "scopes": ["orders"], "csrf_token": csrf, **CREDENTIALS})
    assert resp.status_code == 303 and resp.headers["Location"].startswith(SHOP_URL)
    spec = client.get("/openapi.json").get_json()
    body = spec["paths"][f"/api/v1/shops/{SHOP}/link"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith(
        "ThrowawayShopLinkIn")
    assert f"/api/v1/shops/{SHOP}/{{account_id}}/reauthorize" in spec["paths"]


def test_a_state_completes_only_at_its_own_connectors_callback(installed, app, client,
                                                               world, settings, remotes):
    started = client.post(f"/api/v1/shops/{SHOP}/link", json={"name": "S", **CREDENTIALS},
                          headers=bearer(world["admin"])).get_json()
    state = parse_qs(urlsplit(started["authorize_url"]).query)["state"][0]
    other = next(n for n, c in registry.all().items()
                 if "oauth_link" in c.capabilities and n != SHOP)
    wrong = client.get(f"/oauth/{other}/callback", query_string={"code": "GOOD-CODE",
                                                                 "state": state})
    assert wrong.status_code == 400 and "not valid" in wrong.get_data(as_text=True)
    assert client.get(f"/oauth/{COURIER}/callback", query_string={
        "code": "GOOD-CODE", "state": state}).status_code == 404  # a courier does not link
    assert client.get(f"/oauth/{SHOP}/callback", query_string={
        "code": "GOOD-CODE", "state": state}).status_code == 200
    assert remotes.sent["/token"] and len(remotes.sent["/token"]) == 1
