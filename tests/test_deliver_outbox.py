"""Delivering the outbox (``jobs.deliver_outbox``) through the generic shop's pushes:
success, retry with backoff, Retry-After, dead letters, replay, account flags, leases,
superseding, wake-ups, and two workers draining one outbox."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
import requests
import responses
from sqlalchemy import select, update

from connectors.base import ConnectorError, ErrorClass, PushResult
from connectors.generic_shop import GenericShop
from hub.web.app import create_app
from hub.core.db import utcnow
from hub.models import Account, AuditEntry, DeliveryAttempt, OutboxMessage
from hub.pipeline.outbox import enqueue
from hub.core.wakeup import Listener
from jobs import deliver_outbox
from jobs.claims import claim
from jobs.runner import InProcessRunner, Job
from tests import factories as f
from tests.http_receiver import Receiver

BASE = "http://shop.test"
SHIPMENT = {"order_id": "P100", "carrier": "sf", "tracking_number": "SF000000000100"}


@pytest.fixture
def app3(settings, database):
    """The hub with at most 3 attempts per message, so dead letters come quickly."""
    return create_app(replace(settings, outbox_max_attempts=3), database)


@pytest.fixture
def world(app3, database):
    with database.session() as s:
        m = f.merchant(s)
        sh = f.pushing_shop(s, m.id, BASE)
        return {"merchant_id": m.id, "account_id": sh.id,
                "token": f.token(s, m.id, "operator")}


def add(database, account_id, topic="shipment", payload=None, entity_id=100, version="v1"):
    with database.session() as s:
        m = enqueue(s, s.get(Account, account_id), topic, "order", entity_id,
                    SHIPMENT if payload is None else payload, version)
        return m.id, m.idempotency_key


def get(database, message_id):
    with database.session(readonly=True) as s:
        return s.get(OutboxMessage, message_id)


def attempts(database, message_id):
    with database.session(readonly=True) as s:
        return list(s.scalars(select(DeliveryAttempt).where(
            DeliveryAttempt.outbox_message_id == message_id).order_by(DeliveryAttempt.id)))


def make_due(database, message_id):
    """Time passes: the message's next attempt is due now."""
    with database.session() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                  .values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def run(app):
    return deliver_outbox.run(app, "test-worker")


# -- success ---------------------------------------------------------------------------------
@responses.activate
def test_shipment_is_pushed_with_its_idempotency_key(app3, database, world):
    responses.post(f"{BASE}/hub/shipments", json={"id": "SHP-9"}, status=201)
    message_id, key = add(database, world["account_id"])
    assert run(app3) == 1
    [call] = responses.calls
    assert call.request.headers["Idempotency-Key"] == key
    assert call.request.headers["Authorization"] == "Bearer shop-api-key-123"
    assert json.loads(call.request.body) == SHIPMENT
    m = get(database, message_id)
    assert m.status == "sent" and m.sent_at is not None and m.attempts == 1
    assert m.result["external_id"] == "SHP-9" and m.lease_owner is None
    [attempt] = attempts(database, message_id)
    assert (attempt.attempt_no, attempt.outcome, attempt.status_code) == (1, "success", 201)
    assert "SHP-9" in attempt.response_excerpt
    assert run(app3) == 0  # nothing left


@responses.activate
def test_return_decision_goes_to_the_return(app3, database, world):
    responses.post(f"{BASE}/hub/returns/R%2F7/decision", json={}, status=200)
    message_id, key = add(database, world["account_id"], "return_decision",
                          {"return_id": "R/7", "decision": "reject", "reason": "worn"})
    run(app3)
    [call] = responses.calls
    assert json.loads(call.request.body) == {"decision": "reject", "reason": "worn"}
    assert call.request.headers["Idempotency-Key"] == key
    assert get(database, message_id).status == "sent"


@responses.activate
def test_an_approved_return_tells_the_shop_what_to_tell_the_buyer(app3, database, world):
    responses.post(f"{BASE}/hub/returns/R8/decision", json={}, status=200)
    add(database, world["account_id"], "return_decision", {
        "return_id": "R8", "decision": "approve", "reason": None,
        "instructions": "请用原包装寄回\n\nPack it in its original box"})
    run(app3)
    [call] = responses.calls
    assert json.loads(call.request.body) == {
        "decision": "approve", "reason": None,
        "instructions": "请用原包装寄回\n\nPack it in its original box"}


# -- retries, backoff, dead, replay ----------------------------------------------------------
@responses.activate
def test_retry_backoff_then_success_with_the_same_key(app3, database, world):
    responses.post(f"{BASE}/hub/shipments", body="busy, ring 13812345678", status=503)
    responses.post(f"{BASE}/hub/shipments", body="still busy", status=502)
    responses.post(f"{BASE}/hub/shipments", json={"id": "ok"}, status=201)
    message_id, key = add(database, world["account_id"])

    before = utcnow()
    run(app3)
    m = get(database, message_id)
    assert m.status == "pending" and m.attempts == 1 and m.last_error_class == "retry"
    first_delay = (m.next_attempt_at - before).total_seconds()
    base1 = deliver_outbox.BASE_DELAY_S
    assert 0.8 * base1 - 1 <= first_delay <= 1.2 * base1 + 5
    assert run(app3) == 0  # not due yet

    make_due(database, message_id)
    before = utcnow()
    run(app3)
    m = get(database, message_id)
    second_delay = (m.next_attempt_at - before).total_seconds()
    base2 = deliver_outbox.BASE_DELAY_S * deliver_outbox.FACTOR
    assert 0.8 * base2 - 1 <= second_delay <= 1.2 * base2 + 5  # grows exponentially

    make_due(database, message_id)
    run(app3)
    assert get(database, message_id).status == "sent"
    assert {c.request.headers["Idempotency-Key"] for c in responses.calls} == {key}
    assert len(responses.calls) == 3
    log = attempts(database, message_id)
    assert [(a.attempt_no, a.status_code, a.outcome) for a in log] == \
        [(1, 503, "retry"), (2, 502, "retry"), (3, 201, "success")]
    assert log[0].response_excerpt == "busy, ring 138****5678"  # scrubbed
    assert "503" in log[0].error


@responses.activate
def test_retry_after_is_honoured(app3, database, world):
    responses.post(f"{BASE}/hub/shipments", status=429, headers={"Retry-After": "900"})
    message_id, _ = add(database, world["account_id"])
    before = utcnow()
    run(app3)
    m = get(database, message_id)
    assert m.status == "pending" and m.last_error_class == "rate_limited"
    assert m.next_attempt_at >= before + timedelta(seconds=899)
    [attempt] = attempts(database, message_id)
    assert (attempt.outcome, attempt.status_code) == ("rate_limited", 429)


def test_retry_delay_schedule():
    mid = [deliver_outbox.retry_delay(n, rand=lambda: 0.5) for n in range(1, 10)]
    assert mid == sorted(mid) and mid[0] == deliver_outbox.BASE_DELAY_S
    assert 18 * 3600 < sum(mid) < 26 * 3600  # 10 attempts span about a day
    assert deliver_outbox.retry_delay(1, rand=lambda: 0.0) == pytest.approx(24.0)
    assert deliver_outbox.retry_delay(1, rand=lambda: 1.0) == pytest.approx(36.0)
    assert deliver_outbox.retry_delay(1, retry_after=3600, rand=lambda: 1.0) == 3600
    assert deliver_outbox.retry_delay(50, rand=lambda: 0.5) == deliver_outbox.MAX_DELAY_S


@responses.activate
def test_exhausted_retries_go_dead_and_replay_delivers(app3, client, database, world):
    responses.post(f"{BASE}/hub/shipments", status=500)
    responses.post(f"{BASE}/hub/shipments", status=500)
    responses.post(f"{BASE}/hub/shipments", body=requests.ConnectionError("reset"))
    responses.post(f"{BASE}/hub/shipments", json={"id": "late"}, status=201)
    message_id, key = add(database, world["account_id"])
    for _ in range(3):
        make_due(database, message_id)
        run(app3)
    m = get(database, message_id)
    assert m.status == "dead" and m.attempts == 3
    assert [a.outcome for a in attempts(database, message_id)] == ["retry"] * 3
    assert run(app3) == 0  # dead is final until replayed

    resp = client.post(f"/api/v1/ops/outbox/{message_id}/replay",
                       headers=f.bearer(world["token"]))
    assert resp.status_code == 200 and resp.get_json()["status"] == "pending"
    run(app3)
    m = get(database, message_id)
    assert m.status == "sent" and m.attempts == 1
    assert [a.attempt_no for a in attempts(database, message_id)] == [1, 2, 3, 4]
    assert len(responses.calls) == 4
    assert {c.request.headers["Idempotency-Key"] for c in responses.calls} == {key}


@responses.activate
def test_401_is_dead_at_once_and_flags_the_account(app3, database, world):
    responses.post(f"{BASE}/hub/shipments", json={"error": "bad key"}, status=401)
    message_id, _ = add(database, world["account_id"])
    run(app3)
    m = get(database, message_id)
    assert m.status == "dead" and m.attempts == 1 and m.last_error_class == "fail_config"
    with database.session(readonly=True) as s:
        account = s.get(Account, world["account_id"])
        assert account.status == "needs_attention"
        assert f"outbox message {message_id}" in account.status_reason
        assert "401" in account.status_reason
        assert s.scalar(select(AuditEntry.action).where(
            AuditEntry.entity == "account")) == "account.needs_attention"
    [attempt] = attempts(database, message_id)
    assert (attempt.status_code, attempt.outcome) == (401, "fail_config")
    assert "bad key" in attempt.response_excerpt


@responses.activate
def test_400_is_dead_and_leaves_the_account_alone(app3, database, world):
    responses.post(f"{BASE}/hub/shipments", json={"error": "unknown order"}, status=400)
    message_id, _ = add(database, world["account_id"])
    run(app3)
    assert get(database, message_id).status == "dead"
    assert get(database, message_id).last_error_class == "fail_data"
    with database.session(readonly=True) as s:
        assert s.get(Account, world["account_id"]).status == "active"


@responses.activate
def test_bad_payload_and_unknown_topic_never_reach_the_wire(app3, database, world):
    bad_id, _ = add(database, world["account_id"], payload={"order_id": "P1"})
    odd_id, _ = add(database, world["account_id"], topic="teleport", entity_id=5)
    run(app3)
    assert len(responses.calls) == 0
    assert (get(database, bad_id).status, get(database, bad_id).last_error_class) == \
        ("dead", "fail_data")
    assert (get(database, odd_id).status, get(database, odd_id).last_error_class) == \
        ("dead", "fail_config")
    assert "teleport" in get(database, odd_id).last_error


def test_unexpected_exception_is_a_retry(app3, database, world, monkeypatch):
    def boom(self, topic, payload, key):
        raise RuntimeError("mapper bug")

    monkeypatch.setattr(GenericShop, "push", boom)
    message_id, _ = add(database, world["account_id"])
    run(app3)
    m = get(database, message_id)
    assert m.status == "pending" and m.attempts == 1 and m.lease_owner is None
    [attempt] = attempts(database, message_id)
    assert attempt.outcome == "retry" and "RuntimeError: mapper bug" in attempt.error


def test_refresh_token_then_one_more_try(app3, database, world, monkeypatch):
    calls, refreshed = [], []

    def push(self, topic, payload, key):
        calls.append(key)
        if not refreshed:
            raise ConnectorError(ErrorClass.REFRESH_TOKEN_THEN_RETRY, "token expired",
                                 status_code=401)
        return PushResult(external_id="X", status_code=200)

    monkeypatch.setattr(GenericShop, "push", push)
    monkeypatch.setattr(GenericShop, "refresh_token", lambda self: refreshed.append(1))
    message_id, key = add(database, world["account_id"])
    run(app3)
    assert calls == [key, key] and refreshed == [1]
    assert get(database, message_id).status == "sent"
    assert [(a.attempt_no, a.outcome) for a in attempts(database, message_id)] == \
        [(1, "refresh_token_then_retry"), (2, "success")]


def test_refresh_that_fails_is_a_config_problem(app3, database, world, monkeypatch):
    def push(self, topic, payload, key):
        raise ConnectorError(ErrorClass.REFRESH_TOKEN_THEN_RETRY, "token expired")

    monkeypatch.setattr(GenericShop, "push", push)  # generic_shop has no token to refresh
    message_id, _ = add(database, world["account_id"])
    run(app3)
    m = get(database, message_id)
    assert m.status == "dead" and m.last_error_class == "fail_config"
    with database.session(readonly=True) as s:
        assert s.get(Account, world["account_id"]).status == "needs_attention"


# -- leases and superseding ---------------------------------------------------------------------
@responses.activate
def test_a_lost_lease_is_not_sent(app3, database, world):
    message_id, _ = add(database, world["account_id"])
    assert claim(database, OutboxMessage, deliver_outbox.due(), "slow", 60, 10) == [message_id]
    with database.session() as s:  # slow's lease expired and fast claimed the message
        s.get(OutboxMessage, message_id).lease_expires_at = utcnow() - timedelta(seconds=1)
    assert claim(database, OutboxMessage, deliver_outbox.due(), "fast", 60, 10) == [message_id]
    assert deliver_outbox.deliver_one(database, message_id, "slow", lease_s=60,
                                      max_attempts=3) is None
    assert len(responses.calls) == 0 and attempts(database, message_id) == []
    assert get(database, message_id).lease_owner == "fast"


@responses.activate
def test_an_older_message_is_superseded_not_sent(app3, database, world):
    responses.post(f"{BASE}/hub/shipments", json={}, status=201)
    old_id, _ = add(database, world["account_id"], version="v1")
    with database.session() as s:  # in flight when v2 was queued, then it failed
        s.get(OutboxMessage, old_id).lease_owner = "w"
    new_id, new_key = add(database, world["account_id"], version="v2")
    with database.session() as s:
        s.get(OutboxMessage, old_id).lease_owner = None
    assert get(database, old_id).status == "pending"
    run(app3)
    assert get(database, old_id).status == "superseded"
    assert get(database, new_id).status == "sent"
    assert [c.request.headers["Idempotency-Key"] for c in responses.calls] == [new_key]


# -- wake-ups and concurrency -------------------------------------------------------------------
def test_enqueue_wakes_the_delivery_job(app3, database, world, settings):
    """The job's own tick is an hour away, so only a wake-up can send the message."""
    batches = []

    def counting_run(app, owner):
        batches.append(owner)
        return deliver_outbox.run(app, owner)

    with Receiver() as receiver:
        with database.session() as s:
            account = s.get(Account, world["account_id"])
            account.config = {**account.config, "base_url": receiver.url}
        runner = InProcessRunner(app3, [Job("deliver_outbox", counting_run, 3600)],
                                 "waker", scheduler=False)
        listener = Listener(database, settings.var_dir, on_wake=lambda c: runner.wake(
            "deliver_outbox" if c == "outbox" else None))
        listener.start()
        runner.start()
        try:
            deadline = time.monotonic() + 20
            while not batches and time.monotonic() < deadline:
                time.sleep(0.01)  # the first, empty batch runs at start; then it sleeps
            version = 0
            while receiver.count() == 0 and time.monotonic() < deadline:
                version += 1  # until the listener is up, a wake-up may be missed
                with database.session() as s:
                    enqueue(s, s.get(Account, world["account_id"]), "shipment", "order", 1,
                            SHIPMENT, f"v{version}", var_dir=settings.var_dir)
                end = time.monotonic() + 2
                while receiver.count() == 0 and time.monotonic() < end:
                    time.sleep(0.05)
            assert receiver.count() >= 1
            assert len(batches) >= 2  # the empty start-up batch, then the woken one
        finally:
            runner.stop()
            listener.stop()
            runner._join()


def test_two_workers_deliver_each_message_exactly_once(app3, database, world):
    total = 40
    with Receiver(delay_s=0.01) as receiver:
        with database.session() as s:
            m = world["merchant_id"]
            shops = [f.pushing_shop(s, m, receiver.url) for _ in range(3)]
            keys = {enqueue(s, shops[i % 3], "shipment", "order", i, SHIPMENT, "v1")
                    .idempotency_key for i in range(total)}
        errors = []

        def drain(owner):
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if deliver_outbox.run(app3, owner) == 0:
                        with database.session(readonly=True) as s:
                            if not s.scalar(select(OutboxMessage.id).where(
                                    OutboxMessage.status == "pending").limit(1)):
                                return
                        time.sleep(0.05)
            except Exception as e:  # pragma: no cover (reported below)
                errors.append(e)

        threads = [threading.Thread(target=drain, args=(f"worker-{n}",)) for n in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert not errors
        counts = receiver.key_counts()
    assert set(counts) == keys
    assert all(n == 1 for n in counts.values()), counts.most_common(3)
    with database.session(readonly=True) as s:
        statuses = list(s.scalars(select(OutboxMessage.status)))
        assert statuses == ["sent"] * total
        assert len(list(s.scalars(select(DeliveryAttempt.id)))) == total
