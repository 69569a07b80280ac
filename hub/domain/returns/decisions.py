"""The merchant's decisions on a return case, pushed to its shop platform.

    approve(session, case, actor, address_id=None)   # refund_only: approve the refund;
                                                     # return_refund / exchange: the return
    reject(session, case, actor, reason_code, description=None)
    refund(session, case, actor)                     # the goods are back: confirm the receipt

Deciding is one of the three separate steps of a return (DESIGN.md §5: receiving the
goods, deciding, moving money). Each call runs in the caller's transaction, enqueues the
push through ``hub.domain.pushes.platform_actions`` (outbox) and appends an audit entry
(``return_case.approve_requested`` | ``reject_requested`` | ``refund_requested``, with the
outbox message, the case's status and ``remote_updated_at`` it was decided on). The case's
status is not changed here: it is the platform's, and moves when the platform's update
comes back (``hub.pipeline.sync``). Each answers a ``Decision``; ``Conflict`` (409) when the case's
state does not allow it:

| decision | allowed when the case is | already done (nothing queued) |
|---|---|---|
| approve | ``requested`` (kinds ``refund_only``, ``return_refund``, ``exchange``, ``repair``) | approved or further on; ``refunded`` / ``resolved`` |
| reject | ``requested``; a return's receipt: ``return_in_transit``, ``received``, ``inspected`` | ``rejected`` |
| refund | ``received`` / ``inspected`` (kind ``return_refund``: a platform like Kuaishou refunds on the receipt) | ``refunded`` |

* **Address** of an approved return (``return_refund``, ``exchange``, ``repair``): ``address_id`` as
  given; else the receiver's ``ReturnAddress`` with the platform's id
  (``instructions.address_for``: the supplier(s) that shipped the goods, else the
  merchant's warehouse; kept on the case as ``return_address_id``); else the suppliers'
  ``contract_terms["return_address_id"]`` (422 when none is set or they differ: give
  ``address_id``); else the platform's default (the merchant's). Shops whose protocol
  takes no address (hub JSON) ignore it.
* **Idempotent**: the same call again queues nothing new (the outbox version is derived
  from what is pushed) and records no second audit entry; a decision of the same kind
  already sent and not yet answered by the platform is answered as it is. A *different*
  decision while one is in flight — pushed for the case as the platform still shows it,
  the message pending or sent — is a 409, and so is a rejection once a receipt
  confirmation (which refunds) is queued or sent.
* A shop whose connector cannot make the push is a 409 too (e.g. a hub JSON shop has no
  receipt step: its refund follows the approval on the shop's side).
* Deciding resolves the case's ``refund_needs_decision`` and ``return_needs_decision``
  alerts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.db import iso, utcnow
from hub.core.errors import ApiError, Conflict
from hub.domain.fulfilment import APPROVAL_ACTION
from hub.domain.pushes import platform_actions
from hub.domain.returns import flow as returns_flow, instructions
from hub.domain.returns.states import BEFORE_RECEIPT
from hub.models import Account, AuditEntry, Binding, OutboxMessage, ReturnCase, alerts, audit
from hub.pipeline.events import MessageSettled

DECIDED_KINDS = ("refund_only", "return_refund", "exchange", "repair")
GOODS_BACK = ("return_refund", "exchange", "repair")
ACTIONS = {"approve": "return_case.approve_requested", "reject": "return_case.reject_requested",
           "refund": "return_case.refund_requested"}
TOPIC_DECISIONS = {"refund_approve": "approve", "return_approve": "approve",
                   "refund_reject": "reject", "return_receipt": "refund"}
LIVE = ("pending", "sent")
ALERTS = ("refund_needs_decision", "return_needs_decision")
FAILED_ALERT = "return_decision_failed"
DECISION_TOPICS = (*TOPIC_DECISIONS, "return_decision")
ALREADY = {
    ("approve", "refund_only"): ("approved", "refunded"),
    ("approve", "return_refund"): ("approved", "awaiting_return", "return_in_transit",
                                   "received", "inspected", "refunded", "resolved"),
    ("approve", "exchange"): ("approved", "awaiting_return", "return_in_transit", "received",
                              "inspected", "resolved"),
    ("approve", "repair"): ("approved", "awaiting_return", "return_in_transit", "received",
                            "inspected", "resolved"),
    ("reject", None): ("rejected",),
    ("refund", None): ("refunded",),
}


@dataclass
class Decision:
    """What a decision did: ``message`` is the push (None when the platform already
    shows the decision and the hub never pushed one); ``queued`` whether this call
    queued it; ``address_id`` / ``address_source`` (``request``, ``return_address``,
    ``supplier_contract``, ``platform_default``, ``not_used``) for an approved return."""

    decision: str
    case: ReturnCase
    message: OutboxMessage | None
    queued: bool = False
    address_id: str | None = None
    address_source: str | None = None


# -- the three decisions -------------------------------------------------------------------

def approve(session: Session, case: ReturnCase, actor: str, address_id=None,
            var_dir: Path | None = None) -> Decision:
    _decidable(case, "approve")
    if case.status in _already("approve", case.kind):
        return _done(session, case, "approve")
    if case.status != "requested":
        raise _conflict(case, "approve", f"it is {case.status}" + (
            "; it can be approved again once the buyer changes the request"
            if case.status == "rejected" else ""))
    early = _check_in_flight(session, case, "approve")
    if early is not None:
        return early
    if case.kind == "refund_only":
        return _push(session, case, actor, "approve",
                     lambda: platform_actions.approve_refund(session, case, var_dir=var_dir),
                     {})
    address, source = _return_address(session, case, address_id)
    told = instructions.message(instructions.for_case(session, case))
    return _push(session, case, actor, "approve",
                 lambda: platform_actions.approve_return(session, case, address,
                                                         var_dir=var_dir, instructions=told),
                 {"address_id": address, "address_source": source})


def reject(session: Session, case: ReturnCase, actor: str, reason_code, description=None,
           var_dir: Path | None = None) -> Decision:
    _decidable(case, "reject")
    if case.status in _already("reject", case.kind):
        return _done(session, case, "reject")
    receipt = case.kind in GOODS_BACK and case.status in (
        "return_in_transit", "received", "inspected")
    if case.status != "requested" and not receipt:
        why = {"approved": "it was approved", "awaiting_return": "it was approved"}.get(
            case.status, f"it is {case.status}")
        if case.status in ("approved", "awaiting_return") and case.kind in GOODS_BACK:
            why += " and the goods are not back yet: reject the receipt once they arrive"
        raise _conflict(case, "reject", why)
    account = session.get(Account, case.shop_account_id)
    if "refund_reject" in platform_actions.topics_for(account) and \
            not _ascii_digits(str(reason_code).strip()):
        raise ApiError("the reason code must be the platform's numeric rejection reason "
                       "(Kuaishou: open.refund.reject.reason)", code="validation_error",
                       status=422, details={"reason_code": ["must be a number"]})
    early = _check_in_flight(session, case, "reject")
    if early is not None:
        return early
    reason_code = str(reason_code).strip()
    return _push(session, case, actor, "reject",
                 lambda: platform_actions.reject_refund(session, case, reason_code, description,
                                                        var_dir=var_dir),
                 {"reason_code": reason_code, "description": description,
                  "receipt_refused": receipt})


def refund(session: Session, case: ReturnCase, actor: str,
           var_dir: Path | None = None) -> Decision:
    if case.kind != "return_refund":
        raise _conflict(case, "refund", "only a return_refund is refunded once its goods are "
                        "back" + ("; a refund_only is refunded by approving it"
                                  if case.kind == "refund_only" else ""))
    if case.status in _already("refund", case.kind):
        return _done(session, case, "refund")
    if case.status not in ("received", "inspected"):
        why = f"it is {case.status}"
        if case.status in ("requested", *BEFORE_RECEIPT):
            why += ": the goods have not been received (the supplier's receipt or the " \
                   "return parcel's delivery records it)"
        raise _conflict(case, "refund", why)
    early = _check_in_flight(session, case, "refund")
    if early is not None:
        return early
    return _push(session, case, actor, "refund",
                 lambda: platform_actions.confirm_return_receipt(session, case, var_dir=var_dir),
                 {})


# -- rules -----------------------------------------------------------------------------------

def _decidable(case: ReturnCase, decision: str) -> None:
    if case.kind not in DECIDED_KINDS:
        raise _conflict(case, decision, f"a {case.kind} case is settled on the platform, "
                        "not decided through the hub")


def _already(decision: str, kind: str) -> tuple[str, ...]:
    return ALREADY.get((decision, kind)) or ALREADY.get((decision, None), ())


def _conflict(case: ReturnCase, decision: str, why: str) -> Conflict:
    return Conflict(f"return {case.platform_return_id} cannot be {_past(decision)}: {why}",
                    details={"status": case.status, "kind": case.kind})


def _past(decision: str) -> str:
    return {"approve": "approved", "reject": "rejected", "refund": "refunded"}[decision]


def _decision_of(message: OutboxMessage) -> str | None:
    if message.topic == "return_decision":
        return (message.payload or {}).get("decision")
    return TOPIC_DECISIONS.get(message.topic)


def _messages(session: Session, case: ReturnCase) -> list[OutboxMessage]:
    """The case's decision pushes to its shop, newest first."""
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.merchant_id == case.merchant_id, OutboxMessage.entity == "return_case",
        OutboxMessage.entity_id == case.id,
        OutboxMessage.topic.in_(DECISION_TOPICS))
        .order_by(OutboxMessage.id.desc())))


def _platform_moved_since(session: Session, case: ReturnCase, at) -> bool:
    """Whether a platform record of the case was applied after ``at``."""
    synced = session.scalar(select(Binding.synced_at).where(
        Binding.account_id == case.shop_account_id, Binding.entity == "return",
        Binding.internal_id == case.id))
    return synced is not None and synced > at


def _in_flight(session: Session, case: ReturnCase) -> tuple[str, OutboxMessage] | None:
    """The last decision pushed for the case, when the platform has not moved since (no
    record of the case applied after it) and its message is pending or sent; a receipt
    confirmation counts whatever came since."""
    for message in _messages(session, case):
        if message.topic == "return_receipt" and message.status in LIVE:
            return "refund", message
    entry = session.scalar(select(AuditEntry).where(
        AuditEntry.merchant_id == case.merchant_id, AuditEntry.entity == "return_case",
        AuditEntry.entity_id == case.id,
        AuditEntry.action.in_((*ACTIONS.values(), APPROVAL_ACTION)))
        .order_by(AuditEntry.id.desc()).limit(1))
    if entry is None:
        return None
    changes = entry.changes or {}
    # the stop-ship policy's automatic approval, or the merchant's decision
    decision = "approve" if entry.action == APPROVAL_ACTION else changes.get("decision")
    same = not _platform_moved_since(session, case, entry.at)
    message = session.get(OutboxMessage, changes["outbox_message_id"]) \
        if same and changes.get("outbox_message_id") else None
    if message is None or message.status not in LIVE:
        return None
    return decision, message


def _check_in_flight(session: Session, case: ReturnCase, decision: str) -> Decision | None:
    """409 for a different decision in flight; the one in flight when it is this decision
    and already sent (the platform has it); None to go on and push (the same push again
    is the same message; a corrected one, e.g. another address, replaces it unsent)."""
    flight = _in_flight(session, case)
    if flight is None:
        return None
    pending, message = flight
    if pending != decision:
        raise _conflict(case, decision, f"it was already asked to be {_past(pending)} "
                        f"(outbox message {message.id}, {message.status}); wait for the "
                        "platform's answer")
    if message.status == "sent":
        return Decision(decision, case, message)
    return None


def _return_address(session: Session, case: ReturnCase, given) -> tuple[str | None, str]:
    if given not in (None, ""):
        return str(given), "request"
    account = session.get(Account, case.shop_account_id)
    if "return_approve" not in platform_actions.topics_for(account):
        return None, "not_used"
    address = instructions.address_for(session, case)
    if address is not None and address.platform_address_id:
        case.return_address_id = address.id
        return address.platform_address_id, "return_address"
    suppliers = returns_flow.receiving_suppliers(session, case)
    if not suppliers:
        return None, "platform_default"
    found = {str(x.contract_terms["return_address_id"]) for x in suppliers
             if (x.contract_terms or {}).get("return_address_id") not in (None, "")}
    missing = [x.code for x in suppliers
               if (x.contract_terms or {}).get("return_address_id") in (None, "")]
    if len(found) == 1 and not missing:
        return found.pop(), "supplier_contract"
    why = (f"supplier(s) {', '.join(missing)} have no return address with the platform's id"
           if missing else "the suppliers' return addresses differ")
    raise ApiError(f"the goods of return {case.platform_return_id} go back to the supplier, "
                   f"but {why}: add one (POST /api/v1/return-addresses, or sync the shop's "
                   "with POST /api/v1/shops/<id>/return-addresses/sync and assign it) or give "
                   "address_id", code="validation_error", status=422,
                   details={"address_id": ["required: no single supplier return address"]})


# -- doing it --------------------------------------------------------------------------------

def _done(session: Session, case: ReturnCase, decision: str) -> Decision:
    """The platform already shows the decision: the hub's push for it, if any."""
    message = next((m for m in _messages(session, case) if _decision_of(m) == decision), None)
    return Decision(decision, case, message)


def _push(session: Session, case: ReturnCase, actor: str, decision: str, push,
          details: dict) -> Decision:
    before = {m.id for m in _messages(session, case)}
    message = push()
    if message is None:
        account = session.get(Account, case.shop_account_id)
        raise _conflict(case, decision, f"its shop's connector "
                        f"({account.connector if account else 'none'}) cannot push this "
                        "decision" + ("; the refund follows the approval on the shop's side"
                                      if decision == "refund" else ""))
    queued = message.id not in before
    if queued:
        alerts.resolve(session, case.merchant_id, FAILED_ALERT, "return_case", case.id,
                       why=f"decided again: {decision}", actor=actor)
        audit.record(session, case.merchant_id, actor, ACTIONS[decision], "return_case",
                     case.id, {"decision": decision, "outbox_message_id": message.id,
                               "topic": message.topic, "status": case.status,
                               "remote_updated_at": iso(case.remote_updated_at),
                               "requested_at": iso(utcnow()), **details})
        for kind in ALERTS:
            alerts.resolve(session, case.merchant_id, kind, "return_case", case.id,
                           why=f"decided: {decision}", actor=actor)
    session.flush()
    return Decision(decision, case, message, queued, details.get("address_id"),
                    details.get("address_source"))


def on_decision_settled(session: Session, event: MessageSettled) -> None:
    """A decision the platform refused for good (its message dead, e.g. "cannot be
    rejected, status 30") is an alert on the case, with the platform's reason: the case
    stays as the platform shows it and the merchant decides again."""
    message = event.message
    if message.status != "dead" or message.entity != "return_case":
        return
    case = session.get(ReturnCase, message.entity_id)
    if case is None:
        return
    said = message.last_error or message.last_error_class or "no reason given"
    alerts.raise_alert(
        session, case.merchant_id, FAILED_ALERT, "return_case", case.id,
        f"The platform refused the {_decision_of(message) or message.topic} of return "
        f"{case.platform_return_id}: {said}. The case is as the platform shows it; decide "
        "again.", severity="critical",
        details={"outbox_message_id": message.id, "topic": message.topic,
                 "error_class": message.last_error_class})


def _ascii_digits(text: str) -> bool:
    """``0``-``9`` only: ``str.isdigit`` also takes ``²`` and other digits ``int`` refuses."""
    return text.isascii() and text.isdigit()
