"""Kuaishou order mapping: lines, money, times, holds, buyer ciphertext, bad input."""
from datetime import datetime, timezone

import pytest

from mappings.kuaishou import MappingError, map_order
from tests.mappings.kuaishou.helpers import load


def test_ms_timestamps_become_aware_utc():
    values = map_order(load("order_paid_with_gift.json"))
    assert values.placed_at == datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
    assert values.paid_at.tzinfo is timezone.utc
    assert values.ship_by == datetime(2025, 3, 3, 8, 0, tzinfo=timezone.utc)


def test_one_oid_is_one_line_plus_gifts():
    values = map_order(load("order_paid_with_gift.json"))
    main, gift = values.lines
    assert (main.platform_line_id, main.is_gift, main.quantity, main.total_minor) == \
        ("2607602240240301", False, 2, 5980)
    assert (gift.sku, gift.is_gift, gift.unit_price_minor) == ("GIFT-COASTER", True, 0)


def test_buyer_is_kept_as_ciphertext_and_masked_text_only():
    payload = load("order_paid_with_gift.json")
    buyer = map_order(payload).buyer
    address = payload["orderAddress"]
    assert buyer.name_cipher == address["encryptedConsignee"]
    assert buyer.phone_cipher == address["encryptedMobile"]
    assert buyer.address_cipher == address["encryptedAddress"]
    assert buyer.phone_masked == "138****5678"
    assert "13812345678" not in repr(buyer)


@pytest.mark.parametrize("field", ["encryptedConsignee", "encryptedMobile", "encryptedAddress"])
def test_any_empty_cipher_blocks_shipping_a_paid_order(field):
    payload = load("order_paid_with_gift.json")
    payload["orderAddress"][field] = ""
    assert "address_incomplete" in map_order(payload).do_not_ship_reasons


def test_a_missing_address_blocks_shipping():
    payload = load("order_paid_with_gift.json")
    del payload["orderAddress"]
    assert "address_incomplete" in map_order(payload).do_not_ship_reasons


@pytest.mark.parametrize("codes,reasons", [
    ([1], ["group_buy_in_progress"]), ([2], ["risk_review"]), (2, ["risk_review"]),
    (["1"], ["group_buy_in_progress"]), ([], []), (None, []),
])
def test_disable_delivery_reasons(codes, reasons):
    payload = load("order_paid_with_gift.json")
    payload["orderBaseInfo"]["disableDeliveryReasonCode"] = codes
    assert list(map_order(payload).do_not_ship_reasons) == reasons


def test_fraud_risk_is_a_hold_in_any_status():
    payload = load("order_shipped_detail.json")
    payload["orderBaseInfo"]["riskCode"] = 10001
    assert map_order(payload).do_not_ship_reasons == ("fraud_risk",)


def test_absence_holds_only_while_awaiting_shipment():
    for name in ("order_pending_payment.json", "order_shipped_detail.json", "order_cancelled.json"):
        payload = load(name)
        payload["orderBaseInfo"]["validPromiseShipmentTimeStamp"] = 0
        payload["orderAddress"]["encryptedMobile"] = ""
        assert map_order(payload).do_not_ship_reasons == (), name


def test_ship_by_zero_blocks_a_paid_order():
    payload = load("order_paid_with_gift.json")
    payload["orderBaseInfo"]["validPromiseShipmentTimeStamp"] = 0
    values = map_order(payload)
    assert values.ship_by is None and values.do_not_ship_reasons == ("no_ship_by_time",)


def test_amounts_are_fen_and_unpaid_orders_have_paid_zero():
    paid = map_order(load("order_shipped_detail.json"))
    assert (paid.total_minor, paid.paid_minor, paid.shipping_fee_minor) == (6780, 6780, 800)
    unpaid = map_order(load("order_pending_payment.json"))
    assert (unpaid.total_minor, unpaid.paid_minor, unpaid.paid_at) == (5980, 0, None)


def test_sku_falls_back_from_sku_nick_to_goods_code_to_platform_id():
    payload = load("order_paid_with_gift.json")
    item = payload["orderItemInfo"]
    assert map_order(payload).lines[0].sku == "CUP-350-WHT"
    item["skuNick"] = ""
    assert map_order(payload).lines[0].sku == "G-CUP-350"
    item["goodsCode"] = None
    item["relSkuId"] = 555
    assert map_order(payload).lines[0].sku == "555"
    item["relSkuId"] = 0
    assert map_order(payload).lines[0].sku == "21358734001"


def test_string_numbers_are_read():
    payload = load("order_paid_with_gift.json")
    base = payload["orderBaseInfo"]
    base.update(status="30", totalFee="5980", createTime="1740816000000", oid="2607602240240301")
    payload["orderItemInfo"].update(num="2", price="2990")
    values = map_order(payload)
    assert values.status == "paid" and values.total_minor == 5980 and values.lines[0].total_minor == 5980


@pytest.mark.parametrize("payload", [{}, {"orderBaseInfo": {}}, {"orderBaseInfo": {"oid": 0}}, []])
def test_an_order_without_an_id_is_a_mapping_error(payload):
    with pytest.raises(MappingError):
        map_order(payload)


def test_junk_fields_never_crash():
    values = map_order({"orderBaseInfo": {"oid": 5, "status": "weird", "totalFee": None,
                                          "createTime": -1, "disableDeliveryReasonCode": "x",
                                          "riskCode": "?"},
                        "orderItemInfo": None, "subOrderInfo": "nope", "orderAddress": []})
    assert values.status == "unknown" and values.total_minor == 0 and values.lines == ()
    assert "no_item_info" in values.flags and "unknown_order_status:weird" in values.flags
    assert "platform_hold:x" in values.do_not_ship_reasons
