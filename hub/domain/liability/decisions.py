"""Liability decisions: who pays for one costly event, how much, by which rule, from what.

    decide(session, merchant_id, event, subject_id, actor, given=None) -> LiabilityDecision
    override(session, decision, liable, reason, actor, amounts=None) -> LiabilityDecision

``decide`` reads the subject's facts (``facts.gather``), takes the first rule that holds
(the supplier's contract, the merchant's policy version in force, the defaults: see
``hub.domain.policy.liability``), prices the rule's costs in fen and splits them over the
liable parties: a courier's share is capped (the declared value when insured, else a
multiple of the freight) and the rest falls to the merchant; a party the subject has
none of (no supplier, no carrier) is the merchant's too. One decision is in force per
event and subject: deciding again returns it. The subject's row is locked first, so two
callers never decide it twice.

Money: what the merchant bears itself is a ``write_off`` on its own ledger account, and
a platform penalty the caller says was levied is a ``platform_penalty`` payable to the
shop's platform account; what a supplier or courier owes becomes a claim
(``claims.open_for``), booked in the ledger when accepted.

An override is a new decision (rule ``override``) with the merchant's split and reason;
the original is kept, ``overridden``. Its ledger entries are reversed by corrections,
its open claims withdrawn, and the new decision booked and claimed. A decision whose
claim was already accepted or written off is not overridden (409): correct the claim
instead. An override may add what was learnt since (a levied penalty, a declared value).
Deciding again with different ``given`` is a 409 (override it); so is deciding a loss
another decision prices already (``RELATED``: a lost parcel and the return for it, a late
and a fake shipment, a stop-ship and its interception fee).
"""
from __future__ import annotations

from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.china import yuan
from hub.core.errors import ApiError, Conflict
from hub.domain import ledger
from hub.domain.liability import claims
from hub.domain.liability.facts import MODELS, Case, gather, subject_kind, terms_for
from hub.domain.policy.liability import Terms
from hub.models import Claim, LedgerEntry, LiabilityDecision, audit
from hub.models.liability import COSTS, EVENTS, PARTIES

COST_WORDS = {"goods": ("货款", "goods"), "outbound_freight": ("发货运费", "outbound freight"),
              "return_freight": ("退货运费", "return freight"),
              "interception_fee": ("拦截费", "interception fee"),
              "platform_penalty": ("平台罚款", "platform penalty")}
PARTY_WORDS = {"supplier": "供应商", "courier": "快递", "merchant": "商家", "buyer": "买家",
               "platform": "平台（运费险）", "nobody": "无人"}
GIVEN = ("insured_value_minor", "platform_penalty_minor")


def in_force(session: Session, merchant_id: int, event: str, subject: str):
    return session.scalar(select(LiabilityDecision).where(
        LiabilityDecision.merchant_id == merchant_id, LiabilityDecision.event == event,
        LiabilityDecision.subject == subject, LiabilityDecision.status == "in_force"))


def decide(session: Session, merchant_id: int, event: str, subject_id: int, actor: str,
           given: dict | None = None) -> LiabilityDecision:
    given = _given(event, given)
    kind = subject_kind(event)
    session.execute(select(MODELS[kind].id).where(
        MODELS[kind].id == subject_id, MODELS[kind].merchant_id == merchant_id)
        .with_for_update())
    existing = in_force(session, merchant_id, event, f"{kind}:{subject_id}")
    if existing is not None:
        if any(existing.facts.get(k) != v for k, v in given.items()):
            raise Conflict(f"{event} on {existing.subject} was decided already (decision "
                           f"{existing.id}): override it to add {', '.join(given)}",
                           details={"decision_id": existing.id})
        return existing
    case = gather(session, merchant_id, event, subject_id, given)
    _refuse_related(session, case)
    terms, version = terms_for(session, merchant_id, case.supplier)
    rule, source = terms.rule_for(case.facts)
    amounts = price(terms, case, rule["costs"])
    shares = split(terms, case, [(x["party"], x["share"]) for x in rule["liable"]], amounts)
    decision = _new(case, version, rule["name"], source, amounts, shares, actor,
                    (rule["zh"], rule["en"]))
    session.add(decision)
    _book(session, decision, case, actor)
    audit.record(session, merchant_id, actor, "liability.decided", "liability_decision",
                 decision.id, {"event": event, "subject": decision.subject,
                               "rule": rule["name"], "source": source,
                               "total_minor": decision.total_minor})
    claims.open_for(session, decision, terms, actor)
    return decision


def override(session: Session, decision: LiabilityDecision, liable, reason: str,
             actor: str, amounts: dict | None = None,
             given: dict | None = None) -> LiabilityDecision:
    """``given``: a levied penalty or a declared value learnt since (kept otherwise)."""
    errors = _override_errors(liable, reason, amounts)
    if errors:
        raise ApiError("the override is invalid", code="validation_error", status=422,
                       details=errors)
    given = {**{k: decision.facts[k] for k in GIVEN if decision.facts.get(k) is not None},
             **_given(decision.event, given)}
    session.refresh(decision, with_for_update=True)
    if decision.status != "in_force":
        raise Conflict(f"decision {decision.id} was overridden already: override the one in "
                       "force", details={"status": decision.status})
    # its claims locked: an answer racing this override waits, then finds them withdrawn
    settled = [c.id for c in session.scalars(select(Claim).where(
        Claim.decision_id == decision.id).order_by(Claim.id).with_for_update())
        if c.status in ("accepted", "partly_accepted", "settled", "written_off")]
    if settled:
        raise Conflict(f"claim {settled[0]} of decision {decision.id} was accepted or "
                       "written off: correct the claim instead",
                       details={"claim_id": settled[0]})
    kind, subject_id = decision.subject.split(":")
    case = gather(session, decision.merchant_id, decision.event, int(subject_id), given)
    terms, version = terms_for(session, decision.merchant_id, case.supplier)
    amounts = dict(amounts) if amounts is not None else dict(decision.amounts)
    shares = split(terms, case, [(x["party"], x["share"]) for x in liable], amounts)
    reason = reason.strip()
    new = _new(case, version, "override", "merchant", amounts, shares, actor,
               (f"商家改判：{reason}", f"overridden by the merchant: {reason}"))
    new.overrides_id, new.override_reason = decision.id, reason
    decision.status = "overridden"
    session.add(new)
    for entry in session.scalars(select(LedgerEntry).where(
            LedgerEntry.merchant_id == decision.merchant_id,
            LedgerEntry.document_kind == "liability_decision",
            LedgerEntry.document_id == decision.id, LedgerEntry.entry_type != "correction")):
        ledger.correct(session, entry, -entry.amount_minor,
                       f"decision {decision.id} overridden by decision {new.id}", actor)
    claims.withdraw_all(session, decision, f"decision overridden by decision {new.id}", actor)
    _book(session, new, case, actor)
    audit.record(session, decision.merchant_id, actor, "liability.overridden",
                 "liability_decision", decision.id, {
                     "by_decision_id": new.id, "reason": reason,
                     "shares": [[x["party"], x["amount_minor"]] for x in new.shares],
                     "was": [[x["party"], x["amount_minor"]] for x in decision.shares]})
    claims.open_for(session, new, terms, actor)
    return new


# -- pricing and splitting -----------------------------------------------------------------

def price(terms: Terms, case: Case, costs) -> dict:
    """Each cost the rule names, in fen."""
    out = {}
    for cost in costs:
        if cost == "goods":
            out[cost] = sum(x["quantity"] * (x["unit_cost"] if terms.goods_value == "cost"
                                             and x["unit_cost"] is not None else x["unit_price"])
                            for x in case.lines)
        elif cost == "return_freight" and case.return_case is not None \
                and case.return_case.kind == "refund_only":
            out[cost] = 0  # no goods came back
        elif cost in ("outbound_freight", "return_freight"):
            out[cost] = terms.freight_minor
        elif cost == "interception_fee":  # only where the courier was asked to intercept
            asked = case.shipment is not None and case.shipment.interception_status != "none"
            out[cost] = terms.courier(case.carrier)["interception_fee_minor"] if asked else 0
        else:  # a return's penalty is the one its reason names (fulfilment.fake_shipment)
            penalised = case.event if case.event != "return" \
                else (case.facts.get("code") or "").rpartition(".")[2]
            out[cost] = case.given.get("platform_penalty_minor",
                                       terms.penalties.get(penalised, 0))
    return out


def split(terms: Terms, case: Case, liable, amounts: dict) -> list[dict]:
    """The total over the liable parties; a courier capped, the rest the merchant's."""
    total, rows, left = sum(amounts.values()), [], sum(amounts.values())
    for n, (party, share) in enumerate(liable):  # exact: a share's decimal, not its float
        amount = left if n == len(liable) - 1 else int(total * Fraction(str(share)))
        left -= amount
        row = {"party": party, "share": share, "amount_minor": amount}
        if party == "supplier" and case.supplier is None \
                or party == "courier" and case.carrier is None:
            row.update(party="merchant", note=f"no {party} to charge")
        elif party == "supplier":
            row["supplier_id"] = case.supplier.id
        elif party == "courier":
            row["carrier"] = case.carrier
            row["cap_minor"] = cap = _cap(terms, case)
            if amount > cap:
                row["amount_minor"], row["before_cap_minor"] = cap, amount
                rows.append({"party": "merchant", "share": 0, "amount_minor": amount - cap,
                             "note": "beyond the courier's cap"})
        rows.append(row)
    merged: dict = {}
    for row in rows:
        key = (row["party"], row.get("supplier_id"), row.get("carrier"), row.get("note"))
        if key in merged:
            merged[key]["amount_minor"] += row["amount_minor"]
            merged[key]["share"] += row["share"]
        else:
            merged[key] = row
    return list(merged.values())


def _cap(terms: Terms, case: Case) -> int:
    declared = case.given.get("insured_value_minor")
    if declared:
        return declared
    multiple = Fraction(str(terms.courier(case.carrier)["uninsured_multiple"]))
    return int(multiple * terms.freight_minor)


# -- recording -----------------------------------------------------------------------------

def _new(case: Case, version: int, rule: str, source: str, amounts: dict, shares: list,
         actor: str, words: tuple[str, str]) -> LiabilityDecision:
    currency = case.currency
    zh_costs = "，".join(f"{COST_WORDS[k][0]} {yuan(v, currency)}" for k, v in amounts.items())
    en_costs = ", ".join(f"{COST_WORDS[k][1]} {yuan(v, currency)}" for k, v in amounts.items())
    zh_who = "，".join(f"{PARTY_WORDS[s['party']]} {yuan(s['amount_minor'], currency)}"
                      for s in shares)
    en_who = ", ".join(f"{s['party']} {yuan(s['amount_minor'], currency)}" for s in shares)
    kind = case.subject.split(":")[0]
    return LiabilityDecision(
        merchant_id=case.order.merchant_id, event=case.event, subject=case.subject,
        return_case_id=case.return_case.id if case.return_case else None,
        fulfilment_id=case.fulfilment.id if case.fulfilment else None,
        shipment_id=case.shipment.id if case.shipment and kind == "shipment" else None,
        order_id=case.order.id, supplier_id=case.supplier.id if case.supplier else None,
        carrier=case.carrier, policy_version=version, rule=rule, rule_source=source,
        why_zh=f"{words[0]}。费用：{zh_costs or '无'}。承担：{zh_who}。"[:2000],
        why_en=f"{words[1]}. Costs: {en_costs or 'none'}. Paid by: {en_who}."[:2000],
        amounts=amounts, shares=shares, total_minor=sum(amounts.values()),
        currency=currency, evidence=case.evidence, facts={
            **case.facts, **case.given,
            "goods": [{"sku": x["sku"], "quantity": x["quantity"]} for x in case.lines]},
        decided_by=actor[:128])


def _book(session: Session, decision: LiabilityDecision, case: Case, actor: str) -> None:
    document = ledger.Document("liability_decision", decision.id)
    for row in decision.shares:
        if row["party"] == "merchant" and row["amount_minor"] > 0:
            ledger.post(session, decision.merchant_id, ledger.Counterparty("merchant"),
                        "write_off", row["amount_minor"], decision.currency, document,
                        f"{decision.event} {decision.subject}: the merchant bears it "
                        f"({decision.rule})", actor)
    penalty = decision.facts.get("platform_penalty_minor")
    if penalty:
        ledger.post(session, decision.merchant_id,
                    ledger.Counterparty("platform", id=case.order.shop_account_id),
                    "platform_penalty", penalty, decision.currency, document,
                    f"platform penalty for {decision.event} on order "
                    f"{case.order.platform_order_id}", actor)


# events that price one loss twice when both are decided for it
RELATED = {"lost_parcel": ("damaged_parcel", "return"), "damaged_parcel": ("lost_parcel",
           "return"), "return": ("lost_parcel", "damaged_parcel"),
           "late_shipment": ("fake_shipment",), "fake_shipment": ("late_shipment",),
           "stop_ship": ("interception_fee",), "interception_fee": ("stop_ship",)}


def _refuse_related(session: Session, case: Case) -> None:
    """One loss, one decision: a parcel's loss or damage and a return for it (of the
    shipping family), a late and a fake shipment, a stop-ship and its interception fee."""
    if case.event == "return" and case.facts.get("family") != "shipping":
        return
    d = LiabilityDecision
    other = session.scalar(select(d).where(
        d.merchant_id == case.order.merchant_id, d.order_id == case.order.id,
        d.status == "in_force", d.event.in_(RELATED[case.event]),
        *((d.fulfilment_id == case.fulfilment.id,) if case.fulfilment else ())).limit(1))
    if other is not None and (other.event != "return"
                              or other.facts.get("family") == "shipping"):
        raise Conflict(f"decision {other.id} ({other.event}, {other.rule}) already prices "
                       f"this loss: override it instead", details={"decision_id": other.id})


def _given(event: str, given: dict | None) -> dict:
    errors = {}
    if event not in EVENTS:
        errors["event"] = [f"one of {', '.join(EVENTS)}"]
    given = {k: v for k, v in (given or {}).items() if v is not None}
    for key, value in given.items():
        if key not in GIVEN:
            errors[key] = ["unknown field"]
        elif not (isinstance(value, int) and not isinstance(value, bool)
                  and 0 < value <= 2 ** 53):
            errors[key] = ["a positive integer of minor units"]
    if errors:
        raise ApiError("the decision request is invalid", code="validation_error",
                       status=422, details=errors)
    return given


def _override_errors(liable, reason, amounts) -> dict:
    errors = {}
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        errors["reason"] = ["say why, in at most 500 characters"]
    if not (isinstance(liable, list) and liable and all(
            isinstance(x, dict) and x.get("party") in PARTIES
            and isinstance(x.get("share"), (int, float)) and not isinstance(x["share"], bool)
            and 0 < x["share"] <= 1 for x in liable)):
        errors["liable"] = [f"a list of {{party, share}}: party one of {', '.join(PARTIES)}, "
                            "share in (0, 1]"]
    elif abs(sum(x["share"] for x in liable) - 1) > 1e-9 \
            or len({x["party"] for x in liable}) != len(liable):
        errors["liable"] = ["each party once, the shares adding up to 1"]
    if amounts is not None and not (isinstance(amounts, dict) and all(
            k in COSTS and isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2 ** 53
            for k, v in amounts.items())):
        errors["amounts"] = [f"cost → whole fen, costs among {', '.join(COSTS)}"]
    return errors
