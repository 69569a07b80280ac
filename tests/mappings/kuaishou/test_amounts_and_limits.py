"""Amounts are parsed exactly or refused naming the field; text longer than the hub keeps
is cut at the mapping edge and flagged (issue 10, items 6 and 7)."""
import pytest

from mappings.kuaishou import MappingError, map_order, map_refund
from tests.mappings.kuaishou.helpers import load


@pytest.mark.parametrize("raw, fen", [(1990, 1990), ("1990", 1990), (" 1990 ", 1990),
                                      ("1990.00", 1990), (1990.0, 1990), (None, 0), ("", 0)])
def test_whole_fen_amounts_are_exact(raw, fen):
    payload = load("order_paid_with_gift.json")
    payload["orderBaseInfo"]["totalFee"] = raw
    assert map_order(payload).total_minor == fen


@pytest.mark.parametrize("raw", ["19.90", 19.9, "1e3", "abc", "NaN", "Infinity", True, [1]])
def test_an_amount_that_is_not_whole_fen_is_refused_naming_the_field(raw):
    payload = load("order_paid_with_gift.json")
    payload["orderBaseInfo"]["totalFee"] = raw
    with pytest.raises(MappingError, match="totalFee"):
        map_order(payload)


def test_a_refund_amount_is_checked_too():
    payload = load("refund_only_requested.json")
    payload["refundFee"] = "12.5"
    with pytest.raises(MappingError, match="refundFee"):
        map_refund(payload)


def test_a_buyer_note_over_500_characters_is_cut_and_flagged():
    payload = load("order_paid_with_gift.json")
    payload["orderBaseInfo"]["remark"] = "备注" * 400
    values = map_order(payload)
    assert len(values.buyer_note) == 500 and values.buyer_note == ("备注" * 250)
    assert "truncated:buyer_note" in values.flags
