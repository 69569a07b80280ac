"""The ``hub`` command line with ``--json``: a created object prints ``{"id": ...}``, a token
``{"token": ...}``, a list a JSON array of objects with ``id`` and ``name``; a mistake
exits non-zero with a clear message and changes nothing."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from hub.models import Account, ApiToken, Merchant, Order, Supplier
from tests import factories as f


@pytest.fixture
def hub(app):
    runner = app.test_cli_runner()

    def run(*args, ok=True):
        result = runner.invoke(args=[str(a) for a in args])
        if ok:
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout) if "--json" in args else result.stdout
        assert result.exit_code != 0, result.output
        assert "Traceback" not in result.output
        return result

    return run


def count(database, model) -> int:
    with database.session(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def error_of(result) -> str:
    return json.loads(result.stdout)["error"]


def assert_list(rows):
    assert isinstance(rows, list)
    for row in rows:
        assert isinstance(row["id"], int) and isinstance(row["name"], str)


# -- merchants ---------------------------------------------------------------------------
def test_merchants_create_and_list(hub):
    a = hub("merchants", "create", "Tea House", "--json")
    b = hub("merchants", "create", "  Pottery  ", "--json")
    assert set(a) >= {"id"} and isinstance(a["id"], int)
    assert b["name"] == "Pottery"  # what is stored is what is printed
    rows = hub("merchants", "list", "--json")
    assert_list(rows)
    assert [(r["id"], r["name"]) for r in rows] == [(a["id"], "Tea House"), (b["id"], "Pottery")]


def test_merchants_create_refuses_an_empty_name(hub, database):
    result = hub("merchants", "create", "   ", "--json", ok=False)
    assert "must not be empty" in error_of(result)
    assert count(database, Merchant) == 0


def test_text_output_for_people(hub):
    assert hub("merchants", "list") == "no merchants\n"
    assert re.fullmatch(r"merchant \d+ created: Tea\n", hub("merchants", "create", "Tea"))


# -- suppliers ---------------------------------------------------------------------------
def test_suppliers_add_and_list(hub):
    m = hub("merchants", "create", "M", "--json")["id"]
    made = hub("suppliers", "add", "--merchant", m, "--code", "HZ", "--name", "Hangzhou",
               "--sla-hours", 12, "--json")
    assert isinstance(made["id"], int)
    other = hub("merchants", "create", "Other", "--json")["id"]
    hub("suppliers", "add", "--merchant", other, "--code", "HZ", "--name", "Theirs", "--json")
    rows = hub("suppliers", "list", "--merchant", m, "--json")
    assert_list(rows)
    assert rows == [{"id": made["id"], "name": "Hangzhou", "code": "HZ", "sla_hours": 12}]


@pytest.mark.parametrize("args,message", [
    (["--merchant", 999, "--code", "X", "--name", "n"], "merchant 999 does not exist"),
    (["--merchant", "{m}", "--code", "HZ", "--name", "again"], "already has a supplier"),
    (["--merchant", "{m}", "--code", "Y", "--name", "n", "--channel-account", 999],
     "account 999 does not exist"),
])
def test_suppliers_add_mistakes(hub, database, args, message):
    m = hub("merchants", "create", "M", "--json")["id"]
    hub("suppliers", "add", "--merchant", m, "--code", "HZ", "--name", "first", "--json")
    args = [str(a).format(m=m) for a in args]
    assert message in error_of(hub("suppliers", "add", *args, "--json", ok=False))
    assert count(database, Supplier) == 1


def test_suppliers_add_checks_sla_range(hub):
    m = hub("merchants", "create", "M", "--json")["id"]
    result = hub("suppliers", "add", "--merchant", m, "--code", "X", "--name", "n",
                 "--sla-hours", 0, "--json", ok=False)
    assert "sla-hours" in result.output


# -- tokens ------------------------------------------------------------------------------
def test_tokens_create_prints_a_working_token(hub, client):
    m = hub("merchants", "create", "M", "--json")["id"]
    made = hub("tokens", "create", "--merchant", m, "--role", "finance", "--name", "books",
               "--json")
    assert set(made) == {"token"} and made["token"].startswith("hub_")
    me = client.get("/api/v1/me", headers=f.bearer(made["token"])).get_json()
    assert me == {"merchant_id": m, "merchant_name": "M", "role": "finance",
                  "supplier_id": None}


def test_supplier_token_is_bound_to_the_supplier(hub, client):
    m = hub("merchants", "create", "M", "--json")["id"]
    sup = hub("suppliers", "add", "--merchant", m, "--code", "HZ", "--name", "n", "--json")["id"]
    tok = hub("tokens", "create", "--merchant", m, "--role", "supplier", "--supplier", sup,
              "--json")["token"]
    assert client.get("/api/v1/me", headers=f.bearer(tok)).get_json()["supplier_id"] == sup


@pytest.mark.parametrize("args,message", [
    (["--role", "supplier"], "needs --supplier"),
    (["--role", "supplier", "--supplier", 999], "needs --supplier"),
    (["--role", "supplier", "--supplier", "{other_sup}"], "needs --supplier"),
    (["--role", "operator", "--supplier", "{sup}"], "only supplier tokens"),
])
def test_tokens_create_mistakes(hub, database, args, message):
    m = hub("merchants", "create", "M", "--json")["id"]
    sup = hub("suppliers", "add", "--merchant", m, "--code", "A", "--name", "a", "--json")["id"]
    other = hub("merchants", "create", "Other", "--json")["id"]
    other_sup = hub("suppliers", "add", "--merchant", other, "--code", "B", "--name", "b",
                    "--json")["id"]
    args = [str(a).format(sup=sup, other_sup=other_sup) for a in args]
    assert message in error_of(hub("tokens", "create", "--merchant", m, *args, "--json",
                                   ok=False))
    assert count(database, ApiToken) == 0


def test_tokens_create_for_an_unknown_merchant_or_role(hub, database):
    assert "merchant 42 does not exist" in error_of(
        hub("tokens", "create", "--merchant", 42, "--role", "finance", "--json", ok=False))
    result = hub("tokens", "create", "--merchant", 42, "--role", "root", "--json", ok=False)
    assert "root" in result.output and "merchant_admin" in result.output
    assert count(database, ApiToken) == 0


# -- accounts ----------------------------------------------------------------------------
def test_accounts_add_and_list(hub, settings):
    m = hub("merchants", "create", "M", "--json")["id"]
    made = hub("accounts", "add", "generic_shop", "--merchant", m, "--name", "Main shop",
               "--config", json.dumps({"webhook_secret": f.WHSEC}), "--json")
    assert isinstance(made["id"], int)
    assert made["webhook_url"] == f"{settings.public_url}/webhooks/generic_shop/{made['id']}"
    rows = hub("accounts", "list", "--merchant", m, "--json")
    assert_list(rows)
    assert rows == [{"id": made["id"], "name": "Main shop", "connector": "generic_shop",
                     "kind": "platform", "status": "active"}]
    assert f.WHSEC not in json.dumps(rows)


@pytest.mark.parametrize("config,message", [
    ("{not json", "--config is not valid JSON"),
    ("", "--config is not valid JSON"),
    ('["a list"]', "--config must be a JSON object"),
    ('"whsec_x"', "--config must be a JSON object"),
    ("{}", "the connector config is invalid"),
    ('{"webhook_secret": "nope"}', "the connector config is invalid"),
    (json.dumps({"webhook_secret": f.WHSEC, "extra": 1}), "extra"),
])
def test_accounts_add_rejects_bad_config(hub, database, config, message):
    m = hub("merchants", "create", "M", "--json")["id"]
    result = hub("accounts", "add", "generic_shop", "--merchant", m, "--name", "x",
                 "--config", config, "--json", ok=False)
    assert message in error_of(result)
    assert count(database, Account) == 0


def test_accounts_add_rejects_bad_config_in_text_mode_too(hub):
    m = hub("merchants", "create", "M", "--json")["id"]
    result = hub("accounts", "add", "generic_shop", "--merchant", m, "--name", "x",
                 "--config", "{oops", ok=False)
    assert result.stderr.startswith("error: --config is not valid JSON")


def test_accounts_add_unknown_connector_or_merchant(hub, database):
    m = hub("merchants", "create", "M", "--json")["id"]
    error = error_of(hub("accounts", "add", "no_such_thing", "--merchant", m, "--name", "x",
                         "--json", ok=False))
    assert "no connector named 'no_such_thing'" in error and "generic_shop" in error
    error = error_of(hub("accounts", "add", "generic_shop", "--merchant", 404, "--name", "x",
                         "--config", json.dumps({"webhook_secret": f.WHSEC}), "--json",
                         ok=False))
    assert "merchant 404 does not exist" in error
    assert count(database, Account) == 0


def test_accounts_add_duplicate_name(hub, database):
    m = hub("merchants", "create", "M", "--json")["id"]
    args = ["accounts", "add", "generic_shop", "--merchant", m, "--name", "Main",
            "--config", json.dumps({"webhook_secret": f.WHSEC}), "--json"]
    hub(*args)
    assert "already has a generic_shop account named 'Main'" in error_of(hub(*args, ok=False))
    assert count(database, Account) == 1


# -- database and demo -------------------------------------------------------------------
def test_db_upgrade_and_check(hub):
    assert hub("db", "upgrade", "--json") == {"status": "ok"}
    assert hub("db", "check", "--json") == {"status": "ok"}


def test_seed_demo(hub, client, database):
    result = hub("seed-demo", "--json")
    assert result["id"] == result["merchant_id"]
    assert set(result["tokens"]) == {"merchant_admin", "operator", "finance", "supplier"}
    assert count(database, Order) == result["orders"] == 8
    for role, tok in result["tokens"].items():
        assert client.get("/api/v1/me", headers=f.bearer(tok)).get_json()["role"] == role
    admin = f.bearer(result["tokens"]["merchant_admin"])
    assert len(client.get("/api/v1/orders", headers=admin).get_json()["data"]) == 8
    assert len(client.get("/api/v1/returns", headers=admin).get_json()["data"]) == 2
    supplier = f.bearer(result["tokens"]["supplier"])
    assert 0 < len(client.get("/api/v1/orders", headers=supplier).get_json()["data"]) < 8
