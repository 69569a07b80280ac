"""Read endpoints for the synced records: orders, return cases, shipments (with events).

Lists filter by status, time range, SKU, supplier and tracking number and page with a
cursor; every query starts from ``scope.visible``, and a filter that crosses records
looks only at rows the caller may see (``scope.visible_column``): a supplier filtering
by another supplier's id, SKU or tracking number finds nothing.
"""
from __future__ import annotations

from sqlalchemy import or_
from sqlalchemy.orm import selectinload

from hub.web.kit import api_blueprint as bp
from hub.web.kit import schemas as s
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.pagination import paginate
from hub.web.kit.scope import get_visible, visible, visible_column
from hub.parties.auth import ALL_ROLES
from hub.models import Fulfilment, Order, OrderLine, ReturnCase, ReturnLine, Shipment
from hub.web.context import request_session


def _time_filters(stmt, column, updated_column, args):
    if args.get("since"):
        stmt = stmt.where(column >= args["since"])
    if args.get("until"):
        stmt = stmt.where(column < args["until"])
    if args.get("updated_since"):
        stmt = stmt.where(updated_column >= args["updated_since"])
    return stmt


def _orders_with(who, *, sku=None, supplier_id=None, tracking_number=None):
    """Subqueries of order ids, one per cross-record filter given."""
    subqueries = []
    if sku is not None:
        subqueries.append(visible_column(OrderLine.order_id, who).where(OrderLine.sku == sku))
    if supplier_id is not None:
        subqueries.append(visible_column(Fulfilment.order_id, who)
                          .where(Fulfilment.supplier_id == supplier_id))
    if tracking_number is not None:
        subqueries.append(visible_column(Shipment.order_id, who).where(
            Shipment.tracking_number == tracking_number))
    return subqueries


def _returns_with_sku(sku, who):
    return visible_column(ReturnLine.return_case_id, who).where(ReturnLine.sku == sku)


def _supplier_orders(supplier_id, who):
    return visible_column(Fulfilment.order_id, who).where(Fulfilment.supplier_id == supplier_id)


@bp.get("/orders")
@endpoint(roles=ALL_ROLES, query=s.OrderListArgs, response=s.OrderOut, many=True,
          summary="List orders", tags=["orders"])
def list_orders(args):
    who = principal()
    stmt = visible(Order, who).options(
        selectinload(Order.lines), selectinload(Order.fulfilments))
    for field in ("status", "shop_account_id", "platform_order_id", "do_not_ship"):
        if field in args:
            stmt = stmt.where(getattr(Order, field) == args[field])
    for sub in _orders_with(who, sku=args.get("sku"), supplier_id=args.get("supplier_id"),
                            tracking_number=args.get("tracking_number")):
        stmt = stmt.where(Order.id.in_(sub))
    stmt = _time_filters(stmt, Order.placed_at, Order.updated_at, args)
    return paginate(request_session(), stmt, Order.id, args)


@bp.get("/orders/<int:order_id>")
@endpoint(roles=ALL_ROLES, response=s.OrderOut, summary="Get an order", tags=["orders"])
def get_order(order_id):
    return get_visible(request_session(), Order, order_id, principal())


@bp.get("/returns")
@endpoint(roles=ALL_ROLES, query=s.ReturnListArgs, response=s.ReturnCaseOut, many=True,
          summary="List return cases", tags=["returns"])
def list_returns(args):
    who = principal()
    stmt = visible(ReturnCase, who).options(selectinload(ReturnCase.lines))
    for field in ("status", "kind", "order_id"):
        if field in args:
            stmt = stmt.where(getattr(ReturnCase, field) == args[field])
    if "sku" in args:
        stmt = stmt.where(ReturnCase.id.in_(_returns_with_sku(args["sku"], who)))
    if "supplier_id" in args:
        stmt = stmt.where(ReturnCase.order_id.in_(_supplier_orders(args["supplier_id"], who)))
    if "tracking_number" in args:
        stmt = stmt.where(ReturnCase.id.in_(visible_column(Shipment.return_case_id, who).where(
            Shipment.tracking_number == args["tracking_number"])))
    stmt = _time_filters(stmt, ReturnCase.requested_at, ReturnCase.updated_at, args)
    return paginate(request_session(), stmt, ReturnCase.id, args)


@bp.get("/returns/<int:return_id>")
@endpoint(roles=ALL_ROLES, response=s.ReturnCaseOut, summary="Get a return case",
          tags=["returns"])
def get_return(return_id):
    return get_visible(request_session(), ReturnCase, return_id, principal())


@bp.get("/shipments")
@endpoint(roles=ALL_ROLES, query=s.ShipmentListArgs, response=s.ShipmentOut, many=True,
          summary="List shipments (outbound and returns)", tags=["shipments"])
def list_shipments(args):
    who = principal()
    stmt = visible(Shipment, who)
    for field in ("status", "direction", "carrier", "tracking_number", "order_id",
                  "return_case_id"):
        if field in args:
            stmt = stmt.where(getattr(Shipment, field) == args[field])
    if "sku" in args:  # outbound: the order's lines; returns: the returned lines
        stmt = stmt.where(or_(
            Shipment.order_id.in_(visible_column(OrderLine.order_id, who)
                                  .where(OrderLine.sku == args["sku"])),
            Shipment.return_case_id.in_(_returns_with_sku(args["sku"], who))))
    if "supplier_id" in args:  # what it shipped, and the returns of the orders it fulfilled
        supplier_id = args["supplier_id"]
        stmt = stmt.where(or_(
            Shipment.fulfilment_id.in_(visible_column(Fulfilment.id, who)
                                       .where(Fulfilment.supplier_id == supplier_id)),
            Shipment.return_case_id.in_(visible_column(ReturnCase.id, who).where(
                ReturnCase.order_id.in_(_supplier_orders(supplier_id, who))))))
    stmt = _time_filters(stmt, Shipment.created_at, Shipment.updated_at, args)
    return paginate(request_session(), stmt, Shipment.id, args)


@bp.get("/shipments/<int:shipment_id>")
@endpoint(roles=ALL_ROLES, response=s.ShipmentDetailOut,
          summary="Get a shipment with its tracking events", tags=["shipments"])
def get_shipment(shipment_id):
    return get_visible(request_session(), Shipment, shipment_id, principal())
