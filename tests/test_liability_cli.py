"""``hub liability`` and ``hub claims`` (``hub.cli.liability``): the API's steps from a
shell, errors as clear messages with nothing changed."""
from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import select

from hub.models import Account, Claim, LiabilityDecision, Merchant, SkuMapping, Supplier
from tests import factories as f
from tests.test_cli import hub  # noqa: F401 (fixture)
from tests.test_inspection import make_case, w  # noqa: F401 (fixture)


def test_decide_list_show_override_and_a_claim_through_its_steps(hub, database, w,  # noqa: F811
                                                                 tmp_path):
    m = w["merchant_id"]
    with database.session() as s:
        case = make_case(s, s.get(Merchant, m), s.get(Account, w["shop_id"]),
                         s.get(Supplier, w["supplier_id"]), reason="quality.defect")
        for mapping in s.scalars(select(SkuMapping)):
            mapping.unit_cost_minor = 1200
        case_id = case.id
    decided = hub("liability", "decide", "--merchant", m, "return", case_id, "--json")
    assert decided["rule"] == "quality_defect" and decided["total_minor"] == 2000
    assert [x["id"] for x in hub("liability", "list", "--merchant", m, "--json")] == [
        decided["id"]]
    shown = hub("liability", "show", decided["id"], "--merchant", m)
    assert "商品质量问题" in shown and "a quality defect" in shown
    [claim] = hub("claims", "list", "--merchant", m, "--json")
    assert claim["status"] == "draft" and claim["amount_minor"] == 2000
    assert hub("claims", "send", claim["id"], "--merchant", m, "--json")["status"] == "sent"
    part = hub("claims", "answer", claim["id"], "--merchant", m, "accept", "--amount", 1500,
               "--json")
    assert (part["status"], part["accepted_minor"]) == ("partly_accepted", 1500)
    out = tmp_path / "claim.zip"
    hub("claims", "evidence", claim["id"], "--merchant", m, "--out", out, "--json")
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(out.read_bytes())).namelist()
    assert hub("claims", "settle", claim["id"], "--merchant", m, "--json")["status"] == \
        "settled"
    made = hub("claims", "courier-file", "--merchant", m, "sf", "--out", tmp_path / "sf.csv",
               "--json")
    assert made["claims"] == [] and (tmp_path / "sf.csv").read_text(
        encoding="utf-8-sig").startswith("claim_id,carrier,tracking_number")
    refused = hub("liability", "override", decided["id"], "--merchant", m, "--liable",
                  "merchant=1", "--reason", "x", "--json", ok=False)
    assert "was accepted" in json.loads(refused.stdout)["error"]


def test_mistakes_are_clear_and_change_nothing(hub, database, w):  # noqa: F811
    m = w["merchant_id"]
    other = None
    with database.session() as s:
        other = f.merchant(s, "Other").id
    unknown = hub("liability", "decide", "--merchant", m, "lost_parcel", 999, "--json",
                  ok=False)
    assert "no shipment 999" in json.loads(unknown.stdout)["error"]
    bad = hub("liability", "decide", "--merchant", m, "stolen", 1, "--json", ok=False)
    assert json.loads(bad.stdout)["details"]["event"]
    shares = hub("liability", "override", 1, "--merchant", m, "--liable", "merchant", "--reason",
                 "x", ok=False)
    assert "party=share" in shares.output
    assert hub("claims", "send", 1, "--merchant", other, "--json", ok=False).exit_code == 1
    with database.session() as s:
        assert s.scalar(select(LiabilityDecision.id)) is None
        assert s.scalar(select(Claim.id)) is None


def test_an_override_that_opens_a_claim_sends_it_at_once_when_the_contract_says_so(
        hub, database, w):  # noqa: F811
    m = w["merchant_id"]
    with database.session() as s:
        supplier = s.get(Supplier, w["supplier_id"])
        supplier.contract_terms = {**(supplier.contract_terms or {}), "liability": {
            "claims": {"auto_send": True, "answer_days": 5}}}
        case = make_case(s, s.get(Merchant, m), s.get(Account, w["shop_id"]), supplier,
                         reason="quality.defect")
        for mapping in s.scalars(select(SkuMapping)):
            mapping.unit_cost_minor = 1200
        case_id = case.id
    decided = hub("liability", "decide", "--merchant", m, "return", case_id, "--json")
    assert [c["status"] for c in hub("claims", "list", "--merchant", m, "--json")] == ["sent"]
    hub("liability", "override", decided["id"], "--merchant", m, "--liable", "supplier=0.5",
        "--liable", "merchant=0.5", "--reason", "shared fault", "--json")
    claims = {c["status"]: c["amount_minor"] for c in hub("claims", "list", "--merchant", m,
                                                          "--json")}
    assert claims == {"withdrawn": 2000, "sent": 1000}  # the new one sent at once too
