"""Tenant scoping: the only way API views select rows.

``visible(model, who)`` returns the base ``select`` of the rows a principal may see:
always its merchant's, and for supplier tokens only what is its own
(``hub.domain.fulfilment.ownership``): its fulfilments, the orders they belong to (showing
only its own fulfilments and order lines), the return cases holding lines of its
fulfilments (showing only those lines), its parcels (outbound of its fulfilments, return
parcels of its cases), its alerts, its claims and statements once sent, and its *notices*: the outbox messages on its channel
account about its own rows (``hub.web.supplier_api``). ``visible_column(column, who)`` is
the same scope as a subquery of one column, for filters that cross records.
``get_visible`` fetches one row or raises 404 — never 403, so a caller cannot tell
another tenant's (or another supplier's) ids exist.
"""
from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, with_loader_criteria

from hub.core.db import MAX_ID
from hub.core.errors import NotFound
from hub.domain.fulfilment import ownership as own
from hub.models import (
    Alert, Claim, Fulfilment, Order, OrderLine, OutboxMessage, ReturnCase, ReturnLine,
    Shipment, Statement, Supplier,
)
from hub.parties.auth import Principal


def _supplier_notices(supplier_id: int):
    """Messages on the supplier's channel account, about rows of its own (an entity the
    scope knows must be its; any other, such as a claim, goes by the account alone)."""
    shipments = select(Shipment.id).where(own.shipment_condition(supplier_id))
    owned_rows = {"fulfilment": own.fulfilments(supplier_id),
                  "return_case": own.return_cases(supplier_id), "shipment": shipments,
                  "order": own.orders(supplier_id)}
    return and_(
        OutboxMessage.account_id.in_(select(Supplier.channel_account_id)
                                     .where(Supplier.id == supplier_id)),
        or_(OutboxMessage.entity.not_in(list(owned_rows)),
            *(and_(OutboxMessage.entity == name, OutboxMessage.entity_id.in_(ids))
              for name, ids in owned_rows.items())))


def _supplier_rows(model, supplier_id: int):
    """The condition on ``model`` for a supplier's own rows."""
    if model is Order:
        return Order.id.in_(own.orders(supplier_id))
    if model is OrderLine:
        return own.order_line_condition(supplier_id)
    if model is ReturnCase:
        return ReturnCase.id.in_(own.return_cases(supplier_id))
    if model is ReturnLine:
        return own.return_line_condition(supplier_id)
    if model is Shipment:
        return own.shipment_condition(supplier_id)
    if model is Supplier:
        return Supplier.id == supplier_id
    if model is Alert:
        return Alert.supplier_id == supplier_id
    if model is Fulfilment:
        return Fulfilment.supplier_id == supplier_id
    if model is OutboxMessage:
        return _supplier_notices(supplier_id)
    if model is Claim:  # claimed from it, once sent (a draft written off never was)
        return and_(Claim.supplier_id == supplier_id, Claim.sent_at.is_not(None))
    if model is Statement:  # its own, once sent
        return and_(Statement.supplier_id == supplier_id, Statement.sent_at.is_not(None))
    raise NotFound("not found")  # anything else is not for supplier tokens


def _own_children(model, supplier_id: int) -> tuple:
    """Loader options: an order or return case loads only the supplier's own children."""
    if model is Order:
        return (with_loader_criteria(Fulfilment, Fulfilment.supplier_id == supplier_id),
                with_loader_criteria(OrderLine, own.order_line_condition(supplier_id)))
    if model is ReturnCase:
        return (with_loader_criteria(ReturnLine, own.return_line_condition(supplier_id)),)
    return ()


def visible(model, who: Principal):
    stmt = select(model).where(model.merchant_id == who.merchant_id)
    if who.role != "supplier":
        return stmt
    return (stmt.where(_supplier_rows(model, who.supplier_id))
            .options(*_own_children(model, who.supplier_id)))


def visible_column(column, who: Principal):
    """``select(column)`` over the rows of its model the caller may see."""
    model = column.class_
    stmt = select(column).where(model.merchant_id == who.merchant_id)
    if who.role != "supplier":
        return stmt
    return stmt.where(_supplier_rows(model, who.supplier_id))


def get_visible(session: Session, model, row_id: int, who: Principal, *options):
    row = None
    if 0 < row_id <= MAX_ID:  # a larger id exists nowhere (and SQLite cannot bind it)
        row = session.scalar(visible(model, who).options(*options).where(model.id == row_id))
    if row is None:
        raise NotFound(f"{model.__tablename__[:-1].replace('_', ' ')} {row_id} not found")
    return row


def owned(session: Session, model, row_id: int | None, who: Principal, field: str):
    """Check a referenced id (in a request body) belongs to the caller's merchant."""
    if row_id is None:
        return None
    row = session.get(model, row_id)
    if row is None or row.merchant_id != who.merchant_id:
        from hub.core.errors import ApiError
        raise ApiError(f"{field} {row_id} does not exist", code="validation_error",
                       status=422, details={field: ["unknown id"]})
    return row
