"""The analytics rollups (``hub.models.analytics``), rebuilt a span of days at a time.

``rebuild(session, merchant_id, first, last, zone)`` deletes the rows of the days
``first``..``last`` (days in the merchant's zone) and writes them again from the source
tables, reading each table once for the whole span; ``changed_days`` says which days rows
changed since a time touch (every day with data when there is no time yet), ``spans``
groups them into runs of consecutive days of at most ``SPAN_DAYS``. The
``analytics_rollup`` job (``jobs/analytics_rollup.py``) runs all three.

What a day counts, in the merchant's zone: the orders placed that day (not those never
paid), the returns requested that day, the dispatches requested, the stop-ships asked,
the claims sent; a return's inspection counts on the day the return was requested. The
supplier of an order line is the one its latest fulfilment (not rejected) went to.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, func, insert, select

from hub.core.db import utcnow
from hub.models import (
    Claim, Fulfilment, FulfilmentLine, Inspection, Order, OrderLine, ReturnCase, ReturnLine,
)
from hub.models.analytics import SCORES, RegionDay, ReturnDay, SalesDay, SupplierDay

TABLES = (SalesDay, ReturnDay, RegionDay, SupplierDay)
SPAN_DAYS = 31  # the days one transaction rebuilds, at most
DAMAGED = ("damaged", "missing_parts")
# each source row changed touches the days of these times
TOUCHES = ((Order, (Order.placed_at,)), (ReturnCase, (ReturnCase.requested_at,)),
           (Fulfilment, (Fulfilment.requested_at, Fulfilment.cancel_requested_at)),
           (Claim, (Claim.created_at,)))


def window(day: date, zone) -> tuple[datetime, datetime]:
    """The day's start and end in UTC (a day with a clock change is 23 or 25 hours)."""
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def changed_days(session, merchant_id: int, since: datetime | None, zone) -> list[date]:
    if since is None:
        first = session.scalar(select(func.min(Order.placed_at)).where(
            Order.merchant_id == merchant_id))
        if first is None:
            return []
        today = utcnow().astimezone(zone).date()
        start = first.astimezone(zone).date()
        return [start + timedelta(days=n) for n in range((today - start).days + 1)]
    stamps = []
    for model, times in TOUCHES:
        for row in session.execute(select(*times).where(
                model.merchant_id == merchant_id, model.updated_at >= since)):
            stamps += row
    stamps += session.scalars(select(Order.placed_at).join(
        Fulfilment, Fulfilment.order_id == Order.id).where(  # a line's supplier, later
        Fulfilment.merchant_id == merchant_id, Fulfilment.updated_at >= since))
    return sorted({x.astimezone(zone).date() for x in stamps if x is not None})


def spans(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days, each at most ``SPAN_DAYS`` long."""
    found: list[tuple[date, date]] = []
    for day in days:
        if found and day - found[-1][1] == timedelta(days=1) \
                and (day - found[-1][0]).days < SPAN_DAYS:
            found[-1] = (found[-1][0], day)
        else:
            found.append((day, day))
    return found


class _Span:
    """The days ``first``..``last`` in a zone: their bounds in UTC and the day of a time."""

    def __init__(self, first: date, last: date, zone):
        self.first, self.last, self.zone = first, last, zone
        self.start, self.end = window(first, zone)[0], window(last, zone)[1]

    def day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def holds(self, column) -> list:
        return [column >= self.start, column < self.end]


def rebuild(session, merchant_id: int, first: date, last: date, zone) -> None:
    span = _Span(first, last, zone)
    for model in TABLES:
        session.execute(delete(model).where(model.merchant_id == merchant_id,
                                            model.day >= first, model.day <= last))
    rows = _sales_and_returns(session, merchant_id, span)
    rows[SupplierDay] = _scorecards(session, merchant_id, span)
    for model, values in rows.items():
        for n in range(0, len(values), 5000):
            session.execute(insert(model), [{**v, "merchant_id": merchant_id}
                                            for v in values[n:n + 5000]])


def _suppliers(session, merchant_id: int, where) -> dict[int, int]:
    """order line id → the supplier of its latest fulfilment that was not rejected."""
    return dict(session.execute(
        select(FulfilmentLine.order_line_id, Fulfilment.supplier_id)
        .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .where(Fulfilment.merchant_id == merchant_id, Fulfilment.purpose == "order",
               Fulfilment.status != "rejected", where).order_by(Fulfilment.id)).all())


def _sales_and_returns(session, merchant_id: int, span: _Span) -> dict:
    placed = select(Order.id).where(Order.merchant_id == merchant_id,
                                    *span.holds(Order.placed_at),
                                    Order.status != "pending_payment")
    supplier_of = _suppliers(session, merchant_id, Fulfilment.order_id.in_(placed))
    sales, regions = defaultdict(lambda: [set(), 0]), defaultdict(lambda: [set(), set()])
    for order_id, at, shop, province, line_id, sku, quantity in session.execute(
            select(Order.id, Order.placed_at, Order.shop_account_id, Order.province_code,
                   OrderLine.id, OrderLine.sku, OrderLine.quantity)
            .join(OrderLine, OrderLine.order_id == Order.id).where(Order.id.in_(placed))):
        day, supplier = span.day(at), supplier_of.get(line_id)
        sales[day, shop, supplier, sku][0].add(order_id)
        sales[day, shop, supplier, sku][1] += quantity
        regions[day, shop, supplier, province or ""][0].add(order_id)
    rc = ReturnCase
    returned = session.execute(
        select(rc.id, rc.requested_at, rc.shop_account_id, rc.reason_code, Order.province_code,
               ReturnLine.sku, ReturnLine.quantity, ReturnLine.reason_code,
               ReturnLine.order_line_id)
        .outerjoin(ReturnLine, ReturnLine.return_case_id == rc.id)
        .outerjoin(Order, Order.id == rc.order_id)
        .where(rc.merchant_id == merchant_id, *span.holds(rc.requested_at))).all()
    supplier_of = _line_suppliers(session, merchant_id, {x[8] for x in returned})
    reasons = defaultdict(lambda: [set(), 0])
    for case_id, at, shop, case_reason, province, sku, quantity, reason, line_id in returned:
        day, supplier = span.day(at), supplier_of.get(line_id)
        key = (day, shop, supplier, sku or "", reason or case_reason)
        reasons[key][0].add(case_id)
        reasons[key][1] += quantity or 0
        regions[day, shop, supplier, province or ""][1].add(case_id)
    return {
        SalesDay: [{"day": day, "shop_account_id": shop, "supplier_id": supplier, "sku": sku,
                    "orders": len(ids), "units": units}
                   for (day, shop, supplier, sku), (ids, units) in sales.items()],
        ReturnDay: [{"day": day, "shop_account_id": shop, "supplier_id": supplier, "sku": sku,
                     "reason_code": reason, "returns": len(ids), "units": units}
                    for (day, shop, supplier, sku, reason), (ids, units) in reasons.items()],
        RegionDay: [{"day": day, "shop_account_id": shop, "supplier_id": supplier,
                     "province_code": p, "orders": len(orders), "returns": len(cases)}
                    for (day, shop, supplier, p), (orders, cases) in regions.items()]}


def _line_suppliers(session, merchant_id: int, line_ids: set) -> dict[int, int]:
    ids = sorted(x for x in line_ids if x is not None)
    found: dict[int, int] = {}
    for n in range(0, len(ids), 5000):  # bounded IN lists
        found.update(_suppliers(session, merchant_id,
                                FulfilmentLine.order_line_id.in_(ids[n:n + 5000])))
    return found


def _scorecards(session, merchant_id: int, span: _Span) -> list[dict]:
    cards = defaultdict(lambda: dict.fromkeys(SCORES, 0))
    f = Fulfilment
    for supplier, asked, shipped in session.execute(select(
            f.supplier_id, f.requested_at, f.shipped_at).where(
            f.merchant_id == merchant_id, f.purpose == "order", *span.holds(f.requested_at))):
        card = cards[span.day(asked), supplier]
        card["dispatched"] += 1
        if shipped is not None:
            card["shipped"] += 1
            card["ship_seconds"] += max(0, int((shipped - asked).total_seconds()))
    for supplier, asked, answered, status in session.execute(select(
            f.supplier_id, f.cancel_requested_at, f.cancel_answered_at, f.status).where(
            f.merchant_id == merchant_id, *span.holds(f.cancel_requested_at))):
        card = cards[span.day(asked), supplier]
        card["stops_asked"] += 1
        card["stops_made"] += status == "cancelled"
        if answered is not None:
            card["stops_answered"] += 1
            card["stop_answer_seconds"] += max(0, int((answered - asked).total_seconds()))
    _inspections(session, merchant_id, span, cards)
    for supplier, created, status in session.execute(select(
            Claim.supplier_id, Claim.created_at, Claim.status).where(
            Claim.merchant_id == merchant_id, Claim.counterparty_kind == "supplier",
            Claim.sent_at.is_not(None), *span.holds(Claim.created_at))):
        card = cards[span.day(created), supplier]
        card["claims_sent"] += 1
        card["claims_answered"] += status not in ("sent", "acknowledged")
        card["claims_accepted"] += status in ("accepted", "partly_accepted", "settled")
    return [{"day": day, "supplier_id": supplier, **card}
            for (day, supplier), card in cards.items() if supplier is not None]


def _inspections(session, merchant_id: int, span: _Span, cards) -> None:
    """Each return of a supplier's goods inspected: damaged or not, and how long it took
    from the request (its first inspection)."""
    rc = ReturnCase
    found = session.execute(
        select(rc.id, rc.requested_at, Inspection.received_at, Inspection.condition,
               ReturnLine.order_line_id)
        .join(Inspection, Inspection.return_case_id == rc.id)
        .join(ReturnLine, ReturnLine.return_case_id == rc.id)
        .where(rc.merchant_id == merchant_id, *span.holds(rc.requested_at))
        .order_by(Inspection.id)).all()
    supplier_of = _line_suppliers(session, merchant_id, {x[4] for x in found})
    seen = set()
    for case_id, asked, received, condition, line_id in found:
        supplier = supplier_of.get(line_id)
        if supplier is None or (case_id, supplier) in seen:
            continue
        seen.add((case_id, supplier))
        card = cards[span.day(asked), supplier]
        card["inspected"] += 1
        card["damaged"] += condition in DAMAGED
        card["handling_seconds"] += max(0, int((received - asked).total_seconds()))
