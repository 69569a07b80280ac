"""Backfill and sync visibility: ``GET /api/v1/accounts/<id>/sync`` per stream, and
``hub sync SHOP_ID`` running an account's streams in the foreground (generic shop served
by ``responses``; a Kuaishou shop linked by OAuth against the sandbox over real HTTP)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import responses
from responses import matchers
from sqlalchemy import func, select

from connectors.generic_shop import GenericShop
from connectors.http import HttpAdapter, TokenBucket
from hub.core.db import utcnow
from hub.models import Account, InboxEvent, PollState
from tests import factories as f
from tests.factories import bearer
from tests.linking_helpers import link, sandbox, world  # noqa: F401

BASE = "https://shop.test"
T = datetime(2026, 10, 1, tzinfo=timezone.utc)


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(lambda s: None))
    monkeypatch.setattr(TokenBucket, "sleep", staticmethod(lambda s: None))


def generic_shop(s, merchant_id, status="active"):
    cfg = GenericShop.validate_config({"webhook_secret": f.WHSEC, "qps": 1000, "base_url": BASE})
    shop = f.shop(s, merchant_id, name="Web shop", config=cfg)
    shop.status = status
    return shop


def serve(rsps, stream, pages):
    for i, page in enumerate(pages):
        rsps.add(responses.GET, f"{BASE}/hub/{stream}",
                 match=[matchers.query_param_matcher({"cursor": f"c{i}"} if i else {})],
                 json={"data": page, "next_cursor": f"c{i + 1}" if i < len(pages) - 1 else None})


def order(n):
    return {"id": f"GS-{n}", "status": "paid", "total_minor": 100 + n,
            "updated_at": (T + timedelta(minutes=n)).isoformat()}


# -- the API ----------------------------------------------------------------------------------
def test_sync_endpoint_reports_each_stream(client, session):
    m = f.merchant(session)
    shop = generic_shop(session, m.id)
    later = utcnow() + timedelta(minutes=5)
    session.add_all([
        PollState(merchant_id=m.id, account_id=shop.id, stream="orders",
                  cursor={"updated_since": "2026-10-01T00:00:00+00:00"},
                  progress={"backfill": True, "records": 50, "new_events": 40,
                            "complete": True}, last_success_at=T, next_run_at=later),
        PollState(merchant_id=m.id, account_id=shop.id, stream="returns",
                  cursor={"since_ms": 1}, progress={
                      "percent": 37.5, "position": "2026-09-01T00:00:00+00:00", "done": False,
                      "backfill_from": "2026-07-01T00:00:00+00:00",
                      "backfill_to": "2026-10-01T00:00:00+00:00"},
                  last_error_class="rate_limited", last_error="Exceed qps limit",
                  next_run_at=later)])
    tokens = {r: f.token(session, m.id, r) for r in ("merchant_admin", "operator", "finance")}
    session.commit()
    resp = client.get(f"/api/v1/accounts/{shop.id}/sync", headers=bearer(tokens["operator"]))
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["id"], body["status"], body["authorization"]) == (shop.id, "active", None)
    orders, returns = body["streams"]
    assert orders["stream"] == "orders" and orders["done"] is True
    assert orders["percent"] == 100.0 and orders["records"] == 50 and orders["new_events"] == 40
    assert orders["cursor"] == {"updated_since": "2026-10-01T00:00:00+00:00"}
    assert orders["last_success_at"] == T.isoformat() and orders["last_error"] is None
    assert returns["percent"] == 37.5 and returns["done"] is False
    assert returns["position"] == "2026-09-01T00:00:00+00:00"
    assert returns["backfill_from"] == "2026-07-01T00:00:00+00:00"
    assert (returns["last_error_class"], returns["last_error"]) == ("rate_limited",
                                                                    "Exceed qps limit")
    assert returns["next_run_at"] == later.isoformat()
    assert body["percent"] == 68.8 and body["done"] is False  # the mean, rounded
    assert client.get(f"/api/v1/accounts/{shop.id}/sync",
                      headers=bearer(tokens["merchant_admin"])).status_code == 200
    assert client.get(f"/api/v1/accounts/{shop.id}/sync",
                      headers=bearer(tokens["finance"])).status_code == 403


def test_sync_endpoint_is_scoped_to_the_merchant(client, session):
    owner, other = f.merchant(session), f.merchant(session, "Other")
    shop = generic_shop(session, owner.id)
    token = f.token(session, other.id)
    session.commit()
    resp = client.get(f"/api/v1/accounts/{shop.id}/sync", headers=bearer(token))
    assert resp.status_code == 404


def test_sync_endpoint_for_a_linked_kuaishou_shop(client, sandbox, world):
    shop_id = link(client, sandbox, world)
    body = client.get(f"/api/v1/accounts/{shop_id}/sync",
                      headers=bearer(world["admin"])).get_json()
    assert body["authorization"] == "ok" and body["status"] == "active"
    for stream in body["streams"]:  # created by the link, due now, not run yet
        assert stream["percent"] is None and stream["done"] is False
        assert stream["last_success_at"] is None


# -- the CLI ----------------------------------------------------------------------------------
@pytest.fixture
def hub(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=[str(a) for a in args])
    return run


def test_hub_sync_runs_the_streams_and_prints_json(hub, database, session, no_sleep):
    m = f.merchant(session)
    shop = generic_shop(session, m.id)
    session.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        serve(rsps, "orders", [[order(0), order(1)], [order(2)]])
        serve(rsps, "returns", [[]])
        result = hub("sync", shop.id, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["id"] == shop.id and out["name"] == "Web shop"
    streams = {s["stream"]: s for s in out["streams"]}
    assert set(streams) == {"orders", "returns"}
    assert streams["orders"]["outcome"] == "success" and streams["orders"]["records"] == 3
    assert streams["orders"]["new_events"] == 3 and streams["orders"]["done"] is True
    assert streams["returns"]["records"] == 0 and streams["returns"]["percent"] == 100.0
    assert "orders" in result.stderr  # the progress, on stderr
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == 3
        assert all(st.lease_owner is None for st in s.scalars(select(PollState)))


def test_hub_sync_text_summary_and_failures(hub, session, no_sleep):
    m = f.merchant(session)
    shop = generic_shop(session, m.id)
    session.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        serve(rsps, "orders", [[order(0)]])
        rsps.add(responses.GET, f"{BASE}/hub/returns", status=401)
        result = hub("sync", shop.id)
    assert result.exit_code == 1  # a stream failed
    assert "orders" in result.stdout and "1 records read, 1 new events stored" in result.stdout
    assert "returns" in result.stdout and "fail_config" in result.stdout
    assert "Traceback" not in result.output


def test_hub_sync_leaves_streams_a_worker_holds(hub, database, session, no_sleep):
    m = f.merchant(session)
    shop = generic_shop(session, m.id)
    session.add(PollState(merchant_id=m.id, account_id=shop.id, stream="orders",
                          lease_owner="worker-1", lease_expires_at=utcnow() + timedelta(hours=1)))
    session.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        serve(rsps, "returns", [[]])
        result = hub("sync", shop.id, "--json")
    assert result.exit_code == 1
    streams = {s["stream"]: s["outcome"] for s in json.loads(result.stdout)["streams"]}
    assert streams == {"orders": "busy", "returns": "success"}


def test_hub_sync_wait_runs_a_stream_again_after_a_retryable_error(hub, session, no_sleep,
                                                                  monkeypatch):
    from jobs import poll

    monkeypatch.setattr(poll, "retry_delay", lambda attempts, rand=None: 0.0)  # due at once
    m = f.merchant(session)
    shop = generic_shop(session, m.id)
    session.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        serve(rsps, "orders", [[order(0)]])
        for _ in range(HttpAdapter.max_attempts):  # the first run gives up: "retry"
            rsps.add(responses.GET, f"{BASE}/hub/returns", status=503)
        serve(rsps, "returns", [[{"id": "R-1", "status": "requested",
                                  "updated_at": T.isoformat()}]])
        result = hub("sync", shop.id, "--json", "--wait", "--timeout", 60)
    assert result.exit_code == 0, result.output
    streams = {s["stream"]: s for s in json.loads(result.stdout)["streams"]}
    assert streams["returns"]["outcome"] == "success" and streams["returns"]["records"] == 1
    assert streams["returns"]["last_error"] is None and streams["orders"]["records"] == 1


@pytest.mark.parametrize("status", ["needs_attention", "linking"])
def test_hub_sync_refuses_inactive_and_unknown_accounts(hub, session, status):
    m = f.merchant(session)
    shop = generic_shop(session, m.id, status=status)
    session.commit()
    result = hub("sync", shop.id, "--json")
    assert result.exit_code == 1 and status in json.loads(result.stdout)["error"]
    result = hub("sync", 999999, "--json")
    assert result.exit_code == 1 and "does not exist" in json.loads(result.stdout)["error"]


def test_hub_sync_backfills_a_linked_kuaishou_shop(client, hub, sandbox, world, database):
    for n in range(3):
        sandbox.ctl("POST", "/orders", 201, sellerId=world["shop"]["sellerId"], paid=True)
    shop_id = link(client, sandbox, world)
    with database.session() as s:  # a short backfill: 90 days of 1-hour refund windows
        shop = s.get(Account, shop_id)  # take minutes at the default 10 calls/s
        shop.config = {**shop.config, "backfill_days": 2, "refund_window_hours": 24,
                       "qps_default": 1000}
    result = hub("sync", shop_id, "--json")
    assert result.exit_code == 0, result.output
    streams = {s["stream"]: s for s in json.loads(result.stdout)["streams"]}
    assert streams, "the Kuaishou connector offers poll streams"
    assert all(s["outcome"] == "success" and s["done"] for s in streams.values())
    assert all(s["percent"] == 100.0 for s in streams.values())
    assert streams["orders"]["new_events"] == 3
    assert "100.0%" in result.stderr
    with database.session(readonly=True) as s:
        assert s.get(Account, shop_id).status == "active"
