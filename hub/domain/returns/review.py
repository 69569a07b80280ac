"""Automatic review: the policy in force decides a new request, and says why.

**Request** (``ReturnChanged``, a case that has just become ``requested``: new, or the
buyer changed a refused request): the policy in force (``hub.domain.policy``) is
evaluated on the case's facts and its verdict kept as a ``PolicyDecision`` (version,
rule, why in Chinese and English, who pays the return freight; the freight payer is
also set on the case). An ``approve`` verdict is acted on through
``decisions.approve`` as actor ``policy:v<version>`` (a ``reship``, which the platform
does not decide, is dispatched again: ``resolutions``) — except a ``refund_only`` whose
goods are still held by a supplier: stop-ship approves it once they are stopped
(``hub.domain.fulfilment.stopship``), so money never leaves before the goods are
safe. An approval the hub cannot make (no return address, a decision already in
flight) leaves the case to the merchant: alert ``return_needs_decision`` with why.

**Fast refund** (``ShipmentTracked``): when the policy enables it, a ``return_refund``
whose return parcel the courier has picked up is refunded at once (the receipt is
confirmed on the platform) if its refund is within ``max_refund_minor`` and the buyer
has at most ``max_returns_90d`` other after-sales in 90 days — the trusted case; the
verdict is kept like any other (rule ``fast_refund``).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.errors import ApiError
from hub.domain.fulfilment import fulfilments_for
from hub.domain.policy import review, versions
from hub.domain.pushes import platform_actions
from hub.domain.returns import decisions, resolutions
from hub.models import AuditEntry, Order, PolicyDecision, ReturnCase, alerts, audit
from hub.pipeline.events import ReturnChanged, ShipmentTracked

HELD = ("requested", "accepted", "cancel_requested")
PICKED_UP = ("picked_up", "in_transit", "in_customs", "out_for_delivery",
             "available_for_pickup", "delivered")
FAST_REFUND_ACTION = "return_case.fast_refund_requested"


def on_return_changed(session: Session, event: ReturnChanged) -> None:
    case = event.case
    if case.status != "requested" or event.previous_status == "requested":
        return
    policy = versions.in_force(session, case.merchant_id)
    verdict = review.evaluate(policy, review.facts_of(session, case))
    case.freight_payer = verdict.freight_payer
    decision = _keep(session, case, verdict)
    if verdict.outcome == "approve" and case.kind == "reship":  # the hub's decision alone
        decision.acted = resolutions.dispatch_again(
            session, case, f"policy:v{verdict.version}", quiet=True) is not None
        return
    if verdict.outcome != "approve" or case.kind not in decisions.DECIDED_KINDS \
            or _held_by_supplier(session, case):
        return
    try:
        with session.begin_nested():
            decisions.approve(session, case, f"policy:v{verdict.version}")
    except ApiError as refused:
        alerts.raise_alert(
            session, case.merchant_id, "return_needs_decision", "return_case", case.id,
            f"The policy approves return {case.platform_return_id} ({verdict.why_en}), but "
            f"the hub could not: {refused.message}", details={"rule": verdict.rule})
        return
    decision.acted = True


def on_shipment_tracked(session: Session, event: ShipmentTracked) -> None:
    shipment = event.shipment
    if shipment.direction != "return" or shipment.return_case_id is None \
            or shipment.status not in PICKED_UP:
        return
    case = session.get(ReturnCase, shipment.return_case_id)
    if case is None or case.kind != "return_refund" or case.status not in (
            "awaiting_return", "return_in_transit"):
        return
    policy = versions.in_force(session, case.merchant_id)
    fast = policy.fast_refund
    if not fast["enabled"] or case.refund_minor > fast["max_refund_minor"] or _asked(
            session, case):
        return
    facts = review.facts_of(session, case)
    if facts.returns_90d > fast["max_returns_90d"]:
        return
    message = platform_actions.confirm_return_receipt(session, case)
    if message is None:
        return
    yuan = f"{case.refund_minor / 100:.2f}"
    verdict = review.Verdict(
        "fast_refund", "fast_refund",
        f"极速退款：快递已揽收，退款{yuan}元不超过{fast['max_refund_minor'] / 100:.2f}元，"
        f"买家90天内售后{facts.returns_90d}次",
        f"fast refund: the courier picked the parcel up, ¥{yuan} is within "
        f"¥{fast['max_refund_minor'] / 100:.2f} and the buyer had {facts.returns_90d} "
        "other after-sales in 90 days", case.freight_payer or "", policy.version)
    _keep(session, case, verdict).acted = True
    audit.record(session, case.merchant_id, f"policy:v{policy.version}", FAST_REFUND_ACTION,
                 "return_case", case.id, {"outbox_message_id": message.id,
                                          "shipment_id": shipment.id})


def latest(session: Session, case: ReturnCase) -> PolicyDecision | None:
    return session.scalar(select(PolicyDecision).where(
        PolicyDecision.merchant_id == case.merchant_id,
        PolicyDecision.return_case_id == case.id).order_by(PolicyDecision.id.desc()).limit(1))


def _keep(session: Session, case: ReturnCase, verdict: review.Verdict) -> PolicyDecision:
    decision = PolicyDecision(
        merchant_id=case.merchant_id, return_case_id=case.id, policy_version=verdict.version,
        rule=verdict.rule, outcome=verdict.outcome, why_zh=verdict.why_zh,
        why_en=verdict.why_en, freight_payer=verdict.freight_payer or None)
    session.add(decision)
    return decision


def _held_by_supplier(session: Session, case: ReturnCase) -> bool:
    """A refund whose goods a supplier has not yet stopped or shipped."""
    if case.kind != "refund_only" or case.order_id is None:
        return False
    held = fulfilments_for(session.get(Order, case.order_id), case)
    return any(f.status in HELD for f in held)


def _asked(session: Session, case: ReturnCase) -> bool:
    return session.scalar(select(AuditEntry.id).where(
        AuditEntry.merchant_id == case.merchant_id, AuditEntry.entity == "return_case",
        AuditEntry.entity_id == case.id, AuditEntry.action == FAST_REFUND_ACTION)
        .limit(1)) is not None
