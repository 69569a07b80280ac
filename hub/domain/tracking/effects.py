"""What a tracking change does beyond the shipment: the order moves, the merchant is
alerted, and the supplier who cares gets a notice.

``on_shipment_tracked`` is subscribed to ``ShipmentTracked`` (``hub.wiring``), so it runs
in the transaction that applies the courier's record, and what it queues commits with
it; the event says what changed.

Outbound parcels (supplier → buyer):

* ``delivered`` → the order becomes ``delivered`` if the platform has not moved it
  further (only from ``paid`` / ``shipped``); notice ``delivered``;
* ``refused`` / ``returning`` / ``returned``, or ``intercepted`` by a return-to-sender
  interception → the fulfilment's ``expected_return`` is set, alert ``parcel_returning``
  (the supplier sees it too), notice with the status as its kind.

Return parcels (buyer → supplier or warehouse) move their return case: that is the
returns room's (``hub.domain.returns.flow.on_shipment_tracked``), with ``notice`` from here.

Either direction: ``exception`` (lost, damaged, stalled...), ``expired`` and
``cancelled`` raise alert ``parcel_problem`` (resolved when the parcel moves on); a
failed interception raises ``interception_failed``. Monitoring states go to
``hub.domain.tracking.shipments.after_monitoring`` (re-subscription).

Notices are outbox messages, topic ``tracking_notice``, entity ``shipment``, on the
supplier's channel account (``Supplier.channel_account_id``) — only when that account's
connector declares the capability ``tracking_notice``. Payload::

    {"kind", "shipment_id", "direction", "carrier", "tracking_number", "status",
     "raw_status", "occurred_at", "platform_order_id", "fulfilment_id",
     "supplier_reference", "return_case_id", "expected_return"}

The version is ``<kind>:<status>:<event time>``, so a replayed push queues nothing new.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from connectors import registry
from hub.core.db import iso, utcnow
from hub.core.wakeup import current_var_dir
from hub.domain.tracking import shipments as tracking
from hub.models import Account, Fulfilment, Order, OutboxMessage, Shipment, Supplier, alerts, audit
from hub.pipeline.events import ShipmentTracked
from hub.pipeline.outbox import enqueue
from hub.pipeline.sync import lock

ACTOR = "hub:tracking"
COMING_BACK = ("refused", "returning", "returned")
ON_THE_WAY = ("picked_up", "in_transit", "in_customs", "out_for_delivery",
              "available_for_pickup", "delivery_failed", "exception")
NOT_MOVING = ("pending", "info_received", "unknown")
PROBLEMS = ("exception", "expired", "cancelled")
NOTICE_TOPIC = "tracking_notice"


def fulfilment_of(session: Session, shipment: Shipment, order: Order | None) -> Fulfilment | None:
    if shipment.fulfilment_id is not None:
        return session.get(Fulfilment, shipment.fulfilment_id)
    if order is None:
        return None
    candidates = [f for f in order.fulfilments if f.status not in ("rejected", "cancelled")]
    return candidates[0] if len({f.supplier_id for f in candidates}) == 1 else None


def notice(session: Session, shipment: Shipment, kind: str, order: Order | None,
           fulfilment: Fulfilment | None) -> OutboxMessage | None:
    """Queue a ``tracking_notice`` to the fulfilment's supplier, if its channel takes one."""
    supplier = session.get(Supplier, fulfilment.supplier_id) if fulfilment else None
    if supplier is None or supplier.channel_account_id is None:
        return None
    account = session.get(Account, supplier.channel_account_id)
    if account is None or account.status == "disabled":
        return None
    try:
        if NOTICE_TOPIC not in registry.get(account.connector).capabilities:
            return None
    except registry.UnknownConnector:
        return None
    payload = {"kind": kind, "shipment_id": shipment.id, "direction": shipment.direction,
               "carrier": shipment.carrier, "tracking_number": shipment.tracking_number,
               "status": shipment.status, "raw_status": shipment.raw_status,
               "occurred_at": iso(shipment.last_event_at),
               "platform_order_id": order.platform_order_id if order else None,
               "fulfilment_id": fulfilment.id, "supplier_reference":
                   fulfilment.supplier_reference, "return_case_id": shipment.return_case_id,
               "expected_return": bool(fulfilment.expected_return)}
    version = f"{kind}:{shipment.status}:{iso(shipment.last_event_at)}"
    return enqueue(session, account, NOTICE_TOPIC, "shipment", shipment.id, payload, version,
                   var_dir=current_var_dir())


def _intercepted_back(shipment: Shipment) -> bool:
    return shipment.status == "intercepted" and \
        (shipment.raw_status or "").startswith("intercept:RETURN")


def _outbound(session: Session, shipment: Shipment) -> None:
    status = shipment.status
    if status not in ("delivered", *COMING_BACK) and not _intercepted_back(shipment):
        return                        # on its way: nothing to move, nobody to tell
    order = session.get(Order, shipment.order_id) if shipment.order_id else None
    fulfilment = fulfilment_of(session, shipment, order)
    if status == "delivered":
        if order is not None and lock(session, order).status in ("paid", "shipped"):
            audit.record(session, order.merchant_id, ACTOR, "order.delivered", "order",
                         order.id, {"status": [order.status, "delivered"],
                                    "shipment_id": shipment.id})
            order.status = "delivered"
        notice(session, shipment, "delivered", order, fulfilment)
    elif status in COMING_BACK or _intercepted_back(shipment):
        if fulfilment is not None and not fulfilment.expected_return:
            fulfilment.expected_return = True
            audit.record(session, shipment.merchant_id, ACTOR, "fulfilment.expected_return",
                         "fulfilment", fulfilment.id, {"shipment_id": shipment.id,
                                                       "shipment_status": status})
        what = {"refused": "was refused by the buyer", "returning": "is returning to the "
                "sender", "returned": "was returned to the sender"}.get(
                    status, "was intercepted and is coming back")
        alerts.raise_alert(session, shipment.merchant_id, "parcel_returning", "shipment",
                           shipment.id, f"parcel {shipment.tracking_number} ({shipment.carrier}) "
                           f"{what}", details={"status": status, "order_id": shipment.order_id},
                           supplier_id=fulfilment.supplier_id if fulfilment else None)
        notice(session, shipment, status, order, fulfilment)


def _problems(session: Session, shipment: Shipment, change: ShipmentTracked) -> None:
    problem = shipment.status in PROBLEMS or \
        (shipment.direction == "return" and shipment.status in COMING_BACK)
    if problem:
        latest = change.values.events[-1].description if change.values.events else ""
        alerts.raise_alert(session, shipment.merchant_id, "parcel_problem", "shipment",
                           shipment.id, f"parcel {shipment.tracking_number} "
                           f"({shipment.carrier}) is {shipment.status}"
                           + (f": {latest}" if latest else ""),
                           details={"status": shipment.status,
                                    "raw_status": shipment.raw_status,
                                    "direction": shipment.direction})
    elif change.previous_status in PROBLEMS:
        alerts.resolve(session, shipment.merchant_id, "parcel_problem", "shipment", shipment.id,
                       why=f"the parcel moved on: {shipment.status}")


def on_shipment_tracked(session: Session, change: ShipmentTracked) -> None:
    shipment = change.shipment
    if change.monitoring_changed:
        tracking.after_monitoring(session, shipment, change.values, utcnow())
    if change.interception == "failed":
        alerts.raise_alert(session, shipment.merchant_id, "interception_failed", "shipment",
                           shipment.id, f"the courier could not intercept parcel "
                           f"{shipment.tracking_number} ({shipment.carrier}); it goes on "
                           f"as {shipment.status}", details={"status": shipment.status})
    elif change.interception == "succeeded":
        alerts.resolve(session, shipment.merchant_id, "interception_failed", "shipment",
                       shipment.id, why="the interception succeeded")
    if change.status_changed:
        if shipment.direction == "outbound":
            _outbound(session, shipment)
        _problems(session, shipment, change)
