"""The analytics rollups (``hub.models.analytics``), rebuilt a day at a time.

``rebuild_day(session, merchant_id, day, zone)`` deletes a day's rows (the day in the
merchant's zone) and writes them again from the source tables; ``changed_days`` says
which days rows changed since a time touch (every day with data when there is no time
yet). The ``analytics_rollup`` job (``jobs/analytics_rollup.py``) runs both.

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


def rebuild_day(session, merchant_id: int, day: date, zone) -> None:
    start, end = window(day, zone)
    for model in TABLES:
        session.execute(delete(model).where(model.merchant_id == merchant_id,
                                            model.day == day))
    rows = {SalesDay: [], ReturnDay: [], RegionDay: [], SupplierDay: []}
    _sales_and_returns(session, merchant_id, start, end, rows)
    rows[SupplierDay] = _scorecards(session, merchant_id, start, end)
    for model, values in rows.items():
        if values:
            session.execute(insert(model), [{**v, "merchant_id": merchant_id, "day": day}
                                            for v in values])


def _suppliers(session, merchant_id: int, where) -> dict[int, int]:
    """order line id → the supplier of its latest fulfilment that was not rejected."""
    return dict(session.execute(
        select(FulfilmentLine.order_line_id, Fulfilment.supplier_id)
        .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .where(Fulfilment.merchant_id == merchant_id, Fulfilment.purpose == "order",
               Fulfilment.status != "rejected", where).order_by(Fulfilment.id)).all())


def _sales_and_returns(session, merchant_id, start, end, rows) -> None:
    placed = select(Order.id).where(Order.merchant_id == merchant_id, Order.placed_at >= start,
                                    Order.placed_at < end, Order.status != "pending_payment")
    supplier_of = _suppliers(session, merchant_id, Fulfilment.order_id.in_(placed))
    sales, regions = defaultdict(lambda: [set(), 0]), defaultdict(lambda: [set(), set()])
    for order_id, shop, province, line_id, sku, quantity in session.execute(
            select(Order.id, Order.shop_account_id, Order.province_code, OrderLine.id,
                   OrderLine.sku, OrderLine.quantity)
            .join(OrderLine, OrderLine.order_id == Order.id).where(Order.id.in_(placed))):
        supplier = supplier_of.get(line_id)
        sales[shop, supplier, sku][0].add(order_id)
        sales[shop, supplier, sku][1] += quantity
        regions[shop, supplier, province or ""][0].add(order_id)
    rc = ReturnCase
    returned = session.execute(
        select(rc.id, rc.shop_account_id, rc.reason_code, Order.province_code, ReturnLine.sku,
               ReturnLine.quantity, ReturnLine.reason_code, ReturnLine.order_line_id)
        .outerjoin(ReturnLine, ReturnLine.return_case_id == rc.id)
        .outerjoin(Order, Order.id == rc.order_id)
        .where(rc.merchant_id == merchant_id, rc.requested_at >= start,
               rc.requested_at < end)).all()
    line_ids = {x[7] for x in returned if x[7] is not None}
    supplier_of = _suppliers(session, merchant_id, FulfilmentLine.order_line_id.in_(line_ids)) \
        if line_ids else {}
    reasons = defaultdict(lambda: [set(), 0])
    for case_id, shop, case_reason, province, sku, quantity, reason, line_id in returned:
        supplier = supplier_of.get(line_id)
        key = (shop, supplier, sku or "", reason or case_reason)
        reasons[key][0].add(case_id)
        reasons[key][1] += quantity or 0
        regions[shop, supplier, province or ""][1].add(case_id)
    rows[SalesDay] = [{"shop_account_id": shop, "supplier_id": supplier, "sku": sku,
                       "orders": len(ids), "units": units}
                      for (shop, supplier, sku), (ids, units) in sales.items()]
    rows[ReturnDay] = [{"shop_account_id": shop, "supplier_id": supplier, "sku": sku,
                        "reason_code": reason, "returns": len(ids), "units": units}
                       for (shop, supplier, sku, reason), (ids, units) in reasons.items()]
    rows[RegionDay] = [{"shop_account_id": shop, "supplier_id": supplier, "province_code": p,
                        "orders": len(orders), "returns": len(cases)}
                       for (shop, supplier, p), (orders, cases) in regions.items()]


def _scorecards(session, merchant_id, start, end) -> list[dict]:
    cards = defaultdict(lambda: dict.fromkeys(SCORES, 0))
    f = Fulfilment
    for supplier, asked, shipped in session.execute(select(
            f.supplier_id, f.requested_at, f.shipped_at).where(
            f.merchant_id == merchant_id, f.purpose == "order", f.requested_at >= start,
            f.requested_at < end)):
        card = cards[supplier]
        card["dispatched"] += 1
        if shipped is not None:
            card["shipped"] += 1
            card["ship_seconds"] += max(0, int((shipped - asked).total_seconds()))
    for supplier, asked, answered, status in session.execute(select(
            f.supplier_id, f.cancel_requested_at, f.cancel_answered_at, f.status).where(
            f.merchant_id == merchant_id, f.cancel_requested_at >= start,
            f.cancel_requested_at < end)):
        card = cards[supplier]
        card["stops_asked"] += 1
        card["stops_made"] += status == "cancelled"
        if answered is not None:
            card["stops_answered"] += 1
            card["stop_answer_seconds"] += max(0, int((answered - asked).total_seconds()))
    _inspections(session, merchant_id, start, end, cards)
    for supplier, status in session.execute(select(Claim.supplier_id, Claim.status).where(
            Claim.merchant_id == merchant_id, Claim.counterparty_kind == "supplier",
            Claim.sent_at.is_not(None), Claim.created_at >= start, Claim.created_at < end)):
        card = cards[supplier]
        card["claims_sent"] += 1
        card["claims_answered"] += status not in ("sent", "acknowledged")
        card["claims_accepted"] += status in ("accepted", "partly_accepted", "settled")
    return [{"supplier_id": supplier, **card} for supplier, card in cards.items()
            if supplier is not None]


def _inspections(session, merchant_id, start, end, cards) -> None:
    """Each return of a supplier's goods inspected: damaged or not, and how long it took
    from the request (its first inspection)."""
    rc = ReturnCase
    found = session.execute(
        select(rc.id, rc.requested_at, Inspection.received_at, Inspection.condition,
               ReturnLine.order_line_id)
        .join(Inspection, Inspection.return_case_id == rc.id)
        .join(ReturnLine, ReturnLine.return_case_id == rc.id)
        .where(rc.merchant_id == merchant_id, rc.requested_at >= start, rc.requested_at < end)
        .order_by(Inspection.id)).all()
    supplier_of = _suppliers(session, merchant_id, FulfilmentLine.order_line_id.in_(
        {x[4] for x in found if x[4] is not None})) if found else {}
    seen = set()
    for case_id, asked, received, condition, line_id in found:
        supplier = supplier_of.get(line_id)
        if supplier is None or (case_id, supplier) in seen:
            continue
        seen.add((case_id, supplier))
        card = cards[supplier]
        card["inspected"] += 1
        card["damaged"] += condition in DAMAGED
        card["handling_seconds"] += max(0, int((received - asked).total_seconds()))
