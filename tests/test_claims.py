"""Compensation claims through their lifecycle over the APIs (``hub.web.api.claims``,
``hub.web.supplier_api.claims``), the claim notice on the supplier's channel, a carrier's
claims file, overdue escalation, the goods payable on dispatch, and the ledger they write
(``hub.domain.liability.claims``)."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from connectors.cj.push import ClaimPayload
from hub.core.db import utcnow
from hub.domain import fulfilment, ledger
from hub.domain.liability import claims
from hub.models import (
    Account, Alert, Claim, Fulfilment, LedgerEntry, LiabilityDecision, Merchant,
    OutboxMessage, ReturnCase, SkuMapping, Supplier,
)
from tests import factories as f
from tests.test_inspection import make_case, receive, w  # noqa: F401 (fixture)

COST, FREIGHT = 1200, 800


def claimed_case(database, w, reason="quality.defect", channel=True) -> int:  # noqa: F811
    """A return whose inspection made a decision and a draft claim to the supplier."""
    with database.session() as s:
        sup = s.get(Supplier, w["supplier_id"])
        if channel and sup.channel_account_id is None:
            f.supplier_channel(s, sup)
        case = make_case(s, s.get(Merchant, w["merchant_id"]), s.get(Account, w["shop_id"]),
                         sup, reason=reason)
        for mapping in s.scalars(select(SkuMapping)):
            mapping.unit_cost_minor = COST
        case_id = case.id
    receive(database, case_id, "damaged", grade="D")
    with database.session() as s:
        return s.scalar(select(Claim.id).join(LiabilityDecision).where(
            LiabilityDecision.return_case_id == case_id))


def entries(database, kind=None):
    with database.session() as s:
        stmt = select(LedgerEntry.counterparty_kind, LedgerEntry.entry_type,
                      LedgerEntry.amount_minor).order_by(LedgerEntry.id)
        if kind:
            stmt = stmt.where(LedgerEntry.entry_type == kind)
        return [tuple(x) for x in s.execute(stmt)]


def test_a_supplier_sees_a_claim_once_sent_and_answers_it_in_part(client, database,
                                                                 w):  # noqa: F811
    claim_id = claimed_case(database, w)
    sup, admin = w["supplier"], w["admin"]
    assert client.get("/api/v1/supplier/claims", headers=sup).get_json()["data"] == []
    assert client.get(f"/api/v1/supplier/claims/{claim_id}", headers=sup).status_code == 404
    sent = client.post(f"/api/v1/claims/{claim_id}/send", headers=admin).get_json()
    assert sent["status"] == "sent" and sent["amount_minor"] == COST + FREIGHT
    assert {x["cost"]: x["amount_minor"] for x in sent["lines"]} == {
        "goods": COST, "return_freight": FREIGHT}
    with database.session() as s:  # the notice on the supplier's channel, CJ-readable
        notice = s.scalar(select(OutboxMessage).where(OutboxMessage.topic == "claim_notice"))
        assert notice.entity == "claim" and notice.entity_id == claim_id
        assert notice.payload["amount_minor"] == COST + FREIGHT
        loaded = ClaimPayload().load({**notice.payload, "supplier_reference": "CJ1"})
        assert loaded["claim_id"] == str(claim_id) and loaded["message"]
    mine = client.get("/api/v1/supplier/claims", headers=sup).get_json()["data"]
    assert [x["id"] for x in mine] == [claim_id]
    ack = client.post(f"/api/v1/supplier/claims/{claim_id}/acknowledge", headers=sup)
    assert ack.get_json()["status"] == "acknowledged"
    assert client.post(f"/api/v1/supplier/claims/{claim_id}/acknowledge",
                       headers=sup).status_code == 200  # again: unchanged
    too_much = client.post(f"/api/v1/supplier/claims/{claim_id}/answer", headers=sup,
                           json={"outcome": "accept", "amount_minor": COST + FREIGHT + 1})
    assert too_much.status_code == 422 and entries(database, "claim_deduction") == []
    part = client.post(f"/api/v1/supplier/claims/{claim_id}/answer", headers=sup,
                       json={"outcome": "accept", "amount_minor": 1500}).get_json()
    assert part["status"] == "partly_accepted" and part["accepted_minor"] == 1500
    again = client.post(f"/api/v1/supplier/claims/{claim_id}/answer", headers=sup,
                        json={"outcome": "dispute", "reason": "late"})
    assert again.status_code == 409
    assert entries(database, "claim_deduction") == [("supplier", "claim_deduction", -1500)]
    settled = client.post(f"/api/v1/claims/{claim_id}/settle", headers=w["finance"],
                          json={"note": "deducted from December"}).get_json()
    assert settled["status"] == "settled"
    assert entries(database, "write_off")[-1] == ("merchant", "write_off",
                                                  COST + FREIGHT - 1500)
    # make_case marks the goods shipped without a parcel recorded: no payable booked
    balance = client.get("/api/v1/supplier/balance", headers=sup).get_json()["balances"]
    assert [(b["counterparty_id"], b["balance_minor"]) for b in balance] == [
        (w["supplier_id"], -1500)]
    with database.session() as s:
        assert ledger.verify(s) == []


def test_a_dispute_needs_a_reason_alerts_the_merchant_and_can_be_written_off(
        client, database, w):  # noqa: F811
    claim_id = claimed_case(database, w)
    client.post(f"/api/v1/claims/{claim_id}/send", headers=w["admin"])
    bare = client.post(f"/api/v1/supplier/claims/{claim_id}/answer", headers=w["supplier"],
                       json={"outcome": "dispute"})
    assert bare.status_code == 422 and "reason" in bare.get_json()["error"]["details"]
    disputed = client.post(f"/api/v1/supplier/claims/{claim_id}/answer",
                           headers=w["supplier"],
                           json={"outcome": "dispute", "reason": "packed well",
                                 "evidence": ["https://example.test/photo.jpg"]}).get_json()
    assert disputed["status"] == "disputed"
    assert disputed["dispute_evidence"] == ["https://example.test/photo.jpg"]
    with database.session() as s:
        alert = s.scalar(select(Alert).where(Alert.kind == "claim_disputed"))
        assert alert.resolved_at is None and "packed well" in alert.message
    assert client.post(f"/api/v1/claims/{claim_id}/write-off", headers=w["operator"],
                       json={"note": "x"}).status_code == 403  # finance or an admin
    off = client.post(f"/api/v1/claims/{claim_id}/write-off", headers=w["admin"],
                      json={"note": "not worth arguing"}).get_json()
    assert off["status"] == "written_off"
    assert entries(database, "write_off")[-1] == ("merchant", "write_off", COST + FREIGHT)
    with database.session() as s:
        assert s.scalar(select(Alert.resolved_at).where(Alert.kind == "claim_disputed"))
    assert client.post(f"/api/v1/claims/{claim_id}/settle", headers=w["admin"],
                       json={}).status_code == 409


def test_a_lost_parcel_is_claimed_from_the_courier_through_its_claims_file(
        client, database, w):  # noqa: F811
    with database.session() as s:
        m = s.get(Merchant, w["merchant_id"])
        case = make_case(s, m, s.get(Account, w["shop_id"]), s.get(Supplier, w["supplier_id"]))
        [x] = s.scalars(select(SkuMapping))
        x.unit_cost_minor = COST
        order_id = s.get(ReturnCase, case.id).order_id
        fid = s.scalar(select(Fulfilment.id).where(Fulfilment.order_id == order_id))
        parcel = f.shipment(s, m.id, order_id, fulfilment_id=fid, tracking="SF123456789012")
        parcel_id = parcel.id
    decided = client.post("/api/v1/liability/decisions", headers=w["operator"],
                          json={"event": "lost_parcel", "subject_id": parcel_id}).get_json()
    assert decided["rule"] == "lost_parcel_reported"
    courier = next(x for x in decided["shares"] if x["party"] == "courier")
    cap = 3 * FREIGHT
    assert courier["amount_minor"] == min(cap, COST + FREIGHT) and courier["carrier"] == "sf"
    again = client.post("/api/v1/liability/decisions", headers=w["operator"],
                        json={"event": "lost_parcel", "subject_id": parcel_id}).get_json()
    assert again["id"] == decided["id"]
    made = client.post("/api/v1/claims/courier-file", headers=w["finance"],
                       json={"carrier": "sf"})
    assert made.status_code == 200 and made.headers["X-Claims"] == "1"
    rows = list(csv.DictReader(io.StringIO(made.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["tracking_number"], int(r["amount_minor"])) for r in rows] == [
        ("SF123456789012", courier["amount_minor"])]
    empty = client.post("/api/v1/claims/courier-file", headers=w["finance"],
                        json={"carrier": "sf"})
    assert empty.headers["X-Claims"] == "0"  # sent once
    claim_id = int(rows[0]["claim_id"])
    accepted = client.post(f"/api/v1/claims/{claim_id}/answer", headers=w["finance"],
                           json={"outcome": "accept"}).get_json()
    assert accepted["status"] == "accepted"
    assert entries(database, "courier_compensation") == [
        ("courier", "courier_compensation", -courier["amount_minor"])]


def test_an_overdue_answer_is_escalated_once(database, w):  # noqa: F811
    claim_id = claimed_case(database, w)
    with database.session() as s:
        claims.send(s, s.get(Claim, claim_id), "tester")
    later = utcnow() + timedelta(days=8)  # answer_days 7 by default
    with database.session() as s:
        assert claims.escalate_overdue(s, utcnow()) == 0
        assert claims.escalate_overdue(s, later) == 1
    with database.session() as s:
        assert claims.escalate_overdue(s, later) == 0
        [alert] = s.scalars(select(Alert).where(Alert.kind == "claim_overdue"))
        assert (alert.entity, alert.entity_id) == ("claim", claim_id)
        claim = s.get(Claim, claim_id)
        claims.answer(s, claim, "accept", "supplier:1")
    with database.session() as s:
        assert s.scalar(select(Alert.resolved_at).where(Alert.kind == "claim_overdue"))


def test_the_goods_payable_is_booked_once_when_the_first_parcel_is_recorded(database,
                                                                           w):  # noqa: F811
    with database.session() as s:
        m = s.get(Merchant, w["merchant_id"])
        sup = s.get(Supplier, w["supplier_id"])
        f.sku_mapping(s, m.id, sup.id, "SKU-9").unit_cost_minor = 2500
        order = f.order(s, m.id, w["shop_id"], sku="SKU-9", qty=2)
        [x] = fulfilment.allocate(s, order)
        fulfilment.accept(s, x, "supplier:1")
        fulfilment.submit_tracking(s, x, "sf", "SF100000000001", "supplier:1")
        fulfilment.submit_tracking(s, x, "sf", "SF100000000001", "supplier:1")  # again
    assert entries(database, "goods_payable") == [("supplier", "goods_payable", 5000)]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 1


@pytest.mark.parametrize("step", ["send", "settle"])
def test_a_step_out_of_order_is_a_409_and_changes_nothing(client, database, w, step):  # noqa: F811
    claim_id = claimed_case(database, w)
    if step == "send":
        client.post(f"/api/v1/claims/{claim_id}/send", headers=w["admin"])
    resp = client.post(f"/api/v1/claims/{claim_id}/{step}", headers=w["admin"],
                       json={} if step == "settle" else None)
    assert resp.status_code == 409
    with database.session() as s:
        assert s.get(Claim, claim_id).status == ("sent" if step == "send" else "draft")


def test_a_return_of_a_split_order_is_charged_to_the_supplier_that_shipped_its_line(database):
    from hub.domain.liability.decisions import decide
    from tests.split_world import split_world

    with database.session() as s:
        w = split_world(s)
        for side in ("X", "Y"):
            case = s.get(ReturnCase, w[side]["return_case"])
            case.reason_code = "quality.defect"
            decision = decide(s, w["merchant"], "return", case.id, "tester")
            assert decision.supplier_id == w[side]["supplier_id"]
            assert [x.get("supplier_id") for x in decision.shares] == [w[side]["supplier_id"]]


def test_a_capped_courier_sharing_a_loss_is_claimed_its_share_less_the_cap(database,
                                                                          w):  # noqa: F811
    from hub.domain.liability.decisions import split
    from hub.domain.liability.facts import gather, terms_for

    with database.session() as s:
        m = s.get(Merchant, w["merchant_id"])
        case = make_case(s, m, s.get(Account, w["shop_id"]), s.get(Supplier, w["supplier_id"]))
        fid = s.scalar(select(Fulfilment.id).where(Fulfilment.order_id == case.order_id))
        parcel = f.shipment(s, m.id, case.order_id, fulfilment_id=fid)
        facts = gather(s, m.id, "lost_parcel", parcel.id)
        terms = terms_for(s, m.id, facts.supplier)[0]
        amounts = {"goods": 10000, "outbound_freight": FREIGHT}
        rows = split(terms, facts, [("courier", 0.5), ("merchant", 0.5)], amounts)
        courier = next(r for r in rows if r["party"] == "courier")
        assert courier["amount_minor"] == 3 * FREIGHT and courier["before_cap_minor"] == 5400
        assert sum(r["amount_minor"] for r in rows) == 10800
        decision = LiabilityDecision(amounts=amounts, total_minor=10800, shares=rows)
        lines = claims._lines(decision, courier)
        assert lines == [{"cost": "goods", "amount_minor": 5000},
                         {"cost": "outbound_freight", "amount_minor": 400},
                         {"cost": "courier_cap", "amount_minor": 3 * FREIGHT - 5400}]


# -- concurrent transactions (PostgreSQL) ----------------------------------------------------

def test_two_transactions_deciding_one_subject_make_one_decision(database, w):  # noqa: F811
    if not database.is_postgres:
        pytest.skip("a race of concurrent writers needs PostgreSQL")
    from hub.domain.liability.decisions import decide
    from tests.race import race

    with database.session() as s:
        order = f.order(s, w["merchant_id"], w["shop_id"], supplier_id=w["supplier_id"])
        fid = order.fulfilments[0].id
    found = []

    def second():
        with database.session() as s:
            found.append(decide(s, w["merchant_id"], "late_shipment", fid, "racer").id)

    race(database, lambda s: found.append(
        decide(s, w["merchant_id"], "late_shipment", fid, "holder").id), second)
    with database.session() as s:
        ids = list(s.scalars(select(LiabilityDecision.id)))
        assert ids == [found[0]] and found == [found[0], found[0]]  # the second waited
        assert s.scalar(select(func.count()).select_from(Claim)) == 1


def test_two_answers_racing_on_one_claim_one_wins(database, w):  # noqa: F811
    if not database.is_postgres:
        pytest.skip("a race of concurrent writers needs PostgreSQL")
    from hub.core.errors import Conflict
    from tests.race import race

    claim_id = claimed_case(database, w)
    with database.session() as s:
        claims.send(s, s.get(Claim, claim_id), "tester")
    refused = []

    def dispute():
        with database.session() as s:
            try:
                claims.answer(s, s.get(Claim, claim_id), "dispute", "supplier:1", reason="no")
            except Conflict as e:
                refused.append(e)

    race(database, lambda s: claims.answer(s, s.get(Claim, claim_id), "accept",
                                           "supplier:1"), dispute)
    assert len(refused) == 1
    with database.session() as s:
        assert s.get(Claim, claim_id).status == "accepted"
    assert entries(database, "claim_deduction") == [
        ("supplier", "claim_deduction", -(COST + FREIGHT))]


def test_an_override_withdraws_a_sent_claim_and_tells_the_supplier(client, database,
                                                                  w):  # noqa: F811
    claim_id = claimed_case(database, w)
    client.post(f"/api/v1/claims/{claim_id}/send", headers=w["admin"])
    with database.session() as s:
        decision_id = s.get(Claim, claim_id).decision_id
    new = client.post(f"/api/v1/liability/decisions/{decision_id}/override",
                      headers=w["admin"], json={"liable": [{"party": "merchant", "share": 1}],
                                                "reason": "goodwill: we keep the supplier"})
    assert new.status_code == 201 and new.get_json()["rule"] == "override"
    with database.session() as s:
        assert s.get(Claim, claim_id).status == "withdrawn"
        notices = list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "claim_notice", OutboxMessage.entity_id == claim_id)
            .order_by(OutboxMessage.id)))
        # the first, not yet delivered, is superseded by the withdrawal
        assert [(m.status, m.payload["status"]) for m in notices] == [
            ("superseded", "sent"), ("pending", "withdrawn")]
        assert s.scalar(select(func.count()).select_from(Claim).where(
            Claim.status == "draft")) == 0  # the merchant bears it: nothing to claim
    assert entries(database, "write_off")[-1] == ("merchant", "write_off", COST + FREIGHT)
    ack = client.post(f"/api/v1/supplier/claims/{claim_id}/acknowledge", headers=w["supplier"])
    assert ack.status_code == 200 and ack.get_json()["status"] == "withdrawn"


def test_a_draft_written_off_was_never_the_suppliers_to_see(client, database, w):  # noqa: F811
    claim_id = claimed_case(database, w)
    off = client.post(f"/api/v1/claims/{claim_id}/write-off", headers=w["admin"],
                      json={"note": "internal: not worth it"})
    assert off.get_json()["status"] == "written_off"
    assert client.get("/api/v1/supplier/claims", headers=w["supplier"]).get_json()["data"] == []
    for path in (f"/api/v1/supplier/claims/{claim_id}",
                 f"/api/v1/supplier/claims/{claim_id}/evidence"):
        assert client.get(path, headers=w["supplier"]).status_code == 404


def test_a_buyers_return_parcel_lost_is_claimed_from_its_courier(database, w):  # noqa: F811
    from hub.domain.liability.decisions import decide

    with database.session() as s:
        m = s.get(Merchant, w["merchant_id"])
        case = make_case(s, m, s.get(Account, w["shop_id"]), s.get(Supplier, w["supplier_id"]))
        for mapping in s.scalars(select(SkuMapping)):
            mapping.unit_cost_minor = COST
        back = f.shipment(s, m.id, None, return_case_id=case.id, direction="return",
                          tracking="YT1234567890123")
        back.carrier = "yto"
        decision = decide(s, m.id, "lost_parcel", back.id, "tester")
        assert (decision.rule, decision.carrier, decision.return_case_id) == (
            "lost_parcel_reported", "yto", case.id)
        assert decision.supplier_id == w["supplier_id"]  # the goods' supplier, for the record
        [claim] = s.scalars(select(Claim).where(Claim.decision_id == decision.id))
        assert (claim.counterparty_kind, claim.carrier) == ("courier", "yto")
        assert claim.amount_minor == min(3 * FREIGHT, COST + FREIGHT)


# -- one loss, one decision; figures learnt later; what the hub decides by itself ---------

def test_a_levied_penalty_after_the_hubs_own_decision_comes_by_an_override(client, database,
                                                                          w):  # noqa: F811
    with database.session() as s:
        order = f.order(s, w["merchant_id"], w["shop_id"], supplier_id=w["supplier_id"])
        fid = order.fulfilments[0].id
        shop_id = order.shop_account_id
    first = client.post("/api/v1/liability/decisions", headers=w["admin"],
                        json={"event": "late_shipment", "subject_id": fid}).get_json()
    again = client.post("/api/v1/liability/decisions", headers=w["admin"],
                        json={"event": "late_shipment", "subject_id": fid,
                              "platform_penalty_minor": 900})
    assert again.status_code == 409 and again.get_json()["error"]["details"] == {
        "decision_id": first["id"]}
    new = client.post(f"/api/v1/liability/decisions/{first['id']}/override",
                      headers=w["admin"], json={"liable": [{"party": "supplier", "share": 1}],
                                                "reason": "the platform fined us ¥9",
                                                "amounts": {"platform_penalty": 900},
                                                "platform_penalty_minor": 900}).get_json()
    assert new["total_minor"] == 900
    with database.session() as s:
        [penalty] = s.scalars(select(LedgerEntry).where(
            LedgerEntry.entry_type == "platform_penalty"))
        assert (penalty.counterparty_id, penalty.amount_minor) == (shop_id, 900)


def test_a_lost_parcel_and_the_return_for_it_are_one_loss(client, database, w):  # noqa: F811
    from hub.domain.liability.decisions import decide

    with database.session() as s:
        m = s.get(Merchant, w["merchant_id"])
        case = make_case(s, m, s.get(Account, w["shop_id"]), s.get(Supplier, w["supplier_id"]),
                         reason="shipping.lost")
        fid = s.scalar(select(Fulfilment.id).where(Fulfilment.order_id == case.order_id))
        parcel_id = f.shipment(s, m.id, case.order_id, fulfilment_id=fid).id
        decide(s, m.id, "return", case.id, "tester")
    refused = client.post("/api/v1/liability/decisions", headers=w["admin"],
                          json={"event": "lost_parcel", "subject_id": parcel_id})
    assert refused.status_code == 409 and "already prices this loss" in \
        refused.get_json()["error"]["message"]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(LiabilityDecision)) == 1


def test_a_return_is_decided_once_graded_not_at_a_bare_receipt(database, w):  # noqa: F811
    case_id = new_case_with(database, w, "quality.defect")
    receive(database, case_id, "intact")  # received, not graded yet
    with database.session() as s:
        assert s.scalar(select(LiabilityDecision.id)) is None
    receive(database, case_id, "intact", grade="A")
    with database.session() as s:
        assert s.scalar(select(LiabilityDecision.rule)) == "quality_not_confirmed"


def test_a_courier_claim_goes_out_only_in_its_claims_file(client, database, w):  # noqa: F811
    with database.session() as s:
        m = s.get(Merchant, w["merchant_id"])
        case = make_case(s, m, s.get(Account, w["shop_id"]), s.get(Supplier, w["supplier_id"]))
        fid = s.scalar(select(Fulfilment.id).where(Fulfilment.order_id == case.order_id))
        parcel_id = f.shipment(s, m.id, case.order_id, fulfilment_id=fid).id
    client.post("/api/v1/liability/decisions", headers=w["admin"],
                json={"event": "lost_parcel", "subject_id": parcel_id})
    with database.session() as s:
        claim_id = s.scalar(select(Claim.id))
    refused = client.post(f"/api/v1/claims/{claim_id}/send", headers=w["admin"])
    assert refused.status_code == 409 and "claims file" in refused.get_json()["error"]["message"]


def test_the_suppliers_evidence_pack_holds_only_what_is_about_its_part(client, database,
                                                                      w):  # noqa: F811
    import json as jsonlib
    import zipfile

    claim_id = claimed_case(database, w)
    client.post(f"/api/v1/claims/{claim_id}/send", headers=w["admin"])
    merchant = zipfile.ZipFile(io.BytesIO(client.get(
        f"/api/v1/claims/{claim_id}/evidence", headers=w["admin"]).data))
    supplier = zipfile.ZipFile(io.BytesIO(client.get(
        f"/api/v1/supplier/claims/{claim_id}/evidence", headers=w["supplier"]).data))
    kinds = [{x["kind"] for x in jsonlib.loads(z.read("manifest.json"))["timeline"]}
             for z in (merchant, supplier)]
    assert {"message", "alert"} & kinds[0]  # the merchant's: the whole case file
    assert kinds[1] <= {"case", "inspection", "tracking", "audit"} and "inspection" in kinds[1]


def new_case_with(database, w, reason):  # noqa: F811
    with database.session() as s:
        return make_case(s, s.get(Merchant, w["merchant_id"]), s.get(Account, w["shop_id"]),
                         s.get(Supplier, w["supplier_id"]), reason=reason).id


def test_the_claims_file_never_carries_a_formula(client, database, w):  # noqa: F811
    from hub.domain.policy import versions
    from hub.domain.policy.document import DEFAULT

    rule = {"name": "formula", "events": ["lost_parcel"], "liable": [
        {"party": "courier", "share": 1}], "costs": ["goods"], "zh": "=HYPERLINK(1)",
        "en": "+cmd"}
    with database.session() as s:
        draft = versions.edit(s, w["merchant_id"], {**DEFAULT, "liability": {"rules": [rule]}},
                              "tester")
        versions.publish(s, w["merchant_id"], draft.version, "tester")
        m = s.get(Merchant, w["merchant_id"])
        case = make_case(s, m, s.get(Account, w["shop_id"]), s.get(Supplier, w["supplier_id"]))
        fid = s.scalar(select(Fulfilment.id).where(Fulfilment.order_id == case.order_id))
        parcel_id = f.shipment(s, m.id, case.order_id, fulfilment_id=fid).id
    client.post("/api/v1/liability/decisions", headers=w["admin"],
                json={"event": "lost_parcel", "subject_id": parcel_id})
    made = client.post("/api/v1/claims/courier-file", headers=w["admin"], json={"carrier": "sf"})
    [row] = list(csv.DictReader(io.StringIO(made.get_data(as_text=True).lstrip("\ufeff"))))
    assert row["why_zh"].startswith("'=HYPERLINK(1)") and row["why_en"].startswith("'+cmd")
