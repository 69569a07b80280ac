"""Kuaishou refund mapping beyond the status table: money, times, reasons, quantity."""
from datetime import datetime, timezone

import pytest

from mappings.kuaishou import MappingError, map_refund
from tests.mappings.kuaishou.helpers import load


def test_deadlines_and_versions():
    values = map_refund(load("refund_only_requested.json"))
    assert values.respond_by == datetime(2025, 3, 4, 14, 0, tzinfo=timezone.utc)
    assert values.remote_updated_at == datetime(2025, 3, 2, 15, 0, tzinfo=timezone.utc)
    assert values.requested_at == datetime(2025, 3, 2, 14, 0, tzinfo=timezone.utc)
    assert values.refund_minor == 2990 and values.currency == "CNY"


def test_raw_status_keeps_status_and_negotiate_status():
    assert map_refund(load("return_rejected.json")).raw_status == "11/3"
    payload = load("return_rejected.json")
    del payload["negotiateStatus"]
    assert map_refund(payload).raw_status == "11"


def test_reason_from_the_codes_table_wins(monkeypatch):
    from mappings.kuaishou import tables
    real = tables.json_table

    def patched(name):
        table = real(name)
        return {**table, "codes": {"27": "buyer.changed_mind"}} if name == "refund_reasons" else table
    monkeypatch.setattr("mappings.kuaishou.returns.json_table", patched)
    values = map_refund(load("refund_only_requested.json"))
    assert values.reason_code == "buyer.changed_mind" and values.flags.count("quantity_unknown") == 1


def test_reason_falls_back_to_the_buyers_words():
    payload = load("refund_unknown_codes.json")
    payload["refundDesc"] = "收到时杯子有污渍"
    values = map_refund(payload)
    assert values.reason_code == "quality.defect"
    assert not any(f.startswith("unknown_refund_reason") for f in values.flags)
    assert values.reason_text == "奇怪原因: 收到时杯子有污渍"


def test_the_line_matches_the_order_line_by_oid():
    values = map_refund(load("return_rejected.json"))
    (line,) = values.lines
    assert line.platform_line_id == values.platform_order_id == "2607602240240301"
    assert line.sku == "CUP-350-WHT" and line.reason_code == values.reason_code


def test_quantity_comes_from_the_order_when_given():
    order = load("order_paid_with_gift.json")
    values = map_refund(load("return_rejected.json"), order=order)
    assert values.lines[0].quantity == 2 and "quantity_unknown" not in values.flags


def test_quantity_from_exchange_info():
    values = map_refund(load("exchange_success.json"))
    assert values.lines[0].quantity == 1 and "quantity_unknown" not in values.flags


def test_receipt_status_is_the_buyers_not_the_merchants():
    payload = load("return_in_transit_detail.json")
    payload["receiptStatus"] = 2
    assert map_refund(payload).status == "return_in_transit"


def test_message_style_order_id_is_read():
    payload = load("refund_only_requested.json")
    payload["orderId"] = payload.pop("oid")
    assert map_refund(payload).platform_order_id == "2607602240240301"


@pytest.mark.parametrize("payload", [{}, {"refundId": ""}, {"refundId": 0}, "x"])
def test_a_refund_without_an_id_is_a_mapping_error(payload):
    with pytest.raises(MappingError):
        map_refund(payload)


def test_junk_fields_never_crash():
    values = map_refund({"refundId": 9, "status": None, "handlingWay": "?", "refundFee": None,
                         "expireTime": "soon", "negotiateStatus": [], "exchangeInfo": None})
    assert values.status == "requested" and values.refund_minor == 0 and values.lines == ()
    assert "refund_without_sku" in values.flags


def test_the_buyers_return_waybill_is_mapped():
    values = map_refund(load("return_in_transit_detail.json"))
    assert (values.return_carrier, values.return_tracking_number) == ("yto", "YT7654321098765")
    assert not any(f.startswith("unknown_express_code") for f in values.flags)


@pytest.mark.parametrize("info, expected", [
    ({"expressNo": "XY0001112223", "expressCode": 777}, ("kuaishou:777", "XY0001112223")),
    ({"expressNo": " XY0001112223 "}, ("unknown", "XY0001112223")),
])
def test_an_unknown_express_code_is_kept_and_flagged(info, expected):
    payload = load("return_in_transit_detail.json")
    payload["logisticsInfo"] = info
    values = map_refund(payload)
    assert (values.return_carrier, values.return_tracking_number) == expected
    code = info.get("expressCode", "")
    assert f"unknown_express_code:{code}" in values.flags


@pytest.mark.parametrize("info", [None, {}, {"expressNo": "", "expressCode": 6}, "YT1", []])
def test_no_waybill_means_none(info):
    payload = load("return_in_transit_detail.json")
    payload["logisticsInfo"] = info
    values = map_refund(payload)
    assert (values.return_carrier, values.return_tracking_number) == (None, None)
