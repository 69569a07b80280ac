"""A claim's evidence pack (``hub.domain.liability.evidence.pack``): a ZIP whose manifest
holds the claim, the decision, its evidence and timeline and the SHA-256 of every other
member; the inspection photos as uploaded; a printable bilingual summary; no buyer
contact; the same bytes for the same claim; a missing photo reported, not fatal."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.core.errors import NotFound
from hub.domain import fulfilment
from hub.domain.liability import claims, decisions
from hub.domain.liability.evidence import pack
from hub.domain.returns import inspection as inspections
from hub.models import Account, Claim, LiabilityDecision, Merchant, Supplier, audit
from sandbox.supplier.parcels import photo_png
from tests import factories as f

PNG = photo_png(seed=7)
DIGEST = hashlib.sha256(PNG).hexdigest()
BUYER = {"buyer_phone_cipher": "CIPHER", "buyer_phone_masked": "138****5678",
         "buyer_name_cipher": "NAME-CIPHER", "buyer_name_masked": "王**",
         "buyer_address_masked": "广东省深圳市南山区****", "buyer_note": "请放门口"}


def buyer_order(s, m, shop):
    order = f.order(s, m.id, shop.id, sku="SKU-1")
    for column, value in BUYER.items():
        setattr(order, column, value)
    return order


def no_buyer_contact(got: dict[str, bytes]) -> None:
    for blob in got.values():
        for text in BUYER.values():
            assert text.encode() not in blob


def make_case(s, m, shop, sup, *, reason="quality.defect", cost=1200):
    f.sku_mapping(s, m.id, sup.id, "SKU-1").unit_cost_minor = cost
    order = buyer_order(s, m, shop)
    [x] = fulfilment.allocate(s, order)
    x.shipped_at = f.T0
    case = f.return_case(s, m.id, shop.id, order, status="return_in_transit")
    case.reason_code = reason
    s.flush()
    return case


@pytest.fixture
def world(app, database):
    with database.session() as s:
        m = f.merchant(s)
        shop, sup = f.shop(s, m.id), f.supplier(s, m.id)
        return {"merchant_id": m.id, "shop_id": shop.id, "supplier_id": sup.id}


def parties(s, world):
    return (s.get(Merchant, world["merchant_id"]), s.get(Account, world["shop_id"]),
            s.get(Supplier, world["supplier_id"]))


def returned_claim(database, settings, world) -> int:
    with database.session() as s:
        m, shop, sup = parties(s, world)
        case = make_case(s, m, shop, sup)
        inspections.confirm_return_receipt(s, case, f"supplier:{sup.id}", "damaged",
                                           grade="D", photos=[PNG], var_dir=settings.var_dir)
        s.flush()
        [claim] = s.scalars(select(Claim).where(Claim.merchant_id == m.id))
        return claim.id


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_a_returns_claim_packs_its_decision_photos_timeline_and_summary(
        app, database, settings, world):
    claim_id = returned_claim(database, settings, world)
    with database.session(readonly=True) as s:
        claim = s.get(Claim, claim_id)
        data = pack(s, claim, settings.var_dir)
        decision = s.get(LiabilityDecision, claim.decision_id)
        assert pack(s, claim, settings.var_dir) == data  # deterministic
    with app.app_context(), database.session(readonly=True) as s:  # the app's var dir
        assert pack(s, s.get(Claim, claim_id)) == data
    got = members(data)
    photo = f"photos/{DIGEST}.png"
    assert list(got) == ["manifest.json", "summary.html", photo]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert {x.date_time for x in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}
    manifest = json.loads(got["manifest.json"])
    assert manifest["format"] == 1
    assert manifest["claim"]["id"] == claim_id
    assert manifest["claim"]["counterparty"] == "supplier"
    assert manifest["claim"]["supplier_id"] == world["supplier_id"]
    assert manifest["claim"]["amount_minor"] == claim.amount_minor > 0
    assert manifest["claim"]["currency"] == "CNY"
    d = manifest["decision"]
    assert (d["id"], d["event"], d["rule"]) == (decision.id, "return", decision.rule)
    assert d["amounts"] == decision.amounts and d["amounts"]["goods"] == 1200
    assert d["shares"] == decision.shares and d["why_zh"] and d["why_en"]
    assert d["decided_at"].endswith("+00:00") and manifest["overridden"] == []
    assert manifest["evidence"] == decision.evidence
    assert any(x.get("sha256") == DIGEST for x in manifest["evidence"])
    kinds = {x["kind"] for x in manifest["timeline"]}
    assert {"case", "inspection"} <= kinds
    assert manifest["missing_files"] == []
    # every other member is listed, and its SHA-256 checks out
    listed = {x["name"]: x for x in manifest["files"]}
    assert set(listed) == set(got) - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(got[name]).hexdigest()
        assert entry["bytes"] == len(got[name])
    assert got[photo] == PNG
    # the summary: Chinese and English, yuan, China time, how to verify
    html = got["summary.html"].decode()
    assert "索赔证据" in html and "Claim evidence" in html
    assert "¥" in html and "Asia/Shanghai" in html and "manifest.json" in html
    assert decision.rule in html and photo in html
    no_buyer_contact(got)


def test_a_missing_photo_is_reported_and_the_rest_still_packs(
        app, database, settings, world, tmp_path):
    claim_id = returned_claim(database, settings, world)
    other = "ab" * 32
    with database.session() as s:
        claim = s.get(Claim, claim_id)
        claims.send(s, claim, "tester")
        claims.answer(s, claim, "dispute", f"supplier:{claim.supplier_id}",
                      reason="出厂完好 left us intact",
                      evidence=["https://example.test/video", other.upper()])
    with database.session(readonly=True) as s:
        manifest_all = json.loads(members(pack(s, s.get(Claim, claim_id),
                                                settings.var_dir))["manifest.json"])
        empty = pack(s, s.get(Claim, claim_id), tmp_path)  # a var dir holding no photos
    assert manifest_all["missing_files"] == [{"sha256": other, "why": "not found"}]
    assert manifest_all["claim"]["status"] == "disputed"
    assert manifest_all["claim"]["dispute_reason"] == "出厂完好 left us intact"
    got = members(empty)
    assert list(got) == ["manifest.json", "summary.html"]
    manifest = json.loads(got["manifest.json"])
    assert [x["sha256"] for x in manifest["missing_files"]] == [DIGEST, other]
    assert [x["name"] for x in manifest["files"]] == ["summary.html"]
    assert "出厂完好" in got["summary.html"].decode()


def test_a_fulfilments_decision_has_the_audit_and_tracking_timeline(app, database, settings,
                                                                      world):
    with database.session() as s:
        m, shop, sup = parties(s, world)
        order = buyer_order(s, m, shop)
        f.sku_mapping(s, m.id, sup.id, "SKU-1")
        order.ship_by = f.T0 + timedelta(days=3)
        [x] = fulfilment.allocate(s, order)
        x.requested_at = f.T0
        parcel = f.shipment(s, m.id, order.id, fulfilment_id=x.id, status="in_transit")
        parcel.shipped_at = f.T0 + timedelta(days=4)
        s.flush()
        decision = decisions.decide(s, m.id, "late_shipment", x.id, "tester")
        s.flush()
        [claim] = s.scalars(select(Claim).where(Claim.decision_id == decision.id))
        claim_id, fulfilment_id, parcel_id = claim.id, x.id, parcel.id
        other = f.merchant(s, "Other")  # its entry naming the same ids is not read
        for entity, entity_id in (("fulfilment", x.id), ("shipment", parcel.id)):
            audit.record(s, other.id, "cli", "fulfilment.elsewhere", entity, entity_id)
    with database.session(readonly=True) as s:
        data = pack(s, s.get(Claim, claim_id), settings.var_dir)
    got = members(data)
    assert list(got) == ["manifest.json", "summary.html"]
    manifest = json.loads(got["manifest.json"])
    assert manifest["decision"]["event"] == "late_shipment"
    assert manifest["decision"]["rule"] == "late_shipment_supplier"
    assert manifest["references"]["tracking_number"]
    timeline = manifest["timeline"]
    tracking = [e for e in timeline if e["kind"] == "tracking"]
    assert tracking and tracking[0]["status"] == "picked_up"
    assert tracking[0]["details"]["shipment_id"] == parcel_id
    audits = [e for e in timeline if e["kind"] == "audit"]
    assert all(e["details"]["entity"] in ("fulfilment", "shipment") for e in audits)
    assert ("fulfilment.requested", fulfilment_id) in {
        (e["action"], e["details"]["entity_id"]) for e in audits}
    assert "fulfilment.elsewhere" not in {e["action"] for e in audits}
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    for entry in manifest["files"]:
        assert entry["sha256"] == hashlib.sha256(got[entry["name"]]).hexdigest()
    no_buyer_contact(got)


def test_another_merchants_decision_is_not_read(app, database, settings, world):
    claim_id = returned_claim(database, settings, world)
    with database.session() as s:
        claim = s.get(Claim, claim_id)
        other = f.merchant(s, "Other")
        s.expunge(claim)
        claim.merchant_id = other.id  # a claim object that names another merchant
        with pytest.raises(NotFound):
            pack(s, claim, settings.var_dir)


def test_an_overriding_decisions_claim_carries_the_decision_it_overrode(
        app, database, settings, world):
    first_claim = returned_claim(database, settings, world)
    with database.session() as s:
        original = s.get(LiabilityDecision, s.get(Claim, first_claim).decision_id)
        new = decisions.override(s, original, [{"party": "supplier", "share": 1}],
                                 "只收货款 goods only", "tester", amounts={"goods": 1200})
        s.flush()
        [claim] = s.scalars(select(Claim).where(Claim.decision_id == new.id))
        claim_id, original_id = claim.id, original.id
    with database.session(readonly=True) as s:
        got = members(pack(s, s.get(Claim, claim_id), settings.var_dir))
    manifest = json.loads(got["manifest.json"])
    assert manifest["decision"]["rule"] == "override"
    assert manifest["decision"]["overrides_id"] == original_id
    assert manifest["decision"]["override_reason"] == "只收货款 goods only"
    assert [(x["id"], x["status"]) for x in manifest["overridden"]] == [
        (original_id, "overridden")]
    assert manifest["claim"]["amount_minor"] == 1200
    assert f"photos/{DIGEST}.png" in got  # the evidence is gathered again
