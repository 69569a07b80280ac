"""The set-up endpoints a merchant admin uses: suppliers, SKU mappings, connector accounts,
API tokens, the audit log, and ``GET /me``."""
from __future__ import annotations

import json

import pytest

from hub.parties import auth
from tests import factories as f


@pytest.fixture
def m(database):
    """A merchant with a token per role and one supplier."""
    with database.session() as s:
        merchant = f.merchant(s, "Tea House")
        sup = f.supplier(s, merchant.id, code="HZ")
        tokens = {role: f.token(s, merchant.id, role, sup.id if role == "supplier" else None)
                  for role in ("merchant_admin", "operator", "finance", "supplier")}
        return {"id": merchant.id, "supplier": sup.id, "tokens": tokens}


def call(client, m, method, path, role="merchant_admin", **kw):
    return client.open(f"/api/v1{path}", method=method, headers=f.bearer(m["tokens"][role]),
                       **kw)


def ok(resp, status=200):
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json()


def admin_token_id(client, m) -> int:
    prefix = m["tokens"]["merchant_admin"].split("_")[1]
    rows = ok(call(client, m, "GET", "/tokens"))["data"]
    return next(r["id"] for r in rows if r["prefix"] == prefix)


# -- me ----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["merchant_admin", "operator", "finance", "supplier"])
def test_me_says_who_the_token_acts_as(client, m, role):
    body = ok(call(client, m, "GET", "/me", role))
    assert body == {"merchant_id": m["id"], "merchant_name": "Tea House", "role": role,
                    "supplier_id": m["supplier"] if role == "supplier" else None}


# -- suppliers ---------------------------------------------------------------------------
def test_create_supplier_with_defaults_and_all_fields(client, m):
    made = ok(call(client, m, "POST", "/suppliers", json={"code": "YX", "name": "Yixing"}), 201)
    assert (made["code"], made["name"], made["sla_hours"], made["active"]) == \
        ("YX", "Yixing", 24, True)
    assert made["contract_terms"] == {} and made["channel_account_id"] is None
    full = ok(call(client, m, "POST", "/suppliers", json={
        "code": "JDZ", "name": "Jingdezhen", "sla_hours": 48, "active": False,
        "contract_terms": {"return_window_days": 7}, "contact_email": "ops@jdz.example"}), 201)
    assert full["sla_hours"] == 48 and full["active"] is False
    assert full["contract_terms"] == {"return_window_days": 7}
    assert ok(call(client, m, "GET", f"/suppliers/{full['id']}")) == full


def test_duplicate_supplier_code_is_409(client, m):
    resp = call(client, m, "POST", "/suppliers", json={"code": "HZ", "name": "Again"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "conflict"
    names = [s["name"] for s in ok(call(client, m, "GET", "/suppliers"))["data"]]
    assert names == ["Supplier"]  # nothing half-created


def test_patch_supplier_changes_only_given_fields(client, database, m):
    with database.session() as s:
        channel = f.shop(s, m["id"]).id
    body = ok(call(client, m, "PATCH", f"/suppliers/{m['supplier']}",
                   json={"sla_hours": 6, "channel_account_id": channel}))
    assert (body["sla_hours"], body["channel_account_id"], body["code"], body["name"]) == \
        (6, channel, "HZ", "Supplier")
    body = ok(call(client, m, "PATCH", f"/suppliers/{m['supplier']}",
                   json={"channel_account_id": None, "active": False}))
    assert body["channel_account_id"] is None and body["active"] is False and \
        body["sla_hours"] == 6


def test_patch_supplier_validates(client, m):
    resp = call(client, m, "PATCH", f"/suppliers/{m['supplier']}",
                json={"sla_hours": 0, "code": "NEW"})
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"sla_hours", "code"}  # code is fixed


def test_list_suppliers_filters_on_active(client, m):
    ok(call(client, m, "POST", "/suppliers", json={"code": "OFF", "name": "Off",
                                                   "active": False}), 201)
    everyone = ok(call(client, m, "GET", "/suppliers", "finance"))["data"]
    assert [s["code"] for s in everyone] == ["OFF", "HZ"]  # newest first
    active = ok(call(client, m, "GET", "/suppliers?active=true"))["data"]
    assert [s["code"] for s in active] == ["HZ"]
    inactive = ok(call(client, m, "GET", "/suppliers?active=false"))["data"]
    assert [s["code"] for s in inactive] == ["OFF"]
    own = ok(call(client, m, "GET", "/suppliers", "supplier"))["data"]
    assert [s["code"] for s in own] == ["HZ"]


# -- SKU mappings ------------------------------------------------------------------------
def test_sku_mapping_create_list_delete(client, m):
    made = ok(call(client, m, "POST", "/sku-mappings", json={
        "sku": "TEA-1", "supplier_id": m["supplier"], "unit_cost_minor": 4400,
        "supplier_sku": "HZ-TEA-250"}), 201)
    assert (made["sku"], made["supplier_id"], made["unit_cost_minor"], made["currency"],
            made["priority"], made["active"]) == ("TEA-1", m["supplier"], 4400, "CNY", 0, True)
    ok(call(client, m, "POST", "/sku-mappings", json={"sku": "CUP-2",
                                                      "supplier_id": m["supplier"]}), 201)
    listed = ok(call(client, m, "GET", "/sku-mappings", "operator"))["data"]
    assert [x["sku"] for x in listed] == ["CUP-2", "TEA-1"]
    assert [x["sku"] for x in ok(call(client, m, "GET", "/sku-mappings?sku=TEA-1"))["data"]] \
        == ["TEA-1"]

    resp = call(client, m, "DELETE", f"/sku-mappings/{made['id']}")
    assert resp.status_code == 204 and resp.get_data() == b""
    assert [x["sku"] for x in ok(call(client, m, "GET", "/sku-mappings"))["data"]] == ["CUP-2"]
    assert call(client, m, "DELETE", f"/sku-mappings/{made['id']}").status_code == 404


def test_duplicate_sku_mapping_is_409(client, m):
    body = {"sku": "TEA-1", "supplier_id": m["supplier"]}
    ok(call(client, m, "POST", "/sku-mappings", json=body), 201)
    resp = call(client, m, "POST", "/sku-mappings", json={**body, "priority": 3})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "conflict"
    assert len(ok(call(client, m, "GET", "/sku-mappings"))["data"]) == 1


# -- accounts ----------------------------------------------------------------------------
def test_create_account_and_its_webhook_path(client, m):
    made = ok(call(client, m, "POST", "/accounts", json={
        "connector": "generic_shop", "name": "Main shop",
        "config": {"webhook_secret": f.WHSEC}}), 201)
    assert (made["connector"], made["kind"], made["name"], made["status"]) == \
        ("generic_shop", "platform", "Main shop", "active")
    assert made["webhook_path"] == f"/webhooks/generic_shop/{made['id']}"
    assert ok(call(client, m, "GET", f"/accounts/{made['id']}", "operator")) == made
    assert [a["id"] for a in ok(call(client, m, "GET", "/accounts?kind=platform"))["data"]] \
        == [made["id"]]
    assert ok(call(client, m, "GET", "/accounts?kind=courier"))["data"] == []


def test_unknown_connector_is_422(client, m):
    resp = call(client, m, "POST", "/accounts", json={"connector": "nope", "name": "x"})
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "unknown_connector" and "nope" in error["message"]


@pytest.mark.parametrize("config,bad_field", [
    ({}, "webhook_secret"),
    ({"webhook_secret": "not-a-whsec"}, "webhook_secret"),
    ({"webhook_secret": f.WHSEC, "surprise": 1}, "surprise"),
    ({"webhook_secret": f.WHSEC, "currency": "yuan"}, "currency"),
])
def test_invalid_config_is_422_with_details(client, m, config, bad_field):
    resp = call(client, m, "POST", "/accounts",
                json={"connector": "generic_shop", "name": "x", "config": config})
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    assert bad_field in error["details"]["config"]
    assert "not-a-whsec" not in json.dumps(error)  # the rejected value is not echoed
    assert ok(call(client, m, "GET", "/accounts"))["data"] == []


def test_duplicate_account_name_is_409(client, m):
    body = {"connector": "generic_shop", "name": "Main", "config": {"webhook_secret": f.WHSEC}}
    ok(call(client, m, "POST", "/accounts", json=body), 201)
    resp = call(client, m, "POST", "/accounts", json=body)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "conflict"


# -- tokens ------------------------------------------------------------------------------
def test_create_list_and_revoke_a_token(client, m):
    made = ok(call(client, m, "POST", "/tokens", json={"role": "operator", "name": "night"}),
              201)
    token = made["token"]
    assert token.startswith(f"hub_{made['prefix']}_") and made["role"] == "operator"
    assert made["revoked_at"] is None
    assert ok(client.get("/api/v1/me", headers=f.bearer(token)))["role"] == "operator"

    listed = ok(call(client, m, "GET", "/tokens"))["data"]
    assert [t["id"] for t in listed][0] == made["id"]
    assert len(listed) == 5  # the fixture's four and this one
    text = call(client, m, "GET", "/tokens").get_data(as_text=True)
    assert token not in text and "token_hash" not in text and '"token"' not in text

    assert call(client, m, "DELETE", f"/tokens/{made['id']}").status_code == 204
    resp = client.get("/api/v1/me", headers=f.bearer(token))
    assert resp.status_code == 401
    listed = {t["id"]: t for t in ok(call(client, m, "GET", "/tokens"))["data"]}
    assert listed[made["id"]]["revoked_at"] is not None


def test_supplier_token_needs_this_merchants_supplier(client, database, m):
    made = ok(call(client, m, "POST", "/tokens",
                   json={"role": "supplier", "supplier_id": m["supplier"]}), 201)
    assert ok(client.get("/api/v1/me", headers=f.bearer(made["token"])))["supplier_id"] == \
        m["supplier"]
    for body in ({"role": "supplier"}, {"role": "operator", "supplier_id": m["supplier"]},
                 {"role": "supplier", "supplier_id": 987654}, {"role": "root"}):
        resp = call(client, m, "POST", "/tokens", json=body)
        assert resp.status_code == 422, body
        assert resp.get_json()["error"]["code"] == "validation_error"


def test_only_admins_manage_tokens(client, m):
    for role in ("operator", "finance", "supplier"):
        assert call(client, m, "POST", "/tokens", role, json={"role": "operator"}) \
            .status_code == 403
        assert call(client, m, "GET", "/tokens", role).status_code == 403


# -- audit -------------------------------------------------------------------------------
def test_audit_log_records_who_changed_what(client, m):
    actor = f"token:{admin_token_id(client, m)}:merchant_admin"
    supplier = ok(call(client, m, "POST", "/suppliers", json={"code": "YX", "name": "Y"}), 201)
    ok(call(client, m, "PATCH", f"/suppliers/{supplier['id']}", json={"sla_hours": 3}))
    mapping = ok(call(client, m, "POST", "/sku-mappings",
                      json={"sku": "S", "supplier_id": supplier["id"]}), 201)
    call(client, m, "DELETE", f"/sku-mappings/{mapping['id']}")
    secret = "whsec_" + "Q" * 40
    account = ok(call(client, m, "POST", "/accounts", json={
        "connector": "generic_shop", "name": "Shop", "config": {"webhook_secret": secret}}), 201)
    token = ok(call(client, m, "POST", "/tokens", json={"role": "finance"}), 201)
    call(client, m, "DELETE", f"/tokens/{token['id']}")

    entries = ok(call(client, m, "GET", "/audit?limit=200", "operator"))["data"]
    assert [(e["action"], e["entity"], e["entity_id"]) for e in entries] == [
        ("token.revoked", "api_token", token["id"]),
        ("token.created", "api_token", token["id"]),
        ("account.created", "account", account["id"]),
        ("sku_mapping.deleted", "sku_mapping", mapping["id"]),
        ("sku_mapping.created", "sku_mapping", mapping["id"]),
        ("supplier.updated", "supplier", supplier["id"]),
        ("supplier.created", "supplier", supplier["id"]),
    ]
    assert {e["actor"] for e in entries} == {actor}
    by_action = {e["action"]: e for e in entries}
    assert by_action["supplier.updated"]["changes"] == {"fields": ["sla_hours"]}
    assert by_action["token.created"]["changes"] == {"role": "finance"}
    assert "webhook_secret" in by_action["account.created"]["changes"]["config_keys"]
    text = call(client, m, "GET", "/audit?limit=200").get_data(as_text=True)
    assert secret not in text and "Q" * 40 not in text and token["token"] not in text

    only = ok(call(client, m, "GET", f"/audit?entity=supplier&entity_id={supplier['id']}"))
    assert [e["action"] for e in only["data"]] == ["supplier.updated", "supplier.created"]


def test_failed_changes_leave_no_audit_entry(client, m):
    call(client, m, "POST", "/suppliers", json={"code": "HZ", "name": "dup"})  # 409
    call(client, m, "POST", "/accounts", json={"connector": "generic_shop", "name": "x"})
    assert ok(call(client, m, "GET", "/audit"))["data"] == []


def test_cli_changes_are_audited_as_cli(app, client, m):
    app.test_cli_runner().invoke(args=["tokens", "create", "--merchant", str(m["id"]),
                                       "--role", "finance", "--json"])
    entries = ok(call(client, m, "GET", "/audit"))["data"]
    assert [(e["actor"], e["action"]) for e in entries] == [("cli", "token.created")]


def test_revoke_helper_and_authenticate_agree(database, m):
    with database.session() as s:
        row, tok = auth.issue_token(s, m["id"], "finance")
        assert auth.authenticate(s, tok).token_id == row.id
        auth.revoke(s, row)
        assert auth.authenticate(s, tok) is None
