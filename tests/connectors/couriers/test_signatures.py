"""Signature vectors for the three courier providers: valid, forged, missing.

Every vector is recomputed over byte-exact fixtures (see fixtures/README.md); the
Kuaidi100 one is a real capture whose sign Kuaidi100 itself produced.
"""
from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import pytest

from connectors import registry
from connectors.aftership import signature as aftership_signature
from connectors.base import WebhookRejected
from connectors.kuaidi100 import signing
from connectors.track17 import signature as track17_signature
from tests.connectors.couriers.conftest import (
    AFTERSHIP_SIGN, K100_CAPTURED_SIGN, K100_SALT, TRACK17_KEY, TRACK17_SIGN, aftership,
    fixture_bytes, kuaidi100, track17,
)


def form(**fields) -> bytes:
    return urlencode(fields).encode("utf-8")


# -- Kuaidi100 --------------------------------------------------------------------------------
def test_kuaidi100_push_sign_matches_the_captured_sign(jd_param):
    assert hashlib.md5((jd_param + K100_SALT).encode()).hexdigest().upper() == K100_CAPTURED_SIGN
    assert signing.push_sign(jd_param, K100_SALT) == K100_CAPTURED_SIGN


def test_kuaidi100_query_sign_vector():
    param = '{"com":"yuantong","num":"YT9693083639795"}'
    assert signing.query_sign(param, "testkey", "TESTCUSTOMER") == \
        "AD6AD77E9C389B78E1A3A97E52384EEE"


def test_kuaidi100_label_sign_is_param_t_key_secret():
    assert signing.label_sign("{}", "1700000000000", "k", "s") == \
        hashlib.md5(b"{}1700000000000ks").hexdigest().upper()


def test_kuaidi100_verifies_the_captured_push(jd_param):
    conn = kuaidi100(salt="12345678")
    conn.config["salt"] = K100_SALT        # the capture's salt is shorter than we allow
    events = conn.verify_webhook({"content-type": "application/x-www-form-urlencoded"},
                                 form(param=jd_param, sign=K100_CAPTURED_SIGN))
    assert len(events) == 1
    assert events[0].event_type == "tracking"
    assert events[0].body == jd_param.encode("utf-8")   # the raw param, not re-serialised


def test_kuaidi100_sign_is_checked_on_the_raw_value_not_reserialised_json(jd_param):
    conn = kuaidi100()
    salt = conn.config["salt"]
    spaced = jd_param.replace('"status":"shutdown"', '"status": "shutdown"')
    # signed over the spaced text: verifies, although json.dumps would not produce it
    conn.verify_webhook({}, form(param=spaced, sign=signing.push_sign(spaced, salt)))
    with pytest.raises(WebhookRejected) as e:   # the sign of the compact text does not fit
        conn.verify_webhook({}, form(param=spaced, sign=signing.push_sign(jd_param, salt)))
    assert e.value.reason == "bad_signature"


@pytest.mark.parametrize("sign", [
    "7437B0ECA914BBEAC8649F3A780CB079",      # one digit off
    hashlib.md5(b"whatever").hexdigest().upper(),
    "",
])
def test_kuaidi100_forged_or_empty_sign_is_rejected(jd_param, sign):
    conn = kuaidi100()
    conn.config["salt"] = K100_SALT
    with pytest.raises(WebhookRejected) as e:
        conn.verify_webhook({}, form(param=jd_param, sign=sign))
    assert (e.value.reason, e.value.status) == ("bad_signature", 401)


def test_kuaidi100_tampered_param_is_rejected(jd_param):
    conn = kuaidi100()
    conn.config["salt"] = K100_SALT
    tampered = jd_param.replace("JD0076810060555", "JD0076810060556")
    with pytest.raises(WebhookRejected):
        conn.verify_webhook({}, form(param=tampered, sign=K100_CAPTURED_SIGN))


def test_kuaidi100_missing_sign_is_rejected(jd_param):
    conn = kuaidi100()
    with pytest.raises(WebhookRejected) as e:
        conn.verify_webhook({}, form(param=jd_param))
    assert e.value.reason == "bad_signature"


def test_kuaidi100_sign_accepted_in_lower_case(jd_param):
    conn = kuaidi100()
    conn.config["salt"] = K100_SALT
    conn.verify_webhook({}, form(param=jd_param, sign=K100_CAPTURED_SIGN.lower()))


@pytest.mark.parametrize("body", [b"", b"sign=ABC", b"\xff\xfe=1", b"params=1", b"param=x"])
def test_kuaidi100_body_with_nothing_verifiable_is_a_bad_signature(body):
    with pytest.raises(WebhookRejected) as e:
        kuaidi100().verify_webhook({}, body)
    assert (e.value.reason, e.value.status) == ("bad_signature", 401)


def test_kuaidi100_signed_but_not_json_or_unknown_shape_is_unparseable():
    conn = kuaidi100()
    salt = conn.config["salt"]
    for param in ("not json", '{"hello":"world"}', "[1,2]"):
        with pytest.raises(WebhookRejected) as e:
            conn.verify_webhook({}, form(param=param, sign=signing.push_sign(param, salt)))
        assert e.value.reason == "unparseable"


# -- AfterShip --------------------------------------------------------------------------------
def test_aftership_vector():
    body = fixture_bytes("aftership/tracking_update_doc_sample.json")
    assert len(body) == 675
    assert aftership_signature("test_secret", body) == AFTERSHIP_SIGN


def test_aftership_valid_signature_verifies():
    body = fixture_bytes("aftership/tracking_update_doc_sample.json")
    events = aftership().verify_webhook({"Aftership-Hmac-Sha256": AFTERSHIP_SIGN}, body)
    assert [(e.external_event_id, e.event_type) for e in events] == \
        [("94dadd60-ed26-46d0-aa52-3ced925a50ff", "tracking_update")]


@pytest.mark.parametrize("headers", [
    {},
    {"aftership-hmac-sha256": ""},
    {"aftership-hmac-sha256": AFTERSHIP_SIGN.replace("b", "c", 1)},
    {"as-signature-hmac-sha256": AFTERSHIP_SIGN},       # the Returns header, not Tracking's
])
def test_aftership_missing_or_forged_signature_is_rejected(headers):
    body = fixture_bytes("aftership/tracking_update_doc_sample.json")
    with pytest.raises(WebhookRejected) as e:
        aftership().verify_webhook(headers, body)
    assert e.value.reason == "bad_signature"


def test_aftership_body_changed_by_one_byte_is_rejected():
    body = fixture_bytes("aftership/tracking_update_doc_sample.json")
    with pytest.raises(WebhookRejected):
        aftership().verify_webhook({"aftership-hmac-sha256": AFTERSHIP_SIGN}, body.rstrip(b"\n"))


def test_aftership_wrong_secret_is_rejected():
    body = fixture_bytes("aftership/tracking_update_doc_sample.json")
    with pytest.raises(WebhookRejected):
        aftership("other_secret").verify_webhook({"aftership-hmac-sha256": AFTERSHIP_SIGN}, body)


# -- 17TRACK ----------------------------------------------------------------------------------
def test_track17_vector():
    body = fixture_bytes("track17/tracking_updated_ups.json")
    assert len(body) == 7522
    assert track17_signature(TRACK17_KEY, body) == TRACK17_SIGN


def test_track17_valid_signature_verifies():
    body = fixture_bytes("track17/tracking_updated_ups.json")
    events = track17().verify_webhook({"sign": TRACK17_SIGN}, body)
    assert len(events) == 1 and events[0].event_type == "TRACKING_UPDATED"
    assert events[0].external_event_id.startswith("t17:")
    # the same delivery again is the same event (17TRACK sends no event id)
    assert track17().verify_webhook({"Sign": TRACK17_SIGN.upper()}, body) == events


@pytest.mark.parametrize("headers", [
    {},
    {"sign": ""},
    {"sign": TRACK17_SIGN[:-1] + "d"},
    {"sign": hashlib.sha256(b"x").hexdigest()},
])
def test_track17_missing_or_forged_signature_is_rejected(headers):
    body = fixture_bytes("track17/tracking_updated_ups.json")
    with pytest.raises(WebhookRejected) as e:
        track17().verify_webhook(headers, body)
    assert e.value.reason == "bad_signature"


def test_track17_key_is_appended_after_a_slash():
    body = fixture_bytes("track17/tracking_updated_ups.json")
    no_slash = hashlib.sha256(body + TRACK17_KEY.encode()).hexdigest()
    with pytest.raises(WebhookRejected):
        track17().verify_webhook({"sign": no_slash}, body)


# -- declarations -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, secrets", [
    ("kuaidi100", {"key", "salt", "secret", "partner_key"}),
    ("aftership", {"webhook_secret", "api_key"}),
    ("track17", {"security_key", "api_token"}),
])
def test_registered_as_couriers_with_secrets_marked(name, secrets):
    registry.reload()
    cls = registry.get(name)
    assert cls.name == name and cls.kind == "courier"
    assert set(cls.secret_fields()) == secrets
    schema = cls.describe()["config_schema"]
    assert all(schema["properties"][s].get("writeOnly") for s in secrets)
