"""The standard connector suite for ``cj``: webhook signatures (header ``sign`` =
Base64 HMAC-SHA256 keyed by the openId over the raw body; the valid vectors were computed
with ``openssl dgst -sha256 -hmac <openId> -binary | base64``, not with the hub's code)
and recorded CJ messages → golden ``FulfilmentUpdateValues``. CJ is not polled; its
error classes are tested in ``test_cj.py``."""
from __future__ import annotations

import json
from pathlib import Path

from connectors.cj import CJ
from tests.connector_suite import ConnectorSuite, SignatureVector

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cj"
OPEN_ID = "1200345678901234567"
SHIPPED = (FIXTURES / "order_shipped.json").read_bytes()
LOGISTICS = (FIXTURES / "logistics_update.json").read_bytes()
CONFIG = {"api_key": "CJ-api-key-0001", "open_id": OPEN_ID, "access_token": "AT-cj",
          "access_token_expires_at": "2099-01-01T00:00:00+00:00",
          "api_base_url": "https://cj.test/api2.0/v1", "qps": 100}


class TestCJContract(ConnectorSuite):
    connector_cls = CJ
    config = CONFIG
    fixtures_dir = FIXTURES
    signature_vectors = [
        SignatureVector("order", {"sign": "yU/r72jeTNNOERRVWZf+Kf7MvXn0zu4yPmamcEUAZk4="},
                        SHIPPED, valid=True, event_ids=("7cceede817dc47ed9d3b6b1d2d4f0a11",)),
        SignatureVector("logistics", {"sign": "BeJLPzEd9oyvMiHODu+TIHvjRgY3hJrDvxgC920OpmY=",
                                      "Content-Type": "application/json"},
                        LOGISTICS, valid=True, event_ids=("d4a3f5b2c6eb7f4ab1a09f8e7d6c5b4a",)),
        SignatureVector("keyed-by-another-open-id",
                        {"sign": "XMEr2lTr362XKYXSylUmAKKj8V/0gTv/iGS5sKe/82Y="}, SHIPPED,
                        valid=False, reason="bad_signature"),
        SignatureVector("hex-instead-of-base64", {"sign": "c94febef68de4cd34e1114555997fe29"
                                                  "feccbd79f4ceee323e66a6704500664e"},
                        SHIPPED, valid=False, reason="bad_signature"),
        SignatureVector("no-sign-header", {"Content-Type": "application/json"}, SHIPPED,
                        valid=False, reason="bad_signature"),
        SignatureVector("signed-but-not-a-cj-message",
                        {"sign": "xs9NdA//HftjjohB071KMQosof3XGDZv1zpH0LtbUIU="},
                        b'{"hello":"world"}', valid=False, reason="unparseable"),
    ]
    signed_headers = ("sign",)

    def fixture_event(self, path):
        body = path.read_bytes()
        message = json.loads(body)
        return f"{message['type']}.{message['messageType']}".lower(), body


def test_event_types_name_the_message():
    channel = CJ(TestCJContract().context())
    events = channel.verify_webhook({"sign": "yU/r72jeTNNOERRVWZf+Kf7MvXn0zu4yPmamcEUAZk4="},
                                    SHIPPED)
    assert [(e.external_event_id, e.event_type) for e in events] == [
        ("7cceede817dc47ed9d3b6b1d2d4f0a11", "order.update")]
    assert events[0].body == SHIPPED  # stored raw, as signed


def test_an_account_without_open_id_cannot_verify_anything():
    import pytest

    from connectors.base import AccountContext, WebhookRejected

    channel = CJ(AccountContext(account_id=1, merchant_id=1, name="x",
                                config=CJ.validate_config({"api_key": "k"})))
    with pytest.raises(WebhookRejected) as exc:
        channel.verify_webhook({"sign": "yU/r72jeTNNOERRVWZf+Kf7MvXn0zu4yPmamcEUAZk4="}, SHIPPED)
    assert exc.value.status == 401 and "open_id" in exc.value.detail
