"""The standard connector suite for the courier connectors (``kuaidi100``, ``aftership``,
``track17``): declaration, signature vectors, forged bodies, and recorded payloads →
golden normalised values (fixtures/<provider>/, ``UPDATE_GOLDEN=1`` rewrites them).

Kuaidi100 signs inside the form body, not in a header, so its "missing or altered
signature" part removes or alters the ``sign`` field instead.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from connectors.aftership import AfterShip
from connectors.base import AccountContext, WebhookRejected
from connectors.kuaidi100 import Kuaidi100, signing
from connectors.kuaidi100.webhooks import kind_of
from connectors.track17 import Track17
from tests.connector_suite import ConnectorSuite, SignatureVector, _mutate
from tests.connectors.couriers.conftest import (
    AFTERSHIP_SIGN, K100_CAPTURED_SIGN, K100_SALT, TRACK17_SIGN, fixture_bytes,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JD_PARAM = fixture_bytes("kuaidi100/push_jd_signed_304.json").decode("utf-8")
AS_BODY = fixture_bytes("aftership/tracking_update_doc_sample.json")
T17_BODY = fixture_bytes("track17/tracking_updated_ups.json")


def k100_form(param: str, sign: str | None) -> bytes:
    fields = {"param": param} if sign is None else {"param": param, "sign": sign}
    return urlencode(fields).encode("utf-8")


class TestKuaidi100Contract(ConnectorSuite):
    connector_cls = Kuaidi100
    config = {"key": "testkey", "customer": "TESTCUSTOMER", "salt": "placeholder-salt",
              "secret": "label-secret"}
    fixtures_dir = FIXTURES / "kuaidi100"
    signature_vectors = [
        SignatureVector("captured-jd-push", FORM, k100_form(JD_PARAM, K100_CAPTURED_SIGN),
                        valid=True),
        SignatureVector("sign-in-lower-case", FORM,
                        k100_form(JD_PARAM, K100_CAPTURED_SIGN.lower()), valid=True),
        SignatureVector("signed-with-another-salt", FORM,
                        k100_form(JD_PARAM, signing.push_sign(JD_PARAM, "124")), valid=False,
                        reason="bad_signature"),
        SignatureVector("no-sign", FORM, k100_form(JD_PARAM, None), valid=False,
                        reason="bad_signature"),
        SignatureVector("signed-but-not-a-push", FORM,
                        k100_form('{"a":1}', signing.push_sign('{"a":1}', K100_SALT)),
                        valid=False, reason="unparseable"),
    ]

    def context(self) -> AccountContext:
        ctx = super().context()
        ctx.config["salt"] = K100_SALT      # the capture's salt
        return ctx

    def fixture_event(self, path: Path):
        body = path.read_bytes()
        return kind_of(json.loads(body)), body

    def test_missing_or_altered_signature_is_rejected(self, connector):
        cases = {"no sign": k100_form(JD_PARAM, None),
                 "altered sign": k100_form(JD_PARAM, _mutate(K100_CAPTURED_SIGN)),
                 "altered param": k100_form(_mutate(JD_PARAM), K100_CAPTURED_SIGN),
                 "sign with a space": k100_form(JD_PARAM, K100_CAPTURED_SIGN + " "),
                 "empty": b""}
        for label, body in cases.items():
            with pytest.raises(WebhookRejected) as exc:
                connector.verify_webhook(dict(FORM), body)
            assert exc.value.reason == "bad_signature", label


class TestAfterShipContract(ConnectorSuite):
    connector_cls = AfterShip
    config = {"webhook_secret": "test_secret"}
    fixtures_dir = FIXTURES / "aftership"
    signature_vectors = [
        SignatureVector("doc-sample", {"aftership-hmac-sha256": AFTERSHIP_SIGN}, AS_BODY,
                        valid=True, event_ids=("94dadd60-ed26-46d0-aa52-3ced925a50ff",)),
        SignatureVector("header-name-case", {"Aftership-Hmac-Sha256": AFTERSHIP_SIGN}, AS_BODY,
                        valid=True),
        SignatureVector("returns-product-header", {"as-signature-hmac-sha256": AFTERSHIP_SIGN},
                        AS_BODY, valid=False, reason="bad_signature"),
        SignatureVector("hex-instead-of-base64", {"aftership-hmac-sha256": "6c0314ea"},
                        AS_BODY, valid=False, reason="bad_signature"),
    ]

    def fixture_event(self, path: Path):
        body = path.read_bytes()
        return json.loads(body)["event"], body


class TestTrack17Contract(ConnectorSuite):
    connector_cls = Track17
    config = {"security_key": "test_key"}
    fixtures_dir = FIXTURES / "track17"
    signature_vectors = [
        SignatureVector("fixture", {"sign": TRACK17_SIGN}, T17_BODY, valid=True),
        SignatureVector("upper-case-hex", {"sign": TRACK17_SIGN.upper()}, T17_BODY, valid=True),
        SignatureVector("key-without-slash", {"sign": "0" * 64}, T17_BODY, valid=False,
                        reason="bad_signature"),
    ]

    def fixture_event(self, path: Path):
        body = path.read_bytes()
        return json.loads(body)["event"], body
