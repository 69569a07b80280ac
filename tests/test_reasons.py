"""Return reasons: the taxonomy answers for every code, the classifier names the leaf a
buyer meant in simplified and traditional Chinese and in English, a merchant's
correction wins, the held-out split scores at least 0.9 and shares no sentence with the
training split, and ``hub reasons classify`` prints one line per line read."""
from __future__ import annotations

import json
import unicodedata
from collections import Counter

import pytest
from click.testing import CliRunner

from hub.cli.reasons import reasons_group
from hub.domain.reasons import taxonomy
from hub.domain.reasons.classifier import (HELDOUT_PATH, MAX_CHARS, TRAIN_PATH, Classification,
                                           classify, evaluate, normalise)


def rows(path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


# --- taxonomy -------------------------------------------------------------------------

def test_every_code_is_a_leaf_of_a_known_family_with_both_labels():
    kuaishou = {"pricing.price_protection", "pricing.price_difference", "quality.counterfeit",
                "quality.expired", "quality.defect", "quality.not_as_described",
                "fulfilment.wrong_item", "fulfilment.missing_item", "fulfilment.fake_shipment",
                "fulfilment.late_shipment", "fulfilment.out_of_stock",
                "shipping.damaged_in_transit", "shipping.lost", "shipping.not_received",
                "buyer.size_fit", "buyer.ordered_by_mistake", "buyer.negotiated",
                "buyer.changed_mind", "buyer.address_change", "other", "quality.damaged"}
    assert kuaishou <= set(taxonomy.CODES)
    assert len(taxonomy.CODES) <= 28
    assert taxonomy.FAMILIES == ("quality", "fulfilment", "shipping", "buyer", "pricing",
                                 "other")
    for code in taxonomy.CODES:
        assert taxonomy.is_code(code)
        assert taxonomy.family_of(code) in taxonomy.FAMILIES
        zh, en = taxonomy.label(code, "zh"), taxonomy.label(code, "en")
        assert zh and en and zh != en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii()


def test_unknown_codes_fall_back_to_their_family_or_other():
    assert taxonomy.family_of("quality.scratched_lens") == "quality"
    assert not taxonomy.is_code("quality.scratched_lens")
    assert taxonomy.label("quality.scratched_lens", "en") == "Product quality"
    assert taxonomy.label("quality.scratched_lens", "zh-CN") == "商品质量"
    assert taxonomy.family_of("warranty.claim") == "other"
    assert taxonomy.family_of("changed_mind") == "other"
    assert taxonomy.family_of(None) == taxonomy.family_of("") == "other"
    assert not taxonomy.is_code("quality")
    assert taxonomy.label("shipping.lost", "en") == "Lost in transit"


# --- normalising and classifying ------------------------------------------------------

def test_normalise_folds_script_width_case_and_spaces():
    assert normalise("價格降了，要求退差價") == normalise("价格降了，要求退差价")
    assert normalise("ＳＩＺＥ太小了") == "size太小了"
    assert normalise("  Wrong   Color\tsent \n") == "wrong color sent"
    assert len(normalise("坏" * (MAX_CHARS + 500))) == MAX_CHARS


@pytest.mark.parametrize("text, code", [
    ("收到就是坏的，屏幕裂了", "quality.damaged"),
    ("衣服偏小一码穿不上", "buyer.size_fit"),
    ("等了一周还没发货", "fulfilment.late_shipment"),
    ("快递显示签收但我没收到", "shipping.not_received"),
    ("和主播说的不一样", "quality.not_as_described"),
    ("size太小了", "buyer.size_fit"),
    ("價格降了要求退差價", "pricing.price_difference"),
    ("收到的貨跟我訂的顏色不一樣，賣家寄錯了", "fulfilment.wrong_item"),
    ("擦了這個乳液之後臉上起紅疹", "quality.allergy"),
    ("wrong color sent", "fulfilment.wrong_item"),
    ("package arrived crushed", "shipping.damaged_in_transit"),
    ("The serum I got is past its expiry date", "quality.expired"),
])
def test_classifies_buyers_words_in_each_language(text, code):
    got = classify(text)
    assert (got.code, got.family) == (code, taxonomy.family_of(code))
    assert 0.0 < got.confidence <= 1.0
    assert got.source in ("keyword", "model")


def test_a_negated_keyword_does_not_decide():
    got = classify("不是假货，颜色也还行，就是穿着偏大")
    assert (got.code, got.source) == ("buyer.size_fit", "keyword")


def test_a_corrected_text_gets_the_merchants_code_in_any_script():
    text = "杯子收到时有裂痕"
    corrections = {normalise("杯子收到時有裂痕"): "shipping.damaged_in_transit"}
    got = classify(text, corrections)
    assert got == Classification("shipping.damaged_in_transit", "shipping", 1.0, "correction")
    assert classify("杯子收到时有裂痕，还漏水", corrections).source != "correction"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_other_with_no_confidence(text):
    assert classify(text) == Classification("other", "other", 0.0, "empty")


def test_very_long_text_is_cut_not_refused():
    got = classify("收到就是坏的，屏幕裂了。" + "啊" * 5000)
    assert taxonomy.is_code(got.code) and 0.0 <= got.confidence <= 1.0


# --- the data and the held-out score ----------------------------------------------------

def test_the_heldout_split_scores_at_least_0_9_on_the_exact_leaf():
    result = evaluate(HELDOUT_PATH)
    assert result.count == len(rows(HELDOUT_PATH))
    assert result.accuracy >= 0.9, result.misses
    assert set(result.by_family) == set(taxonomy.FAMILIES)
    assert len(result.misses) == round(result.count * (1 - result.accuracy))


def test_heldout_sentences_are_not_training_sentences():
    train = {normalise(r["text"]) for r in rows(TRAIN_PATH)}
    heldout = [normalise(r["text"]) for r in rows(HELDOUT_PATH)]
    assert [t for t in heldout if t in train] == []
    assert len(set(heldout)) == len(heldout)


def test_every_leaf_has_data_and_every_label_is_a_leaf():
    for path, least in ((TRAIN_PATH, 35), (HELDOUT_PATH, 12)):
        counts = Counter(r["code"] for r in rows(path))
        assert set(counts) == set(taxonomy.CODES), path
        assert min(counts.values()) >= least, path


def test_the_data_is_in_three_scripts():
    def traditional(text: str) -> bool:  # normalising changes more than width and case
        return normalise(text) != " ".join(unicodedata.normalize("NFKC", text).lower().split())

    for path in (TRAIN_PATH, HELDOUT_PATH):
        texts = [r["text"] for r in rows(path)]
        assert sum(t.isascii() for t in texts) >= 0.15 * len(texts), path
        assert sum(map(traditional, texts)) >= 0.15 * len(texts), path


# --- the command ------------------------------------------------------------------------

def test_cli_prints_one_line_per_input_line():
    out = CliRunner().invoke(reasons_group, ["classify"],
                             input="衣服偏小一码穿不上\n\nwrong color sent\n")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["buyer.size_fit", "buyer"], ["other", "other"], ["fulfilment.wrong_item", "fulfilment"]]
    assert lines[1].split("\t")[2] == "0.00"
    assert all(len(line.split("\t")[2].split(".")[1]) == 2 for line in lines)


def test_cli_json_lines():
    out = CliRunner().invoke(reasons_group, ["classify", "--json"],
                             input="價格降了要求退差價\n   \n")
    assert out.exit_code == 0, out.output
    first, blank = [json.loads(line) for line in out.output.splitlines()]
    assert set(first) == {"text", "code", "family", "confidence"}
    assert (first["text"], first["code"], first["family"]) == (
        "價格降了要求退差價", "pricing.price_difference", "pricing")
    assert 0.5 < first["confidence"] <= 1.0
    assert blank == {"text": "   ", "code": "other", "family": "other", "confidence": 0.0}


def test_the_model_is_trained_once_for_concurrent_first_calls(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from hub.domain.reasons import classifier

    trainings = []
    real_train = classifier._train
    monkeypatch.setattr(classifier, "_train",
                        lambda path: trainings.append(path) or real_train(path))
    monkeypatch.delitem(classifier._state, "model", raising=False)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(classify, ["wrong color sent"] * 8))
    assert trainings == [TRAIN_PATH]
    assert {r.code for r in results} == {"fulfilment.wrong_item"}
