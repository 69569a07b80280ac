"""The electronic return file: the whole record of one case in one document.

``casefile(session, case) -> dict`` — ``case`` (ids, kind, reason, status, money in
integer minor units with its currency, times ISO 8601 UTC), ``lines``, ``parcels`` (the
buyer's return parcels with their tracking events) and ``timeline``: every event, each
``{at, source, actor, kind, action, details}``, ordered by time then id. ``source`` says
who: ``platform``, ``hub``, ``courier``, ``supplier:<id>``, ``policy:v<n>``, or the
merchant's own actor (``token:<id>:<role>``, ``cli``); ``actor`` is the raw actor.

The timeline holds the buyer's request and the platform record last applied; the audit
entries on the case and its return parcels, and those about stopping or taking back its
goods on its fulfilments and their outbound parcels since the request; the outbox
messages about all of these (topic, status, created, sent, the answer or last error) and
each delivery attempt, sourced to the party that answered; the policy's verdicts;
inspections (condition, grade, scores, disposition, photo hashes, barcode and serial
check); returns stock movements; alerts on the case; the parcels' tracking events.

A dispute with a buyer, platform or supplier is argued from the whole story, so it is
read in one place. Buyer contact never appears: the case holds none and no buyer column
of the order is read. Every query is scoped to the case's merchant, one per kind of record.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hub.models import (
    Account, Alert, ApiToken, AuditEntry, Binding, DeliveryAttempt, Fulfilment,
    FulfilmentLine, Inspection, Order, OutboxMessage, PolicyDecision, ReturnCase, Shipment,
    StockMovement, Supplier, TrackingEvent, User,
)

# what, on a fulfilment or its outbound parcel, is about the goods of a return
FULFILMENT_ACTIONS = ("fulfilment.stop_ship_", "fulfilment.dispatch_withdrawn",
                      "fulfilment.interception_", "fulfilment.parcel_coming_back",
                      "fulfilment.expected_return")
OUTBOUND_ACTIONS = ("shipment.interception_",)
FULFILMENT_TOPICS = ("stop_ship", "return_notice")
OUTBOUND_TOPICS = ("intercept",)


def utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def casefile(session: Session, case: ReturnCase) -> dict:
    m = case.merchant_id
    since = min(t for t in (case.requested_at, case.created_at) if t)
    fulfilment_ids = _fulfilment_ids(session, case)
    # an exchange's replacement, a reship, a repaired item: all of it is the case's
    second_ids = list(session.scalars(select(Fulfilment.id).where(
        Fulfilment.merchant_id == m, Fulfilment.return_case_id == case.id)))
    shipments = list(session.scalars(select(Shipment).where(
        Shipment.merchant_id == m, or_(
            and_(Shipment.return_case_id == case.id, Shipment.direction == "return"),
            and_(Shipment.fulfilment_id.in_(fulfilment_ids + second_ids),
                 Shipment.direction == "outbound"))).order_by(Shipment.id)))
    parcels = [x for x in shipments if x.direction == "return"
               or x.fulfilment_id in second_ids]
    parcel_ids = [x.id for x in parcels]
    outbound_ids = [x.id for x in shipments if x not in parcels]
    events = list(session.scalars(select(TrackingEvent).where(
        TrackingEvent.merchant_id == m, TrackingEvent.shipment_id.in_(parcel_ids))
        .order_by(TrackingEvent.occurred_at, TrackingEvent.id)))
    entries = list(session.scalars(select(AuditEntry).where(
        AuditEntry.merchant_id == m, or_(
            _about(AuditEntry, "return_case", [case.id]),
            _about(AuditEntry, "shipment", parcel_ids),
            and_(_about(AuditEntry, "fulfilment", fulfilment_ids), AuditEntry.at >= since,
                 _starts(AuditEntry.action, FULFILMENT_ACTIONS)),
            _about(AuditEntry, "fulfilment", second_ids),
            and_(_about(AuditEntry, "shipment", outbound_ids), AuditEntry.at >= since,
                 _starts(AuditEntry.action, OUTBOUND_ACTIONS))))))
    messages = list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.merchant_id == m, or_(
            _about(OutboxMessage, "return_case", [case.id]),
            _about(OutboxMessage, "shipment", parcel_ids),
            _about(OutboxMessage, "fulfilment", second_ids),
            and_(_about(OutboxMessage, "fulfilment", fulfilment_ids),
                 OutboxMessage.created_at >= since,
                 OutboxMessage.topic.in_(FULFILMENT_TOPICS)),
            and_(_about(OutboxMessage, "shipment", outbound_ids),
                 OutboxMessage.created_at >= since,
                 OutboxMessage.topic.in_(OUTBOUND_TOPICS))))))
    attempts = list(session.scalars(select(DeliveryAttempt).where(
        DeliveryAttempt.merchant_id == m,
        DeliveryAttempt.outbox_message_id.in_([x.id for x in messages]))))
    of_case = {model: list(session.scalars(select(model).where(
        model.merchant_id == m, model.return_case_id == case.id)))
        for model in (PolicyDecision, Inspection, StockMovement)}
    case_alerts = list(session.scalars(select(Alert).where(
        Alert.merchant_id == m, Alert.entity == "return_case", Alert.entity_id == case.id)))
    synced = session.execute(select(Binding.synced_at, Binding.remote_updated_at).where(
        Binding.merchant_id == m, Binding.account_id == case.shop_account_id,
        Binding.entity == "return", Binding.internal_id == case.id)).first()

    sources = _Sources(session, m, [e.actor for e in entries]
                       + [x.inspected_by for x in of_case[Inspection]]
                       + [x.actor for x in of_case[StockMovement]],
                       [x.account_id for x in messages])
    by_message, by_parcel = {x.id: x for x in messages}, {x.id: x for x in parcels}
    timeline = [
        *_case_events(case, synced),
        *(_entry(e.at, sources.of(e.actor), e.actor, "audit", e.action, e.id,
                 {**(e.changes or {}), "entity": e.entity, "entity_id": e.entity_id})
          for e in entries),
        *(_message(x, sources) for x in messages),
        *(_attempt(a, by_message[a.outbox_message_id], sources) for a in attempts),
        *(_decision(d) for d in of_case[PolicyDecision]),
        *(_inspection(x, sources) for x in of_case[Inspection]),
        *(_movement(x, sources) for x in of_case[StockMovement]),
        *(event for alert in case_alerts for event in _alert(alert)),
        *(_tracking(t, by_parcel[t.shipment_id]) for t in events),
    ]
    timeline.sort(key=lambda x: (datetime.fromisoformat(x["at"]), x["id"], x["kind"]))
    return {"case": _case(session, case), "lines": [_line(x) for x in case.lines],
            "parcels": [_parcel(x, [t for t in events if t.shipment_id == x.id])
                        for x in parcels],
            "timeline": timeline}


# -- what the case touches ----------------------------------------------------------------

def _fulfilment_ids(session: Session, case: ReturnCase) -> list[int]:
    """The fulfilments holding the case's lines (all of the order's when none is known),
    as ``hub.domain.fulfilment.fulfilments_for`` picks them, without loading the order."""
    if case.order_id is None:
        return []
    rows = session.execute(
        select(Fulfilment.id, FulfilmentLine.order_line_id)
        .outerjoin(FulfilmentLine, FulfilmentLine.fulfilment_id == Fulfilment.id)
        .where(Fulfilment.merchant_id == case.merchant_id,
               Fulfilment.order_id == case.order_id, Fulfilment.purpose == "order")).all()
    wanted = {line.order_line_id for line in case.lines if line.order_line_id}
    picked = {fid for fid, line_id in rows if line_id in wanted}
    return sorted(picked or {fid for fid, _ in rows})


def _about(model, entity: str, ids: list[int]):
    return and_(model.entity == entity, model.entity_id.in_(ids))


def _starts(column, prefixes):
    return or_(*(column.startswith(p, autoescape=True) for p in prefixes))


class _Sources:
    """Who an actor or an account is, as a timeline ``source`` (three queries at most)."""

    def __init__(self, session: Session, merchant_id: int, actors, account_ids):
        parts = [a.split(":") for a in actors if a]
        account_ids = set(account_ids) | {int(p[2]) for p in parts
                                          if p[0] == "connector" and len(p) == 3
                                          and p[2].isdigit()}
        ids = {kind: {int(p[1]) for p in parts if p[0] == kind and len(p) == 3
                      and p[1].isdigit() and p[2] == "supplier"} for kind in ("token", "user")}
        self.kinds = dict(session.execute(select(Account.id, Account.kind).where(
            Account.merchant_id == merchant_id, Account.id.in_(account_ids))).all()) \
            if account_ids else {}
        channels = [i for i, kind in self.kinds.items() if kind == "supplier"]
        self.suppliers = {channel: sid for sid, channel in session.execute(
            select(Supplier.id, Supplier.channel_account_id).where(
                Supplier.merchant_id == merchant_id,
                Supplier.channel_account_id.in_(channels))).all()} if channels else {}
        self.suppliers_of = {kind: dict(session.execute(select(row.id, row.supplier_id).where(
            row.merchant_id == merchant_id, row.id.in_(ids[kind]))).all()) if ids[kind] else {}
            for kind, row in (("token", ApiToken), ("user", User))}  # a supplier's people

    def account(self, account_id: int) -> str:
        kind = self.kinds.get(account_id)
        if kind == "supplier":
            sid = self.suppliers.get(account_id)
            return f"supplier:{sid}" if sid else "supplier"
        return kind or "unknown"

    def of(self, actor: str | None) -> str:
        parts = (actor or "").split(":")
        if parts[0] in ("hub", "job"):
            return "hub"
        if parts[0] == "connector" and len(parts) == 3 and parts[2].isdigit():
            return self.account(int(parts[2]))
        if parts[0] in ("token", "user") and len(parts) == 3 and parts[2] == "supplier":
            sid = self.suppliers_of[parts[0]].get(int(parts[1])) if parts[1].isdigit() else None
            return f"supplier:{sid}" if sid else "supplier"
        return actor or "unknown"  # policy:v3, supplier:2, token:5:operator, user:3:finance


# -- the document's parts ------------------------------------------------------------------

def _case(session: Session, case: ReturnCase) -> dict:
    order_number = session.scalar(select(Order.platform_order_id).where(
        Order.merchant_id == case.merchant_id, Order.id == case.order_id)) \
        if case.order_id else None
    return {
        "id": case.id, "platform_return_id": case.platform_return_id,
        "shop_account_id": case.shop_account_id, "order_id": case.order_id,
        "platform_order_id": order_number, "kind": case.kind, "status": case.status,
        "raw_status": case.raw_status, "reason_code": case.reason_code,
        "reason_text": case.reason_text, "reason_source": case.reason_source,
        "reason_confidence": case.reason_confidence, "refund_minor": case.refund_minor,
        "currency": case.currency, "freight_payer": case.freight_payer,
        "buyer_photos": case.buyer_photos, "flags": list(case.flags or []),
        **{name: utc(getattr(case, name)) for name in (
            "requested_at", "respond_by", "buyer_ship_by", "receive_by", "remote_updated_at",
            "created_at", "updated_at")}}


def _line(line) -> dict:
    return {"id": line.id, "order_line_id": line.order_line_id, "sku": line.sku,
            "quantity": line.quantity, "qty_received": line.qty_received,
            "qty_damaged": line.qty_damaged, "reason_code": line.reason_code}


def _parcel(shipment: Shipment, events) -> dict:
    return {"id": shipment.id, "direction": shipment.direction, "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number, "status": shipment.status,
            "raw_status": shipment.raw_status, "shipped_at": utc(shipment.shipped_at),
            "delivered_at": utc(shipment.delivered_at),
            "interception_status": shipment.interception_status,
            "subscription_status": shipment.subscription_status,
            "events": [{"at": utc(t.occurred_at), "status": t.status,
                        "raw_status": t.raw_status, "description": t.description,
                        "location": t.location} for t in events]}


def _entry(at, source, actor, kind, action, row_id, details) -> dict:
    return {"at": utc(at), "source": source, "actor": actor, "kind": kind,
            "action": action, "id": row_id, "details": details}


def _case_events(case: ReturnCase, synced) -> list[dict]:
    found = [_entry(case.created_at, "hub", None, "case", "case.recorded", case.id, {})]
    if case.requested_at:
        found.append(_entry(case.requested_at, "platform", None, "case", "case.requested",
                            case.id, {"kind": case.kind, "reason_code": case.reason_code,
                                      "refund_minor": case.refund_minor,
                                      "currency": case.currency}))
    if synced is not None and synced.synced_at is not None:
        found.append(_entry(synced.synced_at, "platform", None, "case",
                            "platform.record_applied", case.id,
                            {"remote_updated_at": utc(synced.remote_updated_at),
                             "raw_status": case.raw_status, "note": "the latest applied"}))
    return found


def _message(x: OutboxMessage, sources: _Sources) -> dict:
    return _entry(x.created_at, "hub", None, "message", f"message.{x.topic}", x.id, {
        "entity": x.entity, "entity_id": x.entity_id, "topic": x.topic,
        "to": sources.account(x.account_id), "connector": x.connector, "status": x.status,
        "attempts": x.attempts, "sent_at": utc(x.sent_at),
        "acknowledged_at": utc(x.acknowledged_at), "answer": x.result,
        "last_error_class": x.last_error_class, "last_error": x.last_error})


def _attempt(a: DeliveryAttempt, message: OutboxMessage, sources: _Sources) -> dict:
    return _entry(a.started_at, sources.account(message.account_id), None, "delivery",
                  f"delivery.{a.outcome}", a.id, {
                      "message_id": message.id, "topic": message.topic,
                      "attempt_no": a.attempt_no, "status_code": a.status_code,
                      "outcome": a.outcome, "duration_ms": a.duration_ms, "error": a.error,
                      "answer": a.response_excerpt})


def _decision(d: PolicyDecision) -> dict:
    source = f"policy:v{d.policy_version}"
    return _entry(d.at, source, source, "policy", f"policy.{d.outcome}", d.id, {
        "version": d.policy_version, "rule": d.rule, "outcome": d.outcome,
        "why_zh": d.why_zh, "why_en": d.why_en, "freight_payer": d.freight_payer,
        "acted": d.acted})


def _inspection(x: Inspection, sources: _Sources) -> dict:
    return _entry(x.received_at, sources.of(x.inspected_by), x.inspected_by, "inspection",
                  "inspection.recorded", x.id, {
                      "condition": x.condition, "grade": x.grade, "scores": x.scores or {},
                      "checklist": x.checklist or {}, "disposition": x.disposition,
                      "suggested_disposition": x.suggested_disposition,
                      "disposition_reason": x.disposition_reason,
                      "disposition_by": x.disposition_by, "photos": list(x.photos or []),
                      "barcode": x.barcode, "serial": x.serial,
                      "serial_matched": x.serial_matched, "notes": x.notes,
                      "resale_price_minor": x.resale_price_minor,
                      "repair_cost_minor": x.repair_cost_minor})


def _movement(x: StockMovement, sources: _Sources) -> dict:
    return _entry(x.at, sources.of(x.actor), x.actor, "stock", "stock.moved", x.id, {
        "location": x.location, "sku": x.sku, "grade": x.grade, "from_state": x.from_state,
        "to_state": x.to_state, "quantity": x.quantity, "inspection_id": x.inspection_id,
        "reason": x.reason})


def _alert(alert: Alert) -> list[dict]:
    details = {"alert_kind": alert.kind, "severity": alert.severity, "message": alert.message}
    found = [_entry(alert.created_at, "hub", None, "alert", "alert.raised", alert.id, details)]
    if alert.resolved_at:
        found.append(_entry(alert.resolved_at, "hub", None, "alert", "alert.resolved",
                            alert.id, {"alert_kind": alert.kind}))
    return found


def _tracking(t: TrackingEvent, parcel: Shipment) -> dict:
    return _entry(t.occurred_at, "courier", None, "tracking", f"tracking.{t.status}", t.id, {
        "shipment_id": parcel.id, "carrier": parcel.carrier,
        "tracking_number": parcel.tracking_number, "status": t.status,
        "raw_status": t.raw_status, "description": t.description, "location": t.location,
        "via": t.source})
