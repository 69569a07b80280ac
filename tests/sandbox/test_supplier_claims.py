"""The sandbox supplier answering compensation claims against a real hub over HTTP: the hub
served by werkzeug in a thread, its ``claim_notice`` delivered by the outbox through the
``hub_webhook`` connector to the sandbox, which verifies it, acknowledges the claim on the
supplier API, then accepts a small one (``claim_accept_up_to_minor``) and disputes a large
one with its reason; a later ``withdrawn`` notice is acknowledged and
not answered. The hub's jobs run in this process, pumped until a condition holds."""
from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from contextlib import ExitStack

import pytest
import requests
from sqlalchemy import select

from hub.domain.liability import claims, decisions
from hub.models import (
    Account, Claim, LedgerEntry, LiabilityDecision, Merchant, OutboxMessage, SkuMapping,
    Supplier,
)
from jobs import deliver_outbox
from sandbox.supplier import serve
from tests import factories as f
from tests.test_inspection import make_case, receive
from tests.webhook_helpers import live_server

pytestmark = pytest.mark.slow

WAIT_S = 20
REASON = "包装完好，运输途中损坏应由快递承担 / packed well; transit damage is the courier's"


@pytest.fixture
def world(app, database):
    with ExitStack() as stack:
        hub_url = stack.enter_context(live_server(app))
        with database.session() as s:
            m = f.merchant(s)
            sup = f.supplier(s, m.id)
            ids = {"merchant": m.id, "shop": f.shop(s, m.id).id, "supplier": sup.id,
                   "token": f.token(s, m.id, "supplier", sup.id)}
        server, base = serve(port=0, hub_url=hub_url, token=ids["token"], secrets=[f.WHSEC])
        stack.callback(server.stop)
        yield {**ids, "app": app, "db": database, "base": base, "state": server.supplier}


def claim_for(w, sku: str, unit_cost: int) -> int:
    """A damaged return of ``sku`` (a quality fault): a draft claim to the supplier for the
    goods at ``unit_cost`` and the return freight. The supplier has no channel yet, so
    the order's dispatch goes nowhere."""
    db = w["db"]
    with db.session() as s:
        case = make_case(s, s.get(Merchant, w["merchant"]), s.get(Account, w["shop"]),
                         s.get(Supplier, w["supplier"]), sku=sku, reason="quality.defect")
        s.scalar(select(SkuMapping).where(SkuMapping.sku == sku)).unit_cost_minor = unit_cost
        case_id = case.id
    receive(db, case_id, "damaged", grade="D")
    with db.session() as s:
        return s.scalar(select(Claim.id).join(LiabilityDecision).where(
            LiabilityDecision.return_case_id == case_id))


def pump(w, until, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with w["app"].app_context():
            deliver_outbox.run(w["app"], "test-worker")
        found = until()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"gave up after {WAIT_S}s waiting for {what}; the supplier saw "
                f"{w['state'].snapshot('received')} and did {w['state'].snapshot('actions')}")


def claim(w, claim_id) -> Claim:
    with w["db"].session(readonly=True) as s:
        row = s.get(Claim, claim_id)
        s.expunge(row)
        return row


def sandbox(w, what, **params):
    idle = requests.post(f"{w['base']}/_sandbox/flush", json={"timeout": WAIT_S},
                         timeout=WAIT_S + 5).json()["idle"]
    assert idle, "the sandbox supplier did not settle"
    return requests.get(f"{w['base']}/_sandbox/{what}", params=params, timeout=10).json()["data"]


def test_claim_notices_are_acknowledged_then_accepted_or_disputed_by_amount(world):
    w = world
    small = claim_for(w, "SKU-S", 1200)    # 12.00 goods + the return freight: <= 50.00
    large = claim_for(w, "SKU-L", 6000)    # 60.00 goods + the return freight: > 50.00
    with w["db"].session() as s:
        f.supplier_channel(s, s.get(Supplier, w["supplier"]),
                           endpoint_url=f"{w['base']}/webhook")
        for claim_id in (small, large):
            claims.send(s, s.get(Claim, claim_id), "test:merchant")
    small_minor, large_minor = claim(w, small).amount_minor, claim(w, large).amount_minor
    assert small_minor <= 5000 < large_minor

    pump(w, lambda: claim(w, small).status == "accepted"
         and claim(w, large).status == "disputed", "both claims answered")
    accepted, disputed = claim(w, small), claim(w, large)
    for row in (accepted, disputed):
        assert row.acknowledged_at is not None and row.answered_at >= row.acknowledged_at
        assert row.answered_by.startswith("token:") and row.answered_by.endswith(":supplier")
    assert accepted.accepted_minor == small_minor
    assert disputed.dispute_reason == REASON and disputed.accepted_minor is None
    # the sandbox's own record: acknowledged first, then answered, each claim once
    for claim_id, outcome in ((small, "accept"), (large, "dispute")):
        done = [a["action"] for a in sandbox(w, "actions", claim_id=claim_id)]
        assert done == ["claim_ack", f"claim_{outcome}"], done
    with w["db"].session(readonly=True) as s:
        deductions = [(e.counterparty_id, e.amount_minor) for e in s.scalars(
            select(LedgerEntry).where(LedgerEntry.entry_type == "claim_deduction"))]
        assert deductions == [(w["supplier"], -small_minor)]
        notices = list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "claim_notice")))
        assert {n.status for n in notices} == {"sent"} and len(notices) == 2
        assert all(n.acknowledged_at is not None for n in notices)  # the notices, read
    seen = {c["claim_id"]: (c["state"], c["amount_minor"]) for c in sandbox(w, "claims")}
    assert seen == {small: ("accepted", small_minor), large: ("disputed", large_minor)}
    # what the protocol page tells the supplier to read: its balance, a claim's evidence
    auth = {"Authorization": f"Bearer {w['token']}"}
    balance = requests.get(f"{api_url(w)}/supplier/balance", timeout=10,
                           headers=auth).json()["balances"]
    assert [b["balance_minor"] for b in balance] == [-small_minor]
    pack = requests.get(f"{api_url(w)}/supplier/claims/{large}/evidence", timeout=10,
                        headers=auth)
    assert pack.status_code == 200 and pack.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(pack.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["claim"]["dispute_reason"] == REASON
        assert manifest["files"] and all(
            hashlib.sha256(archive.read(x["name"])).hexdigest() == x["sha256"]
            for x in manifest["files"])

    # the merchant takes the disputed claim back: the supplier is told, and answers nothing
    with w["db"].session() as s:
        decisions.override(s, s.get(LiabilityDecision, disputed.decision_id),
                           [{"party": "merchant", "share": 1}], "goodwill", "test:merchant")
    pump(w, lambda: any(c["state"] == "withdrawn" for c in sandbox(w, "claims")),
         "the withdrawal reaching the supplier")
    assert claim(w, large).status == "withdrawn"
    assert [a["action"] for a in sandbox(w, "actions", claim_id=large)] == [
        "claim_ack", "claim_dispute"]                       # nothing more about the claim
    with w["db"].session(readonly=True) as s:
        withdrawn = s.scalar(select(OutboxMessage).where(
            OutboxMessage.topic == "claim_notice", OutboxMessage.entity_id == large,
            OutboxMessage.payload["status"].as_string() == "withdrawn"))
        assert withdrawn.status == "sent"
    pump(w, lambda: claim_notice_acked(w, withdrawn.id), "the withdrawal acknowledged")


def api_url(w) -> str:
    return w["state"].get("hub_url").rstrip("/") + "/api/v1"


def claim_notice_acked(w, message_id) -> bool:
    with w["db"].session(readonly=True) as s:
        return s.get(OutboxMessage, message_id).acknowledged_at is not None


def test_claim_settings_are_checked(world):
    url = f"{world['base']}/_sandbox/config"
    for bad in ({"claim_accept_up_to_minor": "50"}, {"claim_accept_up_to_minor": -1},
                {"claim_accept_up_to_minor": True}, {"claim_delay_s": -1},
                {"claim_dispute_reason": " "}):
        assert requests.put(url, json=bad, timeout=5).status_code == 400, bad
    changed = requests.put(url, json={"claim_accept_up_to_minor": 0, "claim_delay_s": 0.5},
                           timeout=5).json()
    assert (changed["claim_accept_up_to_minor"], changed["claim_delay_s"]) == (0, 0.5)
    assert changed["claim_dispute_reason"] == REASON
