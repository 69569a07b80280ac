"""Tenant isolation: walk every API endpoint and prove merchant A's tokens can read or
change none of merchant B's rows."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hub.domain.policy import versions
from hub.domain.policy.document import DEFAULT
from hub.models import ApiToken, Base
from tests import factories as f

ID_PARAM = re.compile(r"<int:(\w+)>")


@pytest.fixture
def two_worlds(database):
    with database.session() as s:
        a, b = f.world(s, "A"), f.world(s, "B")
        ids = {key: (a[key].id, b[key].id) for key in a if key not in ("tokens", "merchant")}
        # policy versions are numbered per merchant: B has three, A (the walk drafts
        # one) never reaches the third
        ids["policy"] = (None, [versions.edit(s, b["merchant"].id, DEFAULT, "user:b")
                                for _ in range(3)][-1].version)
        b_markers = [b["return_address"].address, b["inspection"].notes, b["order"].platform_order_id, b["shipment"].tracking_number,
                     b["return"].platform_return_id, b["supplier"].code, b["shop"].name,
                     b["outbox_message"].idempotency_key, b["inbox_event"].external_event_id,
                     b["quarantined"].detail, b["alert"].message,
                     b["notice"].idempotency_key, b["notice"].payload["marker"]]
        b_token_ids = list(s.scalars(select(ApiToken.id).where(
            ApiToken.merchant_id == b["merchant"].id)))
        return {"tokens_a": a["tokens"], "ids": ids, "merchant_a": a["merchant"].id,
                "merchant_b": b["merchant"].id, "b_markers": b_markers,
                "b_token_ids": b_token_ids}


def _snapshot(database, merchant_id):
    """Every column of every row the merchant owns, to prove nothing changed."""
    rows = {}
    with database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if "merchant_id" in table.c:
                rows[table.name] = conn.execute(
                    select(table).where(table.c.merchant_id == merchant_id)
                    .order_by(*table.primary_key.columns)).all()
    return rows


PARAM_TARGET = {"order_id": "order", "return_id": "return", "shipment_id": "shipment",
                "supplier_id": "supplier", "mapping_id": "sku_mapping", "account_id": "shop",
                "outbox_message_id": "outbox_message", "inbox_event_id": "inbox_event",
                "alert_id": "alert", "fulfilment_id": "fulfilment", "notice_id": "notice",
                "version": "policy", "shop_id": "shop", "address_id": "return_address",
                "inspection_id": "inspection", "decision_id": "decision",
                "claim_id": "claim", "statement_id": "statement",
                "item_id": "reconciliation_item"}


def _api_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1")]


def test_every_endpoint_is_walked(app):
    """A new endpoint with an id parameter must be taught to the walker below."""
    params = {p for r in _api_rules(app) for p in ID_PARAM.findall(r.rule)}
    assert params <= set(PARAM_TARGET) | {"token_id"}


def test_merchant_a_cannot_touch_merchant_b(app, client, database, two_worlds):
    w = two_worlds
    before = _snapshot(database, w["merchant_b"])
    # a valid body per input schema, so each call gets past validation to the lookup
    bodies = {"SupplierPatch": {"name": "x", "sla_hours": 5, "active": False},
              "SupplierIn": {"code": "C", "name": "x"},
              "SkuMappingIn": {"sku": "S", "supplier_id": w["ids"]["supplier"][1]},
              "AccountIn": {"connector": "generic_shop", "name": "x",
                            "config": {"webhook_secret": f.WHSEC}},
              "TokenIn": {"role": "operator"},
              "AcceptIn": {}, "RejectIn": {"reason": "no stock"},
              "TrackingIn": {"carrier": "sf", "tracking_number": "SF1234567890123"},
              "TrackingCorrectionIn": {"carrier": "sf", "tracking_number": "SF1234567890123",
                                       "reason": "wrong label"},
              "StopShipIn": {"accepted": True},
              "InterceptIn": {"kind": "return_to_sender", "reason": "stop ship"},
              "ReturnApproveIn": {}, "ReturnRejectIn": {"reason_code": "1",
                                                        "description": "not as described"},
              "PolicyEditIn": {"document": DEFAULT}, "PreviewIn": {"document": DEFAULT},
              "ProductIn": {"category": "food"},
              "ReturnAddressIn": {"name": "x", "address": "y",
                                  "supplier_id": w["ids"]["supplier"][1]},
              "ReturnAddressPatch": {"is_default": True},
              "ReturnLabelIn": {}, "ReasonIn": {"code": "other"},
              "DispositionIn": {"disposition": "scrap", "reason": "walker"},
              "MoveIn": {"location": "warehouse:main", "sku": "SKU-1", "grade": "A",
                         "from_state": "restock", "to_state": None, "quantity": 1,
                         "reason": "walker"},
              "DecideIn": {"event": "return", "subject_id": w["ids"]["return"][1]},
              "OverrideIn": {"liable": [{"party": "merchant", "share": 1}],
                             "reason": "walker"},
              "CourierFileIn": {"carrier": "sf"}, "ClaimAnswerIn": {"outcome": "accept"},
              "NoteIn": {}, "WriteOffIn": {"note": "walker"},
              "BuildIn": {"supplier_id": w["ids"]["supplier"][1], "period": "2026-01"},
              "DisputeDecisionIn": {"decision": "adjust", "note": "walker"},
              "ReopenIn": {"reason": "walker"}, "ProfileIO": {"cycle": "weekly"},
              "StatementAnswerIn": {"lines": [{"line_id": 1, "reason": "walker"}]},
              "KuaishouLinkIn": {"name": "walker", "app_key": "ks1", "app_secret": "walker-app-secret-0001",
                                 "sign_secret": "secret"}}
    walked = 0
    for rule in _api_rules(app):
        params = ID_PARAM.findall(rule.rule)
        if params:
            b_id = w["b_token_ids"][0] if params == ["token_id"] else \
                w["ids"][PARAM_TARGET[params[0]]][1]
            path = ID_PARAM.sub(str(b_id), rule.rule)
        else:
            path = rule.rule
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            spec = app.view_functions[rule.endpoint].api_spec
            body = bodies[spec.body.__name__] if spec.body else None
            for role, tok in w["tokens_a"].items():
                resp = client.open(path, method=method, headers=f.bearer(tok), json=body)
                walked += 1
                assert resp.status_code < 500, (method, path, role, resp.get_json())
                if params:  # B's row: as if it did not exist (or the role may not ask)
                    assert resp.status_code in (403, 404), (method, path, role)
                text_body = resp.get_data(as_text=True)
                for marker in w["b_markers"]:
                    assert marker not in text_body, (method, path, role, marker)
    assert walked > 60
    assert _snapshot(database, w["merchant_b"]) == before


@pytest.mark.parametrize("path,key", [
    ("/api/v1/orders", "order"), ("/api/v1/returns", "return"),
    ("/api/v1/shipments", "shipment"), ("/api/v1/suppliers", "supplier"),
    ("/api/v1/sku-mappings", "sku_mapping"), ("/api/v1/accounts", "shop"),
    ("/api/v1/ops/outbox", "outbox_message"), ("/api/v1/ops/inbox", "inbox_event"),
    ("/api/v1/ops/quarantine", "quarantined"),
])
def test_lists_show_only_own_rows(client, two_worlds, path, key):
    ids = two_worlds["ids"]
    resp = client.get(path, headers=f.bearer(two_worlds["tokens_a"]["merchant_admin"]))
    assert resp.status_code == 200
    seen = {row["id"] for row in resp.get_json()["data"]}
    assert ids[key][0] in seen and ids[key][1] not in seen


def test_body_references_to_other_merchant_are_rejected(client, two_worlds):
    ids = two_worlds["ids"]
    admin = f.bearer(two_worlds["tokens_a"]["merchant_admin"])
    resp = client.post("/api/v1/sku-mappings", headers=admin,
                       json={"sku": "X", "supplier_id": ids["supplier"][1]})
    assert resp.status_code == 422
    resp = client.post("/api/v1/suppliers", headers=admin,
                       json={"code": "NEW", "name": "n", "channel_account_id": ids["shop"][1]})
    assert resp.status_code == 422
    resp = client.post("/api/v1/tokens", headers=admin,
                       json={"role": "supplier", "supplier_id": ids["supplier"][1]})
    assert resp.status_code == 422


def test_supplier_token_sees_only_its_supplier(client, database, two_worlds):
    ids = two_worlds["ids"]
    with database.session() as s:
        other = f.supplier(s, two_worlds["merchant_a"])
        hidden_id = f.order(s, two_worlds["merchant_a"], ids["shop"][0],
                            supplier_id=other.id).id
    sup = f.bearer(two_worlds["tokens_a"]["supplier"])
    seen = {o["id"] for o in client.get("/api/v1/orders", headers=sup).get_json()["data"]}
    assert seen == {ids["order"][0]}
    assert client.get(f"/api/v1/orders/{hidden_id}", headers=sup).status_code == 404
    assert client.get(f"/api/v1/suppliers/{other.id}", headers=sup).status_code == 404
    assert client.get("/api/v1/accounts", headers=sup).status_code == 403
    shipments = client.get("/api/v1/shipments", headers=sup).get_json()["data"]
    assert {x["id"] for x in shipments} == {ids["shipment"][0], ids["return_shipment"][0]}


# -- one merchant, an order split between suppliers X and Y --------------------------------

@pytest.fixture
def split(database):
    from tests.split_world import split_world

    with database.session() as s:
        return split_world(s)


def _other_ids(w, side) -> dict:
    """The other supplier's row for each id parameter (rows its role may not ask for
    included: they must answer 403 or 404 all the same)."""
    o = w["Y" if side == "X" else "X"]
    return {"order_id": o["order"], "return_id": o["return_case"], "shipment_id": o["shipment"],
            "supplier_id": o["supplier_id"], "mapping_id": o["mapping"],
            "account_id": o["channel"], "outbox_message_id": o["notice"],
            "inbox_event_id": 1, "alert_id": o["alert"], "fulfilment_id": o["fulfilment"],
            "notice_id": o["notice"], "token_id": o["token_id"], "claim_id": o["claim"],
            # staff-only endpoints: a supplier token is refused whatever the id
            "statement_id": o["statement"],
            "version": 1, "shop_id": 1, "address_id": 1, "inspection_id": 1, "decision_id": 1,
            "item_id": o["item"]}


def _merchant_rows(database, merchant_id):
    rows = _snapshot(database, merchant_id)
    rows.pop("api_tokens")  # a token's own bookkeeping may change as it is used
    return rows


@pytest.mark.parametrize("side", ["X", "Y"])
def test_suppliers_of_a_split_order_cannot_touch_each_others_rows(app, client, database, split,
                                                                   side):
    w = split
    other = w["Y" if side == "X" else "X"]
    before = _merchant_rows(database, w["merchant"])
    ids, token = _other_ids(w, side), w[side]["token"]
    bodies = {"AcceptIn": {}, "RejectIn": {"reason": "no stock"},
              "TrackingIn": {"carrier": "sf", "tracking_number": "SF1234567890123"},
              "TrackingCorrectionIn": {"carrier": "sf", "tracking_number": "SF1234567890123",
                                       "reason": "wrong label"},
              "StopShipIn": {"accepted": True}, "ClaimAnswerIn": {"outcome": "accept"},
              "StatementAnswerIn": {"lines": [{"line_id": 1, "reason": "walker"}]}}
    walked = 0
    for rule in _api_rules(app):
        params = ID_PARAM.findall(rule.rule)
        path = ID_PARAM.sub(str(ids[params[0]]), rule.rule) if params else rule.rule
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            spec = app.view_functions[rule.endpoint].api_spec
            body = bodies.get(spec.body.__name__, {}) if spec.body else None
            resp = client.open(path, method=method, headers=token, json=body)
            walked += 1
            assert resp.status_code < 500, (method, path, resp.get_json())
            if params:
                assert resp.status_code in (403, 404), (method, path, resp.status_code)
            text_body = resp.get_data(as_text=True)
            for marker in other["markers"]:
                assert marker not in text_body, (method, path, marker)
    assert walked > 30
    # the other's return parcel, and its receipt, are as unknown as its other rows
    assert client.get(f"/api/v1/shipments/{other['return_shipment']}",
                      headers=token).status_code == 404
    assert client.post(f"/api/v1/supplier/returns/{other['return_case']}/receipt",
                       headers=token, json={"condition": "intact"}).status_code == 404
    assert _merchant_rows(database, w["merchant"]) == before
