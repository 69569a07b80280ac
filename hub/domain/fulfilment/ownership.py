"""What is a supplier's own, as SQL: the one definition the API scope
(``hub.web.kit.scope``) and the supplier sheets use.

* its **fulfilments**, and the order lines in them (``order_lines``; all the lines of
  an order it alone fulfils, ``order_line_condition``);
* a **return line** when the order line it takes back is in one of its fulfilments; a
  line matched to no order line is the supplier's only when it is the **sole supplier**
  of the order (no other supplier has a fulfilment on it; the tracking effects name a
  parcel's supplier the same way);
* a **return case** when one of its lines is the supplier's (or, for a sole supplier, any
  case of the order) — a case spanning suppliers is each one's, with its own lines only;
* a **shipment**: the outbound parcel of one of its fulfilments, the return parcel of
  one of its return cases, and a parcel of a sole-supplier order that names neither
  (e.g. the platform's own waybill).

Each function returns a ``select`` of ids (correlated to nothing, so it can sit inside a
query on the same table) or a SQL condition; none filters by merchant (the caller does).
``foreign_lines(session, case, supplier_id)`` lists the lines of a case that are not the
supplier's: a receipt by the supplier covers a case only when there are none.
"""
from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from hub.models import Fulfilment, FulfilmentLine, OrderLine, ReturnCase, ReturnLine, Shipment


def fulfilments(supplier_id: int):
    return select(Fulfilment.id).where(Fulfilment.supplier_id == supplier_id).correlate(None)


def orders(supplier_id: int):
    """Orders with any fulfilment of the supplier."""
    return (select(Fulfilment.order_id).where(Fulfilment.supplier_id == supplier_id)
            .correlate(None))


def sole_orders(supplier_id: int):
    """Orders the supplier alone fulfils."""
    other = aliased(Fulfilment)
    others = select(other.order_id).where(other.supplier_id != supplier_id).correlate(None)
    return orders(supplier_id).where(Fulfilment.order_id.not_in(others))


def order_lines(supplier_id: int):
    return (select(FulfilmentLine.order_line_id)
            .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
            .where(Fulfilment.supplier_id == supplier_id).correlate(None))


def order_line_condition(supplier_id: int):
    return or_(OrderLine.id.in_(order_lines(supplier_id)),
               OrderLine.order_id.in_(sole_orders(supplier_id)))


def return_line_condition(supplier_id: int):
    sole_cases = (select(ReturnCase.id).where(ReturnCase.order_id.in_(sole_orders(supplier_id)))
                  .correlate(None))
    return or_(ReturnLine.order_line_id.in_(order_lines(supplier_id)),
               ReturnLine.return_case_id.in_(sole_cases))


def return_cases(supplier_id: int):
    lines = (select(ReturnLine.return_case_id)
             .where(ReturnLine.order_line_id.in_(order_lines(supplier_id))).correlate(None))
    return (select(ReturnCase.id).where(or_(ReturnCase.order_id.in_(sole_orders(supplier_id)),
                                            ReturnCase.id.in_(lines))).correlate(None))


def shipment_condition(supplier_id: int):
    return or_(
        Shipment.fulfilment_id.in_(fulfilments(supplier_id)),
        and_(Shipment.direction == "return",
             Shipment.return_case_id.in_(return_cases(supplier_id))),
        and_(Shipment.fulfilment_id.is_(None), Shipment.return_case_id.is_(None),
             Shipment.order_id.in_(sole_orders(supplier_id))))


def foreign_lines(session: Session, case: ReturnCase, supplier_id: int) -> list[ReturnLine]:
    mine = set(session.scalars(select(ReturnLine.id).where(
        ReturnLine.return_case_id == case.id, return_line_condition(supplier_id))))
    return [line for line in session.scalars(select(ReturnLine).where(
        ReturnLine.return_case_id == case.id)) if line.id not in mine]
