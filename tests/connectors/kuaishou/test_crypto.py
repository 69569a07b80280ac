"""Message-push decryption: the reference's round-trip vector, whitespace, bad input."""
import json

import pytest

from connectors.kuaishou.crypto import (
    MessageDecryptError, decode_push, decrypt_message, decrypt_text, encrypt_message, message_info,
)

KEY = "AAECAwQFBgcICQoLDA0ODw=="
PLAIN = ('{"eventId":"test_1","bizId":1,"event":"kwaishop_order_addOrder","info":"{\\"oid\\":1}",'
         '"createTime":1700000000000}')
CIPHER = ("D/hSC43L7HcHjvDVEb6Bv9TeGQNEY0cNKWOzy6cuTajbaFSPVELvrpYOoLCUq1Gvw4D2NcumTemwN2Wcsu1H1J+EOvP"
          "b7fAxn5RRTNj65VVnWBXPzglh1ozZwTDZF5GfAGzw9/9ZR5xcWeSO26DokdilL0jvUaGLZK5TdrDimOY=")
SAMPLE = "/work/shared/reference/samples/kuaishou_msg_order_addOrder_decrypted.json"


def test_reference_vector_decrypts_to_its_plaintext():
    assert decrypt_text(CIPHER, KEY) == PLAIN
    message = decrypt_message(CIPHER.encode(), KEY)
    assert message["event"] == "kwaishop_order_addOrder" and message_info(message) == {"oid": 1}


def test_reference_vector_round_trips():
    assert encrypt_message(PLAIN, KEY) == CIPHER


def test_whitespace_anywhere_is_ignored():
    wrapped = "\n  " + "\r\n".join(CIPHER[i:i + 64] for i in range(0, len(CIPHER), 64)) + " \n"
    assert decrypt_text(wrapped, KEY) == PLAIN
    assert decode_push(wrapped.encode(), KEY)["eventId"] == "test_1"


def test_a_real_capture_round_trips():
    try:
        with open(SAMPLE, encoding="utf-8") as f:
            text = f.read().strip()
    except FileNotFoundError:  # pragma: no cover (reference material not mounted)
        pytest.skip("reference sample not available")
    message = decode_push(encrypt_message(text, KEY), KEY)
    assert message["bizId"] == 2607602240240301
    assert message_info(message)["oid"] == 2607602240240301


def test_an_envelope_with_the_captured_extra_fields_decodes():
    envelope = {"eventId": "243_4027_2375715766426", "msgId": "84_2375715766425",
                "bizId": 2607602240240301, "userId": 2161524184, "openId": "f1b6",
                "appKey": "ks699183844582124027", "event": "kwaishop_order_addOrder",
                "info": json.dumps({"oid": 2607602240240301, "sellerId": 2161524184}),
                "status": 2, "createTime": 1773750943589, "updateTime": 1773750945776,
                "operator": "2323245113"}
    message = decode_push(encrypt_message(envelope, KEY), KEY)
    assert message == envelope and message_info(message)["oid"] == 2607602240240301


@pytest.mark.parametrize("body", [
    "not base64 at all!", "", "AAAA", encrypt_message(PLAIN, "AQECAwQFBgcICQoLDA0ODw=="),
    CIPHER[:-8] + "AAAAAAA=",
])
def test_bad_bodies_are_refused(body):
    with pytest.raises(MessageDecryptError):
        decode_push(body, KEY)


def test_a_ciphertext_that_is_not_json_is_refused():
    with pytest.raises(MessageDecryptError):
        decrypt_message(encrypt_message("hello", KEY), KEY)


def test_plaintext_heartbeat_is_accepted_but_no_other_plaintext():
    assert decode_push(b' {"test": true}\n', KEY) == {"test": True}
    with pytest.raises(MessageDecryptError):
        decode_push(json.dumps({"event": "kwaishop_order_addOrder", "bizId": 1}), KEY)
    assert decode_push(encrypt_message({"test": True}, KEY), KEY) == {"test": True}


@pytest.mark.parametrize("key", ["not-base64!", "AAECAwQ="])
def test_bad_keys_are_refused(key):
    with pytest.raises(MessageDecryptError):
        decrypt_text(CIPHER, key)


def test_message_info_variants():
    assert message_info({"info": {"oid": 2}}) == {"oid": 2}
    assert message_info({}) == {}
    with pytest.raises(MessageDecryptError):
        message_info({"info": "[1,2]"})
