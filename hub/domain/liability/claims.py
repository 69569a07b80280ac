"""Compensation claims: a liable supplier or courier asked for its share, to settlement.

    open_for(session, decision, terms, actor)      a draft per liable supplier and courier
    send(session, claim, actor)                    on its channel; its answer is due
    acknowledge(session, claim, actor)
    answer(session, claim, outcome, actor, amount_minor=None, reason=None, evidence=())
    settle(session, claim, actor, note=None)       write_off(session, claim, actor, note)
    withdraw_all(session, decision, note, actor)   escalate_overdue(session, now) -> int
    on_notice_settled(session, MessageSettled)      the channel's reference for the claim

The lifecycle (``CLAIM``): ``draft → sent → acknowledged → accepted | partly_accepted |
disputed → settled | written_off``; a disputed claim may still be accepted, a claim not
yet accepted written off, and an overridden decision's open claims are ``withdrawn``.
Every step is audited with its actor and time.

A supplier's claim goes out as a ``claim_notice`` on the supplier's channel (its hub
webhook, CJ as a dispute keyed by ``businessDisputeId``, the sheet; ``payload``), and the
supplier answers on the supplier API or its sheet; a courier's claims go out as the
carrier's claims file (``couriers.claims_file``) and its answers are recorded by the merchant.
The answer is due ``answer_days`` (policy or contract) after sending; one past due is
escalated to the merchant once (alert ``claim_overdue``).

Money, in the ledger (document ``claim``): an accepted amount is a ``claim_deduction``
from the supplier or a ``courier_compensation`` from the courier; what a claim does not
recover (written off, or the part a partly accepted claim leaves, at settlement) is a
``write_off`` the merchant bears.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.core.china import yuan
from hub.core.db import iso, utcnow
from hub.core.errors import ApiError, Conflict
from hub.core.states import Machine
from hub.domain import ledger
from hub.domain.liability.facts import terms_for
from hub.domain.pushes import supplier_notices
from hub.models import (
    Claim, Fulfilment, LiabilityDecision, Order, SkuMapping, Supplier, alerts, audit,
)
from hub.pipeline.events import MessageSettled

_OPEN = {"accept": "accepted", "accept_part": "partly_accepted", "dispute": "disputed",
         "withdraw": "withdrawn", "write_off": "written_off"}
CLAIM = Machine("claim", {
    "draft": {"send": "sent", "withdraw": "withdrawn", "write_off": "written_off"},
    "sent": {"acknowledge": "acknowledged", **_OPEN},
    "acknowledged": _OPEN,
    "disputed": {k: v for k, v in _OPEN.items() if k != "dispute"},
    "accepted": {"settle": "settled"},
    "partly_accepted": {"settle": "settled"},
    "settled": {}, "written_off": {}, "withdrawn": {},
})
OPEN = ("draft", "sent", "acknowledged", "disputed")
OUTCOMES = ("accept", "dispute")
# the notice's ``reason``: a word a channel matches its own reasons with (CJ's dispute
# reason names); the default table's rules, else ``other``
REASONS = {"quality_defect": "quality", "wrong_item": "wrong", "missing_item": "missing",
           "damaged_poor_packaging": "damaged", "damaged_in_transit": "damaged",
           "damaged_parcel_reported": "damaged", "lost_parcel": "lost",
           "lost_parcel_reported": "lost", "late_shipment_supplier": "late",
           "fake_shipment": "fake", "fake_shipment_reported": "fake"}
ALERT = "claim_overdue"


def open_for(session: Session, decision: LiabilityDecision, terms, actor: str) -> list[Claim]:
    made = []
    for row in decision.shares:
        if row["party"] not in ("supplier", "courier") or row["amount_minor"] <= 0:
            continue
        claim = Claim(
            merchant_id=decision.merchant_id, decision_id=decision.id,
            counterparty_kind=row["party"], supplier_id=row.get("supplier_id"),
            carrier=row.get("carrier"), status="draft", amount_minor=row["amount_minor"],
            currency=decision.currency, lines=_lines(decision, row),
            why_zh=decision.why_zh, why_en=decision.why_en, dispute_evidence=[])
        session.add(claim)
        audit.record(session, decision.merchant_id, actor, "claim.drafted", "claim", claim.id,
                     {"decision_id": decision.id, "counterparty": row["party"],
                      "amount_minor": claim.amount_minor})
        made.append(claim)
    if terms.claims["auto_send"]:
        for claim in made:
            if claim.counterparty_kind == "supplier":
                send(session, claim, actor, answer_days=terms.claims["answer_days"])
    return made


def _lines(decision: LiabilityDecision, row: dict) -> list[dict]:
    """The party's part of each cost; what a courier's cap took off is a line of its own."""
    total = decision.total_minor or 1
    share = row.get("before_cap_minor", row["amount_minor"])
    lines, left = [], share
    items = [(k, v) for k, v in decision.amounts.items() if v]
    for n, (cost, amount) in enumerate(items):
        part = left if n == len(items) - 1 else amount * share // total
        left -= part
        lines.append({"cost": cost, "amount_minor": part})
    if share > row["amount_minor"]:
        lines.append({"cost": "courier_cap", "amount_minor": row["amount_minor"] - share})
    return lines


# -- the steps -----------------------------------------------------------------------------

def _move(session: Session, claim: Claim, event: str, actor: str, **changes) -> Claim:
    session.flush()  # a claim drafted in this transaction is a row first: the refresh locks it
    session.refresh(claim, with_for_update=True)
    before = claim.status
    claim.status = CLAIM.next(before, event)
    audit.record(session, claim.merchant_id, actor, f"claim.{claim.status}", "claim", claim.id,
                 {"status": [before, claim.status], **changes})
    return claim


def send(session: Session, claim: Claim, actor: str, answer_days: int | None = None,
         *, in_claims_file: bool = False) -> Claim:
    """A courier's claims go out only in its claims file (``couriers.claims_file``)."""
    if claim.counterparty_kind == "courier" and not in_claims_file:
        raise Conflict(f"claim {claim.id} is to courier {claim.carrier}: send it in the "
                       "carrier's claims file", details={"carrier": claim.carrier})
    decision = session.get(LiabilityDecision, claim.decision_id)
    if answer_days is None:
        answer_days = _terms(session, claim).claims["answer_days"]
    now = utcnow()
    _move(session, claim, "send", actor, answer_days=answer_days)
    claim.sent_at, claim.answer_due_at = now, now + timedelta(days=answer_days)
    if claim.counterparty_kind == "supplier":
        supplier = session.get(Supplier, claim.supplier_id)
        supplier_notices.send(session, supplier, supplier_notices.CLAIM_NOTICE, "claim",
                              claim.id, payload(session, claim, decision),
                              f"claim:{claim.id}")
    return claim


def _terms(session: Session, claim: Claim):
    supplier = session.get(Supplier, claim.supplier_id) if claim.supplier_id else None
    return terms_for(session, claim.merchant_id, supplier)[0]


def acknowledge(session: Session, claim: Claim, actor: str) -> Claim:
    """Idempotent: a claim acknowledged or answered already is returned as it is."""
    if claim.status != "sent":
        return claim
    _move(session, claim, "acknowledge", actor)
    claim.acknowledged_at = utcnow()
    return claim


def answer(session: Session, claim: Claim, outcome: str, actor: str,
           amount_minor: int | None = None, reason: str | None = None,
           evidence=()) -> Claim:
    """The counterparty's answer: ``accept`` (all, or ``amount_minor`` of it: partly) or
    ``dispute`` with its reason and evidence (links or photo hashes)."""
    errors = {}
    if outcome not in OUTCOMES:
        errors["outcome"] = [f"one of {', '.join(OUTCOMES)}"]
    if amount_minor is not None and not (isinstance(amount_minor, int)
                                         and not isinstance(amount_minor, bool)
                                         and 0 < amount_minor <= claim.amount_minor):
        errors["amount_minor"] = [f"whole fen above 0, at most the {claim.amount_minor} claimed"]
    if outcome == "dispute" and not (isinstance(reason, str) and reason.strip()):
        errors["reason"] = ["a dispute says why"]
    if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
        errors["reason"] = ["at most 2,000 characters"]
    evidence = list(evidence or ())
    if len(evidence) > 20 or not all(isinstance(x, str) and 0 < len(x) <= 500
                                     for x in evidence):
        errors["evidence"] = ["at most 20 links or photo hashes"]
    if errors:
        raise ApiError("the answer is invalid", code="validation_error", status=422,
                       details=errors)
    if outcome == "dispute":
        event = "dispute"
    else:
        amount_minor = amount_minor or claim.amount_minor
        event = "accept" if amount_minor == claim.amount_minor else "accept_part"
    _move(session, claim, event, actor, amount_minor=amount_minor, reason=reason)
    claim.answered_at, claim.answered_by = utcnow(), actor[:128]
    alerts.resolve(session, claim.merchant_id, ALERT, "claim", claim.id, why="answered")
    if event == "dispute":
        claim.dispute_reason, claim.dispute_evidence = reason.strip(), evidence
        alerts.raise_alert(
            session, claim.merchant_id, "claim_disputed", "claim", claim.id,
            f"Claim {claim.id} ({yuan(claim.amount_minor, claim.currency)}) was disputed: "
            f"{reason.strip()[:300]}. Review the evidence, then accept a part, or write "
            "it off.", supplier_id=claim.supplier_id, details={"evidence": evidence})
        return claim
    claim.accepted_minor = amount_minor
    entry_type = "claim_deduction" if claim.counterparty_kind == "supplier" \
        else "courier_compensation"
    ledger.post(session, claim.merchant_id, _counterparty(claim), entry_type, -amount_minor,
                claim.currency, ledger.Document("claim", claim.id),
                f"claim {claim.id} accepted" + (" in part" if event == "accept_part" else ""),
                actor)
    alerts.resolve(session, claim.merchant_id, "claim_disputed", "claim", claim.id,
                   why="accepted")
    return claim


def settle(session: Session, claim: Claim, actor: str, note: str | None = None) -> Claim:
    _move(session, claim, "settle", actor, note=note)
    rest = claim.amount_minor - (claim.accepted_minor or 0)
    if rest > 0:
        _write_off(session, claim, rest, actor, "the part not accepted")
    claim.closed_at, claim.close_note = utcnow(), (note or None)
    return claim


def write_off(session: Session, claim: Claim, actor: str, note: str) -> Claim:
    if not isinstance(note, str) or not note.strip() or len(note) > 500:
        raise ApiError("say why the claim is written off", code="validation_error",
                       status=422, details={"note": ["at most 500 characters"]})
    _move(session, claim, "write_off", actor, note=note)
    _write_off(session, claim, claim.amount_minor, actor, note.strip())
    claim.closed_at, claim.close_note = utcnow(), note.strip()
    _resolve_alerts(session, claim)
    return claim


def withdraw_all(session: Session, decision: LiabilityDecision, note: str, actor: str) -> None:
    """Close the decision's open claims; a supplier that was sent one is told (its notice
    not yet delivered is superseded by this one, ``status: withdrawn``)."""
    for claim in session.scalars(select(Claim).where(
            Claim.decision_id == decision.id, Claim.status.in_(OPEN))):
        _move(session, claim, "withdraw", actor, note=note)
        claim.closed_at, claim.close_note = utcnow(), note
        _resolve_alerts(session, claim)
        if claim.counterparty_kind == "supplier" and claim.sent_at is not None:
            supplier_notices.send(session, session.get(Supplier, claim.supplier_id),
                                  supplier_notices.CLAIM_NOTICE, "claim", claim.id,
                                  {**payload(session, claim, decision),
                                   "message": f"已撤回 withdrawn: {note}"},
                                  f"claim:{claim.id}:withdrawn")


def on_notice_settled(session: Session, event: MessageSettled) -> None:
    """A claim notice delivered: the channel's id for the claim (a CJ dispute's
    ``businessDisputeId``) is its ``reference``; one the channel does not carry says so."""
    message = event.message
    if message.entity != "claim" or message.status != "sent":
        return
    claim = session.get(Claim, message.entity_id)
    result = message.result or {}
    data = result.get("data") or {}
    if claim is None or claim.merchant_id != message.merchant_id:
        return
    claim.reference = (result.get("external_id") or data.get("business_dispute_id")
                       or claim.reference)
    if data.get("forwarded") is False:
        audit.record(session, claim.merchant_id, "hub:claims", "claim.not_forwarded",
                     "claim", claim.id, {"why": data.get("why"), "channel": message.connector})


def _resolve_alerts(session: Session, claim: Claim) -> None:
    for kind in (ALERT, "claim_disputed"):
        alerts.resolve(session, claim.merchant_id, kind, "claim", claim.id, why="closed")


def _write_off(session: Session, claim: Claim, amount: int, actor: str, why: str) -> None:
    ledger.post(session, claim.merchant_id, ledger.Counterparty("merchant"), "write_off",
                amount, claim.currency, ledger.Document("claim", claim.id),
                f"claim {claim.id} not recovered: {why}"[:500], actor)


def _counterparty(claim: Claim) -> ledger.Counterparty:
    if claim.counterparty_kind == "supplier":
        return ledger.Counterparty("supplier", id=claim.supplier_id)
    return ledger.Counterparty("courier", ref=claim.carrier)


def escalate_overdue(session: Session, now: datetime, limit: int = 100) -> int:
    """Claims past their answer's due time, escalated once each (a conditional UPDATE
    claims each, so two workers never escalate one twice)."""
    due = (Claim.status.in_(("sent", "acknowledged")), Claim.answer_due_at < now,
           Claim.escalated_at.is_(None))
    done = 0
    for claim_id in session.scalars(select(Claim.id).where(*due).order_by(Claim.id)
                                    .limit(limit)):
        if session.execute(update(Claim).where(Claim.id == claim_id, *due)
                           .values(escalated_at=now)
                           .execution_options(synchronize_session=False)).rowcount != 1:
            continue
        claim = session.get(Claim, claim_id, populate_existing=True)
        who = f"supplier {claim.supplier_id}" if claim.supplier_id else claim.carrier
        alerts.raise_alert(
            session, claim.merchant_id, ALERT, "claim", claim.id,
            f"Claim {claim.id} to {who} ({yuan(claim.amount_minor, claim.currency)}) was due "
            f"an answer by {iso(claim.answer_due_at)}. Chase it, or write it off.",
            supplier_id=claim.supplier_id, details={"due": iso(claim.answer_due_at)})
        done += 1
    return done


# -- the notice -----------------------------------------------------------------------------

def payload(session: Session, claim: Claim, decision: LiabilityDecision) -> dict:
    """``claim_notice``: what every supplier channel reads (CJ takes it as a dispute)."""
    fulfilment = session.get(Fulfilment, decision.fulfilment_id) \
        if decision.fulfilment_id else None
    order = session.get(Order, decision.order_id) if decision.order_id else None
    supplier_skus = dict(session.execute(select(SkuMapping.sku, SkuMapping.supplier_sku).where(
        SkuMapping.merchant_id == claim.merchant_id,
        SkuMapping.supplier_id == claim.supplier_id)).all())
    goods = [{**x, "supplier_sku": supplier_skus.get(x["sku"])}
             for x in decision.facts.get("goods", [])]
    return {
        "claim_id": str(claim.id), "decision_id": decision.id, "event": decision.event,
        "rule": decision.rule, "reason": REASONS.get(decision.rule, "other"),
        "status": claim.status,
        "fulfilment_id": fulfilment.id if fulfilment else None,
        "supplier_reference": fulfilment.supplier_reference if fulfilment else None,
        "platform_order_id": order.platform_order_id if order else None,
        "amount_minor": claim.amount_minor, "currency": claim.currency,
        "costs": claim.lines, "message": f"{claim.why_zh}\n{claim.why_en}"[:2000],
        "why_zh": claim.why_zh, "why_en": claim.why_en,
        "answer_by": iso(claim.answer_due_at), "lines": goods,
        "evidence": [{k: v for k, v in x.items() if k in ("at", "source", "zh", "en", "sha256")}
                     for x in decision.evidence],
    }
