"""Compensation claims in the supplier sheet: the supplier's open claims as rows of section
``claim``, and its answers checked and applied through ``hub.domain.liability.claims``.

    rows = claim_rows(session, supplier)          # part of files.pending_rows
    claim = claim_of(session, check, supplier)    # the row's claim, if the supplier's
    check_answer(check, claim, answer, row)       # accept | dispute, fits the claim?
    apply(session, check, actor)                  # claims.answer

Open are the claims ``sent``, ``acknowledged`` or ``disputed`` (a disputed claim may still
be accepted). A row reads ``claim_id``, the order, ``event``, ``amount`` (yuan) and
``amount_minor`` (fen), ``currency``, why in Chinese (``notice``: the rule, the costs and
who bears them; a disputed claim's reason too) and ``answer_by``. It is answered
``accept`` — all of it, or ``accepted_amount`` yuan of it (partly accepted) — or
``dispute`` with its ``reason``. Amounts are read exactly, at most two decimals, never
through a float. ``check`` is a
``hub.domain.sheets.checks.RowCheck`` (this module imports neither ``files`` nor
``checks``: both import it).
"""
from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from hub.core.china import yuan_text
from hub.domain.liability import claims as flow
from hub.models import Claim, Order, Supplier

OPEN = ("sent", "acknowledged", "disputed")
ANSWERED = ("accepted", "partly_accepted", "settled")  # accepted_minor says how much
_YUAN = re.compile(r"^(?P<yuan>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,12})"
                   r"(?:\.(?P<fen>[0-9]{1,2}))?$")  # 1,234.56 | 1234.5 | 12


def claim_rows(session: Session, supplier: Supplier) -> list[dict]:
    """The supplier's open claims, the earliest due first."""
    claims = session.scalars(select(Claim).where(
        Claim.merchant_id == supplier.merchant_id, Claim.counterparty_kind == "supplier",
        Claim.supplier_id == supplier.id, Claim.status.in_(OPEN))
        .options(selectinload(Claim.decision)).order_by(Claim.answer_due_at, Claim.id))
    rows = []
    for claim in claims:
        decision = claim.decision
        order = session.get(Order, decision.order_id) if decision.order_id else None
        notice = [claim.why_zh, f"已申诉 disputed: {claim.dispute_reason}"
                  if claim.status == "disputed" else None]
        rows.append({
            "section": "claim", "claim_id": claim.id, "fulfilment_id": decision.fulfilment_id,
            "return_case_id": decision.return_case_id,
            "platform_order_id": order.platform_order_id if order else "",
            "status": claim.status,
            "answer_by": claim.answer_due_at.isoformat() if claim.answer_due_at else "",
            "items": "; ".join(f"{x['sku']} x{x['quantity']}"
                               for x in decision.facts.get("goods", [])),
            "notice": " ".join(x for x in notice if x), "event": decision.event,
            "amount": yuan_text(claim.amount_minor), "amount_minor": claim.amount_minor,
            "currency": claim.currency})
    return rows


def parse_yuan(text: str) -> int:
    """``12``, ``12.5``, ``¥1,234.56``, ``１２．５元`` → fen, exactly; ``ValueError`` else."""
    value = unicodedata.normalize("NFKC", text).replace(" ", "")
    value = value.removeprefix("¥").removesuffix("元")
    found = _YUAN.match(value)
    if found is None:
        raise ValueError(text)
    return int(found["yuan"].replace(",", "")) * 100 + int((found["fen"] or "").ljust(2, "0"))


def claim_of(session: Session, check, supplier: Supplier) -> Claim | None:
    """The row's claim when it was sent to this supplier (a draft is not, yet)."""
    if check.claim_id is None:
        check.error("claim_id", "claim_id is required for this section")
        return None
    claim = session.get(Claim, check.claim_id)
    if (claim is None or claim.merchant_id != supplier.merchant_id
            or claim.counterparty_kind != "supplier" or claim.supplier_id != supplier.id
            or claim.status == "draft"):
        check.error("claim_id", f"claim {check.claim_id} is not a claim to supplier "
                    f"{supplier.code}")
        return None
    return claim


def check_answer(check, claim: Claim, answer: str, row: dict) -> None:
    """``accept`` (the amount, if given, above 0 and at most the claim) or ``dispute`` (a
    reason, no amount); an answer the claim already shows is ``unchanged``, one its status
    no longer allows an error."""
    check.reason = row.get("reason") or None
    raw = row.get("accepted_amount", "")
    if check.reason and len(check.reason) > 2000:
        check.error("reason", "a reason is at most 2000 characters")
    if answer == "dispute":
        check.action = "claim_dispute"
        if raw:
            check.error("accepted_amount", "a dispute accepts no amount: leave it empty, or "
                        "answer accept")
        if not check.reason:
            check.error("reason", "a dispute needs a reason")
    else:
        check.action = "claim_accept"
        try:
            check.amount_minor = parse_yuan(raw) if raw else None
        except ValueError:
            check.error("accepted_amount", f"accepted_amount {raw[:30]!r} is not an amount in "
                        "yuan with at most two decimals, e.g. 12.50")
        if check.amount_minor is not None and not 0 < check.amount_minor <= claim.amount_minor:
            check.error("accepted_amount", f"accepted_amount {raw[:30]} must be above 0 and at "
                        f"most the {yuan_text(claim.amount_minor)} claimed (to pay nothing, "
                        "answer dispute with a reason)")
    if check.outcome == "error":
        return
    amount = check.amount_minor or claim.amount_minor
    if answer == "dispute":
        event = "dispute"
        same = claim.status == "disputed" and claim.dispute_reason == check.reason
    else:
        event = "accept" if amount == claim.amount_minor else "accept_part"
        same = claim.status in ANSWERED and claim.accepted_minor == amount
    if same:
        check.outcome = "unchanged"
    elif not flow.CLAIM.can(claim.status, event):
        check.error("answer", f"claim {claim.id} is {claim.status}: it can no longer be "
                    f"{'disputed' if answer == 'dispute' else 'accepted'} (export a fresh "
                    "sheet)")


def apply(session: Session, check, actor: str) -> Claim:
    claim = session.get(Claim, check.claim_id)
    return flow.answer(session, claim, "dispute" if check.action == "claim_dispute"
                       else "accept", actor, amount_minor=check.amount_minor,
                       reason=check.reason)
