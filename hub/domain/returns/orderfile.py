"""An order's whole story in one timeline, the return file's sibling (``casefile``).

``orderfile(session, order) -> {"timeline": [...]}`` — each entry ``{at, source, actor,
kind, action, id, details}`` as in the return file, ordered by time: the order placed,
paid and recorded; the audit entries on the order, its fulfilments and its parcels; the
outbox messages about them (to the platform, the supplier, the courier) with each
delivery attempt; alerts on them; the parcels' tracking events; the return cases opened
on it. Buyer contact never appears. Every query is scoped to the order's merchant.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.domain.returns.casefile import (
    _about, _alert, _attempt, _entry, _message, _Sources, _tracking,
)
from hub.models import (
    Alert, AuditEntry, DeliveryAttempt, Fulfilment, Order, OutboxMessage, ReturnCase,
    Shipment, TrackingEvent,
)


def orderfile(session: Session, order: Order) -> dict:
    m = order.merchant_id
    fulfilments = list(session.scalars(select(Fulfilment.id).where(
        Fulfilment.merchant_id == m, Fulfilment.order_id == order.id)))
    parcels = {x.id: x for x in session.scalars(select(Shipment).where(
        Shipment.merchant_id == m, Shipment.order_id == order.id,
        Shipment.direction == "outbound"))}
    subjects = (("order", [order.id]), ("fulfilment", fulfilments),
                ("shipment", list(parcels)))

    def about(model):
        return select(model).where(model.merchant_id == m, or_(
            *(_about(model, entity, ids) for entity, ids in subjects)))
    entries = list(session.scalars(about(AuditEntry)))
    messages = list(session.scalars(about(OutboxMessage)))
    attempts = list(session.scalars(select(DeliveryAttempt).where(
        DeliveryAttempt.merchant_id == m,
        DeliveryAttempt.outbox_message_id.in_([x.id for x in messages]))))
    alerts = list(session.scalars(about(Alert)))
    events = list(session.scalars(select(TrackingEvent).where(
        TrackingEvent.merchant_id == m, TrackingEvent.shipment_id.in_(list(parcels)))))
    cases = list(session.scalars(select(ReturnCase).where(
        ReturnCase.merchant_id == m, ReturnCase.order_id == order.id)))

    sources = _Sources(session, m, [e.actor for e in entries],
                       [x.account_id for x in messages])
    by_message = {x.id: x for x in messages}
    timeline = [
        *_order_events(order),
        *(_entry(e.at, sources.of(e.actor), e.actor, "audit", e.action, e.id,
                 {**(e.changes or {}), "entity": e.entity, "entity_id": e.entity_id})
          for e in entries),
        *(_message(x, sources) for x in messages),
        *(_attempt(a, by_message[a.outbox_message_id], sources) for a in attempts),
        *(event for alert in alerts for event in _alert(alert)),
        *(_tracking(t, parcels[t.shipment_id]) for t in events),
        *(_entry(c.requested_at or c.created_at, "platform", None, "case", "case.requested",
                 c.id, {"return_case_id": c.id, "kind": c.kind, "reason_code": c.reason_code,
                        "status": c.status}) for c in cases),
    ]
    timeline.sort(key=lambda x: (datetime.fromisoformat(x["at"]), x["id"], x["kind"]))
    return {"timeline": timeline}


def _order_events(order: Order) -> list[dict]:
    found = [_entry(order.created_at, "hub", None, "order", "order.recorded", order.id,
                    {"status": order.status})]
    for at, action in ((order.placed_at, "order.placed"), (order.paid_at, "order.paid")):
        if at is not None:
            found.append(_entry(at, "platform", None, "order", action, order.id,
                                {"total_minor": order.total_minor,
                                 "currency": order.currency}))
    return found
