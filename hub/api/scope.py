"""Tenant scoping: the only way API views select rows.

``visible(model, who)`` returns the base ``select`` of the rows a principal may see:
always its merchant's, and for supplier tokens only what concerns its supplier (orders it
fulfils, their returns and shipments). ``get_visible`` fetches one row or raises 404 —
never 403, so a caller cannot tell another tenant's ids exist.
"""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.auth import Principal
from hub.db import MAX_ID
from hub.errors import NotFound
from hub.models import Alert, Fulfilment, Order, ReturnCase, Shipment, Supplier


def _supplier_orders(supplier_id: int):
    return select(Fulfilment.order_id).where(Fulfilment.supplier_id == supplier_id)


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
        from hub.errors import ApiError
        raise ApiError(f"{field} {row_id} does not exist", code="validation_error",
                       status=422, details={field: ["unknown id"]})
    return row
