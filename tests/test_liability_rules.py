"""The liability table applied to real records (``hub.domain.liability``): every default
rule fires where it should and names the liable party and the amounts in fen; courier
caps; a merchant's policy rules over the defaults and a supplier's contract over both;
deciding twice; overrides and their ledger corrections; the decisions the hub makes by
itself (inspection, a late first pickup, a stop-ship's parcel); the ledger's chains intact
after it all.

Records are made the way the hub makes them: orders allocated (``fulfilment.allocate``),
parcels handed back (``submit_tracking``) and tracked (``sync.apply`` from the courier
account), stop-ships requested and answered, returns inspected. Every expected number is
worked out here from the inputs: the contract cost ``COST`` of SKU-1, the sale price
``PRICE``, the default freight ``FREIGHT`` each way, the default penalties and the
default courier's ``uninsured_multiple`` (3) and interception fee.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.core.db import utcnow
from hub.core.errors import ApiError, Conflict
from hub.domain import fulfilment as flow, ledger
from hub.domain.liability import claims, couriers, decisions
from hub.domain.policy import document, liability as terms, versions
from hub.domain.returns import inspection as inspections
from hub.domain.tracking import shipments as tracking
from hub.models import (
    Account, Claim, Fulfilment, LedgerEntry, LiabilityDecision, ReturnCase, Shipment,
    SkuMapping, Supplier,
)
from hub.pipeline import sync
from hub.values import TrackingEventValues, TrackingValues
from tests import factories as f
from tests.supplier_helpers import courier_id, fake_connectors, world  # noqa: F401 (fixture)

COST, PRICE = 1200, 1990           # SKU-1: the supplier's contract cost, the sale price
FREIGHT = 800                      # DEFAULT freight_minor, each way
LATE, FAKE = 500, 2000             # DEFAULT penalties
FEE = 500                          # the default courier's interception_fee_minor
CAP = 3 * FREIGHT                  # uninsured: uninsured_multiple × freight
ACTOR = "tester"
_waybills = itertools.count(1)


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811 (the fixture)
    """A merchant, its shop (``test_shop``), a courier account that tracks and intercepts
    (``test_courier``) and supplier S1 (SLA 24 h, on its own channel) mapped for SKU-1 at
    ``COST``."""
    with database.session() as s:
        got = world(s, sla_hours=24)
        s.scalar(select(SkuMapping)).unit_cost_minor = COST
        got["courier_id"] = courier_id(s, got["merchant_id"])
        return got


# -- making records ------------------------------------------------------------------------

def waybill() -> str:
    return f"SF{1_000_000_000_000 + next(_waybills)}"


def ordered(s, w, *, qty=1, accept=True) -> Fulfilment:
    """An order of ``qty`` SKU-1 at ``PRICE`` allocated to S1 (requested now)."""
    order = f.order(s, w["merchant_id"], w["shop_id"], qty=qty, price=PRICE)
    [x] = flow.allocate(s, order)
    if accept:
        flow.accept(s, x, "supplier:1")
    return x


def shipped(s, w, x: Fulfilment) -> Shipment:
    return flow.submit_tracking(s, x, "sf", waybill(), "supplier:1")


def scan(at, status) -> TrackingEventValues:
    return TrackingEventValues(occurred_at=at, status=status, raw_status=status,
                               description=f"{status} scan")


def track(s, w, number, *events, interception=None) -> str:
    """The courier's record of ``number``, applied as production applies it."""
    return sync.apply(s, s.get(Account, w["courier_id"]), TrackingValues(
        carrier="sf", tracking_number=number, events=tuple(events), interception=interception))


def returned(s, w, reason, *, kind="return_refund", qty=1, freight_payer=None) -> ReturnCase:
    """A return of a shipped order (its parcel at the courier ``sf``) on its way back."""
    x = ordered(s, w, qty=qty)
    shipped(s, w, x)
    case = f.return_case(s, w["merchant_id"], w["shop_id"], x.order, kind=kind,
                         status="return_in_transit")
    case.reason_code, case.freight_payer = reason, freight_payer
    s.flush()
    return case


def stop_asked(s, w) -> Fulfilment:
    x = ordered(s, w)
    assert flow.request_stop(s, x, "refund_requested")
    assert x.status == "cancel_requested"
    return x


def booked(s, decision) -> list[tuple]:
    """The decision's own ledger entries: (counterparty kind, type, amount)."""
    return [tuple(x) for x in s.execute(select(
        LedgerEntry.counterparty_kind, LedgerEntry.entry_type, LedgerEntry.amount_minor)
        .where(LedgerEntry.document_kind == "liability_decision",
               LedgerEntry.document_id == decision.id).order_by(LedgerEntry.id))]


def claims_of(s, decision) -> list[tuple]:
    return [tuple(x) for x in s.execute(select(
        Claim.counterparty_kind, Claim.status, Claim.amount_minor)
        .where(Claim.decision_id == decision.id).order_by(Claim.id))]


def shares(decision) -> list[tuple]:
    return [(x["party"], x["amount_minor"]) for x in decision.shares]


def merchant_balance(s, w) -> int:
    rows = ledger.balances(s, w["merchant_id"], counterparty=ledger.Counterparty("merchant"))
    return sum(r["balance_minor"] for r in rows)


def count(s, model) -> int:
    return s.scalar(select(func.count()).select_from(model))


def intact(database) -> None:
    with database.session(readonly=True) as s:
        assert ledger.verify(s) == []


def publish(s, w, liability: dict) -> int:
    """A policy version with ``liability`` as its section, published; its number."""
    doc = copy.deepcopy(document.DEFAULT)
    doc["liability"] = liability
    version = versions.edit(s, w["merchant_id"], doc, "user:1")
    versions.publish(s, w["merchant_id"], version.version, "user:1")
    return version.version


def rule(name, events, liable, costs, **when) -> dict:
    return {"name": name, "events": events, **when, "costs": costs,
            "liable": [{"party": p, "share": x} for p, x in liable], "zh": name, "en": name}


# -- 1. every row of the default table -----------------------------------------------------

def a_return(reason, *, condition=None, checklist=None, grade=None, **kwargs):
    def setup(s, w):
        case = returned(s, w, reason, **kwargs)
        if condition is not None:  # the inspection decides by itself; decide() finds it
            inspections.confirm_return_receipt(s, case, "supplier:1", condition,
                                               checklist=checklist, grade=grade)
        return "return", case.id
    return setup


def a_parcel(event):
    def setup(s, w):
        parcel = shipped(s, w, ordered(s, w))
        track(s, w, parcel.tracking_number, scan(utcnow() - timedelta(hours=1), "picked_up"))
        return event, parcel.id
    return setup


def late(hours_before_ship_by):
    """A parcel late for a ship-by ``hours_before_ship_by`` after the order reached S1."""
    def setup(s, w):
        x = ordered(s, w)
        x.order.ship_by = x.requested_at + timedelta(hours=hours_before_ship_by)
        return "late_shipment", x.id
    return setup


def fake(s, w):
    x = ordered(s, w)
    shipped(s, w, x)  # a waybill the courier never scans
    return "fake_shipment", x.id


def stop_accepted(s, w):
    x = stop_asked(s, w)
    flow.answer_stop_ship(s, x, True, "supplier:1")
    return "stop_ship", x.id


def shipped_after_accept(intercepted):
    def setup(s, w):
        x = stop_asked(s, w)
        flow.answer_stop_ship(s, x, True, "supplier:1")
        assert x.status == "cancelled"
        parcel = tracking.register_shipment(  # the supplier shipped it all the same
            s, merchant_id=w["merchant_id"], carrier="sf", tracking_number=waybill(),
            direction="outbound", order_id=x.order_id, fulfilment_id=x.id, var_dir=None)
        track(s, w, parcel.tracking_number,
              scan(x.cancel_answered_at + timedelta(hours=1), "picked_up"))
        if intercepted:
            tracking.request_interception(s, parcel, "return_to_sender", "stop_ship",
                                          "user:1", None)
        return "stop_ship", x.id
    return setup


def stop_refused(with_tracking):
    def setup(s, w):
        x = stop_asked(s, w)
        given = {"carrier": "sf", "tracking_number": waybill()} if with_tracking else {}
        flow.answer_stop_ship(s, x, False, "supplier:1", reason="already packed", **given)
        assert x.status == "cancel_rejected"
        parcel = flow.outbound_shipment(s, x)
        assert (parcel.interception_status if parcel else None) == (
            "requested" if with_tracking else None)
        return "stop_ship", x.id
    return setup


def stop_too_late(s, w):
    x = ordered(s, w)
    parcel = shipped(s, w, x)
    assert flow.request_stop(s, x, "refund_requested")  # shipped: the courier is asked
    assert (x.status, parcel.interception_status) == ("shipped", "requested")
    return "stop_ship", x.id


GOODS_OUT = {"goods": COST, "outbound_freight": FREIGHT}
BOTH_FREIGHTS = {"outbound_freight": FREIGHT, "return_freight": FREIGHT}
STOPPED = {"interception_fee": FEE, **BOTH_FREIGHTS}
UNSTOPPED = {"interception_fee": 0, **BOTH_FREIGHTS}

TABLE = [  # setup, rule, amounts, [(party, amount)]
    (stop_accepted, "stop_ship_accepted", {}, [("nobody", 0)]),
    (shipped_after_accept(False), "stop_ship_shipped_after_accept", UNSTOPPED,
     [("supplier", 2 * FREIGHT)]),
    (shipped_after_accept(True), "stop_ship_shipped_after_accept", STOPPED,
     [("supplier", FEE + 2 * FREIGHT)]),
    (stop_refused(True), "stop_ship_refused_or_late", STOPPED,
     [("merchant", FEE + 2 * FREIGHT)]),
    (stop_refused(False), "stop_ship_refused_or_late", UNSTOPPED,
     [("merchant", 2 * FREIGHT)]),
    (stop_too_late, "stop_ship_refused_or_late", STOPPED, [("merchant", FEE + 2 * FREIGHT)]),
    (a_return("shipping.lost"), "lost_parcel", GOODS_OUT, [("courier", COST + FREIGHT)]),
    (a_parcel("lost_parcel"), "lost_parcel_reported", GOODS_OUT,
     [("courier", COST + FREIGHT)]),
    (a_return("shipping.damaged_in_transit", condition="damaged",
              checklist={"packaging": False}), "damaged_poor_packaging",
     {"goods": COST, **BOTH_FREIGHTS}, [("supplier", COST + 2 * FREIGHT)]),
    (a_return("shipping.damaged_in_transit", condition="damaged",
              checklist={"packaging": True}), "damaged_in_transit", GOODS_OUT,
     [("courier", COST + FREIGHT)]),
    (a_return("shipping.damaged_in_transit"), "damaged_in_transit", GOODS_OUT,
     [("courier", COST + FREIGHT)]),
    (a_parcel("damaged_parcel"), "damaged_parcel_reported", GOODS_OUT,
     [("courier", COST + FREIGHT)]),
    (late(24), "late_shipment_supplier", {"platform_penalty": LATE}, [("supplier", LATE)]),
    (late(23), "late_shipment_merchant", {"platform_penalty": LATE}, [("merchant", LATE)]),
    (a_return("fulfilment.fake_shipment"), "fake_shipment",
     {"platform_penalty": FAKE, "goods": COST}, [("supplier", FAKE + COST)]),
    (fake, "fake_shipment_reported", {"platform_penalty": FAKE, "goods": COST},
     [("supplier", FAKE + COST)]),
    (a_return("buyer.changed_mind", condition="used"), "buyer_damaged",
     {"return_freight": FREIGHT}, [("buyer", FREIGHT)]),
    (a_return("buyer.changed_mind", condition="missing_parts", freight_payer="platform"),
     "buyer_damaged", {"return_freight": FREIGHT}, [("buyer", FREIGHT)]),
    (a_return("fulfilment.wrong_item"), "wrong_item", BOTH_FREIGHTS,
     [("supplier", 2 * FREIGHT)]),
    (a_return("fulfilment.missing_item"), "missing_item", {"goods": COST, **BOTH_FREIGHTS},
     [("supplier", COST + 2 * FREIGHT)]),
    (a_return("quality.defect"), "quality_defect", {"goods": COST, "return_freight": FREIGHT},
     [("supplier", COST + FREIGHT)]),
    (a_return("quality.defect", condition="damaged", grade="C"), "quality_defect",
     {"goods": COST, "return_freight": FREIGHT}, [("supplier", COST + FREIGHT)]),
    (a_return("quality.defect", condition="intact", grade="A"), "quality_not_confirmed",
     {"return_freight": FREIGHT}, [("merchant", FREIGHT)]),  # no fault found: not claimed
    (a_return("quality.defect", condition="intact", grade="B"), "quality_defect",
     {"goods": COST, "return_freight": FREIGHT}, [("supplier", COST + FREIGHT)]),
    (a_return("quality.defect", kind="refund_only"), "quality_defect",
     {"goods": COST, "return_freight": 0}, [("supplier", COST)]),  # nothing comes back
    (a_return("fulfilment.out_of_stock"), "supplier_fault", {"return_freight": FREIGHT},
     [("supplier", FREIGHT)]),
    (a_return("buyer.changed_mind", condition="intact", freight_payer="platform"),
     "changed_mind_insured", {"return_freight": FREIGHT}, [("platform", FREIGHT)]),
    (a_return("buyer.size_fit", freight_payer="buyer"), "changed_mind",
     {"return_freight": FREIGHT}, [("buyer", FREIGHT)]),
    (a_return("pricing.price_protection"), "merchant_default", {}, [("merchant", 0)]),
    (a_return("shipping.not_received"), "merchant_default", {}, [("merchant", 0)]),
]


@pytest.mark.parametrize("setup, rule_name, amounts, liable", TABLE,
                         ids=[f"{x[1]}-{n}" for n, x in enumerate(TABLE)])
def test_each_default_rule_names_who_pays_what(database, w, setup, rule_name, amounts,
                                                liable):
    with database.session() as s:
        event, subject_id = setup(s, w)
        decision = decisions.decide(s, w["merchant_id"], event, subject_id, ACTOR)
        decision_id = decision.id
    with database.session(readonly=True) as s:
        decision = s.get(LiabilityDecision, decision_id)
        assert (decision.rule, decision.rule_source, decision.policy_version) == (
            rule_name, "default", 0)
        assert (decision.event, decision.status) == (event, "in_force")
        assert decision.amounts == amounts and decision.total_minor == sum(amounts.values())
        assert shares(decision) == liable
        assert decision.why_en.startswith(next(r["en"] for r in terms.DEFAULT["rules"]
                                               if r["name"] == rule_name))
        for row in decision.shares:
            if row["party"] == "supplier":
                assert row["supplier_id"] == w["supplier_id"]
            if row["party"] == "courier":
                assert (row["carrier"], row["cap_minor"]) == ("sf", CAP)
        merchant = sum(a for p, a in liable if p == "merchant")
        assert booked(s, decision) == ([("merchant", "write_off", merchant)]
                                       if merchant else [])
        assert claims_of(s, decision) == [(p, "draft", a) for p, a in liable
                                          if p in ("supplier", "courier") and a > 0]
        assert count(s, LiabilityDecision) == 1
    intact(database)


def test_the_facts_name_what_the_rule_matched_and_the_evidence_is_in_time_order(
        database, w):
    with database.session() as s:
        event, case_id = a_return("shipping.damaged_in_transit", condition="damaged",
                                  checklist={"packaging": False})(s, w)
        decision = decisions.decide(s, w["merchant_id"], event, case_id, ACTOR)
        assert decision.facts["family"] == "shipping"
        assert decision.facts["code"] == "shipping.damaged_in_transit"
        assert (decision.facts["condition"], decision.facts["packaging_ok"]) == (
            "damaged", False)
        assert decision.facts["goods"] == [{"sku": "SKU-1", "quantity": 1}]
        assert decision.subject == f"return_case:{case_id}"
        assert decision.supplier_id == w["supplier_id"] and decision.carrier == "sf"
        said = [x["en"] for x in decision.evidence]
        assert any("packaging inadequate" in x for x in said)
        assert [x["at"] for x in decision.evidence] == sorted(x["at"] for x in decision.evidence)


def test_a_stop_ship_without_any_stop_requested_falls_to_the_merchant(database, w):
    with database.session() as s:
        x = ordered(s, w)
        decision = decisions.decide(s, w["merchant_id"], "stop_ship", x.id, ACTOR)
        assert "stop" not in decision.facts
        assert decision.rule == "stop_ship_refused_or_late"
        assert decision.amounts == UNSTOPPED  # no parcel, nothing to intercept


# -- 2. courier caps -----------------------------------------------------------------------

def lost(s, w, qty, given=None):
    """A reported lost parcel of ``qty`` SKU-1: goods qty × COST plus the outbound freight."""
    parcel = shipped(s, w, ordered(s, w, qty=qty))
    return decisions.decide(s, w["merchant_id"], "lost_parcel", parcel.id, ACTOR, given)


@pytest.mark.parametrize("given, cap", [(None, CAP), ({"insured_value_minor": 3000}, 3000),
                                        ({"insured_value_minor": 10_000}, 10_000)])
def test_a_courier_pays_up_to_its_cap_and_the_merchant_the_rest(database, w, given, cap):
    total = 3 * COST + FREIGHT  # 4400
    with database.session() as s:
        decision = lost(s, w, 3, given)
        courier = min(total, cap)
        expected = [("merchant", total - courier)] if total > cap else []
        assert shares(decision) == expected + [("courier", courier)]
        row = next(x for x in decision.shares if x["party"] == "courier")
        assert row["cap_minor"] == cap
        assert row.get("before_cap_minor") == (total if total > cap else None)
        # a declared value caps the courier; it is not freight insurance (运费险)
        assert decision.facts["insured"] is False
        assert decision.facts.get("insured_value_minor") == (given or {}).get(
            "insured_value_minor")
        assert booked(s, decision) == ([("merchant", "write_off", total - cap)]
                                       if total > cap else [])
        [claim] = s.scalars(select(Claim).where(Claim.decision_id == decision.id))
        assert (claim.counterparty_kind, claim.carrier, claim.amount_minor) == (
            "courier", "sf", courier)
        assert sum(x["amount_minor"] for x in claim.lines) == courier
        if total > cap:
            assert claim.lines[-1] == {"cost": "courier_cap", "amount_minor": cap - total}
        assert merchant_balance(s, w) == max(total - cap, 0)
    intact(database)


def test_a_policy_courier_entry_changes_that_carriers_multiple(database, w):
    with database.session() as s:
        publish(s, w, {"couriers": {"sf": {"uninsured_multiple": 5}},
                       "freight_minor": 600})
        decision = lost(s, w, 3)
        total = 3 * COST + 600
        assert decision.amounts == {"goods": 3 * COST, "outbound_freight": 600}
        assert shares(decision) == [("merchant", total - 5 * 600), ("courier", 5 * 600)]
        assert decision.policy_version == 1 and decision.rule_source == "default"
    with database.session() as s:  # another carrier keeps the default multiple
        x = ordered(s, w, qty=3)
        parcel = flow.submit_tracking(s, x, "zto", "731234567890123", "supplier:1")
        other = decisions.decide(s, w["merchant_id"], "lost_parcel", parcel.id, ACTOR)
        assert shares(other) == [("merchant", total - 3 * 600), ("courier", 3 * 600)]
        assert other.carrier == "zto"
    intact(database)


def test_a_contract_courier_entry_beats_the_policys_for_that_suppliers_parcels(database, w):
    with database.session() as s:
        publish(s, w, {"couriers": {"sf": {"uninsured_multiple": 5},
                                    "default": {"interception_fee_minor": 700}}})
        s.get(Supplier, w["supplier_id"]).contract_terms = {"liability": terms.validated(
            {"couriers": {"sf": {"uninsured_multiple": 1}}})}
        decision = lost(s, w, 3)
        total = 3 * COST + FREIGHT
        assert shares(decision) == [("merchant", total - FREIGHT), ("courier", FREIGHT)]
        stopped = decisions.decide(s, w["merchant_id"], *stop_too_late(s, w), ACTOR)
        assert stopped.amounts == {**STOPPED, "interception_fee": 700}  # the policy's still
    with database.session() as s:
        s.get(Supplier, w["supplier_id"]).contract_terms = {"liability": terms.validated(
            {"couriers": {"default": {"uninsured_multiple": 2, "interception_fee_minor": 0}}})}
        decision = lost(s, w, 3)  # the contract's default over the policy's entry for sf
        assert shares(decision) == [("merchant", total - 2 * FREIGHT), ("courier", 2 * FREIGHT)]
        stopped = decisions.decide(s, w["merchant_id"], *stop_too_late(s, w), ACTOR)
        assert stopped.amounts == {**STOPPED, "interception_fee": 0}


# -- 3. precedence: contract → policy → default --------------------------------------------

POLICY_RULE = rule("quality_shared", ["return"], [("supplier", 0.5), ("merchant", 0.5)],
                   ["goods"], families=["quality"])
CONTRACT_RULE = rule("quality_all_supplier", ["return"], [("supplier", 1)],
                     ["goods", "return_freight"], families=["quality"], grades=["D"])


def test_a_policy_rule_beats_the_default_and_names_its_version(database, w):
    with database.session() as s:
        version = publish(s, w, {"rules": [POLICY_RULE]})
        case = returned(s, w, "quality.defect")
        decision = decisions.decide(s, w["merchant_id"], "return", case.id, ACTOR)
        assert (decision.rule, decision.rule_source, decision.policy_version) == (
            "quality_shared", "policy", version)
        assert decision.amounts == {"goods": COST}
        assert shares(decision) == [("supplier", COST // 2), ("merchant", COST - COST // 2)]
        assert booked(s, decision) == [("merchant", "write_off", COST - COST // 2)]
        assert claims_of(s, decision) == [("supplier", "draft", COST // 2)]
        other = returned(s, w, "fulfilment.wrong_item")  # the policy's rule does not hold
        assert decisions.decide(s, w["merchant_id"], "return", other.id, ACTOR).rule_source \
            == "default"
    intact(database)


def test_a_contract_rule_beats_the_policy_and_prices_goods_at_the_sale_price(database, w):
    with database.session() as s:
        version = publish(s, w, {"rules": [POLICY_RULE]})
        s.get(Supplier, w["supplier_id"]).contract_terms = {"liability": terms.validated(
            {"rules": [CONTRACT_RULE], "goods_value": "price"})}
        graded_d, graded_b = (returned(s, w, "quality.defect", qty=2) for _ in range(2))
        inspections.confirm_return_receipt(s, graded_d, "supplier:1", "damaged", grade="D")
        inspections.confirm_return_receipt(s, graded_b, "supplier:1", "damaged", grade="B")
        first = decisions.decide(s, w["merchant_id"], "return", graded_d.id, ACTOR)
        assert (first.rule, first.rule_source, first.policy_version) == (
            "quality_all_supplier", "contract", version)
        assert first.amounts == {"goods": 2 * PRICE, "return_freight": FREIGHT}
        assert shares(first) == [("supplier", 2 * PRICE + FREIGHT)]
        second = decisions.decide(s, w["merchant_id"], "return", graded_b.id, ACTOR)
        assert (second.rule, second.rule_source) == ("quality_shared", "policy")
        assert second.amounts == {"goods": 2 * PRICE}  # the contract's goods_value still


def test_a_contract_penalty_and_freight_beat_the_policys(database, w):
    with database.session() as s:
        publish(s, w, {"penalties": {"late_shipment": 900}, "freight_minor": 700})
        s.get(Supplier, w["supplier_id"]).contract_terms = {"liability": terms.validated(
            {"penalties": {"late_shipment": 300}})}
        event, fid = late(48)(s, w)
        decision = decisions.decide(s, w["merchant_id"], event, fid, ACTOR)
        assert decision.amounts == {"platform_penalty": 300}
        case = returned(s, w, "fulfilment.wrong_item")
        decision = decisions.decide(s, w["merchant_id"], "return", case.id, ACTOR)
        assert decision.amounts == {"outbound_freight": 700, "return_freight": 700}


# -- 4. deciding again, overrides ----------------------------------------------------------

def test_deciding_again_returns_the_decision_in_force(database, w):
    with database.session() as s:
        case = returned(s, w, "quality.defect")
        first = decisions.decide(s, w["merchant_id"], "return", case.id, ACTOR)
        case_id, first_id = case.id, first.id
    with database.session() as s:
        again = decisions.decide(s, w["merchant_id"], "return", case_id, "someone else")
        assert again.id == first_id and again.decided_by == ACTOR
        assert count(s, LiabilityDecision) == 1 and count(s, Claim) == 1


def capped_loss(s, w) -> LiabilityDecision:
    """A lost parcel of 3 units: the courier CAP, the merchant the rest (a write-off)."""
    decision = lost(s, w, 3)
    assert shares(decision) == [("merchant", 3 * COST + FREIGHT - CAP), ("courier", CAP)]
    return decision


def test_an_override_keeps_the_original_and_corrects_its_ledger_entries(database, w):
    with database.session() as s:
        original = capped_loss(s, w)
        couriers.claims_file(s, w["merchant_id"], "sf", ACTOR)  # the courier's claim sent
        original_id = original.id
        was = 3 * COST + FREIGHT - CAP
        assert merchant_balance(s, w) == was
    with database.session() as s:
        original = s.get(LiabilityDecision, original_id)
        new = decisions.override(s, original, [{"party": "supplier", "share": 0.5},
                                               {"party": "merchant", "share": 0.5}],
                                 "  the supplier packed it badly  ", "user:1",
                                 amounts={"goods": 3 * COST})
        new_id = new.id
    with database.session(readonly=True) as s:
        original, new = s.get(LiabilityDecision, original_id), s.get(LiabilityDecision, new_id)
        assert original.status == "overridden" and new.status == "in_force"
        assert (new.rule, new.rule_source, new.overrides_id, new.override_reason) == (
            "override", "merchant", original_id, "the supplier packed it badly")
        assert new.amounts == {"goods": 3 * COST} and new.total_minor == 3 * COST
        half = 3 * COST // 2
        assert shares(new) == [("supplier", half), ("merchant", 3 * COST - half)]
        assert (new.event, new.subject) == (original.event, original.subject)
        assert booked(s, original) == [("merchant", "write_off", was),
                                       ("merchant", "correction", -was)]
        [reversal] = s.scalars(select(LedgerEntry).where(
            LedgerEntry.entry_type == "correction"))
        assert reversal.corrects_entry_id == s.scalar(select(LedgerEntry.id).where(
            LedgerEntry.document_id == original_id, LedgerEntry.entry_type == "write_off"))
        assert booked(s, new) == [("merchant", "write_off", 3 * COST - half)]
        assert merchant_balance(s, w) == 3 * COST - half  # nets to the new split
        assert claims_of(s, original) == [("courier", "withdrawn", CAP)]
        assert claims_of(s, new) == [("supplier", "draft", half)]
        assert decisions.in_force(s, w["merchant_id"], "lost_parcel",
                                  original.subject).id == new_id
    with database.session() as s:  # deciding again finds the override
        kind, subject_id = s.get(LiabilityDecision, new_id).subject.split(":")
        assert decisions.decide(s, w["merchant_id"], "lost_parcel", int(subject_id),
                                ACTOR).id == new_id
        with pytest.raises(Conflict):  # the original is not overridden twice
            decisions.override(s, s.get(LiabilityDecision, original_id),
                               [{"party": "merchant", "share": 1}], "again", "user:1")
    intact(database)


def test_an_override_reverses_a_platform_penalty_and_books_it_again(database, w):
    with database.session() as s:
        event, fid = late(23)(s, w)  # too late for the supplier: the merchant's
        original = decisions.decide(s, w["merchant_id"], event, fid, ACTOR,
                                    {"platform_penalty_minor": 700})
        assert booked(s, original) == [("merchant", "write_off", 700),
                                       ("platform", "platform_penalty", 700)]
        new = decisions.override(s, original, [{"party": "supplier", "share": 1}],
                                 "the supplier agreed to pay", "user:1")
        assert new.amounts == {"platform_penalty": 700}
        assert booked(s, original)[2:] == [("merchant", "correction", -700),
                                           ("platform", "correction", -700)]
        assert booked(s, new) == [("platform", "platform_penalty", 700)]
        assert claims_of(s, new) == [("supplier", "draft", 700)]
        platform = ledger.balances(s, w["merchant_id"], counterparty=ledger.Counterparty(
            "platform", id=w["shop_id"]))
        assert [r["balance_minor"] for r in platform] == [700]
        assert merchant_balance(s, w) == 0
    intact(database)


@pytest.mark.parametrize("answer", ["accept", "accept_part"])
def test_an_override_after_a_claim_was_accepted_is_a_409(database, w, answer):
    with database.session() as s:
        original = decisions.decide(s, w["merchant_id"], "return",
                                    returned(s, w, "quality.defect").id, ACTOR)
        [claim] = s.scalars(select(Claim).where(Claim.decision_id == original.id))
        claims.send(s, claim, ACTOR)
        claims.answer(s, claim, "accept", "supplier:1",
                      amount_minor=100 if answer == "accept_part" else None)
        original_id, claim_id = original.id, claim.id
    with database.session() as s:
        entries = count(s, LedgerEntry)
        with pytest.raises(Conflict) as refused:
            decisions.override(s, s.get(LiabilityDecision, original_id),
                               [{"party": "merchant", "share": 1}], "changed my mind", "u")
        assert refused.value.status == 409 and refused.value.details["claim_id"] == claim_id
    with database.session(readonly=True) as s:
        assert s.get(LiabilityDecision, original_id).status == "in_force"
        assert count(s, LiabilityDecision) == 1 and count(s, LedgerEntry) == entries
        assert s.get(Claim, claim_id).status in ("accepted", "partly_accepted")
    intact(database)


@pytest.mark.parametrize("liable, reason, amounts, bad", [
    ([{"party": "supplier", "share": 0.5}, {"party": "merchant", "share": 0.4}], "r", None,
     {"liable"}),
    ([{"party": "supplier", "share": 0.5}, {"party": "supplier", "share": 0.5}], "r", None,
     {"liable"}),
    ([{"party": "landlord", "share": 1}], "r", None, {"liable"}),
    ([{"party": "merchant", "share": True}], "r", None, {"liable"}),
    ([], "r", None, {"liable"}),
    ("merchant", "r", None, {"liable"}),
    ([{"party": "merchant", "share": 1}], "   ", None, {"reason"}),
    ([{"party": "merchant", "share": 1}], "x" * 501, None, {"reason"}),
    ([{"party": "merchant", "share": 1}], None, None, {"reason"}),
    ([{"party": "merchant", "share": 1}], "r", {"tip": 5}, {"amounts"}),
    ([{"party": "merchant", "share": 1}], "r", {"goods": -1}, {"amounts"}),
    ([{"party": "merchant", "share": 1}], "r", {"goods": 1.5}, {"amounts"}),
    ([{"party": "x", "share": 2}], "", [], {"liable", "reason", "amounts"}),
])
def test_an_invalid_override_is_a_422_that_writes_nothing(database, w, liable, reason,
                                                          amounts, bad):
    with database.session() as s:
        original_id = capped_loss(s, w).id
    with database.session() as s:
        before = (count(s, LedgerEntry), count(s, Claim), count(s, LiabilityDecision))
        with pytest.raises(ApiError) as refused:
            decisions.override(s, s.get(LiabilityDecision, original_id), liable, reason,
                               "user:1", amounts=amounts)
        assert refused.value.status == 422 and set(refused.value.details) == bad
    with database.session(readonly=True) as s:
        assert (count(s, LedgerEntry), count(s, Claim), count(s, LiabilityDecision)) == before
        assert s.get(LiabilityDecision, original_id).status == "in_force"
        assert [x.status for x in s.scalars(select(Claim))] == ["draft"]


@pytest.mark.parametrize("event, given, bad", [
    ("flood", None, "event"),
    ("lost_parcel", {"platform_penalty_minor": 0}, "platform_penalty_minor"),
    ("lost_parcel", {"insured_value_minor": "5000"}, "insured_value_minor"),
    ("lost_parcel", {"insured_value_minor": True}, "insured_value_minor"),
    ("lost_parcel", {"discount": 5}, "discount"),
])
def test_an_invalid_decision_request_is_a_422_that_writes_nothing(database, w, event, given,
                                                                  bad):
    with database.session() as s:
        parcel_id = shipped(s, w, ordered(s, w)).id
    with database.session() as s:
        with pytest.raises(ApiError) as refused:
            decisions.decide(s, w["merchant_id"], event, parcel_id, ACTOR, given)
        assert refused.value.status == 422 and bad in refused.value.details
        assert count(s, LiabilityDecision) == 0


# -- 5. the decisions the hub makes by itself ----------------------------------------------

def test_an_inspection_decides_the_return_and_drafts_a_claim(database, w):
    with database.session() as s:
        case = returned(s, w, "quality.defect")
        inspections.confirm_return_receipt(s, case, "supplier:1", "damaged", grade="D")
        case_id = case.id
    with database.session(readonly=True) as s:
        [decision] = s.scalars(select(LiabilityDecision))
        assert (decision.event, decision.subject, decision.rule, decision.decided_by) == (
            "return", f"return_case:{case_id}", "quality_defect", "hub:liability")
        assert (decision.facts["condition"], decision.facts["grade"]) == ("damaged", "D")
        assert claims_of(s, decision) == [("supplier", "draft", COST + FREIGHT)]


def test_a_refund_only_refunded_for_a_fault_is_decided_without_its_goods(database, w):
    from tests.supplier_helpers import apply, order_values, return_values

    apply(database, w["shop_id"], replace(order_values("P9"), ship_by=None))
    with database.session() as s:
        [x] = s.scalars(select(Fulfilment))
        flow.accept(s, x, "supplier:1")
        number = shipped(s, w, x).tracking_number
    apply(database, w["courier_id"], TrackingValues(
        carrier="sf", tracking_number=number, events=(
            scan(utcnow() - timedelta(days=2), "picked_up"),
            scan(utcnow() - timedelta(days=1), "delivered"))))
    for status in ("requested", "refunded", "refunded"):
        apply(database, w["shop_id"], return_values("R9", "P9", kind="refund_only",
                                                    status=status,
                                                    reason_code="quality.defect",
                                                    updated=utcnow()))
    with database.session(readonly=True) as s:
        [decision] = s.scalars(select(LiabilityDecision))
        assert decision.rule == "quality_defect"
        assert decision.amounts == {"goods": COST, "return_freight": 0}
        assert claims_of(s, decision) == [("supplier", "draft", COST)]


def test_a_changed_mind_refund_is_not_decided(database, w):
    from tests.supplier_helpers import apply, order_values, return_values

    apply(database, w["shop_id"], replace(order_values("P8"), ship_by=None))
    with database.session() as s:
        [x] = s.scalars(select(Fulfilment))
        flow.accept(s, x, "supplier:1")
        number = shipped(s, w, x).tracking_number
    apply(database, w["courier_id"], TrackingValues(
        carrier="sf", tracking_number=number,
        events=(scan(utcnow() - timedelta(days=1), "delivered"),)))
    apply(database, w["shop_id"], return_values("R8", "P8", status="refunded",
                                                updated=utcnow()))
    with database.session(readonly=True) as s:
        assert count(s, LiabilityDecision) == 0


@pytest.mark.parametrize("hours_after_ship_by, rule_name", [
    (1, "late_shipment_supplier"), (-1, None)])
def test_a_first_pickup_after_the_ship_by_time_is_a_late_shipment(database, w,
                                                                  hours_after_ship_by,
                                                                  rule_name):
    with database.session() as s:
        x = ordered(s, w)
        x.order.ship_by = x.requested_at + timedelta(hours=30)  # 24 h SLA: in time
        parcel = shipped(s, w, x)
        number, ship_by, fid = parcel.tracking_number, x.order.ship_by, x.id
        assert parcel.status == "pending"
    with database.session() as s:
        track(s, w, number, scan(ship_by - timedelta(hours=3), "info_received"))
        assert count(s, LiabilityDecision) == 0  # not yet picked up
    with database.session() as s:
        picked = ship_by + timedelta(hours=hours_after_ship_by)
        track(s, w, number, scan(picked, "picked_up"),
              scan(picked + timedelta(hours=2), "in_transit"))
    with database.session() as s:
        track(s, w, number, scan(picked + timedelta(hours=9), "out_for_delivery"))
    with database.session(readonly=True) as s:
        found = list(s.scalars(select(LiabilityDecision)))
        assert [x.rule for x in found] == ([rule_name] if rule_name else [])
        if rule_name:
            [decision] = found
            assert (decision.event, decision.subject, decision.decided_by) == (
                "late_shipment", f"fulfilment:{fid}", "hub:liability")
            assert decision.facts["in_time"] is True
            assert shares(decision) == [("supplier", LATE)]
            assert any("picked up" in x["en"] and x["at"] == picked.isoformat()
                       for x in decision.evidence)
    intact(database)


def test_a_late_pickup_of_an_order_that_reached_the_supplier_late_is_the_merchants(database,
                                                                                  w):
    with database.session() as s:
        x = ordered(s, w)
        x.order.ship_by = x.requested_at + timedelta(hours=2)
        number, ship_by = shipped(s, w, x).tracking_number, x.order.ship_by
    with database.session() as s:
        track(s, w, number, scan(ship_by + timedelta(hours=20), "picked_up"))
    with database.session(readonly=True) as s:
        [decision] = s.scalars(select(LiabilityDecision))
        assert decision.rule == "late_shipment_merchant"
        assert booked(s, decision) == [("merchant", "write_off", LATE)]


def test_a_platform_penalty_given_is_payable_to_the_shops_platform_account(database, w):
    with database.session() as s:
        event, fid = late(24)(s, w)
        decision = decisions.decide(s, w["merchant_id"], event, fid, ACTOR,
                                    {"platform_penalty_minor": 1500})
        assert decision.facts["platform_penalty_minor"] == 1500
        assert decision.amounts == {"platform_penalty": 1500}
        assert shares(decision) == [("supplier", 1500)]
        [entry] = s.scalars(select(LedgerEntry).where(
            LedgerEntry.document_kind == "liability_decision"))
        assert (entry.counterparty_kind, entry.counterparty_id, entry.entry_type,
                entry.amount_minor) == ("platform", w["shop_id"], "platform_penalty", 1500)
        assert claims_of(s, decision) == [("supplier", "draft", 1500)]
    intact(database)


def test_a_stop_ships_parcel_intercepted_is_decided(database, w):
    with database.session() as s:
        event, fid = stop_too_late(s, w)
        number = flow.outbound_shipment(s, s.get(Fulfilment, fid)).tracking_number
    with database.session() as s:
        track(s, w, number, scan(utcnow() - timedelta(hours=2), "picked_up"),
              scan(utcnow() - timedelta(hours=1), "intercepted"), interception="succeeded")
    with database.session(readonly=True) as s:
        [decision] = s.scalars(select(LiabilityDecision))
        assert (decision.event, decision.subject, decision.rule, decision.facts["stop"]) == (
            "stop_ship", f"fulfilment:{fid}", "stop_ship_refused_or_late", "late")
        assert decision.amounts == STOPPED
        assert booked(s, decision) == [("merchant", "write_off", FEE + 2 * FREIGHT)]
    intact(database)


def test_a_stop_ships_parcel_that_got_through_is_decided(database, w):
    with database.session() as s:
        event, fid = stop_refused(True)(s, w)
        number = flow.outbound_shipment(s, s.get(Fulfilment, fid)).tracking_number
    with database.session() as s:
        track(s, w, number, scan(utcnow() - timedelta(hours=2), "picked_up"),
              interception="failed")
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, fid).expected_return is True
        [decision] = s.scalars(select(LiabilityDecision))
        assert (decision.rule, decision.facts["stop"]) == ("stop_ship_refused_or_late",
                                                           "refused")
        assert shares(decision) == [("merchant", FEE + 2 * FREIGHT)]


def test_a_parcel_the_supplier_shipped_after_accepting_is_decided_on_its_pickup(database, w):
    with database.session() as s:
        event, fid = shipped_after_accept(True)(s, w)
        x = s.get(Fulfilment, fid)
        number = flow.outbound_shipment(s, x).tracking_number
        answered = x.cancel_answered_at
    with database.session() as s:
        track(s, w, number, scan(answered + timedelta(hours=3), "intercepted"),
              interception="succeeded")
    with database.session(readonly=True) as s:
        [decision] = s.scalars(select(LiabilityDecision))
        assert (decision.rule, decision.facts["stop"]) == ("stop_ship_shipped_after_accept",
                                                           "shipped_after_accept")
        assert claims_of(s, decision) == [("supplier", "draft", FEE + 2 * FREIGHT)]


# -- 6. the ledger after all of it ---------------------------------------------------------

def test_the_ledger_is_intact_after_decisions_overrides_and_claims(app, database, w):
    with database.session() as s:
        capped = capped_loss(s, w)
        late_one = decisions.decide(s, w["merchant_id"], *late(23)(s, w), ACTOR,
                                    {"platform_penalty_minor": 900})
        quality = decisions.decide(s, w["merchant_id"], "return",
                                   returned(s, w, "quality.defect").id, ACTOR)
        decisions.decide(s, w["merchant_id"], *stop_refused(True)(s, w), ACTOR)
        ids = capped.id, late_one.id, quality.id
    with database.session() as s:
        capped, late_one, quality = (s.get(LiabilityDecision, x) for x in ids)
        decisions.override(s, capped, [{"party": "courier", "share": 1}], "insured after all",
                           "user:1")
        again = decisions.override(s, late_one, [{"party": "merchant", "share": 0.5},
                                                 {"party": "supplier", "share": 0.5}],
                                   "split", "user:1")
        decisions.override(s, again, [{"party": "supplier", "share": 1}], "all theirs",
                           "user:1")
        [claim] = s.scalars(select(Claim).where(Claim.decision_id == quality.id))
        claims.send(s, claim, ACTOR)
        claims.answer(s, claim, "accept", "supplier:1", amount_minor=COST)
        claims.settle(s, claim, "user:1")
    intact(database)
    result = app.test_cli_runner().invoke(args=["ledger", "verify", "--json"])
    assert result.exit_code == 0, result.output
    with database.session(readonly=True) as s:
        by_type = dict(s.execute(select(LedgerEntry.entry_type, func.count())
                                 .group_by(LedgerEntry.entry_type)).all())
        assert by_type["correction"] >= 4 and by_type["claim_deduction"] == 1
