"""Stop-ship: telling a supplier not to ship, and what happens when it is too late.

Modelled on Shopify's fulfillment-order cancellation requests (a supplier may already
have shipped; suppliers-finance.md §1.6) and the ERPs' 截单 → 拦截 → 退货 chain (§2):

1. **Request** — a cancelled order (``OrderChanged``) or a refund for an order not
   yet delivered (``ReturnChanged``: ``refund_only`` requested/approved/refunded,
   ``return_refund`` requested/approved) stops the fulfilments holding the refunded lines
   at once, in the transaction that stored the change: ``cancel_requested``,
   ``cancel_requested_at``, ``cancel_answer_due_at = now + stop-ship SLA`` (the
   supplier's ``contract_terms["stop_ship_sla_hours"]``, else its ``sla_hours``) and a
   ``stop_ship`` notice that wakes the delivery worker on commit. A fulfilment already
   shipped is not asked: the courier is asked to intercept its parcel straight away.
2. **Answer** — ``answer_stop_ship(session, fulfilment, accepted, actor, ...)``:
   accepted → ``cancelled`` and the refund approved as policy allows: a ``refund_only``
   is approved automatically once every fulfilment holding its lines is cancelled (or
   was rejected by its supplier), unless the shop account's config sets
   ``auto_approve_refund_on_stop: false``; a ``return_refund`` waits for the goods
   (alert ``refund_needs_decision``). Rejected (or
   tracking handed back under a request) → ``cancel_rejected``, the tracking registered,
   and the courier asked to intercept (``hub.domain.tracking.shipments.request_interception``).
3. **Too late** — an interception that fails, or a parcel delivered despite a pending
   stop (``ShipmentTracked``, and ``sweep_interceptions`` from the SLA job as the
   backstop; a dead ``intercept`` push, ``MessageSettled``) →
   ``expected_return``, alert ``stop_ship_failed`` and a ``return_notice`` to the
   supplier (``hub.domain.returns.flow``). When no interception can be requested at all (no
   courier account that intercepts), alert ``interception_unavailable``.

Every step sets its fulfilment timestamp and appends an audit entry with the details:
the evidence for liability (§3.4). Each step is guarded by a conditional UPDATE on the
fulfilment's state, so repeated or concurrent webhooks do it once.
"""
from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, object_session

from hub.core.db import iso, utcnow
from hub.core.errors import Conflict
from hub.core.wakeup import current_var_dir
from hub.domain.fulfilment.shipping import outbound_shipment, record_shipment, validate_tracking
from hub.domain.fulfilment.states import FULFILMENT, SLA_ALERT, SLA_ANSWERED, guarded, late, move
from hub.domain.pushes import platform_actions, supplier_notices
from hub.domain.tracking import shipments as tracking
from hub.models import (
    Account, AuditEntry, Fulfilment, Order, OutboxMessage, ReturnCase, Shipment, Supplier, alerts,
    audit,
)
from hub.pipeline import events
from hub.pipeline.events import MessageSettled, OrderChanged, ReturnChanged, ShipmentTracked

ACTOR = "hub:stop_ship"
STOP_ON = {"refund_only": ("requested", "approved", "refunded"),
           "return_refund": ("requested", "approved")}
INTERCEPT_KIND = "return_to_sender"
COMING_BACK = ("refused", "returning", "returned", "intercepted")
APPROVAL_ACTION = "return_case.refund_approval_requested"
MAX_SLA_HOURS = 24 * 30.0  # as the supplier API's sla_hours


# -- 1. requests -----------------------------------------------------------------------------

def on_order_changed(session: Session, event: OrderChanged) -> None:
    order = event.order
    if order.status == "cancelled":
        stop_order(session, order, "order_cancelled")


def on_return_changed(session: Session, event: ReturnChanged) -> None:
    case = event.case
    if case.order_id is None or case.status not in STOP_ON.get(case.kind, ()):
        return
    order = session.get(Order, case.order_id)
    stop_order(session, order, "refund_requested", return_case=case)
    if case.status == "requested":
        apply_refund_policy(session, case, ACTOR)


def fulfilments_for(order: Order, case: ReturnCase | None) -> list[Fulfilment]:
    """The fulfilments holding the case's lines (all of the order's when unknown); an
    after-sale's second dispatch is not one of them."""
    everything = [f for f in order.fulfilments if f.purpose in (None, "order")]
    line_ids = {line.order_line_id for line in (case.lines if case else ()) if line.order_line_id}
    picked = [f for f in everything if any(x.order_line_id in line_ids for x in f.lines)]
    return picked or everything


def stop_order(session: Session, order: Order, reason: str, *, return_case=None,
               actor: str = ACTOR, var_dir: Path | None = None) -> list[Fulfilment]:
    if order.status in ("delivered", "completed"):
        return []  # delivered: an ordinary return, not a stop
    return [f for f in fulfilments_for(order, return_case)
            if request_stop(session, f, reason, actor=actor, var_dir=var_dir)]


def request_stop(session: Session, fulfilment: Fulfilment, reason: str, *,
                 actor: str = ACTOR, var_dir: Path | None = None) -> bool:
    """Ask the supplier to stop (or intercept at once if shipped); False if nothing to do."""
    if fulfilment.cancel_requested_at is not None or \
            not FULFILMENT.can(fulfilment.status, "request_stop"):
        return False
    shipment = outbound_shipment(session, fulfilment)
    if shipment is not None and shipment.status == "delivered":
        return False
    now = utcnow()
    if not guarded(session, fulfilment, Fulfilment.cancel_requested_at.is_(None)
                   & Fulfilment.status.in_(FULFILMENT.sources("request_stop")),
                   cancel_requested_at=now, cancel_reason=reason[:500]):
        return False
    supplier = session.get(Supplier, fulfilment.supplier_id)
    if fulfilment.status == "shipped":
        audit.record(session, fulfilment.merchant_id, actor, "fulfilment.stop_ship_requested",
                     "fulfilment", fulfilment.id,
                     {"requested_at": iso(now), "reason": reason, "already_shipped": True,
                      "shipped_at": iso(fulfilment.shipped_at)})
        intercept(session, fulfilment, shipment, actor=actor, var_dir=var_dir)
        return True
    hours = stop_ship_sla_hours(supplier)
    if fulfilment.escalated_at is not None:  # the dispatch deadline's escalation is history
        alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id,
                   why=SLA_ANSWERED)
    was, fulfilment.status = fulfilment.status, FULFILMENT.next(fulfilment.status, "request_stop")
    fulfilment.cancel_answer_due_at = now + timedelta(hours=hours)
    previous_escalation, fulfilment.escalated_at = fulfilment.escalated_at, None
    audit.record(session, fulfilment.merchant_id, actor, "fulfilment.stop_ship_requested",
                 "fulfilment", fulfilment.id,
                 {"requested_at": iso(now), "reason": reason, "already_shipped": False,
                  "answer_due_at": iso(fulfilment.cancel_answer_due_at), "sla_hours": hours,
                  "dispatch_escalated_at": iso(previous_escalation)})
    if was == "requested":  # unanswered: its dispatch may not have left yet
        _withdraw_dispatch(session, fulfilment, actor)
    supplier_notices.send(session, supplier, supplier_notices.STOP_SHIP, "fulfilment",
                          fulfilment.id, supplier_notices.stop_ship(fulfilment, fulfilment.order),
                          f"stop_ship:{iso(now)}", var_dir=current_var_dir(var_dir))
    return True


def _withdraw_dispatch(session: Session, fulfilment: Fulfilment, actor: str) -> None:
    """Cancel the fulfilment's dispatch if it never left (no attempt made, no worker
    holding it, not acknowledged), so it is never delivered for a stopped fulfilment; the
    stop-ship still goes (the supplier may have seen the order on its API or sheet). A
    dispatch that did leave stays, and the stop-ship follows it in order
    (``jobs.deliver_outbox.due``)."""
    withdrawn = session.scalars(update(OutboxMessage).where(
        OutboxMessage.merchant_id == fulfilment.merchant_id,
        OutboxMessage.topic == supplier_notices.ORDER_DISPATCH,
        OutboxMessage.entity == "fulfilment", OutboxMessage.entity_id == fulfilment.id,
        OutboxMessage.status == "pending", OutboxMessage.attempts == 0,
        OutboxMessage.lease_owner.is_(None), OutboxMessage.acknowledged_at.is_(None))
        .values(status="cancelled").returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)).all()
    if withdrawn:
        audit.record(session, fulfilment.merchant_id, actor, "fulfilment.dispatch_withdrawn",
                     "fulfilment", fulfilment.id,
                     {"outbox_message_ids": withdrawn, "withdrawn_at": iso(utcnow())})


def stop_ship_sla_hours(supplier: Supplier) -> float:
    """The hours a supplier has to answer a stop-ship: ``contract_terms.stop_ship_sla_hours``
    when it is a number in (0, 720], else its ``sla_hours`` (kept within 1..720) and an
    open ``supplier_terms_invalid`` alert, so a stored nonsense value costs no refund."""
    fallback = min(max(float(supplier.sla_hours or 24), 1.0), MAX_SLA_HOURS)
    terms = supplier.contract_terms or {}
    if "stop_ship_sla_hours" not in terms:
        return fallback
    value = terms["stop_ship_sla_hours"]
    try:
        hours = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        hours = math.nan
    if 0 < hours <= MAX_SLA_HOURS:  # False for nan
        return hours
    session = object_session(supplier)
    if session is not None:
        alerts.raise_alert(
            session, supplier.merchant_id, "supplier_terms_invalid", "supplier", supplier.id,
            f"supplier {supplier.code}: contract_terms.stop_ship_sla_hours {str(value)[:40]!r} "
            f"is not a number of hours in (0, {MAX_SLA_HOURS:g}]; stop-ships use its "
            f"sla_hours ({fallback:g} h) until it is corrected", supplier_id=supplier.id)
    return fallback


# -- 2. answers --------------------------------------------------------------------------------

def answer_stop_ship(session: Session, fulfilment: Fulfilment, accepted: bool, actor: str,
                     reason: str | None = None, carrier=None, tracking_number=None,
                     var_dir: Path | None = None) -> Fulfilment:
    """The supplier's answer; repeating an answer changes nothing (see the module doc)."""
    var_dir = current_var_dir(var_dir)
    if accepted:
        if fulfilment.status == "cancelled":
            return fulfilment
        now = utcnow()
        if not move(session, fulfilment, "accept_stop", cancel_answered_at=now):
            raise _no_request(fulfilment)
        audit.record(session, fulfilment.merchant_id, actor, "fulfilment.stop_ship_accepted",
                     "fulfilment", fulfilment.id,
                     {"answered_at": iso(now), "reason": reason,
                      "late": late(fulfilment.cancel_answer_due_at, now)})
        alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id,
                   why=SLA_ANSWERED)
        for case in session.scalars(select(ReturnCase).where(
                ReturnCase.order_id == fulfilment.order_id, ReturnCase.status == "requested")):
            apply_refund_policy(session, case, actor, var_dir)
        return fulfilment
    # rejected, or tracking handed back under a stop-ship request: validate first
    given = (validate_tracking(session, fulfilment, carrier, tracking_number)
             if (carrier or tracking_number) else None)
    current = outbound_shipment(session, fulfilment)
    if given and current and (current.carrier, current.tracking_number) != given[:2]:
        raise Conflict(f"fulfilment {fulfilment.id} already has tracking {current.carrier} "
                       f"{current.tracking_number}", details={"status": fulfilment.status})
    pending_stop = fulfilment.cancel_requested_at is not None
    if fulfilment.status == "cancel_requested":
        now = utcnow()
        if move(session, fulfilment, "reject_stop", cancel_answered_at=now,
                cancel_reject_reason=(reason or "already_shipped")[:500]):
            audit.record(session, fulfilment.merchant_id, actor, "fulfilment.stop_ship_rejected",
                         "fulfilment", fulfilment.id,
                         {"answered_at": iso(now), "reason": fulfilment.cancel_reject_reason,
                          "late": late(fulfilment.cancel_answer_due_at, now),
                          "carrier": given[0] if given else None,
                          "tracking_number": given[1] if given else None})
            alerts.resolve(session, fulfilment.merchant_id, SLA_ALERT, "fulfilment", fulfilment.id,
                   why=SLA_ANSWERED)
    elif not (pending_stop and fulfilment.status in ("cancel_rejected", "shipped")):
        raise _no_request(fulfilment)
    if given and current is None:
        current = record_shipment(session, fulfilment, given[0], given[1], actor, var_dir)
    intercept(session, fulfilment, current, actor=actor, var_dir=var_dir)
    return fulfilment


def _no_request(fulfilment: Fulfilment) -> Conflict:
    return Conflict(f"fulfilment {fulfilment.id} has no open stop-ship request (it is "
                    f"{fulfilment.status})", details={"status": fulfilment.status})



def _auto_approve(session: Session, case: ReturnCase) -> bool:
    shop = session.get(Account, case.shop_account_id)
    return bool((shop.config or {}).get("auto_approve_refund_on_stop", True)) if shop else True


def apply_refund_policy(session: Session, case: ReturnCase, actor: str,
                        var_dir: Path | None = None) -> bool:
    """Once every fulfilment holding the case's lines is stopped (cancelled, or rejected by
    the supplier: nothing ships): approve a ``refund_only`` (policy permitting), else alert
    the merchant. True when an approval was queued."""
    if case.status != "requested" or case.kind not in STOP_ON or case.order_id is None:
        return False
    order = session.get(Order, case.order_id)
    held = fulfilments_for(order, case)
    if not held or any(f.status not in ("cancelled", "rejected") for f in held):
        return False
    if case.kind == "refund_only" and _auto_approve(session, case):
        done = session.scalar(select(AuditEntry.id).where(
            AuditEntry.merchant_id == case.merchant_id, AuditEntry.entity == "return_case",
            AuditEntry.entity_id == case.id, AuditEntry.action == APPROVAL_ACTION).limit(1))
        if done is not None:
            return False  # asked once already: the outbox owns it now
        message = platform_actions.approve_refund(session, case,
                                                  var_dir=current_var_dir(var_dir))
        if message is not None:
            audit.record(session, case.merchant_id, actor, APPROVAL_ACTION, "return_case",
                         case.id, {"policy": "refund_only approved once the supplier stopped "
                                             "the goods", "fulfilment_ids": [f.id for f in held],
                                   "outbox_message_id": message.id,
                                   "requested_at": iso(utcnow())})
            session.flush()
            return True
    alerts.raise_alert(
        session, case.merchant_id, "refund_needs_decision", "return_case", case.id,
        f"Order {order.platform_order_id} was stopped before shipping; the {case.kind} "
        f"request {case.platform_return_id} awaits your decision.",
        details={"fulfilment_ids": [f.id for f in held], "kind": case.kind})
    return False


# -- 3. interception and its outcome ----------------------------------------------------------

def intercept(session: Session, fulfilment: Fulfilment, shipment: Shipment | None, *,
              actor: str = ACTOR, var_dir: Path | None = None) -> None:
    """Ask the courier to send the parcel back; no parcel known → the merchant is told."""
    if shipment is None:
        alerts.raise_alert(
            session, fulfilment.merchant_id, "stop_ship_no_tracking", "fulfilment",
            fulfilment.id, f"Order {fulfilment.order.platform_order_id} could not be stopped "
            "and the supplier gave no tracking number: the parcel cannot be intercepted.",
            severity="critical", supplier_id=fulfilment.supplier_id,
            details={"reason": fulfilment.cancel_reject_reason})
        return
    alerts.resolve(session, fulfilment.merchant_id, "stop_ship_no_tracking", "fulfilment",
                   fulfilment.id, why="the supplier gave the tracking number")
    if shipment.status == "delivered" or shipment.interception_status == "failed":
        check_interception(session, fulfilment, shipment)
        return
    if shipment.interception_status in ("requested", "succeeded"):
        return
    if shipment.status in COMING_BACK:  # refused or already on its way back: nothing to stop
        audit.record(session, fulfilment.merchant_id, actor, "fulfilment.parcel_coming_back",
                     "fulfilment", fulfilment.id, {"at": iso(utcnow()), "shipment_id": shipment.id,
                                                   "shipment_status": shipment.status})
        return
    try:
        tracking.request_interception(session, shipment, INTERCEPT_KIND,
                                      fulfilment.cancel_reason or "stop_ship", actor,
                                      current_var_dir(var_dir))
    except Conflict as e:  # no courier account can intercept, or the parcel is past it
        alerts.raise_alert(
            session, fulfilment.merchant_id, "interception_unavailable", "fulfilment",
            fulfilment.id, f"Order {fulfilment.order.platform_order_id}: parcel "
            f"{shipment.carrier} {shipment.tracking_number} must be stopped but no "
            f"interception could be requested ({e.message}). Contact the courier.",
            severity="critical", details={"shipment_id": shipment.id, "error": e.message})
        audit.record(session, fulfilment.merchant_id, actor,
                     "fulfilment.interception_unavailable", "fulfilment", fulfilment.id,
                     {"at": iso(utcnow()), "shipment_id": shipment.id, "error": e.message})
        return
    audit.record(session, fulfilment.merchant_id, actor, "fulfilment.interception_requested",
                 "fulfilment", fulfilment.id,
                 {"requested_at": iso(utcnow()), "shipment_id": shipment.id,
                  "carrier": shipment.carrier, "tracking_number": shipment.tracking_number,
                  "kind": INTERCEPT_KIND})


def on_shipment_tracked(session: Session, event: ShipmentTracked) -> None:
    shipment = event.shipment
    if shipment.direction == "outbound" and shipment.fulfilment_id is not None \
            and _got_through(shipment):
        check_interception(session, session.get(Fulfilment, shipment.fulfilment_id), shipment)


def on_intercept_settled(session: Session, event: MessageSettled) -> None:
    """A dead ``intercept`` push is a failed interception (``hub.domain.tracking`` records
    it first: ``hub.wiring`` subscribes it before this one)."""
    message = event.message
    if message.status == "dead" and message.entity == "shipment":
        shipment = session.get(Shipment, message.entity_id)
        if shipment is not None and shipment.fulfilment_id is not None:
            check_interception(session, session.get(Fulfilment, shipment.fulfilment_id),
                               shipment)


def _got_through(shipment: Shipment) -> bool:
    return shipment.interception_status == "failed" or shipment.status == "delivered"


def check_interception(session: Session, fulfilment: Fulfilment | None,
                       shipment: Shipment) -> bool:
    """A pending stop whose parcel could not be stopped becomes an expected return."""
    if fulfilment is None or fulfilment.cancel_requested_at is None or fulfilment.expected_return:
        return False
    if not _got_through(shipment):
        return False
    failed = shipment.interception_status == "failed"
    if not guarded(session, fulfilment, Fulfilment.expected_return.is_(False),
                   expected_return=True):
        return False
    cause = "interception_failed" if failed else "delivered_despite_stop"
    audit.record(session, fulfilment.merchant_id, ACTOR, "fulfilment.expected_return",
                 "fulfilment", fulfilment.id,
                 {"at": iso(utcnow()), "cause": cause, "shipment_id": shipment.id,
                  "shipment_status": shipment.status,
                  "interception_status": shipment.interception_status,
                  "fulfilment_status": fulfilment.status})
    alerts.raise_alert(
        session, fulfilment.merchant_id, "stop_ship_failed", "fulfilment", fulfilment.id,
        f"Order {fulfilment.order.platform_order_id}: parcel {shipment.carrier} "
        f"{shipment.tracking_number} could not be stopped ({cause}); it is now an expected "
        "return and the supplier was told.", severity="critical",
        details={"cause": cause, "shipment_id": shipment.id})
    events.publish(session, events.ExpectedReturn(fulfilment))
    return True


def sweep_interceptions(session: Session, limit: int = 100) -> int:
    """Backstop for ``on_shipment_tracked``: pending stops whose parcel got through."""
    rows = session.execute(
        select(Fulfilment, Shipment).join(Shipment, Shipment.fulfilment_id == Fulfilment.id)
        .where(Fulfilment.cancel_requested_at.is_not(None),
               Fulfilment.expected_return.is_(False), Shipment.direction == "outbound",
               or_(Shipment.interception_status == "failed", Shipment.status == "delivered"))
        .order_by(Fulfilment.id).limit(limit)).all()
    return sum(check_interception(session, f, shipment) for f, shipment in rows)
