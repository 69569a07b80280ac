"""Every error a caller can provoke answers ``{"error": {"code", "message", "details"}}``
with the right 4xx (or a 500 with a reference), and never a stack trace."""
from __future__ import annotations

import base64
import dataclasses
import io
import json

import pytest

from hub.parties import auth
from hub.web.app import create_app
from hub.core import logs
from tests import factories as f

BIG = 2 ** 63  # one more than the largest id a BIGINT holds


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], (dict, list))
    assert "Traceback" not in resp.get_data(as_text=True)
    return body["error"]


@pytest.fixture
def w(database):
    with database.session() as s:
        mine, other = f.world(s, "Mine"), f.world(s, "Other")
        revoked_row, revoked = auth.issue_token(s, mine["merchant"].id, "merchant_admin")
        auth.revoke(s, revoked_row)
        return {"tokens": mine["tokens"], "revoked": revoked,
                "order": mine["order"].id, "other_order": other["order"].id,
                "other_supplier": other["supplier"].id, "supplier": mine["supplier"].id}


def admin(w):
    return f.bearer(w["tokens"]["merchant_admin"])


# -- authentication and authorisation -----------------------------------------------------
@pytest.mark.parametrize("headers", [
    {}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer  "},
    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Token abc"},
    {"Authorization": "Bearer hub_00000000_unknown"}, {"Authorization": "Bearer x y"},
])
def test_missing_or_unknown_token_is_401(client, w, headers):
    assert_error(client.get("/api/v1/orders", headers=headers), 401, "unauthorized")


def test_revoked_token_is_401(client, w):
    assert_error(client.get("/api/v1/me", headers=f.bearer(w["revoked"])), 401,
                 "unauthorized")


def test_authentication_comes_before_validation(client, w):
    """Without a valid token nothing about the request is judged or revealed."""
    assert_error(client.post("/api/v1/suppliers", data="{not json"), 401, "unauthorized")
    assert_error(client.get("/api/v1/orders?limit=0"), 401, "unauthorized")
    assert_error(client.get(f"/api/v1/orders/{w['other_order']}"), 401, "unauthorized")


@pytest.mark.parametrize("role,method,path", [
    ("finance", "POST", "/api/v1/suppliers"),
    ("operator", "POST", "/api/v1/accounts"),
    ("operator", "GET", "/api/v1/tokens"),
    ("finance", "GET", "/api/v1/accounts"),
    ("supplier", "GET", "/api/v1/audit"),
    ("supplier", "GET", "/api/v1/sku-mappings"),
])
def test_wrong_role_is_403(client, w, role, method, path):
    error = assert_error(client.open(path, method=method, headers=f.bearer(w["tokens"][role]),
                                     json={}), 403, "forbidden")
    assert "merchant_admin" in error["details"]["allowed_roles"]


@pytest.mark.parametrize("path", ["/api/v1/orders/{other_order}",
                                  "/api/v1/suppliers/{other_supplier}",
                                  "/api/v1/orders/987654321", f"/api/v1/orders/{BIG}",
                                  f"/api/v1/shipments/{BIG * 1000}"])
def test_another_merchants_or_unknown_id_is_404(client, w, path):
    assert_error(client.get(path.format(**w), headers=admin(w)), 404, "not_found")


def test_changing_another_merchants_row_is_404(client, w):
    assert_error(client.patch(f"/api/v1/suppliers/{w['other_supplier']}", headers=admin(w),
                              json={"name": "mine now"}), 404, "not_found")
    assert_error(client.delete(f"/api/v1/sku-mappings/{BIG}", headers=admin(w)), 404,
                 "not_found")


# -- request bodies ------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["{not json", '{"code": "A",}', "", "   ", "\xff\xfe",
                                 '{"code": "A"', "[" * 100_000])
def test_malformed_json_is_400_invalid_json(client, w, raw):
    resp = client.post("/api/v1/suppliers", headers=admin(w), data=raw.encode("latin-1"),
                       content_type="application/json")
    assert_error(resp, 400, "invalid_json")


@pytest.mark.parametrize("raw", ["[]", "[1, 2]", '"a string"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_400(client, w, raw):
    resp = client.post("/api/v1/suppliers", headers=admin(w), data=raw,
                       content_type="application/json")
    error = assert_error(resp, 400, "invalid_json")
    assert "object" in error["message"]


def test_wrong_types_are_422_per_field(client, w):
    resp = client.post("/api/v1/suppliers", headers=admin(w), json={
        "code": 17, "name": ["x"], "sla_hours": "soon", "active": "maybe",
        "contact_email": "not-an-email", "contract_terms": []})
    details = assert_error(resp, 422, "validation_error")["details"]
    assert set(details) == {"code", "name", "sla_hours", "active", "contact_email",
                            "contract_terms"}
    assert all(isinstance(msgs, list) and msgs for msgs in details.values())


def test_missing_required_fields_are_422(client, w):
    details = assert_error(client.post("/api/v1/sku-mappings", headers=admin(w), json={}),
                           422, "validation_error")["details"]
    assert set(details) == {"sku", "supplier_id"}


def test_unknown_fields_are_422_not_ignored(client, w):
    resp = client.patch(f"/api/v1/suppliers/{w['supplier']}", headers=admin(w),
                        json={"name": "ok", "merchant_id": 1, "id": 5})
    details = assert_error(resp, 422, "validation_error")["details"]
    assert set(details) == {"merchant_id", "id"}
    assert client.get(f"/api/v1/suppliers/{w['supplier']}",
                      headers=admin(w)).get_json()["name"] == "Supplier"  # nothing changed


@pytest.mark.parametrize("body,field", [
    ({"sku": "S", "supplier_id": BIG}, "supplier_id"),
    ({"sku": "S", "supplier_id": -1}, "supplier_id"),
    ({"sku": "S", "supplier_id": "{supplier}", "priority": BIG}, "priority"),
    ({"sku": "S", "supplier_id": "{supplier}", "unit_cost_minor": 10 ** 20},
     "unit_cost_minor"),
    ({"sku": "S", "supplier_id": "{supplier}", "currency": "cny"}, "currency"),
])
def test_out_of_range_numbers_are_422(client, w, body, field):
    body = {k: int(v.format(**w)) if isinstance(v, str) and "{" in v else v
            for k, v in body.items()}
    details = assert_error(client.post("/api/v1/sku-mappings", headers=admin(w), json=body),
                           422, "validation_error")["details"]
    assert field in details


def test_oversize_body_is_413(settings, database, w):
    small = create_app(dataclasses.replace(settings, max_body_bytes=200), database)
    client = small.test_client()
    body = {"code": "BIG", "name": "x" * 300}
    assert_error(client.post("/api/v1/suppliers", headers=admin(w), json=body), 413,
                 "payload_too_large")
    resp = client.post("/api/v1/suppliers", headers=admin(w), json={"code": "OK", "name": "n"})
    assert resp.status_code == 201  # a body under the limit is fine


# -- query strings -------------------------------------------------------------------------
def _cursor(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "garbage!!", "%%%", "e30", "bm90IGpzb24", "\u00e9t\u00e9",
    _cursor({}), _cursor([1, 2]), _cursor(None), _cursor("5"), _cursor({"after": 5}),
    _cursor({"before": "5"}), _cursor({"before": 5.5}), _cursor({"before": True}),
    _cursor({"before": 0}), _cursor({"before": -3}), _cursor({"before": BIG}),
    _cursor({"before": 10 ** 40}),
    base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
])
def test_bad_cursor_is_400_invalid_cursor(client, w, cursor):
    for path in ("/api/v1/orders", "/api/v1/suppliers", "/api/v1/audit"):
        resp = client.get(path, headers=admin(w), query_string={"cursor": cursor})
        assert_error(resp, 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "-1", "201", "1000", "ten", "1.5", ""])
def test_limit_out_of_range_is_422(client, w, limit):
    details = assert_error(client.get("/api/v1/orders", headers=admin(w),
                                      query_string={"limit": limit}), 422,
                           "validation_error")["details"]
    assert "limit" in details


@pytest.mark.parametrize("path,query,field", [
    ("/api/v1/orders", {"colour": "red"}, "colour"),
    ("/api/v1/orders", {"status": "lost"}, "status"),
    ("/api/v1/orders", {"since": "yesterday"}, "since"),
    ("/api/v1/orders", {"since": "2026-11-01T08:00:00"}, "since"),  # no offset: ambiguous
    ("/api/v1/orders", {"until": "0001-01-01T00:30:00+01:00"}, "until"),  # before year 1
    ("/api/v1/returns", {"since": "9999-12-31T23:30:00-01:00"}, "since"),  # after 9999
    ("/api/v1/orders", {"supplier_id": "abc"}, "supplier_id"),
    ("/api/v1/orders", {"supplier_id": "0"}, "supplier_id"),
    ("/api/v1/orders", {"supplier_id": str(BIG)}, "supplier_id"),
    ("/api/v1/returns", {"kind": "gift"}, "kind"),
    ("/api/v1/shipments", {"direction": "sideways"}, "direction"),
    ("/api/v1/shipments", {"order_id": str(-BIG - 1)}, "order_id"),
    ("/api/v1/accounts", {"kind": "bank"}, "kind"),
    ("/api/v1/orders/{order}", {"expand": "lines"}, "expand"),
    ("/api/v1/me", {"verbose": "1"}, "verbose"),
])
def test_bad_or_unknown_query_params_are_422(client, w, path, query, field):
    resp = client.get(path.format(**w), headers=admin(w), query_string=query)
    details = assert_error(resp, 422, "validation_error")["details"]
    assert field in details


# -- routing -------------------------------------------------------------------------------
@pytest.mark.parametrize("method,path", [
    ("DELETE", "/api/v1/orders"), ("POST", "/api/v1/orders/{order}"),
    ("PUT", "/api/v1/suppliers/{supplier}"), ("PATCH", "/api/v1/me"),
])
def test_wrong_method_is_405(client, w, method, path):
    resp = client.open(path.format(**w), method=method, headers=admin(w), json={})
    assert_error(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/orders", "/nope",
                                  "/api/v1/orders/abc"])
def test_unknown_route_is_404_json(client, w, path):
    assert_error(client.get(path, headers=admin(w)), 404, "not_found")


# -- the unexpected ------------------------------------------------------------------------
def test_unexpected_exception_is_500_with_a_reference_and_no_trace(settings, database):
    app = create_app(settings, database)

    @app.get("/boom")
    def boom():
        raise RuntimeError("disk on fire at /srv/hub/secret-path.py line 42")

    log = io.StringIO()
    logs.configure("WARNING", "json", stream=log)
    try:
        resp = app.test_client().get("/boom")
    finally:
        logs.configure(settings.log_level, settings.log_format)
    error = assert_error(resp, 500, "internal_error")
    text = resp.get_data(as_text=True)
    assert "disk on fire" not in text and "secret-path" not in text
    ref = error["message"].rsplit(" ", 1)[-1]
    assert len(ref) >= 8
    logged = [json.loads(line) for line in log.getvalue().splitlines()]
    entry = next(e for e in logged if e.get("error_ref") == ref)  # findable in the log
    assert "disk on fire" in entry["exc"]
