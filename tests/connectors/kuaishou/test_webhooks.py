"""Kuaishou message push: verification (decrypt, heartbeat, ids) and thin-trigger
processing (which API each stored body calls, and with what)."""
from __future__ import annotations

import json

import pytest
import responses

from connectors.base import AccountContext, ConnectorError, ErrorClass, WebhookRejected
from connectors.kuaishou import Kuaishou
from connectors.kuaishou.crypto import encrypt_message
from connectors.kuaishou.webhooks import event_id, order_is_complete
from tests.connectors.kuaishou.conftest import BASE, CONFIG, next_account_id, sent_form
from tests.mappings.kuaishou.helpers import load

KEY = "AAECAwQFBgcICQoLDA0ODw=="
OID, REFUND_ID = 2607602240240301, 2207300012345601


def shop(**config) -> Kuaishou:
    loaded = Kuaishou.validate_config({**CONFIG, "message_key": KEY, "access_token": "AT",
                                       "access_token_expires_at": "2999-01-01T00:00:00+00:00",
                                       **config})
    return Kuaishou(AccountContext(next_account_id(), 1, "shop", loaded))


def envelope(event: str, info: dict, **extra) -> dict:
    return {"eventId": f"e-{event}", "bizId": info.get("oid") or info.get("refundId"),
            "event": event, "info": json.dumps(info), "createTime": 1740816121000, **extra}


def ok(data) -> dict:
    return {"result": 1, "error_msg": "", "data": data}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


# -- verifying ----------------------------------------------------------------------------------
def test_an_event_is_stored_decrypted_under_its_event_id():
    message = envelope("kwaishop_order_paySuccess", {"oid": OID, "status": 30})
    [event] = shop().verify_webhook({}, encrypt_message(message, KEY).encode())
    assert (event.external_event_id, event.event_type) == ("e-kwaishop_order_paySuccess",
                                                           "kwaishop_order_paySuccess")
    assert json.loads(event.body) == message


def test_without_event_id_the_id_is_a_stable_hash_of_the_content():
    message = envelope("kwaishop_order_addOrder", {"oid": OID})
    del message["eventId"]
    first = shop().verify_webhook({}, encrypt_message(message, KEY).encode())[0]
    again = shop().verify_webhook({}, encrypt_message({**message, "createTime": 1}, KEY).encode())[0]
    other = {**message, "info": json.dumps({"oid": OID + 1})}
    assert first.external_event_id == again.external_event_id == event_id(message)
    assert first.external_event_id.startswith("ks:")
    assert event_id(other) != event_id(message)


@pytest.mark.parametrize("body", [b'{"test":true}', encrypt_message({"test": True}, KEY).encode()])
def test_heartbeats_store_nothing(body):
    assert shop().verify_webhook({}, body) == []


def test_without_a_message_key_only_the_plaintext_heartbeat_passes():
    connector = shop(message_key=None)
    assert connector.verify_webhook({}, b'{"test":true}') == []
    with pytest.raises(WebhookRejected) as exc:
        connector.verify_webhook({}, encrypt_message(envelope("x", {}), KEY).encode())
    assert exc.value.reason == "unparseable" and "no message_key" in exc.value.detail


def test_ack_is_exactly_result_1():
    ack = shop().webhook_ack([])
    assert (ack.status, ack.body) == (200, b'{"result":1}')


# -- processing: thin triggers ----------------------------------------------------------------
def test_order_events_fetch_the_order_by_info_oid(rsps):
    rsps.get(f"{BASE}/open/order/detail", json=ok(load("order_paid_with_gift.json")))
    body = json.dumps(envelope("kwaishop_order_paySuccess", {"oid": OID}, bizId=1)).encode()
    [record] = shop().records_for_event("kwaishop_order_paySuccess", body)
    assert json.loads(sent_form(rsps.calls[0].request)["param"]) == {"oid": OID}
    assert (record.entity, record.external_id) == ("order", str(OID))
    assert record.updated_at.isoformat() == "2025-03-01T08:02:00+00:00"


@pytest.mark.parametrize("event", ["kwaishop_aftersales_addRefund",
                                   "kwaishop_aftersales_updateRefund"])
def test_refund_events_carry_order_id_and_fetch_the_refund(rsps, event):
    rsps.get(f"{BASE}/open/seller/order/refund/detail", json=ok(load("refund_only_requested.json")))
    info = {"orderId": OID, "refundId": REFUND_ID, "handlingWay": 10, "status": 10}
    body = json.dumps(envelope(event, info)).encode()
    [record] = shop().records_for_event(event, body)
    assert json.loads(sent_form(rsps.calls[0].request)["param"]) == {"refundId": REFUND_ID}
    assert (record.entity, record.external_id) == ("return", str(REFUND_ID))
    values = shop().map_record(record)
    assert values.platform_order_id == str(OID) and values.kind == "refund_only"


def test_events_the_hub_does_not_use_have_no_records(rsps):
    body = json.dumps(envelope("kwaishop_item_priceChange", {"itemId": 9})).encode()
    assert shop().records_for_event("kwaishop_item_priceChange", body) == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]",
                                  json.dumps(envelope("kwaishop_order_addOrder", {})).encode(),
                                  json.dumps({**envelope("kwaishop_order_addOrder", {"oid": 1}),
                                              "info": "{broken"}).encode()])
def test_unusable_stored_bodies_fail_that_event(body):
    with pytest.raises(ConnectorError) as exc:
        shop().records_for_event("kwaishop_order_addOrder", body)
    assert exc.value.error_class is ErrorClass.FAIL_DATA


def test_a_platform_error_while_fetching_is_classified(rsps):
    rsps.get(f"{BASE}/open/order/detail", json={"result": 21, "error_msg": "order operation reject"})
    body = json.dumps(envelope("kwaishop_order_addOrder", {"oid": OID})).encode()
    with pytest.raises(ConnectorError) as exc:
        shop().records_for_event("kwaishop_order_addOrder", body)
    assert exc.value.error_class is ErrorClass.FAIL_DATA


# -- processing: bodies stored by polling -----------------------------------------------------
def poll_body(kind: str, data: dict) -> bytes:
    return json.dumps({"type": kind, "data": data}, ensure_ascii=False).encode()


def test_a_complete_polled_order_is_used_as_listed(rsps):
    order = load("order_shipped_detail.json")
    assert order_is_complete(order)
    [record] = shop().records_for_event("order.updated", poll_body("order.updated", order))
    assert record.payload == order and len(rsps.calls) == 0


@pytest.mark.parametrize("drop", ["orderAddress", "orderItemInfo"])
def test_a_polled_order_lacking_a_block_gets_the_detail(rsps, drop):
    order = load("order_shipped_detail.json")
    listed = {k: v for k, v in order.items() if k != drop}
    rsps.get(f"{BASE}/open/order/detail", json=ok(order))
    [record] = shop().records_for_event("order.updated", poll_body("order.updated", listed))
    assert record.payload == order


def test_a_polled_refund_is_replaced_by_its_detail(rsps):
    detail = load("return_in_transit_detail.json")
    listed = {k: detail[k] for k in ("oid", "refundId", "status", "updateTime")}
    rsps.get(f"{BASE}/open/seller/order/refund/detail", json=ok(detail))
    [record] = shop().records_for_event("return.updated", poll_body("return.updated", listed))
    assert record.payload == detail and record.external_id == str(detail["refundId"])


def test_a_polled_record_without_id_fails_visibly():
    with pytest.raises(ConnectorError) as exc:
        shop().records_for_event("return.updated", poll_body("return.updated", {"status": 10}))
    assert exc.value.error_class is ErrorClass.FAIL_DATA
