"""Operator endpoints and CLI for the inbox and the quarantine."""
from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from hub.models import AuditEntry, InboxEvent, Order
from jobs import process_inbox
from tests import factories as f
from tests.webhook_helpers import envelope, order_data


@pytest.fixture
def ops(database):
    """Merchant A with events in every state, a quarantined request; merchant B likewise."""
    with database.session() as s:
        a, b = f.merchant(s, "A"), f.merchant(s, "B")
        shop_a, shop_b = f.shop(s, a.id), f.shop(s, b.id)
        body = envelope("order.updated", order_data("GS-OPS"))
        events = {status: f.inbox_event(s, shop_a, status=status, body=body,
                                        headers={"webhook-id": status},
                                        error_class="fail_data" if status == "failed" else None,
                                        error_message="total_minor: Not a valid integer."
                                        if status == "failed" else None)
                  for status in ("received", "processed", "ignored", "failed")}
        other = f.inbox_event(s, shop_b, status="failed", body=body)
        f.quarantined(s, shop_a, detail="no valid v1 signature")
        f.quarantined(s, shop_b, detail="B's quarantine")
        f.quarantined(s, None, detail="nobody's quarantine")
        return {"shop_a": shop_a, "shop_b": shop_b, "body": body,
                "ids": {k: e.id for k, e in events.items()}, "other_id": other.id,
                "admin": f.bearer(f.token(s, a.id, "merchant_admin")),
                "operator": f.bearer(f.token(s, a.id, "operator")),
                "finance": f.bearer(f.token(s, a.id, "finance")),
                "merchant_a": a.id}


def test_list_is_scoped_filtered_and_never_has_bodies(client, ops):
    resp = client.get("/api/v1/ops/inbox", headers=ops["operator"])
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert [e["id"] for e in data] == sorted(ops["ids"].values(), reverse=True)
    assert all("body" not in e and "headers" not in e for e in data)
    failed = client.get("/api/v1/ops/inbox?status=failed", headers=ops["admin"]).get_json()
    assert [e["id"] for e in failed["data"]] == [ops["ids"]["failed"]]
    assert failed["data"][0]["error_class"] == "fail_data"
    other_shop = client.get(f"/api/v1/ops/inbox?account_id={ops['shop_b'].id}",
                            headers=ops["admin"]).get_json()
    assert other_shop["data"] == []
    assert client.get("/api/v1/ops/inbox?status=lost", headers=ops["admin"]).status_code == 422


def test_list_pages_with_a_cursor(client, ops):
    first = client.get("/api/v1/ops/inbox?limit=3", headers=ops["admin"]).get_json()
    assert len(first["data"]) == 3 and first["next_cursor"]
    rest = client.get(f"/api/v1/ops/inbox?limit=3&cursor={first['next_cursor']}",
                      headers=ops["admin"]).get_json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None


def test_detail_shows_errors_and_the_body_only_as_size_and_hash(client, ops):
    resp = client.get(f"/api/v1/ops/inbox/{ops['ids']['failed']}", headers=ops["admin"])
    assert resp.status_code == 200
    e = resp.get_json()
    assert e["error_message"] == "total_minor: Not a valid integer."
    assert e["body_size"] == len(ops["body"])
    assert e["body_sha256"] == hashlib.sha256(ops["body"]).hexdigest()
    assert e["headers"] == {"webhook-id": "failed"}
    assert "GS-OPS" not in resp.get_data(as_text=True)      # no body content
    assert client.get(f"/api/v1/ops/inbox/{ops['other_id']}",
                      headers=ops["admin"]).status_code == 404


def test_finance_and_supplier_tokens_may_not_see_the_inbox(client, ops):
    for path in ("/api/v1/ops/inbox", "/api/v1/ops/quarantine",
                 f"/api/v1/ops/inbox/{ops['ids']['failed']}"):
        assert client.get(path, headers=ops["finance"]).status_code == 403
    assert client.get("/api/v1/ops/inbox").status_code == 401


@pytest.mark.parametrize("status", ["failed", "ignored"])
def test_replay_requeues_and_the_job_processes_it(app, client, database, ops, status):
    event_id = ops["ids"][status]
    with database.session() as s:
        s.get(InboxEvent, event_id).attempts = 8
    resp = client.post(f"/api/v1/ops/inbox/{event_id}/replay", headers=ops["operator"])
    assert resp.status_code == 200
    e = resp.get_json()
    assert (e["status"], e["attempts"], e["error_class"], e["processed_at"]) == \
        ("received", 0, None, None)
    with database.session() as s:
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "inbox_event.replayed"))
        assert (audit.entity_id, audit.changes) == (event_id, {"from_status": status})
    process_inbox.run(app, "worker-1")
    with database.session() as s:
        assert s.get(InboxEvent, event_id).status == "processed"
        assert s.scalars(select(Order.platform_order_id)).all() == ["GS-OPS"]


@pytest.mark.parametrize("status", ["received", "processed"])
def test_replay_of_other_states_is_409(client, database, ops, status):
    event_id = ops["ids"][status]
    resp = client.post(f"/api/v1/ops/inbox/{event_id}/replay", headers=ops["admin"])
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "conflict"
    with database.session() as s:
        assert s.get(InboxEvent, event_id).status == status


def test_replay_of_another_merchants_event_is_404(client, database, ops):
    resp = client.post(f"/api/v1/ops/inbox/{ops['other_id']}/replay", headers=ops["admin"])
    assert resp.status_code == 404
    with database.session() as s:
        assert s.get(InboxEvent, ops["other_id"]).status == "failed"


def test_quarantine_list_is_scoped_and_unknown_merchants_are_invisible(client, ops):
    resp = client.get("/api/v1/ops/quarantine", headers=ops["operator"])
    assert resp.status_code == 200
    [q] = resp.get_json()["data"]
    assert (q["detail"], q["reason"], q["account_id"]) == \
        ("no valid v1 signature", "bad_signature", ops["shop_a"].id)
    assert q["body_excerpt"] == "{}"
    text = resp.get_data(as_text=True)
    assert "B's quarantine" not in text and "nobody's quarantine" not in text


# -- CLI ------------------------------------------------------------------------------------
def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["inbox", *args])
    return result.exit_code, result.output


def test_cli_list_filters_by_status(app, ops):
    code, out = cli(app, "list", "--status", "failed", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["id"] for r in rows} == {ops["ids"]["failed"], ops["other_id"]}
    assert all(set(r) >= {"id", "name", "status"} and "body" not in r for r in rows)


def test_cli_replays_one_event(app, database, ops):
    code, out = cli(app, "replay", str(ops["ids"]["ignored"]), "--json")
    assert code == 0 and json.loads(out) == {"id": ops["ids"]["ignored"], "status": "received"}
    with database.session() as s:
        assert s.get(InboxEvent, ops["ids"]["ignored"]).status == "received"
        assert s.scalar(select(AuditEntry.actor)) == "cli"


def test_cli_refuses_a_state_that_cannot_be_replayed(app, database, ops):
    code, out = cli(app, "replay", str(ops["ids"]["processed"]), "--json")
    assert code == 1 and "only failed or ignored" in json.loads(out)["error"]
    code, out = cli(app, "replay", "999999", "--json")
    assert code == 1 and "does not exist" in json.loads(out)["error"]
    code, _ = cli(app, "replay", "--json")
    assert code == 1


def test_cli_replays_all_failed_events_of_one_merchant(app, database, ops):
    code, out = cli(app, "replay", "--all-failed", "--merchant", str(ops["merchant_a"]),
                    "--json")
    assert code == 0 and json.loads(out) == {"replayed": 1, "ids": [ops["ids"]["failed"]]}
    with database.session() as s:
        assert s.get(InboxEvent, ops["other_id"]).status == "failed"
    code, out = cli(app, "replay", "--all-failed", "--json")
    assert code == 0 and json.loads(out) == {"replayed": 1, "ids": [ops["other_id"]]}
