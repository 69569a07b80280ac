"""Hostile request bodies: nesting past any sane depth, chunked bodies over the limit,
floods of junk deliveries, probing for account ids. Each gets a clear 4xx, writes
nothing but (within limits) a quarantine row, and never a 500."""
from __future__ import annotations

import base64
import dataclasses
import http.client
import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from connectors import bounded_json
from hub.core.db import utcnow
from hub.models import InboxEvent, QuarantinedRequest
from hub.pipeline import inbox
from hub.web.app import create_app
from jobs import registry
from tests import factories as f
from tests.test_supplier_receipts import multipart, rw, url as receipt_url  # noqa: F401
from tests.webhook_helpers import envelope, live_server, order_data, signed, url

BAD_SIGNATURE = {"Content-Type": "application/json", "webhook-id": "msg_1",
                 "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
NESTED_1KB = b"[" * 500 + b"]" * 500


@pytest.fixture
def shop(database):
    with database.session() as s:
        return f.shop(s, f.merchant(s).id)


def count(database, model) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def quarantined(database) -> list[QuarantinedRequest]:
    with database.session() as s:
        return list(s.scalars(select(QuarantinedRequest).order_by(QuarantinedRequest.id)))


# -- 19: bounded parsing ------------------------------------------------------------------
def test_bounded_loads_refuses_deep_nesting_as_a_value_error():
    assert bounded_json.loads(b'{"a": [1, {"b": "[[[[[[[["}]}') == {"a": [1, {"b": "[" * 8}]}
    assert bounded_json.loads('"' + "[" * 5000 + '"') == "[" * 5000  # inside a string
    assert bounded_json.loads("[" * 64 + "]" * 64) is not None
    for body in (b"[" * 65 + b"]" * 65, b"[" * 100_000, "{\"a\":" * 3000 + "1" + "}" * 3000):
        with pytest.raises(ValueError):
            bounded_json.loads(body)


def test_a_deeply_nested_body_with_a_bad_signature_is_401_and_quarantined(
        client, database, shop):
    resp = client.post(url(shop.id), data=NESTED_1KB, headers=BAD_SIGNATURE)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "bad_signature"
    [q] = quarantined(database)
    assert (q.reason, q.account_id) == ("bad_signature", shop.id)
    assert q.body_excerpt == NESTED_1KB  # kept as text: it does not parse within bounds
    assert count(database, InboxEvent) == 0


def test_a_signed_100k_level_body_is_400_and_quarantined(client, database, shop):
    body = (b'{"type": "order.updated", "data": {"x": ' + b"[" * 100_000 + b"]" * 100_000
            + b"}}")
    resp = client.post(url(shop.id), data=body, headers=signed(body))
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "unparseable"
    [q] = quarantined(database)
    assert q.reason == "unparseable" and count(database, InboxEvent) == 0


def test_a_deeply_nested_receipt_is_400_and_stores_nothing(client, database, rw):  # noqa: F811
    body = b'{"condition": "intact", "checklist": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    resp = client.post(receipt_url(rw["case_a"]), headers=rw["A"], data=body,
                       content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_json"
    resp = client.post(receipt_url(rw["case_a"]), headers=rw["A"],
                       **multipart(checklist="[" * 100_000 + "]" * 100_000))
    assert resp.status_code == 422, resp.get_json()


def test_a_deeply_nested_api_body_or_cursor_is_400(client, database):
    with database.session() as s:
        admin = f.bearer(f.token(s, f.merchant(s).id))
    resp = client.post("/api/v1/suppliers", headers=admin, data=b"[" * 100_000,
                       content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_json"
    cursor = base64.urlsafe_b64encode(b"[" * 3000).decode()
    resp = client.get("/api/v1/orders", headers=admin, query_string={"cursor": cursor})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_cursor"


# -- 20: chunked bodies over the limit ----------------------------------------------------
def _post_chunked(base: str, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        chunks = (body[i:i + 4096] for i in range(0, len(body), 4096))
        conn.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(settings, database, shop):
    app = create_app(dataclasses.replace(settings, max_body_bytes=2048), database)
    big = envelope("order.updated", order_data(note="x" * 4000))
    small = envelope("order.updated", order_data())
    with live_server(app) as base:
        status, answer = _post_chunked(base, url(shop.id), big, signed(big))
        assert status == 413, answer
        assert json.loads(answer)["error"]["code"] == "payload_too_large"
        assert count(database, InboxEvent) == 0 and count(database, QuarantinedRequest) == 0
        status, _ = _post_chunked(base, url(shop.id), small, signed(small))
        assert status == 200
    with database.session() as s:
        assert s.scalars(select(InboxEvent.body)).all() == [small]  # whole, not cut


# -- 21: quarantine writes are limited, kept for a while, then pruned ----------------------
def test_junk_from_one_source_writes_a_bounded_number_of_quarantine_rows(
        client, database, shop):
    answers = {client.post(url(shop.id), data=b"junk", headers=BAD_SIGNATURE).status_code
               for _ in range(inbox.QuarantineLimiter.PER_SOURCE + 20)}
    assert answers == {401}  # the same refusal, written or not
    assert count(database, QuarantinedRequest) == inbox.QuarantineLimiter.PER_SOURCE


def test_junk_for_one_account_from_many_sources_is_bounded_too(client, database, shop):
    for n in range(inbox.QuarantineLimiter.PER_ACCOUNT + 20):
        resp = client.post(url(shop.id), data=b"junk", headers=BAD_SIGNATURE,
                           environ_overrides={"REMOTE_ADDR": f"10.{n // 250}.{n % 250}.1"})
        assert resp.status_code == 401
    assert count(database, QuarantinedRequest) == inbox.QuarantineLimiter.PER_ACCOUNT
    other = client.post(url(shop.id + 1), data=b"junk", headers=BAD_SIGNATURE,
                        environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 401 and count(database, QuarantinedRequest) == \
        inbox.QuarantineLimiter.PER_ACCOUNT + 1  # another account's budget is its own


def test_the_limit_is_a_sliding_window():
    now = [1000.0]
    limiter = inbox.QuarantineLimiter(per_source=3, per_account=100, window_s=60,
                                clock=lambda: now[0])
    assert [limiter.allow("198.51.100.1", "a:1") for _ in range(5)] == \
        [True, True, True, False, False]
    assert limiter.allow("198.51.100.2", "a:1")  # another source
    now[0] += 30
    assert not limiter.allow("198.51.100.1", "a:1")
    now[0] += 31  # the first three are over a minute old
    assert limiter.allow("198.51.100.1", "a:1")
    v6 = [limiter.allow(f"2001:db8::{n}", "a:2") for n in range(1, 5)]
    assert v6 == [True, True, True, False]  # one /64 is one source


def test_old_quarantine_rows_are_pruned_by_a_job(app, settings, database, shop):
    from jobs import prune_quarantine

    days = settings.quarantine_retention_days
    with database.session() as s:
        old, edge, new = (f.quarantined(s, shop) for _ in range(3))
        old.received_at = utcnow() - timedelta(days=days, minutes=5)
        edge.received_at = utcnow() - timedelta(days=days) + timedelta(minutes=5)
        keep = {edge.id, new.id}
    assert prune_quarantine.run(app, "test") == 1
    assert {q.id for q in quarantined(database)} == keep
    assert "prune_quarantine" in {job.name for job in registry.default_jobs()}


def test_the_retention_is_a_setting(monkeypatch):
    from hub.core.config import ConfigError, Settings

    monkeypatch.setenv("HUB_QUARANTINE_RETENTION_DAYS", "7")
    assert Settings.from_env().quarantine_retention_days == 7
    monkeypatch.setenv("HUB_QUARANTINE_RETENTION_DAYS", "0")
    with pytest.raises(ConfigError, match="HUB_QUARANTINE_RETENTION_DAYS"):
        Settings.from_env()


# -- 25: unknown accounts answer like bad signatures ---------------------------------------
@pytest.mark.parametrize("which", ["unknown_account", "other_connector", "no_connector"])
def test_unknown_accounts_answer_like_a_bad_signature_and_are_quarantined(
        client, database, shop, which):
    body = envelope("order.updated", order_data())
    forged = client.post(url(shop.id), data=body, headers=BAD_SIGNATURE)
    path = {"unknown_account": url(shop.id + 1000),
            "other_connector": url(shop.id, "cj"),
            "no_connector": url(shop.id, "nope")}[which]
    probe = client.post(path, data=body, headers=BAD_SIGNATURE)
    assert (probe.status_code, probe.get_json()) == (401, forged.get_json())
    forged_row, probe_row = quarantined(database)
    assert probe_row.reason == "bad_signature" and probe_row.account_id is None
    assert forged_row.account_id == shop.id and count(database, InboxEvent) == 0
