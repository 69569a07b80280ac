"""The statement matching engine (``hub.domain.finance.matching``) and its rules
(``hub.domain.finance.rules``): every key, tolerance edge and outcome, on frames small
enough to work out by hand."""
from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hub.core.errors import ApiError
from hub.domain.finance.matching import COLUMNS, frame, key, match
from hub.domain.finance.rules import Rules

DAY = date(2026, 11, 10)
NO_AMOUNT_DATE = {"keys": ["document", "order", "waybill"]}


def line(id_: int, amount: int, day: date = DAY, **keys) -> dict:
    return {"id": id_, "amount_minor": amount, "day": day, **keys}


def run(hub: list[dict], supplier: list[dict], rules: dict | None = None):
    return match(frame(hub), frame(supplier), Rules.of(rules))


def outcomes(result) -> dict[tuple[str, int], str]:
    joined = result.lines.join(result.groups.select("group", "outcome"), on="group")
    return {(side, id_): outcome for side, id_, outcome in
            joined.select("side", "id", "outcome").iter_rows()}


def group_of(result, side: str, id_: int) -> dict:
    [number] = result.lines.filter((pl.col("side") == side) & (pl.col("id") == id_))["group"]
    [group] = result.groups.filter(pl.col("group") == number).to_dicts()
    return group


def members(result, side: str, id_: int) -> set[tuple[str, int]]:
    number = group_of(result, side, id_)["group"]
    return set(result.lines.filter(pl.col("group") == number).select("side", "id").iter_rows())


# ---- frames and keys --------------------------------------------------------------------

def test_frame_normalises_keys_and_fills_missing_columns():
    built = frame([{"id": 1, "document_ref": "  ful-0001 ", "waybill": "   ",
                    "amount_minor": 500, "day": DAY}])
    assert built.schema == pl.Schema(COLUMNS)
    assert built.row(0, named=True) == {
        "id": 1, "document_ref": "FUL-0001", "order_no": None, "line_ref": None,
        "waybill": None, "amount_minor": 500, "day": DAY}
    assert key(" sf1 ") == "SF1" and key("") is None and key(None) is None


def test_every_line_ends_in_exactly_one_group_and_counts_are_per_line():
    result = run([line(1, 1000, document_ref="D1"), line(2, 700, document_ref="D2")],
                 [line(1, 1000, document_ref="D1"), line(2, 900, document_ref="D9")])
    assert result.lines.height == 4 and result.lines.select("side", "id").n_unique() == 4
    assert result.counts() == {"matched": 2, "only_in_hub": 1, "only_in_supplier": 1}


def test_empty_sides():
    assert run([], []).lines.height == 0
    result = run([], [line(1, 500, document_ref="D1")])
    assert outcomes(result) == {("supplier", 1): "only_in_supplier"}
    result = run([line(1, 500, document_ref="D1")], [])
    assert outcomes(result) == {("hub", 1): "only_in_hub"}
    assert group_of(result, "hub", 1) == {
        "group": 0, "outcome": "only_in_hub", "key": None, "key_value": None, "n_hub": 1,
        "n_supplier": 0, "hub_minor": 500, "supplier_minor": 0, "conflict": False,
        "difference_minor": -500, "tolerated": False}


# ---- keys ---------------------------------------------------------------------------------

@pytest.mark.parametrize("column, key_name", [("document_ref", "document"),
                                              ("order_no", "order"),
                                              ("waybill", "waybill")])
def test_each_key_pairs_lines_by_itself(column, key_name):
    # different amounts and days, so only the key can pair them
    result = run([line(1, 1000, **{column: "k-1"})],
                 [line(7, 1000, DAY + timedelta(days=20), **{column: " K-1"})])
    assert outcomes(result) == {("hub", 1): "matched", ("supplier", 7): "matched"}
    group = group_of(result, "hub", 1)
    assert (group["key"], group["key_value"]) == (key_name, "K-1")
    assert (group["n_hub"], group["n_supplier"], group["difference_minor"]) == (1, 1, 0)


def test_amount_date_pairs_lines_without_keys():
    result = run([line(1, 1234)], [line(2, 1234, DAY + timedelta(days=1))])
    group = group_of(result, "hub", 1)
    assert group["outcome"] == "matched" and group["key"] == "amount_date"
    assert group["key_value"] == "1234"
    assert members(result, "hub", 1) == {("hub", 1), ("supplier", 2)}


def test_a_document_pairing_wins_over_an_order_pairing():
    hub = [line(1, 1000, document_ref="D1", order_no="O1")]
    supplier = [line(1, 1000, document_ref="D1"), line(2, 1000, order_no="O1")]
    result = run(hub, supplier)
    assert members(result, "hub", 1) == {("hub", 1), ("supplier", 1)}
    assert group_of(result, "hub", 1)["key"] == "document"
    assert outcomes(result)[("supplier", 2)] == "only_in_supplier"
    # the rules' own order decides: order first
    result = run(hub, supplier, {"keys": ["order", "document", "amount_date"]})
    assert members(result, "hub", 1) == {("hub", 1), ("supplier", 2)}
    assert group_of(result, "hub", 1)["key"] == "order"
    assert outcomes(result)[("supplier", 1)] == "only_in_supplier"


def test_order_then_waybill_priority():
    hub = [line(1, 500, order_no="O1", waybill="W1")]
    supplier = [line(1, 500, waybill="W1"), line(2, 500, order_no="O1")]
    assert members(run(hub, supplier), "hub", 1) == {("hub", 1), ("supplier", 2)}
    assert members(run(hub, supplier, {"keys": ["waybill", "order"]}), "hub", 1) == \
        {("hub", 1), ("supplier", 1)}


def test_a_key_left_out_of_the_rules_pairs_nothing():
    result = run([line(1, 500, waybill="W1")], [line(1, 900, waybill="W1")],
                 {"keys": ["document", "order"]})
    assert outcomes(result) == {("hub", 1): "only_in_hub", ("supplier", 1): "only_in_supplier"}


def test_keys_without_amount_date_leave_keyless_lines_single():
    hub, supplier = [line(1, 1234)], [line(2, 1234)]
    assert outcomes(run(hub, supplier)) == {("hub", 1): "matched", ("supplier", 2): "matched"}
    assert outcomes(run(hub, supplier, NO_AMOUNT_DATE)) == {
        ("hub", 1): "only_in_hub", ("supplier", 2): "only_in_supplier"}


def test_the_order_key_includes_the_line_when_the_supplier_names_lines():
    hub = [line(1, 500, order_no="O1", line_ref="sku-a"),
           line(2, 700, order_no="O1", line_ref="sku-b")]
    supplier = [line(1, 700, order_no="O1", line_ref="SKU-B"),
                line(2, 510, order_no="O1", line_ref="SKU-A")]
    result = run(hub, supplier)
    assert members(result, "hub", 1) == {("hub", 1), ("supplier", 2)}
    assert group_of(result, "hub", 1)["outcome"] == "written_off"
    assert members(result, "hub", 2) == {("hub", 2), ("supplier", 1)}
    assert group_of(result, "hub", 2)["outcome"] == "matched"
    # a file without lines: the order alone, the two lines summed on each side
    supplier = [line(1, 1210, order_no="O1")]
    result = run(hub, supplier)
    assert members(result, "supplier", 1) == {("hub", 1), ("hub", 2), ("supplier", 1)}
    group = group_of(result, "supplier", 1)
    assert (group["hub_minor"], group["supplier_minor"], group["outcome"]) == \
        (1200, 1210, "written_off")


# ---- tolerance ----------------------------------------------------------------------------

def _outcome_of(hub_amount: int, supplier_amount: int, rules: dict | None = None) -> dict:
    result = run([line(1, hub_amount, document_ref="D1")],
                 [line(1, supplier_amount, document_ref="D1")], rules)
    return group_of(result, "hub", 1)


@pytest.mark.parametrize("supplier_amount, outcome, tolerated", [
    (10_000, "matched", True), (10_001, "written_off", True), (10_100, "written_off", True),
    (9_900, "written_off", True), (10_101, "matched_with_difference", False),
    (9_899, "matched_with_difference", False)])
def test_fixed_tolerance_to_the_fen(supplier_amount, outcome, tolerated):
    group = _outcome_of(10_000, supplier_amount,
                        {"tolerance": {"kind": "fixed", "minor": 100}})
    assert (group["outcome"], group["tolerated"]) == (outcome, tolerated)
    assert group["difference_minor"] == supplier_amount - 10_000


def test_the_default_tolerance_is_100_fen_and_the_write_off_limit_100():
    assert _outcome_of(5_000, 5_100)["outcome"] == "written_off"
    assert _outcome_of(5_000, 5_101)["outcome"] == "matched_with_difference"


@pytest.mark.parametrize("supplier_amount, outcome", [
    (20_100, "written_off"), (19_900, "written_off"), (20_101, "matched_with_difference"),
    (19_899, "matched_with_difference")])
def test_percent_tolerance_to_the_fen(supplier_amount, outcome):
    # 0.5 % of the hub's 20,000 is 100 fen; the write-off limit (default 100) allows it
    group = _outcome_of(20_000, supplier_amount,
                        {"tolerance": {"kind": "percent", "percent": "0.5"}})
    assert group["outcome"] == outcome


def test_percent_tolerance_is_of_the_hub_amount():
    # 101 off: 0.5 % of 20,200 is 101 → within; of 20,000 (the supplier's side) it would not be
    rules = {"tolerance": {"kind": "percent", "percent": "0.5"},
             "write_off_limit_minor": 1000}
    assert _outcome_of(20_200, 20_099, rules)["outcome"] == "written_off"
    assert _outcome_of(20_000, 20_101, rules)["outcome"] == "matched_with_difference"


@pytest.mark.parametrize("tolerance", [{"kind": "percent", "percent": "0.5"},
                                       {"kind": "fixed", "minor": 100}])
def test_a_write_off_limit_below_the_tolerance_wins(tolerance):
    rules = {"tolerance": tolerance, "write_off_limit_minor": 50}
    assert _outcome_of(20_000, 20_050, rules)["outcome"] == "written_off"
    group = _outcome_of(20_000, 20_051, rules)
    assert (group["outcome"], group["tolerated"]) == ("matched_with_difference", True)
    assert _outcome_of(20_000, 19_949, rules)["outcome"] == "matched_with_difference"


def test_a_tolerance_below_the_write_off_limit_wins():
    rules = {"tolerance": {"kind": "fixed", "minor": 30}, "write_off_limit_minor": 100}
    assert _outcome_of(20_000, 20_030, rules)["outcome"] == "written_off"
    assert _outcome_of(20_000, 20_031, rules)["outcome"] == "matched_with_difference"


@pytest.mark.parametrize("tolerance", [{"kind": "fixed", "minor": 0},
                                       {"kind": "percent", "percent": "0"}])
def test_a_zero_tolerance_writes_nothing_off(tolerance):
    rules = {"tolerance": tolerance}
    assert _outcome_of(20_000, 20_000, rules)["outcome"] == "matched"
    assert _outcome_of(20_000, 20_001, rules)["outcome"] == "matched_with_difference"
    assert _outcome_of(20_000, 19_999, rules)["outcome"] == "matched_with_difference"


def test_a_percent_tolerance_is_of_the_amount_s_size_and_capped_by_the_limit():
    rules = {"tolerance": {"kind": "percent", "percent": "0.5"}, "write_off_limit_minor": 50}
    assert Rules.of(rules).tolerance_bp == 50
    assert _outcome_of(-20_000, -20_050, rules)["outcome"] == "written_off"  # a deduction
    assert _outcome_of(20_000, 20_051, rules)["outcome"] == "matched_with_difference"
    assert _outcome_of(20_000, 20_051, rules)["tolerated"]  # within 0.5 %, over the limit


# ---- many lines to one ----------------------------------------------------------------------

def test_many_hub_lines_to_one_supplier_line():
    hub = [line(1, 600, order_no="O1"), line(2, 400, order_no="O1")]
    result = run(hub, [line(9, 1000, order_no="O1")])
    assert members(result, "supplier", 9) == {("hub", 1), ("hub", 2), ("supplier", 9)}
    group = group_of(result, "supplier", 9)
    assert (group["outcome"], group["key"], group["key_value"]) == ("matched", "order", "O1")
    assert (group["n_hub"], group["n_supplier"], group["hub_minor"],
            group["supplier_minor"]) == (2, 1, 1000, 1000)


def test_one_hub_line_to_many_supplier_lines():
    supplier = [line(1, 700, waybill="W1"), line(2, 350, waybill="W1"),
                line(3, 80, waybill="W1")]
    result = run([line(5, 1000, waybill="W1")], supplier)
    assert members(result, "hub", 5) == {("hub", 5), ("supplier", 1), ("supplier", 2),
                                         ("supplier", 3)}
    group = group_of(result, "hub", 5)
    assert (group["n_hub"], group["n_supplier"], group["difference_minor"],
            group["outcome"]) == (1, 3, 130, "matched_with_difference")


def test_many_to_many_on_a_key():
    hub = [line(1, 300, order_no="O1"), line(2, 200, order_no="O1")]
    supplier = [line(1, 100, order_no="O1"), line(2, 450, order_no="O1")]
    group = group_of(run(hub, supplier), "hub", 1)
    assert (group["n_hub"], group["n_supplier"], group["difference_minor"],
            group["outcome"]) == (2, 2, 50, "written_off")


# ---- duplicates ---------------------------------------------------------------------------

def test_an_exact_copy_of_a_supplier_line_is_a_duplicate():
    hub = [line(1, 1000, document_ref="D1", order_no="O1", waybill="W1")]
    copy = {"document_ref": "D1", "order_no": "O1", "waybill": "W1"}
    result = run(hub, [line(4, 1000, **copy), line(3, 1000, **copy)])
    assert outcomes(result) == {("hub", 1): "matched", ("supplier", 3): "matched",
                                ("supplier", 4): "duplicate"}  # the later id is the copy
    group = group_of(result, "supplier", 4)
    assert (group["n_hub"], group["n_supplier"], group["supplier_minor"]) == (0, 1, 1000)
    assert members(result, "supplier", 4) == {("supplier", 4)}


def test_a_copy_differing_in_anything_is_no_duplicate():
    hub = [line(1, 1000, order_no="O1")]
    result = run(hub, [line(1, 500, order_no="O1"), line(2, 500, order_no="O1", waybill="W")])
    assert "duplicate" not in outcomes(result).values()
    assert group_of(result, "hub", 1)["outcome"] == "matched"


def test_copies_are_not_duplicates_as_far_as_the_hub_has_as_many():
    same = {"order_no": "O1"}
    hub = [line(1, 500, **same), line(2, 500, **same)]
    result = run(hub, [line(1, 500, **same), line(2, 500, **same)])
    assert set(outcomes(result).values()) == {"matched"}
    assert members(result, "hub", 1) == {("hub", 1), ("hub", 2), ("supplier", 1),
                                         ("supplier", 2)}
    # a third copy is one too many
    result = run(hub, [line(i, 500, **same) for i in (1, 2, 3)])
    assert outcomes(result)[("supplier", 3)] == "duplicate"
    assert outcomes(result)[("supplier", 1)] == outcomes(result)[("supplier", 2)] == "matched"


# ---- conflicts (swapped keys) -----------------------------------------------------------------

def test_swapped_waybills_are_a_conflict_whatever_the_sums():
    hub = [line(1, 1000, document_ref="D1", waybill="W1"),
           line(2, 2000, document_ref="D2", waybill="W2")]
    supplier = [line(1, 1000, document_ref="D1", waybill="W2"),
                line(2, 2000, document_ref="D2", waybill="W1")]
    result = run(hub, supplier)
    for id_ in (1, 2):
        group = group_of(result, "hub", id_)
        assert members(result, "hub", id_) == {("hub", id_), ("supplier", id_)}
        assert (group["outcome"], group["conflict"], group["difference_minor"]) == \
            ("matched_with_difference", True, 0)


def test_a_key_named_on_one_side_only_is_no_conflict():
    result = run([line(1, 1000, document_ref="D1", waybill="W1")],
                 [line(1, 1000, document_ref="D1")])
    group = group_of(result, "hub", 1)
    assert (group["outcome"], group["conflict"]) == ("matched", False)


def test_a_summed_group_conflicts_when_its_waybills_differ():
    hub = [line(1, 600, order_no="O1", waybill="W1"), line(2, 400, order_no="O1", waybill="W1")]
    result = run(hub, [line(1, 1000, order_no="O1", waybill="W9")])
    group = group_of(result, "supplier", 1)
    assert (group["n_hub"], group["conflict"], group["outcome"]) == \
        (2, True, "matched_with_difference")


# ---- amount_date --------------------------------------------------------------------------

@pytest.mark.parametrize("days, paired", [(0, True), (3, True), (-3, True), (4, False),
                                          (-4, False)])
def test_amount_date_respects_the_window(days, paired):
    result = run([line(1, 777)], [line(1, 777, DAY + timedelta(days=days))])
    assert outcomes(result) == ({("hub", 1): "matched", ("supplier", 1): "matched"} if paired
                                else {("hub", 1): "only_in_hub",
                                      ("supplier", 1): "only_in_supplier"})


def test_amount_date_window_is_the_rules():
    result = run([line(1, 777)], [line(1, 777, DAY + timedelta(days=4))],
                 {"date_window_days": 4})
    assert group_of(result, "hub", 1)["key"] == "amount_date"
    result = run([line(1, 777)], [line(1, 777, DAY + timedelta(days=1))],
                 {"date_window_days": 0})
    assert outcomes(result)[("hub", 1)] == "only_in_hub"


def test_amount_date_needs_the_same_amount():
    result = run([line(1, 777)], [line(1, 778)])
    assert outcomes(result) == {("hub", 1): "only_in_hub", ("supplier", 1): "only_in_supplier"}


def test_amount_date_refuses_keys_that_contradict():
    result = run([line(1, 777, waybill="W1")], [line(1, 777, waybill="W2")])
    assert outcomes(result) == {("hub", 1): "only_in_hub", ("supplier", 1): "only_in_supplier"}
    result = run([line(1, 777, document_ref="D1")], [line(1, 777, document_ref="D2")])
    assert outcomes(result) == {("hub", 1): "only_in_hub", ("supplier", 1): "only_in_supplier"}
    # a key on one side only does not contradict
    result = run([line(1, 777, waybill="W1")], [line(1, 777, document_ref="D2")])
    assert group_of(result, "hub", 1)["key"] == "amount_date"


def test_amount_date_pairs_one_to_one_nearest_days_first():
    hub = [line(1, 500, DAY), line(2, 500, DAY + timedelta(days=2))]
    supplier = [line(7, 500, DAY + timedelta(days=3))]
    result = run(hub, supplier)
    assert members(result, "supplier", 7) == {("hub", 2), ("supplier", 7)}
    assert outcomes(result)[("hub", 1)] == "only_in_hub"
    # two and two: each pairs with the nearer one
    supplier = [line(7, 500, DAY + timedelta(days=3)), line(8, 500, DAY - timedelta(days=1))]
    result = run(hub, supplier)
    assert members(result, "supplier", 7) == {("hub", 2), ("supplier", 7)}
    assert members(result, "supplier", 8) == {("hub", 1), ("supplier", 8)}


def test_amount_date_ignores_lines_without_a_day():
    result = run([line(1, 500, None)], [line(1, 500)])
    assert outcomes(result) == {("hub", 1): "only_in_hub", ("supplier", 1): "only_in_supplier"}


# ---- determinism ----------------------------------------------------------------------------

def _mixed() -> tuple[list[dict], list[dict]]:
    hub = [line(1, 1000, document_ref="D1", waybill="W1"),
           line(2, 2000, document_ref="D2", waybill="W2"),
           line(3, 600, order_no="O1"), line(4, 400, order_no="O1"),
           line(5, 5000, document_ref="D5"), line(6, 321), line(7, 321),
           line(8, 9000, waybill="W8"), line(9, 70, document_ref="D9")]
    supplier = [line(11, 1000, document_ref="D1", waybill="W2"),
                line(12, 2000, document_ref="D2", waybill="W1"),
                line(13, 1000, order_no="O1"), line(14, 5050, document_ref="D5"),
                line(15, 5050, document_ref="D5"), line(16, 321, DAY + timedelta(days=2)),
                line(17, 9500, waybill="W8"), line(18, 444, document_ref="DX")]
    return hub, supplier


def test_the_same_frames_give_identical_results():
    hub, supplier = _mixed()
    first, second = run(hub, supplier), run(hub, supplier)
    assert_frame_equal(first.groups, second.groups)
    assert_frame_equal(first.lines.sort("side", "id"), second.lines.sort("side", "id"))
    assert first.groups["group"].to_list() == list(range(first.groups.height))
    assert outcomes(first) == {
        ("supplier", 15): "duplicate",
        ("hub", 1): "matched_with_difference", ("supplier", 11): "matched_with_difference",
        ("hub", 2): "matched_with_difference", ("supplier", 12): "matched_with_difference",
        ("hub", 5): "written_off", ("supplier", 14): "written_off",
        ("hub", 3): "matched", ("hub", 4): "matched", ("supplier", 13): "matched",
        ("hub", 8): "matched_with_difference", ("supplier", 17): "matched_with_difference",
        ("hub", 6): "matched", ("supplier", 16): "matched",
        ("hub", 7): "only_in_hub", ("hub", 9): "only_in_hub",
        ("supplier", 18): "only_in_supplier"}


def test_shuffled_rows_give_the_same_outcomes_and_pairings():
    hub, supplier = _mixed()
    expected = run(hub, supplier)
    for seed in range(5):
        rng = random.Random(seed)
        shuffled_hub, shuffled_supplier = hub[:], supplier[:]
        rng.shuffle(shuffled_hub)
        rng.shuffle(shuffled_supplier)
        got = run(shuffled_hub, shuffled_supplier)
        assert outcomes(got) == outcomes(expected)
        for side, id_ in outcomes(expected):
            assert members(got, side, id_) == members(expected, side, id_)


# ---- the rules document -------------------------------------------------------------------

def test_rules_default_and_round_trip():
    rules = Rules.of(None)
    assert rules == Rules.of({})
    assert rules.as_dict() == {"keys": ["document", "order", "waybill", "amount_date"],
                               "tolerance": {"kind": "fixed", "minor": 100},
                               "write_off_limit_minor": 100, "date_window_days": 3}
    percent = Rules.of({"tolerance": {"kind": "percent", "percent": "1.25"}})
    assert percent.tolerance_bp == 125
    assert Rules.of(percent.as_dict()) == percent
    assert Rules.of({"date_window_days": 90}).date_window_days == 90


@pytest.mark.parametrize("document, field", [
    ({"unknown": 1}, "rules"),
    ({"keys": ["document", "sku"]}, "keys"),
    ({"keys": []}, "keys"),
    ({"keys": ["order", "order"]}, "keys"),
    ({"keys": "document"}, "keys"),
    ({"tolerance": {"kind": "percent", "percent": "0.555"}}, "tolerance"),
    ({"tolerance": {"kind": "percent", "percent": "101"}}, "tolerance"),
    ({"tolerance": {"kind": "percent", "percent": 0.5}}, "tolerance"),
    ({"tolerance": {"kind": "fixed", "minor": -1}}, "tolerance"),
    ({"tolerance": {"kind": "fixed", "minor": 1.5}}, "tolerance"),
    ({"tolerance": {"kind": "ratio", "minor": 1}}, "tolerance"),
    ({"write_off_limit_minor": -1}, "write_off_limit_minor"),
    ({"write_off_limit_minor": True}, "write_off_limit_minor"),
    ({"date_window_days": 91}, "date_window_days"),
    ({"date_window_days": -1}, "date_window_days"),
    (["keys"], "rules"), ("document", "rules"), (7, "rules"),
])
def test_rules_refuse_a_bad_document(document, field):
    with pytest.raises(ApiError) as raised:
        Rules.of(document)
    assert raised.value.status == 422 and raised.value.code == "validation_error"
    assert list(raised.value.details) == [field]
    assert raised.value.details[field] and all(isinstance(m, str)
                                               for m in raised.value.details[field])


def test_rules_name_every_bad_field_at_once():
    with pytest.raises(ApiError) as raised:
        Rules.of({"color": "red", "date_window_days": 91, "write_off_limit_minor": -5})
    assert set(raised.value.details) == {"rules", "date_window_days", "write_off_limit_minor"}
    assert "color" in raised.value.details["rules"][0]


def test_rows_of_units_summing_to_the_hub_s_line_are_not_duplicates():
    result = run([line(1, 10_000, order_no="O1")],
                 [line(1, 5_000, order_no="O1"), line(2, 5_000, order_no="O1")])
    group = group_of(result, "hub", 1)
    assert (group["outcome"], group["n_supplier"]) == ("matched", 2)


def test_the_supplier_s_skus_do_not_split_an_order_the_hub_states_whole():
    hub = [line(1, 10_000, order_no="O1")]
    supplier = [line(1, 6_050, order_no="O1", line_ref="SKU-A"),
                line(2, 4_000, order_no="O1", line_ref="SKU-B")]
    group = group_of(run(hub, supplier), "hub", 1)
    assert (group["outcome"], group["key"], group["difference_minor"]) == (
        "written_off", "order", 50)
