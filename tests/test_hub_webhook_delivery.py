"""Supplier notices through the outbox to a ``hub_webhook`` account: sent and signed, a
410 Gone stops the endpoint (the account needs attention) and alerts the merchant and the
supplier (``supplier_notice_failed``, raised by ``hub.domain.pushes.supplier_notices``), a 429 waits out
Retry-After, and ``hub suppliers rotate-secret`` signs with both secrets until retired."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from connectors import standard_webhooks
from hub.web.app import create_app
from hub.domain import fulfilment as flow
from hub.core.db import utcnow
from hub.models import Account, Alert, AuditEntry, OutboxMessage
from jobs import deliver_outbox
from tests import factories as f

ENDPOINT = "https://supplier.example.test/hooks/hub"


@pytest.fixture
def dw(app, database):
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        sup = f.supplier(s, m.id, "S1")
        channel = f.supplier_channel(s, sup, endpoint_url=ENDPOINT)
        f.sku_mapping(s, m.id, sup.id, "SKU-1")
        order = f.order(s, m.id, shop.id, sku="SKU-1")
        [ful] = flow.allocate(s, order)
        notice = s.scalar(select(OutboxMessage).where(OutboxMessage.account_id == channel.id))
        return {"merchant": m.id, "supplier": sup.id, "channel": channel.id, "notice": notice.id,
                "key": notice.idempotency_key, "fulfilment": ful.id,
                "token": f.bearer(f.token(s, m.id, "supplier", sup.id))}


def message(database, message_id) -> OutboxMessage:
    with database.session(readonly=True) as s:
        return s.get(OutboxMessage, message_id)


def alerts_of(database, kind="supplier_notice_failed"):
    with database.session(readonly=True) as s:
        return list(s.scalars(select(Alert).where(Alert.kind == kind)))


@responses.activate
def test_a_notice_is_delivered_signed(app, database, dw):
    responses.add(responses.POST, ENDPOINT, status=200, json={"ok": True})
    assert deliver_outbox.run(app, "w1") == 1
    assert message(database, dw["notice"]).status == "sent"
    [call] = responses.calls
    body, headers = call.request.body, call.request.headers
    assert standard_webhooks.verify([f.WHSEC], dict(headers), body) == dw["key"]
    envelope = json.loads(body)
    assert envelope["type"] == "order_dispatch" and envelope["id"] == dw["key"]
    assert envelope["data"]["fulfilment_id"] == dw["fulfilment"]
    assert alerts_of(database) == []


@responses.activate
def test_410_gone_stops_the_endpoint_and_alerts(app, client, database, dw):
    responses.add(responses.POST, ENDPOINT, status=410, body="gone")
    deliver_outbox.run(app, "w1")
    m = message(database, dw["notice"])
    assert m.status == "dead" and m.last_error_class == "fail_config"
    assert "410 Gone" in m.last_error
    with database.session(readonly=True) as s:
        account = s.get(Account, dw["channel"])
        assert account.status == "needs_attention" and "410 Gone" in account.status_reason
    [alert] = alerts_of(database)
    assert (alert.entity, alert.entity_id) == ("fulfilment", dw["fulfilment"])
    assert alert.supplier_id == dw["supplier"] and "410 Gone" in alert.message
    seen = client.get("/api/v1/alerts", headers=dw["token"]).get_json()["data"]
    assert [a["kind"] for a in seen] == ["supplier_notice_failed"]
    # the supplier still finds the notice through the API
    notices = client.get("/api/v1/supplier/notices", headers=dw["token"]).get_json()["data"]
    assert [(n["id"], n["status"]) for n in notices] == [(dw["notice"], "dead")]


@responses.activate
def test_429_waits_out_retry_after(app, database, dw):
    responses.add(responses.POST, ENDPOINT, status=429, headers={"Retry-After": "900"})
    before = utcnow()
    deliver_outbox.run(app, "w1")
    m = message(database, dw["notice"])
    assert m.status == "pending" and m.last_error_class == "rate_limited"
    assert m.next_attempt_at >= before + timedelta(seconds=900)
    assert alerts_of(database) == []


@responses.activate
def test_exhausted_retries_alert_the_merchant(settings, database, dw):
    app1 = create_app(replace(settings, outbox_max_attempts=1), database)
    responses.add(responses.POST, ENDPOINT, status=500)
    deliver_outbox.run(app1, "w1")
    assert message(database, dw["notice"]).status == "dead"
    [alert] = alerts_of(database)
    assert alert.severity == "warning" and "500" in alert.message


# -- rotation -------------------------------------------------------------------------------------
@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args, ok=True):
        result = runner.invoke(args=[str(a) for a in args])
        assert (result.exit_code == 0) is ok, result.output
        assert "Traceback" not in result.output
        return json.loads(result.stdout) if "--json" in args else result.output

    return run


def secrets_of(database, account_id):
    with database.session(readonly=True) as s:
        return list(s.get(Account, account_id).config["secrets"])


@responses.activate
def test_rotate_secret_signs_with_both_until_retired(cli, app, database, dw):
    out = cli("suppliers", "rotate-secret", dw["supplier"], "--json")
    assert out["id"] == dw["channel"] and out["active_secrets"] == 2
    new = out["secret"]
    assert secrets_of(database, dw["channel"]) == [f.WHSEC, new]
    responses.add(responses.POST, ENDPOINT, status=200)
    deliver_outbox.run(app, "w1")
    request = responses.calls[-1].request
    assert len(request.headers["webhook-signature"].split()) == 2
    for secret in (f.WHSEC, new):  # a supplier holding either one verifies it
        assert standard_webhooks.verify([secret], dict(request.headers), request.body)

    retired = cli("suppliers", "rotate-secret", dw["supplier"], "--retire", "--json")
    assert retired["active_secrets"] == 1 and retired["secret"] is None
    assert secrets_of(database, dw["channel"]) == [new]
    last = cli("suppliers", "rotate-secret", dw["supplier"], "--retire", "--json", ok=False)
    assert "only one secret" in last["error"]
    assert secrets_of(database, dw["channel"]) == [new]
    with database.session(readonly=True) as s:
        logged = [a for a in s.scalars(select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id))
                  if a.action.startswith("account.secret")]
    assert [a.action for a in logged] == ["account.secret_added", "account.secret_retired"]
    assert new not in json.dumps([a.changes for a in logged])


def test_rotate_secret_needs_a_hub_webhook_supplier(cli, database, dw):
    with database.session() as s:
        other = f.supplier(s, dw["merchant"], "NOCHANNEL").id
    assert "no hub_webhook channel" in cli("suppliers", "rotate-secret", other, "--json",
                                           ok=False)["error"]
    assert "does not exist" in cli("suppliers", "rotate-secret", 999999, "--json",
                                   ok=False)["error"]
    text = cli("suppliers", "rotate-secret", dw["supplier"])
    assert text.startswith("whsec_") and "--retire" in text
