"""Orders: the list, and an order with its goods, suppliers, parcels, returns and its whole
timeline (``hub.domain.returns.orderfile``).

| page | who | what |
|---|---|---|
| ``GET /console/orders?status=&q=&day=today`` | staff | newest first: number, shop, status, total, each supplier's part |
| ``GET /console/orders/<id>`` | staff | the order (buyer contact masked), lines, fulfilments, parcels, returns, timeline |
| ``GET /console/stop-ships`` | staff | the stop-ship board: waiting for the supplier (overdue first), stopped, too late (and the parcel's interception), the last 30 days |
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import render_template, request
from flask_babel import get_timezone
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hub.domain.returns.orderfile import orderfile
from hub.core.db import utcnow
from hub.models import Account, Fulfilment, Order, ReturnCase, Shipment, Supplier
from hub.models.orders import ORDER_STATUSES
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.console.words import timeline_words
from hub.web.context import request_session
from hub.web.kit.scope import get_visible, visible

LIMIT = 100


@bp.get("/console/orders")
@page()
def orders(who):
    stmt = visible(Order, who).options(selectinload(Order.fulfilments))
    status, q = request.args.get("status"), request.args.get("q", "").strip()[:64]
    if status in ORDER_STATUSES:
        stmt = stmt.where(Order.status == status)
    if q:
        stmt = stmt.where(Order.platform_order_id.startswith(q, autoescape=True))
    if request.args.get("day") == "today":
        zone = get_timezone()
        stmt = stmt.where(Order.placed_at >= datetime.combine(datetime.now(zone).date(),
                                                              time(), zone))
    session = request_session()
    rows = session.scalars(stmt.order_by(Order.placed_at.desc(), Order.id.desc())
                           .limit(LIMIT)).all()
    return render_template("console/orders.html", who=who, orders=rows, status=status, q=q,
                           day=request.args.get("day"), statuses=ORDER_STATUSES,
                           names=_names(session, who), limit=LIMIT)


def _names(session, who) -> dict:
    return {"shops": dict(session.execute(select(Account.id, Account.name).where(
        Account.merchant_id == who.merchant_id)).all()),
            "suppliers": dict(session.execute(select(Supplier.id, Supplier.code).where(
                Supplier.merchant_id == who.merchant_id)).all())}


@bp.get("/console/orders/<int:order_id>")
@page()
def order(who, order_id):
    session = request_session()
    row = get_visible(session, Order, order_id, who)
    parcels = session.scalars(visible(Shipment, who).where(Shipment.order_id == row.id)
                              .order_by(Shipment.id)).all()
    cases = session.scalars(visible(ReturnCase, who).where(ReturnCase.order_id == row.id)
                            .order_by(ReturnCase.id)).all()
    fulfilments = session.scalars(visible(Fulfilment, who).where(Fulfilment.order_id == row.id)
                                  .order_by(Fulfilment.id)).all()
    timeline = orderfile(session, row)["timeline"]
    return render_template("console/order.html", who=who, order=row, parcels=parcels,
                           cases=cases, fulfilments=fulfilments, names=_names(session, who),
                           timeline=[(e, timeline_words(e)) for e in reversed(timeline)])


BOARD_DAYS = 30
COLUMNS = ("cancel_requested", "cancelled", "cancel_rejected")


@bp.get("/console/stop-ships")
@page()
def stop_ships(who):
    session = request_session()
    rows = session.execute(
        visible(Fulfilment, who).add_columns(Order.platform_order_id)
        .join(Order, Order.id == Fulfilment.order_id)
        .where(Fulfilment.cancel_requested_at >= utcnow() - timedelta(days=BOARD_DAYS),
               Fulfilment.status.in_(COLUMNS))
        .order_by(Fulfilment.cancel_answer_due_at, Fulfilment.cancel_requested_at.desc())
        .limit(LIMIT * 3)).all()
    parcels = {x.fulfilment_id: x for x in session.scalars(visible(Shipment, who).where(
        Shipment.fulfilment_id.in_([f.id for f, _ in rows]), Shipment.direction == "outbound"))}
    board = {column: [(f, number, parcels.get(f.id)) for f, number in rows
                      if f.status == column] for column in COLUMNS}
    return render_template("console/stop_ships.html", who=who, board=board, now=utcnow(),
                           names=_names(session, who), days=BOARD_DAYS)
