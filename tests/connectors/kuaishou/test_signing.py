"""The Kuaishou signature (reference §1.4) against its published test vectors."""
import hashlib
import json

import pytest

from connectors.kuaishou import signing

PARAM = ('{"orderViewStatus":1,"pageSize":50,"sort":1,"queryType":2,"beginTime":1700000000000,'
         '"endTime":1700086400000,"cpsType":0,"cursor":""}')
FIELDS = dict(method="open.order.cursor.list", appkey="ks123", access_token="token", param=PARAM,
              sign_secret="sign-secret", timestamp_ms=1700086400123)
HMAC_VECTOR = "mB29QUHuu3bUDH0ynVb1RA7UyiPhi0HkVjtYzCOlNVY="
MD5_VECTOR = "8f67ad875a25da2aad3bf39ca6f079f6"


def test_hmac_sha256_vector():
    assert signing.envelope(**FIELDS, sign_method="HMAC_SHA256")["sign"] == HMAC_VECTOR


def test_md5_vector():
    assert signing.envelope(**FIELDS, sign_method="MD5")["sign"] == MD5_VECTOR


def test_string_to_sign_is_sorted_raw_and_ends_with_the_secret():
    fields = signing.envelope(**FIELDS)
    expected = (f"access_token=token&appkey=ks123&method=open.order.cursor.list&param={PARAM}"
                "&signMethod=HMAC_SHA256&timestamp=1700086400123&version=1&signSecret=sign-secret")
    assert signing.string_to_sign(fields, "sign-secret") == expected


def test_md5_is_lowercase_hex_of_the_string():
    fields = signing.envelope(**FIELDS, sign_method="MD5")
    text = signing.string_to_sign(fields, "sign-secret")
    assert fields["sign"] == hashlib.md5(text.encode()).hexdigest() == fields["sign"].lower()


def test_param_is_serialised_once_compactly_and_kept_byte_identical():
    params = json.loads(PARAM)
    assert signing.dump_param(params) == PARAM
    fields = signing.envelope(**{**FIELDS, "param": signing.dump_param(params)})
    assert fields["param"] == PARAM and fields["sign"] == HMAC_VECTOR


def test_non_ascii_param_is_signed_as_utf8_text():
    param = signing.dump_param({"rejectDesc": "商品已发出"})
    assert param == '{"rejectDesc":"商品已发出"}'
    fields = signing.envelope(**{**FIELDS, "param": param})
    assert fields["sign"] != HMAC_VECTOR
    assert signing.compute_sign(fields, "sign-secret") == fields["sign"]


def test_sign_and_unknown_fields_are_not_signed():
    fields = signing.envelope(**FIELDS)
    noisy = {**fields, "sign": "whatever", "extra": "x", "file": b"..."}
    assert signing.compute_sign(noisy, "sign-secret") == HMAC_VECTOR


@pytest.mark.parametrize("missing", ["method", "appkey", "access_token"])
def test_required_fields_must_be_present(missing):
    fields = {"method": "m", "appkey": "a", "access_token": "t", missing: " "}
    with pytest.raises(ValueError, match=f"{missing} not exist"):
        signing.string_to_sign(fields, "s")


def test_param_must_be_the_sent_string():
    with pytest.raises(TypeError):
        signing.envelope(**{**FIELDS, "param": {"a": 1}})


def test_unknown_sign_method_is_refused():
    with pytest.raises(ValueError):
        signing.envelope(**FIELDS, sign_method="SHA1")
