"""The standard connector suite for the courier connectors (``kuaidi100``, ``aftership``,
``track17``): declaration, signature vectors, forged bodies, and recorded payloads →
golden normalised values (fixtures/<provider>/, ``UPDATE_GOLDEN=1`` rewrites them).

Kuaidi100 signs inside the form body, not in a header, so its "missing or altered
signature" part removes or alters the ``sign`` field instead. Its ``return_label`` hooks
answer the 商家寄件 booking (``/order/borderapi.do``, ``method=bOrder``) the way Kuaidi100's
own demo shows, and check the buyer goes out as the platform's ciphertext only.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest
import responses
from marshmallow import ValidationError

from connectors.aftership import AfterShip
from connectors.base import AccountContext, ConfigInvalid, ConnectorError, ErrorClass, \
    WebhookRejected
from connectors.capabilities import ReturnLabel
from connectors.kuaidi100 import Kuaidi100, signing
from connectors.kuaidi100.webhooks import kind_of
from connectors.track17 import Track17
from tests.connector_capabilities import LABEL_KEY, LABEL_REQUEST
from tests.connector_suite import ConnectorSuite, SignatureVector, _mutate
from tests.connectors.couriers.conftest import (
    AFTERSHIP_SIGN, K100_CAPTURED_SIGN, K100_SALT, TRACK17_SIGN, fixture_bytes,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JD_PARAM = fixture_bytes("kuaidi100/push_jd_signed_304.json").decode("utf-8")
AS_BODY = fixture_bytes("aftership/tracking_update_doc_sample.json")
T17_BODY = fixture_bytes("track17/tracking_updated_ups.json")
BOOK_URL = "https://poll.kuaidi100.com/order/borderapi.do"
BOOKED = {"data": {"kuaidinum": "YT2213099035201", "orderId": "20066771", "attach": None,
                   "taskId": "9FC293CA417E431F33046E64F4C4EC20"},
          "message": "提交成功", "result": True, "returnCode": "200"}   # the demo's answer


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

    def expect_return_label(self, rsps, payload, idempotency_key):
        def answer(request):
            form = {k: v[0] for k, v in parse_qs(request.body).items()}
            assert (form["key"], form["method"]) == ("testkey", "bOrder")
            assert form["sign"] == signing.label_sign(form["param"], form["t"], "testkey",
                                                      "label-secret")
            param, buyer = json.loads(form["param"]), payload["sender"]
            assert (param["sendManName"], param["sendManMobile"], param["sendManPrintAddr"]) \
                == (buyer["name_cipher"], buyer["phone_cipher"], buyer["address_cipher"])
            assert buyer["phone_masked"] not in form["param"]
            assert (param["recManName"], param["recManMobile"], param["recManPrintAddr"]) \
                == tuple(payload["receiver"][k] for k in ("name", "phone", "address"))
            assert param["kuaidicom"] == "yuantong" and param["payment"] == "SHIPPER"
            assert param["thirdOrderId"] == idempotency_key[:32]
            return 200, {}, json.dumps(BOOKED)

        rsps.add_callback(responses.POST, BOOK_URL, callback=answer)

    def expect_return_label_refusal(self, rsps):
        rsps.post(BOOK_URL, json={"result": False, "returnCode": "400",
                                  "message": "参数不完整：sendManPrintAddr 必填", "data": None})

    def book(self, rsps, answer: dict, carrier: str | None = "yto", **config):
        """Book ``LABEL_REQUEST`` (with ``carrier``) on an account with ``config``."""
        shop = self.connector_cls(AccountContext(
            7, 1, "k100", self.connector_cls.validate_config({**self.config, **config})))
        rsps.post(BOOK_URL, json=answer)
        return shop.push("return_label", self.connector_cls.return_label_payload(
            dataclasses.replace(LABEL_REQUEST, carrier=carrier)), LABEL_KEY)

    def test_a_pickup_gets_its_window_and_the_accounts_carrier(self, rsps, slept):
        result = self.book(rsps, BOOKED, None, return_label_carrier="sf", pickup_day="后天",
                           pickup_hours="10:00-12:00")
        param = json.loads(parse_qs(rsps.calls[0].request.body)["param"][0])
        assert (param["kuaidicom"], param["dayType"], param["pickupStartTime"],
                param["pickupEndTime"]) == ("shunfeng", "后天", "10:00", "12:00")
        label = ReturnLabel.from_data(result.data["return_label"])
        assert (label.carrier, label.tracking_number, label.booking_id) == (
            "sf", "YT2213099035201", "9FC293CA417E431F33046E64F4C4EC20")
        assert (label.pickup_until - label.pickup_from).total_seconds() == 2 * 3600
        assert result.data["order_id"] == "20066771"

    def test_a_booking_without_a_waybill_yet_is_retried(self, rsps, slept):
        waiting = {**BOOKED, "data": {"orderId": "20066771", "taskId": "T-1"}}
        with pytest.raises(ConnectorError) as exc:
            self.book(rsps, waiting)
        assert exc.value.error_class == ErrorClass.RETRY and "T-1" in exc.value.message

    def test_no_carrier_anywhere_is_refused_with_what_to_set(self, rsps, slept):
        payload = self.connector_cls.return_label_payload(
            dataclasses.replace(LABEL_REQUEST, carrier=None))
        shop = self.connector_cls(self.context())
        with pytest.raises(ConnectorError) as exc:
            shop.push("return_label", payload, LABEL_KEY)
        assert exc.value.error_class == ErrorClass.FAIL_DATA    # the account keeps tracking
        assert "return_label_carrier" in exc.value.message
        assert not rsps.calls

    def test_return_pickup_settings_and_carriers_are_checked(self):
        for bad in ({"pickup_hours": "18:00-09:00"}, {"pickup_hours": "9-18"},
                    {"pickup_day": "下周"}, {"return_label_carrier": "pigeon"}):
            with pytest.raises(ConfigInvalid):
                self.connector_cls.validate_config({**self.config, **bad})
        with pytest.raises(ValidationError) as exc:
            self.connector_cls.return_label_payload(
                dataclasses.replace(LABEL_REQUEST, carrier="pigeon"))
        assert "carrier" in exc.value.messages

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
