"""The webhook receiver: verify on raw bytes, store once, acknowledge before processing;
quarantine what is rejected, with no secret kept."""
from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from connectors.base import AckResponse
from connectors.generic_shop import GenericShop
from hub.web.app import create_app
from hub.models import InboxEvent, Order, QuarantinedRequest
from jobs import process_inbox
from tests import factories as f
from tests.webhook_helpers import envelope, live_server, order_data, signed, url

OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"


@pytest.fixture
def shop(database):
    with database.session() as s:
        m = f.merchant(s)
        return f.shop(s, m.id)


def count(database, model) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def rows(database, model):
    with database.session() as s:
        return list(s.scalars(select(model).order_by(model.id)))


def test_valid_delivery_is_stored_and_acked_before_processing(client, database, shop):
    body = envelope("order.updated", order_data())
    headers = signed(body, "msg_1", Authorization="Bearer hub_0123abcd_xyz",
                     Cookie="session=abc")
    resp = client.post(url(shop.id), data=body, headers=headers)
    assert resp.status_code == 200
    assert resp.get_json() == {"ok": True}
    [event] = rows(database, InboxEvent)
    assert (event.merchant_id, event.account_id, event.connector) == \
        (shop.merchant_id, shop.id, "generic_shop")
    assert (event.external_event_id, event.event_type, event.source, event.status) == \
        ("msg_1", "order.updated", "webhook", "received")
    assert event.body == body                       # the raw bytes, as signed
    assert event.attempts == 0 and event.processed_at is None
    assert "authorization" not in event.headers and "cookie" not in event.headers
    assert event.headers["webhook-id"] == "msg_1"
    assert event.headers["webhook-signature"] == "***"
    assert count(database, Order) == 0              # nothing processed yet


def test_duplicate_delivery_is_acked_and_changes_nothing(client, database, shop, app):
    body = envelope("order.updated", order_data())
    first = client.post(url(shop.id), data=body, headers=signed(body, "msg_dup"))
    [before] = rows(database, InboxEvent)
    process_inbox.run(app, "worker-1")
    again = client.post(url(shop.id), data=body, headers=signed(body, "msg_dup"))
    assert first.status_code == again.status_code == 200
    assert again.data == first.data
    [after] = rows(database, InboxEvent)
    assert after.id == before.id and after.received_at == before.received_at
    assert after.status == "processed"             # the redelivery did not re-queue it
    assert count(database, Order) == 1


def test_same_body_with_another_event_id_is_another_event(client, database, shop):
    body = envelope("order.updated", order_data())
    for msg_id in ("msg_a", "msg_b"):
        assert client.post(url(shop.id), data=body, headers=signed(body, msg_id)).status_code == 200
    assert [e.external_event_id for e in rows(database, InboxEvent)] == ["msg_a", "msg_b"]


def _assert_quarantined(database, shop, reason):
    assert count(database, InboxEvent) == 0
    [q] = rows(database, QuarantinedRequest)
    assert (q.reason, q.merchant_id, q.account_id, q.connector) == \
        (reason, shop.merchant_id, shop.id, "generic_shop")
    assert q.remote_addr == "127.0.0.1"
    return q


@pytest.mark.parametrize("case", ["forged", "missing", "stale", "future", "tampered"])
def test_bad_signature_is_401_and_quarantined(client, database, shop, case):
    body = envelope("order.updated", order_data())
    headers = {
        "forged": signed(body, secret=OTHER_SECRET),
        "missing": {"Content-Type": "application/json"},
        "stale": signed(body, timestamp=int(time.time()) - 600),
        "future": signed(body, timestamp=int(time.time()) + 600),
        "tampered": signed(envelope("order.updated", order_data(status="cancelled"))),
    }[case]
    resp = client.post(url(shop.id), data=body, headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "bad_signature"
    q = _assert_quarantined(database, shop, "bad_signature")
    excerpt = json.loads(q.body_excerpt)            # a small JSON body is kept whole...
    assert excerpt["data"]["id"] == "GS-1"
    assert excerpt["data"]["buyer"]["phone_cipher"] == "***"   # ...buyer ciphertext masked


@pytest.mark.parametrize("body", [b"this is not json", b"[1, 2, 3]",
                                  b'{"type": "order.updated"}',
                                  b'{"type": "", "data": {}}',
                                  b'{"type": "order.updated", "data": "x"}'])
def test_signed_but_unparseable_is_400_and_quarantined(client, database, shop, body):
    resp = client.post(url(shop.id), data=body, headers=signed(body))
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "unparseable"
    _assert_quarantined(database, shop, "unparseable")


def test_event_id_too_long_for_the_inbox_is_unparseable(client, database, shop):
    body = envelope("order.updated", order_data())
    resp = client.post(url(shop.id), data=body, headers=signed(body, "m" * 192))
    assert resp.status_code == 400
    _assert_quarantined(database, shop, "unparseable")


def test_connector_error_body_is_used_when_it_has_one(client, database, shop, monkeypatch):
    monkeypatch.setattr(GenericShop, "webhook_error_ack", lambda self, rejected: AckResponse(
        json.dumps({"result": 0, "reason": rejected.reason}), status=rejected.status))
    body = envelope("order.updated", order_data())
    resp = client.post(url(shop.id), data=body, headers=signed(body, secret=OTHER_SECRET))
    assert resp.status_code == 401
    assert resp.get_json() == {"result": 0, "reason": "bad_signature"}
    _assert_quarantined(database, shop, "bad_signature")


def test_unknown_event_type_is_stored_not_rejected(client, database, shop):
    body = envelope("customer.updated", {"id": "C1"})
    assert client.post(url(shop.id), data=body, headers=signed(body)).status_code == 200
    assert [e.event_type for e in rows(database, InboxEvent)] == ["customer.updated"]


def test_secrets_never_reach_quarantine_rows(client, database, shop):
    api_token = "hub_0badc0de_" + "S" * 40
    secrets = [api_token, "cookie-value-123", "api-key-value-123", "body-secret-123",
               "13812345678", "pw-secret-456", "form-token-789", f.WHSEC,
               f.WHSEC.removeprefix("whsec_")]
    json_body = json.dumps({"type": "order.updated", "data": {
        "api_key": "body-secret-123", "buyer": {"phone": "13812345678"}}}).encode()
    long_body = (b'{"password": "pw-secret-456", "pad": "' + b"x" * 5000 + b'"}')
    form_body = b"a=1&access_token=form-token-789&secret=" + f.WHSEC.encode()
    for body in (json_body, long_body, form_body):
        client.post(url(shop.id), data=body, headers=signed(
            body, secret=OTHER_SECRET, Authorization=f"Bearer {api_token}",
            Cookie="sid=cookie-value-123", **{"X-Api-Key": "api-key-value-123",
                                              "X-Shop-Secret": f.WHSEC}))
    quarantined = rows(database, QuarantinedRequest)
    assert len(quarantined) == 3
    for q in quarantined:
        stored = json.dumps(q.headers) + q.detail + q.body_excerpt.decode("utf-8", "replace")
        for secret in secrets:
            assert secret not in stored, secret
        assert "authorization" not in q.headers and "cookie" not in q.headers
        assert q.headers["x-api-key"] == "***" and q.headers["webhook-signature"] == "***"
        assert len(q.body_excerpt) <= 2048
    assert b"138****5678" in quarantined[0].body_excerpt   # masked, still recognisable


def test_body_over_the_limit_is_413_and_nothing_is_stored(settings, database, shop):
    client = create_app(dataclasses.replace(settings, max_body_bytes=512), database).test_client()
    body = envelope("order.updated", order_data(note="x" * 600))
    resp = client.post(url(shop.id), data=body, headers=signed(body))
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "payload_too_large"
    small = envelope("order.updated", order_data())
    assert client.post(url(shop.id), data=small, headers=signed(small)).status_code == 200
    assert count(database, InboxEvent) == 1 and count(database, QuarantinedRequest) == 0


@pytest.mark.parametrize("which", ["unknown_account", "other_connector"])
def test_unknown_account_or_connector_answers_as_a_bad_signature(client, database, shop, which):
    """No way to tell which account ids exist (tests/test_hostile_bodies.py)."""
    body = envelope("order.updated", order_data())
    path = url(shop.id + 1000) if which == "unknown_account" else url(shop.id, "kuaishou")
    resp = client.post(path, data=body, headers=signed(body))
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "bad_signature"
    assert count(database, InboxEvent) == 0 and count(database, QuarantinedRequest) == 1


def test_only_post_is_allowed(client, shop):
    resp = client.get(url(shop.id))
    assert resp.status_code == 405 and resp.get_json()["error"]["code"] == "method_not_allowed"


def test_unexpected_error_is_500_without_trace_and_the_retry_is_stored(
        client, database, shop, monkeypatch):
    """A write that fails is a 500 with nothing stored, and the sender's retry goes in.
    (A failed transaction rolls back what it wrote: see tests/test_inbox_writer.py.)"""
    from hub.pipeline import inbox

    def fail(*args, **kwargs):
        raise RuntimeError("exploded at /secret/path")

    monkeypatch.setattr(inbox, "insert_raw", fail)
    body = envelope("order.updated", order_data())
    headers = signed(body)
    resp = client.post(url(shop.id), data=body, headers=headers)
    assert resp.status_code == 500
    error = resp.get_json()["error"]
    assert error["code"] == "internal_error"
    assert "Traceback" not in resp.get_data(as_text=True)
    assert "/secret/path" not in resp.get_data(as_text=True)
    assert count(database, InboxEvent) == 0
    monkeypatch.undo()
    assert client.post(url(shop.id), data=body, headers=headers).status_code == 200
    assert count(database, InboxEvent) == 1


def test_fifty_concurrent_deliveries_make_one_event_and_one_order(app, database, shop):
    body = envelope("order.updated", order_data(order_id="GS-CONC"))
    headers = signed(body, "msg_concurrent")
    with live_server(app) as base:
        def send(_):
            return requests.post(base + url(shop.id), data=body, headers=headers, timeout=60)

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(send, range(50)))
    assert [r.status_code for r in answers] == [200] * 50
    assert all(r.json() == {"ok": True} for r in answers)
    assert count(database, InboxEvent) == 1
    assert process_inbox.run(app, "worker-1") == 1
    assert process_inbox.run(app, "worker-1") == 0
    with database.session() as s:
        assert s.scalars(select(Order.platform_order_id)).all() == ["GS-CONC"]
        assert s.scalar(select(InboxEvent.status)) == "processed"


def test_a_pathological_forged_body_is_quarantined_without_stalling(client, database, shop):
    """Scrubbing runs on attacker-controlled bytes; it must stay linear (a backtracking
    pattern once spent seconds of CPU on 2 KB of "token_token_...")."""
    body = b"token_" * 2000 + b"=secret-value-1"
    resp = client.post(url(shop.id), data=body, headers=signed(
        body, secret=OTHER_SECRET, **{"X-Note": "token_" * 160 + "=v"}))
    assert resp.status_code == 401
    [q] = rows(database, QuarantinedRequest)
    assert len(q.body_excerpt) == 2048 and q.body_excerpt.startswith(b"token_token_")
