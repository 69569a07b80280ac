"""What the fuzz tests run against: a seeded world (``tests.factories.world``) plus one
account of every connector that receives webhooks, with the secrets to sign for it."""
from __future__ import annotations

import itertools

from sqlalchemy import select

from connectors import registry
from hub.models import Account, ApiToken
from tests import factories as f

_names = itertools.count(1)
KUAISHOU_KEY = "AAECAwQFBgcICQoLDA0ODw=="     # AES-128 message key, Base64

# a valid config per built-in webhook connector (the contract tests' configs)
WEBHOOK_CONFIGS: dict[str, dict] = {
    "generic_shop": {"webhook_secret": f.WHSEC},
    "aftership": {"webhook_secret": "fuzz-aftership-secret"},
    "track17": {"security_key": "fuzz-17track-key"},
    "kuaidi100": {"key": "fuzzkey", "customer": "FUZZCUSTOMER", "salt": "fuzz-salt-0123",
                  "secret": "fuzz-label-secret"},
    "cj": {"api_key": "CJ-api-key-fuzz", "open_id": "1200345678901234567",
           "access_token": "AT-cj", "access_token_expires_at": "2099-01-01T00:00:00+00:00",
           "api_base_url": "https://cj.test/api2.0/v1", "qps": 100},
    "kuaishou": {"app_key": "ks_fuzz_app", "app_secret": "app-secret", "sign_secret": "sign",
                 "message_key": KUAISHOU_KEY, "api_base_url": "https://ks.fuzz.test",
                 "access_token": "AT", "access_token_expires_at": "2999-01-01T00:00:00+00:00",
                 "refresh_token": "RT", "refresh_token_expires_at": "2999-01-01T00:00:00+00:00"},
}


def webhook_connectors() -> list[str]:
    """Every installed connector that declares the ``webhook`` capability."""
    return [name for name, cls in registry.all().items() if "webhook" in cls.capabilities]


def webhook_account(s, merchant_id: int, connector: str) -> Account:
    cls = registry.get(connector)
    config = cls.validate_config(dict(WEBHOOK_CONFIGS.get(connector, {})))
    account = Account(merchant_id=merchant_id, connector=connector, kind=cls.kind,
                      name=f"fuzz-{connector}-{next(_names)}", config=config)
    s.add(account)
    s.flush()
    return account


def api_world(s) -> dict:
    """``factories.world`` plus a Kuaishou shop (its re-authorize route) and, per path
    parameter of the API, the id of a real row the merchant owns."""
    w = f.world(s, f"Fuzz-{next(_names)}")
    kuaishou = webhook_account(s, w["merchant"].id, "kuaishou")
    spare_token = s.scalar(select(ApiToken.id).where(ApiToken.merchant_id == w["merchant"].id,
                                                     ApiToken.role == "finance"))
    w["ids"] = {
        "account_id": w["shop"].id, "alert_id": w["alert"].id,
        "inbox_event_id": w["inbox_event"].id, "outbox_message_id": w["outbox_message"].id,
        "order_id": w["order"].id, "return_id": w["return"].id,
        "shipment_id": w["shipment"].id, "mapping_id": w["sku_mapping"].id,
        "fulfilment_id": w["fulfilment"].id, "notice_id": w["notice"].id,
        "supplier_id": w["supplier"].id, "token_id": spare_token,
    }
    w["kuaishou_account_id"] = kuaishou.id
    return w
