"""Suppliers end to end over real HTTP: the hub served by werkzeug in a thread, a shop
(signed generic_shop webhooks in, pushes out to a recording receiver) and the sandbox
supplier, which verifies the hub's webhooks and answers through the supplier API with its
token. The hub's jobs run in this process, pumped until a condition holds or a bounded
wait runs out (no timing is asserted); all but ``poll``: the shop here sends webhooks and
its stand-in answers no poll requests.

* an order paid at the shop is allocated; its dispatch webhook reaches the supplier,
  which accepts it and later hands back tracking (pushed on to the shop);
* a refund before shipping: the stop-ship request is accepted, the fulfilment cancelled
  and the refund approved at the shop;
* a refund after the parcel left (the supplier had not reported it yet): the stop-ship is
  rejected with the tracking, which the hub registers;
* a return of a delivered order: the return notice leads to a receipt with a photo.
"""
from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
import requests
from sqlalchemy import select

from hub.models import (AuditEntry, Fulfilment, Inspection, Order, OutboxMessage, ReturnCase,
                        Shipment, Supplier)
from hub.domain.returns.inspection import photo_path
from jobs.registry import default_jobs
from sandbox.supplier import serve
from tests import factories as f
from tests.http_receiver import Receiver
from tests.webhook_helpers import envelope, live_server, order_data, signed

pytestmark = pytest.mark.slow

WAIT_S = 30


@pytest.fixture
def world(app, database, settings):
    with ExitStack() as stack:
        shop_api = stack.enter_context(Receiver(status=201))
        hub_url = stack.enter_context(live_server(app))
        with database.session() as s:
            m = f.merchant(s, "E2E")
            shop = f.pushing_shop(s, m.id, shop_api.url)
            sup = f.supplier(s, m.id, "SBX")
            f.sku_mapping(s, m.id, sup.id, "SKU-1")
            token = f.token(s, m.id, "supplier", sup.id)
            ids = {"merchant": m.id, "shop": shop.id, "supplier": sup.id}
        server, supplier_url = serve(port=0, hub_url=hub_url, token=token, secrets=[f.WHSEC],
                                     ship_delay_s=0.2, return_mode="on_notice")
        stack.callback(server.stop)
        with database.session() as s:
            f.supplier_channel(s, s.get(Supplier, ids["supplier"]),
                               endpoint_url=f"{supplier_url}/webhook")
        yield {**ids, "app": app, "db": database, "hub": hub_url, "shop_api": shop_api,
               "supplier": supplier_url, "state": server.supplier, "token": token,
               "var_dir": settings.var_dir}


def shop_sends(w, event_type, data, event_id):
    body = envelope(event_type, data)
    resp = requests.post(f"{w['hub']}/webhooks/generic_shop/{w['shop']}", data=body,
                         headers=signed(body, msg_id=event_id), timeout=10)
    assert resp.status_code == 200, resp.text


def pump(w, until, what: str):
    """Run the hub's jobs once per round until ``until()`` is truthy (bounded)."""
    jobs = [job for job in default_jobs() if job.name != "poll"]
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for job in jobs:
            with w["app"].app_context():
                job.run(w["app"], "e2e-worker")
        found = until()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"gave up after {WAIT_S}s waiting for {what}; supplier saw "
                f"{w['state'].snapshot('received')} and did {w['state'].snapshot('actions')}")


def fulfilment_of(w, platform_order_id, status=None):
    with w["db"].session(readonly=True) as s:
        row = s.scalar(select(Fulfilment).join(Order, Order.id == Fulfilment.order_id).where(
            Order.platform_order_id == platform_order_id))
        return row if row is not None and (status is None or row.status == status) else None


def sandbox(w, what, **params):
    """The supplier's records, once it has finished what it was doing (its own record of
    an answer is written after the hub's reply, which may come after the hub committed)."""
    idle = requests.post(f"{w['supplier']}/_sandbox/flush", json={"timeout": WAIT_S},
                         timeout=WAIT_S + 5).json()["idle"]
    assert idle, "the sandbox supplier did not settle"
    return requests.get(f"{w['supplier']}/_sandbox/{what}", params=params,
                        timeout=10).json()["data"]


def actor(w):
    from hub.parties.auth import hash_token
    from hub.models import ApiToken

    with w["db"].session(readonly=True) as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(w["token"])))
        return f"token:{row.id}:supplier"


def refund(order_id, return_id, kind="refund_only", status="requested",
           updated_at="2026-11-01T17:00:00+08:00"):
    return {"id": return_id, "order_id": order_id, "kind": kind, "status": status,
            "updated_at": updated_at, "refund_minor": 1990, "reason_text": "不想要了",
            "lines": [{"sku": "SKU-1", "quantity": 1}]}


def test_dispatch_accept_and_tracking(world):
    w = world
    shop_sends(w, "order.updated", order_data("GS-1"), "evt-order-1")
    shipped = pump(w, lambda: fulfilment_of(w, "GS-1", "shipped"), "GS-1 to be shipped")
    [received] = sandbox(w, "received", type="order_dispatch")
    assert received["verified"] is True and received["data"]["fulfilment_id"] == shipped.id
    assert received["data"]["order"]["platform_order_id"] == "GS-1"
    assert shipped.accepted_at is not None and shipped.supplier_reference == f"SBX-{shipped.id}"
    [order] = sandbox(w, "orders")
    with w["db"].session(readonly=True) as s:
        parcel = s.scalar(select(Shipment).where(Shipment.fulfilment_id == shipped.id))
        assert parcel.tracking_number == order["tracking_number"] and parcel.carrier == "sf"
        entries = {a.action: a.actor for a in s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "fulfilment", AuditEntry.entity_id == shipped.id))}
    assert entries["fulfilment.accepted"] == actor(w)
    assert entries["fulfilment.tracking_submitted"] == actor(w)
    # the shop hears of the shipment; the supplier acknowledged the dispatch notice
    pump(w, lambda: any(r["path"] == "/hub/shipments" for r in w["shop_api"].requests),
         "the shipment push to the shop")
    pushed = [r for r in w["shop_api"].requests if r["path"] == "/hub/shipments"][0]["body"]
    assert pushed == {"order_id": "GS-1", "carrier": "sf",
                      "tracking_number": order["tracking_number"]}

    def acknowledged():
        with w["db"].session(readonly=True) as s:
            return s.scalar(select(OutboxMessage.acknowledged_at).where(
                OutboxMessage.topic == "order_dispatch"))
    pump(w, acknowledged, "the dispatch notice to be acknowledged")


def test_stop_ship_accepted_before_shipping(world):
    w = world
    requests.put(f"{w['supplier']}/_sandbox/config", json={"ship_delay_s": 3600}, timeout=10)
    shop_sends(w, "order.updated", order_data("GS-2"), "evt-order-2")
    pump(w, lambda: fulfilment_of(w, "GS-2", "accepted"), "GS-2 to be accepted")
    shop_sends(w, "return.updated", refund("GS-2", "RT-2"), "evt-refund-2")
    stopped = pump(w, lambda: fulfilment_of(w, "GS-2", "cancelled"), "the stop-ship answer")
    [request] = sandbox(w, "received", type="stop_ship")
    assert request["verified"] is True and request["data"]["fulfilment_id"] == stopped.id
    [order] = sandbox(w, "orders")
    assert order["state"] == "stopped" and order["stop_ship"]["answer"] == "accepted"
    assert order["tracking_number"] is None and sandbox(w, "pending") == []
    with w["db"].session(readonly=True) as s:
        assert s.scalar(select(AuditEntry.actor).where(
            AuditEntry.action == "fulfilment.stop_ship_accepted")) == actor(w)
        assert s.scalar(select(Shipment.id)) is None
    decisions = pump(w, lambda: [r for r in w["shop_api"].requests
                                 if r["path"] == "/hub/returns/RT-2/decision"],
                     "the refund approval at the shop")
    assert decisions[0]["body"]["decision"] == "approve"


def test_stop_ship_rejected_with_tracking_after_shipping(world):
    w = world
    requests.put(f"{w['supplier']}/_sandbox/config",
                 json={"ship_delay_s": 0, "report_tracking": False}, timeout=10)
    shop_sends(w, "order.updated", order_data("GS-3"), "evt-order-3")
    pump(w, lambda: [o for o in sandbox(w, "orders") if o["state"] == "shipped"],
         "the supplier to ship GS-3")
    assert fulfilment_of(w, "GS-3").status == "accepted"  # the hub does not know yet
    shop_sends(w, "return.updated", refund("GS-3", "RT-3"), "evt-refund-3")
    rejected = pump(w, lambda: fulfilment_of(w, "GS-3", "cancel_rejected"),
                    "the stop-ship rejection")
    [order] = sandbox(w, "orders")
    assert order["stop_ship"]["answer"] == "rejected"
    with w["db"].session(readonly=True) as s:
        parcel = s.scalar(select(Shipment).where(Shipment.fulfilment_id == rejected.id))
        assert (parcel.carrier, parcel.tracking_number) == ("sf", order["tracking_number"])
        assert s.scalar(select(AuditEntry.actor).where(
            AuditEntry.action == "fulfilment.stop_ship_rejected")) == actor(w)
    assert rejected.cancel_answered_at is not None and rejected.shipped_at is not None


def test_return_notice_leads_to_a_receipt_with_a_photo(world):
    w = world
    shop_sends(w, "order.updated", order_data("GS-4"), "evt-order-4")
    pump(w, lambda: fulfilment_of(w, "GS-4", "shipped"), "GS-4 to be shipped")
    shop_sends(w, "order.updated", order_data("GS-4", status="delivered",
                                              updated_at="2026-11-03T10:00:00+08:00"),
               "evt-order-4-delivered")
    shop_sends(w, "return.updated", refund("GS-4", "RT-4", kind="return_refund",
                                           status="awaiting_return",
                                           updated_at="2026-11-04T10:00:00+08:00"),
               "evt-return-4")

    def inspected():
        with w["db"].session(readonly=True) as s:
            return s.scalar(select(Inspection))
    inspection = pump(w, inspected, "the supplier's receipt of RT-4")
    [notice] = sandbox(w, "received", type="return_notice")
    assert notice["verified"] is True and notice["data"]["platform_order_id"] == "GS-4"
    assert inspection.condition == "intact" and inspection.grade == "A"
    assert inspection.inspected_by == actor(w)
    [digest] = inspection.photos
    assert photo_path(w["var_dir"], digest).read_bytes().startswith(b"\x89PNG")
    with w["db"].session(readonly=True) as s:
        assert s.get(ReturnCase, inspection.return_case_id).status == "inspected"
    [receipt] = sandbox(w, "actions", action="receipt")
    assert receipt["ok"] is True and receipt["response"]["id"] == inspection.id
