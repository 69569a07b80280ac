"""The supplier REST API (``/api/v1/supplier/...``): every endpoint, scoped to the token's
supplier; state errors are 409 with the reason, unknown ids 404, the same answer twice
changes nothing, bad input is a clear 4xx that changes nothing, and every change is
audited with the supplier's token as the actor. Receipts are in test_supplier_receipts.py."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.domain import fulfilment as flow
from hub.models import AuditEntry, Fulfilment, OutboxMessage, Shipment
from tests import factories as f


@pytest.fixture
def sw(app, database):
    """A merchant whose order is allocated to supplier A; supplier B has an order of its own."""
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        a, b = f.supplier(s, m.id, "A"), f.supplier(s, m.id, "B")
        channel_a, channel_b = f.supplier_channel(s, a), f.supplier_channel(s, b)
        f.sku_mapping(s, m.id, a.id, "SKU-1").supplier_sku = "FA-1"
        f.sku_mapping(s, m.id, b.id, "SKU-2")
        order_a = f.order(s, m.id, shop.id, sku="SKU-1")
        order_b = f.order(s, m.id, shop.id, sku="SKU-2")
        [fa] = flow.allocate(s, order_a)
        [fb] = flow.allocate(s, order_b)
        token_a = f.token(s, m.id, "supplier", a.id)
        return {"merchant": m.id, "shop": shop.id, "a": a.id, "b": b.id, "fa": fa.id,
                "fb": fb.id, "order_a": order_a.id, "channel_a": channel_a.id,
                "channel_b": channel_b.id, "platform_order_a": order_a.platform_order_id,
                "A": f.bearer(token_a), "B": f.bearer(f.token(s, m.id, "supplier", b.id)),
                "admin": f.bearer(f.token(s, m.id, "merchant_admin"))}


def actor_of(database, headers) -> str:
    from hub.parties.auth import hash_token
    from hub.models import ApiToken

    token = headers["Authorization"].split(" ", 1)[1]
    with database.session(readonly=True) as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        return f"token:{row.id}:{row.role}"


def audits(database, action=None):
    with database.session(readonly=True) as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list(s.scalars(stmt))


def fulfilment(database, fid) -> Fulfilment:
    with database.session(readonly=True) as s:
        return s.get(Fulfilment, fid)


def error(resp, status, code=None):
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()["error"]
    if code:
        assert body["code"] == code, body
    return body


# -- notices ------------------------------------------------------------------------------
def test_notices_list_what_was_sent_to_the_supplier(client, sw):
    page = client.get("/api/v1/supplier/notices", headers=sw["A"]).get_json()
    [notice] = page["data"]
    assert notice["topic"] == "order_dispatch" and notice["status"] == "pending"
    assert notice["payload"]["fulfilment_id"] == sw["fa"]
    assert notice["payload"]["order"]["platform_order_id"] == sw["platform_order_a"]
    assert notice["payload"]["lines"] == [{"sku": "SKU-1", "supplier_sku": "FA-1", "title": "",
                                           "quantity": 1}]
    assert notice["acknowledged_at"] is None and len(notice["webhook_id"]) == 40
    other = client.get("/api/v1/supplier/notices", headers=sw["B"]).get_json()["data"]
    assert [n["payload"]["fulfilment_id"] for n in other] == [sw["fb"]]


def test_notices_filter_and_page_newest_first(client, database, sw):
    with database.session() as s:
        fa = s.get(Fulfilment, sw["fa"])
        flow.request_stop(s, fa, "refund_requested")
    rows = client.get("/api/v1/supplier/notices", headers=sw["A"]).get_json()["data"]
    assert [n["topic"] for n in rows] == ["stop_ship", "order_dispatch"]
    first = client.get("/api/v1/supplier/notices?limit=1", headers=sw["A"]).get_json()
    assert [n["topic"] for n in first["data"]] == ["stop_ship"]
    second = client.get(f"/api/v1/supplier/notices?limit=1&cursor={first['next_cursor']}",
                        headers=sw["A"]).get_json()
    assert [n["topic"] for n in second["data"]] == ["order_dispatch"]
    assert second["next_cursor"] is None
    only = client.get("/api/v1/supplier/notices?topic=stop_ship", headers=sw["A"]).get_json()
    assert [n["topic"] for n in only["data"]] == ["stop_ship"]
    assert only["data"][0]["payload"]["reason"] == "refund_requested"
    by_id = client.get(f"/api/v1/supplier/notices?webhook_id={rows[1]['webhook_id']}",
                       headers=sw["A"]).get_json()["data"]
    assert [n["id"] for n in by_id] == [rows[1]["id"]]
    error(client.get("/api/v1/supplier/notices?acknowledged=maybe", headers=sw["A"]), 422,
          "validation_error")
    error(client.get("/api/v1/supplier/notices?cursor=garbage", headers=sw["A"]), 400,
          "invalid_cursor")


def test_ack_is_idempotent_and_audited(client, database, sw):
    [notice] = client.get("/api/v1/supplier/notices", headers=sw["A"]).get_json()["data"]
    first = client.post(f"/api/v1/supplier/notices/{notice['id']}/ack", headers=sw["A"])
    assert first.status_code == 200 and first.get_json()["acknowledged_at"]
    again = client.post(f"/api/v1/supplier/notices/{notice['id']}/ack", headers=sw["A"])
    assert again.get_json() == first.get_json()
    [entry] = audits(database, "notice.acknowledged")
    assert entry.actor == actor_of(database, sw["A"]) and entry.entity_id == notice["id"]
    acked = client.get("/api/v1/supplier/notices?acknowledged=true", headers=sw["A"])
    assert [n["id"] for n in acked.get_json()["data"]] == [notice["id"]]
    unacked = client.get("/api/v1/supplier/notices?acknowledged=false", headers=sw["A"])
    assert unacked.get_json()["data"] == []


def test_notices_of_others_are_invisible(client, database, sw):
    [theirs] = client.get("/api/v1/supplier/notices", headers=sw["B"]).get_json()["data"]
    error(client.post(f"/api/v1/supplier/notices/{theirs['id']}/ack", headers=sw["A"]), 404,
          "not_found")
    error(client.post("/api/v1/supplier/notices/999999/ack", headers=sw["A"]), 404)
    with database.session(readonly=True) as s:
        assert s.get(OutboxMessage, theirs["id"]).acknowledged_at is None
    # a channel account shared by two suppliers still shows each only its own notices
    with database.session() as s:
        from hub.models import Supplier
        s.get(Supplier, sw["b"]).channel_account_id = sw["channel_a"]
    rows = client.get("/api/v1/supplier/notices", headers=sw["B"]).get_json()["data"]
    assert rows == []
    # merchant staff use /ops/outbox, not the supplier API
    error(client.get("/api/v1/supplier/notices", headers=sw["admin"]), 403, "forbidden")


# -- fulfilments ------------------------------------------------------------------------------
def test_fulfilments_list_and_get(client, sw):
    rows = client.get("/api/v1/supplier/fulfilments", headers=sw["A"]).get_json()["data"]
    assert [r["id"] for r in rows] == [sw["fa"]]
    one = client.get(f"/api/v1/supplier/fulfilments/{sw['fa']}", headers=sw["A"]).get_json()
    assert one == rows[0]
    assert one["status"] == "requested" and one["answer_due_at"]
    assert one["order"]["platform_order_id"] == sw["platform_order_a"]
    assert one["order"]["buyer"]["phone"] == "138****5678"
    assert "CIPHER" not in str(one)  # masked only
    assert one["lines"] == [{"sku": "SKU-1", "supplier_sku": "FA-1", "title": "", "quantity": 1}]
    assert one["shipment"] is None
    none = client.get("/api/v1/supplier/fulfilments?status=shipped", headers=sw["A"])
    assert none.get_json()["data"] == []
    error(client.get("/api/v1/supplier/fulfilments?status=lost", headers=sw["A"]), 422)
    error(client.get(f"/api/v1/supplier/fulfilments/{sw['fb']}", headers=sw["A"]), 404)
    error(client.get("/api/v1/supplier/fulfilments/0", headers=sw["A"]), 404)
    error(client.get(f"/api/v1/supplier/fulfilments/{2**63}", headers=sw["A"]), 404)


def test_accept_then_replay(client, database, sw):
    url = f"/api/v1/supplier/fulfilments/{sw['fa']}/accept"
    first = client.post(url, headers=sw["A"], json={"supplier_reference": "F-0007"})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "accepted"
    assert first.get_json()["supplier_reference"] == "F-0007"
    again = client.post(url, headers=sw["A"], json={"supplier_reference": "F-0007"})
    assert again.get_json() == first.get_json()
    [entry] = audits(database, "fulfilment.accepted")
    assert entry.actor == actor_of(database, sw["A"])
    assert client.post(url, headers=sw["A"], json={}).status_code == 200  # no reference


def test_reject_replay_and_state_conflicts(client, database, sw):
    base = f"/api/v1/supplier/fulfilments/{sw['fa']}"
    rejected = client.post(f"{base}/reject", headers=sw["A"], json={"reason": "no stock"})
    assert rejected.get_json()["status"] == "rejected"
    assert rejected.get_json()["reject_reason"] == "no stock"
    again = client.post(f"{base}/reject", headers=sw["A"], json={"reason": "no stock"})
    assert again.get_json() == rejected.get_json()
    assert len(audits(database, "fulfilment.rejected")) == 1
    body = error(client.post(f"{base}/accept", headers=sw["A"], json={}), 409, "conflict")
    assert "rejected" in body["message"]
    assert fulfilment(database, sw["fa"]).status == "rejected"


def test_accepting_a_cancelled_fulfilment_is_a_conflict(client, database, sw):
    with database.session() as s:
        s.get(Fulfilment, sw["fa"]).status = "cancelled"
    body = error(client.post(f"/api/v1/supplier/fulfilments/{sw['fa']}/accept",
                             headers=sw["A"], json={}), 409, "conflict")
    assert "cancelled" in body["message"] and body["details"]["status"] == "cancelled"
    assert audits(database, "fulfilment.accepted") == []


@pytest.mark.parametrize("kwargs,status,code", [
    ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": "[1, 2]", "content_type": "application/json"}, 400, "invalid_json"),
    ({}, 400, "invalid_json"),
    ({"json": {"supplier_reference": "x", "extra": 1}}, 422, "validation_error"),
    ({"json": {"supplier_reference": ""}}, 422, "validation_error"),
])
def test_bad_accept_bodies_change_nothing(client, database, sw, kwargs, status, code):
    resp = client.post(f"/api/v1/supplier/fulfilments/{sw['fa']}/accept", headers=sw["A"],
                       **kwargs)
    error(resp, status, code)
    assert fulfilment(database, sw["fa"]).status == "requested"


def test_answers_to_another_suppliers_fulfilment_are_404(client, database, sw):
    for path, body in (("accept", {}), ("reject", {"reason": "x"}),
                       ("tracking", {"carrier": "sf", "tracking_number": "SF1234567890123"}),
                       ("stop-ship", {"accepted": True})):
        error(client.post(f"/api/v1/supplier/fulfilments/{sw['fb']}/{path}", headers=sw["A"],
                          json=body), 404, "not_found")
        error(client.post(f"/api/v1/supplier/fulfilments/{sw['fb']}/{path}",
                          headers=sw["admin"], json=body), 403, "forbidden")
    assert fulfilment(database, sw["fb"]).status == "requested"


# -- tracking ---------------------------------------------------------------------------------
def test_tracking_ships_and_replays(client, database, sw):
    url = f"/api/v1/supplier/fulfilments/{sw['fa']}/tracking"
    first = client.post(url, headers=sw["A"],
                        json={"carrier": "SF", "tracking_number": "sf 1234 5678 90123"})
    assert first.status_code == 200, first.get_json()
    parcel = first.get_json()
    assert (parcel["carrier"], parcel["tracking_number"]) == ("sf", "SF1234567890123")
    assert parcel["fulfilment_id"] == sw["fa"] and parcel["direction"] == "outbound"
    again = client.post(url, headers=sw["A"],
                        json={"carrier": "sf", "tracking_number": "SF1234567890123"})
    assert again.status_code == 200 and again.get_json()["id"] == parcel["id"]
    view = client.get(f"/api/v1/supplier/fulfilments/{sw['fa']}", headers=sw["A"]).get_json()
    assert view["status"] == "shipped"
    assert view["shipment"] == {"shipment_id": parcel["id"], "carrier": "sf",
                                "tracking_number": "SF1234567890123",
                                "status": parcel["status"]}
    [entry] = audits(database, "fulfilment.tracking_submitted")
    assert entry.actor == actor_of(database, sw["A"])
    other = error(client.post(url, headers=sw["A"], json={"carrier": "sf",
                                                          "tracking_number": "SF9999999999999"}),
                  409, "conflict")
    assert "already shipped" in other["message"]


@pytest.mark.parametrize("body,code", [
    ({"carrier": "sf", "tracking_number": "12345"}, "invalid_tracking_number"),
    ({"carrier": "pigeon", "tracking_number": "SF1234567890123"}, "invalid_tracking_number"),
    ({"carrier": "sf"}, "validation_error"),
    ({"carrier": "sf", "tracking_number": "SF1234567890123", "weight": 3}, "validation_error"),
])
def test_invalid_tracking_changes_nothing(client, database, sw, body, code):
    error(client.post(f"/api/v1/supplier/fulfilments/{sw['fa']}/tracking", headers=sw["A"],
                      json=body), 422, code)
    assert fulfilment(database, sw["fa"]).status == "requested"
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 0


def test_a_tracking_number_of_another_order_is_refused(client, database, sw):
    with database.session() as s:
        f.shipment(s, sw["merchant"], None, tracking="SF1234567890123")
    body = error(client.post(f"/api/v1/supplier/fulfilments/{sw['fa']}/tracking",
                             headers=sw["A"],
                             json={"carrier": "sf", "tracking_number": "SF1234567890123"}),
                 422, "tracking_number_reused")
    assert "already used" in body["message"]
    assert fulfilment(database, sw["fa"]).status == "requested"


# -- stop-ship --------------------------------------------------------------------------------
def stop(database, fid):
    with database.session() as s:
        assert flow.request_stop(s, s.get(Fulfilment, fid), "refund_requested")


def test_stop_ship_accepted_before_shipping(client, database, sw):
    stop(database, sw["fa"])
    url = f"/api/v1/supplier/fulfilments/{sw['fa']}/stop-ship"
    first = client.post(url, headers=sw["A"], json={"accepted": True})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "cancelled" and first.get_json()["cancel_answered_at"]
    again = client.post(url, headers=sw["A"], json={"accepted": True})
    assert again.get_json() == first.get_json()
    [entry] = audits(database, "fulfilment.stop_ship_accepted")
    assert entry.actor == actor_of(database, sw["A"])


def test_stop_ship_rejected_must_carry_the_tracking(client, database, sw):
    stop(database, sw["fa"])
    url = f"/api/v1/supplier/fulfilments/{sw['fa']}/stop-ship"
    body = error(client.post(url, headers=sw["A"], json={"accepted": False}), 422,
                 "validation_error")
    assert "tracking" in body["message"]
    error(client.post(url, headers=sw["A"], json={"accepted": False, "carrier": "sf"}), 422)
    error(client.post(url, headers=sw["A"], json={
        "accepted": True, "carrier": "sf", "tracking_number": "SF1234567890123"}), 422)
    assert fulfilment(database, sw["fa"]).status == "cancel_requested"
    answer = {"accepted": False, "reason": "already shipped", "carrier": "sf",
              "tracking_number": "SF1234567890123"}
    first = client.post(url, headers=sw["A"], json=answer)
    assert first.status_code == 200, first.get_json()
    got = first.get_json()
    assert got["status"] == "cancel_rejected" and got["cancel_reject_reason"] == "already shipped"
    assert got["shipment"]["tracking_number"] == "SF1234567890123"
    again = client.post(url, headers=sw["A"], json=answer)
    assert again.status_code == 200 and again.get_json()["status"] == "cancel_rejected"
    assert again.get_json()["shipment"] == got["shipment"]
    assert len(audits(database, "fulfilment.stop_ship_rejected")) == 1
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1


def test_stop_ship_without_a_request_is_a_conflict(client, database, sw):
    body = error(client.post(f"/api/v1/supplier/fulfilments/{sw['fa']}/stop-ship",
                             headers=sw["A"], json={"accepted": True}), 409, "conflict")
    assert "no open stop-ship request" in body["message"]
    assert fulfilment(database, sw["fa"]).status == "requested"


# -- the documentation ------------------------------------------------------------------------
def test_supplier_docs_page(client):
    resp = client.get("/docs/suppliers")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    for needle in ("webhook-signature", "webhook-timestamp", "hmac.compare_digest",
                   "order_dispatch", "stop_ship", "return_notice", "tracking_notice",
                   "claim_notice", "410 Gone", "Retry-After", "/supplier/fulfilments/41/accept",
                   "/supplier/returns/7/receipt", "rotate-secret"):
        assert needle in page, needle


def test_openapi_documents_the_supplier_api(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/api/v1/supplier/notices", "/api/v1/supplier/notices/{notice_id}/ack",
                 "/api/v1/supplier/fulfilments/{fulfilment_id}/stop-ship",
                 "/api/v1/supplier/returns/{return_id}/receipt"):
        assert path in paths


# -- the same answer sent concurrently (a supplier retrying, a webhook delivered twice) ---------
def test_concurrent_identical_answers_apply_once(app, database, sw):
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.webhook_helpers import live_server

    with live_server(app) as base:
        def post(path, body):
            return requests.post(f"{base}/api/v1/supplier/fulfilments/{sw['fa']}/{path}",
                                 headers=sw["A"], json=body, timeout=30)

        with ThreadPoolExecutor(8) as pool:
            accepts = list(pool.map(lambda _: post("accept", {}), range(8)))
        assert {r.status_code for r in accepts} == {200}
        tracking = {"carrier": "sf", "tracking_number": "SF1234567890123"}
        with ThreadPoolExecutor(8) as pool:
            shipped = list(pool.map(lambda _: post("tracking", tracking), range(8)))
        assert {r.status_code for r in shipped} == {200}
        assert len({r.json()["id"] for r in shipped}) == 1
    assert len(audits(database, "fulfilment.accepted")) == 1
    assert len(audits(database, "fulfilment.tracking_submitted")) == 1
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
