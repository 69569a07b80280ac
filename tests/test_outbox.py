"""The outbox itself: enqueue in the business transaction, dedup, supersede, wake-ups,
and the operator endpoints and CLI (list, detail, replay, cancel)."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.core.db import utcnow
from hub.models import AuditEntry, DeliveryAttempt, Order, OutboxMessage
from hub.pipeline.outbox import enqueue
from hub.core.wakeup import Listener
from tests import factories as f

PAYLOAD = {"order_id": "P1", "carrier": "sf", "tracking_number": "SF1"}


@pytest.fixture
def shop(app, database):
    with database.session() as s:
        m = f.merchant(s)
        sh = f.pushing_shop(s, m.id, "http://shop.test")
        o = f.order(s, m.id, sh.id)
        return {"merchant_id": m.id, "account_id": sh.id, "order_id": o.id}


def _messages(database):
    with database.session(readonly=True) as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _enqueue(s, account_id, entity_id, version, topic="shipment", **kw):
    from hub.models import Account

    return enqueue(s, s.get(Account, account_id), topic, "order", entity_id, PAYLOAD, version,
                   **kw)


# -- enqueue ----------------------------------------------------------------------------
def test_enqueue_is_part_of_the_business_transaction(database, shop):
    with pytest.raises(RuntimeError):
        with database.session() as s:
            s.get(Order, shop["order_id"]).status = "shipped"
            _enqueue(s, shop["account_id"], shop["order_id"], "v1")
            raise RuntimeError("the business change fails after enqueue")
    assert _messages(database) == []
    with database.session(readonly=True) as s:
        assert s.get(Order, shop["order_id"]).status == "paid"

    with database.session() as s:
        s.get(Order, shop["order_id"]).status = "shipped"
        _enqueue(s, shop["account_id"], shop["order_id"], "v1")
    [message] = _messages(database)
    assert message.status == "pending" and message.payload == PAYLOAD
    assert message.next_attempt_at <= utcnow()


def test_same_version_twice_is_one_message(database, shop):
    with database.session() as s:
        first = _enqueue(s, shop["account_id"], shop["order_id"], "v1").id
    with database.session() as s:
        again = _enqueue(s, shop["account_id"], shop["order_id"], "v1").id
    assert again == first
    assert len(_messages(database)) == 1


def test_newer_version_supersedes_an_unsent_older_one(database, shop):
    with database.session() as s:
        sent = _enqueue(s, shop["account_id"], shop["order_id"], "v0")
        sent.status = "sent"
        _enqueue(s, shop["account_id"], shop["order_id"], "v1")
        other_topic = _enqueue(s, shop["account_id"], shop["order_id"], "v1",
                               topic="return_decision")
    with database.session() as s:
        _enqueue(s, shop["account_id"], shop["order_id"], "v2")
    by_key = {(m.topic, m.status) for m in _messages(database)}
    assert by_key == {("shipment", "sent"), ("shipment", "superseded"),
                      ("shipment", "pending"), ("return_decision", "pending")}
    keys = [m.idempotency_key for m in _messages(database)]
    assert len(set(keys)) == len(keys)
    assert other_topic.status == "pending"


def test_enqueue_wakes_a_listening_worker_on_commit(database, shop, settings):
    woken = threading.Event()
    listener = Listener(database, settings.var_dir,
                        on_wake=lambda channel: channel == "outbox" and woken.set())
    listener.start()
    try:
        deadline, version = time.monotonic() + 15, 0
        while not woken.is_set() and time.monotonic() < deadline:
            version += 1  # the listener may not be listening yet: the next commit wakes it
            with database.session() as s:
                _enqueue(s, shop["account_id"], shop["order_id"], f"v{version}",
                         var_dir=settings.var_dir)
            woken.wait(0.5)
        assert woken.is_set()
    finally:
        listener.stop()


# -- operator endpoints ---------------------------------------------------------------------
@pytest.fixture
def ops(database, shop):
    """Three messages (dead, pending, sent), one attempt on the dead one, and tokens."""
    with database.session() as s:
        dead = _enqueue(s, shop["account_id"], 1, "v1")
        dead.status, dead.attempts, dead.last_error_class = "dead", 10, "retry"
        s.flush()  # the attempt below names the message by its id alone
        s.add(DeliveryAttempt(merchant_id=shop["merchant_id"], outbox_message_id=dead.id,
                              attempt_no=1, status_code=503, outcome="retry",
                              error="HTTP 503", response_excerpt="busy, call 13812345678"))
        pending = _enqueue(s, shop["account_id"], 2, "v1", topic="return_decision")
        sent = _enqueue(s, shop["account_id"], 3, "v1")
        sent.status = "sent"
        tokens = {role: f.token(s, shop["merchant_id"], role)
                  for role in ("merchant_admin", "operator", "finance")}
        return {"dead": dead.id, "pending": pending.id, "sent": sent.id,
                "dead_key": dead.idempotency_key, "tokens": tokens, **shop}


def _get(client, ops, path, role="operator"):
    return client.get(f"/api/v1/ops/outbox{path}", headers=f.bearer(ops["tokens"][role]))


def _post(client, ops, path, role="operator"):
    return client.post(f"/api/v1/ops/outbox{path}", headers=f.bearer(ops["tokens"][role]))


def test_list_filters_and_pages(client, ops):
    ids = lambda resp: [row["id"] for row in resp.get_json()["data"]]  # noqa: E731
    assert ids(_get(client, ops, "")) == [ops["sent"], ops["pending"], ops["dead"]]
    assert ids(_get(client, ops, "?status=dead")) == [ops["dead"]]
    assert ids(_get(client, ops, "?topic=return_decision")) == [ops["pending"]]
    assert ids(_get(client, ops, f"?account_id={ops['account_id'] + 999}")) == []
    page1 = _get(client, ops, "?limit=2").get_json()
    page2 = _get(client, ops, f"?limit=2&cursor={page1['next_cursor']}").get_json()
    assert [r["id"] for r in page1["data"] + page2["data"]] == \
        [ops["sent"], ops["pending"], ops["dead"]]
    assert page2["next_cursor"] is None
    assert _get(client, ops, "?status=bogus").status_code == 422


def test_detail_shows_attempts_scrubbed(client, ops):
    body = _get(client, ops, f"/{ops['dead']}").get_json()
    assert body["status"] == "dead" and body["idempotency_key"] == ops["dead_key"]
    [attempt] = body["delivery_attempts"]
    assert attempt["status_code"] == 503 and attempt["outcome"] == "retry"
    assert attempt["response_excerpt"] == "busy, call 138****5678"
    assert body["payload"] == PAYLOAD


def test_replay_dead_keeps_the_key_and_is_due_now(client, database, ops):
    resp = _post(client, ops, f"/{ops['dead']}/replay", role="merchant_admin")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "pending" and body["attempts"] == 0
    assert body["idempotency_key"] == ops["dead_key"]
    with database.session(readonly=True) as s:
        message = s.get(OutboxMessage, ops["dead"])
        assert message.next_attempt_at <= utcnow()
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "outbox.replayed")) == 1
    for other in ("pending", "sent"):  # only dead messages replay
        resp = _post(client, ops, f"/{ops[other]}/replay")
        assert resp.status_code == 409
        assert resp.get_json()["error"]["code"] == "conflict"


def test_cancel_rules(client, database, ops):
    assert _post(client, ops, f"/{ops['sent']}/cancel").status_code == 409
    with database.session() as s:  # a worker is sending it right now
        message = s.get(OutboxMessage, ops["pending"])
        message.lease_owner, message.lease_expires_at = "w1", utcnow() + timedelta(seconds=60)
    assert _post(client, ops, f"/{ops['pending']}/cancel").status_code == 409
    with database.session() as s:  # that worker died and its lease expired
        s.get(OutboxMessage, ops["pending"]).lease_expires_at = utcnow() - timedelta(seconds=1)
    resp = _post(client, ops, f"/{ops['pending']}/cancel")
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    assert _post(client, ops, f"/{ops['dead']}/cancel").get_json()["status"] == "cancelled"
    assert _post(client, ops, f"/{ops['dead']}/replay").status_code == 409
    with database.session(readonly=True) as s:
        assert s.get(OutboxMessage, ops["pending"]).lease_owner is None


def test_roles_outside_operations_are_refused(client, ops):
    assert _get(client, ops, "", role="finance").status_code == 403
    assert _post(client, ops, f"/{ops['dead']}/replay", role="finance").status_code == 403


def test_unknown_id_is_404(client, ops):
    assert _get(client, ops, f"/{ops['sent'] + 1000}").status_code == 404
    assert _post(client, ops, f"/{ops['sent'] + 1000}/cancel").status_code == 404


# -- CLI ----------------------------------------------------------------------------------
def _cli(app, *args):
    result = app.test_cli_runner().invoke(args=["outbox", *args])
    return result.exit_code, result.output


def test_cli_list_and_replay(app, database, ops):
    code, out = _cli(app, "list", "--status", "dead", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [ops["dead"]] and rows[0]["name"]

    code, out = _cli(app, "replay", str(ops["sent"]), "--json")
    assert code == 1 and "only dead" in json.loads(out)["error"]

    code, out = _cli(app, "replay", str(ops["dead"]), "--json")
    assert code == 0 and json.loads(out) == {"id": ops["dead"], "status": "pending"}
    with database.session(readonly=True) as s:
        message = s.get(OutboxMessage, ops["dead"])
        assert message.status == "pending" and message.idempotency_key == ops["dead_key"]

    code, out = _cli(app, "replay")
    assert code == 1


def test_cli_replay_all_dead_for_one_merchant(app, database, ops):
    with database.session() as s:
        other = f.merchant(s, "Other")
        other_shop = f.pushing_shop(s, other.id, "http://other.test")
        theirs = f.outbox_message(s, other_shop, 9, status="dead").id
        mine = _enqueue(s, ops["account_id"], 4, "v1")
        mine.status = "dead"
        mine = mine.id
    code, out = _cli(app, "replay", "--all-dead", "--merchant", str(ops["merchant_id"]),
                     "--json")
    assert code == 0
    assert json.loads(out) == {"replayed": 2, "ids": [ops["dead"], mine]}
    with database.session(readonly=True) as s:
        assert s.get(OutboxMessage, theirs).status == "dead"
    code, out = _cli(app, "replay", "--all-dead", "--json")
    assert json.loads(out) == {"replayed": 1, "ids": [theirs]}
