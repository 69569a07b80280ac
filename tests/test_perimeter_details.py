"""The perimeter's smaller holes: sheet file names in any script, sessions and tokens
that end when they should, settings production must refuse, numbers taken as given,
security headers everywhere, an honest /openapi.json, a CLI without tracebacks."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from hub.core.config import DEV_SECRET, ConfigError, Settings
from hub.core.db import utcnow
from hub.models import ApiToken, Supplier
from hub.parties import auth
from tests import factories as f
from tests.supplier_helpers import fake_connectors, world  # noqa: F401 (fixtures)
from tests.console_helpers import csrf, sign_in
from tests.test_returns_api import case_of, post, w  # noqa: F401 (fixture)

LONG = "k3y-" + "0123456789abcdef" * 3


@pytest.fixture
def admin(database):
    with database.session() as s:
        m = f.merchant(s)
        sup = f.supplier(s, m.id, "供应商A")
        return {"merchant_id": m.id, "supplier_id": sup.id,
                "admin": f.token(s, m.id), "operator": f.token(s, m.id, "operator"),
                "supplier": f.token(s, m.id, "supplier", sup.id),
                "operator_login": f.user(s, m.id, "operator")}


# -- 24: a supplier code in Chinese names the sheet -----------------------------------------
@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_sheet_for_a_chinese_supplier_code_downloads_with_its_name(client, admin, kind):
    resp = client.get(f"/api/v1/suppliers/{admin['supplier_id']}/sheet.{kind}",
                      headers=f.bearer(admin["admin"]))
    assert resp.status_code == 200
    header = resp.headers["Content-Disposition"]
    header.encode("latin-1")  # a header must be; RFC 6266 carries the rest encoded
    kind_, fallback, encoded = re.fullmatch(
        r'(\w+); filename="([^"]*)"; filename\*=UTF-8\'\'(\S+)', header).groups()
    assert kind_ == "attachment" and fallback.endswith(f".{kind}")
    assert unquote(encoded).startswith("supplier-供应商A-") and unquote(encoded).endswith(kind)


# -- 25: sign-out, deactivated suppliers, token use and expiry --------------------------------
def test_sign_out_ends_the_session_even_for_a_copied_cookie(app, client, admin):
    assert sign_in(client, admin["operator_login"]).status_code == 303
    cookie = client.get_cookie("hub_console", path="/console").value
    resp = client.post("/console/sign-out", data={"csrf_token": csrf(client, "/console/shops")})
    assert resp.status_code == 303
    thief = app.test_client()
    thief.set_cookie("hub_console", cookie, path="/console")
    resp = thief.get("/console/shops")
    assert resp.status_code == 302 and "/console/sign-in" in resp.headers["Location"]


def test_a_deactivated_suppliers_tokens_stop_working(client, database, admin):
    headers = f.bearer(admin["supplier"])
    assert client.get("/api/v1/supplier/fulfilments", headers=headers).status_code == 200
    resp = client.patch(f"/api/v1/suppliers/{admin['supplier_id']}", json={"active": False},
                        headers=f.bearer(admin["admin"]))
    assert resp.status_code == 200
    assert client.get("/api/v1/supplier/fulfilments", headers=headers).status_code == 401


def test_tokens_record_their_last_use_and_can_expire(client, database, admin):
    with database.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash ==
                                              auth.hash_token(admin["admin"])))
        assert row.last_used_at is None
    assert client.get("/api/v1/suppliers", headers=f.bearer(admin["admin"])).status_code == 200
    with database.session() as s:
        used = s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == row.id))
        assert used is not None and abs((utcnow() - used).total_seconds()) < 60
        _, soon = auth.issue_token(s, admin["merchant_id"], "operator",
                                   expires_at=utcnow() + timedelta(hours=1))
        _, past = auth.issue_token(s, admin["merchant_id"], "operator",
                                   expires_at=utcnow() - timedelta(seconds=1))
    assert client.get("/api/v1/suppliers", headers=f.bearer(soon)).status_code == 200
    resp = client.get("/api/v1/suppliers", headers=f.bearer(past))
    assert resp.status_code == 401


def test_hub_tokens_list_and_revoke(app, database, admin):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["tokens", "create", "--merchant", str(admin["merchant_id"]),
                                  "--role", "operator", "--expires-in-days", "30", "--json"])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(args=["tokens", "list", "--merchant", str(admin["merchant_id"]),
                                 "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert len(rows) == 4 and all(json.loads(created.stdout)["token"] not in str(r)
                                  for r in rows)  # never the token itself
    [new] = [r for r in rows if r["expires_at"]]
    assert new["role"] == "operator" and new["revoked_at"] is None
    assert runner.invoke(args=["tokens", "revoke", str(new["id"]), "--json"]).exit_code == 0
    with database.session() as s:
        assert s.get(ApiToken, new["id"]).revoked_at is not None
    missing = runner.invoke(args=["tokens", "revoke", "999999"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output


# -- 25: production secrets --------------------------------------------------------------
@pytest.mark.parametrize("secret,old", [(" " * 32, ()), (" " * 20 + "x" * 12, ()),
                                        (DEV_SECRET + " " * 10, ()), (LONG, (DEV_SECRET,))])
def test_production_refuses_blank_or_development_secrets(secret, old):
    with pytest.raises(ConfigError, match="HUB_(OLD_)?SECRET_KEY"):
        Settings(env="production", secret_key=secret, old_secret_keys=old).validate()
    Settings(env="production", secret_key=LONG, old_secret_keys=("an-old-key",)).validate()


# -- 25: reason codes and integers taken as given ------------------------------------------
def test_a_superscript_reason_code_is_422(client, database, w):  # noqa: F811
    case_id = case_of(database, w)
    resp = post(client, w, case_id, "reject", {"reason_code": "²"})
    assert resp.status_code == 422 and "reason_code" in resp.get_json()["error"]["details"]


@pytest.mark.parametrize("value", [24.5, 100.01, 719.999])
def test_integer_fields_refuse_fractions(client, database, admin, value):
    resp = client.patch(f"/api/v1/suppliers/{admin['supplier_id']}",
                        json={"sla_hours": value}, headers=f.bearer(admin["admin"]))
    assert resp.status_code == 422 and "sla_hours" in resp.get_json()["error"]["details"]
    with database.session() as s:
        assert s.get(Supplier, admin["supplier_id"]).sla_hours == 24
    ok = client.patch(f"/api/v1/suppliers/{admin['supplier_id']}", json={"sla_hours": 48.0},
                      headers=f.bearer(admin["admin"]))
    assert ok.status_code == 200 and ok.get_json()["sla_hours"] == 48


# -- 25: security headers everywhere -------------------------------------------------------
@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/api/v1/orders", "/healthz",
                                  "/webhooks/generic_shop/1", "/nope"])
def test_every_answer_carries_the_security_headers(client, path):
    resp = client.get(path)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


def test_the_docs_page_runs_no_inline_script(client):
    page = client.get("/docs").get_data(as_text=True)
    csp = client.get("/docs").headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp.partition("script-src")[2].partition(";")[0]
    assert "<script>" not in page
    init = client.get("/docs/init.js")
    assert init.status_code == 200 and "SwaggerUIBundle" in init.get_data(as_text=True)


# -- 25: /openapi.json tells the truth -----------------------------------------------------
def test_openapi_documents_downloads_uploads_and_refusals(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    sheet = "/api/v1/suppliers/{supplier_id}/sheet"
    xlsx = paths[sheet + ".xlsx"]["get"]["responses"]
    assert "204" not in xlsx and set(xlsx["200"]["content"]) == {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    assert set(paths[sheet + ".csv"]["get"]["responses"]["200"]["content"]) == {"text/csv"}
    upload = paths[sheet]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"409", "413", "415"} <= set(upload["responses"])
    receipt = paths["/api/v1/supplier/returns/{return_id}/receipt"]["post"]
    assert {"multipart/form-data", "application/json"} <= set(receipt["requestBody"]["content"])
    assert {"409", "413", "415"} <= set(receipt["responses"])
    for path, operations in paths.items():
        for method, op in operations.items():
            if method != "get":
                assert {"409", "413"} <= set(op["responses"]), (method, path)


# -- 25: the CLI outside the project folder -------------------------------------------------
def test_the_cli_outside_the_project_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    result = subprocess.run([sys.executable, "-m", "hub.cli", "merchants", "list"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "HUB_VAR_DIR" in line and str(Path(tmp_path).resolve()) in line
