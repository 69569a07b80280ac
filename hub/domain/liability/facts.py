"""What a liability decision is made from: the subject's records, read as facts and evidence.

``gather(session, merchant_id, event, subject_id, given) -> Case`` reads one subject (a
return case for ``return``; a shipment or a fulfilment for a parcel's events; a
fulfilment otherwise) and its order, fulfilment, supplier and outbound parcel, all
scoped to the merchant, and returns:

* ``facts``: what rules match on (``hub.domain.policy.liability``): ``event``, the
  reason's ``family`` and ``code``, the last inspection's ``condition``, ``grade`` and
  ``packaging_ok`` (its checklist's ``packaging`` answer), ``insured`` (freight insurance
  on the return; a declared value only caps a courier), ``in_time`` (the order reached the
  supplier at least its SLA before the platform's ship-by), ``stop`` (``accepted``,
  ``shipped_after_accept``, ``refused``, ``late``: how a stop-ship went).
* ``evidence``: the timeline entries and photo hashes those facts come from, in words
  (``{at, source, zh, en, sha256?}``), oldest first.
* the goods the event is about (``lines``: sku, quantity, unit cost, unit price).

``terms_for``: the liability terms for a supplier (``hub.domain.policy.liability``).
``given``: what the caller adds that no record holds: ``insured_value_minor`` (a declared
value), ``platform_penalty_minor`` (the penalty the platform levied).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.core.errors import ApiError, NotFound
from hub.domain.fulfilment import outbound_shipment
from hub.domain.policy import versions
from hub.domain.policy.liability import Terms
from hub.domain.reasons.taxonomy import family_of
from hub.models import (
    Fulfilment, FulfilmentLine, Inspection, Order, OrderLine, ReturnCase, Shipment,
    SkuMapping, Supplier, TrackingEvent,
)

SUBJECTS = {"return": "return_case", "lost_parcel": "shipment", "damaged_parcel": "shipment"}
MODELS = {"return_case": ReturnCase, "shipment": Shipment, "fulfilment": Fulfilment}
NOT_PICKED_UP = ("pending", "info_received", "unknown", "expired", "cancelled")


@dataclass
class Case:
    event: str
    subject: str  # return_case:12 | fulfilment:7 | shipment:3
    order: Order | None = None
    fulfilment: Fulfilment | None = None
    supplier: Supplier | None = None
    shipment: Shipment | None = None  # the outbound parcel
    return_case: ReturnCase | None = None
    facts: dict = field(default_factory=dict)
    evidence: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # [{sku, quantity, unit_cost, unit_price}]
    given: dict = field(default_factory=dict)
    picked_up_at: datetime | None = None  # the outbound parcel's first courier scan

    def note(self, at, source: str, zh: str, en: str, **more) -> None:
        if at is not None:
            self.evidence.append({"at": at.isoformat(), "source": source, "zh": zh, "en": en,
                                  **more})

    @property
    def carrier(self) -> str | None:
        return self.shipment.carrier if self.shipment is not None else None

    @property
    def currency(self) -> str:
        return self.order.currency if self.order is not None else "CNY"


def terms_for(session: Session, merchant_id: int, supplier: Supplier | None):
    """The terms deciding a merchant's cases with ``supplier``, and the policy version."""
    policy = versions.in_force(session, merchant_id)
    contract = (supplier.contract_terms or {}).get("liability") if supplier else None
    return Terms(policy.liability, contract), policy.version


def subject_kind(event: str) -> str:
    return SUBJECTS.get(event, "fulfilment")


def gather(session: Session, merchant_id: int, event: str, subject_id: int,
           given: dict | None = None) -> Case:
    kind = subject_kind(event)
    model = MODELS[kind]
    row = session.get(model, subject_id)
    if row is None or row.merchant_id != merchant_id:
        raise NotFound(f"no {kind.replace('_', ' ')} {subject_id}")
    case = Case(event, f"{kind}:{subject_id}", given=dict(given or {}))
    if kind == "return_case":
        case.return_case = row
        case.order = session.get(Order, row.order_id) if row.order_id else None
        case.fulfilment = _order_fulfilment(session, case.order, row)
    elif kind == "shipment":  # an outbound parcel, or a buyer's return parcel
        case.shipment = row
        case.return_case = session.get(ReturnCase, row.return_case_id) \
            if row.return_case_id else None
        order_id = row.order_id or (case.return_case.order_id if case.return_case else None)
        case.order = session.get(Order, order_id) if order_id else None
        case.fulfilment = session.get(Fulfilment, row.fulfilment_id) if row.fulfilment_id \
            else _order_fulfilment(session, case.order, case.return_case)
    else:
        case.fulfilment = row
    if case.fulfilment is not None:
        case.order = case.order or session.get(Order, case.fulfilment.order_id)
        case.supplier = session.get(Supplier, case.fulfilment.supplier_id)
        case.shipment = case.shipment or outbound_shipment(session, case.fulfilment)
    if case.order is None:
        raise ApiError(f"{case.subject} has no order: nothing to decide on", status=409,
                       code="conflict")
    case.facts = {"event": event}
    if case.return_case is not None:
        _return_facts(session, case)
    _order_facts(session, case)
    if case.fulfilment is not None:
        _stop_facts(case)
    case.facts["insured"] = bool(case.facts.get("insured"))  # freight insurance (运费险)
    case.lines = _lines(session, case)
    case.evidence.sort(key=lambda x: x["at"])
    return case


def _order_fulfilment(session: Session, order: Order | None,
                      case: ReturnCase | None) -> Fulfilment | None:
    """The fulfilment that shipped the case's lines (an order split between suppliers
    has one per supplier), else the order's first."""
    if order is None:
        return None
    line_ids = [x.order_line_id for x in case.lines if x.order_line_id] if case else []
    holding = select(FulfilmentLine.fulfilment_id).where(
        FulfilmentLine.order_line_id.in_(line_ids)) if line_ids else None
    stmt = select(Fulfilment).where(
        Fulfilment.merchant_id == order.merchant_id, Fulfilment.order_id == order.id,
        Fulfilment.purpose == "order").order_by(Fulfilment.id).limit(1)
    found = session.scalar(stmt.where(Fulfilment.id.in_(holding))) if holding is not None \
        else None
    return found or session.scalar(stmt)


def _return_facts(session: Session, case: Case) -> None:
    rc = case.return_case
    case.facts.update(family=family_of(rc.reason_code), code=rc.reason_code,
                      insured=rc.freight_payer == "platform")
    words = f"“{rc.reason_text}”" if rc.reason_text else ""
    case.note(rc.requested_at or rc.created_at, "platform",
              f"买家申请{rc.kind}，原因 {rc.reason_code} {words}".strip(),
              f"the buyer asked for {rc.kind}, reason {rc.reason_code} {words}".strip())
    inspection = session.scalar(select(Inspection).where(
        Inspection.merchant_id == rc.merchant_id, Inspection.return_case_id == rc.id)
        .order_by(Inspection.id.desc()).limit(1))
    if inspection is None:
        return
    packaging = (inspection.checklist or {}).get("packaging")
    case.facts.update(condition=inspection.condition, grade=inspection.grade,
                      packaging_ok=packaging if isinstance(packaging, bool) else None)
    case.note(inspection.received_at, inspection.inspected_by,
              f"验货：状态 {inspection.condition}，等级 {inspection.grade or '—'}"
              + ("，包装不合格" if packaging is False else ""),
              f"inspection: {inspection.condition}, grade {inspection.grade or '—'}"
              + (", packaging inadequate" if packaging is False else ""),
              inspection_id=inspection.id)
    for digest in inspection.photos or []:
        case.note(inspection.received_at, inspection.inspected_by, "验货照片", "inspection photo",
                  sha256=digest)


def first_scan(session: Session, parcel: Shipment):
    """When the courier first had the parcel: its earliest event past ``NOT_PICKED_UP``."""
    return session.scalar(select(func.min(TrackingEvent.occurred_at)).where(
        TrackingEvent.merchant_id == parcel.merchant_id,
        TrackingEvent.shipment_id == parcel.id, TrackingEvent.status.not_in(NOT_PICKED_UP)))


def _order_facts(session: Session, case: Case) -> None:
    order, f, parcel = case.order, case.fulfilment, case.shipment
    case.note(order.paid_at, "platform", f"订单 {order.platform_order_id} 付款",
              f"order {order.platform_order_id} paid")
    if order.ship_by is not None:
        case.note(order.ship_by, "platform", "平台承诺发货时限", "the platform's ship-by time")
    if f is None:
        return
    supplier = case.supplier
    case.note(f.requested_at, "hub", f"订单发送给供应商 {supplier.code}",
              f"order sent to supplier {supplier.code}")
    case.note(f.accepted_at, f"supplier:{supplier.id}", "供应商接单", "the supplier accepted")
    case.note(f.shipped_at, f"supplier:{supplier.id}", "供应商回传运单号",
              "the supplier reported its waybill")
    reached = f.requested_at
    case.facts["in_time"] = (order.ship_by is None or reached is None
                             or reached + timedelta(hours=supplier.sla_hours) <= order.ship_by)
    if parcel is None:
        return
    case.picked_up_at = first_scan(session, parcel)
    case.note(case.picked_up_at, "courier", f"{parcel.carrier} {parcel.tracking_number} 揽收",
              f"{parcel.carrier} {parcel.tracking_number} picked up (the courier's first scan)")
    case.note(parcel.delivered_at, "courier", "签收", "delivered")
    case.note(parcel.last_event_at, "courier", f"最新物流状态 {parcel.status}",
              f"latest tracking status {parcel.status}")


def _stop_facts(case: Case) -> None:
    f = case.fulfilment
    if f.cancel_requested_at is None:
        return
    source = f"supplier:{f.supplier_id}"
    case.note(f.cancel_requested_at, "hub", f"请求截单：{f.cancel_reason or ''}",
              f"stop-ship requested: {f.cancel_reason or ''}")
    picked = case.picked_up_at
    if f.status == "cancelled":
        case.note(f.cancel_answered_at, source, "供应商同意截单", "the supplier accepted the stop")
        late_pickup = picked is not None and f.cancel_answered_at is not None \
            and picked > f.cancel_answered_at
        case.facts["stop"] = "shipped_after_accept" if late_pickup else "accepted"
    elif f.status == "cancel_rejected":
        case.note(f.cancel_answered_at, source, f"供应商拒绝截单：{f.cancel_reject_reason or ''}",
                  f"the supplier refused the stop: {f.cancel_reject_reason or ''}")
        case.facts["stop"] = "refused"
    else:
        case.facts["stop"] = "late"  # asked after shipping, or never answered


def _lines(session: Session, case: Case) -> list[dict]:
    """The goods: a return's lines, else the fulfilment's, with price and contract cost
    per unit (None when unknown — none set, or in another currency: the price counts)."""
    if case.return_case is not None:
        wanted = [(x.sku, x.quantity, x.order_line_id) for x in case.return_case.lines]
    elif case.fulfilment is not None:
        wanted = [(ol.sku, fl.quantity, ol.id) for fl, ol in session.execute(
            select(FulfilmentLine, OrderLine).join(
                OrderLine, OrderLine.id == FulfilmentLine.order_line_id).where(
                FulfilmentLine.fulfilment_id == case.fulfilment.id))]
    else:
        wanted = [(x.sku, x.quantity, x.id) for x in case.order.lines]
    prices = {x.id: x.unit_price_minor for x in case.order.lines}
    by_sku = {x.sku: x.unit_price_minor for x in case.order.lines}
    costs = {}
    if case.supplier is not None:  # a cost in another currency, or none set, is unknown
        costs = {sku: cost for sku, cost, currency in session.execute(
            select(SkuMapping.sku, SkuMapping.unit_cost_minor, SkuMapping.currency).where(
                SkuMapping.merchant_id == case.order.merchant_id,
                SkuMapping.supplier_id == case.supplier.id,
                SkuMapping.sku.in_([w[0] for w in wanted])))
            if cost and currency == case.order.currency}
    return [{"sku": sku, "quantity": qty,
             "unit_price": prices.get(line_id, by_sku.get(sku, 0)),
             "unit_cost": costs.get(sku)} for sku, qty, line_id in wanted]
