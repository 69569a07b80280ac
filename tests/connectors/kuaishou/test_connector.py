"""The Kuaishou connector declaration: registry, config schema, mapping, authorization."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors import registry
from connectors.base import AccountContext, ConfigInvalid, ConnectorError, ErrorClass, Record
from connectors.kuaishou import Kuaishou
from tests.connectors.kuaishou.conftest import next_account_id
from tests.mappings.kuaishou.helpers import load

MINIMAL = {"app_key": "ks699183844582124027", "app_secret": "app-secret", "sign_secret": "sign"}


def connector(**config) -> Kuaishou:
    loaded = Kuaishou.validate_config({**MINIMAL, **config})
    return Kuaishou(AccountContext(account_id=next_account_id(), merchant_id=1, name="shop",
                                   config=loaded))


def test_registered_and_described():
    registry.reload()
    assert registry.get("kuaishou") is Kuaishou
    described = json.loads(json.dumps(Kuaishou.describe()))
    assert described["kind"] == "platform"
    props = described["config_schema"]["properties"]
    for secret in ("app_secret", "sign_secret", "message_key", "access_token", "refresh_token"):
        assert props[secret]["writeOnly"] is True
    assert set(Kuaishou.secret_fields()) == {"app_secret", "sign_secret", "message_key",
                                             "access_token", "refresh_token"}


def test_defaults():
    config = Kuaishou.validate_config(MINIMAL)
    assert config["sign_method"] == "HMAC_SHA256"
    assert config["api_base_url"] == "https://openapi.kwaixiaodian.com"
    assert config["oauth_base_url"] == "https://open.kwaixiaodian.com"
    assert (config["order_window_days"], config["refund_window_hours"],
            config["backfill_days"]) == (7, 1, 90)
    assert config["qps_overrides"] == {} and config["qps_fraction"] == 1.0
    json.dumps(config)  # stored as JSON: every default must serialise


@pytest.mark.parametrize("bad", [
    {"no_such_setting": 1}, {"sign_method": "SHA1"}, {"order_window_days": 8},
    {"refund_window_hours": 25}, {"backfill_days": 91}, {"message_key": "not base64!"},
    {"message_key": "AAECAwQ="}, {"access_token_expires_at": "2025-03-01T08:00:00"},
    {"refresh_token_expires_at": "tomorrow"}, {"qps_overrides": {"open.order.detail": 0}},
    {"app_secret": ""},
])
def test_invalid_configs_are_refused(bad):
    with pytest.raises(ConfigInvalid):
        Kuaishou.validate_config({**MINIMAL, **bad})


def test_a_full_config_loads():
    Kuaishou.validate_config({**MINIMAL, "message_key": "AAECAwQFBgcICQoLDA0ODw==",
                              "sign_method": "MD5", "api_base_url": "http://127.0.0.1:8099",
                              "access_token": "AT", "refresh_token": "RT",
                              "access_token_expires_at": "2025-03-03T08:00:00+00:00",
                              "refresh_token_expires_at": "2025-08-28T08:00:00+00:00",
                              "scopes": ["merchant_order"], "open_id": "op",
                              "qps_overrides": {"open.order.detail": 20}})


def test_authorize_url_uses_the_configured_scopes_and_callback():
    shop = connector(redirect_uri="https://hub.test/oauth/kuaishou",
                     scopes=["merchant_order", "merchant_refund"])
    parts = urlsplit(shop.authorize_url("s1"))
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.netloc == "open.kwaixiaodian.com" and parts.path == "/oauth/authorize"
    assert query["scope"] == "merchant_order,merchant_refund" and query["state"] == "s1"
    with pytest.raises(ConnectorError):
        connector().authorize_url("s1")


def test_authorization_status():
    assert connector().authorization_status() == "expired"
    shop = connector(refresh_token="RT", refresh_token_expires_at="2025-08-28T08:00:00+00:00")
    assert shop.authorization_status(datetime(2025, 3, 1, tzinfo=timezone.utc)) == "ok"
    assert shop.authorization_status(datetime(2025, 8, 20, tzinfo=timezone.utc)) == "expiring"


def test_map_record():
    shop = connector()
    order = shop.map_record(Record("order", "2607602240240301", load("order_paid_with_gift.json")))
    assert order.platform_order_id == "2607602240240301" and order.status == "paid"
    refund = shop.map_record(Record("return", "2207300012345602", load("return_rejected.json")))
    assert refund.status == "rejected"
    assert shop.map_record(Record("tracking", "x", {})) is None
    with pytest.raises(ConnectorError) as exc:
        shop.map_record(Record("order", "?", {"orderBaseInfo": {}}))
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_client_and_tokens_are_bound_to_the_account():
    shop = connector(access_token="AT", access_token_expires_at="2999-01-01T00:00:00+00:00")
    assert shop.client.tokens is shop.tokens and shop.client.account_id == shop.ctx.account_id
    assert shop.tokens.access_token() == "AT"
