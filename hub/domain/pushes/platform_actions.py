"""Business decisions pushed back to the shop platform, through the outbox.

    push_shipment(session, shipment)                    # the order shipped (or its number changed)
    approve_refund(session, return_case)                # refund-only: approve
    approve_return(session, return_case, address_id)    # goods come back to ``address_id``
    confirm_return_receipt(session, return_case)        # goods received (Kuaishou then refunds)
    reject_refund(session, return_case, reason_code, desc)

Each runs in the caller's transaction and enqueues one message on the shop account of the
order or return (``hub.pipeline.outbox.enqueue``; the version is derived from what is pushed, so
calling twice for the same state queues one message and every retry carries one
idempotency key), or answers None when the shop's connector cannot do it (nothing queued):

What a shop's connector takes is its class's ``push_topics`` (``connectors.base``):

* ``push_shipment``: ``shipment`` with the hub's payload ``{order_id, carrier,
  tracking_number}``; once a shipment of it was sent and the connector takes
  ``tracking_correction``, a changed number is a correction (+ ``previous_tracking_number``),
  else a new ``shipment`` version;
* the after-sales helpers describe the decision (``connectors.capabilities.ReturnDecision``)
  and the connector's ``return_message`` shapes it: by default the standard topics
  ``refund_approve``, ``return_approve``, ``return_receipt``, ``refund_reject``
  (``standard_return_message``); a connector with its own protocol overrides it (the hub
  JSON shop sends one ``return_decision`` and has no receipt step).

Outcomes: a ``shipment`` / ``tracking_correction`` message that dies because the platform
refused the waybill (the connector's error ``details.reason == "tracking_rejected"``,
Kuaishou result 11) raises alert ``platform_rejected_tracking`` on the shipment, with the
platform's reason, and ``supplier_id`` from the shipment's fulfilment so the supplier who
shipped sees it too; a later message for that shipment that is sent resolves it.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import registry
from connectors.capabilities import ReturnDecision
from hub.core.wakeup import current_var_dir
from hub.models import (
    Account, Binding, Fulfilment, Order, OutboxMessage, ReturnCase, Shipment, alerts,
)
from hub.pipeline.events import MessageSettled
from hub.pipeline.outbox import enqueue

TRACKING_ALERT = "platform_rejected_tracking"


def topics_for(account: Account) -> tuple[str, ...]:
    """The push topics of the account's connector (none if it cannot push)."""
    try:
        cls = registry.get(account.connector)
    except registry.UnknownConnector:
        return ()
    if cls.kind != "platform" or "push" not in cls.capabilities:
        return ()
    return tuple(cls.push_topics)


def _shop(session: Session, account_id: int | None) -> Account | None:
    return session.get(Account, account_id) if account_id else None


def _enqueue(session, account, topic, entity, entity_id, payload, version, var_dir):
    return enqueue(session, account, topic, entity, entity_id, payload, version,
                   var_dir=current_var_dir(var_dir))


# -- shipments --------------------------------------------------------------------------------
def _last_sent(session: Session, account: Account, shipment: Shipment) -> OutboxMessage | None:
    """The last shipment push the platform took for this parcel, or for an earlier
    outbound parcel of the same fulfilment (one whose waybill was corrected)."""
    parcels = [shipment.id] if shipment.fulfilment_id is None else select(Shipment.id).where(
        Shipment.fulfilment_id == shipment.fulfilment_id, Shipment.direction == "outbound")
    return session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.account_id == account.id, OutboxMessage.entity == "shipment",
            OutboxMessage.entity_id.in_(parcels), OutboxMessage.status == "sent",
            OutboxMessage.topic.in_(("shipment", "tracking_correction")))
        .order_by(OutboxMessage.id.desc()).limit(1))


def push_shipment(session: Session, shipment: Shipment,
                  var_dir: Path | None = None) -> OutboxMessage | None:
    """Tell the shop the order shipped with ``shipment``'s carrier and number."""
    order = session.get(Order, shipment.order_id) if shipment.order_id else None
    account = _shop(session, order.shop_account_id if order else None)
    if order is None or account is None or shipment.direction != "outbound":
        return None
    topics = topics_for(account)
    if "shipment" not in topics:
        return None
    payload = {"order_id": order.platform_order_id, "carrier": shipment.carrier,
               "tracking_number": shipment.tracking_number}
    version = f"{shipment.carrier}:{shipment.tracking_number}"
    sent = _last_sent(session, account, shipment)
    if sent is not None and "tracking_correction" in topics:
        previous = (sent.payload or {}).get("tracking_number")
        if previous == shipment.tracking_number and \
                (sent.payload or {}).get("carrier") == shipment.carrier:
            return sent  # the platform already has this number
        payload["previous_tracking_number"] = previous
        return _enqueue(session, account, "tracking_correction", "shipment", shipment.id,
                        payload, version, var_dir)
    return _enqueue(session, account, "shipment", "shipment", shipment.id, payload, version,
                    var_dir)


# -- after-sales --------------------------------------------------------------------------------
def _decide(session: Session, case: ReturnCase, decision: ReturnDecision,
            var_dir) -> OutboxMessage | None:
    """The shop connector shapes the decision (``return_message``); None: no such step.
    Its version gets the platform state the decision was made on (when the case's
    platform record was last applied), so the same decision asked twice is one message
    and a decision after the platform moved (the buyer changed a refused request) is a
    new one, whether or not the shop's records carry a timestamp."""
    account = _shop(session, case.shop_account_id)
    topics = topics_for(account) if account is not None else ()
    if not topics:
        return None
    message = registry.get(account.connector).return_message(decision)
    if message is None or message.topic not in topics:
        return None
    seen = session.scalar(select(Binding.synced_at).where(
        Binding.account_id == account.id, Binding.entity == "return",
        Binding.internal_id == case.id))
    return _enqueue(session, account, message.topic, "return_case", case.id, message.payload,
                    f"{message.version}@{seen.isoformat() if seen else ''}", var_dir)


def approve_refund(session: Session, return_case: ReturnCase,
                   var_dir: Path | None = None) -> OutboxMessage | None:
    """Approve a refund (refund only) for ``return_case.refund_minor``."""
    return _decide(session, return_case, ReturnDecision(
        "approve_refund", return_case.platform_return_id, return_case.refund_minor), var_dir)


def approve_return(session: Session, return_case: ReturnCase, address_id,
                   var_dir: Path | None = None,
                   instructions: str | None = None) -> OutboxMessage | None:
    """Approve a return; ``address_id`` is the platform's id of the return address of the
    party that will receive the goods (the supplier's warehouse, or the merchant's);
    ``instructions`` what the buyer is told, where the platform carries a message."""
    return _decide(session, return_case, ReturnDecision(
        "approve_return", return_case.platform_return_id, return_case.refund_minor,
        address_id=address_id, instructions=instructions), var_dir)


def confirm_return_receipt(session: Session, return_case: ReturnCase,
                           var_dir: Path | None = None) -> OutboxMessage | None:
    """Tell the platform the returned goods arrived (Kuaishou refunds the buyer at once)."""
    return _decide(session, return_case, ReturnDecision(
        "confirm_receipt", return_case.platform_return_id, return_case.refund_minor), var_dir)


def reject_refund(session: Session, return_case: ReturnCase, reason_code, desc: str | None = None,
                  var_dir: Path | None = None) -> OutboxMessage | None:
    """Reject with the platform's ``reason_code`` (Kuaishou: ``open.refund.reject.reason``)
    and an optional description."""
    return _decide(session, return_case, ReturnDecision(
        "reject", return_case.platform_return_id, return_case.refund_minor,
        reason_code=reason_code, desc=desc), var_dir)


# -- outcomes -----------------------------------------------------------------------------------
def on_tracking_settled(session: Session, event: MessageSettled) -> None:
    """Subscribed to the ``shipment`` and ``tracking_correction`` topics."""
    message = event.message
    if message.entity != "shipment":
        return
    shipment = session.get(Shipment, message.entity_id)
    if shipment is None:
        return
    if message.status == "sent":
        alerts.resolve(session, message.merchant_id, TRACKING_ALERT, "shipment", shipment.id,
                       why="the platform took the shipment")
        return
    error = (message.result or {}).get("error") or {}
    if message.status != "dead" or error.get("reason") != "tracking_rejected":
        return
    supplier_id = None
    if shipment.fulfilment_id is not None:
        supplier_id = session.scalar(select(Fulfilment.supplier_id).where(
            Fulfilment.id == shipment.fulfilment_id))
    payload = message.payload or {}
    said = error.get("platform_message") or message.last_error or "no reason given"
    alerts.raise_alert(
        session, message.merchant_id, TRACKING_ALERT, "shipment", shipment.id,
        f"The platform refused tracking number {payload.get('tracking_number')} "
        f"({payload.get('carrier')}) for order {payload.get('order_id')}: {said}. "
        "Check the carrier and number and submit the shipment again.",
        severity="critical", supplier_id=supplier_id,
        details={"order_id": payload.get("order_id"), "carrier": payload.get("carrier"),
                 "tracking_number": payload.get("tracking_number"),
                 "outbox_message_id": message.id, "platform_code": error.get("platform_code"),
                 "platform_message": error.get("platform_message")})
