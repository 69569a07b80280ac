"""The standard connector suite for ``hub_webhook`` (the hub's own signed webhooks to a
supplier), plus what is particular to it: delivery signature vectors (two-secret rotation,
timestamp tolerance) checked by three independent verifiers, the error class of each
answer, the endpoint policy, and secret rotation."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import pytest
import requests
import responses

from connectors import standard_webhooks
from connectors.base import ConfigInvalid, ConnectorError, ErrorClass, PushResult
from connectors.hub_webhook import HubWebhook
from connectors.hub_webhook.client import endpoint_problem
from connectors.hub_webhook.secrets import (MAX_ACTIVE, RotationError, generate_secret, retired,
                                            rotated, secret_problem)
from hub.web.supplier_api.docs import VERIFY_EXAMPLE
from sandbox.supplier import signing as sandbox_signing
from tests.connector_suite import ConnectorSuite
from tests.factories import WHSEC

ENDPOINT = "https://supplier.example.test/hooks/hub"
OLD = WHSEC                                                   # 24 bytes
NEW = "whsec_cm90YXRlZC1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZyE="    # 32 bytes
OTHER = "whsec_YW4tdW5yZWxhdGVkLXNlY3JldC0yNGJ5"              # neither
KEY = "3f0c9a1e5b7d2c4f6a8e0b1d3c5f7a9e2b4d6f8a"
AT = 1793520000  # 2026-11-01T08:00:00Z
STOP = {"fulfilment_id": 41, "platform_order_id": "2611011234567890",
        "reason": "buyer_refund", "answer_by": "2026-11-01T10:00:00+00:00"}
GOLDEN_BODY = (b'{"type":"stop_ship","id":"3f0c9a1e5b7d2c4f6a8e0b1d3c5f7a9e2b4d6f8a",'
               b'"created_at":"2026-11-01T08:00:00+00:00","data":{"fulfilment_id":41,'
               b'"platform_order_id":"2611011234567890","reason":"buyer_refund",'
               b'"answer_by":"2026-11-01T10:00:00+00:00"}}')


def spec_signature(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    """Standard Webhooks, written out from the spec (independent of the hub's code)."""
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_the_reference_helper_matches_the_specification_vector():
    assert spec_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                          1614265330, b'{"test": 2432232314}') == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def docs_verifier():
    namespace: dict = {}
    exec(VERIFY_EXAMPLE, namespace)  # the example /docs/suppliers shows suppliers
    return namespace["verify"]


def verifiers():
    """(name, verify(secrets, headers, body, tolerance, now) -> id or raises)."""
    docs = docs_verifier()

    def with_clock(fn):
        def run(secrets, headers, body, tolerance, now):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(time, "time", lambda: now)
                return fn(secrets, headers, body, tolerance)
        return run

    return [("hub", lambda s, h, b, t, n: standard_webhooks.verify(s, h, b, t, now=n)),
            ("sandbox", lambda s, h, b, t, n: sandbox_signing.verify(s, h, b, t, now=n)),
            ("docs example", with_clock(docs))]


@dataclass(frozen=True)
class DeliveryVector:
    name: str
    signing: tuple[str, ...]      # the account's active secrets
    holding: tuple[str, ...]      # what the supplier verifies with
    verify_at: int                # the supplier's clock
    valid: bool


DELIVERY_VECTORS = [
    DeliveryVector("one-secret", (OLD,), (OLD,), AT, True),
    DeliveryVector("rotation-supplier-still-on-old", (OLD, NEW), (OLD,), AT, True),
    DeliveryVector("rotation-supplier-moved-to-new", (OLD, NEW), (NEW,), AT, True),
    DeliveryVector("rotation-supplier-holds-both", (OLD, NEW), (OTHER, NEW, OLD), AT, True),
    DeliveryVector("old-secret-retired", (NEW,), (OLD,), AT, False),
    DeliveryVector("unrelated-secret", (OLD, NEW), (OTHER,), AT, False),
    DeliveryVector("tolerance-edge-old", (OLD,), (OLD,), AT + 300, True),
    DeliveryVector("tolerance-edge-new", (OLD,), (OLD,), AT - 300, True),
    DeliveryVector("stale", (OLD,), (OLD,), AT + 301, False),
    DeliveryVector("from-the-future", (OLD,), (OLD,), AT - 301, False),
]


class TestHubWebhookContract(ConnectorSuite):
    connector_cls = HubWebhook
    config = {"endpoint_url": ENDPOINT, "secrets": [OLD, NEW], "tolerance_s": 300}

    @pytest.fixture
    def frozen(self, monkeypatch):
        clock = {"now": float(AT)}
        monkeypatch.setattr(time, "time", lambda: clock["now"])
        return clock

    def make(self, **config) -> HubWebhook:
        ctx = self.context()
        ctx.config = HubWebhook.validate_config({**self.config, **config})
        return HubWebhook(ctx)

    def deliver(self, rsps, connector, *, status=200, headers=None, body="", topic="stop_ship",
                payload=None, url=ENDPOINT):
        rsps.add(responses.POST, url, status=status, headers=headers or {}, body=body)
        result = connector.push(topic, STOP if payload is None else payload, KEY)
        return result, rsps.calls[-1].request

    # -- what is sent -------------------------------------------------------------------------
    def test_delivery_is_the_signed_envelope(self, rsps, frozen, slept):
        connector = self.make(secrets=[OLD])
        result, request = self.deliver(rsps, connector, status=204)
        assert isinstance(result, PushResult) and result.status_code == 204
        assert request.body == GOLDEN_BODY
        assert json.loads(request.body) == {"type": "stop_ship", "id": KEY,
                                            "created_at": "2026-11-01T08:00:00+00:00",
                                            "data": STOP}
        h = request.headers
        assert h["webhook-id"] == KEY == h["Idempotency-Key"]
        assert h["webhook-timestamp"] == str(AT)
        assert h["webhook-signature"] == "v1,3DCfJc7JtQSfddAr04edNp3zhHWmfbJnH/z9Sd1FqTY="
        assert h["webhook-signature"] == spec_signature(OLD, KEY, AT, GOLDEN_BODY)
        assert h["Content-Type"] == "application/json"
        assert len(rsps.calls) == 1 and slept == []

    @pytest.mark.parametrize("v", DELIVERY_VECTORS, ids=lambda v: v.name)
    def test_delivery_signature_vector(self, rsps, frozen, v):
        connector = self.make(secrets=list(v.signing))
        _, request = self.deliver(rsps, connector)
        header = request.headers["webhook-signature"]
        # one v1 entry per active secret, in the account's order
        assert header.split(" ") == [spec_signature(s, KEY, AT, request.body) for s in v.signing]
        for name, verify in verifiers():
            if v.valid:
                assert verify(list(v.holding), dict(request.headers), request.body, 300,
                              v.verify_at) == KEY, name
            else:
                with pytest.raises(ValueError):
                    verify(list(v.holding), dict(request.headers), request.body, 300,
                           v.verify_at)

    def test_altered_body_or_headers_do_not_verify(self, rsps, frozen):
        _, request = self.deliver(rsps, self.make())
        headers = dict(request.headers)
        cases = [(headers, request.body + b" "),
                 ({**headers, "webhook-id": KEY[:-1] + "0"}, request.body),
                 ({**headers, "webhook-timestamp": str(AT + 1)}, request.body),
                 ({k: v for k, v in headers.items() if k != "webhook-signature"}, request.body)]
        for name, verify in verifiers():
            for hdrs, body in cases:
                with pytest.raises(ValueError):
                    verify([OLD, NEW], hdrs, body, 300, AT)

    def test_webhook_id_is_stable_across_retries(self, rsps, frozen):
        connector = self.make()
        with pytest.raises(ConnectorError):
            self.deliver(rsps, connector, status=503)
        first = rsps.calls[-1].request
        frozen["now"] += 75  # the outbox tries again later
        _, second = self.deliver(rsps, connector)
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == KEY
        assert json.loads(first.body)["id"] == json.loads(second.body)["id"] == KEY
        assert int(second.headers["webhook-timestamp"]) == int(first.headers["webhook-timestamp"]) + 75
        assert first.headers["webhook-signature"] != second.headers["webhook-signature"]

    # -- answers -------------------------------------------------------------------------------
    @pytest.mark.parametrize("status", [200, 201, 202, 204])
    def test_2xx_is_delivered_whatever_the_body(self, rsps, status):
        body = "" if status == 204 else "\x00<html> not json"
        result, _ = self.deliver(rsps, self.make(), status=status, body=body)
        assert result.status_code == status

    @pytest.mark.parametrize("status,headers,error_class,retry_after", [
        (410, {}, ErrorClass.FAIL_CONFIG, None),
        (401, {}, ErrorClass.FAIL_CONFIG, None),
        (403, {}, ErrorClass.FAIL_CONFIG, None),
        (429, {"Retry-After": "120"}, ErrorClass.RATE_LIMITED, 120.0),
        (429, {}, ErrorClass.RATE_LIMITED, None),
        (502, {"Retry-After": "30"}, ErrorClass.RATE_LIMITED, 30.0),
        (504, {}, ErrorClass.RATE_LIMITED, None),
        (500, {}, ErrorClass.RETRY, None),
        (503, {"Retry-After": "45"}, ErrorClass.RETRY, 45.0),
        (400, {}, ErrorClass.RETRY, None),
        (404, {}, ErrorClass.RETRY, None),
        (408, {}, ErrorClass.RETRY, None),
    ])
    def test_error_class_by_response(self, rsps, slept, status, headers, error_class,
                                     retry_after):
        with pytest.raises(ConnectorError) as exc:
            self.deliver(rsps, self.make(), status=status, headers=headers, body="nope")
        assert exc.value.error_class is error_class
        assert exc.value.status_code == status
        assert exc.value.retry_after == retry_after
        assert len(rsps.calls) == 1 and slept == []  # one try: the outbox owns retries
        if status == 410:
            assert "410 Gone" in exc.value.message and "disabled" in exc.value.message

    def test_retry_after_as_an_http_date(self, rsps, frozen):
        with pytest.raises(ConnectorError) as exc:
            self.deliver(rsps, self.make(), status=429,
                         headers={"Retry-After": "Sun, 01 Nov 2026 08:10:00 GMT"})
        assert exc.value.error_class is ErrorClass.RATE_LIMITED
        assert exc.value.retry_after == 600.0

    @pytest.mark.parametrize("status", [301, 302, 307, 308])
    def test_redirects_are_not_followed(self, rsps, status):
        rsps.add(responses.POST, ENDPOINT, status=status,
                 headers={"Location": "https://elsewhere.test/hooks"})
        with pytest.raises(ConnectorError) as exc:
            self.make().push("stop_ship", STOP, KEY)
        assert exc.value.error_class is ErrorClass.FAIL_CONFIG
        assert "elsewhere.test" in exc.value.message
        assert len(rsps.calls) == 1

    @pytest.mark.parametrize("failure", [requests.exceptions.ReadTimeout("slow"),
                                         requests.exceptions.ConnectTimeout("unreachable"),
                                         requests.exceptions.ConnectionError("reset")])
    def test_timeouts_and_resets_are_retried(self, rsps, slept, failure):
        rsps.add(responses.POST, ENDPOINT, body=failure)
        with pytest.raises(ConnectorError) as exc:
            self.make().push("stop_ship", STOP, KEY)
        assert exc.value.error_class is ErrorClass.RETRY
        assert len(rsps.calls) == 1 and slept == []

    def test_timeout_is_15_seconds(self, rsps):
        self.deliver(rsps, self.make())
        assert rsps.calls[0].request.req_kwargs["timeout"] == (5.0, 15.0)

    def test_unknown_topic_and_bad_payload(self, rsps):
        with pytest.raises(ConnectorError) as exc:
            self.make().push("shipment", STOP, KEY)
        assert exc.value.error_class is ErrorClass.FAIL_CONFIG
        with pytest.raises(ConnectorError) as exc:
            self.make().push("stop_ship", ["not", "an", "object"], KEY)
        assert exc.value.error_class is ErrorClass.FAIL_DATA
        assert len(rsps.calls) == 0

    @pytest.mark.parametrize("topic", ["order_dispatch", "stop_ship", "return_notice",
                                       "tracking_notice", "claim_notice"])
    def test_every_notice_topic_is_sent(self, rsps, topic):
        _, request = self.deliver(rsps, self.make(), topic=topic, payload={"x": 1})
        assert json.loads(request.body)["type"] == topic

    # -- endpoint policy -------------------------------------------------------------------------
    @pytest.mark.parametrize("url,env,allowed", [
        ("https://supplier.example.test/h", "production", True),
        ("http://supplier.example.test/h", "production", False),
        ("http://127.0.0.1:8093/webhook", "production", True),
        ("http://localhost:8093/webhook", "production", True),
        ("http://[::1]:8093/webhook", "production", True),
        ("http://supplier.example.test/h", "development", True),
        ("http://supplier.example.test/h", "test", True),
        ("https://user:pw@supplier.example.test/h", "development", False),
    ])
    def test_endpoint_policy(self, rsps, monkeypatch, url, env, allowed):
        connector = self.make(endpoint_url=url.replace("user:pw@", ""))  # registered earlier
        connector.config["endpoint_url"] = url
        monkeypatch.setenv("HUB_ENV", env)
        if allowed:
            self.deliver(rsps, connector, url=url)
            assert len(rsps.calls) == 1
        else:
            with pytest.raises(ConnectorError) as exc:
                connector.push("stop_ship", STOP, KEY)
            assert exc.value.error_class is ErrorClass.FAIL_CONFIG
            assert len(rsps.calls) == 0  # nothing left the hub
        assert (endpoint_problem(url) is None) is allowed
        if not allowed:  # and refused when the account is registered
            with pytest.raises(ConfigInvalid) as exc:
                HubWebhook.validate_config({**self.config, "endpoint_url": url})
            assert "endpoint_url" in exc.value.messages

    # -- config and rotation ---------------------------------------------------------------------
    @pytest.mark.parametrize("config,field", [
        ({"secrets": []}, "secrets"),
        ({"secrets": "whsec_" + "A" * 32}, "secrets"),
        ({"secrets": ["sk_live_1234567890abcdef1234567890"]}, "secrets"),
        ({"secrets": ["whsec_c2hvcnQ="]}, "secrets"),                 # 5 bytes
        ({"secrets": ["whsec_not base64 at all!!!!!!!!!!!!!"]}, "secrets"),
        ({"secrets": [OLD, OLD]}, "secrets"),
        ({"secrets": [generate_secret() for _ in range(MAX_ACTIVE + 1)]}, "secrets"),
        ({"endpoint_url": "ftp://supplier.example.test/h"}, "endpoint_url"),
        ({"endpoint_url": "not a url"}, "endpoint_url"),
        ({"tolerance_s": 5}, "tolerance_s"),
    ])
    def test_bad_config_is_refused(self, config, field):
        with pytest.raises(ConfigInvalid) as exc:
            HubWebhook.validate_config({**self.config, **config})
        assert field in exc.value.messages

    def test_secrets_are_declared_secret(self):
        assert HubWebhook.secret_fields() == ["secrets"]

    def test_rotation_overlaps_then_retires_the_oldest(self):
        config = HubWebhook.validate_config({**self.config, "secrets": [OLD]})
        both = rotated(config)
        assert both["secrets"][0] == OLD and len(both["secrets"]) == 2
        fresh = both["secrets"][1]
        assert secret_problem(fresh) is None and fresh != OLD
        assert len(base64.b64decode(fresh[len("whsec_"):])) == 32
        HubWebhook.validate_config(both)
        assert retired(both)["secrets"] == [fresh]
        assert config["secrets"] == [OLD]  # pure: the input is not changed
        with pytest.raises(RotationError):
            retired(retired(both))
        full = {"secrets": [generate_secret() for _ in range(MAX_ACTIVE)]}
        with pytest.raises(RotationError):
            rotated(full)
