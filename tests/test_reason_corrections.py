"""Reasons on cases (issue 12, item 2): the platform's code when the taxonomy has it, else
the buyer's words classified; a merchant's correction is kept against later platform
records and used for the next case with the same words."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.models import AuditEntry, ReasonCorrection
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, fake_connectors, order_values, return_values, the_case, world,
)


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        w["h"] = f.bearer(f.token(s, w["merchant_id"], "merchant_admin"))
    apply(database, w["shop_id"], order_values())
    return w


def buyer_says(database, w, text, rid="R1", code="other", updated=None):
    apply(database, w["shop_id"], dataclasses.replace(
        return_values(rid, kind="return_refund", reason_code=code,
                      updated=updated or f.T0 + timedelta(hours=1)), reason_text=text))
    with database.session(readonly=True) as s:
        return the_case(s, w["merchant_id"], rid)


def test_the_buyers_words_are_classified_when_the_platform_gives_no_code(database, w):
    case = buyer_says(database, w, "收到就是坏的，屏幕裂了，开不了机")
    assert case.reason_code.startswith("quality.") and case.reason_source in ("model", "keyword")
    assert 0 < case.reason_confidence <= 100
    english = buyer_says(database, w, "The package arrived crushed and the box was torn",
                         rid="R2")
    assert english.reason_code.startswith("shipping.")


def test_a_platform_code_in_the_taxonomy_is_kept_as_the_platforms(database, w):
    case = buyer_says(database, w, "随便写的", code="buyer.size_fit")
    assert (case.reason_code, case.reason_source, case.reason_confidence) == (
        "buyer.size_fit", "platform", None)


def test_a_correction_is_kept_and_used_for_the_same_words(client, database, w):
    words = "颜色和图片不一样，我不喜欢"
    first = buyer_says(database, w, words)
    chosen = "buyer.changed_mind" if first.reason_code != "buyer.changed_mind" \
        else "quality.not_as_described"  # whatever the model said, the merchant differs
    answer = client.post(f"/api/v1/returns/{first.id}/reason", headers=w["h"],
                         json={"code": chosen})
    assert answer.status_code == 200, answer.json
    assert (answer.json["reason_code"], answer.json["reason_source"]) == (chosen, "merchant")
    # a later record of the same case does not undo it
    again = buyer_says(database, w, words, updated=f.T0 + timedelta(hours=3))
    assert (again.reason_code, again.reason_source) == (chosen, "merchant")
    # another case with the same words, written in traditional characters
    other = buyer_says(database, w, "顏色和圖片不一樣，我不喜歡", rid="R2")
    assert (other.reason_code, other.reason_source, other.reason_confidence) == (
        chosen, "correction", 100)
    with database.session(readonly=True) as s:
        [kept] = s.scalars(select(ReasonCorrection)).all()
        assert (kept.from_code, kept.to_code) == (first.reason_code, chosen)
        assert s.scalar(select(AuditEntry.id).where(
            AuditEntry.action == "return_case.reason_corrected")) is not None


def test_a_code_outside_the_taxonomy_is_refused_and_nothing_changes(client, database, w):
    case = buyer_says(database, w, "不想要了")
    answer = client.post(f"/api/v1/returns/{case.id}/reason", headers=w["h"],
                         json={"code": "quality"})
    assert answer.status_code == 422 and "GET /api/v1/reasons" in answer.json["error"]["message"]
    with database.session(readonly=True) as s:
        assert the_case(s, w["merchant_id"]).reason_code == case.reason_code
        assert s.scalar(select(ReasonCorrection.id)) is None


def test_the_taxonomy_is_listed_with_labels(client, w):
    listed = client.get("/api/v1/reasons", headers=w["h"]).json["data"]
    by_code = {r["code"]: r for r in listed}
    assert by_code["shipping.lost"]["family"] == "shipping"
    assert by_code["shipping.lost"]["zh"] and by_code["shipping.lost"]["en"]
    assert "other" in by_code
