"""Shared fixtures for the courier connector tests: the byte-exact captured vectors and
connectors bound to a throwaway account."""
from __future__ import annotations

from pathlib import Path

import pytest

from connectors.aftership import AfterShip
from connectors.base import AccountContext
from connectors.kuaidi100 import Kuaidi100
from connectors.track17 import Track17

FIXTURES = Path(__file__).parent / "fixtures"
K100_SALT = "123"                      # the salt of the captured JD push
K100_CAPTURED_SIGN = "7437B0ECA914BBEAC8649F3A780CB078"
AFTERSHIP_SECRET = "test_secret"
AFTERSHIP_SIGN = "bAMU6szdI9XvCukcRRwJ4tms+ebdFl/DWPTyEWKBygc="
TRACK17_KEY = "test_key"
TRACK17_SIGN = "e78ffaf35490b11d72ef3cd6934aa84582aae14650dc2c980c815326570d4cbc"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def kuaidi100(public_url: str = "https://hub.example.com", **config) -> Kuaidi100:
    base = {"key": "testkey", "customer": "TESTCUSTOMER", "salt": "salt-0123456789abcdef",
            "secret": "label-secret", "poll_base_url": "https://poll.k100.test",
            "api_base_url": "https://api.k100.test"}
    cfg = Kuaidi100.validate_config({**base, **config})
    return Kuaidi100(AccountContext(account_id=7, merchant_id=1, name="k100", config=cfg,
                                    public_url=public_url))


def aftership(secret: str = AFTERSHIP_SECRET) -> AfterShip:
    cfg = AfterShip.validate_config({"webhook_secret": secret})
    return AfterShip(AccountContext(account_id=8, merchant_id=1, name="as", config=cfg))


def track17(key: str = TRACK17_KEY, **config) -> Track17:
    cfg = Track17.validate_config({"security_key": key, **config})
    return Track17(AccountContext(account_id=9, merchant_id=1, name="17", config=cfg))


@pytest.fixture
def jd_param() -> str:
    return fixture_bytes("kuaidi100/push_jd_signed_304.json").decode("utf-8")


@pytest.fixture(autouse=True)
def _fresh_budgets(monkeypatch):
    """Each test starts with full call budgets (the query bucket is 1/s, shared per
    Kuaidi100 customer across the process)."""
    from connectors import http

    monkeypatch.setattr(http, "_buckets", {})
