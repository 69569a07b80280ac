"""The electronic return file (issue 12, item 8): one document with every event of a
case in time order, each with its source, as JSON and as a printable page; scoped to the
merchant, and with no buyer contact in it."""
from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hub.core.db import utcnow
from hub.domain import fulfilment as flow
from hub.domain.policy import versions
from hub.domain.policy.document import DEFAULT
from hub.models import DeliveryAttempt, OutboxMessage, ReturnCase, StockMovement
from jobs import deliver_outbox
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, courier_id, fake_connectors, fulfilments, order_values, return_values, the_case,
    tracking_values, world,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"return-file-test-photo" * 8
BUYER = ("张*", "138****5678", "北京市***", "leave at the door")


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s, terms={"return_address_id": "ADDR-9"})
        for role in ("merchant_admin", "operator", "finance"):
            w[role] = f.token(s, w["merchant_id"], role)
        w["supplier"] = f.token(s, w["merchant_id"], "supplier", w["supplier_id"])
    return w


def deliver_all(app) -> None:
    for _ in range(10):
        if deliver_outbox.run(app, "file-test") == 0:
            return
    raise AssertionError("the outbox kept finding messages")


def returned_case(app, client, database, w) -> int:
    """A return approved by the policy, its push delivered, the parcel picked up by the
    courier, received and inspected by the supplier with a photo, and a stock movement."""
    with database.session() as s:
        row = versions.edit(s, w["merchant_id"], {**copy.deepcopy(DEFAULT), "auto_review": [
            {"name": "all_returns", "outcome": "approve", "kinds": ["return_refund"]}]},
            "user:1")
        versions.publish(s, w["merchant_id"], row.version, "user:1")
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
    apply(database, w["shop_id"], return_values(kind="return_refund"))
    deliver_all(app)
    apply(database, w["shop_id"], dataclasses.replace(
        return_values(kind="return_refund", status="awaiting_return",
                      updated=f.T0 + timedelta(hours=2)),
        return_carrier="sf", return_tracking_number="SFRET1"))
    with database.session(readonly=True) as s:
        courier, case_id = courier_id(s, w["merchant_id"]), the_case(s, w["merchant_id"]).id
    apply(database, courier, tracking_values("SFRET1", status="in_transit", at=utcnow()))
    deliver_all(app)
    got = client.post(f"/api/v1/supplier/returns/{case_id}/receipt",
                      headers=f.bearer(w["supplier"]),
                      json={"condition": "intact", "notes": "as sent",
                            "photos": [base64.b64encode(PNG).decode()]})
    assert got.status_code in (200, 201), got.json
    with database.session() as s:
        s.add(StockMovement(merchant_id=w["merchant_id"], location="warehouse:main",
                            sku="SKU-1", grade="A", from_state="received",
                            to_state="sellable", quantity=1, return_case_id=case_id,
                            actor="token:99:operator", reason="back on the shelf"))
    return case_id


def get_file(client, w, case_id, role="merchant_admin", suffix=""):
    return client.get(f"/api/v1/returns/{case_id}/file{suffix}", headers=f.bearer(w[role]))


def only(timeline, **match):
    found = [(n, e) for n, e in enumerate(timeline)
             if all(e.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [e["action"] for e in timeline])
    return found[0]


def test_the_file_holds_every_event_in_time_order_with_its_source(app, client, database, w):
    case_id = returned_case(app, client, database, w)
    got = get_file(client, w, case_id)
    assert got.status_code == 200, got.json
    doc = got.json
    assert doc["case"]["platform_return_id"] == "R1"
    assert (doc["case"]["refund_minor"], doc["case"]["currency"]) == (1990, "CNY")
    assert doc["case"]["requested_at"] == f.T0.isoformat()
    assert [(x["sku"], x["quantity"]) for x in doc["lines"]] == [("SKU-1", 1)]
    assert doc["buyer_page"].endswith("/r/" + _token(database, case_id))
    timeline = doc["timeline"]
    times = [datetime.fromisoformat(e["at"]) for e in timeline]
    assert times == sorted(times) and all(t.utcoffset() == timedelta(0) for t in times)

    n_policy, policy = only(timeline, kind="policy")
    version = policy["details"]["version"]
    assert policy["source"] == f"policy:v{version}" and version >= 1
    assert (policy["details"]["rule"], policy["details"]["acted"]) == ("all_returns", True)
    assert policy["details"]["why_zh"] and policy["details"]["why_en"]
    _, asked = only(timeline, kind="audit", action="return_case.approve_requested")
    assert asked["source"] == f"policy:v{version}"

    n_push, push = only(timeline, kind="message", action="message.return_approve")
    assert (push["source"], push["details"]["to"], push["details"]["status"]) == (
        "hub", "platform", "sent")
    assert push["details"]["sent_at"] is not None
    n_try, attempt = only(timeline, kind="delivery", **{"id": _attempt_id(database, push)})
    assert attempt["source"] == "platform"
    assert (attempt["details"]["message_id"], attempt["details"]["status_code"],
            attempt["details"]["outcome"]) == (push["id"], 200, "success")

    n_scan, scan = only(timeline, kind="tracking")
    assert (scan["source"], scan["details"]["tracking_number"], scan["details"]["status"]) \
        == ("courier", "SFRET1", "in_transit")
    n_look, looked = only(timeline, kind="inspection")
    assert looked["source"] == f"supplier:{w['supplier_id']}"
    assert looked["actor"].startswith("token:") and looked["actor"].endswith(":supplier")
    assert looked["details"]["photos"] == [hashlib.sha256(PNG).hexdigest()]
    assert looked["details"]["condition"] == "intact"
    _, moved = only(timeline, kind="stock", action="stock.moved", source="token:99:operator")
    assert (moved["details"]["to_state"], moved["details"]["quantity"]) == ("sellable", 1)
    assert n_policy < n_push < n_try < n_scan < n_look

    notices = [e for e in timeline if e["action"] == "message.return_notice"]
    assert notices and all(e["details"]["to"] == f"supplier:{w['supplier_id']}"
                           for e in notices)
    assert [e["source"] for e in timeline if e["action"] == "case.requested"] == ["platform"]
    [parcel] = doc["parcels"]
    assert parcel["tracking_number"] == "SFRET1"
    assert [e["status"] for e in parcel["events"]] == ["in_transit"]
    assert not [text for text in BUYER if text in got.get_data(as_text=True)]


def _token(database, case_id):
    with database.session(readonly=True) as s:
        return s.get(ReturnCase, case_id).public_token


def _attempt_id(database, push):
    with database.session(readonly=True) as s:
        return s.scalar(select(DeliveryAttempt.id).where(
            DeliveryAttempt.outbox_message_id == push["id"]))


def test_the_file_is_for_staff_and_finance_of_the_cases_merchant(app, client, database, w):
    apply(database, w["shop_id"], order_values())
    apply(database, w["shop_id"], return_values())
    with database.session() as s:
        case_id = the_case(s, w["merchant_id"]).id
        other = f.merchant(s, "Other")
        stranger = f.token(s, other.id, "merchant_admin")
    for role in ("merchant_admin", "operator", "finance"):
        assert get_file(client, w, case_id, role).status_code == 200, role
    assert get_file(client, w, case_id, "supplier").status_code == 403
    for suffix in ("", ".html"):
        refused = client.get(f"/api/v1/returns/{case_id}/file{suffix}",
                             headers=f.bearer(stranger))
        assert refused.status_code == 404 and refused.json["error"]["code"] == "not_found"
        assert "R1" not in refused.get_data(as_text=True)
    assert client.get(f"/api/v1/returns/{case_id}/file").status_code == 401
    assert get_file(client, w, 0).status_code == 404
    assert get_file(client, w, 10 ** 30).status_code == 404
    assert client.get(f"/api/v1/returns/{case_id}/file?x=1",
                      headers=f.bearer(w["operator"])).status_code == 422


def test_another_merchants_rows_never_enter_the_file(app, client, database, w):
    apply(database, w["shop_id"], order_values())
    apply(database, w["shop_id"], return_values())
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        other = f.merchant(s, "Other")
        s.add(OutboxMessage(merchant_id=other.id, account_id=w["shop_id"],
                            connector="test_shop", topic="refund_approve",
                            entity="return_case", entity_id=case.id, payload={},
                            idempotency_key="foreign-1"))
        case_id = case.id
    doc = get_file(client, w, case_id).json
    assert not [e for e in doc["timeline"] if e["kind"] == "message"
                and e["details"]["topic"] == "refund_approve"]


def test_the_printable_page(app, client, database, w):
    case_id = returned_case(app, client, database, w)
    page = get_file(client, w, case_id, "finance", ".html")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for text in ("R1", "退货电子档案", "Return file", "时间线", "Timeline", "Asia/Shanghai",
                 "@media print", hashlib.sha256(PNG).hexdigest(), "SFRET1", "¥19.90"):
        assert text in html, text
    assert "2026-11-01 16:00:00" in html  # requested 08:00 UTC, shown in China time
    assert "<script" not in html and "http://" not in html.split("</style>")[0]
    assert not [text for text in BUYER if text in html]
    assert page.headers["Cache-Control"] == "no-store"


def test_an_exchange_file_holds_its_second_dispatch_both_ways(app, client, database, w):
    from hub.domain.returns import inspection

    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
    apply(database, w["shop_id"], return_values(kind="exchange", status="awaiting_return"))
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        inspection.confirm_return_receipt(s, case, "supplier:1", "intact", grade="A")
    with database.session() as s:
        [second] = [x for x in fulfilments(s, w["merchant_id"]) if x.purpose == "exchange"]
        flow.submit_tracking(s, second, "sf", "SF9876543210987", "supplier:1", None)
        case_id = the_case(s, w["merchant_id"]).id
    got = client.get(f"/api/v1/returns/{case_id}/file",
                     headers=f.bearer(w["merchant_admin"])).get_json()
    actions = [e["action"] for e in got["timeline"]]
    assert "fulfilment.requested" in actions  # the replacement dispatched to the supplier
    assert any(e["kind"] == "message" and e["action"] == "message.order_dispatch"
               for e in got["timeline"])
    assert [(p["direction"], p["tracking_number"]) for p in got["parcels"]] == [
        ("outbound", "SF9876543210987")]



def test_a_supplier_users_step_reads_as_the_suppliers(database, w):
    from hub.domain.returns.casefile import _Sources
    from hub.models import User

    with database.session() as s:
        login = f.user(s, w["merchant_id"], "supplier", w["supplier_id"])
        user_id = s.scalar(select(User.id).where(User.login == login))
        actors = [f"user:{user_id}:supplier", "user:99:finance", "user:x:supplier"]
        sources = _Sources(s, w["merchant_id"], actors, [])
        assert [sources.of(a) for a in actors] == [
            f"supplier:{w['supplier_id']}", "user:99:finance", "supplier"]
