"""Courier tracking end to end over real HTTP: the hub (werkzeug server in a thread, its
jobs run in-process) and the sandbox courier. A shipment registered through
``hub.domain.tracking.shipments.register_shipment`` is subscribed (the outbox delivers to the sandbox),
the sandbox pushes signed timelines to the hub's webhook URL, the inbox applies them,
and the order, fulfilment, return case, alerts and supplier notices follow. AfterShip
and 17TRACK deliveries, signed here, land in the same vocabulary.

Time in the sandbox is virtual: each test moves a parcel along its timeline and then
waits (bounded) until the sandbox has no push in flight and the hub's jobs find nothing
to do."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

from hub.web.app import create_app
from hub.domain.tracking import shipments as tracking
from hub.parties.accounts import add_account
from hub.models import (
    Alert, Fulfilment, InboxEvent, Order, QuarantinedRequest, Shipment, TrackingEvent,
)
from jobs import deliver_outbox, process_inbox
from mappings.tracking.vocabulary import RANK
from sandbox.courier import serve
from tests import factories as f
from tests.tracking_helpers import PUSHED, channel, notice_channel  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

CHINA = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 9, 0, tzinfo=CHINA)
SALT = "e2e-salt-0123456789abcdef"
AS_SECRET, T17_KEY = "aftership-e2e-secret", "track17-e2e-key"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def courier_sandbox():
    server, url = serve(port=0, retry_interval_s=0.05, start=START)
    yield url
    server.shutdown()


@pytest.fixture
def hub_server(settings, database):
    port = _free_port()
    app = create_app(replace(settings, public_url=f"http://127.0.0.1:{port}"), database)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


class World:
    """One merchant with a shop, a supplier on a notice channel, a Kuaidi100 account on
    the sandbox, and helpers to move parcels and let everything settle."""

    def __init__(self, app, hub_url, sandbox_url, database):
        self.app, self.hub_url, self.sandbox, self.db = app, hub_url, sandbox_url, database
        with database.session() as s:
            m = f.merchant(s)
            self.merchant_id = m.id
            self.shop_id = f.shop(s, m.id).id
            supplier = f.supplier(s, m.id)
            self.supplier_id = supplier.id
            channel(s, m.id, supplier)
            self.k100 = add_account(s, m.id, "kuaidi100", "sandbox courier", {
                "key": "sandbox-key", "customer": "SANDBOXCUSTOMER", "secret": "sandbox-secret",
                "salt": SALT, "poll_base_url": sandbox_url, "api_base_url": sandbox_url},
                actor="test").id
            self.token = f.token(s, m.id, "operator")

    # -- the sandbox ---------------------------------------------------------------------
    def control(self, path: str, body: dict | None = None) -> dict:
        resp = requests.post(f"{self.sandbox}/_sandbox/{path}", json=body or {}, timeout=10)
        assert resp.status_code in (200, 201), resp.text
        return resp.json()

    def parcel(self, number: str, com: str, scenario: str = "normal") -> None:
        self.control("parcels", {"number": number, "com": com, "scenario": scenario,
                                 "phone": "13900005678"})

    def forward(self, number: str, steps: int | None = None) -> None:
        self.control(f"parcels/{number}/fast_forward", {} if steps is None else {"steps": steps})
        self.settle()

    # -- the hub -------------------------------------------------------------------------
    def ship(self, number: str, carrier: str = "sf") -> tuple[int, int]:
        """An order shipped by the supplier: ``(shipment_id, order_id)``."""
        with self.db.session() as s:
            order = f.order(s, self.merchant_id, self.shop_id, supplier_id=self.supplier_id)
            shipment = tracking.register_shipment(
                s, merchant_id=self.merchant_id, carrier=carrier, tracking_number=number,
                direction="outbound", order_id=order.id,
                fulfilment_id=order.fulfilments[0].id,
                var_dir=self.app.extensions["hub"].settings.var_dir)
            ids = shipment.id, order.id
        self.settle()
        return ids

    def drain(self) -> int:
        total = 0
        for _ in range(100):
            n = deliver_outbox.run(self.app, "e2e") + process_inbox.run(self.app, "e2e")
            total += n
            if n == 0:
                return total
        raise AssertionError("the hub's jobs did not run dry")

    def settle(self) -> None:
        """Until the sandbox has nothing in flight and the jobs find nothing to do."""
        for _ in range(30):
            assert self.control("flush", {"timeout": 10})["settled"], "sandbox pushes stuck"
            if self.drain() == 0:
                return
        raise AssertionError("tracking did not settle")

    def shipment(self, shipment_id: int) -> Shipment:
        with self.db.session(readonly=True) as s:
            return s.get(Shipment, shipment_id)

    def row(self, model, row_id):
        with self.db.session(readonly=True) as s:
            return s.get(model, row_id)

    def alerts(self, kind: str) -> list[Alert]:
        with self.db.session(readonly=True) as s:
            return list(s.scalars(select(Alert).where(Alert.merchant_id == self.merchant_id,
                                                      Alert.kind == kind,
                                                      Alert.resolved_at.is_(None))))

    def event_count(self, shipment_id: int) -> int:
        with self.db.session(readonly=True) as s:
            return s.scalar(select(func.count()).select_from(TrackingEvent)
                            .where(TrackingEvent.shipment_id == shipment_id))

    def intercept(self, shipment_id: int, kind: str = "return_to_sender", **extra):
        return requests.post(f"{self.hub_url}/api/v1/shipments/{shipment_id}/intercept",
                             json={"kind": kind, "reason": "stop ship", **extra},
                             headers=f.bearer(self.token), timeout=10)


@pytest.fixture
def world(hub_server, courier_sandbox, database, notice_channel):  # noqa: F811
    app, hub_url = hub_server
    return World(app, hub_url, courier_sandbox, database)


def test_a_parcel_is_tracked_to_delivery(world):
    world.parcel("SF2001", "shunfeng")
    shipment_id, order_id = world.ship("SF2001")
    shipment = world.shipment(shipment_id)
    assert (shipment.subscription_status, shipment.tracking_account_id) == \
        ("subscribed", world.k100)
    [sub] = requests.get(f"{world.sandbox}/_sandbox/subscriptions", timeout=10).json()
    assert sub["callbackurl"] == \
        f"{world.hub_url}/webhooks/kuaidi100/{world.k100}?shipment={shipment_id}"
    assert sub["phone"] == "5678" and sub["salt"] == SALT

    world.forward("SF2001", steps=1)                     # 101 is visible at once; 103
    assert world.shipment(shipment_id).status == "picked_up"
    world.forward("SF2001")
    shipment = world.shipment(shipment_id)
    assert (shipment.status, shipment.raw_status) == ("delivered", "301")
    assert shipment.subscription_status == "done" and shipment.monitoring == "shutdown"
    assert world.event_count(shipment_id) == 7
    assert world.row(Order, order_id).status == "delivered"
    world.drain()
    assert [p["payload"]["kind"] for p in PUSHED if p["topic"] == "tracking_notice"] == \
        ["delivered"]


def test_a_refused_parcel_comes_back(world):
    world.parcel("SF2002", "shunfeng", scenario="refused")
    shipment_id, order_id = world.ship("SF2002")
    world.forward("SF2002", steps=6)                     # ... 派件 → 拒签
    assert world.shipment(shipment_id).status == "refused"
    fulfilment_id = world.shipment(shipment_id).fulfilment_id
    assert world.row(Fulfilment, fulfilment_id).expected_return is True
    world.forward("SF2002", steps=1)
    assert world.shipment(shipment_id).status == "returning"
    world.forward("SF2002")
    shipment = world.shipment(shipment_id)
    assert shipment.status == "returned" and shipment.subscription_status == "done"
    assert world.row(Order, order_id).status == "paid"
    [alert] = world.alerts("parcel_returning")
    assert alert.entity_id == shipment_id and alert.supplier_id == world.supplier_id


def test_interception_succeeds_early_and_fails_once_out_for_delivery(world):
    world.parcel("SF2004", "shunfeng")                   # (virtual time is shared)
    late, late_order = world.ship("SF2004")
    world.forward("SF2004", steps=5)                     # 派件: out for delivery
    world.parcel("SF2003", "shunfeng")
    early, _ = world.ship("SF2003")
    world.forward("SF2003", steps=1)                     # 已揽收: picked up
    assert world.shipment(early).status == "picked_up"
    assert world.shipment(late).status == "out_for_delivery"

    assert world.intercept(early).status_code == 202
    assert world.intercept(late).status_code == 202
    assert world.intercept(late).status_code == 409      # already requested
    world.settle()
    interceptions = requests.get(f"{world.sandbox}/_sandbox/interceptions", timeout=10).json()
    assert sorted(i["outcome"] for i in interceptions) == ["FAILED", "SUCCESS"]

    shipment = world.shipment(early)
    assert (shipment.interception_status, shipment.status) == ("succeeded", "intercepted")
    assert world.row(Fulfilment, shipment.fulfilment_id).expected_return is True
    world.forward("SF2003")
    assert world.shipment(early).status == "returned"

    assert world.shipment(late).interception_status == "failed"
    [alert] = world.alerts("interception_failed")
    assert alert.entity_id == late
    world.forward("SF2004")
    assert world.shipment(late).status == "delivered"
    assert world.row(Order, late_order).status == "delivered"
    assert world.intercept(late).status_code == 409      # delivered: too late


def test_duplicate_out_of_order_and_late_pushes_never_move_it_back(world):
    world.parcel("SF2005", "shunfeng")
    shipment_id, _ = world.ship("SF2005")
    world.control("misbehave", {"duplicate": True, "out_of_order": True})
    seen = []
    for _ in range(3):
        world.forward("SF2005", steps=1)
        seen.append(world.shipment(shipment_id).status)
    world.forward("SF2005")              # the rest at once: in reverse order, twice each
    seen.append(world.shipment(shipment_id).status)
    assert all(RANK[a] <= RANK[b] for a, b in zip(seen, seen[1:])), seen
    assert world.shipment(shipment_id).status == "delivered"
    world.control("misbehave", {"duplicate": False, "out_of_order": False})
    world.control("parcels/SF2005/replay", {"steps": 3})          # a late, old snapshot
    world.settle()
    assert world.shipment(shipment_id).status == "delivered"
    assert world.event_count(shipment_id) == 7
    with world.db.session(readonly=True) as s:
        stored = s.scalar(select(func.count()).select_from(InboxEvent)
                          .where(InboxEvent.account_id == world.k100))
    pushes = requests.get(f"{world.sandbox}/_sandbox/pushes", timeout=10).json()
    assert stored < len(pushes)                          # duplicates were not stored twice


def test_a_bad_signature_is_quarantined_and_changes_nothing(world):
    world.parcel("SF2006", "shunfeng")
    shipment_id, _ = world.ship("SF2006")
    world.control("misbehave", {"bad_signature": True})
    world.forward("SF2006", steps=2)
    assert world.shipment(shipment_id).status == "pending"
    with world.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(QuarantinedRequest)) >= 1


def test_a_carrier_correction_follows_the_parcel(world):
    world.parcel("YD2007", "yunda")
    shipment_id, _ = world.ship("YD2007", carrier="yto")   # the supplier named the wrong one
    world.forward("YD2007", steps=3)
    shipment = world.shipment(shipment_id)
    assert (shipment.carrier, shipment.status) == ("yunda", "in_transit")
    assert "carrier_corrected:yto->yunda" in shipment.flags
    assert shipment.subscription_status == "subscribed"          # no re-subscription needed


def _post(world, connector, account_id, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{world.hub_url}/webhooks/{connector}/{account_id}", data=body,
                         headers={"Content-Type": "application/json", **headers}, timeout=10)


def test_aftership_and_17track_map_into_the_same_vocabulary(world):
    with world.db.session() as s:
        as_id = add_account(s, world.merchant_id, "aftership", "as",
                            {"webhook_secret": AS_SECRET}, actor="test").id
        t17_id = add_account(s, world.merchant_id, "track17", "17",
                             {"security_key": T17_KEY}, actor="test").id
    delivered_id, order_id = world.ship("SF3001")
    returned_id, _ = world.ship("RR3002CN", carrier="chinapost")

    body = json.dumps({"event": "tracking_update", "event_id": "evt-as-1", "ts": 1762164000,
                       "msg": {"tracking_number": "SF3001", "slug": "sf-express",
                               "tag": "Delivered", "subtag": "Delivered_001",
                               "updated_at": "2026-11-03T12:00:00+08:00", "checkpoints": [
                                   {"checkpoint_time": "2026-11-02T09:00:00+08:00",
                                    "tag": "InTransit", "subtag": "InTransit_002",
                                    "message": "已揽收"},
                                   {"checkpoint_time": "2026-11-03T11:00:00+08:00",
                                    "tag": "Delivered", "subtag": "Delivered_001",
                                    "message": "已签收"}]}}).encode()
    sign = base64.b64encode(hmac.new(AS_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert _post(world, "aftership", as_id, body, {"aftership-hmac-sha256": "x" + sign}) \
        .status_code == 401
    assert _post(world, "aftership", as_id, body, {"aftership-hmac-sha256": sign}).status_code \
        == 200

    events = [{"time_utc": "2026-11-02T02:00:00Z", "description": "Accepted",
               "stage": "PickedUp"},
              {"time_utc": "2026-11-04T02:00:00Z", "description": "Refused by addressee",
               "sub_status": "DeliveryFailure_Rejected"},
              {"time_utc": "2026-11-09T02:00:00Z", "description": "Returned to sender",
               "stage": "Returned"}]
    body17 = json.dumps({"event": "TRACKING_STOPPED", "data": {
        "number": "RR3002CN", "carrier": 3011, "track_info": {
            "latest_status": {"status": "Exception", "sub_status": "Exception_Returned"},
            "latest_event": events[-1],
            "tracking": {"providers": [{"provider": {"key": 3011}, "events": events}]}}}}).encode()
    sign17 = hashlib.sha256(body17 + b"/" + T17_KEY.encode()).hexdigest()
    assert _post(world, "track17", t17_id, body17, {"sign": sign17}).status_code == 200
    world.settle()

    delivered = world.shipment(delivered_id)
    assert (delivered.status, delivered.raw_status) == ("delivered", "Delivered_001")
    assert world.row(Order, order_id).status == "delivered"
    returned = world.shipment(returned_id)
    assert (returned.status, returned.monitoring) == ("returned", "stopped")
    assert returned.subscription_status == "done"
    assert world.row(Fulfilment, returned.fulfilment_id).expected_return is True
