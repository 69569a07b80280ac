"""The Kuaishou end-to-end world: a sandbox platform and a hub server, both real servers
on loopback, and ``Shop`` — a sandbox shop linked to a hub merchant the operator's way,
with the hub's jobs run in-process one batch at a time (``drain``)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select, update
from werkzeug.serving import make_server

from connectors.kuaishou import oauth as ks_oauth
from hub.models import Account, Alert, InboxEvent, Order, OutboxMessage, PollState, Shipment
from jobs import deliver_outbox, poll, process_inbox
from sandbox.kuaishou import serve
from tests import factories as f
from tests.sandbox.ks_helpers import MESSAGE_KEY, Platform, wait_for

OWNER = "e2e-worker"
DAY_MS, HOUR_MS = 86_400_000, 3_600_000
SANDBOX_CONFIG = {"pushTimeFactor": 0.001, "orderWindowMs": DAY_MS, "refundWindowMs": 12 * HOUR_MS}


def iso_in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


# -- the two servers and a linked shop -----------------------------------------------------
@pytest.fixture
def platform():
    server, base_url = serve(port=0, config=SANDBOX_CONFIG)
    p = Platform(base_url)
    yield p
    p.close()
    server.stop()


@pytest.fixture
def hub_url(app):
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.port}"
    http.shutdown()
    http.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _fresh_tokens():
    ks_oauth.reset_process_state()
    yield
    ks_oauth.reset_process_state()


class Shop:
    """A sandbox shop linked to a hub merchant."""

    def __init__(self, app, database, platform: Platform, hub_url: str):
        self.app, self.db, self.platform, self.hub_url = app, database, platform, hub_url
        platform.setup()  # app + shop + console tokens; no push URL yet: nothing is pushed
        with database.session() as s:
            self.merchant_id = f.merchant(s, "ks-merchant").id
            self.api_token = f.token(s, self.merchant_id)
        self.account_id = None

    def link(self, **config) -> "Shop":
        """``hub accounts add kuaishou`` with the tokens the sandbox's console issued."""
        platform = self.platform
        full = {"app_key": platform.app_key, "app_secret": platform.app_secret,
                "sign_secret": platform.sign_secret, "message_key": MESSAGE_KEY,
                "api_base_url": platform.base, "access_token": platform.token,
                "refresh_token": platform.refresh_token,
                "access_token_expires_at": iso_in(172_800),
                "refresh_token_expires_at": iso_in(180 * 86_400),
                "backfill_days": 2, "order_window_days": 1, "refund_window_hours": 12,
                "qps_default": 100, **config}
        result = self.app.test_cli_runner().invoke(args=[
            "accounts", "add", "kuaishou", "--merchant", str(self.merchant_id),
            "--name", "sandbox shop", "--config", json.dumps(full), "--json"])
        assert result.exit_code == 0, result.output
        added = json.loads(result.output)
        self.account_id = added["id"]
        assert added["webhook_url"].endswith(f"/webhooks/kuaishou/{self.account_id}")
        self.push_url = f"{self.hub_url}/webhooks/kuaishou/{self.account_id}"
        return self

    # the platform side
    def enable_push(self) -> None:
        self.platform.ctl("PATCH", f"/apps/{self.platform.app_key}", 200, pushUrl=self.push_url)
        wait_for(lambda: self.pushes(kind="heartbeat", state="delivered"))

    def pushes(self, **filters) -> list[dict]:
        return self.platform.ctl("GET", "/pushes", appKey=self.platform.app_key, **filters)

    def calls(self, method: str) -> list[dict]:
        return self.platform.ctl("GET", "/calls", method=method)

    # the hub side
    def inbox(self, **where) -> list[InboxEvent]:
        with self.db.session(readonly=True) as s:
            stmt = select(InboxEvent).where(InboxEvent.account_id == self.account_id)
            for key, value in where.items():
                stmt = stmt.where(getattr(InboxEvent, key) == value)
            return list(s.scalars(stmt.order_by(InboxEvent.id)))

    def account(self) -> Account:
        with self.db.session(readonly=True) as s:
            return s.get(Account, self.account_id)

    def api(self, path: str, **params) -> dict:
        resp = requests.get(f"{self.hub_url}/api/v1{path}", params=params, timeout=10,
                            headers=f.bearer(self.api_token))
        assert resp.status_code == 200, resp.text
        return resp.json()

    def order_row(self, oid) -> dict:
        rows = self.api("/orders", platform_order_id=str(oid))["data"]
        assert len(rows) == 1, rows
        return rows[0]

    # the jobs
    def drain(self, job) -> int:
        total = 0
        for _ in range(100):
            n = job.run(self.app, OWNER)
            total += n
            if not n:
                return total
        raise AssertionError(f"{job.__name__} never ran dry")

    def process(self) -> int:
        return self.drain(process_inbox)

    def deliver(self) -> int:
        return self.drain(deliver_outbox)

    def poll_now(self) -> int:
        with self.db.session() as s:
            s.execute(update(PollState).where(PollState.account_id == self.account_id)
                      .values(next_run_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        return self.drain(poll)

    def enqueue(self, fn) -> int | None:
        """Run ``fn(session)`` (a ``hub.domain.pushes.platform_actions`` helper) and commit; the id of
        the outbox message it queued."""
        with self.app.app_context(), self.db.session() as s:
            message = fn(s)
            return None if message is None else message.id

    def message(self, message_id: int) -> OutboxMessage:
        with self.db.session(readonly=True) as s:
            return s.get(OutboxMessage, message_id)

    def alerts(self, kind: str) -> list[Alert]:
        with self.db.session(readonly=True) as s:
            return list(s.scalars(select(Alert).where(Alert.merchant_id == self.merchant_id,
                                                      Alert.kind == kind)))

    def row(self, model, **where):
        with self.db.session(readonly=True) as s:
            stmt = select(model).where(model.merchant_id == self.merchant_id)
            for key, value in where.items():
                stmt = stmt.where(getattr(model, key) == value)
            return s.scalar(stmt)


@pytest.fixture
def shop(app, database, platform, hub_url):
    return Shop(app, database, platform, hub_url).link()


def _paid_order(shop: Shop, **opts) -> int:
    order = shop.platform.order(paid=True, **opts)
    return order["oid"]


def _await_events(shop: Shop, count: int, **where) -> list[InboxEvent]:
    return wait_for(lambda: (lambda rows: rows if len(rows) >= count else None)(
        shop.inbox(**where)))


def _order_id(shop: Shop, oid) -> int:
    return shop.row(Order, platform_order_id=str(oid)).id


def _ship(shop: Shop, oid, number: str, carrier: str = "sf", fulfilment_id=None) -> int:
    with shop.db.session() as s:
        shipment = Shipment(merchant_id=shop.merchant_id, order_id=_order_id(shop, oid),
                            fulfilment_id=fulfilment_id, direction="outbound", carrier=carrier,
                            tracking_number=number)
        s.add(shipment)
        s.flush()
        return shipment.id
