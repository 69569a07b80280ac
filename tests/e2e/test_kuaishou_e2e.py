"""Kuaishou end to end, over real HTTP: the sandbox platform and a hub server, both real
servers on loopback, the hub's jobs run in-process one batch at a time.

Each test links a sandbox shop the operator's way (``hub accounts add kuaishou`` with
tokens the sandbox's console issued, ``api_base_url`` = the sandbox) and points the
sandbox app's push URL at the hub's ``/webhooks/kuaishou/<account_id>``. Waits are
bounded polls of an observable condition (an inbox row, a sandbox push's state); nothing
asserts on elapsed time. Runs on SQLite and, with ``HUB_TEST_DATABASE_URL``, PostgreSQL.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select

from connectors.kuaishou import client as ks_client
from connectors.kuaishou import oauth as ks_oauth
from connectors.kuaishou.crypto import encrypt_message
from hub.domain.pushes import platform_actions
from hub.parties.accounts import save_config
from hub.models import Account, Fulfilment, PollState, QuarantinedRequest, ReturnCase, Shipment
from jobs import refresh_tokens
from tests import factories as f
from tests.e2e.kuaishou_world import (  # noqa: F401 (fixtures)
    HOUR_MS, OWNER, Shop, _await_events, _order_id, _paid_order, _ship, _fresh_tokens, hub_url,
    iso_in, platform, shop,
)
from tests.sandbox.ks_helpers import wait_for

pytestmark = pytest.mark.slow


# -- message push ------------------------------------------------------------------------------
def test_pushed_order_is_acknowledged_stored_fetched_and_listed(shop):
    shop.enable_push()
    assert shop.inbox() == []  # the heartbeat was acknowledged and stored nothing
    oid = _paid_order(shop, item={"skuNick": "CUP-1", "price": 2990, "num": 2}, expressFee=500)
    held = _paid_order(shop, disableDeliveryReasonCode=[2], riskCode=10001)

    events = _await_events(shop, 4, source="webhook")  # addOrder + paySuccess, twice
    assert {e.event_type for e in events} == {"kwaishop_order_addOrder",
                                              "kwaishop_order_paySuccess"}
    delivered = wait_for(lambda: (lambda p: p if len(p) == 4 else None)(
        shop.pushes(kind="event", state="delivered")))
    for push in delivered:  # each acknowledged at once with exactly {"result":1}
        assert [(a["httpStatus"], json.loads(a["response"])) for a in push["attempts"]] == \
            [(200, {"result": 1})]
    assert {e.external_event_id for e in events} == {p["eventId"] for p in delivered}

    assert shop.process() == 4
    assert {e.status for e in shop.inbox()} == {"processed"}
    assert len(shop.calls("open.order.detail")) == 4  # each push fetched the full order

    row = shop.order_row(oid)
    assert (row["status"], row["raw_status"]) == ("paid", "30")
    assert (row["total_minor"], row["shipping_fee_minor"], row["currency"]) == (6480, 500, "CNY")
    assert [(line["sku"], line["quantity"], line["unit_price_minor"]) for line in row["lines"]] \
        == [("CUP-1", 2, 2990)]
    assert row["buyer"]["name"] == "张*" and row["buyer"]["phone"] == "138****5678"
    assert "13812345678" not in json.dumps(row, ensure_ascii=False)
    assert row["do_not_ship"] is False
    risky = shop.order_row(held)
    assert risky["do_not_ship"] is True
    assert set(risky["do_not_ship_reasons"]) == {"risk_review", "fraud_risk"}

    # the platform pushes the same message again: acknowledged, nothing changes
    first = delivered[0]
    shop.platform.ctl("POST", f"/pushes/{first['id']}/repush", 200)
    wait_for(lambda: len(shop.pushes(event=first["event"], bizId=first["bizId"])[0]
                         ["attempts"]) == 2 or None)
    again = next(p for p in shop.pushes() if p["id"] == first["id"])["attempts"][-1]
    assert (again["httpStatus"], json.loads(again["response"])) == (200, {"result": 1})
    assert len(shop.inbox()) == 4 and shop.process() == 0


def test_undecryptable_push_is_quarantined_and_never_processed(shop):
    shop.enable_push()
    foreign = encrypt_message({"eventId": "x1", "event": "kwaishop_order_addOrder",
                               "info": "{\"oid\":1}"}, "AQECAwQFBgcICQoLDA0ODw==")
    for body in (foreign, "definitely not a message", ""):
        resp = requests.post(shop.push_url, data=body.encode(), timeout=10,
                             headers={"Content-Type": "text/plain;charset=utf-8"})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == "unparseable"
    # the platform's own push under a message key the hub does not have
    shop.platform.ctl("PATCH", f"/apps/{shop.platform.app_key}", 200,
                      messageKey="AgECAwQFBgcICQoLDA0ODw==")
    _paid_order(shop, push=True)
    failed = wait_for(lambda: [a for p in shop.pushes(kind="event") for a in p["attempts"]
                               if a["httpStatus"] == 400] or None)
    assert failed
    with shop.db.session(readonly=True) as s:
        quarantined = list(s.scalars(select(QuarantinedRequest).where(
            QuarantinedRequest.account_id == shop.account_id)))
    assert len(quarantined) >= 4 and {q.reason for q in quarantined} == {"unparseable"}
    assert shop.inbox() == [] and shop.process() == 0


# -- polling -----------------------------------------------------------------------------------
def test_backfill_polls_orders_and_refunds_created_before_linking(app, database, platform,
                                                                  hub_url):
    shop = Shop(app, database, platform, hub_url)
    now = platform.now_ms()
    oids = [platform.order(paid=True, createTime=now - hours * HOUR_MS)["oid"]
            for hours in (40, 26, 20, 3)]  # two days: two order windows, four refund windows
    refund = platform.ctl("POST", f"/orders/{oids[2]}/refunds", 201, handlingWay=10,
                          createTime=now - 19 * HOUR_MS)["refundId"]
    shop.link()

    assert shop.poll_now() == 2  # both streams, one run each
    lists = shop.calls("open.order.cursor.list")
    refund_lists = shop.calls("open.seller.order.refund.pcursor.list")
    # the sandbox refuses windows longer than the account's (1 day / 12 h): none was
    assert [c["result"] for c in lists] == [1, 1]
    assert [c["result"] for c in refund_lists] == [1, 1, 1, 1]
    with database.session(readonly=True) as s:
        states = {p.stream: p for p in s.scalars(select(PollState).where(
            PollState.account_id == shop.account_id))}
    for state in states.values():
        progress = state.progress
        assert progress["done"] is True and progress["percent"] == 100.0
        span = (datetime.fromisoformat(progress["backfill_to"])
                - datetime.fromisoformat(progress["backfill_from"]))
        assert span == timedelta(days=2)
        assert state.last_error is None and state.cursor["since_ms"] > now
    assert len(shop.inbox(source="poll")) == 5

    assert shop.process() == 5
    assert shop.calls("open.order.detail") == []  # the list carried the whole order
    assert len(shop.calls("open.seller.order.refund.detail")) == 1  # refunds: then the detail
    orders = shop.api("/orders")["data"]
    assert sorted(int(o["platform_order_id"]) for o in orders) == sorted(oids)
    assert {o["status"] for o in orders} == {"paid"}
    cases = shop.api("/returns")["data"]
    assert [(c["platform_return_id"], c["kind"], c["status"], c["refund_minor"])
            for c in cases] == [(str(refund), "refund_only", "requested", 9900)]
    assert cases[0]["order_id"] == _order_id(shop, oids[2])

    # pushes lost on purpose: polling still picks the order up
    shop.enable_push()
    shop.platform.ctl("PUT", f"/apps/{shop.platform.app_key}/misbehaviour", 200, dropRate=1.0)
    lost = _paid_order(shop)
    wait_for(lambda: shop.pushes(kind="event", state="dropped") or None)
    assert shop.inbox(source="webhook") == []
    assert shop.poll_now() == 2
    assert shop.process() >= 1
    assert shop.order_row(lost)["status"] == "paid"


# -- pushing back ------------------------------------------------------------------------------
def test_shipment_reaches_the_platform_with_its_express_code(shop):
    shop.enable_push()
    oid = _paid_order(shop)
    _await_events(shop, 2)
    shop.process()
    shipment_id = _ship(shop, oid, "SF1234567890123")
    message_id = shop.enqueue(lambda s: platform_actions.push_shipment(s, s.get(Shipment,
                                                                            shipment_id)))
    assert shop.deliver() == 1
    sent = shop.message(message_id)
    assert sent.status == "sent" and sent.result["data"]["outcome"] == "done"
    deliveries = shop.platform.ctl("GET", "/deliveries", oid=oid)
    assert [(d["kind"], d["expressCode"], d["expressNo"]) for d in deliveries] == \
        [("deliver", 4, "SF1234567890123")]

    _await_events(shop, 3)  # kwaishop_order_delivering
    shop.process()
    assert shop.order_row(oid)["status"] == "shipped"

    # the same shipment sent again (e.g. a replay): the re-read shows it, nothing is written
    from hub.pipeline.outbox import enqueue
    with shop.db.session() as s:
        again = enqueue(s, s.get(Account, shop.account_id), "shipment", "shipment",
                        shipment_id, dict(sent.payload), "sent-again").id
    assert shop.deliver() == 1
    assert shop.message(again).result["data"]["outcome"] == "already_done"
    assert len(shop.platform.ctl("GET", "/deliveries", oid=oid)) == 1


def test_refused_tracking_alerts_the_merchant_and_the_supplier(shop):
    shop.enable_push()
    oid = _paid_order(shop, disableDeliveryReasonCode=[2])
    _await_events(shop, 2)
    shop.process()
    with shop.db.session() as s:
        supplier = f.supplier(s, shop.merchant_id)
        fulfilment = Fulfilment(merchant_id=shop.merchant_id, order_id=_order_id(shop, oid),
                                supplier_id=supplier.id)
        s.add(fulfilment)
        s.flush()
        supplier_id, fulfilment_id = supplier.id, fulfilment.id
        supplier_token = f.token(s, shop.merchant_id, "supplier", supplier_id)
    shipment_id = _ship(shop, oid, "SF1234567890124", fulfilment_id=fulfilment_id)
    message_id = shop.enqueue(lambda s: platform_actions.push_shipment(s, s.get(Shipment,
                                                                            shipment_id)))
    shop.deliver()
    dead = shop.message(message_id)
    assert (dead.status, dead.last_error_class) == ("dead", "fail_data")
    assert "disableDeliveryReasonCode" in dead.last_error  # the platform's reason is kept
    refused = [a for a in shop.platform.ctl("GET", "/actions", oid=oid) if not a["ok"]]
    assert [a["result"] for a in refused] == [11]
    [alert] = shop.alerts("platform_rejected_tracking")
    assert (alert.entity, alert.entity_id, alert.supplier_id) == ("shipment", shipment_id,
                                                                  supplier_id)
    assert "SF1234567890124" in alert.message and "disableDeliveryReasonCode" in alert.message
    seen = requests.get(f"{shop.hub_url}/api/v1/alerts", headers=f.bearer(supplier_token),
                        params={"kind": "platform_rejected_tracking"}, timeout=10).json()
    assert [a["id"] for a in seen["data"]] == [alert.id]


def test_refund_reject_uses_the_current_version_and_retries_after_a_change(shop, monkeypatch):
    shop.enable_push()
    oid = _paid_order(shop)
    refund_id = shop.platform.ctl("POST", f"/orders/{oid}/refunds", 201,
                                  handlingWay=10)["refundId"]
    _await_events(shop, 3)
    shop.process()
    [case] = shop.api("/returns")["data"]
    assert (case["platform_return_id"], case["kind"], case["status"]) == \
        (str(refund_id), "refund_only", "requested")

    # the buyer edits the refund right after the hub read it, once: the write meets 300014
    original, versions = ks_client.KuaishouClient.fetch_refund, []

    def read_then_buyer_edits(self, rid):
        data = original(self, rid)
        if not versions:
            edited = shop.platform.ctl("PATCH", f"/refunds/{rid}", 200,
                                       expireTime=data["expireTime"] + 3_600_000)
            versions.append(edited["updateTime"])
        return data

    monkeypatch.setattr(ks_client.KuaishouClient, "fetch_refund", read_then_buyer_edits)
    message_id = shop.enqueue(lambda s: platform_actions.reject_refund(
        s, s.get(ReturnCase, case["id"]), 3, "与买家协商退款50元"))
    shop.deliver()
    assert shop.message(message_id).status == "sent"
    assert [c["result"] for c in shop.calls("open.refund.reject")] == [300014, 1]
    [decision] = shop.platform.ctl("GET", "/refund-decisions", refundId=refund_id)
    assert decision["decision"] == "reject" and decision["reasonCode"] == 3
    assert decision["param"]["refundVersion"] == versions[0]  # the version after the edit

    _await_events(shop, 5)  # updateRefund after the edit and after the rejection
    shop.process()
    assert shop.api("/returns")["data"][0]["status"] == "rejected"


def test_approved_refund_is_refunded_and_closes_the_order(shop):
    shop.enable_push()
    oid = _paid_order(shop)
    shop.platform.ctl("POST", f"/orders/{oid}/refunds", 201, handlingWay=10)
    _await_events(shop, 3)
    shop.process()
    [case] = shop.api("/returns")["data"]
    message_id = shop.enqueue(lambda s: platform_actions.approve_refund(
        s, s.get(ReturnCase, case["id"])))
    shop.deliver()
    assert shop.message(message_id).result["data"]["outcome"] == "done"
    [decision] = shop.platform.ctl("GET", "/refund-decisions", refundId=int(
        case["platform_return_id"]))
    assert (decision["decision"], decision["refundAmount"]) == ("approve", 9900)
    _await_events(shop, 5)  # updateRefund (60) and orderFail (a full refund closes it)
    shop.process()
    assert shop.api("/returns")["data"][0]["status"] == "refunded"
    assert shop.order_row(oid)["status"] == "cancelled"


# -- token lifecycle ---------------------------------------------------------------------------
def test_revoked_authorization_flags_the_shop_and_stops_syncing(shop):
    assert shop.poll_now() == 2
    shop.platform.ctl("POST", f"/shops/{shop.platform.seller_id}/revoke", 200,
                      appKey=shop.platform.app_key)
    shop.poll_now()
    account = shop.account()
    assert account.status == "needs_attention"
    assert "AUTHORIZATION_REVOKED" in account.config["reauthorize_reason"]
    refresh_tokens.run(shop.app, OWNER)
    [alert] = shop.alerts("shop_reauthorize")
    assert alert.resolved_at is None and alert.severity == "critical"
    assert "re-authorize" in alert.message

    calls = len(shop.platform.ctl("GET", "/calls"))
    assert shop.poll_now() == 0  # not polled any more
    with shop.db.session() as s:  # a push for the shop fails at once, without a call
        order = f.order(s, shop.merchant_id, shop.account_id)
        order.platform_order_id = "2600000000000001"
        shipment = f.shipment(s, shop.merchant_id, order.id, tracking="SF1234567890125")
        shipment_id = shipment.id
    message_id = shop.enqueue(lambda s: platform_actions.push_shipment(s, s.get(Shipment,
                                                                            shipment_id)))
    shop.deliver()
    assert shop.message(message_id).last_error_class == "fail_config"
    assert len(shop.platform.ctl("GET", "/calls")) == calls

    # the merchant authorizes again; the linking callback stores the grant, sets active
    grant = shop.platform.ctl("POST", f"/shops/{shop.platform.seller_id}/authorize", 200,
                              appKey=shop.platform.app_key)
    save_config(shop.db, shop.account_id, {
        "access_token": grant["access_token"], "refresh_token": grant["refresh_token"],
        "access_token_expires_at": iso_in(grant["expires_in"]), "reauthorize_reason": None})
    with shop.db.session() as s:
        s.get(Account, shop.account_id).status = "active"
    ks_oauth.reset_process_state()
    refresh_tokens.run(shop.app, OWNER)
    assert shop.alerts("shop_reauthorize")[0].resolved_at is not None
    assert shop.poll_now() == 2 and shop.account().status == "active"
    assert len(shop.platform.ctl("GET", "/calls")) > calls


def test_token_refresh_rotates_and_persists(shop):
    before = dict(shop.account().config)
    save_config(shop.db, shop.account_id, {"access_token_expires_at": iso_in(600)})
    refresh_tokens.run(shop.app, OWNER)  # within the 1-hour margin: refreshed
    after = dict(shop.account().config)
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    expires = datetime.fromisoformat(after["access_token_expires_at"])
    assert expires - datetime.now(timezone.utc) > timedelta(hours=47)
    # the 180-day limit is inherited, never extended
    assert after["refresh_token_expires_at"] <= before["refresh_token_expires_at"]
    assert not shop.alerts("shop_reauthorize")

    refresh_tokens.run(shop.app, OWNER)  # fresh now: nothing to do
    assert dict(shop.account().config)["refresh_token"] == after["refresh_token"]
    ks_oauth.reset_process_state()
    assert shop.poll_now() == 2  # the new token works
    assert {c["result"] for c in shop.platform.ctl("GET", "/calls")} == {1}
