"""Tenant scoping: the only way API views select rows.

``visible(model, who)`` returns the base ``select`` of the rows a principal may see:
always its merchant's, and for supplier tokens only what concerns its supplier (orders it
fulfils, their returns and shipments). ``get_visible`` fetches one row or raises 404 —
never 403, so a caller cannot tell another tenant's ids exist. A supplier also sees its
fulfilments and its *notices*: the outbox messages on its channel account about its own
rows (``hub.web.supplier_api``).
"""
from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hub.parties.auth import Principal
from hub.core.db import MAX_ID
from hub.core.errors import NotFound
from hub.models import (Alert, Fulfilment, Order, OutboxMessage, ReturnCase, Shipment,
                        Supplier)


def _supplier_orders(supplier_id: int):
    return select(Fulfilment.order_id).where(Fulfilment.supplier_id == supplier_id)


def _supplier_notices(supplier_id: int):
    """Messages on the supplier's channel account, about rows of its own (an entity the
    scope knows must be its; any other, such as a claim, goes by the account alone)."""
    fulfilments = select(Fulfilment.id).where(Fulfilment.supplier_id == supplier_id)
    orders = _supplier_orders(supplier_id)
    returns = select(ReturnCase.id).where(ReturnCase.order_id.in_(orders))
    shipments = select(Shipment.id).where(or_(Shipment.fulfilment_id.in_(fulfilments),
                                              Shipment.return_case_id.in_(returns)))
    owned_rows = {"fulfilment": fulfilments, "return_case": returns, "shipment": shipments,
                  "order": orders}
    return and_(
        OutboxMessage.account_id.in_(select(Supplier.channel_account_id)
                                     .where(Supplier.id == supplier_id)),
        or_(OutboxMessage.entity.not_in(list(owned_rows)),
            *(and_(OutboxMessage.entity == name, OutboxMessage.entity_id.in_(ids))
              for name, ids in owned_rows.items())))


def visible(model, who: Principal):
    stmt = select(model).where(model.merchant_id == who.merchant_id)
    if who.role != "supplier":
        return stmt
    orders = _supplier_orders(who.supplier_id)
    if model is Order:
        return stmt.where(Order.id.in_(orders))
    if model is ReturnCase:
        return stmt.where(ReturnCase.order_id.in_(orders))
    if model is Shipment:
        returns = select(ReturnCase.id).where(ReturnCase.order_id.in_(orders))
        return stmt.where(or_(Shipment.order_id.in_(orders),
                              Shipment.return_case_id.in_(returns)))
    if model is Supplier:
        return stmt.where(Supplier.id == who.supplier_id)
    if model is Alert:
        return stmt.where(Alert.supplier_id == who.supplier_id)
    if model is Fulfilment:
        return stmt.where(Fulfilment.supplier_id == who.supplier_id)
    if model is OutboxMessage:
        return stmt.where(_supplier_notices(who.supplier_id))
    raise NotFound("not found")  # anything else is not for supplier tokens


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
