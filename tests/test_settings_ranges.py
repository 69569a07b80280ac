"""Numeric settings are range-checked where they are set (``HUB_*`` variables, the
supplier API and CLI, connector configs) and read defensively where they are used: a
stop-ship SLA of "inf" or 1e300 stored before the checks existed costs no refund."""
from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from hub.core.config import ConfigError, Settings
from sqlalchemy import func, select

from hub.domain import fulfilment as flow
from hub.domain.fulfilment.stopship import stop_ship_sla_hours
from hub.models import Supplier
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, fake_connectors, fulfilments, open_alerts, order_values, return_values, world,
)


# -- HUB_* variables -------------------------------------------------------------------------
@pytest.fixture
def env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    return lambda **values: [monkeypatch.setenv(k, v) for k, v in values.items()]


@pytest.mark.parametrize("name,value", [
    ("HUB_LEASE_SECONDS", str(10 ** 30)), ("HUB_LEASE_SECONDS", "0"),
    ("HUB_WEB_WORKERS", "100000"), ("HUB_MAX_BODY_BYTES", str(10 ** 20)),
    ("HUB_SQLITE_BUSY_TIMEOUT_MS", str(10 ** 15)), ("HUB_OUTBOX_MAX_ATTEMPTS", str(10 ** 9)),
    ("HUB_OUTBOX_MAX_ATTEMPTS", "0"), ("HUB_PORT", "1e3"),
])
def test_out_of_range_variables_are_config_errors(env, name, value):
    env(**{name: value})
    with pytest.raises(ConfigError, match=f"{name} must be"):
        Settings.from_env()


def test_overrides_are_checked_too():
    with pytest.raises(ConfigError, match="HUB_LEASE_SECONDS"):
        Settings.from_env(lease_seconds=10 ** 12)


def test_sane_values_are_kept(env):
    env(HUB_LEASE_SECONDS="3600", HUB_WEB_WORKERS="16", HUB_OUTBOX_MAX_ATTEMPTS="50")
    s = Settings.from_env()
    assert (s.lease_seconds, s.web_workers, s.outbox_max_attempts) == (3600, 16, 50)


# -- suppliers: API and CLI ------------------------------------------------------------------
@pytest.fixture
def admin(database):
    with database.session() as s:
        merchant = f.merchant(s, "Ranges")
        sup = f.supplier(s, merchant.id, code="R1")
        return {"id": merchant.id, "supplier": sup.id,
                "headers": f.bearer(f.token(s, merchant.id, "merchant_admin"))}


def post(client, admin, body: str, path="/suppliers", method="POST"):
    return client.open(f"/api/v1{path}", method=method, data=body,
                       headers={**admin["headers"], "Content-Type": "application/json"})


@pytest.mark.parametrize("terms,field", [
    ('{"stop_ship_sla_hours": "inf"}', "stop_ship_sla_hours"),
    ('{"stop_ship_sla_hours": 1e300}', "stop_ship_sla_hours"),
    ('{"stop_ship_sla_hours": Infinity}', "stop_ship_sla_hours"),
    ('{"stop_ship_sla_hours": NaN}', "stop_ship_sla_hours"),
    ('{"stop_ship_sla_hours": 0}', "stop_ship_sla_hours"),
    ('{"stop_ship_sla_hours": -2}', "stop_ship_sla_hours"),
    ('{"stop_ship_sla_hours": true}', "stop_ship_sla_hours"),
    ('{"return_window_days": 1e999}', "return_window_days"),
    ('{"notes": {"fee": -1e300}}', "notes"),
    ('{"receives_returns": "no"}', "receives_returns"),
])
def test_nonsense_contract_terms_are_a_422_and_change_nothing(client, database, admin, terms,
                                                             field):
    for method, path, body in (
            ("POST", "/suppliers", f'{{"code": "NEW", "name": "n", "contract_terms": {terms}}}'),
            ("PATCH", f"/suppliers/{admin['supplier']}", f'{{"contract_terms": {terms}}}')):
        resp = post(client, admin, body, path, method)
        assert resp.status_code == 422, resp.get_data(as_text=True)
        details = resp.get_json()["error"]["details"]
        assert field in json.dumps(details["contract_terms"])
    with database.session(readonly=True) as s:
        assert s.get(Supplier, admin["supplier"]).contract_terms == {}
        assert s.scalar(select(func.count()).select_from(Supplier)) == 1


@pytest.mark.parametrize("value", ["1e300", "Infinity", "\"inf\"", "0", "721"])
def test_nonsense_sla_hours_are_a_422(client, admin, value):
    resp = post(client, admin, f'{{"code": "NEW", "name": "n", "sla_hours": {value}}}')
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert "sla_hours" in resp.get_json()["error"]["details"]


def test_sensible_contract_terms_are_kept(client, admin):
    terms = {"stop_ship_sla_hours": 1.5, "receives_returns": False, "return_address_id": "A7",
             "return_window_days": 7, "notes": {"fee_minor": 300}}
    resp = post(client, admin, json.dumps({"code": "OK", "name": "n", "contract_terms": terms}))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["contract_terms"] == terms


def test_the_cli_refuses_nonsense_sla_hours(app, admin):
    result = app.test_cli_runner().invoke(args=[
        "suppliers", "add", "--merchant", str(admin["id"]), "--code", "C", "--name", "c",
        "--sla-hours", "1e300"])
    assert result.exit_code != 0 and "sla-hours" in result.output


# -- connector configs ---------------------------------------------------------------------
BASE = {
    "generic_shop": {"webhook_secret": f.WHSEC},
    "kuaishou": {"app_key": "ks1", "app_secret": "a", "sign_secret": "b"},
    "kuaishou_dropship": {"app_key": "ks1", "app_secret": "a", "sign_secret": "b",
                          "factory_code": "F1"},
}


@pytest.mark.parametrize("connector", sorted(BASE))
@pytest.mark.parametrize("value", [10 ** 40, 1e300])
def test_a_connector_poll_interval_is_bounded(client, admin, connector, value):
    config = {**BASE[connector], "poll_interval_s": value}
    resp = client.post("/api/v1/accounts", headers=admin["headers"],
                       json={"connector": connector, "name": "x", "config": config})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert "poll_interval_s" in resp.get_json()["error"]["details"]["config"]


# -- read defensively where used -------------------------------------------------------------
@pytest.mark.parametrize("stored", ["inf", 1e300, -5, "soon", True])
def test_a_stored_nonsense_stop_ship_sla_falls_back_and_alerts(app, database, fake_connectors,
                                                              stored):
    with database.session() as s:
        w = world(s, sla_hours=24, terms={"stop_ship_sla_hours": stored})
    apply(database, w["shop_id"], order_values("P1"))
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.accept(s, x, "supplier:1")
    apply(database, w["shop_id"], return_values("R1", "P1", kind="refund_only"))
    with database.session(readonly=True) as s:
        [x] = fulfilments(s, w["merchant_id"])
        assert x.status == "cancel_requested"  # the refund stopped the supplier anyway
        assert x.cancel_answer_due_at == x.cancel_requested_at + timedelta(hours=24)
        [alert] = open_alerts(s, w["merchant_id"], "supplier_terms_invalid")
        assert (alert.entity, alert.entity_id) == ("supplier", w["supplier_id"])
        assert "stop_ship_sla_hours" in alert.message


def test_a_valid_stop_ship_sla_is_used_and_raises_nothing(app, database, fake_connectors):
    with database.session() as s:
        w = world(s, sla_hours=24, terms={"stop_ship_sla_hours": "3"})
        sup = s.get(Supplier, w["supplier_id"])
        assert stop_ship_sla_hours(sup) == 3.0
        assert open_alerts(s, w["merchant_id"]) == []
