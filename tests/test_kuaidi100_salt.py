"""Kuaidi100 salts (issue 10, item 14): real accounts sign pushes with short salts (the
captured JD push was signed with ``123``). Any non-empty salt is accepted, through the
API too, and a push signed with it verifies; an empty salt is still refused."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from connectors.base import AccountContext, ConfigInvalid
from connectors.kuaidi100 import Kuaidi100
from tests import factories as f
from tests.connectors.couriers.conftest import K100_CAPTURED_SIGN, K100_SALT, fixture_bytes

CONFIG = {"key": "testkey", "customer": "TESTCUSTOMER"}


@pytest.mark.parametrize("salt", [K100_SALT, "a", "1234567"])
def test_a_short_salt_is_accepted_by_the_api(client, database, salt):
    with database.session() as s:
        merchant = f.merchant(s, "Short salts")
        token = f.token(s, merchant.id, "merchant_admin")
    resp = client.post("/api/v1/accounts", headers=f.bearer(token), json={
        "connector": "kuaidi100", "name": "k100", "config": {**CONFIG, "salt": salt}})
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_a_push_signed_with_a_short_salt_verifies():
    config = Kuaidi100.validate_config({**CONFIG, "salt": K100_SALT})
    connector = Kuaidi100(AccountContext(account_id=1, merchant_id=1, name="k", config=config))
    param = fixture_bytes("kuaidi100/push_jd_signed_304.json").decode("utf-8")
    [event] = connector.verify_webhook(
        {"content-type": "application/x-www-form-urlencoded"},
        urlencode({"param": param, "sign": K100_CAPTURED_SIGN}).encode())
    assert event.event_type == "tracking"


@pytest.mark.parametrize("salt", ["", None])
def test_an_empty_salt_is_refused(salt):
    with pytest.raises(ConfigInvalid) as info:
        Kuaidi100.validate_config({**CONFIG, "salt": salt})
    assert "salt" in info.value.messages
